// SPDX-License-Identifier: MIT
// tessera-server against malformed, oversized and hostile requests: every
// error is JSON with a stable "code" (docs/SERVER.md "Endpoints").
#include "testdatabase.h"
#include "testsupport.h"

#include <QtCore/QJsonArray>
#include <QtTest/QTest>

#include <memory>

using namespace Tessera::Test;

namespace {

constexpr int MaxBody = 1024; // --max-body-bytes of the server under test
constexpr int Any4xx = 4;     // in an "acceptable" list: any 4xx status
constexpr int Closed = 0;     // in an "acceptable" list: connection closed, no response

QByteArray loginBodyOfSize(int size)
{
    QByteArray body = R"({"username":"alice","password":"wrong"})";
    if (body.size() < size)
        body.insert(1, QByteArray(size - body.size(), ' ')); // JSON whitespace
    return body;
}

QString fieldErrorText(const HttpResponse &response, const QString &field)
{
    const QJsonArray errors = response.json().value(field).toArray();
    return errors.isEmpty() ? QString() : errors.first().toString();
}

} // namespace

class tst_ServerRequests : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanup();
    void cleanupTestCase();

    void request_data();
    void request();
    void rawRequest_data();
    void rawRequest();

private:
    std::unique_ptr<ServerProcess> m_server;
    std::unique_ptr<HttpClient> m_http;
};

void tst_ServerRequests::initTestCase()
{
    // Runs on SQLite, and again on PostgreSQL (TESSERA_TEST_DATABASE, CMakeLists.txt).
    TESSERA_REQUIRE_TEST_DATABASE();
    m_server = std::make_unique<ServerProcess>(
            QStringList{QStringLiteral("--max-body-bytes"), QString::number(MaxBody),
                        QStringLiteral("--login-limit"), QStringLiteral("0")});
    TESSERA_START_WITH_TEST_USER(*m_server);
    m_http = std::make_unique<HttpClient>(*m_server);
}

void tst_ServerRequests::cleanup()
{
    m_server->printLogIfFailed();
}

void tst_ServerRequests::cleanupTestCase()
{
    m_http.reset();
    m_server.reset();
}

