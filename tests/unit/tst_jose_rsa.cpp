// SPDX-License-Identifier: MIT
// Unit tests of RS256 and PS256 verification in Tessera::Jose: the RFC 7515 A.2 vector, PS256
// fixtures signed with the same published key, RSA JWK import with hostile keys, and the
// algorithm-confusion rows. PyJWT cross-checks live in tests/interop/pyjwt.
#include <tessera/jose.h>

#include "jose_p.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtTest/QTest>

using namespace Tessera::Jose;
using Tessera::Secret;

namespace {

// RFC 7515 appendix A.2: the RSA key (public members) and the complete RS256 JWS over the
// payload of A.1-A.5. The private exponent is published there too; make_rsa_fixtures.py uses
// it to sign the PS256 fixtures below (PS256 has a random salt, so no fixed published vector).
const char A2N[] = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrc"
                   "S2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGz"
                   "jb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xs"
                   "mtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8"
                   "q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
const char A2E[] = "AQAB";
const QByteArray Payload(
        "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}");
const QByteArray A2Jws = "eyJhbGciOiJSUzI1NiJ9"
                         ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv"
                         "bS9pc19yb290Ijp0cnVlfQ"
                         ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4B"
                         "h-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZ"
                         "LgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_d"
                         "O--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6"
                         "LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

// RFC 7638 section 3.1: another 2048-bit RSA key and its thumbprint.
const char Rfc7638N[] = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFF"
                        "xuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt"
                        "7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6q"
                        "MQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHa"
                        "Q-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
const char Rfc7638Thumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

// Signatures made by make_rsa_fixtures.py with the A.2 private key over
// BASE64URL({"alg":"PS256"} or {"alg":"RS256"}) '.' BASE64URL(Payload): a correct PS256
// signature (MGF1-SHA-256, 32-byte salt), PSS signatures with other parameters, and
// signatures whose padding contradicts their header.
const char Ps256Signature[] =
        "gI0ZgzJGld4XkeOAoh3ZwYrX2iIbdM68aPsowLkuGi_vWmlxZZSjoZLeBY1wKj2go3LtxkuxbvlvYFFJZZS-"
        "qKr0LrJ-2Gl_yD9I3vsByycyNllCG4VOLJpN4jEiRpH4Clbx-VZqhv-Vx0n6Ot0stJYEv2P-et8meuf8tb9f"
        "HdHyQkhUE1vgwQtXHGWkwim8Re2OQHDM0xDWCNokGapXTafAI5iJnmARhJeGMYMI7efrrwtGkxdkB7DEwD7D"
        "hXPTLVFRKO3DuFzpOUNzDc7MQYjLVltH8zSGHehT1iEC4-LcCBEVD4Mj3So48SAdqdbDQynlMB48OnKRXHKt"
        "BZH77Q";
const char Ps256Salt0Signature[] =
        "cMDnon9-kWOmWl3ENxyEIYFFJYZTPzSZAh5spERaclkKwJmvwMMNUMCbdMAak1TUhOHX2HHV0ImU0QgH8_r8"
        "sZKD_Ym2fIs6dyawyPikuwkHN5FPlTLqEIx0GdKYUiIb7lezAXraCkMp8QFBKdBOWZFl1QBolOc9ZbPDcx7y"
        "GnGuXpJFdhvtmpxRQMMmti_YtxtYFtnynI8-tROWpUJY02C-wx_xmySr86Q9PYQ64BsNZLHrW9LErNqvSDE7"
        "hd77ic8oRps8O2a3Sm1YizLj2jAXBktyainlOJgO0dcJz1X84nHJp7ySpc34rbN2LqbE8o2nVA7ZARiWPphE"
        "IuqkYg";
const char Ps256SaltMaxSignature[] =
        "HLG0SVaB5hSFqLIYDcaBDloOrSfPtEH6dkeNswUjJ3RLSdUjnYbSdPhRizBjzNHnCggtCm27-fsK0nESxOOy"
        "2u6Huxx7fTiOsl4WYid-u7jn5EHSblRyA-ACe_XPj4NkBDOydNakq1ktlUhczfiTRcCM6V27PdL1gEvm5tTd"
        "Bt8y9JYeHXL09OqhGKoFDRlzhay8Nco2yxokRzH-mqY4-xRgDPzkYfC6UYxbnxpWKS7xDqsHOrY2eVfv062Y"
        "mymspBx63hVL90cl1AxTmMB0LaZgqf7-c_6odlv-BtSMnqPAVSiDxU2PyXZdaZvQSu8iWZJxKstBQWu8B2Yp"
        "SebtTQ";
const char Ps256Salt20Signature[] =
        "mYnoaUSmFyJfjHE3eEwvrYVhfq_4ls8Mb5UIuj1oUWt7SV4_jjFlvLnkj1AwzWhds7e7A-w47mh7VFO5xZ7N"
        "deB-9PHviJCNC_z6riaopXojknE1tUD4OV69RaCCnUwFHj5tZFCEN-KqCyVxYUvMjZc8xSFjGWXR3C1jImqF"
        "XvmmxuVKJC-iRUTYFmqloH6DoxUQSUCf6JtfDS4jFv-X8hPrMWYpH861MVWck3PJLRr5e8fpaCf9ZA4d0Dc8"
        "49-6tsKg5eb61Lo6SLGfZ980tPx-RDBkPgxGmnqUJFSuoafsJtEy7mkU1tIGCMgk3yPBUgPJGEQ8L8s7ByWw"
        "qf2lgg";
const char Ps256Mgf1Sha1Signature[] =
        "UMq7MT1dIVi5xaqs-Stov0DO_InNUcKcHOeZk2VF-6GstC4W3zcPzfx-UGCLfKjAgJwD5nsW5X1l2rKaHSev"
        "lscqDYEC5CP_ZroHbricesawnj8m_RUZOk5JafweIh9K4r0LaaDDq6R4FuOwbxSFHdFSh0NfIaPPtODFfRj4"
        "rI92n8oc0DOy2PF05uUlwK0Wwcr-e7xt7rFxB-FZ-4FCUIf96Il4ssDKnM9anMmkxUfZp33D6lw3Ytv1C_iR"
        "2oBkIThfRBkYhhodroDqVOK1_j2fqhwN_hnhUuxIq5PfrCCK1KMChh2xqhj0MTZVqBaiGbjlhp4mxhKKQ0YM"
        "4Utknw";
const char Rs256HeaderPssSignature[] =
        "HZF6v-TtdOKk4Ed--891PhMp7R6b94WEzfF_Zg-rwOuc5jKYnZVRuuN2Q074NL-l1a0_pIHhOaBE0P_R5J3Z"
        "9FBbBxNtARLVk9Ulxw1gh4fxOa9V9OPrDaZOaMIPq7lvjOYSSXbh8NrA-t6gskX57x1wgAsEFgldgiM9MTwy"
        "rGQ_je7h1PewwuqmK_PIWCWJc5gGzG_1NHkT-rpAbnG_3l76hS74oJgnmhDK-a0uatHq3vJ8nR2BCiTmQiDy"
        "WE1Ka9Q7fwCLmIEzT0bBwPUcZFvRCE2BMijledorrDpdj5kUdS_cGEBB30j2no9Oe0v0RFq3f5jBs1tIjR-G"
        "brBjDQ";
const char Ps256HeaderPkcs1Signature[] =
        "itKGLrPs5-Zuk263wcfSVUteIfkW5WvfC0otozbY3NGY3G_3Ts0MNeLz9Z7tF3B2WTYQmyQRLlMRdHypxSoq"
        "UCkYjG2xzlaNaA-HpvRkKPXCU7E9t4z57vtT1eipOPb4RJJSmo7NnsMQoIaBHZwhZoGa8JDKhvi5UtYnvsd7"
        "eTb-5JA3JnqXWcyJ-6v_wVUQ0b-FooYmeWhJSp3Qz-YrFUHPeDy-hUOujDTTgQgoQaWTYNSmi-wAvHs3DLrW"
        "uq-3MTWcQ9s8bpPMoLQ9mTQpSoRFSeI27jjHuFbwV_Txx7WIqR2YxRmSU-wiz0ym-QOIiKqL_HNUnVHUwXiB"
        "SRbv0g";
// A PS256 signature whose first octet is zero, with that octet left out (255 octets).
const char Ps256StrippedLeadingZeroSignature[] =
        "-_KflLR_YS1Olbei01rAO2e3hpWRCh0CLwM_gtXC95VwQ5wYS_PeTLm6HP1w1Ez2UpI7e4iR_wSwGOA1Av03"
        "gELcrA2hazadHRUZQ8dwc1ABXAtWoRDOzpdn1WjcIYrHbCmdujeb8yG2g6q3fmUp-RkH46noNneCmtrSjKKA"
        "02s30Ochgss2TxxIvOnb6-pR1a-TK6HbiTs4P-JzhPChrCbEIZYJgt9c5RqWqlJcht5PiEnlO8k-vte1y8re"
        "Jh9UMEX_h5dM2cC5JILmB1FqOE1KyOnsXIBFFc_A5FgfAUo4dwpljoJO6XcYCWwDidX51F63ZQ8xdhi5iBzS"
        "7MxY";
const char Rsa1024N[] =
        "zznF-IDjGGbmljK8Mb1WgYxRwAS_25N0UWHcZRQ9e5QtOKEr7NDbRmd6qbruHSN80F9ovGM_AU_T4g-I2yJ2"
        "uVr4OOBhKEsFQR-mIfvznLspYjeAMe0TdCaIrEp6u25wlNydpQTUbhVwxjFqeakNxktfpMHaGM5sGLn79Y4u"
        "hME";
const char RsaNDivisibleBy3[] =
        "gAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAQ";

const QByteArray Ps256Header("{\"alg\":\"PS256\"}");
const QByteArray Rs256Header("{\"alg\":\"RS256\"}");

QByteArray b64(QByteArrayView data)
{
    return base64UrlEncode(data);
}

QByteArray unb64(QByteArrayView text)
{
    return base64UrlDecode(text).value_or(QByteArray("<invalid>"));
}

QByteArray token(const QByteArray &header, const char *signature)
{
    return b64(header) + '.' + b64(Payload) + '.' + QByteArray(signature);
}

QByteArray json(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

QByteArray withSignature(const QByteArray &compact, const QByteArray &signature)
{
    return compact.left(compact.lastIndexOf('.') + 1) + b64(signature);
}

// Flip one bit of the decoded segment `index` and re-encode it.
QByteArray flipBit(const QByteArray &compact, int index, int byte)
{
    QList<QByteArray> parts = compact.split('.');
    QByteArray decoded = unb64(parts[index]);
    decoded[byte] = char(decoded[byte] ^ 0x01);
    parts[index] = b64(decoded);
    return parts.join('.');
}

QJsonObject a2Jwk()
{
    return QJsonObject{{"kty", "RSA"}, {"n", A2N}, {"e", A2E}};
}

QJsonObject with(QJsonObject jwk, const char *member, const QJsonValue &value)
{
    jwk.insert(QLatin1String(member), value);
    return jwk;
}

QJsonObject without(QJsonObject jwk, const char *member)
{
    jwk.remove(QLatin1String(member));
    return jwk;
}

QString b64String(QByteArrayView data)
{
    return QString::fromLatin1(b64(data));
}

Key a2Key(Algorithm algorithm)
{
    return Key::fromJwk(a2Jwk(), algorithm);
}

} // namespace

class tst_JoseRsa : public QObject
{
    Q_OBJECT

private slots:
    void algorithmNames();
    void rfc7515A2Rs256_data();
    void rfc7515A2Rs256();
    void ps256Fixtures_data();
    void ps256Fixtures();
    void rsaJwkImport_data();
    void rsaJwkImport();
    void rsaJwkAlgorithmPolicy();
    void rsaKeyProperties();
    void rsaPemImport();
    void algorithmConfusion_data();
    void algorithmConfusion();
    void keySelection();
};

void tst_JoseRsa::algorithmNames()
{
    QCOMPARE(algorithmFromName(u"RS256"), Algorithm::RS256);
    QCOMPARE(algorithmFromName(u"PS256"), Algorithm::PS256);
    QCOMPARE(algorithmName(Algorithm::RS256), "RS256");
    QCOMPARE(algorithmName(Algorithm::PS256), "PS256");
    for (const char16_t *other :
         {u"rs256", u"ps256", u"RS384", u"RS512", u"PS384", u"PS512", u"RSA-OAEP", u"RS256 "})
        QVERIFY2(!algorithmFromName(QStringView(other)), qPrintable(QStringView(other).toString()));
    QVERIFY(!canSign(Algorithm::RS256));
    QVERIFY(!canSign(Algorithm::PS256));
    QVERIFY(canSign(Algorithm::ES256));
    QVERIFY(canSign(Algorithm::EdDSA));
    QVERIFY(canSign(Algorithm::HS256));
}

void tst_JoseRsa::rfc7515A2Rs256_data()
{
    QTest::addColumn<QByteArray>("token");
    QTest::addColumn<Error>("error");

    const QByteArray signature = unb64(A2Jws.split('.').at(2));
    QCOMPARE(signature.size(), 256);
    QTest::addRow("as published") << A2Jws << Error::None;
    QTest::addRow("signature: first bit flipped") << flipBit(A2Jws, 2, 0) << Error::BadSignature;
    QTest::addRow("signature: last bit flipped") << flipBit(A2Jws, 2, 255) << Error::BadSignature;
    QTest::addRow("payload bit flipped") << flipBit(A2Jws, 1, 10) << Error::BadSignature;
    QTest::addRow("header re-encoded with a space")
            << b64("{\"alg\": \"RS256\"}") + A2Jws.mid(A2Jws.indexOf('.')) << Error::BadSignature;
    QTest::addRow("signature one octet short")
            << withSignature(A2Jws, signature.left(255)) << Error::BadSignature;
    QTest::addRow("signature with a leading zero octet")
            << withSignature(A2Jws, '\0' + signature) << Error::BadSignature;
    QTest::addRow("signature empty") << withSignature(A2Jws, QByteArray()) << Error::BadSignature;
    QTest::addRow("signature all zero")
            << withSignature(A2Jws, QByteArray(256, '\0')) << Error::BadSignature;
}

void tst_JoseRsa::rfc7515A2Rs256()
{
    QFETCH(QByteArray, token);
    QFETCH(Error, error);

    const Key key = Key::fromJwk(a2Jwk());
    QVERIFY(!key.isNull());
    QCOMPARE(key.algorithm(), Algorithm::RS256);
    const VerifyResult result = verifyCompact(token, {key});
    QCOMPARE(result.error, error);
    if (error != Error::None)
        return;
    QCOMPARE(result.payload, Payload);

    // As a JWT: valid until its exp (1300819380), expired after.
    ClaimRequirements requirements;
    requirements.issuer = "joe";
    requirements.leeway = std::chrono::seconds(0);
    requirements.now = 1300819379;
    QCOMPARE(verifyJwt(token, {key}, requirements).error, Error::None);
    requirements.now = 1300819380;
    QCOMPARE(verifyJwt(token, {key}, requirements).error, Error::Expired);
}

void tst_JoseRsa::ps256Fixtures_data()
{
    QTest::addColumn<QByteArray>("token");
    QTest::addColumn<Algorithm>("keyAlgorithm");
    QTest::addColumn<Error>("error");

    const QByteArray ps256 = token(Ps256Header, Ps256Signature);
    QTest::addRow("PS256, salt 32") << ps256 << Algorithm::PS256 << Error::None;
    QTest::addRow("PS256, signature bit flipped")
            << flipBit(ps256, 2, 100) << Algorithm::PS256 << Error::BadSignature;
    QTest::addRow("PS256, payload bit flipped")
            << flipBit(ps256, 1, 3) << Algorithm::PS256 << Error::BadSignature;
    // RFC 7518 section 3.5: the salt is as long as the hash output, exactly.
    QTest::addRow("PS256 header, salt 0")
            << token(Ps256Header, Ps256Salt0Signature) << Algorithm::PS256 << Error::BadSignature;
    QTest::addRow("PS256 header, salt 20")
            << token(Ps256Header, Ps256Salt20Signature) << Algorithm::PS256 << Error::BadSignature;
    QTest::addRow("PS256 header, maximum salt")
            << token(Ps256Header, Ps256SaltMaxSignature) << Algorithm::PS256 << Error::BadSignature;
    QTest::addRow("PS256 header, MGF1 with SHA-1") << token(Ps256Header, Ps256Mgf1Sha1Signature)
                                                   << Algorithm::PS256 << Error::BadSignature;
    // RFC 8017 section 8.1.2 step 1: exactly k octets. OpenSSL's PSS path alone would take the
    // shorter integer.
    const QByteArray stripped = token(Ps256Header, Ps256StrippedLeadingZeroSignature);
    QTest::addRow("PS256, leading zero octet restored")
            << withSignature(stripped, '\0' + unb64(stripped.split('.').at(2))) << Algorithm::PS256
            << Error::None;
    QTest::addRow("PS256, leading zero octet left out")
            << stripped << Algorithm::PS256 << Error::BadSignature;
    // The header's alg agrees with the key, the padding does not.
    QTest::addRow("RS256 header, PSS signature") << token(Rs256Header, Rs256HeaderPssSignature)
                                                 << Algorithm::RS256 << Error::BadSignature;
    QTest::addRow("PS256 header, PKCS#1 v1.5 signature")
            << token(Ps256Header, Ps256HeaderPkcs1Signature) << Algorithm::PS256
            << Error::BadSignature;
    // A PS256 token for an RS256 key and the other way round: refused before any RSA operation.
    QTest::addRow("PS256 token, RS256 key")
            << ps256 << Algorithm::RS256 << Error::AlgorithmMismatch;
    QTest::addRow("RS256 token (A.2), PS256 key")
            << A2Jws << Algorithm::PS256 << Error::AlgorithmMismatch;
}

void tst_JoseRsa::ps256Fixtures()
{
    QFETCH(QByteArray, token);
    QFETCH(Algorithm, keyAlgorithm);
    QFETCH(Error, error);

    const Key key = a2Key(keyAlgorithm);
    QVERIFY(!key.isNull());
    QCOMPARE(key.algorithm(), keyAlgorithm);
    const VerifyResult result = verifyCompact(token, {key});
    QCOMPARE(result.error, error);
    if (error == Error::None)
        QCOMPARE(result.payload, Payload);
    else
        QVERIFY(result.payload.isEmpty() && result.header.isEmpty());
}

void tst_JoseRsa::rsaJwkImport_data()
{
    QTest::addColumn<QJsonObject>("jwk");
    QTest::addColumn<QString>("problem"); // empty: accepted

    const QJsonObject jwk = a2Jwk();
    const QByteArray n = unb64(A2N);
    QByteArray evenN = n;
    evenN[255] = char(evenN[255] & 0xFE);
    QByteArray shortN = n;
    shortN[0] = '\x7F';                                                        // 2047 bits
    const QByteArray hugeN = QByteArray(1, '\x01') + QByteArray(1024, '\xFF'); // 8193 bits
    const QByteArray maxN = QByteArray(1024, '\xFF');                          // 8192 bits

    QTest::addRow("A.2 public key") << jwk << QString();
    QTest::addRow("RFC 7638 key") << QJsonObject{{"kty", "RSA"}, {"n", Rfc7638N}, {"e", "AQAB"}}
                                  << QString();
    QTest::addRow("alg RS256, use sig, kid")
            << with(with(with(jwk, "alg", "RS256"), "use", "sig"), "kid", "k1") << QString();
    QTest::addRow("alg PS256") << with(jwk, "alg", "PS256") << QString();
    QTest::addRow("e = 3") << with(jwk, "e", "Aw") << QString();
    QTest::addRow("e = 2^256 - 1")
            << with(jwk, "e", b64String(QByteArray(32, '\xFF'))) << QString();

    QTest::addRow("alg RS384") << with(jwk, "alg", "RS384") << "\"alg\"";
    QTest::addRow("alg RSA-OAEP") << with(jwk, "alg", "RSA-OAEP") << "\"alg\"";
    QTest::addRow("alg HS256") << with(jwk, "alg", "HS256") << "\"alg\"";
    QTest::addRow("alg ES256") << with(jwk, "alg", "ES256") << "\"alg\"";
    QTest::addRow("alg number") << with(jwk, "alg", 256) << "\"alg\"";
    QTest::addRow("use enc") << with(jwk, "use", "enc") << "\"use\"";
    QTest::addRow("kid number") << with(jwk, "kid", 1) << "\"kid\"";
    QTest::addRow("kty rsa") << with(jwk, "kty", "rsa") << "\"kty\"";

    QTest::addRow("1024-bit modulus") << with(jwk, "n", Rsa1024N) << "1024 bits";
    QTest::addRow("2047-bit modulus") << with(jwk, "n", b64String(shortN)) << "2047 bits";
    QTest::addRow("8193-bit modulus") << with(jwk, "n", b64String(hugeN)) << "8193 bits";
    QTest::addRow("even modulus") << with(jwk, "n", b64String(evenN)) << "modulus is even";
    QTest::addRow("modulus divisible by 3")
            << with(jwk, "n", RsaNDivisibleBy3) << "public key check failed";
    QTest::addRow("8192-bit modulus of all ones")
            << with(jwk, "n", b64String(maxN)) << "public key check failed";
    QTest::addRow("n with a leading zero octet")
            << with(jwk, "n", b64String('\0' + n)) << "leading zero";
    QTest::addRow("n empty") << with(jwk, "n", "") << "\"n\" is empty";
    QTest::addRow("n not base64url")
            << with(jwk, "n", QString(A2N).replace('-', '+')) << "\"n\" is not";
    QTest::addRow("n padded") << with(jwk, "n", QString(A2N) + "==") << "\"n\" is not";
    QTest::addRow("n with whitespace")
            << with(jwk, "n", QString(A2N).insert(40, ' ')) << "\"n\" is not";
    QTest::addRow("n non-ASCII") << with(jwk, "n", QString(A2N).insert(40, QChar(0xE9)))
                                 << "\"n\" is not";
    QTest::addRow("n number") << with(jwk, "n", 12345) << "\"n\" is not";
    QTest::addRow("n missing") << without(jwk, "n") << "\"n\" is not";

    QTest::addRow("e = 1") << with(jwk, "e", "AQ") << "under 3";
    QTest::addRow("e = 0") << with(jwk, "e", "AA") << "leading zero";
    QTest::addRow("e = 2") << with(jwk, "e", "Ag") << "even";
    QTest::addRow("e = 65536") << with(jwk, "e", "AQAA") << "even";
    QTest::addRow("e = 2^256 + 1")
            << with(jwk, "e", b64String('\x01' + QByteArray(31, '\0') + '\x01')) << "2^256";
    QTest::addRow("e with a leading zero octet") << with(jwk, "e", "AAEAAQ") << "leading zero";
    QTest::addRow("e empty") << with(jwk, "e", "") << "\"e\" is empty";
    QTest::addRow("e number") << with(jwk, "e", 65537) << "\"e\" is not";
    QTest::addRow("e missing") << without(jwk, "e") << "\"e\" is not";

    // Tessera never holds an RSA private key; a JWKS that publishes one is refused, not read.
    for (const char *member : {"d", "p", "q", "dp", "dq", "qi"})
        QTest::addRow("private member %s", member)
                << with(jwk, member, "AQAB") << "private key members";
    QTest::addRow("private member d, not a string")
            << with(jwk, "d", QJsonObject{{"x", 1}}) << "private key members";
    QTest::addRow("oth") << with(jwk, "oth", QJsonArray()) << "private key members";
}

void tst_JoseRsa::rsaJwkImport()
{
    QFETCH(QJsonObject, jwk);
    QFETCH(QString, problem);

    QString why = QStringLiteral("stale");
    const Key key = Key::fromJwk(jwk, &why);
    if (problem.isEmpty()) {
        QVERIFY2(!key.isNull(), qPrintable(why));
        QVERIFY(why.isEmpty());
        QVERIFY(!key.hasPrivateKey());
        QCOMPARE(key.algorithm(),
                 jwk.value("alg") == QLatin1String("PS256") ? Algorithm::PS256 : Algorithm::RS256);
        QCOMPARE(key.thumbprint(), jwkThumbprint(jwk));
        if (jwk.contains("kid"))
            QCOMPARE(key.keyId(), jwk.value("kid").toString());
        return;
    }
    QVERIFY(key.isNull());
    QVERIFY2(why.contains(problem), qPrintable(why));
    // The reason never quotes the key.
    QVERIFY(!why.contains(QLatin1String(A2N).left(12)));
    QVERIFY(!why.contains(QLatin1String(Rsa1024N).left(12)));
    // Without a problem pointer the same JWK is refused the same way.
    QVERIFY(Key::fromJwk(jwk).isNull());
}

// The verification policy, not the token, picks RS256 or PS256 for a JWK without "alg".
void tst_JoseRsa::rsaJwkAlgorithmPolicy()
{
    QString why;
    const Key rs = Key::fromJwk(a2Jwk(), Algorithm::RS256, &why);
    const Key ps = Key::fromJwk(a2Jwk(), Algorithm::PS256, &why);
    QVERIFY(!rs.isNull() && !ps.isNull());
    QCOMPARE(rs.algorithm(), Algorithm::RS256);
    QCOMPARE(ps.algorithm(), Algorithm::PS256);
    QCOMPARE(rs.thumbprint(), ps.thumbprint());

    // A present "alg" that contradicts the policy refuses the key.
    QVERIFY(Key::fromJwk(with(a2Jwk(), "alg", "RS256"), Algorithm::PS256, &why).isNull());
    QVERIFY2(why.contains("PS256") && why.contains("RS256"), qPrintable(why));
    QVERIFY(Key::fromJwk(with(a2Jwk(), "alg", "PS256"), Algorithm::RS256, &why).isNull());
    QVERIFY(!Key::fromJwk(with(a2Jwk(), "alg", "PS256"), Algorithm::PS256, &why).isNull());
    QVERIFY(why.isEmpty());
    // The policy cannot make an RSA key into anything but an RSA key, nor the reverse.
    for (const Algorithm other : {Algorithm::ES256, Algorithm::EdDSA, Algorithm::HS256}) {
        QVERIFY(Key::fromJwk(a2Jwk(), other, &why).isNull());
        QVERIFY2(why.contains("cannot be used"), qPrintable(why));
    }
    const QJsonObject ec = Key::generate(Algorithm::ES256).publicJwk();
    QVERIFY(Key::fromJwk(without(ec, "alg"), Algorithm::RS256).isNull());
    QVERIFY(!Key::fromJwk(without(ec, "alg"), Algorithm::ES256).isNull());
}

void tst_JoseRsa::rsaKeyProperties()
{
    const Key key = Key::fromJwk(with(a2Jwk(), "kid", "2010-12-29"));
    QVERIFY(!key.isNull());
    QVERIFY(!key.hasPrivateKey());
    QVERIFY(key.privateKeyPem().isEmpty());
    QVERIFY(key.secret().isEmpty());
    QCOMPARE(key.keyId(), "2010-12-29");
    const QJsonObject expected{{"kty", "RSA"},        {"n", A2N},       {"e", A2E},
                               {"kid", "2010-12-29"}, {"alg", "RS256"}, {"use", "sig"}};
    QCOMPARE(key.publicJwk(), expected);
    QCOMPARE(jwks({key}).value("keys").toArray().first().toObject(), expected);

    const QJsonObject rfc7638{{"kty", "RSA"}, {"n", Rfc7638N}, {"e", "AQAB"}};
    QCOMPARE(Key::fromJwk(rfc7638).thumbprint(), Rfc7638Thumbprint);
    QCOMPARE(Key::fromJwk(rfc7638).keyId(), Rfc7638Thumbprint);

    // Verification only: no RSA key is generated or signs.
    QVERIFY(Key::generate(Algorithm::RS256).isNull());
    QVERIFY(Key::generate(Algorithm::PS256).isNull());
    QVERIFY(signCompact(key, Payload).isEmpty());
    QVERIFY(signJwt(key, {{"sub", "alice"}}).isEmpty());
    QVERIFY(Private::signSigningInput(key, "a.b").isEmpty());
}

void tst_JoseRsa::rsaPemImport()
{
    const QByteArray pem = Key::fromJwk(a2Jwk()).publicKeyPem();
    QVERIFY(pem.startsWith("-----BEGIN PUBLIC KEY-----"));
    const Key rs = Key::fromPublicKeyPem(pem, Algorithm::RS256);
    const Key ps = Key::fromPublicKeyPem(pem, Algorithm::PS256);
    QVERIFY(!rs.isNull() && !ps.isNull());
    QCOMPARE(rs.algorithm(), Algorithm::RS256);
    QCOMPARE(ps.algorithm(), Algorithm::PS256);
    QCOMPARE(rs.thumbprint(), Key::fromJwk(a2Jwk()).thumbprint());
    QCOMPARE(verifyCompact(A2Jws, {rs}).error, Error::None);
    QCOMPARE(verifyCompact(token(Ps256Header, Ps256Signature), {ps}).error, Error::None);

    // An RSA PEM is not an EC or Ed25519 key, and the reverse.
    QVERIFY(Key::fromPublicKeyPem(pem, Algorithm::ES256).isNull());
    QVERIFY(Key::fromPublicKeyPem(pem, Algorithm::EdDSA).isNull());
    QVERIFY(Key::fromPublicKeyPem(pem, Algorithm::HS256).isNull());
    const Key es = Key::generate(Algorithm::ES256);
    QVERIFY(Key::fromPublicKeyPem(es.publicKeyPem(), Algorithm::RS256).isNull());
    QVERIFY(Key::fromPrivateKeyPem(es.privateKeyPem(), Algorithm::RS256).isNull());
    // A 1024-bit key in a PEM gets the same refusal as in a JWK.
    const QByteArray smallPem = R"(-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDPOcX4gOMYZuaWMrwxvVaBjFHA
BL/bk3RRYdxlFD17lC04oSvs0NtGZ3qpuu4dI3zQX2i8Yz8BT9PiD4jbInY5Wvg4
4GEoSwVBH6Yh+/OcuyliN4Ax7RN0JoisSnq7bnCU3J2lBNRuFXDGMWp5qQ3GS1+k
wdoYzmwYufv1ji6EwQIDAQAB
-----END PUBLIC KEY-----
)";
    QVERIFY(Key::fromPublicKeyPem(smallPem, Algorithm::RS256).isNull());
}

