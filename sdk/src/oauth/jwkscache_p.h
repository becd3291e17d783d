// SPDX-License-Identifier: MIT
// Private (exported only for the tests): an OpenID provider's signing keys, read from its
// `jwks_uri` (RFC 7517 §5) through the SDK's transport policy (transport_p.h: https except
// loopback, pins, no redirects, no cookies or cache, timeouts, a size cap) and cached per
// provider. The document is hostile input: every key goes through the JOSE layer's import, and
// a key that cannot be used is skipped. Never installed.
#pragma once

#include <tessera/error.h>
#include <tessera/jose.h>
#include <tessera/sessionconfig.h>
#include <tessera/tessera_sdk_export.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QFuture>
#include <QtCore/QObject>
#include <QtCore/QUrl>

#include <chrono>
#include <memory>
#include <vector>

QT_BEGIN_NAMESPACE
class QNetworkAccessManager;
class QNetworkReply;
QT_END_NAMESPACE

namespace Tessera::OAuth {

// Real key sets are 1-10 KB (a few RSA keys); 64 KB holds dozens.
inline constexpr qsizetype MaxJwksBytes = 64 * 1024;
// At most this many keys are read from one document; the rest are ignored.
inline constexpr int MaxJwksKeys = 32;
// Tokens naming an unknown "kid" make the cache fetch again at most once per this interval:
// a stream of forged tokens with random kids cannot turn into a stream of requests.
inline constexpr std::chrono::milliseconds DefaultJwksRefetchFloor = std::chrono::seconds(60);

// One usable JWK of the set: its "kid" (empty when it has none) and the key imported once for
// each algorithm it can verify (an RSA key without "alg" serves RS256 and PS256).
struct TESSERA_SDK_EXPORT JwksKey
{
    QString keyId;
    QList<Jose::Key> keys;
    // The key for `algorithm`, or a null Key.
    Jose::Key forAlgorithm(Jose::Algorithm algorithm) const;
};

// Reads a JWK Set with the strict JSON parser: an object whose "keys" is an array. Each member
// of "keys" that is not an object, has a "use" other than "sig", "key_ops" without "verify",
// is a symmetric (kty "oct") or private key, or that the JOSE layer refuses for every
// asymmetric algorithm it verifies (unknown kty or alg, a weak or malformed RSA key) is
// skipped with a debug log. A set with no usable key, or a document that is not such an
// object, is refused: std::nullopt and *error is ServerError (transient: the provider may fix
// it) naming the problem, never quoting key material.
TESSERA_SDK_EXPORT std::optional<QList<JwksKey>> parseJwks(QByteArrayView document, Error *error);

class TESSERA_SDK_EXPORT JwksCache : public QObject
{
    Q_OBJECT
public:
    JwksCache(const QUrl &jwksUri, const SessionConfig &transport,
              std::chrono::milliseconds refetchFloor = DefaultJwksRefetchFloor,
              QObject *parent = nullptr);
    ~JwksCache() override;

    QUrl jwksUri() const { return m_jwksUri; }
    // The keys of the last good document (empty before the first).
    const QList<JwksKey> &keys() const { return m_keys; }
    bool hasKeyId(const QString &keyId) const;

    // Finishes when the keys a token naming `keyId` needs are as fresh as the cache allows:
    //  - at once when the set is loaded and has `keyId` (or `keyId` is empty);
    //  - after the first fetch when nothing is loaded yet;
    //  - after one more fetch when the loaded set lacks `keyId` (key rotation), unless such a
    //    fetch started less than the refetch floor ago: then at once, with the keys as they are.
    // Succeeding does not mean `keyId` was found (the validator reports an unknown key). A
    // failed fetch keeps the keys of the last good document and fails the future with
    // NetworkError, Timeout, ServerError, RateLimited (transient) or InvalidConfiguration,
    // InsecureTransport, TlsError, PinMismatch. Callers that ask while a fetch runs share it.
    QFuture<void> keysFor(const QString &keyId);

private:
    struct Waiter;
    void startFetch();
    void onFetchFinished();
    void finish(const Error &error);
    bool unknownKeyRefetchAllowed() const;

    const QUrl m_jwksUri;
    const SessionConfig m_transport;
    const std::chrono::milliseconds m_refetchFloor;
    std::unique_ptr<QNetworkAccessManager> m_network;
    QNetworkReply *m_reply = nullptr;
    QList<JwksKey> m_keys;
    bool m_loaded = false;
    QElapsedTimer m_sinceUnknownKeyRefetch; // invalid until the first such refetch
    std::vector<std::unique_ptr<Waiter>> m_waiters;
};

} // namespace Tessera::OAuth
