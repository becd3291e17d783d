// SPDX-License-Identifier: MIT
// Private: backoff with jitter for retrying a refresh that failed transiently. Never installed.
#pragma once

#include <QtCore/QtGlobal>

namespace Tessera {

// Exponential backoff with jitter: the n-th retry (n from 0) waits 2^n s, capped at a minute,
// times a random factor from 0.5 to 1.5, so that clients failing at the same moment (a
// server restart) do not all come back in lockstep.
class Backoff
{
public:
    static constexpr qint64 MaxDelayMs = 60000;

    // The delay before the next retry; counts the attempt.
    qint64 nextDelayMs();
    // After a success: the next failure starts from the shortest delay again.
    void reset() { m_attempt = 0; }

private:
    int m_attempt = 0;
};

} // namespace Tessera
