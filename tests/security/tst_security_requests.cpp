// SPDX-License-Identifier: MIT
// Threat-model scorecard (issue 5), hostile requests: tessera-server against
// forged access tokens (alg none, algorithm confusion, kid/jku/x5u injection),
// oversized tokens, deeply nested JSON, invalid UTF-8, duplicate JSON member
// names and header tricks. Each function is one scorecard row; each row asserts
// the refusal, that nothing was accepted (no 200, the legitimate refresh token
// was not spent, no key was fetched) and that the server stays healthy.
// tests/integration covers the broad hostile-token matrix; these rows target the
// attacks by name.
#include "keyfetchtrap.h"
#include "testsupport.h"

#include <QtCore/QCryptographicHash>
#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QLoggingCategory>
#include <QtCore/QMessageAuthenticationCode>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QTest>

#include <QtCore/QRandomGenerator>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <functional>
#include <map>
#include <memory>

Q_LOGGING_CATEGORY(lcSecurityRequests, "tessera.test.security.requests")

using namespace Tessera::Test;

namespace {

constexpr int Closed = 0; // in an acceptable-status list: connection cut, no response
const QString Es = QStringLiteral("es256");
const QString Ed = QStringLiteral("eddsa");
const QString Big = QStringLiteral("big-body");
constexpr qint64 BigBodyLimit = 8 * 1024 * 1024;

QByteArray compact(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

QByteArray b64(QByteArrayView data)
{
    return base64UrlEncodeNoPad(data);
}

QString jws(const QByteArray &headerJson, const QByteArray &payloadJson,
            const QByteArray &signature)
{
    return QString::fromLatin1(b64(headerJson) + '.' + b64(payloadJson) + '.' + signature);
}

QString hmacToken(const QJsonObject &header, const QByteArray &payloadJson, const QByteArray &key,
                  QCryptographicHash::Algorithm hash = QCryptographicHash::Sha256)
{
    const QByteArray input = b64(compact(header)) + '.' + b64(payloadJson);
    return QString::fromLatin1(input + '.'
                               + b64(QMessageAuthenticationCode::hash(input, key, hash)));
}

// An attacker's own signing key (OpenSSL directly: the Jose library is internal
// to the SDK and the server). `kid` empty: signed tokens carry the header's kid, if any.
class AttackerKey
{
public:
    enum class Type { P256, Ed25519 };

    // A PKCS#8 private key: the server's own signing key, read from its database, signs
    // tokens that only the way they are parsed can make invalid.
    static AttackerKey fromPrivatePem(const QByteArray &pem)
    {
        AttackerKey key;
        BIO *in = BIO_new_mem_buf(pem.constData(), int(pem.size()));
        EVP_PKEY *raw = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
        BIO_free(in);
        key.m_type = raw && EVP_PKEY_id(raw) == EVP_PKEY_ED25519 ? Type::Ed25519 : Type::P256;
        key.m_key.reset(raw, EVP_PKEY_free);
        return key;
    }

    bool isNull() const { return !m_key; }

    // The same key under another key id (empty: none).
    AttackerKey withKid(const QString &keyId) const
    {
        AttackerKey key = *this;
        key.kid = keyId;
        return key;
    }

    static AttackerKey generate(Type type)
    {
        AttackerKey key;
        key.m_type = type;
        EVP_PKEY *raw = type == Type::P256 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
        key.m_key.reset(raw, EVP_PKEY_free);
        key.kid = QString::fromLatin1(
                b64(QCryptographicHash::hash(key.publicDer(), QCryptographicHash::Sha256)));
        return key;
    }

    QString alg() const
    {
        return m_type == Type::P256 ? QStringLiteral("ES256") : QStringLiteral("EdDSA");
    }

    QByteArray publicDer() const
    {
        unsigned char *der = nullptr;
        const int size = i2d_PUBKEY(m_key.get(), &der);
        QByteArray bytes(reinterpret_cast<const char *>(der), qMax(size, 0));
        OPENSSL_free(der);
        return bytes;
    }

    QByteArray privatePem() const
    {
        BIO *out = BIO_new(BIO_s_mem());
        PEM_write_bio_PrivateKey(out, m_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
        char *data = nullptr;
        const long size = BIO_get_mem_data(out, &data);
        QByteArray pem(data, int(size));
        BIO_free(out);
        return pem;
    }

    QJsonObject publicJwk() const
    {
        QJsonObject jwk{{QStringLiteral("alg"), alg()},
                        {QStringLiteral("use"), QStringLiteral("sig")}};
        if (!kid.isEmpty())
            jwk.insert(QStringLiteral("kid"), kid);
        if (m_type == Type::Ed25519) {
            QByteArray x(32, '\0');
            size_t length = size_t(x.size());
            EVP_PKEY_get_raw_public_key(m_key.get(), reinterpret_cast<unsigned char *>(x.data()),
                                        &length);
            jwk.insert(QStringLiteral("kty"), QStringLiteral("OKP"));
            jwk.insert(QStringLiteral("crv"), QStringLiteral("Ed25519"));
            jwk.insert(QStringLiteral("x"), QString::fromLatin1(b64(x)));
            return jwk;
        }
        // The SPKI DER of a P-256 key ends with the uncompressed point 04 || x || y.
        const QByteArray point = publicDer().right(65);
        jwk.insert(QStringLiteral("kty"), QStringLiteral("EC"));
        jwk.insert(QStringLiteral("crv"), QStringLiteral("P-256"));
        jwk.insert(QStringLiteral("x"), QString::fromLatin1(b64(point.mid(1, 32))));
        jwk.insert(QStringLiteral("y"), QString::fromLatin1(b64(point.mid(33, 32))));
        return jwk;
    }

    // JWS signature bytes: raw r || s for ES256 (RFC 7518 3.4), Ed25519 as is.
    QByteArray sign(QByteArrayView input) const
    {
        EVP_MD_CTX *context = EVP_MD_CTX_new();
        const EVP_MD *digest = m_type == Type::P256 ? EVP_sha256() : nullptr;
        QByteArray signature;
        size_t length = 0;
        if (EVP_DigestSignInit(context, nullptr, digest, nullptr, m_key.get()) == 1
            && EVP_DigestSign(context, nullptr, &length,
                              reinterpret_cast<const unsigned char *>(input.data()),
                              size_t(input.size()))
                    == 1) {
            signature.resize(qsizetype(length));
            if (EVP_DigestSign(context, reinterpret_cast<unsigned char *>(signature.data()),
                               &length, reinterpret_cast<const unsigned char *>(input.data()),
                               size_t(input.size()))
                != 1)
                signature.clear();
            signature.resize(qsizetype(length));
        }
        EVP_MD_CTX_free(context);
        if (m_type == Type::Ed25519 || signature.isEmpty())
            return signature;
        const auto *der = reinterpret_cast<const unsigned char *>(signature.constData());
        ECDSA_SIG *ecdsa = d2i_ECDSA_SIG(nullptr, &der, long(signature.size()));
        QByteArray raw(64, '\0');
        BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), reinterpret_cast<unsigned char *>(raw.data()), 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), reinterpret_cast<unsigned char *>(raw.data()) + 32,
                     32);
        ECDSA_SIG_free(ecdsa);
        return raw;
    }

