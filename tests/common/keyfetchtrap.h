// SPDX-License-Identifier: MIT
// Test support for hostile-token tests: where a verifier that followed a token's jku or
// x5u would fetch its keys, and the self-signed certificate such a URL (or x5c) carries.
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QString>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QTcpServer>

namespace Tessera::Test {

// Listens where the test says (loopback) and answers any request with a key document,
// counting connections: every test using it asserts that none came.
class KeyFetchTrap : public QTcpServer
{
public:
    QByteArray jwksBody;       // the answer for any path ...
    QByteArray certificatePem; // ... but one that names a .pem file

    int connections = 0;

    // http://127.0.0.1:PORT followed by `path`.
    QString url(const QString &path) const;

protected:
    void incomingConnection(qintptr descriptor) override;
};

// A self-signed certificate (CN `commonName`, valid for an hour) for a P-256 or Ed25519
// private key in PEM; null when the key cannot be read.
QSslCertificate selfSignedCertificate(const QByteArray &privateKeyPem, const QString &commonName);

} // namespace Tessera::Test
