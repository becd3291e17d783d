// SPDX-License-Identifier: MIT
#include "pkce_p.h"

#include <tessera/jose.h>

namespace Tessera::OAuth {

namespace {

constexpr qsizetype RandomBytes = 32; // 256 bits; base64url gives 43 characters

// The base64url of fresh random bytes, with the raw bytes wiped before they go.
QByteArray randomToken()
{
    QByteArray raw = Jose::randomBytes(RandomBytes);
    QByteArray token = Jose::base64UrlEncode(raw);
    secureWipe(raw);
    return token;
}

bool isUnreserved(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
            || c == '.' || c == '_' || c == '~';
}

} // namespace

Pkce Pkce::generate()
{
    QByteArray token = randomToken();
    Pkce pkce;
    pkce.verifier = Secret(token);
    pkce.challenge = challengeFor(token);
    secureWipe(token);
    return pkce;
}

QByteArray Pkce::challengeFor(QByteArrayView verifier)
{
    return Jose::base64UrlEncode(Jose::sha256(verifier));
}

bool Pkce::isValidVerifier(QByteArrayView verifier)
{
    if (verifier.size() < 43 || verifier.size() > 128)
        return false;
    for (const char c : verifier) {
        if (!isUnreserved(c))
            return false;
    }
    return true;
}

Secret generateState()
{
    QByteArray token = randomToken();
    Secret state(token);
    secureWipe(token);
    return state;
}

QByteArray generateNonce()
{
    return randomToken();
}

} // namespace Tessera::OAuth