    QString kid;

private:
    Type m_type = Type::P256;
    std::shared_ptr<EVP_PKEY> m_key;
};

// A fresh attacker key of the algorithm the server `targetName` signs with.
AttackerKey attackerKeyLike(const QString &targetName)
{
    return AttackerKey::generate(targetName == Es ? AttackerKey::Type::P256
                                                  : AttackerKey::Type::Ed25519);
}

QByteArray jwksOf(const QList<AttackerKey> &keys)
{
    QJsonArray array;
    for (const AttackerKey &key : keys)
        array.append(key.publicJwk());
    return compact({{QStringLiteral("keys"), array}});
}

// A JWS by `key`; the header gets its alg (and its kid, when it has one) and typ at+jwt.
QString signedBy(const AttackerKey &key, const QByteArray &payloadJson, QJsonObject header = {})
{
    if (!header.contains(QStringLiteral("typ")))
        header.insert(QStringLiteral("typ"), QStringLiteral("at+jwt"));
    header.insert(QStringLiteral("alg"), key.alg());
    if (!key.kid.isEmpty())
        header.insert(QStringLiteral("kid"), key.kid);
    const QByteArray input = b64(compact(header)) + '.' + b64(payloadJson);
    return QString::fromLatin1(input + '.' + b64(key.sign(input)));
}

// The SubjectPublicKeyInfo (DER) of a published JWK, as a confused verifier might load it.
QByteArray spkiOfJwk(const QJsonObject &jwk)
{
    const QByteArray x = base64UrlDecodeLoose(jwk.value(QStringLiteral("x")).toString().toLatin1())
                                 .value_or(QByteArray());
    EVP_PKEY *key = nullptr;
    if (jwk.value(QStringLiteral("kty")).toString() == u"OKP") {
        key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                          reinterpret_cast<const unsigned char *>(x.constData()),
                                          size_t(x.size()));
    } else {
        const QByteArray y =
                base64UrlDecodeLoose(jwk.value(QStringLiteral("y")).toString().toLatin1())
                        .value_or(QByteArray());
        QByteArray point = QByteArray("\x04", 1) + x + y;
        char group[] = "prime256v1";
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
                OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                                  size_t(point.size())),
                OSSL_PARAM_construct_end(),
        };
        EVP_PKEY_CTX *context = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
        if (EVP_PKEY_fromdata_init(context) != 1
            || EVP_PKEY_fromdata(context, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
            key = nullptr;
        EVP_PKEY_CTX_free(context);
    }
    if (!key)
        return {};
    unsigned char *der = nullptr;
    const int size = i2d_PUBKEY(key, &der);
    QByteArray bytes(reinterpret_cast<const char *>(der), qMax(size, 0));
    OPENSSL_free(der);
    EVP_PKEY_free(key);
    return bytes;
}

QByteArray pemOfDer(const QByteArray &der)
{
    QByteArray pem = "-----BEGIN PUBLIC KEY-----\n";
    const QByteArray base64 = der.toBase64();
    for (qsizetype i = 0; i < base64.size(); i += 64)
        pem += base64.mid(i, 64) + '\n';
    return pem + "-----END PUBLIC KEY-----\n";
}

// One tessera-server under attack, with what a client can learn about it.
struct Target
{
    std::unique_ptr<ServerProcess> server;
    std::unique_ptr<HttpClient> http;
    TokenPair pair; // a legitimate session, the template for forged tokens
    QString kid;
    QJsonObject jwk;
    QByteArray jwksBody;
    QByteArray claimsJson; // the payload of pair.access, as issued
};

// A raw request that should be refused, and the legitimate session of its row: the bytes
// may embed its tokens, and both must still work afterwards.
struct RawCase
{
    QString server;
    QByteArray bytes;
    QList<int> acceptable; // statuses; Closed: the connection may be cut instead
    QString code;          // when set, the "code" the refusal must carry
    TokenPair pair;
};

// The bytes of a raw request, made from the row's own access and refresh tokens.
using RawBytes = std::function<QByteArray(const QByteArray &access, const QByteArray &refresh)>;

} // namespace

Q_DECLARE_METATYPE(RawCase)

class tst_SecurityRequests : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanup();
    void cleanupTestCase();

    void algNone_data();
    void algNone();
    void algorithmConfusion_data();
    void algorithmConfusion();
    void kidInjection_data();
    void kidInjection();
    void jkuInjection_data();
    void jkuInjection();
    void x5uInjection_data();
    void x5uInjection();
    void oversizedToken_data();
    void oversizedToken();
    void deeplyNestedJson_data();
    void deeplyNestedJson();
    void invalidUtf8_data();
    void invalidUtf8();
    void headerInjection_data();
    void headerInjection();
    void duplicateKeysInBody_data();
    void duplicateKeysInBody();
    void duplicateKeysInToken_data();
    void duplicateKeysInToken();

private:
    Target &target(const QString &name) { return m_targets.at(name); }
    bool startTarget(const QString &name, const QStringList &args);
    TokenPair freshPair(const QString &name);
    // The columns of a forged-token table: "server" (Es or Ed) and "token".
    static void addForgedColumns();
    void addForgedRow(const char *name, const QString &targetName, const QString &token);
    // Rows "<what>, attacker kid" / ", server kid" / ", no kid": the attacker's key under
    // its own kid, under the server's kid and without one, each with `header` added.
    void addAttackerKeyRows(const QString &targetName, const QByteArray &payload,
                            const AttackerKey &attacker, const QString &what,
                            const QJsonObject &header);
    void runForgedAccessToken();
    // A row of a raw-request table (one column, "raw"): `bytes` for a fresh session on
    // `server`, sent to that server.
    void addRawRow(const QByteArray &tag, const QString &server, const RawBytes &bytes,
                   const QList<int> &acceptable, const QString &code = QString());
    void addRawRow(const QByteArray &tag, const QString &server, const QByteArray &bytes,
                   const QList<int> &acceptable);
    void runRawCase();
    // The server answers /healthz, still issues and accepts tokens, still publishes
    // its keys, and `pair` (used in the attack) is neither revoked nor spent.
    void expectHealthy(const QString &targetName, const TokenPair &pair);

    std::map<QString, Target> m_targets;
    KeyFetchTrap m_trap;
    QString m_startError;
};

bool tst_SecurityRequests::startTarget(const QString &name, const QStringList &args)
{
    Target &t = m_targets[name];
    // No login throttling (every row logs in) and no reuse grace: a refresh token
    // spent by a hostile request would make the later legitimate refresh fail.
    t.server = std::make_unique<ServerProcess>(
            QStringList{QStringLiteral("--login-limit"), QStringLiteral("0"),
                        QStringLiteral("--reuse-grace"), QStringLiteral("0")}
            + args);
    if (!t.server->addUser(TestUser, TestPassword.toUtf8()) || !t.server->start()) {
        m_startError = t.server->errorString();
        return false;
    }
    t.http = std::make_unique<HttpClient>(*t.server);
    const auto pair = tokenPair(t.http->login(TestUser, TestPassword));
    const HttpResponse jwks = t.http->jwks();
    if (!pair || jwks.status != 200) {
        m_startError = QStringLiteral("%1: cannot log in or read the JWKS").arg(name);
        return false;
    }
    t.pair = *pair;
    t.jwksBody = jwks.body;
    t.kid = jwtHeader(t.pair.access).value(QStringLiteral("kid")).toString();
    for (const QJsonValue &key : jwks.json().value(QStringLiteral("keys")).toArray()) {
        if (key.toObject().value(QStringLiteral("kid")).toString() == t.kid)
            t.jwk = key.toObject();
    }
    t.claimsJson = base64UrlDecodeLoose(jwtSegments(t.pair.access).at(1)).value_or(QByteArray());
    return true;
}

