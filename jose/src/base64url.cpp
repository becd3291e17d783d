// SPDX-License-Identifier: MIT
// Unpadded base64url (RFC 7515 section 2), strict on input: one encoding per byte string.
#include <tessera/jose.h>

namespace Tessera::Jose {
namespace {

int base64UrlValue(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

} // namespace

QByteArray base64UrlEncode(QByteArrayView data)
{
    return data.toByteArray().toBase64(QByteArray::Base64UrlEncoding
                                       | QByteArray::OmitTrailingEquals);
}

std::optional<QByteArray> base64UrlDecode(QByteArrayView text)
{
    const qsizetype size = text.size();
    if (size % 4 == 1)
        return std::nullopt;
    QByteArray out;
    out.reserve(size / 4 * 3 + 2);
    quint32 accumulator = 0;
    int bits = 0;
    for (qsizetype i = 0; i < size; ++i) {
        const int value = base64UrlValue(text[i]);
        if (value < 0)
            return std::nullopt;
        accumulator = (accumulator << 6) | quint32(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += char((accumulator >> bits) & 0xFF);
        }
    }
    // Leftover bits (2 or 4) must be zero, so every byte string has exactly one encoding.
    if (bits > 0 && (accumulator & ((1u << bits) - 1)) != 0)
        return std::nullopt;
    return out;
}

} // namespace Tessera::Jose
