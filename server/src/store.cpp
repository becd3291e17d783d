// SPDX-License-Identifier: MIT
#include "store.h"

#include "databasefiles.h"
#include "databaseurl.h"
#include "logging.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDateTime>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QUuid>
#include <QtCore/QVariant>
#include <QtSql/QSqlDriver>
#include <QtSql/QSqlError>

#include <libpq-fe.h>

#include <cstring>

namespace Tessera::Server {
namespace {

const char RefreshColumns[] =
        "SELECT r.token_hash, r.family_id, f.user_id, u.username, r.issued_at, r.idle_expires_at,"
        " r.rotated_at, r.successor_sealed, f.expires_at, f.revoked_at IS NOT NULL,"
        " r.parent_hash, r.grace_answers, f.client_id, f.scope, f.dpop_jkt"
        " FROM refresh_tokens r JOIN families f ON f.id = r.family_id"
        " JOIN users u ON u.id = f.user_id ";

// Rotation's compare-and-set: the parent is marked rotated only if it still is the current
// token of a family that is not revoked. Under READ COMMITTED a concurrent rotation makes
// PostgreSQL re-check the row after the other commits, so exactly one of them matches.
const char MarkRotated[] =
        "UPDATE refresh_tokens SET rotated_at = ?, successor_sealed = ?,"
        " successor_hash = ? WHERE token_hash = ? AND rotated_at IS NULL AND NOT EXISTS ("
        " SELECT 1 FROM families f WHERE f.id = refresh_tokens.family_id"
        " AND f.revoked_at IS NOT NULL)";
// The successor a rotated parent names (schema version 9).
const char SuccessorOfParent[] = "WHERE r.token_hash = (SELECT p.successor_hash FROM"
                                 " refresh_tokens p WHERE p.token_hash = ?)";
const char InsertRefreshInto[] =
        "INSERT INTO refresh_tokens (token_hash, family_id, parent_hash, issued_at,"
        " idle_expires_at) ";

// Creates the database file with mode 0600 (O_EXCL, under umask 077), so it
// never exists with wider permissions, even briefly. True also when another
// process created it meanwhile (commands or instances starting together); the
// caller judges that file as it judges any existing one.
bool createIfMissing(const QString &path)
{
    QFile file(path);
    if (file.exists())
        return true;
    if (!file.open(QIODevice::WriteOnly | QIODevice::NewOnly))
        return file.exists();
    file.close();
    return true;
}

} // namespace

Store::Store(const QString &connectionName)
    : m_connectionName(connectionName)
{ }

Store::~Store()
{
    // Finalized before the connection closes: SQLite does not close one with live statements.
    m_direct = Direct();
    // An open group's answers were never sent: rolled back, as if its requests never came.
    if (m_groupOpen)
        m_db.rollback();
    m_findUser.reset();
    m_findRefresh.reset();
    m_findSuccessor.reset();
    m_markRotated.reset();
    m_rotate.reset();
    m_insertRefresh.reset();
    m_insertFamily.reset();
    m_familyStatus.reset();
    m_findClient.reset();
    m_hasClient.reset();
    m_rememberDpopProof.reset();
    m_db.close();
    m_db = QSqlDatabase();
    QSqlDatabase::removeDatabase(m_connectionName);
}

std::unique_ptr<Store> Store::open(const QString &database, bool fullSync, QString *error)
{
    const auto location = parseDatabaseLocation(database, error);
    if (!location)
        return nullptr;
    // Files SQLite creates (-wal, -shm, -journal) get mode 0600 too.
    const ScopedUmask ownerOnly(077);
    if (!location->isPostgreSQL()) {
        const QString &path = location->sqlitePath;
        // Before SQLite opens anything: a check after its open would come too
        // late (it reads a -wal file it finds, and closing checkpoints it into
        // the database). The directory rule leaves nobody else a way to add a
        // file between this check and the open.
        if (QString problem = unsafeDatabaseFiles(path); !problem.isEmpty()) {
            *error = problem;
            return nullptr;
        }
        if (!createIfMissing(path)) {
            *error = QStringLiteral("cannot create %1 with mode 0600").arg(path);
            return nullptr;
        }
        // Again: another process may have created it since the first check.
        if (QString problem = unsafeDatabaseFiles(path); !problem.isEmpty()) {
            *error = problem;
            return nullptr;
        }
    }
    std::unique_ptr<Store> store(new Store(QStringLiteral("tessera-store-")
                                           + QUuid::createUuid().toString(QUuid::Id128)));
    store->m_dialect = location->isPostgreSQL() ? SqlDialect::PostgreSQL : SqlDialect::SQLite;
    store->m_location = *location;
    if (location->isPostgreSQL()
        && !location->connectOptions.contains(QLatin1String("application_name="))) {
        // Named, so that an operator (and the tests) can tell it in pg_stat_activity.
        QStringList options = location->connectOptions.split(u';', Qt::SkipEmptyParts);
        options << QStringLiteral("application_name=tessera-server-%1")
                           .arg(QCoreApplication::applicationPid());
        store->m_location.connectOptions = options.join(u';');
    }
    if (!openDatabase(&store->m_db, store->m_connectionName, store->m_location, fullSync, error))
        return nullptr;
    if (!migrateSchema(store->m_db, store->m_dialect, error))
        return nullptr;

    auto prepare = [&store](const QString &sql) {
        auto query = std::make_unique<QSqlQuery>(store->m_db);
        if (!query->prepare(sql)) {
            qCCritical(lcServerStore) << "prepare failed:" << query->lastError().text();
            store->m_stale.insert(query.get());
        }
        store->m_prepared.append(query.get());
        return query;
    };
    store->m_findUser = prepare(
            QStringLiteral("SELECT id, username, password_hash FROM users WHERE username = ?"));
    store->m_findRefresh =
            prepare(QLatin1String(RefreshColumns) + QStringLiteral("WHERE r.token_hash = ?"));
    store->m_findSuccessor =
            prepare(QLatin1String(RefreshColumns) + QLatin1String(SuccessorOfParent));
    if (!store->isPostgreSQL()) {
        store->prepareDirectStatements(
                RefreshColumns + QByteArrayLiteral("WHERE r.token_hash = ?"),
                RefreshColumns + QByteArray(SuccessorOfParent), QByteArray(MarkRotated),
                InsertRefreshInto + QByteArrayLiteral("VALUES (?, ?, ?, ?, ?)"));
    }
    store->m_insertRefresh =
            prepare(QLatin1String(InsertRefreshInto) + QStringLiteral("VALUES (?, ?, ?, ?, ?)"));
    if (store->isPostgreSQL()) {
        // One statement, one round trip, atomic on its own (autocommit): the successor is
        // inserted only for a parent the compare-and-set marked, its hash (the one the mark
        // recorded), parent_hash, family and issued_at taken from that row. The cast: a
        // parameter in a select list has no type of its own.
        store->m_rotate = prepare(
                QStringLiteral("WITH marked AS (") + QLatin1String(MarkRotated)
                + QStringLiteral(" RETURNING token_hash, family_id, rotated_at, successor_hash) ")
                + QLatin1String(InsertRefreshInto)
                + QStringLiteral("SELECT successor_hash, family_id, token_hash, rotated_at,"
                                 " CAST(? AS BIGINT) FROM marked"));
    } else {
        store->m_markRotated = prepare(QLatin1String(MarkRotated));
    }
    store->m_insertFamily = prepare(QStringLiteral(
            "INSERT INTO families (id, user_id, created_at, expires_at, client_id, scope, dpop_jkt)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"));
    store->m_familyStatus =
            prepare(QStringLiteral("SELECT revoked_at IS NOT NULL FROM families WHERE id = ?"));
    store->m_findClient =
            prepare(QStringLiteral("SELECT c.id, c.created_at, u.uri FROM clients c"
                                   " LEFT JOIN client_redirect_uris u ON u.client_id = c.id"
                                   " WHERE c.id = ? ORDER BY u.position"));
    store->m_hasClient = prepare(QStringLiteral("SELECT 1 FROM clients WHERE id = ?"));
    // A row left by an expired proof (not purged yet) is taken over rather than counted as a
    // replay: only a live row refuses the proof.
    store->m_rememberDpopProof = prepare(QStringLiteral(
            "INSERT INTO dpop_proofs (proof_hash, expires_at) VALUES (?, ?)"
            " ON CONFLICT (proof_hash) DO UPDATE SET expires_at = excluded.expires_at"
            " WHERE dpop_proofs.expires_at <= ?"));
    return store;
}

bool Store::execute(QSqlQuery &query)
{
    settleGroupUnlessJoining();
    if (m_stale.contains(&query)) {
        // Preparing drops the values bound for this use: bound again once prepared.
        const QVariantList values = query.boundValues();
        if (prepare(query, query.lastQuery())) {
            m_stale.remove(&query);
            for (const QVariant &value : values)
                query.addBindValue(value);
        }
    }
    QSqlError error;
    const auto unprepared = m_unprepared.constFind(&query);
    const bool prepareFailed = unprepared != m_unprepared.cend();
    if (prepareFailed) {
        error = *unprepared;
        m_unprepared.erase(unprepared);
    } else if (!query.exec()) {
        error = query.lastError();
    }
    m_failed = prepareFailed || error.isValid();
    m_failureTransient = false;
    if (m_failed) {
        qCCritical(lcServerStore) << "statement failed:" << error.text();
        classifyFailure(error);
        // The statement is the server's own and prepared before: failing to prepare it is
        // the database's state of the moment (a lock, the connection, a table being altered),
        // worth a retry; prepared again at its next use.
        if (prepareFailed)
            m_failureTransient = true;
        reconnectIfLost();
    }
    return !m_failed;
}

bool Store::prepare(QSqlQuery &query, const QString &statement)
{
    if (query.prepare(statement)) {
        m_unprepared.remove(&query);
        return true;
    }
    QSqlError error = query.lastError();
    // QSqlQuery::prepare() on a closed connection (a reconnect that failed) sets no error.
    if (!error.isValid())
        error = QSqlError(QStringLiteral("the database connection is not open"), {},
                          QSqlError::ConnectionError);
    m_unprepared.insert(&query, error);
    return false;
}

bool Store::transaction()
{
    settleGroup();
    return m_db.transaction();
}

bool Store::settleGroup()
{
    if (!m_groupOpen)
        return true;
    m_groupOpen = false;
    const bool committed = m_db.commit();
    if (!committed) {
        // SQLite keeps the transaction open after a failed COMMIT (SQLITE_BUSY): ended here,
        // so the group's rotations are all undone and their holders answer 503.
        qCWarning(lcServerStore) << "a group of rotations could not be committed:"
                                 << m_db.lastError().text();
        m_db.rollback();
    } else {
        qCDebug(lcServerStore) << "committed a group of" << m_groupRotations << "rotations";
    }
    if (m_groupSettled)
        m_groupSettled(m_groupSerial, committed);
    return committed;
}

void Store::abandonGroup()
{
    m_groupOpen = false;
    m_db.rollback();
    if (m_groupSettled)
        m_groupSettled(m_groupSerial, false);
}

bool Store::begin()
{
    return transaction() || transactionStepFailed("begin");
}

bool Store::commit()
{
    return m_db.commit() || transactionStepFailed("commit");
}

bool Store::transactionStepFailed(const char *step)
{
    m_failed = true;
    m_failureTransient = false;
    qCWarning(lcServerStore) << "cannot" << step << "a transaction:" << m_db.lastError().text();
    classifyFailure(m_db.lastError());
    reconnectIfLost();
    return false;
}

void Store::classifyFailure(const QSqlError &error)
{
    const QString state = error.nativeErrorCode();
    if (m_dialect == SqlDialect::PostgreSQL) {
        // SQLSTATE classes 08 (connection exception), 57 (operator intervention: query
        // canceled by statement_timeout, admin shutdown), 40001 and 40P01.
        m_failureTransient = state.startsWith(QLatin1String("08"))
                || state.startsWith(QLatin1String("57")) || state == QLatin1String("40001")
                || state == QLatin1String("40P01");
        return;
    }
    // SQLite: SQLITE_BUSY (5) or SQLITE_LOCKED (6), extended codes included: another
    // connection held the lock for longer than the busy timeout.
    bool isNumber = false;
    const int primary = state.toInt(&isNumber) & 0xff;
    m_failureTransient = isNumber && (primary == 5 || primary == 6);
}

bool Store::setStatementTimeout(qint64 ms)
{
    m_statementTimeoutMs = ms;
    if (m_dialect != SqlDialect::PostgreSQL)
        return true;
    QSqlQuery query(m_db);
    // A number of milliseconds, not request text.
    if (query.exec(QStringLiteral("SET statement_timeout = %1").arg(ms)))
        return true;
    qCCritical(lcServerStore) << "cannot set statement_timeout:" << query.lastError().text();
    return false;
}

bool Store::connectionLost() const
{
    if (!m_db.isOpen())
        return true;
    // QSqlDriver::handle() holds QPSQL's PGconn*; libpq knows whether the connection broke.
    const QVariant handle = m_db.driver()->handle();
    const char *type = handle.isValid() ? handle.typeName() : "";
    if (std::strcmp(type, "PGconn*") != 0 && std::strcmp(type, "pg_conn*") != 0)
        return false;
    PGconn *connection = *static_cast<PGconn *const *>(handle.data());
    return !connection || PQstatus(connection) == CONNECTION_BAD;
}

void Store::reconnectIfLost()
{
    // The statement that found the connection broken has failed (and, inside a
    // transaction, the caller rolls back); the next one runs on a new connection. At most
    // one attempt a second: a database that is down must not stall every request.
    if (m_dialect != SqlDialect::PostgreSQL || !connectionLost())
        return;
    m_failureTransient = true;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (now - m_lastReconnectMs < 1000)
        return;
    m_lastReconnectMs = now;
    QString error;
    if (!reopenPostgreSQL(&m_db, m_location, &error)) {
        qCWarning(lcServerStore).noquote() << "database connection lost:" << error;
        return;
    }
    if (m_statementTimeoutMs > 0)
        setStatementTimeout(m_statementTimeoutMs);
    for (QSqlQuery *statement : std::as_const(m_prepared)) {
        if (statement->prepare(statement->lastQuery())) {
            m_stale.remove(statement);
            continue;
        }
        qCCritical(lcServerStore) << "prepare failed (tried again at its next use):"
                                  << statement->lastError().text();
        m_stale.insert(statement);
    }
    qCInfo(lcServerStore).noquote() << "database connection re-established";
}

std::optional<Store::User> Store::findUser(const QString &username)
{
    QSqlQuery &query = *m_findUser;
    query.addBindValue(username);
    if (!execute(query) || !query.next()) {
        query.finish();
        return std::nullopt;
    }
    User user{query.value(0).toLongLong(), query.value(1).toString(), query.value(2).toByteArray()};
    query.finish();
    return user;
}

Store::AddUserResult Store::addUser(const QString &username, const QByteArray &passwordHash)
{
    if (findUser(username))
        return AddUserResult::Exists;
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral(
                    "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)"));
    query.addBindValue(username);
    query.addBindValue(QString::fromLatin1(passwordHash));
    query.addBindValue(QDateTime::currentMSecsSinceEpoch());
    if (m_dialect == SqlDialect::SQLite) // one writer at a time: ids commit in order
        return execute(query) ? AddUserResult::Added : AddUserResult::Failed;
    // PostgreSQL draws identity values outside any lock, so two `user add` at once could
    // commit id 8 before id 7, and forEachPasswordHash() would read past 7 for good. The lock
    // is taken before the id is drawn and held until the commit: ids commit in order.
    QSqlQuery lock(m_db);
    if (!begin())
        return AddUserResult::Failed;
    if (!lock.exec(QStringLiteral("SELECT pg_advisory_xact_lock(7365727267)")) || !execute(query)
        || !commit()) {
        m_failed = true;
        m_db.rollback();
        return AddUserResult::Failed;
    }
    return AddUserResult::Added;
}

