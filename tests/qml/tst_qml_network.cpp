// SPDX-License-Identifier: MIT
// The QML network access manager factory against a live tessera-server:
// requests from the engine's thread and from a loader thread (as Image uses)
// carry the session's token; other origins and token endpoints never see it.
// And, with the real tokens in hand (C++ only), nothing reachable from QML on
// a Session (Tessera::Session itself, created by QML) contains either of them.
// The OAuth profile against the real oidc-provider (tests/interop/oidc) with browser.py as the
// person in the browser: the token goes to the issuer's origin and the listed resource origins,
// nowhere else.
#include "faultproxy.h"
#include "oidcproviderprocess.h"
#include "recordingserver.h"
#include "scriptedbrowser.h"
#include "serverprocess.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/qmlnetwork.h>
#include <tessera/session.h>

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QMetaMethod>
#include <QtCore/QMetaProperty>
#include <QtCore/QThread>
#include <QtNetwork/QNetworkReply>
#include <QtQml/QQmlComponent>
#include <QtQml/QQmlEngine>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>
#include <qt6keychain/keychain.h>

#include <memory>

using Tessera::Session;
using Tessera::Test::RecordingServer;
using namespace Qt::StringLiterals;

namespace {

const QString DemoUser = u"demo"_s;
const QString DemoPassword = u"tessera-demo"_s;
constexpr int Timeout = 15000;

struct Response
{
    int status = 0;
    QNetworkReply::NetworkError error = QNetworkReply::NoError;
    QByteArray body;
    bool done = false;
};

Response waitFor(QNetworkReply *reply)
{
    Response response;
    QSignalSpy finished(reply, &QNetworkReply::finished);
    if (!reply->isFinished())
        finished.wait(Timeout);
    response.done = reply->isFinished();
    response.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    response.error = reply->error();
    response.body = reply->readAll();
    reply->deleteLater();
    return response;
}

} // namespace

class TestQmlNetwork : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void init();
    void cleanup();

    void engineManagerCarriesToken();
    void loaderThreadManagerCarriesToken();
    void otherOriginsNeverSeeToken();
    void tokenEndpointsRefused();
    void signedOutRequestsGoOutPlain();
    void destroyedSessionEndsItsRequests();
    void installLeavesAppFactoryAlone();
    void nothingSecretReachableFromQml();
    void oauthTokenGoesToIssuerAndResourceOriginsOnly();
    void nothingSecretReachableFromQmlOAuth();

private:
    // A Session created by QML, signed out, for the test server (or `server`).
    Session *createSession(bool memoryOnly, const QUrl &server = {});
    // A Session created by QML for oidc-provider (started on first use), its OAuth
    // configuration written from QML, signed out.
    Session *createOAuthSession(bool memoryOnly, const QStringList &resourceOrigins);
    // signInWithBrowser() with browser.py as the person.
    void signInWithBrowser(Session *session);
    void signIn(Session *session);
    void verifyNothingSecretReachable(Session *session, const QString &configValue);
    QUrl url(const QString &path) const { return m_server->baseUrl().resolved(QUrl(path)); }
    // The session's requests from QML and from C++ share one authenticated manager.
    void verifyOneManager(Session *session);

    std::unique_ptr<Tessera::Test::ServerProcess> m_server;
    std::unique_ptr<Tessera::Test::OidcProviderProcess> m_provider;
    std::unique_ptr<QQmlEngine> m_engine;
    std::unique_ptr<QObject> m_sessionObject;
};

void TestQmlNetwork::initTestCase()
{
    m_server = std::make_unique<Tessera::Test::ServerProcess>(
            QStringList{u"--demo"_s, u"--login-limit"_s, u"0"_s});
    QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));
}

void TestQmlNetwork::cleanupTestCase()
{
    m_server.reset();
    m_provider.reset();
}

void TestQmlNetwork::init()
{
    m_engine = std::make_unique<QQmlEngine>();
    m_engine->addImportPath(u"qrc:/qt/qml"_s);
    Tessera::Qml::installNetworkAccess(m_engine.get());
}

void TestQmlNetwork::cleanup()
{
    if (auto *session = qobject_cast<Session *>(m_sessionObject.get())) {
        if (session->state() == Session::State::SignedIn) {
            const QFuture<void> done = session->logout();
            QTRY_VERIFY_WITH_TIMEOUT(done.isFinished(), Timeout);
        }
    }
    m_sessionObject.reset();
    m_engine.reset();
}

