// SPDX-License-Identifier: MIT
// Private: the transport policy every request of the SDK goes through:
// https except for loopback, TLS errors never ignored, optional SPKI pins,
// no cookies, no redirects, idle and total timeouts, response size limit.
#pragma once

#include <tessera/error.h>
#include <tessera/sessionconfig.h>

#include <QtCore/QByteArray>
#include <QtCore/QDateTime>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QNetworkRequest>

#include <functional>

namespace Tessera::Transport {

// Applies the policy to a request bound for the configured server.
void prepareRequest(QNetworkRequest &request, const SessionConfig &config);

// Watches a reply: checks pins on `encrypted`, enforces timeouts and, when
// maxResponseBytes > 0, the response size. Violations abort the reply and are
// reported by replyError().
void watchReply(QNetworkReply *reply, const SessionConfig &config, qint64 maxResponseBytes);

// The transport-level error of a finished reply (NoError when an HTTP status
// arrived; HTTP statuses are the caller's to interpret).
Error replyError(QNetworkReply *reply);

// The server's clock from the Date header, when present and parseable.
std::optional<QDateTime> serverDate(QNetworkReply *reply);

// Lowercase base64 SHA-256 digests of the SPKI of every certificate in the chain.
QList<QByteArray> spkiHashes(const QList<QSslCertificate> &chain);

} // namespace Tessera::Transport
