// SPDX-License-Identifier: MIT
#include "cannedhttpserver.h"

#include <QtNetwork/QTcpSocket>

#include <memory>

namespace Tessera::Test {

CannedHttpServer::CannedHttpServer()
{
    m_clock.start();
    m_server.listen(QHostAddress::LocalHost, 0);
    connect(&m_server, &QTcpServer::newConnection, this, [this] {
        while (QTcpSocket *socket = m_server.nextPendingConnection())
            serve(socket);
    });
}

QString CannedHttpServer::origin() const
{
    return QStringLiteral("http://127.0.0.1:%1").arg(m_server.serverPort());
}

void CannedHttpServer::serve(QTcpSocket *socket)
{
    connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
    auto request = std::make_shared<QByteArray>();
    connect(socket, &QTcpSocket::readyRead, socket, [this, socket, request] {
        *request += socket->readAll();
        const qsizetype end = request->indexOf("\r\n\r\n");
        if (end < 0)
            return;
        const QByteArray head = request->left(end);
        qsizetype length = 0;
        for (const QByteArray &line : head.split('\n')) {
            if (line.toLower().startsWith("content-length:"))
                length = line.mid(15).trimmed().toLongLong();
        }
        if (request->size() < end + 4 + length)
            return;
        const QByteArray path = head.left(head.indexOf("\r\n")).split(' ').value(1);
        paths.append(path);
        heads.append(head);
        bodies.append(request->mid(end + 4, length));
        arrivalsMs.append(m_clock.elapsed());
        const std::optional<Answer> chosen =
                answerFor ? answerFor(path, bodies.last()) : std::nullopt;
        const auto found = m_answers.find(path);
        const Answer &reply = chosen ? *chosen : found != m_answers.end() ? found->second : answer;
        if (reply.status == 0)
            return;
        QByteArray response = "HTTP/1.1 " + QByteArray::number(reply.status) + " X\r\n";
        response += "Content-Type: " + reply.contentType + "\r\n";
        response += "Content-Length: " + QByteArray::number(reply.body.size()) + "\r\n";
        response += commonHeaders + reply.extraHeaders;
        response += "Connection: close\r\n\r\n" + reply.body;
        socket->write(response);
        socket->disconnectFromHost();
    });
}

} // namespace Tessera::Test
