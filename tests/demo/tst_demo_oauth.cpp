// SPDX-License-Identifier: MIT
// The desktop demo started with --issuer/--client-id, offscreen, against a live tessera-server
// (--demo: user demo / tessera-demo, client tessera-demo) as the OpenID provider: the sign-in
// screen offers the browser and a device code; the device code screen shows the code and the
// page, and both sign-ins cancel; then "Sign in with your browser" goes end to end through the
// demo's own opener with tests/interop/oidc/browser.py as $BROWSER (the person), and the API
// call carries the token; the device flow too, the person reading the code off the screen.
// The server runs with --dpop required and the demo with --dpop: the security lab's stolen
// access and refresh token rows are refused for the bound session, which keeps working.
// Saves PNGs into <build>/screenshots/ and checks each shows real content. The test functions
// run in order and share one window.
#include "demowindow.h"
#include "serverprocess.h"

#include <demoapp.h>

#include <tessera/session.h>

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QProcess>
#include <QtCore/QTemporaryDir>
#include <QtCore/QUrlQuery>
#include <QtGui/QGuiApplication>
#include <QtGui/QImage>
#include <QtQml/QQmlApplicationEngine>
#include <QtQml/QQmlExtensionPlugin>
#include <QtQuick/QQuickItem>
#include <QtQuick/QQuickWindow>
#include <QtTest/QTest>

#include <memory>

Q_IMPORT_QML_PLUGIN(TesseraDemoPlugin)

using namespace Qt::StringLiterals;
using Tessera::Error;
using Tessera::Session;
using Tessera::Test::DemoWindow::differenceOf;
namespace DemoWindow = Tessera::Test::DemoWindow;

namespace {

constexpr int Timeout = 20000;
// The browser sign-in: python starting, the server's login page, Argon2, on busy cores.
constexpr int FlowTimeout = 90000;

bool writeScript(const QString &path, const QByteArray &text)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return false;
    file.write(text);
    file.close();
    return file.setPermissions(QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
}

} // namespace

class TestDemoOAuth : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();

    void dpopArguments();

    void signedOutOffersBrowserAndDevice();
    void browserSignInWaitsAndCancels();
    void deviceCodeShownAndCancels();
    void browserSignInEndToEnd();
    void stolenAccessTokenRefused();
    void stolenRefreshTokenRefused();
    void logoutReturnsToOAuthScreen();
    void deviceSignInEndToEnd();

private:
    QQuickItem *item(const char *objectName) const
    {
        return m_window->findChild<QQuickItem *>(QString::fromLatin1(objectName));
    }
    Session *session() const { return m_window->property("session").value<Session *>(); }
    bool visible(const char *objectName) const
    {
        QQuickItem *found = item(objectName);
        return found && found->isVisible();
    }
    void click(QQuickItem *target);
    QImage shoot(const QString &name);
    void expectContent(const QImage &image, const QString &name);
    // Runs one security lab check to its end; its result map.
    QVariantMap runLabCheck(const QString &check);

    std::unique_ptr<Tessera::Test::ServerProcess> m_server;
    std::unique_ptr<QQmlApplicationEngine> m_engine;
    QQuickWindow *m_window = nullptr;
    QTemporaryDir m_scripts;
    QString m_recorder;       // a $BROWSER that only writes down the URL it was given
    QString m_recorded;       // where it writes it
    QString m_scriptedPerson; // browser.py as demo / tessera-demo
    QDir m_shots;
    QImage m_signedOut;
    QByteArray m_savedBrowser;
};

void TestDemoOAuth::initTestCase()
{
    m_savedBrowser = qgetenv("BROWSER");
    // Device sign-ins poll every second instead of RFC 8628's default 5 s.
    m_server = std::make_unique<Tessera::Test::ServerProcess>(
            QStringList{u"--demo"_s, u"--login-limit"_s, u"0"_s, u"--device-interval"_s, u"1"_s,
                        u"--dpop"_s, u"required"_s});
    QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));

    QVERIFY(m_scripts.isValid());
    m_recorder = m_scripts.filePath(u"record-url"_s);
    m_recorded = m_scripts.filePath(u"url"_s);
    QVERIFY(writeScript(m_recorder,
                        "#!/bin/sh\nprintf '%s\\n' \"$1\" > \"" + QFile::encodeName(m_recorded)
                                + ".tmp\" && mv \"" + QFile::encodeName(m_recorded) + ".tmp\" \""
                                + QFile::encodeName(m_recorded) + "\"\n"));
    m_scriptedPerson = m_scripts.filePath(u"person"_s);
    QVERIFY(writeScript(m_scriptedPerson,
                        "#!/bin/sh\nexec '" TESSERA_PYTHON_PATH "' '" TESSERA_BROWSER_SCRIPT
                        "' --login demo --password tessera-demo \"$1\"\n"));

    m_shots = QDir(QStringLiteral(TESSERA_SCREENSHOT_DIR));
    QVERIFY(m_shots.mkpath(u"."_s));

    m_engine = std::make_unique<QQmlApplicationEngine>();
    QString problem;
    const std::optional<TesseraDemo::Options> options = TesseraDemo::optionsFromArguments(
            {u"tessera-demo"_s, u"--issuer"_s, m_server->baseUrl().toString(), u"--client-id"_s,
             u"tessera-demo"_s, u"--app-id"_s, u"org.tessera.demo.oauth-screenshots"_s,
             u"--dpop"_s},
            &problem);
    QVERIFY2(options, qPrintable(problem));
    QCOMPARE(options->serverUrl, m_server->baseUrl()); // the issuer, without --server
    QVERIFY(!TesseraDemo::sessionConfigOf(*options).validate().isError());
    m_window = TesseraDemo::loadMainWindow(*m_engine, *options);
    QVERIFY(m_window);
    QVERIFY(QTest::qWaitForWindowExposed(m_window));
    m_window->requestActivate();
    QVERIFY(QTest::qWaitForWindowActive(m_window));
}

