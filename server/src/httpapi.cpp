// SPDX-License-Identifier: MIT
#include "httpapi.h"

#include "jsonresponses.h"
#include "connectionlimiter.h"
#include "httplistener.h"
#include "logging.h"
#include "oauthdiscovery.h"

#include <tessera/jose.h>
#include <tessera/secret.h>

#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QTimer>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslKey>
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

QHttpServerResponse outcomeResponse(TokenService::Outcome outcome, const Store &store)
{
    switch (outcome) {
    case TokenService::Outcome::Ok:
        return jsonResponse({});
    case TokenService::Outcome::Internal:
        return storageErrorResponse(store.unavailable());
    case TokenService::Outcome::Invalid:
    case TokenService::Outcome::Reused:
    case TokenService::Outcome::WrongDpopKey:
        break;
    }
    return tokenNotValid();
}

// The SimpleJWT-shaped error body of a refused resource request (DpopCheck::accessRefusal).
QHttpServerResponse simpleJwtError(Status status, const QString &code, const QString &description)
{
    if (code == u"invalid_token")
        return errorResponse(status, QStringLiteral("token_not_valid"),
                             QStringLiteral("Token is invalid or expired"),
                             {{QStringLiteral("error_description"), description}});
    return errorResponse(status, code, description);
}

// Key material every instance of this deployment shares, and only they: the current signing
// key as stored (newest of the configured algorithm, the one TokenService signs with; main()
// has loaded or created it). The login forms' CSRF keys are derived from it (FormGuard), so a
// form served by one instance is accepted by another on the same database. Empty if unread.
QByteArray deploymentKey(Store &store, const ServerConfig &config)
{
    QList<Store::SigningKey> keys = store.signingKeys(Jose::algorithmName(config.algorithm));
    QByteArray material = keys.isEmpty() ? QByteArray() : std::move(keys.first().material);
    for (Store::SigningKey &key : keys)
        secureWipe(key.material);
    return material;
}

} // namespace

