// SPDX-License-Identifier: MIT
// Private: serialises refreshes of one account across processes of one app.
#pragma once

#include <tessera/tessera_sdk_export.h>

#include <QtCore/QLockFile>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtCore/QTimer>

#include <functional>
#include <memory>

namespace Tessera {

// A lock file per storage key, acquired without blocking the event loop: polls
// QLockFile::tryLock(0). QLockFile recognises the lock of a crashed (killed)
// process as stale, so a SIGKILLed holder never blocks the others for long. Exported only
// for the tests, which hold a session's lock as another process would.
class TESSERA_SDK_EXPORT CrossProcessLock : public QObject
{
    Q_OBJECT
public:
    // `name` is hashed into the file name; the directory is the user's runtime
    // directory (XDG_RUNTIME_DIR) or, failing that, the temporary directory.
    explicit CrossProcessLock(const QString &name, QObject *parent = nullptr);
    ~CrossProcessLock() override;

    // Calls `done(true)` once the lock is held, or `done(false)` when it could not
    // be had within `timeoutMs` (the caller proceeds unlocked; the server's grace
    // window still covers a race). Completion is always asynchronous.
    void acquire(std::function<void(bool locked)> done, int timeoutMs = 15000);
    void release();
    bool isHeld() const;
    QString fileName() const { return m_fileName; }

private:
    void poll();

    QString m_fileName;
    std::unique_ptr<QLockFile> m_lock;
    QTimer m_pollTimer;
    qint64 m_deadline = 0;
    std::function<void(bool)> m_done;
};

} // namespace Tessera
