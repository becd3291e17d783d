// SPDX-License-Identifier: MIT
#include "qmlsession.h"

#include "qmlnetwork.h"
#include "routingnetworkaccessmanager_p.h"

#include <tessera/authenticatednetworkaccessmanager.h>

#include <QtCore/QLoggingCategory>
#include <QtCore/QMetaEnum>
#include <QtQml/QQmlEngine>

Q_LOGGING_CATEGORY(lcQml, "tessera.qml", QtWarningMsg)

namespace Tessera::Qml {

QmlSession::QmlSession(QObject *parent)
    : QObject(parent)
{
    Detail::registerSession(this);
    Detail::updateSessionRoute(this);
}

QmlSession::~QmlSession()
{
    Detail::unregisterSession(this);
    // The network manager first: its replies refer to the session.
    delete m_network;
    m_network = nullptr;
    delete m_session;
    m_session = nullptr;
}

void QmlSession::componentComplete()
{
    // Engines without a factory get ours, so XMLHttpRequest and Image requests
    // to the server carry the token with no C++ set-up. An app's own factory wins.
    if (QQmlEngine *engine = qmlEngine(this))
        installNetworkAccess(engine, InstallMode::IfNoFactory);
}

void QmlSession::setServerUrl(const QUrl &url)
{
    if (m_serverUrl == url)
        return;
    m_serverUrl = url;
    configChanged();
    emit serverUrlChanged();
}

void QmlSession::setAppId(const QString &appId)
{
    if (m_appId == appId)
        return;
    m_appId = appId;
    configChanged();
    emit appIdChanged();
}

void QmlSession::setMemoryOnly(bool memoryOnly)
{
    if (m_memoryOnly == memoryOnly)
        return;
    m_memoryOnly = memoryOnly;
    configChanged();
    emit memoryOnlyChanged();
}

void QmlSession::configChanged()
{
    m_configDirty = true;
    Detail::updateSessionRoute(this);
    if (m_session && m_session->state() != Tessera::Session::State::SignedOut
        && m_session->state() != Tessera::Session::State::ReauthRequired)
        qCInfo(lcQml) << "configuration changed while signed in: applies after logout";
}

SessionConfig QmlSession::config() const
{
    SessionConfig config(m_serverUrl, m_appId);
    config.setStoragePolicy(m_memoryOnly ? SessionConfig::StoragePolicy::MemoryOnly
                                         : SessionConfig::StoragePolicy::SecureStorage);
    return config;
}

QmlSession::State QmlSession::state() const
{
    return m_session ? State(int(m_session->state())) : State::SignedOut;
}

QString QmlSession::stateName() const
{
    return QString::fromLatin1(QMetaEnum::fromType<State>().valueToKey(int(state())));
}

bool QmlSession::isSignedIn() const
{
    const State current = state();
    return current == State::SignedIn || current == State::Refreshing;
}

QString QmlSession::user() const
{
    return m_session ? m_session->user() : QString();
}

QDateTime QmlSession::expiresAt() const
{
    return m_session ? m_session->accessExpiresAt() : QDateTime();
}

bool QmlSession::isBusy() const
{
    return m_session && m_session->isBusy();
}

int QmlSession::refreshCount() const
{
    return m_refreshCount;
}

QString QmlSession::errorCode() const
{
    if (!m_error.isError())
        return {};
    return QString::fromLatin1(QMetaEnum::fromType<Error::Code>().valueToKey(int(m_error.code())));
}

void QmlSession::ensureSession()
{
    if (m_session && !m_configDirty)
        return;
    const State oldState = state();
    const QString oldUser = user();
    const QDateTime oldExpiry = expiresAt();
    const bool oldBusy = isBusy();
    const int oldRefreshCount = refreshCount();
    if (m_session) {
        const auto current = m_session->state();
        if ((current != Tessera::Session::State::SignedOut
             && current != Tessera::Session::State::ReauthRequired)
            || m_session->isBusy())
            return; // a live session keeps its configuration until logout
        m_session->disconnect(this);
        // Replies in flight hold a QPointer to the session and fail cleanly.
        if (m_network) {
            m_network->deleteLater();
            m_network = nullptr;
        }
        m_session->deleteLater();
        m_session = nullptr;
    }
    m_configDirty = false;
    m_session = new Tessera::Session(config(), this);
    m_refreshCount = 0;
    using S = Tessera::Session;
    connect(m_session, &S::stateChanged, this, [this] {
        Detail::updateSessionRoute(this);
        emit stateChanged();
    });
    connect(m_session, &S::userChanged, this, &QmlSession::userChanged);
    connect(m_session, &S::accessExpiresAtChanged, this, [this] {
        // A refresh brings its access token while the state is Refreshing.
        if (m_session->state() == S::State::Refreshing && m_session->accessExpiresAt().isValid()) {
            ++m_refreshCount;
            emit refreshCountChanged();
        }
        emit expiresAtChanged();
    });
    connect(m_session, &S::busyChanged, this, &QmlSession::busyChanged);
    // Background failures; an operation's own failure arrives through watch().
    connect(m_session, &S::errorOccurred, this, &QmlSession::setError);
    Detail::updateSessionRoute(this);
    // Only what differs from the session this one replaces.
    if (state() != oldState)
        emit stateChanged();
    if (user() != oldUser)
        emit userChanged();
    if (expiresAt() != oldExpiry)
        emit expiresAtChanged();
    if (isBusy() != oldBusy)
        emit busyChanged();
    if (refreshCount() != oldRefreshCount)
        emit refreshCountChanged();
}

Tessera::Session *QmlSession::session()
{
    ensureSession();
    return m_session;
}

AuthenticatedNetworkAccessManager *QmlSession::networkAccessManager()
{
    ensureSession();
    if (!m_network || m_network->session() != m_session)
        m_network = new AuthenticatedNetworkAccessManager(m_session, this);
    return m_network;
}

void QmlSession::setError(const Tessera::Error &error)
{
    m_error = error;
    emit errorChanged();
    if (error.isError())
        emit errorOccurred(error.message(), errorCode());
}

void QmlSession::clearError()
{
    if (!m_error.isError())
        return;
    setError({});
}

void QmlSession::watch(Operation operation, QFuture<void> future)
{
    future.then(this, [this, operation] {
              emit finished(operation, true, QString());
          }).onFailed(this, [this, operation](const ErrorException &failure) {
        setError(failure.error());
        emit finished(operation, false, failure.error().message());
    });
}

void QmlSession::login(const QString &username, const QString &password)
{
    clearError();
    ensureSession();
    watch(Operation::Login, m_session->login(username, password));
}

void QmlSession::restore(const QString &username)
{
    clearError();
    ensureSession();
    watch(Operation::Restore, m_session->restore(username));
}

void QmlSession::logout()
{
    clearError();
    if (!m_session) {
        emit finished(Operation::Logout, true, QString());
        return;
    }
    watch(Operation::Logout, m_session->logout());
}

} // namespace Tessera::Qml
