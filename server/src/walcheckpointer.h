// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QString>
#include <QtCore/QThread>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace Tessera::Server {

class Store;

// SQLite: checkpoints the WAL on a thread and a connection of its own, so that the serving
// thread's commits never run one (a checkpoint syncs the WAL and the database file). While it
// runs, the store's connection has automatic checkpoints off; should this thread fail, they are
// turned back on (docs/SERVER.md "SQLite checkpoints").
//
// Every interval a PASSIVE checkpoint copies what the log holds into the database file; it
// never waits for the serving connection. Once the log holds more than RestartAboveFrames pages
// a RESTART checkpoint follows, which holds the serving thread's writes back (200 ms at most)
// until the log is copied and unused, so that the next write starts it from its beginning: the
// -wal file stays near that size under constant load. At shutdown, a TRUNCATE checkpoint.
class WalCheckpointer : public QThread
{
    Q_OBJECT
public:
    // The log size, in pages, past which a RESTART checkpoint starts it again (16 MiB of 4 KiB
    // pages; SQLite's own automatic checkpoints start at 1000).
    static constexpr int RestartAboveFrames = 4000;

    // Starts checkpointing `databasePath`, the SQLite database `store` serves, every `interval`
    // (defaultInterval() when zero), with the store's synchronous mode (`fullSync`), and turns
    // the store's automatic checkpoints off. Null when the thread's connection could not be
    // opened: the store keeps its automatic checkpoints, and the reason is logged. `store`
    // outlives the checkpointer.
    static std::unique_ptr<WalCheckpointer> start(Store &store, const QString &databasePath,
                                                  bool fullSync,
                                                  std::chrono::milliseconds interval = {});
    // A last checkpoint (TRUNCATE), then the thread ends.
    ~WalCheckpointer() override;

    // 100 ms, or TESSERA_SERVER_WAL_CHECKPOINT_MS when set (docs/SERVER.md).
    static std::chrono::milliseconds defaultInterval();

signals:
    // Checkpoints failed on this thread, which has stopped: the store checkpoints again.
    void failed(const QString &reason);

protected:
    void run() override;

private:
    WalCheckpointer(const QString &databasePath, bool fullSync, std::chrono::milliseconds interval);

    const QString m_databasePath;
    const bool m_fullSync;
    const std::chrono::milliseconds m_interval;
    std::mutex m_mutex;
    std::condition_variable m_opened;
    bool m_openDone = false;
    QString m_openError;
};

} // namespace Tessera::Server
