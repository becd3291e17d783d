// SPDX-License-Identifier: MIT
// Test support: a loopback HTTP/1.1 server for what no real server sends (hostile documents,
// broken token responses). It reads each request whole (head, then a Content-Length body),
// records it, answers with the canned answer of its path (or `answer` for any other path) and
// closes the connection.
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QElapsedTimer>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QUrl>
#include <QtNetwork/QTcpServer>

#include <functional>
#include <map>
#include <optional>

QT_BEGIN_NAMESPACE
class QTcpSocket;
QT_END_NAMESPACE

namespace Tessera::Test {

class CannedHttpServer : public QObject
{
public:
    struct Answer
    {
        int status = 200; // 0: read the request, never answer
        QByteArray contentType = "application/json";
        QByteArray body;
        QByteArray extraHeaders; // complete lines ending in \r\n
    };

    CannedHttpServer();

    // http://127.0.0.1:port
    QString origin() const;
    QUrl url(const QString &path) const { return QUrl(origin() + path); }

    // The answer for requests of `path` (the request target, query included).
    void answerPath(const QByteArray &path, const Answer &answer) { m_answers[path] = answer; }

    // When set, asked first for every request: an answer it gives wins over the canned ones
    // (to answer by the body, e.g. a form field, where one path serves several requests).
    std::function<std::optional<Answer>(const QByteArray &path, const QByteArray &body)> answerFor;
    Answer answer;            // for paths without an answer of their own
    QByteArray commonHeaders; // added to every answer: complete lines ending in \r\n
    QList<QByteArray> paths;  // of every request, in order
    QList<QByteArray> heads;  // request line and headers, without the blank line
    QList<QByteArray> bodies;
    QList<qint64> arrivalsMs; // when each request was read whole, ms since the server started

private:
    void serve(QTcpSocket *socket);

    QElapsedTimer m_clock;
    QTcpServer m_server;
    std::map<QByteArray, Answer> m_answers;
};

} // namespace Tessera::Test