Session *TestQmlNetwork::createSession(bool memoryOnly, const QUrl &server)
{
    QQmlComponent component(m_engine.get());
    component.setData(u"import Tessera\n"
                      "Session {\n"
                      "    config.serverUrl: \"%1\"\n"
                      "    config.appId: \"org.tessera.tests.qmlnet\"\n"
                      "    config.storagePolicy: SessionConfig.%2\n"
                      "}\n"_s.arg((server.isEmpty() ? m_server->baseUrl() : server).toString(),
                                  memoryOnly ? u"MemoryOnly"_s : u"SecureStorage"_s)
                              .toUtf8(),
                      QUrl());
    if (!component.isReady())
        qWarning() << component.status() << component.errors();
    m_sessionObject.reset(component.create());
    auto *session = qobject_cast<Session *>(m_sessionObject.get());
    if (!session)
        qWarning() << component.errors();
    return session;
}

Session *TestQmlNetwork::createOAuthSession(bool memoryOnly, const QStringList &resourceOrigins)
{
    if (!m_provider) {
        m_provider = std::make_unique<Tessera::Test::OidcProviderProcess>();
        if (!m_provider->start()) {
            qWarning("cannot start oidc-provider: %s", qPrintable(m_provider->errorString()));
            m_provider.reset();
            return nullptr;
        }
    }
    QStringList quoted;
    for (const QString &origin : resourceOrigins)
        quoted.append(u'"' + origin + u'"');
    QQmlComponent component(m_engine.get());
    component.setData(u"import Tessera\n"
                      "Session {\n"
                      "    config.issuer: \"%1\"\n"
                      "    config.clientId: \"%2\"\n"
                      "    config.scopes: [\"openid\", \"offline_access\", \"profile\"]\n"
                      "    config.resourceOrigins: [%3]\n"
                      "    config.appId: \"org.tessera.tests.qmlnet.oauth\"\n"
                      "    config.storagePolicy: SessionConfig.%4\n"
                      "}\n"_s.arg(m_provider->issuer().toString(), m_provider->clientId(),
                                  quoted.join(u", "_s),
                                  memoryOnly ? u"MemoryOnly"_s : u"SecureStorage"_s)
                              .toUtf8(),
                      QUrl());
    m_sessionObject.reset(component.create());
    auto *session = qobject_cast<Session *>(m_sessionObject.get());
    if (!session)
        qWarning() << component.errors();
    return session;
}

void TestQmlNetwork::signInWithBrowser(Session *session)
{
    Tessera::Test::ScriptedBrowser browser;
    connect(session, &Session::browserSignInRequested, &browser,
            &Tessera::Test::ScriptedBrowser::open);
    const QFuture<void> done = session->signInWithBrowser();
    QTRY_VERIFY_WITH_TIMEOUT(done.isFinished(), 90000);
    QVERIFY2(!Tessera::errorOf(done), qPrintable(Tessera::errorOf(done).message()));
    QCOMPARE(browser.opened(), 1);
    QCOMPARE(session->state(), Session::State::SignedIn);
    QCOMPARE(session->user(), u"alice"_s);
}

void TestQmlNetwork::signIn(Session *session)
{
    const QFuture<void> done = session->login(DemoUser, DemoPassword);
    QTRY_VERIFY_WITH_TIMEOUT(done.isFinished(), Timeout);
    QVERIFY2(!Tessera::errorOf(done), qPrintable(Tessera::errorOf(done).message()));
    QCOMPARE(session->state(), Session::State::SignedIn);
}

void TestQmlNetwork::verifyOneManager(Session *session)
{
    using Tessera::AuthenticatedNetworkAccessManager;
    const auto managers = session->findChildren<AuthenticatedNetworkAccessManager *>();
    QCOMPARE(managers.size(), 1);
    QCOMPARE(managers.first(), Tessera::Qml::networkAccessManager(session));
    QVERIFY(m_engine->networkAccessManager()
                    ->findChildren<AuthenticatedNetworkAccessManager *>()
                    .isEmpty());
}

void TestQmlNetwork::engineManagerCarriesToken()
{
    Session *session = createSession(true);
    QVERIFY(session);
    signIn(session);
    if (QTest::currentTestFailed())
        return;
    const Response me =
            waitFor(m_engine->networkAccessManager()->get(QNetworkRequest(url(u"/api/me/"_s))));
    QVERIFY(me.done);
    QCOMPARE(me.status, 200);
    QCOMPARE(QJsonDocument::fromJson(me.body).object().value(u"username"_s).toString(), DemoUser);
    verifyOneManager(session);
}

