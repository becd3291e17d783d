// SPDX-License-Identifier: MIT
// The desktop demo, offscreen, against a live tessera-server: signs in with the
// keyboard, calls the protected API, runs the security lab, and saves what the
// window shows as PNGs in <build>/screenshots/, checking that each image shows
// real content (many colours, no single colour covering the window, text).
// The test functions run in order and share one window.
#include "demowindow.h"
#include "serverprocess.h"

#include <demoapp.h>

#include <tessera/session.h>

#include <QtCore/QDir>
#include <QtGui/QGuiApplication>
#include <QtGui/QImage>
#include <QtQml/QQmlApplicationEngine>
#include <QtQml/QQmlExtensionPlugin>
#include <QtQuick/QQuickItem>
#include <QtQuick/QQuickWindow>
#include <QtTest/QSignalSpy>
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

// QTest::keyClicks() exists for widgets only.
void typeText(QWindow *window, const QString &text)
{
    for (const QChar c : text)
        QTest::keyClick(window, c.toLatin1());
}

} // namespace

class TestDemoScreenshots : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();

    void signedOut();
    void wrongPasswordShownInPlace();
    void signInWithKeyboard();
    void callProtectedApi();
    void securityLabSafeChecks();
    void signedIn();
    void reuseDetectionEndsSession();
    void replayAfterLogoutRefused();

private:
    QQuickItem *item(const char *objectName) const;
    // The window's Session: Tessera::Session itself, created by the QML.
    Session *session() const { return m_window->property("session").value<Session *>(); }
    QObject *lab() const { return m_window->property("lab").value<QObject *>(); }
    QVariantMap labResult(const QString &check) const
    {
        return lab()->property("results").toMap().value(check).toMap();
    }
    void click(QQuickItem *target);
    void typeInto(const char *objectName, const QString &text);
    QImage shoot(const QString &name);
    void expectContent(const QImage &image, const QString &name);

    std::unique_ptr<Tessera::Test::ServerProcess> m_server;
    std::unique_ptr<QQmlApplicationEngine> m_engine;
    QQuickWindow *m_window = nullptr;
    QDir m_shots;
    QImage m_signedOut;
};

void TestDemoScreenshots::initTestCase()
{
    // A 2 s reuse grace window keeps the reuse check short while still
    // showing the grace path; no login limit for the repeated sign-ins.
    m_server = std::make_unique<Tessera::Test::ServerProcess>(
            QStringList{u"--demo"_s, u"--login-limit"_s, u"0"_s, u"--reuse-grace"_s, u"2"_s});
    QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));

    m_shots = QDir(QStringLiteral(TESSERA_SCREENSHOT_DIR));
    QVERIFY(m_shots.mkpath(u"."_s));

    m_engine = std::make_unique<QQmlApplicationEngine>();
    TesseraDemo::Options options;
    options.serverUrl = m_server->baseUrl();
    options.appId = u"org.tessera.demo.screenshots"_s;
    m_window = TesseraDemo::loadMainWindow(*m_engine, options);
    QVERIFY(m_window);
    QVERIFY(QTest::qWaitForWindowExposed(m_window));
    m_window->requestActivate();
    QVERIFY(QTest::qWaitForWindowActive(m_window));
    QCOMPARE(m_window->size(), QSize(1200, 800));
}

void TestDemoScreenshots::cleanupTestCase()
{
    m_engine.reset();
    m_server.reset();
}

QQuickItem *TestDemoScreenshots::item(const char *objectName) const
{
    return m_window->findChild<QQuickItem *>(QString::fromLatin1(objectName));
}

void TestDemoScreenshots::click(QQuickItem *target)
{
    DemoWindow::click(m_window, target);
}

void TestDemoScreenshots::typeInto(const char *objectName, const QString &text)
{
    QQuickItem *input = item(objectName);
    QVERIFY(input);
    QTRY_VERIFY(input->isEnabled());
    input->forceActiveFocus();
    QTRY_VERIFY(input->hasActiveFocus());
    typeText(m_window, text);
}

