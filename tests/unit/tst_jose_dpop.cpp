// SPDX-License-Identifier: MIT
// Unit tests of Tessera::Jose::Dpop (RFC 9449): htu normalisation, proofs made and checked,
// every refusal on its own, the jti replay cache, the RFC's examples, and PyJWT in both
// directions (dpop_pyjwt.py).
#include <tessera/dpop.h>
#include <tessera/jose.h>

#include "jose_p.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QProcess>
#include <QtCore/QThread>
#include <QtTest/QTest>

#include <atomic>
#include <functional>

using namespace Tessera::Jose;
using Tessera::Secret;
namespace Dpop = Tessera::Jose::Dpop;

namespace {

// RFC 9449 section 4.1 (Figure 3's DPoP header) and section 7.1 (Figure 12), line breaks
// removed, and the values the RFC gives for them.
const QByteArray Rfc9449TokenProof =
        "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMz"
        "R0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFq"
        "SG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwia"
        "HRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjY"
        "yNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-"
        "FNyJK70nfbV37xRZT3Lg";
const QByteArray Rfc9449ResourceProof =
        "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMz"
        "R0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFq"
        "SG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwia"
        "HRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIs"
        "ImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFF"
        "byJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-"
        "jfxSYoMxhAJpLjA";
// The thumbprint of the examples' key (RFC 9449 section 6.1, "cnf":{"jkt":...}).
const QString Rfc9449Jkt = QStringLiteral("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
// The access token of section 7.1 and its "ath".
const QByteArray Rfc9449AccessToken = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const QByteArray Rfc9449Ath = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo";

constexpr qint64 Now = 1'700'000'000;
const QByteArray Method = "POST";
const QString Url = QStringLiteral("https://server.example.com/token");
const QByteArray AccessToken = "an-access-token.of.some.kind";

QJsonObject decodeSegment(QByteArrayView compact, int index)
{
    const QList<QByteArray> parts = compact.toByteArray().split('.');
    return QJsonDocument::fromJson(base64UrlDecode(parts.value(index)).value_or(QByteArray()))
            .object();
}

// The public members only, as a client puts them in "jwk".
QJsonObject publicMembers(const Key &key)
{
    QJsonObject jwk = key.publicJwk();
    for (const char *name : {"kid", "alg", "use"})
        jwk.remove(QLatin1String(name));
    return jwk;
}

// A proof with exactly these header and payload bytes, signed by `signer` (any algorithm).
QByteArray rawProof(QByteArrayView headerJson, QByteArrayView payloadJson, const Key &signer)
{
    QByteArray input = base64UrlEncode(headerJson) + '.' + base64UrlEncode(payloadJson);
    return input + '.' + base64UrlEncode(Private::signSigningInput(signer, input));
}

QByteArray json(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

struct Parts
{
    QJsonObject header;
    QJsonObject claims;
};

// A valid proof's header and claims for `key`, to be spoiled one member at a time.
Parts validParts(const Key &key)
{
    Parts parts;
    parts.header = {{QStringLiteral("typ"), QStringLiteral("dpop+jwt")},
                    {QStringLiteral("alg"), algorithmName(key.algorithm())},
                    {QStringLiteral("jwk"), publicMembers(key)}};
    parts.claims = {
            {QStringLiteral("jti"), QStringLiteral("cXVpdGUtcmFuZG9tLWppZGk")},
            {QStringLiteral("htm"), QString::fromLatin1(Method)},
            {QStringLiteral("htu"), Url},
            {QStringLiteral("iat"), double(Now)},
            {QStringLiteral("ath"), QString::fromLatin1(Dpop::accessTokenHash(AccessToken))},
            {QStringLiteral("nonce"), QStringLiteral("n-1")}};
    return parts;
}

Dpop::ExpectedRequest expectation()
{
    Dpop::ExpectedRequest expected;
    expected.method = Method;
    expected.url = QUrl(Url);
    expected.now = Now;
    return expected;
}

Dpop::VerifyResult verifyOne(const QByteArray &proof, const Dpop::ExpectedRequest &expected,
                             const Dpop::VerifyPolicy &policy = {})
{
    Dpop::ReplayCache cache;
    return Dpop::verifyProof({proof}, expected, cache, policy);
}

// Runs dpop_pyjwt.py with `request`; the parsed answer.
QJsonObject runPyjwt(const QJsonObject &request)
{
    QProcess python;
    python.start(QStringLiteral(TESSERA_PYTHON), {QStringLiteral(TESSERA_DPOP_PYJWT)});
    if (!python.waitForStarted())
        return {};
    python.write(json(request));
    python.closeWriteChannel();
    if (!python.waitForFinished(60000) || python.exitCode() != 0) {
        qWarning("dpop_pyjwt.py: %s", python.readAllStandardError().constData());
        return {};
    }
    return QJsonDocument::fromJson(python.readAllStandardOutput()).object();
}

} // namespace

class tst_JoseDpop : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();

    // RFC 9449's examples
    void rfcTokenRequestProof();
    void rfcResourceRequestProof();

    // htu
    void normalizeHtu_data();
    void normalizeHtu();
    void normalizeHtuLength();
    void normalizeHtuFromQUrl();
    void normalizedUrlGivenByTheCaller();

    // creating
    void createdProofShape_data();
    void createdProofShape();
    void createRefusesBadInput();

    // verifying
    void acceptsValidProof_data();
    void acceptsValidProof();
    void refusals_data();
    void refusals();
    void refusalsBeforeNonce();
    void challenges();
    void reasonQuotesNothing();
    void hostileInput();

    // replay
    void replayRefused();
    void replayCacheWindowEdges();
    void replayCacheFullRefusesNeverEvictsLive();
    void replayCacheIsThreadSafe();
    void windowComesFromCache();

    // key cache
    void keyCacheImportsOncePerKey();
    void keyCacheStillVerifiesSignatures();
    void keyCacheRemembersCheckedHeaders();
    void keyCacheIsBounded();

    // PyJWT
    void pyjwtVerifiesTesseraProofs();
    void tesseraVerifiesPyjwtProofs();

private:
    Key m_es256;
    Key m_eddsa;
};

void tst_JoseDpop::initTestCase()
{
    m_es256 = Key::generate(Algorithm::ES256);
    m_eddsa = Key::generate(Algorithm::EdDSA);
    QVERIFY(!m_es256.isNull() && !m_eddsa.isNull());
}

// --- RFC 9449's examples ---------------------------------------------------------------------

void tst_JoseDpop::rfcTokenRequestProof()
{
    Dpop::ExpectedRequest expected;
    expected.method = "POST";
    expected.url = QUrl(QStringLiteral("https://server.example.com/token"));
    expected.now = 1562262616;
    expected.jkt = Rfc9449Jkt;
    const Dpop::VerifyResult result = verifyOne(Rfc9449TokenProof, expected);
    QCOMPARE(result.error, Dpop::Error::None);
    QCOMPARE(result.jkt, Rfc9449Jkt);
    QCOMPARE(result.jti, QStringLiteral("-BwC3ESc6acc2lTc"));
    QCOMPARE(result.issuedAt, 1562262616);
    QCOMPARE(result.algorithm, Algorithm::ES256);
    // The same thumbprint through the general RFC 7638 function.
    QCOMPARE(jwkThumbprint(
                     decodeSegment(Rfc9449TokenProof, 0).value(QStringLiteral("jwk")).toObject()),
             Rfc9449Jkt);
    // Another method for the same proof is refused.
    expected.method = "GET";
    QCOMPARE(verifyOne(Rfc9449TokenProof, expected).error, Dpop::Error::WrongMethod);
}

void tst_JoseDpop::rfcResourceRequestProof()
{
    QCOMPARE(Dpop::accessTokenHash(Rfc9449AccessToken), Rfc9449Ath);
    Dpop::ExpectedRequest expected;
    expected.method = "GET";
    expected.url = QUrl(QStringLiteral("https://resource.example.org/protectedresource"));
    expected.now = 1562262618;
    expected.accessToken = QByteArrayView(Rfc9449AccessToken);
    expected.jkt = Rfc9449Jkt;
    const Dpop::VerifyResult result = verifyOne(Rfc9449ResourceProof, expected);
    QCOMPARE(result.error, Dpop::Error::None);
    QCOMPARE(result.jti, QStringLiteral("e1j3V_bKic8-LAEB"));

    const QByteArray otherToken = Rfc9449AccessToken + "x";
    expected.accessToken = QByteArrayView(otherToken);
    QCOMPARE(verifyOne(Rfc9449ResourceProof, expected).error, Dpop::Error::WrongTokenHash);
}

// --- htu -----------------------------------------------------------------------------------

void tst_JoseDpop::normalizeHtu_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("expected"); // empty: refused

