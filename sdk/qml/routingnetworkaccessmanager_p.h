// SPDX-License-Identifier: MIT
// Private: the network access manager that NetworkAccessManagerFactory hands
// to QML engines, and the registry of live QML sessions it routes by.
#pragma once

#include "bufferedreply_p.h" // the SDK's, shared with its authenticated replies

#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QPair>
#include <QtCore/QPointer>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>

namespace Tessera {
class AuthenticatedNetworkAccessManager;
namespace Qml {
class QmlSession;
namespace Detail {

// Registry of live QML sessions: a thread-safe snapshot of what routing needs
// (origin, token endpoint paths, signed in or not), kept current by each
// session on its own thread, so a loader thread can decide without touching it.
void registerSession(QmlSession *session);
void unregisterSession(QmlSession *session);
void updateSessionRoute(QmlSession *session);

class RoutingNetworkAccessManager : public QNetworkAccessManager
{
    Q_OBJECT
public:
    explicit RoutingNetworkAccessManager(QObject *parent = nullptr);
    ~RoutingNetworkAccessManager() override;

protected:
    QNetworkReply *createRequest(Operation operation, const QNetworkRequest &request,
                                 QIODevice *outgoingData = nullptr) override;

private:
    QNetworkReply *relay(QmlSession *session, QThread *sessionThread, Operation operation,
                         const QNetworkRequest &request, QIODevice *outgoingData);
    AuthenticatedNetworkAccessManager *managerFor(QmlSession *session);

    // One authenticated manager per session, owned here so that replies handed
    // to QML live as long as this manager (the engine's), not the session.
    QHash<QmlSession *, QPointer<AuthenticatedNetworkAccessManager>> m_managers;
};

} // namespace Detail
} // namespace Qml
} // namespace Tessera
