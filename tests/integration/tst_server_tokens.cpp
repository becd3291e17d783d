// SPDX-License-Identifier: MIT
// tessera-server access tokens: /api/token/verify/, /api/me/, hostile tokens
// (alg none, algorithm confusion, tampering, foreign keys, jku/x5u/jwk/x5c/kid
// injection, token type confusion), claim checks with the real HS256 key, and
// the published JWKS.
#include "keyfetchtrap.h"
#include "testdatabase.h"
#include "testsupport.h"

#include <tessera/jose.h>

#include <QtCore/QCryptographicHash>
#include <QtCore/QDateTime>
#include <QtCore/QJsonArray>
#include <QtCore/QMessageAuthenticationCode>
#include <QtTest/QTest>

#include <memory>

using namespace Tessera::Test;
namespace Jose = Tessera::Jose;

namespace {

QByteArray compact(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

// Header and payload replaced, signature kept from `token`.
QString withSignatureOf(const QString &token, const QByteArray &headerJson,
                        const QByteArray &payloadJson)
{
    return QString::fromLatin1(base64UrlEncodeNoPad(headerJson) + '.'
                               + base64UrlEncodeNoPad(payloadJson) + '.'
                               + jwtSegments(token).at(2));
}

QString signWith(const Jose::Key &key, const QJsonObject &claims, QJsonObject header = {})
{
    if (!header.contains(QStringLiteral("typ")))
        header.insert(QStringLiteral("typ"), QStringLiteral("at+jwt"));
    return QString::fromLatin1(Jose::signCompact(key, compact(claims), header));
}

QString hmacJws(const QByteArray &headerJson, const QJsonObject &claims, const QByteArray &key,
                QCryptographicHash::Algorithm hash)
{
    const QByteArray input =
            base64UrlEncodeNoPad(headerJson) + '.' + base64UrlEncodeNoPad(compact(claims));
    return QString::fromLatin1(
            input + '.' + base64UrlEncodeNoPad(QMessageAuthenticationCode::hash(input, key, hash)));
}

} // namespace

class tst_ServerTokens : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanup();
    void cleanupTestCase();

    void verify_data();
    void verify();
    void meWithoutBearer_data();
    void meWithoutBearer();
    void hostileAccessToken_data();
    void hostileAccessToken();
    void claimChecksWithRealKey_data();
    void claimChecksWithRealKey();
    void tokenTypeConfusion_data();
    void tokenTypeConfusion();
    void cachedTokenStillChecked();
    void jwks();
    void jwksPerAlgorithm_data();
    void jwksPerAlgorithm();
    void jwksSameAfterRestart();
    void refreshAnswerLikeLogin();

private:
    std::unique_ptr<ServerProcess> m_server; // ES256 (default)
    std::unique_ptr<HttpClient> m_http;
    std::unique_ptr<ServerProcess> m_hsServer; // --alg HS256
    std::unique_ptr<HttpClient> m_hsHttp;
    KeyFetchTrap m_attacker;

    TokenPair m_pair;  // alice's session on m_server
    TokenPair m_bob;   // bob's session on m_server
    QJsonObject m_jwk; // the published key that signed m_pair.access
    QByteArray m_jwksBody;
    QString m_kid;

    TokenPair m_hsPair;
    QString m_hsKid;
    QByteArray m_hsSecret;
    QString m_hsRevokedSid;
};

