// SPDX-License-Identifier: MIT
// Private: the state machine behind Tessera::Session. Never installed.
#pragma once

#include "crossprocesslock_p.h"
#include "securestore_p.h"
#include "tokenresponse_p.h"

#include <tessera/session.h>

#include <QtCore/QPointer>
#include <QtCore/QTimer>
#include <QtNetwork/QNetworkAccessManager>

#include <functional>
#include <memory>
#include <optional>

namespace Tessera {

// Exported only for the tests, which drive it through its private API.
class TESSERA_SDK_EXPORT SessionPrivate : public QObject
{
    Q_OBJECT
public:
    // Called with the token (valid only during the call) or, when none can be
    // had, with a null pointer and the reason.
    using TokenCallback = std::function<void(const Secret *token, const Error &error)>;

    SessionPrivate(Session *q, const SessionConfig &config,
                   std::unique_ptr<Platform::SecureStore> store);
    ~SessionPrivate() override;

    static SessionPrivate *get(Session *session) { return session->d.get(); }

    // For tests: replace the secure store (e.g. one that fails writes).
    void setStoreForTesting(std::unique_ptr<Platform::SecureStore> store);
    Platform::SecureStore *store() const { return m_store.get(); }

    // Single flight: every caller that needs a fresh token waits on one refresh.
    void withFreshToken(TokenCallback callback);
    // A request carrying `usedToken` was answered 401: refresh once unless a
    // newer token already exists, then hand that out.
    void tokenRejected(QByteArrayView usedToken, TokenCallback callback);

    void login(const QString &username, const QString &password);
    void restore(const QString &username);
    void logout();

    // Tests: forget the access token (the next request must refresh), or refresh now.
    void expireAccessTokenForTesting()
    {
        m_accessToken.clear();
        m_refreshDueMs = 0;
    }
    void refreshNowForTesting() { startRefresh(); }

    const SessionConfig &config() const { return m_config; }
    QNetworkAccessManager *network() { return &m_network; }

    Session *q;
    Session::State m_state = Session::State::SignedOut;
    QString m_user;
    QDateTime m_accessExpiresAt;
    Error m_lastError;
    int m_refreshCount = 0;
    bool m_logoutInFlight = false;

private:
    enum class RefreshOutcome { Rotated, Rejected, Failed };

    bool usesSecureStorage() const;
    QString accountPointerKey() const;
    bool hasUsableAccessToken() const;

    void setState(Session::State state);
    void setUser(const QString &user);
    void setAccessExpiry(const QDateTime &expiresAt);
    void reportError(const Error &error);
    // `reported`: the error was already emitted through errorOccurred.
    void finish(Session::Operation operation, const Error &error, bool reported = false);
    // finish() from the event loop: for operations refused before they started.
    void finishLater(Session::Operation operation, const Error &error);
    void updateBusy(bool wasBusy);
    bool computeBusy() const;

    QNetworkReply *postJson(const QString &path, const QJsonObject &body);
    Error httpError(QNetworkReply *reply, const ServerProblem &problem, const QString &what) const;
    // When the access token of a response can be used (local clock, skew-corrected);
    // nullopt and `problem` for one that is expired on arrival or whose iat is absurd.
    struct AccessTiming
    {
        qint64 skewMs = 0;
        qint64 expiryMs = 0;
        qint64 refreshDueMs = 0;
    };
    std::optional<AccessTiming> accessTiming(const TokenResponse &response, QString *problem) const;
    // Takes the access token into memory and schedules the next refresh.
    void adoptAccessToken(TokenResponse &response, const AccessTiming &timing);

    void startRefresh();
    void refreshWithLock(bool locked);
    void sendRefresh();
    void onRefreshReply(QNetworkReply *reply, quint64 generation);
    void completeRefresh(RefreshOutcome outcome, const Error &error);
    void scheduleRetry();
    void enterReauthRequired(const Error &error);
    void failWaiters(const Error &error);
    void runPendingLogout();
    void wipeTokens();
    // Fire-and-forget revoke of a session nobody will be able to resume.
    void revokeBestEffort(QByteArrayView refreshToken);

    SessionConfig m_config;
    Error m_configError;
    std::unique_ptr<Platform::SecureStore> m_store;
    QNetworkAccessManager m_network;
    std::unique_ptr<CrossProcessLock> m_lock;

    Secret m_refreshToken;
    // SHA-256 of the refresh token last written to or read from storage: tells a token
    // another process rotated from one our own failed write left behind.
    QByteArray m_storedDigest;
    Secret m_accessToken;
    qint64 m_refreshDueMs = 0;   // local clock: refresh from here on
    qint64 m_accessExpiryMs = 0; // local clock, skew-corrected

    bool m_refreshing = false;
    bool m_pendingLogout = false;
    QList<TokenCallback> m_waiters;
    QTimer m_refreshTimer;
    QTimer m_retryTimer;
    int m_retryAttempt = 0;
    // Bumped by login and logout: replies and storage completions of an older
    // generation are ignored.
    quint64 m_generation = 0;
    bool m_busy = false;
};

} // namespace Tessera
