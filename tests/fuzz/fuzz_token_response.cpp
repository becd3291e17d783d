// SPDX-License-Identifier: MIT
// libFuzzer target: the SDK's reading of token-endpoint responses and errors (SimpleJWT and
// OAuth 2 dialects).
#include "oauth/oauthtokenresponse_p.h"
#include "tokenresponse_p.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArrayView input(reinterpret_cast<const char *>(data), qsizetype(size));
    constexpr qint64 Now = 1'800'000'000;
    QString problem;
    Tessera::parseTokenResponse(input, true, Now, &problem);
    Tessera::parseTokenResponse(input, false, Now, &problem);
    Tessera::readAccessClaims(input, Now, &problem);
    Tessera::parseServerProblem(input);
    Tessera::OAuth::parseOAuthTokenResponse(input, &problem);
    Tessera::OAuth::parseOAuthError(input);
    return 0;
}