void TestDemoOAuth::cleanupTestCase()
{
    m_engine.reset();
    m_server.reset();
    if (m_savedBrowser.isNull())
        qunsetenv("BROWSER");
    else
        qputenv("BROWSER", m_savedBrowser);
}

void TestDemoOAuth::click(QQuickItem *target)
{
    DemoWindow::click(m_window, target);
}

QImage TestDemoOAuth::shoot(const QString &name)
{
    return DemoWindow::shoot(m_window, m_shots, name);
}

void TestDemoOAuth::expectContent(const QImage &image, const QString &name)
{
    DemoWindow::expectContent(image, m_shots, name);
}

QVariantMap TestDemoOAuth::runLabCheck(const QString &check)
{
    QObject *lab = m_window->property("lab").value<QObject *>();
    if (!lab || !QMetaObject::invokeMethod(lab, "run", Q_ARG(QString, check)))
        return {};
    auto result = [lab, check] { return lab->property("results").toMap().value(check).toMap(); };
    if (!QTest::qWaitFor(
                [&] {
                    const QString status = result().value(u"status"_s).toString();
                    return status != u"idle"_s && status != u"running"_s;
                },
                FlowTimeout))
        return {};
    return result();
}

void TestDemoOAuth::dpopArguments()
{
    auto parse = [](QStringList extra, QString *problem = nullptr) {
        extra.prepend(u"tessera-demo"_s);
        extra << u"--server"_s << u"http://127.0.0.1:8000"_s;
        return TesseraDemo::optionsFromArguments(extra, problem);
    };
    using Policy = Tessera::SessionConfig::DpopPolicy;
    QCOMPARE(parse({})->dpopPolicy, Policy::IfSupported);
    QCOMPARE(parse({u"--dpop"_s})->dpopPolicy, Policy::Required);
    QCOMPARE(parse({u"--no-dpop"_s})->dpopPolicy, Policy::Off);
    QCOMPARE(TesseraDemo::sessionConfigOf(*parse({u"--no-dpop"_s})).dpopPolicy(), Policy::Off);
    QString problem;
    QVERIFY(!parse({u"--dpop"_s, u"--no-dpop"_s}, &problem));
    QCOMPARE(problem, u"--dpop and --no-dpop exclude each other"_s);
}

void TestDemoOAuth::signedOutOffersBrowserAndDevice()
{
    // The start-up restore finds nothing stored and settles on the OAuth sign-in screen.
    QTRY_VERIFY_WITH_TIMEOUT(!m_window->property("restoring").toBool(), Timeout);
    QVERIFY(session());
    QCOMPARE(session()->config().profile(), Tessera::SessionConfig::Profile::OAuth);
    QCOMPARE(session()->config().clientId(), u"tessera-demo"_s);
    QCOMPARE(session()->config().dpopPolicy(), Tessera::SessionConfig::DpopPolicy::Required);
    QCOMPARE(session()->state(), Session::State::SignedOut);
    QCOMPARE(session()->lastError().code(), Error::Code::NotSignedIn);
    QTRY_VERIFY(visible("oauthSignInButton"));
    QCOMPARE(item("oauthSignInButton")->property("text").toString(),
             u"Sign in with your browser"_s);
    QVERIFY(visible("deviceSignInButton"));
    QVERIFY(!visible("cancelSignInButton"));
    QVERIFY(!visible("oauthError"));
    // No password form: the app never sees the password.
    QVERIFY(!visible("usernameInput") && !visible("passwordInput"));
    m_signedOut = shoot(u"oauth-signed-out.png"_s);
    expectContent(m_signedOut, u"oauth-signed-out.png"_s);
}

