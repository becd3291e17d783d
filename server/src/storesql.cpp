// SPDX-License-Identifier: MIT
#include "storesql.h"

#include "logging.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QList>
#include <QtCore/QThread>
#include <QtCore/QVariant>
#include <QtSql/QSqlError>
#include <QtSql/QSqlQuery>

namespace Tessera::Server {
namespace {

// The schema, as the steps that build it: version N is reached by running
// step N on version N - 1, and a new database runs them all. A step is never
// changed once released; a change of schema is a new step at the end.
//
// Statements are written once for both engines, with these column types
// filled in per engine (engineSql()):
//   {id}      an auto-numbered 64-bit primary key
//   {bigint}  a 64-bit integer (times are milliseconds since the epoch)
//   {bytes}   binary data
struct MigrationStep
{
    int version;
    QList<const char *> statements;
};

const QList<MigrationStep> &migrationSteps()
{
    static const QList<MigrationStep> steps = {
            {1,
             {
                     "CREATE TABLE users ("
                     " id {id},"
                     " username TEXT NOT NULL UNIQUE,"
                     " password_hash TEXT NOT NULL,"
                     " created_at {bigint} NOT NULL)",
                     "CREATE TABLE signing_keys ("
                     " kid TEXT PRIMARY KEY,"
                     " alg TEXT NOT NULL,"
                     " material {bytes} NOT NULL,"
                     " created_at {bigint} NOT NULL)",
                     // One family per login. Rotation never touches expires_at
                     // (absolute lifetime).
                     "CREATE TABLE families ("
                     " id TEXT PRIMARY KEY,"
                     " user_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
                     " created_at {bigint} NOT NULL,"
                     " expires_at {bigint} NOT NULL,"
                     " revoked_at {bigint},"
                     " revoke_reason TEXT)",
                     // rotated_at IS NULL marks the family's current token; rotated
                     // rows stay until the family expires so that their reuse can be
                     // detected.
                     "CREATE TABLE refresh_tokens ("
                     " token_hash {bytes} PRIMARY KEY,"
                     " family_id TEXT NOT NULL REFERENCES families(id) ON DELETE CASCADE,"
                     " parent_hash {bytes},"
                     " issued_at {bigint} NOT NULL,"
                     " idle_expires_at {bigint} NOT NULL,"
                     " rotated_at {bigint},"
                     " successor_sealed {bytes})",
                     "CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id)",
                     "CREATE UNIQUE INDEX refresh_tokens_parent ON refresh_tokens(parent_hash)",
                     "CREATE INDEX families_expiry ON families(expires_at)",
             }},
            // How many times the grace window answered a rotated token.
            {2,
             {
                     "ALTER TABLE refresh_tokens ADD COLUMN grace_answers INTEGER NOT NULL"
                     " DEFAULT 0",
             }},
            // Public native clients and their redirect URIs, in the order given
            // (position); removing a client removes its URIs.
            {3,
             {
                     "CREATE TABLE clients ("
                     " id TEXT PRIMARY KEY,"
                     " created_at {bigint} NOT NULL)",
                     "CREATE TABLE client_redirect_uris ("
                     " client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,"
                     " position INTEGER NOT NULL,"
                     " uri TEXT NOT NULL,"
                     " PRIMARY KEY (client_id, position),"
                     " UNIQUE (client_id, uri))",
             }},
            // The OAuth client a family was issued to and its granted scope; authorization
            // codes, stored only as SHA-256 hashes. used_at marks a redeemed code (single
            // use); family_id is the family its exchange started, revoked if the code is
            // presented again (RFC 6749 §4.1.2). storeauthorizationcodes.cpp.
            {4,
             {
                     "ALTER TABLE families ADD COLUMN client_id TEXT",
                     "ALTER TABLE families ADD COLUMN scope TEXT",
                     "CREATE TABLE authorization_codes ("
                     " code_hash {bytes} PRIMARY KEY,"
                     " client_id TEXT NOT NULL,"
                     " redirect_uri TEXT NOT NULL,"
                     " code_challenge TEXT NOT NULL,"
                     " nonce TEXT,"
                     " scope TEXT NOT NULL,"
                     " user_id {bigint} NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
                     " auth_time {bigint} NOT NULL,"
                     " expires_at {bigint} NOT NULL,"
                     " used_at {bigint},"
                     " family_id TEXT)",
                     "CREATE INDEX authorization_codes_expiry ON authorization_codes(expires_at)",
             }},
            // Device authorizations (RFC 8628): the device code only as a SHA-256 hash, the
            // user code as typed by people (normalised); status pending, approved, denied or
            // spent; the poll interval grows by slow_down. storedevicecodes.cpp.
            {5,
             {
                     "CREATE TABLE device_codes ("
                     " device_code_hash {bytes} PRIMARY KEY,"
                     " user_code TEXT NOT NULL UNIQUE,"
                     " client_id TEXT NOT NULL,"
                     " scope TEXT NOT NULL,"
                     " created_at {bigint} NOT NULL,"
                     " expires_at {bigint} NOT NULL,"
                     " interval_s {bigint} NOT NULL,"
                     " last_poll_at {bigint},"
                     " status TEXT NOT NULL,"
                     " user_id {bigint} REFERENCES users(id) ON DELETE CASCADE,"
                     " auth_time {bigint})",
                     "CREATE INDEX device_codes_expiry ON device_codes(expires_at)",
             }},
            // Failed (and in-flight) logins, counted by every instance together on
            // PostgreSQL (storeloginfailures.cpp; SQLite counts in memory). pair_cleared: a
            // success of the same (username, address) ended its pair window.
            {6,
             {
                     "CREATE TABLE login_failures ("
                     " id {id},"
                     " username TEXT NOT NULL,"
                     " address TEXT NOT NULL,"
                     " at_ms {bigint} NOT NULL,"
                     " pair_cleared INTEGER NOT NULL DEFAULT 0)",
                     "CREATE INDEX login_failures_address ON login_failures(address, at_ms)",
                     "CREATE INDEX login_failures_username ON login_failures(username, at_ms)",
             }},
            // DPoP (RFC 9449): the RFC 7638 thumbprint of the key a family is bound to (NULL:
            // unbound; set when the family is created, never changed) and the dpop_jkt an
            // authorization code was requested with (RFC 9449 section 10).
            {7,
             {
                     "ALTER TABLE families ADD COLUMN dpop_jkt TEXT",
                     "ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT",
             }},
            // The DPoP proofs accepted by any instance on the database (Store::
            // rememberDpopProof()): the SHA-256 of the proof's htu and jti, kept until its
            // iat + the acceptance window. Used on PostgreSQL; an SQLite server is one process
            // and keeps its replay cache in memory.
            {8,
             {
                     "CREATE TABLE dpop_proofs ("
                     " proof_hash {bytes} PRIMARY KEY,"
                     " expires_at {bigint} NOT NULL)",
                     "CREATE INDEX dpop_proofs_expiry ON dpop_proofs(expires_at)",
             }},
            // A rotated token names its successor (successor_hash, set by the rotation's
            // compare-and-set together with rotated_at), so the grace window finds the
            // successor through the primary key. The unique index on parent_hash goes: at
            // most one successor per parent is the compare-and-set's guarantee (one rotation
            // marks the parent), and each rotation no longer writes a page of a third index.
            {9,
             {
                     "ALTER TABLE refresh_tokens ADD COLUMN successor_hash {bytes}",
                     "UPDATE refresh_tokens SET successor_hash = (SELECT c.token_hash FROM"
                     " refresh_tokens c WHERE c.parent_hash = refresh_tokens.token_hash)"
                     " WHERE rotated_at IS NOT NULL",
                     "DROP INDEX IF EXISTS refresh_tokens_parent",
             }},
    };
    return steps;
}

QString engineSql(const char *statement, SqlDialect dialect)
{
    QString sql = QString::fromLatin1(statement);
    const bool sqlite = dialect == SqlDialect::SQLite;
    // SQLite: INTEGER PRIMARY KEY is the 64-bit rowid, numbered automatically.
    sql.replace(QLatin1String("{id}"),
                sqlite ? QLatin1String("INTEGER PRIMARY KEY")
                       : QLatin1String("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"));
    sql.replace(QLatin1String("{bigint}"),
                sqlite ? QLatin1String("INTEGER") : QLatin1String("BIGINT"));
    sql.replace(QLatin1String("{bytes}"), sqlite ? QLatin1String("BLOB") : QLatin1String("BYTEA"));
    return sql;
}

// libpq's message on one line; the password, should it ever be quoted, cut out.
QString connectionError(const QSqlError &error, const QString &password)
{
    QString message = error.text().simplified();
    if (!password.isEmpty())
        message.replace(password, QStringLiteral("<redacted>"));
    return message;
}

bool openPostgreSQL(QSqlDatabase *db, const QString &connectionName,
                    const DatabaseLocation &location, QString *error)
{
    if (!QSqlDatabase::isDriverAvailable(QStringLiteral("QPSQL"))) {
        *error = QStringLiteral("PostgreSQL needs Qt's QPSQL driver (Debian package "
                                "libqt6sql6-psql), which is not installed");
        return false;
    }
    *db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), connectionName);
    if (!location.host.isEmpty())
        db->setHostName(location.host);
    db->setPort(location.port);
    db->setUserName(location.user);
    db->setPassword(location.password);
    db->setDatabaseName(location.databaseName);
    db->setConnectOptions(location.connectOptions);
    return reopenPostgreSQL(db, location, error);
}

} // namespace

