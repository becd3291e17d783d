// SPDX-License-Identifier: MIT
// The statements of a refresh on an SQLite store (the token lookups, a rotation's mark and
// insert) through SQLite's C API, on the connection QSQLite opened (QSqlDriver::handle()). They
// run on every refresh; through QSqlQuery, its cached result and a QVariant per column and bound
// value cost more than SQLite's own work for them (perf of the SQLite refresh benchmark,
// docs/SERVER.md "What else a refresh on SQLite costs").
#include "logging.h"
#include "store.h"

#include <QtSql/QSqlDriver>

#include <sqlite3.h>

namespace Tessera::Server {

namespace {

QByteArray blobColumn(sqlite3_stmt *statement, int column)
{
    const void *data = sqlite3_column_blob(statement, column);
    return QByteArray(static_cast<const char *>(data), sqlite3_column_bytes(statement, column));
}

QString textColumn(sqlite3_stmt *statement, int column)
{
    const auto *text = reinterpret_cast<const char *>(sqlite3_column_text(statement, column));
    return QString::fromUtf8(text, sqlite3_column_bytes(statement, column));
}

} // namespace

void Store::SqliteStatementDeleter::operator()(sqlite3_stmt *statement) const
{
    sqlite3_finalize(statement);
}

void Store::prepareDirectStatements(const QByteArray &findRefresh, const QByteArray &findSuccessor,
                                    const QByteArray &markRotated, const QByteArray &insertRefresh)
{
    const QVariant handle = m_db.driver()->handle();
    if (!handle.isValid() || qstrcmp(handle.typeName(), "sqlite3*") != 0)
        return;
    sqlite3 *const db = *static_cast<sqlite3 *const *>(handle.constData());
    if (!db)
        return;
    auto prepare = [db](const QByteArray &sql) {
        sqlite3_stmt *statement = nullptr;
        if (sqlite3_prepare_v3(db, sql.constData(), int(sql.size()), SQLITE_PREPARE_PERSISTENT,
                               &statement, nullptr)
            != SQLITE_OK) {
            qCWarning(lcServerStore)
                    << "direct statement not prepared, QSqlQuery serves it:" << sqlite3_errmsg(db);
            sqlite3_finalize(statement);
            return SqliteStatement();
        }
        return SqliteStatement(statement);
    };
    Direct direct{prepare(findRefresh), prepare(findSuccessor), prepare(markRotated),
                  prepare(insertRefresh)};
    // All or none: one path per connection is simpler to reason about.
    if (direct.findRefresh && direct.findSuccessor && direct.markRotated && direct.insertRefresh)
        m_direct = std::move(direct);
}

bool Store::finishDirect(sqlite3_stmt *statement, int step)
{
    m_failed = step != SQLITE_ROW && step != SQLITE_DONE;
    m_failureTransient = false;
    if (m_failed) {
        sqlite3 *const db = sqlite3_db_handle(statement);
        const QSqlError error(QStringLiteral("statement"), QString::fromUtf8(sqlite3_errmsg(db)),
                              QSqlError::StatementError,
                              QString::number(sqlite3_extended_errcode(db)));
        qCCritical(lcServerStore) << "statement failed:" << error.text();
        classifyFailure(error);
    }
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    return !m_failed;
}

bool Store::stepDirect(sqlite3_stmt *statement, int *changes)
{
    const int step = sqlite3_step(statement);
    if (step == SQLITE_DONE && changes)
        *changes = sqlite3_changes(sqlite3_db_handle(statement));
    return finishDirect(statement, step);
}

Store::RotateResult Store::rotateDirect(const QByteArray &parentHash,
                                        const QByteArray &successorSealed, qint64 nowMs,
                                        const QString &familyId, const QByteArray &successorHash,
                                        qint64 successorIdleExpiresAtMs)
{
    // SQLITE_STATIC: every bound value outlives its step; bindings are cleared after it.
    sqlite3_stmt *const mark = m_direct.markRotated.get();
    sqlite3_bind_int64(mark, 1, nowMs);
    sqlite3_bind_blob(mark, 2, successorSealed.constData(), int(successorSealed.size()),
                      SQLITE_STATIC);
    sqlite3_bind_blob(mark, 3, successorHash.constData(), int(successorHash.size()), SQLITE_STATIC);
    sqlite3_bind_blob(mark, 4, parentHash.constData(), int(parentHash.size()), SQLITE_STATIC);
    int marked = 0;
    if (!stepDirect(mark, &marked))
        return RotateResult::Failed;
    if (marked != 1)
        return RotateResult::NotCurrent;
    const QByteArray family = familyId.toUtf8();
    sqlite3_stmt *const insert = m_direct.insertRefresh.get();
    sqlite3_bind_blob(insert, 1, successorHash.constData(), int(successorHash.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(insert, 2, family.constData(), int(family.size()), SQLITE_STATIC);
    sqlite3_bind_blob(insert, 3, parentHash.constData(), int(parentHash.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 4, nowMs);
    sqlite3_bind_int64(insert, 5, successorIdleExpiresAtMs);
    return stepDirect(insert, nullptr) ? RotateResult::Rotated : RotateResult::Failed;
}

std::optional<Store::RefreshRecord> Store::readRefreshDirect(sqlite3_stmt *statement,
                                                             const QByteArray &key)
{
    settleGroupUnlessJoining();
    // SQLITE_STATIC: `key` outlives the step; the binding is cleared before returning.
    sqlite3_bind_blob(statement, 1, key.constData(), int(key.size()), SQLITE_STATIC);
    const int step = sqlite3_step(statement);
    std::optional<RefreshRecord> record;
    if (step == SQLITE_ROW) {
        RefreshRecord &r = record.emplace();
        r.tokenHash = blobColumn(statement, 0);
        r.familyId = textColumn(statement, 1);
        r.userId = sqlite3_column_int64(statement, 2);
        r.username = textColumn(statement, 3);
        r.issuedAt = sqlite3_column_int64(statement, 4);
        r.idleExpiresAt = sqlite3_column_int64(statement, 5);
        if (sqlite3_column_type(statement, 6) != SQLITE_NULL)
            r.rotatedAt = sqlite3_column_int64(statement, 6);
        r.successorSealed = blobColumn(statement, 7);
        r.familyExpiresAt = sqlite3_column_int64(statement, 8);
        r.familyRevoked = sqlite3_column_int(statement, 9) != 0;
        r.parentHash = blobColumn(statement, 10);
        r.graceAnswers = sqlite3_column_int(statement, 11);
        r.clientId = textColumn(statement, 12);
        r.scope = textColumn(statement, 13);
        r.dpopJkt = textColumn(statement, 14);
    }
    finishDirect(statement, step);
    return record;
}

} // namespace Tessera::Server