void TestDemoOAuth::browserSignInWaitsAndCancels()
{
    // A browser that opens the page and leaves it there (the person went for coffee).
    qputenv("BROWSER", QFile::encodeName(m_recorder));
    click(item("oauthSignInButton"));
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(m_recorded), Timeout);
    QFile recorded(m_recorded);
    QVERIFY(recorded.open(QIODevice::ReadOnly));
    const QUrl opened(QString::fromUtf8(recorded.readAll().trimmed()), QUrl::StrictMode);
    const QString authorize = m_server->baseUrl().toString() + u"/authorize"_s;
    QVERIFY2(opened.toString(QUrl::RemoveQuery) == authorize, qPrintable(opened.path()));
    QCOMPARE(QUrlQuery(opened).queryItemValue(u"client_id"_s), u"tessera-demo"_s);
    QCOMPARE(QUrlQuery(opened).queryItemValue(u"code_challenge_method"_s), u"S256"_s);
    QCOMPARE(session()->state(), Session::State::SigningIn);

    // The waiting screen says the browser is open and shows the address to copy.
    QTRY_VERIFY(visible("browserWaiting"));
    QTRY_VERIFY(item("browserUrlField")->property("text").toString().startsWith(authorize + u'?'));
    QVERIFY(item("browserUrlField")->property("text").toString().contains(u"code_challenge="_s));
    QVERIFY(item("browserStatus")->property("text").toString().contains(u"browser"_s));
    QVERIFY(!visible("oauthChoices"));
    expectContent(shoot(u"oauth-browser-waiting.png"_s), u"oauth-browser-waiting.png"_s);

    // Cancel: signed out, back to the choices, no error shown for it.
    click(item("cancelSignInButton"));
    QTRY_COMPARE_WITH_TIMEOUT(session()->state(), Session::State::SignedOut, Timeout);
    QCOMPARE(session()->lastError().code(), Error::Code::Cancelled);
    QTRY_VERIFY(visible("oauthSignInButton"));
    QVERIFY(!visible("browserWaiting"));
    QVERIFY(!visible("oauthError"));
}

void TestDemoOAuth::deviceCodeShownAndCancels()
{
    click(item("deviceSignInButton"));
    QTRY_VERIFY_WITH_TIMEOUT(!item("deviceUserCode")->property("text").toString().isEmpty(),
                             Timeout);
    QCOMPARE(session()->state(), Session::State::SigningIn);
    const QString userCode = item("deviceUserCode")->property("text").toString();
    QVERIFY2(userCode.size() >= 6, qPrintable(userCode));
    QVERIFY(visible("deviceUserCode"));
    const QString page = item("deviceVerificationUri")->property("text").toString();
    QVERIFY2(page.startsWith(m_server->baseUrl().toString() + u'/'), qPrintable(page));
    QTRY_VERIFY(item("deviceExpiry")->property("text").toString().contains(u':'));
    const QImage deviceScreen = shoot(u"oauth-device-code.png"_s);
    expectContent(deviceScreen, u"oauth-device-code.png"_s);
    const double difference = differenceOf(deviceScreen, m_signedOut);
    QVERIFY2(difference > 0.01,
             qPrintable(u"only %1 % differs from the sign-in screen"_s.arg(difference * 100)));

    click(item("cancelSignInButton"));
    QTRY_COMPARE_WITH_TIMEOUT(session()->state(), Session::State::SignedOut, Timeout);
    QCOMPARE(session()->lastError().code(), Error::Code::Cancelled);
    QTRY_VERIFY(visible("oauthSignInButton"));
    QVERIFY(!visible("deviceWaiting"));
    QVERIFY(!visible("oauthError"));
}

void TestDemoOAuth::browserSignInEndToEnd()
{
    // The person: browser.py as $BROWSER, started by the demo's own opener (SystemBrowser),
    // signs in as demo on the server's login page and brings the code back to the loopback
    // listener.
    qputenv("BROWSER", QFile::encodeName(m_scriptedPerson));
    click(item("oauthSignInButton"));
    QTRY_COMPARE_WITH_TIMEOUT(session()->state(), Session::State::SignedIn, FlowTimeout);
    QCOMPARE(session()->user(), u"demo"_s);
    QCOMPARE(session()->lastError().code(), Error::Code::NoError);
    QTRY_VERIFY(visible("sessionUser"));
    QTRY_VERIFY(item("expiryCountdown")->property("text").toString().contains(u':'));

    // The API call from QML carries the session's token to the issuer's origin.
    click(item("callApiButton"));
    QTRY_VERIFY_WITH_TIMEOUT(
            item("apiResponse")->property("text").toString().contains(u"\"username\": \"demo\""_s),
            Timeout);
    QVERIFY(item("apiStatus")->property("text").toString().startsWith(u"200"_s));
    const QImage image = shoot(u"oauth-signed-in.png"_s);
    expectContent(image, u"oauth-signed-in.png"_s);
    QVERIFY(differenceOf(image, m_signedOut) > 0.1);
}