void tst_ServerRequests::request_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QString>("path");
    QTest::addColumn<QByteArray>("contentType"); // empty: no Content-Type header
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("status");
    QTest::addColumn<QStringList>("codes");  // acceptable "code" values
    QTest::addColumn<QStringList>("fields"); // members that must carry field errors
    QTest::addColumn<QByteArray>("allow");   // expected in the Allow header (405)

    const QString login = QStringLiteral("/api/token/");
    const QString refresh = QStringLiteral("/api/token/refresh/");
    const QString blacklist = QStringLiteral("/api/token/blacklist/");
    const QString verify = QStringLiteral("/api/token/verify/");
    const QByteArray json = "application/json";
    const QStringList parseError{QStringLiteral("parse_error")};
    const QStringList invalid{QStringLiteral("invalid")};
    const QStringList parseOrInvalid{QStringLiteral("parse_error"), QStringLiteral("invalid")};
    const QStringList none;
    const QStringList tooLarge{QStringLiteral("request_too_large")};
    const QStringList media{QStringLiteral("unsupported_media_type")};
    const QStringList notAllowed{QStringLiteral("method_not_allowed")};
    const QStringList notFound{QStringLiteral("not_found")};
    const QStringList authFailed{QStringLiteral("authentication_failed")};
    const QStringList u{QStringLiteral("username")};
    const QStringList p{QStringLiteral("password")};
    const QStringList r{QStringLiteral("refresh")};
    const QStringList t{QStringLiteral("token")};

    // Not a JSON object.
    QTest::addRow("login: not JSON") << QByteArray("POST") << login << json << QByteArray("hello")
                                     << 400 << parseError << none << QByteArray();
    QTest::addRow("login: truncated JSON")
            << QByteArray("POST") << login << json << QByteArray(R"({"username":"alice",)") << 400
            << parseError << none << QByteArray();
    QTest::addRow("login: JSON array") << QByteArray("POST") << login << json
                                       << QByteArray(R"([{"username":"alice","password":"x"}])")
                                       << 400 << parseError << none << QByteArray();
    QTest::addRow("login: JSON string")
            << QByteArray("POST") << login << json << QByteArray(R"("alice")") << 400 << parseError
            << none << QByteArray();
    QTest::addRow("login: JSON number") << QByteArray("POST") << login << json << QByteArray("42")
                                        << 400 << parseError << none << QByteArray();
    QTest::addRow("login: JSON null") << QByteArray("POST") << login << json << QByteArray("null")
                                      << 400 << parseError << none << QByteArray();
    QTest::addRow("login: empty body") << QByteArray("POST") << login << json << QByteArray() << 400
                                       << parseOrInvalid << none << QByteArray();
    QTest::addRow("login: trailing garbage")
            << QByteArray("POST") << login << json
            << QByteArray(R"({"username":"alice","password":"x"} x)") << 400 << parseError << none
            << QByteArray();
    QTest::addRow("refresh: not JSON")
            << QByteArray("POST") << refresh << json << QByteArray("refresh=x") << 400 << parseError
            << none << QByteArray();
    QTest::addRow("blacklist: JSON array")
            << QByteArray("POST") << blacklist << json << QByteArray("[]") << 400 << parseError
            << none << QByteArray();
    QTest::addRow("verify: not JSON")
            << QByteArray("POST") << verify << json << QByteArray("{token}") << 400 << parseError
            << none << QByteArray();

    // Invalid UTF-8 (JSON text must be UTF-8, RFC 8259 section 8.1).
    QTest::addRow("login: invalid UTF-8 in a string")
            << QByteArray("POST") << login << json
            << QByteArray("{\"username\":\"\xff\xfe\",\"password\":\"x\"}") << 400 << parseOrInvalid
            << none << QByteArray();
    QTest::addRow("login: overlong UTF-8")
            << QByteArray("POST") << login << json
            << QByteArray("{\"username\":\"\xc0\xaf\",\"password\":\"x\"}") << 400 << parseOrInvalid
            << none << QByteArray();
    QTest::addRow("login: UTF-8 encoded surrogate")
            << QByteArray("POST") << login << json
            << QByteArray("{\"username\":\"a\",\"password\":\"\xed\xa0\x80\"}") << 400
            << parseOrInvalid << none << QByteArray();
    QTest::addRow("login: truncated UTF-8 sequence")
            << QByteArray("POST") << login << json
            << QByteArray("{\"username\":\"\xe2\x82\",\"password\":\"x\"}") << 400 << parseOrInvalid
            << none << QByteArray();

    // Field errors, DRF style.
    QTest::addRow("login: empty object") << QByteArray("POST") << login << json << QByteArray("{}")
                                         << 400 << invalid << (u + p) << QByteArray();
    QTest::addRow("login: missing password")
            << QByteArray("POST") << login << json << QByteArray(R"({"username":"alice"})") << 400
            << invalid << p << QByteArray();
    QTest::addRow("login: missing username")
            << QByteArray("POST") << login << json << QByteArray(R"({"password":"x"})") << 400
            << invalid << u << QByteArray();
    QTest::addRow("login: username is a number") << QByteArray("POST") << login << json
                                                 << QByteArray(R"({"username":42,"password":"x"})")
                                                 << 400 << invalid << u << QByteArray();
    QTest::addRow("login: password is null")
            << QByteArray("POST") << login << json
            << QByteArray(R"({"username":"alice","password":null})") << 400 << invalid << p
            << QByteArray();
    QTest::addRow("login: password is an object")
            << QByteArray("POST") << login << json
            << QByteArray(R"({"username":"alice","password":{"$ne":""}})") << 400 << invalid << p
            << QByteArray();
    QTest::addRow("login: password is an array")
            << QByteArray("POST") << login << json
            << QByteArray(R"({"username":"alice","password":["x"]})") << 400 << invalid << p
            << QByteArray();
    QTest::addRow("login: password is true")
            << QByteArray("POST") << login << json
            << QByteArray(R"({"username":"alice","password":true})") << 400 << invalid << p
            << QByteArray();
    QTest::addRow("login: empty username") << QByteArray("POST") << login << json
                                           << QByteArray(R"({"username":"","password":"x"})") << 400
                                           << invalid << u << QByteArray();
    QTest::addRow("refresh: missing refresh")
            << QByteArray("POST") << refresh << json << QByteArray("{}") << 400 << invalid << r
            << QByteArray();
    QTest::addRow("refresh: refresh is a number")
            << QByteArray("POST") << refresh << json << QByteArray(R"({"refresh":12345})") << 400
            << invalid << r << QByteArray();
    QTest::addRow("blacklist: missing refresh")
            << QByteArray("POST") << blacklist << json << QByteArray(R"({"token":"x"})") << 400
            << invalid << r << QByteArray();
    QTest::addRow("verify: missing token")
            << QByteArray("POST") << verify << json << QByteArray(R"({"access":"x"})") << 400
            << invalid << t << QByteArray();
    QTest::addRow("verify: token is an array")
            << QByteArray("POST") << verify << json << QByteArray(R"({"token":["x"]})") << 400
            << invalid << t << QByteArray();

    // Content type.
    QTest::addRow("login: text/plain") << QByteArray("POST") << login << QByteArray("text/plain")
                                       << QByteArray(R"({"username":"alice","password":"x"})")
                                       << 415 << media << none << QByteArray();
    QTest::addRow("login: form-urlencoded")
            << QByteArray("POST") << login << QByteArray("application/x-www-form-urlencoded")
            << QByteArray("username=alice&password=x") << 415 << media << none << QByteArray();
    QTest::addRow("refresh: multipart")
            << QByteArray("POST") << refresh << QByteArray("multipart/form-data; boundary=x")
            << QByteArray("--x\r\n\r\n--x--") << 415 << media << none << QByteArray();
    QTest::addRow("login: application/json with charset")
            << QByteArray("POST") << login << QByteArray("application/json; charset=utf-8")
            << QByteArray(R"({"username":"alice","password":"x"})") << 401 << authFailed << none
            << QByteArray();

    // Size limit.
    QTest::addRow("login: body at the limit")
            << QByteArray("POST") << login << json << loginBodyOfSize(MaxBody) << 401 << authFailed
            << none << QByteArray();
    QTest::addRow("login: body one byte over the limit")
            << QByteArray("POST") << login << json << loginBodyOfSize(MaxBody + 1) << 413
            << tooLarge << none << QByteArray();
    QTest::addRow("login: body twice the limit")
            << QByteArray("POST") << login << json << loginBodyOfSize(2 * MaxBody) << 413
            << tooLarge << none << QByteArray();
    QTest::addRow("refresh: body over the limit")
            << QByteArray("POST") << refresh << json
            << QByteArray(R"({"refresh":")") + QByteArray(2 * MaxBody, 'A') + QByteArray(R"("})")
            << 413 << tooLarge << none << QByteArray();
    QTest::addRow("verify: body over the limit")
            << QByteArray("POST") << verify << json
            << QByteArray(R"({"token":")") + QByteArray(2 * MaxBody, 'A') + QByteArray(R"("})")
            << 413 << tooLarge << none << QByteArray();

    // Methods and routes.
    QTest::addRow("GET /api/token/") << QByteArray("GET") << login << QByteArray() << QByteArray()
                                     << 405 << notAllowed << none << QByteArray("POST");
    QTest::addRow("PUT /api/token/refresh/")
            << QByteArray("PUT") << refresh << json << QByteArray("{}") << 405 << notAllowed << none
            << QByteArray("POST");
    QTest::addRow("DELETE /api/token/blacklist/")
            << QByteArray("DELETE") << blacklist << QByteArray() << QByteArray() << 405
            << notAllowed << none << QByteArray("POST");
    QTest::addRow("GET /api/token/verify/")
            << QByteArray("GET") << verify << QByteArray() << QByteArray() << 405 << notAllowed
            << none << QByteArray("POST");
    QTest::addRow("PATCH /api/token/") << QByteArray("PATCH") << login << json << QByteArray("{}")
                                       << 405 << notAllowed << none << QByteArray("POST");
    QTest::addRow("POST /api/me/")
            << QByteArray("POST") << QStringLiteral("/api/me/") << json << QByteArray("{}") << 405
            << notAllowed << none << QByteArray("GET");
    QTest::addRow("DELETE /api/me/")
            << QByteArray("DELETE") << QStringLiteral("/api/me/") << QByteArray() << QByteArray()
            << 405 << notAllowed << none << QByteArray("GET");
    QTest::addRow("POST /.well-known/jwks.json")
            << QByteArray("POST") << QStringLiteral("/.well-known/jwks.json") << json
            << QByteArray("{}") << 405 << notAllowed << none << QByteArray("GET");
    QTest::addRow("POST /healthz")
            << QByteArray("POST") << QStringLiteral("/healthz") << json << QByteArray("{}") << 405
            << notAllowed << none << QByteArray("GET");
    QTest::addRow("GET /nope") << QByteArray("GET") << QStringLiteral("/nope") << QByteArray()
                               << QByteArray() << 404 << notFound << none << QByteArray();
    QTest::addRow("POST /nope") << QByteArray("POST") << QStringLiteral("/nope") << json
                                << QByteArray("{}") << 404 << notFound << none << QByteArray();
    QTest::addRow("GET /api/") << QByteArray("GET") << QStringLiteral("/api/") << QByteArray()
                               << QByteArray() << 404 << notFound << none << QByteArray();
    QTest::addRow("GET /api/token/refresh/extra")
            << QByteArray("GET") << QStringLiteral("/api/token/refresh/extra") << QByteArray()
            << QByteArray() << 404 << notFound << none << QByteArray();
    QTest::addRow("GET /healthz") << QByteArray("GET") << QStringLiteral("/healthz") << QByteArray()
                                  << QByteArray() << 200 << none << none << QByteArray();
}

