// SPDX-License-Identifier: MIT
#include "haproxyprocess.h"

#include <QtCore/QDeadlineTimer>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QStandardPaths>
#include <QtCore/QThread>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QLocalSocket>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>

namespace Tessera::Soak {

QString HaproxyProcess::binaryPath()
{
    const QString fromEnvironment = qEnvironmentVariable("TESSERA_HAPROXY");
    if (!fromEnvironment.isEmpty())
        return fromEnvironment;
    QString path = QStandardPaths::findExecutable(QStringLiteral("haproxy"));
    if (path.isEmpty())
        path = QStandardPaths::findExecutable(
                QStringLiteral("haproxy"), {QStringLiteral("/usr/sbin"), QStringLiteral("/sbin")});
    return path;
}

quint16 HaproxyProcess::freePort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

// docs/SERVER.md "Behind HAProxy" (one instance) explains the limits and timeouts: the
// server's per-address cap (--max-connections-per-address 512) sits above HAProxy's maxconn
// per server, HAProxy's deadlines cut slow clients first, HAProxy connects from an address of
// its own (127.0.0.2) that --trusted-proxy alone believes. Added for several instances:
// round robin, and retries that only cover a connection that could not be opened (HAProxy's
// default retry-on is conn-failure), so a request already sent is never sent again and a
// refresh token is never spent twice by the balancer.
QString HaproxyProcess::configuration(quint16 port, const QList<quint16> &backendPorts,
                                      const QString &statsSocket)
{
    QString config =
            QStringLiteral("global\n"
                           "    maxconn 2000\n"
                           "    tune.bufsize 16384\n"
                           "    tune.http.maxhdr 99\n"
                           "    stats socket %1 mode 600 level user\n"
                           "\n"
                           "defaults\n"
                           "    mode http\n"
                           "    timeout connect 5s\n"
                           "    timeout client 30s\n"
                           "    timeout server 30s\n"
                           "    timeout http-request 10s\n"
                           "    timeout http-keep-alive 10s\n"
                           "    timeout queue 10s\n"
                           "    retries 3\n"
                           "    option redispatch\n"
                           "\n"
                           "frontend tessera\n"
                           "    bind 127.0.0.1:%2\n"
                           "    maxconn 2000\n"
                           "    option http-buffer-request\n"
                           "    option forwardfor\n"
                           "    default_backend tessera_servers\n"
                           "\n"
                           "backend tessera_servers\n"
                           "    balance roundrobin\n"
                           "    option httpchk GET /healthz\n"
                           "    http-check expect status 200\n"
                           "    default-server source 127.0.0.2 maxconn 256 check inter 1s "
                           "fall 2 rise 2 pool-purge-delay 5s\n")
                    .arg(statsSocket)
                    .arg(port);
    for (qsizetype i = 0; i < backendPorts.size(); ++i)
        config += QStringLiteral("    server tessera%1 127.0.0.1:%2\n")
                          .arg(i + 1)
                          .arg(backendPorts.at(i));
    return config;
}

QStringList HaproxyProcess::instanceArguments()
{
    return {QStringLiteral("--max-connections-per-address"),
            QStringLiteral("512"),
            QStringLiteral("--idle-timeout"),
            QStringLiteral("60"),
            QStringLiteral("--trusted-proxy"),
            QStringLiteral("127.0.0.2")};
}

HaproxyProcess::~HaproxyProcess()
{
    stop();
}

QString HaproxyProcess::configPath() const
{
    return QDir(m_dir.path()).filePath(QStringLiteral("haproxy.cfg"));
}

bool HaproxyProcess::start(const QList<quint16> &backendPorts, int timeoutMs)
{
    const QString binary = binaryPath();
    if (binary.isEmpty()) {
        m_error = QStringLiteral("haproxy is not installed (Debian package haproxy)");
        return false;
    }
    m_port = freePort();
    QFile file(configPath());
    if (m_port == 0 || !file.open(QIODevice::WriteOnly | QIODevice::Truncate)
        || file.write(configuration(m_port, backendPorts,
                                    QDir(m_dir.path()).filePath(QStringLiteral("stats.sock")))
                              .toUtf8())
                < 0) {
        m_error = QStringLiteral("cannot write %1").arg(configPath());
        return false;
    }
    file.close();
    QProcess check;
    check.start(binary,
                {QStringLiteral("-c"), QStringLiteral("-q"), QStringLiteral("-f"), configPath()});
    if (!check.waitForFinished(timeoutMs) || check.exitStatus() != QProcess::NormalExit
        || check.exitCode() != 0) {
        m_error = QStringLiteral("haproxy -c refused the configuration: ")
                + QString::fromUtf8(check.readAll());
        return false;
    }
    m_process.setProcessChannelMode(QProcess::MergedChannels);
    // -db: foreground, no daemon; stopped with SIGTERM by stop().
    m_process.start(binary, {QStringLiteral("-db"), QStringLiteral("-f"), configPath()});
    if (!m_process.waitForStarted(timeoutMs)) {
        m_error = QStringLiteral("haproxy did not start: ") + m_process.errorString();
        return false;
    }
    const QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        if (m_process.state() != QProcess::Running) {
            m_error = QStringLiteral("haproxy exited: ") + QString::fromUtf8(output());
            return false;
        }
        QTcpSocket probe;
        probe.connectToHost(QHostAddress::LocalHost, m_port);
        if (probe.waitForConnected(500))
            return true;
        QThread::msleep(50);
    }
    m_error = QStringLiteral("haproxy did not listen on 127.0.0.1:%1 within %2 ms")
                      .arg(m_port)
                      .arg(timeoutMs);
    return false;
}

