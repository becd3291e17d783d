// SPDX-License-Identifier: MIT
#pragma once

#include "databaseurl.h"

#include <QtCore/QString>
#include <QtSql/QSqlDatabase>

namespace Tessera::Server {

// What differs between the two engines the Store runs on: opening a
// connection, and the column types of the schema. Every other statement of the
// Store is written once, in SQL both engines accept.
enum class SqlDialect { SQLite, PostgreSQL };

// PostgreSQL: the NOTIFY channel on which a revocation sends its family id (revocationfeed.h).
inline constexpr char RevocationChannel[] = "tessera_revocation";
// Each instance's listener answers there with the family id once it applied a revocation.
inline constexpr char RevocationAckChannel[] = "tessera_revocation_ack";

// SQLite: how long a statement waits for another connection's lock before it fails with
// SQLITE_BUSY (every connection the server opens).
inline constexpr int SqliteBusyTimeoutMs = 5000;

// Opens connection `connectionName` to `location` (SQLite: WAL, foreign keys
// on, `fullSync` choosing synchronous=FULL; the caller has checked the files).
// Messages never hold the password.
bool openDatabase(QSqlDatabase *db, const QString &connectionName, const DatabaseLocation &location,
                  bool fullSync, QString *error);

// SQLite: whether `db` checkpoints the WAL itself after its commits, once the log holds 1000
// pages (SQLite's default, on for every new connection). Off while a WalCheckpointer
// (walcheckpointer.h) checkpoints from its own thread.
bool setAutomaticCheckpoints(QSqlDatabase &db, bool on);

// PostgreSQL: (re)opens `db`, set up by openDatabase(), and sets up its session again; for
// a connection that was lost.
bool reopenPostgreSQL(QSqlDatabase *db, const DatabaseLocation &location, QString *error);

// The schema version this server writes.
int latestSchemaVersion();

// Brings the schema up to latestSchemaVersion() in one transaction (a new
// database gets every step); refuses a database from a newer server. On
// PostgreSQL an advisory lock makes instances starting together take turns.
bool migrateSchema(QSqlDatabase &db, SqlDialect dialect, QString *error);

} // namespace Tessera::Server
