// SPDX-License-Identifier: MIT
#include "crossprocesslock_p.h"

#include "logging_p.h"

#include <tessera/jose.h>

#include <QtCore/QDateTime>
#include <QtCore/QDir>
#include <QtCore/QStandardPaths>

namespace Tessera {

CrossProcessLock::CrossProcessLock(const QString &name, QObject *parent)
    : QObject(parent)
{
    QString directory = QStandardPaths::writableLocation(QStandardPaths::RuntimeLocation);
    if (directory.isEmpty())
        directory = QDir::tempPath();
    directory += QStringLiteral("/tessera-locks");
    QDir().mkpath(directory);
    QFile::setPermissions(directory,
                          QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
    const QByteArray digest = Jose::sha256(name.toUtf8()).toHex().left(32);
    m_fileName = directory + u'/' + QString::fromLatin1(digest) + QStringLiteral(".lock");
    m_lock = std::make_unique<QLockFile>(m_fileName);
    // A refresh takes seconds at most; a lock older than this is abandoned.
    m_lock->setStaleLockTime(60000);
    m_pollTimer.setInterval(20);
    connect(&m_pollTimer, &QTimer::timeout, this, &CrossProcessLock::poll);
}

CrossProcessLock::~CrossProcessLock()
{
    release();
}

void CrossProcessLock::acquire(std::function<void(bool)> done, int timeoutMs)
{
    m_done = std::move(done);
    m_deadline = QDateTime::currentMSecsSinceEpoch() + timeoutMs;
    QTimer::singleShot(0, this, &CrossProcessLock::poll);
}

void CrossProcessLock::poll()
{
    if (!m_done)
        return;
    const bool locked = m_lock->isLocked() || m_lock->tryLock(0);
    if (!locked && QDateTime::currentMSecsSinceEpoch() < m_deadline) {
        if (!m_pollTimer.isActive())
            m_pollTimer.start();
        return;
    }
    m_pollTimer.stop();
    if (!locked)
        qCWarning(lcSession) << "refresh lock not acquired in time; refreshing unlocked";
    auto done = std::move(m_done);
    m_done = nullptr;
    done(locked);
}

void CrossProcessLock::release()
{
    m_pollTimer.stop();
    m_done = nullptr;
    if (m_lock && m_lock->isLocked())
        m_lock->unlock();
}

bool CrossProcessLock::isHeld() const
{
    return m_lock && m_lock->isLocked();
}

} // namespace Tessera