void tst_ServerTokens::initTestCase()
{
    // Runs on SQLite, and again on PostgreSQL (TESSERA_TEST_DATABASE, CMakeLists.txt).
    TESSERA_REQUIRE_TEST_DATABASE();
    QVERIFY(m_attacker.listen(QHostAddress::LocalHost, 0));

    m_server = std::make_unique<ServerProcess>();
    TESSERA_ADD_USER(*m_server, TestUser, TestPassword.toUtf8());
    TESSERA_ADD_USER(*m_server, QStringLiteral("bob"), "bob password");
    TESSERA_START(*m_server);
    m_http = std::make_unique<HttpClient>(*m_server);
    {
        TESSERA_TOKEN_PAIR(pair, m_http->login(TestUser, TestPassword));
        m_pair = pair;
        TESSERA_TOKEN_PAIR(bob,
                           m_http->login(QStringLiteral("bob"), QStringLiteral("bob password")));
        m_bob = bob;
    }
    const HttpResponse jwks = m_http->jwks();
    TESSERA_EXPECT_STATUS(jwks, 200);
    m_jwksBody = jwks.body;
    m_kid = jwtHeader(m_pair.access).value(QStringLiteral("kid")).toString();
    QVERIFY(!m_kid.isEmpty());
    for (const QJsonValue &key : jwks.json().value(QStringLiteral("keys")).toArray()) {
        if (key.toObject().value(QStringLiteral("kid")).toString() == m_kid)
            m_jwk = key.toObject();
    }
    QVERIFY2(!m_jwk.isEmpty(), "the access token's kid is not in /.well-known/jwks.json");

    // A second server signing with HS256. Its secret lives in the database,
    // which this test owns: forging tokens with the real key checks the claim
    // rules one by one (typ, iss, aud, exp, sid).
    m_hsServer = std::make_unique<ServerProcess>(
            QStringList{QStringLiteral("--alg"), QStringLiteral("HS256")});
    TESSERA_START_WITH_TEST_USER(*m_hsServer);
    m_hsHttp = std::make_unique<HttpClient>(*m_hsServer);
    {
        TESSERA_TOKEN_PAIR(pair, m_hsHttp->login(TestUser, TestPassword));
        m_hsPair = pair;
        TESSERA_TOKEN_PAIR(revoked, m_hsHttp->login(TestUser, TestPassword));
        TESSERA_EXPECT_STATUS(m_hsHttp->blacklist(revoked.refresh), 200);
        m_hsRevokedSid = jwtClaims(revoked.access).value(QStringLiteral("sid")).toString();
    }
    m_hsKid = jwtHeader(m_hsPair.access).value(QStringLiteral("kid")).toString();
    QCOMPARE(jwtHeader(m_hsPair.access).value(QStringLiteral("alg")).toString(),
             QStringLiteral("HS256"));
    QString error;
    // Schema of server/src/storesql.cpp: signing_keys(kid, alg, material).
    const auto rows = databaseSelect(
            m_hsServer->databasePath(),
            QStringLiteral("SELECT kid, material FROM signing_keys WHERE alg = 'HS256'"), &error);
    QVERIFY2(rows.has_value(), qPrintable(error));
    for (const QVariantList &row : *rows) {
        if (row.at(0).toString() == m_hsKid || m_hsKid.isEmpty())
            m_hsSecret = row.at(1).toByteArray();
    }
    QVERIFY2(m_hsSecret.size() >= 32,
             "HS256 secret of the access token's kid not found in the database");
}

void tst_ServerTokens::cleanup()
{
    if (m_server)
        m_server->printLogIfFailed();
    if (m_hsServer)
        m_hsServer->printLogIfFailed();
    QCOMPARE(m_attacker.connections, 0); // no jku / x5u was ever fetched
}

void tst_ServerTokens::cleanupTestCase()
{
    m_hsHttp.reset();
    m_http.reset();
    m_hsServer.reset();
    m_server.reset();
}

void tst_ServerTokens::verify_data()
{
    QTest::addColumn<QString>("token");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("code");

    QTest::addRow("valid access token") << m_pair.access << 200 << QString();
    QTest::addRow("garbage") << QStringLiteral("garbage") << 401
                             << QStringLiteral("token_not_valid");
    QTest::addRow("three empty segments")
            << QStringLiteral("..") << 401 << QStringLiteral("token_not_valid");
    QTest::addRow("a.b.c") << QStringLiteral("a.b.c") << 401 << QStringLiteral("token_not_valid");
    QTest::addRow("refresh token") << m_pair.refresh << 401 << QStringLiteral("token_not_valid");
    QTest::addRow("empty") << QString() << 400 << QStringLiteral("invalid");
}

void tst_ServerTokens::verify()
{
    QFETCH(QString, token);
    QFETCH(int, status);
    QFETCH(QString, code);

    const HttpResponse response = m_http->verify(token);
    TESSERA_EXPECT_STATUS(response, status);
    QVERIFY2(response.isJsonObject(), qPrintable(response.describe()));
    if (status == 200) {
        QVERIFY2(response.json().isEmpty(), qPrintable(response.describe())); // exactly {}
    } else {
        QCOMPARE(response.code(), code);
    }
    if (status == 400)
        QVERIFY(response.json().value(QStringLiteral("token")).isArray());
}

void tst_ServerTokens::meWithoutBearer_data()
{
    QTest::addColumn<QByteArray>("authorization"); // empty: no header at all
    QTest::addColumn<QStringList>("codes");        // any of these

    const QStringList missing{QStringLiteral("not_authenticated")};
    QTest::addRow("no Authorization header") << QByteArray() << missing;
    QTest::addRow("Basic credentials") << QByteArray("Basic YWxpY2U6cGFzc3dvcmQ=") << missing;
    QTest::addRow("token without scheme") << m_pair.access.toLatin1() << missing;
    QTest::addRow("Bearer without token")
            << QByteArray("Bearer")
            << QStringList{QStringLiteral("not_authenticated"), QStringLiteral("token_not_valid")};
    QTest::addRow("Bearer garbage")
            << QByteArray("Bearer garbage") << QStringList{QStringLiteral("token_not_valid")};
}

