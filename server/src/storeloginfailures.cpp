// SPDX-License-Identifier: MIT
// The login limiter's windows in the database, for several instances on one PostgreSQL
// database (loginlimiter.h). One row per attempt that counts as a failure.
#include "store.h"

#include "logging.h"

#include <QtCore/QVariant>
#include <QtSql/QSqlError>

#include <algorithm>

namespace Tessera::Server {

std::optional<qint64>
Store::admitLoginAttempt(const QString &username, const QString &address, qint64 nowMs,
                         qint64 sinceMs, const LoginKeep &keep,
                         const std::function<bool(const LoginWindows &)> &admit)
{
    if (!begin())
        return std::nullopt;
    // Every statement is prepared and run through prepare() and execute(): a failed prepare
    // is the store's unavailable result, never a statement run unprepared.
    QSqlQuery query(m_db);
    auto fail = [this, &query]() -> std::optional<qint64> {
        m_failed = true;
        m_unprepared.remove(&query);
        m_db.rollback();
        return std::nullopt;
    };
    // Each list newest first from the database, oldest first for the limiter.
    auto readTimes = [this, &query](QList<qint64> *times) {
        if (!execute(query))
            return false;
        while (query.next())
            times->append(query.value(0).toLongLong());
        std::reverse(times->begin(), times->end());
        return true;
    };
    // Logins are few (each costs an Argon2 hash): one lock for all of them keeps the
    // read-decide-insert of concurrent attempts at different instances in one order.
    if (m_dialect == SqlDialect::PostgreSQL) {
        prepare(query, QStringLiteral("SELECT pg_advisory_xact_lock(7365727266)"));
        if (!execute(query))
            return fail();
    }
    LoginWindows windows;
    if (keep.pair > 0) {
        prepare(query,
                QStringLiteral("SELECT at_ms FROM login_failures WHERE address = ? AND"
                               " username = ? AND pair_cleared = 0 AND at_ms > ?"
                               " ORDER BY at_ms DESC, id DESC LIMIT ?"));
        query.addBindValue(address);
        query.addBindValue(username);
        query.addBindValue(sinceMs);
        query.addBindValue(keep.pair);
        if (!readTimes(&windows.pair))
            return fail();
    }
    if (keep.address > 0) {
        prepare(query,
                QStringLiteral("SELECT at_ms FROM login_failures WHERE address = ? AND"
                               " at_ms > ? ORDER BY at_ms DESC, id DESC LIMIT ?"));
        query.addBindValue(address);
        query.addBindValue(sinceMs);
        query.addBindValue(keep.address);
        if (!readTimes(&windows.address))
            return fail();
    }
    if (keep.username > 0) {
        prepare(query,
                QStringLiteral("SELECT at_ms FROM login_failures WHERE username = ? AND"
                               " at_ms > ? ORDER BY at_ms DESC, id DESC LIMIT ?"));
        query.addBindValue(username);
        query.addBindValue(sinceMs);
        query.addBindValue(keep.username);
        if (!readTimes(&windows.username))
            return fail();
    }
    qint64 id = 0;
    if (admit(windows)) {
        prepare(query,
                QStringLiteral("INSERT INTO login_failures (username, address, at_ms)"
                               " VALUES (?, ?, ?) RETURNING id"));
        query.addBindValue(username);
        query.addBindValue(address);
        query.addBindValue(nowMs);
        if (!execute(query) || !query.next())
            return fail();
        id = query.value(0).toLongLong();
    }
    query.finish();
    if (!commit())
        return fail();
    m_failed = false;
    return id;
}

bool Store::endLoginAttempt(qint64 id, bool succeeded)
{
    QSqlQuery query(m_db);
    if (succeeded) {
        // The pair starts over: its other failures stop counting for the pair (they still
        // count for the address and the username).
        prepare(query,
                QStringLiteral(
                        "UPDATE login_failures SET pair_cleared = 1 WHERE pair_cleared = 0 AND"
                        " (username, address) = (SELECT username, address FROM login_failures"
                        " WHERE id = ?)"));
        query.addBindValue(id);
        if (!execute(query))
            return false;
    }
    prepare(query, QStringLiteral("DELETE FROM login_failures WHERE id = ?"));
    query.addBindValue(id);
    return execute(query);
}

int Store::purgeLoginAttempts(qint64 cutoffMs, bool userCodes)
{
    QSqlQuery query(m_db);
    prepare(query,
            userCodes ? QStringLiteral("DELETE FROM login_failures WHERE at_ms <= ?"
                                       " AND username = ''")
                      : QStringLiteral("DELETE FROM login_failures WHERE at_ms <= ?"
                                       " AND username <> ''"));
    query.addBindValue(cutoffMs);
    return execute(query) ? query.numRowsAffected() : 0;
}

} // namespace Tessera::Server
