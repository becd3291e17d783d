// SPDX-License-Identifier: MIT
#pragma once

#include "storesql.h"

#include <QtCore/QByteArray>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QSet>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtSql/QSqlDatabase>
#include <QtSql/QSqlError>
#include <QtSql/QSqlQuery>

#include <functional>
#include <memory>
#include <optional>

struct sqlite3_stmt;

namespace Tessera::Server {

// Persistence on SQLite (WAL, the default) or PostgreSQL (storesql.h: connections and the
// schema; docs/SERVER.md). The client registry's part is in storeclients.cpp. Refresh tokens are
// stored only as SHA-256 hashes. Event-loop thread only: a QSqlDatabase connection belongs to one
// thread. Rotation is a compare-and-set on the current token (rotate()), so rotations racing in
// several processes on one database leave one winner.
class Store
{
public:
    struct User
    {
        qint64 id = 0;
        QString username;
        QByteArray passwordHash;
    };

    struct SigningKey
    {
        QString keyId;
        QString algorithm;
        QByteArray material; // PKCS#8 PEM, or the raw HS256 secret
    };

    // A refresh token row joined with its family. Times in ms since the epoch.
    struct RefreshRecord
    {
        QByteArray tokenHash;
        QString familyId;
        qint64 userId = 0;
        QString username;
        qint64 issuedAt = 0;
        qint64 idleExpiresAt = 0;
        std::optional<qint64> rotatedAt; // unset: this is the family's current token
        QByteArray successorSealed;
        qint64 familyExpiresAt = 0;
        bool familyRevoked = false;
        QByteArray parentHash; // empty for a family's first token
        int graceAnswers = 0;  // times the grace window answered this token
        QString clientId;      // the OAuth client the family was issued to; empty: /api/token/
        QString scope;         // its granted scope (OAuth families only)
        QString dpopJkt;       // the DPoP key the family is bound to; empty: unbound
    };

    // An authorization code's grant (storeauthorizationcodes.cpp). Times in ms.
    struct AuthorizationCode
    {
        QByteArray codeHash;
        QString clientId;
        QString redirectUri;
        QString codeChallenge; // S256
        QString nonce;
        QString scope;
        qint64 userId = 0;
        QString username;
        qint64 authTime = 0;
        qint64 expiresAt = 0;
        std::optional<qint64> usedAt;
        QString familyId; // set once its exchange started a family
        QString dpopJkt;  // dpop_jkt of the authorization request: redeemed only with that key
    };
    enum class RedeemResult { Redeemed, AlreadyUsed, Missing, Failed };

    // A device authorization (storedevicecodes.cpp, RFC 8628). Times in ms.
    struct DeviceCode
    {
        enum class Status { Pending, Approved, Denied, Spent };
        QByteArray deviceCodeHash;
        QString userCode; // normalised: 8 letters, no dash
        QString clientId;
        QString scope;
        qint64 createdAt = 0;
        qint64 expiresAt = 0;
        qint64 intervalSeconds = 0;
        Status status = Status::Pending;
        qint64 userId = 0; // set once approved
        QString username;
        qint64 authTime = 0;
    };
    enum class AddDeviceCodeResult { Added, UserCodeTaken, Failed };
    enum class PollResult { Pending, SlowDown, Failed };

    // A registered public native client (docs/SERVER.md "Clients"). Its
    // redirect URIs in the order they were given.
    struct Client
    {
        QString id;
        QStringList redirectUris;
        qint64 createdAt = 0; // ms since the epoch
    };

    enum class FamilyStatus { Active, Revoked, Missing, Error };
    enum class AddUserResult { Added, Exists, Failed };
    enum class AddClientResult { Added, Exists, Failed };
    enum class RemoveClientResult { Removed, Missing, Failed };
    // NotCurrent: the token was rotated meanwhile (by another process on the
    // same database) or its family revoked; nothing was written.
    enum class RotateResult { Rotated, NotCurrent, Failed };