void tst_JoseRsa::algorithmConfusion_data()
{
    QTest::addColumn<QByteArray>("secret"); // public key bytes an attacker uses as HMAC secret

    const Key rsa = Key::fromJwk(a2Jwk());
    QTest::addRow("RSA public PEM") << rsa.publicKeyPem();
    QTest::addRow("RSA public JWK JSON") << json(rsa.publicJwk());
    QTest::addRow("RSA modulus octets") << unb64(A2N);
}

// A verifier that let the header choose the algorithm would check an "HS256" token with the
// RSA public key's bytes as the HMAC secret.
void tst_JoseRsa::algorithmConfusion()
{
    QFETCH(QByteArray, secret);

    const Key attackerKey = Key::fromSecret(Secret(secret));
    QVERIFY(!attackerKey.isNull());
    const QByteArray input = b64("{\"alg\":\"HS256\",\"typ\":\"JWT\"}") + '.'
            + b64(json({{"sub", "admin"}, {"exp", 2'000'000'000}}));
    const QByteArray forged = input + '.' + b64(Private::signSigningInput(attackerKey, input));
    QCOMPARE(verifyCompact(forged, {attackerKey}).error, Error::None);     // a real HMAC...
    for (const Algorithm algorithm : {Algorithm::RS256, Algorithm::PS256}) // ...refused
        QCOMPARE(verifyCompact(forged, {a2Key(algorithm)}).error, Error::AlgorithmMismatch);
    ClaimRequirements requirements;
    requirements.now = 1'700'000'000;
    QCOMPARE(verifyJwt(forged, {a2Key(Algorithm::RS256)}, requirements).error,
             Error::AlgorithmMismatch);
}

// Key selection with RSA keys next to others: the key picked by "kid" decides the algorithm.
void tst_JoseRsa::keySelection()
{
    Key es = Key::generate(Algorithm::ES256);
    es.setKeyId("k");
    Key rs = a2Key(Algorithm::RS256);
    rs.setKeyId("k");
    Key ps = a2Key(Algorithm::PS256);
    ps.setKeyId("p");

    // An RS256 token with an EC key, and an ES256 token with an RSA key.
    QCOMPARE(verifyCompact(A2Jws, {Key::fromJwk(es.publicJwk())}).error, Error::AlgorithmMismatch);
    const QByteArray es256 = signCompact(es, Payload, {});
    QCOMPARE(verifyCompact(es256, {rs}).error, Error::AlgorithmMismatch);
    QCOMPARE(verifyCompact(es256, {Key::fromJwk(es.publicJwk())}).error, Error::None);

    // A.2 has no "kid": with several keys it names none of them.
    QCOMPARE(verifyCompact(A2Jws, {rs, ps}).error, Error::UnknownKey);
    // With a "kid", the PS256 key under "p" never checks an RS256 token, whatever its bytes.
    const QByteArray rsUnderP = b64("{\"alg\":\"RS256\",\"kid\":\"p\"}") + ".e30.AAAA";
    QCOMPARE(verifyCompact(rsUnderP, {rs, ps}).error, Error::AlgorithmMismatch);
    const QByteArray psUnderK = b64("{\"alg\":\"PS256\",\"kid\":\"k\"}") + ".e30.AAAA";
    QCOMPARE(verifyCompact(psUnderK, {rs, ps}).error, Error::AlgorithmMismatch);
    // Two keys under "k" (the EC and the RSA one): ambiguous, refused.
    const QByteArray rsUnderK = b64("{\"alg\":\"RS256\",\"kid\":\"k\"}") + ".e30.AAAA";
    QCOMPARE(verifyCompact(rsUnderK, {Key::fromJwk(es.publicJwk()), rs}).error, Error::UnknownKey);
}

QTEST_GUILESS_MAIN(tst_JoseRsa)
#include "tst_jose_rsa.moc"
