// SPDX-License-Identifier: MIT
// Over 500 lines on purpose: one state machine for RFC 9112 request framing,
// with each grammar rule next to the state that applies it; split, the rules
// and the states they guard would have to be read side by side.
#include "httpframing.h"

#include <algorithm>
#include <cstring>

namespace Tessera::Server {
namespace {

constexpr int MaxLeadingEmptyLines = 8; // RFC 9112 2.2: ignore at least one
constexpr qsizetype MaxChunkLineBytes = 1024;

// The chunked body as sent (sizes, extensions, data, CRLFs): room for
// the decoded maximum, twice over, and for the chunk lines.
qint64 maxRawBodyBytes(const FramingLimits &limits)
{
    return 2 * limits.maxBodyBytes + 16 * 1024;
}

const char *const InvalidRequest = "invalid_request";

bool isAlnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool oneOf(char c, const char *set)
{
    return c != '\0' && std::strchr(set, c) != nullptr;
}

// tchar (RFC 9110 5.6.2)
bool isTchar(char c)
{
    return isAlnum(c) || oneOf(c, "!#$%&'*+-.^_`|~");
}

bool isToken(QByteArrayView text)
{
    if (text.isEmpty())
        return false;
    for (const char c : text) {
        if (!isTchar(c))
            return false;
    }
    return true;
}

bool isHexDigit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

// RFC 3986 characters of a request target (unreserved, sub-delims, ":@/?");
// `brackets` for an IP literal in an authority. '%' is checked by the caller.
bool isTargetChar(char c, bool brackets)
{
    return isAlnum(c) || oneOf(c, "-._~!$&'()*+,;=:@/?") || (brackets && oneOf(c, "[]"));
}

bool isValidTarget(QByteArrayView target, bool brackets)
{
    for (qsizetype i = 0; i < target.size(); ++i) {
        const char c = target[i];
        if (c == '%') {
            if (i + 2 >= target.size() || !isHexDigit(target[i + 1]) || !isHexDigit(target[i + 2]))
                return false;
            i += 2;
        } else if (!isTargetChar(c, brackets)) {
            return false;
        }
    }
    return true;
}

// field-value: visible ASCII, obs-text, and SP/HTAB between them; no other controls.
bool isValidFieldValue(QByteArrayView value)
{
    for (const char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && u != '\t') || u == 0x7f)
            return false;
    }
    return true;
}

QByteArrayView trimmedOws(QByteArrayView text)
{
    while (!text.isEmpty() && (text.front() == ' ' || text.front() == '\t'))
        text = text.sliced(1);
    while (!text.isEmpty() && (text.back() == ' ' || text.back() == '\t'))
        text.chop(1);
    return text;
}

// The elements of a comma-separated list field (RFC 9110 5.6.1), OWS trimmed, lower case.
QList<QByteArray> listElements(const QList<QByteArray> &values)
{
    QList<QByteArray> elements;
    for (const QByteArray &value : values) {
        for (const QByteArray &element : value.split(','))
            elements.append(trimmedOws(element).toByteArray().toLower());
    }
    return elements;
}

bool equalsLower(QByteArrayView name, QByteArrayView lower)
{
    if (name.size() != lower.size())
        return false;
    for (qsizetype i = 0; i < name.size(); ++i) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = char(c | 0x20);
        if (c != lower[i])
            return false;
    }
    return true;
}

} // namespace

RequestFramer::RequestFramer(const FramingLimits &limits)
    : m_limits(limits)
{ }

void RequestFramer::stop(int status, const char *code, const char *detail)
{
    m_error = FramingError{status, QByteArray(code), QByteArray(detail)};
    m_silentStop = status == 0;
    m_state = State::Done;
    m_phase = Phase::Stopped;
    // Nothing of a refused message is kept.
    m_line.clear();
    m_body.clear();
    m_fields.clear();
    m_requestLine.clear();
}

void RequestFramer::fail(int status, QByteArray code, QByteArray detail)
{
    if (m_state == State::Done && failed())
        return;
    stop(status, "", "");
    m_error.code = std::move(code);
    m_error.detail = std::move(detail);
}

RequestFramer::Request RequestFramer::takeRequest()
{
    Request request = std::move(m_queue.front());
    m_queue.pop_front();
    return request;
}