    // `database` is a --db value (databaseurl.h): an SQLite path or a
    // PostgreSQL URI. Refuses unsafe database files (databasefiles.h) and
    // upgrades an older schema in place.
    static std::unique_ptr<Store> open(const QString &database, bool fullSync, QString *error);
    ~Store();
    Store(const Store &) = delete;
    Store &operator=(const Store &) = delete;

    std::optional<User> findUser(const QString &username);
    AddUserResult addUser(const QString &username, const QByteArray &passwordHash);
    // Sets a user's hash if it still is `expectedHash`. False when nothing was
    // changed; the stored hash is then the old one, whole.
    bool replacePasswordHash(qint64 userId, const QByteArray &expectedHash,
                             const QByteArray &newHash);
    // Calls `visit` with the hash of every user whose id is above `afterUserId`
    // and returns the highest id seen (`afterUserId` when none), in id order. Users are
    // never deleted and their ids commit in increasing order (addUser()), so this reads
    // only what is new since the last call and never skips a user committed later.
    qint64 forEachPasswordHash(qint64 afterUserId,
                               const std::function<void(const QByteArray &)> &visit);

    // Clients (storeclients.cpp). The caller has validated the id and URIs
    // (redirecturi.h); addClient() writes the client and all its URIs in one
    // transaction, or nothing.
    AddClientResult addClient(const QString &id, const QStringList &redirectUris);
    std::optional<Client> findClient(const QString &id);
    // Whether the client is registered (a failed read: false, and failed() is true). Cheaper
    // than findClient() where the redirect URIs are not needed (POST /token, /revoke).
    bool hasClient(const QString &id);
    // Every client, ordered by id; nothing when the read failed (see failed()).
    std::optional<QList<Client>> clients();
    RemoveClientResult removeClient(const QString &id);

    QList<SigningKey> signingKeys(const QString &algorithm);
    bool addSigningKey(const SigningKey &key);

    // One transaction: the family row and its first refresh token. `clientId` empty: a
    // family of the SimpleJWT API. `dpopJkt` empty: not bound to a DPoP key.
    bool createFamily(const QString &familyId, qint64 userId, qint64 nowMs, qint64 expiresAtMs,
                      const QByteArray &tokenHash, qint64 idleExpiresAtMs,
                      const QString &clientId = {}, const QString &scope = {},
                      const QString &dpopJkt = {});

