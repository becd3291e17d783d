// SPDX-License-Identifier: MIT
// Private: Tessera::Session's state and its three parts: the token endpoint (the server's
// dialect), the credential vault (the refresh token, in memory and in storage) and the
// single-flight refresher (the access token). Never installed.
#pragma once

#include "accesstiming_p.h"
#include "credentialvault_p.h"
#include "dpopsigner_p.h"
#include "operation_p.h"
#include "origin_p.h"
#include "sessionendpoint_p.h"
#include "singleflightrefresher_p.h"
#include "tokenprovider_p.h"

#include <tessera/session.h>

#include <memory>
#include <optional>

namespace Tessera {

namespace OAuth {
class CodeFlow;
class DeviceFlow;
class IdTokenValidator;
class JwksCache;
struct ProviderMetadata;
} // namespace OAuth

// The session's token provider for its authenticated requests. Exported only for the tests
// and benchmarks, which drive it through its private API.
class TESSERA_SDK_EXPORT SessionPrivate : public TokenProvider
{
    Q_OBJECT
public:
    SessionPrivate(Session *q, const SessionConfig &config);
    ~SessionPrivate() override;

    static SessionPrivate *get(Session *session) { return session->d.get(); }

    // For tests: replace the secure store (e.g. one that fails writes).
    void setStoreForTesting(std::unique_ptr<Platform::SecureStore> store);
    Platform::SecureStore *store() const;

    // TokenProvider. withFreshToken() gives the refresher's token
    // (SingleFlightRefresher::withFreshToken), or why there is none: not signed in,
    // signing out, sign in again, or the configuration.
    const SessionConfig &config() const override { return m_config; }
    const Secret *tokenAtHand() override;
    void withFreshToken(TokenCallback callback) override;
    void tokenRejected(const QNetworkRequest &rejected, TokenCallback callback) override;
    void authorize(QNetworkRequest &request, const Secret &token,
                   QByteArrayView method) const override;
    bool isNonceChallenge(QNetworkReply *answer) override;
    // DPoP: the thumbprint of the session's key (empty without one), and whether the access
    // token is bound to it.
    QString dpopKeyThumbprint() const { return m_dpop->thumbprint(); }
    bool isDpopBound() const { return m_refresher->isAccessTokenBound(); }
    // Tests: the session's DPoP side.
    DpopSigner *dpopSignerForTesting() const { return m_dpop.get(); }
    // Whether a request to `url` carries the token: it goes to the server's (or issuer's)
    // origin or to one of the configured resource origins.
    bool sendsTokenTo(const QUrl &url) const;

    QFuture<void> login(const QString &username, const QString &password);
    // The OAuth profile's browser sign-in (browsersignin.cpp) and device sign-in
    // (devicesignin.cpp); cancelSignIn() ends either.
    QFuture<void> signInWithBrowser();
    QFuture<void> signInWithDevice();
    void cancelSignIn();
    QUrl endSessionUrl(const QUrl &postLogoutRedirectUri) const;
    QFuture<void> restore(const QString &username);
    QFuture<void> logout();
    QFuture<Secret> freshAccessToken();
    void setConfig(const SessionConfig &config);
    // ~Session: every operation still running, and every request waiting for a token, fails
    // with Cancelled while the session is still whole (continuations may run inside this
    // call).
    void abandonOperations();

    // Tests and benchmarks: forget the access token (the next request must refresh), refresh
    // now, count the refreshes that brought a new access token.
    void expireAccessTokenForTesting();
    void refreshNowForTesting();
    // Tests: the refresh retry backoff's first delay (default 1 s; Backoff).
    void setRetryBaseDelayForTesting(std::chrono::milliseconds base);
    int refreshCount() const;
    // Tests: SingleFlightRefresher::reset(), which the session calls only when no refresh
    // runs, at any moment.
    void resetRefresherForTesting(const Error &waitersError);

    Session *q;
    Session::State m_state = Session::State::SignedOut;
    QString m_user;
    QDateTime m_accessExpiresAt;
    Error m_lastError;
    bool m_logoutInFlight = false;

private:
    using VoidOperation = std::shared_ptr<Operation<void>>;

