// SPDX-License-Identifier: MIT
// Private (exported only for the tests): the OAuth 2.0 dialect of the token endpoint
// (RFC 6749 §4.1.3, §6; RFC 7009 revocation) for a public client (RFC 8252 §8.4: no secret;
// client_id in the body). Never installed.
#pragma once

#include "../tokenendpoint_p.h"

#include <tessera/sessionconfig.h>
#include <tessera/tessera_sdk_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QUrl>

#include <memory>
#include <utility>

namespace Tessera {
class DpopSigner;
}

namespace Tessera::OAuth {

// Who the client is and where its token requests go (from the discovery metadata).
struct OAuthClient
{
    QString clientId;
    QUrl tokenEndpoint;
    QUrl revocationEndpoint; // empty: the provider has none (canRevoke() is false)
    // DPoP (RFC 9449) is on for this provider (DpopSigner::isEnabled): every token request
    // carries a proof; sign-ins make the key when there is none, a refresh without the key is
    // Rejected (DpopSigner::missingKeyError()).
    bool dpop = false;
};

// Requests: POST application/x-www-form-urlencoded with grant_type and client_id,
// Accept: application/json, through the transport policy (transport_p.h). Answers:
//  - 200 application/json: parseOAuthTokenResponse(); a code exchange must bring a refresh
//    token (else InvalidConfiguration: the session has nothing to keep; ask for the
//    offline_access scope or allow the client the refresh_token grant). A refresh without
//    refresh_token keeps the old one (TokenResponse::refresh empty: no rotation).
//  - an RFC 6749 §5.2 error (status 400 or 401, JSON body):
//      invalid_grant: Rejected, SessionRejected on refresh (the grant is revoked, expired or
//        the token was reused), InvalidCredentials on a code exchange (the code is expired or
//        spent, or the verifier or redirect URI does not match: sign in again);
//      invalid_client, unauthorized_client, unsupported_grant_type, invalid_scope,
//      invalid_request: Failed with InvalidConfiguration (fatal): the same request would be
//        refused again, and a refresh token must not be dropped over a client's
//        misconfiguration or a malformed request;
//      any other code: Failed with ServerError (transient).
//    The error code becomes Error::serverCode(); an error_description with only the
//    characters RFC 6749 allows is quoted in the message, capped.
//    A device access token request (RFC 8628 §3.5) maps the device grant's codes first:
//      authorization_pending, slow_down: Failed (ServerError) with serverCode naming them;
//      access_denied: Rejected with AccessDenied; expired_token: Failed with Timeout;
//      invalid_grant: Rejected with InvalidCredentials. Like a code exchange it must bring a
//      refresh token.
//  - 429: RateLimited; 5xx, anything else, timeouts, network: transient failures.
// Revocation (RFC 7009 §2.1) posts token, token_type_hint (refresh_token, or access_token for
// revokeAccessToken()) and client_id; 200 is success, an error maps as above, except that
// unsupported_token_type for an access token is success (§2.2.1: the provider cannot revoke
// access tokens on their own).
// DPoP: with a signer that holds a key (or client.dpop), each request carries a fresh proof
// with the provider's latest DPoP-Nonce; a 400 use_dpop_nonce answer (RFC 9449 §8) is retried
// once with a new proof carrying the nonce it brought, never more. Revocation carries a proof
// when there is a key (§5: optional). DpopSigner::checkBinding() judges every token answer.
// `transport` (timeouts, pins, CAs, the DPoP policy) is copied; `dpop` is the session's and
// outlives the endpoint (null: no DPoP).
TESSERA_SDK_EXPORT std::unique_ptr<TokenEndpoint>
createOAuthTokenEndpoint(const SessionConfig &transport, const OAuthClient &client,
                         DpopSigner *dpop = nullptr);

// application/x-www-form-urlencoded (and an authorization request's query): name=value pairs
// joined by "&", every byte of a value but the unreserved ones (RFC 3986 §2.3) percent-encoded,
// so "+", "&", "=" and spaces in a value survive any decoder. Names are taken as given.
TESSERA_SDK_EXPORT QByteArray
formEncode(const QList<std::pair<QByteArray, QByteArrayView>> &fields);

} // namespace Tessera::OAuth
