// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/tessera_jose_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>

#include <memory>

QT_BEGIN_NAMESPACE
class QDebug;
QT_END_NAMESPACE

namespace Tessera {

// Overwrites the bytes of a buffer this QByteArray owns alone (in a way the compiler cannot
// optimise away), then empties it. A buffer still shared with another QByteArray is only
// released: writing would detach and leave the shared bytes untouched anyway. The one wipe
// function of the project: storage, JOSE, the SDK and the server all use it.
TESSERA_JOSE_EXPORT void secureWipe(QByteArray &bytes);

// A token or password in memory: move-only, wiped when destroyed or cleared,
// printed as <redacted> by QDebug. Reading the value is explicit (reveal()), so
// it does not slip into a log line or a string by accident.
class TESSERA_JOSE_EXPORT Secret
{
public:
    Secret() = default;
    explicit Secret(QByteArrayView value);
    ~Secret();
    Secret(Secret &&other) noexcept = default;
    Secret &operator=(Secret &&other) noexcept;
    Secret(const Secret &) = delete;
    Secret &operator=(const Secret &) = delete;

    bool isEmpty() const { return !m_value || m_value->isEmpty(); }
    qsizetype size() const { return m_value ? m_value->size() : 0; }

    // The bytes, valid while this Secret lives and is not modified.
    QByteArrayView reveal() const;
    // An explicit copy, for the rare caller that must own one.
    Secret clone() const { return Secret(reveal()); }
    // Constant-time comparison.
    bool equals(QByteArrayView other) const;

    void clear();

private:
    // Owned alone (never implicitly shared), so wiping it wipes the only copy.
    std::unique_ptr<QByteArray> m_value;
};

TESSERA_JOSE_EXPORT QDebug operator<<(QDebug debug, const Secret &secret);

} // namespace Tessera