QList<Store::SigningKey> Store::signingKeys(const QString &algorithm)
{
    QList<SigningKey> keys;
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral("SELECT kid, alg, material FROM signing_keys WHERE alg = ?"
                           " ORDER BY created_at DESC"));
    query.addBindValue(algorithm);
    if (!execute(query))
        return keys;
    while (query.next())
        keys.append({query.value(0).toString(), query.value(1).toString(),
                     query.value(2).toByteArray()});
    return keys;
}

bool Store::addSigningKey(const SigningKey &key)
{
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral("INSERT INTO signing_keys (kid, alg, material, created_at)"
                           " VALUES (?, ?, ?, ?)"));
    query.addBindValue(key.keyId);
    query.addBindValue(key.algorithm);
    query.addBindValue(key.material);
    query.addBindValue(QDateTime::currentMSecsSinceEpoch());
    return execute(query);
}

bool Store::createFamily(const QString &familyId, qint64 userId, qint64 nowMs, qint64 expiresAtMs,
                         const QByteArray &tokenHash, qint64 idleExpiresAtMs,
                         const QString &clientId, const QString &scope, const QString &dpopJkt)
{
    if (!begin())
        return false;
    QSqlQuery &family = *m_insertFamily;
    family.addBindValue(familyId);
    family.addBindValue(userId);
    family.addBindValue(nowMs);
    family.addBindValue(expiresAtMs);
    family.addBindValue(clientId.isEmpty() ? QVariant(QMetaType::fromType<QString>()) : clientId);
    family.addBindValue(clientId.isEmpty() ? QVariant(QMetaType::fromType<QString>()) : scope);
    family.addBindValue(dpopJkt.isEmpty() ? QVariant(QMetaType::fromType<QString>()) : dpopJkt);
    QSqlQuery &token = *m_insertRefresh;
    token.addBindValue(tokenHash);
    token.addBindValue(familyId);
    token.addBindValue(QVariant(QMetaType::fromType<QByteArray>()));
    token.addBindValue(nowMs);
    token.addBindValue(idleExpiresAtMs);
    if (!execute(family) || !execute(token) || !commit()) {
        m_db.rollback();
        return false;
    }
    return true;
}

