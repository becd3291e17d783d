// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QPair>
#include <QtCore/QString>
#include <QtHttpServer/QHttpServerResponse>

namespace Tessera::Server {

// The HTML the browser sees (docs/SERVER.md "Login page"): the login form and the error
// page. No script, no style, no external resource; everything echoed is HTML-escaped. Every
// page carries the anti-framing, no-store and no-referrer headers.

// & < > " ' as character references.
QString htmlEscape(const QString &text);

// A page with the security headers: X-Frame-Options DENY, a CSP of default-src 'none' and
// frame-ancestors 'none', Cache-Control no-store, Referrer-Policy no-referrer, nosniff.
QHttpServerResponse htmlPage(QHttpServerResponse::StatusCode status, const QString &title,
                             const QString &bodyHtml);

// The error page shown when the client or its redirect URI is not known: never a redirect.
QHttpServerResponse errorPage(QHttpServerResponse::StatusCode status, const QString &message);

// The error page for a storage failure, classed like the JSON endpoints (Store::unavailable()):
// a database unreachable for now, a statement timeout, a serialization failure or deadlock is
// 503 with Retry-After: 1 and asks the person to try again; any other failure is 500.
QHttpServerResponse storageFailurePage(bool databaseUnavailable, const QString &message);

// The login form, posting `hidden` (name, value) and username/password to `action`;
// `message` (plain text) above it when non-empty.
QHttpServerResponse loginPage(QHttpServerResponse::StatusCode status, const QString &action,
                              const QString &clientId, const QList<QPair<QString, QString>> &hidden,
                              const QString &message);

// The CSRF guard of the login form: a random value in a hidden field and, in a cookie, the
// same value with an expiry, both under an HMAC-SHA256. Its key is derived (HKDF-SHA256) from
// the deployment's shared key material for one purpose (one form): every instance of a
// deployment (one database, so one signing key) derives the same key, so a form served by one
// instance behind a load balancer is accepted by another, and a restart leaves open forms
// valid. The key is never the material itself, and another purpose or deployment gets another
// key. The cookie is HttpOnly, SameSite=Strict (the form posts to its own site; a cross-site
// post never carries it) and bound to the login path; Secure when the issuer is https.
class FormGuard
{
public:
    static constexpr const char *CookieName = "tessera_login";
    static constexpr qint64 LifetimeSeconds = 600; // time for a person to type

    // `deploymentKey`: key material every instance shares (HttpApi: the signing key as
    // stored). `purpose`: which form. isValid() is false when no key could be derived.
    FormGuard(QByteArrayView deploymentKey, QByteArrayView purpose);
    FormGuard(const FormGuard &) = delete;
    FormGuard &operator=(const FormGuard &) = delete;
    ~FormGuard();

    bool isValid() const { return !m_key.isEmpty(); }

    struct Issued
    {
        QString field;        // the hidden field's value
        QByteArray setCookie; // the Set-Cookie header value
    };
    Issued issue(qint64 nowSeconds, const QString &path, bool secure) const;
    // Whether the Cookie header (exactly one cookie of our name) holds an unexpired value
    // whose MAC is right and which matches `field`.
    bool accepts(const QByteArray &cookieHeader, const QString &field, qint64 nowSeconds) const;
    // A Set-Cookie value that deletes the cookie.
    static QByteArray expired(const QString &path, bool secure);

private:
    QByteArray mac(QByteArrayView data) const;
    QByteArray m_key;
};

} // namespace Tessera::Server
