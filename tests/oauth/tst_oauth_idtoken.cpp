// SPDX-License-Identifier: MIT
// ID token validation (OIDC Core §3.1.3.7) and the provider's JWKS cache (issue 11):
// RS256/PS256 tokens signed by PyJWT (sign_idtokens.py), ES256 and hostile tokens signed
// here with the JOSE layer, every check of §3.1.3.7 failing one at a time, and the cache
// against an in-process JWKS server serving what no real provider should: unusable keys,
// broken documents, key rotation, tokens with random kids. The real provider's JWKS is read
// in tst_oauth_jwks_provider.
#include "accesstiming_p.h"
#include "oauth/idtoken_p.h"

#include "cannedhttpserver.h"

#include <tessera/jose.h>

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QLoggingCategory>
#include <QtCore/QProcess>
#include <QtNetwork/QTcpServer>
#include <QtTest/QTest>

#include <memory>

using namespace Tessera;
using namespace Tessera::OAuth;

Q_DECLARE_METATYPE(Tessera::OAuth::JwksKey)

namespace {

constexpr int FutureTimeoutMs = 20000;
const QString Issuer = QStringLiteral("https://id.example.com/realms/acme");
const QString ClientId = QStringLiteral("tessera-native");
const QByteArray Nonce = "n-0S6_WzA2Mj-8fQ3vKpR";
constexpr qint64 Now = 1800000000; // seconds; the validator's clock in these rows

QJsonObject baseClaims()
{
    return {{QStringLiteral("iss"), Issuer},
            {QStringLiteral("aud"), ClientId},
            {QStringLiteral("sub"), QStringLiteral("user-42")},
            {QStringLiteral("exp"), Now + 300},
            {QStringLiteral("iat"), Now - 5},
            {QStringLiteral("auth_time"), Now - 10},
            {QStringLiteral("nonce"), QString::fromLatin1(Nonce)},
            {QStringLiteral("preferred_username"), QStringLiteral("alice")},
            {QStringLiteral("sid"), QStringLiteral("sid-1")},
            {QStringLiteral("email"), QStringLiteral("alice@example.com")}};
}

QJsonObject with(QJsonObject claims, const QString &name, const QJsonValue &value)
{
    if (value.isUndefined())
        claims.remove(name);
    else
        claims.insert(name, value);
    return claims;
}

QByteArray json(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

IdTokenExpectations expectations()
{
    IdTokenExpectations expected;
    expected.issuer = Issuer;
    expected.clientId = ClientId;
    expected.signingAlgorithms = {QStringLiteral("RS256"), QStringLiteral("PS256"),
                                  QStringLiteral("ES256")};
    expected.nonce = Nonce;
    expected.nowMs = Now * 1000;
    return expected;
}

template<typename T> Error waitFor(const QFuture<T> &future)
{
    if (!QTest::qWaitFor([&] { return future.isFinished(); }, FutureTimeoutMs))
        return {Error::Code::Cancelled, QStringLiteral("the test gave up waiting")};
    return errorOf(future);
}

// A loopback server answering every request with the current document (`answer`).
class JwksServer : public Tessera::Test::CannedHttpServer
{
public:
    QUrl url() const { return CannedHttpServer::url(QStringLiteral("/jwks")); }
};

SessionConfig transport()
{
    SessionConfig config;
    config.setRequestTimeout(std::chrono::seconds(10));
    return config;
}

} // namespace

class tst_OAuthIdToken : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();

    void validate_data();
    void validate();
    void keptClaims();
    void usernameFallsBackToSub();
    void serverClockSkew();
    void tokenNeverLogged();

    void parseJwks_data();
    void parseJwks();

    void rotationRefetchesOnce();
    void unknownKidsRefetchAtMostOncePerFloor();
    void brokenRefetchKeepsOldKeys_data();
    void brokenRefetchKeepsOldKeys();
    void firstFetchFails_data();
    void firstFetchFails();

private:
    QByteArray rsaToken(const QString &name) const { return m_rsaTokens.value(name); }
    // The outcome of validating the PyJWT-signed token `name` against expectations().
    Error validateRsa(IdTokenValidator &validator, const QString &name) const
    {
        return waitFor(validator.validate(Secret(rsaToken(name)), expectations()));
    }
    QByteArray es256(const QJsonObject &claims) const { return Jose::signJwt(m_ecKey, claims); }
    // The set with rsa-a, rsa-b and the EC key, each without "alg".
    QJsonObject jwks(const QList<QJsonObject> &keys) const
    {
        QJsonArray array;
        for (const QJsonObject &key : keys)
            array.append(key);
        return {{QStringLiteral("keys"), array}};
    }
    QList<JwksKey> parsed(const QJsonObject &document) const
    {
        Error error;
        const auto keys = OAuth::parseJwks(json(document), &error);
        return keys ? *keys : QList<JwksKey>();
    }