std::optional<Store::RefreshRecord> Store::readRefresh(QSqlQuery &query)
{
    if (!execute(query) || !query.next()) {
        query.finish();
        return std::nullopt;
    }
    RefreshRecord record;
    record.tokenHash = query.value(0).toByteArray();
    record.familyId = query.value(1).toString();
    record.userId = query.value(2).toLongLong();
    record.username = query.value(3).toString();
    record.issuedAt = query.value(4).toLongLong();
    record.idleExpiresAt = query.value(5).toLongLong();
    if (!query.value(6).isNull())
        record.rotatedAt = query.value(6).toLongLong();
    record.successorSealed = query.value(7).toByteArray();
    record.familyExpiresAt = query.value(8).toLongLong();
    record.familyRevoked = query.value(9).toBool();
    record.parentHash = query.value(10).toByteArray();
    record.graceAnswers = query.value(11).toInt();
    record.clientId = query.value(12).toString();
    record.scope = query.value(13).toString();
    record.dpopJkt = query.value(14).toString();
    query.finish();
    return record;
}

std::optional<Store::RefreshRecord> Store::findRefreshToken(const QByteArray &tokenHash)
{
    // Read inside an open group when the caller may join it: it sees the group's rotations,
    // and an answer that depends on one is held with the group's (RotationGroupScope).
    m_groupJoining = m_groupAllowed;
    std::optional<RefreshRecord> record;
    if (m_direct.findRefresh) {
        record = readRefreshDirect(m_direct.findRefresh.get(), tokenHash);
    } else {
        m_findRefresh->addBindValue(tokenHash);
        record = readRefresh(*m_findRefresh);
    }
    m_groupJoining = false;
    return record;
}