TokenPair tst_SecurityRequests::freshPair(const QString &name)
{
    return tokenPair(target(name).http->login(TestUser, TestPassword)).value_or(TokenPair());
}

void tst_SecurityRequests::initTestCase()
{
    QVERIFY(m_trap.listen(QHostAddress::LocalHost, 0));
    QVERIFY2(startTarget(Es, {}), qPrintable(m_startError));
    QVERIFY2(startTarget(Ed, {QStringLiteral("--alg"), QStringLiteral("EdDSA")}),
             qPrintable(m_startError));
    // Large enough that deeply nested bodies reach the JSON parser instead of the 413.
    QVERIFY2(startTarget(Big, {QStringLiteral("--max-body-bytes"), QString::number(BigBodyLimit)}),
             qPrintable(m_startError));
    QCOMPARE(jwtHeader(target(Es).pair.access).value(QStringLiteral("alg")).toString(),
             QStringLiteral("ES256"));
    QCOMPARE(jwtHeader(target(Ed).pair.access).value(QStringLiteral("alg")).toString(),
             QStringLiteral("EdDSA"));
    for (const QString &name : {Es, Ed}) {
        QVERIFY2(!target(name).jwk.isEmpty(), qPrintable(name));
        QVERIFY(!target(name).claimsJson.isEmpty());
    }
}

void tst_SecurityRequests::cleanup()
{
    for (auto &[name, t] : m_targets)
        t.server->printLogIfFailed();
    // A fetch may come after the answer: give it a moment before the final count.
    QTest::qWait(50);
    QCOMPARE(m_trap.connections, 0);
}

void tst_SecurityRequests::cleanupTestCase()
{
    m_targets.clear();
}

void tst_SecurityRequests::expectHealthy(const QString &targetName, const TokenPair &pair)
{
    Target &t = target(targetName);
    QVERIFY2(t.server->isRunning(), "the server process is gone");
    const HttpResponse health = t.http->health();
    TESSERA_EXPECT_STATUS(health, 200);
    QCOMPARE(health.str(QStringLiteral("status")), QStringLiteral("ok"));
    // The keys are intact (no kid lookup reached into storage).
    const HttpResponse jwks = t.http->jwks();
    TESSERA_EXPECT_STATUS(jwks, 200);
    QCOMPARE(jwks.body, t.jwksBody);
    // The victim's session still works: its access token ...
    const HttpResponse me = t.http->me(pair.access);
    TESSERA_EXPECT_STATUS(me, 200);
    QCOMPARE(me.str(QStringLiteral("username")), TestUser);
    // ... and its refresh token was not spent (with no reuse grace, a spent one is
    // refused and revokes the family).
    TESSERA_TOKEN_PAIR(rotated, t.http->refresh(pair.refresh));
    TESSERA_EXPECT_STATUS(t.http->me(rotated.access), 200);
}

// --- forged access tokens --------------------------------------------------------

void tst_SecurityRequests::addForgedColumns()
{
    QTest::addColumn<QString>("server");
    QTest::addColumn<QString>("token");
}

void tst_SecurityRequests::addForgedRow(const char *name, const QString &targetName,
                                        const QString &token)
{
    QTest::addRow("%s: %s", qPrintable(targetName), name) << targetName << token;
}

void tst_SecurityRequests::addAttackerKeyRows(const QString &targetName, const QByteArray &payload,
                                              const AttackerKey &attacker, const QString &what,
                                              const QJsonObject &header)
{
    const AttackerKey asServer = attacker.withKid(target(targetName).kid);
    const AttackerKey noKid = attacker.withKid(QString());
    const QList<std::pair<QString, const AttackerKey *>> keys{
            {QStringLiteral("attacker kid"), &attacker},
            {QStringLiteral("server kid"), &asServer},
            {QStringLiteral("no kid"), &noKid}};
    for (const auto &[label, key] : keys) {
        const QByteArray row = (what + QStringLiteral(", ") + label).toUtf8();
        addForgedRow(row.constData(), targetName, signedBy(*key, payload, header));
    }
}

void tst_SecurityRequests::runForgedAccessToken()
{
    QFETCH(QString, server);
    QFETCH(QString, token);
    Target &t = target(server);

    const HttpResponse me = t.http->me(token);
    TESSERA_EXPECT_ERROR(me, 401, QStringLiteral("token_not_valid"));
    QVERIFY(!me.json().contains(QStringLiteral("username")));
    QVERIFY(me.header("WWW-Authenticate").startsWith("Bearer"));
    TESSERA_EXPECT_ERROR(t.http->verify(token), 401, QStringLiteral("token_not_valid"));
    // Nor does the forged token pass as a refresh token.
    const HttpResponse refresh = t.http->refresh(token);
    TESSERA_EXPECT_ERROR(refresh, 401, QStringLiteral("token_not_valid"));
    QVERIFY(!refresh.json().contains(QStringLiteral("access")));
    QTest::qWait(100); // a jku/x5u fetch would show up in the trap by now
    QCOMPARE(m_trap.connections, 0);
    expectHealthy(server, freshPair(server));
}

void tst_SecurityRequests::algNone_data()
{
    addForgedColumns();
    for (const QString &name : {Es, Ed}) {
        const Target &t = target(name);
        const QByteArray payload = t.claimsJson;
        const QByteArray signature = jwtSegments(t.pair.access).at(2);
        auto header = [&](const QJsonValue &alg) {
            QJsonObject h{{QStringLiteral("typ"), QStringLiteral("at+jwt")},
                          {QStringLiteral("kid"), t.kid}};
            if (!alg.isUndefined())
                h.insert(QStringLiteral("alg"), alg);
            return compact(h);
        };
        const QByteArray none = header(QStringLiteral("none"));
        addForgedRow("alg none, empty signature", name, jws(none, payload, {}));
        addForgedRow("alg None", name, jws(header(QStringLiteral("None")), payload, {}));
        addForgedRow("alg NONE", name, jws(header(QStringLiteral("NONE")), payload, {}));
        addForgedRow("alg nOnE", name, jws(header(QStringLiteral("nOnE")), payload, {}));
        addForgedRow("alg none, original signature kept", name, jws(none, payload, signature));
        addForgedRow("alg none, signature AAAA", name, jws(none, payload, "AAAA"));
        addForgedRow("alg none, no kid", name,
                     jws(compact({{QStringLiteral("alg"), QStringLiteral("none")},
                                  {QStringLiteral("typ"), QStringLiteral("at+jwt")}}),
                         payload, {}));
        addForgedRow("alg none, crit", name,
                     jws(compact({{QStringLiteral("alg"), QStringLiteral("none")},
                                  {QStringLiteral("typ"), QStringLiteral("at+jwt")},
                                  {QStringLiteral("kid"), t.kid},
                                  {QStringLiteral("crit"), QJsonArray{QStringLiteral("b64")}},
                                  {QStringLiteral("b64"), false}}),
                         payload, {}));
        addForgedRow("no alg member, original signature", name,
                     jws(header(QJsonValue::Undefined), payload, signature));
        addForgedRow("alg empty string", name, jws(header(QString()), payload, signature));
        addForgedRow("alg null", name, jws(header(QJsonValue::Null), payload, signature));
        addForgedRow("alg [none] (array)", name,
                     jws(header(QJsonArray{QStringLiteral("none")}), payload, {}));
        addForgedRow("alg 'none ' (trailing space)", name,
                     jws(header(QStringLiteral("none ")), payload, {}));
        addForgedRow("two segments only", name,
                     QString::fromLatin1(b64(none) + '.' + b64(payload)));
    }
}