    Jose::Key m_ecKey;
    QJsonObject m_rsaA, m_rsaB, m_ec, m_ecPrivate;
    QByteArray m_rsaAPem;
    QHash<QString, QByteArray> m_rsaTokens;
};

void tst_OAuthIdToken::initTestCase()
{
    m_ecKey = Jose::Key::generate(Jose::Algorithm::ES256);
    m_ecKey.setKeyId(QStringLiteral("ec-1"));
    m_ec = m_ecKey.publicJwk();
    m_ec.remove(QStringLiteral("alg"));

    // The RSA tokens, made by PyJWT with two fresh 2048-bit keys.
    struct Order
    {
        QString name;
        int key;
        QString alg;
        QString kid;
        QJsonObject claims;
    };
    const QList<Order> orders = {
            {QStringLiteral("RS256"), 0, QStringLiteral("RS256"), QStringLiteral("rsa-a"),
             baseClaims()},
            {QStringLiteral("PS256"), 0, QStringLiteral("PS256"), QStringLiteral("rsa-a"),
             baseClaims()},
            {QStringLiteral("RS256 no kid"), 0, QStringLiteral("RS256"), QString(), baseClaims()},
            {QStringLiteral("RS256 key b"), 1, QStringLiteral("RS256"), QStringLiteral("rsa-b"),
             baseClaims()},
            {QStringLiteral("RS256 key b named a"), 1, QStringLiteral("RS256"),
             QStringLiteral("rsa-a"), baseClaims()},
    };
    QJsonArray tokens;
    for (const Order &order : orders)
        tokens.append(QJsonObject{
                {QStringLiteral("key"), order.key},
                {QStringLiteral("alg"), order.alg},
                {QStringLiteral("kid"),
                 order.kid.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(order.kid)},
                {QStringLiteral("claims"), order.claims}});
    QProcess python;
    python.start(QStringLiteral(TESSERA_PYTHON), {QStringLiteral(TESSERA_IDTOKEN_SIGNER)});
    QVERIFY(python.waitForStarted());
    python.write(json({{QStringLiteral("keys"), 2}, {QStringLiteral("tokens"), tokens}}));
    python.closeWriteChannel();
    QVERIFY(python.waitForFinished(60000));
    QVERIFY2(python.exitCode() == 0, python.readAllStandardError().constData());
    const QJsonObject signed_ = QJsonDocument::fromJson(python.readAllStandardOutput()).object();
    const QJsonArray jwksArray = signed_.value(QStringLiteral("jwks")).toArray();
    QCOMPARE(jwksArray.size(), 2);
    m_rsaA = jwksArray.at(0).toObject();
    m_rsaA.insert(QStringLiteral("kid"), QStringLiteral("rsa-a"));
    m_rsaB = jwksArray.at(1).toObject();
    m_rsaB.insert(QStringLiteral("kid"), QStringLiteral("rsa-b"));
    m_ecPrivate = signed_.value(QStringLiteral("ec_private_jwk")).toObject();
    QVERIFY(m_ecPrivate.contains(QStringLiteral("d")));
    // The JOSE layer alone would import it (a private EC JWK is a valid key for signing).
    QVERIFY(!Jose::Key::fromJwk(m_ecPrivate, Jose::Algorithm::ES256).isNull());
    m_rsaAPem = signed_.value(QStringLiteral("pems")).toArray().at(0).toString().toLatin1();
    const QJsonArray signedTokens = signed_.value(QStringLiteral("tokens")).toArray();
    QCOMPARE(signedTokens.size(), orders.size());
    for (int i = 0; i < orders.size(); ++i)
        m_rsaTokens.insert(orders.at(i).name, signedTokens.at(i).toString().toLatin1());
}

