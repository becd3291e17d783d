// SPDX-License-Identifier: MIT
// Private: what an authenticated request asks of the session, and all it may ask. Never
// installed.
#pragma once

#include <tessera/error.h>
#include <tessera/secret.h>

#include <QtCore/QByteArrayView>
#include <QtCore/QObject>

#include <functional>

QT_BEGIN_NAMESPACE
class QNetworkReply;
class QNetworkRequest;
QT_END_NAMESPACE

namespace Tessera {

class SessionConfig;

// Hands out access tokens to requests (AuthenticatedReply) and puts them on the wire.
// Implemented by the session's private side; a QObject so that a request can tell when
// the session is gone (QPointer).
class TokenProvider : public QObject
{
    Q_OBJECT
public:
    // Called with the token (valid only during the call) or, when none can be
    // had, with a null pointer and the reason.
    using TokenCallback = std::function<void(const Secret *token, const Error &error)>;

    using QObject::QObject;
    ~TokenProvider() override = default;

    // The transport policy of requests to the server (timeouts, pins, CAs).
    virtual const SessionConfig &config() const = 0;
    // The token withFreshToken() would hand out at once, valid until control returns to
    // the event loop; null when there is none without waiting (or an error to report).
    // What a request asks first: no callback to allocate.
    virtual const Secret *tokenAtHand() = 0;
    // Single flight: a fresh token now, or after the one refresh every caller waits on.
    virtual void withFreshToken(TokenCallback callback) = 0;
    // `rejected`, a request authorize() prepared, was answered 401: refresh once unless a
    // newer token than the one it carried already exists, then hand that out.
    virtual void tokenRejected(const QNetworkRequest &rejected, TokenCallback callback) = 0;
    // Puts `token` on a request to the server, sent with `method`: the transport policy and
    // `Authorization: Bearer`, or for a DPoP-bound token `Authorization: DPoP` and a fresh
    // proof (htm, htu, ath, the origin's nonce). Called again for every attempt.
    virtual void authorize(QNetworkRequest &request, const Secret &token,
                           QByteArrayView method) const = 0;
    // Every answer to a request authorize() prepared: keeps its DPoP-Nonce, and says whether it
    // is a resource server's use_dpop_nonce challenge (RFC 9449 §9: 401 with
    // WWW-Authenticate: DPoP error="use_dpop_nonce"), to be retried once with the same token
    // and a new proof; such a 401 says nothing about the token, so it is no reason to refresh.
    virtual bool isNonceChallenge(QNetworkReply *answer) = 0;
};

} // namespace Tessera
