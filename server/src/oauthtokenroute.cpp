// SPDX-License-Identifier: MIT
#include "oauthtokenroute.h"

#include "deviceroute.h"
#include "formparameters.h"
#include "jsonresponses.h"
#include "logging.h"
#include "oauthdiscovery.h"
#include "redirecturi.h"

#include <tessera/jose.h>

#include <QtCore/QJsonDocument>

#include <algorithm>
#include <variant>

namespace Tessera::Server {
namespace {

QHttpServerResponse invalidClient(const QString &description)
{
    return oauthError(QStringLiteral("invalid_client"), description, Status::Unauthorized);
}

// A storage failure: 503 temporarily_unavailable (clients retry) or 500 server_error.
QHttpServerResponse serverError(const Store &store)
{
    return oauthStorageError(store.unavailable());
}

// A JSON string (RFC 8259 §7) of UTF-8 `text`: quotes, backslashes and control characters
// escaped, everything else as it is.
void appendJsonString(QByteArray &out, QByteArrayView text)
{
    static const char hex[] = "0123456789abcdef";
    out += '"';
    const auto plain = [](char c) {
        return c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20;
    };
    if (std::all_of(text.begin(), text.end(), plain)) { // tokens: base64url and dots
        out += text;
        out += '"';
        return;
    }
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20) {
            out += "\\u00";
            out += hex[byte >> 4];
            out += hex[byte & 0xf];
        } else {
            out += c;
        }
    }
    out += '"';
}

bool isVerifier(const QString &verifier)
{
    // RFC 7636 §4.1: 43 to 128 unreserved characters.
    if (verifier.size() < 43 || verifier.size() > 128)
        return false;
    for (const QChar c : verifier) {
        const bool ok = (c >= u'A' && c <= u'Z') || (c >= u'a' && c <= u'z')
                || (c >= u'0' && c <= u'9') || c == u'-' || c == u'.' || c == u'_' || c == u'~';
        if (!ok)
            return false;
    }
    return true;
}

// The form parameters of a back-channel request, or the error to answer.
std::variant<FormParameters, QHttpServerResponse> formOf(const QHttpServerRequest &request)
{
    if (!isFormContentType(header(request, "content-type")))
        return oauthError(QStringLiteral("invalid_request"),
                          QStringLiteral("the body must be application/x-www-form-urlencoded"));
    FormParameters parameters = parseFormParameters(request.body());
    if (!parameters.problem.isEmpty())
        return oauthError(QStringLiteral("invalid_request"), parameters.problem);
    return parameters;
}

} // namespace

OAuthTokenRoute::OAuthTokenRoute(const ServerConfig &config, Store &store, TokenService &tokens,
                                 const ClientAddressResolver &clients, DpopCheck &dpop)
    : m_config(config)
    , m_store(store)
    , m_tokens(tokens)
    , m_clients(clients)
    , m_dpop(dpop)
{ }

QHttpServerResponse OAuthTokenRoute::token(const QHttpServerRequest &request)
{
    // Every answer carries the current DPoP-Nonce when nonces are on (RFC 9449 section 8).
    QHttpServerResponse response = grant(request);
    m_dpop.addNonce(response);
    return response;
}

QHttpServerResponse OAuthTokenRoute::grant(const QHttpServerRequest &request)
{
    auto form = formOf(request);
    if (auto *error = std::get_if<QHttpServerResponse>(&form))
        return std::move(*error);
    const FormParameters parameters = std::get<FormParameters>(form);
    // Public clients only: a client that authenticates (Basic) uses a method not offered.
    if (!header(request, "authorization").isEmpty())
        return invalidClient(QStringLiteral("only public clients (auth method none)"));
    const QString clientId = parameters.value(QStringLiteral("client_id"));
    if (clientId.isEmpty())
        return invalidClient(QStringLiteral("client_id is required"));
    if (!clientIdProblem(clientId).isEmpty() || !m_store.hasClient(clientId))
        return m_store.failed() ? serverError(m_store)
                                : invalidClient(QStringLiteral("unknown client"));

    const QString grantType = parameters.value(QStringLiteral("grant_type"));
    if (grantType.isEmpty())
        return oauthError(QStringLiteral("invalid_request"),
                          QStringLiteral("grant_type is required"));
    // Checked before the grant: a refused proof spends no code and rotates nothing.
    const DpopCheck::Proof proof = m_dpop.tokenRequest(request);
    if (!proof.ok())
        return proofRefusal(proof);
    if (grantType == u"authorization_code")
        return authorizationCodeGrant(parameters, clientId, proof.jkt);
    if (grantType == u"refresh_token")
        return refreshTokenGrant(parameters, clientId, request, proof.jkt);
    if (grantType == DeviceCodeGrantType)
        return deviceCodeGrant(parameters, clientId, proof.jkt);
    return oauthError(QStringLiteral("unsupported_grant_type"),
                      QStringLiteral("grant types: authorization_code, refresh_token, ")
                              + DeviceCodeGrantType);
}

