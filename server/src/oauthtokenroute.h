// SPDX-License-Identifier: MIT
#pragma once

#include "accesssigner.h"

#include "clientaddress.h"
#include "config.h"
#include "dpopcheck.h"
#include "store.h"
#include "tokenservice.h"

#include <QtHttpServer/QHttpServerRequest>
#include <QtHttpServer/QHttpServerResponse>

#include <variant>

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
                    const ClientAddressResolver &clients, DpopCheck &dpop, AccessSigner &signer);

    // A refresh_token grant is answered once its access token is signed (AccessSigner).
    void token(const QHttpServerRequest &request, QHttpServerResponder &&responder);
    QHttpServerResponse revoke(const QHttpServerRequest &request);
    // Answered later when a DPoP proof is checked (DpopCheck::authorizeDeferred).
    void userinfo(const QHttpServerRequest &request, QHttpServerResponder &&responder);

private:
    // The answer, or a refresh's result whose access token is still to be signed.
    using GrantOutcome = std::variant<QHttpServerResponse, TokenService::Result>;
    // `dpopJkt`: the key of the request's verified DPoP proof; empty without one.
    GrantOutcome grant(const QHttpServerRequest &request);
    QHttpServerResponse authorizationCodeGrant(const FormParameters &parameters,
                                               const QString &clientId, const QString &dpopJkt);
    QHttpServerResponse deviceCodeGrant(const FormParameters &parameters, const QString &clientId,
                                        const QString &dpopJkt);
    GrantOutcome refreshTokenGrant(const FormParameters &parameters, const QString &clientId,
                                   const QHttpServerRequest &request, const QString &dpopJkt);
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
    AccessSigner &m_signer;
};

} // namespace Tessera::Server
