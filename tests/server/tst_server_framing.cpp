// SPDX-License-Identifier: MIT
// Unit tests of tessera-server's strict HTTP/1.1 request framing (RequestFramer)
// and of its connection counting (ConnectionLimiter): every input is fed whole,
// byte by byte and in odd pieces, and must give the same answer each way.
#include "connectionlimiter.h"
#include "httpframing.h"

#include <QtTest/QTest>

#include <sys/resource.h>

using namespace Tessera::Server;

namespace {

struct Outcome
{
    QList<QByteArray> messages;
    QList<bool> closeAfter;
    int status = 0; // 0: no error
    QByteArray code;
    bool stopped = false;
    RequestFramer::Phase phase = RequestFramer::Phase::Idle;
};

FramingLimits testLimits()
{
    FramingLimits limits;
    limits.maxHeadBytes = 1024;
    limits.maxRequestLineBytes = 512;
    limits.maxHeaderFields = 8;
    limits.maxBodyBytes = 256;
    limits.maxQueuedRequests = 4;
    return limits;
}

// Feeds `input` in the pieces that end at `cuts` (ascending) and at its end.
Outcome frameAt(const QByteArray &input, const QList<qsizetype> &cuts,
                const FramingLimits &limits = testLimits())
{
    RequestFramer framer(limits);
    Outcome outcome;
    auto takeAll = [&framer, &outcome] {
        while (framer.hasRequest()) {
            RequestFramer::Request request = framer.takeRequest();
            outcome.messages.append(request.message);
            outcome.closeAfter.append(request.closeAfter);
        }
    };
    QList<qsizetype> ends = cuts;
    ends.append(input.size());
    qsizetype begin = 0;
    for (const qsizetype end : std::as_const(ends)) {
        QByteArrayView piece = QByteArrayView(input).sliced(begin, qMin(end, input.size()) - begin);
        begin = qMin(end, input.size());
        // As the connection does: what the framer has no room for waits, unread,
        // until the waiting requests are taken.
        while (!piece.isEmpty()) {
            piece = piece.sliced(framer.feed(piece));
            if (!piece.isEmpty() && !framer.hasRequest())
                return outcome; // no progress possible: the caller's QCOMPAREs fail
            takeAll();
        }
    }
    takeAll();
    outcome.status = framer.error().status;
    outcome.code = framer.error().code;
    outcome.stopped = framer.stopped();
    outcome.phase = framer.phase();
    return outcome;
}

Outcome frame(const QByteArray &input, qsizetype pieceSize)
{
    QList<qsizetype> cuts;
    for (qsizetype end = pieceSize; end < input.size(); end += pieceSize)
        cuts.append(end);
    return frameAt(input, cuts);
}

const QByteArray Get = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";

} // namespace

class tst_ServerFraming : public QObject
{
    Q_OBJECT
private slots:
    void accepted_data();
    void accepted();
    void refused_data();
    void refused();
    void limitBoundaries_data();
    void limitBoundaries();
    void bytesAfterAClosingRequestAreIgnored();
    void continueIsAskedOnlyBeforeTheBody();
    void credentialFieldsAreHeldFromQt();
    void phases();
    void pipelineIsBounded();
    void timeoutStopsTheFramer();
    void connectionLimiterCaps();
    void connectionLimiterGroupsIpv6By64();
    void fileDescriptorBudgetKeepsReserve();
};

