// SPDX-License-Identifier: MIT
// tessera-server: the companion auth server. See docs/SERVER.md.
#include "config.h"
#include "databasefiles.h"
#include "httpapi.h"
#include "logging.h"
#include "passwordhasher.h"
#include "servingunit.h"
#include "store.h"
#include "tokenservice.h"
#include "walcheckpointer.h"

#include <tessera/secret.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QLoggingCategory>
#include <QtCore/QSocketNotifier>
#include <QtCore/QThread>
#include <QtCore/QTimer>

#include <csignal>
#include <cstdio>
#include <vector>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace Tessera::Server;
using Tessera::secureWipe;

namespace {

int signalPipe[2] = {-1, -1};

QLoggingCategory::CategoryFilter previousLoggingFilter = nullptr;

// Qt HttpServer's own debug category prints whole requests, Authorization
// header included. Keep it quiet whatever QT_LOGGING_RULES says.
void loggingFilter(QLoggingCategory *category)
{
    if (previousLoggingFilter)
        previousLoggingFilter(category);
    if (qstrncmp(category->categoryName(), "qt.httpserver", 13) == 0) {
        category->setEnabled(QtDebugMsg, false);
        category->setEnabled(QtInfoMsg, false);
    }
}

QtMessageHandler previousMessageHandler = nullptr;

// Serving threads bind QHttpServer to an intake that never listens (httplistener.h), and Qt
// warns about that on bind; that one warning is dropped, every other message passes.
void messageHandler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    if (type == QtWarningMsg && context.category && qstrcmp(context.category, "qt.httpserver") == 0
        && message.endsWith(QLatin1String("is not listening.")))
        return;
    if (previousMessageHandler)
        previousMessageHandler(type, context, message);
}

void onTerminationSignal(int)
{
    const char byte = 1;
    [[maybe_unused]] const ssize_t written = ::write(signalPipe[1], &byte, 1);
}

// SIGTERM/SIGINT end the event loop cleanly, so SQLite is closed properly.
void installTerminationHandler(QCoreApplication &app)
{
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, signalPipe) != 0)
        return;
    auto *notifier = new QSocketNotifier(signalPipe[0], QSocketNotifier::Read, &app);
    QObject::connect(notifier, &QSocketNotifier::activated, &app, [&app] {
        char byte;
        [[maybe_unused]] const ssize_t got = ::read(signalPipe[0], &byte, 1);
        qCInfo(lcServerHttp) << "termination signal received, shutting down";
        app.quit();
    });
    struct sigaction action = {};
    action.sa_handler = onTerminationSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
}

void printLine(const QString &line, FILE *stream = stdout)
{
    std::fputs(line.toLocal8Bit().constData(), stream);
    std::fputc('\n', stream);
    std::fflush(stream);
}

// The first line of stdin without its line ending, read into buffers that secureWipe()
// clears: one that grows is copied and wiped, never reallocated with the bytes left behind.
QByteArray readPasswordLine()
{
    QByteArray line;
    line.reserve(256);
    for (int c = std::getchar(); c != EOF && c != '\n'; c = std::getchar()) {
        if (line.size() == line.capacity()) {
            QByteArray larger;
            larger.reserve(2 * line.capacity());
            larger.append(line);
            secureWipe(line);
            line = std::move(larger);
        }
        line.append(char(c));
    }
    if (line.endsWith('\r'))
        line.chop(1);
    return line;
}

// The database, its directory created first when it is the default one.
std::unique_ptr<Store> openStore(const ServerConfig &config)
{
    QString error;
    if (config.databasePath == defaultDatabasePath() && !createDefaultDatabaseDirectory(&error)) {
        printLine(QStringLiteral("tessera-server: %1").arg(error), stderr);
        return nullptr;
    }
    auto store = Store::open(config.databasePath, config.fullSync, &error);
    if (!store)
        printLine(QStringLiteral("tessera-server: %1").arg(error), stderr);
    return store;
}

int addUser(const ParsedCommandLine &command)
{
    auto store = openStore(command.config);
    if (!store)
        return 1;
    QByteArray password = readPasswordLine();
    if (password.isEmpty()) {
        printLine(QStringLiteral("tessera-server: no password on stdin"), stderr);
        return 2;
    }
    const PasswordHasher hasher(command.config.argon2MemoryKiB, command.config.argon2Iterations);
    const QByteArray hash = hasher.hash(password);
    secureWipe(password);
    if (hash.isEmpty()) {
        printLine(QStringLiteral("tessera-server: password hashing failed"), stderr);
        return 1;
    }
    switch (store->addUser(command.userName, hash)) {
    case Store::AddUserResult::Added:
        printLine(QStringLiteral("user %1 added").arg(command.userName));
        return 0;
    case Store::AddUserResult::Exists:
        printLine(QStringLiteral("tessera-server: user %1 already exists").arg(command.userName),
                  stderr);
        return 1;
    case Store::AddUserResult::Failed:
        break;
    }
    printLine(QStringLiteral("tessera-server: cannot add the user"), stderr);
    return 1;
}