void tst_ServerTokens::meWithoutBearer()
{
    QFETCH(QByteArray, authorization);
    QFETCH(QStringList, codes);

    HttpClient::Headers headers;
    if (!authorization.isEmpty())
        headers.append({"Authorization", authorization});
    const HttpResponse response = m_http->get(QStringLiteral("/api/me/"), headers);
    TESSERA_EXPECT_STATUS(response, 401);
    QVERIFY2(codes.contains(response.code()), qPrintable(response.describe()));
    QVERIFY2(response.header("WWW-Authenticate").startsWith("Bearer"),
             response.header("WWW-Authenticate").constData());
}

void tst_ServerTokens::hostileAccessToken_data()
{
    QTest::addColumn<QString>("token");
    QTest::addColumn<int>("status");

    const QString access = m_pair.access;
    const QList<QByteArray> segments = jwtSegments(access);
    const QByteArray headerJson = *base64UrlDecodeLoose(segments.at(0));
    const QByteArray payloadJson = *base64UrlDecodeLoose(segments.at(1));
    const QJsonObject header = jwtHeader(access);
    const QJsonObject claims = jwtClaims(access);
    const QString typ = QStringLiteral("at+jwt");
    const QJsonObject kidHeader{{QStringLiteral("typ"), typ}, {QStringLiteral("kid"), m_kid}};
    auto withAlg = [&](const QString &alg) {
        QJsonObject h = header;
        h.insert(QStringLiteral("alg"), alg);
        return compact(h);
    };

    // Control: the machinery below must not break a good token.
    QTest::addRow("control: untouched token") << access << 200;
    QTest::addRow("control: re-serialized header and payload")
            << withSignatureOf(access, headerJson, payloadJson) << 200;

    // "none".
    QTest::addRow("alg none, no signature") << QString::fromLatin1(
            base64UrlEncodeNoPad(withAlg(QStringLiteral("none"))) + '.' + segments.at(1) + '.')
                                            << 401;
    QTest::addRow("alg None, no signature") << QString::fromLatin1(
            base64UrlEncodeNoPad(withAlg(QStringLiteral("None"))) + '.' + segments.at(1) + '.')
                                            << 401;
    QTest::addRow("alg none, original signature")
            << withSignatureOf(access, withAlg(QStringLiteral("none")), payloadJson) << 401;
    {
        QJsonObject h = header;
        h.remove(QStringLiteral("alg"));
        QTest::addRow("no alg, original signature")
                << withSignatureOf(access, compact(h), payloadJson) << 401;
    }
    QTest::addRow("two segments only")
            << QString::fromLatin1(segments.at(0) + '.' + segments.at(1)) << 401;

    // Algorithm confusion: HMAC keyed with the public key the server publishes.
    const Jose::Key published = Jose::Key::fromJwk(m_jwk);
    QVERIFY(!published.isNull());
    const QByteArray pem = published.publicKeyPem();
    QVERIFY(pem.startsWith("-----BEGIN PUBLIC KEY-----"));
    QByteArray der;
    for (const QByteArray &line : pem.split('\n')) {
        if (!line.startsWith("-----"))
            der += QByteArray::fromBase64(line);
    }
    const QByteArray point = QByteArray("\x04", 1)
            + *base64UrlDecodeLoose(m_jwk.value(QStringLiteral("x")).toString().toLatin1())
            + *base64UrlDecodeLoose(m_jwk.value(QStringLiteral("y")).toString().toLatin1());
    const struct
    {
        const char *name;
        QByteArray key;
    } confusionKeys[] = {
            {"JWK JSON (compact)", compact(m_jwk)},
            {"JWK JSON (indented)", QJsonDocument(m_jwk).toJson(QJsonDocument::Indented)},
            {"JWKS document bytes", m_jwksBody},
            {"SPKI PEM", pem},
            {"SPKI PEM without final newline", pem.trimmed()},
            {"SPKI DER", der},
            {"uncompressed EC point", point},
            {"kid", m_kid.toLatin1()},
            {"empty key", QByteArray()},
    };
    for (const auto &confusion : confusionKeys) {
        QTest::addRow("HS256 keyed with %s", confusion.name)
                << signHs256(kidHeader, claims, confusion.key) << 401;
    }
    QTest::addRow("HS384 keyed with SPKI PEM")
            << hmacJws(compact({{QStringLiteral("alg"), QStringLiteral("HS384")},
                                {QStringLiteral("typ"), typ},
                                {QStringLiteral("kid"), m_kid}}),
                       claims, pem, QCryptographicHash::Sha384)
            << 401;
    for (const char *alg : {"EdDSA", "ES384", "RS256", "PS256", "ES256K"}) {
        QTest::addRow("alg %s, original signature", alg)
                << withSignatureOf(access, withAlg(QString::fromLatin1(alg)), payloadJson) << 401;
    }

    // Tampering with a signed token.
    auto tampered = [&](const QString &claim, const QJsonValue &value) {
        QJsonObject c = claims;
        c.insert(claim, value);
        return QString::fromLatin1(segments.at(0) + '.' + base64UrlEncodeNoPad(compact(c)) + '.'
                                   + segments.at(2));
    };
    QTest::addRow("tampered sub") << tampered(QStringLiteral("sub"), QStringLiteral("bob")) << 401;
    QTest::addRow("tampered user_id") << tampered(QStringLiteral("user_id"), 2) << 401;
    QTest::addRow("tampered exp") << tampered(
            QStringLiteral("exp"), claims.value(QStringLiteral("exp")).toInteger() + 3600)
                                  << 401;
    QTest::addRow("tampered sid") << tampered(QStringLiteral("sid"),
                                              jwtClaims(m_bob.access).value(QStringLiteral("sid")))
                                  << 401;
    QTest::addRow("header kid changed") << withSignatureOf(
            access,
            compact(QJsonObject{{QStringLiteral("alg"), QStringLiteral("ES256")},
                                {QStringLiteral("typ"), typ},
                                {QStringLiteral("kid"), QStringLiteral("other")}}),
            payloadJson) << 401;
    QTest::addRow("signature of another token") << QString::fromLatin1(
            segments.at(0) + '.' + segments.at(1) + '.' + jwtSegments(m_bob.access).at(2))
                                                << 401;
    {
        QByteArray signature = *base64UrlDecodeLoose(segments.at(2));
        signature[10] = char(signature[10] ^ 0x01);
        QTest::addRow("signature bit flipped") << QString::fromLatin1(
                segments.at(0) + '.' + segments.at(1) + '.' + base64UrlEncodeNoPad(signature))
                                               << 401;
        QTest::addRow("signature truncated")
                << QString::fromLatin1(segments.at(0) + '.' + segments.at(1) + '.'
                                       + base64UrlEncodeNoPad(signature.left(32)))
                << 401;
        QTest::addRow("signature zero")
                << QString::fromLatin1(segments.at(0) + '.' + segments.at(1) + '.'
                                       + base64UrlEncodeNoPad(QByteArray(64, '\0')))
                << 401;
    }
    QTest::addRow("extra segment") << access + QStringLiteral(".AAAA") << 401;
    QTest::addRow("JWE-shaped five segments") << QStringLiteral("%1..%2.%3.AAAA")
                                                         .arg(QString::fromLatin1(segments.at(0)),
                                                              QString::fromLatin1(segments.at(1)),
                                                              QString::fromLatin1(segments.at(2)))
                                              << 401;
    {
        QJsonObject c = claims;
        c.insert(QStringLiteral("padding"), QString(17 * 1024, u'x'));
        QTest::addRow("oversized token") << withSignatureOf(access, headerJson, compact(c)) << 401;
    }

    // Keys the server does not hold.
    Jose::Key foreign = Jose::Key::generate(Jose::Algorithm::ES256);
    QVERIFY(!foreign.isNull());
    QTest::addRow("foreign ES256 key, own kid") << signWith(foreign, claims) << 401;
    Jose::Key foreignAsServer = foreign;
    foreignAsServer.setKeyId(m_kid);
    QTest::addRow("foreign ES256 key under the server's kid")
            << signWith(foreignAsServer, claims) << 401;
    {
        Jose::Key foreignNoKid = foreign;
        foreignNoKid.setKeyId(QString());
        QJsonObject h{{QStringLiteral("typ"), typ}};
        QTest::addRow("foreign ES256 key, no kid")
                << QString::fromLatin1(Jose::signCompact(foreignNoKid, compact(claims), h)) << 401;
    }
    const Jose::Key foreignEd = Jose::Key::generate(Jose::Algorithm::EdDSA);
    QTest::addRow("foreign EdDSA key") << signWith(foreignEd, claims) << 401;

    // Keys offered by the token itself, or by URL (the attacker server counts fetches).
    const QJsonObject foreignJwk = foreign.publicJwk();
    const QByteArray certificateDer =
            selfSignedCertificate(foreign.privateKeyPem().reveal().toByteArray(),
                                  QStringLiteral("tessera-server"))
                    .toDer();
    QVERIFY(!certificateDer.isEmpty());
    const QString attackerUrl = m_attacker.url(QStringLiteral("/"));
    m_attacker.jwksBody = compact(Jose::jwks({foreign}));
    const struct
    {
        const char *name;
        QString member;
        QJsonValue value;
    } injections[] = {
            {"embedded jwk", QStringLiteral("jwk"), foreignJwk},
            {"x5c with attacker certificate", QStringLiteral("x5c"),
             QJsonArray{QString::fromLatin1(certificateDer.toBase64())}},
            {"jku to attacker JWKS", QStringLiteral("jku"),
             attackerUrl + QStringLiteral("jwks.json")},
            {"x5u to attacker certificate", QStringLiteral("x5u"),
             attackerUrl + QStringLiteral("cert.pem")},
    };
    for (const auto &injection : injections) {
        QTest::addRow("%s, attacker kid", injection.name)
                << signWith(foreign, claims, {{injection.member, injection.value}}) << 401;
        QTest::addRow("%s, server kid", injection.name)
                << signWith(foreignAsServer, claims, {{injection.member, injection.value}}) << 401;
    }
    QTest::addRow("kid path traversal, HS256 with empty key")
            << signHs256({{QStringLiteral("typ"), typ},
                          {QStringLiteral("kid"), QStringLiteral("../../../../../../../dev/null")}},
                         claims, QByteArray())
            << 401;
    const QByteArray injectedSecret = "attacker-secret-attacker-secret!";
    QTest::addRow("kid SQL injection, HS256")
            << signHs256({{QStringLiteral("typ"), typ},
                          {QStringLiteral("kid"),
                           QStringLiteral("x' UNION SELECT '%1', 'HS256', '%1', 0 -- ")
                                   .arg(QString::fromLatin1(injectedSecret))}},
                         claims, injectedSecret)
            << 401;
    QTest::addRow("kid SQL injection, original signature") << withSignatureOf(
            access,
            compact({{QStringLiteral("alg"), QStringLiteral("ES256")},
                     {QStringLiteral("typ"), typ},
                     {QStringLiteral("kid"), m_kid + QStringLiteral("' OR '1'='1")}}),
            payloadJson) << 401;
}