void tst_SecurityRequests::algNone()
{
    runForgedAccessToken();
}

void tst_SecurityRequests::algorithmConfusion_data()
{
    addForgedColumns();
    for (const QString &name : {Es, Ed}) {
        const Target &t = target(name);
        const QByteArray payload = t.claimsJson;
        const QByteArray spki = spkiOfJwk(t.jwk);
        QVERIFY(!spki.isEmpty());
        const QByteArray pem = pemOfDer(spki);
        QVERIFY(pem.startsWith("-----BEGIN PUBLIC KEY-----"));
        const QByteArray x =
                *base64UrlDecodeLoose(t.jwk.value(QStringLiteral("x")).toString().toLatin1());
        const QJsonObject hsHeader{{QStringLiteral("alg"), QStringLiteral("HS256")},
                                   {QStringLiteral("typ"), QStringLiteral("at+jwt")},
                                   {QStringLiteral("kid"), t.kid}};
        // HMAC keyed with public material: every form a confused verifier might use.
        const std::pair<const char *, QByteArray> publicForms[] = {
                {"HS256 keyed with the JWK (compact JSON)", compact(t.jwk)},
                {"HS256 keyed with the JWKS document bytes", t.jwksBody},
                {"HS256 keyed with the SPKI PEM", pem},
                {"HS256 keyed with the SPKI PEM, no final newline", pem.trimmed()},
                {"HS256 keyed with the SPKI DER", spki},
                {"HS256 keyed with the raw x coordinate", x},
        };
        for (const auto &[rowName, key] : publicForms)
            addForgedRow(rowName, name, hmacToken(hsHeader, payload, key));
        if (name == Es) {
            const QByteArray y =
                    *base64UrlDecodeLoose(t.jwk.value(QStringLiteral("y")).toString().toLatin1());
            addForgedRow("HS256 keyed with the uncompressed EC point", name,
                         hmacToken(hsHeader, payload, QByteArray("\x04", 1) + x + y));
        }
        QJsonObject hs384 = hsHeader;
        hs384.insert(QStringLiteral("alg"), QStringLiteral("HS384"));
        addForgedRow("HS384 keyed with the SPKI PEM", name,
                     hmacToken(hs384, payload, pem, QCryptographicHash::Sha384));
        QJsonObject hs512 = hsHeader;
        hs512.insert(QStringLiteral("alg"), QStringLiteral("HS512"));
        addForgedRow("HS512 keyed with the SPKI PEM", name,
                     hmacToken(hs512, payload, pem, QCryptographicHash::Sha512));

        // EdDSA <-> ES256: both signatures are 64 bytes, so only the key decides.
        const QString otherAlg = name == Es ? QStringLiteral("EdDSA") : QStringLiteral("ES256");
        addForgedRow("alg swapped (ES256 <-> EdDSA), original signature", name,
                     jws(compact({{QStringLiteral("alg"), otherAlg},
                                  {QStringLiteral("typ"), QStringLiteral("at+jwt")},
                                  {QStringLiteral("kid"), t.kid}}),
                         payload, jwtSegments(t.pair.access).at(2)));
        const AttackerKey swapped = attackerKeyLike(name == Es ? Ed : Es).withKid(t.kid);
        addForgedRow("signed with an attacker key of the other algorithm, server kid", name,
                     signedBy(swapped, payload));
        const Target &other = target(name == Es ? Ed : Es);
        addForgedRow("a genuine token of the other algorithm's server", name, other.pair.access);
    }
}

void tst_SecurityRequests::algorithmConfusion()
{
    runForgedAccessToken();
}

void tst_SecurityRequests::kidInjection_data()
{
    addForgedColumns();
    QFile passwd(QStringLiteral("/etc/passwd"));
    const QByteArray passwdBytes =
            passwd.open(QIODevice::ReadOnly) ? passwd.readAll() : QByteArray();
    for (const QString &name : {Es, Ed}) {
        const Target &t = target(name);
        const QByteArray payload = t.claimsJson;
        auto hs = [&](const QJsonValue &kid, const QByteArray &key) {
            return hmacToken({{QStringLiteral("alg"), QStringLiteral("HS256")},
                              {QStringLiteral("typ"), QStringLiteral("at+jwt")},
                              {QStringLiteral("kid"), kid}},
                             payload, key);
        };
        // An attacker key with no id of its own, so the header's kid is the injected one.
        const AttackerKey attacker = attackerKeyLike(name).withKid(QString());
        auto asym = [&](const QJsonValue &kid) {
            return signedBy(attacker, payload, {{QStringLiteral("kid"), kid}});
        };

        // Path traversal: a key read from a file the attacker knows.
        addForgedRow("kid ../../dev/null, HS256 with an empty key", name,
                     hs(QStringLiteral("../../../../../../../../dev/null"), QByteArray()));
        addForgedRow("kid /dev/null, HS256 with an empty key", name,
                     hs(QStringLiteral("/dev/null"), QByteArray()));
        if (!passwdBytes.isEmpty())
            addForgedRow("kid ../../etc/passwd, HS256 keyed with its content", name,
                         hs(QStringLiteral("../../../../../../../../etc/passwd"), passwdBytes));
        addForgedRow("kid file:///dev/null, HS256 with an empty key", name,
                     hs(QStringLiteral("file:///dev/null"), QByteArray()));
        addForgedRow("kid ../../dev/null, attacker key", name,
                     asym(QStringLiteral("../../../../../../../../dev/null")));
        // SQL: a key row of the attacker's choosing, or the whole table.
        const QByteArray secret = "attacker-chosen-secret-0123456789";
        addForgedRow("kid UNION SELECT of an attacker secret, HS256", name,
                     hs(QStringLiteral("x' UNION SELECT '%1','HS256','%1' -- ")
                                .arg(QString::fromLatin1(secret)),
                        secret));
        addForgedRow("kid ' OR '1'='1, attacker key", name,
                     asym(t.kid + QStringLiteral("' OR '1'='1")));
        addForgedRow("kid '; DROP TABLE signing_keys; --, attacker key", name,
                     asym(QStringLiteral("'; DROP TABLE signing_keys; --")));
        addForgedRow("kid \" OR \"\"=\", attacker key", name,
                     asym(QStringLiteral("\" OR \"\"=\"")));
        // Unknown and malformed ids.
        addForgedRow("unknown kid, attacker key", name,
                     asym(QString::fromLatin1(b64(QCryptographicHash::hash(
                             QByteArray::number(QRandomGenerator::system()->generate64()),
                             QCryptographicHash::Sha256)))));
        addForgedRow("empty kid, attacker key", name, asym(QString()));
        addForgedRow("kid differing in case, attacker key", name, asym(t.kid.toUpper()));
        addForgedRow("server kid plus NUL, attacker key", name, asym(t.kid + QChar(u'\0')));
        addForgedRow("server kid plus CRLF header text, attacker key", name,
                     asym(t.kid + QStringLiteral("\r\nX-Injected: 1")));
        addForgedRow("kid of 10 KB, attacker key", name, asym(QString(10 * 1024, u'k')));
        addForgedRow("kid as a number, attacker key", name, asym(0));
        addForgedRow("kid as an array holding the server kid, attacker key", name,
                     asym(QJsonArray{t.kid}));
        addForgedRow("kid as an object, attacker key", name,
                     asym(QJsonObject{{QStringLiteral("$ne"), QString()}}));
    }
}

