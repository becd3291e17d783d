// SPDX-License-Identifier: MIT
// The browser sign-in with a real browser: the SDK's OAuth::CodeFlow against the real
// oidc-provider and against tessera-server as the authorization server, with Debian's chromium
// (headless, driven by tests/browser/signin.mjs) as the system browser. What browser.py cannot
// show: a rendering browser with its own cookie, redirect and form handling lands on the SDK's
// loopback receiver with a code the SDK can exchange, and the ID token's nonce survives the trip.
// The pages a person sees are saved in <build>/screenshots/ and checked to show content.
#include "imagestats.h"
#include "oauth/codeflow_p.h"
#include "oauth/discovery_p.h"
#include "oauth/idtoken_p.h"
#include "oauth/jwkscache_p.h"

#include "oidcproviderprocess.h"
#include "serverprocess.h"
#include "testsupport.h"

#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QMetaEnum>
#include <QtCore/QProcess>
#include <QtGui/QImage>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>

using namespace Tessera;
using namespace Tessera::OAuth;
using Tessera::Test::OidcProviderProcess;

namespace {

// Chromium starting on two busy cores, under ASan on the SDK side.
constexpr int FlowTimeoutMs = 120000;

// One run of the chromium driver, started (not waited for) when the flow emits the URL: the
// receiver must answer while the browser runs.
class Chromium
{
public:
    explicit Chromium(QStringList options)
        : m_options(std::move(options))
    { }
    ~Chromium()
    {
        if (m_process.state() != QProcess::NotRunning) {
            m_process.kill();
            m_process.waitForFinished(5000);
        }
    }
    void open(const QUrl &url)
    {
        m_process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        m_process.start(QStringLiteral(TESSERA_CHROMIUM_SIGNIN),
                        QStringList(m_options) << QString::fromLatin1(url.toEncoded()));
    }
    // The driver's exit status: 0 when the receiver answered 2xx (signin.mjs).
    bool finishedWith(int exitCode)
    {
        return QTest::qWaitFor([this] { return m_process.state() == QProcess::NotRunning; },
                               FlowTimeoutMs)
                && m_process.exitStatus() == QProcess::NormalExit
                && m_process.exitCode() == exitCode;
    }

private:
    QStringList m_options;
    QProcess m_process;
};

QString describe(const TokenOutcome &outcome)
{
    static const char *kinds[] = {"Issued", "Rejected", "Failed"};
    return QStringLiteral("%1 %2 %3")
            .arg(QLatin1String(kinds[int(outcome.kind)]),
                 QString::fromLatin1(
                         QMetaEnum::fromType<Error::Code>().valueToKey(int(outcome.error.code()))),
                 outcome.error.message());
}

// The `count` screenshots DIR/PREFIX-N.png show rendered pages: text and fields, not a blank or
// one-colour image.
void expectPages(const QDir &shots, const QString &prefix, int count)
{
    const QStringList names =
            shots.entryList({prefix + QStringLiteral("-*.png")}, QDir::Files, QDir::Name);
    QCOMPARE(names.size(), count);
    for (const QString &name : names) {
        const QImage image(shots.filePath(name));
        QVERIFY2(!image.isNull(), qPrintable(name));
        QVERIFY(image.width() >= 800 && image.height() >= 600);
        const Test::ImageStats stats = Test::statsOf(image);
        const QString summary = QStringLiteral("%1: %2 colours, dominant %3 %, dark %4 %")
                                        .arg(name)
                                        .arg(stats.distinctColors)
                                        .arg(stats.dominantFraction * 100, 0, 'f', 1)
                                        .arg(stats.darkFraction * 100, 0, 'f', 2);
        qInfo("%s", qPrintable(summary));
        // A web page is mostly background.
        QVERIFY2(stats.distinctColors >= 32, qPrintable(summary));
        QVERIFY2(stats.dominantFraction < 0.99, qPrintable(summary));
        QVERIFY2(stats.darkFraction > 0.001, qPrintable(summary));
    }
}

void removeShots(QDir &shots, const QString &prefix)
{
    for (const QString &old : shots.entryList({prefix + QStringLiteral("-*.png")}))
        QVERIFY(shots.remove(old));
}

} // namespace

class tst_BrowserCodeFlow : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void signsInThroughChromium();
    void refusalInChromiumIsAccessDenied();
    void signsInAtTesseraServerThroughChromium();
    void approvesAtTesseraServerDevicePageThroughChromium();

