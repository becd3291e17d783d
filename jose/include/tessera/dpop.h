// SPDX-License-Identifier: MIT
// Tessera::Jose::Dpop — DPoP proofs (RFC 9449): the htu normalisation, creating a proof (the
// SDK), verifying one with a jti replay cache (tessera-server). Built on tessera/jose.h; the
// proof's header and claims are parsed by parseJsonObject() (tessera/strictjson.h).
#pragma once

#include <tessera/jose.h>
#include <tessera/tessera_jose_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QUrl>

#include <chrono>
#include <memory>
#include <optional>

namespace Tessera::Jose::Dpop {
Q_NAMESPACE_EXPORT(TESSERA_JOSE_EXPORT)

// A proof is a few hundred bytes; anything longer is refused before it is decoded.
inline constexpr qsizetype DefaultMaxProofSize = 4 * 1024;
// How far a proof's "iat" may be from the verifier's clock, either way.
inline constexpr std::chrono::seconds DefaultWindow{60};
// At most this many jti are remembered; about 120 bytes each (see ReplayCache).
inline constexpr qsizetype DefaultReplayCapacity = 1 << 18;

// --- htu -----------------------------------------------------------------------------------

// The htu of a request URL: RFC 3986 syntax-based (section 6.2.2) and scheme-based (6.2.3)
// normalisation of an absolute http or https URL, without its query and fragment:
// scheme and host in lower case; the default port (80, 443) and an empty port dropped, any
// other port in decimal without leading zeros; percent-encodings of unreserved characters
// decoded, the others in upper-case hex, printable ASCII that may not appear raw in a path
// percent-encoded; "." and ".." segments removed; an empty path becomes "/".
// The path keeps its case and its trailing slash ("/token" and "/token/" differ).
// std::nullopt for anything else: another scheme, a relative reference, no host, userinfo
// ("user@"; RFC 9110 section 4.2.4 forbids sending it), '%' in the host, a port over 65535,
// a bad percent-encoding, a space, a control or non-ASCII character, more than 8 KiB before or
// after normalisation.
// The client puts normalizeHtu(url) in "htu"; the verifier compares normalizeHtu of the claim
// with normalizeHtu of the URL it received the request on.
TESSERA_JOSE_EXPORT std::optional<QString> normalizeHtu(QStringView url);
// The same, for url.toString(QUrl::FullyEncoded).
TESSERA_JOSE_EXPORT std::optional<QString> normalizeHtu(const QUrl &url);

// "ath": base64url(SHA-256(the access token's ASCII bytes)) (RFC 9449 section 4.2).
TESSERA_JOSE_EXPORT QByteArray accessTokenHash(QByteArrayView accessToken);

// --- creating a proof (client) -------------------------------------------------------------

struct TESSERA_JOSE_EXPORT ProofOptions
{
    // The access token the request carries (resource requests): adds "ath". Only its hash
    // goes into the proof. The bytes must stay valid for the call.
    std::optional<QByteArrayView> accessToken;
    // The server's latest DPoP-Nonce for this origin, when it gave one: adds "nonce".
    QString nonce;
};

// A proof for one request: header {"typ":"dpop+jwt","alg",
// "jwk": the public members only (kty, crv, x[, y])}, claims {"jti": 16 random bytes in
// base64url, "htm": method, "htu": normalizeHtu(url), "iat": issuedAt[, "ath"][, "nonce"]}.
// `key` must be an ES256 or EdDSA key with its private part; `method` an HTTP method token
// (RFC 9110 section 9.1: "GET", "POST"; sent as given, it is case-sensitive); `issuedAt` in
// seconds since the epoch, from the caller's corrected clock; a nonce must be 1+ NQCHAR
// (RFC 9449 section 8.1: printable ASCII except '"' and '\'). A fresh jti each call: never
// reuse a proof, not even for a retry.
// An empty array on any error, and *problem (when given) says which.
TESSERA_JOSE_EXPORT QByteArray createProof(const Key &key, QByteArrayView method, const QUrl &url,
                                           qint64 issuedAt, const ProofOptions &options = {},
                                           QString *problem = nullptr);

// --- verifying a proof (server) ------------------------------------------------------------

enum class Error {
    None,
    // answered as invalid_dpop_proof (RFC 9449 sections 5 and 7.1):
    MissingProof,         // no DPoP header field
    MultipleProofs,       // more than one DPoP header field
    TooLarge,             // over VerifyPolicy::maxProofSize
    Malformed,            // not a compact JWS; header or claims not one strict JSON object
    WrongType,            // header "typ" is not dpop+jwt
    UnsupportedAlgorithm, // "alg" not in the allow-list (none, HS256, RS256, ES384, ...)
    ForbiddenHeader,      // "crit", "jku", "x5u" or "x5c"
    BadKey,     // "jwk" missing, not an object, not a valid key, or of a type "alg" cannot use
    PrivateKey, // "jwk" holds a private or symmetric member ("d", "p", "q", "dp", "dq", "qi",
                // "oth", "k")
    BadSignature,
    MissingClaim,   // jti, htm, htu or iat missing or of the wrong JSON type
    WrongMethod,    // htm differs from the request's method
    WrongUrl,       // htu, normalised, differs from the request's URL, normalised
    IssuedInFuture, // iat after now + window
    TooOld,         // iat before now - window
    WrongTokenHash, // an access token is expected and "ath" is missing or does not match it
    WrongKey,       // the key's thumbprint is not the expected jkt
    Replayed,       // the same jti for the same htu within the window
    // answered as use_dpop_nonce (RFC 9449 section 8):
    WrongNonce, // nonces are expected and "nonce" is missing or none of them
    // a server condition, not the client's fault:
    ReplayCacheFull, // answer 503 (with Retry-After); the proof is refused, never accepted
};
Q_ENUM_NS(Error)

// What the server answers for an error.
enum class Challenge { None, InvalidDpopProof, UseDpopNonce, TryLater };
Q_ENUM_NS(Challenge)

TESSERA_JOSE_EXPORT Challenge challengeFor(Error error);
// "invalid_dpop_proof", "use_dpop_nonce"; empty for None and TryLater.
TESSERA_JOSE_EXPORT QString errorCode(Challenge challenge);
// A fixed sentence per error; quotes nothing from the proof.
TESSERA_JOSE_EXPORT QString errorString(Error error);

// The jti of accepted proofs, each until its proof's iat + window has passed (after that the
// iat check refuses the proof anyway). Bounded: at most capacity() entries, each about
// 120 bytes (a SHA-256 of htu and jti, its expiry, the hash-set node and heap slot).
// When full, entries already past their expiry are dropped; if none is, remember() refuses
// with ReplayCacheFull: a live entry is never evicted, so a replay inside the window is never
// accepted. Size it for the peak rate: proofs per second x window.
// In memory, one process: a restart forgets it (a proof from before the restart can be
// replayed once while it is still in its window), and several server instances each have
// their own (a proof can be replayed once per instance) unless nonces bound the window or the
// instances share a store.
// Thread-safe: every member locks one mutex, so concurrent request handlers may share a cache.
class ReplayCachePrivate;
class TESSERA_JOSE_EXPORT ReplayCache
{
public:
    explicit ReplayCache(qsizetype capacity = DefaultReplayCapacity,
                         std::chrono::seconds window = DefaultWindow);
    ~ReplayCache();
    ReplayCache(const ReplayCache &) = delete;
    ReplayCache &operator=(const ReplayCache &) = delete;

