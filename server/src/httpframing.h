// SPDX-License-Identifier: MIT
#pragma once

#include "heldfields.h"

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>
#include <QtCore/QList>

#include <deque>
#include <utility>

namespace Tessera::Server {

struct FramingLimits
{
    qsizetype maxHeadBytes = 16 * 1024; // request line, fields and their CRLFs
    qsizetype maxRequestLineBytes = 8 * 1024;
    int maxHeaderFields = 100;
    qint64 maxBodyBytes = 64 * 1024; // decoded
    // Complete requests framed ahead of the one being answered; the bytes of
    // the next one stay unread until one is taken.
    int maxQueuedRequests = 1;
};

// Why the framer stopped. `status` 0 means the connection closes without an answer.
struct FramingError
{
    int status = 0;
    QByteArray code;
    QByteArray detail;
};

// Strict HTTP/1.1 request framing (RFC 9112) in front of Qt HttpServer's own
// parser. It consumes the raw byte stream of one connection and yields each
// complete request in a canonical form (CRLF lines, "Name: value" fields, a
// Content-Length body, no Transfer-Encoding, Expect or Upgrade), which is the only thing
// Qt's parser ever reads, one request at a time. Anything outside the strict
// grammar stops the framer with the status to answer before closing: bare LF or
// CR, obs-fold, whitespace before a colon, more than one Content-Length or a list
// or a non-digit one, Transfer-Encoding other than exactly "chunked" or together
// with Content-Length, a missing or repeated Host (HTTP/1.1), oversized heads and
// bodies. Bytes after a request that ends the connection are ignored, so a
// request smuggled behind it never runs.
class RequestFramer
{
public:
    enum class Phase {
        Idle, // between requests: no byte of the next one yet
        Head,
        Body,
        Stopped, // an error, or a request that ends the connection, was framed
    };

    struct Request
    {
        QByteArray message;            // canonical head + body, without the held fields
        HeldFields::Fields heldFields; // Authorization and DPoP (heldfields.h), in order
        bool closeAfter = false;
    };

    explicit RequestFramer(const FramingLimits &limits);

    // Consumes `data` up to the start of a request that would exceed
    // maxQueuedRequests, or all of it; returns how many bytes it consumed.
    // Once stopped, everything is consumed (and ignored).
    qsizetype feed(QByteArrayView data);
    // Stops the framer (a deadline seen by the connection); queued requests stay.
    void fail(int status, QByteArray code, QByteArray detail);

    Phase phase() const { return m_phase; }
    bool hasRequest() const { return !m_queue.empty(); }
    Request takeRequest();
    int queuedRequests() const { return int(m_queue.size()); }
    // Requests completed so far; tells the connection a new head began.
    quint64 completedRequests() const { return m_completed; }
    // Set once the stream can carry no further request (error or end of connection).
    bool stopped() const { return m_phase == Phase::Stopped; }
    // The error, if the framer stopped on one (status 0 and empty code otherwise).
    const FramingError &error() const { return m_error; }
    bool failed() const { return !m_error.code.isEmpty() || m_error.status != 0 || m_silentStop; }
    // The request being read asked for 100-continue and its body is still to come.
    bool wantsContinue() const { return m_phase == Phase::Body && m_expectContinue; }
    void continueSent() { m_expectContinue = false; }

private:
    enum class State {
        RequestLine,
        FieldLine,
        FixedBody,
        ChunkSizeLine,
        ChunkData,
        ChunkDataEnd,
        TrailerLine,
        Done,
    };

    void stop(int status, const char *code, const char *detail);
    bool appendLineEnding();
    bool appendLineRun(QByteArrayView run);
    void lineComplete();
    void requestLine(QByteArrayView line);
    void fieldLine(QByteArrayView line, bool trailer);
    void headComplete();
    void chunkSizeLine(QByteArrayView line);
    void messageComplete();
    void resetMessage();

    FramingLimits m_limits;
    State m_state = State::RequestLine;
    Phase m_phase = Phase::Idle;
    FramingError m_error;
    bool m_silentStop = false;

    // The line being read and its CR state.
    QByteArray m_line;
    bool m_sawCR = false;
    int m_leadingEmptyLines = 0;

    // The message being read.
    qsizetype m_headBytes = 0;
    QByteArray m_requestLine;
    bool m_http10 = false;
    QList<std::pair<QByteArray, QByteArray>> m_fields;
    qsizetype m_trailerBytes = 0;
    int m_trailerFields = 0;
    bool m_chunked = false;
    bool m_closeAfter = false;
    bool m_expectContinue = false;
    qint64 m_remaining = 0; // fixed body or current chunk
    qint64 m_rawBodyBytes = 0;
    QByteArray m_body;

    std::deque<Request> m_queue;
    quint64 m_completed = 0;
};

} // namespace Tessera::Server