private:
    std::unique_ptr<OidcProviderProcess> m_provider;
    QDir m_shots;
};

void tst_BrowserCodeFlow::initTestCase()
{
    m_shots = QDir(QStringLiteral(TESSERA_SCREENSHOT_DIR));
    QVERIFY(m_shots.mkpath(QStringLiteral(".")));
    m_provider = std::make_unique<OidcProviderProcess>();
    QVERIFY2(m_provider->start(), qPrintable(m_provider->errorString()));
}

void tst_BrowserCodeFlow::cleanup()
{
    if (m_provider)
        m_provider->printLogIfFailed();
}

void tst_BrowserCodeFlow::signsInThroughChromium()
{
    const QString prefix = QStringLiteral("oidc-provider-codeflow");
    removeShots(m_shots, prefix);

    SessionConfig transport;
    transport.setRequestTimeout(std::chrono::seconds(30));
    Discovery discovery(m_provider->issuer().toString(), transport);
    CodeFlow::Options options;
    options.clientId = m_provider->clientId();
    options.receiver.timeout = std::chrono::milliseconds(FlowTimeoutMs);
    CodeFlow flow(discovery, transport, options);
    Chromium chromium({QStringLiteral("--login"), QStringLiteral("alice"),
                       QStringLiteral("--screenshots"), m_shots.absolutePath(),
                       QStringLiteral("--screenshot-prefix"), prefix});
    connect(&flow, &CodeFlow::authorizationUrlReady, this,
            [&chromium](const QUrl &url) { chromium.open(url); });
    QSignalSpy finished(&flow, &CodeFlow::finished);
    flow.start();
    QVERIFY(finished.wait(FlowTimeoutMs));
    TokenOutcome outcome = flow.takeOutcome();
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Issued, qPrintable(describe(outcome)));
    QVERIFY2(chromium.finishedWith(0), "chromium did not land on the receiver's page");
    QVERIFY(!outcome.tokens.access.isEmpty());
    QVERIFY(!outcome.tokens.refresh.isEmpty());

    // The nonce went out in chromium's request and came back in the signed ID token.
    QVERIFY(flow.metadata());
    JwksCache keys(flow.metadata()->jwksUri, transport);
    IdTokenValidator validator(keys);
    IdTokenExpectations expected;
    expected.issuer = m_provider->issuer().toString();
    expected.clientId = m_provider->clientId();
    expected.signingAlgorithms = flow.metadata()->idTokenSigningAlgValuesSupported;
    expected.nonce = flow.nonce();
    const QFuture<IdTokenClaims> claims =
            validator.validate(std::move(outcome.tokens.idToken), expected);
    QVERIFY(QTest::qWaitFor([&] { return claims.isFinished(); }, FlowTimeoutMs));
    QVERIFY2(claims.resultCount() == 1, "the ID token from the chromium sign-in was refused");
    QCOMPARE(claims.result().username, QStringLiteral("alice"));

    // The provider's login and consent pages, as chromium rendered them.
    expectPages(m_shots, prefix, 2);
}

void tst_BrowserCodeFlow::refusalInChromiumIsAccessDenied()
{
    SessionConfig transport;
    transport.setRequestTimeout(std::chrono::seconds(30));
    Discovery discovery(m_provider->issuer().toString(), transport);
    CodeFlow::Options options;
    options.clientId = m_provider->clientId();
    options.receiver.timeout = std::chrono::milliseconds(FlowTimeoutMs);
    CodeFlow flow(discovery, transport, options);
    Chromium chromium({QStringLiteral("--deny")});
    connect(&flow, &CodeFlow::authorizationUrlReady, this,
            [&chromium](const QUrl &url) { chromium.open(url); });
    QSignalSpy finished(&flow, &CodeFlow::finished);
    flow.start();
    QVERIFY(finished.wait(FlowTimeoutMs));
    const TokenOutcome outcome = flow.takeOutcome();
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Failed, qPrintable(describe(outcome)));
    QCOMPARE(outcome.error.code(), Error::Code::AccessDenied);
    // The receiver still answered the browser (its "sign-in refused" page is a 2xx).
    QVERIFY(chromium.finishedWith(0));
}