    qsizetype capacity() const;
    // The acceptance window of the proofs verified with this cache: verifyProof() takes it from
    // here, so how old a proof may be and how long its jti is kept cannot disagree.
    std::chrono::seconds window() const;
    qsizetype size() const;

    // Records `id` (verifyProof() passes the normalised htu and the jti) for a proof issued at
    // `issuedAt`, first dropping the entries expired at `now`. None when `id` is new,
    // Replayed when it is recorded and not expired, ReplayCacheFull when there is no room.
    Error remember(QByteArrayView id, qint64 issuedAt, qint64 now);

private:
    std::unique_ptr<ReplayCachePrivate> d;
};

// The public keys of recent proofs, imported once: a client signs every proof with the same key,
// and importing and validating a JWK costs more than verifying the signature. Keyed by the
// proof's whole "jwk" object (every member, compact JSON) and the algorithm, so a cached key is
// exactly what Key::fromJwk() made of that jwk; and by the proof's whole header as sent, so a
// client's next proof (same header bytes) is not decoded and judged again. It holds keys and
// header checks, never a proof's verdict: each proof's signature and claims are still verified.
// Bounded: at most capacity() keys, the least recently used dropped first, so hostile keys cost at
// most that much memory (about 1 KB each). Only accepted imports are kept. Thread-safe: one mutex.
inline constexpr qsizetype DefaultKeyCacheCapacity = 1024;
class KeyCachePrivate;
class TESSERA_JOSE_EXPORT KeyCache
{
public:
    explicit KeyCache(qsizetype capacity = DefaultKeyCacheCapacity);
    ~KeyCache();
    KeyCache(const KeyCache &) = delete;
    KeyCache &operator=(const KeyCache &) = delete;

