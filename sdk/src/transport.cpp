// SPDX-License-Identifier: MIT
#include "transport_p.h"

#include "logging_p.h"

#include <tessera/jose.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QTimerEvent>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslKey>

namespace Tessera::Transport {
namespace {

const char PinMismatchProperty[] = "_tessera_pin_mismatch";
const char TimeoutProperty[] = "_tessera_timeout";
const char TooLargeProperty[] = "_tessera_too_large";

// The watcher of one reply: a child of it (so it dies with it) that hosts the reply's
// ExchangeDeadline and checks the response size.
class ReplyWatch : public QObject
{
public:
    ReplyWatch(QNetworkReply *reply, std::chrono::milliseconds idle, qint64 maxResponseBytes)
        : QObject(reply)
        , m_reply(reply)
        , m_maxResponseBytes(maxResponseBytes)
    {
        m_deadline.start(this, idle);
    }

    void noteActivity() { m_deadline.noteActivity(); }

    void onDownloadProgress(qint64 received, qint64 total)
    {
        noteActivity();
        if (m_maxResponseBytes > 0 && !m_reply->property(TooLargeProperty).toBool()
            && (received > m_maxResponseBytes || total > m_maxResponseBytes)) {
            qCWarning(lcNetwork) << "response from" << m_reply->url().path() << "exceeds"
                                 << m_maxResponseBytes << "bytes";
            m_reply->setProperty(TooLargeProperty, true);
            m_reply->abort();
        }
    }

protected:
    void timerEvent(QTimerEvent *event) override
    {
        if (!m_deadline.onTimer(this, event->timerId(), m_reply))
            QObject::timerEvent(event);
    }

private:
    QNetworkReply *m_reply; // our parent
    const qint64 m_maxResponseBytes;
    ExchangeDeadline m_deadline;
};

} // namespace

void prepareRequest(QNetworkRequest &request, const SessionConfig &config)
{
    // Never follow a redirect: it could carry the Authorization header elsewhere.
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::ManualRedirectPolicy);
    // No cookies either way: bearer tokens only, so there is nothing to forge (CSRF).
    request.setAttribute(QNetworkRequest::CookieLoadControlAttribute, QNetworkRequest::Manual);
    request.setAttribute(QNetworkRequest::CookieSaveControlAttribute, QNetworkRequest::Manual);
    // Nothing of an exchange with the server comes from or goes to a local cache. Qt also
    // sends "Cache-Control: no-cache" and "Pragma: no-cache" for AlwaysNetwork, so a shared
    // cache on the way does not answer from a stored response either.
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

void ExchangeDeadline::start(QObject *host, std::chrono::milliseconds idle)
{
    stop(host);
    m_clock.start();
    m_idleMs = idle.count();
    m_lastActivityMs = 0;
    m_timerId = host->startTimer(idle);
}

void ExchangeDeadline::stop(QObject *host)
{
    if (m_timerId)
        host->killTimer(m_timerId);
    m_timerId = 0;
}

bool ExchangeDeadline::onTimer(QObject *host, int timerId, QNetworkReply *reply)
{
    if (timerId != m_timerId || !m_timerId)
        return false;
    stop(host);
    if (!reply || !reply->isRunning())
        return true; // finished: nothing left to enforce
    const qint64 now = m_clock.elapsed();
    const qint64 deadline = 2 * m_idleMs;
    const qint64 idleEnd = m_lastActivityMs + m_idleMs;
    const char *what = now >= deadline ? "timed out (deadline)"
            : now >= idleEnd           ? "timed out (idle)"
                                       : nullptr;
    if (!what) {
        m_timerId = host->startTimer(std::chrono::milliseconds(qMin(idleEnd, deadline) - now));
        return true;
    }
    qCInfo(lcNetwork) << "request to" << reply->url().path() << what;
    reply->setProperty(TimeoutProperty, true);
    reply->abort();
    return true;
}

void checkPins(QNetworkReply *reply, const SessionConfig &config)
{
    const QList<QByteArray> pins = config.spkiPins();
    if (pins.isEmpty())
        return;
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

void watchReply(QNetworkReply *reply, const SessionConfig &config, qint64 maxResponseBytes)
{
    checkPins(reply, config);

    auto *watch = new ReplyWatch(reply, config.requestTimeout(), maxResponseBytes);
    QObject::connect(reply, &QNetworkReply::uploadProgress, watch, &ReplyWatch::noteActivity);
    QObject::connect(reply, &QNetworkReply::downloadProgress, watch,
                     &ReplyWatch::onDownloadProgress);
    if (maxResponseBytes > 0) {
        // The cap is checked on every chunk, the read buffer is bounded, and a declared
        // Content-Length over the cap is refused before any body arrives: a hostile
        // server must not get a large body into memory.
        reply->setReadBufferSize(maxResponseBytes + 1);
        // Qt 6.4 starts a POST from a queued call and only then connects the reply to its
        // network thread, dropping a read buffer size set before. Set again from a call
        // queued behind that start, it reaches the network thread before the request goes
        // out; requestSent is a second chance should the order ever differ.
        const auto limitReadBuffer = [reply, maxResponseBytes] {
            reply->setReadBufferSize(maxResponseBytes + 1);
        };
        QMetaObject::invokeMethod(reply, limitReadBuffer, Qt::QueuedConnection);
        QObject::connect(reply, &QNetworkReply::requestSent, reply, limitReadBuffer);
        // downloadProgress is throttled by Qt (at most every 150 ms: 100+ MB on
        // loopback); readyRead comes with every chunk.
        QObject::connect(reply, &QIODevice::readyRead, watch, [watch, reply] {
            watch->onDownloadProgress(reply->bytesAvailable(), -1);
        });
        QObject::connect(reply, &QNetworkReply::metaDataChanged, watch, [watch, reply] {
            const QVariant length = reply->header(QNetworkRequest::ContentLengthHeader);
            if (length.isValid())
                watch->onDownloadProgress(0, length.toLongLong());
        });
    }
}

QNetworkReply *getDocument(QNetworkAccessManager &network, const QUrl &url,
                           const SessionConfig &config, const QByteArray &accept,
                           qint64 maxResponseBytes)
{
    QNetworkRequest request(url);
    prepareRequest(request, config);
    request.setRawHeader("Accept", accept);
    QNetworkReply *reply = network.get(request);
    watchReply(reply, config, maxResponseBytes);
    return reply;
}

Error replyError(QNetworkReply *reply)
{
    // Looking a property up by name costs a search of the reply's meta-object: only a reply
    // the policy marked has dynamic properties at all.
    if (!reply->dynamicPropertyNames().isEmpty()) {
        if (reply->property(PinMismatchProperty).toBool())
            return {Error::Code::PinMismatch,
                    QStringLiteral("the server's public key matches no configured pin")};
        if (reply->property(TimeoutProperty).toBool())
            return {Error::Code::Timeout, QStringLiteral("the server did not answer in time")};
        if (reply->property(TooLargeProperty).toBool())
            return {Error::Code::ServerError, QStringLiteral("the server's response is too large")};
    }

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

Error transportOrServerError(QNetworkReply *reply, const QString &what, const QString &serverCode)
{
    const Error transport = replyError(reply);
    if (transport.isError())
        return transport;
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (status == 429) {
        const QByteArray retryAfter = reply->rawHeader("Retry-After");
        return {Error::Code::RateLimited,
                QStringLiteral("%1: too many attempts, retry in %2 s")
                        .arg(what,
                             retryAfter.isEmpty() ? QStringLiteral("a few")
                                                  : QString::fromLatin1(retryAfter.left(8))),
                serverCode};
    }
    if (status >= 500)
        return {Error::Code::ServerError,
                QStringLiteral("%1: server error %2").arg(what).arg(status), serverCode};
    return {};
}

std::optional<QDateTime> serverDate(QNetworkReply *reply)
{
    const QByteArray header = reply->rawHeader("Date");
    if (header.isEmpty())
        return std::nullopt;
    // An HTTP Date is an IMF-fixdate ending in "GMT" (RFC 9110 5.6.7), which Qt 6.4's
    // RFC 2822 parser rejects; "GMT" is +0000. (SimpleJWT's refreshed access tokens carry
    // a stale iat, so this header is the reliable server clock.)
    QString text = QString::fromLatin1(header).trimmed();
    if (text.endsWith(QLatin1String(" GMT")))
        text = text.chopped(4) + QLatin1String(" +0000");
    QDateTime date = QDateTime::fromString(text, Qt::RFC2822Date);
    if (!date.isValid())
        return std::nullopt;
    return date;
}

QByteArray mediaTypeOf(QNetworkReply *reply)
{
    const QByteArray type = reply->rawHeader("Content-Type");
    const qsizetype parameters = type.indexOf(';');
    return (parameters < 0 ? type : type.first(parameters)).trimmed().toLower();
}

QString shownUrl(const QUrl &url)
{
    return url.toString(QUrl::RemoveUserInfo | QUrl::RemoveQuery | QUrl::RemoveFragment);
}

} // namespace Tessera::Transport
