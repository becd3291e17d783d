// SPDX-License-Identifier: MIT
// Private (exported only for the tests): when an access token can be used and when to
// refresh it, on the local clock: clock-skew correction and the refresh lead. Never installed.
#pragma once

#include "tokenresponse_p.h"

#include <tessera/tessera_sdk_export.h>

#include <QtCore/QDateTime>
#include <QtCore/QString>

#include <chrono>
#include <optional>

namespace Tessera {

inline qint64 nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

// A server clock a year off is not skew: an iat that far away is refused.
inline constexpr qint64 MaxTrustedSkewMs = 366LL * 24 * 3600 * 1000;
// An access token with less left than this on arrival is refused. What the loop protection
// needs: a token that is expired (or nearly) on arrival would be due for refresh at once, and
// its successor too, a refresh loop. A token with R left is refreshed R/2 after it arrives
// (the lead is at most half of what is left), so this floor keeps successive refreshes at
// least 250 ms apart whatever the server issues: at most four a second, never a loop. It is
// low enough for 2-second tokens: exp has whole-second precision, so a token of lifetime L
// arrives with between L - 1 s and L s left (less the transfer time).
inline constexpr qint64 MinUsableLifetimeMs = 500;

struct AccessTiming
{
    qint64 skewMs = 0;       // server clock minus local clock
    qint64 expiryMs = 0;     // exp on the local clock
    qint64 refreshDueMs = 0; // local clock: refresh from here on
};

// The timing of a token response's access token (arrivalMs and serverDate filled in), with
// `configuredLead` as SessionConfig::refreshLead(): the lead is
// min(max(configuredLead, 20 % of what is left), 50 % of what is left). nullopt and `problem`
// for a token that is expired on arrival, has less than MinUsableLifetimeMs left (the message
// names both), or whose iat is implausible. With claims.lifetimeSeconds (an OAuth expires_in)
// the expiry is the arrival plus that lifetime on the local clock, and exp/iat are not read.
TESSERA_SDK_EXPORT std::optional<AccessTiming>
accessTiming(const TokenResponse &response, std::chrono::seconds configuredLead, QString *problem);

} // namespace Tessera
