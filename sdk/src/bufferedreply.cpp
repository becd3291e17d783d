// SPDX-License-Identifier: MIT
#include "bufferedreply_p.h"

#include "transport_p.h"

#include <QtCore/QTimer>

namespace Tessera {

namespace {

// Everything but the body.
ReplyContent takeReplyMetaData(QNetworkReply *finished)
{
    ReplyContent content;
    content.status = finished->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    content.reason = finished->attribute(QNetworkRequest::HttpReasonPhraseAttribute);
    content.redirectTarget = finished->attribute(QNetworkRequest::RedirectionTargetAttribute);
    content.http2WasUsed = finished->attribute(QNetworkRequest::Http2WasUsedAttribute);
    content.headers = finished->rawHeaderPairs();
    const Error transport = Transport::replyError(finished);
    if (transport.code() == Error::Code::Timeout) {
        content.error = QNetworkReply::TimeoutError;
        content.errorString = transport.message();
    } else if (transport.code() == Error::Code::PinMismatch) {
        content.error = QNetworkReply::SslHandshakeFailedError;
        content.errorString = transport.message();
    } else if (finished->error() != QNetworkReply::NoError) {
        content.error = finished->error();
        content.errorString = finished->errorString(); // a translation lookup: only on error
    }
    return content;
}

} // namespace

ReplyContent takeReplyContent(QNetworkReply *finished)
{
    ReplyContent content = takeReplyMetaData(finished);
    // readAll() of a sequential device starts with a 16 KiB buffer and shrinks it; a
    // finished reply knows what it holds.
    content.body = finished->read(finished->bytesAvailable());
    while (finished->bytesAvailable() > 0)
        content.body += finished->read(finished->bytesAvailable());
    return content;
}

BufferedReply::BufferedReply(QObject *parent, QNetworkAccessManager::Operation operation,
                             const QNetworkRequest &request)
    : QNetworkReply(parent)
{
    setRequest(request);
    setUrl(request.url());
    setOperation(operation);
    open(QIODevice::ReadOnly | QIODevice::Unbuffered);
}

BufferedReply::~BufferedReply()
{
    // Destroyed by a caller's slot of our finished() while deliverFrom() runs, in the
    // source's own finished(): the source still has to return from it, so later. Else at
    // once, without a posted event.
    if (m_destroyedInDelivery) {
        *m_destroyedInDelivery = true;
        m_source->deleteLater();
    } else {
        delete m_source;
    }
}

void BufferedReply::setMetaData(const ReplyContent &content)
{
    for (const auto &pair : content.headers)
        setRawHeader(pair.first, pair.second);
    setAttribute(QNetworkRequest::HttpStatusCodeAttribute,
                 content.status ? QVariant(content.status) : QVariant());
    setAttribute(QNetworkRequest::HttpReasonPhraseAttribute,
                 content.status ? content.reason : QVariant());
    setAttribute(QNetworkRequest::RedirectionTargetAttribute, content.redirectTarget);
    setAttribute(QNetworkRequest::Http2WasUsedAttribute, content.http2WasUsed);
    if (content.error != QNetworkReply::NoError)
        setError(content.error, content.errorString);
}

void BufferedReply::deliver(const ReplyContent &content)
{
    if (m_complete)
        return;
    setMetaData(content);
    m_buffer = content.body;
    complete();
}

void BufferedReply::deliverFrom(QNetworkReply *finished)
{
    if (m_complete) {
        finished->deleteLater();
        return;
    }
    setMetaData(takeReplyMetaData(finished));
    finished->setParent(nullptr);
    m_source = finished;
    bool destroyed = false;
    m_destroyedInDelivery = &destroyed;
    complete();
    if (!destroyed)
        m_destroyedInDelivery = nullptr;
}

void BufferedReply::fail(QNetworkReply::NetworkError error, const QString &message)
{
    if (m_complete)
        return;
    setError(error, message);
    complete();
}

void BufferedReply::failLater(QNetworkReply::NetworkError error, const QString &message)
{
    QTimer::singleShot(0, this, [this, error, message] { fail(error, message); });
}

qint64 BufferedReply::bodySize() const
{
    return m_source ? m_source->bytesAvailable() : m_buffer.size() - m_readPosition;
}

void BufferedReply::complete()
{
    m_complete = true;
    setFinished(true);
    emit metaDataChanged();
    if (const qint64 size = bodySize()) {
        emit downloadProgress(size, size);
        emit readyRead();
    }
    if (error() != QNetworkReply::NoError)
        emit errorOccurred(error());
    emit finished();
}

void BufferedReply::abort()
{
    if (m_complete)
        return;
    emit abortRequested();
    fail(QNetworkReply::OperationCanceledError, QStringLiteral("Operation canceled"));
}

qint64 BufferedReply::bytesAvailable() const
{
    return bodySize() + QNetworkReply::bytesAvailable();
}

qint64 BufferedReply::readData(char *data, qint64 maxSize)
{
    if (m_source) {
        if (maxSize <= 0)
            return 0;
        // A read of 16 KiB or more (readAll() asks for that) goes straight to the source's
        // data; a smaller one first fills the source's own buffer.
        const qint64 count = m_source->read(data, maxSize);
        return count > 0 ? count : -1; // the source is finished: nothing more will come
    }
    const qint64 available = m_buffer.size() - m_readPosition;
    if (available <= 0)
        return isFinished() ? -1 : 0;
    const qint64 count = qMin(maxSize, available);
    memcpy(data, m_buffer.constData() + m_readPosition, size_t(count));
    m_readPosition += count;
    return count;
}

} // namespace Tessera