void tst_OAuthIdToken::validate_data()
{
    QTest::addColumn<QByteArray>("token");
    QTest::addColumn<QList<JwksKey>>("keys");
    QTest::addColumn<QStringList>("algorithms");
    QTest::addColumn<QStringList>("trustedAudiences");
    QTest::addColumn<QString>("refusal"); // empty: the token is valid

    const QList<JwksKey> keys = parsed(jwks({m_rsaA, m_rsaB, m_ec}));
    QCOMPARE(keys.size(), 3);
    const QStringList algorithms = expectations().signingAlgorithms;
    const auto row = [&](const char *name, const QByteArray &token, const QString &refusal,
                         const QStringList &advertised) {
        QTest::addRow("%s", name) << token << keys << advertised << QStringList() << refusal;
    };
    const auto claims = [&](const char *name, const QJsonObject &claims, const char *refusal) {
        row(name, es256(claims), QString::fromUtf8(refusal), algorithms);
    };

    // Algorithms and signatures.
    row("RS256", rsaToken(QStringLiteral("RS256")), {}, algorithms);
    row("PS256 (JWK without alg)", rsaToken(QStringLiteral("PS256")), {}, algorithms);
    row("ES256", es256(baseClaims()), {}, algorithms);
    row("RS256 when nothing is advertised", rsaToken(QStringLiteral("RS256")), {}, {});
    row("ES256 when nothing is advertised (RS256 only)", es256(baseClaims()),
        QStringLiteral("not in the provider's"), {});
    row("PS256 not advertised", rsaToken(QStringLiteral("PS256")),
        QStringLiteral("not in the provider's"), {QStringLiteral("RS256")});
    QByteArray forged = rsaToken(QStringLiteral("RS256"));
    const qsizetype at = forged.lastIndexOf('.') + 20;
    forged[at] = forged.at(at) == 'A' ? 'B' : 'A';
    row("RS256 wrong signature", forged, QStringLiteral("signature is invalid"), algorithms);
    row("RS256 signed by another key under this kid",
        rsaToken(QStringLiteral("RS256 key b named a")), QStringLiteral("signature is invalid"),
        algorithms);
    const QByteArray payload = Jose::base64UrlEncode(json(baseClaims()));
    row("alg none", Jose::base64UrlEncode(R"({"alg":"none","kid":"rsa-a"})") + '.' + payload + '.',
        QStringLiteral("not one the SDK verifies"),
        algorithms + QStringList{QStringLiteral("none")});
    row("alg ES384",
        Jose::base64UrlEncode(R"({"alg":"ES384","kid":"ec-1"})") + '.' + payload + ".AAAA",
        QStringLiteral("not one the SDK verifies"),
        algorithms + QStringList{QStringLiteral("ES384")});
    // The algorithm-confusion attack: HMAC keyed with the provider's public RSA key.
    Jose::Key confusion = Jose::Key::fromSecret(Secret(m_rsaAPem));
    QVERIFY(!confusion.isNull());
    confusion.setKeyId(QStringLiteral("rsa-a"));
    row("HS256 keyed with the RSA public key, even if advertised",
        Jose::signJwt(confusion, baseClaims()), QStringLiteral("HS256 is not accepted"),
        algorithms + QStringList{QStringLiteral("HS256")});
    row("unknown kid",
        Jose::signJwt(
                [&] {
                    Jose::Key key = m_ecKey;
                    key.setKeyId(QStringLiteral("ec-2"));
                    return key;
                }(),
                baseClaims()),
        QStringLiteral("no key of the provider's JWKS"), algorithms);
    row("no kid and several keys", rsaToken(QStringLiteral("RS256 no kid")),
        QStringLiteral("exactly one key"), algorithms);
    QTest::addRow("no kid and one key in the set")
            << rsaToken(QStringLiteral("RS256 no kid")) << parsed(jwks({m_rsaA})) << algorithms
            << QStringList() << QString();
    QJsonObject rsaAForRs256 = m_rsaA;
    rsaAForRs256.insert(QStringLiteral("alg"), QStringLiteral("RS256"));
    QTest::addRow("PS256 with a JWK whose alg is RS256")
            << rsaToken(QStringLiteral("PS256")) << parsed(jwks({rsaAForRs256})) << algorithms
            << QStringList() << QStringLiteral("no key of the provider's JWKS");
    row("JWE (five segments)", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.AAAA.AAAA.AAAA.AAAA",
        QStringLiteral("encrypted (JWE)"), algorithms);
    row("four segments", es256(baseClaims()) + ".AAAA", QStringLiteral("not a JWS compact"),
        algorithms);
    claims("oversized",
           with(baseClaims(), QStringLiteral("padding"), QString(MaxIdTokenBytes, u'x')),
           "larger than");

    // Issuer.
    claims("iss with a trailing slash", with(baseClaims(), QStringLiteral("iss"), Issuer + u'/'),
           "\"iss\" is not the issuer");
    claims("iss of another provider",
           with(baseClaims(), QStringLiteral("iss"), QStringLiteral("https://evil.example")),
           "\"iss\" is not the issuer");
    claims("iss missing", with(baseClaims(), QStringLiteral("iss"), {}), "no \"iss\"");

    // Audience and authorized party.
    claims("aud missing", with(baseClaims(), QStringLiteral("aud"), {}), "no \"aud\"");
    claims("aud other", with(baseClaims(), QStringLiteral("aud"), QStringLiteral("other-client")),
           "does not name the client");
    claims("aud array without the client",
           with(baseClaims(), QStringLiteral("aud"),
                QJsonArray{QStringLiteral("a"), QStringLiteral("b")}),
           "does not name the client");
    claims("aud array of the client alone",
           with(baseClaims(), QStringLiteral("aud"), QJsonArray{ClientId}), "");
    claims("aud with an untrusted extra audience, azp the client",
           with(with(baseClaims(), QStringLiteral("aud"),
                     QJsonArray{ClientId, QStringLiteral("other-client")}),
                QStringLiteral("azp"), ClientId),
           "does not trust");
    const QJsonObject twoAudiences =
            with(baseClaims(), QStringLiteral("aud"), QJsonArray{ClientId, QStringLiteral("api")});
    QTest::addRow("aud with a trusted extra audience, no azp")
            << es256(twoAudiences) << keys << algorithms << QStringList{QStringLiteral("api")}
            << QStringLiteral("no \"azp\"");
    QTest::addRow("aud with a trusted extra audience, azp the client")
            << es256(with(twoAudiences, QStringLiteral("azp"), ClientId)) << keys << algorithms
            << QStringList{QStringLiteral("api")} << QString();
    QTest::addRow("aud with a trusted extra audience, azp the other")
            << es256(with(twoAudiences, QStringLiteral("azp"), QStringLiteral("api"))) << keys
            << algorithms << QStringList{QStringLiteral("api")} << QStringLiteral("\"azp\" is not");
    claims("azp other", with(baseClaims(), QStringLiteral("azp"), QStringLiteral("other-client")),
           "\"azp\" is not the client");
    claims("azp the client", with(baseClaims(), QStringLiteral("azp"), ClientId), "");

    // Time, with IdTokenClockTolerance (30 s).
    claims("expired beyond the tolerance", with(baseClaims(), QStringLiteral("exp"), Now - 31),
           "expired");
    claims("expired within the tolerance", with(baseClaims(), QStringLiteral("exp"), Now - 29), "");
    claims("exp missing", with(baseClaims(), QStringLiteral("exp"), {}), "no valid \"exp\"");
    claims("exp a string", with(baseClaims(), QStringLiteral("exp"), QStringLiteral("9999999999")),
           "no valid \"exp\"");
    claims("iat far in the future", with(baseClaims(), QStringLiteral("iat"), Now + 3600),
           "issued in the future");
    claims("iat within the tolerance", with(baseClaims(), QStringLiteral("iat"), Now + 29), "");
    claims("iat missing", with(baseClaims(), QStringLiteral("iat"), {}),
           "no valid \"exp\" or \"iat\"");
    claims("nbf in the future", with(baseClaims(), QStringLiteral("nbf"), Now + 3600), "nbf");

    // Nonce.
    claims("nonce missing", with(baseClaims(), QStringLiteral("nonce"), {}), "no \"nonce\"");
    claims("nonce other", with(baseClaims(), QStringLiteral("nonce"), QStringLiteral("other")),
           "not the one sent");
    claims("nonce a prefix of the one sent",
           with(baseClaims(), QStringLiteral("nonce"), QString::fromLatin1(Nonce.chopped(1))),
           "not the one sent");
    claims("nonce not a string", with(baseClaims(), QStringLiteral("nonce"), 12), "no \"nonce\"");

    // Subject.
    claims("sub missing", with(baseClaims(), QStringLiteral("sub"), {}), "no \"sub\"");
    claims("sub empty", with(baseClaims(), QStringLiteral("sub"), QString()), "no \"sub\"");
    claims("sub a number", with(baseClaims(), QStringLiteral("sub"), 42), "no \"sub\"");
    claims("sub of 255 characters", with(baseClaims(), QStringLiteral("sub"), QString(255, u's')),
           "");
    claims("sub of 256 characters", with(baseClaims(), QStringLiteral("sub"), QString(256, u's')),
           "at most 255");
    claims("sub not ASCII", with(baseClaims(), QStringLiteral("sub"), QStringLiteral("us\u00e9r")),
           "at most 255");
    claims("sub with a control character",
           with(baseClaims(), QStringLiteral("sub"), QStringLiteral("user\n42")), "at most 255");
}

