// SPDX-License-Identifier: MIT
#include "dpopproof.h"

#include "keyderivation.h"

#include <tessera/jose.h>

#include <QtCore/QtEndian>

namespace Tessera::Server {
namespace {
constexpr int NonceBytes = 16;
} // namespace

DpopVerifier::DpopVerifier(qint64 windowSeconds, bool nonces, QByteArrayView deploymentKey,
                           qsizetype replayCapacity)
    : m_window(qMax<qint64>(1, windowSeconds))
    , m_nonces(nonces)
    , m_replay(replayCapacity, std::chrono::seconds(m_window))
    , m_nonceKey(hkdfSha256(deploymentKey, "tessera-server dpop nonce", "hmac key v1", 32))
{ }

QByteArray DpopVerifier::nonceFor(qint64 epoch) const
{
    QByteArray salt(8, Qt::Uninitialized);
    qToBigEndian<qint64>(epoch, salt.data());
    return Jose::base64UrlEncode(hkdfSha256(m_nonceKey, salt, "nonce", NonceBytes));
}

QByteArray DpopVerifier::nonceAt(qint64 now) const
{
    return m_nonces ? nonceFor(now / m_window) : QByteArray();
}

DpopVerifier::Proof DpopVerifier::verify(const QList<QByteArray> &values, QByteArrayView method,
                                         const QUrl &url, std::optional<QByteArrayView> accessToken,
                                         const QString &jkt, qint64 now,
                                         const QString &normalizedUrl)
{
    Jose::Dpop::ExpectedRequest expected;
    expected.method = method.toByteArray();
    expected.url = url;
    expected.normalizedUrl = normalizedUrl;
    expected.now = now;
    expected.accessToken = accessToken;
    expected.jkt = jkt;
    if (m_nonces) {
        // The current nonce and the one before: a nonce is good for one to two windows.
        const qint64 epoch = now / m_window;
        expected.nonces = {QString::fromLatin1(nonceFor(epoch)),
                           QString::fromLatin1(nonceFor(epoch - 1))};
    }
    Jose::Dpop::VerifyPolicy policy;
    policy.keyCache = &m_keys;
    const Jose::Dpop::VerifyResult result =
            Jose::Dpop::verifyProof(values, expected, m_replay, policy);
    if (!result.ok())
        return {result.error, result.reason, {}};
    return {result.error, result.reason, result.jkt, result.jti, result.issuedAt};
}

Authorization parseAuthorization(QByteArrayView value)
{
    const qsizetype space = value.indexOf(' ');
    if (space <= 0)
        return {};
    const QByteArray scheme = value.first(space).toByteArray().toLower();
    QByteArray token = value.sliced(space + 1).toByteArray().trimmed();
    if (token.isEmpty())
        return {};
    if (scheme == "bearer")
        return {Authorization::Scheme::Bearer, std::move(token)};
    if (scheme == "dpop")
        return {Authorization::Scheme::Dpop, std::move(token)};
    return {};
}

} // namespace Tessera::Server
