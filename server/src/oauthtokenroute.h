// SPDX-License-Identifier: MIT
#pragma once

#include "clientaddress.h"
#include "config.h"
#include "dpopcheck.h"
#include "store.h"
#include "tokenservice.h"

#include <QtHttpServer/QHttpServerRequest>
#include <QtHttpServer/QHttpServerResponse>

namespace Tessera::Server {

struct FormParameters;

// The OAuth back channel for public clients (token_endpoint_auth_method "none"):
// POST /token (RFC 6749 §4.1.3 with PKCE, RFC 7636 §4.6; §6 refresh; RFC 8628 §3.4-3.5 device
// code, whose front half is DeviceRoute), POST /revoke (RFC 7009)
// and GET /userinfo (OpenID Connect Core 5.3). Every token goes through TokenService: the same
// families, rotation, reuse detection and grace window as the SimpleJWT endpoints.
class OAuthTokenRoute
{
public:
    OAuthTokenRoute(const ServerConfig &config, Store &store, TokenService &tokens,
                    const ClientAddressResolver &clients, DpopCheck &dpop);

    QHttpServerResponse token(const QHttpServerRequest &request);
    QHttpServerResponse revoke(const QHttpServerRequest &request);
    // Answered later when a DPoP proof is checked (DpopCheck::authorizeDeferred).
    void userinfo(const QHttpServerRequest &request, QHttpServerResponder &&responder);

private:
    // `dpopJkt`: the key of the request's verified DPoP proof; empty without one.
    QHttpServerResponse grant(const QHttpServerRequest &request);
    QHttpServerResponse authorizationCodeGrant(const FormParameters &parameters,
                                               const QString &clientId, const QString &dpopJkt);
    QHttpServerResponse deviceCodeGrant(const FormParameters &parameters, const QString &clientId,
                                        const QString &dpopJkt);
    QHttpServerResponse refreshTokenGrant(const FormParameters &parameters, const QString &clientId,
                                          const QHttpServerRequest &request,
                                          const QString &dpopJkt);
    QHttpServerResponse tokenResponse(const TokenService::Result &result) const;
    // A refused DPoP proof; an unreachable replay cache answered as this endpoint's other
    // storage failures (oauthStorageError()).
    QHttpServerResponse proofRefusal(const DpopCheck::Proof &proof) const;
    QHttpServerResponse userinfoResponse(const DpopCheck::Access &access) const;

    const ServerConfig &m_config;
    Store &m_store;
    TokenService &m_tokens;
    const ClientAddressResolver &m_clients;
    DpopCheck &m_dpop;
};

} // namespace Tessera::Server
