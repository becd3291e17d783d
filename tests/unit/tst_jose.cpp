// SPDX-License-Identifier: MIT
// Unit tests of Tessera::Jose: base64url, keys, JWS, claims, published RFC vectors and
// hostile tokens.
#include <tessera/jose.h>
#include <tessera/strictjson.h>

#include "crypto_p.h"
#include "jose_p.h"
#include "strictjsoncases.h"

#include <QtCore/QDateTime>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QLoggingCategory>
#include <QtCore/QMetaEnum>
#include <QtCore/QSet>
#include <QtCore/QSemaphore>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <cmath>
#include <limits>
#include <memory>

using namespace Tessera::Jose;
using Tessera::Secret;

namespace {

// --- published vectors ---------------------------------------------------------------------
// RFC 7515 (JWS) appendix A. Byte values from the RFC's figures.

// A.1: JWS Protected Header {"typ":"JWT",CRLF "alg":"HS256"}.
const QByteArray Rfc7515A1Header("{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}");
// A.1-A.5: JWS Payload {"iss":"joe",CRLF "exp":1300819380,CRLF "http://example.com/is_root":true}
const QByteArray Rfc7515Payload(
        "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}");
// A.1 HMAC key (JWK) and the complete JWS.
const char Rfc7515A1Jwk[] =
        R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"})";
const QByteArray Rfc7515A1Jws = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
                                ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtc"
                                "GxlLmNvbS9pc19yb290Ijp0cnVlfQ"
                                ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
// A.1 JWS Signature octets.
const QByteArray Rfc7515A1Signature =
        QByteArray::fromHex("7418dfb49799e0254ffa607dd8adbbba16d4254d69d6bff05b58055853848d79");

// A.2: RSASSA-PKCS1-v1_5 SHA-256 (RS256) complete JWS.
const QByteArray Rfc7515A2Jws = "eyJhbGciOiJSUzI1NiJ9"
                                ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtc"
                                "GxlLmNvbS9pc19yb290Ijp0cnVlfQ"
                                ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__"
                                "dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5"
                                "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_"
                                "nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L"
                                "07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-"
                                "eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUi"
                                "pUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

// A.3: ECDSA P-256 SHA-256 key and complete JWS.
const char Rfc7515A3X[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const char Rfc7515A3Y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const char Rfc7515A3D[] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
const QByteArray Rfc7515A3Jws =
        "eyJhbGciOiJFUzI1NiJ9"
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0c"
        "nVlfQ"
        ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

// A.5: unsecured JWS.
const QByteArray Rfc7515A5Jws = "eyJhbGciOiJub25lIn0"
                                ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtc"
                                "GxlLmNvbS9pc19yb290Ijp0cnVlfQ"
                                ".";

// RFC 8037 appendix A: Ed25519 key (A.1), public key (A.2), thumbprint (A.3), JWS (A.4).
const char Rfc8037D[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const char Rfc8037X[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const char Rfc8037Thumbprint[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
const QByteArray Rfc8037Payload("Example of Ed25519 signing");
const QByteArray Rfc8037Jws =
        "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
        ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

// RFC 7638 section 3.1: RSA key and its SHA-256 thumbprint.
const char Rfc7638N[] = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFF"
                        "xuhDR1L6tSoc_BJECP"
                        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
                        "65YGjQR0_FDW2QvzqY"
                        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
                        "bFTWhAI4vMQFh6WeZu0f"
                        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
const char Rfc7638Thumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

// --- other fixed keys (generated with the openssl CLI for these tests) ----------------------

const char P384Pkcs8Pem[] = R"(-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDCq+gZ4hZDnWudeCsxC
SIw+WZ1VAyQChEvh4oL+ORyf9RHf30XtdF/8z2u3SZ8lrnShZANiAAQqYdxve8yq
zHmHJmUJTQp/eoPhIxtpnEU2Pa9wcrCgGc74GaEhYrMh0R4aCQAhfGLGlHxkaSdk
1BS/bVzTl6THn/vQG0zXHfz8IfjSAgLZqKUQ+PN+1BoSb1K4VdtxxWw=
-----END PRIVATE KEY-----
)";
const char EncryptedP256Pem[] = R"(-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAj5PhdUCy8VQAICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEAQIEEKsvxQJXR4BVvyseCfsshV0EgZA6
Mrk1E1d94eAp95wlJy82jF22kbY+B9V696nm1W4R943WkXnMYZSv5T0OBFHZJbGW
gKpLpF7fFQ7oM28R3Y1kbsD7YFME68hHGg74Of40nlUzUOa5+F7KLnF7Rir4RnQ+
Q62E9/kv84vCm2IIhJJtPhiDBAYQmcsuhKf/CvE66FQ9tb6dvQRZLCmA56MnhhM=
-----END ENCRYPTED PRIVATE KEY-----
)";
// SEC1 "EC PRIVATE KEY" (not PKCS#8) and the same key's public half, uncompressed and
// compressed SubjectPublicKeyInfo; its coordinates are SpkiX / SpkiY.
const char Sec1P256Pem[] = R"(-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIECYUC3VHJrUPryV9BD356bRjYr2hSvotzGxF+Pdr7TdoAoGCCqGSM49
AwEHoUQDQgAEN1w7Q6S+hXsDtTtPEG/5NrkmOr1huxdT7Dq2bom+eoR/2muxx+hV
3Cq7UjFb5kcmnycxPy7L/JZDizus34KDGQ==
-----END EC PRIVATE KEY-----
)";
const char SpkiP256Pem[] = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEN1w7Q6S+hXsDtTtPEG/5NrkmOr1h
uxdT7Dq2bom+eoR/2muxx+hV3Cq7UjFb5kcmnycxPy7L/JZDizus34KDGQ==
-----END PUBLIC KEY-----
)";
const char SpkiP256CompressedPem[] = R"(-----BEGIN PUBLIC KEY-----
MDkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDIgADN1w7Q6S+hXsDtTtPEG/5NrkmOr1h
uxdT7Dq2bom+eoQ=
-----END PUBLIC KEY-----
)";
const char SpkiX[] = "N1w7Q6S-hXsDtTtPEG_5NrkmOr1huxdT7Dq2bom-eoQ";
const char SpkiY[] = "f9prscfoVdwqu1IxW-ZHJp8nMT8uy_yWQ4s7rN-Cgxk";
const char X25519Pem[] = R"(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VuBCIEIKBz9m0YlzSD5H+Tli3/jem65vk8oxGgUcbzzNB9apho
-----END PRIVATE KEY-----
)";

// Order n of the P-256 group.
const QByteArray P256Order =
        QByteArray::fromHex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");

constexpr qint64 Now = 1'700'000'000;

// --- helpers -------------------------------------------------------------------------------

QByteArray b64(QByteArrayView data)
{
    return base64UrlEncode(data);
}

QByteArray unb64(QByteArrayView text)
{
    return base64UrlDecode(text).value_or(QByteArray("<invalid>"));
}

QByteArray json(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

QJsonObject object(const char *text)
{
    return QJsonDocument::fromJson(text).object();
}

// A compact JWS over exactly these header and payload bytes, signed with key.
QByteArray forge(const Key &key, QByteArrayView header, QByteArrayView payload)
{
    const QByteArray input = b64(header) + '.' + b64(payload);
    return input + '.' + b64(Private::signSigningInput(key, input));
}

QByteArray assemble(QByteArrayView header, QByteArrayView payload, QByteArrayView signature)
{
    return b64(header) + '.' + b64(payload) + '.' + b64(signature);
}

QByteArray segment(const QByteArray &token, int index)
{
    return token.split('.').value(index);
}

QByteArray withSegment(const QByteArray &token, int index, const QByteArray &value)
{
    QList<QByteArray> parts = token.split('.');
    parts[index] = value;
    return parts.join('.');
}

// Flip one bit of the decoded segment and re-encode it.
QByteArray flipBit(const QByteArray &token, int index, int byte = 0)
{
    QByteArray decoded = unb64(segment(token, index));
    decoded[byte] = char(decoded[byte] ^ 0x01);
    return withSegment(token, index, b64(decoded));
}

// 32-byte big-endian a - b (a >= b).
QByteArray subtract256(const QByteArray &a, const QByteArray &b)
{
    QByteArray out(32, '\0');
    int borrow = 0;
    for (int i = 31; i >= 0; --i) {
        int v = int(quint8(a[i])) - int(quint8(b[i])) - borrow;
        borrow = v < 0;
        out[i] = char(v < 0 ? v + 256 : v);
    }
    return out;
}

QByteArray derInteger(QByteArray value)
{
    while (value.size() > 1 && value[0] == '\0')
        value.remove(0, 1);
    if (quint8(value[0]) & 0x80)
        value.prepend('\0');
    return QByteArray(1, '\x02') + char(value.size()) + value;
}

QByteArray derSignature(const QByteArray &raw)
{
    const QByteArray body = derInteger(raw.left(32)) + derInteger(raw.mid(32));
    return QByteArray(1, '\x30') + char(body.size()) + body;
}

QJsonObject ecJwk(const char *x, const char *y, const char *d = nullptr)
{
    QJsonObject jwk{{"kty", "EC"}, {"crv", "P-256"}, {"x", x}, {"y", y}};
    if (d)
        jwk.insert("d", d);
    return jwk;
}

QJsonObject okpJwk(const char *x, const char *d = nullptr)
{
    QJsonObject jwk{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", x}};
    if (d)
        jwk.insert("d", d);
    return jwk;
}

QByteArray jwkBytes(const QJsonObject &jwk, const char *member)
{
    return unb64(jwk.value(member).toString().toLatin1());
}

QString b64String(QByteArrayView data)
{
    return QString::fromLatin1(b64(data));
}

QStringList messages;
void captureMessage(QtMsgType, const QMessageLogContext &, const QString &message)
{
    messages.append(message);
}

} // namespace

class tst_Jose : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();

    void base64Url_data();
    void base64Url();
    void base64UrlRoundTrip();

    void algorithmNames_data();
    void algorithmNames();

    void rfc7515A1Hs256();
    void rfc7515A3Es256_data();
    void rfc7515A3Es256();
    void rfc7515RejectedExamples_data();
    void rfc7515RejectedExamples();
    void rfc8037Ed25519();
    void rfc7638Thumbprint_data();
    void rfc7638Thumbprint();

    void signVerifyRoundTrip_data();
    void signVerifyRoundTrip();
    void generatedKeys_data();
    void generatedKeys();
    void pemImport_data();
    void pemImport();
    void jwkImport_data();
    void jwkImport();
    void jwksDocument();

    void algorithmConfusion_data();
    void algorithmConfusion();
    void hostileTokens_data();
    void hostileTokens();
    void es256SignatureEncoding_data();
    void es256SignatureEncoding();
    void es256KeysInTurn();
    void es256SignersInTurn();
    void es256SignContextLeavesWithKey();
    void releaseThreadStateDropsContexts();
    void es256DerEncoding_data();
    void es256DerEncoding();
    void sizeLimit();
    void payloadParsedOnlyAfterSignature();

    void claims_data();
    void claims();
    void claimsDefaultClock();
    void verifyJwtPayloads_data();
    void verifyJwtPayloads();

    void strictJson_data();
    void strictJson();

    void primitives();
    void constantTimeCompare_data();
    void constantTimeCompare();
    void errorStrings();
    void loggingNeverShowsTokens();

private:
    QList<Key> keySet(const QString &name) const;

    Key m_es;      // ES256, kid "es"
    Key m_ed;      // EdDSA, kid "ed"
    Key m_hs;      // HS256, kid "hs"
    Key m_esOther; // another ES256 key, also kid "es" (an attacker's)
    Key m_edOther; // another EdDSA key, also kid "ed"
    Key m_hsOther; // another HS256 key, also kid "hs"
};

void tst_Jose::initTestCase()
{
    const auto make = [](Algorithm algorithm, const char *kid) {
        Key key = Key::generate(algorithm);
        key.setKeyId(QString::fromLatin1(kid));
        return key;
    };
    m_es = make(Algorithm::ES256, "es");
    m_ed = make(Algorithm::EdDSA, "ed");
    m_hs = make(Algorithm::HS256, "hs");
    m_esOther = make(Algorithm::ES256, "es");
    m_edOther = make(Algorithm::EdDSA, "ed");
    m_hsOther = make(Algorithm::HS256, "hs");
    for (const Key &key : {m_es, m_ed, m_hs, m_esOther, m_edOther, m_hsOther})
        QVERIFY(!key.isNull());
}

