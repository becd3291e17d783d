// SPDX-License-Identifier: MIT
#pragma once

#include "boundedcache.h"
#include "config.h"
#include "store.h"

#include <tessera/jose.h>

#include <QtCore/QByteArray>
#include <QtCore/QJsonObject>

#include <array>
#include <vector>

namespace Tessera::Server {

struct TokenPair
{
    QByteArray access;
    QByteArray refresh;
};

// Issues and checks tokens: access JWTs signed with the configured algorithm,
// opaque rotating refresh tokens grouped in families. Event-loop thread only.
//
// checkAccess() keeps two bounded in-memory caches so that the hot path costs
// neither a signature verification nor a database read per request:
// - verified access tokens, keyed by the SHA-256 of the exact token bytes, with
//   their subject; an entry is used only inside its iat/nbf..exp window;
// - session families known to be active. This process's revocations drop the
//   entry before writing. On PostgreSQL, other instances' revocations arrive through
//   a RevocationFeed (setRevocationFeed()): applied before every use of the cache, which
//   is bypassed while the feed is down and flushed when it is back.
class RevocationFeed;

class TokenService
{
public:
    static constexpr qsizetype DefaultAccessCacheCapacity = 8192;

    enum class Outcome {
        Ok,
        Invalid,  // unknown, malformed, expired, revoked: 401 token_not_valid
        Reused,   // an already-rotated token outside the grace window: family revoked, 401
        Internal, // storage failure: 500
        // A token of a DPoP-bound family without a proof of its key (none, or another key's):
        // refused and nothing changes (a thief cannot revoke the family). 400 invalid_dpop_proof.
        WrongDpopKey,
    };

    struct Result
    {
        Outcome outcome = Outcome::Invalid;
        TokenPair tokens;
        QString familyId;
        QString clientId;   // OAuth families only (the access token's second audience)
        QString scope;      // granted scope, OAuth families only
        QByteArray idToken; // startFamily() with a grant whose scope has openid
        QString dpopJkt;    // the key the access token is bound to (cnf.jkt); empty: Bearer
    };

    // What an authorization code grants (oauthtokenroute.cpp): a family bound to a client.
    struct OAuthGrant
    {
        QString clientId;
        QString scope;
        QString nonce;
        qint64 authTimeMs = 0;
    };

    struct AccessCheck
    {
        Outcome outcome = Outcome::Invalid;
        // Who the token speaks for, as compact JSON (the /api/me/ body):
        // {"id": user_id, "sid": sid, "username": sub}.
        QByteArray subjectJson;
        QString reason;  // for the log, never the token
        QString dpopJkt; // cnf.jkt: the token is usable only with a DPoP proof of this key
    };

    // An access token minted while signatures are deferred (DeferredSignatures): issued as
    // `placeholder`, its signing input and a signature of 'A's of the final length, until the
    // caller signs `signingInput` with `key` and puts the token in its place.
    struct UnsignedToken
    {
        QByteArray placeholder;
        QByteArray signingInput;
        Jose::Key key;
    };
    // The length of the BASE64URL signatures that can be deferred: 64 bytes (ES256, EdDSA).
    static constexpr qsizetype DeferredSignatureChars = 86;

    // While alive, the access tokens refresh() and startFamily() mint with an ES256 or EdDSA
    // key are listed in `into` unsigned, as placeholders (HttpApi signs them on worker threads
    // while their rotation commits). HS256 tokens are signed at once: that is cheap.
    class DeferredSignatures
    {
    public:
        DeferredSignatures(TokenService &tokens, std::vector<UnsignedToken> *into)
            : m_tokens(tokens)
        {
            m_tokens.m_deferredSignatures = into;
        }
        ~DeferredSignatures() { m_tokens.m_deferredSignatures = nullptr; }
        DeferredSignatures(const DeferredSignatures &) = delete;
        DeferredSignatures &operator=(const DeferredSignatures &) = delete;

    private:
        TokenService &m_tokens;
    };

    TokenService(const ServerConfig &config, Store &store);

    // Loads the signing key of the configured algorithm, creating one on first start.
    bool loadOrCreateSigningKey(QString *error);

