// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QByteArray>

#include <optional>

namespace Tessera::Server {

// Encrypts the successor of a refresh token under a key only the holder of
// that token can derive: HKDF-SHA256(token) -> AES-256-GCM. This lets the grace
// window hand out the current refresh token again while the database keeps
// refresh tokens only as hashes. `associatedData` binds the box to its row.
QByteArray sealForToken(const QByteArray &token, const QByteArray &plaintext,
                        const QByteArray &associatedData);
std::optional<QByteArray> openWithToken(const QByteArray &token, const QByteArray &sealed,
                                        const QByteArray &associatedData);

} // namespace Tessera::Server