// Verification key sets: public halves only for the asymmetric keys.
QList<Key> tst_Jose::keySet(const QString &name) const
{
    const Key esPublic = Key::fromJwk(m_es.publicJwk());
    const Key edPublic = Key::fromJwk(m_ed.publicJwk());
    if (name == "es")
        return {esPublic};
    if (name == "ed")
        return {edPublic};
    if (name == "hs")
        return {m_hs};
    if (name == "all")
        return {esPublic, edPublic, m_hs};
    if (name == "es twice") // two different keys under the same kid
        return {esPublic, Key::fromJwk(m_esOther.publicJwk())};
    if (name == "none")
        return {};
    qFatal("unknown key set");
}

// --- base64url -----------------------------------------------------------------------------

void tst_Jose::base64Url_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<QByteArray>("decoded");

    QTest::addRow("empty") << QByteArray("") << true << QByteArray();
    QTest::addRow("f") << QByteArray("Zg") << true << QByteArray("f");
    QTest::addRow("fo") << QByteArray("Zm8") << true << QByteArray("fo");
    QTest::addRow("foo") << QByteArray("Zm9v") << true << QByteArray("foo");
    QTest::addRow("foob") << QByteArray("Zm9vYg") << true << QByteArray("foob");
    QTest::addRow("url alphabet") << QByteArray("-_8") << true << QByteArray("\xfb\xff");
    QTest::addRow("all 64 characters")
            << QByteArray("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            << true
            << QByteArray::fromHex("00108310518720928b30d38f41149351559761969b71d79f8218a39259a7"
                                   "a29aabb2dbafc31cb3d35db7e39ebbf3dfbf");

    QTest::addRow("padding") << QByteArray("Zg==") << false << QByteArray();
    QTest::addRow("single padding") << QByteArray("Zm8=") << false << QByteArray();
    QTest::addRow("plus") << QByteArray("Zm+v") << false << QByteArray();
    QTest::addRow("slash") << QByteArray("Zm/v") << false << QByteArray();
    QTest::addRow("space") << QByteArray("Zm9 ") << false << QByteArray();
    QTest::addRow("inner space") << QByteArray("Zm 9v") << false << QByteArray();
    QTest::addRow("newline") << QByteArray("Zm9\n") << false << QByteArray();
    QTest::addRow("tab") << QByteArray("\tZm8") << false << QByteArray();
    QTest::addRow("dot") << QByteArray("Zm.v") << false << QByteArray();
    QTest::addRow("nul byte") << QByteArray("Zm\0v", 4) << false << QByteArray();
    QTest::addRow("non-ascii") << QByteArray("Zm\xc3\xa9") << false << QByteArray();
    QTest::addRow("length 1") << QByteArray("Z") << false << QByteArray();
    QTest::addRow("length 5") << QByteArray("Zm9vY") << false << QByteArray();
    QTest::addRow("trailing bits, 2 chars") << QByteArray("Zh") << false << QByteArray();
    QTest::addRow("trailing bits, 3 chars") << QByteArray("Zm9") << false << QByteArray();
    QTest::addRow("trailing bits, 6 chars") << QByteArray("Zm9vYh") << false << QByteArray();
}

void tst_Jose::base64Url()
{
    QFETCH(QByteArray, text);
    QFETCH(bool, valid);
    QFETCH(QByteArray, decoded);

    const auto result = base64UrlDecode(text);
    QCOMPARE(result.has_value(), valid);
    if (valid) {
        QCOMPARE(*result, decoded);
        QCOMPARE(base64UrlEncode(decoded), text);
    }
}

void tst_Jose::base64UrlRoundTrip()
{
    for (int size = 0; size <= 70; ++size) {
        const QByteArray data = randomBytes(size);
        const QByteArray text = base64UrlEncode(data);
        QVERIFY(!text.contains('=') && !text.contains('+') && !text.contains('/'));
        QCOMPARE(text.size(), (size * 4 + 2) / 3);
        const auto decoded = base64UrlDecode(text);
        QVERIFY(decoded);
        QCOMPARE(*decoded, data);
    }
}

void tst_Jose::algorithmNames_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<int>("algorithm"); // -1: not an algorithm

    QTest::addRow("ES256") << "ES256" << int(Algorithm::ES256);
    QTest::addRow("EdDSA") << "EdDSA" << int(Algorithm::EdDSA);
    QTest::addRow("HS256") << "HS256" << int(Algorithm::HS256);
    QTest::addRow("RS256") << "RS256" << int(Algorithm::RS256);
    QTest::addRow("PS256") << "PS256" << int(Algorithm::PS256);
    for (const char *other : {"none", "None", "NONE", "es256", "ES256 ", "EDDSA", "hs256", "RS384",
                              "ES384", "HS512", "Ed25519", ""})
        QTest::addRow("%s", other) << QString::fromLatin1(other) << -1;
}

void tst_Jose::algorithmNames()
{
    QFETCH(QString, name);
    QFETCH(int, algorithm);

    const auto parsed = algorithmFromName(name);
    QCOMPARE(parsed.has_value(), algorithm >= 0);
    if (parsed) {
        QCOMPARE(int(*parsed), algorithm);
        QCOMPARE(algorithmName(*parsed), name);
    }
}

// --- RFC vectors ---------------------------------------------------------------------------

void tst_Jose::rfc7515A1Hs256()
{
    const Key key = Key::fromJwk(object(Rfc7515A1Jwk));
    QVERIFY(!key.isNull());
    QCOMPARE(key.algorithm(), Algorithm::HS256);
    QCOMPARE(key.secret().size(), 64);

    // Signing the RFC's exact signing input reproduces the RFC's signature.
    const QByteArray signingInput = b64(Rfc7515A1Header) + '.' + b64(Rfc7515Payload);
    QCOMPARE(signingInput, segment(Rfc7515A1Jws, 0) + '.' + segment(Rfc7515A1Jws, 1));
    QCOMPARE(b64(Private::signSigningInput(key, signingInput)), segment(Rfc7515A1Jws, 2));
    QCOMPARE(Private::signSigningInput(key, signingInput), Rfc7515A1Signature);

    // The RFC's JWS verifies, and yields the RFC's exact payload bytes.
    const VerifyResult result = verifyCompact(Rfc7515A1Jws, {key});
    QCOMPARE(result.error, Error::None);
    QCOMPARE(result.payload, Rfc7515Payload);
    QCOMPARE(result.header.value("typ").toString(), "JWT");

    // As a JWT: valid until its exp (1300819380), expired after.
    ClaimRequirements requirements;
    requirements.issuer = "joe";
    requirements.type = "JWT";
    requirements.leeway = std::chrono::seconds(0);
    requirements.now = 1300819379;
    const VerifyResult jwt = verifyJwt(Rfc7515A1Jws, {key}, requirements);
    QCOMPARE(jwt.error, Error::None);
    QCOMPARE(jwt.claims.value("http://example.com/is_root").toBool(), true);
    requirements.now = 1300819380;
    QCOMPARE(verifyJwt(Rfc7515A1Jws, {key}, requirements).error, Error::Expired);

    // Any flipped bit in the MAC, and any other key, fails.
    QCOMPARE(verifyCompact(flipBit(Rfc7515A1Jws, 2, 31), {key}).error, Error::BadSignature);
    QCOMPARE(verifyCompact(Rfc7515A1Jws, {m_hs}).error, Error::BadSignature);
}

void tst_Jose::rfc7515A3Es256_data()
{
    QTest::addColumn<QByteArray>("token");
    QTest::addColumn<Error>("error");

    QTest::addRow("as published") << Rfc7515A3Jws << Error::None;
    QTest::addRow("signature: r bit flipped") << flipBit(Rfc7515A3Jws, 2, 0) << Error::BadSignature;
    QTest::addRow("signature: s bit flipped")
            << flipBit(Rfc7515A3Jws, 2, 63) << Error::BadSignature;
    QTest::addRow("payload bit flipped") << flipBit(Rfc7515A3Jws, 1, 10) << Error::BadSignature;
    QTest::addRow("header re-encoded with a space")
            << withSegment(Rfc7515A3Jws, 0, b64("{\"alg\": \"ES256\"}")) << Error::BadSignature;
    QTest::addRow("r and s swapped") << withSegment(
            Rfc7515A3Jws, 2,
            b64(unb64(segment(Rfc7515A3Jws, 2)).mid(32) + unb64(segment(Rfc7515A3Jws, 2)).left(32)))
                                     << Error::BadSignature;
}

void tst_Jose::rfc7515A3Es256()
{
    QFETCH(QByteArray, token);
    QFETCH(Error, error);

    const Key publicKey = Key::fromJwk(ecJwk(Rfc7515A3X, Rfc7515A3Y));
    const Key privateKey = Key::fromJwk(ecJwk(Rfc7515A3X, Rfc7515A3Y, Rfc7515A3D));
    QVERIFY(!publicKey.isNull());
    QVERIFY(!privateKey.isNull());
    QVERIFY(!publicKey.hasPrivateKey());
    QVERIFY(privateKey.hasPrivateKey());
    QCOMPARE(privateKey.thumbprint(), publicKey.thumbprint());

    for (const Key &key : {publicKey, privateKey}) {
        const VerifyResult result = verifyCompact(token, {key});
        QCOMPARE(result.error, error);
        if (error == Error::None)
            QCOMPARE(result.payload, Rfc7515Payload);
    }

    // The RFC's private key signs; the RFC's public key verifies that.
    const QByteArray ours = signCompact(privateKey, Rfc7515Payload);
    QCOMPARE(verifyCompact(ours, {publicKey}).error, Error::None);
}

void tst_Jose::rfc7515RejectedExamples_data()
{
    QTest::addColumn<QByteArray>("token");
    QTest::addColumn<QString>("keys");
    QTest::addColumn<Error>("error");

    // A.2 verifies with its own key (tst_jose_rsa); an ES256 key never checks an RS256 token, and
    // without "kid" it names none of several keys.
    QTest::addRow("A.2 RS256, ES256 key") << Rfc7515A2Jws << "es" << Error::AlgorithmMismatch;
    QTest::addRow("A.2 RS256, all keys") << Rfc7515A2Jws << "all" << Error::UnknownKey;
    QTest::addRow("A.5 unsecured") << Rfc7515A5Jws << "hs" << Error::UnsupportedAlgorithm;
    QTest::addRow("A.5 unsecured, all keys")
            << Rfc7515A5Jws << "all" << Error::UnsupportedAlgorithm;
    QTest::addRow("A.5 unsecured, no keys")
            << Rfc7515A5Jws << "none" << Error::UnsupportedAlgorithm;
}

void tst_Jose::rfc7515RejectedExamples()
{
    QFETCH(QByteArray, token);
    QFETCH(QString, keys);
    QFETCH(Error, error);

    QCOMPARE(verifyCompact(token, keySet(keys)).error, error);
    ClaimRequirements requirements;
    requirements.now = 1300819000;
    QCOMPARE(verifyJwt(token, keySet(keys), requirements).error, error);
}