    auto row = [](const char *name, const char *url, const char *expected) {
        QTest::addRow("%s", name) << QString::fromLatin1(url) << QString::fromLatin1(expected);
    };
    row("plain", "https://server.example.com/token", "https://server.example.com/token");
    row("scheme and host case", "HTTPS://Server.Example.COM/token",
        "https://server.example.com/token");
    row("path case kept", "https://h.example/Token", "https://h.example/Token");
    row("https default port", "https://h.example:443/t", "https://h.example/t");
    row("http default port", "http://h.example:80/t", "http://h.example/t");
    row("empty port", "https://h.example:/t", "https://h.example/t");
    row("other port kept", "https://h.example:8443/t", "https://h.example:8443/t");
    row("http on 443 kept", "http://h.example:443/t", "http://h.example:443/t");
    row("https on 80 kept", "https://h.example:80/t", "https://h.example:80/t");
    row("port leading zeros", "https://h.example:0443/t", "https://h.example/t");
    row("empty path", "https://h.example", "https://h.example/");
    row("empty path with query", "https://h.example?x=1", "https://h.example/");
    row("query dropped", "https://h.example/t?a=b&c=d", "https://h.example/t");
    row("fragment dropped", "https://h.example/t#frag", "https://h.example/t");
    row("trailing slash kept", "https://h.example/token/", "https://h.example/token/");
    row("unreserved decoded", "https://h.example/%7Euser/%41%2d", "https://h.example/~user/A-");
    row("hex upper-cased", "https://h.example/a%2fb%c3%a9", "https://h.example/a%2Fb%C3%A9");
    row("raw bracket encoded", "https://h.example/a[1]", "https://h.example/a%5B1%5D");
    row("dot segments", "https://h.example/a/./b/../c", "https://h.example/a/c");
    row("encoded dot segments", "https://h.example/a/%2E%2E/c", "https://h.example/c");
    row("dot at end", "https://h.example/a/b/..", "https://h.example/a/");
    row("above root", "https://h.example/../../t", "https://h.example/t");
    row("ipv4", "http://127.0.0.1:8080/api/me/", "http://127.0.0.1:8080/api/me/");
    row("ipv6", "https://[FE80::1]:8443/x", "https://[fe80::1]:8443/x");
    row("ipv6 default port", "https://[::1]:443/x", "https://[::1]/x");
    // refused
    row("empty", "", "");
    row("relative", "/token", "");
    row("scheme relative", "//h.example/token", "");
    row("other scheme", "ftp://h.example/x", "");
    row("no authority", "https:h.example/x", "");
    row("no host", "https:///x", "");
    row("userinfo", "https://user:pw@h.example/x", "");
    row("userinfo without password", "https://user@h.example/x", "");
    row("userinfo with port", "https://user:443@h.example/x", "");
    row("percent in host", "https://h%2Eexample/x", "");
    row("ipv6 zone", "https://[fe80::1%25eth0]/x", "");
    row("port too big", "https://h.example:65536/x", "");
    row("port not a number", "https://h.example:8a/x", "");
    row("bad percent", "https://h.example/%zz", "");
    row("short percent", "https://h.example/a%4", "");
    row("bad percent in query", "https://h.example/a?%g1", "");
    row("space", "https://h.example/a b", "");
    row("control", "https://h.example/a\tb", "");
    row("non-ascii", "https://h.example/\xc3\xa9", "");
}

void tst_JoseDpop::normalizeHtu()
{
    QFETCH(QString, url);
    QFETCH(QString, expected);
    const std::optional<QString> normalized = Dpop::normalizeHtu(QStringView(url));
    if (expected.isEmpty()) {
        QVERIFY2(!normalized, qPrintable(normalized.value_or(QString())));
    } else {
        QVERIFY(normalized);
        QCOMPARE(*normalized, expected);
        // Idempotent: the normal form is its own normal form.
        QCOMPARE(Dpop::normalizeHtu(QStringView(*normalized)).value_or(QString()), expected);
    }
}

void tst_JoseDpop::normalizeHtuLength()
{
    // Up to 8 KiB in and out; raw characters that must be encoded grow the path threefold, and
    // a result over the limit is refused rather than returned (it would not normalise again).
    const QString prefix = QStringLiteral("https://h.example/");
    const QString fits = prefix + QString(8 * 1024 - prefix.size(), QLatin1Char('a'));
    QCOMPARE(Dpop::normalizeHtu(QStringView(fits)).value_or(QString()), fits);
    QVERIFY(!Dpop::normalizeHtu(QStringView(QString(fits + QLatin1Char('a')))));
    const QString grows = prefix + QString(3000, QLatin1Char('{'));
    QVERIFY(!Dpop::normalizeHtu(QStringView(grows)));
    const QString grownFits = prefix + QString(2000, QLatin1Char('{'));
    const auto normalized = Dpop::normalizeHtu(QStringView(grownFits));
    QVERIFY(normalized);
    QCOMPARE(Dpop::normalizeHtu(QStringView(*normalized)), normalized);
}

void tst_JoseDpop::normalizeHtuFromQUrl()
{
    QCOMPARE(Dpop::normalizeHtu(QUrl(QStringLiteral("HTTPS://Example.COM:443/a b?q#f")))
                     .value_or(QString()),
             QStringLiteral("https://example.com/a%20b"));
    QCOMPARE(Dpop::normalizeHtu(QUrl(QStringLiteral("http://127.0.0.1:8000/api/token/")))
                     .value_or(QString()),
             QStringLiteral("http://127.0.0.1:8000/api/token/"));
    QVERIFY(!Dpop::normalizeHtu(QUrl()));
    QVERIFY(!Dpop::normalizeHtu(QUrl(QStringLiteral("file:///etc/passwd"))));
}

// A caller that normalised the request URL once passes it in normalizedUrl: the proof's htu
// is compared with that, and `url` is not looked at.
void tst_JoseDpop::normalizedUrlGivenByTheCaller()
{
    const QUrl me(QStringLiteral("https://api.example.com/me"));
    const QUrl other(QStringLiteral("https://api.example.com/other"));
    const QByteArray proof = Dpop::createProof(m_es256, "GET", me, Now);
    QVERIFY(!proof.isEmpty());
    Dpop::ExpectedRequest expected;
    expected.method = "GET";
    expected.now = Now;
    expected.url = other;
    QCOMPARE(verifyOne(proof, expected).error, Dpop::Error::WrongUrl);
    expected.normalizedUrl = Dpop::normalizeHtu(me).value_or(QString());
    QCOMPARE(verifyOne(proof, expected).error, Dpop::Error::None);
    expected.url = me;
    expected.normalizedUrl = Dpop::normalizeHtu(other).value_or(QString());
    QCOMPARE(verifyOne(proof, expected).error, Dpop::Error::WrongUrl);
}

// --- creating ------------------------------------------------------------------------------

