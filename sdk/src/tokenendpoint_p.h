// SPDX-License-Identifier: MIT
// Private: the server's token endpoint behind one interface, one implementation per dialect
// (SimpleJWT, simplejwtendpoint.cpp; OAuth 2, oauth/oauthtokenendpoint.cpp). An implementation owns
// the HTTP exchanges and the wire format: paths, request bodies, which status or error code means
// "rejected". The session and the refresher see only typed outcomes. Never installed.
#pragma once

#include "tokenresponse_p.h"

#include <tessera/error.h>
#include <tessera/secret.h>
#include <tessera/tessera_sdk_export.h>

#include <QtCore/QObject>
#include <QtCore/QUrl>

#include <functional>
#include <memory>

namespace Tessera {

class DpopSigner;
class SessionConfig;

// What a token request came to.
struct TokenOutcome
{
    enum class Kind {
        Issued,   // tokens: a usable response (arrivalMs and serverDate filled in)
        Rejected, // the server refused the credentials or the refresh token: ask the user
        Failed,   // transport, server or response failure: worth retrying later
    };

    Kind kind = Kind::Failed;
    TokenResponse tokens; // Issued only
    Error error;          // Rejected (InvalidCredentials, SessionRejected) and Failed
                          // (transient, or fatal such as InvalidConfiguration)

    static TokenOutcome issued(TokenResponse tokens)
    {
        TokenOutcome outcome;
        outcome.kind = Kind::Issued;
        outcome.tokens = std::move(tokens);
        return outcome;
    }
    static TokenOutcome rejected(Error error) { return {Kind::Rejected, {}, std::move(error)}; }
    static TokenOutcome failed(Error error) { return {Kind::Failed, {}, std::move(error)}; }
};

// Completions run from the event loop, after the call returned, and never after the
// endpoint is destroyed. Requests follow the transport policy (transport_p.h).
class TESSERA_SDK_EXPORT TokenEndpoint : public QObject
{
    Q_OBJECT
public:
    using Done = std::function<void(TokenOutcome outcome)>;
    using RevokeDone = std::function<void(const Error &error)>;

    using QObject::QObject;
    ~TokenEndpoint() override = default;

    // Username and password for a token pair (SimpleJWT's obtain; OAuth 2's password grant).
    // The password is sent once and kept nowhere.
    virtual void obtainWithPassword(const QString &username, const QString &password,
                                    Done done) = 0;
    // An authorization code from the browser sign-in for a token pair (RFC 6749 §4.1.3), with
    // the PKCE verifier of its request (RFC 7636 §4.5) and the redirect URI it was sent to.
    // Dialects without the authorization code grant (SimpleJWT) fail with InvalidConfiguration.
    virtual void exchangeCode(const Secret &code, const Secret &codeVerifier,
                              const QUrl &redirectUri, Done done) = 0;
    // One device access token request (RFC 8628 §3.4) for the device code of a device
    // authorization. The answers that mean "poll again" (authorization_pending, slow_down) are
    // Failed outcomes whose Error::serverCode() names them; the device flow reads them.
    // Dialects without the device grant (SimpleJWT) fail with InvalidConfiguration.
    virtual void exchangeDeviceCode(const Secret &deviceCode, Done done) = 0;
    // Spends `refreshToken` for a new access token and, with rotation, a new refresh token.
    virtual void refresh(const Secret &refreshToken, Done done) = 0;

    // False when the server has no revocation endpoint.
    virtual bool canRevoke() const = 0;
    // Revokes `refreshToken` server-side: NoError also when the server no longer knows it.
    // `done` may be empty (best effort).
    virtual void revoke(const Secret &refreshToken, RevokeDone done) = 0;
    // Whether revokeAccessToken() is offered: the dialect has a standard way to revoke an access
    // token on its own (OAuth 2: RFC 7009 with token_type_hint=access_token). SimpleJWT has none.
    virtual bool canRevokeAccessTokens() const = 0;
    // Revokes `accessToken` server-side, for servers that do not revoke a grant's access tokens
    // with its refresh token (RFC 7009 §2.1 makes that a SHOULD). NoError also when the server
    // no longer knows the token, and when it cannot revoke access tokens on their own
    // (unsupported_token_type, §2.2.1). `done` may be empty (best effort).
    virtual void revokeAccessToken(const Secret &accessToken, RevokeDone done) = 0;
};

// djangorestframework-simplejwt: JSON bodies to the configured obtain, refresh and
// blacklist paths. `config` is the session's and outlives the endpoint. DPoP only with the
// policy Required (a SimpleJWT server advertises nothing): then login makes the key, every
// request carries a proof (a 400 use_dpop_nonce is retried once with the nonce), a refresh
// without the key is Rejected, and DpopSigner::checkBinding() judges each token answer (the
// server names a bound token with "token_type": "DPoP"). `dpop` outlives the endpoint (null:
// no DPoP).
TESSERA_SDK_EXPORT std::unique_ptr<TokenEndpoint>
createSimpleJwtEndpoint(const SessionConfig &config, DpopSigner *dpop = nullptr);

} // namespace Tessera
