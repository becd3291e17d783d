// SPDX-License-Identifier: MIT
// Test support for the Session tests of the OAuth profile (tst_oauth_session,
// tst_oauth_devicesession): the real authorization server they run against, chosen by
// $TESSERA_OAUTH_PEER ("oidc-provider", the default, or "tessera-server"; one ctest name each),
// browser.py as the person in the browser, and the small helpers both tests use.
//
// Both peers get the same users and password: oidc-provider's development pages accept any
// login; tessera-server gets `user add` for each name in OAuthPeer::Users and a public native
// client `client add CLIENT --redirect-uri http://127.0.0.1/callback` (any loopback port, RFC
// 8252 §7.3). browser.py reads the password from its environment (--password-env), not argv.
// Needs TESSERA_PYTHON_PATH and TESSERA_BROWSER_SCRIPT from the build.
#pragma once

#include "securestore_p.h"

#include "keyringtest.h"
#include "oidcproviderprocess.h"
#include "serverprocess.h"
#include "thiefsupport.h"

#include <tessera/error.h>
#include <tessera/session.h>
#include <tessera/sessionconfig.h>

#include <QtCore/QFuture>
#include <QtCore/QMetaEnum>
#include <QtCore/QProcess>
#include <QtCore/QUuid>
#include <QtNetwork/QTcpServer>
#include <QtTest/QTest>

#include <memory>
#include <optional>

namespace Tessera::Test {

// Generous: an ASan build on two busy cores, node and python starting.
constexpr int FlowTimeoutMs = 90000;

// The environment variable that carries the password from the test to browser.py.
inline const QString PasswordVariable = QStringLiteral("TESSERA_TEST_OAUTH_PASSWORD");

// A real authorization server on loopback: oidc-provider or tessera-server.
class OAuthPeer
{
public:
    enum class Kind { OidcProvider, TesseraServer };
    // Everyone a test signs in as.
    static inline const QStringList Users{QStringLiteral("alice"), QStringLiteral("carol"),
                                          QStringLiteral("dave"), QStringLiteral("erin"),
                                          QStringLiteral("frank")};

    // $TESSERA_OAUTH_PEER; nullopt (and `*problem` set) for a value that names no peer.
    static std::optional<Kind> fromEnvironment(QString *problem)
    {
        const QString name = qEnvironmentVariable("TESSERA_OAUTH_PEER");
        if (name.isEmpty() || name == QLatin1String("oidc-provider"))
            return Kind::OidcProvider;
        if (name == QLatin1String("tessera-server"))
            return Kind::TesseraServer;
        *problem =
                QStringLiteral("TESSERA_OAUTH_PEER=%1: oidc-provider or tessera-server").arg(name);
        return std::nullopt;
    }

    // The peer $TESSERA_OAUTH_PEER names, started; null (and `*problem` set) when it cannot be.
    // `deviceInterval`: setDeviceInterval() before the start (0: the peer's default).
    static std::unique_ptr<OAuthPeer> startFromEnvironment(QString *problem, int deviceInterval = 0)
    {
        const auto kind = fromEnvironment(problem);
        if (!kind)
            return nullptr;
        auto peer = std::make_unique<OAuthPeer>(*kind);
        peer->setDeviceInterval(deviceInterval);
        if (!peer->start()) {
            *problem = peer->errorString();
            return nullptr;
        }
        qInfo("authorization server: %s at %s", qPrintable(peer->name()),
              qPrintable(peer->issuer().toString()));
        return peer;
    }

    explicit OAuthPeer(Kind kind)
        : m_kind(kind)
        , m_password(QUuid::createUuid().toString(QUuid::Id128))
    { }

    Kind kind() const { return m_kind; }
    bool isTesseraServer() const { return m_kind == Kind::TesseraServer; }
    QString name() const
    {
        return isTesseraServer() ? QStringLiteral("tessera-server")
                                 : QStringLiteral("oidc-provider");
    }

    // Set before start(): access token lifetime in seconds (0: the peer's default), an issuer
    // path such as "/realms/acme".
    void setAccessTtl(int seconds) { m_accessTtl = seconds; }
    void setIssuerPath(const QString &path) { m_issuerPath = path; }
    // Set before start(): tessera-server's device polling interval (--device-interval).
    // oidc-provider's cannot be set: it sends no interval, so clients poll at RFC 8628's 5 s.
    void setDeviceInterval(int seconds) { m_deviceInterval = seconds; }
    // The interval a device sign-in at this peer polls at.
    int deviceIntervalSeconds() const
    {
        return isTesseraServer() && m_deviceInterval > 0 ? m_deviceInterval : 5;
    }
    // oidc-provider only: more provider.js options (--dpop, --dpop-require-nonce, ...).
    void setProviderArguments(const QStringList &arguments) { m_providerArguments = arguments; }
    // tessera-server only: more options (--dpop required, --dpop-nonce, ...).
    void setServerArguments(const QStringList &arguments) { m_serverArguments = arguments; }