qsizetype RequestFramer::feed(QByteArrayView data)
{
    qsizetype i = 0;
    while (i < data.size() && m_state != State::Done) {
        if (m_phase == Phase::Idle) {
            // The next request waits, unread, until the queue has room.
            if (qsizetype(m_queue.size()) >= m_limits.maxQueuedRequests)
                return i;
            m_phase = Phase::Head;
        }
        switch (m_state) {
        case State::FixedBody:
        case State::ChunkData: {
            const qsizetype n = qsizetype(qMin<qint64>(m_remaining, data.size() - i));
            m_body.append(data.sliced(i, n));
            i += n;
            m_remaining -= n;
            if (m_state == State::ChunkData)
                m_rawBodyBytes += n;
            if (m_remaining == 0) {
                if (m_state == State::FixedBody)
                    messageComplete();
                else
                    m_state = State::ChunkDataEnd;
            }
            break;
        }
        default: {
            const char c = data[i];
            if (m_sawCR) {
                ++i;
                if (!appendLineEnding())
                    break;
                if (c != '\n') {
                    stop(400, InvalidRequest, "CR not followed by LF");
                    break;
                }
                m_sawCR = false;
                lineComplete();
                break;
            }
            if (c == '\r') {
                ++i;
                m_sawCR = true;
                appendLineEnding();
                break;
            }
            if (c == '\n') {
                stop(400, InvalidRequest, "bare LF line ending");
                break;
            }
            // The run of line bytes up to the next CR or LF, checked against the
            // limits as a whole and stored at once.
            const char *const start = data.data() + i;
            const char *const end = data.data() + data.size();
            const char *const cr = static_cast<const char *>(std::memchr(start, '\r', end - start));
            const char *const runEnd = cr ? cr : end;
            const char *const lf =
                    static_cast<const char *>(std::memchr(start, '\n', runEnd - start));
            const qsizetype run = (lf ? lf : runEnd) - start;
            if (appendLineRun(QByteArrayView(start, run)))
                i += run;
            break;
        }
        }
    }
    return data.size();
}

// Accounts one byte of a line ending (CR or LF) against the limit of its
// line-based state; the ending is not stored. False (and stopped) when a limit is passed.
bool RequestFramer::appendLineEnding()
{
    switch (m_state) {
    case State::RequestLine:
        if (++m_headBytes > m_limits.maxHeadBytes) {
            stop(414, "uri_too_long", "request line too long");
            return false;
        }
        break;
    case State::FieldLine:
        if (++m_headBytes > m_limits.maxHeadBytes) {
            stop(431, "header_too_large", "request header fields too large");
            return false;
        }
        break;
    case State::TrailerLine:
        if (++m_trailerBytes > m_limits.maxHeadBytes) {
            stop(431, "header_too_large", "trailer fields too large");
            return false;
        }
        break;
    case State::ChunkSizeLine:
    case State::ChunkDataEnd:
        if (m_line.size() >= MaxChunkLineBytes) {
            stop(400, InvalidRequest, "chunk line too long");
            return false;
        }
        if (++m_rawBodyBytes > maxRawBodyBytes(m_limits)) {
            stop(413, "request_too_large", "request body too large");
            return false;
        }
        break;
    default:
        break;
    }
    return true;
}

// Accounts and stores a run of line bytes (no CR or LF in it) in one step. The
// first byte that would pass a limit stops the framer, with the error that byte
// alone would have met; nothing of the run is stored then.
bool RequestFramer::appendLineRun(QByteArrayView run)
{
    qsizetype room = run.size(); // bytes that pass every limit
    int status = 0;
    const char *code = nullptr;
    const char *detail = nullptr;
    const auto limit = [&](qint64 left, int s, const char *c, const char *d) {
        if (left < room) {
            room = qsizetype(qMax<qint64>(0, left));
            status = s;
            code = c;
            detail = d;
        }
    };
    switch (m_state) {
    case State::RequestLine:
        // Either limit is "request line too long".
        limit(qMin<qint64>(m_limits.maxHeadBytes - m_headBytes,
                           m_limits.maxRequestLineBytes - m_line.size()),
              414, "uri_too_long", "request line too long");
        m_headBytes += room;
        break;
    case State::FieldLine:
        limit(m_limits.maxHeadBytes - m_headBytes, 431, "header_too_large",
              "request header fields too large");
        m_headBytes += room;
        break;
    case State::TrailerLine:
        limit(m_limits.maxHeadBytes - m_trailerBytes, 431, "header_too_large",
              "trailer fields too large");
        m_trailerBytes += room;
        break;
    case State::ChunkSizeLine:
    case State::ChunkDataEnd:
        // Per byte the line length is checked first, so on the same byte it wins.
        limit(MaxChunkLineBytes - m_line.size(), 400, InvalidRequest, "chunk line too long");
        limit(maxRawBodyBytes(m_limits) - m_rawBodyBytes, 413, "request_too_large",
              "request body too large");
        m_rawBodyBytes += room;
        break;
    default:
        break;
    }
    if (room < run.size()) {
        stop(status, code, detail);
        return false;
    }
    m_line.append(run);
    return true;
}

