// SPDX-License-Identifier: MIT
// Tessera::Session and its private side: the state a UI sees and how it changes. The
// operations a caller starts are in sessionoperations.cpp; refreshing is the refresher's
// (singleflightrefresher.cpp), storage the vault's (credentialvault.cpp), the wire format the
// endpoint's (simplejwtendpoint.cpp).
#include "session_p.h"

#include "logging_p.h"
#include "oauth/codeflow_p.h"
#include "oauth/deviceflow_p.h"
#include "oauth/idtoken_p.h"
#include "oauth/jwkscache_p.h"
#include "sessiondirectory_p.h"

#include <QtCore/QTimer>

namespace Tessera {

// --- Session -----------------------------------------------------------------

Session::Session(QObject *parent)
    : Session(SessionConfig(), parent)
{ }

Session::Session(const SessionConfig &config, QObject *parent)
    : QObject(parent)
    , d(std::make_unique<SessionPrivate>(this, config))
{
    SessionDirectory::add(this);
}

Session::~Session()
{
    // Gone for other threads first: nothing is routed to a session being destroyed.
    SessionDirectory::remove(this);
    d->abandonOperations();
}

SessionConfig Session::config() const
{
    return d->config();
}

void Session::setConfig(const SessionConfig &config)
{
    d->setConfig(config);
}

Session::State Session::state() const
{
    return d->m_state;
}

QString Session::user() const
{
    return d->m_user;
}

QDateTime Session::accessExpiresAt() const
{
    return d->m_accessExpiresAt;
}

Error Session::lastError() const
{
    return d->m_lastError;
}

bool Session::isDpopBound() const
{
    return d->isDpopBound();
}

QString Session::dpopKeyThumbprint() const
{
    return d->dpopKeyThumbprint();
}

bool Session::isBusy() const
{
    return d->m_state == State::SigningIn || d->m_state == State::Refreshing || d->m_logoutInFlight;
}

QFuture<void> Session::login(const QString &username, const QString &password)
{
    return d->login(username, password);
}

QFuture<void> Session::restore(const QString &username)
{
    return d->restore(username);
}

QFuture<void> Session::logout()
{
    return d->logout();
}

QFuture<Secret> Session::freshAccessToken()
{
    return d->freshAccessToken();
}

QFuture<void> Session::signInWithBrowser()
{
    return d->signInWithBrowser();
}

QFuture<void> Session::signInWithDevice()
{
    return d->signInWithDevice();
}

void Session::cancelSignIn()
{
    d->cancelSignIn();
}

QUrl Session::endSessionUrl(const QUrl &postLogoutRedirectUri) const
{
    return d->endSessionUrl(postLogoutRedirectUri);
}

// --- SessionPrivate: state ---------------------------------------------------

namespace {

// Also for an invalid configuration: requests to its origins are then refused with the
// configuration's error instead of going out unauthenticated.
QList<Origin> tokenOriginsOf(const SessionConfig &config)
{
    QList<Origin> origins;
    const Origin own =
            Origin::of(config.profile() == SessionConfig::Profile::OAuth ? config.issuer()
                                                                         : config.serverUrl());
    if (!own.isEmpty())
        origins.append(own);
    for (const QString &resource : config.resourceOrigins()) {
        const Origin origin = Origin::of(QUrl(resource, QUrl::StrictMode));
        if (!origin.isEmpty() && !origins.contains(origin))
            origins.append(origin);
    }
    return origins;
}

} // namespace

SessionPrivate::SessionPrivate(Session *session, const SessionConfig &config)
    : q(session)
    , m_config(config)
    , m_configError(m_config.validate())
    , m_tokenOrigins(tokenOriginsOf(m_config))
    , m_dpop(std::make_unique<DpopSigner>([this] { return m_refresher->skewMs(); }))
    , m_endpoint(std::make_unique<SessionEndpoint>(m_config, m_dpop.get()))
    , m_vault(std::make_unique<CredentialVault>(m_config, m_dpop.get()))
    , m_refresher(
              std::make_unique<SingleFlightRefresher>(m_config, m_endpoint.get(), m_vault.get()))
{
    SingleFlightRefresher *refresher = m_refresher.get();
    connect(refresher, &SingleFlightRefresher::refreshStarted, this,
            [this] { setState(Session::State::Refreshing); });
    connect(refresher, &SingleFlightRefresher::accessExpiryChanged, this,
            &SessionPrivate::setAccessExpiry);
    connect(refresher, &SingleFlightRefresher::refreshSucceeded, this,
            [this] { setState(Session::State::SignedIn); });
    connect(refresher, &SingleFlightRefresher::refreshFailed, this,
            [this](const Error &error, bool callersTold) {
                setState(Session::State::SignedIn);
                reportFailure(error, callersTold);
            });
    connect(refresher, &SingleFlightRefresher::refreshTokenRejected, this,
            [this] { setState(Session::State::ReauthRequired); });
    connect(refresher, &SingleFlightRefresher::rejectionSettled, this,
            &SessionPrivate::reportFailure);
    connect(refresher, &SingleFlightRefresher::storageFailed, this,
            [this](const Error &error) { reportFailure(error, false); });
    connect(refresher, &SingleFlightRefresher::refreshDone, this,
            &SessionPrivate::runPendingLogout);
}

SessionPrivate::~SessionPrivate() = default;

void SessionPrivate::setStoreForTesting(std::unique_ptr<Platform::SecureStore> store)
{
    m_vault->setStoreForTesting(std::move(store));
}

Platform::SecureStore *SessionPrivate::store() const
{
    return m_vault->store();
}

void SessionPrivate::expireAccessTokenForTesting()
{
    m_refresher->expireAccessTokenForTesting();
}

void SessionPrivate::refreshNowForTesting()
{
    m_refresher->refreshNowForTesting();
}

void SessionPrivate::setRetryBaseDelayForTesting(std::chrono::milliseconds base)
{
    m_refresher->setRetryBaseDelayForTesting(base.count());
}

int SessionPrivate::refreshCount() const
{
    return m_refresher->refreshCount();
}

void SessionPrivate::resetRefresherForTesting(const Error &waitersError)
{
    m_refresher->reset(waitersError);
}

bool SessionPrivate::computeBusy() const
{
    return m_state == Session::State::SigningIn || m_state == Session::State::Refreshing
            || m_logoutInFlight;
}

void SessionPrivate::updateBusy(bool wasBusy)
{
    if (computeBusy() != wasBusy)
        emit q->busyChanged(Session::QPrivateSignal());
}

void SessionPrivate::setState(Session::State state)
{
    if (m_state == state)
        return;
    const bool wasBusy = computeBusy();
    m_state = state;
    qCInfo(lcSession) << "state" << state;
    emit q->stateChanged(state, Session::QPrivateSignal());
    updateBusy(wasBusy);
}

void SessionPrivate::setUser(const QString &user)
{
    if (m_user == user)
        return;
    m_user = user;
    emit q->userChanged(Session::QPrivateSignal());
}

void SessionPrivate::setAccessExpiry(const QDateTime &expiresAt)
{
    if (m_accessExpiresAt == expiresAt)
        return;
    m_accessExpiresAt = expiresAt;
    emit q->accessExpiresAtChanged(Session::QPrivateSignal());
}

void SessionPrivate::setLastError(const Error &error)
{
    if (m_lastError == error)
        return;
    m_lastError = error;
    emit q->lastErrorChanged(Session::QPrivateSignal());
}

void SessionPrivate::reportFailure(const Error &error, bool callersTold)
{
    qCInfo(lcSession) << "error:" << error;
    setLastError(error);
    if (!callersTold)
        emit q->errorOccurred(error, Session::QPrivateSignal());
}

void SessionPrivate::abandonOperations()
{
    const Error destroyed(Error::Code::Cancelled, QStringLiteral("the session was destroyed"));
    const auto operations = std::move(m_operations);
    m_operations.clear();
    for (const std::weak_ptr<OperationBase> &known : operations) {
        if (const auto operation = known.lock())
            operation->fail(destroyed);
    }
    // Then whatever else waits for a token: the requests of an AuthenticatedNetworkAccessManager.
    m_refresher->abandon(destroyed);
}

bool SessionPrivate::hasWorkInFlight() const
{
    return (m_signIn && !m_signIn->isFinished()) || m_codeFlow || m_deviceFlow || m_logoutInFlight
            || m_pendingLogout || m_refresher->hasWorkInFlight() || m_vault->isRemovingRejected();
}

void SessionPrivate::setConfig(const SessionConfig &config)
{
    // The parts below keep a reference to m_config, and the store goes with it: nothing in
    // flight (a rejected token's removal and the callers waiting for it, too) may see it change.
    if ((m_state != Session::State::SignedOut && m_state != Session::State::ReauthRequired)
        || hasWorkInFlight()) {
        const Error refused(Error::Code::Cancelled,
                            QStringLiteral("the configuration cannot change while a session is "
                                           "active or busy; sign out first, or wait until "
                                           "what runs has finished"));
        qCWarning(lcSession) << "setConfig refused:" << refused.message();
        setLastError(refused);
        return;
    }
    // A new configuration is a new start: nothing of the old server's session carries over.
    ++m_generation;
    wipeTokens();
    m_config = config;
    m_configError = m_config.validate();
    m_tokenOrigins = tokenOriginsOf(m_config);
    resetOAuth();
    m_endpoint->applyConfig();
    m_vault->applyConfig();
    m_refresher->setAccount(QString());
    setUser(QString());
    setState(Session::State::SignedOut);
    emit q->configChanged(Session::QPrivateSignal());
}

void SessionPrivate::wipeTokens()
{
    m_vault->forget();
    m_dpop->reset();
    m_refresher->reset({Error::Code::NotSignedIn, QStringLiteral("signed out")});
}

} // namespace Tessera
