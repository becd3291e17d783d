// SPDX-License-Identifier: MIT
#include "authenticatedreply_p.h"

#include "dpopsigner_p.h"
#include "logging_p.h"
#include "transport_p.h"

#include <QtCore/QBuffer>
#include <QtCore/QTimerEvent>

namespace Tessera {

AuthenticatedReply::AuthenticatedReply(QNetworkAccessManager *manager, Send send,
                                       TokenProvider *tokens,
                                       QNetworkAccessManager::Operation operation,
                                       const QNetworkRequest &request, QByteArray body,
                                       bool hasBody)
    : BufferedReply(manager, operation, request)
    , m_manager(manager)
    , m_send(std::move(send))
    , m_tokens(tokens)
    , m_original(request)
    , m_body(std::move(body))
    , m_hasBody(hasBody)
    , m_method(DpopSigner::methodOf(operation, request))
{
    // With a token at hand the request goes out now: the inner reply signals only
    // from the event loop, so the caller still connects to us in time. This saves
    // a queued call per request. Failures found now are reported from the event
    // loop (see failWith).
    m_constructing = true;
    requestToken();
    m_constructing = false;
}

AuthenticatedReply::~AuthenticatedReply()
{
    // A reply being destroyed emits nothing more; the inner one goes later
    // (~QNetworkAccessManager deletes all its replies from a list it took before).
    dropInner();
}

void AuthenticatedReply::dropInner()
{
    if (QNetworkReply *inner = m_inner) {
        m_inner = nullptr;
        m_deadline.stop(this);
        inner->disconnect(this);
        inner->abort();
        inner->deleteLater();
    }
}

void AuthenticatedReply::requestToken(const QNetworkRequest *rejected)
{
    if (m_aborted)
        return;
    if (!m_tokens)
        return failWith({Error::Code::NotSignedIn, QStringLiteral("the session is gone")});
    if (!rejected) {
        if (const Secret *token = m_tokens->tokenAtHand())
            return send(*token);
    }
    QPointer<AuthenticatedReply> self(this);
    auto callback = [self](const Secret *token, const Error &error) {
        if (!self || self->m_aborted)
            return;
        if (token)
            self->send(*token);
        else
            self->failWith(error);
    };
    if (rejected)
        m_tokens->tokenRejected(*rejected, callback);
    else
        m_tokens->withFreshToken(callback);
}

void AuthenticatedReply::send(const Secret &token)
{
    if (!m_manager || !m_tokens)
        return failWith({Error::Code::Cancelled, QStringLiteral("the network manager is gone")});
    QNetworkRequest request = m_original;
    m_tokens->authorize(request, token, m_method);

    QBuffer *body = nullptr;
    if (m_hasBody) {
        body = new QBuffer(&m_body);
        body->open(QIODevice::ReadOnly);
    }
    m_inner = m_send(operation(), request, body);
    if (body)
        body->setParent(m_inner);
    // watchReply() without an object of its own: the deadline runs on our timer.
    Transport::checkPins(m_inner, m_tokens->config());
    m_deadline.start(this, m_tokens->config().requestTimeout());
    connect(m_inner, &QNetworkReply::downloadProgress, this, [this] { m_deadline.noteActivity(); });
    if (m_hasBody) // nothing to send, relay or wait for otherwise
        connect(m_inner, &QNetworkReply::uploadProgress, this,
                &AuthenticatedReply::onInnerUploadProgress);
    connect(m_inner, &QNetworkReply::finished, this, &AuthenticatedReply::onInnerFinished);
}

void AuthenticatedReply::onInnerUploadProgress(qint64 sent, qint64 total)
{
    m_deadline.noteActivity();
    emit uploadProgress(sent, total);
}

void AuthenticatedReply::timerEvent(QTimerEvent *event)
{
    if (!m_deadline.onTimer(this, event->timerId(), m_inner))
        BufferedReply::timerEvent(event);
}

void AuthenticatedReply::onInnerFinished()
{
    QNetworkReply *inner = m_inner;
    if (!inner || m_aborted)
        return;
    m_inner = nullptr;
    m_deadline.stop(this);
    const int status = inner->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (m_tokens && m_tokens->isNonceChallenge(inner)) {
        // The token is fine; the proof lacked the nonce this answer brought. Once: a server
        // that asks again is answered as it answered.
        if (!m_nonceRetried) {
            inner->deleteLater();
            m_nonceRetried = true;
            qCInfo(lcNetwork) << "DPoP nonce required by" << url().path() << "- retrying once";
            return requestToken();
        }
        return deliverFrom(inner);
    }
    if (status == 401 && !m_retried && m_tokens) {
        // One refresh, one retry; a second 401 is delivered as it is.
        inner->deleteLater();
        m_retried = true;
        qCInfo(lcNetwork) << "401 from" << url().path() << "- refreshing and retrying once";
        const QNetworkRequest rejected = inner->request();
        return requestToken(&rejected);
    }
    deliverFrom(inner);
}

void AuthenticatedReply::failWith(const Error &error)
{
    QNetworkReply::NetworkError code = QNetworkReply::AuthenticationRequiredError;
    switch (error.code()) {
    case Error::Code::NetworkError:
        code = QNetworkReply::UnknownNetworkError;
        break;
    case Error::Code::Timeout:
        code = QNetworkReply::TimeoutError;
        break;
    case Error::Code::TlsError:
    case Error::Code::PinMismatch:
        code = QNetworkReply::SslHandshakeFailedError;
        break;
    case Error::Code::ServerError:
    case Error::Code::RateLimited:
        code = QNetworkReply::UnknownServerError;
        break;
    case Error::Code::Cancelled:
        code = QNetworkReply::OperationCanceledError;
        break;
    default:
        break;
    }
    // While constructing, the caller has not connected to our signals yet.
    if (m_constructing)
        failLater(code, error.message());
    else
        fail(code, error.message());
}

void AuthenticatedReply::abort()
{
    if (isComplete() || m_aborted)
        return;
    m_aborted = true;
    dropInner();
    BufferedReply::abort();
}

} // namespace Tessera
