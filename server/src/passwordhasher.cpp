// SPDX-License-Identifier: MIT
#include "passwordhasher.h"

#include <tessera/jose.h>

#include <argon2.h>

namespace Tessera::Server {
namespace {
constexpr quint32 Parallelism = 1;
constexpr qsizetype SaltBytes = 16;
constexpr qsizetype HashBytes = 32;
} // namespace

PasswordHasher::PasswordHasher(quint32 memoryKiB, quint32 iterations)
    : m_memoryKiB(memoryKiB)
    , m_iterations(iterations)
{
    m_decoyHash = hash(Jose::randomBytes(32));
}

QByteArray PasswordHasher::hash(const QByteArray &password) const
{
    const QByteArray salt = Jose::randomBytes(SaltBytes);
    QByteArray encoded(qsizetype(argon2_encodedlen(m_iterations, m_memoryKiB, Parallelism,
                                                   SaltBytes, HashBytes, Argon2_id)),
                       '\0');
    const int rc = argon2id_hash_encoded(
            m_iterations, m_memoryKiB, Parallelism, password.constData(), size_t(password.size()),
            salt.constData(), SaltBytes, HashBytes, encoded.data(), size_t(encoded.size()));
    if (rc != ARGON2_OK)
        return {};
    encoded.truncate(qsizetype(qstrlen(encoded.constData())));
    return encoded;
}

bool PasswordHasher::verify(const QByteArray &encodedHash, const QByteArray &password) const
{
    if (encodedHash.isEmpty())
        return false;
    return argon2id_verify(encodedHash.constData(), password.constData(), size_t(password.size()))
            == ARGON2_OK;
}

} // namespace Tessera::Server
