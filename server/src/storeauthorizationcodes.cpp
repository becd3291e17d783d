// SPDX-License-Identifier: MIT
// Store: authorization codes (table authorization_codes, schema version 4), kept only as
// SHA-256 hashes. Plain SQL (no SQLite-only syntax) so that it runs on PostgreSQL too.
#include "store.h"

#include <QtCore/QVariant>

namespace Tessera::Server {
namespace {

QVariant nullableText(const QString &text)
{
    return text.isEmpty() ? QVariant(QMetaType::fromType<QString>()) : QVariant(text);
}

} // namespace

bool Store::addAuthorizationCode(const AuthorizationCode &code)
{
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral("INSERT INTO authorization_codes (code_hash, client_id, redirect_uri,"
                           " code_challenge, nonce, scope, user_id, auth_time, expires_at,"
                           " dpop_jkt)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    query.addBindValue(code.codeHash);
    query.addBindValue(code.clientId);
    query.addBindValue(code.redirectUri);
    query.addBindValue(code.codeChallenge);
    query.addBindValue(nullableText(code.nonce));
    // A null QString binds as NULL: no scope is the empty string.
    query.addBindValue(code.scope.isNull() ? QString(QLatin1String("")) : code.scope);
    query.addBindValue(code.userId);
    query.addBindValue(code.authTime);
    query.addBindValue(code.expiresAt);
    query.addBindValue(nullableText(code.dpopJkt));
    return execute(query);
}

Store::RedeemResult Store::redeemAuthorizationCode(const QByteArray &codeHash, qint64 nowMs,
                                                   AuthorizationCode *code)
{
    // The compare-and-set first: of two concurrent redemptions exactly one changes the row.
    QSqlQuery mark(m_db);
    prepare(mark,
            QStringLiteral("UPDATE authorization_codes SET used_at = ?"
                           " WHERE code_hash = ? AND used_at IS NULL"));
    mark.addBindValue(nowMs);
    mark.addBindValue(codeHash);
    if (!execute(mark))
        return RedeemResult::Failed;
    const bool redeemed = mark.numRowsAffected() == 1;

    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral(
                    "SELECT c.client_id, c.redirect_uri, c.code_challenge, c.nonce, c.scope,"
                    " c.user_id, u.username, c.auth_time, c.expires_at, c.used_at, c.family_id,"
                    " c.dpop_jkt FROM authorization_codes c JOIN users u ON u.id = c.user_id"
                    " WHERE c.code_hash = ?"));
    query.addBindValue(codeHash);
    if (!execute(query))
        return RedeemResult::Failed;
    if (!query.next())
        return RedeemResult::Missing;
    code->codeHash = codeHash;
    code->clientId = query.value(0).toString();
    code->redirectUri = query.value(1).toString();
    code->codeChallenge = query.value(2).toString();
    code->nonce = query.value(3).toString();
    code->scope = query.value(4).toString();
    code->userId = query.value(5).toLongLong();
    code->username = query.value(6).toString();
    code->authTime = query.value(7).toLongLong();
    code->expiresAt = query.value(8).toLongLong();
    if (!query.value(9).isNull())
        code->usedAt = query.value(9).toLongLong();
    code->familyId = query.value(10).toString();
    code->dpopJkt = query.value(11).toString();
    return redeemed ? RedeemResult::Redeemed : RedeemResult::AlreadyUsed;
}

// Never a family id: those are 22 base64url characters.
const QString Store::ReplayedCodeMark = QStringLiteral("replayed");

bool Store::setAuthorizationCodeFamily(const QByteArray &codeHash, const QString &familyId)
{
    QSqlQuery query(m_db);
    prepare(query,
            QStringLiteral("UPDATE authorization_codes SET family_id = ?"
                           " WHERE code_hash = ? AND family_id IS NULL"));
    query.addBindValue(familyId);
    query.addBindValue(codeHash);
    return execute(query) && query.numRowsAffected() == 1;
}

std::optional<QString> Store::markAuthorizationCodeReplayed(const QByteArray &codeHash)
{
    if (setAuthorizationCodeFamily(codeHash, ReplayedCodeMark))
        return QString();
    if (m_failed)
        return std::nullopt;
    QSqlQuery query(m_db);
    prepare(query, QStringLiteral("SELECT family_id FROM authorization_codes WHERE code_hash = ?"));
    query.addBindValue(codeHash);
    if (!execute(query))
        return std::nullopt;
    return query.next() ? query.value(0).toString() : QString();
}

int Store::purgeAuthorizationCodes(qint64 cutoffMs)
{
    QSqlQuery query(m_db);
    prepare(query, QStringLiteral("DELETE FROM authorization_codes WHERE expires_at < ?"));
    query.addBindValue(cutoffMs);
    if (!execute(query))
        return 0;
    return query.numRowsAffected();
}

std::optional<QString> Store::familyClient(const QString &familyId)
{
    QSqlQuery query(m_db);
    prepare(query, QStringLiteral("SELECT client_id FROM families WHERE id = ?"));
    query.addBindValue(familyId);
    if (!execute(query) || !query.next())
        return std::nullopt;
    return query.value(0).toString();
}

} // namespace Tessera::Server