    bool start()
    {
        if (!isTesseraServer()) {
            m_provider = std::make_unique<OidcProviderProcess>();
            m_provider->setIssuerPath(m_issuerPath);
            m_provider->setAccessTtl(m_accessTtl);
            m_provider->setExtraArguments(m_providerArguments);
            if (!m_provider->start()) {
                m_error = m_provider->errorString();
                return false;
            }
            return true;
        }
        QStringList arguments = m_serverArguments;
        if (m_accessTtl > 0)
            arguments << QStringLiteral("--access-ttl") << QString::number(m_accessTtl);
        if (m_deviceInterval > 0)
            arguments << QStringLiteral("--device-interval") << QString::number(m_deviceInterval);
        if (!m_issuerPath.isEmpty()) {
            // The issuer is fixed at start and has the port in it: take a free one first.
            QTcpServer probe;
            if (!probe.listen(QHostAddress::LocalHost)) {
                m_error = QStringLiteral("no free loopback port: %1").arg(probe.errorString());
                return false;
            }
            const QString origin = QStringLiteral("127.0.0.1:%1").arg(probe.serverPort());
            probe.close();
            arguments << QStringLiteral("--listen") << origin << QStringLiteral("--issuer")
                      << QStringLiteral("http://") + origin + m_issuerPath;
        }
        m_server = std::make_unique<ServerProcess>(arguments);
        for (const QString &user : Users) {
            if (!m_server->addUser(user, m_password.toUtf8())) {
                m_error = m_server->errorString();
                return false;
            }
        }
        if (!addClient())
            return false;
        if (!m_server->start()) {
            m_error = m_server->errorString();
            return false;
        }
        return true;
    }

    QString errorString() const { return m_error; }

    QUrl issuer() const
    {
        return QUrl(process().baseUrl().toString(QUrl::StripTrailingSlash) + m_issuerPath);
    }
    QString clientId() const { return QStringLiteral("tessera-native"); }

    ListeningProcess &process() const
    {
        return isTesseraServer() ? static_cast<ListeningProcess &>(*m_server)
                                 : static_cast<ListeningProcess &>(*m_provider);
    }
    void printLogIfFailed()
    {
        if (m_server || m_provider)
            process().printLogIfFailed();
    }

    // browser.py's options to sign in as `user` (its password comes from browserEnvironment()).
    QStringList signInOptions(const QString &user = QStringLiteral("alice")) const
    {
        return {QStringLiteral("--login"), user, QStringLiteral("--password-env"),
                PasswordVariable};
    }
    QProcessEnvironment browserEnvironment() const
    {
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert(PasswordVariable, m_password);
        return environment;
    }

private:
    // `tessera-server client add`: a public native client with loopback redirects.
    bool addClient()
    {
        QProcess process;
        process.setProcessEnvironment(m_server->environment());
        process.setWorkingDirectory(m_server->directory());
        process.setProcessChannelMode(QProcess::MergedChannels);
        process.start(ServerProcess::binaryPath(),
                      {QStringLiteral("client"), QStringLiteral("add"), clientId(),
                       QStringLiteral("--redirect-uri"),
                       QStringLiteral("http://127.0.0.1/callback"),
                       QStringLiteral("--redirect-uri"), QStringLiteral("http://[::1]/callback"),
                       QStringLiteral("--db"), m_server->databasePath()});
        if (!process.waitForFinished(60000) || process.exitStatus() != QProcess::NormalExit
            || process.exitCode() != 0) {
            m_error = QStringLiteral("client add failed: %1 %2")
                              .arg(process.errorString(), QString::fromUtf8(process.readAll()));
            return false;
        }
        return true;
    }

    Kind m_kind;
    QString m_password;
    int m_accessTtl = 0;
    int m_deviceInterval = 0;
    QString m_issuerPath;
    QStringList m_providerArguments;
    QStringList m_serverArguments;
    QString m_error;
    std::unique_ptr<OidcProviderProcess> m_provider;
    std::unique_ptr<ServerProcess> m_server;
};

// browser.py as the person, started for every browserSignInRequested() of a session (with the
// authorization URL) or deviceSignInRequested() (with the complete verification URI); not
// waited for: the session's listener answers, or it polls, while the person signs in.
class ScriptedPerson : public QObject
{
public:
    ScriptedPerson(Session &session, const OAuthPeer &peer, QStringList options)
        : m_options(std::move(options))
    {
        m_process.setProcessEnvironment(peer.browserEnvironment());
        m_process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        connect(&session, &Session::browserSignInRequested, this,
                [this](const QUrl &url) { open(url); });
        connect(&session, &Session::deviceSignInRequested, this,
                [this](const QUrl &, const QUrl &complete) { open(complete); });
    }
    ~ScriptedPerson() override
    {
        if (m_process.state() != QProcess::NotRunning) {
            m_process.kill();
            m_process.waitForFinished(5000);
        }
    }
    void open(const QUrl &url)
    {
        m_process.start(QStringLiteral(TESSERA_PYTHON_PATH),
                        QStringList{QStringLiteral(TESSERA_BROWSER_SCRIPT)}
                                << m_options << QString::fromLatin1(url.toEncoded()));
        ++opened;
    }
    // browser.py's exit status once it ended (0: it got through), -1 if it did not in time.
    int exitCode()
    {
        if (!QTest::qWaitFor([this] { return m_process.state() == QProcess::NotRunning; },
                             FlowTimeoutMs)
            || m_process.exitStatus() != QProcess::NormalExit)
            return -1;
        return m_process.exitCode();
    }
    int opened = 0;

private:
    QStringList m_options;
    QProcess m_process;
};

// Waits for `future`; its error (NoError on success).
template<typename T> Error wait(QFuture<T> future)
{
    if (!QTest::qWaitFor([&] { return future.isFinished(); }, FlowTimeoutMs))
        return {Error::Code::Cancelled, QStringLiteral("the test gave up waiting")};
    return errorOf(future);
}

inline QString describe(const Error &error)
{
    return QStringLiteral("%1 %2").arg(
            QString::fromLatin1(QMetaEnum::fromType<Error::Code>().valueToKey(int(error.code()))),
            error.message());
}

} // namespace Tessera::Test
