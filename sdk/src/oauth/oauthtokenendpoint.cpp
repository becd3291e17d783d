// SPDX-License-Identifier: MIT
#include "oauthtokenendpoint_p.h"

#include "../accesstiming_p.h"
#include "../dpopsigner_p.h"
#include "../logging_p.h"
#include "../tokenrequest_p.h"
#include "../transport_p.h"
#include "oauthtokenresponse_p.h"

#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>

namespace Tessera::OAuth {
namespace {

int httpStatus(QNetworkReply *reply)
{
    return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
}

// RFC 6749 §5.1, §5.2: both answers are application/json. An HTML page of a proxy or a
// captive portal is neither, whatever it contains.
bool isJsonResponse(QNetworkReply *reply)
{
    return Transport::mediaTypeOf(reply) == "application/json";
}

enum class Grant { AuthorizationCode, RefreshToken, DeviceCode };

QString described(const QString &text, const OAuthError &error)
{
    return error.description.isEmpty() ? text
                                       : QStringLiteral("%1 (\"%2\")").arg(text, error.description);
}

// --- Device access token request (RFC 8628 §3.5) ---
// The device grant's own error codes; nullopt for the codes every grant shares.
//  - authorization_pending, slow_down: Failed, serverCode naming them: the device flow polls on;
//  - access_denied: Rejected with AccessDenied (the person refused on the verification page);
//  - expired_token: Failed with Timeout: the person did not finish in time, as when the code
//    flow's receiver times out; a new sign-in starts a new device authorization;
//  - invalid_grant: Rejected with InvalidCredentials (the device code is unknown or spent).
std::optional<TokenOutcome> deviceCodeOutcomeOf(const OAuthError &error, const QString &what)
{
    const QString &code = error.error;
    if (code == u"authorization_pending" || code == u"slow_down")
        return TokenOutcome::failed(
                {Error::Code::ServerError,
                 QStringLiteral("%1: the sign-in is not completed yet (%2)").arg(what, code),
                 code});
    if (code == u"access_denied")
        return TokenOutcome::rejected(
                {Error::Code::AccessDenied,
                 described(QStringLiteral("%1: the sign-in was refused on the verification page")
                                   .arg(what),
                           error),
                 code});
    if (code == u"expired_token")
        return TokenOutcome::failed(
                {Error::Code::Timeout,
                 described(QStringLiteral("%1: the device code expired before the sign-in was "
                                          "completed; start again")
                                   .arg(what),
                           error),
                 code});
    if (code == u"invalid_grant")
        return TokenOutcome::rejected(
                {Error::Code::InvalidCredentials,
                 described(QStringLiteral("%1: the provider refused the device code (unknown, "
                                          "already used or expired); start again")
                                   .arg(what),
                           error),
                 code});
    return std::nullopt;
}
// --- end of the device access token request ---

// What an RFC 6749 §5.2 error means for this client.

// What an RFC 6749 §5.2 error means for this client.
TokenOutcome outcomeOf(const OAuthError &error, Grant grant, const QString &what)
{
    const QString &code = error.error;
    if (grant == Grant::DeviceCode) {
        if (std::optional<TokenOutcome> outcome = deviceCodeOutcomeOf(error, what))
            return std::move(*outcome);
    }
    if (code == u"invalid_grant") {
        if (grant == Grant::RefreshToken)
            return TokenOutcome::rejected(
                    {Error::Code::SessionRejected,
                     described(QStringLiteral("the provider rejected the refresh token (revoked, "
                                              "expired or reused); sign in again"),
                               error),
                     code});
        return TokenOutcome::rejected(
                {Error::Code::InvalidCredentials,
                 described(QStringLiteral("the provider refused the authorization code (expired, "
                                          "already used, or issued for another verifier or "
                                          "redirect URI); sign in again"),
                           error),
                 code});
    }
    if (code == u"invalid_client" || code == u"unauthorized_client"
        || code == u"unsupported_grant_type" || code == u"invalid_scope"
        || code == u"invalid_request")
        return TokenOutcome::failed(
                {Error::Code::InvalidConfiguration,
                 described(QStringLiteral("%1: the provider refused the request as configured "
                                          "(%2): check the client id, its allowed grants and "
                                          "the scope")
                                   .arg(what, code),
                           error),
                 code});
    return TokenOutcome::failed(
            {Error::Code::ServerError,
             described(QStringLiteral("%1: the provider answered error %2").arg(what, code), error),
             code});
}

// The error of a reply that is neither a success nor an OAuth error.
Error httpError(QNetworkReply *reply, const QString &what)
{
    const Error failure = Transport::transportOrServerError(reply, what);
    if (failure.isError())
        return failure;
    return {Error::Code::ServerError,
            QStringLiteral("%1: unexpected HTTP status %2 without an OAuth error")
                    .arg(what)
                    .arg(httpStatus(reply))};
}

class OAuthTokenEndpoint final : public TokenEndpoint
{
    Q_OBJECT
public:
    OAuthTokenEndpoint(const SessionConfig &transport, const OAuthClient &client, DpopSigner *dpop)
        : m_transport(transport)
        , m_client(client)
        , m_dpop(dpop)
    {
        // Token requests never use a cookie jar or a disk cache, and follow no redirect.
        m_network.setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
    }

