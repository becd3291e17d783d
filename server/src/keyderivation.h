// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>

namespace Tessera::Server {

// HKDF-SHA256 (RFC 5869) through OpenSSL's EVP_KDF: `length` bytes of key for the purpose
// `info` from the input keying material `key` and `salt`. Empty on failure (and for an empty
// `key`: nothing is derived from nothing).
QByteArray hkdfSha256(QByteArrayView key, QByteArrayView salt, QByteArrayView info, int length);

} // namespace Tessera::Server
