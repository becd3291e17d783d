// SPDX-License-Identifier: MIT
#include "httprequesthead_p.h"

#include <QtCore/QList>

namespace Tessera::OAuth {

namespace {

using Status = HttpRequestHead::Status;

// tchar of RFC 9110 §5.6.2.
bool isTokenChar(char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return QByteArrayView("!#$%&'*+-.^_`|~").contains(c);
}

bool isToken(QByteArrayView text)
{
    if (text.isEmpty())
        return false;
    for (const char c : text) {
        if (!isTokenChar(c))
            return false;
    }
    return true;
}

// Field values: visible ASCII, space and tab (obs-text is refused: a browser's Host and the
// headers it sends with a navigation are ASCII).
bool isFieldValue(QByteArrayView text)
{
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (!(u == '\t' || (u >= 0x20 && u < 0x7f)))
            return false;
    }
    return true;
}

// origin-form = absolute-path [ "?" query ] (RFC 9112 §3.2.1), in visible ASCII.
bool isOriginForm(QByteArrayView target)
{
    if (!target.startsWith('/') || target.startsWith("//"))
        return false;
    for (const char c : target) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == '#')
            return false;
    }
    return true;
}

HttpRequestHead bad()
{
    HttpRequestHead head;
    head.status = Status::BadRequest;
    return head;
}

} // namespace

HttpRequestHead HttpRequestHead::parse(QByteArrayView bytes)
{
    const qsizetype end = bytes.indexOf(QByteArrayView("\r\n\r\n"));
    if (end < 0) {
        // A bare LF or CR anywhere already read is malformed whatever follows.
        for (qsizetype i = 0; i < bytes.size(); ++i) {
            if (bytes[i] == '\n' && (i == 0 || bytes[i - 1] != '\r'))
                return bad();
            if (bytes[i] == '\r' && i + 1 < bytes.size() && bytes[i + 1] != '\n')
                return bad();
        }
        return {};
    }
    if (end + 4 != bytes.size())
        return bad(); // bytes after the head: a body or a pipelined request

    QList<QByteArrayView> lines;
    QByteArrayView rest = bytes.first(end);
    while (true) {
        const qsizetype crlf = rest.indexOf(QByteArrayView("\r\n"));
        const QByteArrayView line = crlf < 0 ? rest : rest.first(crlf);
        if (line.contains('\r') || line.contains('\n'))
            return bad();
        lines.append(line);
        if (crlf < 0)
            break;
        rest = rest.sliced(crlf + 2);
    }

    // request-line = method SP request-target SP HTTP-version
    const QByteArrayView requestLine = lines.first();
    const qsizetype firstSpace = requestLine.indexOf(' ');
    const qsizetype lastSpace = requestLine.lastIndexOf(' ');
    if (firstSpace <= 0 || lastSpace <= firstSpace + 1)
        return bad();
    const QByteArrayView method = requestLine.first(firstSpace);
    const QByteArrayView target = requestLine.sliced(firstSpace + 1, lastSpace - firstSpace - 1);
    const QByteArrayView version = requestLine.sliced(lastSpace + 1);
    if (!isToken(method) || !isOriginForm(target))
        return bad();
    const bool http11 = version == QByteArrayView("HTTP/1.1");
    if (!http11 && version != QByteArrayView("HTTP/1.0"))
        return bad();

    HttpRequestHead head;
    int hosts = 0;
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArrayView line = lines[i];
        const qsizetype colon = line.indexOf(':');
        // No name, whitespace before the colon, or a folded continuation line: all 400.
        if (colon <= 0 || !isToken(line.first(colon)))
            return bad();
        const QByteArrayView value = line.sliced(colon + 1).trimmed();
        if (!isFieldValue(value))
            return bad();
        const QByteArray name = line.first(colon).toByteArray().toLower();
        if (name == "host") {
            ++hosts;
            head.host = value.toByteArray();
        } else if (name == "transfer-encoding") {
            return bad();
        } else if (name == "content-length" && value != QByteArrayView("0")) {
            return bad();
        }
    }
    if (hosts > 1 || (http11 && hosts != 1))
        return bad();

    if (method != QByteArrayView("GET")) {
        head.status = Status::NotGet;
        return head;
    }
    const qsizetype question = target.indexOf('?');
    head.path = (question < 0 ? target : target.first(question)).toByteArray();
    if (question >= 0)
        head.query = target.sliced(question + 1).toByteArray();
    head.status = Status::Complete;
    return head;
}

} // namespace Tessera::OAuth
