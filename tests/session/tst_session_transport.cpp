// SPDX-License-Identifier: MIT
// Transport policy (issue 3, behaviour 12): http:// to a non-loopback host is
// refused; TLS errors are never ignored; an SPKI pin mismatch is refused before
// the credentials leave the client. tessera-server serves HTTPS with a
// self-signed certificate (CN and SAN 127.0.0.1) made by the openssl CLI at
// test time; SessionConfig::setCaCertificates() makes it trusted.
#include "sessiontestsupport.h"

#include <tessera/authenticatednetworkaccessmanager.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QTemporaryDir>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QSslSocket>
#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::SessionTest;

class tst_SessionTransport : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void plainHttpRefused_data();
    void plainHttpRefused();
    void tls_data();
    void tls();

private:
    QTemporaryDir m_dir;
    QString m_cert;
    QString m_key;
    QByteArray m_pin;
};

namespace {

bool run(const QString &program, const QStringList &arguments, QByteArray *out = nullptr)
{
    QProcess process;
    process.start(program, arguments);
    if (!process.waitForFinished(30000) || process.exitStatus() != QProcess::NormalExit
        || process.exitCode() != 0) {
        qWarning("%s failed: %s", qPrintable(program), process.readAllStandardError().constData());
        return false;
    }
    if (out)
        *out = process.readAllStandardOutput();
    return true;
}

} // namespace

void tst_SessionTransport::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY2(QSslSocket::supportsSsl(), "no TLS backend");
    m_cert = m_dir.filePath(QStringLiteral("cert.pem"));
    m_key = m_dir.filePath(QStringLiteral("key.pem"));
    QVERIFY(run(QStringLiteral("openssl"),
                {QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"),
                 QStringLiteral("ec"), QStringLiteral("-pkeyopt"),
                 QStringLiteral("ec_paramgen_curve:prime256v1"), QStringLiteral("-nodes"),
                 QStringLiteral("-keyout"), m_key, QStringLiteral("-out"), m_cert,
                 QStringLiteral("-days"), QStringLiteral("2"), QStringLiteral("-subj"),
                 QStringLiteral("/CN=127.0.0.1"), QStringLiteral("-addext"),
                 QStringLiteral("subjectAltName=IP:127.0.0.1")}));
    // The pin as the header documents it, computed by openssl, not by the SDK.
    QVERIFY(run(QStringLiteral("bash"),
                {QStringLiteral("-c"),
                 QStringLiteral("set -o pipefail; openssl x509 -in '%1' -pubkey -noout | openssl "
                                "pkey -pubin -outform der | openssl dgst -sha256 -binary | "
                                "openssl base64 -A")
                         .arg(m_cert)},
                &m_pin));
    m_pin = m_pin.trimmed();
    QCOMPARE(QByteArray::fromBase64(m_pin).size(), 32);
}

void tst_SessionTransport::plainHttpRefused_data()
{
    QTest::addColumn<QUrl>("url");
    QTest::newRow("http://192.0.2.10 (an address, not loopback)")
            << QUrl(QStringLiteral("http://192.0.2.10:8000"));
    QTest::newRow("http://auth.example.com") << QUrl(QStringLiteral("http://auth.example.com"));
    QTest::newRow("http://localhost.example.com")
            << QUrl(QStringLiteral("http://localhost.example.com:8000"));
    QTest::newRow("http://[2001:db8::1]") << QUrl(QStringLiteral("http://[2001:db8::1]:8000"));
}

void tst_SessionTransport::plainHttpRefused()
{
    QFETCH(QUrl, url);
    SessionConfig config = makeConfig(url, QStringLiteral("transport"));
    config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
    Session session(config);
    QElapsedTimer timer;
    timer.start();
    const Error error = login(session);
    QCOMPARE(error.code(), Error::Code::InsecureTransport);
    QVERIFY(!error.isTransient());
    QVERIFY2(timer.elapsed() < 1000, "refused without trying the network");
    QCOMPARE(session.state(), Session::State::SignedOut);
    // Authenticated requests to that origin are refused too, without a token.
    AuthenticatedNetworkAccessManager network(&session);
    QNetworkReply *reply =
            network.get(QNetworkRequest(config.endpoint(QStringLiteral("/api/me/"))));
    QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), 5000);
    QVERIFY(reply->error() != QNetworkReply::NoError);
    QVERIFY(reply->request().rawHeader("Authorization").isEmpty());
    delete reply;
}

void tst_SessionTransport::tls_data()
{
    QTest::addColumn<bool>("trustCa");
    QTest::addColumn<QString>("pin");
    QTest::addColumn<Error::Code>("expected");
    QTest::newRow("self-signed, not trusted: TLS error, never ignored")
            << false << QString() << Error::Code::TlsError;
    QTest::newRow("a pin does not replace validation")
            << false << QStringLiteral("right") << Error::Code::TlsError;
    QTest::newRow("trusted through setCaCertificates") << true << QString() << Error::Code::NoError;
    QTest::newRow("trusted, right pin") << true << QStringLiteral("right") << Error::Code::NoError;
    QTest::newRow("trusted, wrong pin: refused")
            << true << QStringLiteral("wrong") << Error::Code::PinMismatch;
    QTest::newRow("trusted, wrong and right pin")
            << true << QStringLiteral("both") << Error::Code::NoError;
}

void tst_SessionTransport::tls()
{
    QFETCH(bool, trustCa);
    QFETCH(QString, pin);
    QFETCH(Error::Code, expected);
    Peer peer(ServerKind::Tessera,
              {300,
               -1,
               {},
               {QStringLiteral("--tls-cert"), m_cert, QStringLiteral("--tls-key"), m_key}});
    TESSERA_START_PEER(peer);
    QCOMPARE(peer.baseUrl().scheme(), QStringLiteral("https"));

    SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("tls"));
    config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
    if (trustCa)
        config.setCaCertificates(QSslCertificate::fromPath(m_cert));
    const QByteArray wrong = QByteArray(32, '\x5a').toBase64();
    if (pin == QLatin1String("right"))
        config.setSpkiPins({m_pin});
    else if (pin == QLatin1String("wrong"))
        config.setSpkiPins({wrong});
    else if (pin == QLatin1String("both"))
        config.setSpkiPins({wrong, m_pin});
    QVERIFY(!config.validate());
    Session session(config);

    const Error error = login(session);
    QCOMPARE(error.code(), expected);
    if (expected != Error::Code::NoError) {
        QVERIFY(!error.isTransient());
        QCOMPARE(session.state(), Session::State::SignedOut);
        // The credentials never reached the server.
        QVERIFY2(!peer.log().contains("login:"), peer.log().constData());
        return;
    }
    // Signed in over TLS; the refresh and an authenticated request go the same way.
    QCOMPARE(session.state(), Session::State::SignedIn);
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    AuthenticatedNetworkAccessManager network(&session);
    QNetworkReply *reply =
            network.get(QNetworkRequest(config.endpoint(QStringLiteral("/api/me/"))));
    QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), 10000);
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
    QCOMPARE(refreshCount(session), 1);
    delete reply;
}

QTEST_GUILESS_MAIN(tst_SessionTransport)
#include "tst_session_transport.moc"
