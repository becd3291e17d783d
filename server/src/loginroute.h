// SPDX-License-Identifier: MIT
#pragma once

#include "clientaddress.h"
#include "config.h"
#include "loginlimiter.h"
#include "passwordhasher.h"
#include "store.h"
#include "tokenservice.h"

#include <QtCore/QHash>
#include <QtCore/QObject>
#include <QtCore/QThreadPool>
#include <QtHttpServer/QHttpServerRequest>
#include <QtHttpServer/QHttpServerResponder>
#include <QtHttpServer/QHttpServerResponse>

#include <tessera/secret.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>

namespace Tessera::Server {

// POST /api/token/ and the password check of the login page (AuthorizeRoute): the one
// check that is slow on purpose (Argon2id). Both go through check(), one queue, one limiter.
//
// On the server thread: parse, throttle (LoginLimiter, failures only), look the
// user up, then queue the password check. At most one check per pool thread
// runs at a time; the others wait here, at most --login-queue of them (beyond:
// 503 + Retry-After). One client address may fill the queue while nobody else
// waits, but when it is full a login from an address holding less than a
// quarter of it (at least one place) takes the place of the latest login of
// the address holding the most, which gets the 503. A waiting login whose
// client has hung up is dropped without hashing. Refusals (429, 503) are logged as one line per
// interval, not one per request. A check's result comes back to the server thread as a queued call,
// so responders are only ever touched and destroyed there (Qt HttpServer 6.4's QFuture path
// crashed, docs/SECURITY.md).
//
// Unknown users are checked against a decoy hash with the Argon2 parameters
// most stored users have, so they cost what a known user costs; a successful
// login rehashes a password stored with other parameters (--argon2-rehash).
class RefusalLog;

// How the outcome of a login is written: the JSON API's answers or the login page's.
struct LoginAnswers
{
    // The password check's verdict: `user` is null when the username or password was wrong.
    std::function<void(QHttpServerResponder &&, const Store::User *user)> checked;
    // Refused before any check: 429 or 503 with `retryAfterSeconds`, or 500 (then 0).
    std::function<void(QHttpServerResponder &&, QHttpServerResponse::StatusCode,
                       const QString &code, const QString &detail, qint64 retryAfterSeconds)>
            refused;
};

class LoginRoute : public QObject
{
    Q_OBJECT
public:
    LoginRoute(const ServerConfig &config, Store &store, TokenService &tokens,
               const PasswordHasher &hasher, const ClientAddressResolver &clients,
               QObject *parent = nullptr);
    ~LoginRoute() override;

    // `dpopJkt`: the key of the request's verified DPoP proof (empty: none), bound to the new
    // family; `dpopNonce`: the DPoP-Nonce to send with the answer (empty: none).
    void handle(const QHttpServerRequest &request, QHttpServerResponder &&responder,
                const QString &dpopJkt = {}, const QByteArray &dpopNonce = {});
    // Throttles, looks the user up and queues the password check; `answers` writes the outcome.
    void check(const QHttpServerRequest &request, const QString &username, Secret password,
               QHttpServerResponder &&responder, LoginAnswers answers);

    // Drops waiting logins unanswered, waits for the running checks (at most
    // one per thread) and discards their results. Call while the HTTP server,
    // and so the responders' sockets, still exist.
    void shutdown();

private:
    struct Login;

    // The store failed (the shared login count or the user lookup): 503 while the database
    // is unavailable, else 500; the attempt is withdrawn.
    void refuseForStorage(std::unique_ptr<Login> login);
    void admit(std::unique_ptr<Login> login);
    void startWaiting();
    void start(std::unique_ptr<Login> login);
    void finish(quint64 id, bool passwordOk, const QByteArray &rehashed, qint64 hashMs);
    void answer(Login &login, bool passwordOk);
    void storeRehash(const Store::User &user, const QByteArray &rehashed);
    void skipAbandoned(Login &login);
    void dropAbandonedWaiting();
    qint64 retryAfterSeconds() const;
    using WaitingQueue = std::deque<std::unique_ptr<Login>>;
    void enqueue(std::unique_ptr<Login> login);
    std::unique_ptr<Login> takeWaiting(WaitingQueue::iterator &it);
    int addressShare() const;
    WaitingQueue::iterator latestOverShare();
    void refuseBusy(Login &login);

    // The decoy: refreshed at most every 10 s from users added since, and
    // after every rehash.
    void refreshDecoy(qint64 nowMs);
    void countStoredHash(const QByteArray &hash, int delta);
    void chooseDecoy();

    const ServerConfig &m_config;
    Store &m_store;
    TokenService &m_tokens;
    const PasswordHasher &m_hasher;
    const ClientAddressResolver &m_clients;
    LoginLimiter m_limiter;

    QThreadPool m_pool;
    int m_threads = 2;
    WaitingQueue m_waiting;
    QHash<QString, int> m_waitingPerAddress; // limiter key -> logins of m_waiting
    std::map<quint64, std::unique_ptr<Login>> m_running;
    quint64 m_lastId = 0;
    double m_averageHashMs = 0;

    QHash<QString, int> m_storedParameterCounts; // Argon2Parameters::toString() -> users
    QHash<QString, Argon2Parameters> m_storedParameters;
    qint64 m_lastUserId = 0;
    qint64 m_decoyCheckedMs = 0;
    Argon2Parameters m_decoyParameters;
    QByteArray m_decoy;

    std::unique_ptr<RefusalLog> m_throttledLog; // 429s
    std::unique_ptr<RefusalLog> m_busyLog;      // 503s
};

} // namespace Tessera::Server