QHttpServerResponse OAuthTokenRoute::deviceCodeGrant(const FormParameters &parameters,
                                                     const QString &clientId,
                                                     const QString &dpopJkt)
{
    const QString deviceCode = parameters.value(QStringLiteral("device_code"));
    if (deviceCode.isEmpty())
        return oauthError(QStringLiteral("invalid_request"),
                          QStringLiteral("device_code is required"));
    const QByteArray codeHash = Jose::sha256(deviceCode.toUtf8());
    const std::optional<Store::DeviceCode> code = m_store.findDeviceCode(codeHash);
    const auto invalidGrant = [](const char *why) {
        return oauthError(QStringLiteral("invalid_grant"), QString::fromLatin1(why));
    };
    if (!code)
        return m_store.failed() ? serverError(m_store) : invalidGrant("unknown device code");
    // Another client's code is answered like an unknown one would be, and left as it is.
    if (code->clientId != clientId)
        return invalidGrant("the device code was issued to another client");
    using DeviceStatus = Store::DeviceCode::Status;
    if (code->status == DeviceStatus::Spent)
        return invalidGrant("the device code was already used");
    const qint64 now = TokenService::nowMs();
    if (now >= code->expiresAt)
        return oauthError(QStringLiteral("expired_token"),
                          QStringLiteral("the device code has expired"));
    if (code->status == DeviceStatus::Denied)
        return oauthError(QStringLiteral("access_denied"),
                          QStringLiteral("the user denied the authorization"));
    if (code->status == DeviceStatus::Pending) {
        switch (m_store.pollDeviceCode(codeHash, now, DeviceRoute::SlowDownSeconds)) {
        case Store::PollResult::Failed:
            return serverError(m_store);
        case Store::PollResult::SlowDown:
            return oauthError(QStringLiteral("slow_down"),
                              QStringLiteral("polling faster than the interval; it grows by %1 s")
                                      .arg(DeviceRoute::SlowDownSeconds));
        case Store::PollResult::Pending:
            break;
        }
        return oauthError(QStringLiteral("authorization_pending"),
                          QStringLiteral("the user has not answered yet"));
    }
    // Approved: the one exchange that flips it to spent issues the tokens.
    if (!m_store.spendDeviceCode(codeHash))
        return m_store.failed() ? serverError(m_store)
                                : invalidGrant("the device code was already used");
    const Store::User user{code->userId, code->username, {}};
    const TokenService::OAuthGrant grant{clientId, code->scope, {}, code->authTime};
    const TokenService::Result result = m_tokens.startFamily(user, &grant, dpopJkt);
    if (result.outcome != TokenService::Outcome::Ok)
        return serverError(m_store);
    qCInfo(lcServerAuth) << "device code exchanged by client" << clientId << "for user id"
                         << code->userId;
    return tokenResponse(result);
}

