// SPDX-License-Identifier: MIT
// Tessera::Session and its private side: the state a UI sees, and the three operations a
// caller starts (login, restore, logout). Refreshing is the refresher's
// (singleflightrefresher.cpp), storage the vault's (credentialvault.cpp), the wire format the
// endpoint's (simplejwtendpoint.cpp).
#include "session_p.h"

#include "logging_p.h"

#include <QtCore/QPromise>

namespace Tessera {

// --- Session -----------------------------------------------------------------

Session::Session(const SessionConfig &config, QObject *parent)
    : QObject(parent)
    , d(std::make_unique<SessionPrivate>(this, config))
{ }

Session::~Session() = default;

SessionConfig Session::config() const
{
    return d->config();
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

bool Session::isBusy() const
{
    return d->m_state == State::SigningIn || d->m_state == State::Refreshing || d->m_logoutInFlight;
}

int Session::refreshCount() const
{
    return d->refreshCount();
}

void Session::login(const QString &username, const QString &password)
{
    d->login(username, password);
}

void Session::restore(const QString &username)
{
    d->restore(username);
}

void Session::logout()
{
    d->logout();
}

QFuture<Secret> Session::freshAccessToken()
{
    auto promise = std::make_shared<QPromise<Secret>>();
    promise->start();
    QFuture<Secret> future = promise->future();
    d->withFreshToken([promise](const Secret *token, const Error &) {
        if (token)
            promise->addResult(token->clone());
        else
            promise->future().cancel();
        promise->finish();
    });
    return future;
}

// --- SessionPrivate: state ---------------------------------------------------

SessionPrivate::SessionPrivate(Session *session, const SessionConfig &config)
    : q(session)
    , m_config(config)
    , m_configError(m_config.validate())
    , m_endpoint(createSimpleJwtEndpoint(m_config))
    , m_vault(std::make_unique<CredentialVault>(m_config))
    , m_refresher(
              std::make_unique<SingleFlightRefresher>(m_config, m_endpoint.get(), m_vault.get()))
{
    SingleFlightRefresher *refresher = m_refresher.get();
    connect(refresher, &SingleFlightRefresher::refreshStarted, this,
            [this] { setState(Session::State::Refreshing); });
    connect(refresher, &SingleFlightRefresher::accessExpiryChanged, this,
            &SessionPrivate::setAccessExpiry);
    connect(refresher, &SingleFlightRefresher::refreshCountChanged, q,
            &Session::refreshCountChanged);
    connect(refresher, &SingleFlightRefresher::refreshSucceeded, this,
            [this] { setState(Session::State::SignedIn); });
    connect(refresher, &SingleFlightRefresher::refreshFailed, this, [this](const Error &error) {
        setState(Session::State::SignedIn);
        reportError(error);
    });
    connect(refresher, &SingleFlightRefresher::refreshTokenRejected, this,
            [this] { setState(Session::State::ReauthRequired); });
    connect(refresher, &SingleFlightRefresher::rejectionSettled, this,
            [this](const Error &error) { reportError(error); });
    connect(refresher, &SingleFlightRefresher::storageFailed, this, &SessionPrivate::reportError);
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

int SessionPrivate::refreshCount() const
{
    return m_refresher->refreshCount();
}

bool SessionPrivate::computeBusy() const
{
    return m_state == Session::State::SigningIn || m_state == Session::State::Refreshing
            || m_logoutInFlight;
}

void SessionPrivate::updateBusy(bool wasBusy)
{
    if (computeBusy() != wasBusy)
        emit q->busyChanged();
}

void SessionPrivate::setState(Session::State state)
{
    if (m_state == state)
        return;
    const bool wasBusy = computeBusy();
    m_state = state;
    qCInfo(lcSession) << "state" << state;
    emit q->stateChanged(state);
    updateBusy(wasBusy);
}

void SessionPrivate::setUser(const QString &user)
{
    if (m_user == user)
        return;
    m_user = user;
    emit q->userChanged();
}

void SessionPrivate::setAccessExpiry(const QDateTime &expiresAt)
{
    if (m_accessExpiresAt == expiresAt)
        return;
    m_accessExpiresAt = expiresAt;
    emit q->accessExpiresAtChanged();
}

void SessionPrivate::reportError(const Error &error)
{
    qCInfo(lcSession) << "error:" << error;
    m_lastError = error;
    emit q->errorOccurred(error);
}

void SessionPrivate::finish(Session::Operation operation, const Error &error, bool reported)
{
    if (error.isError() && !reported)
        reportError(error);
    emit q->finished(operation, error, Session::QPrivateSignal());
}

void SessionPrivate::finishLater(Session::Operation operation, const Error &error)
{
    // The operation is asynchronous, so its completion always is, too: a caller that
    // connects after the call (or quits the application from the slot before exec())
    // still sees it.
    QTimer::singleShot(0, this, [this, operation, error] { finish(operation, error); });
}

void SessionPrivate::wipeTokens()
{
    m_vault->forget();
    m_refresher->reset();
}

// --- fresh tokens ------------------------------------------------------------

void SessionPrivate::withFreshToken(TokenCallback callback)
{
    if (m_configError.isError())
        return callback(nullptr, m_configError);
    if (!m_refresher->hasUsableAccessToken()
        && (m_vault->refreshToken().isEmpty() || m_logoutInFlight || m_pendingLogout)) {
        const Error error = m_state == Session::State::ReauthRequired
                ? Error(Error::Code::SessionRejected, QStringLiteral("sign in again"))
                : Error(Error::Code::NotSignedIn, QStringLiteral("not signed in"));
        return callback(nullptr, error);
    }
    m_refresher->withFreshToken(std::move(callback));
}

void SessionPrivate::tokenRejected(QByteArrayView usedToken, TokenCallback callback)
{
    m_refresher->dropRejectedAccessToken(usedToken);
    withFreshToken(std::move(callback));
}

// --- login -------------------------------------------------------------------

void SessionPrivate::login(const QString &username, const QString &password)
{
    if (m_configError.isError())
        return finishLater(Session::Operation::Login, m_configError);
    if (username.isEmpty() || password.isEmpty())
        return finishLater(Session::Operation::Login,
                           {Error::Code::InvalidCredentials,
                            QStringLiteral("a username and a password are required")});
    if (m_state == Session::State::SigningIn || m_state == Session::State::Refreshing
        || m_logoutInFlight || m_state == Session::State::SignedIn)
        return finishLater(Session::Operation::Login,
                           {Error::Code::Cancelled,
                            QStringLiteral("a session is active or busy; log out first")});

    const quint64 generation = ++m_generation;
    auto stillWanted = [this, generation] { return generation == m_generation; };
    wipeTokens();
    setState(Session::State::SigningIn);
    qCInfo(lcSession) << "login started";
    auto fail = [this](const Error &error) {
        wipeTokens();
        setState(Session::State::SignedOut);
        finish(Session::Operation::Login, error);
    };
    m_endpoint->obtainWithPassword(
            username, password, [this, stillWanted, username, fail](TokenOutcome outcome) {
                if (!stillWanted())
                    return;
                if (outcome.kind != TokenOutcome::Kind::Issued)
                    return fail(outcome.error);
                QString problem;
                const std::optional<AccessTiming> timing =
                        accessTiming(outcome.tokens, m_config.refreshLead(), &problem);
                if (!timing)
                    return fail(
                            {Error::Code::ServerError,
                             QStringLiteral("login: unusable token response (%1)").arg(problem)});

                // Persist first: the session is SignedIn only once the refresh token is stored.
                auto tokens = std::make_shared<TokenResponse>(std::move(outcome.tokens));
                m_vault->storeSignIn(
                        username, tokens->refresh, stillWanted,
                        [this, stillWanted, tokens, username, timing, fail](const Error &error) {
                            if (!stillWanted())
                                return;
                            if (error.isError()) {
                                // Nobody could resume this server-side session: revoke it rather
                                // than leave it dangling.
                                if (m_endpoint->canRevoke())
                                    m_endpoint->revoke(tokens->refresh, {});
                                return fail(error);
                            }
                            m_vault->hold(std::move(tokens->refresh), true);
                            m_refresher->setAccount(username);
                            setUser(username);
                            m_refresher->adoptAccessToken(*tokens, *timing);
                            setState(Session::State::SignedIn);
                            qCInfo(lcSession) << "login succeeded";
                            finish(Session::Operation::Login, {});
                        });
            });
}

// --- restore -----------------------------------------------------------------

void SessionPrivate::restore(const QString &username)
{
    if (m_configError.isError())
        return finishLater(Session::Operation::Restore, m_configError);
    if (m_state != Session::State::SignedOut && m_state != Session::State::ReauthRequired)
        return finishLater(Session::Operation::Restore,
                           {Error::Code::Cancelled, QStringLiteral("a session is already active")});
    if (!m_vault->persists())
        return finishLater(Session::Operation::Restore,
                           {Error::Code::NotSignedIn,
                            QStringLiteral("memory-only sessions cannot be restored")});

    const quint64 generation = ++m_generation;
    setState(Session::State::SigningIn);
    m_vault->load(username,
                  [this, generation](const QString &account, Secret token, const Error &error) {
                      if (generation != m_generation)
                          return;
                      if (error.isError()) {
                          setState(Session::State::SignedOut);
                          return finish(Session::Operation::Restore, error);
                      }
                      m_vault->hold(std::move(token), true);
                      m_refresher->setAccount(account);
                      setUser(account);
                      setState(Session::State::SignedIn);
                      qCInfo(lcSession) << "restored a stored session; refreshing";
                      // A failed refresh has reported its error already: one errorOccurred per
                      // error.
                      withFreshToken([this](const Secret *token, const Error &error) {
                          finish(Session::Operation::Restore, token ? Error() : error, true);
                      });
                  });
}

// --- logout ------------------------------------------------------------------

void SessionPrivate::runPendingLogout()
{
    if (!m_pendingLogout)
        return;
    m_pendingLogout = false;
    logout();
}

void SessionPrivate::logout()
{
    if (m_refresher->isRefreshing()) {
        // Wait for the refresh in flight, so the revoke names the newest token.
        m_pendingLogout = true;
        return;
    }
    if (m_logoutInFlight)
        return;
    const bool wasBusy = computeBusy();
    m_logoutInFlight = true;
    updateBusy(wasBusy);
    ++m_generation;
    Secret refresh = m_vault->take();
    const QString account = m_user;
    wipeTokens();
    m_refresher->failWaiters({Error::Code::NotSignedIn, QStringLiteral("signed out")});
    qCInfo(lcSession) << "logout started";

    struct Progress
    {
        int pending = 0;
        Error revokeError;
        Error storageError;
    };
    auto progress = std::make_shared<Progress>();
    auto stepDone = [this, progress] {
        if (--progress->pending > 0)
            return;
        const bool wasBusy = computeBusy();
        m_logoutInFlight = false;
        setUser(QString());
        setState(Session::State::SignedOut);
        updateBusy(wasBusy);
        qCInfo(lcSession) << "logout complete";
        finish(Session::Operation::Logout,
               progress->revokeError.isError() ? progress->revokeError : progress->storageError);
    };

    ++progress->pending; // held until both steps are started
    if (!refresh.isEmpty() && m_endpoint->canRevoke() && !m_configError.isError()) {
        ++progress->pending;
        m_endpoint->revoke(refresh, [progress, stepDone](const Error &cause) {
            if (cause.isError())
                progress->revokeError = {Error::Code::RevokeFailed,
                                         QStringLiteral("signed out locally, but the server could "
                                                        "not revoke the session: %1")
                                                 .arg(cause.message())};
            stepDone();
        });
    } else if (!refresh.isEmpty() && !m_endpoint->canRevoke()) {
        progress->revokeError = {Error::Code::RevokeFailed,
                                 QStringLiteral("signed out locally; the server has no revoke "
                                                "endpoint configured")};
    }
    if (m_vault->persists() && !account.isEmpty()) {
        ++progress->pending;
        m_vault->removeAccount(account, [progress, stepDone](const Error &error) {
            progress->storageError = error;
            stepDone();
        });
    }
    refresh.clear();
    QTimer::singleShot(0, this, stepDone);
}

} // namespace Tessera
