// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QProcessEnvironment>
#include <QtCore/QString>

#include <optional>

namespace Tessera::Server {

// Where --db points: an SQLite file, or a PostgreSQL database named by a libpq
// URI (postgresql://user[:password]@host[:port]/dbname[?param=value&...], or
// postgres://). What the URI leaves out comes from the PG* environment
// variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE), as libpq does.
struct DatabaseLocation
{
    enum class Engine { SQLite, PostgreSQL };
    Engine engine = Engine::SQLite;

    QString sqlitePath; // SQLite only

    // PostgreSQL only. `host` is a name, an address or a Unix socket directory
    // (starts with '/'); empty means libpq's default socket directory.
    QString host;
    int port = 5432;
    QString user;     // empty: libpq's default (the operating-system user)
    QString password; // secret: never logged, never in a message
    QString databaseName;
    // libpq keywords for QSqlDatabase::setConnectOptions ("sslmode=require;...").
    QString connectOptions;

    bool isPostgreSQL() const { return engine == Engine::PostgreSQL; }
    // For logs and messages: the URI without the password.
    QString displayName() const;
};

// Parses a --db value. A value that starts with "SCHEME://" is a URI and must
// be postgresql:// or postgres://; anything else is an SQLite path. On error,
// `error` says which part is wrong without quoting any of the value (it may
// hold a password).
std::optional<DatabaseLocation> parseDatabaseLocation(
        const QString &value, QString *error,
        const QProcessEnvironment &environment = QProcessEnvironment::systemEnvironment());

} // namespace Tessera::Server