void tst_SecurityRequests::kidInjection()
{
    runForgedAccessToken();
}

void tst_SecurityRequests::jkuInjection_data()
{
    addForgedColumns();
    for (const QString &name : {Es, Ed}) {
        const Target &t = target(name);
        const QByteArray payload = t.claimsJson;
        const AttackerKey attacker = attackerKeyLike(name);
        const AttackerKey asServer = attacker.withKid(t.kid);
        m_trap.jwksBody = jwksOf({attacker, asServer});
        const QString jku = m_trap.url(QStringLiteral("/.well-known/jwks.json"));
        addAttackerKeyRows(name, payload, attacker, QStringLiteral("jku to the attacker JWKS"),
                           {{QStringLiteral("jku"), jku}});
        addForgedRow("jku plus embedded jwk", name,
                     signedBy(attacker, payload,
                              {{QStringLiteral("jku"), jku},
                               {QStringLiteral("jwk"), attacker.publicJwk()}}));
        addForgedRow("jku to the server's own JWKS path on the attacker host", name,
                     signedBy(asServer, payload,
                              {{QStringLiteral("jku"),
                                m_trap.url(QStringLiteral("/.well-known/jwks.json?")
                                           + t.server->baseUrl().toString())}}));
        addForgedRow("jku with userinfo trick toward the attacker", name,
                     signedBy(asServer, payload,
                              {{QStringLiteral("jku"),
                                QStringLiteral("http://%1@127.0.0.1:%2/jwks.json")
                                        .arg(t.server->baseUrl().authority())
                                        .arg(m_trap.serverPort())}}));
    }
}

void tst_SecurityRequests::jkuInjection()
{
    runForgedAccessToken();
}

void tst_SecurityRequests::x5uInjection_data()
{
    addForgedColumns();
    for (const QString &name : {Es, Ed}) {
        const Target &t = target(name);
        const QByteArray payload = t.claimsJson;
        const AttackerKey attacker = attackerKeyLike(name);
        const AttackerKey asServer = attacker.withKid(t.kid);
        const QSslCertificate certificate =
                selfSignedCertificate(attacker.privatePem(), QStringLiteral("attacker"));
        QVERIFY2(!certificate.isNull(), "cannot make the attacker certificate");
        m_trap.certificatePem = certificate.toPem();
        const QString x5u = m_trap.url(QStringLiteral("/attacker.pem"));
        addAttackerKeyRows(name, payload, attacker,
                           QStringLiteral("x5u to the attacker certificate"),
                           {{QStringLiteral("x5u"), x5u}});
        const QByteArray der = certificate.toDer();
        addForgedRow("x5u plus x5c with the attacker certificate", name,
                     signedBy(asServer, payload,
                              {{QStringLiteral("x5u"), x5u},
                               {QStringLiteral("x5c"),
                                QJsonArray{QString::fromLatin1(der.toBase64())}}}));
        addForgedRow("x5u plus x5t#S256 of the attacker certificate", name,
                     signedBy(asServer, payload,
                              {{QStringLiteral("x5u"), x5u},
                               {QStringLiteral("x5t#S256"),
                                QString::fromLatin1(b64(QCryptographicHash::hash(
                                        der, QCryptographicHash::Sha256)))}}));
        addForgedRow("x5u as a file URL", name,
                     signedBy(asServer, payload,
                              {{QStringLiteral("x5u"), QStringLiteral("file:///etc/ssl/certs/")}}));
    }
}

void tst_SecurityRequests::x5uInjection()
{
    runForgedAccessToken();
}

// --- raw requests ----------------------------------------------------------------

void tst_SecurityRequests::addRawRow(const QByteArray &tag, const QString &server,
                                     const RawBytes &bytes, const QList<int> &acceptable,
                                     const QString &code)
{
    const TokenPair pair = freshPair(server);
    QTest::addRow("%s", tag.constData()) << RawCase{
            server, bytes(pair.access.toLatin1(), pair.refresh.toLatin1()), acceptable, code, pair};
}

void tst_SecurityRequests::addRawRow(const QByteArray &tag, const QString &server,
                                     const QByteArray &bytes, const QList<int> &acceptable)
{
    addRawRow(
            tag, server, [&bytes](auto, auto) { return bytes; }, acceptable);
}

void tst_SecurityRequests::runRawCase()
{
    QFETCH(RawCase, raw);
    Target &t = target(raw.server);
    RawOptions options;
    options.timeoutMs = 10000;
    const HttpResponse response = rawRequest(t.server->baseUrl(), raw.bytes, options);
    qCDebug(lcSecurityRequests) << "answer" << response.status << "after" << response.elapsedMs
                                << "ms";
    // Refused: an acceptable 4xx, or the connection cut (never a hang, never 2xx/5xx).
    QVERIFY2(!response.timedOut, qPrintable(response.describe()));
    const bool cut = response.status == 0;
    QVERIFY2(raw.acceptable.contains(response.status) || (cut && raw.acceptable.contains(Closed)),
             qPrintable(
                     QStringLiteral("refusal expected (%1), got %2")
                             .arg(QString::number(raw.acceptable.value(0)), response.describe())));
    if (!cut) {
        // Refusals are the server's own JSON errors, and they hand out nothing.
        QVERIFY2(response.isJsonObject() && !response.code().isEmpty(),
                 qPrintable(response.describe()));
        if (!raw.code.isEmpty())
            QCOMPARE(response.code(), raw.code);
        // (Field errors may name "refresh"; a token would be a string there.)
        for (const char *member : {"access", "refresh"})
            QVERIFY2(!response.json().value(QLatin1String(member)).isString(),
                     qPrintable(response.describe()));
        QVERIFY2(!response.json().contains(QStringLiteral("username")),
                 qPrintable(response.describe()));
    }
    expectHealthy(raw.server, raw.pair);
}