void tst_ServerTokens::hostileAccessToken()
{
    QFETCH(QString, token);
    QFETCH(int, status);

    // In the Authorization header, a token that does not fit the server's header
    // cap (--max-header-bytes, default 16 KiB) is refused before it is parsed.
    const bool overHeaderCap = token.size() > 16 * 1024;
    const HttpResponse me = m_http->me(token);
    TESSERA_EXPECT_STATUS(me, overHeaderCap ? 431 : status);
    QVERIFY2(me.isJsonObject(), qPrintable(me.describe()));
    if (overHeaderCap) {
        QCOMPARE(me.code(), QStringLiteral("header_too_large"));
    } else if (status == 401) {
        QCOMPARE(me.code(), QStringLiteral("token_not_valid"));
        QVERIFY(me.header("WWW-Authenticate").startsWith("Bearer"));
    } else {
        QCOMPARE(me.str(QStringLiteral("username")), TestUser);
    }
    const HttpResponse verify = m_http->verify(token);
    TESSERA_EXPECT_STATUS(verify, status);
    if (status == 401)
        QCOMPARE(verify.code(), QStringLiteral("token_not_valid"));
}

// The server's own HS256 key, read from the database: each row breaks one rule.
void tst_ServerTokens::claimChecksWithRealKey_data()
{
    QTest::addColumn<QString>("token");
    QTest::addColumn<int>("status");

    const QJsonObject claims = jwtClaims(m_hsPair.access);
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    QJsonObject base = claims;
    base.insert(QStringLiteral("jti"), QStringLiteral("forged-jti"));
    base.insert(QStringLiteral("iat"), now);
    base.insert(QStringLiteral("exp"), now + 600);
    const QJsonObject goodHeader{{QStringLiteral("typ"), QStringLiteral("at+jwt")},
                                 {QStringLiteral("kid"), m_hsKid}};

    auto forge = [&](const QJsonObject &header, const QJsonObject &c) {
        return signHs256(header, c, m_hsSecret);
    };
    auto withClaim = [&](const QString &name, const QJsonValue &value) {
        QJsonObject c = base;
        if (value.isUndefined())
            c.remove(name);
        else
            c.insert(name, value);
        return forge(goodHeader, c);
    };
    auto withHeader = [&](const QString &name, const QJsonValue &value) {
        QJsonObject h = goodHeader;
        if (value.isUndefined())
            h.remove(name);
        else
            h.insert(name, value);
        return forge(h, base);
    };

    QTest::addRow("control: forged with the real key") << forge(goodHeader, base) << 200;
    QTest::addRow("typ JWT") << withHeader(QStringLiteral("typ"), QStringLiteral("JWT")) << 401;
    QTest::addRow("typ missing") << withHeader(QStringLiteral("typ"), QJsonValue::Undefined) << 401;
    QTest::addRow("typ refresh") << withHeader(QStringLiteral("typ"), QStringLiteral("refresh"))
                                 << 401;
    QTest::addRow("iss wrong") << withClaim(QStringLiteral("iss"), QStringLiteral("evil")) << 401;
    QTest::addRow("iss missing") << withClaim(QStringLiteral("iss"), QJsonValue::Undefined) << 401;
    QTest::addRow("aud wrong") << withClaim(QStringLiteral("aud"), QStringLiteral("other-api"))
                               << 401;
    QTest::addRow("aud missing") << withClaim(QStringLiteral("aud"), QJsonValue::Undefined) << 401;
    QTest::addRow("exp missing") << withClaim(QStringLiteral("exp"), QJsonValue::Undefined) << 401;
    QTest::addRow("exp 10 s ago") << withClaim(QStringLiteral("exp"), now - 10) << 401;
    QTest::addRow("exp as string")
            << withClaim(QStringLiteral("exp"), QString::number(now + 600)) << 401;
    QTest::addRow("sid missing") << withClaim(QStringLiteral("sid"), QJsonValue::Undefined) << 401;
    QTest::addRow("sid unknown") << withClaim(QStringLiteral("sid"),
                                              QStringLiteral("no-such-family"))
                                 << 401;
    QTest::addRow("sid of a logged-out family")
            << withClaim(QStringLiteral("sid"), m_hsRevokedSid) << 401;
    QTest::addRow("alg HS384 with the real key")
            << hmacJws(compact({{QStringLiteral("alg"), QStringLiteral("HS384")},
                                {QStringLiteral("typ"), QStringLiteral("at+jwt")},
                                {QStringLiteral("kid"), m_hsKid}}),
                       base, m_hsSecret, QCryptographicHash::Sha384)
            << 401;
    {
        QJsonObject h = goodHeader;
        h.insert(QStringLiteral("alg"), QStringLiteral("none"));
        QTest::addRow("alg none with the real kid") << QString::fromLatin1(
                base64UrlEncodeNoPad(compact(h)) + '.' + base64UrlEncodeNoPad(compact(base)) + '.')
                                                    << 401;
    }
    const Jose::Key foreign = Jose::Key::generate(Jose::Algorithm::ES256);
    QTest::addRow("ES256 token on an HS256 server") << signWith(foreign, base) << 401;
}