void tst_Jose::rfc8037Ed25519()
{
    // A.1 private key; A.2 its public key.
    Key key = Key::fromJwk(okpJwk(Rfc8037X, Rfc8037D));
    QVERIFY(!key.isNull());
    QCOMPARE(key.algorithm(), Algorithm::EdDSA);
    QVERIFY(key.hasPrivateKey());
    const QJsonObject publicJwk = key.publicJwk();
    QCOMPARE(publicJwk.value("kty").toString(), "OKP");
    QCOMPARE(publicJwk.value("crv").toString(), "Ed25519");
    QCOMPARE(publicJwk.value("x").toString(), Rfc8037X);
    QVERIFY(!publicJwk.contains("d"));

    // A.3 thumbprint, which is also the default key id.
    QCOMPARE(key.thumbprint(), Rfc8037Thumbprint);
    QCOMPARE(key.keyId(), Rfc8037Thumbprint);
    QCOMPARE(jwkThumbprint(okpJwk(Rfc8037X)), Rfc8037Thumbprint);

    // A.4: Ed25519 is deterministic, so the JWS must match byte for byte. The RFC's header is
    // {"alg":"EdDSA"} with no "kid", so the key id is cleared.
    key.setKeyId(QString());
    QCOMPARE(key.keyId(), QString());
    QCOMPARE(signCompact(key, Rfc8037Payload), Rfc8037Jws);
    // The same in two steps (the server signs access tokens off its serving thread).
    const QByteArray input = jwsSigningInput(key, Rfc8037Payload);
    QCOMPARE(input, segment(Rfc8037Jws, 0) + '.' + segment(Rfc8037Jws, 1));
    QCOMPARE(jwsSignature(key, input), segment(Rfc8037Jws, 2));
    QCOMPARE(Private::signSigningInput(key, segment(Rfc8037Jws, 0) + '.' + segment(Rfc8037Jws, 1)),
             unb64(segment(Rfc8037Jws, 2)));

    // A.5: verification with the public key only.
    const Key publicKey = Key::fromJwk(okpJwk(Rfc8037X));
    QVERIFY(!publicKey.isNull());
    QVERIFY(!publicKey.hasPrivateKey());
    const VerifyResult result = verifyCompact(Rfc8037Jws, {publicKey});
    QCOMPARE(result.error, Error::None);
    QCOMPARE(result.payload, Rfc8037Payload);
    QCOMPARE(verifyCompact(flipBit(Rfc8037Jws, 2, 5), {publicKey}).error, Error::BadSignature);
    QCOMPARE(verifyCompact(flipBit(Rfc8037Jws, 1, 0), {publicKey}).error, Error::BadSignature);
}

void tst_Jose::rfc7638Thumbprint_data()
{
    QTest::addColumn<QJsonObject>("jwk");
    QTest::addColumn<QString>("thumbprint");

    const QJsonObject rsa{{"kty", "RSA"},
                          {"n", Rfc7638N},
                          {"e", "AQAB"},
                          {"alg", "RS256"},
                          {"kid", "2011-04-29"}};
    QTest::addRow("RFC 7638 3.1 RSA") << rsa << Rfc7638Thumbprint;
    QJsonObject bare = rsa;
    bare.remove("alg");
    bare.remove("kid");
    QTest::addRow("RFC 7638 3.1 RSA, required members only") << bare << Rfc7638Thumbprint;
    QJsonObject noE = rsa;
    noE.remove("e");
    QTest::addRow("RSA without e") << noE << QString();
    QJsonObject numericE = rsa;
    numericE.insert("e", 65537);
    QTest::addRow("RSA with numeric e") << numericE << QString();
    QTest::addRow("RFC 8037 A.3 OKP") << okpJwk(Rfc8037X, Rfc8037D) << Rfc8037Thumbprint;
    QTest::addRow("OKP without crv") << QJsonObject{{"kty", "OKP"}, {"x", Rfc8037X}} << QString();
    QTest::addRow("unknown kty") << QJsonObject{{"kty", "XYZ"}, {"x", Rfc8037X}} << QString();
    QTest::addRow("no kty") << QJsonObject{{"x", Rfc8037X}} << QString();
    QTest::addRow("EC without y") << QJsonObject{{"kty", "EC"}, {"crv", "P-256"}, {"x", Rfc7515A3X}}
                                  << QString();
    QTest::addRow("oct without k") << QJsonObject{{"kty", "oct"}} << QString();
}

void tst_Jose::rfc7638Thumbprint()
{
    QFETCH(QJsonObject, jwk);
    QFETCH(QString, thumbprint);
    QCOMPARE(jwkThumbprint(jwk), thumbprint);
}

// --- keys, signing -------------------------------------------------------------------------

void tst_Jose::signVerifyRoundTrip_data()
{
    QTest::addColumn<Algorithm>("algorithm");
    QTest::addColumn<int>("signatureSize");
    QTest::addRow("ES256") << Algorithm::ES256 << 64;
    QTest::addRow("EdDSA") << Algorithm::EdDSA << 64;
    QTest::addRow("HS256") << Algorithm::HS256 << 32;
}

void tst_Jose::signVerifyRoundTrip()
{
    QFETCH(Algorithm, algorithm);
    QFETCH(int, signatureSize);

    const Key key = Key::generate(algorithm);
    QVERIFY(!key.isNull());
    QCOMPARE(key.algorithm(), algorithm);
    QVERIFY(key.hasPrivateKey());

    const QJsonObject claims{{"iss", "https://issuer.test"},
                             {"aud", "api"},
                             {"sub", "alice"},
                             {"iat", Now},
                             {"exp", Now + 300},
                             {"jti", "j1"},
                             {"name", QString::fromUtf8("Zoë \xe2\x9c\x93")}};
    const QByteArray token = signJwt(key, claims, "at+jwt");
    QVERIFY(!token.isEmpty());
    QCOMPARE(token.count('.'), 2);
    QCOMPARE(unb64(segment(token, 2)).size(), signatureSize);

    const QJsonObject header = QJsonDocument::fromJson(unb64(segment(token, 0))).object();
    QCOMPARE(header.value("alg").toString(), algorithmName(algorithm));
    QCOMPARE(header.value("typ").toString(), "at+jwt");
    QCOMPARE(header.contains("kid"), algorithm != Algorithm::HS256);
    if (algorithm != Algorithm::HS256)
        QCOMPARE(header.value("kid").toString(), key.thumbprint());

    // Verification keys: the public half through JWK and through PEM; HS256 the secret.
    QList<Key> verifiers;
    if (algorithm == Algorithm::HS256) {
        verifiers = {key, Key::fromSecret(key.secret())};
    } else {
        verifiers = {key, Key::fromJwk(key.publicJwk()),
                     Key::fromPublicKeyPem(key.publicKeyPem(), algorithm),
                     Key::fromPrivateKeyPem(key.privateKeyPem(), algorithm)};
    }
    ClaimRequirements requirements;
    requirements.now = Now + 10;
    requirements.issuer = "https://issuer.test";
    requirements.audience = "api";
    requirements.type = "at+jwt";
    requirements.requiredClaims = {"sub", "jti"};
    for (const Key &verifier : std::as_const(verifiers)) {
        QVERIFY(!verifier.isNull());
        const VerifyResult result = verifyJwt(token, {verifier}, requirements);
        QCOMPARE(result.error, Error::None);
        QVERIFY(result.ok());
        QCOMPARE(result.claims, claims);
        QCOMPARE(result.header, header);
        QCOMPARE(result.payload, json(claims));
    }

    // A key re-imported from PEM signs tokens the original key accepts.
    if (algorithm != Algorithm::HS256) {
        const Key reimported = Key::fromPrivateKeyPem(key.privateKeyPem(), algorithm);
        QVERIFY(reimported.hasPrivateKey());
        QCOMPARE(verifyJwt(signJwt(reimported, claims, "at+jwt"), {key}, requirements).error,
                 Error::None);
    }

    // Another key of the same algorithm, with the same kid, does not verify it.
    Key other = Key::generate(algorithm);
    other.setKeyId(key.keyId());
    QCOMPARE(verifyJwt(token, {other}, requirements).error, Error::BadSignature);

    // Signed in two steps: the same claims and header, a signature that verifies.
    const QByteArray input = jwtSigningInput(key, claims, QStringLiteral("at+jwt"));
    const QByteArray twoSteps = input + '.' + jwsSignature(key, input);
    const VerifyResult fromSteps = verifyJwt(twoSteps, {key}, requirements);
    QCOMPARE(fromSteps.error, Error::None);
    QCOMPARE(fromSteps.claims, claims);
    QCOMPARE(fromSteps.header.value("typ").toString(), QStringLiteral("at+jwt"));
    QCOMPARE(fromSteps.header.value("kid").toString(), key.keyId());
    // A signature over other input does not verify.
    const QByteArray otherInput = jwtSigningInput(key, {{"sub", "mallory"}});
    QCOMPARE(verifyJwt(input + '.' + jwsSignature(key, otherInput), {key}, requirements).error,
             Error::BadSignature);

    // Signing needs a private key.
    QVERIFY(signCompact(Key(), "x").isEmpty());
    QVERIFY(jwsSigningInput(Key(), "x").isEmpty());
    QVERIFY(jwsSignature(Key(), "a.b").isEmpty());
    QVERIFY(jwsSignature(key, "").isEmpty());
    if (algorithm != Algorithm::HS256) {
        QVERIFY(signCompact(Key::fromJwk(key.publicJwk()), "x").isEmpty());
        QVERIFY(jwsSignature(Key::fromJwk(key.publicJwk()), "a.b").isEmpty());
    }

    // signCompact: a caller's "alg" is overwritten, other members are kept, raw payload bytes.
    const QByteArray raw("\x00\x01\xff not json", 13);
    const QByteArray compact = signCompact(key, raw, {{"alg", "none"}, {"cty", "x"}});
    const VerifyResult result = verifyCompact(compact, {key});
    QCOMPARE(result.error, Error::None);
    QCOMPARE(result.payload, raw);
    QCOMPARE(result.header.value("alg").toString(), algorithmName(algorithm));
    QCOMPARE(result.header.value("cty").toString(), "x");
}

void tst_Jose::generatedKeys_data()
{
    QTest::addColumn<Algorithm>("algorithm");
    QTest::addRow("ES256") << Algorithm::ES256;
    QTest::addRow("EdDSA") << Algorithm::EdDSA;
    QTest::addRow("HS256") << Algorithm::HS256;
}

void tst_Jose::generatedKeys()
{
    QFETCH(Algorithm, algorithm);

    const Key a = Key::generate(algorithm);
    const Key b = Key::generate(algorithm);
    QVERIFY(!a.isNull() && !b.isNull());

    if (algorithm == Algorithm::HS256) {
        QCOMPARE(a.secret().size(), 32);
        QVERIFY(!a.secret().equals(b.secret().reveal()));
        QVERIFY(a.publicJwk().isEmpty());
        QVERIFY(a.thumbprint().isEmpty());
        QVERIFY(a.keyId().isEmpty());
        QVERIFY(a.privateKeyPem().isEmpty());
        QVERIFY(a.publicKeyPem().isEmpty());
        QCOMPARE(jwks({a}), QJsonObject({{"keys", QJsonArray()}}));
        QVERIFY(Key::fromSecret(a.secret()).secret().equals(a.secret().reveal()));
        QVERIFY(Key::fromSecret(Secret(a.secret().reveal().first(31))).isNull());
        QVERIFY(!Key::fromSecret(Secret(QByteArray(32, 'x'))).isNull());
        return;
    }

    QVERIFY(a.secret().isEmpty());
    QVERIFY(!a.privateKeyPem().equals(b.privateKeyPem().reveal()));
    QVERIFY(a.thumbprint() != b.thumbprint());
    QVERIFY(a.publicJwk() != b.publicJwk());
    QVERIFY(a.privateKeyPem().reveal().startsWith("-----BEGIN PRIVATE KEY-----\n"));
    QVERIFY(a.publicKeyPem().startsWith("-----BEGIN PUBLIC KEY-----\n"));

    const QJsonObject jwk = a.publicJwk();
    QCOMPARE(jwk.value("alg").toString(), algorithmName(algorithm));
    QCOMPARE(jwk.value("use").toString(), "sig");
    QCOMPARE(jwk.value("kid").toString(), a.thumbprint());
    QCOMPARE(jwk.value("kty").toString(), algorithm == Algorithm::ES256 ? "EC" : "OKP");
    QCOMPARE(jwk.value("crv").toString(), algorithm == Algorithm::ES256 ? "P-256" : "Ed25519");
    QCOMPARE(jwkBytes(jwk, "x").size(), 32);
    if (algorithm == Algorithm::ES256)
        QCOMPARE(jwkBytes(jwk, "y").size(), 32);
    QVERIFY(!jwk.contains("d"));
    QVERIFY(!jwk.contains("k"));
    QCOMPARE(jwkThumbprint(jwk), a.thumbprint());

    // JWK round trip: same public key, no private half.
    const Key fromJwk = Key::fromJwk(jwk);
    QVERIFY(!fromJwk.isNull());
    QVERIFY(!fromJwk.hasPrivateKey());
    QCOMPARE(fromJwk.publicJwk(), jwk);
    QVERIFY(fromJwk.privateKeyPem().isEmpty());
    QCOMPARE(fromJwk.publicKeyPem(), a.publicKeyPem());

    // PEM round trips.
    const Key fromPrivatePem = Key::fromPrivateKeyPem(a.privateKeyPem(), algorithm);
    QVERIFY(fromPrivatePem.hasPrivateKey());
    QVERIFY(fromPrivatePem.privateKeyPem().equals(a.privateKeyPem().reveal()));
    QCOMPARE(fromPrivatePem.thumbprint(), a.thumbprint());
    const Key fromPublicPem = Key::fromPublicKeyPem(a.publicKeyPem(), algorithm);
    QVERIFY(!fromPublicPem.isNull());
    QVERIFY(!fromPublicPem.hasPrivateKey());
    QCOMPARE(fromPublicPem.thumbprint(), a.thumbprint());

    // The PEM of one algorithm is not a key of the other.
    const Algorithm otherAlgorithm =
            algorithm == Algorithm::ES256 ? Algorithm::EdDSA : Algorithm::ES256;
    QVERIFY(Key::fromPrivateKeyPem(a.privateKeyPem(), otherAlgorithm).isNull());
    QVERIFY(Key::fromPublicKeyPem(a.publicKeyPem(), otherAlgorithm).isNull());
    QVERIFY(Key::fromPrivateKeyPem(a.privateKeyPem(), Algorithm::HS256).isNull());
    // Each import reads one kind of PEM, so a private key never arrives as plain bytes.
    QVERIFY(Key::fromPublicKeyPem(a.privateKeyPem().reveal(), algorithm).isNull());
    QVERIFY(Key::fromPrivateKeyPem(Secret(a.publicKeyPem()), algorithm).isNull());

    // Key ids: copies share material but not a later setKeyId.
    Key copy = a;
    copy.setKeyId("custom");
    QCOMPARE(copy.keyId(), "custom");
    QCOMPARE(a.keyId(), a.thumbprint());
    QCOMPARE(copy.publicJwk().value("kid").toString(), "custom");
    QCOMPARE(copy.thumbprint(), a.thumbprint());
}

