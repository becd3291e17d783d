// SPDX-License-Identifier: MIT
// Private (exported only for the tests): the session's DPoP side (RFC 9449): its P-256 key, the
// proofs of its requests, and the nonces servers handed out. Never installed.
#pragma once

#include <tessera/dpop.h>
#include <tessera/secret.h>
#include <tessera/sessionconfig.h>
#include <tessera/tessera_sdk_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QHash>
#include <QtCore/QUrl>

#include <functional>
#include <optional>

QT_BEGIN_NAMESPACE
class QNetworkReply;
class QNetworkRequest;
QT_END_NAMESPACE

namespace Tessera {

struct TokenOutcome;

// One per session. The key is one account's: generated (OpenSSL, via Tessera::Jose) when a
// sign-in with DPoP needs it, stored by the credential vault next to the refresh token, read
// back by restore(). Nonces are remembered per origin, apart for the authorization server's
// token requests and for resource requests (RFC 9449 sections 8 and 9: each server has its
// own, also when both share an origin). Proofs carry iat from the
// session's corrected clock (the server's clock as the last token response showed it).
class TESSERA_SDK_EXPORT DpopSigner
{
public:
    // `skewMs`: server clock minus local clock, as the refresher last measured it.
    explicit DpopSigner(std::function<qint64()> skewMs = {});

    // Whether token requests carry proofs: always for Required; for IfSupported only when the
    // server advertises ES256 in dpop_signing_alg_values_supported (OAuth metadata; a SimpleJWT
    // server advertises nothing, so it stays off there unless the policy is Required).
    static bool isEnabled(SessionConfig::DpopPolicy policy, const QStringList &advertisedAlgs);

    bool hasKey() const { return !m_key.isNull(); }
    const Jose::Key &key() const { return m_key; }
    // A fresh P-256 key unless one is held (a sign-in makes one on its first proof).
    const Jose::Key &ensureKey();
    void setKey(Jose::Key key) { m_key = std::move(key); }
    // Forgets the key and every nonce (sign-out, a new sign-in).
    void reset();
    // RFC 7638 thumbprint of the key (the jkt tokens are bound to); empty without one.
    QString thumbprint() const;

    // The key as unencrypted PKCS#8 DER, what secure storage holds; empty without one.
    Secret exportKey() const;
    // A key stored by exportKey(); a null Key when `der` is not a P-256 private key.
    static Jose::Key importKey(const Secret &der);

    enum class NonceScope { AuthorizationServer, ResourceServer };

    // A new proof for one request, with the nonce last seen from `url`'s origin (the resource
    // server's when an access token is given, else the authorization server's) and, for a
    // resource request, the access token's hash. Empty without a key (or for a URL no proof can
    // name). Never reuse one: each call has a fresh jti.
    QByteArray proof(QByteArrayView method, const QUrl &url,
                     std::optional<QByteArrayView> accessToken = std::nullopt) const;
    // Adds a proof for `method` to `request` (its URL); false when none could be made.
    bool sign(QNetworkRequest &request, QByteArrayView method,
              std::optional<QByteArrayView> accessToken = std::nullopt) const;

    // Keeps the DPoP-Nonce of any answer from `reply`'s origin (RFC 9449 section 8.2: a server
    // may send a new one with any response). Returns true when the reply carried one.
    bool rememberNonce(QNetworkReply *reply, NonceScope scope);
    QString nonceFor(const QUrl &url, NonceScope scope) const;

    // A token endpoint's "use a nonce" answer (RFC 9449 section 8): 400 with the OAuth error
    // use_dpop_nonce (the body is peeked, not read).
    static bool isTokenEndpointNonceChallenge(QNetworkReply *reply);
    // A resource server's (section 9): 401 with WWW-Authenticate: DPoP error="use_dpop_nonce".
    static bool isResourceNonceChallenge(QNetworkReply *reply);

    // The request method of `request` for `operation`, as htm names it.
    static QByteArray methodOf(int operation, const QNetworkRequest &request);

    // What a token endpoint answered, against what was asked: a DPoP-bound token when no proof
    // was sent is an unusable response (ServerError, transient, as any other token response
    // the client cannot use: the refresh token is kept); with `required`, an unbound token is
    // DpopNotBound (fatal).
    // `what` names the request in the message.
    static void checkBinding(TokenOutcome &outcome, bool proofSent, bool required,
                             const QString &what);
    // A bound session whose key is gone from storage (or unreadable): sign in again.
    static Error missingKeyError();

private:
    qint64 issuedAt() const;

    std::function<qint64()> m_skewMs;
    Jose::Key m_key;
    QHash<QString, QString> m_nonces; // scope + origin -> latest DPoP-Nonce
};

} // namespace Tessera