std::optional<Store::RefreshRecord> Store::findSuccessor(const QByteArray &parentHash)
{
    if (m_direct.findSuccessor)
        return readRefreshDirect(m_direct.findSuccessor.get(), parentHash);
    m_findSuccessor->addBindValue(parentHash);
    return readRefresh(*m_findSuccessor);
}

Store::RotateResult Store::rotate(const QByteArray &parentHash, const QByteArray &successorSealed,
                                  qint64 nowMs, const QString &familyId,
                                  const QByteArray &successorHash, qint64 successorIdleExpiresAtMs)
{
    if (m_rotate) {
        QSqlQuery &rotation = *m_rotate;
        rotation.addBindValue(nowMs);
        rotation.addBindValue(successorSealed);
        rotation.addBindValue(successorHash);
        rotation.addBindValue(parentHash);
        rotation.addBindValue(successorIdleExpiresAtMs);
        if (!execute(rotation))
            return RotateResult::Failed;
        const int inserted = rotation.numRowsAffected();
        rotation.finish();
        return inserted == 1 ? RotateResult::Rotated : RotateResult::NotCurrent;
    }
    if (m_groupAllowed)
        return rotateInGroup(parentHash, successorSealed, nowMs, familyId, successorHash,
                             successorIdleExpiresAtMs);
    if (!begin())
        return RotateResult::Failed;
    const RotateResult result = rotateStatements(parentHash, successorSealed, nowMs, familyId,
                                                 successorHash, successorIdleExpiresAtMs);
    if (result != RotateResult::Rotated) {
        m_db.rollback();
        return result;
    }
    if (!commit()) {
        m_db.rollback();
        return RotateResult::Failed;
    }
    return RotateResult::Rotated;
}

