// SPDX-License-Identifier: MIT
#include "authenticatedreply_p.h"

#include "logging_p.h"
#include "session_p.h"
#include "transport_p.h"

#include <tessera/authenticatednetworkaccessmanager.h>

#include <QtCore/QBuffer>
#include <QtCore/QTimer>

namespace Tessera {

AuthenticatedReply::AuthenticatedReply(AuthenticatedNetworkAccessManager *manager, Session *session,
                                       QNetworkAccessManager::Operation operation,
                                       const QNetworkRequest &request, QByteArray body,
                                       bool hasBody)
    : QNetworkReply(manager)
    , m_manager(manager)
    , m_session(session)
    , m_original(request)
    , m_body(std::move(body))
    , m_hasBody(hasBody)
{
    setRequest(request);
    setUrl(request.url());
    setOperation(operation);
    open(QIODevice::ReadOnly | QIODevice::Unbuffered);
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
    if (QNetworkReply *inner = m_inner) {
        // A reply being destroyed emits nothing more; the inner one goes later
        // (~QNetworkAccessManager deletes all its replies from a list it took before).
        inner->disconnect(this);
        inner->abort();
        inner->deleteLater();
    }
}

void AuthenticatedReply::requestToken()
{
    if (m_aborted)
        return;
    if (!m_session)
        return failWith({Error::Code::NotSignedIn, QStringLiteral("the session is gone")});
    QPointer<AuthenticatedReply> self(this);
    auto callback = [self](const Secret *token, const Error &error) {
        if (!self || self->m_aborted)
            return;
        if (token)
            self->send(*token);
        else
            self->failWith(error);
    };
    SessionPrivate *session = SessionPrivate::get(m_session);
    if (m_retried)
        session->tokenRejected(m_usedToken.reveal(), callback);
    else
        session->withFreshToken(callback);
}

void AuthenticatedReply::send(const Secret &token)
{
    if (!m_manager)
        return failWith({Error::Code::Cancelled, QStringLiteral("the network manager is gone")});
    m_usedToken = token.clone();
    QNetworkRequest request = m_original;
    Transport::prepareRequest(request, SessionPrivate::get(m_session)->config());
    QByteArray authorization = QByteArrayLiteral("Bearer ");
    authorization.append(token.reveal().data(), token.size());
    request.setRawHeader(QByteArrayLiteral("Authorization"), authorization);
    secureWipe(authorization);

    QBuffer *body = nullptr;
    if (m_hasBody) {
        body = new QBuffer(&m_body);
        body->open(QIODevice::ReadOnly);
    }
    m_inner = m_manager->createInnerRequest(operation(), request, body);
    if (body)
        body->setParent(m_inner);
    Transport::watchReply(m_inner, SessionPrivate::get(m_session)->config(), 0);
    if (m_hasBody) // nothing to relay otherwise
        connect(m_inner, &QNetworkReply::uploadProgress, this, &QNetworkReply::uploadProgress);
    connect(m_inner, &QNetworkReply::finished, this, &AuthenticatedReply::onInnerFinished);
}

void AuthenticatedReply::onInnerFinished()
{
    QNetworkReply *inner = m_inner;
    if (!inner || m_aborted)
        return;
    inner->deleteLater();
    m_inner = nullptr;
    const int status = inner->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (status == 401 && !m_retried && m_session) {
        // One refresh, one retry; a second 401 is delivered as it is.
        m_retried = true;
        qCInfo(lcNetwork) << "401 from" << url().path() << "- refreshing and retrying once";
        return requestToken();
    }

    for (const auto &pair : inner->rawHeaderPairs())
        setRawHeader(pair.first, pair.second);
    for (auto attribute :
         {QNetworkRequest::HttpStatusCodeAttribute, QNetworkRequest::HttpReasonPhraseAttribute,
          QNetworkRequest::RedirectionTargetAttribute, QNetworkRequest::Http2WasUsedAttribute}) {
        setAttribute(attribute, inner->attribute(attribute));
    }
    const Error transport = Transport::replyError(inner);
    if (transport.code() == Error::Code::PinMismatch || transport.code() == Error::Code::Timeout)
        setError(transport.code() == Error::Code::Timeout ? QNetworkReply::TimeoutError
                                                          : QNetworkReply::SslHandshakeFailedError,
                 transport.message());
    else if (inner->error() != QNetworkReply::NoError) // errorString() is a translation lookup
        setError(inner->error(), inner->errorString());
    m_buffer = inner->readAll();
    complete();
}

void AuthenticatedReply::failWith(const Error &error)
{
    if (m_constructing) {
        // The caller has not connected to our signals yet.
        QTimer::singleShot(0, this, [this, error] {
            if (!m_aborted && !isFinished())
                failWith(error);
        });
        return;
    }
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
    setError(code, error.message());
    complete();
}

void AuthenticatedReply::complete()
{
    setFinished(true);
    emit metaDataChanged();
    if (!m_buffer.isEmpty()) {
        emit downloadProgress(m_buffer.size(), m_buffer.size());
        emit readyRead();
    }
    if (error() != QNetworkReply::NoError)
        emit errorOccurred(error());
    emit finished();
}

void AuthenticatedReply::abort()
{
    if (isFinished() || m_aborted)
        return;
    m_aborted = true;
    if (m_inner) {
        QNetworkReply *inner = m_inner;
        m_inner = nullptr;
        inner->disconnect(this);
        inner->abort();
        inner->deleteLater();
    }
    setError(QNetworkReply::OperationCanceledError, QStringLiteral("Operation canceled"));
    complete();
}

qint64 AuthenticatedReply::bytesAvailable() const
{
    return m_buffer.size() - m_readPosition + QNetworkReply::bytesAvailable();
}

qint64 AuthenticatedReply::readData(char *data, qint64 maxSize)
{
    const qint64 available = m_buffer.size() - m_readPosition;
    if (available <= 0)
        return isFinished() ? -1 : 0;
    const qint64 count = qMin(maxSize, available);
    memcpy(data, m_buffer.constData() + m_readPosition, size_t(count));
    m_readPosition += count;
    return count;
}

} // namespace Tessera
