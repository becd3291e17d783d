// SPDX-License-Identifier: MIT
#include "accesstiming_p.h"

namespace Tessera {
namespace {

qint64 leadFor(qint64 remainingMs, std::chrono::seconds configuredLead)
{
    // The lead is taken from what is left, not from exp - iat: SimpleJWT's refreshed
    // tokens can carry an old iat, and a lead longer than what is left would loop.
    const qint64 configuredLeadMs = qint64(configuredLead.count()) * 1000;
    return qMin(qMax(configuredLeadMs, remainingMs / 5), remainingMs / 2);
}

bool checkRemaining(qint64 remainingMs, QString *problem)
{
    // A token that is (nearly) expired on arrival would be refreshed again at once,
    // and again: refuse it instead of looping.
    if (remainingMs <= 0) {
        *problem = QStringLiteral("access token is expired on arrival");
        return false;
    }
    if (remainingMs < MinUsableLifetimeMs) {
        *problem = QStringLiteral("access token has %1 ms left on arrival, below the minimum "
                                  "of %2 ms")
                           .arg(remainingMs)
                           .arg(MinUsableLifetimeMs);
        return false;
    }
    return true;
}

// An OAuth 2 expires_in: counted on our clock from the arrival, so no skew correction is
// needed (the Date header only informs skewMs).
std::optional<AccessTiming> relativeTiming(const TokenResponse &response, qint64 lifetimeSeconds,
                                           std::chrono::seconds configuredLead, QString *problem)
{
    const qint64 remainingMs = lifetimeSeconds * 1000;
    if (!checkRemaining(remainingMs, problem))
        return std::nullopt;
    AccessTiming timing;
    if (response.serverDate)
        timing.skewMs = response.serverDate->toMSecsSinceEpoch() - response.arrivalMs;
    timing.expiryMs = response.arrivalMs + remainingMs;
    timing.refreshDueMs = timing.expiryMs - leadFor(remainingMs, configuredLead);
    return timing;
}

} // namespace

std::optional<AccessTiming> accessTiming(const TokenResponse &response,
                                         std::chrono::seconds configuredLead, QString *problem)
{
    // Clock skew: the server's Date header (or the token's iat) against our clock
    // at arrival, so exp is compared with a clock that agrees with the server's.
    const qint64 arrival = response.arrivalMs;
    AccessTiming timing;
    if (response.claims.lifetimeSeconds)
        return relativeTiming(response, *response.claims.lifetimeSeconds, configuredLead, problem);
    if (response.serverDate) {
        timing.skewMs = response.serverDate->toMSecsSinceEpoch() - arrival;
    } else if (response.claims.issuedAt) {
        timing.skewMs = *response.claims.issuedAt * 1000 - arrival;
        // A clock a year off is not skew; an iat of 0 would make any exp look fresh.
        if (qAbs(timing.skewMs) > MaxTrustedSkewMs) {
            *problem = QStringLiteral("access token iat is implausible");
            return std::nullopt;
        }
    }
    // Ignore sub-second noise from whole-second timestamps.
    if (qAbs(timing.skewMs) < 1500)
        timing.skewMs = 0;
    const qint64 remainingMs = response.claims.expiresAt * 1000 - (arrival + timing.skewMs);
    if (!checkRemaining(remainingMs, problem))
        return std::nullopt;
    timing.expiryMs = response.claims.expiresAt * 1000 - timing.skewMs;
    timing.refreshDueMs = timing.expiryMs - leadFor(remainingMs, configuredLead);
    return timing;
}

} // namespace Tessera
