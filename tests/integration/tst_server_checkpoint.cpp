// SPDX-License-Identifier: MIT
// tessera-server's WAL checkpoints on SQLite (docs/SERVER.md "SQLite checkpoints"): the serving
// connection never checkpoints (its commits only append to the -wal file), a thread of its own
// does, and at shutdown the database file holds everything. What is observed is the files: the
// -wal file's header counts the times the log was restarted after a complete checkpoint (its
// checkpoint sequence number), its size the frames appended since, and a copy of the database
// file alone shows what checkpoints moved there.
#include "store.h"
#include "testsupport.h"
#include "walcheckpointer.h"

#include <tessera/jose.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtTest/QSignalSpy>
#include <QtCore/QTemporaryDir>
#include <QtCore/QtEndian>
#include <QtTest/QTest>

#include <optional>

using namespace Tessera::Test;

namespace {

// SQLite's automatic checkpoint threshold, in frames (pages), on every connection by default.
constexpr qint64 AutomaticCheckpointFrames = 1000;
constexpr int WalHeaderBytes = 32;
constexpr int WalFrameHeaderBytes = 24;

std::optional<QByteArray> readHead(const QString &path, int bytes)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return std::nullopt;
    const QByteArray head = file.read(bytes);
    if (head.size() != bytes)
        return std::nullopt;
    return head;
}

// The page size in the database file's header (big-endian at offset 16; 1 means 65536).
qint64 pageSize(const QString &databasePath)
{
    const auto head = readHead(databasePath, 100);
    if (!head)
        return 0;
    const quint16 size = qFromBigEndian<quint16>(head->constData() + 16);
    return size == 1 ? 65536 : size;
}

// The -wal header's checkpoint sequence number (big-endian at offset 12): SQLite adds one each
// time a writer starts the log again from its beginning, which it does only after a checkpoint
// copied every frame into the database.
std::optional<quint32> checkpointSequence(const QString &databasePath)
{
    const auto head = readHead(databasePath + QStringLiteral("-wal"), WalHeaderBytes);
    if (!head)
        return std::nullopt;
    return qFromBigEndian<quint32>(head->constData() + 12);
}

qint64 walFrames(const QString &databasePath, qint64 pageBytes)
{
    const qint64 size = QFileInfo(databasePath + QStringLiteral("-wal")).size();
    return size <= WalHeaderBytes ? 0 : (size - WalHeaderBytes) / (pageBytes + WalFrameHeaderBytes);
}

QString hashHex(const QString &token)
{
    return QString::fromLatin1(Tessera::Jose::sha256(token.toLatin1()).toHex());
}

// Whether the database file by itself (a copy of it without its -wal file, so only what
// checkpoints wrote there) holds the refresh token. False also when the copy, taken while a
// checkpoint writes the file, cannot be read.
bool databaseFileHolds(const QString &databasePath, const QString &refreshToken)
{
    QTemporaryDir dir;
    const QString copy = dir.filePath(QStringLiteral("main-file-only.sqlite3"));
    if (!dir.isValid() || !QFile::copy(databasePath, copy))
        return false;
    const auto rows = sqliteSelect(copy,
                                   QStringLiteral("SELECT COUNT(*) FROM refresh_tokens"
                                                  " WHERE lower(hex(token_hash)) = '%1'")
                                           .arg(hashHex(refreshToken)),
                                   nullptr, false);
    return rows && !rows->isEmpty() && rows->first().first().toInt() == 1;
}

// Adds users (each commit appends at least a page to the log) until the log was restarted, which
// needs a complete checkpoint: true if that happened within `maxUsers`.
bool storeLogRestarts(Tessera::Server::Store &store, const QString &databasePath, int maxUsers)
{
    const QByteArray hash = QByteArrayLiteral("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g");
    std::optional<quint32> before;
    for (int user = 0; user < maxUsers; ++user) {
        if (store.addUser(QStringLiteral("user%1").arg(user), hash)
            != Tessera::Server::Store::AddUserResult::Added)
            return false;
        const auto sequence = checkpointSequence(databasePath);
        if (!before)
            before = sequence;
        else if (sequence && sequence != before)
            return true;
    }
    return false;
}

// A store on a new SQLite database in its own directory.
struct StoreInDirectory
{
    QTemporaryDir dir;
    QString database = dir.filePath(QStringLiteral("store.sqlite3"));
    QString error;
    std::unique_ptr<Tessera::Server::Store> store =
            Tessera::Server::Store::open(database, false, &error);
};

} // namespace

class tst_ServerCheckpoint : public QObject
{
    Q_OBJECT
private slots:
    void servingConnectionDoesNotCheckpoint();
    void checkpointThreadKeepsTheLogShort();
    // In process: the store and the checkpointer of server/src, without the HTTP server.
    void storeKeepsCheckpointingWhenTheThreadCannotOpen();
    void storeTakesCheckpointsBackWhenTheyFail();
};

