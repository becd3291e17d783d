// SPDX-License-Identifier: MIT
#include "loginpage.h"

#include "keyderivation.h"

#include <tessera/jose.h>
#include <tessera/secret.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace Tessera::Server {
namespace {

using Status = QHttpServerResponse::StatusCode;

QByteArray cookieAttributes(const QString &path, bool secure)
{
    QByteArray attributes = "; Path=" + path.toUtf8() + "; HttpOnly; SameSite=Strict";
    if (secure)
        attributes += "; Secure";
    return attributes;
}

// The pages' one stylesheet, inline: the policy allows exactly this text by its hash (CSP
// Level 2 hash source), so nothing injected into a page can style it, and nothing is loaded.
const char PageStyle[] =
        "body{font:16px/1.5 system-ui,sans-serif;background:#eef1f5;color:#1d2430;margin:0}"
        "main{max-width:22rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:8px;"
        "box-shadow:0 2px 10px rgba(0,0,0,.12)}"
        "h1{margin:0 0 .25rem;font-size:1.6rem}"
        "input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;"
        "border:1px solid #9aa5b5;border-radius:4px}"
        "button{width:100%;padding:.6rem;font:inherit;color:#fff;background:#2458c6;"
        "border:0;border-radius:4px}"
        "button+button{margin-top:.5rem}"
        ".code{font-size:1.6rem;letter-spacing:.12em;text-align:center;white-space:nowrap}"
        "button[value=deny]{color:#1d2430;background:#dde2ea}"
        "[role=alert]{color:#a3141c}";

const QByteArray &contentSecurityPolicy()
{
    // Nothing is loaded, nothing runs, nothing frames the page (clickjacking); the form
    // posts to this origin. No form-action: browsers apply it to the redirect that follows
    // the post, which goes to the client.
    static const QByteArray policy = "default-src 'none'; style-src 'sha256-"
            + Jose::sha256(QByteArrayView(PageStyle)).toBase64()
            + "'; frame-ancestors 'none'; base-uri 'none'";
    return policy;
}

} // namespace

QString htmlEscape(const QString &text)
{
    QString escaped;
    escaped.reserve(text.size());
    for (const QChar c : text) {
        switch (c.unicode()) {
        case '&':
            escaped += QLatin1String("&amp;");
            break;
        case '<':
            escaped += QLatin1String("&lt;");
            break;
        case '>':
            escaped += QLatin1String("&gt;");
            break;
        case '"':
            escaped += QLatin1String("&quot;");
            break;
        case '\'':
            escaped += QLatin1String("&#39;");
            break;
        default:
            escaped += c;
        }
    }
    return escaped;
}

QHttpServerResponse htmlPage(Status status, const QString &title, const QString &bodyHtml)
{
    const QString page = QStringLiteral("<!DOCTYPE html>\n<html lang=\"en\"><head>"
                                        "<meta charset=\"utf-8\">"
                                        "<meta name=\"viewport\" content=\"width=device-width, "
                                        "initial-scale=1\"><title>%1</title>"
                                        "<style>%3</style></head>\n"
                                        "<body><main>\n%2</main></body></html>\n")
                                 .arg(htmlEscape(title), bodyHtml, QLatin1String(PageStyle));
    QHttpServerResponse response(QByteArrayLiteral("text/html; charset=utf-8"), page.toUtf8(),
                                 status);
    response.setHeader(QByteArrayLiteral("Content-Security-Policy"), contentSecurityPolicy());
    response.setHeader(QByteArrayLiteral("X-Frame-Options"), QByteArrayLiteral("DENY"));
    response.setHeader(QByteArrayLiteral("Cache-Control"), QByteArrayLiteral("no-store"));
    response.setHeader(QByteArrayLiteral("Referrer-Policy"), QByteArrayLiteral("no-referrer"));
    response.setHeader(QByteArrayLiteral("X-Content-Type-Options"), QByteArrayLiteral("nosniff"));
    return response;
}

QHttpServerResponse errorPage(Status status, const QString &message)
{
    return htmlPage(status, QStringLiteral("Sign-in error"),
                    QStringLiteral("<h1>Sign-in error</h1>\n<p>%1</p>\n"
                                   "<p>Return to the application and start again.</p>\n")
                            .arg(htmlEscape(message)));
}

