// SPDX-License-Identifier: MIT
#include "loginroute.h"

#include "jsonresponses.h"
#include "logging.h"
#include "workerthreads.h"

#include <tessera/secret.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QPointer>
#include <QtCore/QSet>
#include <QtCore/QTimer>
#include <QtCore/QThread>
#include <QtNetwork/QTcpSocket>

#include <cerrno>

#include <sys/socket.h>

namespace Tessera::Server {
namespace {
constexpr qint64 DecoyRefreshMs = 10'000;

// Whether the client has reset or closed its side of the connection, asked of
// the kernel: Qt learns it only when the event loop gets to that socket, which
// during a burst of hang-ups can be after their logins were queued.
bool peerHasClosed(qintptr descriptor)
{
    if (descriptor < 0)
        return true;
    char byte;
    const ssize_t peeked = ::recv(int(descriptor), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (peeked > 0)
        return false; // more bytes to read: a pipelined request
    if (peeked == 0)
        return true; // FIN: nothing more will come, and Qt closes such a connection
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}
} // namespace

// A flood of refused logins must not become a flood of log lines (disk, and
// the operator's attention): the first refusal of a quiet period is logged as
// it is, the others are counted and summed up once per interval while they
// last.
class RefusalLog : public QObject
{
public:
    RefusalLog(QString what, std::chrono::milliseconds interval)
        : m_what(std::move(what))
    {
        m_timer.setInterval(interval);
        connect(&m_timer, &QTimer::timeout, this, [this] { flush(); });
    }

    void note(const QString &address, const QString &line)
    {
        if (!m_timer.isActive()) {
            qCWarning(lcServerAuth).noquote() << line;
            m_timer.start();
            return;
        }
        ++m_count;
        m_addresses.insert(address);
        m_lastLine = line;
    }

private:
    void flush()
    {
        if (m_count == 0) {
            m_timer.stop(); // quiet: the next refusal is logged at once
            return;
        }
        qCWarning(lcServerAuth).noquote()
                << QStringLiteral("%1: %2 more in the last %3 s, from %4 address(es); the "
                                  "last: %5")
                           .arg(m_what)
                           .arg(m_count)
                           .arg(m_timer.interval() / 1000)
                           .arg(m_addresses.size())
                           .arg(m_lastLine);
        m_count = 0;
        m_addresses.clear();
        m_lastLine.clear();
    }

    QString m_what;
    QTimer m_timer;
    int m_count = 0;
    QSet<QString> m_addresses;
    QString m_lastLine;
};

struct LoginRoute::Login
{
    QHttpServerResponder responder; // server thread only
    QPointer<QTcpSocket> socket;
    std::optional<Store::User> user;
    QByteArray hash; // the user's, or the decoy
    Secret password;
    LoginLimiter::Ticket ticket;
    QString address;    // for the log
    QString limiterKey; // the client address as the limiter counts it
    LoginAnswers answers;

