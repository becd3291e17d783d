// SPDX-License-Identifier: MIT
// DPoP proofs (RFC 9449 section 4): creating one (the client) and checking one (the server).
// The proof carries its own key in "jwk", which verifyCompact() refuses on purpose for every
// other token; so the compact JWS is taken apart here, with the same strict pieces.
#include "jose_p.h"
#include "key_p.h"

#include <tessera/dpop.h>
#include <tessera/strictjson.h>

#include <QtCore/QDateTime>
#include <QtCore/QJsonObject>

#include <cmath>

namespace Tessera::Jose::Dpop {

using namespace Tessera::Jose::Private;

namespace {

constexpr qsizetype JtiBytes = 16; // 128 bits (RFC 9449 section 4.2 asks for at least 96)

QLatin1String latin1(const char *text)
{
    return QLatin1String(text);
}

bool isSupported(Algorithm algorithm)
{
    return algorithm == Algorithm::ES256 || algorithm == Algorithm::EdDSA;
}

// RFC 9110 section 5.6.2 tchar.
bool isToken(QByteArrayView text)
{
    if (text.isEmpty())
        return false;
    for (const char c : text) {
        const bool tchar = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                || (c >= '0' && c <= '9') || QByteArrayView("!#$%&'*+-.^_`|~").contains(c);
        if (!tchar)
            return false;
    }
    return true;
}

// RFC 9449 section 8.1: nonce = 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E.
bool isNonce(const QString &nonce)
{
    if (nonce.isEmpty())
        return false;
    for (const QChar ch : nonce) {
        const char16_t u = ch.unicode();
        if (u < 0x21 || u > 0x7E || u == 0x22 || u == 0x5C)
            return false;
    }
    return true;
}

void setProblem(QString *problem, const QString &why)
{
    if (problem)
        *problem = why;
}

} // namespace

QByteArray accessTokenHash(QByteArrayView accessToken)
{
    return base64UrlEncode(sha256(accessToken));
}

// --- creating ------------------------------------------------------------------------------

QByteArray createProof(const Key &key, QByteArrayView method, const QUrl &url, qint64 issuedAt,
                       const ProofOptions &options, QString *problem)
{
    if (problem)
        problem->clear();
    if (key.isNull() || !isSupported(key.algorithm()) || !key.hasPrivateKey()) {
        setProblem(problem, QStringLiteral("DPoP proof needs an ES256 or EdDSA private key"));
        return {};
    }
    if (!isToken(method)) {
        setProblem(problem, QStringLiteral("DPoP proof: the method is not an HTTP method token"));
        return {};
    }
    const auto htu = normalizeHtu(url);
    if (!htu) {
        setProblem(problem, QStringLiteral("DPoP proof: the URL is not an absolute http(s) URL"));
        return {};
    }
    if (issuedAt < 0) {
        setProblem(problem, QStringLiteral("DPoP proof: the issue time is before the epoch"));
        return {};
    }
    if (options.accessToken && options.accessToken->isEmpty()) {
        setProblem(problem, QStringLiteral("DPoP proof: the access token is empty"));
        return {};
    }
    if (!options.nonce.isEmpty() && !isNonce(options.nonce)) {
        setProblem(problem, QStringLiteral("DPoP proof: the nonce is not 1*NQCHAR"));
        return {};
    }

    QJsonObject claims{
            {latin1("jti"), QString::fromLatin1(base64UrlEncode(randomBytes(JtiBytes)))},
            {latin1("htm"), QString::fromLatin1(method.toByteArray())},
            {latin1("htu"), *htu},
            {latin1("iat"), double(issuedAt)},
    };
    if (options.accessToken)
        claims.insert(latin1("ath"), QString::fromLatin1(accessTokenHash(*options.accessToken)));
    if (!options.nonce.isEmpty())
        claims.insert(latin1("nonce"), options.nonce);

    // Only kty, crv and the coordinates: publicJwk() would add kid, alg and use.
    const QJsonObject header{{latin1("typ"), latin1("dpop+jwt")},
                             {latin1("alg"), algorithmName(key.algorithm())},
                             {latin1("jwk"), KeyPrivate::get(key)->publicMembers()}};
    QByteArray proof = base64UrlEncode(compactJson(header));
    proof += '.';
    proof += base64UrlEncode(compactJson(claims));
    const QByteArray signature = KeyPrivate::get(key)->sign(proof);
    if (signature.isEmpty()) {
        setProblem(problem, QStringLiteral("DPoP proof: signing failed"));
        return {};
    }
    proof += '.';
    proof += base64UrlEncode(signature);
    return proof;
}

// --- verifying -----------------------------------------------------------------------------

Challenge challengeFor(Error error)
{
    switch (error) {
    case Error::None:
        return Challenge::None;
    case Error::WrongNonce:
        return Challenge::UseDpopNonce;
    case Error::ReplayCacheFull:
        return Challenge::TryLater;
    default:
        return Challenge::InvalidDpopProof;
    }
}

QString errorCode(Challenge challenge)
{
    switch (challenge) {
    case Challenge::InvalidDpopProof:
        return QStringLiteral("invalid_dpop_proof");
    case Challenge::UseDpopNonce:
        return QStringLiteral("use_dpop_nonce");
    case Challenge::None:
    case Challenge::TryLater:
        break;
    }
    return {};
}

QString errorString(Error error)
{
    switch (error) {
    case Error::None:
        return QStringLiteral("No error");
    case Error::MissingProof:
        return QStringLiteral("The request has no DPoP proof");
    case Error::MultipleProofs:
        return QStringLiteral("The request has more than one DPoP header");
    case Error::TooLarge:
        return QStringLiteral("The DPoP proof exceeds the size limit");
    case Error::Malformed:
        return QStringLiteral("The DPoP proof is not a well-formed JWT");
    case Error::WrongType:
        return QStringLiteral("The DPoP proof's typ is not dpop+jwt");
    case Error::UnsupportedAlgorithm:
        return QStringLiteral("The DPoP proof's algorithm is not accepted");
    case Error::ForbiddenHeader:
        return QStringLiteral("The DPoP proof's header has crit, jku, x5u or x5c");
    case Error::BadKey:
        return QStringLiteral("The DPoP proof's jwk is missing, invalid or unfit for its alg");
    case Error::PrivateKey:
        return QStringLiteral("The DPoP proof's jwk contains private key material");
    case Error::BadSignature:
        return QStringLiteral("The DPoP proof's signature is invalid");
    case Error::MissingClaim:
        return QStringLiteral(
                "The DPoP proof lacks jti, htm, htu or iat, or one has the wrong type");
    case Error::WrongMethod:
        return QStringLiteral("The DPoP proof's htm does not match the request method");
    case Error::WrongUrl:
        return QStringLiteral("The DPoP proof's htu does not match the request URL");
    case Error::IssuedInFuture:
        return QStringLiteral("The DPoP proof is issued in the future");
    case Error::TooOld:
        return QStringLiteral("The DPoP proof is too old");
    case Error::WrongTokenHash:
        return QStringLiteral("The DPoP proof's ath does not match the access token");
    case Error::WrongKey:
        return QStringLiteral("The DPoP proof's key is not the one the token is bound to");
    case Error::Replayed:
        return QStringLiteral("The DPoP proof has been used before");
    case Error::WrongNonce:
        return QStringLiteral("The DPoP proof must carry the server's current nonce");
    case Error::ReplayCacheFull:
        return QStringLiteral("The server cannot check DPoP proofs for replay at the moment");
    }
    return QStringLiteral("Unknown error");
}

namespace {

VerifyResult refused(Error error, const QString &detail = {})
{
    qCDebug(lcJose) << "DPoP proof refused:" << error;
    VerifyResult result;
    result.error = error;
    result.reason = errorString(error);
    if (!detail.isEmpty())
        result.reason += QStringLiteral(" (%1)").arg(detail);
    return result;
}

// The members that make a JWK private (RFC 7518 sections 6.2.2, 6.3.2, 6.4; RFC 8037 section 2).
bool hasPrivateMember(const QJsonObject &jwk)
{
    for (const char *name : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
        if (jwk.contains(latin1(name)))
            return true;
    }
    return false;
}

bool isDpopType(const QJsonValue &typ)
{
    // RFC 7515 section 4.1.9: media types compare case-insensitively, "application/" optional.
    if (!typ.isString())
        return false;
    const QString lower = typ.toString().toLower();
    return lower == latin1("dpop+jwt") || lower == latin1("application/dpop+jwt");
}

bool matchesAny(const QString &value, const QStringList &candidates)
{
    const QByteArray bytes = value.toUtf8();
    bool found = false;
    for (const QString &candidate : candidates)
        found = constantTimeEquals(bytes, candidate.toUtf8()) || found;
    return found;
}

} // namespace

VerifyResult verifyProof(const QList<QByteArray> &dpopHeaderValues, const ExpectedRequest &expected,
                         ReplayCache &replayCache, const VerifyPolicy &policy)
{
    if (dpopHeaderValues.isEmpty())
        return refused(Error::MissingProof);
    if (dpopHeaderValues.size() > 1)
        return refused(Error::MultipleProofs);
    const QByteArrayView proof = dpopHeaderValues.front();
    if (proof.size() > policy.maxProofSize)
        return refused(Error::TooLarge);

    const qsizetype firstDot = proof.indexOf('.');
    const qsizetype secondDot = firstDot < 0 ? -1 : proof.indexOf('.', firstDot + 1);
    if (secondDot < 0 || proof.indexOf('.', secondDot + 1) >= 0)
        return refused(Error::Malformed);
    const QByteArrayView encodedHeader = proof.first(firstDot);
    // A header whose bytes passed every check below before: the same key, no second look.
    Key key = policy.keyCache ? policy.keyCache->keyOfHeader(encodedHeader) : Key();
    if (!key.isNull() && !policy.algorithms.contains(key.algorithm()))
        key = Key(); // judged again, and refused, below
    const auto payload = base64UrlDecode(proof.sliced(firstDot + 1, secondDot - firstDot - 1));
    const auto signature = base64UrlDecode(proof.sliced(secondDot + 1));
    if (!payload || !signature)
        return refused(Error::Malformed);
    if (key.isNull()) {
        const auto headerJson = base64UrlDecode(encodedHeader);
        if (!headerJson)
            return refused(Error::Malformed);
        const auto header = parseTokenJson(*headerJson, "DPoP proof header");
        if (!header)
            return refused(Error::Malformed);

        if (!isDpopType(header->value(latin1("typ"))))
            return refused(Error::WrongType);
        const QJsonValue alg = header->value(latin1("alg"));
        const auto algorithm = alg.isString() ? algorithmFromName(alg.toString()) : std::nullopt;
        if (!algorithm || !isSupported(*algorithm) || !policy.algorithms.contains(*algorithm))
            return refused(Error::UnsupportedAlgorithm);
        for (const char *name : {"crit", "jku", "x5u", "x5c"}) {
            if (header->contains(latin1(name)))
                return refused(Error::ForbiddenHeader);
        }
        const QJsonValue jwkValue = header->value(latin1("jwk"));
        if (!jwkValue.isObject())
            return refused(Error::BadKey, QStringLiteral("no jwk object"));
        const QJsonObject jwk = jwkValue.toObject();
        if (hasPrivateMember(jwk))
            return refused(Error::PrivateKey);
        // The key's type must suit alg (EC P-256 for ES256, OKP Ed25519 for EdDSA); the key is
        // checked to be a valid public key.
        key = policy.keyCache ? policy.keyCache->publicKey(jwk, *algorithm)
                              : Key::fromJwk(jwk, *algorithm);
        if (key.isNull() || key.hasPrivateKey() || key.algorithm() != *algorithm)
            return refused(Error::BadKey);
        if (policy.keyCache)
            policy.keyCache->rememberHeader(encodedHeader, key);
    }
    if (!KeyPrivate::get(key)->verify(proof.first(secondDot), *signature))
        return refused(Error::BadSignature);

    const auto claims = parseTokenJson(*payload, "DPoP proof claims");
    if (!claims)
        return refused(Error::Malformed);
    const QJsonValue jti = claims->value(latin1("jti"));
    const QJsonValue htm = claims->value(latin1("htm"));
    const QJsonValue htu = claims->value(latin1("htu"));
    const QJsonValue iat = claims->value(latin1("iat"));
    if (!jti.isString() || jti.toString().isEmpty() || !htm.isString() || !htu.isString()
        || !iat.isDouble() || !std::isfinite(iat.toDouble()))
        return refused(Error::MissingClaim);

    if (htm.toString().toUtf8() != expected.method)
        return refused(Error::WrongMethod);
    const auto claimedUrl = normalizeHtu(QStringView(htu.toString()));
    const auto requestUrl = expected.normalizedUrl.isEmpty()
            ? normalizeHtu(expected.url)
            : std::optional<QString>(expected.normalizedUrl);
    if (!requestUrl)
        return refused(Error::WrongUrl, QStringLiteral("the request URL is not an http(s) URL"));
    if (!claimedUrl || *claimedUrl != *requestUrl)
        return refused(Error::WrongUrl);

    // Compared as doubles: an iat of 1e300 is simply far in the future, never an overflow.
    const qint64 now = expected.now ? *expected.now : QDateTime::currentSecsSinceEpoch();
    const double window = double(replayCache.window().count());
    const double issuedAt = iat.toDouble();
    if (issuedAt > double(now) + window)
        return refused(Error::IssuedInFuture,
                       QStringLiteral("more than %1 s ahead of the server").arg(window));
    if (issuedAt < double(now) - window)
        return refused(Error::TooOld,
                       QStringLiteral("more than %1 s behind the server").arg(window));

    if (expected.accessToken) {
        const QJsonValue ath = claims->value(latin1("ath"));
        if (!ath.isString() || expected.accessToken->isEmpty()
            || !constantTimeEquals(ath.toString().toUtf8(), accessTokenHash(*expected.accessToken)))
            return refused(Error::WrongTokenHash);
    }
    if (!expected.jkt.isEmpty()
        && !constantTimeEquals(key.thumbprint().toLatin1(), expected.jkt.toUtf8()))
        return refused(Error::WrongKey);
    if (!expected.nonces.isEmpty()) {
        const QJsonValue nonce = claims->value(latin1("nonce"));
        if (!nonce.isString() || !matchesAny(nonce.toString(), expected.nonces))
            return refused(Error::WrongNonce);
    }

    // Last: only a proof that passed everything takes a place in the cache.
    const qint64 issuedAtSeconds = qint64(std::floor(issuedAt));
    const QByteArray replayId = claimedUrl->toUtf8() + '\0' + jti.toString().toUtf8();
    if (const Error replay = replayCache.remember(replayId, issuedAtSeconds, now);
        replay != Error::None)
        return refused(replay);

    VerifyResult result;
    result.error = Error::None;
    result.jkt = key.thumbprint();
    result.jti = jti.toString();
    result.issuedAt = issuedAtSeconds;
    result.algorithm = key.algorithm();
    return result;
}

} // namespace Tessera::Jose::Dpop