void RequestFramer::lineComplete()
{
    const QByteArray line = std::exchange(m_line, QByteArray());
    switch (m_state) {
    case State::RequestLine:
        if (line.isEmpty()) {
            if (++m_leadingEmptyLines > MaxLeadingEmptyLines)
                stop(400, InvalidRequest, "empty lines instead of a request");
            return;
        }
        requestLine(line);
        return;
    case State::FieldLine:
        if (line.isEmpty())
            headComplete();
        else
            fieldLine(line, false);
        return;
    case State::ChunkSizeLine:
        chunkSizeLine(line);
        return;
    case State::ChunkDataEnd:
        if (!line.isEmpty()) {
            stop(400, InvalidRequest, "chunk data longer than its size");
            return;
        }
        m_state = State::ChunkSizeLine;
        return;
    case State::TrailerLine:
        if (line.isEmpty())
            messageComplete();
        else
            fieldLine(line, true);
        return;
    default:
        return;
    }
}

void RequestFramer::requestLine(QByteArrayView line)
{
    // request-line = method SP request-target SP HTTP-version (RFC 9112 3), single spaces.
    const qsizetype first = line.indexOf(' ');
    const qsizetype second = first < 0 ? -1 : line.indexOf(' ', first + 1);
    if (first <= 0 || second < 0 || line.indexOf(' ', second + 1) >= 0) {
        stop(400, InvalidRequest, "malformed request line");
        return;
    }
    const QByteArrayView method = line.first(first);
    const QByteArrayView target = line.sliced(first + 1, second - first - 1);
    const QByteArrayView version = line.sliced(second + 1);
    if (!isToken(method)) {
        stop(400, InvalidRequest, "malformed method");
        return;
    }
    if (version == "HTTP/1.1") {
        m_http10 = false;
    } else if (version == "HTTP/1.0") {
        m_http10 = true;
    } else if (version.size() == 8 && version.startsWith("HTTP/") && version[5] >= '0'
               && version[5] <= '9' && version[6] == '.' && version[7] >= '0'
               && version[7] <= '9') {
        stop(505, "http_version_not_supported", "only HTTP/1.1 and HTTP/1.0 are served");
        return;
    } else {
        stop(400, InvalidRequest, "malformed HTTP version");
        return;
    }
    bool targetOk = false;
    if (target.startsWith("//")) {
        // A valid absolute-path (RFC 9112 3.2.1), but URL parsers, Qt's
        // among them, read "//evil/x" as authority "evil", path "/x": the
        // route served would not be the path that was checked.
        stop(400, InvalidRequest, "request target starting with \"//\"");
        return;
    } else if (target.startsWith('/')) {
        targetOk = isValidTarget(target, false); // origin-form
    } else if (target == "*") {
        targetOk = method == "OPTIONS"; // asterisk-form
    } else {
        const QByteArray lower =
                target.first(qMin<qsizetype>(target.size(), 8)).toByteArray().toLower();
        targetOk = (lower.startsWith("http://") || lower.startsWith("https://"))
                && isValidTarget(target, true); // absolute-form
    }
    if (!targetOk) {
        stop(400, InvalidRequest, "malformed request target");
        return;
    }
    m_requestLine = line.toByteArray();
    m_state = State::FieldLine;
}