void TestQmlNetwork::loaderThreadManagerCarriesToken()
{
    // QQuickPixmapReader (Image) asks the factory for a manager on its own
    // thread; the request is relayed to the session's thread and back.
    Session *session = createSession(true);
    QVERIFY(session);
    signIn(session);
    if (QTest::currentTestFailed())
        return;
    auto *factory = m_engine->networkAccessManagerFactory();
    QVERIFY(factory);
    Response result;
    std::atomic_bool done = false;
    const QUrl target = url(u"/api/me/"_s);
    std::unique_ptr<QThread> thread(QThread::create([&] {
        std::unique_ptr<QNetworkAccessManager> manager(factory->create(nullptr));
        QNetworkReply *reply = manager->get(QNetworkRequest(target));
        QEventLoop loop;
        QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
        if (!reply->isFinished())
            loop.exec();
        result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        result.error = reply->error();
        result.body = reply->readAll();
        result.done = reply->isFinished();
        delete reply;
        done = true;
    }));
    thread->start();
    QTRY_VERIFY_WITH_TIMEOUT(done.load(), Timeout); // the main loop runs the relayed request
    QVERIFY(thread->wait(Timeout));
    QVERIFY(result.done);
    QCOMPARE(result.status, 200);
    QCOMPARE(QJsonDocument::fromJson(result.body).object().value(u"username"_s).toString(),
             DemoUser);
    verifyOneManager(session);
}

void TestQmlNetwork::otherOriginsNeverSeeToken()
{
    Session *session = createSession(true);
    QVERIFY(session);
    signIn(session);
    if (QTest::currentTestFailed())
        return;
    RecordingServer other;
    QVERIFY(other.listen(QHostAddress::LocalHost, 0));
    const QUrl elsewhere(u"http://127.0.0.1:%1/api/me/"_s.arg(other.serverPort()));
    const Response response =
            waitFor(m_engine->networkAccessManager()->get(QNetworkRequest(elsewhere)));
    QCOMPARE(response.status, 200);
    QVERIFY(other.received.startsWith("GET /api/me/"));
    QVERIFY2(!other.received.toLower().contains("authorization"), other.received.constData());
    QVERIFY(!other.received.toLower().contains("bearer"));
}

void TestQmlNetwork::tokenEndpointsRefused()
{
    Session *session = createSession(true);
    QVERIFY(session);
    signIn(session);
    if (QTest::currentTestFailed())
        return;
    QNetworkAccessManager *manager = m_engine->networkAccessManager();
    for (const QString &path : {u"/api/token/"_s, u"/api/token/refresh/"_s, u"/api/token/refresh"_s,
                                u"/api/token/blacklist/"_s}) {
        QNetworkRequest request(url(path));
        request.setHeader(QNetworkRequest::ContentTypeHeader, "application/json");
        const Response response = waitFor(manager->post(
                request,
                QJsonDocument(QJsonObject{{u"username"_s, DemoUser}, {u"password"_s, DemoPassword}})
                        .toJson()));
        QVERIFY2(response.done, qPrintable(path));
        QCOMPARE(response.status, 0);
        QCOMPARE(response.error, QNetworkReply::ContentAccessDenied);
        QVERIFY(response.body.isEmpty());
    }
    // The session itself is unaffected.
    QCOMPARE(session->state(), Session::State::SignedIn);
}

void TestQmlNetwork::signedOutRequestsGoOutPlain()
{
    Session *session = createSession(true);
    QVERIFY(session);
    const Response response =
            waitFor(m_engine->networkAccessManager()->get(QNetworkRequest(url(u"/api/me/"_s))));
    QCOMPARE(response.status, 401);
    QCOMPARE(QJsonDocument::fromJson(response.body).object().value(u"code"_s).toString(),
             u"not_authenticated"_s);
}

