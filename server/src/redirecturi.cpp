// SPDX-License-Identifier: MIT
#include "redirecturi.h"

#include <QtCore/QList>

#include <optional>

namespace Tessera::Server {
namespace {

constexpr int MaxClientIdLength = 64;
constexpr int MaxRedirectUriLength = 2000;
constexpr int MaxRedirectUris = 16;

const QString LoopbackPrefixes[] = {QStringLiteral("http://127.0.0.1"),
                                    QStringLiteral("http://[::1]")};

bool isAsciiLower(QChar c)
{
    return c >= u'a' && c <= u'z';
}
bool isAsciiUpper(QChar c)
{
    return c >= u'A' && c <= u'Z';
}
bool isAsciiDigit(QChar c)
{
    return c >= u'0' && c <= u'9';
}
bool isAsciiAlnum(QChar c)
{
    return isAsciiLower(c) || isAsciiUpper(c) || isAsciiDigit(c);
}
bool isHexDigit(QChar c)
{
    return isAsciiDigit(c) || (c >= u'a' && c <= u'f') || (c >= u'A' && c <= u'F');
}
bool isUnreserved(QChar c)
{
    return isAsciiAlnum(c) || c == u'-' || c == u'.' || c == u'_' || c == u'~';
}
bool isSubDelim(QChar c)
{
    return QStringView(u"!$&'()*+,;=").contains(c);
}

// RFC 3986 pchar, less the percent-escape (checked once for the whole URI).
bool isPathChar(QChar c)
{
    return isUnreserved(c) || isSubDelim(c) || c == u':' || c == u'@';
}

// A port written canonically: 1 to 65535, decimal, no sign, no leading zero.
bool isCanonicalPort(QStringView digits)
{
    if (digits.isEmpty() || digits.size() > 5 || digits.front() == u'0')
        return false;
    int value = 0;
    for (const QChar c : digits) {
        if (!isAsciiDigit(c))
            return false;
        value = value * 10 + (c.unicode() - u'0');
    }
    return value <= 65535;
}

// A DNS name in lowercase: labels of a-z 0-9 -, no label empty, longer than
// 63 or starting or ending with a hyphen.
bool isLowercaseDnsName(QStringView host)
{
    if (host.isEmpty() || host.size() > 253)
        return false;
    for (const QStringView label : host.split(u'.')) {
        if (label.isEmpty() || label.size() > 63 || label.front() == u'-' || label.back() == u'-')
            return false;
        for (const QChar c : label) {
            if (!isAsciiLower(c) && !isAsciiDigit(c) && c != u'-')
                return false;
        }
    }
    return true;
}

// The path and query after the authority (or after "scheme:"): an absolute
// path of pchars without dot segments, then an optional query.
QString pathAndQueryProblem(QStringView rest)
{
    if (!rest.startsWith(u'/'))
        return QStringLiteral("needs a path starting with /");
    const qsizetype question = rest.indexOf(u'?');
    const QStringView path = question < 0 ? rest : rest.left(question);
    const QStringView query = question < 0 ? QStringView() : rest.mid(question + 1);
    for (const QChar c : path) {
        if (c != u'/' && c != u'%' && !isPathChar(c))
            return QStringLiteral("has '%1' in its path, which RFC 3986 does not allow there")
                    .arg(c);
    }
    for (const QChar c : query) {
        if (c != u'/' && c != u'?' && c != u'%' && !isPathChar(c))
            return QStringLiteral("has '%1' in its query, which RFC 3986 does not allow there")
                    .arg(c);
    }
    // Dot segments, also percent-encoded: a client or browser that removes
    // them would send a URI that is not the registered string.
    for (const QStringView segment : path.split(u'/')) {
        const QString decoded =
                segment.toString().toLower().replace(QStringLiteral("%2e"), QStringLiteral("."));
        if (decoded == u"." || decoded == u"..")
            return QStringLiteral("has a dot segment (/./ or /../) in its path");
    }
    return {};
}

// For http and https: "//AUTHORITY" then the path and query.
QString hierarchicalProblem(QStringView scheme, QStringView afterScheme)
{
    if (!afterScheme.startsWith(u"//"))
        return QStringLiteral("%1 needs //host after the scheme").arg(scheme);
    const QStringView rest = afterScheme.mid(2);
    qsizetype authorityEnd = 0;
    while (authorityEnd < rest.size() && rest[authorityEnd] != u'/' && rest[authorityEnd] != u'?')
        ++authorityEnd;
    const QStringView authority = rest.left(authorityEnd);
    if (authority.contains(u'@'))
        return QStringLiteral("has userinfo (user@host), which is not allowed");
    QStringView host;
    QStringView afterHost;
    if (authority.startsWith(u'[')) {
        const qsizetype close = authority.indexOf(u']');
        if (close < 0)
            return QStringLiteral("has an unterminated [IPv6] host");
        host = authority.left(close + 1);
        afterHost = authority.mid(close + 1);
    } else {
        const qsizetype colon = authority.indexOf(u':');
        host = colon < 0 ? authority : authority.left(colon);
        afterHost = colon < 0 ? QStringView() : authority.mid(colon);
    }
    if (!afterHost.isEmpty() && (!afterHost.startsWith(u':') || !isCanonicalPort(afterHost.mid(1))))
        return QStringLiteral("has an invalid port (1 to 65535, digits only, no leading zero)");
    if (host.isEmpty())
        return QStringLiteral("has no host");
    if (scheme == u"http") {
        if (host.compare(u"localhost", Qt::CaseInsensitive) == 0)
            return QStringLiteral("uses localhost: register http://127.0.0.1/... or "
                                  "http://[::1]/... (RFC 8252 §8.3)");
        if (host != u"127.0.0.1" && host != u"[::1]")
            return QStringLiteral("uses plain http to a host other than the loopback literals "
                                  "127.0.0.1 and [::1] (RFC 8252 §7.3): use https");
    } else if (!isLowercaseDnsName(host)) {
        return QStringLiteral("needs a DNS name in lowercase as its https host");
    } else if (afterHost == u":443") {
        // The canonical form leaves the default port out (RFC 3986 §6.2.3);
        // a client would send the URI without it, which matches nothing.
        return QStringLiteral("has the default port :443: leave it out");
    }
    return pathAndQueryProblem(rest.mid(authorityEnd));
}

struct LoopbackParts
{
    QStringView prefix; // scheme and loopback literal
    QStringView rest;   // path and query
};

// Splits a loopback redirect URI around its port, which must be canonical
// when present. Nothing when `uri` is not http to a loopback literal followed
// by a port or a path.
std::optional<LoopbackParts> splitLoopback(QStringView uri)
{
    for (const QString &prefix : LoopbackPrefixes) {
        if (!uri.startsWith(prefix))
            continue;
        QStringView rest = uri.mid(prefix.size());
        if (rest.startsWith(u':')) {
            qsizetype end = 1;
            while (end < rest.size() && rest[end] != u'/' && rest[end] != u'?')
                ++end;
            if (!isCanonicalPort(rest.mid(1, end - 1)))
                return std::nullopt;
            rest = rest.mid(end);
        }
        if (!rest.startsWith(u'/'))
            return std::nullopt;
        return LoopbackParts{uri.left(prefix.size()), rest};
    }
    return std::nullopt;
}

} // namespace

QString clientIdProblem(const QString &id)
{
    if (id.isEmpty())
        return QStringLiteral("client id is empty");
    if (id.size() > MaxClientIdLength)
        return QStringLiteral("client id is longer than %1 characters").arg(MaxClientIdLength);
    if (!isAsciiAlnum(id.front()))
        return QStringLiteral("client id must start with a letter or a digit");
    for (const QChar c : id) {
        if (!isUnreserved(c))
            return QStringLiteral("client id may contain only A-Z a-z 0-9 . _ ~ -");
    }
    return {};
}

QString redirectUriProblem(const QString &uri)
{
    if (uri.isEmpty())
        return QStringLiteral("is empty");
    if (uri.size() > MaxRedirectUriLength)
        return QStringLiteral("is longer than %1 characters").arg(MaxRedirectUriLength);
    for (qsizetype i = 0; i < uri.size(); ++i) {
        const QChar c = uri[i];
        if (c == u'#')
            return QStringLiteral("has a fragment (#...), which RFC 6749 §3.1.2 forbids");
        if (c == u'%') {
            if (i + 2 >= uri.size() || !isHexDigit(uri[i + 1]) || !isHexDigit(uri[i + 2]))
                return QStringLiteral("has a % not followed by two hexadecimal digits");
            continue;
        }
        if (!isUnreserved(c) && !isSubDelim(c) && !QStringView(u":/?[]@").contains(c))
            return QStringLiteral("has a character that is not allowed in a URI (a space, a "
                                  "control, non-ASCII or one of \"<>\\^`{|})");
    }
    const qsizetype colon = uri.indexOf(u':');
    if (colon <= 0)
        return QStringLiteral("is not an absolute URI (no scheme)");
    const QStringView scheme = QStringView(uri).left(colon);
    const QStringView afterScheme = QStringView(uri).mid(colon + 1);
    for (const QChar c : scheme) {
        if (isAsciiUpper(c))
            return QStringLiteral("has a scheme with capitals: write it in lowercase");
        if (!isAsciiLower(c) && !isAsciiDigit(c) && c != u'+' && c != u'-' && c != u'.')
            return QStringLiteral("has an invalid scheme");
    }
    if (!isAsciiLower(scheme.front()))
        return QStringLiteral("has an invalid scheme");
    if (scheme == u"http" || scheme == u"https")
        return hierarchicalProblem(scheme, afterScheme);
    // Private-use scheme (RFC 8252 §7.1): a reverse domain name the app
    // controls, and no authority, so one slash.
    bool reverseDomain = scheme.contains(u'.');
    for (const QStringView label : scheme.split(u'.'))
        reverseDomain = reverseDomain && !label.isEmpty();
    if (!reverseDomain)
        return QStringLiteral("has the scheme '%1', neither http(s) nor a private-use scheme "
                              "named by a reverse domain such as com.example.app "
                              "(RFC 8252 §7.1)")
                .arg(scheme);
    if (afterScheme.startsWith(u"//"))
        return QStringLiteral("has // after a private-use scheme: write %1:/path, one slash "
                              "(RFC 8252 §7.1)")
                .arg(scheme);
    return pathAndQueryProblem(afterScheme);
}

QString redirectUriListProblem(const QStringList &uris)
{
    if (uris.size() > MaxRedirectUris)
        return QStringLiteral("at most %1 redirect URIs per client").arg(MaxRedirectUris);
    for (qsizetype i = 0; i < uris.size(); ++i) {
        QString problem = redirectUriProblem(uris[i]);
        if (problem.isEmpty() && uris.indexOf(uris[i]) < i)
            problem = QStringLiteral("is given twice");
        if (!problem.isEmpty())
            return QStringLiteral("'%1' %2").arg(printableForError(uris[i]), problem);
    }
    return {};
}

bool redirectUriMatches(const QString &registered, const QString &presented)
{
    if (registered.isEmpty() || presented.isEmpty())
        return false;
    const auto loopback = splitLoopback(registered);
    if (!loopback)
        return registered == presented;
    const auto candidate = splitLoopback(presented);
    return candidate && candidate->prefix == loopback->prefix && candidate->rest == loopback->rest;
}

QString printableForError(const QString &text)
{
    constexpr int MaxShown = 120;
    QString shown;
    const QByteArray utf8 = text.toUtf8();
    for (const char byte : utf8) {
        if (shown.size() >= MaxShown) {
            shown += QStringLiteral("...");
            break;
        }
        const auto value = static_cast<unsigned char>(byte);
        if (value >= 0x20 && value < 0x7f && value != '\\')
            shown += QLatin1Char(byte);
        else
            shown += QStringLiteral("\\x%1").arg(value, 2, 16, QLatin1Char('0'));
    }
    return shown;
}

} // namespace Tessera::Server
