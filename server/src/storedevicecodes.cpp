// SPDX-License-Identifier: MIT
// Store: device authorizations (table device_codes, schema version 5). Every change of state is
// one conditional UPDATE, so two requests (or two instances on one database) racing on a code
// leave one winner. Plain SQL, for SQLite and PostgreSQL alike.
#include "store.h"

#include <QtCore/QVariant>

namespace Tessera::Server {
namespace {

using DeviceStatus = Store::DeviceCode::Status;

QString statusText(DeviceStatus status)
{
    switch (status) {
    case DeviceStatus::Pending:
        return QStringLiteral("pending");
    case DeviceStatus::Approved:
        return QStringLiteral("approved");
    case DeviceStatus::Denied:
        return QStringLiteral("denied");
    case DeviceStatus::Spent:
        break;
    }
    return QStringLiteral("spent");
}

std::optional<DeviceStatus> statusOf(const QString &text)
{
    for (const DeviceStatus status : {DeviceStatus::Pending, DeviceStatus::Approved,
                                      DeviceStatus::Denied, DeviceStatus::Spent}) {
        if (statusText(status) == text)
            return status;
    }
    return std::nullopt;
}

const QString DeviceCodeColumns = QStringLiteral(
        "d.device_code_hash, d.user_code, d.client_id, d.scope, d.created_at, d.expires_at,"
        " d.interval_s, d.status, d.user_id, u.username, d.auth_time"
        " FROM device_codes d LEFT JOIN users u ON u.id = d.user_id");

std::optional<Store::DeviceCode> readDeviceCode(QSqlQuery &query)
{
    if (!query.next())
        return std::nullopt;
    Store::DeviceCode code;
    code.deviceCodeHash = query.value(0).toByteArray();
    code.userCode = query.value(1).toString();
    code.clientId = query.value(2).toString();
    code.scope = query.value(3).toString();
    code.createdAt = query.value(4).toLongLong();
    code.expiresAt = query.value(5).toLongLong();
    code.intervalSeconds = query.value(6).toLongLong();
    // An unknown status (a newer server's) is treated as used up, never as approved.
    code.status = statusOf(query.value(7).toString()).value_or(DeviceStatus::Spent);
    code.userId = query.value(8).toLongLong();
    code.username = query.value(9).toString();
    code.authTime = query.value(10).toLongLong();
    return code;
}

} // namespace

Store::AddDeviceCodeResult Store::addDeviceCode(const DeviceCode &code)
{
    // A user code still held by another row (live or not yet purged) inserts nothing.
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral("INSERT INTO device_codes (device_code_hash, user_code, client_id,"
                           " scope, created_at, expires_at, interval_s, status)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_code) DO NOTHING"));
    query.addBindValue(code.deviceCodeHash);
    query.addBindValue(code.userCode);
    query.addBindValue(code.clientId);
    // A null QString binds as NULL: no scope is the empty string.
    query.addBindValue(code.scope.isNull() ? QString(QLatin1String("")) : code.scope);
    query.addBindValue(code.createdAt);
    query.addBindValue(code.expiresAt);
    query.addBindValue(code.intervalSeconds);
    query.addBindValue(statusText(DeviceStatus::Pending));
    if (!execute(query))
        return AddDeviceCodeResult::Failed;
    return query.numRowsAffected() == 1 ? AddDeviceCodeResult::Added
                                        : AddDeviceCodeResult::UserCodeTaken;
}

std::optional<Store::DeviceCode> Store::findDeviceCode(const QByteArray &deviceCodeHash)
{
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral("SELECT ") + DeviceCodeColumns
                    + QStringLiteral(" WHERE d.device_code_hash = ?"));
    query.addBindValue(deviceCodeHash);
    if (!execute(query))
        return std::nullopt;
    return readDeviceCode(query);
}

std::optional<Store::DeviceCode> Store::findPendingUserCode(const QString &userCode, qint64 nowMs)
{
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral("SELECT ") + DeviceCodeColumns
                    + QStringLiteral(
                            " WHERE d.user_code = ? AND d.status = ? AND d.expires_at > ?"));
    query.addBindValue(userCode);
    query.addBindValue(statusText(DeviceStatus::Pending));
    query.addBindValue(nowMs);
    if (!execute(query))
        return std::nullopt;
    return readDeviceCode(query);
}

bool Store::decideDeviceCode(const QString &userCode, qint64 userId, qint64 nowMs)
{
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral("UPDATE device_codes SET status = ?, user_id = ?, auth_time = ?"
                           " WHERE user_code = ? AND status = ? AND expires_at > ?"));
    const bool approve = userId > 0;
    query.addBindValue(statusText(approve ? DeviceStatus::Approved : DeviceStatus::Denied));
    query.addBindValue(approve ? QVariant(userId) : QVariant(QMetaType::fromType<qint64>()));
    query.addBindValue(approve ? QVariant(nowMs) : QVariant(QMetaType::fromType<qint64>()));
    query.addBindValue(userCode);
    query.addBindValue(statusText(DeviceStatus::Pending));
    query.addBindValue(nowMs);
    return execute(query) && query.numRowsAffected() == 1;
}

Store::PollResult Store::pollDeviceCode(const QByteArray &deviceCodeHash, qint64 nowMs,
                                        qint64 slowDownSeconds)
{
    QSqlQuery poll(m_db);
    prepare(poll,
            QStringLiteral("UPDATE device_codes SET last_poll_at = ? WHERE device_code_hash = ?"
                           " AND (last_poll_at IS NULL OR last_poll_at + interval_s * 1000 <= ?)"));
    poll.addBindValue(nowMs);
    poll.addBindValue(deviceCodeHash);
    poll.addBindValue(nowMs);
    if (!execute(poll))
        return PollResult::Failed;
    if (poll.numRowsAffected() == 1)
        return PollResult::Pending;
    QSqlQuery slowDown(m_db);
    prepare(slowDown,
            QStringLiteral("UPDATE device_codes SET last_poll_at = ?,"
                           " interval_s = interval_s + ? WHERE device_code_hash = ?"));
    slowDown.addBindValue(nowMs);
    slowDown.addBindValue(slowDownSeconds);
    slowDown.addBindValue(deviceCodeHash);
    return execute(slowDown) ? PollResult::SlowDown : PollResult::Failed;
}

bool Store::spendDeviceCode(const QByteArray &deviceCodeHash)
{
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral("UPDATE device_codes SET status = ? WHERE device_code_hash = ? AND "
                           "status = ?"));
    query.addBindValue(statusText(DeviceStatus::Spent));
    query.addBindValue(deviceCodeHash);
    query.addBindValue(statusText(DeviceStatus::Approved));
    return execute(query) && query.numRowsAffected() == 1;
}

int Store::purgeDeviceCodes(qint64 cutoffMs)
{
    QSqlQuery query(m_db);
    prepare(query, QStringLiteral("DELETE FROM device_codes WHERE expires_at < ?"));
    query.addBindValue(cutoffMs);
    if (!execute(query))
        return 0;
    return query.numRowsAffected();
}

} // namespace Tessera::Server
