// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/jose.h>

#include <QtCore/QString>
#include <QtCore/QList>
#include <QtCore/QPair>
#include <QtCore/QStringList>
#include <QtNetwork/QHostAddress>

#include <optional>

namespace Tessera::Server {

// --dpop (docs/SERVER.md "DPoP"): whether the token endpoints bind new sessions to the key of
// a DPoP proof (RFC 9449). Tokens and families bound earlier always need their key.
enum class DpopMode { Off, Allowed, Required };

// Everything the command line can set. Durations are in seconds.
struct ServerConfig
{
    QHostAddress listenAddress = QHostAddress::LocalHost;
    quint16 listenPort = 8000;
    QString databasePath; // parseCommandLine() sets defaultDatabasePath() when --db is not given
    qint64 accessTtl = 300;
    qint64 refreshIdleTtl = 14 * 24 * 3600;
    qint64 sessionMaxTtl = 30 * 24 * 3600;
    qint64 reuseGrace = 10;
    Jose::Algorithm algorithm = Jose::Algorithm::ES256;
    // The public base URL (oauthdiscovery.h); empty until main() sets the listen URL.
    QString issuer;
    QString audience = QStringLiteral("tessera");
    QString tlsCertificatePath;
    QString tlsKeyPath;
    qint64 maxBodyBytes = 64 * 1024;
    int loginLimit = 10;
    qint64 loginWindow = 60;
    quint32 argon2MemoryKiB = 64 * 1024;
    quint32 argon2Iterations = 3;
    bool fullSync = false;
    qint64 dbStatementTimeoutMs = 5000; // PostgreSQL statement_timeout; 0: none
    // PostgreSQL: serving threads, each with its own database connection (servingunit.h);
    // 0: defaultDatabasePool(). SQLite: 1.
    int dbPool = 0;
    // Argon2 threads of each serving thread's login route (loginroute.h); 0: max(2, CPUs).
    // main() shares that number out among serving threads.
    int loginHashThreads = 0;
    bool demo = false;

    // DPoP (dpopcheck.h).
    DpopMode dpopMode = DpopMode::Allowed;
    bool dpopNonces = false; // --dpop-nonce: proofs must carry a server-issued nonce
    qint64 dpopWindow = 60;  // how far a proof's iat may be from the server's clock

    // Logins, client addresses and the grace window's bound (docs/SERVER.md
    // "Login limits", "Grace window"). loginLimit above counts failures per
    // username and client address.
    QList<QPair<QHostAddress, int>> trustedProxies; // X-Forwarded-For is read only from these
    int loginAddressLimit = 100;                    // failures per client address, any username
    int loginUserCeiling = 100; // failures per username beyond which its addresses back off
    int loginQueue = 32;        // logins waiting for a hashing thread; beyond: 503
    bool argon2Rehash = true;   // rehash to the current --argon2-* after a successful login
    int reuseGraceAnswers = 4;  // answers the grace window gives one rotated token
    // The device grant's minimum polling interval (RFC 8628 §3.2: 5 s when none is given).
    qint64 deviceInterval = 5;

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

enum class Command { Serve, AddUser, AddClient, ListClients, RemoveClient, Help };

struct ParsedCommandLine
{
    Command command = Command::Serve;
    ServerConfig config;
    QString userName;         // for AddUser
    QString clientId;         // for AddClient, RemoveClient
    QStringList redirectUris; // for AddClient: validated, distinct, in the order given
    QString error;            // non-empty: usage error, print and exit 2
};

ParsedCommandLine parseCommandLine(const QStringList &arguments);
QString helpText();

} // namespace Tessera::Server