    void obtainWithPassword(const QString &, const QString &, Done done) override
    {
        // RFC 9700 §2.4: the password grant MUST NOT be used. Reported from the event loop.
        QMetaObject::invokeMethod(
                this,
                [done = std::move(done)] {
                    done(TokenOutcome::failed(
                            {Error::Code::InvalidConfiguration,
                             QStringLiteral("an OAuth provider signs in through the browser; "
                                            "the password grant is not used")}));
                },
                Qt::QueuedConnection);
    }

    void exchangeCode(const Secret &code, const Secret &codeVerifier, const QUrl &redirectUri,
                      Done done) override
    {
        const QByteArray redirect = redirectUri.toEncoded();
        const bool proof = startSignInProofs();
        post(m_client.tokenEndpoint,
             {{"grant_type", "authorization_code"},
              {"code", code.reveal()},
              {"redirect_uri", redirect},
              {"code_verifier", codeVerifier.reveal()}},
             proof, [this, proof, done = std::move(done)](QNetworkReply *reply) {
                 TokenOutcome outcome = answerOf(reply, Grant::AuthorizationCode, proof,
                                                 QStringLiteral("code exchange"));
                 if (outcome.kind == TokenOutcome::Kind::Issued && outcome.tokens.refresh.isEmpty())
                     outcome = TokenOutcome::failed(
                             {Error::Code::InvalidConfiguration,
                              QStringLiteral("code exchange: the provider issued no refresh token; "
                                             "request the offline_access scope or allow the "
                                             "client the refresh_token grant")});
                 done(std::move(outcome));
             });
    }