void TestQmlNetwork::destroyedSessionEndsItsRequests()
{
    // The session's manager, and the request in flight with it, go with the session; the
    // reply the engine holds still finishes, with an error, instead of waiting forever.
    using Tessera::Test::Action;
    Tessera::Test::FaultProxy proxy(QHostAddress::LocalHost, m_server->port());
    QVERIFY2(proxy.listen(), qPrintable(proxy.errorString()));
    bool stalled = false;
    proxy.setRule([&stalled](const Tessera::Test::RequestInfo &request) {
        if (request.path != "/api/me/")
            return Action::forward();
        stalled = true;
        return Action::stall();
    });
    Session *session = createSession(true, proxy.url());
    QVERIFY(session);
    signIn(session);
    if (QTest::currentTestFailed())
        return;
    QNetworkReply *reply = m_engine->networkAccessManager()->get(
            QNetworkRequest(proxy.url().resolved(QUrl(u"/api/me/"_s))));
    QTRY_VERIFY_WITH_TIMEOUT(stalled, Timeout); // sent, with the token, and never answered
    m_sessionObject.reset();
    const Response response = waitFor(reply);
    QVERIFY(response.done);
    QCOMPARE(response.status, 0);
    QCOMPARE(response.error, QNetworkReply::OperationCanceledError);
}

void TestQmlNetwork::installLeavesAppFactoryAlone()
{
    class OwnFactory : public QQmlNetworkAccessManagerFactory
    {
    public:
        QNetworkAccessManager *create(QObject *parent) override
        {
            return new QNetworkAccessManager(parent);
        }
    } own;
    QQmlEngine engine;
    engine.addImportPath(u"qrc:/qt/qml"_s);
    engine.setNetworkAccessManagerFactory(&own);
    Tessera::Qml::installNetworkAccess(&engine, Tessera::Qml::InstallMode::IfNoFactory);
    QCOMPARE(engine.networkAccessManagerFactory(), &own);
    // A Session does not touch the engine's factory: installing it is the application's call.
    QQmlComponent component(&engine);
    component.setData(QByteArrayLiteral("import Tessera\nSession {}"), QUrl());
    std::unique_ptr<QObject> object(component.create());
    QVERIFY2(object, qPrintable(component.errorString()));
    QCOMPARE(engine.networkAccessManagerFactory(), &own);

    // An engine without a factory gets Tessera's; Always replaces an application's.
    QQmlEngine bare;
    Tessera::Qml::installNetworkAccess(&bare, Tessera::Qml::InstallMode::IfNoFactory);
    QVERIFY(dynamic_cast<Tessera::Qml::NetworkAccessManagerFactory *>(
            bare.networkAccessManagerFactory()));
    Tessera::Qml::installNetworkAccess(&engine, Tessera::Qml::InstallMode::Always);
    QVERIFY(dynamic_cast<Tessera::Qml::NetworkAccessManagerFactory *>(
            engine.networkAccessManagerFactory()));
}

namespace {

QByteArray readStoredRefreshToken(const Session *session)
{
    const Tessera::SessionConfig config = session->config();
    QKeychain::ReadPasswordJob job(config.storageService());
    job.setAutoDelete(false);
    job.setInsecureFallback(false);
    job.setKey(config.storageKey(session->user()));
    QEventLoop loop;
    QObject::connect(&job, &QKeychain::Job::finished, &loop, &QEventLoop::quit);
    job.start();
    loop.exec();
    return job.error() == QKeychain::NoError ? job.binaryData() : QByteArray();
}

// Every value reachable from QML without arguments: properties, recursively
// through QObject-valued ones and value types (the configuration, the error), and list/map
// values.
void collect(const QVariant &value, QStringList *out, int depth);

void collectObject(const QObject *object, QStringList *out, int depth)
{
    if (!object || depth > 3)
        return;
    const QMetaObject *meta = object->metaObject();
    for (int i = 0; i < meta->propertyCount(); ++i)
        collect(meta->property(i).read(object), out, depth + 1);
}

void collect(const QVariant &value, QStringList *out, int depth)
{
    if (value.canConvert<QObject *>() && value.metaType().flags() & QMetaType::PointerToQObject)
        return collectObject(value.value<QObject *>(), out, depth);
    if (value.metaType().flags() & QMetaType::IsGadget) {
        const QMetaObject *gadget = value.metaType().metaObject();
        for (int i = 0; i < gadget->propertyCount(); ++i)
            collect(gadget->property(i).readOnGadget(value.constData()), out, depth + 1);
        return;
    }
    if (value.metaType().id() == QMetaType::QVariantList) {
        for (const QVariant &item : value.toList())
            collect(item, out, depth + 1);
        return;
    }
    if (value.metaType().id() == QMetaType::QVariantMap) {
        const QVariantMap map = value.toMap();
        for (auto it = map.cbegin(); it != map.cend(); ++it) {
            out->append(it.key());
            collect(it.value(), out, depth + 1);
        }
        return;
    }
    out->append(value.toString());
}

} // namespace