void tst_Jose::pemImport_data()
{
    QTest::addColumn<QByteArray>("pem");
    QTest::addColumn<Algorithm>("algorithm");
    QTest::addColumn<bool>("valid");

    QTest::addRow("SPKI P-256") << QByteArray(SpkiP256Pem) << Algorithm::ES256 << true;
    QTest::addRow("SPKI P-256, compressed point")
            << QByteArray(SpkiP256CompressedPem) << Algorithm::ES256 << true;
    QTest::addRow("SPKI P-256 as EdDSA") << QByteArray(SpkiP256Pem) << Algorithm::EdDSA << false;
    QTest::addRow("SEC1 EC PRIVATE KEY") << QByteArray(Sec1P256Pem) << Algorithm::ES256 << false;
    QTest::addRow("PKCS#8 P-384") << QByteArray(P384Pkcs8Pem) << Algorithm::ES256 << false;
    QTest::addRow("encrypted PKCS#8") << QByteArray(EncryptedP256Pem) << Algorithm::ES256 << false;
    QTest::addRow("PKCS#8 X25519 as EdDSA") << QByteArray(X25519Pem) << Algorithm::EdDSA << false;
    QTest::addRow("empty") << QByteArray() << Algorithm::ES256 << false;
    QTest::addRow("garbage") << QByteArray(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                             << Algorithm::ES256 << false;
    QByteArray truncated(SpkiP256Pem);
    truncated.remove(truncated.indexOf("uxdT"), 4);
    QTest::addRow("truncated DER") << truncated << Algorithm::ES256 << false;
}

void tst_Jose::pemImport()
{
    QFETCH(QByteArray, pem);
    QFETCH(Algorithm, algorithm);
    QFETCH(bool, valid);

    // Private keys (PKCS#8) through fromPrivateKeyPem, everything else through
    // fromPublicKeyPem; the other import refuses the row either way.
    const bool isPrivate = pem.contains("PRIVATE KEY");
    const Key key = isPrivate ? Key::fromPrivateKeyPem(Secret(pem), algorithm)
                              : Key::fromPublicKeyPem(pem, algorithm);
    QCOMPARE(!key.isNull(), valid);
    QVERIFY(isPrivate ? Key::fromPublicKeyPem(pem, algorithm).isNull()
                      : Key::fromPrivateKeyPem(Secret(pem), algorithm).isNull());
    if (valid) {
        QVERIFY(!key.hasPrivateKey());
        QCOMPARE(key.publicJwk().value("x").toString(), SpkiX);
        QCOMPARE(key.publicJwk().value("y").toString(), SpkiY);
        QCOMPARE(key.thumbprint(), jwkThumbprint(ecJwk(SpkiX, SpkiY)));
    }
}

void tst_Jose::jwkImport_data()
{
    QTest::addColumn<QJsonObject>("jwk");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<bool>("hasPrivate");

    const QJsonObject ec = ecJwk(Rfc7515A3X, Rfc7515A3Y);
    const QJsonObject ecPrivate = ecJwk(Rfc7515A3X, Rfc7515A3Y, Rfc7515A3D);
    const QJsonObject okp = okpJwk(Rfc8037X);
    const QJsonObject okpPrivate = okpJwk(Rfc8037X, Rfc8037D);
    const QJsonObject oct = object(Rfc7515A1Jwk);
    const auto with = [](QJsonObject jwk, const char *member, const QJsonValue &value) {
        jwk.insert(QLatin1String(member), value);
        return jwk;
    };
    const auto without = [](QJsonObject jwk, const char *member) {
        jwk.remove(QLatin1String(member));
        return jwk;
    };
    const QByteArray x = jwkBytes(ec, "x");
    QByteArray yOffCurve = jwkBytes(ec, "y");
    yOffCurve[31] = char(yOffCurve[31] ^ 0x01);

    QTest::addRow("EC public") << ec << true << false;
    QTest::addRow("EC private") << ecPrivate << true << true;
    QTest::addRow("EC with alg, use, kid")
            << with(with(with(ec, "alg", "ES256"), "use", "sig"), "kid", "k1") << true << false;
    QTest::addRow("EC point not on curve") << with(ec, "y", b64String(yOffCurve)) << false << false;
    QTest::addRow("EC point at x=0,y=0") << with(with(ec, "x", b64String(QByteArray(32, '\0'))),
                                                 "y", b64String(QByteArray(32, '\0')))
                                         << false << false;
    QTest::addRow("EC x of 31 bytes") << with(ec, "x", b64String(x.mid(1))) << false << false;
    QTest::addRow("EC x of 33 bytes") << with(ec, "x", b64String('\0' + x)) << false << false;
    QTest::addRow("EC x padded") << with(ec, "x", QString(Rfc7515A3X) + "=") << false << false;
    QTest::addRow("EC x standard base64")
            << with(ec, "x", QString::fromLatin1(x.toBase64())) << false << false;
    QTest::addRow("EC x number") << with(ec, "x", 5) << false << false;
    QTest::addRow("EC without y") << without(ec, "y") << false << false;
    QTest::addRow("EC crv P-384") << with(ec, "crv", "P-384") << false << false;
    QTest::addRow("EC crv missing") << without(ec, "crv") << false << false;
    QTest::addRow("EC alg HS256") << with(ec, "alg", "HS256") << false << false;
    QTest::addRow("EC alg ES384") << with(ec, "alg", "ES384") << false << false;
    QTest::addRow("EC use enc") << with(ec, "use", "enc") << false << false;
    QTest::addRow("EC kid number") << with(ec, "kid", 7) << false << false;
    QTest::addRow("EC d of another key")
            << with(ec, "d",
                    b64String(QByteArray::fromHex(
                            "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")))
            << false << false;
    QTest::addRow("EC d zero") << with(ec, "d", b64String(QByteArray(32, '\0'))) << false << false;
    QTest::addRow("EC d = n") << with(ec, "d", b64String(P256Order)) << false << false;
    QTest::addRow("EC d of 31 bytes")
            << with(ec, "d", b64String(jwkBytes(ecPrivate, "d").mid(1))) << false << false;

    QTest::addRow("OKP public") << okp << true << false;
    QTest::addRow("OKP private") << okpPrivate << true << true;
    QTest::addRow("OKP alg EdDSA") << with(okp, "alg", "EdDSA") << true << false;
    QTest::addRow("OKP alg ES256") << with(okp, "alg", "ES256") << false << false;
    QTest::addRow("OKP crv X25519") << with(okp, "crv", "X25519") << false << false;
    QTest::addRow("OKP crv Ed448") << with(okp, "crv", "Ed448") << false << false;
    QTest::addRow("OKP x of 31 bytes")
            << with(okp, "x", b64String(jwkBytes(okp, "x").mid(1))) << false << false;
    QTest::addRow("OKP d with another x") << with(okpPrivate, "x", Rfc7515A3X) << false << false;
    QTest::addRow("OKP d of 33 bytes")
            << with(okpPrivate, "d", b64String(jwkBytes(okpPrivate, "d") + 'x')) << false << false;

    QTest::addRow("oct 64 bytes") << oct << true << true;
    QTest::addRow("oct alg HS256") << with(oct, "alg", "HS256") << true << true;
    QTest::addRow("oct 32 bytes") << with(oct, "k", b64String(QByteArray(32, 'k'))) << true << true;
    QTest::addRow("oct 31 bytes") << with(oct, "k", b64String(QByteArray(31, 'k'))) << false
                                  << false;
    QTest::addRow("oct alg HS512") << with(oct, "alg", "HS512") << false << false;
    QTest::addRow("oct k padded") << with(oct, "k", b64String(QByteArray(32, 'k')) + "=") << false
                                  << false;
    QTest::addRow("oct without k") << without(oct, "k") << false << false;

    // RSA public keys: the hostile ones are in tst_jose_rsa.
    QTest::addRow("RSA") << QJsonObject{{"kty", "RSA"}, {"n", Rfc7638N}, {"e", "AQAB"}} << true
                         << false;
    QTest::addRow("kty none") << with(oct, "kty", "none") << false << false;
    QTest::addRow("kty lower-case ec") << with(ec, "kty", "ec") << false << false;
    QTest::addRow("no kty") << without(ec, "kty") << false << false;
    QTest::addRow("empty") << QJsonObject() << false << false;
}

void tst_Jose::jwkImport()
{
    QFETCH(QJsonObject, jwk);
    QFETCH(bool, valid);
    QFETCH(bool, hasPrivate);

    const Key key = Key::fromJwk(jwk);
    QCOMPARE(!key.isNull(), valid);
    if (!valid)
        return;
    QCOMPARE(key.hasPrivateKey(), hasPrivate);
    if (jwk.contains("kid"))
        QCOMPARE(key.keyId(), jwk.value("kid").toString());
    if (key.algorithm() == Algorithm::HS256) {
        QVERIFY(key.secret().equals(jwkBytes(jwk, "k")));
        QVERIFY(key.publicJwk().isEmpty());
    } else {
        const QJsonObject publicJwk = key.publicJwk();
        QCOMPARE(publicJwk.value("x"), jwk.value("x"));
        QVERIFY(!publicJwk.contains("d"));
        QCOMPARE(key.thumbprint(), jwkThumbprint(jwk));
    }
}

void tst_Jose::jwksDocument()
{
    const QJsonObject document = jwks({m_es, m_hs, Key(), m_ed});
    const QJsonArray keys = document.value("keys").toArray();
    QCOMPARE(keys.size(), 2);
    QCOMPARE(keys.at(0).toObject(), m_es.publicJwk());
    QCOMPARE(keys.at(1).toObject(), m_ed.publicJwk());
    const QByteArray text = json(document);
    QVERIFY(!text.contains("\"d\""));
    QVERIFY(!text.contains("\"k\""));
    QVERIFY(!text.contains(b64(m_hs.secret().reveal())));
    // Keys published in a JWKS import back to working verification keys.
    const QJsonObject claims{{"exp", Now + 60}};
    ClaimRequirements requirements;
    requirements.now = Now;
    QList<Key> imported;
    for (const QJsonValue &jwk : keys)
        imported.append(Key::fromJwk(jwk.toObject()));
    QCOMPARE(verifyJwt(signJwt(m_es, claims), imported, requirements).error, Error::None);
    QCOMPARE(verifyJwt(signJwt(m_ed, claims), imported, requirements).error, Error::None);
}

// --- hostile tokens ------------------------------------------------------------------------

void tst_Jose::algorithmConfusion_data()
{
    QTest::addColumn<QByteArray>("secret"); // public key bytes an attacker uses as HMAC secret
    QTest::addColumn<QString>("kid");
    QTest::addColumn<QString>("keys");

    const QJsonObject esJwk = m_es.publicJwk();
    const QJsonObject edJwk = m_ed.publicJwk();
    const QByteArray esPublicPem = Key::fromJwk(esJwk).publicKeyPem();
    QTest::addRow("ES256 public PEM") << esPublicPem << "es"
                                      << "es";
    QTest::addRow("ES256 public PEM, no kid") << esPublicPem << QString() << "es";
    QTest::addRow("ES256 public PEM, all keys") << esPublicPem << "es"
                                                << "all";
    QTest::addRow("ES256 public JWK JSON") << json(esJwk) << "es"
                                           << "es";
    QTest::addRow("ES256 public x||y") << jwkBytes(esJwk, "x") + jwkBytes(esJwk, "y") << "es"
                                       << "es";
    QTest::addRow("EdDSA public PEM") << Key::fromJwk(edJwk).publicKeyPem() << "ed"
                                      << "ed";
    QTest::addRow("EdDSA public JWK JSON") << json(edJwk) << "ed"
                                           << "all";
}

// The classic attack: a verifier that lets the header choose the algorithm would check an
// "HS256" token with the ES256 public key bytes as the HMAC secret.
void tst_Jose::algorithmConfusion()
{
    QFETCH(QByteArray, secret);
    QFETCH(QString, kid);
    QFETCH(QString, keys);

    const Key attackerKey = Key::fromSecret(Secret(secret));
    QVERIFY(!attackerKey.isNull());
    QJsonObject header{{"alg", "HS256"}, {"typ", "JWT"}};
    if (!kid.isEmpty())
        header.insert("kid", kid);
    const QByteArray payload = json({{"sub", "admin"}, {"exp", Now + 3600}});
    const QByteArray forged = forge(attackerKey, json(header), payload);

    // The forgery is a real HMAC over those bytes...
    Key sameSecret = attackerKey;
    sameSecret.setKeyId(kid);
    QCOMPARE(verifyCompact(forged, {sameSecret}).error, Error::None);
    // ...and the verifier, holding only the asymmetric key, refuses it.
    QCOMPARE(verifyCompact(forged, keySet(keys)).error, Error::AlgorithmMismatch);
    ClaimRequirements requirements;
    requirements.now = Now;
    QCOMPARE(verifyJwt(forged, keySet(keys), requirements).error, Error::AlgorithmMismatch);
}

void tst_Jose::hostileTokens_data()
{
    QTest::addColumn<QByteArray>("token");
    QTest::addColumn<QString>("keys");
    QTest::addColumn<Error>("error");

    const QByteArray payload = json({{"sub", "alice"}, {"exp", Now + 60}});
    const QByteArray valid = signCompact(m_es, payload);
    const QByteArray esSignature = unb64(segment(valid, 2));

    QTest::addRow("control: valid ES256") << valid << "es" << Error::None;
    QTest::addRow("control: valid, all keys") << valid << "all" << Error::None;

    // "none" in any spelling, with or without a signature.
    for (const char *none : {"none", "None", "NONE", "nOnE"}) {
        const QByteArray header = json({{"alg", none}});
        QTest::addRow("alg %s, empty signature", none)
                << assemble(header, payload, {}) << "all" << Error::UnsupportedAlgorithm;
        QTest::addRow("alg %s, ES256 signature", none)
                << assemble(header, payload, esSignature) << "es" << Error::UnsupportedAlgorithm;
        QTest::addRow("alg %s, kid es", none)
                << assemble(json({{"alg", none}, {"kid", "es"}}), payload, {}) << "es"
                << Error::UnsupportedAlgorithm;
    }
    for (const char *alg :
         {"RS384", "PS512", "ES384", "ES512", "HS384", "HS512", "es256", "ES256 ", "Ed25519", ""}) {
        QTest::addRow("alg \"%s\"", alg)
                << forge(m_es, json({{"alg", alg}, {"kid", "es"}}), payload) << "es"
                << Error::UnsupportedAlgorithm;
    }
    // Algorithms Tessera verifies, but not with this key.
    for (const char *alg : {"RS256", "PS256", "EdDSA", "HS256"}) {
        QTest::addRow("alg \"%s\" for the ES256 key", alg)
                << forge(m_es, json({{"alg", alg}, {"kid", "es"}}), payload) << "es"
                << Error::AlgorithmMismatch;
    }
    QTest::addRow("alg missing") << forge(m_es, json({{"kid", "es"}}), payload) << "es"
                                 << Error::Malformed;
    QTest::addRow("alg number") << forge(m_es, R"({"alg":256})", payload) << "es"
                                << Error::Malformed;
    QTest::addRow("alg null") << forge(m_es, R"({"alg":null})", payload) << "es"
                              << Error::Malformed;
    QTest::addRow("alg array") << forge(m_es, R"({"alg":["ES256"]})", payload) << "es"
                               << Error::Malformed;
    // RFC 7515 section 4 lets a parser refuse duplicate names or keep the last one; Tessera
    // refuses them, validly signed or not, so no other parser can read the header differently.
    QTest::addRow("duplicate alg, none last")
            << forge(m_es, R"({"alg":"ES256","kid":"es","alg":"none"})", payload) << "es"
            << Error::Malformed;
    QTest::addRow("duplicate alg, ES256 last")
            << forge(m_es, R"({"alg":"none","kid":"es","alg":"ES256"})", payload) << "es"
            << Error::Malformed;
    QTest::addRow("duplicate alg, same value")
            << forge(m_es, R"({"alg":"ES256","kid":"es","alg":"ES256"})", payload) << "es"
            << Error::Malformed;
    QTest::addRow("duplicate alg, escaped name")
            << forge(m_es, R"({"alg":"none","kid":"es","\u0061lg":"ES256"})", payload) << "es"
            << Error::Malformed;
    QTest::addRow("duplicate kid, the right one last")
            << forge(m_es, R"({"alg":"ES256","kid":"ed","kid":"es"})", payload) << "all"
            << Error::Malformed;
    QTest::addRow("duplicate typ")
            << forge(m_es, R"({"alg":"ES256","kid":"es","typ":"JWT","typ":"at+jwt"})", payload)
            << "es" << Error::Malformed;
    QTest::addRow("duplicate crit, hidden by the second")
            << forge(m_es, R"({"alg":"ES256","kid":"es","crit":["exp"],"crit":[]})", payload)
            << "es" << Error::Malformed;
    QTest::addRow("raw NUL in a header string") << forge(
            m_es, QByteArray(R"({"alg":"ES256","kid":"es","x":"a)") + '\0' + "b\"}", payload)
                                                << "es" << Error::Malformed;
    QTest::addRow("raw tab in the kid")
            << forge(m_es, "{\"alg\":\"ES256\",\"kid\":\"es\t\"}", payload) << "es"
            << Error::Malformed;
    QTest::addRow("escaped lone surrogate in the header")
            << forge(m_es, R"({"alg":"ES256","kid":"es","x":"\ud800"})", payload) << "es"
            << Error::Malformed;
    QTest::addRow("byte order mark before the header")
            << forge(m_es, "\xef\xbb\xbf{\"alg\":\"ES256\",\"kid\":\"es\"}", payload) << "es"
            << Error::Malformed;

    // Key material or key locations from the token are never used, even validly signed.
    const QJsonObject attackerJwk = Key::fromJwk(m_esOther.publicJwk()).publicJwk();
    QTest::addRow("jku") << signCompact(m_es, payload, {{"jku", "https://evil.test/jwks"}}) << "es"
                         << Error::ForbiddenHeader;
    QTest::addRow("x5u") << signCompact(m_es, payload, {{"x5u", "https://evil.test/cert"}}) << "es"
                         << Error::ForbiddenHeader;
    QTest::addRow("x5c") << signCompact(m_es, payload, {{"x5c", QJsonArray{"MIIB"}}}) << "es"
                         << Error::ForbiddenHeader;
    QTest::addRow("jwk embedded, attacker-signed")
            << signCompact(m_esOther, payload, {{"jwk", attackerJwk}}) << "es"
            << Error::ForbiddenHeader;
    QTest::addRow("jwk null") << signCompact(m_es, payload, {{"jwk", QJsonValue::Null}}) << "es"
                              << Error::ForbiddenHeader;
    QTest::addRow("crit exp") << signCompact(m_es, payload,
                                             {{"crit", QJsonArray{"exp"}}, {"exp", 1}})
                              << "es" << Error::UnsupportedCritical;
    QTest::addRow("crit b64") << signCompact(m_es, payload,
                                             {{"crit", QJsonArray{"b64"}}, {"b64", false}})
                              << "es" << Error::UnsupportedCritical;
    QTest::addRow("crit empty") << signCompact(m_es, payload, {{"crit", QJsonArray()}}) << "es"
                                << Error::UnsupportedCritical;

    // Key selection.
    Key unknownKid = m_es;
    unknownKid.setKeyId("other");
    QTest::addRow("unknown kid") << signCompact(unknownKid, payload) << "all" << Error::UnknownKey;
    QTest::addRow("unknown kid, single key")
            << signCompact(unknownKid, payload) << "es" << Error::UnknownKey;
    Key noKid = m_es;
    noKid.setKeyId(QString());
    QTest::addRow("no kid, one key") << signCompact(noKid, payload) << "es" << Error::None;
    QTest::addRow("no kid, several keys")
            << signCompact(noKid, payload) << "all" << Error::UnknownKey;
    QTest::addRow("no kid, no keys") << signCompact(noKid, payload) << "none" << Error::UnknownKey;
    QTest::addRow("kid number") << forge(m_es, R"({"alg":"ES256","kid":1})", payload) << "es"
                                << Error::Malformed;
    QTest::addRow("kid of the ES256 key, signed EdDSA")
            << forge(m_ed, R"({"alg":"EdDSA","kid":"es"})", payload) << "all"
            << Error::AlgorithmMismatch;
    QTest::addRow("kid of the EdDSA key, alg ES256")
            << forge(m_es, R"({"alg":"ES256","kid":"ed"})", payload) << "all"
            << Error::AlgorithmMismatch;
    QTest::addRow("kid of the HS256 key, alg ES256")
            << forge(m_es, R"({"alg":"ES256","kid":"hs"})", payload) << "all"
            << Error::AlgorithmMismatch;
    QTest::addRow("kid shared by two keys") << valid << "es twice" << Error::UnknownKey;
    QTest::addRow("attacker's key with the same kid")
            << signCompact(m_esOther, payload) << "es" << Error::BadSignature;
    QTest::addRow("attacker's EdDSA key, same kid")
            << signCompact(m_edOther, payload) << "ed" << Error::BadSignature;
    QTest::addRow("attacker's HS256 key, same kid")
            << signCompact(m_hsOther, payload) << "hs" << Error::BadSignature;

    // Tampering.
    const QByteArray tamperedHeader = b64(json({{"alg", "ES256"}, {"kid", "es"}, {"x", 1}}));
    QTest::addRow("header replaced")
            << withSegment(valid, 0, tamperedHeader) << "es" << Error::BadSignature;
    const QByteArray tamperedPayload = b64(json({{"sub", "admin"}, {"exp", Now + 60}}));
    QTest::addRow("payload replaced")
            << withSegment(valid, 1, tamperedPayload) << "es" << Error::BadSignature;
    QTest::addRow("payload bit flipped") << flipBit(valid, 1, 3) << "es" << Error::BadSignature;
    QTest::addRow("signature bit flipped") << flipBit(valid, 2, 40) << "es" << Error::BadSignature;
    QTest::addRow("signature from another token")
            << withSegment(valid, 2, segment(signCompact(m_es, "other"), 2)) << "es"
            << Error::BadSignature;
    const QByteArray edValid = signCompact(m_ed, payload);
    QTest::addRow("EdDSA signature bit flipped")
            << flipBit(edValid, 2, 0) << "ed" << Error::BadSignature;
    QTest::addRow("EdDSA signature truncated")
            << withSegment(edValid, 2, b64(unb64(segment(edValid, 2)).left(63))) << "ed"
            << Error::BadSignature;
    const QByteArray hsValid = signCompact(m_hs, payload);
    QTest::addRow("HS256 MAC bit flipped")
            << flipBit(hsValid, 2, 31) << "hs" << Error::BadSignature;
    QTest::addRow("HS256 MAC truncated to 16 bytes")
            << withSegment(hsValid, 2, b64(unb64(segment(hsValid, 2)).left(16))) << "hs"
            << Error::BadSignature;
    QTest::addRow("HS256 MAC with a byte appended")
            << withSegment(hsValid, 2, b64(unb64(segment(hsValid, 2)) + 'x')) << "hs"
            << Error::BadSignature;

    // Structure.
    QTest::addRow("empty") << QByteArray() << "es" << Error::Malformed;
    QTest::addRow("one segment") << segment(valid, 0) << "es" << Error::Malformed;
    QTest::addRow("two segments") << segment(valid, 0) + '.' + segment(valid, 1) << "es"
                                  << Error::Malformed;
    QTest::addRow("four segments") << valid + '.' + segment(valid, 2) << "es" << Error::Malformed;
    QTest::addRow("trailing dot") << valid + '.' << "es" << Error::Malformed;
    QTest::addRow("five segments (JWE)") << valid + ".."
                                         << "es" << Error::Malformed;
    QTest::addRow("dots only") << QByteArray("..") << "es" << Error::Malformed;
    QTest::addRow("empty header") << withSegment(valid, 0, {}) << "es" << Error::Malformed;
    QTest::addRow("empty signature") << withSegment(valid, 2, {}) << "es" << Error::BadSignature;
    QTest::addRow("empty payload, valid signature") << signCompact(m_es, {}) << "es" << Error::None;
    QTest::addRow("padded signature") << valid + "=="
                                      << "es" << Error::Malformed;
    QTest::addRow("standard base64 signature")
            << withSegment(valid, 2, esSignature.toBase64()) << "es" << Error::Malformed;
    QTest::addRow("whitespace in token")
            << QByteArray(valid).insert(5, ' ') << "es" << Error::Malformed;
    QTest::addRow("trailing newline") << valid + '\n' << "es" << Error::Malformed;
    QTest::addRow("header array") << forge(m_es, "[\"ES256\"]", payload) << "es"
                                  << Error::Malformed;
    QTest::addRow("header string") << forge(m_es, "\"ES256\"", payload) << "es" << Error::Malformed;
    QTest::addRow("header null") << forge(m_es, "null", payload) << "es" << Error::Malformed;
    QTest::addRow("header not JSON")
            << forge(m_es, "alg=ES256", payload) << "es" << Error::Malformed;
    QTest::addRow("header with trailing garbage")
            << forge(m_es, R"({"alg":"ES256","kid":"es"}x)", payload) << "es" << Error::Malformed;
    QTest::addRow("header invalid UTF-8")
            << forge(m_es, "{\"alg\":\"ES256\",\"kid\":\"es\",\"x\":\"\xff\xfe\"}", payload) << "es"
            << Error::Malformed;
    QTest::addRow("header overlong UTF-8")
            << forge(m_es, "{\"alg\":\"ES256\",\"kid\":\"es\",\"x\":\"\xc0\xaf\"}", payload) << "es"
            << Error::Malformed;
    QTest::addRow("header UTF-16 surrogate")
            << forge(m_es, "{\"alg\":\"ES256\",\"kid\":\"es\",\"x\":\"\xed\xa0\x80\"}", payload)
            << "es" << Error::Malformed;
    const QByteArray deepHeader = "{\"alg\":\"ES256\",\"kid\":\"es\",\"x\":" + QByteArray(3000, '[')
            + QByteArray(3000, ']') + "}";
    QTest::addRow("deeply nested header")
            << forge(m_es, deepHeader, payload) << "es" << Error::Malformed;
}

void tst_Jose::hostileTokens()
{
    QFETCH(QByteArray, token);
    QFETCH(QString, keys);
    QFETCH(Error, error);

    const VerifyResult result = verifyCompact(token, keySet(keys));
    QCOMPARE(result.error, error);
    if (error != Error::None) {
        // Nothing unverified leaks out of a rejected token.
        QVERIFY(result.header.isEmpty());
        QVERIFY(result.payload.isEmpty());
        QVERIFY(result.claims.isEmpty());
    }
    // verifyJwt reports the same error for every pre-claims failure.
    ClaimRequirements requirements;
    requirements.now = Now;
    requirements.requireExpiry = false;
    const VerifyResult jwt = verifyJwt(token, keySet(keys), requirements);
    if (error != Error::None)
        QCOMPARE(jwt.error, error);
}

void tst_Jose::es256SignatureEncoding_data()
{
    QTest::addColumn<QByteArray>("signature"); // replaces a valid signature's bytes
    QTest::addColumn<Error>("error");

    const QByteArray payload("payload");
    const QByteArray token = signCompact(m_es, payload);
    const QByteArray raw = unb64(segment(token, 2));
    QCOMPARE(raw.size(), 64);
    const QByteArray r = raw.left(32);
    const QByteArray s = raw.mid(32);

    QTest::addRow("control") << raw << Error::None;
    // PyJWT and OpenSSL accept the malleated (n - s) twin; so does Tessera.
    QTest::addRow("high-S twin") << r + subtract256(P256Order, s) << Error::None;
    QTest::addRow("DER encoded") << derSignature(raw) << Error::BadSignature;
    QTest::addRow("63 bytes") << raw.left(63) << Error::BadSignature;
    QTest::addRow("65 bytes, leading zero") << '\0' + raw << Error::BadSignature;
    QTest::addRow("65 bytes, trailing zero") << raw + '\0' << Error::BadSignature;
    QTest::addRow("r = 0") << QByteArray(32, '\0') + s << Error::BadSignature;
    QTest::addRow("s = 0") << r + QByteArray(32, '\0') << Error::BadSignature;
    QTest::addRow("r = n") << P256Order + s << Error::BadSignature;
    QTest::addRow("s = n") << r + P256Order << Error::BadSignature;
    QTest::addRow("r = 2^256 - 1") << QByteArray(32, '\xff') + s << Error::BadSignature;
    QTest::addRow("s = 2^256 - 1") << r + QByteArray(32, '\xff') << Error::BadSignature;
    QTest::addRow("all zero") << QByteArray(64, '\0') << Error::BadSignature;
}

void tst_Jose::es256SignatureEncoding()
{
    QFETCH(QByteArray, signature);
    QFETCH(Error, error);

    const QByteArray token = signCompact(m_es, "payload");
    QCOMPARE(verifyCompact(withSegment(token, 2, b64(signature)), keySet("es")).error, error);
}

// ES256 verification keeps a context per thread for the keys it used last: with more keys
// in turn than it keeps, each made afresh (a freed key's address may come back), a token
// passes with its own key only, on this thread and on another.
void tst_Jose::es256KeysInTurn()
{
    Key third = Key::generate(Algorithm::ES256);
    third.setKeyId(QStringLiteral("es")); // as the other two: only the signature tells them apart
    const QList<Key> signers{m_es, m_esOther, third};
    QList<QByteArray> tokens;
    QList<Key> publicKeys;
    for (const Key &signer : signers) {
        tokens.append(signCompact(signer, "payload"));
        publicKeys.append(Key::fromJwk(signer.publicJwk()));
    }
    const auto checkAll = [&signers, &tokens, &publicKeys] {
        int wrong = 0;
        for (int round = 0; round < 4; ++round) {
            for (qsizetype k = 0; k < signers.size(); ++k) {
                for (qsizetype t = 0; t < tokens.size(); ++t) {
                    // The same key objects, then each one made afresh.
                    const QList<Key> keys{round < 2 ? publicKeys[k]
                                                    : Key::fromJwk(signers[k].publicJwk())};
                    const Error expected = k == t ? Error::None : Error::BadSignature;
                    wrong += verifyCompact(tokens[t], keys).error != expected;
                }
            }
        }
        return wrong;
    };
    QCOMPARE(checkAll(), 0);
    int wrongElsewhere = -1;
    std::unique_ptr<QThread> thread(
            QThread::create([&checkAll, &wrongElsewhere] { wrongElsewhere = checkAll(); }));
    thread->start();
    QVERIFY(thread->wait());
    QCOMPARE(wrongElsewhere, 0);
    // A flipped bit in a token just accepted with the same key.
    QCOMPARE(verifyCompact(tokens[0], keySet("es")).error, Error::None);
    QCOMPARE(verifyCompact(flipBit(tokens[0], 2, 10), keySet("es")).error, Error::BadSignature);
}

// Signing keeps a context per thread for the two keys it signed with last. Three keys under one
// kid, in an order that uses the first context, the second, and evicts one, on two threads at
// once: a signature made with another key's context fails under the right public key.
void tst_Jose::es256SignersInTurn()
{
    Key third = Key::generate(Algorithm::ES256);
    third.setKeyId(QStringLiteral("es"));
    const QList<Key> signers{m_es, m_esOther, third};
    QList<Key> publicKeys;
    for (const Key &signer : signers)
        publicKeys.append(Key::fromJwk(signer.publicJwk()));
    const int order[] = {0, 0, 1, 0, 1, 1, 2, 0, 2, 2, 1, 0, 2, 1};
    const auto signInTurn = [&signers, &publicKeys, &order](int salt) {
        int wrong = 0;
        for (int round = 0; round < 20; ++round) {
            for (const int k : order) {
                const QByteArray payload =
                        QByteArray::number(salt) + '.' + QByteArray::number(round);
                const QByteArray token = signCompact(signers[k], payload);
                for (qsizetype v = 0; v < publicKeys.size(); ++v) {
                    const Error expected = v == k ? Error::None : Error::BadSignature;
                    wrong += verifyCompact(token, {publicKeys[v]}).error != expected;
                }
            }
        }
        return wrong;
    };
    int wrongElsewhere = -1;
    std::unique_ptr<QThread> thread(
            QThread::create([&signInTurn, &wrongElsewhere] { wrongElsewhere = signInTurn(2); }));
    thread->start();
    const int wrongHere = signInTurn(1);
    QVERIFY(thread->wait());
    QCOMPARE(wrongHere, 0);
    QCOMPARE(wrongElsewhere, 0);
}

// A thread's signing context holds a reference to its private key. Released on the thread that
// signed, the last Key frees that thread's context at once; released on another thread, the
// signing thread frees it at its next signature. Either way the key does not stay in memory
// until the thread ends.
// A worker thread about to end frees its contexts and OpenSSL's state for it; what it signs
// after that still verifies (OpenSSL sets the thread up again).
void tst_Jose::releaseThreadStateDropsContexts()
{
    int heldBefore = -1;
    int heldAfter = -1;
    Error verified = Error::Malformed;
    const Key key = Key::generate(Algorithm::ES256);
    std::unique_ptr<QThread> thread(QThread::create([&] {
        signCompact(key, "payload");
        heldBefore = Private::es256SignContextsHeldForTesting();
        releaseThreadState();
        heldAfter = Private::es256SignContextsHeldForTesting();
        verified = verifyCompact(signCompact(key, "again"), {key}).error;
        releaseThreadState();
    }));
    thread->start();
    QVERIFY(thread->wait(10000));
    QCOMPARE(heldBefore, 1);
    QCOMPARE(heldAfter, 0);
    QCOMPARE(verified, Error::None);
}

void tst_Jose::es256SignContextLeavesWithKey()
{
    int heldWithBoth = -1;
    int heldAfterDroppedHere = -1;
    int heldBeforeDroppedElsewhere = -1;
    int heldAfterDroppedElsewhere = -1;
    Error verified = Error::Malformed;
    Key elsewhere = Key::generate(Algorithm::ES256);
    QSemaphore signedWithElsewhere;
    QSemaphore elsewhereDropped;
    std::unique_ptr<QThread> thread(QThread::create([&] {
        Key here = Key::generate(Algorithm::ES256);
        const Key kept = Key::generate(Algorithm::ES256);
        const Key keptPublic = Key::fromJwk(kept.publicJwk());
        signCompact(here, "payload");
        signCompact(kept, "payload");
        heldWithBoth = Private::es256SignContextsHeldForTesting();
        here = Key();
        heldAfterDroppedHere = Private::es256SignContextsHeldForTesting();
        signCompact(elsewhere, "payload");
        heldBeforeDroppedElsewhere = Private::es256SignContextsHeldForTesting();
        signedWithElsewhere.release();
        elsewhereDropped.acquire();
        const QByteArray token = signCompact(kept, "payload");
        heldAfterDroppedElsewhere = Private::es256SignContextsHeldForTesting();
        verified = verifyCompact(token, {keptPublic}).error;
    }));
    thread->start();
    signedWithElsewhere.acquire();
    elsewhere = Key(); // the last holder, on this thread
    elsewhereDropped.release();
    QVERIFY(thread->wait());
    QCOMPARE(heldWithBoth, 2);
    QCOMPARE(heldAfterDroppedHere, 1);
    QCOMPARE(heldBeforeDroppedElsewhere, 2);
    QCOMPARE(heldAfterDroppedElsewhere, 1);
    QCOMPARE(verified, Error::None);
}

// r||s to the DER that OpenSSL verifies: minimal INTEGERs, a 0x00 before a high bit.
void tst_Jose::es256DerEncoding_data()
{
    QTest::addColumn<QByteArray>("raw");
    QTest::addColumn<QByteArray>("der");

    const QByteArray nMinus1 =
            QByteArray::fromHex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550");
    QTest::addRow("r = 1, s = n - 1") << QByteArray(31, '\0') + '\x01' + nMinus1
                                      << QByteArray::fromHex("3026"
                                                             "020101"
                                                             "022100")
                    + nMinus1;
    QTest::addRow("leading zeros, then a high bit; no high bit") << QByteArray::fromHex("000080")
                    + QByteArray(29, '\x11') + '\x7f' + QByteArray(31, '\x22')
                                                                 << QByteArray::fromHex("3043"
                                                                                        "021f0080")
                    + QByteArray(29, '\x11') + QByteArray::fromHex("02207f")
                    + QByteArray(31, '\x22');
    QTest::addRow("zero; one leading zero") << QByteArray(32, '\0') + '\0' + QByteArray(31, '\x7f')
                                            << QByteArray::fromHex("3024"
                                                                   "020100"
                                                                   "021f")
                    + QByteArray(31, '\x7f');
    QTest::addRow("63 bytes") << QByteArray(63, '\x01') << QByteArray();
    QTest::addRow("65 bytes") << QByteArray(65, '\x01') << QByteArray();
}

void tst_Jose::es256DerEncoding()
{
    QFETCH(QByteArray, raw);
    QFETCH(QByteArray, der);
    QCOMPARE(Private::rawToDer(raw).toHex(), der.toHex());
}

void tst_Jose::sizeLimit()
{
    const QByteArray token = signCompact(m_es, QByteArray(2000, 'p'));
    QCOMPARE(verifyCompact(token, keySet("es"), token.size()).error, Error::None);
    QCOMPARE(verifyCompact(token, keySet("es"), token.size() - 1).error, Error::TooLarge);

    // The default limit: a validly signed token of DefaultMaxTokenSize + 1 bytes and more.
    QCOMPARE(DefaultMaxTokenSize, 16 * 1024);
    const QByteArray large = signCompact(m_es, QByteArray(DefaultMaxTokenSize, 'p'));
    QVERIFY(large.size() > DefaultMaxTokenSize + 1);
    QCOMPARE(verifyCompact(large, keySet("es")).error, Error::TooLarge);
    QCOMPARE(verifyCompact(large, keySet("es"), large.size()).error, Error::None);

    // Exactly at the limit: checked on size before anything is decoded.
    QCOMPARE(verifyCompact(QByteArray(DefaultMaxTokenSize, 'A'), keySet("es")).error,
             Error::Malformed);
    QCOMPARE(verifyCompact(QByteArray(DefaultMaxTokenSize + 1, 'A'), keySet("es")).error,
             Error::TooLarge);
    const QByteArray none = Rfc7515A5Jws + QByteArray(DefaultMaxTokenSize, 'A');
    QCOMPARE(verifyCompact(none, keySet("es")).error, Error::TooLarge);
    ClaimRequirements requirements;
    QCOMPARE(verifyJwt(QByteArray(DefaultMaxTokenSize + 1, '.'), keySet("es"), requirements).error,
             Error::TooLarge);
}

void tst_Jose::payloadParsedOnlyAfterSignature()
{
    // A payload that is not JSON at all: with a bad signature it is BadSignature, not
    // Malformed, so the payload was never looked at.
    const QByteArray token = signCompact(m_es, "{not json");
    ClaimRequirements requirements;
    requirements.now = Now;
    QCOMPARE(verifyJwt(token, keySet("es"), requirements).error, Error::Malformed);
    QCOMPARE(verifyJwt(flipBit(token, 2, 10), keySet("es"), requirements).error,
             Error::BadSignature);
    QCOMPARE(verifyJwt(signCompact(m_esOther, "{not json"), keySet("es"), requirements).error,
             Error::BadSignature);
}

// --- claims --------------------------------------------------------------------------------

void tst_Jose::claims_data()
{
    QTest::addColumn<QJsonObject>("header");
    QTest::addColumn<QJsonObject>("claims");
    QTest::addColumn<QString>("issuer");
    QTest::addColumn<QString>("audience");
    QTest::addColumn<QString>("type");
    QTest::addColumn<int>("leeway");
    QTest::addColumn<bool>("requireExpiry");
    QTest::addColumn<QStringList>("required");
    QTest::addColumn<Error>("error");

    const QJsonObject jwt{{"typ", "JWT"}};
    const auto exp = [](const QJsonValue &value) { return QJsonObject{{"exp", value}}; };
    const auto row = [&](const char *name, const QJsonObject &claims, Error error, int leeway = 30,
                         bool requireExpiry = true) {
        QTest::addRow("%s", name) << jwt << claims << QString() << QString() << QString() << leeway
                                  << requireExpiry << QStringList() << error;
    };

    // exp: expired when exp <= now - leeway.
    row("exp in the future", exp(Now + 1), Error::None);
    row("exp = now, leeway 0", exp(Now), Error::Expired, 0);
    row("exp = now + 1, leeway 0", exp(Now + 1), Error::None, 0);
    row("exp = now - leeway + 1", exp(Now - 29), Error::None);
    row("exp = now - leeway", exp(Now - 30), Error::Expired);
    row("exp = now - 0.5, leeway 0", exp(Now - 0.5), Error::Expired, 0);
    row("exp = now + 0.5, leeway 0", exp(Now + 0.5), Error::None, 0);
    row("exp far past", exp(0), Error::Expired);
    row("exp negative", exp(-1), Error::Expired);
    row("exp huge", exp(1e300), Error::None);
    row("exp huge negative", exp(-1e300), Error::Expired);
    row("exp beyond qint64", exp(1.8446744073709552e19), Error::None);
    row("exp beyond qint64, leeway max", exp(1.8446744073709552e19), Error::None,
        std::numeric_limits<int>::max());
    row("exp infinite", exp(std::numeric_limits<double>::infinity()), Error::MissingClaim);
    row("exp NaN", exp(std::numeric_limits<double>::quiet_NaN()), Error::MissingClaim);
    row("exp string", exp(QString::number(Now + 60)), Error::MissingClaim);
    row("exp null", exp(QJsonValue::Null), Error::MissingClaim);
    row("exp bool", exp(true), Error::MissingClaim);
    row("exp array", exp(QJsonArray{Now + 60}), Error::MissingClaim);
    row("exp missing", {}, Error::MissingClaim);
    row("exp missing, not required", {}, Error::None, 30, false);
    row("exp string, not required", exp("soon"), Error::MissingClaim, 30, false);

    // nbf: not yet valid when nbf > now + leeway.
    const auto withExp = [](QJsonObject claims) {
        claims.insert("exp", Now + 600);
        return claims;
    };
    row("nbf = now + leeway", withExp({{"nbf", Now + 30}}), Error::None);
    row("nbf = now + leeway + 1", withExp({{"nbf", Now + 31}}), Error::NotYetValid);
    row("nbf = now + leeway + 0.5", withExp({{"nbf", Now + 30.5}}), Error::NotYetValid);
    row("nbf = now + 1, leeway 0", withExp({{"nbf", Now + 1}}), Error::NotYetValid, 0);
    row("nbf in the past", withExp({{"nbf", Now - 1000}}), Error::None);
    row("nbf huge", withExp({{"nbf", 1e300}}), Error::NotYetValid);
    row("nbf string", withExp({{"nbf", "now"}}), Error::MissingClaim);
    row("nbf infinite", withExp({{"nbf", -std::numeric_limits<double>::infinity()}}),
        Error::MissingClaim);

    // iat: issued in the future when iat > now + leeway.
    row("iat = now + leeway", withExp({{"iat", Now + 30}}), Error::None);
    row("iat = now + leeway + 1", withExp({{"iat", Now + 31}}), Error::IssuedInFuture);
    row("iat = now + 1, leeway 0", withExp({{"iat", Now + 1}}), Error::IssuedInFuture, 0);
    row("iat in the past", withExp({{"iat", Now - 100}}), Error::None);
    row("iat huge", withExp({{"iat", 1e300}}), Error::IssuedInFuture);
    row("iat string", withExp({{"iat", "earlier"}}), Error::MissingClaim);
    row("iat null", withExp({{"iat", QJsonValue::Null}}), Error::MissingClaim);

    // iss, aud, typ, required claims.
    const QJsonObject base = withExp(
            {{"iss", "https://issuer.test"}, {"aud", "api"}, {"sub", "alice"}, {"jti", "j1"}});
    const auto with = [](QJsonObject claims, const char *name, const QJsonValue &value) {
        claims.insert(QLatin1String(name), value);
        return claims;
    };
    const auto without = [](QJsonObject claims, const char *name) {
        claims.remove(QLatin1String(name));
        return claims;
    };
    const auto full = [&](const char *name, const QJsonObject &header, const QJsonObject &claims,
                          Error error, const QStringList &required = {"sub", "jti"}) {
        QTest::addRow("%s", name) << header << claims << "https://issuer.test"
                                  << "api"
                                  << "at+jwt" << 30 << true << required << error;
    };
    const QJsonObject at{{"typ", "at+jwt"}};
    full("all requirements met", at, base, Error::None);
    full("iss wrong", at, with(base, "iss", "https://evil.test"), Error::WrongIssuer);
    full("iss differs in case", at, with(base, "iss", "https://ISSUER.test"), Error::WrongIssuer);
    full("iss with trailing slash", at, with(base, "iss", "https://issuer.test/"),
         Error::WrongIssuer);
    full("iss missing", at, without(base, "iss"), Error::MissingClaim);
    full("iss number", at, with(base, "iss", 1), Error::MissingClaim);
    full("iss array", at, with(base, "iss", QJsonArray{"https://issuer.test"}),
         Error::MissingClaim);
    full("aud wrong", at, with(base, "aud", "other"), Error::WrongAudience);
    full("aud array containing", at, with(base, "aud", QJsonArray{"other", "api"}), Error::None);
    full("aud array not containing", at, with(base, "aud", QJsonArray{"other", "API"}),
         Error::WrongAudience);
    full("aud empty array", at, with(base, "aud", QJsonArray()), Error::WrongAudience);
    full("aud array with a number", at, with(base, "aud", QJsonArray{"api", 1}),
         Error::MissingClaim);
    full("aud missing", at, without(base, "aud"), Error::MissingClaim);
    full("aud object", at, with(base, "aud", QJsonObject{{"api", true}}), Error::MissingClaim);
    full("aud number", at, with(base, "aud", 1), Error::MissingClaim);
    full("typ upper case", QJsonObject{{"typ", "AT+JWT"}}, base, Error::None);
    full("typ with application/ prefix", QJsonObject{{"typ", "application/at+jwt"}}, base,
         Error::None);
    full("typ mixed case with prefix", QJsonObject{{"typ", "Application/At+Jwt"}}, base,
         Error::None);
    full("typ JWT", jwt, base, Error::WrongType);
    full("typ missing", QJsonObject(), base, Error::WrongType);
    full("typ number", QJsonObject{{"typ", 1}}, base, Error::WrongType);
    full("typ other media type", QJsonObject{{"typ", "text/at+jwt"}}, base, Error::WrongType);
    full("jti missing", at, without(base, "jti"), Error::MissingClaim);
    full("sub null", at, with(base, "sub", QJsonValue::Null), Error::MissingClaim);
    full("custom claim present", at, with(base, "sid", "f1"), Error::None, {"sid"});
    full("custom claim missing", at, base, Error::MissingClaim, {"sid"});

    // Nothing is required when the requirements are empty.
    QTest::addRow("no requirements, unrelated claims")
            << QJsonObject() << withExp({{"iss", 1}, {"aud", QJsonObject()}}) << QString()
            << QString() << QString() << 30 << true << QStringList() << Error::None;
}

void tst_Jose::claims()
{
    QFETCH(QJsonObject, header);
    QFETCH(QJsonObject, claims);
    QFETCH(QString, issuer);
    QFETCH(QString, audience);
    QFETCH(QString, type);
    QFETCH(int, leeway);
    QFETCH(bool, requireExpiry);
    QFETCH(QStringList, required);
    QFETCH(Error, error);

    ClaimRequirements requirements;
    requirements.issuer = issuer;
    requirements.audience = audience;
    requirements.type = type;
    requirements.leeway = std::chrono::seconds(leeway);
    requirements.now = Now;
    requirements.requireExpiry = requireExpiry;
    requirements.requiredClaims = required;
    QCOMPARE(checkClaims(header, claims, requirements), error);
}

void tst_Jose::claimsDefaultClock()
{
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    ClaimRequirements requirements; // now unset: the current time
    QCOMPARE(checkClaims({}, {{"exp", now + 3600}}, requirements), Error::None);
    QCOMPARE(checkClaims({}, {{"exp", now - 3600}}, requirements), Error::Expired);
    QCOMPARE(checkClaims({}, {{"exp", now + 3600}, {"nbf", now + 600}}, requirements),
             Error::NotYetValid);
    QCOMPARE(requirements.leeway, std::chrono::seconds(30));
    QCOMPARE(checkClaims({}, {{"exp", now - 10}}, requirements), Error::None); // within leeway
}

void tst_Jose::verifyJwtPayloads_data()
{
    QTest::addColumn<QByteArray>("payload");
    QTest::addColumn<Error>("error");

    QTest::addRow("object") << json({{"exp", Now + 60}, {"iss", "i"}}) << Error::None;
    QTest::addRow("array") << QByteArray("[{\"exp\":1}]") << Error::Malformed;
    QTest::addRow("string") << QByteArray("\"claims\"") << Error::Malformed;
    QTest::addRow("number") << QByteArray("42") << Error::Malformed;
    QTest::addRow("null") << QByteArray("null") << Error::Malformed;
    QTest::addRow("empty") << QByteArray() << Error::Malformed;
    QTest::addRow("truncated") << QByteArray("{\"exp\":1") << Error::Malformed;
    QTest::addRow("trailing garbage") << json({{"exp", Now + 60}}) + "x" << Error::Malformed;
    QTest::addRow("invalid UTF-8")
            << QByteArray("{\"exp\":1700000060,\"s\":\"\xff\"}") << Error::Malformed;
    QTest::addRow("exp too large for a double")
            << QByteArray("{\"exp\":1e400}") << Error::Malformed;
    QTest::addRow("exp beyond 2^64")
            << QByteArray("{\"exp\":123456789012345678901234567890}") << Error::None;
    QTest::addRow("exp fractional") << QByteArray("{\"exp\":1700000060.75}") << Error::None;
    QTest::addRow("exp string") << QByteArray("{\"exp\":\"1700000060\"}") << Error::MissingClaim;
    QTest::addRow("expired") << json({{"exp", Now - 60}}) << Error::Expired;
    QTest::addRow("deeply nested array payload")
            << QByteArray(5000, '[') + QByteArray(5000, ']') << Error::Malformed;
    QTest::addRow("deeply nested claim")
            << "{\"exp\":1700000060,\"x\":" + QByteArray(5000, '[') + QByteArray(5000, ']') + "}"
            << Error::Malformed;
    QTest::addRow("moderately nested claim")
            << "{\"exp\":1700000060,\"x\":" + QByteArray(60, '[') + QByteArray(60, ']') + "}"
            << Error::None;
    QTest::addRow("claim nested one past the depth limit") << "{\"exp\":1700000060,\"x\":"
                    + QByteArray(DefaultMaxJsonDepth, '[') + QByteArray(DefaultMaxJsonDepth, ']')
                    + "}" << Error::Malformed;
    // RFC 7519 section 4: refused rather than read as the last one, which would make an
    // expired token valid or change its subject for whichever parser reads it next.
    QTest::addRow("duplicate exp, expired first")
            << QByteArray("{\"exp\":1,\"exp\":1700000060}") << Error::Malformed;
    QTest::addRow("duplicate exp, expired last")
            << QByteArray("{\"exp\":1700000060,\"exp\":1}") << Error::Malformed;
    QTest::addRow("duplicate sub")
            << QByteArray(R"({"exp":1700000060,"sub":"alice","sub":"admin"})") << Error::Malformed;
    QTest::addRow("duplicate sub, escaped name")
            << QByteArray(R"({"exp":1700000060,"sub":"alice","s\u0075b":"admin"})")
            << Error::Malformed;
    QTest::addRow("duplicate in a nested claim")
            << QByteArray(R"({"exp":1700000060,"cnf":{"jkt":"a","jkt":"b"}})") << Error::Malformed;
    QTest::addRow("raw NUL in a claim") << QByteArray(R"({"exp":1700000060,"sub":"alice)") + '\0'
                    + "admin\"}" << Error::Malformed;
    QTest::addRow("raw line feed in a claim")
            << QByteArray("{\"exp\":1700000060,\"sub\":\"alice\nadmin\"}") << Error::Malformed;
    QTest::addRow("escaped NUL in a claim")
            << QByteArray(R"({"exp":1700000060,"sub":"alice\u0000admin"})") << Error::None;
}

void tst_Jose::verifyJwtPayloads()
{
    QFETCH(QByteArray, payload);
    QFETCH(Error, error);

    const QByteArray token = signCompact(m_ed, payload, {{"typ", "JWT"}});
    QVERIFY(token.size() < DefaultMaxTokenSize);
    QCOMPARE(verifyCompact(token, keySet("ed")).error, Error::None); // signature is fine
    ClaimRequirements requirements;
    requirements.now = Now;
    requirements.type = "JWT";
    const VerifyResult result = verifyJwt(token, keySet("ed"), requirements);
    QCOMPARE(result.error, error);
    if (error != Error::None) {
        // Not even the claims of a correctly signed but rejected token are handed out.
        QVERIFY(result.claims.isEmpty());
        QVERIFY(result.header.isEmpty());
        QVERIFY(result.payload.isEmpty());
    } else {
        QCOMPARE(result.payload, payload);
        QCOMPARE(result.claims, QJsonDocument::fromJson(payload).object());
        QCOMPARE(result.header.value("kid").toString(), "ed");
    }
}

// --- strict JSON -------------------------------------------------------------------------

void tst_Jose::strictJson_data()
{
    Tessera::Test::addStrictJsonRows();
}

void tst_Jose::strictJson()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, problem);

    QString reported = QStringLiteral("untouched");
    const std::optional<QJsonObject> object = parseJsonObject(json, &reported);
    if (problem.isEmpty()) {
        QVERIFY2(object.has_value(), qPrintable(reported));
        QCOMPARE(reported, QStringLiteral("untouched"));
        // Where both accept, both read the same object.
        QJsonParseError error;
        const QJsonDocument qt = QJsonDocument::fromJson(json, &error);
        QCOMPARE(error.error, QJsonParseError::NoError);
        QCOMPARE(*object, qt.object());
        return;
    }
    QVERIFY2(!object.has_value(), "accepted");
    QVERIFY2(reported.contains(problem), qPrintable(reported));
    QVERIFY2(reported.contains(QStringLiteral(" at byte ")), qPrintable(reported));
    // The verifier refuses a validly signed token with this header or these claims (when the
    // token stays under the size limit, which would refuse it first).
    if (json.size() > DefaultMaxTokenSize / 2)
        return;
    QCOMPARE(verifyCompact(forge(m_es, json, "{}"), keySet("es")).error, Error::Malformed);
    ClaimRequirements requirements;
    requirements.now = Now;
    requirements.requireExpiry = false;
    QCOMPARE(verifyJwt(signCompact(m_es, json), keySet("es"), requirements).error,
             Error::Malformed);
}

