// SPDX-License-Identifier: MIT
// Over 500 lines: issuing, rotation with its grace window, revocation and the access check
// all read and keep the same two caches (and, on PostgreSQL, the revocation feed that keeps
// them honest); split apart, each piece would have to reach into the others' state.
#include "tokenservice.h"

#include "logging.h"
#include "revocationfeed.h"
#include "sealedbox.h"

#include <QtCore/QDateTime>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>

#include <cstring>
#include <limits>

namespace Tessera::Server {
namespace {

constexpr qsizetype RefreshTokenBytes = 32; // 256 bits
constexpr qsizetype RefreshTokenChars = 43; // unpadded base64url of 32 bytes
const QString AccessTokenType = QStringLiteral("at+jwt");

QByteArray newRefreshToken()
{
    return Jose::base64UrlEncode(Jose::randomBytes(RefreshTokenBytes));
}

QString newId()
{
    return QString::fromLatin1(Jose::base64UrlEncode(Jose::randomBytes(16)));
}

// The earliest second at which checkClaims (zero leeway) accepts these claims.
double validFrom(const QJsonObject &claims)
{
    double from = std::numeric_limits<double>::lowest();
    for (const QLatin1String name : {QLatin1String("iat"), QLatin1String("nbf")}) {
        const QJsonValue value = claims.value(name);
        if (value.isDouble())
            from = qMax(from, value.toDouble());
    }
    return from;
}

} // namespace

TokenService::TokenService(const ServerConfig &config, Store &store)
    : m_config(config)
    , m_store(store)
{
    m_accessRequirements.issuer = config.issuer;
    m_accessRequirements.audience = config.audience;
    m_accessRequirements.type = AccessTokenType;
    // The server checks tokens it issued itself on its own clock: no leeway.
    m_accessRequirements.leeway = std::chrono::seconds(0);
    m_accessRequirements.requireExpiry = true;
    m_accessRequirements.requiredClaims = {QStringLiteral("sub"), QStringLiteral("sid"),
                                           QStringLiteral("jti"), QStringLiteral("user_id")};
}

qint64 TokenService::nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

bool TokenService::loadOrCreateSigningKey(QString *error)
{
    // Cached verdicts hold only for the key set they were reached with.
    m_verifiedAccess.clear();
    m_verificationKeys.clear();
    const QString algorithmName = Jose::algorithmName(m_config.algorithm);
    QList<Store::SigningKey> stored = m_store.signingKeys(algorithmName);
    for (Store::SigningKey &row : stored) {
        const Secret material(row.material);
        secureWipe(row.material);
        Jose::Key key = m_config.algorithm == Jose::Algorithm::HS256
                ? Jose::Key::fromSecret(material)
                : Jose::Key::fromPrivateKeyPem(material, m_config.algorithm);
        if (key.isNull()) {
            *error = QStringLiteral("stored signing key %1 cannot be loaded").arg(row.keyId);
            return false;
        }
        key.setKeyId(row.keyId);
        m_verificationKeys.append(key);
    }
    if (m_verificationKeys.isEmpty()) {
        Jose::Key key = Jose::Key::generate(m_config.algorithm);
        if (key.isNull()) {
            *error = QStringLiteral("cannot generate a %1 key").arg(algorithmName);
            return false;
        }
        if (key.keyId().isEmpty())
            key.setKeyId(newId());
        const Secret material =
                m_config.algorithm == Jose::Algorithm::HS256 ? key.secret() : key.privateKeyPem();
        Store::SigningKey row{key.keyId(), algorithmName, material.reveal().toByteArray()};
        const bool saved = m_store.addSigningKey(row);
        secureWipe(row.material);
        if (!saved) {
            *error = QStringLiteral("cannot store the new signing key");
            return false;
        }
        qCInfo(lcServerAuth) << "generated a new" << algorithmName << "signing key, kid"
                             << key.keyId();
        m_verificationKeys.append(key);
    }
    m_signingKey = m_verificationKeys.first(); // newest first
    return true;
}

QByteArray TokenService::mintAccess(qint64 userId, const QString &username, const QString &familyId,
                                    qint64 nowMs, const QString &clientId,
                                    const QString &dpopJkt) const
{
    const qint64 now = nowMs / 1000;
    // An OAuth client's token names it as a second audience (RFC 9068 §3); the API's own
    // audience stays first, so every resource check of this server accepts it.
    const QJsonValue audience = clientId.isEmpty()
            ? QJsonValue(m_config.audience)
            : QJsonValue(QJsonArray{m_config.audience, clientId});
    QJsonObject claims{
            {QStringLiteral("iss"), m_config.issuer},
            {QStringLiteral("aud"), audience},
            {QStringLiteral("sub"), username},
            {QStringLiteral("user_id"), userId},
            {QStringLiteral("iat"), now},
            {QStringLiteral("exp"), now + m_config.accessTtl},
            {QStringLiteral("jti"), newId()},
            {QStringLiteral("sid"), familyId},
            {QStringLiteral("token_type"), QStringLiteral("access")},
    };
    // RFC 9449 section 6.1: the confirmation of the DPoP key the token is bound to.
    if (!dpopJkt.isEmpty())
        claims.insert(QStringLiteral("cnf"), QJsonObject{{QStringLiteral("jkt"), dpopJkt}});
    const Jose::Algorithm algorithm = m_signingKey.algorithm();
    if (m_deferredSignatures
        && (algorithm == Jose::Algorithm::ES256 || algorithm == Jose::Algorithm::EdDSA)) {
        QByteArray input = Jose::jwtSigningInput(m_signingKey, claims, AccessTokenType);
        if (input.isEmpty())
            return {};
        QByteArray placeholder = input + '.' + QByteArray(DeferredSignatureChars, 'A');
        m_deferredSignatures->push_back({placeholder, std::move(input), m_signingKey});
        return placeholder;
    }
    return Jose::signJwt(m_signingKey, claims, AccessTokenType);
}

QByteArray TokenService::mintIdToken(const Store::User &user, const OAuthGrant &grant,
                                     const QString &familyId, qint64 nowMs) const
{
    const qint64 now = nowMs / 1000;
    QJsonObject claims{
            {QStringLiteral("iss"), m_config.issuer},
            {QStringLiteral("sub"), user.username},
            {QStringLiteral("aud"), grant.clientId},
            {QStringLiteral("iat"), now},
            {QStringLiteral("exp"), now + m_config.accessTtl},
            {QStringLiteral("auth_time"), grant.authTimeMs / 1000},
            {QStringLiteral("sid"), familyId},
            {QStringLiteral("preferred_username"), user.username},
    };
    if (!grant.nonce.isEmpty())
        claims.insert(QStringLiteral("nonce"), grant.nonce);
    return Jose::signJwt(m_signingKey, claims, QStringLiteral("JWT"));
}

TokenService::Result TokenService::startFamily(const Store::User &user, const OAuthGrant *grant,
                                               const QString &dpopJkt)
{
    const qint64 now = nowMs();
    const QString familyId = newId();
    const QByteArray refresh = newRefreshToken();
    const qint64 expiresAt = now + m_config.sessionMaxTtl * 1000;
    const qint64 idleExpiresAt = qMin(expiresAt, now + m_config.refreshIdleTtl * 1000);
    const QString clientId = grant ? grant->clientId : QString();
    const QString scope = grant ? grant->scope : QString();
    if (!m_store.createFamily(familyId, user.id, now, expiresAt, Jose::sha256(refresh),
                              idleExpiresAt, clientId, scope, dpopJkt))
        return {Outcome::Internal, {}};
    qCInfo(lcServerAuth) << "login: new session family" << familyId << "for user id" << user.id
                         << (dpopJkt.isEmpty() ? "" : "(DPoP-bound)");
    Result result{Outcome::Ok,
                  {mintAccess(user.id, user.username, familyId, now, clientId, dpopJkt), refresh},
                  familyId,
                  clientId,
                  scope,
                  {},
                  dpopJkt};
    if (grant && scope.split(u' ').contains(QStringLiteral("openid")))
        result.idToken = mintIdToken(user, *grant, familyId, now);
    return result;
}

bool TokenService::looksLikeRefreshToken(const QByteArray &token)
{
    if (token.size() != RefreshTokenChars)
        return false;
    const auto decoded = Jose::base64UrlDecode(token);
    return decoded && decoded->size() == RefreshTokenBytes;
}

TokenService::Result TokenService::refresh(const QByteArray &refreshToken,
                                           const QString &clientAddress,
                                           const QString *requiredClient, const QString &proofJkt)
{
    if (!looksLikeRefreshToken(refreshToken))
        return {Outcome::Invalid, {}};
    const qint64 now = nowMs();
    const QByteArray hash = Jose::sha256(refreshToken);
    auto record = m_store.findRefreshToken(hash);
    if (!record)
        return {m_store.failed() ? Outcome::Internal : Outcome::Invalid, {}};
    // A token presented by another client proves nothing about the family: refused
    // before any rotation or reuse rule touches it (RFC 6749 §6).
    if (requiredClient && (record->clientId.isEmpty() || record->clientId != *requiredClient)) {
        qCInfo(lcServerAuth) << "refresh refused: family" << record->familyId
                             << "was not issued to this client";
        return {Outcome::Invalid, {}};
    }
    // The same for a bound family without its key: whoever sent it does not hold the key, so
    // the token is not theirs to rotate, to have answered by the grace window, or to revoke
    // the family with as a reuse (RFC 9449 section 5).
    if (!holdsKey(record->dpopJkt, proofJkt)) {
        qCInfo(lcServerAuth) << "refresh refused: family" << record->familyId
                             << "is DPoP-bound and the request has no proof of its key";
        return {Outcome::WrongDpopKey, {}};
    }
    if (record->familyRevoked) {
        qCInfo(lcServerAuth) << "refresh refused: family" << record->familyId << "is revoked";
        return {Outcome::Invalid, {}};
    }
    if (now >= record->familyExpiresAt) {
        qCInfo(lcServerAuth) << "refresh refused: family" << record->familyId
                             << "reached its absolute lifetime";
        return {Outcome::Invalid, {}};
    }

    if (!record->rotatedAt) {
        if (now >= record->idleExpiresAt) {
            qCInfo(lcServerAuth) << "refresh refused: family" << record->familyId << "idle-expired";
            return {Outcome::Invalid, {}};
        }
        const QByteArray successor = newRefreshToken();
        const QByteArray successorHash = Jose::sha256(successor);
        const QByteArray sealed = sealForToken(refreshToken, successor, successorHash);
        if (sealed.isEmpty())
            return {Outcome::Internal, {}};
        const qint64 idleExpiresAt =
                qMin(record->familyExpiresAt, now + m_config.refreshIdleTtl * 1000);
        switch (m_store.rotate(hash, sealed, now, record->familyId, successorHash, idleExpiresAt)) {
        case Store::RotateResult::Rotated:
            qCDebug(lcServerAuth) << "refresh rotated in family" << record->familyId;
            return {Outcome::Ok,
                    {mintAccess(record->userId, record->username, record->familyId, now,
                                record->clientId, proofJkt),
                     successor},
                    record->familyId,
                    record->clientId,
                    record->scope,
                    {},
                    proofJkt};
        case Store::RotateResult::Failed:
            return {Outcome::Internal, {}};
        case Store::RotateResult::NotCurrent:
            break;
        }
        // Another process on the same database rotated it (or revoked its
        // family) since it was read: answered as a token presented again just
        // after its rotation, which is what it now is.
        record = m_store.findRefreshToken(hash);
        if (!record || !record->rotatedAt)
            return {Outcome::Internal, {}};
        if (record->familyRevoked) {
            qCInfo(lcServerAuth) << "refresh refused: family" << record->familyId
                                 << "was revoked meanwhile";
            return {Outcome::Invalid, {}};
        }
    }

    // Already rotated. Within the grace window the immediate parent of the
    // current token gets that same current token back (a lost response, or two
    // app instances racing), a bounded number of times; anything else is reuse.
    const qint64 graceMs = m_config.reuseGrace * 1000;
    QString reuse = QStringLiteral("a rotated token presented again");
    if (graceMs > 0 && now - *record->rotatedAt <= graceMs) {
        const auto successor = m_store.findSuccessor(hash);
        if (successor && !successor->rotatedAt && now < successor->idleExpiresAt) {
            const Grace grace = answerWithinGrace(*record, refreshToken, *successor);
            if (!grace.successor.isEmpty()) {
                qCInfo(lcServerAuth).noquote()
                        << QStringLiteral("refresh within the grace window in family %1: current "
                                          "token returned again (answer %2 of %3) to %4")
                                   .arg(record->familyId)
                                   .arg(record->graceAnswers + 1)
                                   .arg(m_config.reuseGraceAnswers)
                                   .arg(clientAddress);
                return {Outcome::Ok,
                        {mintAccess(record->userId, record->username, record->familyId, now,
                                    record->clientId, proofJkt),
                         grace.successor},
                        record->familyId,
                        record->clientId,
                        record->scope,
                        {},
                        proofJkt};
            }
            reuse = grace.refusal;
        } else {
            reuse = QStringLiteral("not the parent of the current token");
        }
        if (m_store.failed())
            return {Outcome::Internal, {}};
    }
    if (!revokeFamily(record->familyId, now, QStringLiteral("reuse")))
        return {Outcome::Internal, {}};
    qCWarning(lcServerAuth).noquote()
            << QStringLiteral("refresh token reuse detected: family %1 revoked (%2) from %3")
                       .arg(record->familyId, reuse, clientAddress);
    return {Outcome::Reused, {}};
}

TokenService::Grace TokenService::answerWithinGrace(const Store::RefreshRecord &parent,
                                                    const QByteArray &parentToken,
                                                    const Store::RefreshRecord &successor)
{
    // The window serves the one client that lost a response, not a second
    // holder of the token. A parent that was itself handed out a second time by
    // the window may have two holders; one of them presenting it again after
    // its rotation is that second client.
    if (!parent.parentHash.isEmpty() && m_store.graceAnswers(parent.parentHash).value_or(0) > 0)
        return {{},
                QStringLiteral("a token the grace window had handed out again, presented "
                               "again after its rotation")};
    if (!m_store.claimGraceAnswer(parent.tokenHash, m_config.reuseGraceAnswers))
        return {{},
                QStringLiteral("the grace window already answered it %1 times")
                        .arg(parent.graceAnswers)};
    const auto token = openWithToken(parentToken, parent.successorSealed, successor.tokenHash);
    if (!token || Jose::sha256(*token) != successor.tokenHash)
        return {{}, QStringLiteral("its sealed successor does not open")};
    return {*token, {}};
}

bool TokenService::holdsKey(const QString &boundJkt, const QString &proofJkt)
{
    return boundJkt.isEmpty() || Jose::constantTimeEquals(boundJkt.toLatin1(), proofJkt.toLatin1());
}

TokenService::Outcome TokenService::revoke(const QByteArray &refreshToken, const QString &proofJkt)
{
    if (!looksLikeRefreshToken(refreshToken))
        return Outcome::Invalid;
    const auto record = m_store.findRefreshToken(Jose::sha256(refreshToken));
    if (!record)
        return m_store.failed() ? Outcome::Internal : Outcome::Invalid;
    if (!holdsKey(record->dpopJkt, proofJkt))
        return Outcome::WrongDpopKey;
    if (record->familyRevoked || nowMs() >= record->familyExpiresAt)
        return Outcome::Invalid;
    if (!revokeFamily(record->familyId, nowMs(), QStringLiteral("logout")))
        return Outcome::Internal;
    qCInfo(lcServerAuth) << "logout: family" << record->familyId << "revoked";
    return Outcome::Ok;
}

TokenService::Outcome TokenService::revokeForClient(const QByteArray &token,
                                                    const QString &clientId,
                                                    const QString &proofJkt)
{
    QString familyId;
    if (looksLikeRefreshToken(token)) {
        const auto record = m_store.findRefreshToken(Jose::sha256(token));
        if (!record)
            return m_store.failed() ? Outcome::Internal : Outcome::Invalid;
        if (record->clientId != clientId)
            return Outcome::Invalid;
        if (!holdsKey(record->dpopJkt, proofJkt))
            return Outcome::WrongDpopKey;
        familyId = record->familyId;
    } else {
        const AccessCheck check = checkAccess(token);
        if (check.outcome != Outcome::Ok)
            return check.outcome;
        if (!holdsKey(check.dpopJkt, proofJkt))
            return Outcome::WrongDpopKey;
        familyId = QJsonDocument::fromJson(check.subjectJson)
                           .object()
                           .value(QStringLiteral("sid"))
                           .toString();
        const auto owner = m_store.familyClient(familyId);
        if (!owner)
            return m_store.failed() ? Outcome::Internal : Outcome::Invalid;
        if (*owner != clientId)
            return Outcome::Invalid;
    }
    if (!revokeFamily(familyId, nowMs(), QStringLiteral("revocation")))
        return Outcome::Internal;
    qCInfo(lcServerAuth) << "revocation: family" << familyId << "revoked by its client";
    return Outcome::Ok;
}

bool TokenService::revokeFamilyById(const QString &familyId, const QString &reason)
{
    return revokeFamily(familyId, nowMs(), reason);
}

TokenService::AccessCheck TokenService::checkAccess(const QByteArray &accessToken)
{
    AccessCheck check;
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    // Oversized tokens are refused by verifyJwt anyway: not worth hashing.
    const bool cacheable = accessToken.size() <= Jose::DefaultMaxTokenSize;
    TokenDigest digest;
    if (cacheable) {
        const QByteArray hash = Jose::sha256(accessToken);
        static_assert(sizeof(digest.words) == 32);
        std::memcpy(digest.words.data(), hash.constData(), sizeof(digest.words));
    }
    const VerifiedAccess *cached = cacheable ? m_verifiedAccess.find(digest) : nullptr;
    QByteArray subjectJson;
    QString familyId;
    QString dpopJkt;
    if (cached && cached->validFrom <= double(now) && double(now) < cached->expiresAt) {
        subjectJson = cached->subjectJson;
        familyId = cached->familyId;
        dpopJkt = cached->dpopJkt;
    } else {
        // Outside its window a cached token is verified in full again, which
        // refuses it with the precise reason.
        if (cached)
            m_verifiedAccess.remove(digest);
        Jose::ClaimRequirements requirements = m_accessRequirements;
        // The issuer may be the listen URL, known only once the server listens.
        requirements.issuer = m_config.issuer;
        requirements.now = now;
        const Jose::VerifyResult verified =
                Jose::verifyJwt(accessToken, m_verificationKeys, requirements);
        if (!verified.ok()) {
            check.reason = Jose::errorString(verified.error);
            return check;
        }
        const QJsonValue sid = verified.claims.value(QStringLiteral("sid"));
        if (!sid.isString()) {
            check.reason = QStringLiteral("sid is not a string");
            return check;
        }
        familyId = sid.toString();
        const QJsonValue cnf = verified.claims.value(QStringLiteral("cnf"));
        if (!cnf.isUndefined()) {
            const QJsonValue jkt = cnf.toObject().value(QStringLiteral("jkt"));
            if (!jkt.isString() || jkt.toString().isEmpty()) {
                check.reason = QStringLiteral("cnf has no jkt");
                return check;
            }
            dpopJkt = jkt.toString();
        }
        // Rendered once per token; only what callers use is kept.
        subjectJson = QJsonDocument(QJsonObject{
                                            {QStringLiteral("username"),
                                             verified.claims.value(QStringLiteral("sub"))},
                                            {QStringLiteral("id"),
                                             verified.claims.value(QStringLiteral("user_id"))},
                                            {QStringLiteral("sid"), sid},
                                    })
                              .toJson(QJsonDocument::Compact);
        if (cacheable)
            m_verifiedAccess.insert(digest,
                                    {subjectJson, familyId, dpopJkt, validFrom(verified.claims),
                                     verified.claims.value(QStringLiteral("exp")).toDouble()});
    }
    switch (familyStatus(familyId)) {
    case Store::FamilyStatus::Active:
        check.outcome = Outcome::Ok;
        check.subjectJson = subjectJson;
        check.dpopJkt = dpopJkt;
        break;
    case Store::FamilyStatus::Revoked:
        check.reason = QStringLiteral("session revoked");
        break;
    case Store::FamilyStatus::Missing:
        check.reason = QStringLiteral("session unknown or expired");
        break;
    case Store::FamilyStatus::Error:
        check.outcome = Outcome::Internal;
        break;
    }
    return check;
}

void TokenService::setRevocationFeed(RevocationFeed *feed)
{
    m_feed = feed;
    m_feedEpoch = 0;
    m_activeFamilies.clear();
}

bool TokenService::familyCacheUsable()
{
    if (!m_feed)
        return true;
    // Revocations that reached the listener so far are applied first.
    const bool live = m_feed->sync();
    if (m_feed->epoch() != m_feedEpoch) {
        // Listening (again) since this epoch began: anything cached before may be stale.
        m_activeFamilies.clear();
        m_feedEpoch = m_feed->epoch();
    }
    return live;
}

Store::FamilyStatus TokenService::familyStatus(const QString &familyId)
{
    const bool useCache = familyCacheUsable();
    if (useCache && m_activeFamilies.find(familyId))
        return Store::FamilyStatus::Active;
    const Store::FamilyStatus status = m_store.familyStatus(familyId);
    // Only "active" is cached: it is the one answer that a revocation changes.
    if (useCache && status == Store::FamilyStatus::Active)
        m_activeFamilies.insert(familyId, true);
    return status;
}

bool TokenService::revokeFamily(const QString &familyId, qint64 nowMs, const QString &reason)
{
    // Dropped before the write: whatever its outcome, the next check asks the database.
    m_activeFamilies.remove(familyId);
    if (!m_store.revokeFamily(familyId, nowMs, reason))
        return false;
    // The answer waits until PostgreSQL has sent the revocation to every listener: its
    // own copy coming back is the sign (or, within a second, the feed goes down and every
    // cache here is bypassed).
    if (m_feed)
        m_feed->awaitDelivery(familyId, 1000);
    return true;
}

int TokenService::purgeExpired(qint64 nowMs)
{
    // Families are kept one access lifetime past their expiry so that their
    // last access tokens still find them.
    const int removed = m_store.purgeExpired(nowMs, m_config.accessTtl * 1000);
    // Used codes are kept ten minutes past their 60 s lifetime: a replay in that time still
    // revokes the family the first exchange started.
    m_store.purgeAuthorizationCodes(nowMs - 10 * 60 * 1000);
    // Device codes the same: a late poll still gets expired_token rather than invalid_grant.
    m_store.purgeDeviceCodes(nowMs - 10 * 60 * 1000);
    m_store.purgeDpopProofs(nowMs);
    if (removed > 0)
        m_activeFamilies.clear(); // cheaper than finding out which ones went
    const double now = double(nowMs / 1000);
    m_verifiedAccess.removeIf(
            [now](const VerifiedAccess &entry) { return entry.expiresAt <= now; });
    return removed;
}

void TokenService::setAccessCacheCapacity(qsizetype capacity)
{
    m_verifiedAccess.setCapacity(capacity);
    m_activeFamilies.setCapacity(capacity);
}

} // namespace Tessera::Server