    // `grant` null: a family of the SimpleJWT API, bound to no client. `dpopJkt` (the
    // thumbprint of a verified DPoP proof's key) binds the family and its access tokens to it.
    Result startFamily(const Store::User &user, const OAuthGrant *grant = nullptr,
                       const QString &dpopJkt = {});
    // `clientAddress` is for the log lines of the grace window and of reuse. With
    // `requiredClient` (the OAuth token endpoint) a token of a family issued to another
    // client, or to none, is Invalid and left as it is. `proofJkt`: the key of the request's
    // verified DPoP proof, empty without one. A bound family needs its own key (else
    // WrongDpopKey, before any rotation or reuse rule); the new access token is bound to
    // `proofJkt` (an unbound family stays unbound).
    Result refresh(const QByteArray &refreshToken, const QString &clientAddress = {},
                   const QString *requiredClient = nullptr, const QString &proofJkt = {});
    // `proofJkt` as for refresh(): a bound family is revoked only by the holder of its key
    // (else WrongDpopKey), so a stolen token cannot sign its user out.
    Outcome revoke(const QByteArray &refreshToken, const QString &proofJkt = {});
    // RFC 7009: revokes the family of a refresh or access token issued to `clientId`. Ok when
    // revoked; Invalid for unknown tokens and those of other clients (nothing changes).
    Outcome revokeForClient(const QByteArray &token, const QString &clientId,
                            const QString &proofJkt = {});
    // Revokes a family by id (a replayed authorization code's, RFC 6749 §4.1.2).
    bool revokeFamilyById(const QString &familyId, const QString &reason);
    AccessCheck checkAccess(const QByteArray &accessToken);

    QJsonObject jwks() const { return Jose::jwks(m_verificationKeys); }

    // Removes expired families from the store and expired entries from the caches.
    int purgeExpired(qint64 nowMs);

    // Several instances on one PostgreSQL database (docs/SERVER.md "Running several
    // instances"). The feed outlives this service's use of it.
    void setRevocationFeed(RevocationFeed *feed);
    // A revocation written elsewhere: the family is asked of the database next time.
    void forgetFamily(const QString &familyId) { m_activeFamilies.remove(familyId); }

    // For tests: the caches' bound and fill.
    void setAccessCacheCapacity(qsizetype capacity);
    qsizetype verifiedAccessCount() const { return m_verifiedAccess.size(); }
    qsizetype activeFamilyCount() const { return m_activeFamilies.size(); }

    static qint64 nowMs();

private:
    // The SHA-256 of an access token, held inline: a cache key costs no allocation.
    struct TokenDigest
    {
        std::array<quint64, 4> words{};
        friend bool operator==(const TokenDigest &a, const TokenDigest &b)
        {
            return a.words == b.words;
        }
        friend size_t qHash(const TokenDigest &digest, size_t seed = 0) noexcept
        {
            return ::qHash(digest.words[0], seed);
        }
    };

    // Kept small (about 0.5 KB per token with its family entry): the cache is
    // full after a few thousand logins and refreshes and must not look like a leak.
    struct VerifiedAccess
    {
        QByteArray subjectJson; // as in AccessCheck
        QString familyId;
        QString dpopJkt;      // cnf.jkt
        double validFrom = 0; // latest of iat and nbf, seconds since the epoch
        double expiresAt = 0; // exp
    };

    // The grace window's answer to a rotated parent of the current token: the
    // successor, or why there is none (then it is reuse).
    struct Grace
    {
        QByteArray successor;
        QString refusal;
    };
    Grace answerWithinGrace(const Store::RefreshRecord &parent, const QByteArray &parentToken,
                            const Store::RefreshRecord &successor);

    Store::FamilyStatus familyStatus(const QString &familyId);
    bool familyCacheUsable();
    bool revokeFamily(const QString &familyId, qint64 nowMs, const QString &reason);

    QByteArray mintAccess(qint64 userId, const QString &username, const QString &familyId,
                          qint64 nowMs, const QString &clientId = {},
                          const QString &dpopJkt = {}) const;
    QByteArray mintIdToken(const Store::User &user, const OAuthGrant &grant,
                           const QString &familyId, qint64 nowMs) const;
    static bool looksLikeRefreshToken(const QByteArray &token);
    // Whether a request whose proof has key `proofJkt` (empty: no proof) may use a token
    // bound to `boundJkt` (empty: unbound).
    static bool holdsKey(const QString &boundJkt, const QString &proofJkt);

    const ServerConfig &m_config;
    Store &m_store;
    Jose::Key m_signingKey;
    QList<Jose::Key> m_verificationKeys;
    Jose::ClaimRequirements m_accessRequirements;
    BoundedCache<TokenDigest, VerifiedAccess> m_verifiedAccess{DefaultAccessCacheCapacity};
    BoundedCache<QString, bool> m_activeFamilies{DefaultAccessCacheCapacity};
    RevocationFeed *m_feed = nullptr;
    quint64 m_feedEpoch = 0;
    std::vector<UnsignedToken> *m_deferredSignatures = nullptr;
};

} // namespace Tessera::Server
