// SPDX-License-Identifier: MIT
// Private: how both dialects' token endpoints (SimpleJWT, OAuth) put a request on the wire.
// Never installed.
#pragma once

#include <QtCore/QByteArray>

#include <functional>
#include <memory>

QT_BEGIN_NAMESPACE
class QNetworkAccessManager;
class QNetworkReply;
class QObject;
class QUrl;
QT_END_NAMESPACE

namespace Tessera {

class DpopSigner;
class SessionConfig;

struct TokenRequest
{
    QByteArray contentType;
    // Kept for a nonce retry; wiped once the exchange is over (it holds a password, code,
    // verifier or token).
    std::shared_ptr<QByteArray> payload;
    // Sign the request with `dpop` (which may be set without signing: nonces are still noted).
    bool proof = false;
};

// POSTs `request` to `url` under the transport policy of `config`, with a fresh DPoP proof per
// attempt when asked, and calls `onFinished` (in `context`) with the finished reply, which is
// deleted afterwards. DPoP-Nonce answers are remembered for the authorization server; a
// "use_dpop_nonce" refusal (RFC 9449 §8) is retried once with a proof carrying the new nonce,
// never more.
void postTokenRequest(QNetworkAccessManager &network, const SessionConfig &config, QObject *context,
                      DpopSigner *dpop, const QUrl &url, const TokenRequest &request,
                      std::function<void(QNetworkReply *)> onFinished);

} // namespace Tessera
