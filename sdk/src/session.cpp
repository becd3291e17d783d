// SPDX-License-Identifier: MIT
#include "session_p.h"

#include "logging_p.h"
#include "transport_p.h"

#include <QtCore/QCryptographicHash>
#include <QtCore/QDateTime>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QPromise>
#include <QtCore/QRandomGenerator>

Q_LOGGING_CATEGORY(lcSession, "tessera.session", QtWarningMsg)
Q_LOGGING_CATEGORY(lcNetwork, "tessera.network", QtWarningMsg)

namespace Tessera {
namespace {

qint64 nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

int httpStatus(QNetworkReply *reply)
{
    return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
}

Error storageError(const Platform::StoreResult &result, const QString &what)
{
    using Status = Platform::StoreResult::Status;
    const QString message = QStringLiteral("%1: %2").arg(what, result.message);
    switch (result.status) {
    case Status::Ok:
        return {};
    case Status::Unavailable:
        return {Error::Code::StorageUnavailable, message};
    case Status::Locked:
        return {Error::Code::StorageLocked, message};
    case Status::AccessDenied:
        return {Error::Code::StorageAccessDenied, message};
    case Status::TooLarge:
        return {Error::Code::StorageTooLarge, message};
    case Status::NotFound:
    case Status::Other:
        break;
    }
    return {Error::Code::StorageFailure, message};
}

constexpr qint64 MaxBackoffMs = 60000;
constexpr qint64 MaxTrustedSkewMs = 366LL * 24 * 3600 * 1000;
constexpr qint64 MinUsableLifetimeMs = 2000;

// RFC 6749 5.1: a token response is application/json. Anything else (an HTML error
// page of a proxy, a captive portal) is not a token response, whatever it contains.
bool isJsonResponse(QNetworkReply *reply)
{
    const QByteArray type = reply->rawHeader("Content-Type");
    const qsizetype parameters = type.indexOf(';');
    const QByteArray mediaType = parameters < 0 ? type : type.first(parameters);
    return mediaType.trimmed().toLower() == "application/json";
}

// parseTokenResponse() for a reply that must also be application/json.
std::optional<TokenResponse> parseTokenReply(QNetworkReply *reply, QByteArrayView body,
                                             bool refreshRequired, qint64 serverNow,
                                             QString *problem)
{
    if (!isJsonResponse(reply)) {
        *problem = QStringLiteral("not application/json");
        return std::nullopt;
    }
    return parseTokenResponse(body, refreshRequired, serverNow, problem);
}

QByteArray digestOf(QByteArrayView token)
{
    return QCryptographicHash::hash(token, QCryptographicHash::Sha256);
}

} // namespace

// --- Session -----------------------------------------------------------------

Session::Session(const SessionConfig &config, QObject *parent)
    : QObject(parent)
{
    std::unique_ptr<Platform::SecureStore> store;
    if (config.storagePolicy() == SessionConfig::StoragePolicy::SecureStorage)
        store = Platform::createKeychainStore(config.storageService());
    else
        store = Platform::createMemoryStore();
    d = std::make_unique<SessionPrivate>(this, config, std::move(store));
}

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
    return d->m_refreshCount;
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

// --- SessionPrivate ----------------------------------------------------------

SessionPrivate::SessionPrivate(Session *session, const SessionConfig &config,
                               std::unique_ptr<Platform::SecureStore> store)
    : q(session)
    , m_config(config)
    , m_store(std::move(store))
{
    m_configError = m_config.validate();
    // The session's own requests never use a cookie jar or a disk cache.
    m_network.setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
    m_refreshTimer.setSingleShot(true);
    m_retryTimer.setSingleShot(true);
    connect(&m_refreshTimer, &QTimer::timeout, this, [this] {
        if (m_state == Session::State::SignedIn) {
            qCDebug(lcSession) << "proactive refresh before the access token expires";
            startRefresh();
        }
    });
    connect(&m_retryTimer, &QTimer::timeout, this, [this] {
        if (m_state == Session::State::SignedIn && !m_refreshToken.isEmpty())
            startRefresh();
    });
}

SessionPrivate::~SessionPrivate()
{
    m_waiters.clear();
}

void SessionPrivate::setStoreForTesting(std::unique_ptr<Platform::SecureStore> store)
{
    m_store = std::move(store);
}

bool SessionPrivate::usesSecureStorage() const
{
    return m_config.storagePolicy() == SessionConfig::StoragePolicy::SecureStorage;
}

QString SessionPrivate::accountPointerKey() const
{
    // Names the account last signed in for this app and server, so restore()
    // needs no username; holds the user name, never a token.
    return m_config.storageKey(QString()) + QStringLiteral("#account");
}

bool SessionPrivate::hasUsableAccessToken() const
{
    return !m_accessToken.isEmpty() && nowMs() < m_refreshDueMs;
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
    // Fix (tests/session): login()/restore() refused up front used to emit finished()
    // from inside the call, before a caller that connects afterwards (or an app that
    // calls QCoreApplication::exit() from the slot before exec()) could see it. The
    // operation is asynchronous, so its completion always is, too.
    QTimer::singleShot(0, this, [this, operation, error] { finish(operation, error); });
}

QNetworkReply *SessionPrivate::postJson(const QString &path, const QJsonObject &body)
{
    QNetworkRequest request(m_config.endpoint(path));
    Transport::prepareRequest(request, m_config);
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    request.setRawHeader("Accept", "application/json");
    QByteArray payload = QJsonDocument(body).toJson(QJsonDocument::Compact);
    QNetworkReply *reply = m_network.post(request, payload);
    // Best effort: drop our copy of a body that may hold a password or token.
    payload.fill('\0');
    Transport::watchReply(reply, m_config, MaxTokenResponseBytes);
    return reply;
}

Error SessionPrivate::httpError(QNetworkReply *reply, const ServerProblem &problem,
                                const QString &what) const
{
    const Error transport = Transport::replyError(reply);
    if (transport.isError())
        return transport;
    const int status = httpStatus(reply);
    if (status == 429) {
        const QByteArray retryAfter = reply->rawHeader("Retry-After");
        return {Error::Code::RateLimited,
                QStringLiteral("%1: too many attempts, retry in %2 s")
                        .arg(what,
                             retryAfter.isEmpty() ? QStringLiteral("a few")
                                                  : QString::fromLatin1(retryAfter.left(8))),
                problem.code};
    }
    if (status >= 500)
        return {Error::Code::ServerError,
                QStringLiteral("%1: server error %2").arg(what).arg(status), problem.code};
    return {Error::Code::ServerError,
            QStringLiteral("%1: unexpected HTTP status %2").arg(what).arg(status), problem.code};
}

std::optional<SessionPrivate::AccessTiming>
SessionPrivate::accessTiming(const TokenResponse &response, QString *problem) const
{
    // Clock skew: the server's Date header (or the token's iat) against our clock
    // at arrival, so exp is compared with a clock that agrees with the server's.
    const qint64 arrival = response.arrivalMs;
    AccessTiming timing;
    if (response.serverDate) {
        timing.skewMs = response.serverDate->toMSecsSinceEpoch() - arrival;
    } else if (response.claims.issuedAt) {
        timing.skewMs = *response.claims.issuedAt * 1000 - arrival;
        // A clock a year off is not skew; an iat of 0 would make any exp look fresh.
        if (qAbs(timing.skewMs) > MaxTrustedSkewMs) {
            *problem = QStringLiteral("access token iat is implausible");
            return std::nullopt;
        }
    }
    // Ignore sub-second noise from whole-second timestamps.
    if (qAbs(timing.skewMs) < 1500)
        timing.skewMs = 0;
    const qint64 remainingMs = response.claims.expiresAt * 1000 - (arrival + timing.skewMs);
    // A token that is (nearly) expired on arrival would be refreshed again at once,
    // and again: refuse it instead of looping.
    if (remainingMs < MinUsableLifetimeMs) {
        *problem = QStringLiteral("access token is expired on arrival");
        return std::nullopt;
    }
    // The lead is taken from what is left, not from exp - iat: SimpleJWT's refreshed
    // tokens can carry an old iat, and a lead longer than what is left would loop.
    const qint64 configuredLeadMs = qint64(m_config.refreshLead().count()) * 1000;
    const qint64 leadMs = qMin(qMax(configuredLeadMs, remainingMs / 5), remainingMs / 2);
    timing.expiryMs = response.claims.expiresAt * 1000 - timing.skewMs;
    timing.refreshDueMs = timing.expiryMs - leadMs;
    return timing;
}

void SessionPrivate::adoptAccessToken(TokenResponse &response, const AccessTiming &timing)
{
    m_accessExpiryMs = timing.expiryMs;
    m_refreshDueMs = timing.refreshDueMs;
    m_accessToken = std::move(response.access);
    if (timing.skewMs != 0)
        qCInfo(lcSession) << "server clock differs by" << timing.skewMs / 1000
                          << "s; expiry corrected";
    setAccessExpiry(QDateTime::fromMSecsSinceEpoch(m_accessExpiryMs, Qt::UTC));
    m_refreshTimer.start(
            int(qBound<qint64>(qint64(0), m_refreshDueMs - nowMs(), qint64(24) * 3600 * 1000)));
}

void SessionPrivate::revokeBestEffort(QByteArrayView refreshToken)
{
    if (m_config.revokePath().isEmpty() || refreshToken.isEmpty())
        return;
    QNetworkReply *reply = postJson(
            m_config.revokePath(),
            {{QStringLiteral("refresh"), QString::fromLatin1(refreshToken.toByteArray())}});
    connect(reply, &QNetworkReply::finished, reply, &QObject::deleteLater);
}

void SessionPrivate::wipeTokens()
{
    m_refreshToken.clear();
    m_storedDigest.clear();
    m_accessToken.clear();
    m_refreshDueMs = 0;
    m_accessExpiryMs = 0;
    m_refreshTimer.stop();
    m_retryTimer.stop();
    m_retryAttempt = 0;
    setAccessExpiry(QDateTime());
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
    wipeTokens();
    setState(Session::State::SigningIn);
    qCInfo(lcSession) << "login started";
    QNetworkReply *reply = postJson(
            m_config.obtainPath(),
            {{QStringLiteral("username"), username}, {QStringLiteral("password"), password}});
    connect(reply, &QNetworkReply::finished, this, [this, reply, generation, username] {
        reply->deleteLater();
        if (generation != m_generation)
            return;
        const QByteArray body = reply->readAll();
        const int status = httpStatus(reply);
        auto fail = [this](const Error &error) {
            wipeTokens();
            setState(Session::State::SignedOut);
            finish(Session::Operation::Login, error);
        };
        // Fix (tests/security): a cut, a timeout or the size cap after a 200 status
        // line is the transport's error, not an "unusable token response".
        const bool transportFailed = Transport::replyError(reply).isError();
        if (!transportFailed && (status == 400 || status == 401 || status == 403)) {
            const ServerProblem problem = parseServerProblem(body);
            return fail({Error::Code::InvalidCredentials,
                         QStringLiteral("the server refused the username or password"),
                         problem.code});
        }
        if (transportFailed || status != 200)
            return fail(httpError(reply, parseServerProblem(body), QStringLiteral("login")));
        QString problem;
        const qint64 serverNow = nowMs() / 1000 + 60; // only a plausibility bound
        auto response = parseTokenReply(reply, body, true, serverNow, &problem);
        std::optional<AccessTiming> timing;
        if (response) {
            response->arrivalMs = nowMs();
            response->serverDate = Transport::serverDate(reply);
            timing = accessTiming(*response, &problem);
        }
        if (!response || !timing)
            return fail({Error::Code::ServerError,
                         QStringLiteral("login: unusable token response (%1)").arg(problem)});

        // Persist first: the session is SignedIn only once the refresh token is stored.
        auto tokens = std::make_shared<TokenResponse>(std::move(*response));
        auto accept = [this, tokens, username, timing = *timing] {
            m_storedDigest = digestOf(tokens->refresh.reveal());
            m_refreshToken = std::move(tokens->refresh);
            setUser(username);
            adoptAccessToken(*tokens, timing);
            setState(Session::State::SignedIn);
            qCInfo(lcSession) << "login succeeded";
            finish(Session::Operation::Login, {});
        };
        m_store->write(m_config.storageKey(username), tokens->refresh.reveal().toByteArray(),
                       [this, generation, tokens, username, accept,
                        fail](const Platform::StoreResult &result) {
                           if (generation != m_generation)
                               return;
                           if (!result.ok()) {
                               // Nobody could resume this server-side session:
                               // revoke it rather than leave it dangling.
                               revokeBestEffort(tokens->refresh.reveal());
                               return fail(storageError(
                                       result, QStringLiteral("cannot store the refresh token")));
                           }
                           // The account pointer is a convenience for restore(); a
                           // failure there does not undo the login.
                           m_store->write(accountPointerKey(), username.toUtf8(),
                                          [this, generation,
                                           accept](const Platform::StoreResult &pointer) {
                                              if (generation != m_generation)
                                                  return;
                                              if (!pointer.ok())
                                                  qCWarning(lcSession)
                                                          << "cannot remember the account:"
                                                          << pointer.message;
                                              accept();
                                          });
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
    if (!usesSecureStorage())
        return finishLater(Session::Operation::Restore,
                           {Error::Code::NotSignedIn,
                            QStringLiteral("memory-only sessions cannot be restored")});

    const quint64 generation = ++m_generation;
    setState(Session::State::SigningIn);
    auto readToken = [this, generation](const QString &account) {
        m_store->read(
                m_config.storageKey(account),
                [this, generation, account](const Platform::StoreResult &result) {
                    if (generation != m_generation)
                        return;
                    if (result.status == Platform::StoreResult::Status::NotFound) {
                        setState(Session::State::SignedOut);
                        return finish(
                                Session::Operation::Restore,
                                {Error::Code::NotSignedIn, QStringLiteral("no stored session")});
                    }
                    if (!result.ok()) {
                        setState(Session::State::SignedOut);
                        return finish(
                                Session::Operation::Restore,
                                storageError(result,
                                             QStringLiteral("cannot read the stored session")));
                    }
                    m_refreshToken = Secret(result.data);
                    m_storedDigest = digestOf(result.data);
                    setUser(account);
                    setState(Session::State::SignedIn);
                    qCInfo(lcSession) << "restored a stored session; refreshing";
                    // A failed refresh has reported its error already: one
                    // errorOccurred per error.
                    withFreshToken([this](const Secret *token, const Error &error) {
                        finish(Session::Operation::Restore, token ? Error() : error, true);
                    });
                });
    };
    if (!username.isEmpty())
        return readToken(username);
    m_store->read(
            accountPointerKey(),
            [this, generation, readToken](const Platform::StoreResult &result) {
                if (generation != m_generation)
                    return;
                if (result.ok() && !result.data.isEmpty())
                    return readToken(QString::fromUtf8(result.data));
                setState(Session::State::SignedOut);
                if (result.status == Platform::StoreResult::Status::NotFound)
                    return finish(Session::Operation::Restore,
                                  {Error::Code::NotSignedIn, QStringLiteral("no stored session")});
                finish(Session::Operation::Restore,
                       storageError(result, QStringLiteral("cannot read the stored session")));
            });
}

// --- fresh tokens and refresh ------------------------------------------------

void SessionPrivate::withFreshToken(TokenCallback callback)
{
    if (m_configError.isError())
        return callback(nullptr, m_configError);
    if (hasUsableAccessToken() && !m_refreshing)
        return callback(&m_accessToken, {});
    if (m_refreshToken.isEmpty() || m_logoutInFlight || m_pendingLogout) {
        const Error error = m_state == Session::State::ReauthRequired
                ? Error(Error::Code::SessionRejected, QStringLiteral("sign in again"))
                : Error(Error::Code::NotSignedIn, QStringLiteral("not signed in"));
        return callback(nullptr, error);
    }
    // Fix (tests/security): while a transient failure is backed off from, callers do
    // not start refreshes of their own (an app polling every 250 ms flooded a failing
    // server): a token that is due but not expired is still good; else the caller
    // waits for the scheduled retry and gets its outcome.
    if (m_retryTimer.isActive() && !m_refreshing) {
        if (!m_accessToken.isEmpty() && nowMs() < m_accessExpiryMs)
            return callback(&m_accessToken, {});
        m_waiters.append(std::move(callback));
        return;
    }
    m_waiters.append(std::move(callback));
    startRefresh();
}

void SessionPrivate::tokenRejected(QByteArrayView usedToken, TokenCallback callback)
{
    // Another request may already have refreshed: then use the newer token.
    if (!m_accessToken.isEmpty() && !m_accessToken.equals(usedToken))
        return withFreshToken(std::move(callback));
    qCInfo(lcSession) << "the server refused the access token; refreshing once";
    m_accessToken.clear();
    m_refreshDueMs = 0;
    withFreshToken(std::move(callback));
}

void SessionPrivate::startRefresh()
{
    if (m_refreshing || m_refreshToken.isEmpty())
        return;
    m_refreshing = true;
    m_retryTimer.stop();
    m_refreshTimer.stop();
    setState(Session::State::Refreshing);
    if (!usesSecureStorage())
        return sendRefresh();
    if (!m_lock)
        m_lock = std::make_unique<CrossProcessLock>(m_config.storageKey(m_user), this);
    const quint64 generation = m_generation;
    m_lock->acquire([this, generation](bool locked) {
        if (generation != m_generation)
            return;
        refreshWithLock(locked);
    });
}

void SessionPrivate::refreshWithLock(bool locked)
{
    Q_UNUSED(locked);
    // Another process of this app and account may have rotated the token while
    // we waited: re-read storage rather than spend a token it already spent.
    const quint64 generation = m_generation;
    m_store->read(
            m_config.storageKey(m_user), [this, generation](const Platform::StoreResult &result) {
                if (generation != m_generation)
                    return;
                // Fix (tests/session): storage can also differ because our own write of
                // a rotated token failed (the token then lives in memory only). Storage
                // still holding what we last stored or read means nobody else rotated:
                // keep the newer token in memory instead of spending the dead one.
                if (result.ok() && !result.data.isEmpty() && !m_refreshToken.equals(result.data)
                    && digestOf(result.data) == m_storedDigest) {
                    qCInfo(lcSession) << "storage still holds an older refresh token (a write "
                                         "failed); using the newer one in memory";
                } else if (result.ok() && !result.data.isEmpty()
                           && !m_refreshToken.equals(result.data)) {
                    qCInfo(lcSession)
                            << "another process rotated the refresh token; using the stored one";
                    m_refreshToken = Secret(result.data);
                    m_storedDigest = digestOf(result.data);
                } else if (!result.ok()
                           && result.status != Platform::StoreResult::Status::NotFound) {
                    qCWarning(lcSession)
                            << "cannot re-read the stored refresh token:" << result.message;
                }
                sendRefresh();
            });
}

void SessionPrivate::sendRefresh()
{
    const quint64 generation = m_generation;
    qCDebug(lcSession) << "refresh request sent";
    QNetworkReply *reply =
            postJson(m_config.refreshPath(),
                     {{QStringLiteral("refresh"), QString::fromLatin1(m_refreshToken.reveal())}});
    connect(reply, &QNetworkReply::finished, this,
            [this, reply, generation] { onRefreshReply(reply, generation); });
}

void SessionPrivate::onRefreshReply(QNetworkReply *reply, quint64 generation)
{
    reply->deleteLater();
    if (generation != m_generation)
        return;
    const QByteArray body = reply->readAll();
    const int status = httpStatus(reply);
    const ServerProblem problem = parseServerProblem(body);
    const Error transport = Transport::replyError(reply);
    if (!transport.isError() && (status == 400 || status == 401 || status == 403)) {
        return completeRefresh(RefreshOutcome::Rejected,
                               {Error::Code::SessionRejected,
                                QStringLiteral("the server rejected the session (revoked, "
                                               "expired or reused); sign in again"),
                                problem.code});
    }
    if (transport.isError() || status != 200)
        return completeRefresh(RefreshOutcome::Failed,
                               httpError(reply, problem, QStringLiteral("refresh")));

    QString parseProblem;
    auto response = parseTokenReply(reply, body, false, nowMs() / 1000 + 24 * 3600, &parseProblem);
    if (!response)
        // Possibly truncated after the server rotated: keep the old token; the
        // server's grace window hands the new one out again on retry.
        return completeRefresh(
                RefreshOutcome::Failed,
                {Error::Code::ServerError,
                 QStringLiteral("refresh: unusable token response (%1)").arg(parseProblem)});

    auto tokens = std::make_shared<TokenResponse>(std::move(*response));
    tokens->arrivalMs = nowMs();
    tokens->serverDate = Transport::serverDate(reply);
    // A well-formed rotation whose access token cannot be used (expired on arrival):
    // the new refresh token is still kept (the old one is spent), the access token is
    // not, and the failure is retried with backoff like any other server error.
    const std::optional<AccessTiming> timing = accessTiming(*tokens, &parseProblem);
    const Error unusableAccess = timing
            ? Error()
            : Error(Error::Code::ServerError,
                    QStringLiteral("refresh: unusable access token (%1)").arg(parseProblem));
    auto apply = [this, tokens, timing, unusableAccess](const Error &storageFailure) {
        if (!tokens->refresh.isEmpty())
            m_refreshToken = std::move(tokens->refresh);
        if (!timing) {
            if (storageFailure.isError())
                reportError(storageFailure);
            return completeRefresh(RefreshOutcome::Failed, unusableAccess);
        }
        adoptAccessToken(*tokens, *timing);
        ++m_refreshCount;
        emit q->refreshCountChanged();
        if (storageFailure.isError())
            reportError(storageFailure);
        completeRefresh(RefreshOutcome::Rotated, {});
    };
    if (tokens->refresh.isEmpty() || m_refreshToken.equals(tokens->refresh.reveal())) {
        return apply({});
    }
    // Rotation: the new refresh token reaches storage before the new access
    // token is used. If the write fails, the new token stays in memory (the old
    // one is dead on the server) and the failure is reported, never swallowed.
    const QByteArray rotatedDigest = digestOf(tokens->refresh.reveal());
    m_store->write(m_config.storageKey(m_user), tokens->refresh.reveal().toByteArray(),
                   [this, generation, apply, rotatedDigest](const Platform::StoreResult &result) {
                       if (generation != m_generation)
                           return;
                       if (result.ok())
                           m_storedDigest = rotatedDigest;
                       apply(result.ok() ? Error()
                                         : storageError(result,
                                                        QStringLiteral("the rotated refresh token "
                                                                       "is held in memory only")));
                   });
}

void SessionPrivate::completeRefresh(RefreshOutcome outcome, const Error &error)
{
    m_refreshing = false;
    // A rejected token is removed from storage under the lock (enterReauthRequired),
    // so another instance cannot store its fresh token in between and lose it.
    if (m_lock && outcome != RefreshOutcome::Rejected)
        m_lock->release();
    switch (outcome) {
    case RefreshOutcome::Rotated: {
        m_retryAttempt = 0;
        setState(Session::State::SignedIn);
        qCInfo(lcSession) << "refresh succeeded";
        auto waiters = std::move(m_waiters);
        m_waiters.clear();
        for (auto &waiter : waiters)
            waiter(&m_accessToken, {});
        break;
    }
    case RefreshOutcome::Rejected:
        enterReauthRequired(error);
        break;
    case RefreshOutcome::Failed:
        setState(Session::State::SignedIn);
        reportError(error);
        failWaiters(error);
        if (error.isTransient())
            scheduleRetry();
        break;
    }
    runPendingLogout();
}

void SessionPrivate::scheduleRetry()
{
    // Exponential backoff with jitter (0.5x to 1.5x), capped at a minute.
    const qint64 base = qMin<qint64>(MaxBackoffMs, 1000LL << qMin(m_retryAttempt, 6));
    const qint64 delay = base / 2 + qint64(QRandomGenerator::global()->bounded(quint32(base)));
    ++m_retryAttempt;
    qCInfo(lcSession) << "refresh failed transiently; retrying in" << delay << "ms";
    m_retryTimer.start(int(qMin(delay, MaxBackoffMs)));
}

void SessionPrivate::enterReauthRequired(const Error &error)
{
    qCWarning(lcSession) << "the server rejected the refresh token: re-authentication required";
    const QByteArray rejectedDigest = digestOf(m_refreshToken.reveal());
    wipeTokens();
    const quint64 generation = ++m_generation;
    setState(Session::State::ReauthRequired);
    QPointer<CrossProcessLock> lock = m_lock.get();
    auto releaseLock = [this, lock] {
        // A refresh started since (after a new login) holds the lock itself now.
        if (lock && !m_refreshing)
            lock->release();
    };
    if (!usesSecureStorage()) {
        releaseLock();
        reportError(error);
        return failWaiters(error);
    }
    // A rejected token is useless: remove it so the next start does not retry it.
    // Fix (tests/session): the error is reported and the waiting callers (restore(),
    // requests) complete only once the entry is gone. Before, the remove raced with an
    // app that quits when restore() fails, and the dead token stayed in storage.
    // Only the rejected token is removed: if storage holds another one (an instance
    // that signed in again, or rotated while our lock wait timed out), it stays.
    QList<TokenCallback> waiters = std::move(m_waiters);
    m_waiters.clear();
    const QString key = m_config.storageKey(m_user);
    auto finish = [this, error, generation, waiters, releaseLock] {
        releaseLock();
        if (generation == m_generation)
            reportError(error);
        for (const TokenCallback &waiter : waiters)
            waiter(nullptr, error);
    };
    m_store->read(key, [this, key, rejectedDigest, finish](const Platform::StoreResult &read) {
        if (read.ok() && !read.data.isEmpty() && digestOf(read.data) != rejectedDigest) {
            qCInfo(lcSession) << "storage holds a different refresh token than the rejected "
                                 "one (another instance); kept";
            return finish();
        }
        m_store->remove(key, [finish](const Platform::StoreResult &result) {
            if (!result.ok() && result.status != Platform::StoreResult::Status::NotFound)
                qCWarning(lcSession) << "cannot delete the rejected token:" << result.message;
            finish();
        });
    });
}

void SessionPrivate::failWaiters(const Error &error)
{
    auto waiters = std::move(m_waiters);
    m_waiters.clear();
    for (auto &waiter : waiters)
        waiter(nullptr, error);
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
    if (m_refreshing) {
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
    Secret refresh = std::move(m_refreshToken);
    const QString account = m_user;
    wipeTokens();
    failWaiters({Error::Code::NotSignedIn, QStringLiteral("signed out")});
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
    if (!refresh.isEmpty() && !m_config.revokePath().isEmpty() && !m_configError.isError()) {
        ++progress->pending;
        QNetworkReply *reply =
                postJson(m_config.revokePath(),
                         {{QStringLiteral("refresh"), QString::fromLatin1(refresh.reveal())}});
        connect(reply, &QNetworkReply::finished, this, [this, reply, progress, stepDone] {
            reply->deleteLater();
            const int status = httpStatus(reply);
            const Error transport = Transport::replyError(reply);
            // 401: the server no longer knows the token, so it is revoked already.
            if (transport.isError() || (status != 200 && status != 401)) {
                const Error cause = httpError(reply, parseServerProblem(reply->readAll()),
                                              QStringLiteral("revoke"));
                progress->revokeError = {Error::Code::RevokeFailed,
                                         QStringLiteral("signed out locally, but the server could "
                                                        "not revoke the session: %1")
                                                 .arg(cause.message())};
            }
            stepDone();
        });
    } else if (!refresh.isEmpty() && m_config.revokePath().isEmpty()) {
        progress->revokeError = {Error::Code::RevokeFailed,
                                 QStringLiteral("signed out locally; the server has no revoke "
                                                "endpoint configured")};
    }
    if (usesSecureStorage() && !account.isEmpty()) {
        progress->pending += 2;
        auto removed = [progress, stepDone](const Platform::StoreResult &result) {
            if (!result.ok() && result.status != Platform::StoreResult::Status::NotFound)
                progress->storageError = storageError(result,
                                                      QStringLiteral("cannot delete the "
                                                                     "stored session"));
            stepDone();
        };
        m_store->remove(m_config.storageKey(account), removed);
        m_store->remove(accountPointerKey(), removed);
    }
    refresh.clear();
    QTimer::singleShot(0, this, stepDone);
}

} // namespace Tessera
