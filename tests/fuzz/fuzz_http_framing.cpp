// SPDX-License-Identifier: MIT
// libFuzzer target: tessera-server's strict HTTP/1.1 request framing. The first
// byte sets how the rest is cut into feed() calls; invariants checked:
// - no request is larger than the limits allow;
// - a framed request is canonical: framed again on its own, it comes out
//   byte for byte the same, as one request (so the form Qt's parser reads is a
//   fixed point of the framing, not something it could read differently);
// - feeding the same bytes whole gives the same requests and the same error;
// - at most maxQueuedRequests requests wait, and bytes are left unconsumed only
//   when that many do (they are fed again once the requests are taken).
#include "httpframing.h"

#include <cstdint>
#include <cstdlib>

using Tessera::Server::FramingLimits;
using Tessera::Server::RequestFramer;

namespace {

FramingLimits limits()
{
    FramingLimits l;
    l.maxHeadBytes = 4096;
    l.maxRequestLineBytes = 1024;
    l.maxHeaderFields = 32;
    l.maxBodyBytes = 2048;
    l.maxQueuedRequests = 2;
    return l;
}

QList<RequestFramer::Request> drain(RequestFramer &framer)
{
    QList<RequestFramer::Request> requests;
    while (framer.hasRequest())
        requests.append(framer.takeRequest());
    return requests;
}

void check(bool condition)
{
    if (!condition)
        std::abort();
}

// Feeds `input` in pieces of `piece` bytes as the connection does: what the
// framer leaves unconsumed (its queue is full) is fed again once the waiting
// requests are taken.
QList<RequestFramer::Request> frameAll(RequestFramer &framer, QByteArrayView input, qsizetype piece)
{
    QList<RequestFramer::Request> requests;
    for (qsizetype i = 0; i < input.size(); i += piece) {
        QByteArrayView rest = input.sliced(i, qMin(piece, input.size() - i));
        while (!rest.isEmpty()) {
            const qsizetype used = framer.feed(rest);
            check(used <= rest.size());
            check(framer.queuedRequests() <= limits().maxQueuedRequests);
            rest = rest.sliced(used);
            // Only a full queue leaves bytes unconsumed.
            check(rest.isEmpty() || framer.queuedRequests() == limits().maxQueuedRequests);
            requests += drain(framer);
        }
    }
    return requests + drain(framer);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const qsizetype piece = qsizetype(data[0] % 16) + 1;
    const QByteArrayView input(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));

    RequestFramer pieces(limits());
    const QList<RequestFramer::Request> requests = frameAll(pieces, input, piece);
    RequestFramer whole(limits());
    const QList<RequestFramer::Request> same = frameAll(whole, input, input.size());
    check(requests.size() == same.size());
    check(pieces.error().status == whole.error().status);
    check(pieces.error().code == whole.error().code);
    check(pieces.phase() == whole.phase());

    for (qsizetype i = 0; i < requests.size(); ++i) {
        const RequestFramer::Request &request = requests.at(i);
        check(request.message == same.at(i).message);
        check(request.closeAfter == same.at(i).closeAfter);
        // Head plus Content-Length line plus body, at most.
        check(request.message.size() <= limits().maxHeadBytes + 64 + limits().maxBodyBytes);
        RequestFramer again(limits());
        check(again.feed(request.message) == request.message.size());
        const QList<RequestFramer::Request> reframed = drain(again);
        check(reframed.size() == 1);
        check(reframed.first().message == request.message);
        check(reframed.first().closeAfter == request.closeAfter);
        check(again.error().status == 0);
        check(again.phase()
              == (request.closeAfter ? RequestFramer::Phase::Stopped : RequestFramer::Phase::Idle));
    }
    return 0;
}