    // RFC 8628 §3.4. Like a code exchange, the answer must bring a refresh token.
    void exchangeDeviceCode(const Secret &deviceCode, Done done) override
    {
        const bool proof = startSignInProofs();
        post(m_client.tokenEndpoint,
             {{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
              {"device_code", deviceCode.reveal()}},
             proof, [this, proof, done = std::move(done)](QNetworkReply *reply) {
                 TokenOutcome outcome = answerOf(reply, Grant::DeviceCode, proof,
                                                 QStringLiteral("device sign-in"));
                 if (outcome.kind == TokenOutcome::Kind::Issued && outcome.tokens.refresh.isEmpty())
                     outcome = TokenOutcome::failed(
                             {Error::Code::InvalidConfiguration,
                              QStringLiteral("device sign-in: the provider issued no refresh "
                                             "token; request the offline_access scope or allow "
                                             "the client the refresh_token grant")});
                 done(std::move(outcome));
             });
    }

    void refresh(const Secret &refreshToken, Done done) override
    {
        // A bound session is never refreshed without its key: the refresh token alone is
        // what a thief would hold.
        if (m_client.dpop && !(m_dpop && m_dpop->hasKey())) {
            QMetaObject::invokeMethod(
                    this,
                    [done = std::move(done)] {
                        done(TokenOutcome::rejected(DpopSigner::missingKeyError()));
                    },
                    Qt::QueuedConnection);
            return;
        }
        const bool proof = m_dpop && m_dpop->hasKey();
        post(m_client.tokenEndpoint,
             {{"grant_type", "refresh_token"}, {"refresh_token", refreshToken.reveal()}}, proof,
             [this, proof, done = std::move(done)](QNetworkReply *reply) {
                 // No refresh_token in the answer: the old one stays (no rotation).
                 done(answerOf(reply, Grant::RefreshToken, proof, QStringLiteral("refresh")));
             });
    }

    bool canRevoke() const override { return !m_client.revocationEndpoint.isEmpty(); }

    void revoke(const Secret &refreshToken, RevokeDone done) override
    {
        revokeToken(refreshToken, "refresh_token", std::move(done));
    }

    bool canRevokeAccessTokens() const override { return canRevoke(); }

    void revokeAccessToken(const Secret &accessToken, RevokeDone done) override
    {
        revokeToken(accessToken, "access_token", std::move(done));
    }

private:
    // RFC 7009 §2.1 with `hint` as token_type_hint; §2.2: 200 also when the token was invalid
    // or unknown already.
    void revokeToken(const Secret &token, const QByteArray &hint, RevokeDone done)
    {
        if (!canRevoke()) {
            if (done)
                QMetaObject::invokeMethod(
                        this,
                        [done = std::move(done)] {
                            done({Error::Code::InvalidConfiguration,
                                  QStringLiteral("the provider has no revocation endpoint")});
                        },
                        Qt::QueuedConnection);
            return;
        }
        const bool accessToken = hint == "access_token";
        post(m_client.revocationEndpoint, {{"token", token.reveal()}, {"token_type_hint", hint}},
             m_dpop && m_dpop->hasKey(),
             [done = std::move(done), accessToken](QNetworkReply *reply) {
                 if (!done)
                     return;
                 const bool transportFailed = Transport::replyError(reply).isError();
                 if (!transportFailed && httpStatus(reply) == 200)
                     return done({});
                 if (!transportFailed && isJsonResponse(reply)) {
                     if (const auto error = parseOAuthError(reply->readAll())) {
                         // §2.2.1: this server revokes no access token on its own (it may
                         // revoke them with their refresh token): nothing more can be done.
                         if (accessToken && error->error == u"unsupported_token_type") {
                             qCInfo(lcNetwork) << "the provider does not revoke access tokens "
                                                  "on their own (unsupported_token_type)";
                             return done({});
                         }
                         return done(
                                 outcomeOf(*error, Grant::RefreshToken, QStringLiteral("revoke"))
                                         .error);
                     }
                 }
                 done(httpError(reply, QStringLiteral("revoke")));
             });
    }

    // A sign-in's token request carries a proof when DPoP is on: with the key the session
    // already made (the browser sign-in's dpop_jkt named it), else a new one.
    bool startSignInProofs()
    {
        if (!m_client.dpop || !m_dpop)
            return false;
        return !m_dpop->ensureKey().isNull();
    }

    // The answer to a token request (`proof`: it carried one): tokens, a refusal, or a failure.
    TokenOutcome answerOf(QNetworkReply *reply, Grant grant, bool proof, const QString &what) const
    {
        TokenOutcome outcome = answerOf(reply, grant, what);
        // RFC 9449 §5: invalid_dpop_proof for a request that carried no proof is a server that
        // requires DPoP of this client, with the policy Off (or DPoP not advertised): asking
        // again the same way cannot help, so it is a configuration error, never transient.
        if (!proof && outcome.kind == TokenOutcome::Kind::Failed
            && outcome.error.serverCode() == u"invalid_dpop_proof")
            outcome.error = {Error::Code::InvalidConfiguration,
                             QStringLiteral("%1: the provider requires DPoP (RFC 9449) of this "
                                            "client; set the DPoP policy to IfSupported or "
                                            "Required")
                                     .arg(what),
                             outcome.error.serverCode()};
        DpopSigner::checkBinding(outcome, proof,
                                 m_transport.dpopPolicy() == SessionConfig::DpopPolicy::Required,
                                 what);
        return outcome;
    }

    static TokenOutcome answerOf(QNetworkReply *reply, Grant grant, const QString &what)
    {
        // A cut, a timeout or the size cap after a status line is the transport's error,
        // not an unusable response.
        if (Transport::replyError(reply).isError())
            return TokenOutcome::failed(httpError(reply, what));
        const QByteArray body = reply->readAll();
        const int status = httpStatus(reply);
        if (status == 200) {
            QString problem = QStringLiteral("not application/json");
            std::optional<TokenResponse> tokens;
            if (isJsonResponse(reply))
                tokens = parseOAuthTokenResponse(body, &problem);
            if (!tokens)
                return TokenOutcome::failed(
                        {Error::Code::ServerError,
                         QStringLiteral("%1: unusable token response (%2)").arg(what, problem)});
            tokens->arrivalMs = nowMs();
            tokens->serverDate = Transport::serverDate(reply);
            return TokenOutcome::issued(std::move(*tokens));
        }
        if ((status == 400 || status == 401) && isJsonResponse(reply)) {
            if (const auto error = parseOAuthError(body)) {
                qCInfo(lcNetwork) << what << "refused by the provider:" << error->error;
                return outcomeOf(*error, grant, what);
            }
        }
        return TokenOutcome::failed(httpError(reply, what));
    }

    // POSTs the form (client_id added), with a DPoP proof when `proof`, and calls `onFinished`
    // with the finished reply (deleted afterwards).
    void post(const QUrl &url, QList<std::pair<QByteArray, QByteArrayView>> fields, bool proof,
              std::function<void(QNetworkReply *)> onFinished)
    {
        const QByteArray clientId = m_client.clientId.toUtf8();
        fields.append({"client_id", clientId});
        postTokenRequest(m_network, m_transport, this, m_dpop, url,
                         {QByteArrayLiteral("application/x-www-form-urlencoded"),
                          std::make_shared<QByteArray>(formEncode(fields)), proof},
                         std::move(onFinished));
    }

    const SessionConfig m_transport;
    const OAuthClient m_client;
    DpopSigner *m_dpop;
    QNetworkAccessManager m_network;
};

} // namespace

QByteArray formEncode(const QList<std::pair<QByteArray, QByteArrayView>> &fields)
{
    QByteArray encoded;
    for (const auto &[name, value] : fields) {
        if (!encoded.isEmpty())
            encoded += '&';
        encoded += name;
        encoded += '=';
        QByteArray escaped =
                QByteArray::fromRawData(value.data(), value.size()).toPercentEncoding();
        encoded += escaped;
        secureWipe(escaped);
    }
    return encoded;
}

std::unique_ptr<TokenEndpoint> createOAuthTokenEndpoint(const SessionConfig &transport,
                                                        const OAuthClient &client, DpopSigner *dpop)
{
    return std::make_unique<OAuthTokenEndpoint>(transport, client, dpop);
}

} // namespace Tessera::OAuth

#include "oauthtokenendpoint.moc"