// Checkpoints an hour apart: nothing restarts the log while the rotations append to it, well
// past the 1000 frames at which the serving connection would have checkpointed on its own.
void tst_ServerCheckpoint::servingConnectionDoesNotCheckpoint()
{
    ServerProcess server({QStringLiteral("--login-limit"), QStringLiteral("0")});
    QProcessEnvironment environment = server.environment();
    environment.insert(QStringLiteral("TESSERA_SERVER_WAL_CHECKPOINT_MS"),
                       QStringLiteral("3600000"));
    server.setEnvironment(environment);
    TESSERA_START_WITH_TEST_USER(server);
    const QString database = server.databasePath();
    HttpClient http(server);
    TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
    const qint64 pageBytes = pageSize(database);
    QVERIFY(pageBytes > 0);
    const auto sequenceBefore = checkpointSequence(database);
    QVERIFY(sequenceBefore.has_value());

    QString refresh = login.refresh;
    int rotations = 0;
    while (walFrames(database, pageBytes) <= AutomaticCheckpointFrames + 100) {
        QVERIFY2(++rotations <= 3000, "the -wal file never grew past 1100 frames");
        TESSERA_TOKEN_PAIR(rotated, http.refresh(refresh));
        refresh = rotated.refresh;
    }
    QCOMPARE(checkpointSequence(database), sequenceBefore);
    QVERIFY(!databaseFileHolds(database, refresh));

    // The last checkpoint at shutdown: the database file alone holds the last rotation.
    QVERIFY2(server.stop(), qPrintable(server.errorString()));
    QVERIFY(walFrames(database, pageBytes) == 0);
    QVERIFY(databaseFileHolds(database, refresh));
}

// The default interval: while the server serves, the log is checkpointed and restarted again
// and again, and the database file catches up with the last rotation without a shutdown.
void tst_ServerCheckpoint::checkpointThreadKeepsTheLogShort()
{
    ServerProcess server({QStringLiteral("--login-limit"), QStringLiteral("0")});
    TESSERA_START_WITH_TEST_USER(server);
    const QString database = server.databasePath();
    HttpClient http(server);
    TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
    const auto sequenceBefore = checkpointSequence(database);
    QVERIFY(sequenceBefore.has_value());

    // Until the log was restarted twice (each restart follows a complete checkpoint).
    QString refresh = login.refresh;
    int rotations = 0;
    for (;;) {
        const auto sequence = checkpointSequence(database);
        if (sequence && *sequence - *sequenceBefore >= 2)
            break;
        QVERIFY2(++rotations <= 10000, "the log was not restarted twice");
        TESSERA_TOKEN_PAIR(rotated, http.refresh(refresh));
        refresh = rotated.refresh;
    }
    // No more writes: the next checkpoint moves the last rotation into the database file.
    QTRY_VERIFY_WITH_TIMEOUT(databaseFileHolds(database, refresh), 20000);
    QVERIFY(server.isRunning());
}

// The thread's connection cannot be opened (its directory does not exist): no checkpointer, and
// the store's connection goes on checkpointing on its own, as SQLite does by default.
void tst_ServerCheckpoint::storeKeepsCheckpointingWhenTheThreadCannotOpen()
{
    StoreInDirectory opened;
    QVERIFY2(opened.store, qPrintable(opened.error));
    Tessera::Server::Store &store = *opened.store;
    const auto checkpointer = Tessera::Server::WalCheckpointer::start(
            store, opened.dir.filePath(QStringLiteral("missing/store.sqlite3")), false);
    QVERIFY(!checkpointer);
    QVERIFY(storeLogRestarts(store, opened.database, 3000));
}

// The thread's checkpoints fail (its connection is to a database without a log): it stops and the
// store's connection, whose automatic checkpoints it had turned off, checkpoints again.
void tst_ServerCheckpoint::storeTakesCheckpointsBackWhenTheyFail()
{
    StoreInDirectory opened;
    QVERIFY2(opened.store, qPrintable(opened.error));
    Tessera::Server::Store &store = *opened.store;
    const auto checkpointer = Tessera::Server::WalCheckpointer::start(
            store, QStringLiteral(":memory:"), false, std::chrono::milliseconds(10));
    QVERIFY(checkpointer);
    QSignalSpy failed(checkpointer.get(), &Tessera::Server::WalCheckpointer::failed);
    QVERIFY(failed.wait(10000));
    QVERIFY(checkpointer->wait(10000)); // the thread ended
    // The hand-over, queued to this thread (posted before the spy saw the signal).
    QCoreApplication::sendPostedEvents();
    QVERIFY(storeLogRestarts(store, opened.database, 3000));
}

QTEST_MAIN(tst_ServerCheckpoint)
#include "tst_server_checkpoint.moc"