    void setState(Session::State state);
    void setUser(const QString &user);
    void setAccessExpiry(const QDateTime &expiresAt);
    void setLastError(const Error &error);
    // A failure of background work; `callersTold`: waiting callers got it, so it is not
    // emitted again (errorOccurred).
    void reportFailure(const Error &error, bool callersTold);
    // A new operation: lastError() is cleared.
    template<typename T> std::shared_ptr<Operation<T>> startOperation();
    template<typename T> void failOperation(Operation<T> &operation, const Error &error);
    // Fails an operation refused before it started, from the event loop: its continuations
    // never run inside the call (an app may quit from one before exec()).
    QFuture<void> refuse(const VoidOperation &operation, const Error &error);
    // A token may be handed out: the configuration is valid, and either the access token is
    // usable or there is a refresh token to spend and no sign-out under way.
    bool mayHandOutTokens() const;
    void updateBusy(bool wasBusy);
    // An operation, a refresh, a caller waiting for a token, or a rejected token's removal.
    bool hasWorkInFlight() const;
    bool computeBusy() const;
    void wipeTokens();
    // A sign-in's tokens arrived (login or browser): stores the refresh token, then holds
    // it, adopts the access token and becomes SignedIn; `fail` otherwise.
    void completeSignIn(const QString &username, std::shared_ptr<TokenResponse> tokens,
                        const AccessTiming &timing, const VoidOperation &operation,
                        const std::function<bool()> &stillWanted,
                        const std::function<void(const Error &)> &fail);
    // Whether an OAuth sign-in may start now; the refusal otherwise.
    Error oauthSignInRefusal(const char *flowName) const;
    // The browser sign-in's code flow ended: completeOAuthSignIn() with its nonce.
    void onCodeFlowFinished(quint64 generation, const VoidOperation &operation);
    // The device sign-in's flow ended: completeOAuthSignIn() without a nonce (RFC 8628
    // requests carry none).
    void onDeviceFlowFinished(quint64 generation, const VoidOperation &operation);
    // Either flow's outcome: validate the ID token (signature, issuer, audience, expiry, and
    // `nonce` when not empty), name the user, then completeSignIn(). Anything issued but
    // refused is revoked.
    void completeOAuthSignIn(TokenOutcome outcome,
                             const std::optional<OAuth::ProviderMetadata> &metadata,
                             const QByteArray &nonce, quint64 generation,
                             const VoidOperation &operation);
    // The OAuth parts that belong to one configuration: dropped by setConfig().
    void resetOAuth();
    // Ends a browser or device sign-in's flow without a word to its operation (logout,
    // setConfig).
    void dropSignInFlows();
    void runLogout();
    void runPendingLogout();

    // The configuration first: the parts below keep a reference to it.
    SessionConfig m_config;
    Error m_configError;
    QList<Origin> m_tokenOrigins;       // m_config.origin() and its resource origins
    std::unique_ptr<DpopSigner> m_dpop; // before the parts that use it
    std::unique_ptr<SessionEndpoint> m_endpoint;
    std::unique_ptr<CredentialVault> m_vault;
    std::unique_ptr<SingleFlightRefresher> m_refresher;

    // OAuth: the browser or device sign-in in flight, and the provider's keys for its ID tokens.
    std::unique_ptr<OAuth::CodeFlow> m_codeFlow;
    std::unique_ptr<OAuth::DeviceFlow> m_deviceFlow;
    std::unique_ptr<OAuth::JwksCache> m_jwks;
    std::unique_ptr<OAuth::IdTokenValidator> m_idTokens;

    VoidOperation m_signIn;                           // the login or restore in flight
    QList<VoidOperation> m_logouts;                   // every logout() waiting for the one logout
    QList<std::weak_ptr<OperationBase>> m_operations; // all started, for abandonOperations()
    bool m_pendingLogout = false;
    // Bumped by login, restore, logout and setConfig: answers and storage completions of an
    // older operation are ignored.
    quint64 m_generation = 0;
};

} // namespace Tessera