namespace {

QByteArray bigToken(const Target &t, int bytes)
{
    // JWT-shaped: the real header and signature around an inflated payload.
    const QList<QByteArray> segments = jwtSegments(t.pair.access);
    QByteArray token = segments.at(0) + '.';
    token += QByteArray(bytes - segments.at(0).size() - segments.at(2).size() - 2, 'A');
    token += '.' + segments.at(2);
    return token;
}

QByteArray nested(int depth, QByteArrayView open, QByteArrayView close, QByteArrayView inner = {})
{
    QByteArray text;
    text.reserve(depth * (open.size() + close.size()) + inner.size());
    for (int i = 0; i < depth; ++i)
        text += open;
    text += inner;
    for (int i = 0; i < depth; ++i)
        text += close;
    return text;
}

} // namespace

void tst_SecurityRequests::oversizedToken_data()
{
    QTest::addColumn<RawCase>("raw");

    const Target &t = target(Es);
    const QUrl base = t.server->baseUrl();
    const QList<int> headerRefused{400, 401, 413, 431, Closed};
    const QList<int> bodyRefused{400, 401, 413, Closed};
    auto row = [&](const char *name, const QByteArray &bytes, const QList<int> &acceptable) {
        addRawRow(name, Es, bytes, acceptable);
    };
    auto bearer = [&](int size) {
        return buildRawRequest("GET", QStringLiteral("/api/me/"), base, {}, {},
                               {"Authorization: Bearer " + bigToken(t, size)});
    };
    auto post = [&](const char *path, const char *field, int size) {
        return buildRawRequest("POST", QString::fromLatin1(path), base,
                               "{\"" + QByteArray(field) + "\":\"" + bigToken(t, size) + "\"}");
    };
    row("1 MB bearer token on /api/me/", bearer(1000 * 1000), headerRefused);
    row("100 KB bearer token on /api/me/", bearer(100 * 1000), headerRefused);
    row("17 KB bearer token (just over the JWS size limit)", bearer(17 * 1024), headerRefused);
    row("8 MB bearer token (past the connection limit)", bearer(8 * 1000 * 1000), headerRefused);
    row("1 MB refresh token in the body", post("/api/token/refresh/", "refresh", 1000 * 1000),
        bodyRefused);
    row("1 MB refresh token to /api/token/blacklist/",
        post("/api/token/blacklist/", "refresh", 1000 * 1000), bodyRefused);
    row("1 MB token to /api/token/verify/", post("/api/token/verify/", "token", 1000 * 1000),
        bodyRefused);
    row("refresh token just under the body limit", post("/api/token/refresh/", "refresh", 65000),
        {400, 401});
}

void tst_SecurityRequests::oversizedToken()
{
    runRawCase();
}

void tst_SecurityRequests::deeplyNestedJson_data()
{
    QTest::addColumn<RawCase>("raw");

    const QList<int> parseRefused{400};
    const QList<int> refusedOrTooLarge{400, 413};
    auto row = [&](const char *name, const QString &server, const char *path,
                   const QByteArray &body, const QList<int> &acceptable) {
        addRawRow(server.toUtf8() + ": " + name, server,
                  buildRawRequest("POST", QString::fromLatin1(path),
                                  target(server).server->baseUrl(), body),
                  acceptable);
    };
    const QByteArray arrays100k = nested(100000, "[", "]");
    row("100k nested arrays as the refresh value (default body limit)", Es, "/api/token/refresh/",
        "{\"refresh\":" + arrays100k + "}", refusedOrTooLarge);
    row("30k nested arrays, under the default body limit", Es, "/api/token/refresh/",
        "{\"refresh\":" + nested(30000, "[", "]") + "}", parseRefused);
    row("100k nested arrays as the refresh value", Big, "/api/token/refresh/",
        "{\"refresh\":" + arrays100k + "}", parseRefused);
    row("1M nested arrays as the refresh value", Big, "/api/token/refresh/",
        "{\"refresh\":" + nested(1000000, "[", "]") + "}", parseRefused);
    row("100k nested objects as the refresh value", Big, "/api/token/refresh/",
        "{\"refresh\":" + nested(100000, "{\"a\":", "}", "1") + "}", parseRefused);
    row("100k nested arrays, never closed", Big, "/api/token/refresh/",
        "{\"refresh\":" + QByteArray(100000, '['), parseRefused);
    row("100k nested arrays as the whole body", Big, "/api/token/refresh/", arrays100k,
        parseRefused);
    row("100k nested arrays as the login password", Big, "/api/token/",
        "{\"username\":\"alice\",\"password\":" + arrays100k + "}", parseRefused);
    row("100k nested arrays as the verify token", Big, "/api/token/verify/",
        "{\"token\":" + arrays100k + "}", parseRefused);
    row("100k nested arrays to /api/token/blacklist/", Big, "/api/token/blacklist/",
        "{\"refresh\":" + arrays100k + "}", parseRefused);
    // Within the parser's depth limit the value is still not a string.
    row("1000 nested arrays as the refresh value", Big, "/api/token/refresh/",
        "{\"refresh\":" + nested(1000, "[", "]") + "}", parseRefused);
}

void tst_SecurityRequests::deeplyNestedJson()
{
    runRawCase();
}

void tst_SecurityRequests::invalidUtf8_data()
{
    QTest::addColumn<RawCase>("raw");

    const QUrl base = target(Es).server->baseUrl();
    // Each row embeds the row's own legitimate tokens; afterwards they must still work.
    auto row = [&](const char *name, const RawBytes &make,
                   const QList<int> &acceptable = {400, 401}) {
        addRawRow(name, Es, make, acceptable);
    };
    auto post = [base](const char *path, const QByteArray &body,
                       const QByteArray &contentType = "application/json") {
        return buildRawRequest("POST", QString::fromLatin1(path), base, body, contentType);
    };
    auto me = [base](const QByteArray &authorization) {
        return buildRawRequest("GET", QStringLiteral("/api/me/"), base, {}, {},
                               {"Authorization: " + authorization});
    };
    auto middle = [](QByteArray token, QByteArrayView replacement) {
        return token.replace(token.size() / 2, 1, replacement.toByteArray());
    };

    row("refresh: valid token followed by 0xFF", [&](auto, auto r) {
        return post("/api/token/refresh/", "{\"refresh\":\"" + r + "\xff\"}");
    });
    row("refresh: 0xFF inside the token", [&](auto, auto r) {
        return post("/api/token/refresh/", "{\"refresh\":\"" + middle(r, "\xff") + "\"}");
    });
    // A lenient decoder turns C0 A2 into '"' and the body into {"refresh":"<token>"}.
    row("refresh: overlong quote closes the string", [&](auto, auto r) {
        return post("/api/token/refresh/", "{\"refresh\":\"" + r + "\xc0\xa2}");
    });
    row("refresh: token letter as an overlong sequence", [&](auto, auto r) {
        const char letter = r.at(0);
        const QByteArray overlong{char(0xc0 | (letter >> 6)), char(0x80 | (letter & 0x3f))};
        return post("/api/token/refresh/", "{\"refresh\":\"" + overlong + r.mid(1) + "\"}");
    });
    row("refresh: UTF-8 encoded surrogate after the token", [&](auto, auto r) {
        return post("/api/token/refresh/", "{\"refresh\":\"" + r + "\xed\xa0\x80\"}");
    });
    row("refresh: truncated sequence after the body", [&](auto, auto r) {
        return post("/api/token/refresh/", "{\"refresh\":\"" + r + "\"}\xe2\x82");
    });
    row("refresh: invalid UTF-8 in the member name", [&](auto, auto r) {
        return post("/api/token/refresh/",
                    "{\"refr\xff"
                    "esh\":\""
                            + r + "\"}");
    });
    row("refresh: Latin-1 body declared as charset=iso-8859-1",
        [&](auto, auto r) {
            return post("/api/token/refresh/", "{\"refresh\":\"" + r + "\xe9\"}",
                        "application/json; charset=iso-8859-1");
        },
        {400, 401, 415});
    row("blacklist: valid token followed by 0xFF", [&](auto, auto r) {
        return post("/api/token/blacklist/", "{\"refresh\":\"" + r + "\xff\"}");
    });
    row("verify: valid access token followed by 0xFF",
        [&](auto a, auto) { return post("/api/token/verify/", "{\"token\":\"" + a + "\xff\"}"); });
    row("Authorization: valid access token followed by 0xFF",
        [&](auto a, auto) { return me("Bearer " + a + "\xff"); });
    row("Authorization: 0xFF inside the access token",
        [&](auto a, auto) { return me("Bearer " + middle(a, "\xff")); });
    row("Authorization: overlong sequence for a token letter",
        [&](auto a, auto) { return me("Bearer " + middle(a, "\xc1\x81")); });
    row("Authorization: 0xFF 0xFE instead of a token",
        [&](auto, auto) { return me("Bearer \xff\xfe"); });
    row("Content-Type with invalid UTF-8",
        [&](auto, auto r) {
            return post("/api/token/refresh/", "{\"refresh\":\"" + r + "\"}",
                        "application/json\xff");
        },
        {400, 415});
}

