// SPDX-License-Identifier: MIT
#include "routingnetworkaccessmanager_p.h"

#include "bufferedreply_p.h"    // the SDK's, shared with its authenticated replies
#include "sessiondirectory_p.h" // the SDK's directory of live sessions

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/qmlnetwork.h>
#include <tessera/session.h>

#include <QtCore/QPointer>
#include <QtCore/QThread>
#include <QtQml/QQmlEngine>

namespace Tessera::Qml {
namespace Detail {
namespace {

// The session's one authenticated manager: a child of the session, found by its type.
class SharedNetworkAccessManager : public AuthenticatedNetworkAccessManager
{
    Q_OBJECT
public:
    explicit SharedNetworkAccessManager(Session *session)
        : AuthenticatedNetworkAccessManager(session, session)
    { }
};

bool isSignedIn(const Session *session)
{
    return session->state() == Session::State::SignedIn
            || session->state() == Session::State::Refreshing;
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

ReplyContent failure(QNetworkReply::NetworkError error, const QString &message)
{
    ReplyContent content;
    content.error = error;
    content.errorString = message;
    return content;
}

const QString refusedMessage =
        QStringLiteral("token endpoints are not reachable through the QML network access manager");

// Runs one routed request on the session's thread and reports back by a queued signal,
// which Qt drops safely if the waiting reply is gone.
class RelayTask : public QObject
{
    Q_OBJECT
public:
    RelayTask(Session *session, QNetworkAccessManager::Operation operation,
              const QNetworkRequest &request, QByteArray body)
        : m_session(session)
        , m_operation(operation)
        , m_request(request)
        , m_body(std::move(body))
    { }

    void start()
    {
        // In the directory means alive: both are decided on this thread.
        if (!SessionDirectory::contains(m_session) || !isSignedIn(m_session))
            return finishWith(failure(QNetworkReply::AuthenticationRequiredError,
                                      QStringLiteral("not signed in")));
        QNetworkReply *reply =
                send(networkAccessManager(m_session), m_operation, m_request, m_body);
        secureWipe(m_body);
        if (!reply)
            return finishWith(failure(QNetworkReply::ProtocolUnknownError,
                                      QStringLiteral("unsupported operation")));
        m_reply = reply;
        connect(reply, &QNetworkReply::finished, this, [this, reply] {
            reply->deleteLater();
            finishWith(takeReplyContent(reply));
        });
        // The session's manager, and its replies with it, go with the session.
        connect(reply, &QObject::destroyed, this, [this] {
            finishWith(failure(QNetworkReply::OperationCanceledError,
                               QStringLiteral("the session was destroyed")));
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
        if (m_finished)
            return;
        m_finished = true;
        emit done(result);
        deleteLater();
    }

    Session *m_session;
    QNetworkAccessManager::Operation m_operation;
    QNetworkRequest m_request;
    QByteArray m_body;
    QPointer<QNetworkReply> m_reply;
    bool m_finished = false;
};

} // namespace

RoutingNetworkAccessManager::RoutingNetworkAccessManager(QObject *parent)
    : QNetworkAccessManager(parent)
{ }

RoutingNetworkAccessManager::~RoutingNetworkAccessManager() = default;

QNetworkReply *RoutingNetworkAccessManager::createRequest(Operation operation,
                                                          const QNetworkRequest &request,
                                                          QIODevice *outgoingData)
{
    const std::optional<SessionDirectory::Entry> route = SessionDirectory::find(request.url());
    if (!route)
        return QNetworkAccessManager::createRequest(operation, request, outgoingData);
    if (route->isTokenEndpoint(request.url())) {
        auto *refused = new BufferedReply(this, operation, request);
        refused->failLater(QNetworkReply::ContentAccessDenied, refusedMessage);
        return refused;
    }
    if (!route->signedIn)
        return QNetworkAccessManager::createRequest(operation, request, outgoingData);
    return relay(*route, operation, request, outgoingData);
}

QNetworkReply *RoutingNetworkAccessManager::relay(const SessionDirectory::Entry &route,
                                                  Operation operation,
                                                  const QNetworkRequest &request,
                                                  QIODevice *outgoingData)
{
    auto *reply = new BufferedReply(this, operation, request);
    auto *task = new RelayTask(route.session, operation, request,
                               outgoingData ? outgoingData->readAll() : QByteArray());
    connect(task, &RelayTask::done, reply, &BufferedReply::deliver, Qt::QueuedConnection);
    connect(reply, &BufferedReply::abortRequested, task, &RelayTask::abort, Qt::QueuedConnection);
    task->moveToThread(route.thread);
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

AuthenticatedNetworkAccessManager *networkAccessManager(Session *session)
{
    if (!session)
        return nullptr;
    auto *manager = session->findChild<Detail::SharedNetworkAccessManager *>(
            QString(), Qt::FindDirectChildrenOnly);
    return manager ? manager : new Detail::SharedNetworkAccessManager(session);
}

} // namespace Tessera::Qml

#include "routingnetworkaccessmanager.moc"
