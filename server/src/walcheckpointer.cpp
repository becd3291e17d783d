// SPDX-License-Identifier: MIT
#include "walcheckpointer.h"

#include "databaseurl.h"
#include "logging.h"
#include "store.h"
#include "storesql.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QTimer>
#include <QtCore/QUuid>
#include <QtSql/QSqlError>
#include <QtSql/QSqlQuery>

namespace Tessera::Server {
namespace {

// How long a RESTART or TRUNCATE checkpoint waits for the serving connection's write or a
// reader: it holds the write lock meanwhile, so the serving thread's next commit waits as long.
constexpr int RestartBusyTimeoutMs = 200;
// A log that keeps growing past RestartAboveFrames (a reader keeps it in use) is reported at
// most this often.
constexpr qint64 WarnEveryMs = 60 * 1000;

struct CheckpointResult
{
    bool ran = false;      // false: the statement failed (`error`)
    bool complete = false; // every frame of the log is in the database file
    int logFrames = 0;
    QString error;
};

// `mode`: PASSIVE or TRUNCATE. SQLite reports a checkpoint that could not take its locks in
// time as busy, not as an error.
CheckpointResult checkpoint(QSqlDatabase &db, const char *mode)
{
    CheckpointResult result;
    QSqlQuery query(db);
    if (!query.exec(QStringLiteral("PRAGMA wal_checkpoint(%1)").arg(QLatin1String(mode)))) {
        result.error = query.lastError().text();
        return result;
    }
    if (!query.next()) {
        result.error = QStringLiteral("no result");
        return result;
    }
    const bool busy = query.value(0).toInt() != 0;
    result.logFrames = query.value(1).toInt();
    const int checkpointed = query.value(2).toInt();
    if (result.logFrames < 0) { // not in WAL mode, or the checkpoint could not run
        result.error = QStringLiteral("the database is not in WAL mode");
        return result;
    }
    result.ran = true;
    result.complete = !busy && checkpointed == result.logFrames;
    return result;
}

bool setBusyTimeout(QSqlDatabase &db, int ms)
{
    QSqlQuery query(db);
    return query.exec(QStringLiteral("PRAGMA busy_timeout=%1").arg(ms));
}

// RESTART or TRUNCATE: these wait for the writer and the readers, under a short busy timeout.
CheckpointResult blockingCheckpoint(QSqlDatabase &db, const char *mode)
{
    setBusyTimeout(db, RestartBusyTimeoutMs);
    CheckpointResult result = checkpoint(db, mode);
    setBusyTimeout(db, SqliteBusyTimeoutMs); // the store's, restored
    return result;
}

} // namespace

std::chrono::milliseconds WalCheckpointer::defaultInterval()
{
    bool isNumber = false;
    const int ms = qEnvironmentVariableIntValue("TESSERA_SERVER_WAL_CHECKPOINT_MS", &isNumber);
    return std::chrono::milliseconds(isNumber && ms > 0 ? ms : 100);
}

WalCheckpointer::WalCheckpointer(const QString &databasePath, bool fullSync,
                                 std::chrono::milliseconds interval)
    : m_databasePath(databasePath)
    , m_fullSync(fullSync)
    , m_interval(interval.count() > 0 ? interval : defaultInterval())
{ }

std::unique_ptr<WalCheckpointer> WalCheckpointer::start(Store &store, const QString &databasePath,
                                                        bool fullSync,
                                                        std::chrono::milliseconds interval)
{
    std::unique_ptr<WalCheckpointer> checkpointer(
            new WalCheckpointer(databasePath, fullSync, interval));
    checkpointer->setObjectName(QStringLiteral("wal-checkpointer"));
    checkpointer->QThread::start();
    {
        std::unique_lock lock(checkpointer->m_mutex);
        checkpointer->m_opened.wait(lock, [&] { return checkpointer->m_openDone; });
    }
    if (!checkpointer->m_openError.isEmpty()) {
        qCWarning(lcServerStore).noquote()
                << "WAL checkpoints stay on the serving thread: cannot open the checkpoint "
                   "connection:"
                << checkpointer->m_openError;
        return nullptr; // the destructor waits for the thread, which has ended
    }
    // Queued to this thread, where the store's connection belongs.
    connect(checkpointer.get(), &WalCheckpointer::failed, checkpointer.get(),
            [&store](const QString &reason) {
                qCCritical(lcServerStore).noquote()
                        << "WAL checkpoints failed on their thread, the serving thread takes "
                           "them over:"
                        << reason;
                if (!store.setAutomaticCheckpoints(true))
                    qCCritical(lcServerStore) << "cannot turn automatic WAL checkpoints back on";
            });
    if (!store.setAutomaticCheckpoints(false))
        qCWarning(lcServerStore) << "cannot turn the serving connection's automatic WAL "
                                    "checkpoints off; both connections checkpoint";
    return checkpointer;
}

WalCheckpointer::~WalCheckpointer()
{
    quit();
    wait();
}

void WalCheckpointer::run()
{
    // A name of its own: QSqlDatabase names are per process, and one used twice replaces the
    // first connection under another thread's feet.
    const QString connectionName = QStringLiteral("tessera-wal-checkpointer-")
            + QUuid::createUuid().toString(QUuid::Id128);
    {
        QSqlDatabase db;
        DatabaseLocation location;
        location.sqlitePath = m_databasePath;
        QString error;
        // The store's synchronous mode: it decides what a checkpoint syncs.
        const bool opened = openDatabase(&db, connectionName, location, m_fullSync, &error);
        {
            const std::lock_guard lock(m_mutex);
            m_openError =
                    opened ? QString() : (error.isEmpty() ? QStringLiteral("unknown") : error);
            m_openDone = true;
        }
        m_opened.notify_all();
        if (opened) {
            bool failing = false;
            QElapsedTimer sinceWarning;
            QTimer timer;
            timer.setTimerType(Qt::CoarseTimer);
            // The store checkpoints again; this thread has nothing more to do.
            auto fail = [&](const QString &reason) {
                failing = true;
                timer.stop();
                emit failed(reason);
                quit();
            };
            connect(&timer, &QTimer::timeout, [&] {
                const CheckpointResult passive = checkpoint(db, "PASSIVE");
                if (!passive.ran) {
                    fail(passive.error);
                    return;
                }
                if (passive.logFrames <= RestartAboveFrames)
                    return;
                // Under steady writes the log is never completely copied at the moment a write
                // begins, which is when SQLite would start it again: it only grows. A RESTART
                // holds the writes back until it has copied the rest and the readers have left
                // the log, so the next write starts it from its beginning.
                const CheckpointResult restart = blockingCheckpoint(db, "RESTART");
                if (!restart.ran) {
                    fail(restart.error);
                    return;
                }
                if (!restart.complete && restart.logFrames > 4 * RestartAboveFrames
                    && (!sinceWarning.isValid() || sinceWarning.elapsed() >= WarnEveryMs)) {
                    sinceWarning.start();
                    qCWarning(lcServerStore)
                            << "the WAL holds" << restart.logFrames
                            << "pages and cannot be restarted: a reader is using it";
                }
            });
            timer.start(m_interval);
            exec();
            timer.stop();
            if (!failing) {
                const CheckpointResult last = blockingCheckpoint(db, "TRUNCATE");
                if (!last.ran || !last.complete)
                    qCWarning(lcServerStore).noquote()
                            << "last WAL checkpoint incomplete:"
                            << (last.ran ? QStringLiteral("busy") : last.error);
            }
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(connectionName);
}

} // namespace Tessera::Server