void tst_SecurityRequests::invalidUtf8()
{
    runRawCase();
}

void tst_SecurityRequests::headerInjection_data()
{
    QTest::addColumn<RawCase>("raw");

    const QUrl base = target(Es).server->baseUrl();
    const QByteArray host = "Host: 127.0.0.1:" + QByteArray::number(base.port()) + "\r\n";
    auto row = [&](const char *name, const RawBytes &make,
                   const QList<int> &acceptable = {400, 401, Closed}) {
        addRawRow(name, Es, make, acceptable);
    };
    // GET /api/me/ with the given header lines, written as they are.
    auto me = [host](const QByteArray &headerLines) {
        return "GET /api/me/ HTTP/1.1\r\n" + host + "Connection: close\r\n" + headerLines + "\r\n";
    };
    const QByteArray garbage = "eyJhbGciOiJFUzI1NiJ9.e30.AAAA";

    // CR, LF and NUL inside the value.
    row("bare CR inside the Authorization value",
        [&](auto a, auto) { return me("Authorization: Bearer " + a + "\rX-Injected: 1\r\n"); });
    row("bare LF splits off a second Authorization", [&](auto a, auto) {
        return me("Authorization: Bearer " + garbage + "\nAuthorization: Bearer " + a + "\r\n");
    });
    row("NUL after the token, then junk", [&](auto a, auto) {
        return me("Authorization: Bearer " + a + QByteArray("\0junk", 5) + "\r\n");
    });
    row("NUL between Bearer and the token", [&](auto a, auto) {
        return me("Authorization: Bearer " + QByteArray("\0", 1) + a + "\r\n");
    });
    row("obs-fold continuation appends junk",
        [&](auto a, auto) { return me("Authorization: Bearer " + a + "\r\n junk\r\n"); });
    row("whitespace before the colon",
        [&](auto a, auto) { return me("Authorization : Bearer " + a + "\r\n"); },
        {400, 401, Closed});
    // Duplicates: Authorization is a singleton field, so two of them are ambiguous.
    row("duplicate Authorization: valid, then garbage", [&](auto a, auto) {
        return me("Authorization: Bearer " + a + "\r\nAuthorization: Bearer " + garbage + "\r\n");
    });
    row("duplicate Authorization: garbage, then valid", [&](auto a, auto) {
        return me("Authorization: Bearer " + garbage + "\r\nAuthorization: Bearer " + a + "\r\n");
    });
    row("duplicate Authorization: valid, then Basic", [&](auto a, auto) {
        return me("Authorization: Bearer " + a + "\r\nAuthorization: Basic YWxpY2U6eA==\r\n");
    });
    // Two credentials in one value.
    row("Bearer with the token twice",
        [&](auto a, auto) { return me("Authorization: Bearer " + a + ' ' + a + "\r\n"); });
    row("Bearer with valid, then garbage",
        [&](auto a, auto) { return me("Authorization: Bearer " + a + ' ' + garbage + "\r\n"); });
    row("Bearer with garbage, then valid",
        [&](auto a, auto) { return me("Authorization: Bearer " + garbage + ' ' + a + "\r\n"); });
    row("comma-joined Bearer credentials", [&](auto a, auto) {
        return me("Authorization: Bearer " + garbage + ", Bearer " + a + "\r\n");
    });
    row("tab between two tokens",
        [&](auto a, auto) { return me("Authorization: Bearer " + a + '\t' + a + "\r\n"); });
    // Tokens outside the Authorization header are not credentials.
    row("access token in the query string", [&](auto a, auto) {
        return buildRawRequest("GET",
                               QStringLiteral("/api/me/?access_token=") + QString::fromLatin1(a),
                               base, {}, {});
    });
    row("access token in the query string, Bearer garbage in the header", [&](auto a, auto) {
        return buildRawRequest("GET",
                               QStringLiteral("/api/me/?access_token=") + QString::fromLatin1(a),
                               base, {}, {}, {"Authorization: Bearer " + garbage});
    });
    row("access token in a cookie",
        [&](auto a, auto) { return me("Cookie: access_token=" + a + "\r\n"); });
    row("refresh token in the query string", [&](auto, auto r) {
        return buildRawRequest(
                "POST", QStringLiteral("/api/token/refresh/?refresh=") + QString::fromLatin1(r),
                base, "{}");
    });
    row("verify token in the query string", [&](auto a, auto) {
        return buildRawRequest("POST",
                               QStringLiteral("/api/token/verify/?token=") + QString::fromLatin1(a),
                               base, "{}");
    });
}

void tst_SecurityRequests::headerInjection()
{
    runRawCase();
}

// --- duplicate JSON member names ---------------------------------------------------

