// SPDX-License-Identifier: MIT
// The operations a caller starts (login, restore, logout, freshAccessToken) and the gate
// in front of the refresher: each returns a future that finishes once (operation_p.h).
#include "session_p.h"

#include "logging_p.h"
#include "transport_p.h"

#include <QtCore/QTimer>

namespace Tessera {

// --- operations ----------------------------------------------------------------

template<typename T> std::shared_ptr<Operation<T>> SessionPrivate::startOperation()
{
    setLastError({});
    auto operation = std::make_shared<Operation<T>>();
    m_operations.removeIf([](const std::weak_ptr<OperationBase> &known) {
        const auto alive = known.lock();
        return !alive || alive->isFinished();
    });
    m_operations.append(operation);
    return operation;
}

template<typename T> void SessionPrivate::failOperation(Operation<T> &operation, const Error &error)
{
    if (operation.isFinished())
        return;
    qCInfo(lcSession) << "error:" << error;
    setLastError(error);
    operation.fail(error);
}

QFuture<void> SessionPrivate::refuse(const VoidOperation &operation, const Error &error)
{
    QTimer::singleShot(0, this, [this, operation, error] { failOperation(*operation, error); });
    return operation->future();
}

// --- fresh tokens ------------------------------------------------------------

bool SessionPrivate::mayHandOutTokens() const
{
    // Without a refresh token to spend, only a usable access token can be handed out; while
    // signing out, none that would need a refresh.
    return !m_configError.isError()
            && (m_refresher->hasUsableAccessToken()
                || (!m_vault->refreshToken().isEmpty() && !m_logoutInFlight && !m_pendingLogout));
}

const Secret *SessionPrivate::tokenAtHand()
{
    return mayHandOutTokens() ? m_refresher->tokenAtHand() : nullptr;
}

void SessionPrivate::withFreshToken(TokenCallback callback)
{
    if (m_configError.isError())
        return callback(nullptr, m_configError);
    if (!mayHandOutTokens()) {
        const Error error = m_state == Session::State::ReauthRequired
                ? Error(Error::Code::SessionRejected, QStringLiteral("sign in again"))
                : Error(Error::Code::NotSignedIn, QStringLiteral("not signed in"));
        return callback(nullptr, error);
    }
    m_refresher->withFreshToken(std::move(callback));
}

void SessionPrivate::tokenRejected(const QNetworkRequest &rejected, TokenCallback callback)
{
    // The token it carried, as authorize() put it there (the request holds it anyway).
    const QByteArray header = rejected.rawHeader(QByteArrayLiteral("Authorization"));
    const QByteArrayView bearer("Bearer ");
    const QByteArrayView dpop("DPoP ");
    QByteArrayView used;
    if (header.startsWith(bearer))
        used = QByteArrayView(header).sliced(bearer.size());
    else if (header.startsWith(dpop))
        used = QByteArrayView(header).sliced(dpop.size());
    m_refresher->dropRejectedAccessToken(used);
    withFreshToken(std::move(callback));
}

void SessionPrivate::authorize(QNetworkRequest &request, const Secret &token,
                               QByteArrayView method) const
{
    Transport::prepareRequest(request, m_config);
    // A bound token goes out only with a proof: without one it would be refused anyway.
    const bool bound = m_refresher->isAccessTokenBound();
    QByteArray authorization = bound ? QByteArrayLiteral("DPoP ") : QByteArrayLiteral("Bearer ");
    if (bound && !m_dpop->sign(request, method, token.reveal()))
        qCWarning(lcNetwork) << "a request with a DPoP-bound token goes out without a proof";
    authorization.append(token.reveal().data(), token.size());
    request.setRawHeader(QByteArrayLiteral("Authorization"), authorization);
    secureWipe(authorization);
}

bool SessionPrivate::isNonceChallenge(QNetworkReply *answer)
{
    m_dpop->rememberNonce(answer, DpopSigner::NonceScope::ResourceServer);
    return m_refresher->isAccessTokenBound() && DpopSigner::isResourceNonceChallenge(answer);
}

bool SessionPrivate::sendsTokenTo(const QUrl &url) const
{
    if (m_tokenOrigins.isEmpty())
        return false;
    return m_tokenOrigins.contains(Origin::of(url));
}

QFuture<Secret> SessionPrivate::freshAccessToken()
{
    auto operation = startOperation<Secret>();
    withFreshToken([this, operation](const Secret *token, const Error &error) {
        if (token)
            operation->succeed(token->clone());
        else
            failOperation(*operation, error);
    });
    return operation->future();
}

// --- login -------------------------------------------------------------------

QFuture<void> SessionPrivate::login(const QString &username, const QString &password)
{
    const VoidOperation operation = startOperation<void>();
    if (m_configError.isError())
        return refuse(operation, m_configError);
    if (m_config.profile() == SessionConfig::Profile::OAuth)
        return refuse(operation,
                      {Error::Code::InvalidConfiguration,
                       QStringLiteral("an OAuth session signs in through the browser "
                                      "(signInWithBrowser()); the password grant is not "
                                      "offered (RFC 9700 §2.4)")});
    if (username.isEmpty() || password.isEmpty())
        return refuse(operation,
                      {Error::Code::InvalidCredentials,
                       QStringLiteral("a username and a password are required")});
    if (m_state == Session::State::SigningIn || m_state == Session::State::Refreshing
        || m_logoutInFlight || m_state == Session::State::SignedIn)
        return refuse(operation,
                      {Error::Code::Cancelled,
                       QStringLiteral("a session is active or busy; log out first")});

    m_signIn = operation;
    const quint64 generation = ++m_generation;
    auto stillWanted = [this, generation] { return generation == m_generation; };
    wipeTokens();
    setState(Session::State::SigningIn);
    qCInfo(lcSession) << "login started";
    auto fail = [this, operation](const Error &error) {
        wipeTokens();
        setState(Session::State::SignedOut);
        failOperation(*operation, error);
    };
    m_endpoint->obtainWithPassword(
            username, password,
            [this, stillWanted, username, operation, fail](TokenOutcome outcome) {
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

                completeSignIn(username, std::make_shared<TokenResponse>(std::move(outcome.tokens)),
                               *timing, operation, stillWanted, fail);
            });
    return operation->future();
}

void SessionPrivate::completeSignIn(const QString &username, std::shared_ptr<TokenResponse> tokens,
                                    const AccessTiming &timing, const VoidOperation &operation,
                                    const std::function<bool()> &stillWanted,
                                    const std::function<void(const Error &)> &fail)
{
    // Persist first: the session is SignedIn only once the refresh token is stored.
    m_vault->storeSignIn(
            username, tokens->refresh, stillWanted,
            [this, stillWanted, tokens, username, timing, operation, fail](const Error &error) {
                if (!stillWanted())
                    return;
                if (error.isError()) {
                    // Nobody could resume this server-side session: revoke it rather than
                    // leave it dangling.
                    if (m_endpoint->canRevoke())
                        m_endpoint->revoke(tokens->refresh, {});
                    return fail(error);
                }
                m_vault->hold(std::move(tokens->refresh), true);
                m_refresher->setAccount(username);
                setUser(username);
                m_refresher->adoptAccessToken(*tokens, timing);
                setState(Session::State::SignedIn);
                qCInfo(lcSession) << "login succeeded";
                operation->succeed();
            });
}

// --- restore -----------------------------------------------------------------

QFuture<void> SessionPrivate::restore(const QString &username)
{
    const VoidOperation operation = startOperation<void>();
    if (m_configError.isError())
        return refuse(operation, m_configError);
    if (m_state != Session::State::SignedOut && m_state != Session::State::ReauthRequired)
        return refuse(operation,
                      {Error::Code::Cancelled, QStringLiteral("a session is already active")});
    if (!m_vault->persists())
        return refuse(operation,
                      {Error::Code::NotSignedIn,
                       QStringLiteral("memory-only sessions cannot be restored")});

    m_signIn = operation;
    const quint64 generation = ++m_generation;
    // A new start for the refresher too: what an earlier session left running (a rejected
    // token's removal) is not reported into this one. The vault reads only once that removal
    // has landed.
    wipeTokens();
    setState(Session::State::SigningIn);
    m_vault->load(username,
                  [this, generation, operation](const QString &account, Secret token,
                                                Jose::Key dpopKey, const Error &error) {
                      if (generation != m_generation)
                          return;
                      m_dpop->setKey(std::move(dpopKey));
                      if (error.isError()) {
                          setState(Session::State::SignedOut);
                          return failOperation(*operation, error);
                      }
                      m_vault->hold(std::move(token), true);
                      m_refresher->setAccount(account);
                      setUser(account);
                      setState(Session::State::SignedIn);
                      qCInfo(lcSession) << "restored a stored session; refreshing";
                      withFreshToken([this, operation](const Secret *token, const Error &error) {
                          if (token)
                              operation->succeed();
                          else
                              failOperation(*operation, error);
                      });
                  });
    return operation->future();
}

// --- logout ------------------------------------------------------------------

QFuture<void> SessionPrivate::logout()
{
    const VoidOperation operation = startOperation<void>();
    m_logouts.append(operation);
    if (m_refresher->isRefreshing()) {
        // Wait for the refresh in flight, so the revoke names the newest token.
        m_pendingLogout = true;
    } else if (!m_logoutInFlight) {
        runLogout();
    }
    return operation->future();
}

void SessionPrivate::runPendingLogout()
{
    if (!m_pendingLogout)
        return;
    m_pendingLogout = false;
    runLogout();
}

void SessionPrivate::runLogout()
{
    const bool wasBusy = computeBusy();
    m_logoutInFlight = true;
    updateBusy(wasBusy);
    ++m_generation;
    // A sign-in still running is over: it ends Cancelled (not an error of its own).
    dropSignInFlows();
    if (m_signIn) {
        m_signIn->fail(
                {Error::Code::Cancelled, QStringLiteral("signed out before the sign-in finished")});
        m_signIn.reset();
    }
    Secret refresh = m_vault->take();
    // The access token too, where the dialect can revoke one on its own (OAuth), for servers
    // that do not revoke a grant's access tokens with its refresh token (RFC 7009 §2.1: a
    // SHOULD). Taken before wipeTokens() forgets it; an expired one is not worth a request.
    auto access = std::make_shared<Secret>();
    if (!m_configError.isError() && m_endpoint->canRevokeAccessTokens())
        *access = m_refresher->unexpiredAccessToken();
    const QString account = m_user;
    // The revocations carry proofs of the session's key (a server may insist for a bound
    // session); the key is dropped from memory once the logout is over.
    Jose::Key dpopKey = m_dpop->key();
    wipeTokens(); // callers waiting for a token: NotSignedIn
    m_dpop->setKey(std::move(dpopKey));
    const quint64 generation = m_generation;
    qCInfo(lcSession) << "logout started";

    struct Progress
    {
        int pending = 0;
        Error revokeError;
        Error storageError;
    };
    auto progress = std::make_shared<Progress>();
    auto stepDone = [this, progress, generation] {
        if (--progress->pending > 0)
            return;
        if (generation == m_generation)
            m_dpop->reset();
        const bool wasBusy = computeBusy();
        m_logoutInFlight = false;
        setUser(QString());
        setState(Session::State::SignedOut);
        updateBusy(wasBusy);
        qCInfo(lcSession) << "logout complete";
        const Error error =
                progress->revokeError.isError() ? progress->revokeError : progress->storageError;
        const QList<VoidOperation> logouts = std::move(m_logouts);
        m_logouts.clear();
        for (const VoidOperation &logout : logouts) {
            if (error.isError())
                failOperation(*logout, error);
            else
                logout->succeed();
        }
    };

    ++progress->pending; // held until every step is started
    // The access token's revocation is sent after the refresh token's: that one ends the
    // session, and where the server revokes the grant's access tokens with it (both peers of
    // the suite do) the second request finds nothing left to revoke. Its failure is only
    // logged: the session is ended by the refresh token's revocation, the token expires on its
    // own within its short lifetime, and with the local copy wiped nobody could retry it.
    if (!access->isEmpty())
        ++progress->pending;
    auto revokeAccess = [this, access, stepDone] {
        if (access->isEmpty())
            return;
        m_endpoint->revokeAccessToken(*access, [stepDone](const Error &cause) {
            if (cause.isError())
                qCWarning(lcSession) << "logout: the access token was not revoked; it stays "
                                        "valid until it expires:"
                                     << cause;
            stepDone();
        });
        access->clear();
    };
    if (!refresh.isEmpty() && m_endpoint->canRevoke() && !m_configError.isError()) {
        ++progress->pending;
        m_endpoint->revoke(refresh, [progress, stepDone, revokeAccess](const Error &cause) {
            if (cause.isError())
                progress->revokeError = {Error::Code::RevokeFailed,
                                         QStringLiteral("signed out locally, but the server could "
                                                        "not revoke the session: %1")
                                                 .arg(cause.message())};
            revokeAccess();
            stepDone();
        });
    } else {
        if (!refresh.isEmpty() && !m_endpoint->canRevoke())
            progress->revokeError = {Error::Code::RevokeFailed,
                                     QStringLiteral("signed out locally; the server has no revoke "
                                                    "endpoint configured")};
        revokeAccess();
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