void tst_OAuthIdToken::validate()
{
    QFETCH(QByteArray, token);
    QFETCH(QList<JwksKey>, keys);
    QFETCH(QStringList, algorithms);
    QFETCH(QStringList, trustedAudiences);
    QFETCH(QString, refusal);
    QVERIFY(!token.isEmpty());
    IdTokenExpectations expected = expectations();
    expected.signingAlgorithms = algorithms;
    expected.trustedAudiences = trustedAudiences;
    Error error;
    const std::optional<IdTokenClaims> claims =
            validateIdToken(Secret(token), keys, expected, &error);
    if (refusal.isEmpty()) {
        QVERIFY2(claims.has_value(), qPrintable(error.message()));
        QCOMPARE(error.code(), Error::Code::NoError);
        return;
    }
    QVERIFY(!claims);
    QCOMPARE(error.code(), Error::Code::InvalidResponse);
    QVERIFY(!error.isTransient());
    QVERIFY2(error.message().contains(refusal), qPrintable(error.message()));
}

void tst_OAuthIdToken::keptClaims()
{
    const QList<JwksKey> keys = parsed(jwks({m_rsaA, m_ec}));
    for (const QByteArray &token : {rsaToken(QStringLiteral("RS256")), es256(baseClaims())}) {
        Error error;
        const auto claims = validateIdToken(Secret(token), keys, expectations(), &error);
        QVERIFY2(claims, qPrintable(error.message()));
        QCOMPARE(claims->subject, QStringLiteral("user-42"));
        QCOMPARE(claims->username, QStringLiteral("alice"));
        QCOMPARE(claims->authTime, std::optional<qint64>(Now - 10));
        QCOMPARE(claims->sessionId, QStringLiteral("sid-1"));
    }
}