QImage TestDemoScreenshots::shoot(const QString &name)
{
    return DemoWindow::shoot(m_window, m_shots, name);
}

void TestDemoScreenshots::expectContent(const QImage &image, const QString &name)
{
    DemoWindow::expectContent(image, m_shots, name);
}

void TestDemoScreenshots::signedOut()
{
    // The start-up restore finds nothing stored and settles on the sign-in form.
    QTRY_VERIFY_WITH_TIMEOUT(!m_window->property("restoring").toBool(), Timeout);
    QVERIFY(session());
    QCOMPARE(session()->state(), Session::State::SignedOut);
    // Nothing stored: the restore says so, and the form does not show it as an error.
    QCOMPARE(session()->lastError().code(), Error::Code::NotSignedIn);
    QVERIFY(item("signInButton") && item("signInButton")->isVisible());
    QVERIFY(item("loginError") && !item("loginError")->isVisible());
    // Without --issuer/--client-id the demo is the SimpleJWT one: no browser sign-in.
    QCOMPARE(session()->config().profile(), Tessera::SessionConfig::Profile::SimpleJwt);
    QVERIFY(item("oauthSignInButton") && !item("oauthSignInButton")->isVisible());
    m_signedOut = shoot(u"signed-out.png"_s);
    expectContent(m_signedOut, u"signed-out.png"_s);
}