int addClient(const ParsedCommandLine &command)
{
    auto store = openStore(command.config);
    if (!store)
        return 1;
    switch (store->addClient(command.clientId, command.redirectUris)) {
    case Store::AddClientResult::Added:
        printLine(QStringLiteral("client %1 added").arg(command.clientId));
        return 0;
    case Store::AddClientResult::Exists:
        printLine(QStringLiteral("tessera-server: client %1 already exists").arg(command.clientId),
                  stderr);
        return 1;
    case Store::AddClientResult::Failed:
        break;
    }
    printLine(QStringLiteral("tessera-server: cannot add the client"), stderr);
    return 1;
}

// One line per client: its id, then its redirect URIs (neither has spaces).
int listClients(const ParsedCommandLine &command)
{
    auto store = openStore(command.config);
    if (!store)
        return 1;
    const auto clients = store->clients();
    if (!clients) {
        printLine(QStringLiteral("tessera-server: cannot read the clients"), stderr);
        return 1;
    }
    for (const Store::Client &client : *clients)
        printLine((QStringList{client.id} + client.redirectUris).join(u' '));
    return 0;
}

int removeClient(const ParsedCommandLine &command)
{
    auto store = openStore(command.config);
    if (!store)
        return 1;
    switch (store->removeClient(command.clientId)) {
    case Store::RemoveClientResult::Removed:
        printLine(QStringLiteral("client %1 removed").arg(command.clientId));
        return 0;
    case Store::RemoveClientResult::Missing:
        printLine(QStringLiteral("tessera-server: no client %1").arg(command.clientId), stderr);
        return 1;
    case Store::RemoveClientResult::Failed:
        break;
    }
    printLine(QStringLiteral("tessera-server: cannot remove the client"), stderr);
    return 1;
}

} // namespace

