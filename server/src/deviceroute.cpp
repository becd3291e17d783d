// SPDX-License-Identifier: MIT
#include "deviceroute.h"

#include "formparameters.h"
#include "jsonresponses.h"
#include "loginform.h"
#include "logging.h"
#include "oauthdiscovery.h"
#include "redirecturi.h"

#include <tessera/jose.h>

#include <QtCore/QUrl>

#include <cstring>

namespace Tessera::Server {
namespace {

constexpr char UserCodeAlphabet[] = "BCDFGHJKLMNPQRSTVWXZ";
constexpr int UserCodeAlphabetSize = sizeof(UserCodeAlphabet) - 1;
constexpr int UserCodeLength = 8;
constexpr qsizetype MaxTypedUserCode = 64;
constexpr qsizetype MaxScope = 256;

const QString NotFound = QStringLiteral(
        "That code is not valid, or has expired or been used. Check the code on your device.");

} // namespace

QString newUserCode()
{
    QString code;
    while (code.size() < UserCodeLength) {
        // Rejection sampling: 240 = 12 * 20, so every letter is equally likely.
        for (const char byte : Jose::randomBytes(16)) {
            const auto value = static_cast<unsigned char>(byte);
            if (value < 240 && code.size() < UserCodeLength)
                code += QLatin1Char(UserCodeAlphabet[value % UserCodeAlphabetSize]);
        }
    }
    return code;
}

std::optional<QString> normalizeUserCode(const QString &typed)
{
    if (typed.size() > MaxTypedUserCode)
        return std::nullopt;
    QString code;
    for (const QChar c : typed) {
        if (c == u'-' || c.isSpace())
            continue;
        // ASCII before case mapping: U+017F (long s) upper-cases to S.
        if (c.unicode() == 0 || c.unicode() > 127)
            return std::nullopt;
        const char upper = c.toUpper().toLatin1();
        if (!std::strchr(UserCodeAlphabet, upper))
            return std::nullopt;
        code += QLatin1Char(upper);
    }
    if (code.size() != UserCodeLength)
        return std::nullopt;
    return code;
}

QString displayUserCode(const QString &userCode)
{
    return userCode.left(4) + u'-' + userCode.mid(4);
}

DeviceRoute::DeviceRoute(const ServerConfig &config, Store &store, LoginRoute &login,
                         const ClientAddressResolver &clients, QByteArrayView deploymentKey)
    : m_config(config)
    , m_store(store)
    , m_login(login)
    , m_clients(clients)
    , m_userCodeLimiter({UserCodeLimit, 0, UserCodeCeiling, UserCodeWindowSeconds * 1000,
                         LoginLimiter::Attempts::UserCodes})
    , m_guard(deploymentKey, "forms of /device")
{
    // Every instance on one PostgreSQL database counts the same wrong user codes.
    if (store.isPostgreSQL())
        m_userCodeLimiter.shareThrough(&store);
}

QString DeviceRoute::path() const
{
    return issuerPath(m_config.issuer) + QStringLiteral("/device");
}

bool DeviceRoute::secureCookies() const
{
    return m_config.issuer.startsWith(QLatin1String("https:"));
}

QHttpServerResponse DeviceRoute::authorization(const QHttpServerRequest &request)
{
    if (!isFormContentType(header(request, "content-type")))
        return oauthError(QStringLiteral("invalid_request"),
                          QStringLiteral("the body must be application/x-www-form-urlencoded"));
    const FormParameters parameters = parseFormParameters(request.body());
    if (!parameters.problem.isEmpty())
        return oauthError(QStringLiteral("invalid_request"), parameters.problem);
    if (!header(request, "authorization").isEmpty())
        return oauthError(QStringLiteral("invalid_client"),
                          QStringLiteral("only public clients (auth method none)"),
                          Status::Unauthorized);
    const QString clientId = parameters.value(QStringLiteral("client_id"));
    if (clientId.isEmpty())
        return oauthError(QStringLiteral("invalid_client"), QStringLiteral("client_id is required"),
                          Status::Unauthorized);
    const bool wellFormed = clientIdProblem(clientId).isEmpty();
    if (!wellFormed || !m_store.findClient(clientId)) {
        // Only a lookup that ran can have failed (failed() tells of the last statement).
        if (wellFormed && m_store.failed())
            return oauthStorageError(m_store.unavailable());
        return oauthError(QStringLiteral("invalid_client"), QStringLiteral("unknown client"),
                          Status::Unauthorized);
    }
    const QString scope = parameters.value(QStringLiteral("scope"));
    if (scope.size() > MaxScope)
        return oauthError(QStringLiteral("invalid_scope"), QStringLiteral("scope is too long"));
    QStringList scopes;
    for (const QString &value : scope.split(u' ', Qt::SkipEmptyParts)) {
        if (!supportedScopes().contains(value))
            return oauthError(QStringLiteral("invalid_scope"),
                              QStringLiteral("unknown scope value"));
        if (!scopes.contains(value))
            scopes.append(value);
    }

    const QByteArray deviceCode = Jose::base64UrlEncode(Jose::randomBytes(32));
    const qint64 now = TokenService::nowMs();
    Store::DeviceCode row;
    row.deviceCodeHash = Jose::sha256(deviceCode);
    row.clientId = clientId;
    row.scope = scopes.join(u' ');
    row.createdAt = now;
    row.expiresAt = now + LifetimeSeconds * 1000;
    row.intervalSeconds = m_config.deviceInterval;
    // 2^34.5 user codes: a collision with a live one is rare; a few draws settle it.
    Store::AddDeviceCodeResult added = Store::AddDeviceCodeResult::UserCodeTaken;
    for (int attempt = 0; attempt < 4 && added == Store::AddDeviceCodeResult::UserCodeTaken;
         ++attempt) {
        row.userCode = newUserCode();
        added = m_store.addDeviceCode(row);
    }
    if (added != Store::AddDeviceCodeResult::Added)
        return oauthStorageError(m_store.unavailable());
    qCInfo(lcServerAuth) << "device authorization started for client" << clientId;
    const QString verification = m_config.issuer + QStringLiteral("/device");
    const QString shown = displayUserCode(row.userCode);
    return jsonResponse({
            {QStringLiteral("device_code"), QString::fromLatin1(deviceCode)},
            {QStringLiteral("user_code"), shown},
            {QStringLiteral("verification_uri"), verification},
            {QStringLiteral("verification_uri_complete"),
             verification + QStringLiteral("?user_code=") + shown},
            {QStringLiteral("expires_in"), LifetimeSeconds},
            {QStringLiteral("interval"), row.intervalSeconds},
    });
}

QHttpServerResponse DeviceRoute::entryPage(Status status, const QString &typed,
                                           const QString &message) const
{
    const FormGuard::Issued guard =
            m_guard.issue(TokenService::nowMs() / 1000, path(), secureCookies());
    QString body = QStringLiteral("<h1>Connect a device</h1>\n"
                                  "<p>Enter the code shown on your device.</p>\n");
    if (!message.isEmpty())
        body += QStringLiteral("<p role=\"alert\">%1</p>\n").arg(htmlEscape(message));
    body += QStringLiteral(
                    "<form method=\"post\" action=\"%1\">\n"
                    "<input type=\"hidden\" name=\"csrf\" value=\"%2\">\n"
                    "<p><label for=\"user_code\">Code</label><br>"
                    "<input id=\"user_code\" name=\"user_code\" value=\"%3\" "
                    "autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" "
                    "required autofocus></p>\n"
                    "<p><button type=\"submit\">Continue</button></p>\n</form>\n")
                    .arg(htmlEscape(path()), htmlEscape(guard.field),
                         htmlEscape(typed.left(MaxTypedUserCode)));
    QHttpServerResponse response = htmlPage(status, QStringLiteral("Connect a device"), body);
    response.addHeader(QByteArrayLiteral("Set-Cookie"), guard.setCookie);
    return response;
}

QHttpServerResponse DeviceRoute::confirmPage(Status status, const Store::DeviceCode &code,
                                             const QString &message) const
{
    const FormGuard::Issued guard =
            m_guard.issue(TokenService::nowMs() / 1000, path(), secureCookies());
    // RFC 8628 §5.4: the person compares the code with the device's before anything is
    // allowed, so a code someone else sent them does not sign that someone in.
    QString body = QStringLiteral("<h1>Sign in</h1>\n<p>to connect a device to <b>%1</b></p>\n"
                                  "<p>Only continue if this code is the one shown on <em>your</em> "
                                  "device, in front of you:</p>\n<p class=\"code\"><b>%2</b></p>\n"
                                  "<p>If someone sent you this link or code, press Deny.</p>\n")
                           .arg(htmlEscape(code.clientId), displayUserCode(code.userCode));
    if (!message.isEmpty())
        body += QStringLiteral("<p role=\"alert\">%1</p>\n").arg(htmlEscape(message));
    body += QStringLiteral(
                    "<form method=\"post\" action=\"%1\">\n"
                    "<input type=\"hidden\" name=\"csrf\" value=\"%2\">\n"
                    "<input type=\"hidden\" name=\"user_code\" value=\"%3\">\n"
                    "<p><label for=\"username\">Username</label><br>"
                    "<input id=\"username\" name=\"username\" autocomplete=\"username\" required "
                    "autofocus></p>\n"
                    "<p><label for=\"password\">Password</label><br>"
                    "<input id=\"password\" name=\"password\" type=\"password\" "
                    "autocomplete=\"current-password\" required></p>\n"
                    "<p><button type=\"submit\" name=\"action\" value=\"allow\">Allow</button>\n"
                    "<button type=\"submit\" name=\"action\" value=\"deny\" formnovalidate>"
                    "Deny</button></p>\n</form>\n")
                    .arg(htmlEscape(path()), htmlEscape(guard.field), code.userCode);
    QHttpServerResponse response = htmlPage(status, QStringLiteral("Sign in"), body);
    response.addHeader(QByteArrayLiteral("Set-Cookie"), guard.setCookie);
    return response;
}

QHttpServerResponse DeviceRoute::donePage(const QString &title, const QString &message) const
{
    QHttpServerResponse response = htmlPage(
            Status::Ok, title,
            QStringLiteral("<h1>%1</h1>\n<p>%2</p>\n").arg(htmlEscape(title), htmlEscape(message)));
    response.addHeader(QByteArrayLiteral("Set-Cookie"),
                       FormGuard::expired(path(), secureCookies()));
    return response;
}

QHttpServerResponse DeviceRoute::get(const QHttpServerRequest &request)
{
    const FormParameters parameters =
            parseFormParameters(request.url().query(QUrl::FullyEncoded).toUtf8());
    if (!parameters.problem.isEmpty())
        return errorPage(Status::BadRequest,
                         QStringLiteral("The request is malformed: %1.").arg(parameters.problem));
    // Prefilled only: the code is checked (and counted) when the person submits it.
    return entryPage(Status::Ok, parameters.value(QStringLiteral("user_code")), {});
}

void DeviceRoute::post(const QHttpServerRequest &request, QHttpServerResponder &&responder)
{
    if (!isFormContentType(header(request, "content-type")))
        return errorPage(Status::UnsupportedMediaType,
                         QStringLiteral("The form must be sent as "
                                        "application/x-www-form-urlencoded."))
                .write(std::move(responder));
    const FormParameters parameters = parseFormParameters(request.body());
    if (!parameters.problem.isEmpty())
        return errorPage(Status::BadRequest,
                         QStringLiteral("The request is malformed: %1.").arg(parameters.problem))
                .write(std::move(responder));
    const QString typed = parameters.value(QStringLiteral("user_code"));
    const qint64 now = TokenService::nowMs();
    // The form must be the one this server sent to this browser: else a page elsewhere could
    // approve or deny a code in the person's name.
    const QByteArray cookies = headerValues(request, "cookie").join("; ");
    if (!m_guard.accepts(cookies, parameters.value(QStringLiteral("csrf")), now / 1000)) {
        qCInfo(lcServerAuth) << "device form refused: its CSRF field and cookie do not match";
        return entryPage(Status::Forbidden, typed,
                         QStringLiteral("This form has expired or did not come from this page. "
                                        "Please enter the code again."))
                .write(std::move(responder));
    }

    const QHostAddress client = m_clients.clientAddress(request.remoteAddress(),
                                                        headerValues(request, "x-forwarded-for"));
    LoginLimiter::Ticket ticket;
    const LoginLimiter::Verdict verdict = m_userCodeLimiter.admit(
            QStringLiteral("user_code"), ClientAddressResolver::limiterKey(client), now, &ticket);
    if (verdict.reason == LoginLimiter::Reason::StorageFailure)
        return storageFailurePage(m_store.unavailable(),
                                  QStringLiteral("The server could not check the code."))
                .write(std::move(responder));
    if (verdict.retryAfterSeconds > 0) {
        qCInfo(lcServerAuth).noquote()
                << QStringLiteral("user code entry throttled for %1, retry in %2 s")
                           .arg(ClientAddressResolver::displayAddress(client))
                           .arg(verdict.retryAfterSeconds);
        QHttpServerResponse response = htmlPage(
                Status::TooManyRequests, QStringLiteral("Too many attempts"),
                QStringLiteral("<h1>Too many attempts</h1>\n<p>Too many wrong codes were entered "
                               "from your network. Retry in %1 s.</p>\n")
                        .arg(verdict.retryAfterSeconds));
        response.setHeader(QByteArrayLiteral("Retry-After"),
                           QByteArray::number(verdict.retryAfterSeconds));
        return response.write(std::move(responder));
    }
    const std::optional<QString> userCode = normalizeUserCode(typed);
    const std::optional<Store::DeviceCode> code =
            userCode ? m_store.findPendingUserCode(*userCode, now) : std::nullopt;
    if (!code) {
        if (userCode && m_store.failed()) {
            // Classed before withdrawn(), whose own statement would overwrite the failure.
            const bool unavailable = m_store.unavailable();
            m_userCodeLimiter.withdrawn(ticket);
            return storageFailurePage(unavailable,
                                      QStringLiteral("The server could not read the code."))
                    .write(std::move(responder));
        }
        // The ticket stays counted: this was a wrong guess.
        return entryPage(Status::BadRequest, typed, NotFound).write(std::move(responder));
    }
    // A right code is no failure; withdrawn, not succeeded: it must not wipe the address's
    // earlier wrong guesses (an attacker's own device code would reset its count).
    m_userCodeLimiter.withdrawn(ticket);

    const QString action = parameters.value(QStringLiteral("action"));
    if (action.isEmpty())
        return confirmPage(Status::Ok, *code, {}).write(std::move(responder));
    if (action == u"deny")
        return decide(*code, 0, std::move(responder));
    if (action != u"allow")
        return confirmPage(Status::BadRequest, *code, QStringLiteral("Press Allow or Deny."))
                .write(std::move(responder));

    LoginFormAnswers answers;
    answers.formPage = [this, code = *code](Status status, const QString &message) {
        return confirmPage(status, code, message);
    };
    answers.signedIn = [this, code = *code](QHttpServerResponder &&responder,
                                            const Store::User &user) {
        decide(code, user.id, std::move(responder));
    };
    checkLoginForm(m_login, request, parameters, std::move(responder), std::move(answers));
}

void DeviceRoute::decide(const Store::DeviceCode &code, qint64 userId,
                         QHttpServerResponder &&responder)
{
    // Conditional on the code still being pending: a code is decided once.
    if (!m_store.decideDeviceCode(code.userCode, userId, TokenService::nowMs())) {
        if (m_store.failed())
            return storageFailurePage(m_store.unavailable(),
                                      QStringLiteral("The server could not store the answer."))
                    .write(std::move(responder));
        QHttpServerResponse response =
                htmlPage(Status::Conflict, QStringLiteral("Code already used"),
                         QStringLiteral("<h1>Code already used</h1>\n<p>%1</p>\n")
                                 .arg(htmlEscape(NotFound)));
        return response.write(std::move(responder));
    }
    if (userId > 0) {
        qCInfo(lcServerAuth) << "device authorization approved for client" << code.clientId
                             << "by user id" << userId;
        return donePage(QStringLiteral("Device connected"),
                        QStringLiteral("You are signed in on your device. You can close this "
                                       "window."))
                .write(std::move(responder));
    }
    qCInfo(lcServerAuth) << "device authorization denied for client" << code.clientId;
    donePage(QStringLiteral("Access denied"),
             QStringLiteral("The device was not signed in. You can close this window."))
            .write(std::move(responder));
}

} // namespace Tessera::Server
