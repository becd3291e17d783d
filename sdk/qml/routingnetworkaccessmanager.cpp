// SPDX-License-Identifier: MIT
#include "routingnetworkaccessmanager_p.h"

#include "qmlnetwork.h"
#include "qmlsession.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/sessionconfig.h>

#include <QtCore/QBuffer>
#include <QtCore/QCoreApplication>
#include <QtCore/QMutex>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtQml/QQmlEngine>

#include <optional>

namespace Tessera::Qml {
namespace Detail {
namespace {

struct Route
{
    QmlSession *session = nullptr; // only dereferenced on `thread`
    QThread *thread = nullptr;
    QString origin;         // empty: no server configured
    QStringList tokenPaths; // obtain, refresh, revoke
    bool signedIn = false;

    bool isTokenEndpoint(const QString &path) const
    {
        const QString trimmed = path.endsWith(u'/') ? path.chopped(1) : path;
        for (const QString &tokenPath : tokenPaths) {
            if (tokenPath == path || tokenPath == trimmed
                || (tokenPath.endsWith(u'/') && tokenPath.chopped(1) == trimmed))
                return true;
        }
        return false;
    }
};

QMutex &registryMutex()
{
    static QMutex mutex;
    return mutex;
}

QList<Route> &registry()
{
    static QList<Route> routes;
    return routes;
}

// The route for a request: a signed-in session on that origin first, else any
// session configured for it (for the token endpoint refusal).
std::optional<Route> findRoute(const QUrl &url)
{
    const QString origin = originOf(url);
    if (origin.isEmpty())
        return std::nullopt;
    QMutexLocker locker(&registryMutex());
    std::optional<Route> found;
    for (const Route &route : std::as_const(registry())) {
        if (route.origin != origin)
            continue;
        if (route.signedIn)
            return route;
        if (!found)
            found = route;
    }
    return found;
}

bool isRegistered(QmlSession *session)
{
    QMutexLocker locker(&registryMutex());
    for (const Route &route : std::as_const(registry())) {
        if (route.session == session)
            return true;
    }
    return false;
}

QNetworkReply *send(QNetworkAccessManager *manager, QNetworkAccessManager::Operation operation,
                    const QNetworkRequest &request, const QByteArray &body)
{
    switch (operation) {
    case QNetworkAccessManager::HeadOperation:
        return manager->head(request);
    case QNetworkAccessManager::GetOperation:
        return manager->get(request);
    case QNetworkAccessManager::PutOperation:
        return manager->put(request, body);
    case QNetworkAccessManager::PostOperation:
        return manager->post(request, body);
    case QNetworkAccessManager::DeleteOperation:
        return manager->deleteResource(request);
    case QNetworkAccessManager::CustomOperation:
        return manager->sendCustomRequest(
                request, request.attribute(QNetworkRequest::CustomVerbAttribute).toByteArray(),
                body);
    case QNetworkAccessManager::UnknownOperation:
        break;
    }
    return nullptr;
}

const QString refusedMessage =
        QStringLiteral("token endpoints are not reachable through the QML network access manager");

// Runs one relayed request on the session's thread and reports back by a
// queued signal, which Qt drops safely if the waiting reply is gone.
class RelayTask : public QObject
{
    Q_OBJECT
public:
    RelayTask(QmlSession *session, QNetworkAccessManager::Operation operation,
              const QNetworkRequest &request, QByteArray body)
        : m_session(session)
        , m_operation(operation)
        , m_request(request)
        , m_body(std::move(body))
    { }

    void start()
    {
        // Still registered means still alive: both happen on this thread.
        if (!isRegistered(m_session) || !m_session->isSignedIn()) {
            ReplyContent result;
            result.error = QNetworkReply::AuthenticationRequiredError;
            result.errorString = QStringLiteral("not signed in");
            return finishWith(result);
        }
        m_reply = send(m_session->networkAccessManager(), m_operation, m_request, m_body);
        secureWipe(m_body);
        if (!m_reply) {
            ReplyContent result;
            result.error = QNetworkReply::ProtocolUnknownError;
            result.errorString = QStringLiteral("unsupported operation");
            return finishWith(result);
        }
        connect(m_reply, &QNetworkReply::finished, this, [this] {
            QNetworkReply *reply = m_reply;
            m_reply = nullptr;
            reply->deleteLater();
            finishWith(takeReplyContent(reply));
        });
    }

    void abort()
    {
        if (m_reply)
            m_reply->abort();
    }

Q_SIGNALS:
    void done(const Tessera::ReplyContent &result);

private:
    void finishWith(const ReplyContent &result)
    {
        emit done(result);
        deleteLater();
    }

