// SPDX-License-Identifier: MIT
// Private: backoff with jitter for retrying a refresh that failed transiently. Never installed.
#pragma once

#include <QtCore/QtGlobal>

namespace Tessera {

// Exponential backoff with jitter: the n-th retry (n from 0) waits 2^n s, capped at a minute,
// times a random factor from 0.5 to 1.5, so that clients failing at the same moment (a
// server restart) do not all come back in lockstep. Tests may scale the schedule down by
// setting a shorter first delay than 1 s (setBaseDelayForTesting).
class Backoff
{
public:
    static constexpr qint64 MaxDelayMs = 60000;

    // The delay before the next retry; counts the attempt.
    qint64 nextDelayMs();
    // After a success: the next failure starts from the shortest delay again.
    void reset() { m_attempt = 0; }
    // Tests: the base delay (2^0 s by default) every delay is a multiple of.
    void setBaseDelayForTesting(qint64 baseMs) { m_baseMs = baseMs; }

private:
    int m_attempt = 0;
    qint64 m_baseMs = 1000;
};

} // namespace Tessera