void tst_OAuthIdToken::usernameFallsBackToSub()
{
    const QList<JwksKey> keys = parsed(jwks({m_ec}));
    for (const QJsonValue &username : {QJsonValue(), QJsonValue(QString()), QJsonValue(7)}) {
        Error error;
        const auto claims = validateIdToken(
                Secret(es256(
                        with(with(baseClaims(), QStringLiteral("preferred_username"), username),
                             QStringLiteral("sid"), {}))),
                keys, expectations(), &error);
        QVERIFY2(claims, qPrintable(error.message()));
        QCOMPARE(claims->username, QStringLiteral("user-42"));
        QVERIFY(claims->sessionId.isEmpty());
    }
}

void tst_OAuthIdToken::serverClockSkew()
{
    // The provider's clock is ten minutes ahead: its token is fresh on its clock.
    const QList<JwksKey> keys = parsed(jwks({m_ec}));
    const QByteArray token = es256(with(with(baseClaims(), QStringLiteral("iat"), Now + 600),
                                        QStringLiteral("exp"), Now + 900));
    IdTokenExpectations expected = expectations();
    Error error;
    QVERIFY(!validateIdToken(Secret(token), keys, expected, &error));
    QVERIFY(error.message().contains(QStringLiteral("issued in the future")));
    expected.serverSkewMs = 600 * 1000;
    QVERIFY2(validateIdToken(Secret(token), keys, expected, &error), qPrintable(error.message()));
    // And a token that is expired on the provider's clock is expired, whatever ours says.
    expected.serverSkewMs = 3600 * 1000;
    QVERIFY(!validateIdToken(Secret(token), keys, expected, &error));
    QVERIFY(error.message().contains(QStringLiteral("expired")));
    // A clock more than a year off is not skew.
    expected.serverSkewMs = MaxTrustedSkewMs + 1000;
    QVERIFY(!validateIdToken(Secret(token), keys, expected, &error));
    QVERIFY(error.message().contains(QStringLiteral("implausibly")));
}

namespace {
QByteArray capturedLog;
void captureMessage(QtMsgType, const QMessageLogContext &, const QString &message)
{
    capturedLog += message.toUtf8() + '\n';
}
} // namespace

