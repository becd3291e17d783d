// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/jose.h>

#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtNetwork/QHostAddress>

#include <optional>

namespace Tessera::Server {

// Everything the command line can set. Durations are in seconds.
struct ServerConfig
{
    QHostAddress listenAddress = QHostAddress::LocalHost;
    quint16 listenPort = 8000;
    QString databasePath = QStringLiteral("tessera-server.sqlite3");
    qint64 accessTtl = 300;
    qint64 refreshIdleTtl = 14 * 24 * 3600;
    qint64 sessionMaxTtl = 30 * 24 * 3600;
    qint64 reuseGrace = 10;
    Jose::Algorithm algorithm = Jose::Algorithm::ES256;
    QString issuer = QStringLiteral("tessera-server");
    QString audience = QStringLiteral("tessera");
    QString tlsCertificatePath;
    QString tlsKeyPath;
    qint64 maxBodyBytes = 64 * 1024;
    int loginLimit = 10;
    qint64 loginWindow = 60;
    quint32 argon2MemoryKiB = 64 * 1024;
    quint32 argon2Iterations = 3;
    bool fullSync = false;
    bool demo = false;

    // HTTP connections (docs/SERVER.md, "Connections and limits").
    bool insecureHttp = false; // plain HTTP on a non-loopback address, behind a TLS proxy
    qint64 headerTimeout = 10;
    qint64 bodyTimeout = 10;
    qint64 idleTimeout = 10;
    qint64 maxHeaderBytes = 16 * 1024;
    int maxHeaderFields = 100;
    int maxConnections = 1024;
    int maxConnectionsPerAddress = 64;
};

enum class Command { Serve, AddUser, Help };

struct ParsedCommandLine
{
    Command command = Command::Serve;
    ServerConfig config;
    QString userName; // for AddUser
    QString error;    // non-empty: usage error, print and exit 2
};

ParsedCommandLine parseCommandLine(const QStringList &arguments);
QString helpText();

} // namespace Tessera::Server
