// SPDX-License-Identifier: MIT
#include "singleflightrefresher_p.h"

#include "credentialvault_p.h"
#include "crossprocesslock_p.h"
#include "logging_p.h"
#include "tokenendpoint_p.h"

#include <tessera/sessionconfig.h>

namespace Tessera {

SingleFlightRefresher::SingleFlightRefresher(const SessionConfig &config, TokenEndpoint *endpoint,
                                             CredentialVault *vault, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_endpoint(endpoint)
    , m_vault(vault)
{
    m_refreshTimer.setSingleShot(true);
    m_retryTimer.setSingleShot(true);
    connect(&m_refreshTimer, &QTimer::timeout, this, [this] {
        qCDebug(lcSession) << "proactive refresh before the access token expires";
        startRefresh();
    });
    connect(&m_retryTimer, &QTimer::timeout, this, &SingleFlightRefresher::startRefresh);
}

SingleFlightRefresher::~SingleFlightRefresher()
{
    // The session told every waiting caller first (abandon()). A lock still shared with a
    // pending removal must not call back into us.
    if (m_lock)
        m_lock->release();
}

void SingleFlightRefresher::setAccount(const QString &account)
{
    m_account = account;
}

void SingleFlightRefresher::adoptAccessToken(TokenResponse &response, const AccessTiming &timing)
{
    m_accessExpiryMs = timing.expiryMs;
    m_refreshDueMs = timing.refreshDueMs;
    m_accessToken = std::move(response.access);
    m_accessBound = response.dpopBound;
    m_skewMs = timing.skewMs;
    if (timing.skewMs != 0)
        qCInfo(lcSession) << "server clock differs by" << timing.skewMs / 1000
                          << "s; expiry corrected";
    emit accessExpiryChanged(QDateTime::fromMSecsSinceEpoch(m_accessExpiryMs, Qt::UTC));
    m_refreshTimer.start(
            int(qBound<qint64>(qint64(0), m_refreshDueMs - nowMs(), qint64(24) * 3600 * 1000)));
}

void SingleFlightRefresher::forgetAccessToken()
{
    m_accessToken.clear();
    m_accessBound = false;
    m_refreshDueMs = 0;
    m_accessExpiryMs = 0;
    m_refreshTimer.stop();
    m_retryTimer.stop();
    m_backoff.reset();
    emit accessExpiryChanged(QDateTime());
}

void SingleFlightRefresher::releaseLock()
{
    if (m_lock)
        m_lock->release(); // also stops waiting for it
}

void SingleFlightRefresher::reset(const Error &waitersError)
{
    ++m_generation;
    const bool abandoned = m_refreshing;
    if (abandoned) {
        qCDebug(lcSession) << "refresh abandoned";
        m_refreshing = false;
        releaseLock();
    }
    forgetAccessToken();
    failWaiters(waitersError);
    if (abandoned)
        emit refreshDone();
}

void SingleFlightRefresher::abandon(const Error &error)
{
    ++m_generation;
    m_ended = error;
    m_refreshTimer.stop();
    m_retryTimer.stop();
    if (m_refreshing) {
        m_refreshing = false;
        releaseLock();
    }
    failWaiters(error);
    const QList<RejectionWaiter> rejectionWaiters = std::move(m_rejectionWaiters);
    m_rejectionWaiters.clear();
    for (const RejectionWaiter &waiter : rejectionWaiters)
        waiter.callback(nullptr, error);
}

bool SingleFlightRefresher::hasUsableAccessToken() const
{
    return !m_refreshing && !m_accessToken.isEmpty() && nowMs() < m_refreshDueMs;
}

const Secret *SingleFlightRefresher::tokenAtHand() const
{
    if (m_ended.isError())
        return nullptr;
    if (hasUsableAccessToken())
        return &m_accessToken;
    // During a backoff, a token that is due but not expired is still good.
    if (m_retryTimer.isActive() && !m_refreshing && !m_accessToken.isEmpty()
        && nowMs() < m_accessExpiryMs)
        return &m_accessToken;
    return nullptr;
}

Secret SingleFlightRefresher::unexpiredAccessToken() const
{
    if (m_accessToken.isEmpty() || nowMs() >= m_accessExpiryMs)
        return {};
    return m_accessToken.clone();
}

void SingleFlightRefresher::withFreshToken(TokenCallback callback)
{
    if (m_ended.isError())
        return callback(nullptr, m_ended);
    if (const Secret *token = tokenAtHand())
        return callback(token, {});
    m_waiters.append(std::move(callback));
    // During a backoff callers wait for the scheduled retry.
    if (!m_retryTimer.isActive() || m_refreshing)
        startRefresh();
}

void SingleFlightRefresher::dropRejectedAccessToken(QByteArrayView usedToken)
{
    // Another request may already have refreshed: then the newer token is used.
    if (!m_accessToken.isEmpty() && !m_accessToken.equals(usedToken))
        return;
    qCInfo(lcSession) << "the server refused the access token; refreshing once";
    m_accessToken.clear();
    m_refreshDueMs = 0;
}

void SingleFlightRefresher::expireAccessTokenForTesting()
{
    m_accessToken.clear();
    m_refreshDueMs = 0;
}

void SingleFlightRefresher::failWaiters(const Error &error)
{
    const QList<TokenCallback> waiters = std::move(m_waiters);
    m_waiters.clear();
    for (const TokenCallback &waiter : waiters)
        waiter(nullptr, error);
}

void SingleFlightRefresher::serveWaiters()
{
    // One at a time, taken from the list itself: a caller served before may sign out (reset()
    // fails the rest, so no request goes out with the token after a sign-out, and none with an
    // empty one), or have the token refused (the rest wait for the refresh that starts).
    while (!m_waiters.isEmpty() && hasUsableAccessToken()) {
        const TokenCallback waiter = m_waiters.takeFirst();
        waiter(&m_accessToken, {});
    }
    if (!m_waiters.isEmpty())
        startRefresh();
}

void SingleFlightRefresher::startRefresh()
{
    if (m_refreshing || m_vault->refreshToken().isEmpty())
        return;
    m_refreshing = true;
    m_retryTimer.stop();
    m_refreshTimer.stop();
    emit refreshStarted();
    if (!m_vault->persists())
        return sendRefresh();
    // One lock per account: after a sign-out and a sign-in as someone else, that account's.
    const QString key = m_vault->storageKey(m_account);
    if (!m_lock || m_lockKey != key) {
        m_lock = std::make_shared<CrossProcessLock>(key);
        m_lockKey = key;
    }
    const quint64 generation = m_generation;
    auto stillWanted = [this, generation] { return generation == m_generation; };
    m_lock->acquire([this, stillWanted](bool) {
        if (!stillWanted())
            return;
        m_vault->adoptNewerStoredToken(m_account, stillWanted, [this] { sendRefresh(); });
    });
}

void SingleFlightRefresher::sendRefresh()
{
    const quint64 generation = m_generation;
    qCDebug(lcSession) << "refresh request sent";
    m_endpoint->refresh(m_vault->refreshToken(), [this, generation](TokenOutcome outcome) {
        if (generation == m_generation)
            onRefreshAnswer(std::move(outcome));
    });
}

void SingleFlightRefresher::onRefreshAnswer(TokenOutcome outcome)
{
    if (outcome.kind == TokenOutcome::Kind::Rejected)
        return completeRefresh(Outcome::Rejected, outcome.error);
    if (outcome.kind == TokenOutcome::Kind::Failed)
        // Possibly cut after the server rotated: the old token is kept; the server's grace
        // window hands the new one out again on retry.
        return completeRefresh(Outcome::Failed, outcome.error);

    auto tokens = std::make_shared<TokenResponse>(std::move(outcome.tokens));
    // A well-formed rotation whose access token cannot be used (expired on arrival):
    // the new refresh token is still kept (the old one is spent), the access token is
    // not, and the failure is retried with backoff like any other server error.
    QString problem;
    const std::optional<AccessTiming> timing =
            accessTiming(*tokens, m_config.refreshLead(), &problem);
    const Error unusableAccess = timing
            ? Error()
            : Error(Error::Code::ServerError,
                    QStringLiteral("refresh: unusable access token (%1)").arg(problem));
    auto useTokens = [this, tokens, timing, unusableAccess](const Error &storageFailure) {
        if (!timing) {
            if (storageFailure.isError())
                emit storageFailed(storageFailure);
            return completeRefresh(Outcome::Failed, unusableAccess);
        }
        adoptAccessToken(*tokens, *timing);
        ++m_refreshCount;
        if (storageFailure.isError())
            emit storageFailed(storageFailure);
        completeRefresh(Outcome::Rotated, {});
    };
    if (tokens->refresh.isEmpty() || m_vault->refreshToken().equals(tokens->refresh.reveal()))
        return useTokens({}); // no rotation
    const quint64 generation = m_generation;
    m_vault->storeRotated(
            m_account, std::move(tokens->refresh),
            [this, generation] { return generation == m_generation; }, useTokens);
}

void SingleFlightRefresher::completeRefresh(Outcome outcome, const Error &error)
{
    m_refreshing = false;
    // A rejected token is removed from storage under the lock (rejectRefreshToken), so
    // another instance cannot store its fresh token in between and lose it.
    if (outcome != Outcome::Rejected)
        releaseLock();
    switch (outcome) {
    case Outcome::Rotated:
        m_backoff.reset();
        qCInfo(lcSession) << "refresh succeeded";
        emit refreshSucceeded();
        serveWaiters();
        break;
    case Outcome::Rejected:
        rejectRefreshToken(error);
        break;
    case Outcome::Failed:
        // Scheduled before anyone hears of the failure: a caller that signs out from its
        // failure handler stops the retry (reset()), and one that asks again waits for it
        // instead of sending another refresh to a failing server at once.
        if (error.isTransient())
            scheduleRetry();
        emit refreshFailed(error, !m_waiters.isEmpty());
        failWaiters(error);
        break;
    }
    emit refreshDone();
}

void SingleFlightRefresher::scheduleRetry()
{
    const qint64 delay = m_backoff.nextDelayMs();
    qCInfo(lcSession) << "refresh failed transiently; retrying in" << delay << "ms";
    m_retryTimer.start(int(delay));
}

void SingleFlightRefresher::rejectRefreshToken(const Error &error)
{
    qCWarning(lcSession) << "the server rejected the refresh token: re-authentication required";
    const QByteArray rejectedDigest = CredentialVault::digestOf(m_vault->refreshToken().reveal());
    m_vault->forget();
    ++m_generation;
    forgetAccessToken();
    const quint64 generation = m_generation;
    // The waiting callers (restore(), requests) complete only once the entry is gone, so an
    // app that quits on the error does not leave the dead token behind. Kept here, not in the
    // removal's completion, so that abandon() can still reach them.
    const quint64 rejection = ++m_rejections;
    for (TokenCallback &waiter : m_waiters)
        m_rejectionWaiters.append({rejection, std::move(waiter)});
    m_waiters.clear();
    std::shared_ptr<CrossProcessLock> lock = m_lock;
    auto settle = [this, error, generation, rejection, lock] {
        // A refresh started since (after a new login) may hold this lock itself now.
        if (lock && !(m_refreshing && lock == m_lock))
            lock->release();
        QList<TokenCallback> told;
        for (const RejectionWaiter &waiter : std::as_const(m_rejectionWaiters)) {
            if (waiter.rejection == rejection)
                told.append(waiter.callback);
        }
        m_rejectionWaiters.removeIf([rejection](const RejectionWaiter &waiter) {
            return waiter.rejection == rejection;
        });
        // Not into an operation started since (a login or restore after the rejection).
        if (generation == m_generation)
            emit rejectionSettled(error, !told.isEmpty());
        for (const TokenCallback &waiter : told)
            waiter(nullptr, error);
    };
    // A rejected token is useless: removed, so the next start does not retry it. The removal
    // starts before anyone hears of the rejection: storage work started from there (a restore,
    // a login) waits for it in the vault, and never reads the rejected token back.
    if (m_vault->persists())
        m_vault->removeIfStillStored(m_account, rejectedDigest, settle);
    emit refreshTokenRejected();
    if (!m_vault->persists())
        settle();
}

} // namespace Tessera
