// SPDX-License-Identifier: MIT
#include "keyfetchtrap.h"

#include <QtNetwork/QTcpSocket>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace Tessera::Test {

QString KeyFetchTrap::url(const QString &path) const
{
    return QStringLiteral("http://127.0.0.1:%1%2").arg(serverPort()).arg(path);
}

void KeyFetchTrap::incomingConnection(qintptr descriptor)
{
    ++connections;
    auto *socket = new QTcpSocket(this);
    socket->setSocketDescriptor(descriptor);
    connect(socket, &QTcpSocket::readyRead, socket, [this, socket] {
        const QByteArray request = socket->readAll();
        const bool pem = request.contains(".pem");
        const QByteArray body = pem ? certificatePem : jwksBody;
        socket->write("HTTP/1.1 200 OK\r\nContent-Type: "
                      + QByteArray(pem ? "application/x-pem-file" : "application/json")
                      + "\r\nConnection: close\r\nContent-Length: "
                      + QByteArray::number(body.size()) + "\r\n\r\n" + body);
        socket->disconnectFromHost();
    });
    connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
}

QSslCertificate selfSignedCertificate(const QByteArray &privateKeyPem, const QString &commonName)
{
    BIO *in = BIO_new_mem_buf(privateKeyPem.constData(), int(privateKeyPem.size()));
    EVP_PKEY *key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
    BIO_free(in);
    if (!key)
        return {};
    X509 *certificate = X509_new();
    X509_set_version(certificate, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1);
    X509_gmtime_adj(X509_getm_notBefore(certificate), -60);
    X509_gmtime_adj(X509_getm_notAfter(certificate), 3600);
    X509_set_pubkey(certificate, key);
    X509_NAME *name = X509_get_subject_name(certificate);
    const QByteArray cn = commonName.toUtf8();
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char *>(cn.constData()), -1, -1, 0);
    X509_set_issuer_name(certificate, name);
    // Ed25519 signs without a separate digest.
    const EVP_MD *digest = EVP_PKEY_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
    QByteArray der;
    if (X509_sign(certificate, key, digest) > 0) {
        const int length = i2d_X509(certificate, nullptr);
        der.resize(length);
        auto *out = reinterpret_cast<unsigned char *>(der.data());
        i2d_X509(certificate, &out);
    }
    X509_free(certificate);
    EVP_PKEY_free(key);
    return der.isEmpty() ? QSslCertificate() : QSslCertificate(der, QSsl::Der);
}

} // namespace Tessera::Test
