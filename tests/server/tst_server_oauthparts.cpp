// SPDX-License-Identifier: MIT
// The building blocks of tessera-server's OAuth endpoints (docs/SERVER.md "OAuth 2 and
// OpenID Connect"), no sockets: form and query parameters (RFC 6749 §3.1: no repeats), the
// issuer rules and the discovery paths (RFC 8414 §3.1, OIDC Discovery §4), HTML escaping,
// and the login form's CSRF guard.
#include "deviceroute.h"
#include "formparameters.h"
#include "loginpage.h"
#include "oauthdiscovery.h"
#include "store.h"

#include <tessera/jose.h>

#include <QtCore/QJsonArray>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

#include <openssl/evp.h>
#include <openssl/hmac.h>

using namespace Tessera::Server;

class tst_ServerOAuthParts : public QObject
{
    Q_OBJECT
private slots:
    void formParameters();
    void formParameterRefusals_data();
    void formParameterRefusals();
    void formContentType();
    void issuers_data();
    void issuers();
    void discoveryPaths();
    void escaping();
    void formGuard();
    void codeRedemption();
    void userCodes();
    void userCodeNormalization_data();
    void userCodeNormalization();
};

void tst_ServerOAuthParts::formParameters()
{
    const FormParameters parameters =
            parseFormParameters("scope=openid+profile&state=a%2Bb%26c&empty=&flag&x=%C3%A9");
    QVERIFY2(parameters.problem.isEmpty(), qPrintable(parameters.problem));
    QCOMPARE(parameters.value(QStringLiteral("scope")), QStringLiteral("openid profile"));
    QCOMPARE(parameters.value(QStringLiteral("state")), QStringLiteral("a+b&c"));
    QCOMPARE(parameters.value(QStringLiteral("x")), QString(QChar(0xe9)));
    // Without a value a parameter counts as omitted (RFC 6749 §3.1).
    QVERIFY(!parameters.has(QStringLiteral("empty")));
    QVERIFY(!parameters.has(QStringLiteral("flag")));
}

void tst_ServerOAuthParts::formParameterRefusals_data()
{
    QTest::addColumn<QByteArray>("encoded");
    QTest::addRow("repeated") << QByteArray("a=1&a=2");
    QTest::addRow("repeated, one empty") << QByteArray("a=&a=2");
    QTest::addRow("repeated, encoded name") << QByteArray("a=1&%61=2");
    QTest::addRow("short escape") << QByteArray("a=%4");
    QTest::addRow("bad escape") << QByteArray("a=%zz");
    QTest::addRow("invalid UTF-8") << QByteArray("a=%C3%28");
    QTest::addRow("NUL") << QByteArray("a=%00");
    QTest::addRow("newline") << QByteArray("a=x%0Ay");
    QTest::addRow("DEL") << QByteArray("a=%7F");
}

void tst_ServerOAuthParts::formParameterRefusals()
{
    QFETCH(QByteArray, encoded);
    QVERIFY(!parseFormParameters(encoded).problem.isEmpty());
}