void tst_ServerTokens::claimChecksWithRealKey()
{
    QFETCH(QString, token);
    QFETCH(int, status);

    const HttpResponse me = m_hsHttp->me(token);
    TESSERA_EXPECT_STATUS(me, status);
    if (status == 401)
        QCOMPARE(me.code(), QStringLiteral("token_not_valid"));
    const HttpResponse verify = m_hsHttp->verify(token);
    TESSERA_EXPECT_STATUS(verify, status);
}

void tst_ServerTokens::tokenTypeConfusion_data()
{
    QTest::addColumn<QString>("endpoint");
    QTest::addColumn<bool>("presentAccess"); // else present the refresh token

    QTest::addRow("refresh token as bearer on /api/me/") << QStringLiteral("me") << false;
    QTest::addRow("refresh token on /api/token/verify/") << QStringLiteral("verify") << false;
    QTest::addRow("access token on /api/token/refresh/") << QStringLiteral("refresh") << true;
    QTest::addRow("access token on /api/token/blacklist/") << QStringLiteral("blacklist") << true;
}

void tst_ServerTokens::tokenTypeConfusion()
{
    QFETCH(QString, endpoint);
    QFETCH(bool, presentAccess);

    TESSERA_TOKEN_PAIR(pair, m_http->login(TestUser, TestPassword));
    const QString token = presentAccess ? pair.access : pair.refresh;
    HttpResponse response;
    if (endpoint == u"me")
        response = m_http->me(token);
    else if (endpoint == u"verify")
        response = m_http->verify(token);
    else if (endpoint == u"refresh")
        response = m_http->refresh(token);
    else
        response = m_http->blacklist(token);
    TESSERA_EXPECT_ERROR(response, 401, "token_not_valid");
    QVERIFY(!response.json().contains(QStringLiteral("access")));
    // The session itself is untouched by the confused request.
    TESSERA_EXPECT_STATUS(m_http->me(pair.access), 200);
    TESSERA_EXPECT_STATUS(m_http->refresh(pair.refresh), 200);
}

