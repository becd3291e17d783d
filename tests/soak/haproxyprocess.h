// SPDX-License-Identifier: MIT
// HAProxy in front of several tessera-server instances, for the soak's multi-instance
// variant: a generated configuration in a temporary directory (the shape docs/SERVER.md
// "Running several instances" documents: round robin, health check GET /healthz, loopback
// only), haproxy run in the foreground (-db) as a child process, and its per-server
// statistics read from its stats socket ("show stat").
#pragma once

#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QProcess>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QTemporaryDir>

namespace Tessera::Soak {

class HaproxyProcess
{
public:
    // The haproxy binary ($TESSERA_HAPROXY, else haproxy on PATH or in /usr/sbin); empty
    // when there is none.
    static QString binaryPath();
    // A loopback port that was free a moment ago (for the listeners haproxy and the
    // instances must know before they start).
    static quint16 freePort();

    // The configuration for `backendPorts` (servers tessera1..N) behind 127.0.0.1:`port`,
    // with its stats socket at `statsSocket`.
    static QString configuration(quint16 port, const QList<quint16> &backendPorts,
                                 const QString &statsSocket);

    // What each instance behind that configuration needs besides --listen, --db and
    // --issuer: the per-address cap above HAProxy's maxconn, an idle timeout above HAProxy's
    // pool-purge-delay, and HAProxy's source address as the one trusted proxy.
    static QStringList instanceArguments();

    HaproxyProcess() = default;
    HaproxyProcess(const HaproxyProcess &) = delete;
    HaproxyProcess &operator=(const HaproxyProcess &) = delete;
    ~HaproxyProcess(); // stop()

    // Writes the configuration, checks it (haproxy -c), starts haproxy in the foreground and
    // waits until its frontend accepts connections. False and errorString() on failure.
    bool start(const QList<quint16> &backendPorts, int timeoutMs = 10000);
    // SIGTERM (haproxy's hard stop) and reap; true if it exited within the time.
    bool stop(int timeoutMs = 5000);

    quint16 port() const { return m_port; }
    QString configPath() const;
    QString errorString() const { return m_error; }
    QByteArray output(); // what haproxy wrote (warnings, server state changes)

    struct ServerStats
    {
        QString status; // UP, DOWN, "UP 1/2", ... as haproxy reports it
        qint64 responses2xx = 0;
        qint64 responses = 0; // every HTTP response the server gave (1xx..5xx, other)
    };
    // Per server name (tessera1, ...), from "show stat"; empty and errorString() when the
    // socket did not answer.
    QHash<QString, ServerStats> serverStats();

private:
    QTemporaryDir m_dir;
    QProcess m_process;
    quint16 m_port = 0;
    QString m_error;
    QByteArray m_output;
};

} // namespace Tessera::Soak