void TestQmlNetwork::nothingSecretReachableFromQml()
{
    Session *session = createSession(false); // secure storage: the real refresh token
    QVERIFY(session);
    signIn(session);
    if (QTest::currentTestFailed())
        return;
    verifyNothingSecretReachable(session, m_server->baseUrl().toString());
}

void TestQmlNetwork::oauthTokenGoesToIssuerAndResourceOriginsOnly()
{
    if (!TESSERA_HAVE_OIDC_PEER)
        QSKIP("oidc-provider is not set up (node/npm missing)");
    RecordingServer resource;
    QVERIFY(resource.listen(QHostAddress::LocalHost, 0));
    RecordingServer other;
    QVERIFY(other.listen(QHostAddress::LocalHost, 0));
    const QString resourceOrigin = u"http://127.0.0.1:%1"_s.arg(resource.serverPort());
    Session *session = createOAuthSession(true, {resourceOrigin + u"/api"_s});
    QVERIFY(session);
    QCOMPARE(session->config().profile(), Tessera::SessionConfig::Profile::OAuth);
    QCOMPARE(session->config().resourceOrigins(), QStringList{resourceOrigin + u"/api"_s});
    QNetworkAccessManager *manager = m_engine->networkAccessManager();
    const QUrl userinfo = m_provider->issuer().resolved(QUrl(u"me"_s));

    // Signed out: the provider's userinfo endpoint wants a token and gets none (oidc-provider
    // answers 400 invalid_request for a missing token, RFC 6750 §3.1).
    const Response anonymous = waitFor(manager->get(QNetworkRequest(userinfo)));
    QVERIFY2(anonymous.status == 400 || anonymous.status == 401, anonymous.body.constData());
    QCOMPARE(waitFor(manager->get(QNetworkRequest(QUrl(resourceOrigin + u"/before"_s)))).status,
             200);
    QVERIFY(resource.received.startsWith("GET /before"));
    QVERIFY(!resource.received.toLower().contains("authorization"));
    resource.received.clear();

    signInWithBrowser(session);
    if (QTest::currentTestFailed())
        return;

    // The issuer's origin: the provider accepts the token and names the user.
    const Response me = waitFor(manager->get(QNetworkRequest(userinfo)));
    QCOMPARE(me.status, 200);
    QCOMPARE(QJsonDocument::fromJson(me.body).object().value(u"sub"_s).toString(), u"alice"_s);

    // A listed resource origin (any path: the origin is what is listed) gets the bearer token.
    QCOMPARE(waitFor(manager->get(QNetworkRequest(QUrl(resourceOrigin + u"/items?x=1"_s)))).status,
             200);
    QVERIFY(resource.received.startsWith("GET /items?x=1"));
    QVERIFY2(resource.received.toLower().contains("\r\nauthorization: bearer "),
             resource.received.constData());
    verifyOneManager(session);

    // Anything else does not: another port, and the same port under another host name.
    QCOMPARE(waitFor(manager->get(QNetworkRequest(
                             QUrl(u"http://127.0.0.1:%1/items"_s.arg(other.serverPort())))))
                     .status,
             200);
    QCOMPARE(waitFor(manager->get(QNetworkRequest(
                             QUrl(u"http://localhost:%1/items"_s.arg(other.serverPort())))))
                     .status,
             200);
    QVERIFY(other.received.startsWith("GET /items"));
    QCOMPARE(other.received.count("GET /items"), 2);
    QVERIFY2(!other.received.toLower().contains("authorization"), other.received.constData());
    QVERIFY(!other.received.toLower().contains("bearer"));
    resource.received.clear();
    QCOMPARE(waitFor(manager->get(QNetworkRequest(
                             QUrl(u"http://localhost:%1/items"_s.arg(resource.serverPort())))))
                     .status,
             200);
    QVERIFY(resource.received.startsWith("GET /items"));
    QVERIFY2(!resource.received.toLower().contains("authorization"), resource.received.constData());
}