bool reopenPostgreSQL(QSqlDatabase *db, const DatabaseLocation &location, QString *error)
{
    db->close();
    if (!db->open()) {
        *error = QStringLiteral("cannot connect to %1: %2")
                         .arg(location.displayName(),
                              connectionError(db->lastError(), location.password));
        return false;
    }
    // Statements that must see each other's writes at once (the rotation
    // compare-and-set) rely on READ COMMITTED, PostgreSQL's default; say so
    // rather than inherit a different default_transaction_isolation.
    QSqlQuery setup(*db);
    if (!setup.exec(QStringLiteral("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL "
                                   "READ COMMITTED"))
        || !setup.exec(QStringLiteral("SET client_min_messages = warning"))) {
        *error = QStringLiteral("cannot set up the connection to %1: %2")
                         .arg(location.displayName(), setup.lastError().text());
        return false;
    }
    return true;
}

namespace {

bool openSQLite(QSqlDatabase *db, const QString &connectionName, const QString &path, bool fullSync,
                QString *error)
{
    *db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connectionName);
    db->setDatabaseName(path);
    db->setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=%1").arg(SqliteBusyTimeoutMs));
    if (!db->open()) {
        *error = db->lastError().text();
        return false;
    }
    QSqlQuery pragma(*db);
    const QString pragmas[] = {
            QStringLiteral("PRAGMA journal_mode=WAL"),
            fullSync ? QStringLiteral("PRAGMA synchronous=FULL")
                     : QStringLiteral("PRAGMA synchronous=NORMAL"),
            QStringLiteral("PRAGMA foreign_keys=ON"),
    };
    for (const QString &statement : pragmas) {
        // Turning a new database to WAL takes its exclusive lock, and SQLite does not wait for
        // that one through the busy timeout: processes opening one new database together
        // (commands, instances starting) retry for as long as the busy timeout would wait.
        QElapsedTimer waited;
        waited.start();
        while (!pragma.exec(statement)) {
            bool isNumber = false;
            const int primary = pragma.lastError().nativeErrorCode().toInt(&isNumber) & 0xff;
            if (!isNumber || (primary != 5 && primary != 6)
                || waited.elapsed() >= SqliteBusyTimeoutMs) {
                *error = pragma.lastError().text();
                return false;
            }
            QThread::msleep(10);
        }
    }
    return true;
}

} // namespace