Store::RotateResult Store::rotateStatements(const QByteArray &parentHash,
                                            const QByteArray &successorSealed, qint64 nowMs,
                                            const QString &familyId,
                                            const QByteArray &successorHash,
                                            qint64 successorIdleExpiresAtMs)
{
    if (m_direct.markRotated)
        return rotateDirect(parentHash, successorSealed, nowMs, familyId, successorHash,
                            successorIdleExpiresAtMs);
    QSqlQuery &mark = *m_markRotated;
    mark.addBindValue(nowMs);
    mark.addBindValue(successorSealed);
    mark.addBindValue(successorHash);
    mark.addBindValue(parentHash);
    if (!execute(mark))
        return RotateResult::Failed;
    if (mark.numRowsAffected() != 1)
        return RotateResult::NotCurrent;
    QSqlQuery &insert = *m_insertRefresh;
    insert.addBindValue(successorHash);
    insert.addBindValue(familyId);
    insert.addBindValue(parentHash);
    insert.addBindValue(nowMs);
    insert.addBindValue(successorIdleExpiresAtMs);
    return execute(insert) ? RotateResult::Rotated : RotateResult::Failed;
}

Store::RotateResult Store::rotateInGroup(const QByteArray &parentHash,
                                         const QByteArray &successorSealed, qint64 nowMs,
                                         const QString &familyId, const QByteArray &successorHash,
                                         qint64 successorIdleExpiresAtMs)
{
    if (!m_groupOpen) {
        if (!begin())
            return RotateResult::Failed;
        m_groupOpen = true;
        m_groupRotations = 0;
        ++m_groupSerial;
    }
    // Its statements run inside the open group (execute() must not commit it first).
    m_groupJoining = true;
    const RotateResult result = rotateStatements(parentHash, successorSealed, nowMs, familyId,
                                                 successorHash, successorIdleExpiresAtMs);
    m_groupJoining = false;
    if (result == RotateResult::Rotated)
        ++m_groupRotations;
    if (result == RotateResult::Failed) {
        // The mark may stand without its successor: the whole group goes, nothing half-done.
        abandonGroup();
        m_failed = true;
    }
    return result;
}

