// SPDX-License-Identifier: MIT
// tessera: a scriptable command-line client for Tessera sessions, in the
// spirit of `gh auth`. The refresh token lives in the platform's secure
// storage; the access token is obtained fresh by each invocation. Two
// profiles, as in the SDK: a SimpleJWT server (--server, username and
// password) or an OpenID provider (--issuer, --client-id: browser sign-in).
#include "cliconfig.h"
#include "requestpath.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/session.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QDateTime>
#include <QtCore/QCoreApplication>
#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QSocketNotifier>
#include <QtCore/QTextStream>
#include <QtCore/QTimer>
#include <QtNetwork/QNetworkReply>

#include <cstdio>
#include <iostream>
#include <string>

#include <csignal>

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

using namespace Tessera;

namespace {

// Exit codes, documented in --help and the README.
enum ExitCode {
    ExitOk = 0,
    ExitFailure = 1,
    ExitUsage = 2,
    ExitSignedOut = 3,
    ExitStorage = 4,
    ExitNetwork = 5,
    ExitInterrupted = 128, // + the signal's number, as shells report it (130 for Ctrl-C)
};

const char HelpText[] = R"HELP(Usage: tessera COMMAND [options]

Commands:
  login     Sign in and keep the session in the platform's secure storage.
            --server URL  --username NAME  --password-stdin (else a prompt without echo)
            or, with an OpenID provider, in the browser:
            --issuer URL  --client-id ID  [--scope S ...]  [--resource-origin ORIGIN ...]
            The authorization URL is printed on stderr (to copy into a browser) and
            opened with $BROWSER (run with the URL as its only argument) or xdg-open;
            tessera waits for the browser to come back. Ctrl-C cancels.
  status    Whether a session is stored, for which user and server, when the
            access token expires (after one refresh), and whether it is DPoP-bound
            (with the key's RFC 7638 thumbprint). Never prints a token.
  get PATH  Authenticated GET of PATH on the server; prints the body. PATH is a
            path on the session's server (OAuth: the issuer's origin) starting with
            a single "/" (/api/me/); anything that could name another host
            (//host/x, http://...) is refused, except a full URL on a resource origin.
  token     Prints a fresh access token, for scripts:
              curl -H "Authorization: Bearer $(tessera token)" ...
            Never prints the refresh token. A DPoP-bound token is useless
            without the session's key, which stays in secure storage.
  logout    Revokes the session on the server and forgets it locally.

Options:
  --server URL          Server base URL (https, or http on loopback only).
  --issuer URL          OpenID provider's issuer (https, or http on loopback only);
                        selects the OAuth profile (browser sign-in, no password).
  --client-id ID        The app's client id at the issuer (a public native client).
  --scope S             A scope to request; repeat for more (default: openid
                        offline_access).
  --resource-origin O   Another origin whose requests carry the token (an API at
                        another host); `get` then accepts full URLs on it. Repeatable.
  --device              login: the device authorization grant (RFC 8628) instead of
                        the browser on this machine: prints a URL and a code to enter
                        on any device, opens the URL when a browser is at hand, waits.
  --dpop                login: require DPoP (RFC 9449): the tokens are bound to a key
                        kept beside the refresh token; fails if the server does not
                        bind them. Remembered.
  --no-dpop             login: never use DPoP. Remembered. Without either, DPoP is
                        used when the OpenID provider advertises it (ES256).
  --username NAME       Account name (login; memory-only get/token).
  --password-stdin      Read the password from the first line of stdin.
  --app-id ID           Storage namespace (default org.tessera.cli).
  --obtain-path PATH    Token endpoint (default /api/token/).
  --refresh-path PATH   Refresh endpoint (default /api/token/refresh/).
  --revoke-path PATH    Revoke endpoint (default /api/token/blacklist/; "" for none).
  --config FILE         Config file (default $XDG_CONFIG_HOME/tessera/cli.conf).
  --memory-only         Keep nothing after this invocation: no secure storage. A session
                        then lives for one command only, so `get` and `token` sign in
                        first (--username, password from stdin or a prompt) and `login`
                        alone is of no use.
  -h, --help            Show this text.

The config file remembers the server URL, the username and the endpoint paths,
or the issuer, client id, scopes and resource origins (plain text, never a
token). Flags override it; --issuer or --server on login replaces the other
profile's settings. It is written 0600 in a 0700
directory; like ssh, tessera refuses a config that is a symbolic link, is not
yours, or that group or others can write (or whose directory they can write),
and says why. The password prompt names the user and the server it goes to.

Exit codes:
  0  ok
  1  other failure (e.g. the config file could not be written)
  2  usage error, or a config file that is not safe to use
  3  signed out, or re-authentication required
  4  secure storage unavailable, locked or refused
  5  network or server error
  130  interrupted (Ctrl-C) while waiting for the sign-in; nothing is stored
)HELP";

void printError(const QString &message)
{
    std::fprintf(stderr, "tessera: %s\n", message.toLocal8Bit().constData());
}

int exitCodeFor(const Error &error)
{
    switch (error.code()) {
    case Error::Code::NoError:
        return ExitOk;
    case Error::Code::NotSignedIn:
    case Error::Code::SessionRejected:
    case Error::Code::InvalidCredentials:
    case Error::Code::Unauthorized:
    case Error::Code::AccessDenied:    // the user or the provider refused the sign-in
    case Error::Code::InvalidResponse: // a sign-in response failed a security check
    case Error::Code::DpopNotBound:    // --dpop, and the server does not bind tokens
        return ExitSignedOut;
    case Error::Code::StorageUnavailable:
    case Error::Code::StorageLocked:
    case Error::Code::StorageAccessDenied:
    case Error::Code::StorageTooLarge:
    case Error::Code::StorageFailure:
        return ExitStorage;
    case Error::Code::InvalidConfiguration:
    case Error::Code::InsecureTransport:
        return ExitUsage;
    default:
        return ExitNetwork;
    }
}

QString readPassword(bool fromStdin, const QString &prompt)
{
    std::string line;
    if (!fromStdin && isatty(STDIN_FILENO)) {
        termios saved{};
        tcgetattr(STDIN_FILENO, &saved);
        termios silent = saved;
        silent.c_lflag &= ~tcflag_t(ECHO);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent);
        // After echo is off: whatever is typed once the prompt shows is read, not echoed.
        std::fputs(prompt.toLocal8Bit().constData(), stderr);
        std::fflush(stderr);
        std::getline(std::cin, line);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        std::fputc('\n', stderr);
    } else {
        std::getline(std::cin, line);
    }
    if (!line.empty() && line.back() == '\r')
        line.pop_back();
    QString password = QString::fromStdString(line);
    std::fill(line.begin(), line.end(), '\0');
    return password;
}