void tst_ServerRequests::request()
{
    QFETCH(QByteArray, method);
    QFETCH(QString, path);
    QFETCH(QByteArray, contentType);
    QFETCH(QByteArray, body);
    QFETCH(int, status);
    QFETCH(QStringList, codes);
    QFETCH(QStringList, fields);
    QFETCH(QByteArray, allow);

    HttpClient::Headers headers;
    if (!contentType.isEmpty())
        headers.append({"Content-Type", contentType});
    const HttpResponse response = m_http->request(method, path, body, headers);
    TESSERA_EXPECT_STATUS(response, status);
    // Every response, errors included, is JSON and never cached.
    QVERIFY2(response.isJsonObject(), qPrintable(response.describe()));
    QVERIFY2(response.header("Content-Type").startsWith("application/json"),
             response.header("Content-Type").constData());
    QVERIFY2(response.header("Cache-Control").contains("no-store"),
             qPrintable(QStringLiteral("Cache-Control: '%1'")
                                .arg(QString::fromLatin1(response.header("Cache-Control")))));
    if (status >= 400) {
        QVERIFY2(!response.code().isEmpty(), qPrintable(response.describe()));
        QVERIFY2(codes.contains(response.code()), qPrintable(response.describe()));
        QVERIFY(response.json().value(QStringLiteral("detail")).isString());
    }
    for (const QString &field : fields)
        QVERIFY2(!fieldErrorText(response, field).isEmpty(),
                 qPrintable(QStringLiteral("no field error for '%1': %2")
                                    .arg(field, response.describe())));
    if (!allow.isEmpty())
        QVERIFY2(response.header("Allow").contains(allow),
                 qPrintable(QStringLiteral("Allow: '%1'")
                                    .arg(QString::fromLatin1(response.header("Allow")))));
    if (status == 200 && path == u"/healthz")
        QCOMPARE(response.str(QStringLiteral("status")), QStringLiteral("ok"));
}

