// SPDX-License-Identifier: MIT
// Private: the reply an AuthenticatedNetworkAccessManager hands out for requests to the
// session's server. It asks the session's token provider for a fresh token, sends the real
// request, and on a 401 has the token refreshed once and retries once. A DPoP nonce challenge
// (401 use_dpop_nonce) is its own case: retried once with the same token and a new proof. It
// enforces the real request's timeouts on its own timer and serves the real reply's body from it:
// no object per request beyond the two replies. Never installed.
#pragma once

#include "bufferedreply_p.h"
#include "tokenprovider_p.h"
#include "transport_p.h"

#include <QtCore/QPointer>

#include <functional>

namespace Tessera {

class AuthenticatedReply : public BufferedReply
{
    Q_OBJECT
public:
    // Sends the real request (the manager's own QNetworkAccessManager::createRequest).
    using Send = std::function<QNetworkReply *(QNetworkAccessManager::Operation,
                                               const QNetworkRequest &, QIODevice *)>;

    // `manager` is the parent and the sender; `body` is sent (again, on a retry) when
    // `hasBody`.
    AuthenticatedReply(QNetworkAccessManager *manager, Send send, TokenProvider *tokens,
                       QNetworkAccessManager::Operation operation, const QNetworkRequest &request,
                       QByteArray body, bool hasBody);
    ~AuthenticatedReply() override;

    void abort() override;

protected:
    void timerEvent(QTimerEvent *event) override;

private:
    // Sends with a token: at once when one is at hand, else when the provider has one.
    // `rejected`: the request that was answered 401, whose token is not to be used again.
    void requestToken(const QNetworkRequest *rejected = nullptr);
    void send(const Secret &token);
    void onInnerFinished();
    void onInnerUploadProgress(qint64 sent, qint64 total);
    void failWith(const Error &error);
    void dropInner();

    QPointer<QNetworkAccessManager> m_manager;
    Send m_send;
    QPointer<TokenProvider> m_tokens;
    QNetworkRequest m_original;
    QByteArray m_body;
    bool m_hasBody = false;
    QPointer<QNetworkReply> m_inner;
    Transport::ExchangeDeadline m_deadline; // of m_inner
    QByteArray m_method;                    // what a DPoP proof names as htm
    bool m_retried = false;
    bool m_nonceRetried = false;
    bool m_aborted = false;
    bool m_constructing = false;
};

} // namespace Tessera