bool Store::revokeFamily(const QString &familyId, qint64 nowMs, const QString &reason)
{
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral("UPDATE families SET revoked_at = ?, revoke_reason = ?"
                           " WHERE id = ? AND revoked_at IS NULL"));
    query.addBindValue(nowMs);
    query.addBindValue(reason);
    query.addBindValue(familyId);
    if (m_dialect == SqlDialect::SQLite)
        return execute(query);
    // PostgreSQL: every instance's RevocationFeed hears of it, at the commit and only if
    // it commits (a notification sent in a transaction is delivered at its commit).
    // Either prepare may have failed: execute() reports each query's own failure, and the
    // transaction is rolled back whichever it was.
    QSqlQuery notify(m_db);
    prepare(notify, QStringLiteral("SELECT pg_notify(?, ?)"));
    notify.addBindValue(QString::fromLatin1(RevocationChannel));
    notify.addBindValue(familyId);
    bool revoked = begin();
    if (revoked && (!execute(query) || !execute(notify) || !commit())) {
        revoked = false;
        m_db.rollback();
    }
    // A prepare failure left unreported (its query never ran) ends with its query.
    m_unprepared.remove(&query);
    m_unprepared.remove(&notify);
    return revoked;
}

Store::FamilyStatus Store::familyStatus(const QString &familyId)
{
    QSqlQuery &query = *m_familyStatus;
    query.addBindValue(familyId);
    if (!execute(query)) {
        query.finish();
        return FamilyStatus::Error;
    }
    FamilyStatus status = FamilyStatus::Missing;
    if (query.next())
        status = query.value(0).toBool() ? FamilyStatus::Revoked : FamilyStatus::Active;
    query.finish();
    return status;
}