void RequestFramer::fieldLine(QByteArrayView line, bool trailer)
{
    // A line that starts with whitespace is obs-fold (or whitespace between the
    // start line and the first field): both refused (RFC 9112 5.2, 2.2).
    if (line.front() == ' ' || line.front() == '\t') {
        stop(400, InvalidRequest, "obs-fold (line folding) is not accepted");
        return;
    }
    const qsizetype colon = line.indexOf(':');
    if (colon <= 0) {
        stop(400, InvalidRequest, "field line without a name and a colon");
        return;
    }
    const QByteArrayView name = line.first(colon);
    if (name.back() == ' ' || name.back() == '\t') {
        stop(400, InvalidRequest, "whitespace between a field name and the colon");
        return;
    }
    if (!isToken(name)) {
        stop(400, InvalidRequest, "malformed field name");
        return;
    }
    const QByteArrayView value = trimmedOws(line.sliced(colon + 1));
    if (!isValidFieldValue(value)) {
        stop(400, InvalidRequest, "control character in a field value");
        return;
    }
    if (trailer) {
        // Trailer fields are checked and dropped: nothing here reads them.
        if (++m_trailerFields > m_limits.maxHeaderFields)
            stop(431, "header_too_large", "too many trailer fields");
        return;
    }
    if (m_fields.size() >= m_limits.maxHeaderFields) {
        stop(431, "header_too_large", "too many header fields");
        return;
    }
    m_fields.append({name.toByteArray(), value.toByteArray()});
}

void RequestFramer::headComplete()
{
    int hosts = 0;
    QByteArrayView host;
    QList<QByteArray> contentLengths;
    QList<QByteArray> transferEncodings;
    QList<QByteArray> expectations;
    QList<QByteArray> connectionOptions;
    for (const auto &[name, value] : std::as_const(m_fields)) {
        if (equalsLower(name, "host")) {
            ++hosts;
            host = value;
        } else if (equalsLower(name, "content-length")) {
            contentLengths.append(value);
        } else if (equalsLower(name, "transfer-encoding")) {
            transferEncodings.append(value);
        } else if (equalsLower(name, "expect")) {
            expectations.append(value);
        } else if (equalsLower(name, "connection")) {
            connectionOptions.append(value);
        }
    }
    // RFC 9112 3.2: exactly one Host in HTTP/1.1, never two.
    if (hosts > 1 || (hosts == 0 && !m_http10)) {
        stop(400, InvalidRequest, hosts ? "more than one Host field" : "no Host field");
        return;
    }
    if (hosts == 1 && !isValidTarget(host, true)) {
        stop(400, InvalidRequest, "malformed Host field");
        return;
    }

    // Body framing (RFC 9112 6.1, 6.3).
    m_chunked = false;
    m_remaining = 0;
    if (!transferEncodings.isEmpty()) {
        if (m_http10) {
            stop(400, InvalidRequest, "Transfer-Encoding in an HTTP/1.0 request");
            return;
        }
        if (!contentLengths.isEmpty()) {
            stop(400, InvalidRequest, "both Transfer-Encoding and Content-Length");
            return;
        }
        const QList<QByteArray> codings = listElements(transferEncodings);
        if (codings.contains(QByteArray())
            || !std::all_of(codings.begin(), codings.end(), isToken)) {
            stop(400, InvalidRequest, "malformed Transfer-Encoding");
            return;
        }
        if (codings.last() != "chunked" || codings.count("chunked") > 1) {
            stop(400, InvalidRequest, "chunked must be the final transfer coding, once");
            return;
        }
        if (codings.size() > 1) {
            stop(501, "not_implemented", "only the chunked transfer coding is implemented");
            return;
        }
        m_chunked = true;
    } else if (contentLengths.size() > 1) {
        stop(400, InvalidRequest, "more than one Content-Length");
        return;
    } else if (contentLengths.size() == 1) {
        const QByteArray &text = contentLengths.first();
        if (text.isEmpty() || !std::all_of(text.begin(), text.end(), [](char c) {
                return c >= '0' && c <= '9';
            })) {
            stop(400, InvalidRequest, "Content-Length is not a single decimal number");
            return;
        }
        qint64 length = 0;
        for (const char c : text) {
            length = length * 10 + (c - '0');
            if (length > m_limits.maxBodyBytes) {
                stop(413, "request_too_large", "request body too large");
                return;
            }
        }
        m_remaining = length;
    }

    // RFC 9110 10.1.1: 100-continue is the only expectation; HTTP/1.0 ignores it.
    m_expectContinue = false;
    if (!expectations.isEmpty() && !m_http10) {
        if (expectations.size() != 1 || expectations.first().toLower() != "100-continue") {
            stop(417, "expectation_failed", "only the 100-continue expectation is supported");
            return;
        }
        m_expectContinue = true;
    }
    // HTTP/1.0 persistence would need a Connection: keep-alive answer: close instead.
    m_closeAfter = m_http10 || listElements(connectionOptions).contains("close");

    if (m_chunked) {
        m_state = State::ChunkSizeLine;
        m_phase = Phase::Body;
    } else if (m_remaining > 0) {
        m_state = State::FixedBody;
        m_phase = Phase::Body;
    } else {
        messageComplete();
    }
}