    QmlSession *m_session;
    QNetworkAccessManager::Operation m_operation;
    QNetworkRequest m_request;
    QByteArray m_body;
    QPointer<QNetworkReply> m_reply;
};

} // namespace

// --- registry ----------------------------------------------------------------

void registerSession(QmlSession *session)
{
    Route route;
    route.session = session;
    route.thread = session->thread();
    QMutexLocker locker(&registryMutex());
    registry().append(route);
}

void unregisterSession(QmlSession *session)
{
    QMutexLocker locker(&registryMutex());
    registry().removeIf([session](const Route &route) { return route.session == session; });
}

void updateSessionRoute(QmlSession *session)
{
    // The configuration in force: the live session's, else the next one's.
    const Tessera::Session *current = session->currentSession();
    const SessionConfig config = current ? current->config() : session->config();
    Route route;
    route.session = session;
    route.thread = session->thread();
    route.origin = originOf(config.serverUrl());
    for (const QString &path : {config.obtainPath(), config.refreshPath(), config.revokePath()}) {
        if (!path.isEmpty())
            route.tokenPaths.append(config.endpoint(path).path());
    }
    route.signedIn = session->isSignedIn();
    QMutexLocker locker(&registryMutex());
    for (Route &existing : registry()) {
        if (existing.session == session)
            existing = route;
    }
}

// --- RoutingNetworkAccessManager ---------------------------------------------------

RoutingNetworkAccessManager::RoutingNetworkAccessManager(QObject *parent)
    : QNetworkAccessManager(parent)
{ }

RoutingNetworkAccessManager::~RoutingNetworkAccessManager() = default;

QNetworkReply *RoutingNetworkAccessManager::createRequest(Operation operation,
                                                          const QNetworkRequest &request,
                                                          QIODevice *outgoingData)
{
    const std::optional<Route> route = findRoute(request.url());
    if (!route)
        return QNetworkAccessManager::createRequest(operation, request, outgoingData);
    if (route->isTokenEndpoint(request.url().path())) {
        auto *refused = new BufferedReply(this, operation, request);
        refused->failLater(QNetworkReply::ContentAccessDenied, refusedMessage);
        return refused;
    }
    if (!route->signedIn)
        return QNetworkAccessManager::createRequest(operation, request, outgoingData);
    if (route->thread != QThread::currentThread())
        return relay(route->session, route->thread, operation, request, outgoingData);

    // On the session's thread: registered means alive.
    const QByteArray body = outgoingData ? outgoingData->readAll() : QByteArray();
    QNetworkReply *reply = send(managerFor(route->session), operation, request, body);
    if (!reply)
        return QNetworkAccessManager::createRequest(operation, request, outgoingData);
    return reply;
}

AuthenticatedNetworkAccessManager *RoutingNetworkAccessManager::managerFor(QmlSession *session)
{
    Tessera::Session *current = session->session();
    QPointer<AuthenticatedNetworkAccessManager> &manager = m_managers[session];
    // A manager of an earlier session stays alive (a child of this one) for
    // the replies it handed out.
    if (!manager || manager->session() != current)
        manager = new AuthenticatedNetworkAccessManager(current, this);
    return manager;
}

QNetworkReply *RoutingNetworkAccessManager::relay(QmlSession *session, QThread *sessionThread,
                                                  Operation operation,
                                                  const QNetworkRequest &request,
                                                  QIODevice *outgoingData)
{
    auto *reply = new BufferedReply(this, operation, request);
    auto *task = new RelayTask(session, operation, request,
                               outgoingData ? outgoingData->readAll() : QByteArray());
    connect(task, &RelayTask::done, reply, &BufferedReply::deliver, Qt::QueuedConnection);
    connect(reply, &BufferedReply::abortRequested, task, &RelayTask::abort, Qt::QueuedConnection);
    task->moveToThread(sessionThread);
    QMetaObject::invokeMethod(task, &RelayTask::start, Qt::QueuedConnection);
    return reply;
}

} // namespace Detail

// --- public API ------------------------------------------------------------------

QNetworkAccessManager *NetworkAccessManagerFactory::create(QObject *parent)
{
    return new Detail::RoutingNetworkAccessManager(parent);
}

void installNetworkAccess(QQmlEngine *engine, InstallMode mode)
{
    static NetworkAccessManagerFactory factory;
    if (!engine)
        return;
    if (mode == InstallMode::IfNoFactory && engine->networkAccessManagerFactory())
        return;
    engine->setNetworkAccessManagerFactory(&factory);
}

} // namespace Tessera::Qml

#include "routingnetworkaccessmanager.moc"
