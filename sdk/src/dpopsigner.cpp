// SPDX-License-Identifier: MIT
#include "dpopsigner_p.h"

#include "accesstiming_p.h"
#include "logging_p.h"
#include "tokenendpoint_p.h"

#include <tessera/strictjson.h>

#include <QtCore/QJsonObject>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QNetworkRequest>

namespace Tessera {
namespace {

constexpr QByteArrayView PemHeader = "-----BEGIN PRIVATE KEY-----";
constexpr QByteArrayView PemFooter = "-----END PRIVATE KEY-----";
// A nonce is opaque, but it ends up in every proof: a server's megabyte is not taken.
constexpr qsizetype MaxNonceSize = 1024;

// RFC 9449 section 8.1: nonce = 1*NQCHAR (printable ASCII but '"' and '\').
bool isNonce(QByteArrayView value)
{
    if (value.isEmpty() || value.size() > MaxNonceSize)
        return false;
    for (const char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x21 || u > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

bool isTokenChar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
            || QByteArrayView("!#$%&'*+-.^_`|~").contains(c);
}

// RFC 9110 section 11.6.1: WWW-Authenticate = #challenge, challenge = auth-scheme
// [ 1*SP ( token68 / #auth-param ) ], auth-param = token BWS "=" BWS ( token / quoted-string ).
// Whether one challenge has the scheme DPoP and the parameter error=use_dpop_nonce.
bool hasDpopNonceChallenge(QByteArrayView header)
{
    qsizetype i = 0;
    const qsizetype n = header.size();
    bool inDpop = false;
    auto skipSpace = [&] {
        while (i < n && (header[i] == ' ' || header[i] == '\t' || header[i] == ','))
            ++i;
    };
    while (true) {
        skipSpace();
        if (i >= n)
            return false;
        const qsizetype start = i;
        while (i < n && isTokenChar(header[i]))
            ++i;
        if (i == start)
            return false; // not a token: give up rather than guess
        const QByteArrayView token = header.sliced(start, i - start);
        qsizetype j = i;
        while (j < n && (header[j] == ' ' || header[j] == '\t'))
            ++j;
        if (j < n && header[j] == '=') {
            // A parameter of the current challenge.
            i = j + 1;
            while (i < n && (header[i] == ' ' || header[i] == '\t'))
                ++i;
            QByteArray value;
            if (i < n && header[i] == '"') {
                ++i;
                while (i < n && header[i] != '"') {
                    if (header[i] == '\\' && i + 1 < n)
                        ++i;
                    value += header[i++];
                }
                if (i >= n)
                    return false; // unterminated
                ++i;
            } else {
                const qsizetype valueStart = i;
                while (i < n && (isTokenChar(header[i]) || header[i] == '/'))
                    ++i;
                value = header.sliced(valueStart, i - valueStart).toByteArray();
            }
            if (inDpop && token.compare("error", Qt::CaseInsensitive) == 0
                && value == "use_dpop_nonce")
                return true;
        } else {
            // A new challenge's scheme (a token68 after it is skipped as a parameterless token).
            inDpop = token.compare("DPoP", Qt::CaseInsensitive) == 0;
        }
    }
}

} // namespace

DpopSigner::DpopSigner(std::function<qint64()> skewMs)
    : m_skewMs(std::move(skewMs))
{ }

bool DpopSigner::isEnabled(SessionConfig::DpopPolicy policy, const QStringList &advertisedAlgs)
{
    switch (policy) {
    case SessionConfig::DpopPolicy::Off:
        return false;
    case SessionConfig::DpopPolicy::Required:
        return true;
    case SessionConfig::DpopPolicy::IfSupported:
        return advertisedAlgs.contains(QStringLiteral("ES256"));
    }
    return false;
}

const Jose::Key &DpopSigner::ensureKey()
{
    if (m_key.isNull()) {
        m_key = Jose::Key::generate(Jose::Algorithm::ES256);
        qCInfo(lcSession) << "generated a DPoP key";
    }
    return m_key;
}

void DpopSigner::reset()
{
    m_key = Jose::Key();
    m_nonces.clear();
}

QString DpopSigner::thumbprint() const
{
    return m_key.isNull() ? QString() : m_key.thumbprint();
}

Secret DpopSigner::exportKey() const
{
    if (m_key.isNull())
        return {};
    const Secret pem = m_key.privateKeyPem();
    QByteArray base64;
    const QByteArrayView text = pem.reveal();
    qsizetype start = 0;
    while (start < text.size()) {
        qsizetype end = text.indexOf('\n', start);
        if (end < 0)
            end = text.size();
        const QByteArrayView line = text.sliced(start, end - start).trimmed();
        if (!line.isEmpty() && !line.startsWith("-----"))
            base64.append(line);
        start = end + 1;
    }
    QByteArray der = QByteArray::fromBase64(base64);
    secureWipe(base64);
    Secret result(der);
    secureWipe(der);
    return result;
}

Jose::Key DpopSigner::importKey(const Secret &der)
{
    if (der.isEmpty() || der.size() > 4096)
        return {};
    QByteArray base64 = QByteArray(der.reveal().data(), der.size()).toBase64();
    QByteArray pem;
    pem.reserve(base64.size() + 80);
    pem.append(PemHeader.data(), PemHeader.size()).append('\n');
    for (qsizetype i = 0; i < base64.size(); i += 64)
        pem.append(base64.mid(i, 64)).append('\n');
    pem.append(PemFooter.data(), PemFooter.size()).append('\n');
    secureWipe(base64);
    Jose::Key key = Jose::Key::fromPrivateKeyPem(Secret(pem), Jose::Algorithm::ES256);
    secureWipe(pem);
    return key;
}

qint64 DpopSigner::issuedAt() const
{
    const qint64 skew = m_skewMs ? m_skewMs() : 0;
    return (nowMs() + skew) / 1000;
}

QByteArray DpopSigner::proof(QByteArrayView method, const QUrl &url,
                             std::optional<QByteArrayView> accessToken) const
{
    if (m_key.isNull())
        return {};
    Jose::Dpop::ProofOptions options;
    options.accessToken = accessToken;
    options.nonce = nonceFor(
            url, accessToken ? NonceScope::ResourceServer : NonceScope::AuthorizationServer);
    QString problem;
    QByteArray proof = Jose::Dpop::createProof(m_key, method, url, issuedAt(), options, &problem);
    if (proof.isEmpty())
        qCWarning(lcNetwork) << "no DPoP proof for a request:" << problem;
    return proof;
}

bool DpopSigner::sign(QNetworkRequest &request, QByteArrayView method,
                      std::optional<QByteArrayView> accessToken) const
{
    const QByteArray value = proof(method, request.url(), accessToken);
    if (value.isEmpty())
        return false;
    request.setRawHeader(QByteArrayLiteral("DPoP"), value);
    return true;
}

namespace {
QString nonceKey(const QUrl &url, DpopSigner::NonceScope scope)
{
    const QString origin = originOf(url);
    if (origin.isEmpty())
        return {};
    return (scope == DpopSigner::NonceScope::ResourceServer ? QStringLiteral("rs ")
                                                            : QStringLiteral("as "))
            + origin;
}
} // namespace

bool DpopSigner::rememberNonce(QNetworkReply *reply, NonceScope scope)
{
    const QByteArray value = reply->rawHeader(QByteArrayLiteral("DPoP-Nonce")).trimmed();
    if (value.isEmpty())
        return false;
    if (!isNonce(value)) {
        qCWarning(lcNetwork) << "ignored a DPoP-Nonce that is not 1*NQCHAR (or too long)";
        return false;
    }
    const QString key = nonceKey(reply->url(), scope);
    if (key.isEmpty())
        return false;
    m_nonces.insert(key, QString::fromLatin1(value));
    return true;
}

QString DpopSigner::nonceFor(const QUrl &url, NonceScope scope) const
{
    const QString key = nonceKey(url, scope);
    return key.isEmpty() ? QString() : m_nonces.value(key);
}

bool DpopSigner::isTokenEndpointNonceChallenge(QNetworkReply *reply)
{
    if (reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt() != 400)
        return false;
    const std::optional<QJsonObject> body = Jose::parseJsonObject(reply->peek(64 * 1024), nullptr);
    return body && body->value(QStringLiteral("error")).toString() == u"use_dpop_nonce";
}

bool DpopSigner::isResourceNonceChallenge(QNetworkReply *reply)
{
    if (reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt() != 401)
        return false;
    // Several WWW-Authenticate fields are one list (RFC 9110 section 5.3); Qt joins them.
    return hasDpopNonceChallenge(reply->rawHeader(QByteArrayLiteral("WWW-Authenticate")));
}

void DpopSigner::checkBinding(TokenOutcome &outcome, bool proofSent, bool required,
                              const QString &what)
{
    if (outcome.kind != TokenOutcome::Kind::Issued)
        return;
    if (outcome.tokens.dpopBound && !proofSent)
        outcome = TokenOutcome::failed(
                {Error::Code::ServerError,
                 QStringLiteral("%1: unusable token response (a DPoP-bound token although no "
                                "proof was sent: DPoP is off for this session)")
                         .arg(what)});
    else if (!outcome.tokens.dpopBound && required)
        outcome = TokenOutcome::failed(
                {Error::Code::DpopNotBound,
                 QStringLiteral("%1: DPoP is required, but the server issued a token that is not "
                                "bound to the key (token_type is not DPoP)")
                         .arg(what)});
}

Error DpopSigner::missingKeyError()
{
    return {Error::Code::SessionRejected,
            QStringLiteral("the session's DPoP key is missing from secure storage or unreadable; "
                           "its refresh token is useless without it: sign in again")};
}

QByteArray DpopSigner::methodOf(int operation, const QNetworkRequest &request)
{
    switch (QNetworkAccessManager::Operation(operation)) {
    case QNetworkAccessManager::HeadOperation:
        return QByteArrayLiteral("HEAD");
    case QNetworkAccessManager::GetOperation:
        return QByteArrayLiteral("GET");
    case QNetworkAccessManager::PutOperation:
        return QByteArrayLiteral("PUT");
    case QNetworkAccessManager::PostOperation:
        return QByteArrayLiteral("POST");
    case QNetworkAccessManager::DeleteOperation:
        return QByteArrayLiteral("DELETE");
    case QNetworkAccessManager::CustomOperation:
        return request.attribute(QNetworkRequest::CustomVerbAttribute).toByteArray();
    default:
        return {};
    }
}

} // namespace Tessera
