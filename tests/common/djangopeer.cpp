// SPDX-License-Identifier: MIT
#include "djangopeer.h"

#include "httpclient.h"

#include <QtCore/QUuid>

#ifndef TESSERA_DJANGO_PEER_PATH
#define TESSERA_DJANGO_PEER_PATH ""
#endif
#ifndef TESSERA_PYTHON_PATH
#define TESSERA_PYTHON_PATH "/usr/bin/python3"
#endif

namespace Tessera::Test {

DjangoPeer::DjangoPeer()
    : ListeningProcess(QStringLiteral("Django peer"), Termination::AnyExit)
    , m_secretKey(QString::fromLatin1(QUuid::createUuid().toRfc4122().toHex()
                                      + QUuid::createUuid().toRfc4122().toHex()))
{
    // A pyenv or virtualenv on PATH must not shadow Debian's packages.
    m_environment.remove(QStringLiteral("PYTHONPATH"));
    m_environment.remove(QStringLiteral("PYTHONHOME"));
    m_environment.remove(QStringLiteral("DJANGO_SETTINGS_MODULE"));
}

QString DjangoPeer::scriptPath()
{
    const QString fromEnvironment = qEnvironmentVariable("TESSERA_DJANGO_PEER");
    return fromEnvironment.isEmpty() ? QString::fromLocal8Bit(TESSERA_DJANGO_PEER_PATH)
                                     : fromEnvironment;
}

QString DjangoPeer::python()
{
    const QString fromEnvironment = qEnvironmentVariable("TESSERA_PYTHON");
    return fromEnvironment.isEmpty() ? QString::fromLocal8Bit(TESSERA_PYTHON_PATH)
                                     : fromEnvironment;
}

QString DjangoPeer::databasePath() const
{
    return m_dir.filePath(QStringLiteral("django.sqlite3"));
}

bool DjangoPeer::start(const QString &user, const QByteArray &password, int timeoutMs)
{
    const QString secretKeyName = QStringLiteral("TESSERA_DJANGO_SECRET_KEY");
    if (!m_environment.contains(secretKeyName))
        m_environment.insert(secretKeyName, m_secretKey);
    return launch(python(),
                  {scriptPath(), QStringLiteral("--db"), databasePath(), QStringLiteral("--user"),
                   user, QStringLiteral("--access-ttl"), QString::number(m_accessTtl)},
                  timeoutMs, password + '\n');
}

namespace {

int countRows(const QString &database, const QString &table)
{
    const auto rows = sqliteSelect(database, QStringLiteral("SELECT COUNT(*) FROM ") + table);
    if (!rows || rows->isEmpty() || rows->first().isEmpty())
        return -1;
    return rows->first().first().toInt();
}

} // namespace

int DjangoPeer::blacklistedCount() const
{
    return countRows(databasePath(), QStringLiteral("token_blacklist_blacklistedtoken"));
}

int DjangoPeer::outstandingCount() const
{
    return countRows(databasePath(), QStringLiteral("token_blacklist_outstandingtoken"));
}

} // namespace Tessera::Test
