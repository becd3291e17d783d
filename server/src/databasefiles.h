// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QString>

#include <sys/types.h>

namespace Tessera::Server {

// The database holds the signing keys and every refresh-token hash: another
// account that can read, replace or pre-create one of its files owns the
// server. These checks refuse such files instead of using them
// (docs/SERVER.md "Database files").

// Where --db points by default: $XDG_DATA_HOME/tessera-server/tessera-server.sqlite3
// (~/.local/share/... when XDG_DATA_HOME is unset).
QString defaultDatabasePath();

// Creates the directory of the default database (mode 0700) if it is missing.
bool createDefaultDatabaseDirectory(QString *error);

// Empty when `databasePath`, its directory and its side files (-wal, -shm,
// -journal) are safe to use; else one line saying what is wrong:
// - the directory must be owned by this user or root and writable by its
//   owner only (no group or other write bit, sticky or not): nobody else may
//   create a file SQLite would read;
// - each file that exists must be a regular file (not a symbolic link), owned
//   by this user, with mode 0600.
// Must run before SQLite opens anything there.
QString unsafeDatabaseFiles(const QString &databasePath);

// Sets the process umask for its lifetime, so files SQLite creates are 0600.
class ScopedUmask
{
public:
    explicit ScopedUmask(mode_t mask);
    ~ScopedUmask();
    ScopedUmask(const ScopedUmask &) = delete;
    ScopedUmask &operator=(const ScopedUmask &) = delete;

private:
    mode_t m_previous;
};

} // namespace Tessera::Server