    // Authorization codes (storeauthorizationcodes.cpp).
    bool addAuthorizationCode(const AuthorizationCode &code);
    // Marks the code used, if it was not, and reads it into `code` (also when it was used
    // before: AlreadyUsed, with its familyId).
    RedeemResult redeemAuthorizationCode(const QByteArray &codeHash, qint64 nowMs,
                                         AuthorizationCode *code);
    // Records the family a redeemed code started, unless a replay got there first (then
    // false: the caller revokes the family). markAuthorizationCodeReplayed() is that replay's
    // mark when it finds no family yet: with several instances on one database, the exchange
    // may still be running elsewhere.
    bool setAuthorizationCodeFamily(const QByteArray &codeHash, const QString &familyId);
    // The family recorded meanwhile if there is one, else "" once marked; nothing on failure.
    std::optional<QString> markAuthorizationCodeReplayed(const QByteArray &codeHash);
    static const QString ReplayedCodeMark;
    // Deletes codes expired before `cutoffMs`; returns how many.
    int purgeAuthorizationCodes(qint64 cutoffMs);
    // Device codes (storedevicecodes.cpp).
    AddDeviceCodeResult addDeviceCode(const DeviceCode &code);
    // Nothing when unknown, or when the read failed (see failed()).
    std::optional<DeviceCode> findDeviceCode(const QByteArray &deviceCodeHash);
    // A pending code with this user code that has not expired.
    std::optional<DeviceCode> findPendingUserCode(const QString &userCode, qint64 nowMs);
    // Approves (userId > 0) or denies (userId 0) a pending, unexpired code; false when it was
    // not pending any more (decided already, or expired) or the write failed.
    bool decideDeviceCode(const QString &userCode, qint64 userId, qint64 nowMs);
    // A poll of a pending code: Pending when the interval has passed since the previous
    // poll, else SlowDown and the interval grows by `slowDownSeconds` (RFC 8628 §3.5). A
    // compare-and-set, so concurrent polls cannot both pass.
    PollResult pollDeviceCode(const QByteArray &deviceCodeHash, qint64 nowMs,
                              qint64 slowDownSeconds);
    // Approved -> spent, once: true for the one caller that changed it.
    bool spendDeviceCode(const QByteArray &deviceCodeHash);
    int purgeDeviceCodes(qint64 cutoffMs);
    // Login failures shared by the instances on one database (storeloginfailures.cpp,
    // LoginLimiter). Failure times in the window (after `sinceMs`), oldest first, each
    // list at most its newest `keep` entries (0: not read).
    struct LoginWindows
    {
        QList<qint64> pair;
        QList<qint64> address;
        QList<qint64> username;
    };
    struct LoginKeep
    {
        int pair = 0;
        int address = 0;
        int username = 0;
    };
    // One transaction, under a lock every instance takes: reads the windows, asks
    // `admit`, and records the attempt when it says yes. The new row's id, 0 when refused,
    // nothing on failure.
    std::optional<qint64> admitLoginAttempt(const QString &username, const QString &address,
                                            qint64 nowMs, qint64 sinceMs, const LoginKeep &keep,
                                            const std::function<bool(const LoginWindows &)> &admit);
    // Removes an attempt (a success, or never checked); a success also ends its pair's window.
    bool endLoginAttempt(qint64 id, bool succeeded);
    // Deletes attempts at or before `cutoffMs` of one kind: the user-code attempts (rows
    // without a username: a login always has one) or the logins, each kind by its own window.
    int purgeLoginAttempts(qint64 cutoffMs, bool userCodes);
    // The client a family was issued to (empty for SimpleJWT families); nothing if unknown.
    std::optional<QString> familyClient(const QString &familyId);
    std::optional<RefreshRecord> findRefreshToken(const QByteArray &tokenHash);
    // The successor the rotated parent names (its successor_hash); nothing if not rotated.
    std::optional<RefreshRecord> findSuccessor(const QByteArray &parentHash);
    // Marks the parent rotated and names its successor, only if it still is the current
    // token of a family that is not revoked (a compare-and-set), and inserts that successor,
    // both or neither: one transaction on SQLite, one statement on PostgreSQL (`familyId` then
    // comes from the parent's row).
    RotateResult rotate(const QByteArray &parentHash, const QByteArray &successorSealed,
                        qint64 nowMs, const QString &familyId, const QByteArray &successorHash,
                        qint64 successorIdleExpiresAtMs);
    bool revokeFamily(const QString &familyId, qint64 nowMs, const QString &reason);
    // Counts one more grace-window answer for a rotated token, unless it had
    // `maxAnswers` already. True when counted.
    bool claimGraceAnswer(const QByteArray &tokenHash, int maxAnswers);
    std::optional<int> graceAnswers(const QByteArray &tokenHash);
    FamilyStatus familyStatus(const QString &familyId);
    // Deletes families past their absolute or idle expiry (plus `slackMs`, so
    // their last access tokens still find their family). Returns rows removed.
    int purgeExpired(qint64 nowMs, qint64 slackMs);

    // DPoP proofs accepted by any instance on the database (the jti replay cache of a
    // deployment on PostgreSQL; dpopcheck.h). `proofHash`: SHA-256 of the proof's htu and jti.
    // New: recorded until `expiresAtMs`; Replayed: recorded before and not expired at `nowMs`
    // (nothing written); Failed: not known, so the proof must not be accepted.
    enum class DpopProofResult { New, Replayed, Failed };
    DpopProofResult rememberDpopProof(const QByteArray &proofHash, qint64 expiresAtMs,
                                      qint64 nowMs);
    // Deletes the proofs expired at `nowMs`; returns how many.
    int purgeDpopProofs(qint64 nowMs);