QHttpServerResponse OAuthTokenRoute::authorizationCodeGrant(const FormParameters &parameters,
                                                            const QString &clientId,
                                                            const QString &dpopJkt)
{
    const QString code = parameters.value(QStringLiteral("code"));
    const QString redirectUri = parameters.value(QStringLiteral("redirect_uri"));
    const QString verifier = parameters.value(QStringLiteral("code_verifier"));
    if (code.isEmpty() || redirectUri.isEmpty() || verifier.isEmpty())
        return oauthError(QStringLiteral("invalid_request"),
                          QStringLiteral("code, redirect_uri and code_verifier are required"));
    if (!isVerifier(verifier))
        return oauthError(QStringLiteral("invalid_request"),
                          QStringLiteral("code_verifier is not 43 to 128 unreserved characters"));
    const qint64 now = TokenService::nowMs();
    Store::AuthorizationCode grant;
    const QByteArray codeHash = Jose::sha256(code.toUtf8());
    const auto invalidGrant = [](const char *why) {
        return oauthError(QStringLiteral("invalid_grant"), QString::fromLatin1(why));
    };
    switch (m_store.redeemAuthorizationCode(codeHash, now, &grant)) {
    case Store::RedeemResult::Failed:
        return serverError(m_store);
    case Store::RedeemResult::Missing:
        return invalidGrant("unknown or expired code");
    case Store::RedeemResult::AlreadyUsed:
        // RFC 6749 §4.1.2: a code used twice revokes what it was exchanged for. No family
        // yet: the first exchange is still running (another instance); the mark makes it
        // revoke its own family when it records it.
        if (grant.familyId.isEmpty()) {
            const auto recorded = m_store.markAuthorizationCodeReplayed(codeHash);
            if (!recorded)
                return serverError(m_store);
            grant.familyId = *recorded;
        }
        if (!grant.familyId.isEmpty() && grant.familyId != Store::ReplayedCodeMark) {
            if (!m_tokens.revokeFamilyById(grant.familyId, QStringLiteral("code replay")))
                return serverError(m_store);
            qCWarning(lcServerAuth)
                    << "authorization code replayed: family" << grant.familyId << "revoked";
        }
        return invalidGrant("the code was already used");
    case Store::RedeemResult::Redeemed:
        break;
    }
    // The code is spent whatever follows: a wrong verifier or client does not leave it for
    // another try.
    if (now >= grant.expiresAt)
        return invalidGrant("the code has expired");
    if (grant.clientId != clientId)
        return invalidGrant("the code was issued to another client");
    // RFC 6749 §4.1.3: the same redirect_uri as in the authorization request, exactly.
    if (grant.redirectUri != redirectUri)
        return invalidGrant("redirect_uri differs from the authorization request's");
    const QByteArray challenge = Jose::base64UrlEncode(Jose::sha256(verifier.toLatin1()));
    if (!Jose::constantTimeEquals(challenge, grant.codeChallenge.toLatin1()))
        return invalidGrant("code_verifier does not match the code_challenge");
    // RFC 9449 section 10: a code requested with dpop_jkt is redeemed only with that key.
    if (!grant.dpopJkt.isEmpty()
        && !Jose::constantTimeEquals(grant.dpopJkt.toLatin1(), dpopJkt.toLatin1()))
        return m_dpop.tokenRefusal(
                {Jose::Dpop::Error::WrongKey,
                 QStringLiteral("the code was requested for another DPoP key (dpop_jkt)"),
                 {}});

    const Store::User user{grant.userId, grant.username, {}};
    const TokenService::OAuthGrant oauthGrant{clientId, grant.scope, grant.nonce, grant.authTime};
    const TokenService::Result result = m_tokens.startFamily(user, &oauthGrant, dpopJkt);
    if (result.outcome != TokenService::Outcome::Ok)
        return serverError(m_store);
    if (!m_store.setAuthorizationCodeFamily(codeHash, result.familyId)) {
        // A replay came in meanwhile (or the write failed): nothing of this exchange lives on.
        const bool failed = m_store.failed();
        if (!m_tokens.revokeFamilyById(result.familyId, QStringLiteral("code replay")) || failed)
            return serverError(m_store);
        qCWarning(lcServerAuth) << "authorization code replayed during its exchange: family"
                                << result.familyId << "revoked";
        return invalidGrant("the code was already used");
    }
    return tokenResponse(result);
}

QHttpServerResponse OAuthTokenRoute::refreshTokenGrant(const FormParameters &parameters,
                                                       const QString &clientId,
                                                       const QHttpServerRequest &request,
                                                       const QString &dpopJkt)
{
    const QString refreshToken = parameters.value(QStringLiteral("refresh_token"));
    if (refreshToken.isEmpty())
        return oauthError(QStringLiteral("invalid_request"),
                          QStringLiteral("refresh_token is required"));
    const QString address = ClientAddressResolver::displayAddress(m_clients.clientAddress(
            request.remoteAddress(), headerValues(request, "x-forwarded-for")));
    const TokenService::Result result =
            m_tokens.refresh(refreshToken.toUtf8(), address, &clientId, dpopJkt);
    switch (result.outcome) {
    case TokenService::Outcome::Ok:
        break;
    case TokenService::Outcome::WrongDpopKey:
        return m_dpop.wrongKeyRefusal();
    case TokenService::Outcome::Internal:
        return serverError(m_store);
    case TokenService::Outcome::Invalid:
    case TokenService::Outcome::Reused:
        return oauthError(QStringLiteral("invalid_grant"),
                          QStringLiteral("the refresh token is invalid, expired or revoked"));
    }
    // A narrower scope may be asked for (RFC 6749 §6); the family keeps its grant, so the
    // request may only name scopes it has.
    const QStringList granted = result.scope.split(u' ', Qt::SkipEmptyParts);
    for (const QString &asked :
         parameters.value(QStringLiteral("scope")).split(u' ', Qt::SkipEmptyParts)) {
        if (!granted.contains(asked))
            return oauthError(QStringLiteral("invalid_scope"),
                              QStringLiteral("scope beyond the original grant"));
    }
    return tokenResponse(result);
}

