// SPDX-License-Identifier: MIT
// Over 500 lines on purpose: every flag of tessera-server with its default, its help text and
// its check in one place, so a flag cannot be added without its validation beside it.
#include "config.h"

#include "clientaddress.h"
#include "databasefiles.h"
#include "databaseurl.h"
#include "oauthdiscovery.h"
#include "redirecturi.h"

#include <QtCore/QCommandLineParser>

namespace Tessera::Server {
namespace {

struct Option
{
    QString name;
    QString valueName;
    QString description;
};

const QList<Option> &options()
{
    static const QList<Option> list = {
            {QStringLiteral("listen"), QStringLiteral("HOST:PORT"),
             QStringLiteral(
                     "Address to listen on (default 127.0.0.1:8000). Port 0 picks a free port; "
                     "the chosen address is printed as 'listening on http://HOST:PORT'. "
                     "IPv6: [::1]:PORT.")},
            {QStringLiteral("db"), QStringLiteral("PATH|URI"),
             QStringLiteral(
                     "SQLite database, WAL mode, created with mode 0600 (default "
                     "$XDG_DATA_HOME/tessera-server/tessera-server.sqlite3, that is "
                     "~/.local/share/tessera-server/ when XDG_DATA_HOME is unset). The server "
                     "refuses to start when the file, its -wal, -shm or -journal file is not "
                     "this user's with mode 0600, or when others can write to its directory. "
                     "Or a PostgreSQL database: postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME "
                     "(PG* environment variables fill in what it leaves out; see "
                     "docs/SERVER.md).")},
            {QStringLiteral("access-ttl"), QStringLiteral("SECONDS"),
             QStringLiteral("Access token lifetime (default 300).")},
            {QStringLiteral("refresh-idle-ttl"), QStringLiteral("SECONDS"),
             QStringLiteral(
                     "A refresh token unused this long expires (default 1209600 = 14 days).")},
            {QStringLiteral("session-max-ttl"), QStringLiteral("SECONDS"),
             QStringLiteral("Absolute lifetime of a login; rotation never extends it "
                            "(default 2592000 = 30 days).")},
            {QStringLiteral("reuse-grace"), QStringLiteral("SECONDS"),
             QStringLiteral("Window in which the parent of the current refresh token returns the "
                            "current one again instead of revoking the family (default 10; 0 "
                            "disables).")},
            {QStringLiteral("alg"), QStringLiteral("ALG"),
             QStringLiteral("Access token signing algorithm: ES256 (default), EdDSA or HS256.")},
            {QStringLiteral("issuer"), QStringLiteral("ISS"),
             QStringLiteral("Public base URL: the OAuth issuer, the 'iss' of every token, the "
                            "prefix of the OAuth endpoints (default the listen URL, "
                            "http://HOST:PORT).")},
            {QStringLiteral("audience"), QStringLiteral("AUD"),
             QStringLiteral("'aud' claim of access tokens (default tessera).")},
            {QStringLiteral("dpop"), QStringLiteral("off|allowed|required"),
             QStringLiteral("DPoP (RFC 9449): 'allowed' (default) binds a session to the key of "
                            "the proof sent with its login, 'required' refuses token requests "
                            "without a proof, 'off' binds nothing new (sessions bound earlier "
                            "still need their key).")},
            {QStringLiteral("dpop-window"), QStringLiteral("SECONDS"),
             QStringLiteral("How far a DPoP proof's iat may be from the server's clock, either "
                            "way; its jti is remembered that long (default 60, 1 to 600).")},
            {QStringLiteral("tls-cert"), QStringLiteral("PEM"),
             QStringLiteral("Serve HTTPS with this certificate (needs --tls-key).")},
            {QStringLiteral("tls-key"), QStringLiteral("PEM"),
             QStringLiteral("Private key for --tls-cert.")},
            {QStringLiteral("max-body-bytes"), QStringLiteral("N"),
             QStringLiteral("Larger request bodies get 413 (default 65536).")},
            {QStringLiteral("login-limit"), QStringLiteral("N"),
             QStringLiteral("Failed logins allowed per username and client address in each "
                            "--login-window; beyond it 429 with Retry-After for that pair only. "
                            "Successes never count and reset the pair (default 10; 0 disables "
                            "every login limit).")},
            {QStringLiteral("login-window"), QStringLiteral("SECONDS"),
             QStringLiteral("Window of the login limits (default 60).")},
            {QStringLiteral("login-address-limit"), QStringLiteral("N"),
             QStringLiteral("Failed logins allowed per client address, whatever the username, in "
                            "each --login-window; beyond it 429 (default 100; 0 disables).")},
            {QStringLiteral("login-user-ceiling"), QStringLiteral("N"),
             QStringLiteral(
                     "Failed logins per username, from all addresses, in each "
                     "--login-window beyond which every address that failed for it backs off "
                     "exponentially (429 with Retry-After); an address without failures is "
                     "never held back (default 100; 0 disables).")},
            {QStringLiteral("trusted-proxy"), QStringLiteral("ADDR[/PREFIX]"),
             QStringLiteral(
                     "A reverse proxy whose X-Forwarded-For is believed (repeatable). For "
                     "requests from it the client is the right-most X-Forwarded-For address "
                     "that is not a trusted proxy; from anyone else the header is ignored.")},
            {QStringLiteral("login-queue"), QStringLiteral("N"),
             QStringLiteral("Logins that may wait for a password-hashing thread; beyond it 503 "
                            "with Retry-After. A waiting login whose client hung up is dropped "
                            "unhashed (default 32).")},
            {QStringLiteral("argon2-rehash"), QStringLiteral("on|off"),
             QStringLiteral("After a successful login, rehash the password with the current "
                            "--argon2-* settings if it was stored with others (default on).")},
            {QStringLiteral("reuse-grace-answers"), QStringLiteral("N"),
             QStringLiteral("How many times the grace window answers one rotated refresh token; "
                            "the next presentation revokes the family (default 4: the retries one "
                            "client makes "
                            "within the default window).")},
            {QStringLiteral("device-interval"), QStringLiteral("SECONDS"),
             QStringLiteral("Device authorization grant: the polling interval a device is told, "
                            "1 to 60 (default 5, RFC 8628's); a faster poll gets slow_down and "
                            "the interval grows by 5 s.")},
            {QStringLiteral("argon2-memory"), QStringLiteral("KIB"),
             QStringLiteral("Argon2id memory cost in KiB (default 65536; parallelism 1).")},
            {QStringLiteral("argon2-iterations"), QStringLiteral("N"),
             QStringLiteral("Argon2id time cost (default 3).")},
            {QStringLiteral("db-sync"), QStringLiteral("MODE"),
             QStringLiteral("SQLite synchronous mode: 'normal' (default; survives a process crash "
                            "such as SIGKILL) or 'full' (also survives power loss, one fsync per "
                            "commit).")},
            {QStringLiteral("db-pool"), QStringLiteral("N"),
             QStringLiteral("PostgreSQL: serve with N threads, each with its own database "
                            "connection, 1 to 64 (default: the number of CPUs, at most 4). "
                            "SQLite is served by one.")},
            {QStringLiteral("db-statement-timeout"), QStringLiteral("MS"),
             QStringLiteral("PostgreSQL: a statement running longer is cancelled and its request "
                            "fails, rather than holding the server (default 5000; 0: no "
                            "limit).")},
            // HTTP connections
            {QStringLiteral("header-timeout"), QStringLiteral("SECONDS"),
             QStringLiteral("A request head must arrive within this time of its first byte (the "
                            "first one within this time of the connection, TLS handshake "
                            "included); else 408 and close (default 10).")},
            {QStringLiteral("body-timeout"), QStringLiteral("SECONDS"),
             QStringLiteral("A request body must arrive within this time of its head; else 408 "
                            "and close (default 10).")},
            {QStringLiteral("idle-timeout"), QStringLiteral("SECONDS"),
             QStringLiteral("An idle keep-alive connection, or one whose client stops reading "
                            "its answers, is closed after this time (default 10).")},
            {QStringLiteral("max-header-bytes"), QStringLiteral("N"),
             QStringLiteral("Request line and header fields together; larger heads get 431 and "
                            "close (default 16384, at most 102400; the request line alone at "
                            "most 8192: 414).")},
            {QStringLiteral("max-header-fields"), QStringLiteral("N"),
             QStringLiteral("Header fields per request; more get 431 and close (default 100, "
                            "the most allowed: Qt HttpServer's parser reads no more).")},
            {QStringLiteral("max-connections"), QStringLiteral("N"),
             QStringLiteral("Open connections in total; beyond, new ones get 503 and are closed "
                            "(default 1024, lowered to what the open-file limit leaves).")},
            {QStringLiteral("max-connections-per-address"), QStringLiteral("N"),
             QStringLiteral("Open connections per client address (an IPv6 /64); beyond, 503 "
                            "and close. Behind a proxy every connection comes from the proxy: "
                            "set it to at least the proxy's maxconn (default 64; 0: no "
                            "per-address cap).")},
    };
    return list;
}

bool parseSeconds(const QString &text, qint64 minimum, qint64 *out)
{
    bool ok = false;
    const qint64 value = text.toLongLong(&ok);
    if (!ok || value < minimum || value > qint64(100) * 365 * 24 * 3600)
        return false;
    *out = value;
    return true;
}

bool parseListen(const QString &text, ServerConfig *config)
{
    QString host;
    QString port;
    if (text.startsWith(u'[')) {
        const qsizetype close = text.indexOf(u']');
        if (close < 0 || close + 1 >= text.size() || text.at(close + 1) != u':')
            return false;
        host = text.mid(1, close - 1);
        port = text.mid(close + 2);
    } else {
        const qsizetype colon = text.lastIndexOf(u':');
        if (colon <= 0)
            return false;
        host = text.left(colon);
        port = text.mid(colon + 1);
    }
    if (host == u"localhost")
        host = QStringLiteral("127.0.0.1");
    QHostAddress address;
    if (!address.setAddress(host))
        return false;
    bool ok = false;
    const uint value = port.toUInt(&ok);
    if (!ok || value > 65535)
        return false;
    config->listenAddress = address;
    config->listenPort = quint16(value);
    return true;
}

} // namespace

QString helpText()
{
    QString text = QStringLiteral(
            "Usage:\n"
            "  tessera-server [options]                  serve the API\n"
            "  tessera-server user add NAME [--db PATH] [--argon2-*]\n"
            "                                            add a user; the password is read from "
            "the\n"
            "                                            first line of stdin\n"
            "  tessera-server client add ID --redirect-uri URI [--redirect-uri URI ...] [--db "
            "PATH]\n"
            "                                            register a public native client\n"
            "  tessera-server client list [--db PATH]    one line per client: ID URI...\n"
            "  tessera-server client remove ID [--db PATH]\n"
            "\n"
            "Client ids: 1 to 64 of A-Z a-z 0-9 . _ ~ -, starting with a letter or digit.\n"
            "Redirect URIs (RFC 8252): http://127.0.0.1[:PORT]/PATH or http://[::1][:PORT]/PATH\n"
            "(any port matches), https://HOST/PATH, or a private-use scheme com.example.app:/PATH\n"
            "(exact match). No fragment, no userinfo, no localhost (docs/SERVER.md \"Clients\").\n"
            "\n"
            "Tessera's companion auth server: SimpleJWT-compatible endpoints with refresh-token\n"
            "rotation, reuse detection (the whole family is revoked), a grace window and\n"
            "server-side revocation that also ends access tokens at once.\n"
            "\n"
            "Endpoints: POST /api/token/ /api/token/refresh/ /api/token/blacklist/ "
            "/api/token/verify/,\n"
            "           GET /api/me/ /.well-known/jwks.json /healthz\n"
            "\n"
            "Options:\n");
    // Descriptions wrapped to 100 columns, indented under the option column.
    auto addOption = [&text](const QString &head, const QString &description) {
        constexpr int Indent = 30;
        auto flush = [&text](QString line) {
            while (line.endsWith(u' '))
                line.chop(1);
            text += line + u'\n';
        };
        QString line = head.leftJustified(Indent - 1) + u' ';
        for (const QString &word : description.split(u' ')) {
            if (line.size() + word.size() > 100 && line.trimmed().size() > head.size()) {
                flush(line);
                line = QString(Indent, u' ');
            }
            line += word + u' ';
        }
        flush(line);
    };
    for (const Option &option : options())
        addOption(QStringLiteral("  --%1 %2").arg(option.name, option.valueName),
                  option.description);
    addOption(QStringLiteral("  --insecure-http"),
              QStringLiteral("Allow plain HTTP on a non-loopback --listen address, for a "
                             "TLS-terminating proxy in front. Without it, such an address needs "
                             "--tls-cert and --tls-key."));
    addOption(QStringLiteral("  --demo"),
              QStringLiteral("Create user 'demo' with password 'tessera-demo' and client "
                             "'tessera-demo' (loopback redirects http://127.0.0.1/callback and "
                             "http://[::1]/callback) if missing, and print the credentials. Only "
                             "with a loopback --listen address."));
    addOption(QStringLiteral("  --dpop-nonce"),
              QStringLiteral("DPoP proofs must carry a nonce this server issued (DPoP-Nonce, "
                             "rotated every --dpop-window; RFC 9449 section 8)."));
    addOption(QStringLiteral("  --help"), QStringLiteral("Show this text."));
    text += QStringLiteral(
            "\nLogging: QT_LOGGING_RULES=\"tessera.server.*.debug=true\" (categories\n"
            "tessera.server.http, .auth, .store). Events only: tokens, passwords and "
            "Authorization\n"
            "headers are never logged.\n");
    return text;
}

ParsedCommandLine parseCommandLine(const QStringList &arguments)
{
    ParsedCommandLine result;
    QCommandLineParser parser;
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    for (const Option &option : options())
        parser.addOption(QCommandLineOption(option.name, option.description, option.valueName));
    parser.addOption(
            QCommandLineOption(QStringLiteral("redirect-uri"), QString(), QStringLiteral("URI")));
    parser.addOption(QCommandLineOption(QStringLiteral("demo")));
    parser.addOption(QCommandLineOption(QStringLiteral("insecure-http")));
    parser.addOption(QCommandLineOption(QStringLiteral("dpop-nonce")));
    parser.addOption(QCommandLineOption(QStringLiteral("help")));
    if (!parser.parse(arguments)) {
        result.error = parser.errorText();
        return result;
    }
    if (parser.isSet(QStringLiteral("help"))) {
        result.command = Command::Help;
        return result;
    }

    const QStringList positional = parser.positionalArguments();
    if (!positional.isEmpty()) {
        if (positional.size() == 3 && positional[0] == u"user" && positional[1] == u"add") {
            result.command = Command::AddUser;
            result.userName = positional[2];
            if (result.userName.isEmpty() || result.userName.size() > 150) {
                result.error = QStringLiteral("user name must be 1 to 150 characters");
                return result;
            }
        } else if (positional.size() == 3 && positional[0] == u"client"
                   && (positional[1] == u"add" || positional[1] == u"remove")) {
            result.command = positional[1] == u"add" ? Command::AddClient : Command::RemoveClient;
            result.clientId = positional[2];
            if (const QString problem = clientIdProblem(result.clientId); !problem.isEmpty()) {
                result.error = problem;
                return result;
            }
        } else if (positional.size() == 2 && positional[0] == u"client"
                   && positional[1] == u"list") {
            result.command = Command::ListClients;
        } else {
            result.error = QStringLiteral("unknown command: %1")
                                   .arg(printableForError(positional.join(u' ')));
            return result;
        }
    }
    // Every redirect URI is checked before the database is opened: one
    // refused URI and nothing is stored.
    const QStringList redirectUris = parser.values(QStringLiteral("redirect-uri"));
    if (result.command == Command::AddClient) {
        if (redirectUris.isEmpty()) {
            result.error = QStringLiteral("client add needs at least one --redirect-uri");
            return result;
        }
        if (const QString problem = redirectUriListProblem(redirectUris); !problem.isEmpty()) {
            result.error = QStringLiteral("invalid --redirect-uri: %1").arg(problem);
            return result;
        }
        result.redirectUris = redirectUris;
    } else if (!redirectUris.isEmpty()) {
        result.error = QStringLiteral("--redirect-uri is only for client add");
        return result;
    }

    ServerConfig &config = result.config;
    auto fail = [&result](const QString &option) {
        result.error = QStringLiteral("invalid value for --%1").arg(option);
        return result;
    };
    if (parser.isSet(QStringLiteral("listen"))
        && !parseListen(parser.value(QStringLiteral("listen")), &config))
        return fail(QStringLiteral("listen"));
    config.databasePath = parser.isSet(QStringLiteral("db")) ? parser.value(QStringLiteral("db"))
                                                             : defaultDatabasePath();
    if (QString problem; !parseDatabaseLocation(config.databasePath, &problem)) {
        result.error = problem;
        return result;
    }
    const struct
    {
        const char *name;
        qint64 minimum;
        qint64 *target;
    } durations[] = {
            {"access-ttl", 1, &config.accessTtl},
            {"refresh-idle-ttl", 1, &config.refreshIdleTtl},
            {"session-max-ttl", 1, &config.sessionMaxTtl},
            {"reuse-grace", 0, &config.reuseGrace},
            {"login-window", 1, &config.loginWindow},
            {"max-body-bytes", 64, &config.maxBodyBytes},
    };
    for (const auto &duration : durations) {
        const QString name = QString::fromLatin1(duration.name);
        if (parser.isSet(name)
            && !parseSeconds(parser.value(name), duration.minimum, duration.target))
            return fail(name);
    }
    if (parser.isSet(QStringLiteral("login-limit"))) {
        qint64 limit = 0;
        if (!parseSeconds(parser.value(QStringLiteral("login-limit")), 0, &limit)
            || limit > 1000000)
            return fail(QStringLiteral("login-limit"));
        config.loginLimit = int(limit);
    }
    // Logins, client addresses, the grace window's bound.
    const struct
    {
        const char *name;
        qint64 minimum;
        qint64 maximum;
        int *target;
    } counts[] = {
            {"login-address-limit", 0, 1000000, &config.loginAddressLimit},
            {"login-user-ceiling", 0, 1000000, &config.loginUserCeiling},
            {"login-queue", 0, 100000, &config.loginQueue},
            {"reuse-grace-answers", 1, 100, &config.reuseGraceAnswers},
    };
    for (const auto &count : counts) {
        const QString name = QString::fromLatin1(count.name);
        if (!parser.isSet(name))
            continue;
        qint64 value = 0;
        if (!parseSeconds(parser.value(name), count.minimum, &value) || value > count.maximum)
            return fail(name);
        *count.target = int(value);
    }
    if (parser.isSet(QStringLiteral("device-interval"))
        && (!parseSeconds(parser.value(QStringLiteral("device-interval")), 1,
                          &config.deviceInterval)
            || config.deviceInterval > 60))
        return fail(QStringLiteral("device-interval"));
    for (const QString &proxy : parser.values(QStringLiteral("trusted-proxy"))) {
        const auto subnet = parseSubnet(proxy);
        if (!subnet)
            return fail(QStringLiteral("trusted-proxy"));
        config.trustedProxies.append(*subnet);
    }
    if (parser.isSet(QStringLiteral("argon2-rehash"))) {
        const QString mode = parser.value(QStringLiteral("argon2-rehash"));
        if (mode != u"on" && mode != u"off")
            return fail(QStringLiteral("argon2-rehash"));
        config.argon2Rehash = mode == u"on";
    }

    if (parser.isSet(QStringLiteral("alg"))) {
        const auto algorithm = Jose::algorithmFromName(parser.value(QStringLiteral("alg")));
        // The JOSE layer verifies RS256/PS256 (providers' ID tokens) but signs only these.
        if (!algorithm || !Jose::canSign(*algorithm))
            return fail(QStringLiteral("alg"));
        config.algorithm = *algorithm;
    }
    if (parser.isSet(QStringLiteral("issuer"))) {
        config.issuer = parser.value(QStringLiteral("issuer"));
        if (const QString problem = issuerProblem(config.issuer); !problem.isEmpty()) {
            result.error = QStringLiteral("invalid value for --issuer: %1").arg(problem);
            return result;
        }
    }
    if (parser.isSet(QStringLiteral("audience")))
        config.audience = parser.value(QStringLiteral("audience"));
    if (parser.isSet(QStringLiteral("dpop"))) {
        const QString mode = parser.value(QStringLiteral("dpop"));
        if (mode != u"off" && mode != u"allowed" && mode != u"required")
            return fail(QStringLiteral("dpop"));
        config.dpopMode = mode == u"off" ? DpopMode::Off
                : mode == u"required"    ? DpopMode::Required
                                         : DpopMode::Allowed;
    }
    config.dpopNonces = parser.isSet(QStringLiteral("dpop-nonce"));
    if (parser.isSet(QStringLiteral("dpop-window"))
        && (!parseSeconds(parser.value(QStringLiteral("dpop-window")), 1, &config.dpopWindow)
            || config.dpopWindow > 600))
        return fail(QStringLiteral("dpop-window"));
    config.tlsCertificatePath = parser.value(QStringLiteral("tls-cert"));
    config.tlsKeyPath = parser.value(QStringLiteral("tls-key"));
    if (config.tlsCertificatePath.isEmpty() != config.tlsKeyPath.isEmpty()) {
        result.error = QStringLiteral("--tls-cert and --tls-key go together");
        return result;
    }
    if (parser.isSet(QStringLiteral("argon2-memory"))) {
        qint64 memory = 0;
        // libargon2 needs at least 8 KiB per lane.
        if (!parseSeconds(parser.value(QStringLiteral("argon2-memory")), 8, &memory)
            || memory > 4 * 1024 * 1024)
            return fail(QStringLiteral("argon2-memory"));
        config.argon2MemoryKiB = quint32(memory);
    }
    if (parser.isSet(QStringLiteral("argon2-iterations"))) {
        qint64 iterations = 0;
        if (!parseSeconds(parser.value(QStringLiteral("argon2-iterations")), 1, &iterations)
            || iterations > 100)
            return fail(QStringLiteral("argon2-iterations"));
        config.argon2Iterations = quint32(iterations);
    }
    if (parser.isSet(QStringLiteral("db-sync"))) {
        const QString mode = parser.value(QStringLiteral("db-sync"));
        if (mode != u"normal" && mode != u"full")
            return fail(QStringLiteral("db-sync"));
        config.fullSync = mode == u"full";
    }
    if (parser.isSet(QStringLiteral("db-pool"))) {
        qint64 pool = 0;
        if (!parseSeconds(parser.value(QStringLiteral("db-pool")), 1, &pool) || pool > 64)
            return fail(QStringLiteral("db-pool"));
        config.dbPool = int(pool);
    }
    if (parser.isSet(QStringLiteral("db-statement-timeout"))) {
        qint64 timeout = 0;
        if (!parseSeconds(parser.value(QStringLiteral("db-statement-timeout")), 0, &timeout)
            || timeout > 3'600'000)
            return fail(QStringLiteral("db-statement-timeout"));
        config.dbStatementTimeoutMs = timeout;
    }
    // HTTP connections
    {
        const struct
        {
            const char *name;
            qint64 minimum;
            qint64 maximum;
            qint64 *target;
        } limits[] = {
                {"header-timeout", 1, 3600, &config.headerTimeout},
                {"body-timeout", 1, 3600, &config.bodyTimeout},
                {"idle-timeout", 1, 3600, &config.idleTimeout},
                {"max-header-bytes", 1024, 1024 * 1024, &config.maxHeaderBytes},
        };
        for (const auto &limit : limits) {
            const QString name = QString::fromLatin1(limit.name);
            if (parser.isSet(name)
                && (!parseSeconds(parser.value(name), limit.minimum, limit.target)
                    || *limit.target > limit.maximum))
                return fail(name);
        }
        const struct
        {
            const char *name;
            qint64 minimum;
            int *target;
        } counts[] = {
                {"max-header-fields", 1, &config.maxHeaderFields},
                {"max-connections", 1, &config.maxConnections},
                {"max-connections-per-address", 0, &config.maxConnectionsPerAddress},
        };
        for (const auto &count : counts) {
            const QString name = QString::fromLatin1(count.name);
            qint64 value = 0;
            if (!parser.isSet(name))
                continue;
            if (!parseSeconds(parser.value(name), count.minimum, &value) || value > 1000000)
                return fail(name);
            *count.target = int(value);
        }
        // Qt HttpServer's request parser (Qt 6.4.2 as Debian 12 ships it, and
        // the HeaderConstants of later Qt) reads at most 100 fields, each at most
        // 100 KiB, 256 KiB in all; beyond, it drops the request and closes the
        // connection without an answer. The guard must refuse such heads itself
        // (431): its limits may not go past Qt's. A head bound of 100 KiB also
        // bounds every field.
        constexpr int QtMaxHeaderFields = 100;
        constexpr qint64 QtMaxHeaderFieldBytes = 100 * 1024;
        if (config.maxHeaderFields > QtMaxHeaderFields) {
            result.error = QStringLiteral("invalid value for --max-header-fields: at most %1, "
                                          "the most header fields Qt HttpServer's parser reads "
                                          "(it drops a request with more, unanswered)")
                                   .arg(QtMaxHeaderFields);
            return result;
        }
        if (config.maxHeaderBytes > QtMaxHeaderFieldBytes) {
            result.error = QStringLiteral("invalid value for --max-header-bytes: at most %1, so "
                                          "that no header field can exceed the 100 KiB Qt "
                                          "HttpServer's parser reads (it drops a request with a "
                                          "longer one, unanswered)")
                                   .arg(QtMaxHeaderFieldBytes);
            return result;
        }
        config.insecureHttp = parser.isSet(QStringLiteral("insecure-http"));
        // Passwords and tokens must not cross a network in the clear: plain HTTP
        // only on loopback, or when a TLS-terminating proxy is said to be in front.
        if (!config.listenAddress.isLoopback() && config.tlsCertificatePath.isEmpty()
            && !config.insecureHttp) {
            result.error = QStringLiteral("plain HTTP on the non-loopback address %1: use "
                                          "--tls-cert and --tls-key, or "
                                          "--insecure-http behind a TLS-terminating proxy")
                                   .arg(config.listenAddress.toString());
            return result;
        }
    }
    config.demo = parser.isSet(QStringLiteral("demo"));
    if (config.demo && !config.listenAddress.isLoopback()) {
        result.error = QStringLiteral("--demo is only allowed on a loopback --listen address");
        return result;
    }
    return result;
}

} // namespace Tessera::Server
