// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>
#include <QtCore/QString>

#include <optional>

namespace Tessera::Server {

// What an Argon2id verification costs, read from a PHC string
// ($argon2id$v=19$m=65536,t=3,p=1$salt$hash). Salt and hash lengths in bytes.
struct Argon2Parameters
{
    quint32 version = 0;
    quint32 memoryKiB = 0;
    quint32 iterations = 0;
    quint32 parallelism = 0;
    qsizetype saltBytes = 0;
    qsizetype hashBytes = 0;

    // "m=65536,t=3,p=1" and the rest: one string per distinct cost, for logs and counting.
    QString toString() const;
    friend bool operator==(const Argon2Parameters &a, const Argon2Parameters &b)
    {
        return a.toString() == b.toString();
    }
    friend bool operator!=(const Argon2Parameters &a, const Argon2Parameters &b)
    {
        return !(a == b);
    }
};

// Argon2id (RFC 9106) in libargon2's PHC string format. hash() and verify() are
// slow on purpose and thread-safe: run them off the event loop.
class PasswordHasher
{
public:
    PasswordHasher(quint32 memoryKiB, quint32 iterations);

    // Empty on failure (e.g. out of memory).
    QByteArray hash(QByteArrayView password) const;
    bool verify(const QByteArray &encodedHash, QByteArrayView password) const;

    // The parameters new hashes get (--argon2-memory, --argon2-iterations).
    Argon2Parameters currentParameters() const;
    // Whether a stored hash should be redone with the current parameters.
    bool needsRehash(QByteArrayView encodedHash) const;

    static std::optional<Argon2Parameters> parameters(QByteArrayView encodedHash);
    // A well-formed hash with these parameters, a random salt and a random
    // digest: verifying any password against it costs exactly what verifying
    // against a stored hash with the same parameters costs, and always fails.
    // Login checks unknown users against one (no enumeration by timing).
    static QByteArray decoyHash(const Argon2Parameters &parameters);

private:
    quint32 m_memoryKiB;
    quint32 m_iterations;
};

} // namespace Tessera::Server