void tst_JoseDpop::createdProofShape_data()
{
    QTest::addColumn<Algorithm>("algorithm");
    QTest::addRow("ES256") << Algorithm::ES256;
    QTest::addRow("EdDSA") << Algorithm::EdDSA;
}

void tst_JoseDpop::createdProofShape()
{
    QFETCH(Algorithm, algorithm);
    const Key key = algorithm == Algorithm::ES256 ? m_es256 : m_eddsa;
    Dpop::ProofOptions options;
    options.accessToken = QByteArrayView(AccessToken);
    options.nonce = QStringLiteral("server-nonce_1");
    QString problem;
    const QByteArray proof = Dpop::createProof(
            key, "GET", QUrl(QStringLiteral("HTTPS://API.example.com:443/me?x=1#f")), Now, options,
            &problem);
    QVERIFY2(!proof.isEmpty(), qPrintable(problem));

    const QJsonObject header = decodeSegment(proof, 0);
    QCOMPARE(header.keys(),
             (QStringList{QStringLiteral("alg"), QStringLiteral("jwk"), QStringLiteral("typ")}));
    QCOMPARE(header.value(QStringLiteral("typ")).toString(), QStringLiteral("dpop+jwt"));
    QCOMPARE(header.value(QStringLiteral("alg")).toString(), algorithmName(algorithm));
    const QJsonObject jwk = header.value(QStringLiteral("jwk")).toObject();
    QCOMPARE(jwk, publicMembers(key)); // kty, crv, x (, y): no d, kid, alg or use
    QVERIFY(!jwk.contains(QStringLiteral("d")));

    const QJsonObject claims = decodeSegment(proof, 1);
    QCOMPARE(claims.value(QStringLiteral("htm")).toString(), QStringLiteral("GET"));
    QCOMPARE(claims.value(QStringLiteral("htu")).toString(),
             QStringLiteral("https://api.example.com/me"));
    QCOMPARE(claims.value(QStringLiteral("iat")).toDouble(), double(Now));
    QCOMPARE(claims.value(QStringLiteral("ath")).toString().toLatin1(),
             Dpop::accessTokenHash(AccessToken));
    QCOMPARE(claims.value(QStringLiteral("nonce")).toString(), options.nonce);
    const auto jti = base64UrlDecode(claims.value(QStringLiteral("jti")).toString().toLatin1());
    QVERIFY(jti);
    QVERIFY(jti->size() >= 16); // 128 bits
    QVERIFY(!proof.contains(AccessToken));

    // Each proof its own jti.
    const QByteArray second = Dpop::createProof(
            key, "GET", QUrl(QStringLiteral("https://api.example.com/me")), Now, options);
    QVERIFY(decodeSegment(second, 1).value(QStringLiteral("jti"))
            != claims.value(QStringLiteral("jti")));

    // And the verifier accepts it, with the key's thumbprint.
    Dpop::ExpectedRequest expected;
    expected.method = "GET";
    expected.url = QUrl(QStringLiteral("https://api.example.com/me?other=query"));
    expected.now = Now;
    expected.accessToken = QByteArrayView(AccessToken);
    expected.nonces = {options.nonce};
    expected.jkt = key.thumbprint();
    const Dpop::VerifyResult result = verifyOne(proof, expected);
    QCOMPARE(result.error, Dpop::Error::None);
    QCOMPARE(result.jkt, key.thumbprint());
    QCOMPARE(result.algorithm, algorithm);
}

void tst_JoseDpop::createRefusesBadInput()
{
    const QUrl url(Url);
    QString problem;
    auto refused = [&](const Key &key, QByteArrayView method, const QUrl &u, qint64 iat,
                       const Dpop::ProofOptions &options = {}) {
        problem.clear();
        const bool empty = Dpop::createProof(key, method, u, iat, options, &problem).isEmpty();
        return empty && !problem.isEmpty();
    };
    QVERIFY(!refused(m_es256, "POST", url, Now));
    QVERIFY(refused(Key(), "POST", url, Now));
    QVERIFY(refused(Key::fromJwk(m_es256.publicJwk()), "POST", url, Now)); // public only
    QVERIFY(refused(Key::generate(Algorithm::HS256), "POST", url, Now));
    QVERIFY(refused(m_es256, "", url, Now));
    QVERIFY(refused(m_es256, "GE T", url, Now));
    QVERIFY(refused(m_es256, "POST", QUrl(QStringLiteral("/token")), Now));
    QVERIFY(refused(m_es256, "POST", QUrl(QStringLiteral("ftp://h.example/")), Now));
    QVERIFY(refused(m_es256, "POST", url, -1));
    Dpop::ProofOptions options;
    options.accessToken = QByteArrayView();
    QVERIFY(refused(m_es256, "POST", url, Now, options));
    options = {};
    options.nonce = QStringLiteral("has\"quote");
    QVERIFY(refused(m_es256, "POST", url, Now, options));
    options.nonce = QStringLiteral("has space");
    QVERIFY(refused(m_es256, "POST", url, Now, options));
}

// --- verifying -----------------------------------------------------------------------------

void tst_JoseDpop::acceptsValidProof_data()
{
    QTest::addColumn<QByteArray>("proof");
    QTest::addColumn<QString>("url");

    const Parts parts = validParts(m_es256);
    QTest::addRow("crafted") << rawProof(json(parts.header), json(parts.claims), m_es256) << Url;
    Parts typ = parts;
    typ.header.insert(QStringLiteral("typ"), QStringLiteral("application/DPoP+JWT"));
    QTest::addRow("typ as full media type")
            << rawProof(json(typ.header), json(typ.claims), m_es256) << Url;
    Parts htu = parts;
    htu.claims.insert(QStringLiteral("htu"),
                      QStringLiteral("HTTPS://Server.Example.COM:443/./token?x=1#y"));
    QTest::addRow("htu equal once normalised")
            << rawProof(json(htu.header), json(htu.claims), m_es256) << Url;
    QTest::addRow("request url with query")
            << rawProof(json(parts.header), json(parts.claims), m_es256) << Url + "?a=b";
    Parts edge = parts;
    edge.claims.insert(QStringLiteral("iat"), double(Now + 60));
    QTest::addRow("iat now + window")
            << rawProof(json(edge.header), json(edge.claims), m_es256) << Url;
    edge.claims.insert(QStringLiteral("iat"), double(Now - 60));
    QTest::addRow("iat now - window")
            << rawProof(json(edge.header), json(edge.claims), m_es256) << Url;
    Parts ed = validParts(m_eddsa);
    QTest::addRow("EdDSA") << rawProof(json(ed.header), json(ed.claims), m_eddsa) << Url;
}

void tst_JoseDpop::acceptsValidProof()
{
    QFETCH(QByteArray, proof);
    QFETCH(QString, url);
    Dpop::ExpectedRequest expected = expectation();
    expected.url = QUrl(url);
    expected.accessToken = QByteArrayView(AccessToken);
    expected.nonces = {QStringLiteral("n-0"), QStringLiteral("n-1")};
    const Dpop::VerifyResult result = verifyOne(proof, expected);
    QCOMPARE(result.error, Dpop::Error::None);
    QVERIFY(!result.jkt.isEmpty());
    QCOMPARE(result.jti, QStringLiteral("cXVpdGUtcmFuZG9tLWppZGk"));
}

