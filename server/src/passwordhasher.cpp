// SPDX-License-Identifier: MIT
#include "passwordhasher.h"

#include <tessera/jose.h>

#include <QtCore/QList>

#include <argon2.h>

namespace Tessera::Server {
namespace {
constexpr quint32 Parallelism = 1;
constexpr qsizetype SaltBytes = 16;
constexpr qsizetype HashBytes = 32;

// PHC strings use unpadded standard base64.
QByteArray phcBase64(const QByteArray &bytes)
{
    return bytes.toBase64(QByteArray::OmitTrailingEquals);
}

std::optional<quint32> numberAfter(QByteArrayView field, QByteArrayView prefix)
{
    if (!field.startsWith(prefix))
        return std::nullopt;
    bool ok = false;
    const quint32 value = field.sliced(prefix.size()).toByteArray().toUInt(&ok);
    if (!ok)
        return std::nullopt;
    return value;
}
} // namespace

QString Argon2Parameters::toString() const
{
    return QStringLiteral("v=%1,m=%2,t=%3,p=%4,salt=%5,hash=%6")
            .arg(version)
            .arg(memoryKiB)
            .arg(iterations)
            .arg(parallelism)
            .arg(saltBytes)
            .arg(hashBytes);
}

PasswordHasher::PasswordHasher(quint32 memoryKiB, quint32 iterations)
    : m_memoryKiB(memoryKiB)
    , m_iterations(iterations)
{ }

QByteArray PasswordHasher::hash(QByteArrayView password) const
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

bool PasswordHasher::verify(const QByteArray &encodedHash, QByteArrayView password) const
{
    if (encodedHash.isEmpty())
        return false;
    return argon2id_verify(encodedHash.constData(), password.constData(), size_t(password.size()))
            == ARGON2_OK;
}

Argon2Parameters PasswordHasher::currentParameters() const
{
    return {ARGON2_VERSION_NUMBER, m_memoryKiB, m_iterations, Parallelism, SaltBytes, HashBytes};
}

bool PasswordHasher::needsRehash(QByteArrayView encodedHash) const
{
    const auto stored = parameters(encodedHash);
    return !stored || *stored != currentParameters();
}

std::optional<Argon2Parameters> PasswordHasher::parameters(QByteArrayView encodedHash)
{
    // "", "argon2id", "v=19", "m=65536,t=3,p=1", salt, hash
    const QList<QByteArray> fields = encodedHash.toByteArray().split('$');
    if (fields.size() != 6 || !fields[0].isEmpty() || fields[1] != "argon2id")
        return std::nullopt;
    const QList<QByteArray> costs = fields[3].split(',');
    if (costs.size() != 3)
        return std::nullopt;
    const auto version = numberAfter(fields[2], "v=");
    const auto memory = numberAfter(costs[0], "m=");
    const auto iterations = numberAfter(costs[1], "t=");
    const auto parallelism = numberAfter(costs[2], "p=");
    if (!version || !memory || !iterations || !parallelism || fields[4].isEmpty()
        || fields[5].isEmpty())
        return std::nullopt;
    return Argon2Parameters{*version,
                            *memory,
                            *iterations,
                            *parallelism,
                            QByteArray::fromBase64(fields[4]).size(),
                            QByteArray::fromBase64(fields[5]).size()};
}

QByteArray PasswordHasher::decoyHash(const Argon2Parameters &parameters)
{
    return QByteArrayLiteral("$argon2id$v=") + QByteArray::number(parameters.version)
            + QByteArrayLiteral("$m=") + QByteArray::number(parameters.memoryKiB)
            + QByteArrayLiteral(",t=") + QByteArray::number(parameters.iterations)
            + QByteArrayLiteral(",p=") + QByteArray::number(parameters.parallelism) + '$'
            + phcBase64(Jose::randomBytes(parameters.saltBytes)) + '$'
            + phcBase64(Jose::randomBytes(parameters.hashBytes));
}

} // namespace Tessera::Server