int Store::purgeExpired(qint64 nowMs, qint64 slackMs)
{
    QSqlQuery query(m_db);
    // A family is idle-expired when its current token is; the ON DELETE CASCADE
    // removes its token rows.
    prepare(query,
            QStringLiteral("DELETE FROM families WHERE expires_at < ? OR id IN ("
                           " SELECT family_id FROM refresh_tokens"
                           " WHERE rotated_at IS NULL AND idle_expires_at < ?)"));
    query.addBindValue(nowMs - slackMs);
    query.addBindValue(nowMs - slackMs);
    if (!execute(query))
        return 0;
    return query.numRowsAffected();
}

Store::DpopProofResult Store::rememberDpopProof(const QByteArray &proofHash, qint64 expiresAtMs,
                                                qint64 nowMs)
{
    QSqlQuery &query = *m_rememberDpopProof;
    query.addBindValue(proofHash);
    query.addBindValue(expiresAtMs);
    query.addBindValue(nowMs);
    if (!execute(query))
        return DpopProofResult::Failed;
    const int written = query.numRowsAffected();
    query.finish();
    return written == 1 ? DpopProofResult::New : DpopProofResult::Replayed;
}

int Store::purgeDpopProofs(qint64 nowMs)
{
    QSqlQuery query(m_db);
    prepare(query, QStringLiteral("DELETE FROM dpop_proofs WHERE expires_at <= ?"));
    query.addBindValue(nowMs);
    if (!execute(query))
        return 0;
    return query.numRowsAffected();
}

bool Store::replacePasswordHash(qint64 userId, const QByteArray &expectedHash,
                                const QByteArray &newHash)
{
    // One statement, so the database applies it whole or not at all; the compare
    // keeps a concurrent change from being overwritten.
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral(
                    "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?"));
    query.addBindValue(QString::fromLatin1(newHash));
    query.addBindValue(userId);
    query.addBindValue(QString::fromLatin1(expectedHash));
    return execute(query) && query.numRowsAffected() == 1;
}

qint64 Store::forEachPasswordHash(qint64 afterUserId,
                                  const std::function<void(const QByteArray &)> &visit)
{
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    prepare(query, QStringLiteral("SELECT id, password_hash FROM users WHERE id > ? ORDER BY id"));
    query.addBindValue(afterUserId);
    if (!execute(query))
        return afterUserId;
    qint64 last = afterUserId;
    while (query.next()) {
        last = query.value(0).toLongLong();
        visit(query.value(1).toByteArray());
    }
    return last;
}

bool Store::claimGraceAnswer(const QByteArray &tokenHash, int maxAnswers)
{
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral("UPDATE refresh_tokens SET grace_answers = grace_answers + 1"
                           " WHERE token_hash = ? AND grace_answers < ?"));
    query.addBindValue(tokenHash);
    query.addBindValue(maxAnswers);
    return execute(query) && query.numRowsAffected() == 1;
}

std::optional<int> Store::graceAnswers(const QByteArray &tokenHash)
{
    QSqlQuery query(m_db);
    prepare(query, QStringLiteral("SELECT grace_answers FROM refresh_tokens WHERE token_hash = ?"));
    query.addBindValue(tokenHash);
    if (!execute(query) || !query.next())
        return std::nullopt;
    return query.value(0).toInt();
}

} // namespace Tessera::Server