bool openDatabase(QSqlDatabase *db, const QString &connectionName, const DatabaseLocation &location,
                  bool fullSync, QString *error)
{
    if (location.isPostgreSQL())
        return openPostgreSQL(db, connectionName, location, error);
    return openSQLite(db, connectionName, location.sqlitePath, fullSync, error);
}

bool setAutomaticCheckpoints(QSqlDatabase &db, bool on)
{
    QSqlQuery pragma(db);
    return pragma.exec(on ? QStringLiteral("PRAGMA wal_autocheckpoint=1000")
                          : QStringLiteral("PRAGMA wal_autocheckpoint=0"));
}

int latestSchemaVersion()
{
    return migrationSteps().last().version;
}

bool migrateSchema(QSqlDatabase &db, SqlDialect dialect, QString *error)
{
    QSqlQuery query(db);
    auto fail = [&db, &query, error](const QString &what) {
        *error = what + QStringLiteral(": ") + query.lastError().text().simplified();
        db.rollback();
        return false;
    };
    // Processes opening one database together: one migrates, the others wait
    // and then find the work done. SQLite: the write lock is taken at BEGIN,
    // where the busy timeout waits for it; a deferred transaction that reads
    // and then writes fails at once ("database is locked") when another
    // process wrote first. PostgreSQL: an advisory lock, as tables being
    // created by another transaction are not waited for by IF NOT EXISTS.
    const bool begun = dialect == SqlDialect::SQLite ? query.exec(QStringLiteral("BEGIN IMMEDIATE"))
                                                     : db.transaction();
    if (!begun) {
        *error = QStringLiteral("cannot start a transaction: ")
                + (dialect == SqlDialect::SQLite ? query.lastError() : db.lastError()).text();
        return false;
    }
    if (dialect == SqlDialect::PostgreSQL
        && !query.exec(QStringLiteral("SELECT pg_advisory_xact_lock(7365727265)")))
        return fail(QStringLiteral("cannot lock the schema"));
    if (!query.exec(QStringLiteral(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")))
        return fail(QStringLiteral("cannot create the schema"));
    if (!query.exec(QStringLiteral("SELECT value FROM meta WHERE key = 'schema'")))
        return fail(QStringLiteral("cannot read the schema version"));
    const int version = query.next() ? query.value(0).toInt() : 0; // 0: a new database
    query.finish();
    const int latest = latestSchemaVersion();
    if (version > latest) {
        *error = QStringLiteral("the database has schema version %1, newer than this server's (%2)")
                         .arg(version)
                         .arg(latest);
        db.rollback();
        return false;
    }
    for (const MigrationStep &step : migrationSteps()) {
        if (step.version <= version)
            continue;
        for (const char *statement : step.statements) {
            if (!query.exec(engineSql(statement, dialect)))
                return fail(QStringLiteral("cannot upgrade the schema to version %1")
                                    .arg(step.version));
        }
    }
    query.prepare(QStringLiteral("INSERT INTO meta (key, value) VALUES ('schema', ?)"
                                 " ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
    query.addBindValue(QString::number(latest));
    if (!query.exec())
        return fail(QStringLiteral("cannot record the schema version"));
    if (!db.commit()) {
        *error = QStringLiteral("cannot commit the schema: ") + db.lastError().text();
        return false;
    }
    if (version > 0 && version < latest)
        qCInfo(lcServerStore) << "database schema upgraded from version" << version << "to"
                              << latest;
    return true;
}

} // namespace Tessera::Server
