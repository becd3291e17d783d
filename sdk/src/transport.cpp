// SPDX-License-Identifier: MIT
#include "transport_p.h"

#include "logging_p.h"

#include <tessera/jose.h>

#include <QtCore/QPointer>
#include <QtCore/QTimer>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslKey>

namespace Tessera::Transport {
namespace {

const char PinMismatchProperty[] = "_tessera_pin_mismatch";
const char TimeoutProperty[] = "_tessera_timeout";
const char TooLargeProperty[] = "_tessera_too_large";

} // namespace

void prepareRequest(QNetworkRequest &request, const SessionConfig &config)
{
    // Never follow a redirect: it could carry the Authorization header elsewhere.
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::ManualRedirectPolicy);
    // No cookies either way: bearer tokens only, so there is nothing to forge (CSRF).
    request.setAttribute(QNetworkRequest::CookieLoadControlAttribute, QNetworkRequest::Manual);
    request.setAttribute(QNetworkRequest::CookieSaveControlAttribute, QNetworkRequest::Manual);
    request.setAttribute(QNetworkRequest::CacheLoadControlAttribute,
                         QNetworkRequest::AlwaysNetwork);
    request.setAttribute(QNetworkRequest::CacheSaveControlAttribute, false);
    if (!config.caCertificates().isEmpty() && request.url().scheme() == u"https") {
        QSslConfiguration tls = request.sslConfiguration();
        QList<QSslCertificate> authorities = tls.caCertificates();
        authorities.append(config.caCertificates());
        tls.setCaCertificates(authorities);
        request.setSslConfiguration(tls);
    }
}

QList<QByteArray> spkiHashes(const QList<QSslCertificate> &chain)
{
    QList<QByteArray> hashes;
    for (const QSslCertificate &certificate : chain) {
        // QSslKey::toDer() of a public key is its SubjectPublicKeyInfo.
        const QByteArray spki = certificate.publicKey().toDer();
        if (!spki.isEmpty())
            hashes.append(Jose::sha256(spki).toBase64());
    }
    return hashes;
}

void watchReply(QNetworkReply *reply, const SessionConfig &config, qint64 maxResponseBytes)
{
    const QList<QByteArray> pins = config.spkiPins();
    if (!pins.isEmpty()) {
        QObject::connect(reply, &QNetworkReply::encrypted, reply, [reply, pins] {
            const QList<QByteArray> chain =
                    spkiHashes(reply->sslConfiguration().peerCertificateChain());
            for (const QByteArray &hash : chain) {
                if (pins.contains(hash))
                    return;
            }
            qCWarning(lcNetwork) << "TLS public key pin mismatch for" << reply->url().host()
                                 << "- connection refused";
            reply->setProperty(PinMismatchProperty, true);
            reply->abort();
        });
    }

    // Idle timeout: no bytes either way for requestTimeout. Total deadline:
    // twice that, so a server trickling one byte a second cannot hold us.
    const auto idle = config.requestTimeout();
    auto *idleTimer = new QTimer(reply);
    idleTimer->setSingleShot(true);
    auto expire = [reply](const char *what) {
        qCInfo(lcNetwork) << "request to" << reply->url().path() << what;
        reply->setProperty(TimeoutProperty, true);
        reply->abort();
    };
    QObject::connect(idleTimer, &QTimer::timeout, reply, [expire] { expire("timed out (idle)"); });
    idleTimer->start(idle);
    // A child of the reply, so it dies with it: a QTimer::singleShot with a
    // context object stays registered until it fires, one per request.
    auto *deadline = new QTimer(reply);
    deadline->setSingleShot(true);
    QObject::connect(deadline, &QTimer::timeout, reply, [reply, expire] {
        if (reply->isRunning())
            expire("timed out (deadline)");
    });
    deadline->start(idle * 2);
    QObject::connect(reply, &QNetworkReply::finished, deadline, &QTimer::stop);
    auto progress = [idleTimer, idle] { idleTimer->start(idle); };
    QObject::connect(reply, &QNetworkReply::uploadProgress, idleTimer, progress);
    QObject::connect(reply, &QNetworkReply::downloadProgress, reply,
                     [reply, idleTimer, idle, maxResponseBytes](qint64 received, qint64 total) {
                         idleTimer->start(idle);
                         if (maxResponseBytes > 0
                             && (received > maxResponseBytes || total > maxResponseBytes)) {
                             qCWarning(lcNetwork) << "response from" << reply->url().path()
                                                  << "exceeds" << maxResponseBytes << "bytes";
                             reply->setProperty(TooLargeProperty, true);
                             reply->abort();
                         }
                     });
    QObject::connect(reply, &QNetworkReply::finished, idleTimer, &QTimer::stop);
}

Error replyError(QNetworkReply *reply)
{
    if (reply->property(PinMismatchProperty).toBool())
        return {Error::Code::PinMismatch,
                QStringLiteral("the server's public key matches no configured pin")};
    if (reply->property(TimeoutProperty).toBool())
        return {Error::Code::Timeout, QStringLiteral("the server did not answer in time")};
    if (reply->property(TooLargeProperty).toBool())
        return {Error::Code::ServerError, QStringLiteral("the server's response is too large")};

    const QNetworkReply::NetworkError code = reply->error();
    if (reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).isValid()
        && code != QNetworkReply::RemoteHostClosedError)
        return {}; // an HTTP status arrived: the caller interprets it
    switch (code) {
    case QNetworkReply::NoError:
        return {};
    case QNetworkReply::SslHandshakeFailedError:
        return {Error::Code::TlsError,
                QStringLiteral("TLS handshake with the server failed: %1")
                        .arg(reply->errorString())};
    case QNetworkReply::TimeoutError:
        return {Error::Code::Timeout, QStringLiteral("the connection timed out")};
    case QNetworkReply::OperationCanceledError:
        return {Error::Code::Cancelled, QStringLiteral("the request was cancelled")};
    default:
        break;
    }
    return {Error::Code::NetworkError,
            QStringLiteral("cannot reach the server: %1").arg(reply->errorString())};
}

std::optional<QDateTime> serverDate(QNetworkReply *reply)
{
    const QByteArray header = reply->rawHeader("Date");
    if (header.isEmpty())
        return std::nullopt;
    // Fix (tests/session): an HTTP Date is an IMF-fixdate ending in "GMT" (RFC 9110
    // 5.6.7), which Qt 6.4's RFC 2822 parser rejects, so the header was never used and
    // skew came from `iat` alone (stale in SimpleJWT's refreshed access tokens). "GMT"
    // is +0000.
    QString text = QString::fromLatin1(header).trimmed();
    if (text.endsWith(QLatin1String(" GMT")))
        text = text.chopped(4) + QLatin1String(" +0000");
    QDateTime date = QDateTime::fromString(text, Qt::RFC2822Date);
    if (!date.isValid())
        return std::nullopt;
    return date;
}

} // namespace Tessera::Transport
