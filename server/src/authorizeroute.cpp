// SPDX-License-Identifier: MIT
#include "authorizeroute.h"

#include "formparameters.h"
#include "jsonresponses.h"
#include "loginform.h"
#include "logging.h"
#include "oauthdiscovery.h"
#include "redirecturi.h"

#include <tessera/jose.h>

#include <QtCore/QUrl>

#include <optional>

namespace Tessera::Server {
namespace {

// Bounds on what the front channel may send; beyond them the request is refused rather than
// stored, echoed into a page or a Location header.
constexpr qsizetype MaxRedirectUri = 2000;
constexpr qsizetype MaxState = 512;
constexpr qsizetype MaxNonce = 512;
constexpr qsizetype MaxScope = 256;

bool isBase64Url(const QString &text)
{
    for (const QChar c : text) {
        const bool ok = (c >= u'A' && c <= u'Z') || (c >= u'a' && c <= u'z')
                || (c >= u'0' && c <= u'9') || c == u'-' || c == u'_';
        if (!ok)
            return false;
    }
    return true;
}

QString queryEncode(const QString &value)
{
    return QString::fromLatin1(QUrl::toPercentEncoding(value));
}

} // namespace

struct AuthorizeRoute::Request
{
    QString clientId;
    QString redirectUri;
    QString state;
    bool stateUsable = true; // false: oversized, so not echoed back
    QString codeChallenge;
    QString nonce;
    QString scope;   // validated, space-separated, no repeats
    QString dpopJkt; // RFC 9449 section 10: the code is redeemed only with this DPoP key
};

struct AuthorizeRoute::Validated
{
    std::optional<Request> request;              // set: valid (no response) or redirectable
    std::optional<QHttpServerResponse> response; // set: answer this instead
};

AuthorizeRoute::AuthorizeRoute(const ServerConfig &config, Store &store, LoginRoute &login,
                               QByteArrayView deploymentKey)
    : m_config(config)
    , m_store(store)
    , m_login(login)
    , m_guard(deploymentKey, "login form of /authorize")
{ }

QString AuthorizeRoute::path() const
{
    return issuerPath(m_config.issuer) + QStringLiteral("/authorize");
}

bool AuthorizeRoute::secureCookies() const
{
    return m_config.issuer.startsWith(QLatin1String("https:"));
}

AuthorizeRoute::Validated AuthorizeRoute::validate(const FormParameters &parameters)
{
    Validated result;
    if (!parameters.problem.isEmpty()) {
        result.response =
                errorPage(Status::BadRequest,
                          QStringLiteral("The request is malformed: %1.").arg(parameters.problem));
        return result;
    }
    Request request;
    request.clientId = parameters.value(QStringLiteral("client_id"));
    if (request.clientId.isEmpty()) {
        result.response = errorPage(Status::BadRequest, QStringLiteral("No client_id was sent."));
        return result;
    }
    std::optional<Store::Client> client;
    const bool wellFormed = clientIdProblem(request.clientId).isEmpty();
    if (wellFormed)
        client = m_store.findClient(request.clientId);
    if (!client) {
        // Only a lookup that ran can have failed (failed() tells of the last statement).
        if (wellFormed && m_store.failed()) {
            result.response =
                    storageFailurePage(m_store.unavailable(),
                                       QStringLiteral("The server could not read its clients."));
            return result;
        }
        result.response = errorPage(
                Status::BadRequest,
                QStringLiteral("The application \u201c%1\u201d is not registered with this server.")
                        .arg(request.clientId.left(64)));
        return result;
    }
    request.redirectUri = parameters.value(QStringLiteral("redirect_uri"));
    bool registered = false;
    if (!request.redirectUri.isEmpty() && request.redirectUri.size() <= MaxRedirectUri) {
        for (const QString &uri : std::as_const(client->redirectUris))
            registered = registered || redirectUriMatches(uri, request.redirectUri);
    }
    if (!registered) {
        result.response = errorPage(Status::BadRequest,
                                    QStringLiteral("The redirect URI is missing or not registered "
                                                   "for this application."));
        return result;
    }

    // From here on the redirect URI is the client's own: errors go back to it.
    request.state = parameters.value(QStringLiteral("state"));
    if (request.state.size() > MaxState) {
        request.state.clear();
        request.stateUsable = false;
    }
    result.request = request;
    auto fail = [&](const char *error, const char *description) -> Validated {
        result.response = errorRedirect(request, QString::fromLatin1(error),
                                        QString::fromLatin1(description));
        return std::move(result);
    };
    if (!request.stateUsable)
        return fail("invalid_request", "state is too long");
    if (parameters.has(QStringLiteral("request")) || parameters.has(QStringLiteral("request_uri")))
        return fail("request_not_supported", "request objects are not supported");
    const QString responseType = parameters.value(QStringLiteral("response_type"));
    if (responseType.isEmpty())
        return fail("invalid_request", "response_type is required");
    if (responseType != u"code")
        return fail("unsupported_response_type", "only response_type=code is supported");
    const QString method = parameters.value(QStringLiteral("code_challenge_method"));
    request.codeChallenge = parameters.value(QStringLiteral("code_challenge"));
    if (request.codeChallenge.isEmpty() || method.isEmpty())
        return fail("invalid_request", "PKCE is required: code_challenge with method S256");
    if (method != u"S256")
        return fail("invalid_request", "code_challenge_method must be S256");
    // BASE64URL(SHA-256(verifier)) without padding is 43 characters (RFC 7636 §4.2).
    if (request.codeChallenge.size() != 43 || !isBase64Url(request.codeChallenge))
        return fail("invalid_request", "code_challenge is not a base64url SHA-256 digest");
    request.nonce = parameters.value(QStringLiteral("nonce"));
    if (request.nonce.size() > MaxNonce)
        return fail("invalid_request", "nonce is too long");
    // With DPoP off, dpop_jkt is a parameter this server does not know, which RFC 6749 §3.1
    // says to ignore: the code is unbound and the token answer says Bearer.
    if (m_config.dpopMode != DpopMode::Off)
        request.dpopJkt = parameters.value(QStringLiteral("dpop_jkt"));
    // An RFC 7638 SHA-256 thumbprint: 43 base64url characters.
    if (!request.dpopJkt.isEmpty()
        && (request.dpopJkt.size() != 43 || !isBase64Url(request.dpopJkt)))
        return fail("invalid_request", "dpop_jkt is not a base64url SHA-256 thumbprint");
    const QString scope = parameters.value(QStringLiteral("scope"));
    if (scope.size() > MaxScope)
        return fail("invalid_scope", "scope is too long");
    QStringList scopes;
    for (const QString &value : scope.split(u' ', Qt::SkipEmptyParts)) {
        if (!supportedScopes().contains(value))
            return fail("invalid_scope", "unknown scope value");
        if (!scopes.contains(value))
            scopes.append(value);
    }
    request.scope = scopes.join(u' ');
    // No sign-in session is ever kept: every request shows the form, which is what
    // prompt=login asks for, and prompt=none can never be satisfied.
    const QStringList prompts =
            parameters.value(QStringLiteral("prompt")).split(u' ', Qt::SkipEmptyParts);
    for (const QString &prompt : prompts) {
        if (prompt == u"none")
            return fail("login_required", "the user must sign in");
        if (prompt != u"login" && prompt != u"consent" && prompt != u"select_account")
            return fail("invalid_request", "unknown prompt value");
    }
    result.request = request;
    return result;
}

QHttpServerResponse AuthorizeRoute::redirect(const Request &request,
                                             QList<QPair<QString, QString>> parameters,
                                             bool withState) const
{
    if (withState && request.stateUsable && !request.state.isEmpty())
        parameters.append({QStringLiteral("state"), request.state});
    parameters.append({QStringLiteral("iss"), m_config.issuer});
    QString location = request.redirectUri;
    QChar separator = location.contains(u'?') ? u'&' : u'?';
    for (const auto &[name, value] : parameters) {
        location += separator + name + u'=' + queryEncode(value);
        separator = u'&';
    }
    QHttpServerResponse response(QByteArray(), Status::SeeOther);
    response.setHeader(QByteArrayLiteral("Location"), location.toUtf8());
    response.setHeader(QByteArrayLiteral("Cache-Control"), QByteArrayLiteral("no-store"));
    response.setHeader(QByteArrayLiteral("Referrer-Policy"), QByteArrayLiteral("no-referrer"));
    return response;
}

QHttpServerResponse AuthorizeRoute::errorRedirect(const Request &request, const QString &error,
                                                  const QString &description) const
{
    qCInfo(lcServerAuth).noquote() << QStringLiteral("authorization refused for client %1: %2 (%3)")
                                              .arg(request.clientId, error, description);
    return redirect(
            request,
            {{QStringLiteral("error"), error}, {QStringLiteral("error_description"), description}});
}

QHttpServerResponse AuthorizeRoute::form(const Request &request, Status status,
                                         const QString &message) const
{
    const FormGuard::Issued guard =
            m_guard.issue(TokenService::nowMs() / 1000, path(), secureCookies());
    const QList<QPair<QString, QString>> hidden{
            {QStringLiteral("client_id"), request.clientId},
            {QStringLiteral("redirect_uri"), request.redirectUri},
            {QStringLiteral("response_type"), QStringLiteral("code")},
            {QStringLiteral("state"), request.state},
            {QStringLiteral("code_challenge"), request.codeChallenge},
            {QStringLiteral("code_challenge_method"), QStringLiteral("S256")},
            {QStringLiteral("nonce"), request.nonce},
            {QStringLiteral("scope"), request.scope},
            {QStringLiteral("dpop_jkt"), request.dpopJkt},
            {QStringLiteral("csrf"), guard.field},
    };
    QHttpServerResponse response = loginPage(status, path(), request.clientId, hidden, message);
    response.addHeader(QByteArrayLiteral("Set-Cookie"), guard.setCookie);
    return response;
}

QHttpServerResponse AuthorizeRoute::get(const QHttpServerRequest &request)
{
    const QByteArray query = request.url().query(QUrl::FullyEncoded).toUtf8();
    Validated validated = validate(parseFormParameters(query));
    if (validated.response)
        return std::move(*validated.response);
    return form(*validated.request, Status::Ok, {});
}

void AuthorizeRoute::post(const QHttpServerRequest &request, QHttpServerResponder &&responder)
{
    if (!isFormContentType(header(request, "content-type")))
        return errorPage(Status::UnsupportedMediaType,
                         QStringLiteral("The form must be sent as "
                                        "application/x-www-form-urlencoded."))
                .write(std::move(responder));
    const FormParameters parameters = parseFormParameters(request.body());
    Validated validated = validate(parameters);
    if (validated.response)
        return validated.response->write(std::move(responder));
    const Request authorization = *validated.request;

    // The form must be the one this server sent to this browser (login CSRF).
    const QByteArray cookies = headerValues(request, "cookie").join("; ");
    if (!m_guard.accepts(cookies, parameters.value(QStringLiteral("csrf")),
                         TokenService::nowMs() / 1000)) {
        qCInfo(lcServerAuth) << "login form refused: its CSRF field and cookie do not match";
        return form(authorization, Status::Forbidden,
                    QStringLiteral("This form has expired or did not come from this page. "
                                   "Please sign in again."))
                .write(std::move(responder));
    }
    LoginFormAnswers answers;
    answers.formPage = [this, authorization](Status status, const QString &message) {
        return form(authorization, status, message);
    };
    answers.signedIn = [this, authorization](QHttpServerResponder &&responder,
                                             const Store::User &user) {
        issueCode(authorization, user).write(std::move(responder));
    };
    checkLoginForm(m_login, request, parameters, std::move(responder), std::move(answers));
}

QHttpServerResponse AuthorizeRoute::issueCode(const Request &request, const Store::User &user)
{
    const QByteArray code = Jose::base64UrlEncode(Jose::randomBytes(32));
    const qint64 now = TokenService::nowMs();
    Store::AuthorizationCode row;
    row.codeHash = Jose::sha256(code);
    row.clientId = request.clientId;
    row.redirectUri = request.redirectUri;
    row.codeChallenge = request.codeChallenge;
    row.nonce = request.nonce;
    row.scope = request.scope;
    row.dpopJkt = request.dpopJkt;
    row.userId = user.id;
    row.authTime = now;
    row.expiresAt = now + CodeLifetimeSeconds * 1000;
    if (!m_store.addAuthorizationCode(row))
        return storageFailurePage(m_store.unavailable(),
                                  QStringLiteral("The server could not store the sign-in."));
    qCInfo(lcServerAuth) << "authorization code issued to client" << request.clientId
                         << "for user id" << user.id;
    QHttpServerResponse response =
            redirect(request, {{QStringLiteral("code"), QString::fromLatin1(code)}});
    response.addHeader(QByteArrayLiteral("Set-Cookie"),
                       FormGuard::expired(path(), secureCookies()));
    return response;
}

} // namespace Tessera::Server
