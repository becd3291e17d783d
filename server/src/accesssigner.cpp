// SPDX-License-Identifier: MIT
#include "accesssigner.h"

#include "logging.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QThread>

namespace Tessera::Server {

AccessSigner::AccessSigner()
{
    // Signing is CPU-bound: one thread per core.
    m_pool.setMaxThreadCount(qMax(1, QThread::idealThreadCount()));
}

AccessSigner::~AccessSigner()
{
    shutdown();
}

void AccessSigner::shutdown()
{
    m_pool.clear();
    m_pool.waitForDone();
    // The signatures that ran came back as queued calls: dropped with their responders.
    QCoreApplication::removePostedEvents(this, QEvent::MetaCall);
    m_pending.clear();
}

void AccessSigner::signThenAnswer(std::function<QByteArray()> sign,
                                  QHttpServerResponder &&responder, Answer answer)
{
    const quint64 id = ++m_lastId;
    QTcpSocket *socket = responder.socket();
    m_pending.emplace(id, Pending{std::move(responder), socket, std::move(answer)});
    m_pool.start([this, id, sign = std::move(sign)] {
        const QByteArray token = sign();
        QMetaObject::invokeMethod(
                this, [this, id, token] { finish(id, token); }, Qt::QueuedConnection);
    });
}

void AccessSigner::finish(quint64 id, const QByteArray &accessToken)
{
    auto node = m_pending.extract(id);
    if (node.empty())
        return;
    Pending &pending = node.mapped();
    if (accessToken.isEmpty())
        qCCritical(lcServerAuth) << "signing a refreshed access token failed";
    if (!pending.socket || pending.socket->state() != QAbstractSocket::ConnectedState) {
        qCDebug(lcServerAuth) << "refresh client disconnected while its token was signed";
        return;
    }
    pending.answer(accessToken).write(std::move(pending.responder));
}

} // namespace Tessera::Server
