// SPDX-License-Identifier: MIT
// The browser sign-in's private building blocks: PKCE S256 (RFC 7636), state and nonce, and the
// one-shot loopback redirect receiver (RFC 8252 §7.3), driven over real loopback sockets by
// Qt's HTTP client and by raw TCP for what no browser sends. Proves: the code reaches the app
// only from the request with this sign-in's state and the expected issuer (RFC 9207), anything
// else is refused without ending the wait, the receiver listens on loopback only and stops
// listening once done, and no connection can hold it.
#include "oauth/authorizationresponse_p.h"
#include "oauth/httprequesthead_p.h"
#include "oauth/loopbackredirectreceiver_p.h"
#include "oauth/pkce_p.h"

#include <tessera/jose.h>

#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QLoggingCategory>
#include <QtCore/QPointer>
#include <QtCore/QProcess>
#include <QtCore/QStandardPaths>
#include <QtCore/QRegularExpression>
#include <QtCore/QSet>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkInterface>
#include <QtNetwork/QNetworkProxy>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>
#include <vector>

using namespace Tessera;
using namespace Tessera::OAuth;
using namespace std::chrono_literals;

namespace {

const QString Issuer = QStringLiteral("https://id.example.com/realms/acme");

struct HttpResult
{
    int status = 0;
    QNetworkReply::NetworkError error = QNetworkReply::NoError;
    QByteArray body;
    QNetworkReply *reply = nullptr; // for headers; owned by the test's manager
};

QByteArray encoded(const QString &value)
{
    return QUrl::toPercentEncoding(value);
}

// The receiver ready for tests: short limits so a failing test fails quickly.
struct Fixture
{
    std::unique_ptr<LoopbackRedirectReceiver> receiver =
            std::make_unique<LoopbackRedirectReceiver>();
    std::unique_ptr<QSignalSpy> finished;
    QByteArray state;

    Error start(const IssuerExpectation &issuer = {Issuer, true},
                LoopbackRedirectReceiver::Options options = {})
    {
        Secret generated = generateState();
        state = generated.reveal().toByteArray();
        finished =
                std::make_unique<QSignalSpy>(receiver.get(), &LoopbackRedirectReceiver::finished);
        return receiver->listen(std::move(generated), issuer, options);
    }
    // The redirect URI with `query` appended.
    QUrl url(const QByteArray &query, const QByteArray &path = {}) const
    {
        QUrl url = receiver->redirectUri();
        if (!path.isEmpty())
            url.setPath(QString::fromLatin1(path));
        url.setQuery(QString::fromLatin1(query), QUrl::StrictMode);
        return url;
    }
    QByteArray goodQuery(const QByteArray &code = "the-code") const
    {
        return "code=" + code + "&state=" + state + "&iss=" + encoded(Issuer);
    }
};

} // namespace

class TestOAuthLoopback : public QObject
{
    Q_OBJECT

private:
    QNetworkAccessManager m_manager;

    HttpResult get(const QUrl &url)
    {
        QNetworkRequest request(url);
        request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                             QNetworkRequest::ManualRedirectPolicy);
        QNetworkReply *reply = m_manager.get(request);
        reply->setParent(this);
        QSignalSpy done(reply, &QNetworkReply::finished);
        if (!reply->isFinished())
            done.wait(10000);
        HttpResult result;
        result.reply = reply;
        result.error = reply->error();
        result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        result.body = reply->readAll();
        return result;
    }

    // Sends `bytes` on a raw connection and returns everything read until the receiver closes
    // the connection (or `wait` ms pass). The receiver runs in this thread: wait with the event
    // loop running, never with a blocking socket call.
    static QByteArray exchange(const QHostAddress &address, quint16 port, const QByteArray &bytes,
                               int wait = 10000)
    {
        QTcpSocket socket;
        socket.connectToHost(address, port);
        QDeadlineTimer deadline(wait);
        while (socket.state() != QAbstractSocket::ConnectedState
               && socket.state() != QAbstractSocket::UnconnectedState && !deadline.hasExpired())
            QTest::qWait(5);
        if (socket.state() != QAbstractSocket::ConnectedState)
            return "NOT CONNECTED";
        socket.write(bytes);
        QByteArray received;
        while (socket.state() != QAbstractSocket::UnconnectedState && !deadline.hasExpired()) {
            QTest::qWait(5);
            received += socket.readAll();
        }
        received += socket.readAll();
        return received;
    }

    static QByteArray rawGet(const LoopbackRedirectReceiver &receiver, const QByteArray &target,
                             const QByteArray &extraHeaders = {})
    {
        const QByteArray host = receiver.redirectUri().authority().toLatin1();
        return exchange(receiver.address(), receiver.port(),
                        "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extraHeaders
                                + "\r\n");
    }

    // The receiver still waits: nothing finished and it listens.
    static void verifyStillWaiting(Fixture &f)
    {
        QCoreApplication::processEvents();
        QCOMPARE(f.finished->count(), 0);
        QVERIFY(f.receiver->isListening());
        QVERIFY(!f.receiver->isFinished());
    }

    void verifySignedIn(Fixture &f, const QByteArray &code)
    {
        QTRY_COMPARE(f.finished->count(), 1);
        QCOMPARE(f.receiver->error().code(), Error::Code::NoError);
        Secret received = f.receiver->takeCode();
        QCOMPARE(received.reveal(), QByteArrayView(code));
        QVERIFY(!f.receiver->isListening());
    }

