// SPDX-License-Identifier: MIT
#pragma once

#include "databaseurl.h"

#include <QtCore/QObject>
#include <QtCore/QSet>
#include <QtCore/QSocketNotifier>
#include <QtCore/QString>
#include <QtCore/QTimer>
#include <QtSql/QSqlDatabase>

#include <functional>

typedef struct pg_conn PGconn;

namespace Tessera::Server {

// Revocations written by any instance on one PostgreSQL database, as they commit
// (docs/SERVER.md "Running several instances"). Store::revokeFamily() sends the family id
// on RevocationChannel (storesql.h) in the revoking transaction; this LISTENs on a dedicated
// connection and hands every id to `onRevoked` (TokenService drops the family from its cache).
//
// The notifications are read with libpq on the QPSQL connection's handle, not through
// QSqlDriver::notification (QPSQL's own socket notifier would consume them, and its handler
// ignores a failed read): when the socket is readable, and in sync(), which TokenService
// calls before it trusts its cache, so that what has reached the socket is applied without
// waiting for the event loop. After applying a revocation each listener acknowledges it on
// RevocationAckChannel; the revoking instance waits for every listener's (awaitDelivery()).
// The connection's health is watched here: a failed read, and a ping every second for a
// connection that went silent. While the listener is down the caches must not be used; it
// reconnects every second, and each new LISTEN bumps epoch(), the caller's cue to flush what it
// cached. Event-loop thread only.
class RevocationFeed : public QObject
{
    Q_OBJECT
public:
    RevocationFeed(const DatabaseLocation &location,
                   std::function<void(const QString &familyId)> onRevoked,
                   QObject *parent = nullptr);
    ~RevocationFeed() override;

    // Connects and listens; when that fails the feed is down and keeps retrying.
    void start();

    // Applies every notification that has reached the socket. True when the cache may be
    // used: the listener is connected (as far as its socket says) since epoch() last changed.
    bool sync();
    quint64 epoch() const { return m_epoch; }
    bool listening() const { return m_conn != nullptr; }

    // After a revocation's commit: waits up to `timeoutMs` until every instance listening
    // on this database (this one included) acknowledged that it applied the revocation (each
    // listener answers on RevocationAckChannel). False when some did not: this instance's own
    // missing too means its listener is broken, and the feed goes down.
    bool awaitDelivery(const QString &familyId, int timeoutMs);

private:
    bool listen();
    void goDown(const QString &why);
    void drain();
    void ping();

    DatabaseLocation m_location;
    std::function<void(const QString &)> m_onRevoked;
    QString m_connectionName;
    QSqlDatabase m_db;
    PGconn *m_conn = nullptr; // owned by m_db's driver; null while down
    quint64 m_epoch = 0;
    QTimer m_timer;
    QSocketNotifier *m_notifier = nullptr; // on the listener's socket, while listening
    QString m_awaited;                     // the family whose revocation awaitDelivery() waits on
    QSet<int> m_acks;                      // the listeners (backend pids) that acknowledged it
};

} // namespace Tessera::Server