// The server remembers verified access tokens; the next requests with the
// same token must still see a changed signature byte and a logout at once.
void tst_ServerTokens::cachedTokenStillChecked()
{
    TESSERA_TOKEN_PAIR(pair, m_http->login(TestUser, TestPassword));
    for (int i = 0; i < 3; ++i) {
        const HttpResponse me = m_http->me(pair.access);
        TESSERA_EXPECT_STATUS(me, 200);
        QCOMPARE(me.json().value(QStringLiteral("username")).toString(), TestUser);
        TESSERA_EXPECT_STATUS(m_http->verify(pair.access), 200);
    }
    QByteArray tampered = pair.access.toLatin1();
    const qsizetype at = tampered.lastIndexOf('.') + 20;
    tampered[at] = tampered.at(at) == 'A' ? 'B' : 'A';
    TESSERA_EXPECT_ERROR(m_http->me(QString::fromLatin1(tampered)), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(m_http->verify(QString::fromLatin1(tampered)), 401, "token_not_valid");
    TESSERA_EXPECT_STATUS(m_http->me(pair.access), 200);

    TESSERA_EXPECT_STATUS(m_http->blacklist(pair.refresh), 200);
    TESSERA_EXPECT_ERROR(m_http->me(pair.access), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(m_http->verify(pair.access), 401, "token_not_valid");
    // Other sessions of the same user are untouched.
    TESSERA_EXPECT_STATUS(m_http->me(m_pair.access), 200);
}

void tst_ServerTokens::jwks()
{
    const HttpResponse response = m_http->jwks();
    TESSERA_EXPECT_STATUS(response, 200);
    QVERIFY(response.header("Content-Type").startsWith("application/json"));
    QVERIFY(response.header("Cache-Control").contains("no-store"));
    const QJsonArray keys = response.json().value(QStringLiteral("keys")).toArray();
    QVERIFY(!keys.isEmpty());
    static const QStringList privateMembers{
            QStringLiteral("d"),  QStringLiteral("p"),  QStringLiteral("q"),   QStringLiteral("dp"),
            QStringLiteral("dq"), QStringLiteral("qi"), QStringLiteral("oth"), QStringLiteral("k")};
    for (const QJsonValue &value : keys) {
        const QJsonObject key = value.toObject();
        QVERIFY2(!key.value(QStringLiteral("kid")).toString().isEmpty(), compact(key).constData());
        QVERIFY(!key.value(QStringLiteral("kty")).toString().isEmpty());
        for (const QString &member : privateMembers)
            QVERIFY2(!key.contains(member),
                     qPrintable(QStringLiteral("JWK has private member '%1'").arg(member)));
        const Jose::Key parsed = Jose::Key::fromJwk(key);
        QVERIFY(!parsed.isNull());
        QVERIFY(!parsed.hasPrivateKey());
    }

    // The published key of the token's kid verifies an issued access token.
    const Jose::Key key = Jose::Key::fromJwk(m_jwk);
    QCOMPARE(key.keyId(), m_kid);
    Jose::ClaimRequirements requirements;
    // The default issuer is the listen URL.
    requirements.issuer = m_server->baseUrl().toString(QUrl::StripTrailingSlash);
    requirements.audience = QStringLiteral("tessera");
    requirements.type = QStringLiteral("at+jwt");
    requirements.requiredClaims = {QStringLiteral("sub"), QStringLiteral("sid"),
                                   QStringLiteral("jti")};
    const Jose::VerifyResult result =
            Jose::verifyJwt(m_pair.access.toLatin1(), {key}, requirements);
    QVERIFY2(result.ok(), qPrintable(Jose::errorString(result.error)));
    QCOMPARE(result.claims.value(QStringLiteral("sub")).toString(), TestUser);
    QCOMPARE(result.claims.value(QStringLiteral("token_type")).toString(),
             QStringLiteral("access"));

    // And that check means something: another key under the same kid fails.
    Jose::Key other = Jose::Key::generate(Jose::Algorithm::ES256);
    other.setKeyId(m_kid);
    QCOMPARE(Jose::verifyJwt(m_pair.access.toLatin1(), {other}, requirements).error,
             Jose::Error::BadSignature);
}

void tst_ServerTokens::jwksPerAlgorithm_data()
{
    QTest::addColumn<QString>("alg");
    QTest::addColumn<QString>("kty"); // empty: nothing may be published
    QTest::addRow("ES256") << QStringLiteral("ES256") << QStringLiteral("EC");
    QTest::addRow("EdDSA") << QStringLiteral("EdDSA") << QStringLiteral("OKP");
    QTest::addRow("HS256") << QStringLiteral("HS256") << QString();
}

void tst_ServerTokens::jwksPerAlgorithm()
{
    QFETCH(QString, alg);
    QFETCH(QString, kty);

    ServerProcess server({QStringLiteral("--alg"), alg});
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);
    TESSERA_TOKEN_PAIR(pair, http.login(TestUser, TestPassword));
    QCOMPARE(jwtHeader(pair.access).value(QStringLiteral("alg")).toString(), alg);
    TESSERA_EXPECT_STATUS(http.me(pair.access), 200);

    const HttpResponse response = http.jwks();
    TESSERA_EXPECT_STATUS(response, 200);
    const QJsonArray keys = response.json().value(QStringLiteral("keys")).toArray();
    QVERIFY(response.json().value(QStringLiteral("keys")).isArray());
    if (kty.isEmpty()) {
        // A symmetric secret is never published.
        for (const QJsonValue &value : keys) {
            QVERIFY(!value.toObject().contains(QStringLiteral("k")));
            QVERIFY(value.toObject().value(QStringLiteral("kty")).toString() != u"oct");
        }
        return;
    }
    QList<Jose::Key> published;
    for (const QJsonValue &value : keys) {
        QCOMPARE(value.toObject().value(QStringLiteral("kty")).toString(), kty);
        QVERIFY(!value.toObject().contains(QStringLiteral("d")));
        published.append(Jose::Key::fromJwk(value.toObject()));
    }
    Jose::ClaimRequirements requirements;
    requirements.type = QStringLiteral("at+jwt");
    const Jose::VerifyResult result =
            Jose::verifyJwt(pair.access.toLatin1(), published, requirements);
    QVERIFY2(result.ok(), qPrintable(Jose::errorString(result.error)));
    // A refreshed token (on SQLite signed on a worker while its rotation commits) verifies
    // the same, with the claims of its session.
    TESSERA_TOKEN_PAIR(refreshed, http.refresh(pair.refresh));
    QCOMPARE(jwtHeader(refreshed.access).value(QStringLiteral("alg")).toString(), alg);
    const Jose::VerifyResult again =
            Jose::verifyJwt(refreshed.access.toLatin1(), published, requirements);
    QVERIFY2(again.ok(), qPrintable(Jose::errorString(again.error)));
    QCOMPARE(again.claims.value(QStringLiteral("sid")), result.claims.value(QStringLiteral("sid")));
    QCOMPARE(again.claims.value(QStringLiteral("sub")).toString(), TestUser);
    QVERIFY(again.claims.value(QStringLiteral("jti"))
            != result.claims.value(QStringLiteral("jti")));
    TESSERA_EXPECT_STATUS(http.me(refreshed.access), 200);
}

// On SQLite the access token of a refresh answer is signed on a worker thread and put into
// the answer, which is then made again (server/src/httpapi.cpp withSignedTokens()): it has the
// headers of a login answer, whose token is signed where it is minted, and its token verifies
// with the published key (a token left unsigned would carry a signature of zeros).
void tst_ServerTokens::refreshAnswerLikeLogin()
{
    const HttpResponse login = m_http->login(QStringLiteral("bob"), QStringLiteral("bob password"));
    TESSERA_EXPECT_STATUS(login, 200);
    const HttpResponse refreshed = m_http->refresh(login.str(QStringLiteral("refresh")));
    TESSERA_EXPECT_STATUS(refreshed, 200);
    const auto headerSet = [](const HttpResponse &response) {
        QStringList lines;
        for (const auto &[name, value] : response.headers) {
            const QByteArray lower = name.toLower();
            // Per answer, not per kind of answer.
            if (lower == "date" || lower == "content-length")
                continue;
            lines << QString::fromLatin1(lower + ": " + value);
        }
        lines.sort();
        return lines;
    };
    QCOMPARE(headerSet(refreshed), headerSet(login));
    QVERIFY(refreshed.hasHeader("Cache-Control"));
    QCOMPARE(refreshed.json().keys(), login.json().keys());

    const QByteArray access = refreshed.str(QStringLiteral("access")).toLatin1();
    QVERIFY(!access.endsWith(QByteArray(86, 'A')));
    Jose::ClaimRequirements requirements;
    requirements.type = QStringLiteral("at+jwt");
    const Jose::VerifyResult result =
            Jose::verifyJwt(access, {Jose::Key::fromJwk(m_jwk)}, requirements);
    QVERIFY2(result.ok(), qPrintable(Jose::errorString(result.error)));
    QCOMPARE(result.claims.value(QStringLiteral("sub")).toString(), QStringLiteral("bob"));
    TESSERA_EXPECT_STATUS(m_http->me(QString::fromLatin1(access)), 200);
}

void tst_ServerTokens::jwksSameAfterRestart()
{
    // A stable issuer: the default, the listen URL, changes with the port at every restart.
    ServerProcess server({QStringLiteral("--issuer"), QStringLiteral("http://127.0.0.1")});
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);
    TESSERA_TOKEN_PAIR(pair, http.login(TestUser, TestPassword));
    const HttpResponse before = http.jwks();
    TESSERA_EXPECT_STATUS(before, 200);

    QVERIFY2(server.restart(), qPrintable(server.errorString()));
    const HttpResponse after = http.jwks();
    TESSERA_EXPECT_STATUS(after, 200);
    QCOMPARE(after.json().value(QStringLiteral("keys")),
             before.json().value(QStringLiteral("keys")));

    QList<Jose::Key> keys;
    for (const QJsonValue &value : after.json().value(QStringLiteral("keys")).toArray())
        keys.append(Jose::Key::fromJwk(value.toObject()));
    Jose::ClaimRequirements requirements;
    requirements.type = QStringLiteral("at+jwt");
    QVERIFY(Jose::verifyJwt(pair.access.toLatin1(), keys, requirements).ok());
    TESSERA_EXPECT_STATUS(http.me(pair.access), 200);
}

QTEST_GUILESS_MAIN(tst_ServerTokens)
#include "tst_server_tokens.moc"
