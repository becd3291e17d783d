// SPDX-License-Identifier: MIT
#pragma once

#include "config.h"
#include "store.h"

#include <tessera/jose.h>

#include <QtCore/QByteArray>
#include <QtCore/QJsonObject>

namespace Tessera::Server {

struct TokenPair
{
    QByteArray access;
    QByteArray refresh;
};

// Issues and checks tokens: access JWTs signed with the configured algorithm,
// opaque rotating refresh tokens grouped in families. Event-loop thread only.
class TokenService
{
public:
    enum class Outcome {
        Ok,
        Invalid,  // unknown, malformed, expired, revoked: 401 token_not_valid
        Reused,   // an already-rotated token outside the grace window: family revoked, 401
        Internal, // storage failure: 500
    };

    struct Result
    {
        Outcome outcome = Outcome::Invalid;
        TokenPair tokens;
    };

    struct AccessCheck
    {
        Outcome outcome = Outcome::Invalid;
        QJsonObject claims;
        QString reason; // for the log, never the token
    };

    TokenService(const ServerConfig &config, Store &store);

    // Loads the signing key of the configured algorithm, creating one on first start.
    bool loadOrCreateSigningKey(QString *error);

    Result startFamily(const Store::User &user);
    Result refresh(const QByteArray &refreshToken);
    Outcome revoke(const QByteArray &refreshToken);
    AccessCheck checkAccess(const QByteArray &accessToken);

    QJsonObject jwks() const { return Jose::jwks(m_verificationKeys); }

    static qint64 nowMs();

private:
    QByteArray mintAccess(qint64 userId, const QString &username, const QString &familyId,
                          qint64 nowMs) const;
    static bool looksLikeRefreshToken(const QByteArray &token);

    const ServerConfig &m_config;
    Store &m_store;
    Jose::Key m_signingKey;
    QList<Jose::Key> m_verificationKeys;
    Jose::ClaimRequirements m_accessRequirements;
};

} // namespace Tessera::Server