void TestDemoScreenshots::wrongPasswordShownInPlace()
{
    QVERIFY(item("usernameInput") && item("passwordInput") && item("loginError"));
    typeInto("usernameInput", u"demo"_s);
    QTest::keyClick(m_window, Qt::Key_Tab);
    QTRY_VERIFY(item("passwordInput")->hasActiveFocus());
    typeText(m_window, u"wrong password"_s);
    QTest::keyClick(m_window, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(item("loginError")->isVisible(), Timeout);
    QCOMPARE(session()->lastError().code(), Error::Code::InvalidCredentials);
    QCOMPARE(session()->state(), Session::State::SignedOut);
    // The password field is cleared and focused for the next attempt.
    QCOMPARE(item("passwordInput")->property("text").toString(), QString());
    QTRY_VERIFY(item("passwordInput")->hasActiveFocus());
    expectContent(shoot(u"login-error.png"_s), u"login-error.png"_s);
}

void TestDemoScreenshots::signInWithKeyboard()
{
    // Username is still filled in; Enter in the password field submits.
    QCOMPARE(item("usernameInput")->property("text").toString(), u"demo"_s);
    typeInto("passwordInput", u"tessera-demo"_s);
    QSignalSpy busy(session(), &Session::busyChanged);
    QTest::keyClick(m_window, Qt::Key_Return);
    QTRY_COMPARE_WITH_TIMEOUT(session()->state(), Session::State::SignedIn, Timeout);
    QVERIFY(busy.count() >= 2);
    QCOMPARE(session()->user(), u"demo"_s);
    QCOMPARE(item("passwordInput")->property("text").toString(), QString());
    QTRY_VERIFY(item("sessionUser")->isVisible());
    QTRY_VERIFY(item("expiryCountdown")->property("text").toString().contains(u':'));
    QTRY_VERIFY(item("tokenReceivedAt")->property("text").toString().contains(u':'));
}

void TestDemoScreenshots::callProtectedApi()
{
    click(item("callApiButton"));
    QTRY_VERIFY_WITH_TIMEOUT(
            item("apiResponse")->property("text").toString().contains(u"\"username\": \"demo\""_s),
            Timeout);
    QVERIFY(item("apiStatus")->property("text").toString().startsWith(u"200"_s));
}

void TestDemoScreenshots::securityLabSafeChecks()
{
    click(item("runSafeChecksButton"));
    for (const QString &check : {u"disk"_s, u"csrf"_s, u"mitm"_s}) {
        QTRY_VERIFY_WITH_TIMEOUT(labResult(check).value(u"status"_s).toString() != u"idle"_s
                                         && labResult(check).value(u"status"_s).toString()
                                                 != u"running"_s,
                                 60000);
        QVERIFY2(labResult(check).value(u"status"_s).toString() == u"pass"_s,
                 qPrintable(check + u": "_s + labResult(check).value(u"summary"_s).toString()
                            + u" | "_s
                            + labResult(check).value(u"details"_s).toStringList().join(u" | "_s)));
    }
    // A bearer session (SimpleJWT, DPoP not asked for): the stolen access token row says
    // honestly that a copy works until it expires.
    QTRY_VERIFY_WITH_TIMEOUT(labResult(u"stolen"_s).value(u"status"_s).toString() == u"info"_s,
                             60000);
    QVERIFY(labResult(u"stolen"_s).value(u"summary"_s).toString().contains(u"until it expires"_s));
    QTRY_VERIFY(!lab()->property("running").toBool());
}

void TestDemoScreenshots::signedIn()
{
    const QImage image = shoot(u"signed-in.png"_s);
    expectContent(image, u"signed-in.png"_s);
    const double difference = differenceOf(image, m_signedOut);
    QVERIFY2(difference > 0.1,
             qPrintable(u"only %1 % differs from signed-out"_s.arg(difference * 100)));
}

void TestDemoScreenshots::reuseDetectionEndsSession()
{
    QVERIFY(QMetaObject::invokeMethod(lab(), "run", Q_ARG(QString, u"reuse"_s)));
    QTRY_VERIFY_WITH_TIMEOUT(!lab()->property("running").toBool(), 60000);
    const QVariantMap result = labResult(u"reuse"_s);
    QVERIFY2(result.value(u"status"_s).toString() == u"pass"_s,
             qPrintable(result.value(u"summary"_s).toString() + u" | "_s
                        + result.value(u"details"_s).toStringList().join(u" | "_s)));
    QCOMPARE(session()->state(), Session::State::ReauthRequired);
    QVERIFY(item("sessionEndedBanner")->isVisible());
    expectContent(shoot(u"session-ended.png"_s), u"session-ended.png"_s);
}

void TestDemoScreenshots::replayAfterLogoutRefused()
{
    click(item("signInAgainButton"));
    QTRY_COMPARE_WITH_TIMEOUT(session()->state(), Session::State::SignedOut, Timeout);
    QTRY_VERIFY(item("signInButton")->isVisible());
    QCOMPARE(item("usernameInput")->property("text").toString(), u"demo"_s);
    typeInto("passwordInput", u"tessera-demo"_s);
    QTest::keyClick(m_window, Qt::Key_Enter); // the keypad's Enter works too
    QTRY_COMPARE_WITH_TIMEOUT(session()->state(), Session::State::SignedIn, Timeout);
    // A new login starts a clean lab.
    QCOMPARE(labResult(u"reuse"_s).value(u"status"_s).toString(), u"idle"_s);

    QVERIFY(QMetaObject::invokeMethod(lab(), "run", Q_ARG(QString, u"logout"_s)));
    QTRY_VERIFY_WITH_TIMEOUT(!lab()->property("running").toBool(), 60000);
    const QVariantMap result = labResult(u"logout"_s);
    QVERIFY2(result.value(u"status"_s).toString() == u"pass"_s,
             qPrintable(result.value(u"summary"_s).toString() + u" | "_s
                        + result.value(u"details"_s).toStringList().join(u" | "_s)));
    QCOMPARE(session()->state(), Session::State::SignedOut);
    QTRY_VERIFY(item("signInButton")->isVisible());
}

QTEST_MAIN(TestDemoScreenshots)

#include "tst_demo_screenshots.moc"