void TestQmlNetwork::nothingSecretReachableFromQmlOAuth()
{
    if (!TESSERA_HAVE_OIDC_PEER)
        QSKIP("oidc-provider is not set up (node/npm missing)");
    Session *session = createOAuthSession(false, {u"http://127.0.0.1:1"_s});
    QVERIFY(session);
    signInWithBrowser(session);
    if (QTest::currentTestFailed())
        return;
    verifyNothingSecretReachable(session, m_provider->issuer().toString());
}

void TestQmlNetwork::verifyNothingSecretReachable(Session *session, const QString &configValue)
{
    QSignalSpy errors(session, &Session::errorOccurred);
    const QByteArray refresh = readStoredRefreshToken(session);
    QVERIFY2(refresh.size() >= 32, "the refresh token is in the Secret Service");
    QFuture<Tessera::Secret> future = session->freshAccessToken();
    QTRY_VERIFY_WITH_TIMEOUT(future.isFinished(), Timeout);
    QVERIFY(!future.isCanceled());
    const QByteArray access = future.takeResult().reveal().toByteArray();
    QVERIFY(access.size() >= 32);
    if (session->config().profile() == Tessera::SessionConfig::Profile::SimpleJwt)
        QCOMPARE(access.count('.'), 2);
    // A JWT's signature, or an opaque token as a whole (oidc-provider's are opaque).
    const QByteArray accessTail = access.count('.') == 2 ? access.split('.').value(2) : access;

    const QUrl protectedUrl = session->config().profile() == Tessera::SessionConfig::Profile::OAuth
            ? m_provider->issuer().resolved(QUrl(u"me"_s))
            : url(u"/api/me/"_s);
    const Response me =
            waitFor(m_engine->networkAccessManager()->get(QNetworkRequest(protectedUrl)));
    QCOMPARE(me.status, 200);
    QVERIFY(!me.body.contains(access) && !me.body.contains(refresh));

    QStringList values;
    collectObject(session, &values, 0);
    // objectName, state, user, accessExpiresAt, busy; lastError's 4; config's 6
    QVERIFY2(values.size() >= 15, qPrintable(values.join(u", "_s)));
    QVERIFY(values.contains(configValue)); // the configuration was read
    for (const QString &value : std::as_const(values)) {
        const QByteArray bytes = value.toUtf8();
        QVERIFY2(!bytes.contains(access), "a property holds the access token");
        QVERIFY2(!bytes.contains(refresh), "a property holds the refresh token");
        QVERIFY2(!bytes.contains(accessTail), "a property holds a JWT signature");
    }

    // Nothing callable from QML returns a value (login, restore and logout return a
    // QFuture<void>, which holds none), so none can return a token; freshAccessToken() is not
    // callable at all. Signals carry what the person must see (a URL, a user code, a time),
    // never a token: no member is named like one, and no signal has a Secret or byte array.
    const QMetaObject *meta = session->metaObject();
    QVERIFY(meta->indexOfMethod("login(QString,QString)") >= 0);
    QVERIFY(meta->indexOfSignal("browserSignInRequested(QUrl)") >= 0);
    QVERIFY(meta->indexOfSignal("deviceSignInRequested(QUrl,QUrl,QString,QDateTime)") >= 0);
    QCOMPARE(meta->indexOfMethod("freshAccessToken()"), -1);
    for (int i = QObject::staticMetaObject.methodCount(); i < meta->methodCount(); ++i) {
        const QMetaMethod method = meta->method(i);
        if (method.access() == QMetaMethod::Private)
            continue;
        QVERIFY2(method.returnMetaType() == QMetaType::fromType<void>()
                         || method.returnMetaType() == QMetaType::fromType<QFuture<void>>(),
                 method.methodSignature().constData());
        QVERIFY2(!method.name().toLower().contains("token"), method.methodSignature().constData());
        for (int p = 0; p < method.parameterCount(); ++p) {
            const QMetaType type = method.parameterMetaType(p);
            QVERIFY2(type != QMetaType::fromType<QByteArray>()
                             && type != QMetaType::fromType<Tessera::Secret>(),
                     method.methodSignature().constData());
            QVERIFY2(!method.parameterNames().value(p).toLower().contains("token"),
                     method.methodSignature().constData());
        }
    }
    for (int i = 0; i < meta->propertyCount(); ++i)
        QVERIFY2(!QByteArray(meta->property(i).name()).toLower().contains("token"),
                 meta->property(i).name());
    QCOMPARE(errors.count(), 0);
}

QTEST_MAIN(TestQmlNetwork)

#include "tst_qml_network.moc"
