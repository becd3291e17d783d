// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QString>

namespace Tessera::Server {

// Sliding-window counter: at most `limit` attempts per key in `windowMs`.
// Event-loop thread only.
class RateLimiter
{
public:
    RateLimiter(int limit, qint64 windowMs);

    // Records an attempt at nowMs. Returns 0 when allowed, otherwise the number
    // of whole seconds until the oldest attempt leaves the window (>= 1). A
    // refused attempt is not recorded, so hammering does not extend the lockout.
    qint64 attempt(const QString &key, qint64 nowMs);

    bool enabled() const { return m_limit > 0; }

private:
    void prune(qint64 nowMs);

    int m_limit;
    qint64 m_windowMs;
    QHash<QString, QList<qint64>> m_attempts;
    qint64 m_lastPruneMs = 0;
};

} // namespace Tessera::Server
