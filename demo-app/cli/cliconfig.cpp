// SPDX-License-Identifier: MIT
#include "cliconfig.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QSettings>
#include <QtCore/QStandardPaths>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

namespace TesseraCli {

namespace {

QString modeText(mode_t mode)
{
    return QStringLiteral("0%1").arg(uint(mode & 07777), 3, 8, QLatin1Char('0'));
}

QString writableBy(mode_t mode)
{
    if ((mode & S_IWGRP) && (mode & S_IWOTH))
        return QStringLiteral("group and others");
    return (mode & S_IWGRP) ? QStringLiteral("its group") : QStringLiteral("others");
}

QString systemError(int error)
{
    return QString::fromLocal8Bit(std::strerror(error));
}

// Why a directory above the config is unsafe to trust, or an empty string. An
// owner other than the user or root, or write access for group or others
// without the sticky bit, lets someone else replace the file.
QString unsafeDirectory(const QString &config, const QString &directory)
{
    struct stat st;
    if (::stat(QFile::encodeName(directory).constData(), &st) != 0)
        return QStringLiteral("cannot check config %1: %2: %3")
                .arg(config, directory, systemError(errno));
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return QStringLiteral("refusing config %1: its directory %2 belongs to uid %3, not to you "
                              "(uid %4) or root; fix: keep the config in a directory of your own "
                              "(--config FILE)")
                .arg(config, directory)
                .arg(st.st_uid)
                .arg(geteuid());
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
        return QStringLiteral("refusing config %1: its directory %2 is writable by %3 (mode %4); "
                              "fix: chmod go-w %2")
                .arg(config, directory, writableBy(st.st_mode), modeText(st.st_mode));
    return {};
}

// Why a directory above the config, from its own up to the root (symbolic
// links resolved), is unsafe, or an empty string.
QString unsafeDirectories(const QString &path)
{
    char resolved[PATH_MAX];
    const QString parent = QFileInfo(path).absolutePath();
    if (!::realpath(QFile::encodeName(parent).constData(), resolved))
        return QStringLiteral("cannot check config %1: %2: %3")
                .arg(path, parent, systemError(errno));
    QString directory = QFile::decodeName(resolved);
    for (;;) {
        if (const QString why = unsafeDirectory(path, directory); !why.isEmpty())
            return why;
        if (directory == QLatin1String("/"))
            return {};
        directory = QFileInfo(directory).path();
    }
}

// Why the config file or a directory above it is unsafe, or an empty string.
// A missing file is safe to read (there is nothing in it); writing one checks
// the directories (missingFileIsSafe = false).
QString unsafeConfig(const QString &path, bool missingFileIsSafe)
{
    struct stat st;
    if (::lstat(QFile::encodeName(path).constData(), &st) != 0) {
        if (errno != ENOENT)
            return QStringLiteral("cannot read config %1: %2").arg(path, systemError(errno));
        return missingFileIsSafe ? QString() : unsafeDirectories(path);
    }
    if (S_ISLNK(st.st_mode))
        return QStringLiteral("refusing config %1: it is a symbolic link; fix: replace the link "
                              "with the file it points to, or name that file with --config")
                .arg(path);
    if (!S_ISREG(st.st_mode))
        return QStringLiteral("refusing config %1: it is not a regular file").arg(path);
    if (st.st_uid != geteuid())
        return QStringLiteral("refusing config %1: it belongs to uid %2, not to you (uid %3); "
                              "fix: remove it (tessera login writes a new one)")
                .arg(path)
                .arg(st.st_uid)
                .arg(geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return QStringLiteral(
                       "refusing config %1: it is writable by %2 (mode %3); fix: chmod 600 %1")
                .arg(path, writableBy(st.st_mode), modeText(st.st_mode));
    return unsafeDirectories(path);
}

// mkdir -p, but every directory it creates is 0700 from the start.
bool makePrivateDirectories(const QString &directory, QString *error)
{
    const QString absolute = QDir::cleanPath(QFileInfo(directory).absoluteFilePath());
    QString prefix;
    for (const QString &part : absolute.split(QLatin1Char('/'), Qt::SkipEmptyParts)) {
        prefix += QLatin1Char('/') + part;
        const QByteArray native = QFile::encodeName(prefix);
        if (::mkdir(native.constData(), 0700) != 0 && errno != EEXIST) {
            *error = QStringLiteral("cannot create %1: %2").arg(prefix, systemError(errno));
            return false;
        }
    }
    return true;
}

} // namespace

QString CliConfig::defaultPath()
{
    return QStandardPaths::writableLocation(QStandardPaths::GenericConfigLocation)
            + QStringLiteral("/tessera/cli.conf");
}

CliConfig::CliConfig(const QString &path)
    : m_path(path)
{ }

bool CliConfig::load(QString *error)
{
    m_values.clear();
    if (const QString why = unsafeConfig(m_path, true); !why.isEmpty()) {
        *error = why;
        return false;
    }
    if (!QFileInfo::exists(m_path))
        return true;
    const QSettings settings(m_path, QSettings::IniFormat);
    if (settings.status() != QSettings::NoError) {
        *error = QStringLiteral("cannot read config %1: not a valid INI file").arg(m_path);
        return false;
    }
    for (const QString &key : settings.allKeys())
        m_values.insert(key, settings.value(key).toString());
    return true;
}

bool CliConfig::save(QString *error)
{
    const QString directory = QFileInfo(m_path).absolutePath();
    if (!makePrivateDirectories(directory, error))
        return false;
    // The default directory holds nothing but this file: keep it private even
    // if an older version created it 0755.
    struct stat st;
    if (directory == QFileInfo(defaultPath()).absolutePath()
        && ::lstat(QFile::encodeName(directory).constData(), &st) == 0 && S_ISDIR(st.st_mode)
        && st.st_uid == geteuid() && (st.st_mode & 077))
        ::chmod(QFile::encodeName(directory).constData(), 0700);
    if (const QString why = unsafeConfig(m_path, false); !why.isEmpty()) {
        *error = why;
        return false;
    }

    QByteArray temporary = QFile::encodeName(directory + QStringLiteral("/.cli.conf.XXXXXX"));
    const int fd = ::mkstemp(temporary.data()); // 0600
    if (fd < 0) {
        *error = QStringLiteral("cannot write config in %1: %2").arg(directory, systemError(errno));
        return false;
    }
    ::close(fd);
    const QString temporaryPath = QFile::decodeName(temporary);
    auto fail = [&](const QString &why) {
        ::unlink(temporary.constData());
        *error = QStringLiteral("cannot write config %1: %2").arg(m_path, why);
        return false;
    };
    {
        QSettings settings(temporaryPath, QSettings::IniFormat);
        for (auto it = m_values.cbegin(); it != m_values.cend(); ++it)
            settings.setValue(it.key(), it.value());
        settings.sync();
        if (settings.status() != QSettings::NoError)
            return fail(QStringLiteral("writing the temporary file failed"));
    }
    // QSettings replaces the file it writes; make sure the result is still private.
    if (::chmod(temporary.constData(), 0600) != 0)
        return fail(systemError(errno));
    if (::rename(temporary.constData(), QFile::encodeName(m_path).constData()) != 0)
        return fail(systemError(errno));
    return true;
}

} // namespace TesseraCli