void tst_OAuthIdToken::tokenNeverLogged()
{
    QLoggingCategory::setFilterRules(QStringLiteral("tessera.*=true"));
    capturedLog.clear();
    const QtMessageHandler previous = qInstallMessageHandler(captureMessage);
    const QList<JwksKey> keys = parsed(jwks({m_ec}));
    const QByteArray valid = es256(baseClaims());
    const QByteArray refused =
            es256(with(baseClaims(), QStringLiteral("nonce"), QStringLiteral("x")));
    Error error;
    const bool accepted = validateIdToken(Secret(valid), keys, expectations(), &error).has_value();
    const bool rejected = !validateIdToken(Secret(refused), keys, expectations(), &error);
    qInstallMessageHandler(previous);
    QLoggingCategory::setFilterRules(QString());
    QVERIFY(accepted);
    QVERIFY(rejected);
    QVERIFY(capturedLog.contains("ID token refused")); // the handler saw the SDK's lines
    for (const QByteArray &token : {valid, refused}) {
        for (const QByteArray &segment : token.split('.'))
            QVERIFY(!capturedLog.contains(segment));
        QVERIFY(!error.message().toUtf8().contains(token.split('.').at(1)));
    }
    QVERIFY(!capturedLog.contains("alice"));
    QVERIFY(!capturedLog.contains(Nonce));
}

void tst_OAuthIdToken::parseJwks_data()
{
    QTest::addColumn<QByteArray>("document");
    QTest::addColumn<QStringList>("usableKids"); // empty: the document is refused

    const auto keysOf = [&](const QList<QJsonObject> &keys) { return json(jwks(keys)); };
    const QJsonObject enc = with(m_rsaB, QStringLiteral("use"), QStringLiteral("enc"));
    const QJsonObject oct{
            {QStringLiteral("kty"), QStringLiteral("oct")},
            {QStringLiteral("kid"), QStringLiteral("oct")},
            {QStringLiteral("k"), QString::fromLatin1(Jose::base64UrlEncode(QByteArray(32, 'k')))}};
    const QJsonObject privateEc = with(m_ecPrivate, QStringLiteral("kid"), QStringLiteral("leak"));
    const QByteArray n =
            *Jose::base64UrlDecode(m_rsaB.value(QStringLiteral("n")).toString().toLatin1());
    const QJsonObject weakRsa = with(m_rsaB, QStringLiteral("n"),
                                     QString::fromLatin1(Jose::base64UrlEncode(n.first(128))));
    const QJsonObject evenE = with(m_rsaB, QStringLiteral("e"), QStringLiteral("AAI"));
    const QJsonObject unknownKty{{QStringLiteral("kty"), QStringLiteral("XYZ")},
                                 {QStringLiteral("kid"), QStringLiteral("x")}};
    const QJsonObject wrongAlg = with(m_rsaB, QStringLiteral("alg"), QStringLiteral("ES256"));
    const QJsonObject rs512 = with(m_rsaB, QStringLiteral("alg"), QStringLiteral("RS512"));
    const QJsonObject encryptOnly =
            with(m_rsaB, QStringLiteral("key_ops"), QJsonArray{QStringLiteral("encrypt")});
    const QJsonObject numericKid = with(m_rsaB, QStringLiteral("kid"), 7);

    QTest::addRow("good") << keysOf({m_rsaA, m_ec}) << QStringList{"rsa-a", "ec-1"};
    QTest::addRow("application keys with use sig and key_ops verify")
            << keysOf({with(with(m_rsaA, QStringLiteral("use"), QStringLiteral("sig")),
                            QStringLiteral("key_ops"), QJsonArray{QStringLiteral("verify")})})
            << QStringList{"rsa-a"};
    QTest::addRow("every unusable kind, one good")
            << keysOf({enc, oct, privateEc, weakRsa, evenE, unknownKty, wrongAlg, rs512,
                       encryptOnly, numericKid, m_rsaA})
            << QStringList{"rsa-a"};
    QTest::addRow("entries that are not objects")
            << QByteArray(R"({"keys":[1,"x",null,[],)" + json(m_rsaA) + "]}")
            << QStringList{"rsa-a"};
    for (const auto &[name, key] : std::initializer_list<std::pair<const char *, QJsonObject>>{
                 {"use enc only", enc},
                 {"oct only", oct},
                 {"private EC only", privateEc},
                 {"1024-bit RSA only", weakRsa},
                 {"even RSA exponent only", evenE},
                 {"unknown kty only", unknownKty},
                 {"alg not the key type's only", wrongAlg},
                 {"RS512 only", rs512},
                 {"key_ops encrypt only", encryptOnly}})
        QTest::addRow("%s", name) << keysOf({key}) << QStringList();
    QTest::addRow("empty keys") << QByteArray(R"({"keys":[]})") << QStringList();
    QTest::addRow("keys not an array") << QByteArray(R"({"keys":{}})") << QStringList();
    QTest::addRow("no keys") << QByteArray(R"({"other":[]})") << QStringList();
    QTest::addRow("not JSON") << QByteArray("<html>") << QStringList();
    QTest::addRow("array at the top") << QByteArray("[]") << QStringList();
    QTest::addRow("duplicate keys member")
            << QByteArray(R"({"keys":[],"keys":)" + json(jwks({m_rsaA})).mid(8)) << QStringList();
}