void tst_JoseDpop::refusals_data()
{
    QTest::addColumn<QList<QByteArray>>("proofs");
    QTest::addColumn<Dpop::Error>("error");

    const Key es = m_es256;
    const Parts valid = validParts(es);
    auto sign = [&](const Parts &p, const Key &signer) {
        return QList<QByteArray>{rawProof(json(p.header), json(p.claims), signer)};
    };
    auto withHeader = [&](const char *name, const QJsonValue &value) {
        Parts p = valid;
        if (value.isUndefined())
            p.header.remove(QLatin1String(name));
        else
            p.header.insert(QLatin1String(name), value);
        return p;
    };
    auto withClaim = [&](const char *name, const QJsonValue &value) {
        Parts p = valid;
        if (value.isUndefined())
            p.claims.remove(QLatin1String(name));
        else
            p.claims.insert(QLatin1String(name), value);
        return p;
    };
    const QByteArray good = sign(valid, es).front();

    QTest::addRow("no proof") << QList<QByteArray>{} << Dpop::Error::MissingProof;
    QTest::addRow("two proofs") << QList<QByteArray>{good, good} << Dpop::Error::MultipleProofs;
    QTest::addRow("too large") << QList<QByteArray>{good + QByteArray(5000, 'A')}
                               << Dpop::Error::TooLarge;
    QTest::addRow("two segments") << QList<QByteArray>{good.left(good.lastIndexOf('.'))}
                                  << Dpop::Error::Malformed;
    QTest::addRow("four segments") << QList<QByteArray>{good + ".x"} << Dpop::Error::Malformed;
    QTest::addRow("comma-joined headers")
            << QList<QByteArray>{good + ", " + good} << Dpop::Error::Malformed;
    QTest::addRow("bad base64") << QList<QByteArray>{"e30*." + good.mid(good.indexOf('.') + 1)}
                                << Dpop::Error::Malformed;

    QTest::addRow("typ JWT") << sign(withHeader("typ", QStringLiteral("JWT")), es)
                             << Dpop::Error::WrongType;
    QTest::addRow("typ missing") << sign(withHeader("typ", QJsonValue::Undefined), es)
                                 << Dpop::Error::WrongType;
    QTest::addRow("typ not a string") << sign(withHeader("typ", 1), es) << Dpop::Error::WrongType;

    // alg: the allow-list.
    {
        Parts none = withHeader("alg", QStringLiteral("none"));
        const QByteArray unsigned_ =
                base64UrlEncode(json(none.header)) + '.' + base64UrlEncode(json(none.claims)) + '.';
        QTest::addRow("alg none") << QList<QByteArray>{unsigned_}
                                  << Dpop::Error::UnsupportedAlgorithm;
        const Key hs = Key::fromSecret(Secret(QByteArray(32, 'k')));
        Parts hsParts = withHeader("alg", QStringLiteral("HS256"));
        QTest::addRow("alg HS256") << sign(hsParts, hs) << Dpop::Error::UnsupportedAlgorithm;
        QTest::addRow("alg RS256") << sign(withHeader("alg", QStringLiteral("RS256")), es)
                                   << Dpop::Error::UnsupportedAlgorithm;
        QTest::addRow("alg ES384") << sign(withHeader("alg", QStringLiteral("ES384")), es)
                                   << Dpop::Error::UnsupportedAlgorithm;
        QTest::addRow("alg lower case") << sign(withHeader("alg", QStringLiteral("es256")), es)
                                        << Dpop::Error::UnsupportedAlgorithm;
        QTest::addRow("alg missing") << sign(withHeader("alg", QJsonValue::Undefined), es)
                                     << Dpop::Error::UnsupportedAlgorithm;
    }
    QTest::addRow("crit") << sign(withHeader("crit", QJsonArray{QStringLiteral("exp")}), es)
                          << Dpop::Error::ForbiddenHeader;
    QTest::addRow("jku") << sign(withHeader("jku", QStringLiteral("https://evil.example/")), es)
                         << Dpop::Error::ForbiddenHeader;
    QTest::addRow("x5c") << sign(withHeader("x5c", QJsonArray{QStringLiteral("MIIB")}), es)
                         << Dpop::Error::ForbiddenHeader;

    // jwk
    QTest::addRow("jwk missing") << sign(withHeader("jwk", QJsonValue::Undefined), es)
                                 << Dpop::Error::BadKey;
    QTest::addRow("jwk a string") << sign(withHeader("jwk", QStringLiteral("key")), es)
                                  << Dpop::Error::BadKey;
    QTest::addRow("jwk OKP for ES256")
            << sign(withHeader("jwk", publicMembers(m_eddsa)), es) << Dpop::Error::BadKey;
    {
        QJsonObject offCurve = publicMembers(es);
        offCurve.insert(QStringLiteral("y"), offCurve.value(QStringLiteral("x")));
        QTest::addRow("jwk point off the curve")
                << sign(withHeader("jwk", offCurve), es) << Dpop::Error::BadKey;
        QJsonObject rsa{{QStringLiteral("kty"), QStringLiteral("RSA")},
                        {QStringLiteral("n"), QStringLiteral("AQAB")},
                        {QStringLiteral("e"), QStringLiteral("AQAB")}};
        QTest::addRow("jwk RSA") << sign(withHeader("jwk", rsa), es) << Dpop::Error::BadKey;
    }
    {
        // A valid signature by the very key whose private part the header gives away.
        const Key full = Key::generate(Algorithm::ES256);
        const Secret pem = full.privateKeyPem();
        QJsonObject privateJwk = publicMembers(full);
        // d of the key: not exported by Key; any 32 bytes make the member present.
        privateJwk.insert(QStringLiteral("d"),
                          QString::fromLatin1(base64UrlEncode(QByteArray(32, '\x01'))));
        Parts p = valid;
        p.header.insert(QStringLiteral("jwk"), privateJwk);
        QTest::addRow("jwk with d") << sign(p, full) << Dpop::Error::PrivateKey;
        QJsonObject oct = publicMembers(es);
        oct.insert(QStringLiteral("k"), QStringLiteral("c2VjcmV0"));
        QTest::addRow("jwk with k") << sign(withHeader("jwk", oct), es) << Dpop::Error::PrivateKey;
    }

    // signature
    QTest::addRow("signed by another key")
            << sign(valid, Key::generate(Algorithm::ES256)) << Dpop::Error::BadSignature;
    {
        const QByteArray other = sign(withClaim("htm", QStringLiteral("GET")), es).front();
        // The header and signature of `good` with another payload.
        const QList<QByteArray> a = good.split('.');
        const QList<QByteArray> b = other.split('.');
        QTest::addRow("payload swapped")
                << QList<QByteArray>{a[0] + '.' + b[1] + '.' + a[2]} << Dpop::Error::BadSignature;
    }

    // claims
    for (const char *name : {"jti", "htm", "htu", "iat"})
        QTest::addRow("%s missing", name)
                << sign(withClaim(name, QJsonValue::Undefined), es) << Dpop::Error::MissingClaim;
    QTest::addRow("jti empty") << sign(withClaim("jti", QString()), es)
                               << Dpop::Error::MissingClaim;
    QTest::addRow("jti a number") << sign(withClaim("jti", 5), es) << Dpop::Error::MissingClaim;
    QTest::addRow("iat a string") << sign(withClaim("iat", QString::number(Now)), es)
                                  << Dpop::Error::MissingClaim;
    QTest::addRow("htu a number") << sign(withClaim("htu", 1), es) << Dpop::Error::MissingClaim;

    QTest::addRow("htm lower case")
            << sign(withClaim("htm", QStringLiteral("post")), es) << Dpop::Error::WrongMethod;
    QTest::addRow("htm GET") << sign(withClaim("htm", QStringLiteral("GET")), es)
                             << Dpop::Error::WrongMethod;
    QTest::addRow("htu other path")
            << sign(withClaim("htu", QStringLiteral("https://server.example.com/token/")), es)
            << Dpop::Error::WrongUrl;
    QTest::addRow("htu other host")
            << sign(withClaim("htu", QStringLiteral("https://evil.example.com/token")), es)
            << Dpop::Error::WrongUrl;
    QTest::addRow("htu http") << sign(
            withClaim("htu", QStringLiteral("http://server.example.com/token")), es)
                              << Dpop::Error::WrongUrl;
    QTest::addRow("htu other port")
            << sign(withClaim("htu", QStringLiteral("https://server.example.com:8443/token")), es)
            << Dpop::Error::WrongUrl;
    QTest::addRow("htu path case")
            << sign(withClaim("htu", QStringLiteral("https://server.example.com/Token")), es)
            << Dpop::Error::WrongUrl;
    QTest::addRow("htu not a URL")
            << sign(withClaim("htu", QStringLiteral("/token")), es) << Dpop::Error::WrongUrl;

    QTest::addRow("iat now + window + 1")
            << sign(withClaim("iat", double(Now + 61)), es) << Dpop::Error::IssuedInFuture;
    QTest::addRow("iat now - window - 1")
            << sign(withClaim("iat", double(Now - 61)), es) << Dpop::Error::TooOld;
    QTest::addRow("iat 1e300") << sign(withClaim("iat", 1e300), es) << Dpop::Error::IssuedInFuture;
    QTest::addRow("iat -1e300") << sign(withClaim("iat", -1e300), es) << Dpop::Error::TooOld;

    QTest::addRow("ath missing") << sign(withClaim("ath", QJsonValue::Undefined), es)
                                 << Dpop::Error::WrongTokenHash;
    QTest::addRow("ath of another token")
            << sign(withClaim("ath", QString::fromLatin1(Dpop::accessTokenHash("other"))), es)
            << Dpop::Error::WrongTokenHash;
    QTest::addRow("ath the token itself")
            << sign(withClaim("ath", QString::fromLatin1(AccessToken)), es)
            << Dpop::Error::WrongTokenHash;

    QTest::addRow("nonce missing")
            << sign(withClaim("nonce", QJsonValue::Undefined), es) << Dpop::Error::WrongNonce;
    QTest::addRow("nonce stale") << sign(withClaim("nonce", QStringLiteral("n-old")), es)
                                 << Dpop::Error::WrongNonce;
    QTest::addRow("nonce a number") << sign(withClaim("nonce", 1), es) << Dpop::Error::WrongNonce;
}