HttpApi::HttpApi(const ServerConfig &config, Store &store, TokenService &tokens,
                 const PasswordHasher &hasher, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_store(store)
    , m_tokens(tokens)
    , m_clients(config.trustedProxies)
    , m_login(config, store, tokens, hasher, m_clients)
    , m_deploymentKey(deploymentKey(store, config))
    , m_dpop(config, m_deploymentKey, &store)
    , m_authorize(config, store, m_login, m_deploymentKey)
    , m_device(config, store, m_login, m_clients, m_deploymentKey)
    , m_oauth(config, store, tokens, m_clients, m_dpop)
    , m_deferSignatures(!store.isPostgreSQL())
    , m_signing([this](quint64 answer, const QList<QByteArray> &signatures) {
        signaturesReady(answer, signatures);
    })
{
    // The routes hold keys derived from it; the material itself is not kept.
    secureWipe(m_deploymentKey);
    m_store.setGroupSettledHandler(
            [this](quint64 group, bool committed) { groupSettled(group, committed); });
    addRoutes();
}

HttpApi::~HttpApi()
{
    // Logins waiting or hashing, and resource requests whose proof is being checked, are
    // dropped while the server, and so the responders' sockets, still exist.
    m_login.shutdown();
    m_dpop.shutdown();
    // Answers held for a commit are dropped the same way; their group is rolled back when
    // the store closes, so none of them was acknowledged.
    m_store.setGroupSettledHandler({});
    m_signing.shutdown();
    m_held.clear();
}

QHttpServerResponse HttpApi::meResponse(const DpopCheck::Access &access) const
{
    if (access.failure == DpopCheck::Access::Failure::Internal)
        return storageErrorResponse(m_store.unavailable());
    if (access.failure != DpopCheck::Access::Failure::None)
        return m_dpop.accessRefusal(access, simpleJwtError);
    auto response = serializedJsonResponse(QByteArray(access.check.subjectJson));
    m_dpop.addNonce(response);
    return response;
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
                       const DpopCheck::Proof proof = m_dpop.tokenRequest(request);
                       if (!proof.ok())
                           return m_dpop.tokenRefusal(proof).write(std::move(responder));
                       m_login.handle(request, std::move(responder), proof.jkt,
                                      m_dpop.currentNonce());
                   });

    m_server.route(QStringLiteral("/api/token/refresh/"), Method::Post,
                   [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
                       answerAfterCommit(std::move(responder), storageErrorResponse,
                                         [this, &request] { return refresh(request); });
                   });

    m_server.route(QStringLiteral("/api/token/blacklist/"), Method::Post,
                   [this](const QHttpServerRequest &request) { return blacklist(request); });

    m_server.route(QStringLiteral("/api/token/verify/"), Method::Post,
                   [this](const QHttpServerRequest &request) {
                       return withStringField(request, QStringLiteral("token"),
                                              [this, &request](const QByteArray &token) {
                                                  return verify(request, token);
                                              });
                   });

    m_server.route(QStringLiteral("/api/me/"), Method::Get,
                   [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
                       m_dpop.authorizeDeferred(request, m_tokens, std::move(responder),
                                                [this](const DpopCheck::Access &access) {
                                                    return meResponse(access);
                                                });
                   });

    m_server.route(QStringLiteral("/.well-known/jwks.json"), Method::Get,
                   [this] { return jsonResponse(m_tokens.jwks()); });
    addOAuthRoutes();
    m_server.route(QStringLiteral("/healthz"), Method::Get, [] {
        return jsonResponse({{QStringLiteral("status"), QStringLiteral("ok")}});
    });

    // Rules are tried in order, so these catch the other methods of known paths.
    const QString prefix = issuerPath(m_config.issuer);
    QList<QPair<QString, QByteArray>> knownPaths{
            {QStringLiteral("/api/token/"), "POST"},
            {QStringLiteral("/api/token/refresh/"), "POST"},
            {QStringLiteral("/api/token/blacklist/"), "POST"},
            {QStringLiteral("/api/token/verify/"), "POST"},
            {QStringLiteral("/api/me/"), "GET"},
            {QStringLiteral("/.well-known/jwks.json"), "GET"},
            {QStringLiteral("/healthz"), "GET"},
            {prefix + QStringLiteral("/authorize"), "GET, POST"},
            {prefix + QStringLiteral("/token"), "POST"},
            {prefix + QStringLiteral("/device_authorization"), "POST"},
            {prefix + QStringLiteral("/device"), "GET, POST"},
            {prefix + QStringLiteral("/revoke"), "POST"},
            {prefix + QStringLiteral("/userinfo"), "GET"},
    };
    if (!prefix.isEmpty())
        knownPaths.append({prefix + QStringLiteral("/.well-known/jwks.json"), "GET"});
    for (const QString &path : discoveryPaths(m_config.issuer))
        knownPaths.append({path, "GET"});
    for (const auto &[path, allow] : std::as_const(knownPaths)) {
        m_server.route(path, Method::AnyKnown, [allow = allow] {
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

// The OAuth 2 / OpenID Connect endpoints, under the issuer's path (oauthdiscovery.h). The
// issuer itself may be the listen URL, set once listening: handlers read it per request.
void HttpApi::addOAuthRoutes()
{
    const QString prefix = issuerPath(m_config.issuer);
    for (const QString &path : discoveryPaths(m_config.issuer)) {
        m_server.route(path, Method::Get, [this] {
            QJsonObject document = discoveryDocument(m_config.issuer, m_config.algorithm);
            if (m_config.dpopMode != DpopMode::Off)
                document.insert(QStringLiteral("dpop_signing_alg_values_supported"),
                                QJsonArray::fromStringList(DpopCheck::signingAlgorithms()));
            return jsonResponse(document);
        });
    }
    if (!prefix.isEmpty())
        m_server.route(prefix + QStringLiteral("/.well-known/jwks.json"), Method::Get,
                       [this] { return jsonResponse(m_tokens.jwks()); });
    m_server.route(m_authorize.path(), Method::Get,
                   [this](const QHttpServerRequest &request) { return m_authorize.get(request); });
    m_server.route(m_authorize.path(), Method::Post,
                   [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
                       m_authorize.post(request, std::move(responder));
                   });
    m_server.route(
            prefix + QStringLiteral("/device_authorization"), Method::Post,
            [this](const QHttpServerRequest &request) { return m_device.authorization(request); });
    m_server.route(m_device.path(), Method::Get,
                   [this](const QHttpServerRequest &request) { return m_device.get(request); });
    m_server.route(m_device.path(), Method::Post,
                   [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
                       m_device.post(request, std::move(responder));
                   });
    m_server.route(prefix + QStringLiteral("/token"), Method::Post,
                   [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
                       answerAfterCommit(std::move(responder), oauthStorageError,
                                         [this, &request] { return m_oauth.token(request); });
                   });
    m_server.route(prefix + QStringLiteral("/revoke"), Method::Post,
                   [this](const QHttpServerRequest &request) { return m_oauth.revoke(request); });
    m_server.route(prefix + QStringLiteral("/userinfo"), Method::Get,
                   [this](const QHttpServerRequest &request, QHttpServerResponder &&responder) {
                       m_oauth.userinfo(request, std::move(responder));
                   });
}

QHttpServerResponse HttpApi::refresh(const QHttpServerRequest &request)
{
    const DpopCheck::Proof proof = m_dpop.tokenRequest(request);
    if (!proof.ok())
        return m_dpop.tokenRefusal(proof);
    QHttpServerResponse response =
            withStringField(request, QStringLiteral("refresh"), [&](const QByteArray &token) {
                const auto result =
                        m_tokens.refresh(token, clientAddress(request), nullptr, proof.jkt);
                if (result.outcome == TokenService::Outcome::Ok)
                    return tokenPairResponse(result.tokens, !result.dpopJkt.isEmpty());
                if (result.outcome == TokenService::Outcome::WrongDpopKey)
                    return m_dpop.wrongKeyRefusal();
                return outcomeResponse(result.outcome, m_store);
            });
    m_dpop.addNonce(response);
    return response;
}

template<typename Handler>
void HttpApi::answerAfterCommit(QHttpServerResponder &&responder,
                                QHttpServerResponse (*storageError)(bool), Handler &&handle)
{
    std::vector<TokenService::UnsignedToken> unsignedTokens;
    QHttpServerResponse response = [&] {
        const Store::RotationGroupScope groupCommit(m_store);
        const TokenService::DeferredSignatures deferred(
                m_tokens, m_deferSignatures ? &unsignedTokens : nullptr);
        return handle();
    }();
    // Any statement but a group's own commits the open group first, so a group still open
    // here holds this request's rotation, or its reads of the group's rotations: the answer
    // waits for the commit. Holding an answer that needed no wait costs only its latency.
    const quint64 group = m_store.openGroup();
    if (group == 0) {
        if (!unsignedTokens.empty())
            response = withSignedTokens(std::move(response), unsignedTokens,
                                        SigningWorkers::signNow(unsignedTokens), storageError);
        return response.write(std::move(responder));
    }
    // The access token is signed on a worker while the group commits.
    const quint64 id = ++m_lastHeldId;
    if (!unsignedTokens.empty())
        m_signing.sign(id, unsignedTokens);
    QTcpSocket *const socket = responder.socket();
    m_held.emplace(id,
                   HeldAnswer{id, group, socket, std::move(responder), std::move(response),
                              storageError, std::move(unsignedTokens), std::nullopt});
    scheduleCommit();
}

QHttpServerResponse HttpApi::withSignedTokens(
        QHttpServerResponse &&response, const std::vector<TokenService::UnsignedToken> &tokens,
        const QList<QByteArray> &signatures, QHttpServerResponse (*storageError)(bool))
{
    if (signatures.size() != qsizetype(tokens.size())) {
        qCCritical(lcServerAuth) << "cannot sign an access token";
        return storageError(false);
    }
    QByteArray body = response.data();
    bool replaced = false;
    for (size_t i = 0; i < tokens.size(); ++i) {
        const TokenService::UnsignedToken &token = tokens[i];
        const qsizetype at = body.indexOf(token.placeholder);
        if (at < 0)
            continue; // not in this answer (an error answered instead)
        body.replace(at + token.signingInput.size() + 1, TokenService::DeferredSignatureChars,
                     signatures.at(qsizetype(i)));
        replaced = true;
    }
    if (!replaced)
        return std::move(response);
    // QHttpServerResponse cannot change its body, so the answer is made again. A token answer
    // is a JSON answer (serializedJsonResponse(), which adds the headers every JSON answer has)
    // plus, with DPoP, the nonce.
    if (response.mimeType() != "application/json") {
        qCCritical(lcServerAuth) << "an access token to sign in an answer that is not JSON";
        return storageError(false);
    }
    QHttpServerResponse signedResponse =
            serializedJsonResponse(std::move(body), response.statusCode());
    for (const QByteArray &nonce : response.headers(QByteArrayLiteral("DPoP-Nonce")))
        signedResponse.addHeader(QByteArrayLiteral("DPoP-Nonce"), nonce);
    return signedResponse;
}

void HttpApi::scheduleCommit()
{
    if (m_commitScheduled)
        return;
    m_commitScheduled = true;
    // A zero timer fires after the socket notifiers of this event-loop round: the group holds
    // the rotations of every request read in the round.
    QTimer::singleShot(0, this, &HttpApi::commitHeldAnswers);
}

void HttpApi::groupSettled(quint64 group, bool committed)
{
    // Called inside a store call: only noted here, answered from the event loop.
    m_settledGroups.insert(group, committed);
    scheduleCommit();
}

void HttpApi::commitHeldAnswers()
{
    m_store.settleGroup(); // reported to groupSettled(), which needs no new round for it
    m_commitScheduled = false;
    const QHash<quint64, bool> settled = std::exchange(m_settledGroups, {});
    bool awaitingGroup = false;
    for (auto it = m_held.begin(); it != m_held.end();) {
        HeldAnswer &answer = it->second;
        if (!answer.committed) {
            const auto outcome = settled.constFind(answer.group);
            if (outcome == settled.cend()) {
                awaitingGroup = true; // a group opened since; not reached here
                ++it;
                continue;
            }
            answer.committed = *outcome;
        }
        if (*answer.committed && !answer.unsignedTokens.empty()) {
            ++it; // written by signaturesReady()
            continue;
        }
        auto node = m_held.extract(it++);
        writeHeld(node.mapped());
    }
    if (awaitingGroup)
        scheduleCommit();
}

void HttpApi::signaturesReady(quint64 answerId, const QList<QByteArray> &signatures)
{
    const auto held = m_held.find(answerId);
    if (held == m_held.end())
        return; // answered already (its group was rolled back), or dropped
    HeldAnswer &answer = held->second;
    answer.response = withSignedTokens(std::move(answer.response), answer.unsignedTokens,
                                       signatures, answer.storageError);
    answer.unsignedTokens.clear();
    if (!answer.committed)
        return; // written when its group settles
    auto node = m_held.extract(held);
    writeHeld(node.mapped());
}

void HttpApi::writeHeld(HeldAnswer &answer)
{
    if (!answer.socket || answer.socket->state() != QAbstractSocket::ConnectedState) {
        qCDebug(lcServerAuth) << "refresh client disconnected while its rotation committed";
        return;
    }
    if (*answer.committed) {
        answer.response.write(std::move(answer.responder));
    } else {
        // Nothing of the group was written: every token presented is still current, and
        // the same request again succeeds.
        answer.storageError(true).write(std::move(answer.responder));
    }
}

QHttpServerResponse HttpApi::blacklist(const QHttpServerRequest &request)
{
    const DpopCheck::Proof proof = m_dpop.presentedProof(request);
    if (!proof.ok())
        return m_dpop.tokenRefusal(proof);
    QHttpServerResponse response =
            withStringField(request, QStringLiteral("refresh"), [&](const QByteArray &token) {
                const TokenService::Outcome outcome = m_tokens.revoke(token, proof.jkt);
                if (outcome == TokenService::Outcome::WrongDpopKey)
                    return m_dpop.wrongKeyRefusal();
                return outcomeResponse(outcome, m_store);
            });
    m_dpop.addNonce(response);
    return response;
}

QHttpServerResponse HttpApi::verify(const QHttpServerRequest &request, const QByteArray &token)
{
    const auto check = m_tokens.checkAccess(token);
    if (check.outcome == TokenService::Outcome::Invalid)
        qCDebug(lcServerAuth) << "verify refused:" << check.reason;
    if (check.outcome != TokenService::Outcome::Ok || check.dpopJkt.isEmpty())
        return outcomeResponse(check.outcome, m_store);
    // A bound token verifies only for its key's holder: the request carries a proof of that
    // key over this request with the token's ath (docs/SERVER.md "DPoP").
    const DpopCheck::Proof proof = m_dpop.resourceRequest(request, token, check.dpopJkt);
    if (proof.ok()) {
        auto response = jsonResponse({});
        m_dpop.addNonce(response);
        return response;
    }
    DpopCheck::Access access;
    access.dpopScheme = true;
    DpopCheck::applyProof(access, proof);
    return m_dpop.accessRefusal(access, simpleJwtError);
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

bool HttpApi::loadTls(std::optional<QSslConfiguration> *tls, QString *error) const
{
    if (m_config.tlsCertificatePath.isEmpty())
        return true;
    QFile certificateFile(m_config.tlsCertificatePath);
    QFile keyFile(m_config.tlsKeyPath);
    if (!certificateFile.open(QIODevice::ReadOnly) || !keyFile.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read the TLS certificate or key");
        return false;
    }
    const QSslCertificate certificate(&certificateFile, QSsl::Pem);
    const QByteArray keyPem = keyFile.readAll();
    QSslKey key(keyPem, QSsl::Ec, QSsl::Pem);
    if (key.isNull())
        key = QSslKey(keyPem, QSsl::Rsa, QSsl::Pem);
    if (certificate.isNull() || key.isNull()) {
        *error = QStringLiteral("invalid TLS certificate or key (PEM, EC or RSA)");
        return false;
    }
    *tls = QSslConfiguration::defaultConfiguration();
    (*tls)->setLocalCertificate(certificate);
    (*tls)->setPrivateKey(key);
    (*tls)->setProtocol(QSsl::TlsV1_2OrLater);
    return true;
}

ConnectionSettings HttpApi::connectionSettings() const
{
    ConnectionSettings settings;
    settings.framing.maxHeadBytes = qsizetype(m_config.maxHeaderBytes);
    settings.framing.maxRequestLineBytes = qMin<qsizetype>(8 * 1024, settings.framing.maxHeadBytes);
    settings.framing.maxHeaderFields = m_config.maxHeaderFields;
    settings.framing.maxBodyBytes = m_config.maxBodyBytes;
    settings.headerTimeout = std::chrono::seconds(m_config.headerTimeout);
    settings.bodyTimeout = std::chrono::seconds(m_config.bodyTimeout);
    settings.idleTimeout = std::chrono::seconds(m_config.idleTimeout);
    return settings;
}

bool HttpApi::isReady(QString *error) const
{
    if (m_authorize.isReady() && m_device.isReady() && m_dpop.isReady())
        return true;
    *error = QStringLiteral("cannot derive the login forms' keys from the signing key");
    return false;
}

HttpListener *HttpApi::listen(QString *error)
{
    std::optional<QSslConfiguration> tls;
    if (!isReady(error) || !loadTls(&tls, error))
        return nullptr;
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
    auto *listener = new HttpListener(connectionSettings(), budget.connections,
                                      m_config.maxConnectionsPerAddress, std::move(tls), this);
    // Qt's default accept queue holds 50. A burst beyond it while the loop is busy loses
    // the handshake's last ACK (Linux drops it on a full queue), and those clients wait
    // seconds for a retransmission. Queue as many as may be open; the connection cap
    // answers the rest with 503, and the kernel caps this at net.core.somaxconn.
    listener->setListenBacklogSize(budget.connections);
    if (!listener->listen(m_config.listenAddress, m_config.listenPort)) {
        *error = QStringLiteral("cannot listen on %1:%2: %3")
                         .arg(m_config.listenAddress.toString())
                         .arg(m_config.listenPort)
                         .arg(listener->errorString());
        delete listener;
        return nullptr;
    }
    m_server.bind(listener);
    return listener;
}

ConnectionIntake *HttpApi::serveHandedConnections(QString *error)
{
    std::optional<QSslConfiguration> tls;
    if (!isReady(error) || !loadTls(&tls, error))
        return nullptr;
    auto *intake = new ConnectionIntake(connectionSettings(), std::move(tls), this);
    m_server.bind(intake); // not listening, by design: see main.cpp's message handler
    return intake;
}

} // namespace Tessera::Server