private Q_SLOTS:
    void initTestCase()
    {
        // Never through a proxy a test environment may configure: these are loopback tests.
        m_manager.setProxy(QNetworkProxy::NoProxy);
    }

    // --- PKCE, state, nonce ---

    void pkceRfc7636AppendixB()
    {
        QCOMPARE(Pkce::challengeFor("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                 QByteArray("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        QCOMPARE(Pkce::Method, QByteArrayView("S256"));
    }

    void pkceVerifiersAreFreshAndWellFormed()
    {
        QSet<QByteArray> seen;
        for (int i = 0; i < 200; ++i) {
            const Pkce pkce = Pkce::generate();
            const QByteArray verifier = pkce.verifier.reveal().toByteArray();
            QCOMPARE(verifier.size(), 43);
            QVERIFY(Pkce::isValidVerifier(verifier));
            QCOMPARE(pkce.challenge, Pkce::challengeFor(verifier));
            QVERIFY(!seen.contains(verifier));
            seen.insert(verifier);
            // 32 bytes of entropy each, in the base64url alphabet.
            QCOMPARE(Jose::base64UrlDecode(verifier).value_or(QByteArray()).size(), 32);
        }
        const Pkce pkce = Pkce::generate();
        const QString printed = QDebug::toString(pkce.verifier);
        QVERIFY(printed.contains(QStringLiteral("<redacted>")));
        QVERIFY(!printed.contains(QString::fromLatin1(pkce.verifier.reveal())));
    }

    void pkceVerifierSyntax_data()
    {
        QTest::addColumn<QByteArray>("verifier");
        QTest::addColumn<bool>("valid");
        QTest::addRow("42 characters") << QByteArray(42, 'a') << false;
        QTest::addRow("43 characters") << QByteArray(43, 'a') << true;
        QTest::addRow("128 characters") << QByteArray(128, '~') << true;
        QTest::addRow("129 characters") << QByteArray(129, 'a') << false;
        QTest::addRow("all unreserved") << QByteArray("AZaz09-._~").repeated(5) << true;
        QTest::addRow("plus") << QByteArray(42, 'a') + '+' << false;
        QTest::addRow("padding") << QByteArray(42, 'a') + '=' << false;
        QTest::addRow("slash") << QByteArray(42, 'a') + '/' << false;
        QTest::addRow("space") << QByteArray(42, 'a') + ' ' << false;
    }
    void pkceVerifierSyntax()
    {
        QFETCH(QByteArray, verifier);
        QFETCH(bool, valid);
        QCOMPARE(Pkce::isValidVerifier(verifier), valid);
    }

    void stateAndNonceAreUnguessable()
    {
        QSet<QByteArray> seen;
        for (int i = 0; i < 200; ++i) {
            const QByteArray state = generateState().reveal().toByteArray();
            const QByteArray nonce = generateNonce();
            for (const QByteArray &value : {state, nonce}) {
                QCOMPARE(value.size(), 43);
                QCOMPARE(Jose::base64UrlDecode(value).value_or(QByteArray()).size(), 32);
                QVERIFY(!seen.contains(value));
                seen.insert(value);
            }
        }
    }

    // --- the request head parser, on its own ---

    void requestHead_data()
    {
        using S = HttpRequestHead::Status;
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<HttpRequestHead::Status>("status");
        const QByteArray host = "Host: 127.0.0.1:1\r\n";
        QTest::addRow("plain") << "GET /callback?a=b HTTP/1.1\r\n" + host + "\r\n" << S::Complete;
        QTest::addRow("headers") << "GET /c HTTP/1.1\r\n" + host + "Accept: */*\r\nX-A:b\r\n\r\n"
                                 << S::Complete;
        QTest::addRow("HTTP/1.0 without Host")
                << QByteArray("GET /c HTTP/1.0\r\n\r\n") << S::Complete;
        QTest::addRow("not yet whole") << "GET /c HTTP/1.1\r\n" + host << S::Incomplete;
        QTest::addRow("POST") << "POST /c HTTP/1.1\r\n" + host + "\r\n" << S::NotGet;
        QTest::addRow("absolute-form") << "GET http://127.0.0.1:1/c HTTP/1.1\r\n" + host + "\r\n"
                                       << S::BadRequest;
        QTest::addRow("double slash") << "GET //evil.example/c HTTP/1.1\r\n" + host + "\r\n"
                                      << S::BadRequest;
        QTest::addRow("asterisk") << "GET * HTTP/1.1\r\n" + host + "\r\n" << S::BadRequest;
        QTest::addRow("fragment") << "GET /c#x HTTP/1.1\r\n" + host + "\r\n" << S::BadRequest;
        QTest::addRow("control in target") << "GET /c\x01 HTTP/1.1\r\n" + host + "\r\n"
                                           << S::BadRequest;
        QTest::addRow("two spaces") << "GET  /c HTTP/1.1\r\n" + host + "\r\n" << S::BadRequest;
        QTest::addRow("HTTP/2") << "GET /c HTTP/2\r\n" + host + "\r\n" << S::BadRequest;
        QTest::addRow("lowercase version") << "GET /c http/1.1\r\n" + host + "\r\n"
                                           << S::BadRequest;
        QTest::addRow("bare LF") << "GET /c HTTP/1.1\n" + host + "\r\n" << S::BadRequest;
        QTest::addRow("bare LF, incomplete")
                << QByteArray("GET /c HTTP/1.1\nHost") << S::BadRequest;
        QTest::addRow("bare CR") << "GET /c HTTP/1.1\r" + host + "\r\n" << S::BadRequest;
        QTest::addRow("space before colon")
                << QByteArray("GET /c HTTP/1.1\r\nHost : x\r\n\r\n") << S::BadRequest;
        QTest::addRow("folded line") << "GET /c HTTP/1.1\r\n" + host + "X-A: b\r\n c\r\n\r\n"
                                     << S::BadRequest;
        QTest::addRow("no Host on 1.1") << QByteArray("GET /c HTTP/1.1\r\n\r\n") << S::BadRequest;
        QTest::addRow("two Hosts") << "GET /c HTTP/1.1\r\n" + host + host + "\r\n" << S::BadRequest;
        QTest::addRow("body") << "GET /c HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\n"
                              << S::BadRequest;
        QTest::addRow("chunked") << "GET /c HTTP/1.1\r\n" + host
                        + "Transfer-Encoding: chunked\r\n\r\n"
                                 << S::BadRequest;
        QTest::addRow("bytes after the head")
                << "GET /c HTTP/1.1\r\n" + host + "\r\nGET" << S::BadRequest;
        QTest::addRow("non-ASCII value") << "GET /c HTTP/1.1\r\n" + host + "X: \xc3\xa9\r\n\r\n"
                                         << S::BadRequest;
    }
    void requestHead()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(HttpRequestHead::Status, status);
        const HttpRequestHead head = HttpRequestHead::parse(bytes);
        QCOMPARE(head.status, status);
        if (status == HttpRequestHead::Status::Complete && bytes.startsWith("GET /callback")) {
            QCOMPARE(head.path, QByteArray("/callback"));
            QCOMPARE(head.query, QByteArray("a=b"));
            QCOMPARE(head.host, QByteArray("127.0.0.1:1"));
        }
    }

    // --- the receiver, over real loopback sockets ---

    void matchingStateDeliversCodeAndPage()
    {
        Fixture f;
        QCOMPARE(f.start().code(), Error::Code::NoError);
        QCOMPARE(f.receiver->redirectUri(),
                 QUrl(QStringLiteral("http://127.0.0.1:%1/callback").arg(f.receiver->port())));
        const HttpResult result = get(f.url(f.goodQuery("SplxlOBeZQQYbYS6WxSbIA")));
        QCOMPARE(result.status, 200);
        QVERIFY(result.reply->header(QNetworkRequest::ContentTypeHeader)
                        .toString()
                        .startsWith(QStringLiteral("text/html")));
        QCOMPARE(result.reply->rawHeader("Cache-Control"), QByteArray("no-store"));
        QCOMPARE(result.reply->rawHeader("Referrer-Policy"), QByteArray("no-referrer"));
        const QByteArray csp = result.reply->rawHeader("Content-Security-Policy");
        QVERIFY2(csp.contains("default-src 'none'"), csp.constData()); // no script, no resource
        QVERIFY(result.body.contains("You can close this window"));
        QVERIFY(!result.body.contains("<script"));
        QVERIFY(!result.body.contains("src="));
        QVERIFY(!result.body.contains("href="));
        verifySignedIn(f, "SplxlOBeZQQYbYS6WxSbIA");
        QCOMPARE(f.receiver->issuer(), Issuer);
        QVERIFY(f.receiver->takeCode().isEmpty()); // taken once
        QCOMPARE(f.finished->count(), 1);
    }

    void wrongStateIsRefusedAndTheWaitGoesOn_data()
    {
        QTest::addColumn<QByteArray>("query");
        QTest::addRow("other state") << QByteArray("code=stolen&state=guessed");
        QTest::addRow("no state") << QByteArray("code=stolen");
        QTest::addRow("empty state") << QByteArray("code=stolen&state=");
        QTest::addRow("no query") << QByteArray();
        QTest::addRow("error with another state") << QByteArray("error=access_denied&state=x");
    }
    void wrongStateIsRefusedAndTheWaitGoesOn()
    {
        QFETCH(QByteArray, query);
        Fixture f;
        QCOMPARE(f.start().code(), Error::Code::NoError);
        const HttpResult refused = get(f.url(query));
        QCOMPARE(refused.status, 400);
        QVERIFY(!refused.body.contains("stolen"));
        verifyStillWaiting(f);
        // A state that is our state with something appended is another state.
        QCOMPARE(get(f.url("code=stolen&state=" + f.state + "x")).status, 400);
        QCOMPARE(get(f.url("code=stolen&state=" + f.state.chopped(1))).status, 400);
        // Repeated: which one counts is unclear, so neither does.
        QCOMPARE(get(f.url("code=stolen&state=" + f.state + "&state=" + f.state)).status, 400);
        verifyStillWaiting(f);
        // The user's own redirect still signs in.
        QCOMPARE(get(f.url(f.goodQuery())).status, 200);
        verifySignedIn(f, "the-code");
    }

    void logsEventsNeverValues()
    {
        // Every level of the receiver's category on; every message kept.
        static QStringList messages;
        messages.clear();
        QLoggingCategory::setFilterRules(QStringLiteral("tessera.oauth.*=true"));
        const QtMessageHandler previous = qInstallMessageHandler(
                [](QtMsgType type, const QMessageLogContext &context, const QString &message) {
                    if (QByteArrayView(context.category).startsWith("tessera.oauth"))
                        messages.append(QString::number(type) + u' ' + message);
                });
        Fixture f;
        QCOMPARE(f.start().code(), Error::Code::NoError);
        QCOMPARE(get(f.url("code=stolen-code-value&state=guessed-state-value")).status, 400);
        QCOMPARE(get(f.url(f.goodQuery("real-code-value"))).status, 200);
        verifySignedIn(f, "real-code-value");
        qInstallMessageHandler(previous);
        QLoggingCategory::setFilterRules(QString());

        const QString all = messages.join(u'\n');
        // The refused request is a warning of its own.
        QVERIFY2(messages.filter(QStringLiteral("without this sign-in's state")).size() == 1
                         && messages.filter(QStringLiteral("without this sign-in's state"))
                                    .first()
                                    .startsWith(QString::number(QtWarningMsg)),
                 qPrintable(all));
        QVERIFY2(all.contains(QStringLiteral("authorization code received")), qPrintable(all));
        for (const QString &value :
             {QStringLiteral("stolen-code-value"), QStringLiteral("guessed-state-value"),
              QStringLiteral("real-code-value"), QString::fromLatin1(f.state)})
            QVERIFY2(!all.contains(value), qPrintable(all));
    }

    void secondRequestAfterSuccessGetsNothing()
    {
        Fixture f;
        QCOMPARE(f.start().code(), Error::Code::NoError);
        const QHostAddress address = f.receiver->address();
        const quint16 port = f.receiver->port();
        // A connection opened before the redirect, still silent when it lands.
        QTcpSocket early;
        early.connectToHost(address, port);
        QVERIFY(early.waitForConnected(5000));
        QCOMPARE(get(f.url(f.goodQuery())).status, 200);
        verifySignedIn(f, "the-code");
        // The listening socket is closed: new connections are refused by the kernel.
        QTcpSocket late;
        late.connectToHost(address, port);
        QVERIFY(!late.waitForConnected(3000));
        QCOMPARE(late.error(), QAbstractSocket::ConnectionRefusedError);
        const HttpResult again = get(f.url(f.goodQuery("second")));
        QCOMPARE(again.error, QNetworkReply::ConnectionRefusedError);
        // The early connection is cut, unanswered.
        QTRY_COMPARE(early.state(), QAbstractSocket::UnconnectedState);
        QCOMPARE(early.readAll(), QByteArray());
        QCOMPARE(f.finished->count(), 1);
        QVERIFY(f.receiver->takeCode().isEmpty());
    }

    void otherPathIs404()
    {
        Fixture f;
        QCOMPARE(f.start().code(), Error::Code::NoError);
        QCOMPARE(get(f.url(f.goodQuery(), "/other")).status, 404);
        QCOMPARE(get(f.url(f.goodQuery(), "/callback/")).status, 404);
        QCOMPARE(get(f.url(f.goodQuery(), "/callbackx")).status, 404);
        QCOMPARE(get(f.url(f.goodQuery(), "/CALLBACK")).status, 404);
        QCOMPARE(get(f.url(f.goodQuery(), "/%63allback")).status, 404);
        QCOMPARE(get(f.url(f.goodQuery(), "/favicon.ico")).status, 404);
        verifyStillWaiting(f);
        QCOMPARE(get(f.url(f.goodQuery())).status, 200);
        verifySignedIn(f, "the-code");
    }

    // Open redirector: whatever a request asks (another path, another state, a URL in the
    // query, a provider's error, the one matching request itself), the receiver answers with a
    // page or an error of its own, never a 3xx and never a Location header.
    void answersRedirectNowhere_data()
    {
        QTest::addColumn<QByteArray>("target"); // {STATE} and {ISS} are filled in
        QTest::addColumn<QByteArray>("status");
        QTest::addColumn<bool>("ends");
        QTest::addRow("other path")
                << QByteArray("/next?url=http://evil.example/") << QByteArray("404") << false;
        QTest::addRow("other state, redirect_uri") << QByteArray(
                "/callback?code=c&state=guessed&redirect_uri=http%3A%2F%2Fevil.example%2F")
                                                   << QByteArray("400") << false;
        QTest::addRow("no state, next")
                << QByteArray("/callback?next=%2F%2Fevil.example%2F") << QByteArray("400") << false;
        QTest::addRow("error, error_uri")
                << QByteArray("/callback?error=access_denied&error_uri=http%3A%2F%2Fevil.example%2F"
                              "&state={STATE}&iss={ISS}")
                << QByteArray("200") << true;
        QTest::addRow("matching, with a return URL")
                << QByteArray("/callback?code=c&state={STATE}&iss={ISS}"
                              "&return_to=http%3A%2F%2Fevil.example%2F")
                << QByteArray("200") << true;
    }
    void answersRedirectNowhere()
    {
        QFETCH(QByteArray, target);
        QFETCH(QByteArray, status);
        QFETCH(bool, ends);
        Fixture f;
        QCOMPARE(f.start().code(), Error::Code::NoError);
        target.replace("{STATE}", f.state).replace("{ISS}", encoded(Issuer));
        const QByteArray answer = rawGet(*f.receiver, target);
        QVERIFY2(answer.startsWith("HTTP/1.1 " + status + ' '), answer.left(200).constData());
        const QByteArray head = answer.left(answer.indexOf("\r\n\r\n")).toLower();
        QVERIFY2(!head.contains("\r\nlocation:"), head.constData());
        QVERIFY2(!head.contains("\r\nrefresh:"), head.constData());
        QVERIFY(!answer.toLower().contains("http-equiv"));
        QVERIFY(!answer.contains("evil.example"));
        if (ends) {
            QTRY_COMPARE(f.finished->count(), 1);
        } else {
            verifyStillWaiting(f);
        }
    }

    void configuredPath()
    {
        Fixture f;
        LoopbackRedirectReceiver::Options options;
        options.path = "/oauth2/done";
        QCOMPARE(f.start({Issuer, true}, options).code(), Error::Code::NoError);
        QCOMPARE(f.receiver->redirectUri().path(), QStringLiteral("/oauth2/done"));
        QCOMPARE(get(f.url(f.goodQuery(), "/callback")).status, 404);
        QCOMPARE(get(f.url(f.goodQuery())).status, 200);
        verifySignedIn(f, "the-code");

        LoopbackRedirectReceiver invalid;
        options.path = "//evil";
        QCOMPARE(invalid.listen(generateState(), {Issuer, true}, options).code(),
                 Error::Code::InvalidConfiguration);
        QVERIFY(!invalid.isListening());
    }

    void issuerCheck_data()
    {
        QTest::addColumn<bool>("supported");
        QTest::addColumn<QByteArray>("iss"); // "-" for none
        QTest::addColumn<bool>("accepted");
        QTest::addRow("advertised, equal") << true << encoded(Issuer) << true;
        QTest::addRow("advertised, missing") << true << QByteArray("-") << false;
        QTest::addRow("advertised, other issuer")
                << true << encoded(QStringLiteral("https://attacker.example")) << false;
        QTest::addRow("advertised, trailing slash") << true << encoded(Issuer + u'/') << false;
        QTest::addRow("advertised, other case") << true << encoded(Issuer.toUpper()) << false;
        QTest::addRow("advertised, empty") << true << QByteArray() << false;
        QTest::addRow("advertised, repeated")
                << true << encoded(Issuer) + "&iss=" + encoded(Issuer) << false;
        QTest::addRow("not advertised, missing") << false << QByteArray("-") << true;
        QTest::addRow("not advertised, equal") << false << encoded(Issuer) << true;
        QTest::addRow("not advertised, other issuer")
                << false << encoded(QStringLiteral("https://attacker.example")) << false;
    }
    void issuerCheck()
    {
        QFETCH(bool, supported);
        QFETCH(QByteArray, iss);
        QFETCH(bool, accepted);
        Fixture f;
        QCOMPARE(f.start({Issuer, supported}).code(), Error::Code::NoError);
        QByteArray query = "code=the-code&state=" + f.state;
        if (iss != "-")
            query += "&iss=" + iss;
        const HttpResult result = get(f.url(query));
        QCOMPARE(result.status, 200);
        QTRY_COMPARE(f.finished->count(), 1);
        QVERIFY(!f.receiver->isListening());
        if (accepted) {
            QCOMPARE(f.receiver->error().code(), Error::Code::NoError);
            QCOMPARE(f.receiver->takeCode().reveal(), QByteArrayView("the-code"));
            QVERIFY(result.body.contains("You can close this window"));
        } else {
            QCOMPARE(f.receiver->error().code(), Error::Code::InvalidResponse);
            QVERIFY(!f.receiver->error().isTransient());
            QVERIFY(f.receiver->takeCode().isEmpty());
            QVERIFY(result.body.contains("Sign-in failed"));
        }
    }

    void errorRedirects_data()
    {
        QTest::addColumn<QByteArray>("parameters");
        QTest::addColumn<Error::Code>("code");
        QTest::addColumn<QString>("serverCode");
        QTest::addColumn<QString>("inMessage");
        QTest::addRow("access_denied")
                << QByteArray("error=access_denied") << Error::Code::AccessDenied
                << QStringLiteral("access_denied") << QString();
        QTest::addRow("access_denied with description")
                << QByteArray("error=access_denied&error_description=The+user+said+no")
                << Error::Code::AccessDenied << QStringLiteral("access_denied")
                << QStringLiteral("The user said no");
        QTest::addRow("description with a quote is dropped")
                << QByteArray("error=access_denied&error_description=%22x%22")
                << Error::Code::AccessDenied << QStringLiteral("access_denied") << QString();
        QTest::addRow("invalid_scope")
                << QByteArray("error=invalid_scope") << Error::Code::InvalidConfiguration
                << QStringLiteral("invalid_scope") << QString();
        QTest::addRow("temporarily_unavailable")
                << QByteArray("error=temporarily_unavailable") << Error::Code::ServerError
                << QStringLiteral("temporarily_unavailable") << QString();
        QTest::addRow("login_required")
                << QByteArray("error=login_required") << Error::Code::AccessDenied
                << QStringLiteral("login_required") << QString();
        QTest::addRow("error and a code")
                << QByteArray("error=access_denied&code=x") << Error::Code::AccessDenied
                << QStringLiteral("access_denied") << QString();
        QTest::addRow("neither code nor error")
                << QByteArray("foo=bar") << Error::Code::InvalidResponse << QString() << QString();
        QTest::addRow("empty code")
                << QByteArray("code=") << Error::Code::InvalidResponse << QString() << QString();
        QTest::addRow("repeated code") << QByteArray("code=a&code=b")
                                       << Error::Code::InvalidResponse << QString() << QString();
    }
    void errorRedirects()
    {
        QFETCH(QByteArray, parameters);
        QFETCH(Error::Code, code);
        QFETCH(QString, serverCode);
        QFETCH(QString, inMessage);
        Fixture f;
        QCOMPARE(f.start().code(), Error::Code::NoError);
        const HttpResult result =
                get(f.url(parameters + "&state=" + f.state + "&iss=" + encoded(Issuer)));
        QCOMPARE(result.status, 200);
        QVERIFY(result.body.contains("Sign-in failed"));
        QTRY_COMPARE(f.finished->count(), 1);
        QCOMPARE(f.receiver->error().code(), code);
        QCOMPARE(f.receiver->error().serverCode(), serverCode);
        if (!inMessage.isEmpty())
            QVERIFY2(f.receiver->error().message().contains(inMessage),
                     qPrintable(f.receiver->error().message()));
        QVERIFY(!f.receiver->error().message().contains(u'"'));
        QVERIFY(f.receiver->takeCode().isEmpty());
        QVERIFY(!f.receiver->isListening());
    }

    void timeoutEndsTheWait()
    {
        Fixture f;
        LoopbackRedirectReceiver::Options options;
        options.timeout = 300ms;
        QCOMPARE(f.start({Issuer, true}, options).code(), Error::Code::NoError);
        const QHostAddress address = f.receiver->address();
        const quint16 port = f.receiver->port();
        QVERIFY(f.finished->wait(10000));
        QCOMPARE(f.receiver->error().code(), Error::Code::Timeout);
        QVERIFY(!f.receiver->isListening());
        QTcpSocket late;
        late.connectToHost(address, port);
        QVERIFY(!late.waitForConnected(3000));
        QCOMPARE(late.error(), QAbstractSocket::ConnectionRefusedError);
    }

    void cancelEndsTheWait()
    {
        Fixture f;
        QCOMPARE(f.start().code(), Error::Code::NoError);
        const QHostAddress address = f.receiver->address();
        const quint16 port = f.receiver->port();
        f.receiver->cancel();
        QVERIFY(!f.receiver->isListening());
        QCOMPARE(f.finished->count(), 0); // from the event loop, not inside cancel()
        QTRY_COMPARE(f.finished->count(), 1);
        QCOMPARE(f.receiver->error().code(), Error::Code::Cancelled);
        f.receiver->cancel(); // once only
        QTest::qWait(50);
        QCOMPARE(f.finished->count(), 1);
        QCOMPARE(exchange(address, port, "GET / HTTP/1.0\r\n\r\n"), QByteArray("NOT CONNECTED"));
        // One-shot: it does not listen again.
        QCOMPARE(f.receiver->listen(generateState(), {Issuer, true}).code(),
                 Error::Code::InvalidConfiguration);
    }

    void silentConnectionIsCutAndBlocksNothing()
    {
        Fixture f;
        LoopbackRedirectReceiver::Options options;
        options.connectionDeadline = 1500ms;
        QCOMPARE(f.start({Issuer, true}, options).code(), Error::Code::NoError);
        QTcpSocket silent;
        silent.connectToHost(f.receiver->address(), f.receiver->port());
        QVERIFY(silent.waitForConnected(5000));
        QTcpSocket slow; // half a head, then nothing
        slow.connectToHost(f.receiver->address(), f.receiver->port());
        QVERIFY(slow.waitForConnected(5000));
        slow.write("GET /callback?state=" + f.state);
        QVERIFY(slow.waitForBytesWritten(5000));
        QElapsedTimer timer;
        timer.start();
        // The real redirect is answered while both are open.
        QCOMPARE(get(f.url(f.goodQuery())).status, 200);
        verifySignedIn(f, "the-code");
        QTRY_COMPARE(silent.state(), QAbstractSocket::UnconnectedState);
        QTRY_COMPARE(slow.state(), QAbstractSocket::UnconnectedState);
    }

    void silentConnectionIsCutByTheDeadline()
    {
        Fixture f;
        LoopbackRedirectReceiver::Options options;
        options.connectionDeadline = 500ms;
        QCOMPARE(f.start({Issuer, true}, options).code(), Error::Code::NoError);
        QTcpSocket silent;
        silent.connectToHost(f.receiver->address(), f.receiver->port());
        QVERIFY(silent.waitForConnected(5000));
        QTRY_COMPARE_WITH_TIMEOUT(silent.state(), QAbstractSocket::UnconnectedState, 10000);
        QCOMPARE(silent.readAll(), QByteArray()); // cut, not answered
        verifyStillWaiting(f);
    }

    void heldConnectionsCannotKeepTheRedirectOut()
    {
        // More silent connections than the receiver keeps: the oldest are cut, so the
        // browser's connection, the newest, is always read.
        Fixture f;
        LoopbackRedirectReceiver::Options options;
        options.maxConnections = 3;
        options.connectionDeadline = 60s; // the cut here is not the deadline's
        QCOMPARE(f.start({Issuer, true}, options).code(), Error::Code::NoError);
        std::vector<std::unique_ptr<QTcpSocket>> held;
        for (int i = 0; i < 5; ++i) {
            held.push_back(std::make_unique<QTcpSocket>());
            held.back()->connectToHost(f.receiver->address(), f.receiver->port());
            QTRY_COMPARE(held.back()->state(), QAbstractSocket::ConnectedState);
            QTest::qWait(20); // accepted in this order
        }
        QTRY_COMPARE(held[0]->state(), QAbstractSocket::UnconnectedState);
        QTRY_COMPARE(held[1]->state(), QAbstractSocket::UnconnectedState);
        QCOMPARE(held[4]->state(), QAbstractSocket::ConnectedState);
        QCOMPARE(get(f.url(f.goodQuery())).status, 200);
        verifySignedIn(f, "the-code");
    }

    void curlSignsIn()
    {
        // Another HTTP client than Qt's, as a browser would be.
        const QString curl = QStandardPaths::findExecutable(QStringLiteral("curl"));
        if (curl.isEmpty())
            QSKIP("curl is not installed");
        Fixture f;
        QCOMPARE(f.start().code(), Error::Code::NoError);
        QProcess process;
        process.start(curl,
                      {QStringLiteral("--silent"), QStringLiteral("--show-error"),
                       QStringLiteral("--include"), QStringLiteral("--noproxy"),
                       QStringLiteral("*"), QStringLiteral("--max-time"), QStringLiteral("20"),
                       f.url(f.goodQuery()).toString(QUrl::FullyEncoded)});
        QSignalSpy done(&process, &QProcess::finished);
        QVERIFY(done.wait(30000));
        const QByteArray output = process.readAllStandardOutput();
        QVERIFY2(output.startsWith("HTTP/1.1 200 "),
                 (output.left(200) + process.readAllStandardError()).constData());
        QVERIFY(output.contains("Cache-Control: no-store\r\n"));
        verifySignedIn(f, "the-code");
    }

    void oversizedHeadIsRefused()
    {
        Fixture f;
        LoopbackRedirectReceiver::Options options;
        options.maxHeadSize = 4096;
        QCOMPARE(f.start({Issuer, true}, options).code(), Error::Code::NoError);
        const QByteArray answer = rawGet(*f.receiver, "/callback?" + f.goodQuery(),
                                         "X-Filler: " + QByteArray(5000, 'a') + "\r\n");
        QVERIFY2(answer.startsWith("HTTP/1.1 431 "), answer.left(80).constData());
        verifyStillWaiting(f);
        // A head just under the cap is read.
        QCOMPARE(rawGet(*f.receiver, "/callback?" + f.goodQuery(),
                        "X-Filler: " + QByteArray(3500, 'a') + "\r\n")
                         .left(13),
                 QByteArray("HTTP/1.1 200 "));
        verifySignedIn(f, "the-code");
    }

    void malformedRequestsAreRefused_data()
    {
        QTest::addColumn<QByteArray>("request"); // {TARGET} {HOST} are filled in
        QTest::addColumn<QByteArray>("status");
        QTest::addRow("absolute-form")
                << QByteArray("GET http://{HOST}{TARGET} HTTP/1.1\r\nHost: {HOST}\r\n\r\n")
                << QByteArray("400");
        QTest::addRow("authority-like target")
                << QByteArray("GET /{TARGET} HTTP/1.1\r\nHost: {HOST}\r\n\r\n")
                << QByteArray("400");
        QTest::addRow("POST") << QByteArray("POST {TARGET} HTTP/1.1\r\nHost: {HOST}\r\n\r\n")
                              << QByteArray("405");
        QTest::addRow("HEAD") << QByteArray("HEAD {TARGET} HTTP/1.1\r\nHost: {HOST}\r\n\r\n")
                              << QByteArray("405");
        QTest::addRow("Host localhost")
                << QByteArray("GET {TARGET} HTTP/1.1\r\nHost: localhost\r\n\r\n")
                << QByteArray("400");
        QTest::addRow("Host of another site")
                << QByteArray("GET {TARGET} HTTP/1.1\r\nHost: evil.example\r\n\r\n")
                << QByteArray("400");
        QTest::addRow("no Host") << QByteArray("GET {TARGET} HTTP/1.1\r\n\r\n")
                                 << QByteArray("400");
        QTest::addRow("bare LF") << QByteArray("GET {TARGET} HTTP/1.1\nHost: {HOST}\n\n")
                                 << QByteArray("400");
        QTest::addRow("with a body") << QByteArray(
                "GET {TARGET} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 3\r\n\r\nabc")
                                     << QByteArray("400");
        QTest::addRow("bad escape")
                << QByteArray("GET {TARGET}&x=%zz HTTP/1.1\r\nHost: {HOST}\r\n\r\n")
                << QByteArray("400");
    }
    void malformedRequestsAreRefused()
    {
        QFETCH(QByteArray, request);
        QFETCH(QByteArray, status);
        Fixture f;
        QCOMPARE(f.start().code(), Error::Code::NoError);
        request.replace("{TARGET}", "/callback?" + f.goodQuery());
        request.replace("{HOST}", f.receiver->redirectUri().authority().toLatin1());
        const QByteArray answer = exchange(f.receiver->address(), f.receiver->port(), request);
        QVERIFY2(answer.startsWith("HTTP/1.1 " + status + ' '), answer.left(80).constData());
        QVERIFY(!answer.contains("the-code"));
        verifyStillWaiting(f);
        QCOMPARE(get(f.url(f.goodQuery())).status, 200);
        verifySignedIn(f, "the-code");
    }

    void listensOnLoopbackOnly()
    {
        Fixture f;
        QCOMPARE(f.start().code(), Error::Code::NoError);
        QCOMPARE(f.receiver->address(), QHostAddress(QHostAddress::LocalHost));
        int tried = 0;
        const QList<QHostAddress> addresses = QNetworkInterface::allAddresses();
        for (const QHostAddress &address : addresses) {
            if (address.isLoopback() || address.isLinkLocal())
                continue; // link-local needs a scope; loopback is where it listens
            ++tried;
            QTcpSocket socket;
            socket.connectToHost(address, f.receiver->port());
            QVERIFY2(!socket.waitForConnected(3000), qPrintable(address.toString()));
            QCOMPARE(socket.error(), QAbstractSocket::ConnectionRefusedError);
        }
        qInfo("non-loopback addresses tried: %d", tried);
        verifyStillWaiting(f);
    }

    void fallsBackToIpv6LoopbackWhenIpv4IsTaken()
    {
        // 127.0.0.1 cannot be bound on a fixed port another socket holds there.
        QTcpServer taken;
        QVERIFY(taken.listen(QHostAddress::LocalHost, 0));
        const quint16 port = taken.serverPort();
        {
            QTcpServer probe;
            if (!probe.listen(QHostAddress::LocalHostIPv6, port))
                QSKIP("::1 cannot be bound on the port taken on 127.0.0.1 (no IPv6 loopback, or "
                      "the port is in use there too): the fallback cannot be shown");
        }
        Fixture f;
        LoopbackRedirectReceiver::Options options;
        options.port = port;
        QCOMPARE(f.start({Issuer, true}, options).code(), Error::Code::NoError);
        QCOMPARE(f.receiver->address(), QHostAddress(QHostAddress::LocalHostIPv6));
        QCOMPARE(f.receiver->redirectUri(),
                 QUrl(QStringLiteral("http://[::1]:%1/callback").arg(port)));
        QCOMPARE(get(f.url(f.goodQuery())).status, 200);
        verifySignedIn(f, "the-code");

        // Neither loopback address free: a typed error, and nothing listens.
        QTcpServer alsoTaken;
        QVERIFY(alsoTaken.listen(QHostAddress::LocalHostIPv6, port));
        LoopbackRedirectReceiver blocked;
        QCOMPARE(blocked.listen(generateState(), {Issuer, true}, options).code(),
                 Error::Code::NetworkError);
        QVERIFY(!blocked.isListening());
    }

    void receiverDeletedOnFinishStillAnswers()
    {
        // An app may delete the receiver from its finished() handler: the page still arrives.
        Fixture f;
        QCOMPARE(f.start().code(), Error::Code::NoError);
        LoopbackRedirectReceiver *receiver = f.receiver.release();
        connect(receiver, &LoopbackRedirectReceiver::finished, receiver, &QObject::deleteLater);
        QPointer<LoopbackRedirectReceiver> watch(receiver);
        const QByteArray answer = rawGet(*receiver, "/callback?" + f.goodQuery());
        QVERIFY2(answer.startsWith("HTTP/1.1 200 "), answer.left(80).constData());
        QVERIFY(answer.contains("You can close this window"));
        QTRY_VERIFY(watch.isNull());
    }
};

QTEST_GUILESS_MAIN(TestOAuthLoopback)
#include "tst_oauth_loopback.moc"