QHttpServerResponse OAuthTokenRoute::proofRefusal(const DpopCheck::Proof &proof) const
{
    if (!proof.databaseUnavailable)
        return m_dpop.tokenRefusal(proof);
    QHttpServerResponse response = oauthStorageError(true);
    m_dpop.addNonce(response);
    return response;
}

QHttpServerResponse OAuthTokenRoute::tokenResponse(const TokenService::Result &result) const
{
    // Written directly rather than through a QJsonObject: every refresh grant answers with it,
    // and building and serializing the object cost more than the rest of the answer
    // (callgrind, docs/BENCHMARKS.md "OAuth").
    QByteArray body;
    body.reserve(result.tokens.access.size() + result.tokens.refresh.size() + result.idToken.size()
                 + result.scope.size() + 128);
    body += "{\"access_token\":";
    appendJsonString(body, result.tokens.access);
    body += result.dpopJkt.isEmpty() ? QByteArrayView(",\"token_type\":\"Bearer\",\"expires_in\":")
                                     : QByteArrayView(",\"token_type\":\"DPoP\",\"expires_in\":");
    body += QByteArray::number(m_config.accessTtl);
    body += ",\"refresh_token\":";
    appendJsonString(body, result.tokens.refresh);
    if (!result.scope.isEmpty()) {
        body += ",\"scope\":";
        appendJsonString(body, result.scope.toUtf8());
    }
    if (!result.idToken.isEmpty()) {
        body += ",\"id_token\":";
        appendJsonString(body, result.idToken);
    }
    body += '}';
    // Cache-Control: no-store and Pragma: no-cache (RFC 6749 §5.1) come with every JSON answer.
    return serializedJsonResponse(std::move(body));
}

QHttpServerResponse OAuthTokenRoute::revoke(const QHttpServerRequest &request)
{
    auto form = formOf(request);
    if (auto *error = std::get_if<QHttpServerResponse>(&form))
        return std::move(*error);
    const FormParameters parameters = std::get<FormParameters>(form);
    const QString clientId = parameters.value(QStringLiteral("client_id"));
    if (clientId.isEmpty())
        return invalidClient(QStringLiteral("client_id is required"));
    if (!clientIdProblem(clientId).isEmpty() || !m_store.hasClient(clientId))
        return m_store.failed() ? serverError(m_store)
                                : invalidClient(QStringLiteral("unknown client"));
    const QString token = parameters.value(QStringLiteral("token"));
    if (token.isEmpty())
        return oauthError(QStringLiteral("invalid_request"), QStringLiteral("token is required"));
    const DpopCheck::Proof proof = m_dpop.presentedProof(request);
    if (!proof.ok())
        return proofRefusal(proof);
    // token_type_hint is optional and only a hint (RFC 7009 §2.1): both kinds are tried.
    // A token of another client, or a DPoP-bound one without a proof of its key, is answered
    // like an unknown one and left alone: a public client's id proves nothing, an error would
    // tell a finder whose token it holds, and a thief must not sign its user out.
    if (m_tokens.revokeForClient(token.toUtf8(), clientId, proof.jkt)
        == TokenService::Outcome::Internal)
        return serverError(m_store);
    QHttpServerResponse response = jsonResponse({});
    m_dpop.addNonce(response);
    return response;
}

void OAuthTokenRoute::userinfo(const QHttpServerRequest &request, QHttpServerResponder &&responder)
{
    m_dpop.authorizeDeferred(
            request, m_tokens, std::move(responder),
            [this](const DpopCheck::Access &access) { return userinfoResponse(access); });
}

QHttpServerResponse OAuthTokenRoute::userinfoResponse(const DpopCheck::Access &access) const
{
    if (access.failure == DpopCheck::Access::Failure::Internal)
        return serverError(m_store);
    if (access.failure != DpopCheck::Access::Failure::None) {
        // RFC 6750 section 3.1: a request without credentials gets no error code.
        return m_dpop.accessRefusal(
                access, [](Status status, const QString &error, const QString &description) {
                    return error == u"not_authenticated" ? jsonResponse({}, status)
                                                         : oauthError(error, description, status);
                });
    }
    const TokenService::AccessCheck &check = access.check;
    const QJsonObject subject = QJsonDocument::fromJson(check.subjectJson).object();
    const QString username = subject.value(QStringLiteral("username")).toString();
    QHttpServerResponse response = jsonResponse(
            {{QStringLiteral("sub"), username}, {QStringLiteral("preferred_username"), username}});
    m_dpop.addNonce(response);
    return response;
}

} // namespace Tessera::Server
