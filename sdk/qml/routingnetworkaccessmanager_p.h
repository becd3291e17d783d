// SPDX-License-Identifier: MIT
// Private: the network access manager that NetworkAccessManagerFactory hands
// to QML engines, and the registry of live QML sessions it routes by.
#pragma once

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

// A finished HTTP exchange, copied between threads.
struct RelayResult
{
    int status = 0;
    QByteArray reason;
    QList<QPair<QByteArray, QByteArray>> headers;
    QByteArray body;
    QNetworkReply::NetworkError error = QNetworkReply::NoError;
    QString errorString;
};

// A reply whose outcome is filled in at once, when known (a refusal, or the
// result relayed from the session's thread).
class BufferedReply : public QNetworkReply
{
    Q_OBJECT
public:
    BufferedReply(QObject *parent, QNetworkAccessManager::Operation operation,
                  const QNetworkRequest &request);

    // Completes with `result` (ignored after abort()).
    void deliver(const Tessera::Qml::Detail::RelayResult &result);
    // Completes with an error on the next event loop turn.
    void failLater(QNetworkReply::NetworkError error, const QString &message);

    void abort() override;
    qint64 bytesAvailable() const override;
    bool isSequential() const override { return true; }

Q_SIGNALS:
    void abortRequested();

protected:
    qint64 readData(char *data, qint64 maxSize) override;
    qint64 writeData(const char *, qint64) override { return -1; }

private:
    void complete();

    QByteArray m_buffer;
    qint64 m_readPosition = 0;
    bool m_done = false;
};

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