    bool isPostgreSQL() const { return m_dialect == SqlDialect::PostgreSQL; }
    // SQLite: storesql.h setAutomaticCheckpoints() on this connection. False on PostgreSQL.
    bool setAutomaticCheckpoints(bool on)
    {
        return m_dialect == SqlDialect::SQLite
                && Tessera::Server::setAutomaticCheckpoints(m_db, on);
    }

    // Group commit (SQLite): while a RotationGroupScope is alive, rotate() joins an open
    // transaction (opening one if needed) instead of committing on its own, so the rotations
    // of one event-loop round share one commit. The caller holds the answers of rotations made
    // in a group until settleGroup() reports its commit. Any other statement, read or write,
    // commits the open group first, so nothing else ever reads or writes inside it.
    class RotationGroupScope
    {
    public:
        explicit RotationGroupScope(Store &store)
            : m_store(store)
        {
            m_store.m_groupAllowed = !m_store.isPostgreSQL();
        }
        ~RotationGroupScope() { m_store.m_groupAllowed = false; }
        RotationGroupScope(const RotationGroupScope &) = delete;
        RotationGroupScope &operator=(const RotationGroupScope &) = delete;

    private:
        Store &m_store;
    };
    // The open group's serial, 0 when none is open.
    quint64 openGroup() const { return m_groupOpen ? m_groupSerial : 0; }
    // Commits the open group (a no-op without one) and reports it to the settled handler.
    // False when the commit failed: then nothing of the group was written.
    bool settleGroup();
    // Called with a group's serial when it commits (true) or is rolled back (false). It must
    // not use the store: it may run inside another statement's call.
    void setGroupSettledHandler(std::function<void(quint64 serial, bool committed)> handler)
    {
        m_groupSettled = std::move(handler);
    }
    // PostgreSQL: statements running longer than `ms` are cancelled (statement_timeout; 0:
    // none), also on a connection opened again later. False when it could not be set.
    bool setStatementTimeout(qint64 ms);

    // Whether the last statement failed (for 500 vs 401 decisions).
    bool failed() const { return m_failed; }
    // The last statement failed for a reason that passes (PostgreSQL: the connection lost or
    // being re-established, a statement timeout, a serialization failure or deadlock; SQLite:
    // the database locked past the busy timeout): worth a 503 and a retry, not a 500.
    bool unavailable() const { return m_failed && (m_failureTransient || connectionLost()); }

private:
    explicit Store(const QString &connectionName);
    bool execute(QSqlQuery &query);
    // QSqlQuery::prepare(), whose failure execute() of the same query then reports as
    // unavailable (QPSQL prepares on the server, where a lock wait can meet statement_timeout;
    // executing the statement that was never prepared would fail as a syntax error, a lasting
    // failure). Every query execute() runs is prepared through here first, or is one of
    // m_prepared.
    bool prepare(QSqlQuery &query, const QString &statement);
    // m_db.transaction(); a failure is classed and may reconnect, as a failed statement.
    bool begin();
    // m_db.commit(), the same: a commit refused as a serialization failure or on a lost
    // connection is unavailable (503), not a lasting failure. The caller rolls back.
    bool commit();
    // Records the failed BEGIN or COMMIT (`step`) as a failed statement is; returns false.
    bool transactionStepFailed(const char *step);
    // Commits the open rotation group unless the statement about to run is one of its own.
    void settleGroupUnlessJoining()
    {
        if (m_groupOpen && !m_groupJoining)
            settleGroup();
    }
    // m_db.transaction() after the open rotation group is committed: every transaction but
    // the group's own starts here.
    bool transaction();
    // Rolls the open group back after one of its statements failed.
    void abandonGroup();
    RotateResult rotateInGroup(const QByteArray &parentHash, const QByteArray &successorSealed,
                               qint64 nowMs, const QString &familyId,
                               const QByteArray &successorHash, qint64 successorIdleExpiresAtMs);
    // Marks the failure transient when `error` is one that passes (see unavailable()).
    void classifyFailure(const QSqlError &error);
    // PostgreSQL: after a failed statement, a broken connection is opened again and the
    // statements prepared again (at most once a second).
    bool connectionLost() const;
    void reconnectIfLost();
    std::optional<RefreshRecord> readRefresh(QSqlQuery &query);
    // SQLite: the statements of a refresh through SQLite's C API (storesqlite.cpp), when all
    // could be prepared; else the QSqlQuery statements serve them.
    struct SqliteStatementDeleter
    {
        void operator()(sqlite3_stmt *statement) const;
    };
    using SqliteStatement = std::unique_ptr<sqlite3_stmt, SqliteStatementDeleter>;
    struct Direct
    {
        SqliteStatement findRefresh;
        SqliteStatement findSuccessor;
        SqliteStatement markRotated;
        SqliteStatement insertRefresh;
    };
    void prepareDirectStatements(const QByteArray &findRefresh, const QByteArray &findSuccessor,
                                 const QByteArray &markRotated, const QByteArray &insertRefresh);
    // Records the outcome of a direct statement's step as execute() records a QSqlQuery's
    // (a row or done: success), then resets it for its next use.
    bool finishDirect(sqlite3_stmt *statement, int step);
    // Steps a statement that returns no rows.
    bool stepDirect(sqlite3_stmt *statement, int *changes);
    // The mark and the insert of a rotation, in the caller's transaction: through SQLite's C API
    // when prepared (rotateDirect()), else through QSqlQuery.
    RotateResult rotateStatements(const QByteArray &parentHash, const QByteArray &successorSealed,
                                  qint64 nowMs, const QString &familyId,
                                  const QByteArray &successorHash, qint64 successorIdleExpiresAtMs);
    RotateResult rotateDirect(const QByteArray &parentHash, const QByteArray &successorSealed,
                              qint64 nowMs, const QString &familyId,
                              const QByteArray &successorHash, qint64 successorIdleExpiresAtMs);
    std::optional<RefreshRecord> readRefreshDirect(sqlite3_stmt *statement, const QByteArray &key);