// The same sign-in at the companion server acting as the authorization server: its discovery,
// its login page (username, password, CSRF cookie) rendered and submitted by chromium, its
// ES256-signed ID token carrying the nonce.
void tst_BrowserCodeFlow::signsInAtTesseraServerThroughChromium()
{
    using namespace Tessera::Test;
    const QString prefix = QStringLiteral("tessera-server-login");
    removeShots(m_shots, prefix);
    ServerProcess server({QStringLiteral("--demo")}); // registers client tessera-demo
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_START(server);
    const QString issuer = server.baseUrl().toString(QUrl::StripTrailingSlash);

    SessionConfig transport;
    transport.setRequestTimeout(std::chrono::seconds(30));
    Discovery discovery(issuer, transport);
    CodeFlow::Options options;
    options.clientId = QStringLiteral("tessera-demo");
    options.receiver.timeout = std::chrono::milliseconds(FlowTimeoutMs);
    CodeFlow flow(discovery, transport, options);
    Chromium chromium({QStringLiteral("--login"), TestUser, QStringLiteral("--password"),
                       TestPassword, QStringLiteral("--screenshots"), m_shots.absolutePath(),
                       QStringLiteral("--screenshot-prefix"), prefix});
    connect(&flow, &CodeFlow::authorizationUrlReady, this,
            [&chromium](const QUrl &url) { chromium.open(url); });
    QSignalSpy finished(&flow, &CodeFlow::finished);
    flow.start();
    QVERIFY(finished.wait(FlowTimeoutMs));
    TokenOutcome outcome = flow.takeOutcome();
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Issued, qPrintable(describe(outcome)));
    QVERIFY2(chromium.finishedWith(0), "chromium did not land on the receiver's page");
    QVERIFY(!outcome.tokens.refresh.isEmpty());

    QVERIFY(flow.metadata());
    JwksCache keys(flow.metadata()->jwksUri, transport);
    IdTokenValidator validator(keys);
    IdTokenExpectations expected;
    expected.issuer = issuer;
    expected.clientId = options.clientId;
    expected.signingAlgorithms = flow.metadata()->idTokenSigningAlgValuesSupported;
    expected.nonce = flow.nonce();
    const QFuture<IdTokenClaims> claims =
            validator.validate(std::move(outcome.tokens.idToken), expected);
    QVERIFY(QTest::qWaitFor([&] { return claims.isFinished(); }, FlowTimeoutMs));
    QVERIFY2(claims.resultCount() == 1, "the server's ID token was refused");
    QCOMPARE(claims.result().username, TestUser);

    // One page: the login form (consent is skipped for first-party clients).
    expectPages(m_shots, prefix, 1);
}

// The device flow's page at the companion server: chromium opens the verification URI, types the
// user code, then signs in on the confirmation page and presses Allow; the device's poll then
// gets tokens.
void tst_BrowserCodeFlow::approvesAtTesseraServerDevicePageThroughChromium()
{
    using namespace Tessera::Test;
    const QString prefix = QStringLiteral("tessera-server-device");
    removeShots(m_shots, prefix);
    ServerProcess server({QStringLiteral("--demo")});
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_START(server);
    HttpClient http(server);
    const QByteArray form = "application/x-www-form-urlencoded";
    const HttpResponse started = http.post(QStringLiteral("/device_authorization"),
                                           "client_id=tessera-demo&scope=openid", form);
    TESSERA_EXPECT_STATUS(started, 200);
    const QString deviceCode = started.str(QStringLiteral("device_code"));
    const QByteArray poll = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"
                            "&client_id=tessera-demo&device_code="
            + deviceCode.toLatin1();
    QCOMPARE(http.post(QStringLiteral("/token"), poll, form).str(QStringLiteral("error")),
             QStringLiteral("authorization_pending"));

    Chromium chromium({QStringLiteral("--login"), TestUser, QStringLiteral("--password"),
                       TestPassword, QStringLiteral("--user-code"),
                       started.str(QStringLiteral("user_code")), QStringLiteral("--screenshots"),
                       m_shots.absolutePath(), QStringLiteral("--screenshot-prefix"), prefix});
    chromium.open(QUrl(started.str(QStringLiteral("verification_uri"))));
    QVERIFY2(chromium.finishedWith(0), "chromium did not get through the device page");

    const HttpResponse tokens = http.post(QStringLiteral("/token"), poll, form);
    TESSERA_EXPECT_STATUS(tokens, 200);
    QVERIFY(!tokens.str(QStringLiteral("refresh_token")).isEmpty());
    QVERIFY(!tokens.str(QStringLiteral("id_token")).isEmpty());
    // Two pages with a form: the code, then the confirmation with the login form.
    expectPages(m_shots, prefix, 2);
}

QTEST_GUILESS_MAIN(tst_BrowserCodeFlow)
#include "tst_browser_codeflow.moc"