// Every row expects the access token, the nonces n-0/n-1 and the key m_es256 (so that only the
// one spoiled member fails).
void tst_JoseDpop::refusals()
{
    QFETCH(QList<QByteArray>, proofs);
    QFETCH(Dpop::Error, error);
    Dpop::ExpectedRequest expected = expectation();
    expected.accessToken = QByteArrayView(AccessToken);
    expected.nonces = {QStringLiteral("n-0"), QStringLiteral("n-1")};
    Dpop::ReplayCache cache;
    const Dpop::VerifyResult result = Dpop::verifyProof(proofs, expected, cache);
    QCOMPARE(result.error, error);
    QVERIFY(!result.ok());
    QVERIFY(result.jkt.isEmpty() && result.jti.isEmpty()); // nothing from a refused proof
    QCOMPARE(cache.size(), 0);                             // and no place in the cache
}

void tst_JoseDpop::refusalsBeforeNonce()
{
    // WrongKey, and the policy's own allow-list, need an expectation of their own.
    const Parts valid = validParts(m_es256);
    const QByteArray proof = rawProof(json(valid.header), json(valid.claims), m_es256);
    Dpop::ExpectedRequest expected = expectation();
    QCOMPARE(verifyOne(proof, expected).error, Dpop::Error::None);
    expected.jkt = Key::generate(Algorithm::ES256).thumbprint();
    QCOMPARE(verifyOne(proof, expected).error, Dpop::Error::WrongKey);
    expected.jkt = m_es256.thumbprint();
    QCOMPARE(verifyOne(proof, expected).error, Dpop::Error::None);

    Dpop::VerifyPolicy es256Only;
    es256Only.algorithms = {Algorithm::ES256};
    const Parts ed = validParts(m_eddsa);
    const QByteArray edProof = rawProof(json(ed.header), json(ed.claims), m_eddsa);
    QCOMPARE(verifyOne(edProof, expectation()).error, Dpop::Error::None);
    QCOMPARE(verifyOne(edProof, expectation(), es256Only).error, Dpop::Error::UnsupportedAlgorithm);
    // HS256 named in a policy is still never accepted.
    Dpop::VerifyPolicy withHs;
    withHs.algorithms = {Algorithm::ES256, Algorithm::HS256};
    const Key hs = Key::fromSecret(Secret(QByteArray(32, 'k')));
    Parts hsParts = valid;
    hsParts.header.insert(QStringLiteral("alg"), QStringLiteral("HS256"));
    QCOMPARE(verifyOne(rawProof(json(hsParts.header), json(hsParts.claims), hs), expectation(),
                       withHs)
                     .error,
             Dpop::Error::UnsupportedAlgorithm);

    // An invalid proof without a nonce is invalid_dpop_proof, not use_dpop_nonce: the client
    // must not be sent round the nonce loop with a proof that would fail anyway.
    Parts bad = valid;
    bad.claims.remove(QStringLiteral("nonce"));
    bad.claims.insert(QStringLiteral("htm"), QStringLiteral("GET"));
    expected = expectation();
    expected.nonces = {QStringLiteral("n-1")};
    QCOMPARE(verifyOne(rawProof(json(bad.header), json(bad.claims), m_es256), expected).error,
             Dpop::Error::WrongMethod);
}

void tst_JoseDpop::challenges()
{
    QCOMPARE(Dpop::challengeFor(Dpop::Error::None), Dpop::Challenge::None);
    QCOMPARE(Dpop::challengeFor(Dpop::Error::WrongNonce), Dpop::Challenge::UseDpopNonce);
    QCOMPARE(Dpop::challengeFor(Dpop::Error::ReplayCacheFull), Dpop::Challenge::TryLater);
    for (const Dpop::Error error :
         {Dpop::Error::MissingProof, Dpop::Error::BadSignature, Dpop::Error::WrongUrl,
          Dpop::Error::Replayed, Dpop::Error::WrongKey, Dpop::Error::PrivateKey})
        QCOMPARE(Dpop::challengeFor(error), Dpop::Challenge::InvalidDpopProof);
    QCOMPARE(Dpop::errorCode(Dpop::Challenge::InvalidDpopProof),
             QStringLiteral("invalid_dpop_proof"));
    QCOMPARE(Dpop::errorCode(Dpop::Challenge::UseDpopNonce), QStringLiteral("use_dpop_nonce"));
    QVERIFY(Dpop::errorCode(Dpop::Challenge::None).isEmpty());
}

void tst_JoseDpop::reasonQuotesNothing()
{
    const QString secretJti = QStringLiteral("SECRETJTIVALUE");
    const QString secretHtu = QStringLiteral("https://server.example.com/SECRETPATH");
    Parts p = validParts(m_es256);
    p.claims.insert(QStringLiteral("jti"), secretJti);
    Dpop::ExpectedRequest expected = expectation();
    expected.accessToken = QByteArrayView(AccessToken);
    const QList<QPair<QString, QJsonValue>> spoilers{
            {QStringLiteral("htu"), secretHtu},
            {QStringLiteral("iat"), double(Now + 1000)},
            {QStringLiteral("iat"), double(Now - 1000)},
            {QStringLiteral("ath"), QStringLiteral("SECRETATH")},
            {QStringLiteral("htm"), QStringLiteral("SECRETMETHOD")},
    };
    for (const auto &[name, value] : spoilers) {
        Parts spoiled = p;
        spoiled.claims.insert(name, value);
        const QByteArray proof = rawProof(json(spoiled.header), json(spoiled.claims), m_es256);
        const Dpop::VerifyResult result = verifyOne(proof, expected);
        QVERIFY(!result.ok());
        QVERIFY(!result.reason.isEmpty());
        for (const QString &leak : {QString::fromLatin1(proof), QString::fromLatin1(AccessToken),
                                    secretJti, QStringLiteral("SECRET")})
            QVERIFY2(!result.reason.contains(leak), qPrintable(result.reason));
    }
}

