// SPDX-License-Identifier: MIT
#include "httpapi.h"

#include "jsonresponses.h"
#include "logging.h"

#include <QtCore/QFile>
#include <QtCore/QJsonDocument>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslKey>
#include <QtNetwork/QSslServer>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>

#include <variant>

namespace Tessera::Server {
namespace {

using Method = QHttpServerRequest::Method;

const QByteArray JsonMime = QByteArrayLiteral("application/json");

QHttpServerResponse tokenNotValid()
{
    return errorResponse(Status::Unauthorized, QStringLiteral("token_not_valid"),
                         QStringLiteral("Token is invalid or expired"));
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

// Qt HttpServer 6.4 buffers a whole request body before any handler runs and
// has no size limit of its own. This wrapper cuts a connection that sends more
// than `limit` bytes without getting a response, so a huge body cannot exhaust
// memory; bodies below the limit but over --max-body-bytes get a proper 413
// from the handlers.
template<typename Base> class BoundedServer : public Base
{
public:
    BoundedServer(qint64 limit, QObject *parent)
        : Base(parent)
        , m_limit(limit)
    { }

    QTcpSocket *nextPendingConnection() override
    {
        QTcpSocket *socket = Base::nextPendingConnection();
        if (!socket)
            return nullptr;
        auto unanswered = std::make_shared<qint64>(0);
        // Connected before QHttpServer connects its own readyRead slot, so this
        // runs first and sees each chunk before the parser buffers it.
        QObject::connect(socket, &QIODevice::readyRead, socket, [socket, unanswered, this] {
            *unanswered += socket->bytesAvailable();
            if (*unanswered > m_limit) {
                qCWarning(lcServerHttp)
                        << "connection from" << socket->peerAddress().toString() << "sent more than"
                        << m_limit << "bytes without a response: closed";
                socket->abort();
            }
        });
        QObject::connect(socket, &QIODevice::bytesWritten, socket,
                         [unanswered] { *unanswered = 0; });
        return socket;
    }

private:
    qint64 m_limit;
};

} // namespace

HttpApi::HttpApi(const ServerConfig &config, Store &store, TokenService &tokens,
                 const PasswordHasher &hasher, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_store(store)
    , m_tokens(tokens)
    , m_clients(config.trustedProxies)
    , m_login(config, store, tokens, hasher, m_clients)
{
    addRoutes();
}

HttpApi::~HttpApi()
{
    // Logins waiting or hashing are dropped while the server, and so the
    // responders' sockets, still exist.
    m_login.shutdown();
}

QString HttpApi::clientAddress(const QHttpServerRequest &request) const
{
    return ClientAddressResolver::displayAddress(m_clients.clientAddress(
            request.remoteAddress(), headerValues(request, "x-forwarded-for")));
}

void HttpApi::addRoutes()
{
    m_server.route(QStringLiteral("/api/token/"), Method::Post,
                   [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
                       m_login.handle(request, std::move(responder));
                   });

    m_server.route(QStringLiteral("/api/token/refresh/"), Method::Post,
                   [this](const QHttpServerRequest &request) {
                       return withStringField(request, QStringLiteral("refresh"),
                                              [this, &request](const QByteArray &token) {
                                                  const auto result = m_tokens.refresh(
                                                          token, clientAddress(request));
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
                if (headerValues(request, "authorization").size() > 1)
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

quint16 HttpApi::listen(QString *error)
{
    // Bodies up to 1 MiB (or 4x the limit) get a clean 413; beyond, the connection is cut.
    const qint64 connectionLimit = qMax<qint64>(1024 * 1024, 4 * m_config.maxBodyBytes);
    QTcpServer *tcpServer = nullptr;
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
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setLocalCertificate(certificate);
        tls.setPrivateKey(key);
        tls.setProtocol(QSsl::TlsV1_2OrLater);
        auto *sslServer = new BoundedServer<QSslServer>(connectionLimit, this);
        sslServer->setSslConfiguration(tls);
        tcpServer = sslServer;
    } else {
        tcpServer = new BoundedServer<QTcpServer>(connectionLimit, this);
    }
    if (!tcpServer->listen(m_config.listenAddress, m_config.listenPort)) {
        *error = QStringLiteral("cannot listen on %1:%2: %3")
                         .arg(m_config.listenAddress.toString())
                         .arg(m_config.listenPort)
                         .arg(tcpServer->errorString());
        delete tcpServer;
        return 0;
    }
    m_server.bind(tcpServer);
    return tcpServer->serverPort();
}

} // namespace Tessera::Server