// Two members of one name in a request body: a parser that keeps the last one (Qt's, and
// tessera-server's before it refused them) reads the body differently from one that keeps
// the first, so the body is refused as a whole: 400 parse_error, nothing spent.
void tst_SecurityRequests::duplicateKeysInBody_data()
{
    QTest::addColumn<RawCase>("raw");

    const QUrl base = target(Es).server->baseUrl();
    const QByteArray user = TestUser.toUtf8();
    const QByteArray password = TestPassword.toUtf8();
    // Each row embeds the row's own legitimate tokens; afterwards they must still work.
    auto row = [&](const char *name, const char *path, const RawBytes &body) {
        addRawRow(
                name, Es,
                [&](const QByteArray &access, const QByteArray &refresh) {
                    return buildRawRequest("POST", QString::fromLatin1(path), base,
                                           body(access, refresh));
                },
                {400}, QStringLiteral("parse_error"));
    };
    row("login: a wrong password, then the right one", "/api/token/", [&](auto, auto) {
        return R"({"username":")" + user + R"(","password":"wrong","password":")" + password
                + R"("})";
    });
    row("login: the right password, then a wrong one", "/api/token/", [&](auto, auto) {
        return R"({"username":")" + user + R"(","password":")" + password
                + R"(","password":"wrong"})";
    });
    row("login: an unknown user, then the real one", "/api/token/", [&](auto, auto) {
        return R"({"username":"nobody","password":")" + password + R"(","username":")" + user
                + R"("})";
    });
    row("login: the second password under an escaped name", "/api/token/", [&](auto, auto) {
        return R"({"username":")" + user + R"(","password":"wrong","p\u0061ssword":")" + password
                + R"("})";
    });
    row("refresh: garbage, then the valid token", "/api/token/refresh/",
        [&](auto, auto r) { return R"({"refresh":"garbage","refresh":")" + r + R"("})"; });
    row("refresh: the valid token, then garbage", "/api/token/refresh/",
        [&](auto, auto r) { return R"({"refresh":")" + r + R"(","refresh":"garbage"})"; });
    row("refresh: the valid token under an escaped name", "/api/token/refresh/",
        [&](auto, auto r) { return R"({"refresh":"garbage","\u0072efresh":")" + r + R"("})"; });
    row("refresh: a duplicate in a nested member", "/api/token/refresh/",
        [&](auto, auto r) { return R"({"refresh":")" + r + R"(","x":{"a":1,"a":2}})"; });
    row("blacklist: garbage, then the valid token", "/api/token/blacklist/",
        [&](auto, auto r) { return R"({"refresh":"garbage","refresh":")" + r + R"("})"; });
    row("verify: garbage, then the valid access token", "/api/token/verify/",
        [&](auto a, auto) { return R"({"token":"garbage","token":")" + a + R"("})"; });
}

void tst_SecurityRequests::duplicateKeysInBody()
{
    runRawCase();
}

// Tokens signed with the server's own key whose JOSE header or claims name a member twice
// (or hold a raw control character in a string): the signature is valid, so only the parser
// stands between such a token and acceptance. Each row's control (the same header and claims
// without the duplicate, signed the same way) is accepted.
void tst_SecurityRequests::duplicateKeysInToken_data()
{
    addForgedColumns();
    QTest::addColumn<QString>("control");

    for (const QString &name : {Es, Ed}) {
        const Target &t = target(name);
        QString error;
        // Schema of server/src/store.cpp: signing_keys(kid, alg, material).
        const auto rows =
                sqliteSelect(t.server->databasePath(),
                             QStringLiteral("SELECT kid, material FROM signing_keys"), &error);
        QVERIFY2(rows.has_value(), qPrintable(error));
        AttackerKey serverKey;
        for (const QVariantList &row : *rows) {
            if (row.at(0).toString() == t.kid)
                serverKey = AttackerKey::fromPrivatePem(row.at(1).toByteArray());
        }
        QVERIFY2(!serverKey.isNull(),
                 "the signing key of the access tokens is not in the database");

        // A fresh session per row: its access token is alive and its family not revoked.
        auto add = [&](const char *rowName, const QByteArray &header, const QByteArray &claims,
                       const QByteArray &controlHeader, const QByteArray &controlClaims) {
            auto sign = [&](const QByteArray &h, const QByteArray &c) {
                const QByteArray input = b64(h) + '.' + b64(c);
                return QString::fromLatin1(input + '.' + b64(serverKey.sign(input)));
            };
            QTest::addRow("%s: %s", qPrintable(name), rowName)
                    << name << sign(header, claims) << sign(controlHeader, controlClaims);
        };
        auto claimsOfFreshSession = [&] {
            const TokenPair pair = freshPair(name);
            return base64UrlDecodeLoose(jwtSegments(pair.access).at(1)).value_or(QByteArray());
        };
        // Qt writes members in sorted order: {"alg":..,"kid":..,"typ":"at+jwt"}.
        const QByteArray header = compact(
                {{QStringLiteral("alg"), jwtHeader(t.pair.access).value(QStringLiteral("alg"))},
                 {QStringLiteral("kid"), t.kid},
                 {QStringLiteral("typ"), QStringLiteral("at+jwt")}});
        // `first` goes before the real members, so a last-one-wins parser reads the real ones.
        auto headerWith = [&](const QByteArray &first) {
            return '{' + first + ',' + header.mid(1);
        };
        auto claimsWith = [](const QByteArray &claims, const QByteArray &first) {
            return '{' + first + ',' + claims.mid(1);
        };
        auto claimsPlus = [](const QByteArray &claims, const QByteArray &last) {
            return claims.chopped(1) + ',' + last + '}';
        };

        QByteArray claims = claimsOfFreshSession();
        add("header: alg none, then the real alg", headerWith(R"("alg":"none")"), claims, header,
            claims);
        claims = claimsOfFreshSession();
        add("header: alg none under an escaped name", headerWith(R"("\u0061lg":"none")"), claims,
            header, claims);
        claims = claimsOfFreshSession();
        add("header: an unknown kid, then the real kid", headerWith(R"("kid":"unknown")"), claims,
            header, claims);
        claims = claimsOfFreshSession();
        add("header: typ JWT, then at+jwt", headerWith(R"("typ":"JWT")"), claims, header, claims);
        claims = claimsOfFreshSession();
        add("claims: another sub, then the real sub", header,
            claimsWith(claims, R"("sub":"someone-else")"), header, claims);
        claims = claimsOfFreshSession();
        add("claims: sub under an escaped name", header,
            claimsWith(claims, R"("s\u0075b":"someone-else")"), header, claims);
        claims = claimsOfFreshSession();
        add("claims: an expired exp, then the real exp", header, claimsWith(claims, R"("exp":1)"),
            header, claims);
        claims = claimsOfFreshSession();
        add("claims: another sid, then the real sid", header,
            claimsWith(claims, R"("sid":"another-family")"), header, claims);
        claims = claimsOfFreshSession();
        add("claims: a duplicate inside an extra claim", header,
            claimsPlus(claims, R"("ext":{"k":"a","k":"b"})"), header,
            claimsPlus(claims, R"("ext":{"k":"a"})"));
        claims = claimsOfFreshSession();
        add("claims: a raw NUL in an extra claim", header,
            claimsPlus(claims, QByteArray(R"("note":"a)") + '\0' + "b\""), header,
            claimsPlus(claims, R"("note":"a\u0000b")"));
        claims = claimsOfFreshSession();
        add("claims: a raw line feed in an extra claim", header,
            claimsPlus(claims, "\"note\":\"a\nb\""), header,
            claimsPlus(claims, R"("note":"a\nb")"));
    }
}

void tst_SecurityRequests::duplicateKeysInToken()
{
    QFETCH(QString, server);
    QFETCH(QString, control);
    // The key and the claims are right: without the duplicate the server accepts the token.
    const HttpResponse accepted = target(server).http->me(control);
    TESSERA_EXPECT_STATUS(accepted, 200);
    QCOMPARE(accepted.str(QStringLiteral("username")), TestUser);
    runForgedAccessToken();
}

QTEST_GUILESS_MAIN(tst_SecurityRequests)
#include "tst_security_requests.moc"
