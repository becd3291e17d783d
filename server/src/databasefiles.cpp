// SPDX-License-Identifier: MIT
#include "databasefiles.h"

#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QStandardPaths>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace Tessera::Server {
namespace {

QString octal(mode_t mode)
{
    return QStringLiteral("%1").arg(uint(mode & 07777), 4, 8, QLatin1Char('0'));
}

QString userName(uid_t uid)
{
    const passwd *entry = ::getpwuid(uid);
    return entry ? QString::fromLocal8Bit(entry->pw_name) : QStringLiteral("uid %1").arg(uid);
}

// Nobody but this user (or root) may be able to create a file in the
// directory: SQLite reads a -wal file it finds there as part of the database,
// so one planted between these checks and SQLite's open would be adopted,
// whatever its owner or mode. The sticky bit does not help (it only protects
// files that already exist), nor does a group of one member (members can be
// added, setgid programs write with it).
QString unsafeDirectory(const QString &directory)
{
    struct stat info = {};
    if (::stat(QFile::encodeName(directory).constData(), &info) != 0)
        return QStringLiteral("the database directory %1 does not exist").arg(directory);
    if (!S_ISDIR(info.st_mode))
        return QStringLiteral("%1 is not a directory").arg(directory);
    if (info.st_uid != ::geteuid() && info.st_uid != 0)
        return QStringLiteral("refusing the database directory %1: it belongs to %2, who could "
                              "replace the database; use a directory of this user (mode 0700)")
                .arg(directory, userName(info.st_uid));
    if (info.st_mode & (S_IWGRP | S_IWOTH))
        return QStringLiteral("refusing the database directory %1: mode %2 lets %3 create files "
                              "in it (a planted -wal file would take over the database, sticky "
                              "bit or not); use a directory only this user can write to (mode "
                              "0700 or 0750)")
                .arg(directory, octal(info.st_mode),
                     info.st_mode & S_IWOTH ? QStringLiteral("every user")
                                            : QStringLiteral("group %1").arg(info.st_gid));
    return {};
}

QString unsafeFile(const QString &path)
{
    struct stat info = {};
    if (::lstat(QFile::encodeName(path).constData(), &info) != 0)
        return {}; // absent: SQLite creates it, under this process's umask 077
    if (S_ISLNK(info.st_mode))
        return QStringLiteral("refusing %1: it is a symbolic link").arg(path);
    if (!S_ISREG(info.st_mode))
        return QStringLiteral("refusing %1: it is not a regular file").arg(path);
    if (info.st_uid != ::geteuid())
        return QStringLiteral("refusing %1: it belongs to %2, not to %3 (this server's user), "
                              "who could read the signing keys or change the database")
                .arg(path, userName(info.st_uid), userName(::geteuid()));
    if ((info.st_mode & 07777) != 0600)
        return QStringLiteral("refusing %1: mode %2, must be 0600 (chmod 600 it)")
                .arg(path, octal(info.st_mode));
    return {};
}

} // namespace

QString defaultDatabasePath()
{
    return QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation)
            + QStringLiteral("/tessera-server/tessera-server.sqlite3");
}

bool createDefaultDatabaseDirectory(QString *error)
{
    const QString directory = QFileInfo(defaultDatabasePath()).absolutePath();
    if (QFileInfo::exists(directory))
        return true;
    const ScopedUmask ownerOnly(077);
    if (!QDir().mkpath(directory)) {
        *error = QStringLiteral("cannot create %1").arg(directory);
        return false;
    }
    return true;
}

QString unsafeDatabaseFiles(const QString &databasePath)
{
    const QFileInfo database(databasePath);
    // The directory as it really is (symbolic links resolved): the one whose
    // permissions decide who can replace the files.
    const QString directory = QFileInfo(database.absolutePath()).canonicalFilePath();
    if (directory.isEmpty())
        return QStringLiteral("the database directory %1 does not exist")
                .arg(database.absolutePath());
    if (QString problem = unsafeDirectory(directory); !problem.isEmpty())
        return problem;
    const QString path = directory + u'/' + database.fileName();
    for (const char *suffix : {"", "-wal", "-shm", "-journal"}) {
        if (QString problem = unsafeFile(path + QLatin1String(suffix)); !problem.isEmpty())
            return problem;
    }
    return {};
}

ScopedUmask::ScopedUmask(mode_t mask)
    : m_previous(::umask(mask))
{ }

ScopedUmask::~ScopedUmask()
{
    ::umask(m_previous);
}

} // namespace Tessera::Server