    QString m_connectionName;
    QSqlDatabase m_db;
    SqlDialect m_dialect = SqlDialect::SQLite;
    DatabaseLocation m_location;
    qint64 m_lastReconnectMs = 0;
    qint64 m_statementTimeoutMs = 0;
    bool m_failureTransient = false;
    bool m_failed = false;
    bool m_groupAllowed = false; // a RotationGroupScope is alive
    bool m_groupOpen = false;
    bool m_groupJoining = false; // a statement of the open group's own is running
    quint64 m_groupSerial = 0;
    int m_groupRotations = 0; // in the open group, for the log
    std::function<void(quint64, bool)> m_groupSettled;
    // The queries whose prepare() failed, with its error, until execute() reports it: one per
    // query, so that of two failed prepares neither is lost.
    QHash<const QSqlQuery *, QSqlError> m_unprepared;
    // Statements of m_prepared that could not be prepared (at open, or again on a new
    // connection): prepared again at their next use, never executed unprepared.
    QSet<const QSqlQuery *> m_stale;
    std::unique_ptr<QSqlQuery> m_findUser;
    std::unique_ptr<QSqlQuery> m_findRefresh;
    std::unique_ptr<QSqlQuery> m_findSuccessor;
    std::unique_ptr<QSqlQuery> m_markRotated; // SQLite
    std::unique_ptr<QSqlQuery> m_rotate;      // PostgreSQL: mark and insert in one statement
    std::unique_ptr<QSqlQuery> m_insertRefresh;
    std::unique_ptr<QSqlQuery> m_insertFamily;
    std::unique_ptr<QSqlQuery> m_familyStatus;
    std::unique_ptr<QSqlQuery> m_findClient;
    std::unique_ptr<QSqlQuery> m_hasClient;
    std::unique_ptr<QSqlQuery> m_rememberDpopProof;
    Direct m_direct;
    // Every statement above, in the order Store::open() prepared them: prepared again on a new
    // connection (reconnectIfLost()), so a statement added later cannot be forgotten there.
    QList<QSqlQuery *> m_prepared;
};

} // namespace Tessera::Server
