// SPDX-License-Identifier: MIT
#include "httpapi.h"

#include "connectionlimiter.h"
#include "httplistener.h"
#include "logging.h"
#include "requestbody.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QFile>
#include <QtCore/QPointer>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslKey>
#include <QtNetwork/QTcpSocket>

#include <variant>

namespace Tessera::Server {
namespace {

using Status = QHttpServerResponse::StatusCode;
using Method = QHttpServerRequest::Method;

const QByteArray JsonMime = QByteArrayLiteral("application/json");

QHttpServerResponse serializedJsonResponse(QByteArray &&body, Status status = Status::Ok)
{
    QHttpServerResponse response(JsonMime, std::move(body), status);
    // Token responses must never be cached (RFC 6749 5.1); nothing here should be.
    // A new response has only Content-Type: adding is enough (setHeader would
    // search and clear first, on every request).
    response.addHeader(QByteArrayLiteral("Cache-Control"), QByteArrayLiteral("no-store"));
    response.addHeader(QByteArrayLiteral("Pragma"), QByteArrayLiteral("no-cache"));
    response.addHeader(QByteArrayLiteral("X-Content-Type-Options"), QByteArrayLiteral("nosniff"));
    return response;
}

QHttpServerResponse jsonResponse(const QJsonObject &body, Status status = Status::Ok)
{
    return serializedJsonResponse(QJsonDocument(body).toJson(QJsonDocument::Compact), status);
}

QHttpServerResponse errorResponse(Status status, const QString &code, const QString &detail,
                                  QJsonObject extra = {})
{
    extra.insert(QStringLiteral("code"), code);
    extra.insert(QStringLiteral("detail"), detail);
    return jsonResponse(extra, status);
}

QHttpServerResponse tokenNotValid()
{
    return errorResponse(Status::Unauthorized, QStringLiteral("token_not_valid"),
                         QStringLiteral("Token is invalid or expired"));
}

QHttpServerResponse internalError()
{
    return errorResponse(Status::InternalServerError, QStringLiteral("server_error"),
                         QStringLiteral("Internal server error"));
}

QByteArray header(const QHttpServerRequest &request, QByteArrayView name)
{
    const auto headers = request.headers();
    for (const auto &[key, value] : headers) {
        if (key.compare(name, Qt::CaseInsensitive) == 0)
            return value;
    }
    return {};
}

// How many times a header field occurs (case-insensitive name).
int headerCount(const QHttpServerRequest &request, QByteArrayView name)
{
    int count = 0;
    const auto headers = request.headers();
    for (const auto &[key, value] : headers) {
        if (key.compare(name, Qt::CaseInsensitive) == 0)
            ++count;
    }
    return count;
}

QHttpServerResponse problemResponse(const RequestProblem &problem)
{
    return errorResponse(Status(problem.status), problem.code, problem.detail, problem.fieldErrors);
}

// The JSON object in the body, or the error response to send instead.
std::variant<QJsonObject, QHttpServerResponse> jsonBody(const QHttpServerRequest &request,
                                                        qint64 maxBytes)
{
    auto parsed = parseJsonBody(request.body(), header(request, "content-type"), maxBytes);
    if (const auto *problem = std::get_if<RequestProblem>(&parsed))
        return problemResponse(*problem);
    return std::get<QJsonObject>(parsed);
}

std::optional<QHttpServerResponse> requireFields(const QJsonObject &body,
                                                 std::initializer_list<QString> fields)
{
    if (const auto problem = requireStrings(body, fields))
        return problemResponse(*problem);
    return std::nullopt;
}

QHttpServerResponse tokenPairResponse(const TokenPair &tokens)
{
    return jsonResponse({{QStringLiteral("access"), QString::fromLatin1(tokens.access)},
                         {QStringLiteral("refresh"), QString::fromLatin1(tokens.refresh)}});
}

QHttpServerResponse outcomeResponse(TokenService::Outcome outcome)
{
    switch (outcome) {
    case TokenService::Outcome::Ok:
        return jsonResponse({});
    case TokenService::Outcome::Internal:
        return internalError();
    case TokenService::Outcome::Invalid:
    case TokenService::Outcome::Reused:
        break;
    }
    return tokenNotValid();
}

QHttpServerResponse bearerChallenge(QHttpServerResponse &&response, bool invalidToken)
{
    response.setHeader(QByteArrayLiteral("WWW-Authenticate"),
                       invalidToken
                               ? QByteArrayLiteral("Bearer realm=\"api\", error=\"invalid_token\"")
                               : QByteArrayLiteral("Bearer realm=\"api\""));
    return std::move(response);
}

} // namespace

HttpApi::HttpApi(const ServerConfig &config, Store &store, TokenService &tokens,
                 const PasswordHasher &hasher, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_store(store)
    , m_tokens(tokens)
    , m_hasher(hasher)
    , m_userLimiter(config.loginLimit, config.loginWindow * 1000)
    , m_addressLimiter(config.loginLimit, config.loginWindow * 1000)
{
    // Argon2 is memory-hard: bound how many hashes run at once.
    m_hashPool.setMaxThreadCount(qMax(2, QThread::idealThreadCount()));
    addRoutes();
}

HttpApi::~HttpApi()
{
    // Hashes not started yet are dropped; running ones finish. Their queued
    // results are discarded while the server, and so the responders' sockets,
    // still exist.
    m_hashPool.clear();
    m_hashPool.waitForDone();
    QCoreApplication::removePostedEvents(this, QEvent::MetaCall);
}

void HttpApi::finishLogin(const std::optional<Store::User> &user, bool passwordOk,
                          const QPointer<QTcpSocket> &socket, QHttpServerResponder &responder)
{
    // Issue tokens even if the client went away meanwhile? No: a family nobody
    // holds would only linger until expiry.
    if (!socket) {
        qCInfo(lcServerAuth) << "login client disconnected";
        return;
    }
    loginResponse(user, passwordOk).write(std::move(responder));
}

void HttpApi::addRoutes()
{
    // Login: Argon2 runs on m_hashPool; the token work continues on this thread.
    // The handler keeps the responder rather than returning a QFuture: Qt
    // HttpServer 6.4's QFuture path keeps a reference to the already-destroyed
    // request and crashes.
    m_server.route(
            QStringLiteral("/api/token/"), Method::Post,
            [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
                auto body = jsonBody(request, m_config.maxBodyBytes);
                if (auto *error = std::get_if<QHttpServerResponse>(&body))
                    return error->write(std::move(responder));
                const QJsonObject object = std::get<QJsonObject>(body);
                if (auto error = requireFields(
                            object, {QStringLiteral("username"), QStringLiteral("password")}))
                    return error->write(std::move(responder));
                const QString username = object.value(QStringLiteral("username")).toString();
                const qint64 now = TokenService::nowMs();
                const QString address = request.remoteAddress().toString();
                qint64 retryAfter = m_addressLimiter.attempt(address, now);
                if (retryAfter == 0)
                    retryAfter = m_userLimiter.attempt(username, now);
                if (retryAfter > 0) {
                    qCWarning(lcServerAuth) << "login throttled for" << address;
                    auto response =
                            errorResponse(Status::TooManyRequests, QStringLiteral("throttled"),
                                          QStringLiteral("Too many login attempts. Retry in %1 s.")
                                                  .arg(retryAfter));
                    response.setHeader(QByteArrayLiteral("Retry-After"),
                                       QByteArray::number(retryAfter));
                    return response.write(std::move(responder));
                }
                const std::optional<Store::User> user = m_store.findUser(username);
                if (!user && m_store.failed())
                    return internalError().write(std::move(responder));
                // Unknown users are verified against a decoy hash: same cost, same answer.
                const QByteArray hash = user ? user->passwordHash : m_hasher.decoyHash();
                QByteArray password = object.value(QStringLiteral("password")).toString().toUtf8();
                const PasswordHasher *hasher = &m_hasher;
                QPointer<QTcpSocket> socket = responder.socket();
                auto pending = std::make_shared<QHttpServerResponder>(std::move(responder));
                // The result comes back as a queued call to this object rather than
                // QFuture::then(this, ...): under Qt 6.4 that continuation crashed the
                // server once (reportStarted() on a moved-from promise, docs/SECURITY.md).
                // The task hands every capture over to the queued call, so the
                // responder is only ever touched and destroyed on this thread.
                // The task holds the only copy of the password bytes, so the wipe
                // below clears them in place instead of detaching a shared copy.
                m_hashPool.start([this, hasher, hash, user, password = std::move(password),
                                  pending = std::move(pending),
                                  socket = std::move(socket)]() mutable {
                    const bool passwordOk = hasher->verify(hash, password);
                    password.fill('\0');
                    QMetaObject::invokeMethod(
                            this,
                            [this, passwordOk, user = std::move(user), pending = std::move(pending),
                             socket = std::move(socket)] {
                                finishLogin(user, passwordOk, socket, *pending);
                            },
                            Qt::QueuedConnection);
                });
            });

    m_server.route(QStringLiteral("/api/token/refresh/"), Method::Post,
                   [this](const QHttpServerRequest &request) {
                       return withStringField(request, QStringLiteral("refresh"),
                                              [this](const QByteArray &token) {
                                                  const auto result = m_tokens.refresh(token);
                                                  if (result.outcome == TokenService::Outcome::Ok)
                                                      return tokenPairResponse(result.tokens);
                                                  return outcomeResponse(result.outcome);
                                              });
                   });

    m_server.route(QStringLiteral("/api/token/blacklist/"), Method::Post,
                   [this](const QHttpServerRequest &request) {
                       return withStringField(request, QStringLiteral("refresh"),
                                              [this](const QByteArray &token) {
                                                  return outcomeResponse(m_tokens.revoke(token));
                                              });
                   });

    m_server.route(QStringLiteral("/api/token/verify/"), Method::Post,
                   [this](const QHttpServerRequest &request) {
                       return withStringField(
                               request, QStringLiteral("token"), [this](const QByteArray &token) {
                                   const auto check = m_tokens.checkAccess(token);
                                   if (check.outcome == TokenService::Outcome::Invalid)
                                       qCDebug(lcServerAuth) << "verify refused:" << check.reason;
                                   return outcomeResponse(check.outcome);
                               });
                   });

    m_server.route(
            QStringLiteral("/api/me/"), Method::Get, [this](const QHttpServerRequest &request) {
                // Fix (tests/security headerInjection): Authorization is a singleton field;
                // with two, which one counts is ambiguous (proxies may pick another).
                if (headerCount(request, "authorization") > 1)
                    return errorResponse(Status::BadRequest, QStringLiteral("invalid_request"),
                                         QStringLiteral("More than one Authorization header."));
                const QByteArray authorization = header(request, "authorization");
                static const QByteArray scheme = QByteArrayLiteral("bearer ");
                if (authorization.size() <= scheme.size()
                    || authorization.left(scheme.size()).toLower() != scheme)
                    return bearerChallenge(
                            errorResponse(Status::Unauthorized, QStringLiteral("not_authenticated"),
                                          QStringLiteral(
                                                  "Authentication credentials were not provided.")),
                            false);
                const auto check = m_tokens.checkAccess(authorization.mid(scheme.size()).trimmed());
                if (check.outcome == TokenService::Outcome::Internal)
                    return internalError();
                if (check.outcome != TokenService::Outcome::Ok) {
                    qCDebug(lcServerAuth) << "access refused:" << check.reason;
                    return bearerChallenge(tokenNotValid(), true);
                }
                return serializedJsonResponse(QByteArray(check.subjectJson));
            });

    m_server.route(QStringLiteral("/.well-known/jwks.json"), Method::Get,
                   [this] { return jsonResponse(m_tokens.jwks()); });
    m_server.route(QStringLiteral("/healthz"), Method::Get, [] {
        return jsonResponse({{QStringLiteral("status"), QStringLiteral("ok")}});
    });

    // Rules are tried in order, so these catch the other methods of known paths.
    const struct
    {
        const char *path;
        const char *allow;
    } knownPaths[] = {
            {"/api/token/", "POST"},
            {"/api/token/refresh/", "POST"},
            {"/api/token/blacklist/", "POST"},
            {"/api/token/verify/", "POST"},
            {"/api/me/", "GET"},
            {"/.well-known/jwks.json", "GET"},
            {"/healthz", "GET"},
    };
    for (const auto &known : knownPaths) {
        const QByteArray allow(known.allow);
        m_server.route(QString::fromLatin1(known.path), Method::AnyKnown, [allow] {
            auto response =
                    errorResponse(Status::MethodNotAllowed, QStringLiteral("method_not_allowed"),
                                  QStringLiteral("Method not allowed"));
            response.setHeader(QByteArrayLiteral("Allow"), allow);
            return response;
        });
    }

    m_server.setMissingHandler([](const QHttpServerRequest &, QHttpServerResponder &&responder) {
        const QJsonObject body{{QStringLiteral("code"), QStringLiteral("not_found")},
                               {QStringLiteral("detail"), QStringLiteral("Not found.")}};
        responder.write(QJsonDocument(body).toJson(QJsonDocument::Compact),
                        {{QByteArrayLiteral("Content-Type"), JsonMime},
                         {QByteArrayLiteral("Cache-Control"), QByteArrayLiteral("no-store")}},
                        Status::NotFound);
    });
}

template<typename Handler>
QHttpServerResponse HttpApi::withStringField(const QHttpServerRequest &request,
                                             const QString &field, Handler &&handle) const
{
    auto body = jsonBody(request, m_config.maxBodyBytes);
    if (auto *error = std::get_if<QHttpServerResponse>(&body))
        return std::move(*error);
    const QJsonObject object = std::get<QJsonObject>(body);
    if (auto error = requireFields(object, {field}))
        return std::move(*error);
    return handle(object.value(field).toString().toUtf8());
}

QHttpServerResponse HttpApi::loginResponse(const std::optional<Store::User> &user, bool passwordOk)
{
    if (!user || !passwordOk) {
        qCInfo(lcServerAuth) << "login failed";
        return errorResponse(Status::Unauthorized, QStringLiteral("authentication_failed"),
                             QStringLiteral("No active account found with the given credentials"));
    }
    const auto result = m_tokens.startFamily(*user);
    if (result.outcome != TokenService::Outcome::Ok)
        return internalError();
    return tokenPairResponse(result.tokens);
}

quint16 HttpApi::listen(QString *error)
{
    std::optional<QSslConfiguration> tls;
    if (!m_config.tlsCertificatePath.isEmpty()) {
        QFile certificateFile(m_config.tlsCertificatePath);
        QFile keyFile(m_config.tlsKeyPath);
        if (!certificateFile.open(QIODevice::ReadOnly) || !keyFile.open(QIODevice::ReadOnly)) {
            *error = QStringLiteral("cannot read the TLS certificate or key");
            return 0;
        }
        const QSslCertificate certificate(&certificateFile, QSsl::Pem);
        const QByteArray keyPem = keyFile.readAll();
        QSslKey key(keyPem, QSsl::Ec, QSsl::Pem);
        if (key.isNull())
            key = QSslKey(keyPem, QSsl::Rsa, QSsl::Pem);
        if (certificate.isNull() || key.isNull()) {
            *error = QStringLiteral("invalid TLS certificate or key (PEM, EC or RSA)");
            return 0;
        }
        tls = QSslConfiguration::defaultConfiguration();
        tls->setLocalCertificate(certificate);
        tls->setPrivateKey(key);
        tls->setProtocol(QSsl::TlsV1_2OrLater);
    }

    ConnectionSettings settings;
    settings.framing.maxHeadBytes = qsizetype(m_config.maxHeaderBytes);
    settings.framing.maxRequestLineBytes = qMin<qsizetype>(8 * 1024, settings.framing.maxHeadBytes);
    settings.framing.maxHeaderFields = m_config.maxHeaderFields;
    settings.framing.maxBodyBytes = m_config.maxBodyBytes;
    settings.headerTimeout = std::chrono::seconds(m_config.headerTimeout);
    settings.bodyTimeout = std::chrono::seconds(m_config.bodyTimeout);
    settings.idleTimeout = std::chrono::seconds(m_config.idleTimeout);
    // Descriptors kept for everything but client connections (database files, the
    // listening socket, the signal pipe, Qt, refused connections being answered).
    constexpr int reservedDescriptors = 48 + HttpListener::MaxRefusalsInFlight;
    const FileDescriptorBudget budget =
            fitToFileDescriptorLimit(m_config.maxConnections, reservedDescriptors);
    if (budget.connections < m_config.maxConnections)
        qCWarning(lcServerHttp).nospace()
                << "at most " << budget.connections << " connections instead of "
                << m_config.maxConnections << ": the open-file limit is " << budget.softLimit
                << " (hard " << budget.hardLimit << ")";
    auto *listener = new HttpListener(settings, budget.connections,
                                      m_config.maxConnectionsPerAddress, std::move(tls), this);
    if (!listener->listen(m_config.listenAddress, m_config.listenPort)) {
        *error = QStringLiteral("cannot listen on %1:%2: %3")
                         .arg(m_config.listenAddress.toString())
                         .arg(m_config.listenPort)
                         .arg(listener->errorString());
        delete listener;
        return 0;
    }
    m_server.bind(listener);
    return listener->serverPort();
}

} // namespace Tessera::Server