int main(int argc, char *argv[])
{
    // Database, WAL and SHM files: owner only.
    ::umask(077);
    previousLoggingFilter = QLoggingCategory::installFilter(loggingFilter);
    previousMessageHandler = qInstallMessageHandler(messageHandler);
    // Qt's own event dispatcher rather than GLib's main loop, for this thread and the serving
    // threads: nothing here needs GLib, and its loop cost about 15 % of the CPU of a DPoP GET
    // (docs/SERVER.md, "Connections and limits").
    qputenv("QT_NO_GLIB", "1");
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("tessera-server"));

    ParsedCommandLine command = parseCommandLine(QCoreApplication::arguments());
    if (!command.error.isEmpty()) {
        printLine(QStringLiteral("tessera-server: %1 (see --help)").arg(command.error), stderr);
        return 2;
    }
    if (command.command == Command::Help) {
        std::fputs(helpText().toLocal8Bit().constData(), stdout);
        return 0;
    }
    switch (command.command) {
    case Command::AddUser:
        return addUser(command);
    case Command::AddClient:
        return addClient(command);
    case Command::ListClients:
        return listClients(command);
    case Command::RemoveClient:
        return removeClient(command);
    case Command::Serve:
    case Command::Help:
        break;
    }

    ServerConfig &config = command.config;
    auto store = openStore(config);
    if (!store)
        return 1;
    QString error;
    const bool postgreSQL = store->isPostgreSQL();
    if (!postgreSQL && config.dbPool > 1) {
        printLine(QStringLiteral("tessera-server: --db-pool needs a PostgreSQL --db; an SQLite "
                                 "database is served by one thread"),
                  stderr);
        return 2;
    }
    const int servingThreads =
            postgreSQL ? (config.dbPool > 0 ? config.dbPool : defaultDatabasePool()) : 1;
    if (servingThreads > 1) {
        // One process's hashes in flight (and their memory) stay what one thread would run.
        const int hashThreads = qMax(2, QThread::idealThreadCount());
        config.loginHashThreads = qMax(1, (hashThreads + servingThreads - 1) / servingThreads);
    }
    const PasswordHasher hasher(config.argon2MemoryKiB, config.argon2Iterations);
    // The first unit serves on this thread, next to the listener.
    const auto mainUnit = ServingUnit::create(config, std::move(store), &error);
    if (!mainUnit) {
        printLine(QStringLiteral("tessera-server: %1").arg(error), stderr);
        return 1;
    }
    Store &mainStore = mainUnit->store();
    // SQLite: WAL checkpoints on a thread of their own, off the serving thread's commits.
    // Declared after mainUnit: its last checkpoint runs before the store closes.
    std::unique_ptr<WalCheckpointer> walCheckpointer;
    if (!postgreSQL) {
        if (const auto location = parseDatabaseLocation(config.databasePath, &error))
            walCheckpointer =
                    WalCheckpointer::start(mainStore, location->sqlitePath, config.fullSync);
    }
    if (config.demo) {
        static const QString demoUser = QStringLiteral("demo");
        static const QByteArray demoPassword = QByteArrayLiteral("tessera-demo");
        if (!mainStore.findUser(demoUser)
            && mainStore.addUser(demoUser, hasher.hash(demoPassword))
                    != Store::AddUserResult::Added) {
            printLine(QStringLiteral("tessera-server: cannot create the demo user"), stderr);
            return 1;
        }
        // The demo's native client: loopback redirects, any port (RFC 8252 §7.3).
        static const QString demoClient = QStringLiteral("tessera-demo");
        if (!mainStore.findClient(demoClient)
            && mainStore.addClient(demoClient,
                                   {QStringLiteral("http://127.0.0.1/callback"),
                                    QStringLiteral("http://[::1]/callback")})
                    != Store::AddClientResult::Added) {
            printLine(QStringLiteral("tessera-server: cannot create the demo client"), stderr);
            return 1;
        }
        printLine(QStringLiteral("demo user: demo  password: tessera-demo"));
        printLine(QStringLiteral("demo client: tessera-demo"));
    }

    // Before "listening on" is printed: whoever reads that line may send SIGTERM
    // at once, and it must end the loop cleanly, not kill the process.
    installTerminationHandler(app);
    HttpListener *listener = mainUnit->api(hasher).listen(&error);
    if (!listener) {
        printLine(QStringLiteral("tessera-server: %1").arg(error), stderr);
        return 1;
    }
    const quint16 port = listener->serverPort();
    QString host = config.listenAddress.toString();
    if (config.listenAddress.protocol() == QAbstractSocket::IPv6Protocol)
        host = u'[' + host + u']';
    const QString listenUrl =
            QStringLiteral("%1://%2:%3")
                    .arg(config.tlsCertificatePath.isEmpty() ? QStringLiteral("http")
                                                             : QStringLiteral("https"),
                         host)
                    .arg(port);
    // Before the first request can arrive (the loop has not run yet).
    if (config.issuer.isEmpty()) {
        config.issuer = listenUrl;
        if (!config.listenAddress.isLoopback())
            printLine(QStringLiteral("tessera-server: no --issuer: OAuth clients are told %1; set "
                                     "--issuer to the public URL")
                              .arg(listenUrl),
                      stderr);
    }
    // Declared after mainUnit: destroyed first, while the listener they share still exists.
    std::vector<std::unique_ptr<ServingThread>> threads;
    for (int number = 1; number < servingThreads; ++number) {
        threads.push_back(std::make_unique<ServingThread>(config, hasher, number));
        ConnectionIntake *intake = threads.back()->startServing(&error);
        if (!intake) {
            printLine(
                    QStringLiteral("tessera-server: serving thread %1: %2").arg(number).arg(error),
                    stderr);
            return 1;
        }
        listener->addIntake(intake);
    }
    if (servingThreads > 1)
        qCInfo(lcServerHttp) << "serving with" << servingThreads
                             << "threads, one database connection each";
    printLine(QStringLiteral("listening on %1").arg(listenUrl));

    // Housekeeping: forget families past their absolute or idle expiry. Keep
    // them one access lifetime longer so their last access tokens still resolve.
    QTimer purgeTimer;
    QObject::connect(&purgeTimer, &QTimer::timeout, [&mainUnit] {
        const int removed = mainUnit->tokens().purgeExpired(TokenService::nowMs());
        if (removed > 0)
            qCInfo(lcServerStore) << "purged" << removed << "expired session families";
    });
    purgeTimer.start(std::chrono::minutes(10));

    const int status = app.exec();
    // Nothing more is accepted while the serving threads end.
    listener->close();
    threads.clear();
    return status;
}