QString readUsername()
{
    if (!isatty(STDIN_FILENO))
        return {};
    std::fputs("Username: ", stderr);
    std::fflush(stderr);
    std::string line;
    std::getline(std::cin, line);
    return QString::fromStdString(line).trimmed();
}

// SIGINT and SIGTERM while the browser sign-in waits: the handler only writes the signal's
// number to a pipe that the event loop reads (nothing else is async-signal-safe). SA_RESETHAND:
// a second Ctrl-C ends the process at once.
int signalPipe[2] = {-1, -1};

void onSignal(int number)
{
    const unsigned char byte = static_cast<unsigned char>(number);
    [[maybe_unused]] const ssize_t written = ::write(signalPipe[1], &byte, 1);
}

QSocketNotifier *catchInterrupts(QObject *parent)
{
    if (::pipe2(signalPipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return nullptr;
    struct sigaction action = {};
    action.sa_handler = onSignal;
    action.sa_flags = SA_RESETHAND | SA_RESTART;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
    return new QSocketNotifier(signalPipe[0], QSocketNotifier::Read, parent);
}

// Once the sign-in is over, Ctrl-C ends the process again (e.g. during `--memory-only get`).
void releaseInterrupts()
{
    if (signalPipe[0] < 0)
        return;
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
}

// One invocation: a command driven through the futures of the session's operations.
class Command : public QObject
{
public:
    Command(const QCommandLineParser &parser, const QString &name, const QString &argument)
        : m_parser(parser)
        , m_name(name)
        , m_argument(argument)
    { }

    int run();

private:
    QString option(const QString &name) const;
    // The server, or the issuer for OAuth.
    QUrl where() const
    {
        return m_config.profile() == SessionConfig::Profile::OAuth ? m_config.issuer()
                                                                   : m_config.serverUrl();
    }
    void finish(int code) { QCoreApplication::exit(code); }
    void fail(const Error &error)
    {
        printError(error.message());
        finish(exitCodeFor(error));
    }
    int configureOAuth(const QString &issuer);
    void signInWithBrowser();
    void signInWithDevice();
    void cancelOnInterrupt();
    void signIn(QFuture<void> signedIn, bool login);
    void signInFailed(const Error &error, bool login);
    void afterSignIn();
    void logout();
    void doGet();
    void doToken();
    void doStatus();
    bool rememberSettings();

    const QCommandLineParser &m_parser;
    QString m_name;
    QString m_argument;
    std::unique_ptr<TesseraCli::CliConfig> m_settings;
    SessionConfig m_config;
    QUrl m_getUrl;
    std::unique_ptr<Session> m_session;
    std::unique_ptr<AuthenticatedNetworkAccessManager> m_network;
    bool m_memoryOnly = false;
    int m_interruptedBy = 0; // the signal that cancelled the browser sign-in
};

QString Command::option(const QString &name) const
{
    if (m_parser.isSet(name))
        return m_parser.value(name);
    return m_settings->value(name);
}

bool Command::rememberSettings()
{
    const bool oauth = m_config.profile() == SessionConfig::Profile::OAuth;
    const QStringList simpleJwtKeys = {QStringLiteral("server"), QStringLiteral("obtain-path"),
                                       QStringLiteral("refresh-path"),
                                       QStringLiteral("revoke-path")};
    const QStringList oauthKeys = {QStringLiteral("issuer"), QStringLiteral("client-id"),
                                   QStringLiteral("scopes")};
    // One profile at a time: the other's settings would otherwise decide the next invocation.
    for (const QString &key : oauth ? simpleJwtKeys : oauthKeys)
        m_settings->remove(key);
    if (oauth) {
        m_settings->setValue(QStringLiteral("issuer"), m_config.issuer().toString());
        m_settings->setValue(QStringLiteral("client-id"), m_config.clientId());
        m_settings->setValue(QStringLiteral("scopes"), m_config.scopes().join(QLatin1Char(' ')));
    } else {
        m_settings->setValue(QStringLiteral("server"), m_config.serverUrl().toString());
        m_settings->setValue(QStringLiteral("obtain-path"), m_config.obtainPath());
        m_settings->setValue(QStringLiteral("refresh-path"), m_config.refreshPath());
        m_settings->setValue(QStringLiteral("revoke-path"), m_config.revokePath());
    }
    if (m_config.resourceOrigins().isEmpty())
        m_settings->remove(QStringLiteral("resource-origins"));
    else
        m_settings->setValue(QStringLiteral("resource-origins"),
                             m_config.resourceOrigins().join(QLatin1Char(' ')));
    switch (m_config.dpopPolicy()) {
    case SessionConfig::DpopPolicy::Required:
        m_settings->setValue(QStringLiteral("dpop"), QStringLiteral("required"));
        break;
    case SessionConfig::DpopPolicy::Off:
        m_settings->setValue(QStringLiteral("dpop"), QStringLiteral("off"));
        break;
    case SessionConfig::DpopPolicy::IfSupported:
        m_settings->remove(QStringLiteral("dpop"));
        break;
    }
    m_settings->setValue(QStringLiteral("username"), m_session->user());
    m_settings->setValue(QStringLiteral("app-id"), m_config.appId());
    QString error;
    if (m_settings->save(&error))
        return true;
    printError(QStringLiteral("signed in, but %1").arg(error));
    return false;
}

int Command::run()
{
    const QString configFile = m_parser.isSet(QStringLiteral("config"))
            ? m_parser.value(QStringLiteral("config"))
            : TesseraCli::CliConfig::defaultPath();
    m_settings = std::make_unique<TesseraCli::CliConfig>(configFile);
    if (QString error; !m_settings->load(&error)) {
        printError(error);
        return ExitUsage;
    }
    m_memoryOnly = m_parser.isSet(QStringLiteral("memory-only"));

    // The flags choose the profile; without either, the config's (the issuer when it has one).
    const bool serverFlag = m_parser.isSet(QStringLiteral("server"));
    const bool issuerFlag = m_parser.isSet(QStringLiteral("issuer"));
    if (serverFlag && issuerFlag) {
        printError(
                QStringLiteral("--server and --issuer name different kinds of sign-in: give one"));
        return ExitUsage;
    }
    const QString issuer = issuerFlag ? m_parser.value(QStringLiteral("issuer"))
            : serverFlag              ? QString()
                                      : m_settings->value(QStringLiteral("issuer"));
    if (!issuer.isEmpty()) {
        if (const int code = configureOAuth(issuer); code >= 0)
            return code;
    } else {
        const QString server = option(QStringLiteral("server"));
        if (server.isEmpty()) {
            printError(QStringLiteral("no server: use --server URL, or --issuer URL --client-id ID "
                                      "(remembered after login)"));
            return ExitUsage;
        }
        QString appId = option(QStringLiteral("app-id"));
        m_config = SessionConfig(QUrl(server),
                                 appId.isEmpty() ? QStringLiteral("org.tessera.cli") : appId);
        for (const auto &[name, setter] :
             {std::pair{QStringLiteral("obtain-path"), &SessionConfig::setObtainPath},
              std::pair{QStringLiteral("refresh-path"), &SessionConfig::setRefreshPath},
              std::pair{QStringLiteral("revoke-path"), &SessionConfig::setRevokePath}}) {
            if (m_parser.isSet(name) || m_settings->contains(name))
                (m_config.*setter)(option(name));
        }
    }
    // Only what login lists: the token goes to these origins too.
    m_config.setResourceOrigins(m_parser.isSet(QStringLiteral("resource-origin"))
                                        ? m_parser.values(QStringLiteral("resource-origin"))
                                        : m_settings->value(QStringLiteral("resource-origins"))
                                                  .split(QLatin1Char(' '), Qt::SkipEmptyParts));
    if (m_memoryOnly)
        m_config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
    if (m_parser.isSet(QStringLiteral("dpop")) && m_parser.isSet(QStringLiteral("no-dpop"))) {
        printError(QStringLiteral("--dpop and --no-dpop contradict each other: give one"));
        return ExitUsage;
    }
    // The policy the session was signed in with, so that a bound session is restored bound.
    const QString dpop = m_parser.isSet(QStringLiteral("dpop")) ? QStringLiteral("required")
            : m_parser.isSet(QStringLiteral("no-dpop"))         ? QStringLiteral("off")
                                                        : m_settings->value(QStringLiteral("dpop"));
    if (dpop == u"required")
        m_config.setDpopPolicy(SessionConfig::DpopPolicy::Required);
    else if (dpop == u"off")
        m_config.setDpopPolicy(SessionConfig::DpopPolicy::Off);
    if (const Error error = m_config.validate()) {
        printError(error.message());
        return ExitUsage;
    }
    if (m_name == u"get") {
        // Before any request: a PATH that names another origin gets none at all.
        QString error;
        const QUrl base = m_config.profile() == SessionConfig::Profile::OAuth
                ? m_config.issuer()
                : m_config.serverUrl();
        m_getUrl = TesseraCli::resolveRequestPath(base, m_argument, &error,
                                                  m_config.resourceOrigins());
        if (!m_getUrl.isValid()) {
            printError(error);
            return ExitUsage;
        }
    }

    m_session = std::make_unique<Session>(m_config);
    m_network = std::make_unique<AuthenticatedNetworkAccessManager>(m_session.get());

    const bool needsLogin = m_name == u"login" || (m_memoryOnly && m_name != u"logout");
    if (m_parser.isSet(QStringLiteral("device"))
        && (!needsLogin || m_config.profile() != SessionConfig::Profile::OAuth)) {
        printError(QStringLiteral("--device signs in at an OpenID provider: use it with login "
                                  "--issuer URL --client-id ID"));
        return ExitUsage;
    }
    if (m_memoryOnly && (m_name == u"status" || m_name == u"logout")) {
        printError(QStringLiteral("--memory-only keeps no session between invocations, so there is "
                                  "nothing to %1")
                           .arg(m_name));
        return ExitUsage;
    }
    if (needsLogin && m_config.profile() == SessionConfig::Profile::OAuth) {
        if (m_memoryOnly && m_name == u"login")
            printError(QStringLiteral(
                    "note: --memory-only keeps nothing after this command; use "
                    "`tessera --memory-only get PATH` to sign in and call in one go"));
        if (m_parser.isSet(QStringLiteral("device")))
            signInWithDevice();
        else
            signInWithBrowser();
    } else if (needsLogin) {
        QString username = option(QStringLiteral("username"));
        if (username.isEmpty())
            username = readUsername();
        if (username.isEmpty()) {
            printError(QStringLiteral("no username: use --username NAME"));
            return ExitUsage;
        }
        if (m_memoryOnly && m_name == u"login")
            printError(QStringLiteral(
                    "note: --memory-only keeps nothing after this command; use "
                    "`tessera --memory-only get PATH` to sign in and call in one go"));
        // Named, so a server= line someone edited into the config cannot
        // collect the password unnoticed.
        const QString prompt = QStringLiteral("Password for %1 at %2: ")
                                       .arg(username, m_config.serverUrl().toDisplayString());
        const QString password =
                readPassword(m_parser.isSet(QStringLiteral("password-stdin")), prompt);
        if (password.isEmpty()) {
            printError(QStringLiteral("no password given"));
            return ExitUsage;
        }
        signIn(m_session->login(username, password), true);
    } else {
        signIn(m_session->restore(), false);
    }
    return -1; // continue in the event loop
}

int Command::configureOAuth(const QString &issuer)
{
    const QString clientId = option(QStringLiteral("client-id"));
    if (clientId.isEmpty()) {
        printError(QStringLiteral("no client id: use --client-id ID with --issuer (remembered "
                                  "after login)"));
        return ExitUsage;
    }
    const QString appId = option(QStringLiteral("app-id"));
    m_config = SessionConfig();
    m_config.setAppId(appId.isEmpty() ? QStringLiteral("org.tessera.cli") : appId);
    m_config.setIssuer(QUrl(issuer, QUrl::StrictMode));
    m_config.setClientId(clientId);
    // Each --scope may also hold several, space-separated as in OAuth's scope parameter.
    const QStringList scopes =
            (m_parser.isSet(QStringLiteral("scope"))
                     ? m_parser.values(QStringLiteral("scope")).join(QLatin1Char(' '))
                     : m_settings->value(QStringLiteral("scopes")))
                    .split(QLatin1Char(' '), Qt::SkipEmptyParts);
    if (!scopes.isEmpty())
        m_config.setScopes(scopes);
    return -1;
}

void Command::signInWithBrowser()
{
    QObject::connect(m_session.get(), &Session::browserSignInRequested, this, [](const QUrl &url) {
        // Always printed: the opener may fail, or the browser may be on another screen.
        std::fprintf(stderr, "Open this URL in your browser to sign in:\n  %s\n",
                     url.toEncoded().constData());
        if (!openInSystemBrowser(url))
            printError(QStringLiteral("could not start a browser ($BROWSER or xdg-open): open "
                                      "the URL above yourself"));
        printError(QStringLiteral("waiting for the browser (Ctrl-C cancels)"));
    });
    cancelOnInterrupt();
    signIn(m_session->signInWithBrowser(), true);
}

void Command::signInWithDevice()
{
    QObject::connect(
            m_session.get(), &Session::deviceSignInRequested, this,
            [](const QUrl &verificationUri, const QUrl &verificationUriComplete,
               const QString &userCode, const QDateTime &expiresAt) {
                const qint64 minutes =
                        qMax<qint64>(1, QDateTime::currentDateTimeUtc().secsTo(expiresAt) / 60);
                std::fprintf(stderr,
                             "To sign in, open on any device:\n  %s\nand enter the code:  %s\n"
                             "(within %lld minutes)\n",
                             verificationUri.toEncoded().constData(), qPrintable(userCode),
                             static_cast<long long>(minutes));
                if (!verificationUriComplete.isEmpty()) {
                    std::fprintf(stderr, "Or open this URL, which carries the code:\n  %s\n",
                                 verificationUriComplete.toEncoded().constData());
                    if (!openInSystemBrowser(verificationUriComplete))
                        printError(QStringLiteral("no browser here ($BROWSER or xdg-open): use "
                                                  "another device"));
                }
                printError(QStringLiteral("waiting for the sign-in (Ctrl-C cancels)"));
            });
    cancelOnInterrupt();
    signIn(m_session->signInWithDevice(), true);
}

// Ctrl-C / SIGTERM while the person signs in: the sign-in is cancelled and nothing is stored.
void Command::cancelOnInterrupt()
{
    if (QSocketNotifier *interrupts = catchInterrupts(this)) {
        QObject::connect(interrupts, &QSocketNotifier::activated, this, [this] {
            unsigned char number = 0;
            if (::read(signalPipe[0], &number, 1) == 1 && !m_interruptedBy) {
                m_interruptedBy = number;
                m_session->cancelSignIn();
            }
        });
    }
}

void Command::signIn(QFuture<void> signedIn, bool login)
{
    signedIn.then(this,
                  [this, login] {
                      releaseInterrupts();
                      if (login && !m_memoryOnly && !rememberSettings())
                          return finish(ExitFailure);
                      afterSignIn();
                  })
            .onFailed(this, [this, login](const ErrorException &failure) {
                signInFailed(failure.error(), login);
            });
}

void Command::signInFailed(const Error &error, bool login)
{
    releaseInterrupts();
    if (m_interruptedBy && error.code() == Error::Code::Cancelled) {
        printError(QStringLiteral("sign-in cancelled; nothing was stored"));
        return finish(ExitInterrupted + m_interruptedBy);
    }
    if (!login && m_name == u"logout") {
        // Still holding the token (e.g. the server is down): log out anyway; local state
        // is cleared either way.
        if (m_session->state() == Session::State::SignedIn)
            return logout();
        std::puts("not signed in");
        return finish(ExitOk);
    }
    if (!login && m_name == u"status" && exitCodeFor(error) == ExitSignedOut) {
        std::puts(error.code() == Error::Code::NotSignedIn
                          ? "not signed in"
                          : "signed out: the server ended the session; sign in again");
        return finish(ExitSignedOut);
    }
    fail(error);
}

void Command::logout()
{
    m_session->logout()
            .then(this,
                  [this] {
                      std::puts("signed out");
                      finish(ExitOk);
                  })
            .onFailed(this, [this](const ErrorException &failure) { fail(failure.error()); });
}

void Command::afterSignIn()
{
    if (m_name == u"login") {
        std::printf("signed in as %s at %s\n", qPrintable(m_session->user()),
                    qPrintable(where().toString()));
        return finish(ExitOk);
    }
    if (m_name == u"status")
        return doStatus();
    if (m_name == u"get")
        return doGet();
    if (m_name == u"token")
        return doToken();
    if (m_name == u"logout")
        return logout();
}

void Command::doStatus()
{
    const bool oauth = m_config.profile() == SessionConfig::Profile::OAuth;
    std::printf("signed in as %s\n%s: %s\n", qPrintable(m_session->user()),
                oauth ? "issuer" : "server", qPrintable(where().toString()));
    if (oauth)
        std::printf("client id: %s\n", qPrintable(m_config.clientId()));
    std::printf("access token expires: %s\n",
                qPrintable(m_session->accessExpiresAt().toLocalTime().toString(
                        QStringLiteral("yyyy-MM-dd HH:mm:ss t"))));
    if (m_session->isDpopBound())
        std::printf("DPoP: bound to key %s\n", qPrintable(m_session->dpopKeyThumbprint()));
    else
        std::printf("DPoP: not bound (bearer token)\n");
    finish(ExitOk);
}

void Command::doGet()
{
    QNetworkReply *reply = m_network->get(QNetworkRequest(m_getUrl));
    QObject::connect(reply, &QNetworkReply::finished, this, [this, reply] {
        reply->deleteLater();
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        const QByteArray body = reply->readAll();
        std::fwrite(body.constData(), 1, size_t(body.size()), stdout);
        if (!body.endsWith('\n'))
            std::fputc('\n', stdout);
        if (status >= 200 && status < 300)
            return finish(ExitOk);
        if (status == 401 || status == 403) {
            printError(QStringLiteral("the server refused the request (HTTP %1)").arg(status));
            return finish(ExitSignedOut);
        }
        printError(status ? QStringLiteral("HTTP %1").arg(status) : reply->errorString());
        finish(ExitNetwork);
    });
}

void Command::doToken()
{
    m_session->freshAccessToken()
            .then(this,
                  [this](Secret token) {
                      std::fwrite(token.reveal().data(), 1, size_t(token.size()), stdout);
                      std::fputc('\n', stdout);
                      finish(ExitOk);
                  })
            .onFailed(this, [this](const ErrorException &failure) { fail(failure.error()); });
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("tessera"));
    QCommandLineParser parser;
    parser.setOptionsAfterPositionalArgumentsMode(QCommandLineParser::ParseAsOptions);
    for (const char *name :
         {"server", "username", "app-id", "obtain-path", "refresh-path", "revoke-path", "config",
          "issuer", "client-id", "scope", "resource-origin"})
        parser.addOption(
                QCommandLineOption(QString::fromLatin1(name), QString(), QStringLiteral("VALUE")));
    parser.addOption(QCommandLineOption(QStringLiteral("password-stdin")));
    parser.addOption(QCommandLineOption(QStringLiteral("memory-only")));
    parser.addOption(QCommandLineOption(QStringLiteral("device")));
    parser.addOption(QCommandLineOption(QStringLiteral("dpop")));
    parser.addOption(QCommandLineOption(QStringLiteral("no-dpop")));
    parser.addOption(QCommandLineOption(QStringList{QStringLiteral("h"), QStringLiteral("help")}));
    if (!parser.parse(QCoreApplication::arguments())) {
        printError(parser.errorText() + QStringLiteral(" (see tessera --help)"));
        return ExitUsage;
    }
    if (parser.isSet(QStringLiteral("help"))) {
        std::fputs(HelpText, stdout);
        return ExitOk;
    }
    const QStringList positional = parser.positionalArguments();
    const QString command = positional.value(0);
    const QStringList known = {QStringLiteral("login"), QStringLiteral("status"),
                               QStringLiteral("get"), QStringLiteral("token"),
                               QStringLiteral("logout")};
    if (!known.contains(command) || (command == u"get") != (positional.size() == 2)
        || positional.size() > 2) {
        printError(command.isEmpty()
                           ? QStringLiteral("no command (see tessera --help)")
                           : QStringLiteral("usage: tessera %1%2 [options] (see --help)")
                                     .arg(command,
                                          command == u"get" ? QStringLiteral(" PATH") : QString()));
        return ExitUsage;
    }
    Command runner(parser, command, positional.value(1));
    const int immediate = runner.run();
    if (immediate >= 0)
        return immediate;
    return app.exec();
}