QHttpServerResponse storageFailurePage(bool databaseUnavailable, const QString &message)
{
    if (!databaseUnavailable)
        return errorPage(Status::InternalServerError, message);
    QHttpServerResponse response = htmlPage(
            Status::ServiceUnavailable, QStringLiteral("Try again"),
            QStringLiteral("<h1>Try again</h1>\n<p>%1</p>\n"
                           "<p>The server cannot reach its database for a moment. Go back and "
                           "try again in a few seconds.</p>\n")
                    .arg(htmlEscape(message)));
    response.setHeader(QByteArrayLiteral("Retry-After"), QByteArrayLiteral("1"));
    return response;
}

QHttpServerResponse loginPage(Status status, const QString &action, const QString &clientId,
                              const QList<QPair<QString, QString>> &hidden, const QString &message)
{
    QString body = QStringLiteral("<h1>Sign in</h1>\n<p>to continue to <b>%1</b></p>\n")
                           .arg(htmlEscape(clientId));
    if (!message.isEmpty())
        body += QStringLiteral("<p role=\"alert\">%1</p>\n").arg(htmlEscape(message));
    body += QStringLiteral("<form method=\"post\" action=\"%1\">\n").arg(htmlEscape(action));
    for (const auto &[name, value] : hidden)
        body += QStringLiteral("<input type=\"hidden\" name=\"%1\" value=\"%2\">\n")
                        .arg(htmlEscape(name), htmlEscape(value));
    body += QStringLiteral(
            "<p><label for=\"username\">Username</label><br>"
            "<input id=\"username\" name=\"username\" autocomplete=\"username\" required "
            "autofocus></p>\n"
            "<p><label for=\"password\">Password</label><br>"
            "<input id=\"password\" name=\"password\" type=\"password\" "
            "autocomplete=\"current-password\" required></p>\n"
            "<p><button type=\"submit\">Sign in</button></p>\n</form>\n");
    return htmlPage(status, QStringLiteral("Sign in"), body);
}

FormGuard::FormGuard(QByteArrayView deploymentKey, QByteArrayView purpose)
    : m_key(hkdfSha256(deploymentKey, "tessera-server form guard v1", purpose, 32))
{ }

FormGuard::~FormGuard()
{
    secureWipe(m_key);
}

QByteArray FormGuard::mac(QByteArrayView data) const
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (m_key.isEmpty()
        || !HMAC(EVP_sha256(), m_key.constData(), int(m_key.size()),
                 reinterpret_cast<const unsigned char *>(data.data()), size_t(data.size()), out,
                 &length))
        return {};
    return Jose::base64UrlEncode(QByteArrayView(reinterpret_cast<const char *>(out), length));
}

FormGuard::Issued FormGuard::issue(qint64 nowSeconds, const QString &path, bool secure) const
{
    const QByteArray value = Jose::base64UrlEncode(Jose::randomBytes(32));
    const QByteArray signedPart = value + '.' + QByteArray::number(nowSeconds + LifetimeSeconds);
    const QByteArray cookie = signedPart + '.' + mac(signedPart);
    return {QString::fromLatin1(value),
            QByteArray(CookieName) + '=' + cookie + "; Max-Age="
                    + QByteArray::number(LifetimeSeconds) + cookieAttributes(path, secure)};
}

bool FormGuard::accepts(const QByteArray &cookieHeader, const QString &field,
                        qint64 nowSeconds) const
{
    QByteArray cookie;
    int found = 0;
    for (const QByteArray &pair : cookieHeader.split(';')) {
        const QByteArray trimmed = pair.trimmed();
        const QByteArray prefix = QByteArray(CookieName) + '=';
        if (trimmed.startsWith(prefix)) {
            cookie = trimmed.mid(prefix.size());
            ++found;
        }
    }
    if (found != 1)
        return false;
    const QList<QByteArray> parts = cookie.split('.');
    if (parts.size() != 3 || field.isEmpty())
        return false;
    const QByteArray signedPart = parts[0] + '.' + parts[1];
    const QByteArray expected = mac(signedPart);
    if (expected.isEmpty() || !Jose::constantTimeEquals(expected, parts[2]))
        return false;
    bool numeric = false;
    const qint64 expiresAt = parts[1].toLongLong(&numeric);
    if (!numeric || nowSeconds >= expiresAt)
        return false;
    return Jose::constantTimeEquals(parts[0], field.toUtf8());
}

QByteArray FormGuard::expired(const QString &path, bool secure)
{
    return QByteArray(CookieName) + "=; Max-Age=0" + cookieAttributes(path, secure);
}

} // namespace Tessera::Server
