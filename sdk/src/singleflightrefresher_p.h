// SPDX-License-Identifier: MIT
// Private: single-flight refresh, the one object that refreshes the access token. Never
// installed.
#pragma once

#include "accesstiming_p.h"
#include "backoff_p.h"

#include <tessera/error.h>
#include <tessera/secret.h>

#include <QtCore/QDateTime>
#include <QtCore/QObject>
#include <QtCore/QTimer>

#include <functional>
#include <memory>

namespace Tessera {

class CredentialVault;
class CrossProcessLock;
class SessionConfig;
class TokenEndpoint;
struct TokenOutcome;

// Keeps the access token in memory and refreshes it: before it expires (at exp - lead, on a
// clock corrected for the server's skew), when a caller needs one and it is stale, and when
// the server refused it. Any number of callers that need a token wait on one refresh; across
// processes of the same app and account a lock file serialises refreshes, and the vault
// re-reads storage under it. A refresh that fails transiently is retried with backoff and
// jitter; a rejected refresh token is removed from storage (under the lock, and only while
// storage still holds it).
//
// It does not own the session's state: it tells the session what happened through its
// signals (direct connections, emitted before waiting callers are served).
class SingleFlightRefresher : public QObject
{
    Q_OBJECT
public:
    // Called with the token (valid only during the call) or, when none can be
    // had, with a null pointer and the reason.
    using TokenCallback = std::function<void(const Secret *token, const Error &error)>;

    // `config`, `endpoint` and `vault` are the session's and outlive the refresher.
    SingleFlightRefresher(const SessionConfig &config, TokenEndpoint *endpoint,
                          CredentialVault *vault, QObject *parent = nullptr);
    ~SingleFlightRefresher() override;

    // The signed-in account: its storage key names the stored token and the lock.
    void setAccount(const QString &account);
    // Takes an access token into memory and schedules its refresh.
    void adoptAccessToken(TokenResponse &response, const AccessTiming &timing);
    // Forgets the access token and abandons everything scheduled or in flight: timers, retries,
    // a refresh (its answer is ignored, the lock released). Every waiting caller gets
    // `waitersError`. A rejected token's removal goes on; its callers hear when it lands.
    void reset(const Error &waitersError);
    // The session is going: nothing runs any more, and every waiting caller (also one waiting
    // for a rejected token's removal) gets `error` now. Emits nothing.
    void abandon(const Error &error);

    // True when a token is in memory, not due for refresh, and no refresh is running.
    bool hasUsableAccessToken() const;
    // The token withFreshToken() would hand out at once, without waiting; else null.
    const Secret *tokenAtHand() const;
    // A copy of the access token in memory while it has not expired (also when it is due for
    // refresh, which tokenAtHand() would not hand out): what a logout revokes. Else empty.
    Secret unexpiredAccessToken() const;
    // Single flight: the token now if it is usable, else after the one refresh that every
    // caller waits on. During a backoff after a transient failure callers do not start
    // refreshes of their own (an app polling every 250 ms would flood a failing server): a
    // token that is due but not expired is still good; else they wait for the scheduled retry.
    // The caller has checked that there is a refresh token to spend.
    void withFreshToken(TokenCallback callback);
    // A request carrying `usedToken` was answered 401: forget that token (unless a newer one
    // is already here), so the next withFreshToken() refreshes.
    void dropRejectedAccessToken(QByteArrayView usedToken);

    // Whether the access token in memory is DPoP-bound (its response's token_type was DPoP).
    bool isAccessTokenBound() const { return m_accessBound; }
    // The server's clock minus ours, as the last token response showed it: DPoP proofs are
    // issued on the server's clock.
    qint64 skewMs() const { return m_skewMs; }

    bool isRefreshing() const { return m_refreshing; }
    // A refresh, or callers waiting for one or for a rejected token's removal.
    bool hasWorkInFlight() const
    {
        return m_refreshing || !m_waiters.isEmpty() || !m_rejectionWaiters.isEmpty();
    }
    int refreshCount() const { return m_refreshCount; }

    // Tests: forget the access token (the next request must refresh), or refresh now as the
    // proactive timer does.
    void expireAccessTokenForTesting();
    void refreshNowForTesting() { startRefresh(); }
    // Tests: retries after a transient failure on the same schedule scaled down (Backoff).
    void setRetryBaseDelayForTesting(qint64 baseMs) { m_backoff.setBaseDelayForTesting(baseMs); }

Q_SIGNALS:
    void refreshStarted();
    // The access token's expiry on the local clock; invalid when there is none.
    void accessExpiryChanged(const QDateTime &expiresAt);
    void refreshSucceeded();
    // `waitersTold`: callers were waiting and get the error as well.
    void refreshFailed(const Tessera::Error &error, bool waitersTold);
    // The refresh token was rejected: tokens are forgotten, the stored one is being removed.
    void refreshTokenRejected();
    // ... and removed (or kept, when another instance stored a new one). Not emitted when
    // the session moved on meanwhile (a new login).
    void rejectionSettled(const Tessera::Error &error, bool waitersTold);
    // A rotated refresh token could not be stored: it is held in memory only.
    void storageFailed(const Tessera::Error &error);
    // No refresh is running any more (whatever the outcome, also when reset() abandoned it).
    void refreshDone();

private:
    enum class Outcome { Rotated, Rejected, Failed };

    void startRefresh();
    void sendRefresh();
    void onRefreshAnswer(TokenOutcome outcome);
    void completeRefresh(Outcome outcome, const Error &error);
    void serveWaiters();
    void failWaiters(const Error &error);
    void releaseLock();
    void scheduleRetry();
    void rejectRefreshToken(const Error &error);
    void forgetAccessToken();

    const SessionConfig &m_config;
    TokenEndpoint *m_endpoint;
    CredentialVault *m_vault;
    QString m_account;

    Secret m_accessToken;
    qint64 m_refreshDueMs = 0;   // local clock: refresh from here on
    qint64 m_accessExpiryMs = 0; // local clock, skew-corrected
    bool m_accessBound = false;
    qint64 m_skewMs = 0;

    bool m_refreshing = false;
    QList<TokenCallback> m_waiters;
    // Callers of refreshes that were rejected, told once the rejected token is removed.
    struct RejectionWaiter
    {
        quint64 rejection;
        TokenCallback callback;
    };
    QList<RejectionWaiter> m_rejectionWaiters;
    quint64 m_rejections = 0;
    // Set by abandon(): every later caller gets it at once.
    Error m_ended;
    QTimer m_refreshTimer;
    QTimer m_retryTimer;
    Backoff m_backoff;
    // The lock of m_lockKey's account. Shared: a rejected token's removal keeps the lock it
    // started under until it is done, even if the session signs in as someone else meanwhile.
    std::shared_ptr<CrossProcessLock> m_lock;
    QString m_lockKey;
    int m_refreshCount = 0;
    // Bumped by reset() and a rejection: answers and storage completions of an older
    // generation are ignored.
    quint64 m_generation = 0;
};

} // namespace Tessera
