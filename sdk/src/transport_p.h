// SPDX-License-Identifier: MIT
// Private: the transport policy every request of the SDK goes through:
// https except for loopback, TLS errors never ignored, optional SPKI pins,
// no cookies, no redirects, idle and total timeouts, response size limit.
#pragma once

#include <tessera/error.h>
#include <tessera/sessionconfig.h>

#include <QtCore/QByteArray>
#include <QtCore/QDateTime>
#include <QtCore/QElapsedTimer>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QNetworkRequest>

#include <functional>

QT_BEGIN_NAMESPACE
class QNetworkAccessManager;
QT_END_NAMESPACE

namespace Tessera::Transport {

// Applies the policy to a request bound for the configured server.
void prepareRequest(QNetworkRequest &request, const SessionConfig &config);

// Watches a reply: checks pins on `encrypted`, enforces timeouts and, when
// maxResponseBytes > 0, the response size. Violations abort the reply and are
// reported by replyError().
void watchReply(QNetworkReply *reply, const SessionConfig &config, qint64 maxResponseBytes);

// A GET of a document (a provider's metadata, its key set) under the policy: prepared, asking
// for the `accept` media types, and watched with the maxResponseBytes cap.
QNetworkReply *getDocument(QNetworkAccessManager &network, const QUrl &url,
                           const SessionConfig &config, const QByteArray &accept,
                           qint64 maxResponseBytes);

// The pin check of watchReply() alone (nothing when no pins are configured), for a reply
// whose timeouts an ExchangeDeadline on another object enforces.
void checkPins(QNetworkReply *reply, const SessionConfig &config);

// The idle timeout (no bytes either way for `idle`) and the total deadline (twice that, so a
// server trickling a byte a second cannot hold a request) of one exchange, run on a timer of
// a host object: watchReply()'s watcher, or the
// authenticated reply that wraps the exchange (no object of its own per request). Activity
// only notes the time; the timer works out on firing which limit passed, or re-arms for the
// nearer one (re-arming a timer on every progress signal showed in profiles).
class ExchangeDeadline
{
public:
    void start(QObject *host, std::chrono::milliseconds idle);
    void stop(QObject *host);
    void noteActivity() { m_lastActivityMs = m_clock.elapsed(); }
    // For the host's timerEvent(): false when `timerId` is not this deadline's. When a limit
    // has passed, aborts `reply` (if still running) as timed out: replyError() says so.
    bool onTimer(QObject *host, int timerId, QNetworkReply *reply);

private:
    QElapsedTimer m_clock;
    qint64 m_idleMs = 0;
    qint64 m_lastActivityMs = 0;
    int m_timerId = 0;
};

// The transport-level error of a finished reply (NoError when an HTTP status
// arrived; HTTP statuses are the caller's to interpret).
Error replyError(QNetworkReply *reply);

// The part of a failed reply's error that no dialect words differently: the transport's error,
// or for 429 (RateLimited, with the Retry-After delay) and 5xx (ServerError) statuses an error
// whose message starts with `what` and whose server code is `serverCode`. NoError for any
// other status, which the caller describes in its own terms.
Error transportOrServerError(QNetworkReply *reply, const QString &what,
                             const QString &serverCode = {});

// The server's clock from the Date header, when present and parseable.
std::optional<QDateTime> serverDate(QNetworkReply *reply);

// Lowercase base64 SHA-256 digests of the SPKI of every certificate in the chain.
QList<QByteArray> spkiHashes(const QList<QSslCertificate> &chain);

// The reply's media type: Content-Type without its parameters, trimmed, in lower case
// ("application/json" for "Application/JSON; charset=utf-8"); empty without the header.
QByteArray mediaTypeOf(QNetworkReply *reply);

// A URL as error messages and logs may show it: no user info, query or fragment (they can carry
// codes, state or credentials).
QString shownUrl(const QUrl &url);

} // namespace Tessera::Transport