void tst_ServerOAuthParts::formContentType()
{
    QVERIFY(isFormContentType("application/x-www-form-urlencoded"));
    QVERIFY(isFormContentType("Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
    QVERIFY(!isFormContentType("application/json"));
    QVERIFY(!isFormContentType("application/x-www-form-urlencodedx"));
    QVERIFY(!isFormContentType(""));
}

void tst_ServerOAuthParts::issuers_data()
{
    QTest::addColumn<QString>("issuer");
    QTest::addColumn<bool>("accepted");
    QTest::addRow("https") << "https://id.example" << true;
    QTest::addRow("https with port and path") << "https://id.example:8443/realms/a-1" << true;
    QTest::addRow("loopback http") << "http://127.0.0.1:8000" << true;
    QTest::addRow("ipv6 loopback http") << "http://[::1]:8000" << true;
    QTest::addRow("localhost http") << "http://localhost:8000" << true;
    QTest::addRow("not a URL") << "tessera-server" << false;
    QTest::addRow("public http") << "http://id.example" << false;
    QTest::addRow("other scheme") << "ftp://id.example" << false;
    QTest::addRow("trailing slash") << "https://id.example/" << false;
    QTest::addRow("path trailing slash") << "https://id.example/a/" << false;
    QTest::addRow("query") << "https://id.example?x=1" << false;
    QTest::addRow("fragment") << "https://id.example#x" << false;
    QTest::addRow("userinfo") << "https://user@id.example" << false;
    QTest::addRow("capital host") << "https://ID.example" << false;
    QTest::addRow("default port") << "https://id.example:443" << false;
    QTest::addRow("dot in path") << "https://id.example/a.b" << false;
    QTest::addRow("encoded path") << "https://id.example/a%20b" << false;
}

void tst_ServerOAuthParts::issuers()
{
    QFETCH(QString, issuer);
    QFETCH(bool, accepted);
    const QString problem = issuerProblem(issuer);
    QVERIFY2(problem.isEmpty() == accepted, qPrintable(issuer + QStringLiteral(": ") + problem));
}

void tst_ServerOAuthParts::discoveryPaths()
{
    QCOMPARE(Tessera::Server::discoveryPaths(QStringLiteral("http://127.0.0.1:8000")),
             QStringList({QStringLiteral("/.well-known/oauth-authorization-server"),
                          QStringLiteral("/.well-known/openid-configuration")}));
    QCOMPARE(Tessera::Server::discoveryPaths(QStringLiteral("https://id.example/realms/a")),
             QStringList({QStringLiteral("/.well-known/oauth-authorization-server/realms/a"),
                          QStringLiteral("/.well-known/openid-configuration/realms/a"),
                          QStringLiteral("/realms/a/.well-known/openid-configuration")}));
    const QJsonObject document = discoveryDocument(QStringLiteral("https://id.example/realms/a"),
                                                   Tessera::Jose::Algorithm::EdDSA);
    QCOMPARE(document.value(QStringLiteral("token_endpoint")).toString(),
             QStringLiteral("https://id.example/realms/a/token"));
    QCOMPARE(document.value(QStringLiteral("id_token_signing_alg_values_supported"))
                     .toArray()
                     .first()
                     .toString(),
             QStringLiteral("EdDSA"));
}

void tst_ServerOAuthParts::escaping()
{
    QCOMPARE(htmlEscape(QStringLiteral("<a href=\"x\" title='y'>&amp;</a>")),
             QStringLiteral("&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"));
    const QByteArray page = loginPage(QHttpServerResponse::StatusCode::Ok,
                                      QStringLiteral("/authorize"), QStringLiteral("app"),
                                      {{QStringLiteral("state"), QStringLiteral("\"><script>")}},
                                      QStringLiteral("<i>"))
                                    .data();
    QVERIFY(!page.contains("<script>"));
    QVERIFY(!page.contains("<i>"));
    QVERIFY(page.contains("&lt;i&gt;"));
    QVERIFY(page.contains("value=\"&quot;&gt;&lt;script&gt;\""));
}

void tst_ServerOAuthParts::formGuard()
{
    const QByteArray deploymentKey = QByteArrayLiteral("the signing key every instance shares");
    const FormGuard guard(deploymentKey, "login form");
    const FormGuard sameDeployment(deploymentKey, "login form"); // another instance
    const FormGuard otherDeployment("another deployment's signing key", "login form");
    const FormGuard otherForm(deploymentKey, "another form");
    QVERIFY(guard.isValid());
    QVERIFY(!FormGuard({}, "login form").isValid()); // nothing to derive from
    const qint64 now = 1'000'000;
    const FormGuard::Issued issued = guard.issue(now, QStringLiteral("/authorize"), false);
    const QByteArray cookie = issued.setCookie.split(';').first();
    QVERIFY(issued.setCookie.contains("; HttpOnly"));
    QVERIFY(issued.setCookie.contains("; SameSite=Strict"));
    QVERIFY(issued.setCookie.contains("; Path=/authorize"));
    QVERIFY(!issued.setCookie.contains("Secure"));
    QVERIFY(guard.issue(now, QStringLiteral("/a/authorize"), true).setCookie.contains("; Secure"));

    QVERIFY(guard.accepts(cookie, issued.field, now));
    QVERIFY(guard.accepts("theme=dark; " + cookie + "; lang=en", issued.field, now));
    QVERIFY(!guard.accepts(cookie, issued.field, now + FormGuard::LifetimeSeconds));
    QVERIFY(sameDeployment.accepts(cookie, issued.field, now));
    QVERIFY(!otherDeployment.accepts(cookie, issued.field, now));
    QVERIFY(!otherForm.accepts(cookie, issued.field, now));
    // The key is derived, not the material itself: a MAC under the material is refused.
    QList<QByteArray> macParts = cookie.split('.');
    const QByteArray signedPart = macParts[0] + '.' + macParts[1];
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int rawLength = 0;
    QVERIFY(HMAC(EVP_sha256(), deploymentKey.constData(), int(deploymentKey.size()),
                 reinterpret_cast<const unsigned char *>(signedPart.constData()),
                 size_t(signedPart.size()), raw, &rawLength));
    macParts[2] = Tessera::Jose::base64UrlEncode(
            QByteArrayView(reinterpret_cast<const char *>(raw), qsizetype(rawLength)));
    QVERIFY(!guard.accepts(macParts.join('.'), issued.field, now));
    QVERIFY(!guard.accepts({}, issued.field, now));
    QVERIFY(!guard.accepts(cookie, {}, now));
    const FormGuard::Issued second = guard.issue(now, QStringLiteral("/authorize"), false);
    QVERIFY(!guard.accepts(cookie, second.field, now));
    // Two cookies of the name: which one counts would be ambiguous.
    QVERIFY(!guard.accepts(cookie + "; " + second.setCookie.split(';').first(), issued.field, now));
    // A later expiry written into the cookie breaks its MAC.
    QList<QByteArray> parts = cookie.split('.');
    parts[1] = QByteArray::number(now + 100'000);
    QVERIFY(!guard.accepts(parts.join('.'), issued.field, now));
}

// Single use by compare-and-set, and a replay racing the first exchange (several instances
// on one database): whichever of the two writes second learns of the other.
void tst_ServerOAuthParts::codeRedemption()
{
    QTemporaryDir dir;
    QString error;
    auto store = Store::open(dir.filePath(QStringLiteral("db.sqlite3")), false, &error);
    QVERIFY2(store, qPrintable(error));
    QCOMPARE(store->addUser(QStringLiteral("alice"), "hash"), Store::AddUserResult::Added);
    const qint64 userId = store->findUser(QStringLiteral("alice"))->id;
    auto addCode = [&](const QByteArray &hash) {
        Store::AuthorizationCode code;
        code.codeHash = hash;
        code.clientId = QStringLiteral("app");
        code.redirectUri = QStringLiteral("http://127.0.0.1/cb");
        code.codeChallenge = QStringLiteral("c");
        code.scope = QStringLiteral("openid");
        code.userId = userId;
        code.authTime = 1000;
        code.expiresAt = 61'000;
        return store->addAuthorizationCode(code);
    };
    QVERIFY(addCode("h1"));
    Store::AuthorizationCode read;
    QCOMPARE(store->redeemAuthorizationCode("h1", 2000, &read), Store::RedeemResult::Redeemed);
    QCOMPARE(read.username, QStringLiteral("alice"));
    QCOMPARE(read.usedAt.value_or(0), 2000);
    QCOMPARE(store->redeemAuthorizationCode("h1", 3000, &read), Store::RedeemResult::AlreadyUsed);
    QCOMPARE(store->redeemAuthorizationCode("nope", 3000, &read), Store::RedeemResult::Missing);

    // The replay first: the exchange cannot record its family afterwards.
    QCOMPARE(store->markAuthorizationCodeReplayed("h1").value_or(QStringLiteral("?")), QString());
    QVERIFY(!store->setAuthorizationCodeFamily("h1", QStringLiteral("family-1")));
    // The exchange first: the replay learns the family to revoke.
    QVERIFY(addCode("h2"));
    QCOMPARE(store->redeemAuthorizationCode("h2", 2000, &read), Store::RedeemResult::Redeemed);
    QVERIFY(store->setAuthorizationCodeFamily("h2", QStringLiteral("family-2")));
    QCOMPARE(store->markAuthorizationCodeReplayed("h2").value_or(QString()),
             QStringLiteral("family-2"));

    QCOMPARE(store->purgeAuthorizationCodes(61'001), 2);
}

void tst_ServerOAuthParts::userCodes()
{
    // RFC 8628 §6.1: only the 20 consonants, 8 of them, every one of them drawn.
    const QString alphabet = QStringLiteral("BCDFGHJKLMNPQRSTVWXZ");
    QHash<QChar, int> seen;
    for (int i = 0; i < 500; ++i) {
        const QString code = newUserCode();
        QCOMPARE(code.size(), 8);
        for (const QChar c : code) {
            QVERIFY2(alphabet.contains(c), qPrintable(code));
            ++seen[c];
        }
        QCOMPARE(normalizeUserCode(displayUserCode(code)), std::optional<QString>(code));
    }
    QCOMPARE(seen.size(), alphabet.size());
    // 4000 letters, 200 expected each: a letter drawn under half or over twice as often
    // means a skewed draw.
    for (auto it = seen.cbegin(); it != seen.cend(); ++it)
        QVERIFY2(it.value() > 100 && it.value() < 400, qPrintable(QString(it.key())));
    QCOMPARE(displayUserCode(QStringLiteral("BCDFGHJK")), QStringLiteral("BCDF-GHJK"));
}

void tst_ServerOAuthParts::userCodeNormalization_data()
{
    QTest::addColumn<QString>("typed");
    QTest::addColumn<QString>("normalized"); // empty: refused
    QTest::addRow("as shown") << "BCDF-GHJK"
                              << "BCDFGHJK";
    QTest::addRow("lower case") << "bcdf-ghjk"
                                << "BCDFGHJK";
    QTest::addRow("no dash") << "bcdfghjk"
                             << "BCDFGHJK";
    QTest::addRow("spaces and dashes") << " BC DF--gh jk\t"
                                       << "BCDFGHJK";
    QTest::addRow("too short") << "BCDF-GHJ"
                               << "";
    QTest::addRow("too long") << "BCDF-GHJKL"
                              << "";
    QTest::addRow("vowel") << "ACDF-GHJK"
                           << "";
    QTest::addRow("digit") << "BCDF-GHJ1"
                           << "";
    QTest::addRow("look-alike O for 0") << "BCDF-GHJO"
                                        << "";
    QTest::addRow("long s upper-cases to S")
            << QString(QStringLiteral("BCDF-GHJ") + QChar(0x17f)) << "";
    QTest::addRow("fullwidth letter") << QString(QStringLiteral("BCDF-GHJ") + QChar(0xff2b)) << "";
    QTest::addRow("NUL") << QString(QStringLiteral("BCDF-GHJ") + QChar(0)) << "";
    QTest::addRow("empty") << ""
                           << "";
    QTest::addRow("oversized dashes")
            << QString(QStringLiteral("BCDFGHJK") + QString(100, u'-')) << "";
}

void tst_ServerOAuthParts::userCodeNormalization()
{
    QFETCH(QString, typed);
    QFETCH(QString, normalized);
    const std::optional<QString> result = normalizeUserCode(typed);
    if (normalized.isEmpty())
        QVERIFY2(!result, qPrintable(result.value_or(QString())));
    else
        QCOMPARE(result, std::optional<QString>(normalized));
}

QTEST_GUILESS_MAIN(tst_ServerOAuthParts)
#include "tst_server_oauthparts.moc"
