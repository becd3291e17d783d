// SPDX-License-Identifier: MIT
#include "tokenrequest_p.h"

#include "dpopsigner_p.h"
#include "logging_p.h"
#include "tokenresponse_p.h"
#include "transport_p.h"

#include <tessera/secret.h>
#include <tessera/sessionconfig.h>

#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QNetworkRequest>

namespace Tessera {

namespace {

void send(QNetworkAccessManager &network, const SessionConfig &config, QObject *context,
          DpopSigner *dpop, const QUrl &url, const TokenRequest &request, bool mayRetryForNonce,
          std::function<void(QNetworkReply *)> onFinished)
{
    QNetworkRequest head(url);
    Transport::prepareRequest(head, config);
    head.setHeader(QNetworkRequest::ContentTypeHeader, request.contentType);
    head.setRawHeader("Accept", "application/json");
    const bool proof = dpop && request.proof;
    if (proof)
        dpop->sign(head, "POST");
    QNetworkReply *reply = network.post(head, *request.payload);
    Transport::watchReply(reply, config, MaxTokenResponseBytes);
    QObject::connect(reply, &QNetworkReply::finished, context,
                     [&network, &config, context, dpop, url, request, reply, proof,
                      mayRetryForNonce, onFinished = std::move(onFinished)]() mutable {
                         reply->deleteLater();
                         const bool answered = !Transport::replyError(reply).isError();
                         if (dpop && answered)
                             dpop->rememberNonce(reply,
                                                 DpopSigner::NonceScope::AuthorizationServer);
                         if (proof && mayRetryForNonce && answered
                             && DpopSigner::isTokenEndpointNonceChallenge(reply)
                             && !dpop->nonceFor(url, DpopSigner::NonceScope::AuthorizationServer)
                                         .isEmpty()) {
                             qCInfo(lcNetwork) << "the server asks for a DPoP nonce; retrying once";
                             return send(network, config, context, dpop, url, request, false,
                                         std::move(onFinished));
                         }
                         // Best effort: drop our copy of a body that holds a secret.
                         secureWipe(*request.payload);
                         onFinished(reply);
                     });
}

} // namespace

void postTokenRequest(QNetworkAccessManager &network, const SessionConfig &config, QObject *context,
                      DpopSigner *dpop, const QUrl &url, const TokenRequest &request,
                      std::function<void(QNetworkReply *)> onFinished)
{
    send(network, config, context, dpop, url, request, true, std::move(onFinished));
}

} // namespace Tessera