void tst_ServerRequests::rawRequest_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("halfClose");
    QTest::addColumn<QList<int>>("acceptable"); // statuses; Any4xx; Closed
    QTest::addColumn<QString>("code");          // when a response arrives with this status class

    const QUrl base = m_server->baseUrl();
    const QString login = QStringLiteral("/api/token/");
    const QByteArray credentials = R"({"username":"alice","password":"wrong"})";
    const QByteArray head = "POST /api/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";

    QTest::addRow("no Content-Type")
            << buildRawRequest("POST", login, base, credentials, QByteArray()) << false
            << QList<int>{415} << QStringLiteral("unsupported_media_type");
    QTest::addRow("Content-Length shorter than the body")
            << buildRawRequest("POST", login, base, credentials, "application/json",
                               {"Content-Length: 10"})
            << false << QList<int>{400} << QStringLiteral("parse_error");
    QTest::addRow("Content-Length longer than the body, then EOF")
            << buildRawRequest("POST", login, base, credentials, "application/json",
                               {"Content-Length: 400"})
            << true << QList<int>{Any4xx, Closed} << QString();
    QTest::addRow("Content-Length over the limit, body sent")
            << buildRawRequest("POST", login, base, loginBodyOfSize(2 * MaxBody)) << false
            << QList<int>{413} << QStringLiteral("request_too_large");
    QTest::addRow("huge Content-Length, then EOF")
            << buildRawRequest("POST", login, base, credentials, "application/json",
                               {"Content-Length: 1000000000000"})
            << true << QList<int>{Any4xx, Closed} << QString();
    QTest::addRow("negative Content-Length") << buildRawRequest(
            "POST", login, base, credentials, "application/json", {"Content-Length: -5"})
                                             << true << QList<int>{Any4xx, Closed} << QString();
    QTest::addRow("non-numeric Content-Length") << buildRawRequest(
            "POST", login, base, credentials, "application/json", {"Content-Length: ten"})
                                                << true << QList<int>{Any4xx, Closed} << QString();
    {
        QByteArray chunked =
                head + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        const QByteArray body = loginBodyOfSize(2 * MaxBody);
        for (qsizetype i = 0; i < body.size(); i += 256) {
            const QByteArray chunk = body.mid(i, 256);
            chunked += QByteArray::number(chunk.size(), 16) + "\r\n" + chunk + "\r\n";
        }
        chunked += "0\r\n\r\n";
        QTest::addRow("chunked body over the limit") << chunked << false << QList<int>{413, Closed}
                                                     << QStringLiteral("request_too_large");
    }
    QTest::addRow("2 MiB body") << buildRawRequest("POST", login, base,
                                                   loginBodyOfSize(2 * 1024 * 1024))
                                << false << QList<int>{413, Closed}
                                << QStringLiteral("request_too_large");
    QTest::addRow("invalid UTF-8 in the body")
            << buildRawRequest("POST", login, base, "{\"username\":\"\xff\",\"password\":\"\xfe\"}")
            << false << QList<int>{400} << QString();
    QTest::addRow("raw NUL and control bytes in a JSON string")
            << buildRawRequest("POST", login, base,
                               QByteArray("{\"username\":\"al\0ice\x01\",\"password\":\"x\"}", 37))
            << false << QList<int>{400} << QString();
    QTest::addRow("binary garbage instead of JSON")
            << buildRawRequest("POST", login, base, QByteArray("\x00\x01\x02\xff\xfe\x80", 6))
            << false << QList<int>{400} << QStringLiteral("parse_error");
    QTest::addRow("garbage request line") << QByteArray("\x00\xff\xfe GARBAGE \x01\r\n\r\n", 17)
                                          << true << QList<int>{Any4xx, Closed} << QString();
    QTest::addRow("header without a colon")
            << QByteArray("GET /healthz HTTP/1.1\r\nHost 127.0.0.1\r\nnonsense\r\n\r\n") << true
            << QList<int>{Any4xx, Closed, 200} << QString();
}

