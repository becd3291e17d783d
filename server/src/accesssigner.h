// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QObject>
#include <QtCore/QPointer>
#include <QtCore/QThreadPool>
#include <QtHttpServer/QHttpServerResponder>
#include <QtHttpServer/QHttpServerResponse>
#include <QtNetwork/QTcpSocket>

#include <functional>
#include <map>

namespace Tessera::Server {

// Signs refreshed access tokens on a pool of worker threads, so that the event loop, which
// does a refresh's database work, is not held by its signature (most of a refresh's CPU:
// docs/BENCHMARKS.md, "Profiles"). The rotation is committed before the signature is asked
// for; the answer is written back on this object's thread once the token is signed. A client
// that left meanwhile gets nothing, as if its answer had been lost (the grace window answers
// its retry). Responders are only touched and destroyed on this object's thread.
class AccessSigner : public QObject
{
public:
    // The answer for a signed token; an empty token means signing failed.
    using Answer = std::function<QHttpServerResponse(const QByteArray &accessToken)>;

    AccessSigner();
    ~AccessSigner() override;
    // Waits for the signatures under way and drops their answers (while the responders'
    // sockets still exist).
    void shutdown();

    void signThenAnswer(std::function<QByteArray()> sign, QHttpServerResponder &&responder,
                        Answer answer);

private:
    struct Pending
    {
        QHttpServerResponder responder;
        QPointer<QTcpSocket> socket;
        Answer answer;
    };
    void finish(quint64 id, const QByteArray &accessToken);

    QThreadPool m_pool;
    std::map<quint64, Pending> m_pending;
    quint64 m_lastId = 0;
};

} // namespace Tessera::Server
