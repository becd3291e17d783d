// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/dpop.h>

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>
#include <QtCore/QList>
#include <QtCore/QString>
#include <QtCore/QUrl>

#include <optional>

namespace Tessera::Server {

// tessera-server's DPoP proof checks (RFC 9449) without HTTP types: DpopCheck (dpopcheck.h)
// feeds it the request's fields, and fuzz_server_dpop feeds it anything.
// One jti replay cache for the process; server nonces derived from the deployment key.
class DpopVerifier
{
public:
    // `window`: how far a proof's iat may be from now (also how long its jti is kept, and
    // how long a nonce is current). `nonces`: proofs must carry one of nonceAt()'s.
    // `deploymentKey`: key material every instance on the database shares, so that one
    // instance accepts another's nonces.
    DpopVerifier(qint64 windowSeconds, bool nonces, QByteArrayView deploymentKey,
                 qsizetype replayCapacity = Jose::Dpop::DefaultReplayCapacity);

    struct Proof
    {
        Jose::Dpop::Error error = Jose::Dpop::Error::None;
        QString reason; // for error_description and logs: quotes nothing from the request
        QString jkt;    // the verified proof's key; empty when there was no proof
        QString jti;    // the verified proof's
        qint64 issuedAt = 0;
        // ReplayCacheFull because the deployment's replay cache (the database) could not be
        // asked: answered like any database trouble (503, Retry-After).
        bool databaseUnavailable = false;
        bool ok() const { return error == Jose::Dpop::Error::None; }
    };

    // `values`: every DPoP field of the request. `method` and `url`: the request as the client
    // sent it (url: the public base URL with the request's path). With `accessToken`, the
    // proof's ath must be its hash; with `jkt`, its key must be that one. `normalizedUrl`, when
    // not empty, is Jose::Dpop::normalizeHtu(url), worked out by the caller.
    Proof verify(const QList<QByteArray> &values, QByteArrayView method, const QUrl &url,
                 std::optional<QByteArrayView> accessToken, const QString &jkt, qint64 now,
                 const QString &normalizedUrl = {});

    // False when nonces are on but no key could be derived (the server does not start).
    bool isReady() const { return !m_nonces || !m_nonceKey.isEmpty(); }
    bool noncesRequired() const { return m_nonces; }
    // The nonce current at `now` (seconds); empty when nonces are off.
    QByteArray nonceAt(qint64 now) const;
    qint64 windowSeconds() const { return m_window; }
    qsizetype replayCacheSize() const { return m_replay.size(); }
    // The imported public keys of recent proofs (a client's proofs share one).
    const Jose::Dpop::KeyCache &keyCache() const { return m_keys; }

private:
    QByteArray nonceFor(qint64 epoch) const;

    qint64 m_window;
    bool m_nonces;
    Jose::Dpop::ReplayCache m_replay;
    Jose::Dpop::KeyCache m_keys;
    QByteArray m_nonceKey;
};

// An Authorization field value: "Bearer TOKEN" or "DPoP TOKEN" (schemes case-insensitive,
// RFC 9110 section 11.1). None for anything else, or without a token.
struct Authorization
{
    enum class Scheme { None, Bearer, Dpop };
    Scheme scheme = Scheme::None;
    QByteArray token;
};
Authorization parseAuthorization(QByteArrayView value);

} // namespace Tessera::Server
