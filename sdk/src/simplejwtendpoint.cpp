// SPDX-License-Identifier: MIT
// The SimpleJWT dialect of the token endpoint (djangorestframework-simplejwt, and
// tessera-server, which speaks it): JSON bodies {"username","password"}, {"refresh"}; answers
// {"access","refresh"}; a refused credential or token is 400, 401 or 403, with the reason in
// the body's "code" (never "detail", which is translated and changes between releases).
#include "accesstiming_p.h"
#include "logging_p.h"
#include "tokenendpoint_p.h"
#include "transport_p.h"

#include <tessera/sessionconfig.h>

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtNetwork/QNetworkAccessManager>

namespace Tessera {
namespace {

int httpStatus(QNetworkReply *reply)
{
    return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
}

bool isRefusal(int status)
{
    return status == 400 || status == 401 || status == 403;
}

// RFC 6749 5.1: a token response is application/json. Anything else (an HTML error
// page of a proxy, a captive portal) is not a token response, whatever it contains.
bool isJsonResponse(QNetworkReply *reply)
{
    return Transport::mediaTypeOf(reply) == "application/json";
}

// The error of a reply that is neither a success nor a refusal.
Error httpError(QNetworkReply *reply, const ServerProblem &problem, const QString &what)
{
    const Error failure = Transport::transportOrServerError(reply, what, problem.code);
    if (failure.isError())
        return failure;
    return {Error::Code::ServerError,
            QStringLiteral("%1: unexpected HTTP status %2").arg(what).arg(httpStatus(reply)),
            problem.code};
}

class SimpleJwtEndpoint final : public TokenEndpoint
{
    Q_OBJECT
public:
    explicit SimpleJwtEndpoint(const SessionConfig &config)
        : m_config(config)
    {
        // Token requests never use a cookie jar or a disk cache, and follow no redirect.
        m_network.setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
    }

    void obtainWithPassword(const QString &username, const QString &password, Done done) override
    {
        exchange(
                m_config.obtainPath(),
                {{QStringLiteral("username"), username}, {QStringLiteral("password"), password}},
                [done = std::move(done)](QNetworkReply *reply) {
                    const QByteArray body = reply->readAll();
                    // A cut, a timeout or the size cap after a 200 status line is the transport's
                    // error, not an unusable token response.
                    const bool transportFailed = Transport::replyError(reply).isError();
                    const int status = httpStatus(reply);
                    if (!transportFailed && isRefusal(status))
                        return done(TokenOutcome::rejected(
                                {Error::Code::InvalidCredentials,
                                 QStringLiteral("the server refused the username or password"),
                                 parseServerProblem(body).code}));
                    if (transportFailed || status != 200)
                        return done(TokenOutcome::failed(httpError(reply, parseServerProblem(body),
                                                                   QStringLiteral("login"))));
                    // exp is checked against our clock plus a minute: only a plausibility bound.
                    done(tokensOf(reply, body, true, nowMs() / 1000 + 60, QStringLiteral("login")));
                });
    }

    void exchangeCode(const Secret &, const Secret &, const QUrl &, Done done) override
    {
        // Reported from the event loop, like every other completion.
        QMetaObject::invokeMethod(
                this,
                [done = std::move(done)] {
                    done(TokenOutcome::failed(
                            {Error::Code::InvalidConfiguration,
                             QStringLiteral("the SimpleJWT profile has no authorization code "
                                            "grant: configure an OAuth issuer")}));
                },
                Qt::QueuedConnection);
    }

    void exchangeDeviceCode(const Secret &, Done done) override
    {
        QMetaObject::invokeMethod(
                this,
                [done = std::move(done)] {
                    done(TokenOutcome::failed(
                            {Error::Code::InvalidConfiguration,
                             QStringLiteral("the SimpleJWT profile has no device authorization "
                                            "grant: configure an OAuth issuer")}));
                },
                Qt::QueuedConnection);
    }