void tst_JoseDpop::hostileInput()
{
    const Parts valid = validParts(m_es256);
    const QByteArray header = json(valid.header);
    const QByteArray claims = json(valid.claims);
    auto verify = [&](const QByteArray &proof) { return verifyOne(proof, expectation()).error; };

    // A huge proof is refused on its size alone, however it is made.
    QCOMPARE(verify(QByteArray(10 * 1024 * 1024, 'A')), Dpop::Error::TooLarge);
    Dpop::VerifyPolicy roomy;
    roomy.maxProofSize = 64 * 1024;
    // Duplicate members: two "alg", two "jwk", two "htu" (the later one would be the right URL).
    QByteArray twoAlg = header;
    twoAlg.insert(1, "\"alg\":\"none\",");
    QCOMPARE(verify(rawProof(twoAlg, claims, m_es256)), Dpop::Error::Malformed);
    QByteArray twoJwk = header;
    twoJwk.insert(1, "\"jwk\":" + json(publicMembers(Key::generate(Algorithm::ES256))) + ',');
    QCOMPARE(verify(rawProof(twoJwk, claims, m_es256)), Dpop::Error::Malformed);
    QByteArray twoHtu = claims;
    twoHtu.insert(1, "\"htu\":\"https://evil.example/\",");
    QCOMPARE(verify(rawProof(header, twoHtu, m_es256)), Dpop::Error::Malformed);
    QByteArray escapedTwin = claims;
    escapedTwin.insert(1, "\"\\u0068tm\":\"GET\",");
    QCOMPARE(verify(rawProof(header, escapedTwin, m_es256)), Dpop::Error::Malformed);
    // Deep nesting in the header and in the claims (within the size limit).
    QByteArray deep = header;
    deep.insert(1, "\"x\":" + QByteArray(200, '[') + QByteArray(200, ']') + ',');
    QCOMPARE(verify(rawProof(deep, claims, m_es256)), Dpop::Error::Malformed);
    QByteArray deepClaims = claims;
    deepClaims.insert(1, "\"x\":" + QByteArray(200, '[') + QByteArray(200, ']') + ',');
    QCOMPARE(verify(rawProof(header, deepClaims, m_es256)), Dpop::Error::Malformed);
    // Not JSON, a JSON array, a raw NUL.
    QCOMPARE(verify(rawProof("not json", claims, m_es256)), Dpop::Error::Malformed);
    QCOMPARE(verify(rawProof("[1]", claims, m_es256)), Dpop::Error::Malformed);
    QByteArray nul = claims;
    nul.replace("POST", QByteArray("PO\0ST", 5));
    QCOMPARE(verify(rawProof(header, nul, m_es256)), Dpop::Error::Malformed);
    // A DER-encoded or truncated ES256 signature.
    QByteArray proof = rawProof(header, claims, m_es256);
    const QByteArray signature = *base64UrlDecode(proof.mid(proof.lastIndexOf('.') + 1));
    QCOMPARE(verify(proof.left(proof.lastIndexOf('.') + 1) + base64UrlEncode(signature.chopped(1))),
             Dpop::Error::BadSignature);
    QCOMPARE(verify(proof.left(proof.lastIndexOf('.') + 1)), Dpop::Error::BadSignature);
    // Empty and dots only.
    QCOMPARE(verify(QByteArray()), Dpop::Error::Malformed);
    QCOMPARE(verify(".."), Dpop::Error::Malformed);
    // Still valid before all this: the rows above fail for their own reason.
    QCOMPARE(verify(proof), Dpop::Error::None);
}

// --- replay --------------------------------------------------------------------------------

void tst_JoseDpop::replayRefused()
{
    Dpop::ReplayCache cache;
    const QByteArray proof = Dpop::createProof(m_es256, Method, QUrl(Url), Now);
    Dpop::ExpectedRequest expected = expectation();
    QCOMPARE(Dpop::verifyProof({proof}, expected, cache).error, Dpop::Error::None);
    QCOMPARE(cache.size(), 1);
    QCOMPARE(Dpop::verifyProof({proof}, expected, cache).error, Dpop::Error::Replayed);
    expected.now = Now + 60; // still inside the window
    QCOMPARE(Dpop::verifyProof({proof}, expected, cache).error, Dpop::Error::Replayed);
    // A new proof for the same request is fine.
    const QByteArray fresh = Dpop::createProof(m_es256, Method, QUrl(Url), Now + 60);
    QCOMPARE(Dpop::verifyProof({fresh}, expected, cache).error, Dpop::Error::None);
    // Past the window the old proof is too old: the iat check, not the cache, refuses it.
    expected.now = Now + 61;
    QCOMPARE(Dpop::verifyProof({proof}, expected, cache).error, Dpop::Error::TooOld);
    // The next accepted proof drops the expired entry: the fresh one and the new one remain.
    const QByteArray third = Dpop::createProof(m_es256, Method, QUrl(Url), Now + 61);
    QCOMPARE(Dpop::verifyProof({third}, expected, cache).error, Dpop::Error::None);
    QCOMPARE(cache.size(), 2);
}

void tst_JoseDpop::replayCacheWindowEdges()
{
    Dpop::ReplayCache cache(10, std::chrono::seconds(60));
    QCOMPARE(cache.remember("a", 100, 100), Dpop::Error::None);
    QCOMPARE(cache.remember("a", 100, 100), Dpop::Error::Replayed);
    QCOMPARE(cache.remember("a", 100, 160), Dpop::Error::Replayed); // iat + window: still live
    QCOMPARE(cache.remember("a", 100, 161), Dpop::Error::None);     // expired, then new again
    QCOMPARE(cache.size(), 1);
    // An iat in the future keeps its entry until iat + window.
    QCOMPARE(cache.remember("b", 200, 161), Dpop::Error::None);
    QCOMPARE(cache.remember("b", 200, 260), Dpop::Error::Replayed);
    QCOMPARE(cache.remember("b", 200, 261), Dpop::Error::None);
    // Different ids never collide.
    QCOMPARE(cache.remember("c", 300, 300), Dpop::Error::None);
    QCOMPARE(cache.remember(QByteArray("c\0", 2), 300, 300), Dpop::Error::None);
}

void tst_JoseDpop::replayCacheFullRefusesNeverEvictsLive()
{
    Dpop::ReplayCache cache(2, std::chrono::seconds(60));
    QCOMPARE(cache.capacity(), 2);
    QCOMPARE(cache.remember("a", 100, 100), Dpop::Error::None);
    QCOMPARE(cache.remember("b", 130, 130), Dpop::Error::None);
    QCOMPARE(cache.remember("c", 130, 130), Dpop::Error::ReplayCacheFull);
    // The live entries are all still there: nothing was evicted to make room.
    QCOMPARE(cache.remember("a", 100, 130), Dpop::Error::Replayed);
    QCOMPARE(cache.remember("b", 130, 130), Dpop::Error::Replayed);
    QCOMPARE(cache.size(), 2);
    // Once "a" is past its window it makes room.
    QCOMPARE(cache.remember("c", 161, 161), Dpop::Error::None);
    QCOMPARE(cache.remember("b", 130, 161), Dpop::Error::Replayed);
    QCOMPARE(cache.size(), 2);

    // Through verifyProof: a full cache refuses the proof as TryLater.
    Dpop::ReplayCache tiny(1);
    Dpop::ExpectedRequest expected = expectation();
    QCOMPARE(Dpop::verifyProof({Dpop::createProof(m_es256, Method, QUrl(Url), Now)}, expected, tiny)
                     .error,
             Dpop::Error::None);
    const Dpop::VerifyResult full =
            Dpop::verifyProof({Dpop::createProof(m_es256, Method, QUrl(Url), Now)}, expected, tiny);
    QCOMPARE(full.error, Dpop::Error::ReplayCacheFull);
    QCOMPARE(full.challenge(), Dpop::Challenge::TryLater);
}