void RequestFramer::chunkSizeLine(QByteArrayView line)
{
    // chunk = chunk-size [ chunk-ext ] CRLF (RFC 9112 7.1)
    qsizetype digits = 0;
    qint64 size = 0;
    while (digits < line.size() && isHexDigit(line[digits])) {
        size = size * 16 + hexValue(line[digits]);
        ++digits;
        // Checked digit by digit, so the value never overflows (leading zeros are fine).
        if (size > m_limits.maxBodyBytes) {
            stop(413, "request_too_large", "request body too large");
            return;
        }
    }
    if (digits == 0) {
        stop(400, InvalidRequest, "malformed chunk size");
        return;
    }
    const QByteArrayView extension = trimmedOws(line.sliced(digits));
    if (!extension.isEmpty() && (extension.front() != ';' || !isValidFieldValue(extension))) {
        stop(400, InvalidRequest, "malformed chunk extension");
        return;
    }
    if (size > m_limits.maxBodyBytes - m_body.size()) {
        stop(413, "request_too_large", "request body too large");
        return;
    }
    if (size == 0) {
        m_state = State::TrailerLine;
        return;
    }
    m_remaining = size;
    m_state = State::ChunkData;
}

void RequestFramer::messageComplete()
{
    QByteArray message;
    message.reserve(m_requestLine.size() + m_headBytes + m_body.size() + 32);
    message += m_requestLine;
    message += "\r\n";
    HeldFields::Fields held;
    for (const auto &[name, value] : std::as_const(m_fields)) {
        if (HeldFields::isHeld(name)) {
            held.append({name, value});
            continue;
        }
        // Framing and expectation fields were handled here; Qt's parser must not
        // act on them again (it would read a chunked body its own way, or send a
        // second 100 Continue).
        // Upgrade is ignored (RFC 9110 7.8 lets a server stay on HTTP/1.1):
        // Qt's parser would hand the connection to its upgrade path, which
        // answered a second time after the route's answer.
        if (equalsLower(name, "transfer-encoding") || equalsLower(name, "expect")
            || equalsLower(name, "upgrade") || (m_chunked && equalsLower(name, "content-length")))
            continue;
        message += name;
        message += ": ";
        message += value;
        message += "\r\n";
    }
    if (m_chunked) {
        message += "Content-Length: ";
        message += QByteArray::number(m_body.size());
        message += "\r\n";
    }
    message += "\r\n";
    message += m_body;
    const bool closeAfter = m_closeAfter;
    m_queue.push_back(Request{std::move(message), std::move(held), closeAfter});
    ++m_completed;
    resetMessage();
    if (closeAfter) {
        // Whatever follows is never parsed, so it can never run.
        m_state = State::Done;
        m_phase = Phase::Stopped;
    }
}

void RequestFramer::resetMessage()
{
    m_state = State::RequestLine;
    m_phase = Phase::Idle;
    m_line.clear();
    m_sawCR = false;
    m_leadingEmptyLines = 0;
    m_headBytes = 0;
    m_requestLine.clear();
    m_http10 = false;
    m_fields.clear();
    m_trailerBytes = 0;
    m_trailerFields = 0;
    m_chunked = false;
    m_closeAfter = false;
    m_expectContinue = false;
    m_remaining = 0;
    m_rawBodyBytes = 0;
    m_body.clear();
}

} // namespace Tessera::Server
