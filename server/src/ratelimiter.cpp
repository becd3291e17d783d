// SPDX-License-Identifier: MIT
#include "ratelimiter.h"

namespace Tessera::Server {

RateLimiter::RateLimiter(int limit, qint64 windowMs)
    : m_limit(limit)
    , m_windowMs(windowMs)
{ }

qint64 RateLimiter::attempt(const QString &key, qint64 nowMs)
{
    if (m_limit <= 0)
        return 0;
    // Keys come from clients (user names, addresses): drop stale ones regularly
    // so the table cannot grow without bound.
    if (nowMs - m_lastPruneMs > m_windowMs || m_attempts.size() > 100000)
        prune(nowMs);

    QList<qint64> &times = m_attempts[key];
    while (!times.isEmpty() && times.first() <= nowMs - m_windowMs)
        times.removeFirst();
    if (times.size() >= m_limit) {
        const qint64 waitMs = times.first() + m_windowMs - nowMs;
        return qMax<qint64>(1, (waitMs + 999) / 1000);
    }
    times.append(nowMs);
    return 0;
}

void RateLimiter::prune(qint64 nowMs)
{
    m_lastPruneMs = nowMs;
    for (auto it = m_attempts.begin(); it != m_attempts.end();) {
        if (it->isEmpty() || it->last() <= nowMs - m_windowMs)
            it = m_attempts.erase(it);
        else
            ++it;
    }
}

} // namespace Tessera::Server
