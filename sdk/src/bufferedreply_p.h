// SPDX-License-Identifier: MIT
// Private (exported for the QML module, which relays replies between threads): a reply
// delivered whole, once it is known. Never installed.
#pragma once

#include <tessera/tessera_sdk_export.h>

#include <QtCore/QList>
#include <QtCore/QPair>
#include <QtCore/QVariant>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>

namespace Tessera {

// What a finished reply said: a plain value, safe to copy between threads.
struct ReplyContent
{
    int status = 0;  // HTTP status; 0 when none arrived
    QVariant reason; // as the reply gave it (a QString)
    QVariant redirectTarget;
    QVariant http2WasUsed;
    QList<QPair<QByteArray, QByteArray>> headers;
    QByteArray body;
    QNetworkReply::NetworkError error = QNetworkReply::NoError;
    QString errorString;
};

// Reads everything from a finished reply. The error of one the transport policy aborted
// (pin mismatch, timeout) is reported as such, not as "operation canceled".
TESSERA_SDK_EXPORT ReplyContent takeReplyContent(QNetworkReply *finished);

// A QNetworkReply whose outcome is set in one go (deliver(), deliverFrom() or fail()):
// headers, attributes, the whole body and the finished() signals together, as a reply that
// downloaded everything at once would give them.
class TESSERA_SDK_EXPORT BufferedReply : public QNetworkReply
{
    Q_OBJECT
public:
    BufferedReply(QObject *parent, QNetworkAccessManager::Operation operation,
                  const QNetworkRequest &request);
    ~BufferedReply() override;

    // Completes with `content` (ignored once complete, e.g. after abort()).
    void deliver(const ReplyContent &content);
    // Completes with what the finished reply `finished` (of this thread) says, and takes it
    // over: its body is read from it, not copied, and it is deleted with this reply. It
    // leaves its parent, so that it outlives its manager as long as this reply does.
    void deliverFrom(QNetworkReply *finished);
    // Completes with an error (ignored once complete).
    void fail(QNetworkReply::NetworkError error, const QString &message);
    // fail() on the next event-loop turn: for a reply its creator has not connected to yet.
    void failLater(QNetworkReply::NetworkError error, const QString &message);
    bool isComplete() const { return m_complete; }

    void abort() override;
    qint64 bytesAvailable() const override;
    bool isSequential() const override { return true; }

Q_SIGNALS:
    // abort() was called: whoever produces the content can stop.
    void abortRequested();

protected:
    qint64 readData(char *data, qint64 maxSize) override;
    qint64 writeData(const char *, qint64) override { return -1; }

private:
    void setMetaData(const ReplyContent &content);
    void complete();
    qint64 bodySize() const;

    QNetworkReply *m_source = nullptr;     // deliverFrom(): owned, the body is read from it
    bool *m_destroyedInDelivery = nullptr; // set while deliverFrom() runs
    QByteArray m_buffer;
    qint64 m_readPosition = 0;
    bool m_complete = false;
};

} // namespace Tessera

Q_DECLARE_METATYPE(Tessera::ReplyContent)
