// SPDX-License-Identifier: MIT
#pragma once

#include "config.h"
#include "loginpage.h"
#include "loginroute.h"
#include "store.h"

#include <QtHttpServer/QHttpServerRequest>
#include <QtHttpServer/QHttpServerResponder>
#include <QtHttpServer/QHttpServerResponse>

namespace Tessera::Server {

struct FormParameters;

// The authorization endpoint (RFC 6749 §4.1 with PKCE, RFC 7636; OpenID Connect Core 3.1.2)
// and its login form. GET shows the form; POST of the form checks the CSRF guard, then the
// password through LoginRoute (the same queue, limiter and Argon2id check as /api/token/),
// then redirects to the client with a code, the state and iss (RFC 9207).
//
// The client and its redirect URI are checked before anything else: while either is not
// known to be registered, every error is an error page and nothing redirects (an open
// redirector otherwise). Later errors redirect with error=. Consent is skipped: the clients
// are first-party, registered by the operator.
class AuthorizeRoute
{
public:
    static constexpr qint64 CodeLifetimeSeconds = 60;

    // `deploymentKey`: what the login form's CSRF key is derived from (FormGuard).
    AuthorizeRoute(const ServerConfig &config, Store &store, LoginRoute &login,
                   QByteArrayView deploymentKey);

    QHttpServerResponse get(const QHttpServerRequest &request);
    void post(const QHttpServerRequest &request, QHttpServerResponder &&responder);

    // The path of the endpoint under the issuer (route and cookie path).
    QString path() const;
    // False when the form's CSRF key could not be derived: the server must not start.
    bool isReady() const { return m_guard.isValid(); }

private:
    struct Request;
    struct Validated;

    Validated validate(const FormParameters &parameters);
    QHttpServerResponse form(const Request &request, QHttpServerResponse::StatusCode status,
                             const QString &message) const;
    QHttpServerResponse redirect(const Request &request, QList<QPair<QString, QString>> parameters,
                                 bool withState = true) const;
    QHttpServerResponse errorRedirect(const Request &request, const QString &error,
                                      const QString &description) const;
    QHttpServerResponse issueCode(const Request &request, const Store::User &user);
    bool secureCookies() const;

    const ServerConfig &m_config;
    Store &m_store;
    LoginRoute &m_login;
    FormGuard m_guard;
};

} // namespace Tessera::Server
