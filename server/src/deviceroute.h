// SPDX-License-Identifier: MIT
#pragma once

#include "clientaddress.h"
#include "config.h"
#include "loginlimiter.h"
#include "loginpage.h"
#include "loginroute.h"
#include "store.h"

#include <QtHttpServer/QHttpServerRequest>
#include <QtHttpServer/QHttpServerResponder>
#include <QtHttpServer/QHttpServerResponse>

#include <optional>

namespace Tessera::Server {

struct FormParameters;

// User codes (RFC 8628 §6.1): 8 letters of a 20-consonant alphabet without vowels (no words)
// and without letters read as digits or as each other, about 34.5 bits; shown as XXXX-XXXX.
QString newUserCode();
// What a person typed, in the stored form: case, dashes and spaces ignored. Nothing unless the
// rest is exactly 8 letters of the alphabet.
std::optional<QString> normalizeUserCode(const QString &typed);
// XXXX-XXXX.
QString displayUserCode(const QString &userCode);

// The device authorization grant's front half (RFC 8628 §3.1-3.3): POST /device_authorization
// for the device, and the /device page where a person enters the user code, checks that it
// matches the one on the device (§5.4: the page names the client and shows the code), and
// allows it by signing in (LoginRoute::check, the one password check) or denies it.
//
// Every /device post that names no pending code counts against its client address (a
// LoginLimiter of its own: UserCodeLimit per UserCodeWindowSeconds; past UserCodeCeiling
// across all addresses, addresses with failures back off exponentially); a throttled address
// gets 429 whatever it sends. On PostgreSQL the attempts are counted in the database, for
// every instance together, like the login limits. The /token side is in OAuthTokenRoute.
class DeviceRoute
{
public:
    static constexpr qint64 LifetimeSeconds = 600;
    static constexpr qint64 SlowDownSeconds = 5;
    static constexpr int UserCodeLimit = 10;
    static constexpr int UserCodeCeiling = 100;
    static constexpr qint64 UserCodeWindowSeconds = 600;

    // `deploymentKey`: what the page's CSRF key is derived from (FormGuard).
    DeviceRoute(const ServerConfig &config, Store &store, LoginRoute &login,
                const ClientAddressResolver &clients, QByteArrayView deploymentKey);

    QHttpServerResponse authorization(const QHttpServerRequest &request);
    QHttpServerResponse get(const QHttpServerRequest &request);
    void post(const QHttpServerRequest &request, QHttpServerResponder &&responder);

    // The page's path under the issuer (route and cookie path).
    QString path() const;
    // False when the page's CSRF key could not be derived: the server must not start.
    bool isReady() const { return m_guard.isValid(); }

private:
    QHttpServerResponse entryPage(QHttpServerResponse::StatusCode status, const QString &typed,
                                  const QString &message) const;
    QHttpServerResponse confirmPage(QHttpServerResponse::StatusCode status,
                                    const Store::DeviceCode &code, const QString &message) const;
    QHttpServerResponse donePage(const QString &title, const QString &message) const;
    void decide(const Store::DeviceCode &code, qint64 userId, QHttpServerResponder &&responder);
    bool secureCookies() const;

    const ServerConfig &m_config;
    Store &m_store;
    LoginRoute &m_login;
    const ClientAddressResolver &m_clients;
    LoginLimiter m_userCodeLimiter;
    FormGuard m_guard;
};

} // namespace Tessera::Server