void tst_ServerFraming::accepted_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QList<QByteArray>>("messages"); // canonical, as Qt's parser reads them
    QTest::addColumn<QList<bool>>("closeAfter");

    QTest::addRow("GET") << Get << QList<QByteArray>{Get} << QList<bool>{false};
    QTest::addRow("leading empty line ignored (RFC 9112 2.2)")
            << "\r\n" + Get << QList<QByteArray>{Get} << QList<bool>{false};
    QTest::addRow("OWS around a value trimmed")
            << QByteArray("GET / HTTP/1.1\r\nHost:   a \t\r\nX-A:b\r\n\r\n")
            << QList<QByteArray>{"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n"}
            << QList<bool>{false};
    const QByteArray post =
            "POST /api/token/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    QTest::addRow("Content-Length body") << post << QList<QByteArray>{post} << QList<bool>{false};
    QTest::addRow("Content-Length with leading zeros (1*DIGIT)")
            << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello")
            << QList<QByteArray>{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello"}
            << QList<bool>{false};
    QTest::addRow("Upgrade dropped (RFC 9110 7.8: the server stays on HTTP/1.1)")
            << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                          "Upgrade: websocket\r\n\r\n")
            << QList<QByteArray>{"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n"}
            << QList<bool>{false};
    QTest::addRow("chunked body becomes a Content-Length body")
            << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3\r\nhel\r\n2;ext=\"v\"\r\nlo\r\n0\r\nTrailer-A: x\r\n\r\n")
            << QList<QByteArray>{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"}
            << QList<bool>{false};
    QTest::addRow("chunk size with leading zeros")
            << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "00000000000000000002\r\nhi\r\n0\r\n\r\n")
            << QList<QByteArray>{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"}
            << QList<bool>{false};
    QTest::addRow("Transfer-Encoding value is case-insensitive")
            << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
                          "0\r\n\r\n")
            << QList<QByteArray>{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"}
            << QList<bool>{false};
    QTest::addRow("Expect is handled here and not passed on")
            << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                          "Content-Length: 2\r\n\r\nhi")
            << QList<QByteArray>{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"}
            << QList<bool>{false};
    QTest::addRow("pipelined requests, each on its own")
            << Get + post + Get << QList<QByteArray>{Get, post, Get}
            << QList<bool>{false, false, false};
    const QByteArray close = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n";
    QTest::addRow("Connection: close ends the connection")
            << close << QList<QByteArray>{close} << QList<bool>{true};
    QTest::addRow("HTTP/1.0 closes after its answer, Host optional")
            << QByteArray("GET / HTTP/1.0\r\n\r\n") << QList<QByteArray>{"GET / HTTP/1.0\r\n\r\n"}
            << QList<bool>{true};
    QTest::addRow("absolute-form target")
            << QByteArray("GET http://a/healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            << QList<QByteArray>{"GET http://a/healthz HTTP/1.1\r\nHost: a\r\n\r\n"}
            << QList<bool>{false};
    QTest::addRow("percent-encoded query, IPv6 Host")
            << QByteArray("GET /a?b=%20c HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n")
            << QList<QByteArray>{"GET /a?b=%20c HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n"}
            << QList<bool>{false};
    QTest::addRow("obs-text in a value passes")
            << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n")
            << QList<QByteArray>{"GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n"}
            << QList<bool>{false};
}

void tst_ServerFraming::accepted()
{
    QFETCH(QByteArray, input);
    QFETCH(QList<QByteArray>, messages);
    QFETCH(QList<bool>, closeAfter);
    for (const qsizetype piece : {input.size(), qsizetype(1), qsizetype(7)}) {
        const Outcome outcome = frame(input, piece);
        QCOMPARE(outcome.status, 0);
        QVERIFY2(outcome.code.isEmpty(), outcome.code.constData());
        QCOMPARE(outcome.messages, messages);
        QCOMPARE(outcome.closeAfter, closeAfter);
        QCOMPARE(outcome.stopped, closeAfter.last());
    }
}

void tst_ServerFraming::refused_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("code");
    QTest::addColumn<int>("framedBefore"); // requests framed before the error

    const QByteArray bad = "invalid_request";
    auto head = [](const QByteArray &fields) { return "POST / HTTP/1.1\r\nHost: a\r\n" + fields; };

    // RFC 9112 6.3: ambiguous lengths.
    QTest::addRow("two different Content-Length")
            << head("Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!") << 400 << bad << 0;
    QTest::addRow("two equal Content-Length")
            << head("Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello") << 400 << bad << 0;
    QTest::addRow("Content-Length list")
            << head("Content-Length: 47, 47\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("Content-Length +13") << head("Content-Length: +13\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("Content-Length -5") << head("Content-Length: -5\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("Content-Length hex") << head("Content-Length: 0x10\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("Content-Length empty") << head("Content-Length:\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("Content-Length over the body limit")
            << head("Content-Length: 257\r\n\r\n") << 413 << QByteArray("request_too_large") << 0;
    QTest::addRow("Content-Length absurd")
            << head("Content-Length: 99999999999999999999999999\r\n\r\n") << 413
            << QByteArray("request_too_large") << 0;
    QTest::addRow("chunked with Content-Length")
            << head("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n") << 400
            << bad << 0;
    QTest::addRow("gzip, chunked: a coding not implemented (RFC 9112 6.1)")
            << head("Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n") << 501
            << QByteArray("not_implemented") << 0;
    QTest::addRow("chunked, gzip: chunked not last")
            << head("Transfer-Encoding: chunked, gzip\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("chunked twice, one field")
            << head("Transfer-Encoding: chunked, chunked\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("chunked twice, two fields")
            << head("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") << 400
            << bad << 0;
    QTest::addRow("identity") << head("Transfer-Encoding: identity\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("xchunked") << head("Transfer-Encoding: xchunked\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("Transfer-Encoding in HTTP/1.0")
            << QByteArray("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") << 400
            << bad << 0;
    QTest::addRow("chunk size with a sign")
            << head("Transfer-Encoding: chunked\r\n\r\n+5\r\n") << 400 << bad << 0;
    QTest::addRow("chunk size missing")
            << head("Transfer-Encoding: chunked\r\n\r\n;a\r\n") << 400 << bad << 0;
    QTest::addRow("chunk data longer than its size")
            << head("Transfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("chunked body over the limit") << head("Transfer-Encoding: chunked\r\n\r\n100\r\n"
                                                         + QByteArray(256, 'a') + "\r\n1\r\nb\r\n")
                                                 << 413 << QByteArray("request_too_large") << 0;
    QTest::addRow("huge chunk size")
            << head("Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n") << 413
            << QByteArray("request_too_large") << 0;
    QTest::addRow("chunk size past 64 bits (found by fuzz_http_framing)")
            << head("Transfer-Encoding: chunked\r\n\r\nCCCCCCCCCCCCCCCC\r\n") << 413
            << QByteArray("request_too_large") << 0;

    // RFC 9112 2.2, 5.2: line endings and folding.
    QTest::addRow("bare LF") << QByteArray("GET / HTTP/1.1\nHost: a\n\n") << 400 << bad << 0;
    QTest::addRow("bare LF at the end of the head")
            << QByteArray("GET / HTTP/1.1\r\nHost: a\r\n\n") << 400 << bad << 0;
    QTest::addRow("bare CR") << QByteArray("GET / HTTP/1.1\rHost: a\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("bare LF in the chunk framing")
            << head("Transfer-Encoding: chunked\r\n\r\n1\nA\r\n0\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("obs-fold") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n")
                              << 400 << bad << 0;
    QTest::addRow("whitespace before the first field")
            << QByteArray("GET / HTTP/1.1\r\n Host: a\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("whitespace before the colon")
            << QByteArray("GET / HTTP/1.1\r\nHost : a\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("field without a colon")
            << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nnonsense\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("NUL in a value")
            << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nX-A: b") + '\0' + QByteArray("c\r\n\r\n")
            << 400 << bad << 0;
    QTest::addRow("DEL in a value")
            << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7f\r\n\r\n") << 400 << bad << 0;

    // RFC 9112 3: the request line, and Host (3.2).
    QTest::addRow("two spaces") << QByteArray("GET  / HTTP/1.1\r\nHost: a\r\n\r\n") << 400 << bad
                                << 0;
    QTest::addRow("tab as separator")
            << QByteArray("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("no version (HTTP/0.9)") << QByteArray("GET /\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("lower-case version")
            << QByteArray("GET / http/1.1\r\nHost: a\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("HTTP/2.0") << QByteArray("GET / HTTP/2.0\r\nHost: a\r\n\r\n") << 505
                              << QByteArray("http_version_not_supported") << 0;
    QTest::addRow("target starting with // (an authority to URL parsers)")
            << QByteArray("GET //evil/healthz HTTP/1.1\r\nHost: a\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("space in the target")
            << QByteArray("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("fragment in the target")
            << QByteArray("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("bad percent-encoding")
            << QByteArray("GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("authority-form")
            << QByteArray("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("binary garbage")
            << QByteArray("\x00\xff\xfe GARBAGE \x01\r\n\r\n", 17) << 400 << bad << 0;
    QTest::addRow("no Host") << QByteArray("GET / HTTP/1.1\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("two Host") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") << 400
                              << bad << 0;
    QTest::addRow("Host with a space")
            << QByteArray("GET / HTTP/1.1\r\nHost: a b\r\n\r\n") << 400 << bad << 0;
    QTest::addRow("empty lines only")
            << QByteArray(20, '\n').replace("\n", "\r\n") << 400 << bad << 0;

    // Sizes.
    QTest::addRow("request line over its limit")
            << "GET /" + QByteArray(600, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n"
            << 414 << QByteArray("uri_too_long") << 0;
    QTest::addRow("head over its limit")
            << "GET / HTTP/1.1\r\nHost: a\r\nX-A: " + QByteArray(1100, 'a') + "\r\n\r\n"
            << 431 << QByteArray("header_too_large") << 0;
    QTest::addRow("one long line, never ended") << "GET / HTTP/1.1\r\nX-A: " + QByteArray(5000, 'a')
                                                << 431 << QByteArray("header_too_large") << 0;
    QByteArray many = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 8; ++i)
        many += "X-" + QByteArray::number(i) + ": v\r\n";
    QTest::addRow("too many fields") << many + "\r\n" << 431 << QByteArray("header_too_large") << 0;
    QTest::addRow("too many trailer fields")
            << head("Transfer-Encoding: chunked\r\n\r\n0\r\n" + QByteArray("T: v\r\n").repeated(9))
            << 431 << QByteArray("header_too_large") << 0;

    // Expect (RFC 9110 10.1.1).
    QTest::addRow("unknown expectation") << head("Expect: 200-ok\r\nContent-Length: 0\r\n\r\n")
                                         << 417 << QByteArray("expectation_failed") << 0;

    // A good request, then a bad one: the good one is framed first.
    QTest::addRow("good, then bare LF") << Get + "GET / HTTP/1.1\nHost: a\n\n" << 400 << bad << 1;
}

void tst_ServerFraming::refused()
{
    QFETCH(QByteArray, input);
    QFETCH(int, status);
    QFETCH(QByteArray, code);
    QFETCH(int, framedBefore);
    for (const qsizetype piece : {input.size(), qsizetype(1), qsizetype(7)}) {
        const Outcome outcome = frame(input, piece);
        QCOMPARE(outcome.status, status);
        QCOMPARE(outcome.code, code);
        QVERIFY(outcome.stopped);
        QCOMPARE(outcome.phase, RequestFramer::Phase::Stopped);
        QCOMPARE(outcome.messages.size(), framedBefore);
    }
}

// Each limit one byte under, at and over it, the deciding byte in a line, in
// its CR or in its LF; fed whole, byte by byte, and cut just before, at and
// after the deciding byte.
void tst_ServerFraming::limitBoundaries_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<bool>("longRequestLines"); // the head limit, not the line limit, applies
    QTest::addColumn<qsizetype>("decidingByte");
    QTest::addColumn<int>("status"); // 0: framed
    QTest::addColumn<QByteArray>("code");

    const QByteArray uriTooLong = "uri_too_long";
    const QByteArray tooLarge = "header_too_large";
    const QByteArray bodyTooLarge = "request_too_large";
    const QByteArray bad = "invalid_request";
    const QByteArray ok;

    // Request line: at most 512 bytes (testLimits()).
    auto requestLine = [](qsizetype length, const char *version = "HTTP/1.1") -> QByteArray {
        return "GET /" + QByteArray(length - 14, 'a') + ' ' + version;
    };
    for (const qsizetype length : {511, 512, 513})
        QTest::addRow("request line of %d", int(length))
                << requestLine(length) + "\r\nHost: a\r\n\r\n"
                << false << qsizetype(512) << (length > 512 ? 414 : 0)
                << (length > 512 ? uriTooLong : ok);
    // A request line the head limit (1024 bytes with its CRLF) stops.
    QTest::addRow("request line and CRLF filling the head")
            << requestLine(1020, "HTTP/1.0") + "\r\n\r\n"
            << true << qsizetype(1023) << 0 << ok;
    for (const qsizetype length : {1023, 1024, 1025})
        QTest::addRow("request line of %d over the head", int(length))
                << requestLine(length) + "\r\nHost: a\r\n\r\n"
                << true << qsizetype(1024) << 414 << uriTooLong;

    // Head: at most 1024 bytes, its last CRLF included.
    const QByteArray fieldsStart = "GET / HTTP/1.1\r\nHost: a\r\nX-A: "; // 30 bytes
    for (const qsizetype total : {1023, 1024, 1025})
        QTest::addRow("head of %d", int(total))
                << fieldsStart + QByteArray(total - 34, 'v') + "\r\n\r\n"
                << false << qsizetype(1024) << (total > 1024 ? 431 : 0)
                << (total > 1024 ? tooLarge : ok);
    QTest::addRow("head over in a field value") << fieldsStart + QByteArray(995, 'v') + "\r\n\r\n"
                                                << false << qsizetype(1024) << 431 << tooLarge;

    // Chunk lines: fewer than 1024 bytes before their CRLF.
    const QByteArray chunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    auto chunkLine = [](char size, qsizetype length) -> QByteArray {
        return size + (";" + QByteArray(length - 2, 'x')) + "\r\n";
    };
    for (const qsizetype length : {1023, 1024, 1025})
        QTest::addRow("chunk line of %d", int(length))
                << chunked + chunkLine('1', length) + "a\r\n0\r\n\r\n"
                << false << chunked.size() + 1024 << (length > 1023 ? 400 : 0)
                << (length > 1023 ? bad : ok);

    // The chunked body as sent: at most 2 x 256 + 16384 = 16896 bytes (chunk
    // lines, data and CRLFs, the trailer section not counted).
    auto chunk = [&chunkLine](qsizetype rawBytes) -> QByteArray {
        return chunkLine('1', rawBytes - 5) + "a\r\n";
    };
    const QByteArray sixteenChunks = chunk(1005).repeated(16); // 16080 bytes
    for (const qsizetype length : {814, 815, 816, 817})
        QTest::addRow("body of %d raw bytes", int(16080 + length + 2))
                << chunked + sixteenChunks + chunkLine('0', length) + "\r\n"
                << false << chunked.size() + 16896 << (length > 814 ? 413 : 0)
                << (length > 814 ? bodyTooLarge : ok);
    // Both limits on the same byte: the chunk line's is checked first.
    const QByteArray bodyOf15872 = chunk(1005).repeated(15) + chunk(797);
    QTest::addRow("raw body limit at a chunk line's LF")
            << chunked + bodyOf15872 + chunkLine('0', 1023) + "\r\n"
            << false << chunked.size() + 16896 << 413 << bodyTooLarge;
    QTest::addRow("both limits at a chunk line's CR")
            << chunked + bodyOf15872 + chunkLine('0', 1024) + "\r\n"
            << false << chunked.size() + 16896 << 400 << bad;
    QTest::addRow("both limits in a chunk line")
            << chunked + bodyOf15872 + chunkLine('0', 1025) + "\r\n"
            << false << chunked.size() + 16896 << 400 << bad;

    // Trailer section: at most 1024 bytes, its last CRLF included.
    for (const qsizetype value : {1016, 1017, 1018, 1020})
        QTest::addRow("trailer section of %d", int(value + 7))
                << chunked + "0\r\nT: " + QByteArray(value, 't') + "\r\n\r\n"
                << false << chunked.size() + 3 + 1024 << (value > 1017 ? 431 : 0)
                << (value > 1017 ? tooLarge : ok);
}

void tst_ServerFraming::limitBoundaries()
{
    QFETCH(QByteArray, input);
    QFETCH(bool, longRequestLines);
    QFETCH(qsizetype, decidingByte);
    QFETCH(int, status);
    QFETCH(QByteArray, code);
    FramingLimits limits = testLimits();
    if (longRequestLines)
        limits.maxRequestLineBytes = 4096;
    if (status == 0)
        decidingByte = qMin(decidingByte, input.size() - 1); // under the limit: no such byte
    QVERIFY(decidingByte < input.size());
    QList<QList<qsizetype>> cutsEachWay{{},
                                        {decidingByte - 1},
                                        {decidingByte},
                                        {decidingByte + 1},
                                        {decidingByte, decidingByte + 1}};
    for (const qsizetype piece : {1, 7}) {
        QList<qsizetype> cuts;
        for (qsizetype end = piece; end < input.size(); end += piece)
            cuts.append(end);
        cutsEachWay.append(cuts);
    }
    for (const QList<qsizetype> &cuts : std::as_const(cutsEachWay)) {
        const Outcome outcome = frameAt(input, cuts, limits);
        QCOMPARE(outcome.status, status);
        QCOMPARE(outcome.code, code);
        QCOMPARE(outcome.messages.size(), status ? 0 : 1);
        QCOMPARE(outcome.stopped, status != 0 || input.contains("HTTP/1.0"));
    }
}

// RFC 9112 9.6: nothing after a request that closes the connection is a request.
void tst_ServerFraming::bytesAfterAClosingRequestAreIgnored()
{
    const QByteArray closing = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    const Outcome outcome = frame(closing + Get + "garbage\n\n", 5);
    QCOMPARE(outcome.messages, QList<QByteArray>{closing});
    QCOMPARE(outcome.status, 0);
    QVERIFY(outcome.stopped);

    // A body that is itself a request stays the body of the first one.
    const QByteArray smuggled = "GET /nothere HTTP/1.1\r\nHost: a\r\n\r\n";
    const QByteArray carrier = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
            + QByteArray::number(smuggled.size()) + "\r\n\r\n" + smuggled;
    const Outcome carried = frame(carrier, 3);
    QCOMPARE(carried.messages, QList<QByteArray>{carrier});
}

void tst_ServerFraming::continueIsAskedOnlyBeforeTheBody()
{
    RequestFramer framer(testLimits());
    framer.feed("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    QVERIFY(framer.wantsContinue());
    framer.continueSent();
    QVERIFY(!framer.wantsContinue());
    framer.feed("body");
    QVERIFY(!framer.wantsContinue());
    QVERIFY(framer.hasRequest());

    // Without a body there is nothing to continue with; HTTP/1.0 ignores Expect.
    RequestFramer noBody(testLimits());
    noBody.feed("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n");
    QVERIFY(!noBody.wantsContinue());
    RequestFramer http10(testLimits());
    http10.feed("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    QVERIFY(!http10.wantsContinue());
    QVERIFY(!http10.failed());
}

// Authorization and DPoP never reach Qt's parser: they leave the canonical message and are
// held beside it, every occurrence in order, names as sent, values trimmed; the guard gives
// them to the handlers while Qt dispatches the request (HeldFields).
void tst_ServerFraming::credentialFieldsAreHeldFromQt()
{
    RequestFramer framer(testLimits());
    framer.feed("GET /api/me/ HTTP/1.1\r\nHost: a\r\nAuthorization:  DPoP abc \r\nX-A: b\r\n"
                "dpop: proof.one\r\nAUTHORIZATION: Bearer second\r\n\r\n");
    QVERIFY(!framer.failed());
    QVERIFY(framer.hasRequest());
    const RequestFramer::Request request = framer.takeRequest();
    QCOMPARE(request.message, QByteArray("GET /api/me/ HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n"));
    const HeldFields::Fields expected{{"Authorization", "DPoP abc"},
                                      {"dpop", "proof.one"},
                                      {"AUTHORIZATION", "Bearer second"}};
    QCOMPARE(request.heldFields, expected);

    QVERIFY(HeldFields::current() == nullptr);
    {
        const HeldFields::Dispatch dispatch(&request.heldFields);
        QCOMPARE(HeldFields::current(), &request.heldFields);
    }
    QVERIFY(HeldFields::current() == nullptr);
    QVERIFY(HeldFields::isHeld("DPoP"));
    QVERIFY(HeldFields::isHeld("authorization"));
    QVERIFY(!HeldFields::isHeld("Authorization-Extra"));
    QVERIFY(!HeldFields::isHeld("Cookie"));
}

void tst_ServerFraming::phases()
{
    RequestFramer framer(testLimits());
    QCOMPARE(framer.phase(), RequestFramer::Phase::Idle);
    framer.feed("POST / HTTP/1.1\r\n");
    QCOMPARE(framer.phase(), RequestFramer::Phase::Head);
    framer.feed("Host: a\r\nContent-Length: 3\r\n\r\n");
    QCOMPARE(framer.phase(), RequestFramer::Phase::Body);
    framer.feed("ab");
    QCOMPARE(framer.phase(), RequestFramer::Phase::Body);
    QCOMPARE(framer.completedRequests(), quint64(0));
    framer.feed("c");
    QCOMPARE(framer.phase(), RequestFramer::Phase::Idle);
    QCOMPARE(framer.completedRequests(), quint64(1));
    framer.feed("G");
    QCOMPARE(framer.phase(), RequestFramer::Phase::Head);
}

void tst_ServerFraming::pipelineIsBounded()
{
    // At most maxQueuedRequests complete requests wait for their turn; the bytes
    // after them are not consumed (the connection leaves them unread), so a
    // client pipelining without end is held back, not buffered.
    QCOMPARE(FramingLimits().maxQueuedRequests, 1);
    const int queued = testLimits().maxQueuedRequests;
    const QByteArray input = Get.repeated(10) + "GET /next";
    RequestFramer framer(testLimits());
    qsizetype used = framer.feed(input);
    QCOMPARE(used, Get.size() * queued);
    QCOMPARE(framer.queuedRequests(), queued);
    QCOMPARE(framer.phase(), RequestFramer::Phase::Idle);
    QVERIFY(!framer.stopped());
    QCOMPARE(framer.feed(QByteArrayView(input).sliced(used)), 0);
    // Each request taken makes room for one more, and no more.
    framer.takeRequest();
    const qsizetype more = framer.feed(QByteArrayView(input).sliced(used));
    QCOMPARE(more, Get.size());
    QCOMPARE(framer.queuedRequests(), queued);
    used += more;
    // Emptied, it frames the rest, up to the half-sent last one.
    int taken = 0;
    while (used < input.size()) {
        while (framer.hasRequest()) {
            QCOMPARE(framer.takeRequest().message, Get);
            ++taken;
        }
        const qsizetype step = framer.feed(QByteArrayView(input).sliced(used));
        QVERIFY(step > 0);
        used += step;
    }
    taken += framer.queuedRequests();
    QCOMPARE(taken, 10 - 1);
    QCOMPARE(framer.phase(), RequestFramer::Phase::Head);
}

void tst_ServerFraming::timeoutStopsTheFramer()
{
    RequestFramer framer(testLimits());
    framer.feed(Get + "GET / HT");
    framer.fail(408, "request_timeout", "request not received in time");
    QVERIFY(framer.failed());
    QCOMPARE(framer.error().status, 408);
    QCOMPARE(framer.queuedRequests(), 1); // the complete one is still answered
    framer.feed("TP/1.1\r\nHost: a\r\n\r\n");
    QCOMPARE(framer.queuedRequests(), 1);
}

void tst_ServerFraming::connectionLimiterCaps()
{
    ConnectionLimiter limiter(3, 2);
    const QHostAddress a(QStringLiteral("127.0.0.2"));
    const QHostAddress b(QStringLiteral("127.0.0.3"));
    QVERIFY(limiter.tryAcquire(a));
    QVERIFY(limiter.tryAcquire(a));
    QVERIFY(!limiter.tryAcquire(a)); // per address
    QVERIFY(limiter.tryAcquire(b));
    QVERIFY(!limiter.tryAcquire(QHostAddress(QStringLiteral("127.0.0.4")))); // in total
    QCOMPARE(limiter.total(), 3);
    limiter.release(a);
    QCOMPARE(limiter.count(a), 1);
    QCOMPARE(limiter.total(), 2);
    QVERIFY(limiter.tryAcquire(a));
    limiter.release(b);
    QCOMPARE(limiter.total(), 2);
    // An IPv4-mapped IPv6 address is the same client as its IPv4 address.
    QVERIFY(!limiter.tryAcquire(QHostAddress(QStringLiteral("::ffff:127.0.0.2"))));
    QVERIFY(limiter.tryAcquire(b));

    ConnectionLimiter unlimitedPerAddress(2, 0);
    QVERIFY(unlimitedPerAddress.tryAcquire(a));
    QVERIFY(unlimitedPerAddress.tryAcquire(a));
    QVERIFY(!unlimitedPerAddress.tryAcquire(a));
}

void tst_ServerFraming::connectionLimiterGroupsIpv6By64()
{
    ConnectionLimiter limiter(100, 2);
    QVERIFY(limiter.tryAcquire(QHostAddress(QStringLiteral("2001:db8:1:2::1"))));
    QVERIFY(limiter.tryAcquire(QHostAddress(QStringLiteral("2001:db8:1:2:ffff::9"))));
    QVERIFY(!limiter.tryAcquire(QHostAddress(QStringLiteral("2001:db8:1:2:1234::1"))));
    QVERIFY(limiter.tryAcquire(QHostAddress(QStringLiteral("2001:db8:1:3::1"))));
}

void tst_ServerFraming::fileDescriptorBudgetKeepsReserve()
{
    rlimit original{};
    QCOMPARE(::getrlimit(RLIMIT_NOFILE, &original), 0);
    if (original.rlim_max != RLIM_INFINITY && original.rlim_max < 300)
        QSKIP("hard open-file limit below 300");
    // As `ulimit -n 256` would leave it (soft and hard).
    rlimit low = original;
    low.rlim_cur = 256;
    low.rlim_max = original.rlim_max; // keep the hard limit so the test can restore it
    QCOMPARE(::setrlimit(RLIMIT_NOFILE, &low), 0);
    const FileDescriptorBudget fits = fitToFileDescriptorLimit(100, 64);
    QCOMPARE(fits.connections, 100);
    // More than fits: the soft limit is raised towards the hard one.
    const FileDescriptorBudget raised = fitToFileDescriptorLimit(1000, 64);
    rlimit now{};
    ::getrlimit(RLIMIT_NOFILE, &now);
    QVERIFY(now.rlim_cur >= qMin<rlim_t>(1064, original.rlim_max));
    QCOMPARE(raised.connections, int(qMin<qint64>(1000, raised.softLimit - 64)));
    // A hard limit of 256: what is left after the reserve.
    rlimit hard = original;
    hard.rlim_cur = 256;
    hard.rlim_max = 256;
    if (::setrlimit(RLIMIT_NOFILE, &hard) == 0) {
        const FileDescriptorBudget capped = fitToFileDescriptorLimit(1024, 64);
        QCOMPARE(capped.connections, 256 - 64);
        QCOMPARE(capped.softLimit, qint64(256));
        // The hard limit cannot be raised again without privilege; when it can
        // (root), restore it for the rest of the run.
        ::setrlimit(RLIMIT_NOFILE, &original);
    } else {
        ::setrlimit(RLIMIT_NOFILE, &original);
    }
}

QTEST_GUILESS_MAIN(tst_ServerFraming)
#include "tst_server_framing.moc"
