// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/error.h>
#include <tessera/secret.h>

#include <QtCore/QByteArrayView>
#include <QtCore/QString>

namespace Tessera::OAuth {

// What the client knows about the authorization server it sent the user to, for the RFC 9207
// mix-up defence. The comparison is simple string comparison (RFC 9207 §2.4, RFC 3986 §6.2.1).
struct IssuerExpectation
{
    QString issuer; // the issuer identifier the authorization request went to
    // authorization_response_iss_parameter_supported from its metadata: then a response
    // without `iss` is refused. Without it an `iss` that is present is still compared.
    bool issParameterSupported = false;
};

// The outcome of one redirect's query (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207 §2.4).
struct TESSERA_SDK_EXPORT AuthorizationResponse
{
    enum class Kind {
        // Not a response to our request: no `state`, another `state`, a repeated `state`, or
        // a query that is not application/x-www-form-urlencoded. Answered 400; the wait goes
        // on, so a request from someone else cannot end the user's sign-in.
        NotOurs,
        // The code, from the expected issuer.
        Code,
        // Our state, but an error redirect or a response that fails a check: ends the wait.
        Failed,
    };

    // `query` is the raw query of the request target; `state` the one the request was sent
    // with (compared in constant time).
    static AuthorizationResponse evaluate(QByteArrayView query, const Secret &state,
                                          const IssuerExpectation &expectation);

    Kind kind = Kind::NotOurs;
    Secret code;    // Kind::Code only
    QString issuer; // the `iss` received, if any
    Error error;    // Kind::Failed only
};

} // namespace Tessera::OAuth
