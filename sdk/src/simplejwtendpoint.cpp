// SPDX-License-Identifier: MIT
// The SimpleJWT dialect of the token endpoint (djangorestframework-simplejwt, and
// tessera-server, which speaks it): JSON bodies {"username","password"}, {"refresh"}; answers
// {"access","refresh"}; a refused credential or token is 400, 401 or 403, with the reason in
// the body's "code" (never "detail", which is translated and changes between releases).
#include "accesstiming_p.h"
#include "dpopsigner_p.h"
#include "logging_p.h"
#include "tokenrequest_p.h"
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
    SimpleJwtEndpoint(const SessionConfig &config, DpopSigner *dpop)
        : m_config(config)
        , m_dpop(dpop)
    {
        // Token requests never use a cookie jar or a disk cache, and follow no redirect.
        m_network.setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
    }

    void obtainWithPassword(const QString &username, const QString &password, Done done) override
    {
        const bool proof = dpopOn() && !m_dpop->ensureKey().isNull();
        exchange(m_config.obtainPath(),
                 {{QStringLiteral("username"), username}, {QStringLiteral("password"), password}},
                 proof, [this, proof, done = std::move(done)](QNetworkReply *reply) {
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
                     TokenOutcome outcome = tokensOf(reply, body, true, nowMs() / 1000 + 60,
                                                     QStringLiteral("login"));
                     DpopSigner::checkBinding(outcome, proof, dpopOn(), QStringLiteral("login"));
                     done(std::move(outcome));
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
        // A bound session is never refreshed without its key.
        if (dpopOn() && !m_dpop->hasKey()) {
            QMetaObject::invokeMethod(
                    this,
                    [done = std::move(done)] {
                        done(TokenOutcome::rejected(DpopSigner::missingKeyError()));
                    },
                    Qt::QueuedConnection);
            return;
        }
        const bool proof = m_dpop && m_dpop->hasKey();
        exchange(m_config.refreshPath(), refreshBody(refreshToken), proof,
                 [this, proof, done = std::move(done)](QNetworkReply *reply) {
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
                     TokenOutcome outcome = tokensOf(reply, body, false, nowMs() / 1000 + 24 * 3600,
                                                     QStringLiteral("refresh"));
                     DpopSigner::checkBinding(outcome, proof, dpopOn(), QStringLiteral("refresh"));
                     done(std::move(outcome));
                 });
    }

    bool canRevoke() const override { return !m_config.revokePath().isEmpty(); }

    void revoke(const Secret &refreshToken, RevokeDone done) override
    {
        exchange(m_config.revokePath(), refreshBody(refreshToken), m_dpop && m_dpop->hasKey(),
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

    // DPoP for this server: only when required (a SimpleJWT server advertises nothing).
    bool dpopOn() const
    {
        return m_dpop && m_config.dpopPolicy() == SessionConfig::DpopPolicy::Required;
    }

    // POSTs `body`, with a DPoP proof when `proof`, and calls `onFinished` with the finished
    // reply (deleted afterwards). A "use_dpop_nonce" answer (RFC 9449 §8) is retried once.
    void exchange(const QString &path, const QJsonObject &body, bool proof,
                  std::function<void(QNetworkReply *)> onFinished)
    {
        postTokenRequest(
                m_network, m_config, this, m_dpop, m_config.endpoint(path),
                {QByteArrayLiteral("application/json"),
                 std::make_shared<QByteArray>(QJsonDocument(body).toJson(QJsonDocument::Compact)),
                 proof},
                std::move(onFinished));
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
    DpopSigner *m_dpop;
    QNetworkAccessManager m_network;
};

} // namespace

std::unique_ptr<TokenEndpoint> createSimpleJwtEndpoint(const SessionConfig &config,
                                                       DpopSigner *dpop)
{
    return std::make_unique<SimpleJwtEndpoint>(config, dpop);
}

} // namespace Tessera

#include "simplejwtendpoint.moc"