void tst_OAuthIdToken::parseJwks()
{
    QFETCH(QByteArray, document);
    QFETCH(QStringList, usableKids);
    Error error;
    const auto keys = OAuth::parseJwks(document, &error);
    if (usableKids.isEmpty()) {
        QVERIFY(!keys);
        QCOMPARE(error.code(), Error::Code::ServerError);
        QVERIFY(error.isTransient());
        return;
    }
    QVERIFY2(keys, qPrintable(error.message()));
    QStringList kids;
    for (const JwksKey &key : *keys) {
        kids.append(key.keyId);
        QVERIFY(key.forAlgorithm(Jose::Algorithm::HS256).isNull());
    }
    QCOMPARE(kids, usableKids);
}

void tst_OAuthIdToken::rotationRefetchesOnce()
{
    JwksServer server;
    server.answer.body = json(jwks({m_rsaA}));
    JwksCache cache(server.url(), transport());
    IdTokenValidator validator(cache);

    QCOMPARE(validateRsa(validator, QStringLiteral("RS256")), Error());
    QCOMPARE(server.paths.size(), 1);
    QCOMPARE(validateRsa(validator, QStringLiteral("PS256")), Error());
    QCOMPARE(server.paths.size(), 1); // cached

    // The provider rotates to rsa-b: tokens naming it make the cache fetch once; a second one
    // arriving while that fetch runs waits for it.
    server.answer.body = json(jwks({m_rsaB}));
    const QFuture<IdTokenClaims> rotated =
            validator.validate(Secret(rsaToken(QStringLiteral("RS256 key b"))), expectations());
    const QFuture<IdTokenClaims> alongside =
            validator.validate(Secret(rsaToken(QStringLiteral("RS256 key b"))), expectations());
    QCOMPARE(waitFor(rotated), Error());
    QCOMPARE(waitFor(alongside), Error());
    QCOMPARE(rotated.result().subject, QStringLiteral("user-42"));
    QCOMPARE(server.paths.size(), 2);
    QVERIFY(!cache.hasKeyId(QStringLiteral("rsa-a")));
    // rsa-a is gone; within the floor its tokens are refused without another fetch.
    const Error gone = validateRsa(validator, QStringLiteral("RS256"));
    QCOMPARE(gone.code(), Error::Code::InvalidResponse);
    QCOMPARE(server.paths.size(), 2);
}

void tst_OAuthIdToken::unknownKidsRefetchAtMostOncePerFloor()
{
    JwksServer server;
    server.answer.body = json(jwks({m_rsaA}));
    JwksCache cache(server.url(), transport(), std::chrono::milliseconds(1500));
    IdTokenValidator validator(cache);
    const auto tokenWithKid = [&](const QString &kid) {
        Jose::Key key = m_ecKey;
        key.setKeyId(kid);
        return Secret(Jose::signJwt(key, baseClaims()));
    };

    // The first token loads the set, lacks its kid, and fetches once more: still unknown.
    Error error =
            waitFor(validator.validate(tokenWithKid(QStringLiteral("random-1")), expectations()));
    QCOMPARE(error.code(), Error::Code::InvalidResponse);
    QVERIFY2(error.message().contains(QStringLiteral("no key")), qPrintable(error.message()));
    QCOMPARE(server.paths.size(), 2);
    // More random kids within the floor: no request at all, even several at once.
    const QFuture<IdTokenClaims> a =
            validator.validate(tokenWithKid(QStringLiteral("random-2")), expectations());
    const QFuture<IdTokenClaims> b =
            validator.validate(tokenWithKid(QStringLiteral("random-3")), expectations());
    QCOMPARE(waitFor(a).code(), Error::Code::InvalidResponse);
    QCOMPARE(waitFor(b).code(), Error::Code::InvalidResponse);
    QCOMPARE(server.paths.size(), 2);
    // After the floor, one more.
    QTest::qWait(1600);
    QCOMPARE(waitFor(validator.validate(tokenWithKid(QStringLiteral("random-4")), expectations()))
                     .code(),
             Error::Code::InvalidResponse);
    QCOMPARE(server.paths.size(), 3);
    // A token with a known kid never fetches.
    QCOMPARE(validateRsa(validator, QStringLiteral("RS256")), Error());
    QCOMPARE(server.paths.size(), 3);
}