bool HaproxyProcess::stop(int timeoutMs)
{
    if (m_process.state() == QProcess::NotRunning)
        return true;
    m_process.terminate();
    if (m_process.waitForFinished(timeoutMs)) {
        output();
        return true;
    }
    m_process.kill();
    m_process.waitForFinished(timeoutMs);
    return false;
}

QByteArray HaproxyProcess::output()
{
    m_output += m_process.readAll();
    return m_output;
}

QHash<QString, HaproxyProcess::ServerStats> HaproxyProcess::serverStats()
{
    QLocalSocket socket;
    socket.connectToServer(QDir(m_dir.path()).filePath(QStringLiteral("stats.sock")));
    if (!socket.waitForConnected(2000)) {
        m_error = QStringLiteral("haproxy stats socket: ") + socket.errorString();
        return {};
    }
    socket.write("show stat\n");
    QByteArray csv;
    // haproxy answers and closes the socket.
    while (socket.state() == QLocalSocket::ConnectedState && socket.waitForReadyRead(2000))
        csv += socket.readAll();
    csv += socket.readAll();
    const QList<QByteArray> lines = csv.split('\n');
    if (lines.isEmpty() || !lines.first().startsWith("# ")) {
        m_error = QStringLiteral("haproxy stats socket: no CSV header");
        return {};
    }
    const QList<QByteArray> header = lines.first().mid(2).split(',');
    const auto column = [&header](const char *name) { return header.indexOf(QByteArray(name)); };
    const qsizetype proxy = column("pxname"), server = column("svname"), status = column("status");
    const QList<qsizetype> responseColumns{column("hrsp_1xx"), column("hrsp_2xx"),
                                           column("hrsp_3xx"), column("hrsp_4xx"),
                                           column("hrsp_5xx"), column("hrsp_other")};
    QHash<QString, ServerStats> stats;
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QList<QByteArray> fields = lines.at(i).split(',');
        if (fields.size() < header.size() || fields.at(proxy) != "tessera_servers"
            || fields.at(server) == "BACKEND")
            continue;
        ServerStats entry;
        entry.status = QString::fromUtf8(fields.at(status));
        for (qsizetype c : responseColumns)
            entry.responses += fields.at(c).toLongLong();
        entry.responses2xx = fields.at(responseColumns.at(1)).toLongLong();
        stats.insert(QString::fromUtf8(fields.at(server)), entry);
    }
    return stats;
}

} // namespace Tessera::Soak
