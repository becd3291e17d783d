// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QString>

namespace Tessera::Server {

// Argon2id (RFC 9106) in libargon2's PHC string format. Both calls are slow on
// purpose and thread-safe: run them off the event loop.
class PasswordHasher
{
public:
    PasswordHasher(quint32 memoryKiB, quint32 iterations);

    // Empty on failure (e.g. out of memory).
    QByteArray hash(const QByteArray &password) const;
    bool verify(const QByteArray &encodedHash, const QByteArray &password) const;

    // A hash of a random password with the current parameters. Login verifies
    // unknown users against it so they cost exactly as much as a wrong password.
    const QByteArray &decoyHash() const { return m_decoyHash; }

private:
    quint32 m_memoryKiB;
    quint32 m_iterations;
    QByteArray m_decoyHash;
};

} // namespace Tessera::Server