void tst_ServerRequests::rawRequest()
{
    QFETCH(QByteArray, bytes);
    QFETCH(bool, halfClose);
    QFETCH(QList<int>, acceptable);
    QFETCH(QString, code);

    RawOptions options;
    options.shutdownWriteAfterSend = halfClose;
    options.timeoutMs = 8000;
    const HttpResponse response = Tessera::Test::rawRequest(m_server->baseUrl(), bytes, options);
    QVERIFY2(!response.timedOut || acceptable.contains(Closed), qPrintable(response.describe()));
    const bool ok = acceptable.contains(response.status)
            || (response.status >= 400 && response.status < 500 && acceptable.contains(Any4xx));
    QVERIFY2(ok, qPrintable(response.describe()));
    QVERIFY2(response.status < 500, qPrintable(response.describe()));
    if (response.status >= 400) {
        QVERIFY2(response.isJsonObject() && !response.code().isEmpty(),
                 qPrintable(response.describe()));
        if (!code.isEmpty())
            QCOMPARE(response.code(), code);
    }
    // The server survives whatever it was sent.
    TESSERA_EXPECT_STATUS(m_http->health(), 200);
    QVERIFY(m_server->isRunning());
}

QTEST_GUILESS_MAIN(tst_ServerRequests)
#include "tst_server_requests.moc"
