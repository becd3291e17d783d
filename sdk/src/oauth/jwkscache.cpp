// SPDX-License-Identifier: MIT
#include "jwkscache_p.h"

#include "../logging_p.h"
#include "../operation_p.h"
#include "../transport_p.h"

#include <tessera/strictjson.h>

#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>

#include <algorithm>

namespace Tessera::OAuth {
namespace {

using Jose::Algorithm;

// The algorithms an ID token's key may serve: asymmetric only (a public client has no secret
// to share with the provider, so an HS256 key in a JWKS is never one of ours).
constexpr Algorithm VerifyingAlgorithms[] = {Algorithm::RS256, Algorithm::PS256, Algorithm::ES256,
                                             Algorithm::EdDSA};

// Why a JWK is not used beyond what Key::fromJwk() refuses ("use" other than "sig", a "kid"
// that is not a string, unknown kty or alg, weak RSA), or an empty string when it may be.
// Symmetric keys never import: HS256 is not among VerifyingAlgorithms.
QString unusableReason(const QJsonObject &jwk)
{
    const QJsonValue keyOps = jwk.value(QLatin1String("key_ops"));
    if (!keyOps.isUndefined()
        && !(keyOps.isArray() && keyOps.toArray().contains(QStringLiteral("verify"))))
        return QStringLiteral("\"key_ops\" does not allow \"verify\"");
    // A provider that publishes a private key has leaked it: nothing signed with it proves
    // anything.
    if (jwk.contains(QLatin1String("d")))
        return QStringLiteral("a private key");
    return {};
}

bool isJson(QNetworkReply *reply)
{
    const QByteArray mediaType = Transport::mediaTypeOf(reply);
    // RFC 7517 §8.5 registers application/jwk-set+json; most providers send application/json.
    return mediaType == "application/json" || mediaType == "application/jwk-set+json";
}

} // namespace

Jose::Key JwksKey::forAlgorithm(Jose::Algorithm algorithm) const
{
    for (const Jose::Key &key : keys) {
        if (key.algorithm() == algorithm)
            return key;
    }
    return {};
}

std::optional<QList<JwksKey>> parseJwks(QByteArrayView document, Error *error)
{
    const auto refuse = [error](const QString &why) {
        *error = {Error::Code::ServerError, QStringLiteral("JWKS: %1").arg(why)};
        return std::nullopt;
    };
    QString problem;
    const std::optional<QJsonObject> object = Jose::parseJsonObject(document, &problem);
    if (!object)
        return refuse(QStringLiteral("the document is not a strict JSON object (%1)").arg(problem));
    const QJsonValue keys = object->value(QLatin1String("keys"));
    if (!keys.isArray())
        return refuse(QStringLiteral("the document has no \"keys\" array"));
    QList<JwksKey> usable;
    int index = 0;
    for (const QJsonValue &entry : keys.toArray()) {
        if (index++ >= MaxJwksKeys) {
            qCDebug(lcNetwork) << "JWKS: keys after the first" << MaxJwksKeys << "ignored";
            break;
        }
        if (!entry.isObject()) {
            qCDebug(lcNetwork) << "JWKS: key" << index - 1 << "skipped: not an object";
            continue;
        }
        const QJsonObject jwk = entry.toObject();
        const QString reason = unusableReason(jwk);
        if (!reason.isEmpty()) {
            qCDebug(lcNetwork) << "JWKS: key" << index - 1 << "skipped:" << reason;
            continue;
        }
        JwksKey key;
        key.keyId = jwk.value(QLatin1String("kid")).toString();
        QString lastProblem;
        for (const Algorithm algorithm : VerifyingAlgorithms) {
            const Jose::Key imported = Jose::Key::fromJwk(jwk, algorithm, &lastProblem);
            if (!imported.isNull())
                key.keys.append(imported);
        }
        if (key.keys.isEmpty()) {
            qCDebug(lcNetwork) << "JWKS: key" << index - 1 << "skipped:" << lastProblem;
            continue;
        }
        usable.append(key);
    }
    if (usable.isEmpty())
        return refuse(QStringLiteral("no usable signing key in the set"));
    return usable;
}

struct JwksCache::Waiter
{
    Operation<void> operation;
    QString keyId;
};

JwksCache::JwksCache(const QUrl &jwksUri, const SessionConfig &transport,
                     std::chrono::milliseconds refetchFloor, QObject *parent)
    : QObject(parent)
    , m_jwksUri(jwksUri)
    , m_transport(transport)
    , m_refetchFloor(refetchFloor)
{ }

JwksCache::~JwksCache()
{
    if (m_reply) {
        m_reply->disconnect(this);
        m_reply->abort();
        m_reply->deleteLater();
    }
    // Unfinished operations fail with Cancelled as they are destroyed.
    m_waiters.clear();
}

bool JwksCache::hasKeyId(const QString &keyId) const
{
    return std::any_of(m_keys.cbegin(), m_keys.cend(),
                       [&](const JwksKey &key) { return key.keyId == keyId; });
}

bool JwksCache::unknownKeyRefetchAllowed() const
{
    return !m_sinceUnknownKeyRefetch.isValid()
            || m_sinceUnknownKeyRefetch.elapsed() >= m_refetchFloor.count();
}

QFuture<void> JwksCache::keysFor(const QString &keyId)
{
    auto waiter = std::make_unique<Waiter>();
    waiter->keyId = keyId;
    QFuture<void> future = waiter->operation.future();
    const bool known = keyId.isEmpty() || hasKeyId(keyId);
    // An unknown kid joins a fetch that is running (it may bring the key); without one, it
    // starts a fetch only when the floor allows.
    if (m_loaded && (known || (!m_reply && !unknownKeyRefetchAllowed()))) {
        if (!known)
            qCInfo(lcNetwork) << "JWKS: unknown key id; not fetched again within the floor";
        waiter->operation.succeed();
        return future;
    }
    if (m_loaded && !m_reply) {
        qCInfo(lcNetwork) << "JWKS: unknown key id, fetching the set again (key rotation?)";
        m_sinceUnknownKeyRefetch.start();
    }
    m_waiters.push_back(std::move(waiter));
    if (!m_reply)
        startFetch();
    return future;
}

void JwksCache::startFetch()
{
    if (!m_network) {
        m_network = std::make_unique<QNetworkAccessManager>();
        m_network->setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
    }
    m_reply = Transport::getDocument(*m_network, m_jwksUri, m_transport,
                                     "application/jwk-set+json, application/json", MaxJwksBytes);
    connect(m_reply, &QNetworkReply::finished, this, &JwksCache::onFetchFinished);
}

void JwksCache::onFetchFinished()
{
    QNetworkReply *reply = m_reply;
    m_reply = nullptr;
    reply->deleteLater();
    Error error = Transport::replyError(reply);
    if (error.isError())
        return finish(error);
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (status == 429)
        return finish(
                {Error::Code::RateLimited,
                 QStringLiteral("JWKS: %1 answered 429").arg(Transport::shownUrl(m_jwksUri))});
    if (status >= 300 && status < 400)
        return finish({Error::Code::InvalidConfiguration,
                       QStringLiteral("JWKS: %1 answered a redirect (%2), which is not followed")
                               .arg(Transport::shownUrl(m_jwksUri))
                               .arg(status)});
    if (status != 200)
        return finish({Error::Code::ServerError,
                       QStringLiteral("JWKS: %1 answered HTTP %2")
                               .arg(Transport::shownUrl(m_jwksUri))
                               .arg(status)});
    if (!isJson(reply))
        return finish({Error::Code::ServerError,
                       QStringLiteral("JWKS: %1 is not JSON").arg(Transport::shownUrl(m_jwksUri))});
    const std::optional<QList<JwksKey>> keys = parseJwks(reply->readAll(), &error);
    if (!keys)
        return finish(error);
    m_keys = *keys;
    m_loaded = true;
    qCInfo(lcNetwork) << "JWKS: read" << m_keys.size() << "usable keys";
    finish({});
}

void JwksCache::finish(const Error &error)
{
    if (error.isError())
        qCWarning(lcNetwork) << "JWKS fetch failed; the cache keeps" << m_keys.size()
                             << "keys:" << error.code();
    // Callers' continuations may ask again: take the list first.
    std::vector<std::unique_ptr<Waiter>> waiters = std::move(m_waiters);
    m_waiters.clear();
    bool refetch = false;
    for (std::unique_ptr<Waiter> &waiter : waiters) {
        if (error.isError()) {
            waiter->operation.fail(error);
            continue;
        }
        // The first load did not have the token's key: it may have rotated just now.
        if (!waiter->keyId.isEmpty() && !hasKeyId(waiter->keyId) && unknownKeyRefetchAllowed()) {
            m_sinceUnknownKeyRefetch.start();
            m_waiters.push_back(std::move(waiter));
            refetch = true;
            continue;
        }
        waiter->operation.succeed();
    }
    if (refetch && !m_reply)
        startFetch();
}

} // namespace Tessera::OAuth