    void refresh(const Secret &refreshToken, Done done) override
    {
        exchange(m_config.refreshPath(), refreshBody(refreshToken),
                 [done = std::move(done)](QNetworkReply *reply) {
                     const QByteArray body = reply->readAll();
                     const int status = httpStatus(reply);
                     const ServerProblem problem = parseServerProblem(body);
                     const Error transport = Transport::replyError(reply);
                     if (!transport.isError() && isRefusal(status))
                         return done(TokenOutcome::rejected(
                                 {Error::Code::SessionRejected,
                                  QStringLiteral("the server rejected the session (revoked, "
                                                 "expired or reused); sign in again"),
                                  problem.code}));
                     if (transport.isError() || status != 200)
                         return done(TokenOutcome::failed(
                                 httpError(reply, problem, QStringLiteral("refresh"))));
                     // A refresh may leave the refresh token as it is (no rotation).
                     done(tokensOf(reply, body, false, nowMs() / 1000 + 24 * 3600,
                                   QStringLiteral("refresh")));
                 });
    }

    bool canRevoke() const override { return !m_config.revokePath().isEmpty(); }

    void revoke(const Secret &refreshToken, RevokeDone done) override
    {
        exchange(m_config.revokePath(), refreshBody(refreshToken),
                 [done = std::move(done)](QNetworkReply *reply) {
                     if (!done)
                         return;
                     const int status = httpStatus(reply);
                     // 401: the server no longer knows the token, so it is revoked already.
                     if (Transport::replyError(reply).isError() || (status != 200 && status != 401))
                         return done(httpError(reply, parseServerProblem(reply->readAll()),
                                               QStringLiteral("revoke")));
                     done({});
                 });
    }

    // The blacklist endpoint takes refresh tokens only; an access token lives until it expires.
    bool canRevokeAccessTokens() const override { return false; }

    void revokeAccessToken(const Secret &, RevokeDone done) override
    {
        if (!done)
            return;
        QMetaObject::invokeMethod(
                this,
                [done = std::move(done)] {
                    done({Error::Code::InvalidConfiguration,
                          QStringLiteral("the SimpleJWT profile cannot revoke an access token")});
                },
                Qt::QueuedConnection);
    }

private:
    static QJsonObject refreshBody(const Secret &refreshToken)
    {
        return {{QStringLiteral("refresh"), QString::fromLatin1(refreshToken.reveal())}};
    }

    // POSTs `body` and calls `onFinished` with the finished reply (deleted afterwards).
    template<typename OnFinished>
    void exchange(const QString &path, const QJsonObject &body, OnFinished onFinished)
    {
        QNetworkReply *reply = postJson(path, body);
        connect(reply, &QNetworkReply::finished, this, [reply, onFinished = std::move(onFinished)] {
            reply->deleteLater();
            onFinished(reply);
        });
    }

    QNetworkReply *postJson(const QString &path, const QJsonObject &body)
    {
        QNetworkRequest request(m_config.endpoint(path));
        Transport::prepareRequest(request, m_config);
        request.setHeader(QNetworkRequest::ContentTypeHeader,
                          QByteArrayLiteral("application/json"));
        request.setRawHeader("Accept", "application/json");
        QByteArray payload = QJsonDocument(body).toJson(QJsonDocument::Compact);
        QNetworkReply *reply = m_network.post(request, payload);
        // Best effort: drop our copy of a body that holds a password or token.
        secureWipe(payload);
        Transport::watchReply(reply, m_config, MaxTokenResponseBytes);
        return reply;
    }

    // The tokens of a 200 answer, or why they cannot be used.
    static TokenOutcome tokensOf(QNetworkReply *reply, QByteArrayView body, bool refreshRequired,
                                 qint64 serverNowBound, const QString &what)
    {
        QString problem;
        std::optional<TokenResponse> response;
        if (isJsonResponse(reply))
            response = parseTokenResponse(body, refreshRequired, serverNowBound, &problem);
        else
            problem = QStringLiteral("not application/json");
        if (!response)
            return TokenOutcome::failed(
                    {Error::Code::ServerError,
                     QStringLiteral("%1: unusable token response (%2)").arg(what, problem)});
        response->arrivalMs = nowMs();
        response->serverDate = Transport::serverDate(reply);
        return TokenOutcome::issued(std::move(*response));
    }

    const SessionConfig &m_config;
    QNetworkAccessManager m_network;
};

} // namespace

std::unique_ptr<TokenEndpoint> createSimpleJwtEndpoint(const SessionConfig &config)
{
    return std::make_unique<SimpleJwtEndpoint>(config);
}

} // namespace Tessera

#include "simplejwtendpoint.moc"