    qsizetype capacity() const;
    qsizetype size() const;
    // Lookups answered from the cache, and those that imported the key.
    quint64 hits() const;
    quint64 misses() const;

    // Key::fromJwk(jwk, algorithm), from the cache when this jwk was imported before.
    Key publicKey(const QJsonObject &jwk, Algorithm algorithm);
    // The key of a proof header (its base64url text exactly as sent) that passed every header
    // check before, with the algorithm it was imported for (Key::algorithm()); null when this
    // header is unknown. The same bytes get the same verdict, so verifyProof() skips decoding
    // and judging them again; it still checks the algorithm against its policy, and every
    // signature. As many headers as keys are kept, the least recently used dropped first.
    Key keyOfHeader(QByteArrayView encodedHeader);
    // Records that `encodedHeader` passed every header check and carries `key`.
    void rememberHeader(QByteArrayView encodedHeader, const Key &key);

private:
    std::unique_ptr<KeyCachePrivate> d;
};

// What the request must satisfy.
struct TESSERA_JOSE_EXPORT ExpectedRequest
{
    QByteArray method; // compared exactly with "htm"
    QUrl url;          // the URL the request came in on; its query and fragment are ignored
    // When not empty: normalizeHtu(url), worked out once by the caller (a server has a few
    // URLs), and `url` is not looked at.
    QString normalizedUrl;
    std::optional<qint64> now; // seconds since the epoch; the current time when unset
    // The access token the request carries: "ath" must be its hash (compared in constant time).
    // Must stay valid for the call.
    std::optional<QByteArrayView> accessToken;
    // When not empty, "nonce" must equal one of them (e.g. the current and the previous one).
    QStringList nonces;
    // When not empty, the RFC 7638 thumbprint of "jwk" must equal it (the key a token is bound to).
    QString jkt;
};

struct TESSERA_JOSE_EXPORT VerifyPolicy
{
    // Accepted algorithms; only ES256 and EdDSA are ever accepted, anything else in the list
    // is ignored (a proof is signed by an asymmetric key the client holds).
    QList<Algorithm> algorithms{Algorithm::ES256, Algorithm::EdDSA};
    qsizetype maxProofSize = DefaultMaxProofSize;
    // When set, the proof's key comes from (and goes into) this cache; must outlive the call.
    KeyCache *keyCache = nullptr;
};

// On an error only `error` and `reason` are set.
struct TESSERA_JOSE_EXPORT VerifyResult
{
    Error error = Error::Malformed;
    QString reason; // for logs and error_description: never the proof, a token or a claim value
    QString jkt;    // RFC 7638 thumbprint of the proof's key
    QString jti;
    qint64 issuedAt = 0;
    Algorithm algorithm = Algorithm::ES256;
    bool ok() const { return error == Error::None; }
    Challenge challenge() const { return challengeFor(error); }
};

// Checks, in this order: exactly one proof; size; compact JWS with strict JSON; typ; alg in the
// policy; no crit/jku/x5u/x5c; jwk a public key of a type alg can use; the signature by that
// key; jti, htm, htu, iat present; htm; htu; iat within replayCache.window(); ath; jkt;
// nonce; then the jti in replayCache (recorded only when everything else passed).
// `dpopHeaderValues`: every DPoP header field value of the request.
TESSERA_JOSE_EXPORT VerifyResult verifyProof(const QList<QByteArray> &dpopHeaderValues,
                                             const ExpectedRequest &expected,
                                             ReplayCache &replayCache,
                                             const VerifyPolicy &policy = {});

} // namespace Tessera::Jose::Dpop