void tst_OAuthIdToken::brokenRefetchKeepsOldKeys_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("contentType");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<Error::Code>("code");
    QTest::addRow("empty set") << 200 << QByteArray("application/json")
                               << QByteArray(R"({"keys":[]})") << Error::Code::ServerError;
    QTest::addRow("only unusable keys")
            << 200 << QByteArray("application/json")
            << json(jwks({with(m_rsaB, QStringLiteral("use"), QStringLiteral("enc"))}))
            << Error::Code::ServerError;
    QTest::addRow("not JSON") << 200 << QByteArray("application/json") << QByteArray("{\"keys\":[")
                              << Error::Code::ServerError;
    QTest::addRow("HTML") << 200 << QByteArray("text/html") << json(jwks({m_rsaB}))
                          << Error::Code::ServerError;
    QTest::addRow("server error") << 503 << QByteArray("text/plain") << QByteArray("down")
                                  << Error::Code::ServerError;
    QTest::addRow("too large") << 200 << QByteArray("application/json")
                               << QByteArray(R"({"keys":[],"x":")") + QByteArray(MaxJwksBytes, 'x')
                    + "\"}" << Error::Code::ServerError;
}

void tst_OAuthIdToken::brokenRefetchKeepsOldKeys()
{
    QFETCH(int, status);
    QFETCH(QByteArray, contentType);
    QFETCH(QByteArray, body);
    QFETCH(Error::Code, code);
    JwksServer server;
    server.answer.body = json(jwks({m_rsaA}));
    JwksCache cache(server.url(), transport());
    IdTokenValidator validator(cache);
    QCOMPARE(validateRsa(validator, QStringLiteral("RS256")), Error());

    server.answer.status = status;
    server.answer.contentType = contentType;
    server.answer.body = body;
    const Error error = validateRsa(validator, QStringLiteral("RS256 key b"));
    QCOMPARE(error.code(), code);
    QVERIFY(error.isTransient());
    QCOMPARE(server.paths.size(), 2);
    QCOMPARE(cache.keys().size(), 1);
    QVERIFY(cache.hasKeyId(QStringLiteral("rsa-a")));
    QCOMPARE(validateRsa(validator, QStringLiteral("RS256")), Error());
    QCOMPARE(server.paths.size(), 2);
}

void tst_OAuthIdToken::firstFetchFails_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<Error::Code>("code");
    QTest::addRow("500") << 500 << QByteArray("{}") << Error::Code::ServerError;
    QTest::addRow("429") << 429 << QByteArray("{}") << Error::Code::RateLimited;
    QTest::addRow("redirect not followed")
            << 302 << QByteArray() << Error::Code::InvalidConfiguration;
    QTest::addRow("no usable key") << 200 << QByteArray(R"({"keys":[{"kty":"oct","k":"AAAA"}]})")
                                   << Error::Code::ServerError;
    QTest::addRow("nobody listening") << 0 << QByteArray() << Error::Code::NetworkError;
}

void tst_OAuthIdToken::firstFetchFails()
{
    QFETCH(int, status);
    QFETCH(QByteArray, body);
    QFETCH(Error::Code, code);
    JwksServer server;
    server.answer.status = status;
    server.answer.body = body;
    if (status / 100 == 3)
        server.answer.extraHeaders = "Location: http://127.0.0.1:1/elsewhere\r\n";
    QUrl url = server.url();
    if (status == 0) {
        // A port that was free a moment ago: the probe has closed it again.
        QTcpServer probe;
        QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
        url.setPort(probe.serverPort());
        probe.close();
    }
    JwksCache cache(url, transport());
    IdTokenValidator validator(cache);
    const Error error = validateRsa(validator, QStringLiteral("RS256"));
    QCOMPARE(error.code(), code);
    QCOMPARE(server.paths.size(), status == 0 ? 0 : 1);
    QVERIFY(cache.keys().isEmpty());
}

QTEST_GUILESS_MAIN(tst_OAuthIdToken)
#include "tst_oauth_idtoken.moc"