    bool clientConnected() const
    {
        return socket && socket->state() == QAbstractSocket::ConnectedState
                && !peerHasClosed(socket->socketDescriptor());
    }
};

LoginRoute::LoginRoute(const ServerConfig &config, Store &store, TokenService &tokens,
                       const PasswordHasher &hasher, const ClientAddressResolver &clients,
                       QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_store(store)
    , m_tokens(tokens)
    , m_hasher(hasher)
    , m_clients(clients)
    , m_limiter({config.loginLimit, config.loginAddressLimit, config.loginUserCeiling,
                 config.loginWindow * 1000})
{
    // Argon2 is memory-hard: bound how many hashes run at once.
    m_threads = config.loginHashThreads > 0 ? config.loginHashThreads
                                            : qMax(2, QThread::idealThreadCount());
    m_pool.setMaxThreadCount(m_threads);
    // Every instance on one PostgreSQL database counts the same login failures.
    if (store.isPostgreSQL())
        m_limiter.shareThrough(&store);
    refreshDecoy(TokenService::nowMs());
    constexpr std::chrono::seconds RefusalLogInterval{10};
    m_throttledLog = std::make_unique<RefusalLog>(QStringLiteral("logins throttled (429)"),
                                                  RefusalLogInterval);
    m_busyLog = std::make_unique<RefusalLog>(QStringLiteral("logins refused, server busy (503)"),
                                             RefusalLogInterval);
}

LoginRoute::~LoginRoute()
{
    shutdown();
}

void LoginRoute::shutdown()
{
    m_waiting.clear();
    m_waitingPerAddress.clear();
    retireWorkerThreads(m_pool);
    // Results of the checks that ran are queued calls to this object: drop them
    // with their logins while the sockets still exist.
    QCoreApplication::removePostedEvents(this, QEvent::MetaCall);
    m_running.clear();
}

void LoginRoute::handle(const QHttpServerRequest &request, QHttpServerResponder &&responder,
                        const QString &dpopJkt, const QByteArray &dpopNonce)
{
    auto body = jsonBody(request, m_config.maxBodyBytes);
    if (auto *error = std::get_if<QHttpServerResponse>(&body))
        return error->write(std::move(responder));
    const QJsonObject object = std::get<QJsonObject>(body);
    if (auto error =
                requireFields(object, {QStringLiteral("username"), QStringLiteral("password")}))
        return error->write(std::move(responder));
    QByteArray password = object.value(QStringLiteral("password")).toString().toUtf8();
    Secret secret(password);
    secureWipe(password);

    LoginAnswers answers;
    answers.checked = [this, dpopJkt, dpopNonce](QHttpServerResponder &&responder,
                                                 const Store::User *user) {
        auto response =
                errorResponse(Status::Unauthorized, QStringLiteral("authentication_failed"),
                              QStringLiteral("No active account found with the given credentials"));
        if (user) {
            const auto result = m_tokens.startFamily(*user, nullptr, dpopJkt);
            if (result.outcome != TokenService::Outcome::Ok)
                return storageErrorResponse(m_store.unavailable()).write(std::move(responder));
            response = tokenPairResponse(result.tokens, !result.dpopJkt.isEmpty());
        }
        if (!dpopNonce.isEmpty())
            response.setHeader(QByteArrayLiteral("DPoP-Nonce"), dpopNonce);
        response.write(std::move(responder));
    };
    answers.refused = [](QHttpServerResponder &&responder, Status status, const QString &code,
                         const QString &detail, qint64 retryAfter) {
        if (retryAfter <= 0)
            return internalError().write(std::move(responder));
        retryLaterResponse(status, code, detail, retryAfter).write(std::move(responder));
    };
    check(request, object.value(QStringLiteral("username")).toString(), std::move(secret),
          std::move(responder), std::move(answers));
}

void LoginRoute::check(const QHttpServerRequest &request, const QString &username, Secret password,
                       QHttpServerResponder &&responder, LoginAnswers answers)
{
    auto login = std::make_unique<Login>(
            Login{std::move(responder), {}, {}, {}, {}, {}, {}, {}, std::move(answers)});
    login->socket = login->responder.socket();
    const QHostAddress client = m_clients.clientAddress(request.remoteAddress(),
                                                        headerValues(request, "x-forwarded-for"));
    login->address = ClientAddressResolver::displayAddress(client);
    login->limiterKey = ClientAddressResolver::limiterKey(client);
    login->password = std::move(password);

    const qint64 now = TokenService::nowMs();
    const LoginLimiter::Verdict verdict =
            m_limiter.admit(username, login->limiterKey, now, &login->ticket);
    if (verdict.reason == LoginLimiter::Reason::StorageFailure)
        return refuseForStorage(std::move(login));
    if (verdict.retryAfterSeconds > 0) {
        static const char *const reasons[] = {"", "per username and address", "per address",
                                              "username under attack: backoff"};
        m_throttledLog->note(
                login->address,
                QStringLiteral("login throttled (%1) for %2, retry in %3 s")
                        .arg(QLatin1String(reasons[int(verdict.reason)]), login->address)
                        .arg(verdict.retryAfterSeconds));
        return login->answers.refused(
                std::move(login->responder), Status::TooManyRequests, QStringLiteral("throttled"),
                QStringLiteral("Too many failed login attempts. Retry in %1 s.")
                        .arg(verdict.retryAfterSeconds),
                verdict.retryAfterSeconds);
    }
    refreshDecoy(now);
    login->user = m_store.findUser(username);
    if (!login->user && m_store.failed())
        return refuseForStorage(std::move(login));
    // Unknown users are verified against the decoy: same cost, same answer.
    login->hash = login->user ? login->user->passwordHash : m_decoy;
    admit(std::move(login));
}

void LoginRoute::refuseForStorage(std::unique_ptr<Login> login)
{
    // Classed first: withdrawn() may run a statement of its own (the shared limit), whose
    // outcome would replace this failure's.
    const bool unavailable = m_store.unavailable();
    m_limiter.withdrawn(login->ticket);
    // Unreachable for now: 503 and a retry (the form pages show it as such); else 500.
    if (unavailable)
        return login->answers.refused(std::move(login->responder), Status::ServiceUnavailable,
                                      QStringLiteral("database_unavailable"),
                                      QStringLiteral("The database is unavailable; try again."), 1);
    login->answers.refused(std::move(login->responder), Status::InternalServerError,
                           QStringLiteral("internal_error"), {}, 0);
}

void LoginRoute::admit(std::unique_ptr<Login> login)
{
    if (qsizetype(m_running.size()) < m_threads)
        return start(std::move(login));
    auto queueFull = [this] { return qsizetype(m_waiting.size()) >= m_config.loginQueue; };
    if (queueFull())
        dropAbandonedWaiting();
    if (queueFull()) {
        // One address may use the whole queue while nobody else needs it (a
        // NAT, a proxy not trusted for X-Forwarded-For), but not keep others
        // out: a login from an address holding less than its share takes the
        // place of the latest login of an address holding more.
        if (m_waitingPerAddress.value(login->limiterKey) < addressShare()) {
            if (auto it = latestOverShare(); it != m_waiting.end()) {
                const std::unique_ptr<Login> displaced = takeWaiting(it);
                enqueue(std::move(login));
                return refuseBusy(*displaced);
            }
        }
        return refuseBusy(*login);
    }
    enqueue(std::move(login));
}

void LoginRoute::enqueue(std::unique_ptr<Login> login)
{
    ++m_waitingPerAddress[login->limiterKey];
    m_waiting.push_back(std::move(login));
}

// Takes a login out of the queue and out of its address's count; `it` moves to
// the next one.
std::unique_ptr<LoginRoute::Login> LoginRoute::takeWaiting(WaitingQueue::iterator &it)
{
    std::unique_ptr<Login> login = std::move(*it);
    if (--m_waitingPerAddress[login->limiterKey] <= 0)
        m_waitingPerAddress.remove(login->limiterKey);
    it = m_waiting.erase(it);
    return login;
}

void LoginRoute::refuseBusy(Login &login)
{
    m_limiter.withdrawn(login.ticket);
    const qint64 retryAfter = retryAfterSeconds();
    m_busyLog->note(login.address,
                    QStringLiteral("login queue full (%1 waiting, at most %2 of them from one "
                                   "address when others wait): 503 to %3, retry in %4 s")
                            .arg(m_waiting.size())
                            .arg(addressShare())
                            .arg(login.address)
                            .arg(retryAfter));
    login.answers.refused(
            std::move(login.responder), Status::ServiceUnavailable, QStringLiteral("server_busy"),
            QStringLiteral("Too many logins at once. Retry in %1 s.").arg(retryAfter), retryAfter);
}

int LoginRoute::addressShare() const
{
    return qMax(1, m_config.loginQueue / 4);
}

// The latest waiting login of the address holding the most of the queue, if
// that is more than its share; else end().
LoginRoute::WaitingQueue::iterator LoginRoute::latestOverShare()
{
    QString hog;
    int most = addressShare();
    for (auto it = m_waitingPerAddress.cbegin(); it != m_waitingPerAddress.cend(); ++it) {
        if (it.value() > most) {
            most = it.value();
            hog = it.key();
        }
    }
    if (hog.isNull())
        return m_waiting.end();
    for (auto it = m_waiting.end(); it != m_waiting.begin();) {
        --it;
        if ((*it)->limiterKey == hog)
            return it;
    }
    return m_waiting.end();
}

void LoginRoute::start(std::unique_ptr<Login> login)
{
    const quint64 id = ++m_lastId;
    // The task holds the only copy of the password, so clearing it there wipes it.
    auto password = std::make_shared<Secret>(std::move(login->password));
    const QByteArray hash = login->hash;
    const bool rehash = login->user && m_config.argon2Rehash && m_hasher.needsRehash(hash);
    const PasswordHasher *hasher = &m_hasher;
    m_running.emplace(id, std::move(login));
    m_pool.start([this, id, hasher, hash, password, rehash] {
        QElapsedTimer timer;
        timer.start();
        const bool passwordOk = hasher->verify(hash, password->reveal());
        const QByteArray rehashed =
                passwordOk && rehash ? hasher->hash(password->reveal()) : QByteArray();
        password->clear();
        const qint64 hashMs = timer.elapsed();
        QMetaObject::invokeMethod(
                this,
                [this, id, passwordOk, rehashed, hashMs] {
                    finish(id, passwordOk, rehashed, hashMs);
                },
                Qt::QueuedConnection);
    });
}

void LoginRoute::finish(quint64 id, bool passwordOk, const QByteArray &rehashed, qint64 hashMs)
{
    m_averageHashMs = m_averageHashMs == 0 ? double(hashMs) : 0.8 * m_averageHashMs + 0.2 * hashMs;
    auto node = m_running.extract(id);
    if (node.empty())
        return;
    std::unique_ptr<Login> login = std::move(node.mapped());
    if (passwordOk) {
        m_limiter.succeeded(login->ticket);
        if (!rehashed.isEmpty())
            storeRehash(*login->user, rehashed);
    }
    // Issue tokens even if the client went away meanwhile? No: a family nobody
    // holds would only linger until expiry.
    if (!login->clientConnected())
        qCInfo(lcServerAuth).noquote()
                << QStringLiteral("login client disconnected: %1 left during its password check")
                           .arg(login->address);
    else
        answer(*login, passwordOk);
    login.reset();
    startWaiting();
}

void LoginRoute::answer(Login &login, bool passwordOk)
{
    if (!login.user || !passwordOk) {
        qCInfo(lcServerAuth).noquote()
                << (login.user ? QStringLiteral("login failed for user id %1 from %2")
                                         .arg(login.user->id)
                                         .arg(login.address)
                               : QStringLiteral("login failed for an unknown username from %1")
                                         .arg(login.address));
        return login.answers.checked(std::move(login.responder), nullptr);
    }
    login.answers.checked(std::move(login.responder), &*login.user);
}

void LoginRoute::storeRehash(const Store::User &user, const QByteArray &rehashed)
{
    if (!m_store.replacePasswordHash(user.id, user.passwordHash, rehashed)) {
        qCWarning(lcServerAuth) << "could not store the rehashed password of user id" << user.id
                                << "; it keeps its old hash";
        return;
    }
    qCInfo(lcServerAuth).noquote()
            << QStringLiteral("password of user id %1 rehashed from %2 to %3")
                       .arg(user.id)
                       .arg(PasswordHasher::parameters(user.passwordHash)
                                    .value_or(Argon2Parameters{})
                                    .toString(),
                            m_hasher.currentParameters().toString());
    countStoredHash(user.passwordHash, -1);
    countStoredHash(rehashed, +1);
    chooseDecoy();
}

void LoginRoute::startWaiting()
{
    while (qsizetype(m_running.size()) < m_threads && !m_waiting.empty()) {
        auto first = m_waiting.begin();
        std::unique_ptr<Login> login = takeWaiting(first);
        if (!login->clientConnected())
            skipAbandoned(*login);
        else
            start(std::move(login));
    }
}

void LoginRoute::skipAbandoned(Login &login)
{
    m_limiter.withdrawn(login.ticket);
    qCInfo(lcServerAuth).noquote()
            << QStringLiteral("login client disconnected: %1 left while waiting, password check "
                              "skipped")
                       .arg(login.address);
}

void LoginRoute::dropAbandonedWaiting()
{
    for (auto it = m_waiting.begin(); it != m_waiting.end();) {
        if ((*it)->clientConnected()) {
            ++it;
            continue;
        }
        skipAbandoned(**it);
        takeWaiting(it);
    }
}

qint64 LoginRoute::retryAfterSeconds() const
{
    // Time for the logins ahead to be checked, at the measured pace.
    const double aheadMs = double(m_waiting.size() + m_running.size()) / m_threads
            * (m_averageHashMs > 0 ? m_averageHashMs : 1000.0);
    return qMax<qint64>(1, qint64(aheadMs + 999) / 1000);
}

void LoginRoute::refreshDecoy(qint64 nowMs)
{
    if (m_decoyCheckedMs != 0 && nowMs - m_decoyCheckedMs < DecoyRefreshMs)
        return;
    m_decoyCheckedMs = nowMs;
    const qint64 lastUserId = m_lastUserId;
    m_lastUserId = m_store.forEachPasswordHash(
            m_lastUserId, [this](const QByteArray &hash) { countStoredHash(hash, +1); });
    if (m_lastUserId != lastUserId || m_decoy.isEmpty())
        chooseDecoy();
}

void LoginRoute::countStoredHash(const QByteArray &hash, int delta)
{
    const auto parameters = PasswordHasher::parameters(hash);
    if (!parameters)
        return;
    const QString key = parameters->toString();
    m_storedParameters.insert(key, *parameters);
    int &count = m_storedParameterCounts[key];
    count += delta;
    if (count <= 0) {
        m_storedParameterCounts.remove(key);
        m_storedParameters.remove(key);
    }
}

void LoginRoute::chooseDecoy()
{
    // The parameters most users have; on a tie the current settings, else the
    // costlier set. No users yet: the current settings.
    const Argon2Parameters current = m_hasher.currentParameters();
    Argon2Parameters chosen = current;
    int chosenCount = 0;
    auto cost = [](const Argon2Parameters &p) { return quint64(p.memoryKiB) * p.iterations; };
    for (auto it = m_storedParameterCounts.cbegin(); it != m_storedParameterCounts.cend(); ++it) {
        const Argon2Parameters &candidate = m_storedParameters.value(it.key());
        const bool better = it.value() > chosenCount
                || (it.value() == chosenCount && chosen != current
                    && (candidate == current || cost(candidate) > cost(chosen)));
        if (better) {
            chosen = candidate;
            chosenCount = it.value();
        }
    }
    if (!m_decoy.isEmpty() && chosen == m_decoyParameters)
        return;
    m_decoyParameters = chosen;
    m_decoy = PasswordHasher::decoyHash(chosen);
    qCInfo(lcServerAuth).noquote()
            << QStringLiteral("unknown usernames are checked against a decoy hash with %1; "
                              "stored users with these parameters: %2")
                       .arg(chosen.toString())
                       .arg(chosenCount);
}

} // namespace Tessera::Server
