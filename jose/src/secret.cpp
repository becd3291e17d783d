// SPDX-License-Identifier: MIT
#include <tessera/secret.h>

#include <tessera/jose.h>

#include <QtCore/QDebug>

#include <openssl/crypto.h>

namespace Tessera {

void secureWipe(QByteArray &bytes)
{
    if (!bytes.isEmpty() && bytes.isDetached())
        OPENSSL_cleanse(bytes.data(), size_t(bytes.size()));
    bytes.clear();
}

Secret::Secret(QByteArrayView value)
    : m_value(std::make_unique<QByteArray>(value.data(), value.size()))
{ }

Secret::~Secret()
{
    clear();
}

Secret &Secret::operator=(Secret &&other) noexcept
{
    if (this != &other) {
        clear();
        m_value = std::move(other.m_value);
    }
    return *this;
}

QByteArrayView Secret::reveal() const
{
    return m_value ? QByteArrayView(*m_value) : QByteArrayView();
}

bool Secret::equals(QByteArrayView other) const
{
    return Jose::constantTimeEquals(reveal(), other);
}

void Secret::clear()
{
    if (m_value) {
        // The buffer is never shared (see the member comment), so this wipes the bytes.
        secureWipe(*m_value);
        m_value.reset();
    }
}

QDebug operator<<(QDebug debug, const Secret &secret)
{
    QDebugStateSaver saver(debug);
    debug.nospace() << "Tessera::Secret(<redacted>";
    if (secret.isEmpty())
        debug << ", empty";
    debug << ')';
    return debug;
}

} // namespace Tessera