void tst_JoseDpop::replayCacheIsThreadSafe()
{
    // Eight threads present the same ids: each id is accepted exactly once, and the set (which
    // rehashes as it grows) stays whole.
    constexpr int Threads = 8;
    constexpr int Ids = 100000;
    Dpop::ReplayCache cache(Ids);
    std::atomic<bool> go{false};
    std::atomic<int> accepted{0};
    std::atomic<int> replayed{0};
    QList<QThread *> threads;
    for (int t = 0; t < Threads; ++t) {
        threads.append(QThread::create([&, t] {
            while (!go.load())
                QThread::yieldCurrentThread();
            for (int i = 0; i < Ids; ++i) {
                // Each thread starts elsewhere, so they insert new ids at the same time.
                const int id = (i + t * (Ids / Threads)) % Ids;
                const Dpop::Error e = cache.remember(QByteArray::number(id), Now, Now);
                if (e == Dpop::Error::None)
                    ++accepted;
                else if (e == Dpop::Error::Replayed)
                    ++replayed;
            }
        }));
        threads.last()->start();
    }
    go = true;
    for (QThread *thread : std::as_const(threads)) {
        QVERIFY(thread->wait(60000));
        delete thread;
    }
    QCOMPARE(accepted.load(), Ids);
    QCOMPARE(replayed.load(), (Threads - 1) * Ids);
    QCOMPARE(cache.size(), Ids);
}

void tst_JoseDpop::windowComesFromCache()
{
    Dpop::ReplayCache narrow(16, std::chrono::seconds(10));
    Dpop::ExpectedRequest expected = expectation();
    QCOMPARE(Dpop::verifyProof({Dpop::createProof(m_es256, Method, QUrl(Url), Now - 11)}, expected,
                               narrow)
                     .error,
             Dpop::Error::TooOld);
    QCOMPARE(Dpop::verifyProof({Dpop::createProof(m_es256, Method, QUrl(Url), Now + 11)}, expected,
                               narrow)
                     .error,
             Dpop::Error::IssuedInFuture);
    QCOMPARE(Dpop::verifyProof({Dpop::createProof(m_es256, Method, QUrl(Url), Now - 10)}, expected,
                               narrow)
                     .error,
             Dpop::Error::None);
}

// --- PyJWT ---------------------------------------------------------------------------------

namespace {
// The caches a server verifies with: the replay cache, and the key cache behind the policy.
struct CachedVerification
{
    CachedVerification() { policy.keyCache = &keys; }
    Q_DISABLE_COPY_MOVE(CachedVerification)

    Dpop::ReplayCache replay;
    Dpop::KeyCache keys;
    Dpop::VerifyPolicy policy;
};
} // namespace

void tst_JoseDpop::keyCacheImportsOncePerKey()
{
    CachedVerification cached;
    auto &[replay, keys, policy] = cached;
    const Dpop::ExpectedRequest expected = expectation();
    for (int i = 0; i < 3; ++i) {
        const QByteArray proof = Dpop::createProof(m_es256, Method, QUrl(Url), Now);
        const Dpop::VerifyResult result = Dpop::verifyProof({proof}, expected, replay, policy);
        QCOMPARE(result.error, Dpop::Error::None);
        QCOMPARE(result.jkt, m_es256.thumbprint());
    }
    QCOMPARE(keys.misses(), quint64(1));
    QCOMPARE(keys.hits(), quint64(2));
    QCOMPARE(keys.size(), 1);
    // Another key is another entry.
    QCOMPARE(Dpop::verifyProof({Dpop::createProof(m_eddsa, Method, QUrl(Url), Now)}, expected,
                               replay, policy)
                     .error,
             Dpop::Error::None);
    QCOMPARE(keys.misses(), quint64(2));
    QCOMPARE(keys.size(), 2);
}

void tst_JoseDpop::keyCacheStillVerifiesSignatures()
{
    CachedVerification cached;
    auto &[replay, keys, policy] = cached;
    const Dpop::ExpectedRequest expected = expectation();
    QCOMPARE(Dpop::verifyProof({Dpop::createProof(m_es256, Method, QUrl(Url), Now)}, expected,
                               replay, policy)
                     .error,
             Dpop::Error::None);
    // Same header (so the same jwk, a cache hit), another proof's signature.
    const QByteArray proof = Dpop::createProof(m_es256, Method, QUrl(Url), Now);
    const QByteArray other = Dpop::createProof(m_es256, Method, QUrl(Url), Now);
    const QByteArray forged =
            proof.first(proof.lastIndexOf('.')) + other.sliced(other.lastIndexOf('.'));
    QCOMPARE(Dpop::verifyProof({forged}, expected, replay, policy).error,
             Dpop::Error::BadSignature);
    QCOMPARE(keys.hits(), quint64(1));
    // A proof signed by another key but naming the cached one is refused too.
    const Key intruder = Key::generate(Algorithm::ES256);
    const QByteArray signedByIntruder = Dpop::createProof(intruder, Method, QUrl(Url), Now);
    const QByteArray swapped = proof.first(proof.indexOf('.'))
            + signedByIntruder.sliced(signedByIntruder.indexOf('.'));
    QCOMPARE(Dpop::verifyProof({swapped}, expected, replay, policy).error,
             Dpop::Error::BadSignature);
    QCOMPARE(keys.hits(), quint64(2));
    // A refused import is not cached: a jwk of the wrong type for alg stays refused.
    QJsonObject wrongType = m_eddsa.publicJwk();
    QCOMPARE(keys.publicKey(wrongType, Algorithm::ES256).isNull(), true);
    QCOMPARE(keys.publicKey(wrongType, Algorithm::ES256).isNull(), true);
    QCOMPARE(keys.size(), 1);
    // The same key with one more member is another jwk: imported, and judged, on its own.
    QJsonObject withUse = m_es256.publicJwk();
    withUse.insert(QStringLiteral("use"), QStringLiteral("enc"));
    const Key fromCache = keys.publicKey(withUse, Algorithm::ES256);
    QCOMPARE(fromCache.isNull(), Key::fromJwk(withUse, Algorithm::ES256).isNull());
    QCOMPARE(keys.hits(), quint64(2));
}

// A client's proofs share their header: once its checks passed, the next proof with the same
// header bytes takes the key without a second look, but never past the policy's algorithms, and
// only headers that passed are remembered.
void tst_JoseDpop::keyCacheRemembersCheckedHeaders()
{
    CachedVerification cached;
    auto &[replay, keys, policy] = cached;
    const Dpop::ExpectedRequest expected = expectation();
    const QByteArray first = Dpop::createProof(m_es256, Method, QUrl(Url), Now);
    const QByteArray header = first.first(first.indexOf('.'));
    QVERIFY(keys.keyOfHeader(header).isNull());
    QCOMPARE(Dpop::verifyProof({first}, expected, replay, policy).error, Dpop::Error::None);
    const Key remembered = keys.keyOfHeader(header);
    QCOMPARE(remembered.thumbprint(), m_es256.thumbprint());
    QCOMPARE(remembered.algorithm(), Algorithm::ES256);
    QVERIFY(!remembered.hasPrivateKey());

    const quint64 hits = keys.hits();
    const quint64 misses = keys.misses();
    const QByteArray second = Dpop::createProof(m_es256, Method, QUrl(Url), Now);
    QCOMPARE(second.first(second.indexOf('.')), header);
    const Dpop::VerifyResult result = Dpop::verifyProof({second}, expected, replay, policy);
    QCOMPARE(result.error, Dpop::Error::None);
    QCOMPARE(result.jkt, m_es256.thumbprint());
    QCOMPARE(result.algorithm, Algorithm::ES256);
    QCOMPARE(keys.hits(), hits + 1);
    QCOMPARE(keys.misses(), misses);

    // A policy without ES256 refuses the remembered header all the same.
    Dpop::VerifyPolicy eddsaOnly = policy;
    eddsaOnly.algorithms = {Algorithm::EdDSA};
    QCOMPARE(Dpop::verifyProof({Dpop::createProof(m_es256, Method, QUrl(Url), Now)}, expected,
                               replay, eddsaOnly)
                     .error,
             Dpop::Error::UnsupportedAlgorithm);

    // A refused header is judged anew each time, never remembered.
    QJsonObject privateJwk = m_es256.publicJwk();
    privateJwk.insert(QStringLiteral("d"), QStringLiteral("AAAA"));
    const QByteArray refusedHeader = base64UrlEncode(
            QJsonDocument(QJsonObject{{QStringLiteral("typ"), QStringLiteral("dpop+jwt")},
                                      {QStringLiteral("alg"), QStringLiteral("ES256")},
                                      {QStringLiteral("jwk"), privateJwk}})
                    .toJson(QJsonDocument::Compact));
    const QByteArray withPrivate = refusedHeader + first.sliced(first.indexOf('.'));
    for (int i = 0; i < 2; ++i)
        QCOMPARE(Dpop::verifyProof({withPrivate}, expected, replay, policy).error,
                 Dpop::Error::PrivateKey);
    QVERIFY(keys.keyOfHeader(refusedHeader).isNull());
}