void TestDemoOAuth::stolenAccessTokenRefused()
{
    QVERIFY(session()->isDpopBound());
    const QVariantMap result = runLabCheck(u"stolen"_s);
    QVERIFY2(result.value(u"status"_s).toString() == u"pass"_s,
             qPrintable(result.value(u"summary"_s).toString() + u" | "_s
                        + result.value(u"details"_s).toStringList().join(u" | "_s)));
    // Bearer, DPoP without a proof, DPoP with another key's proof, then the app's own request.
    const QStringList details = result.value(u"details"_s).toStringList();
    QCOMPARE(details.filter(u"HTTP 401"_s).size(), 3);
    QVERIFY(details.last().contains(u"HTTP 200"_s));
    QCOMPARE(session()->state(), Session::State::SignedIn);
}

void TestDemoOAuth::stolenRefreshTokenRefused()
{
    // The refresh token copied out of the keyring, without the key: refused without a proof and
    // with another key's proof, and the session pays nothing for the attempt (a bearer session's
    // family would be revoked: see demo.screenshots).
    const QVariantMap result = runLabCheck(u"reuse"_s);
    QVERIFY2(result.value(u"status"_s).toString() == u"pass"_s,
             qPrintable(result.value(u"summary"_s).toString() + u" | "_s
                        + result.value(u"details"_s).toStringList().join(u" | "_s)));
    const QStringList details = result.value(u"details"_s).toStringList();
    QCOMPARE(details.size(), 4);
    QVERIFY2(details.at(1).contains(u"HTTP 40"_s), qPrintable(details.at(1)));
    QVERIFY2(details.at(2).contains(u"HTTP 40"_s), qPrintable(details.at(2)));
    QVERIFY2(details.at(3).contains(u"HTTP 200"_s), qPrintable(details.at(3)));
    QCOMPARE(session()->state(), Session::State::SignedIn);
    QVERIFY(session()->isDpopBound());
}

void TestDemoOAuth::logoutReturnsToOAuthScreen()
{
    // The lab's logout row (the sign-out button is clicked after the device sign-in): for a
    // bound session the copied tokens stay refused and the key leaves the keyring with the
    // refresh token.
    const QVariantMap result = runLabCheck(u"logout"_s);
    QVERIFY2(result.value(u"status"_s).toString() == u"pass"_s,
             qPrintable(result.value(u"summary"_s).toString() + u" | "_s
                        + result.value(u"details"_s).toStringList().join(u" | "_s)));
    QVERIFY(result.value(u"details"_s).toStringList().contains(u"The DPoP key: deleted."_s));
    QTRY_COMPARE_WITH_TIMEOUT(session()->state(), Session::State::SignedOut, Timeout);
    QCOMPARE(session()->lastError().code(), Error::Code::NoError);
    QTRY_VERIFY(visible("oauthSignInButton"));
}

void TestDemoOAuth::deviceSignInEndToEnd()
{
    // The person reads the code and the page off the screen and signs in with browser.py on
    // "another device"; the demo polls until the server says yes.
    click(item("deviceSignInButton"));
    QTRY_VERIFY_WITH_TIMEOUT(!item("deviceUserCode")->property("text").toString().isEmpty(),
                             Timeout);
    const QString userCode = item("deviceUserCode")->property("text").toString();
    const QString page = item("deviceVerificationUri")->property("text").toString();
    QProcess person;
    person.setProcessChannelMode(QProcess::ForwardedChannels);
    person.start(QStringLiteral(TESSERA_PYTHON_PATH),
                 {QStringLiteral(TESSERA_BROWSER_SCRIPT), u"--login"_s, u"demo"_s, u"--password"_s,
                  u"tessera-demo"_s, u"--user-code"_s, userCode, page});
    QTRY_COMPARE_WITH_TIMEOUT(session()->state(), Session::State::SignedIn, FlowTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(person.state(), QProcess::NotRunning, Timeout);
    QCOMPARE(person.exitStatus(), QProcess::NormalExit);
    QCOMPARE(person.exitCode(), 0);
    QCOMPARE(session()->user(), u"demo"_s);
    QTRY_VERIFY(visible("sessionUser"));
    QVERIFY(!visible("deviceWaiting"));

    click(item("signOutButton"));
    QTRY_COMPARE_WITH_TIMEOUT(session()->state(), Session::State::SignedOut, Timeout);
    QTRY_VERIFY(visible("oauthSignInButton"));
}

QTEST_MAIN(TestDemoOAuth)

#include "tst_demo_oauth.moc"