// --- primitives ----------------------------------------------------------------------------

void tst_Jose::primitives()
{
    // FIPS 180-2 appendix B.1.
    QCOMPARE(sha256("abc").toHex(),
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    QCOMPARE(sha256({}).toHex(),
             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    QCOMPARE(randomBytes(0).size(), 0);
    QCOMPARE(randomBytes(1).size(), 1);
    const QByteArray a = randomBytes(32);
    const QByteArray b = randomBytes(32);
    QCOMPARE(a.size(), 32);
    QVERIFY(a != b);
    QVERIFY(a != QByteArray(32, '\0'));
}

void tst_Jose::constantTimeCompare_data()
{
    QTest::addColumn<QByteArray>("a");
    QTest::addColumn<QByteArray>("b");
    QTest::addColumn<bool>("equal");

    QTest::addRow("equal") << QByteArray("secret-mac") << QByteArray("secret-mac") << true;
    QTest::addRow("empty") << QByteArray() << QByteArray("") << true;
    QTest::addRow("last byte differs")
            << QByteArray("secret-mac") << QByteArray("secret-mad") << false;
    QTest::addRow("first byte differs")
            << QByteArray("secret-mac") << QByteArray("Secret-mac") << false;
    QTest::addRow("prefix") << QByteArray("secret-mac") << QByteArray("secret") << false;
    QTest::addRow("empty vs non-empty") << QByteArray() << QByteArray("x") << false;
    QTest::addRow("embedded NUL") << QByteArray("a\0b", 3) << QByteArray("a\0c", 3) << false;
}

void tst_Jose::constantTimeCompare()
{
    QFETCH(QByteArray, a);
    QFETCH(QByteArray, b);
    QFETCH(bool, equal);
    QCOMPARE(constantTimeEquals(a, b), equal);
    QCOMPARE(constantTimeEquals(b, a), equal);
}

void tst_Jose::errorStrings()
{
    const QMetaEnum errors = QMetaEnum::fromType<Error>();
    QSet<QString> seen;
    for (int i = 0; i < errors.keyCount(); ++i) {
        const QString text = errorString(Error(errors.value(i)));
        QVERIFY2(!text.isEmpty(), errors.key(i));
        seen.insert(text);
    }
    QCOMPARE(seen.size(), errors.keyCount());
}

void tst_Jose::loggingNeverShowsTokens()
{
    QLoggingCategory::setFilterRules(QStringLiteral("tessera.jose.debug=true"));
    messages.clear();
    const QtMessageHandler previous = qInstallMessageHandler(captureMessage);

    const QByteArray token = signCompact(m_es, json({{"sub", "alice-secret-subject"}}));
    const QByteArray forged = forge(Key::fromSecret(Secret(m_es.publicKeyPem())),
                                    json({{"alg", "HS256"}, {"kid", "es"}}), "{}");
    verifyCompact(flipBit(token, 2, 3), keySet("es"));
    verifyCompact(forged, keySet("es"));
    verifyCompact(assemble(json({{"alg", "none-sentinel-alg"}}), "{}", {}), keySet("es"));
    ClaimRequirements requirements;
    requirements.now = Now;
    verifyJwt(token, keySet("es"), requirements); // no exp
    Key::fromJwk(ecJwk(Rfc7515A3X, Rfc7515A3X, Rfc7515A3D));
    Key::fromSecret(Secret("short-secret-sentinel"));

    qInstallMessageHandler(previous);
    QLoggingCategory::setFilterRules(QString());

    QVERIFY(messages.size() >= 5); // the events are logged...
    const QString all = messages.join('\n');
    // ...but no token, segment, claim, header value or key material.
    for (const QByteArray &part : token.split('.') + forged.split('.'))
        QVERIFY2(!all.contains(QString::fromLatin1(part)), qPrintable(all));
    for (const char *secret : {"alice-secret-subject", "none-sentinel-alg", "short-secret-sentinel",
                               Rfc7515A3D, Rfc7515A3X})
        QVERIFY2(!all.contains(QLatin1String(secret)), qPrintable(all));
}

QTEST_GUILESS_MAIN(tst_Jose)
#include "tst_jose.moc"