void tst_JoseDpop::keyCacheIsBounded()
{
    Dpop::KeyCache keys(2);
    QCOMPARE(keys.capacity(), 2);
    const Key first = Key::generate(Algorithm::ES256);
    const Key second = Key::generate(Algorithm::ES256);
    const Key third = Key::generate(Algorithm::ES256);
    QCOMPARE(keys.publicKey(first.publicJwk(), Algorithm::ES256).thumbprint(), first.thumbprint());
    QCOMPARE(keys.publicKey(second.publicJwk(), Algorithm::ES256).thumbprint(),
             second.thumbprint());
    QCOMPARE(keys.publicKey(first.publicJwk(), Algorithm::ES256).thumbprint(), first.thumbprint());
    QCOMPARE(keys.hits(), quint64(1));
    // Full: the least recently used (second) goes, the first stays.
    QCOMPARE(keys.publicKey(third.publicJwk(), Algorithm::ES256).thumbprint(), third.thumbprint());
    QCOMPARE(keys.size(), 2);
    QCOMPARE(keys.publicKey(first.publicJwk(), Algorithm::ES256).thumbprint(), first.thumbprint());
    QCOMPARE(keys.hits(), quint64(2));
    QCOMPARE(keys.publicKey(second.publicJwk(), Algorithm::ES256).thumbprint(),
             second.thumbprint());
    QCOMPARE(keys.hits(), quint64(2));
    QCOMPARE(keys.misses(), quint64(4));
    QCOMPARE(keys.size(), 2);
    // Many distinct keys never grow it past its capacity.
    for (int i = 0; i < 20; ++i)
        keys.publicKey(Key::generate(Algorithm::EdDSA).publicJwk(), Algorithm::EdDSA);
    QCOMPARE(keys.size(), 2);
}

void tst_JoseDpop::pyjwtVerifiesTesseraProofs()
{
    QJsonArray orders;
    QList<QByteArray> proofs;
    for (const Key &key : {m_es256, m_eddsa}) {
        for (const bool withToken : {false, true}) {
            Dpop::ProofOptions options;
            if (withToken)
                options.accessToken = QByteArrayView(AccessToken);
            const QByteArray proof = Dpop::createProof(
                    key, "GET", QUrl(QStringLiteral("https://API.example.com:443/me?q=1")),
                    QDateTime::currentSecsSinceEpoch(), options);
            QVERIFY(!proof.isEmpty());
            proofs.append(proof);
            QJsonObject order{
                    {QStringLiteral("proof"), QString::fromLatin1(proof)},
                    {QStringLiteral("method"), QStringLiteral("GET")},
                    {QStringLiteral("htu"), QStringLiteral("https://api.example.com/me")}};
            if (withToken)
                order.insert(QStringLiteral("access_token"), QString::fromLatin1(AccessToken));
            orders.append(order);
        }
    }
    // A control row PyJWT must refuse: the signature of another key.
    const QByteArray forged =
            rawProof(json(validParts(m_es256).header), json(validParts(m_es256).claims),
                     Key::generate(Algorithm::ES256));
    orders.append(QJsonObject{{QStringLiteral("proof"), QString::fromLatin1(forged)},
                              {QStringLiteral("method"), QString::fromLatin1(Method)},
                              {QStringLiteral("htu"), Url}});

    const QJsonObject answer = runPyjwt({{QStringLiteral("verify"), orders}});
    const QJsonArray verified = answer.value(QStringLiteral("verified")).toArray();
    QCOMPARE(verified.size(), orders.size());
    for (int i = 0; i < proofs.size(); ++i) {
        const QJsonObject row = verified.at(i).toObject();
        QVERIFY2(row.value(QStringLiteral("ok")).toBool(),
                 qPrintable(row.value(QStringLiteral("why")).toString()));
        const Key &key = i < 2 ? m_es256 : m_eddsa;
        QCOMPARE(row.value(QStringLiteral("jkt")).toString(), key.thumbprint());
    }
    QVERIFY(!verified.last().toObject().value(QStringLiteral("ok")).toBool());
}

void tst_JoseDpop::tesseraVerifiesPyjwtProofs()
{
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    QJsonArray orders;
    for (const char *alg : {"ES256", "EdDSA"}) {
        orders.append(QJsonObject{{QStringLiteral("alg"), QLatin1String(alg)},
                                  {QStringLiteral("method"), QStringLiteral("POST")},
                                  {QStringLiteral("htu"), Url},
                                  {QStringLiteral("iat"), double(now)}});
        orders.append(
                QJsonObject{{QStringLiteral("alg"), QLatin1String(alg)},
                            {QStringLiteral("method"), QStringLiteral("GET")},
                            {QStringLiteral("htu"), QStringLiteral("https://api.example.com/me")},
                            {QStringLiteral("iat"), double(now)},
                            {QStringLiteral("access_token"), QString::fromLatin1(AccessToken)},
                            {QStringLiteral("nonce"), QStringLiteral("server-nonce")}});
    }
    const QJsonObject answer = runPyjwt({{QStringLiteral("sign"), orders}});
    const QJsonArray signedProofs = answer.value(QStringLiteral("signed")).toArray();
    QCOMPARE(signedProofs.size(), orders.size());
    Dpop::ReplayCache cache;
    for (int i = 0; i < orders.size(); ++i) {
        const QJsonObject order = orders.at(i).toObject();
        const QJsonObject row = signedProofs.at(i).toObject();
        const QByteArray proof = row.value(QStringLiteral("proof")).toString().toLatin1();
        Dpop::ExpectedRequest expected;
        expected.method = order.value(QStringLiteral("method")).toString().toLatin1();
        expected.url = QUrl(order.value(QStringLiteral("htu")).toString());
        expected.now = now;
        if (order.contains(QStringLiteral("access_token"))) {
            expected.accessToken = QByteArrayView(AccessToken);
            expected.nonces = {QStringLiteral("server-nonce")};
        }
        expected.jkt = row.value(QStringLiteral("jkt")).toString();
        const Dpop::VerifyResult result = Dpop::verifyProof({proof}, expected, cache);
        QVERIFY2(result.ok(), qPrintable(result.reason));
        QCOMPARE(result.jkt, expected.jkt);
        QCOMPARE(result.algorithm, i < 2 ? Algorithm::ES256 : Algorithm::EdDSA);
        // The same proof again is a replay; another method is refused before the cache.
        QCOMPARE(Dpop::verifyProof({proof}, expected, cache).error, Dpop::Error::Replayed);
        expected.method = "PUT";
        QCOMPARE(verifyOne(proof, expected).error, Dpop::Error::WrongMethod);
    }
}

QTEST_GUILESS_MAIN(tst_JoseDpop)
#include "tst_jose_dpop.moc"
