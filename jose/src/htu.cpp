// SPDX-License-Identifier: MIT
// The DPoP "htu" (RFC 9449 sections 4.2 and 4.3): an absolute http(s) URL without query and
// fragment, normalised as RFC 3986 sections 6.2.2 and 6.2.3 describe. A parser of its own
// rather than QUrl: the claim comes from the client and the comparison must not depend on
// what QUrl's tolerant mode repairs.
#include <tessera/dpop.h>

namespace Tessera::Jose::Dpop {

namespace {

// An htu longer than this is not a URL anyone requests; refusing it bounds the work.
constexpr qsizetype MaxUrlLength = 8 * 1024;

bool isAlpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool isDigit(char c)
{
    return c >= '0' && c <= '9';
}

int hexValue(char c)
{
    if (isDigit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char toLower(char c)
{
    return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}

bool isUnreserved(char c)
{
    return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

bool isSubDelim(char c)
{
    return QByteArrayView("!$&'()*+,;=").contains(c);
}

// pchar minus pct-encoded (RFC 3986 section 3.3), plus the '/' between segments.
bool isRawPathChar(char c)
{
    return isUnreserved(c) || isSubDelim(c) || c == ':' || c == '@' || c == '/';
}

void appendPercentEncoded(QByteArray &out, unsigned char octet)
{
    static const char hex[] = "0123456789ABCDEF";
    out += '%';
    out += hex[octet >> 4];
    out += hex[octet & 0xF];
}

// Percent-encoding normalisation of a path: %XX of an unreserved character decoded, other
// %XX in upper case, raw printable characters a path may not hold encoded.
std::optional<QByteArray> normalizePercentEncoding(QByteArrayView path)
{
    QByteArray out;
    out.reserve(path.size());
    for (qsizetype i = 0; i < path.size(); ++i) {
        const char c = path[i];
        if (c == '%') {
            if (i + 2 >= path.size())
                return std::nullopt;
            const int high = hexValue(path[i + 1]);
            const int low = hexValue(path[i + 2]);
            if (high < 0 || low < 0)
                return std::nullopt;
            const auto octet = static_cast<unsigned char>(high * 16 + low);
            if (isUnreserved(char(octet)))
                out += char(octet);
            else
                appendPercentEncoded(out, octet);
            i += 2;
        } else if (isRawPathChar(c)) {
            out += c;
        } else {
            appendPercentEncoded(out, static_cast<unsigned char>(c));
        }
    }
    return out;
}

// RFC 3986 section 5.2.4, on an absolute path.
QByteArray removeDotSegments(QByteArrayView input)
{
    QList<QByteArrayView> segments;
    // The path starts with '/': the segments are what follows each '/'.
    qsizetype start = 1;
    bool trailingSlash = false;
    while (start <= input.size()) {
        qsizetype end = input.indexOf('/', start);
        if (end < 0)
            end = input.size();
        const QByteArrayView segment = input.sliced(start, end - start);
        const bool last = end == input.size();
        if (segment == ".") {
            trailingSlash = last;
        } else if (segment == "..") {
            if (!segments.isEmpty())
                segments.removeLast();
            trailingSlash = last;
        } else {
            segments.append(segment);
            trailingSlash = false;
        }
        start = end + 1;
    }
    QByteArray out;
    for (const QByteArrayView segment : std::as_const(segments)) {
        out += '/';
        out += segment;
    }
    if (trailingSlash || out.isEmpty())
        out += '/';
    return out;
}

std::optional<QByteArray> normalizeHost(QByteArrayView host)
{
    if (host.isEmpty())
        return std::nullopt;
    QByteArray out;
    out.reserve(host.size());
    if (host.front() == '[') {
        // IP-literal: hex digits, ':' and '.' (IPv6, its embedded IPv4 form, IPvFuture's 'v').
        // A zone ("%25eth0") is refused with every other '%' in a host.
        if (host.size() < 3 || host.back() != ']')
            return std::nullopt;
        for (const char c : host.sliced(1, host.size() - 2)) {
            if (!(isAlpha(c) || isDigit(c) || c == ':' || c == '.'))
                return std::nullopt;
        }
        for (const char c : host)
            out += toLower(c);
        return out;
    }
    for (const char c : host) {
        if (!(isUnreserved(c) || isSubDelim(c)))
            return std::nullopt; // '%' included: DNS names and IPv4 addresses never need it
        out += toLower(c);
    }
    return out;
}

} // namespace

std::optional<QString> normalizeHtu(QStringView url)
{
    if (url.isEmpty() || url.size() > MaxUrlLength)
        return std::nullopt;
    QByteArray text;
    text.reserve(url.size());
    for (const QChar ch : url) {
        const char16_t u = ch.unicode();
        // Only the printable ASCII a URI is made of: no space, control or non-ASCII character.
        if (u < 0x21 || u > 0x7E)
            return std::nullopt;
        text += char(u);
    }

    // scheme ":" "//"
    qsizetype pos = 0;
    if (!isAlpha(text[0]))
        return std::nullopt;
    while (pos < text.size()
           && (isAlpha(text[pos]) || isDigit(text[pos]) || text[pos] == '+' || text[pos] == '-'
               || text[pos] == '.'))
        ++pos;
    QByteArray scheme = text.first(pos).toLower();
    if (scheme != "http" && scheme != "https")
        return std::nullopt;
    if (!QByteArrayView(text).sliced(pos).startsWith("://"))
        return std::nullopt;
    pos += 3;

    // authority: up to the path, query or fragment
    qsizetype authorityEnd = pos;
    while (authorityEnd < text.size() && text[authorityEnd] != '/' && text[authorityEnd] != '?'
           && text[authorityEnd] != '#')
        ++authorityEnd;
    // Userinfo ("user@") is refused by the host's character set ('@' and, before it, ':').
    const QByteArrayView authority = QByteArrayView(text).sliced(pos, authorityEnd - pos);
    // The port follows the last ':' unless that ':' is inside an IP literal.
    qsizetype colon = authority.lastIndexOf(':');
    if (colon >= 0 && authority.lastIndexOf(']') > colon)
        colon = -1;
    const auto host = normalizeHost(colon < 0 ? authority : authority.first(colon));
    if (!host)
        return std::nullopt;
    QByteArray port;
    if (colon >= 0) {
        const QByteArrayView digits = authority.sliced(colon + 1);
        qint64 value = 0;
        for (const char c : digits) {
            if (!isDigit(c))
                return std::nullopt;
            value = value * 10 + (c - '0');
            if (value > 65535)
                return std::nullopt;
        }
        const qint64 defaultPort = scheme == "https" ? 443 : 80;
        if (!digits.isEmpty() && value != defaultPort)
            port = QByteArray::number(value);
    }

    // path: up to the query or fragment, which are dropped
    qsizetype pathEnd = authorityEnd;
    while (pathEnd < text.size() && text[pathEnd] != '?' && text[pathEnd] != '#')
        ++pathEnd;
    QByteArray path = "/";
    if (pathEnd > authorityEnd) {
        const auto encoded = normalizePercentEncoding(
                QByteArrayView(text).sliced(authorityEnd, pathEnd - authorityEnd));
        if (!encoded)
            return std::nullopt;
        path = removeDotSegments(*encoded);
    }
    // The query and fragment are not part of htu, but a bad percent-encoding there still makes
    // the text something other than a URL.
    for (qsizetype i = pathEnd; i < text.size(); ++i) {
        if (text[i] == '%'
            && (i + 2 >= text.size() || hexValue(text[i + 1]) < 0 || hexValue(text[i + 2]) < 0))
            return std::nullopt;
    }

    QByteArray out = scheme + "://" + *host;
    if (!port.isEmpty())
        out += ':' + port;
    out += path;
    // Percent-encoding raw characters can triple a path: the normal form must be within the
    // limit too, or it would not be its own normal form.
    if (out.size() > MaxUrlLength)
        return std::nullopt;
    return QString::fromLatin1(out);
}

std::optional<QString> normalizeHtu(const QUrl &url)
{
    return normalizeHtu(QStringView(url.toString(QUrl::FullyEncoded)));
}

} // namespace Tessera::Jose::Dpop
