// SPDX-License-Identifier: MIT
// The DPoP jti replay cache (RFC 9449 section 11.1): a hash set of SHA-256 digests for the
// lookup and a min-heap on expiry for dropping the entries whose proofs the iat check would
// refuse anyway. Never evicts a live entry: when full, it refuses.
#include <tessera/dpop.h>

#include <QtCore/QMutex>
#include <QtCore/QMutexLocker>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <limits>
#include <queue>
#include <unordered_set>
#include <vector>

namespace Tessera::Jose::Dpop {

namespace {

using Digest = std::array<unsigned char, 32>;

struct DigestHash
{
    size_t operator()(const Digest &digest) const
    {
        // SHA-256 output is uniform: its first bytes are as good a hash as any.
        size_t value;
        std::memcpy(&value, digest.data(), sizeof value);
        return value;
    }
};

struct Entry
{
    qint64 expiresAt;
    Digest digest;
    bool operator>(const Entry &other) const { return expiresAt > other.expiresAt; }
};

} // namespace

class ReplayCachePrivate
{
public:
    qsizetype capacity;
    std::chrono::seconds window;
    mutable QMutex mutex;
    std::unordered_set<Digest, DigestHash> seen;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> byExpiry;

    void dropExpired(qint64 now)
    {
        while (!byExpiry.empty() && byExpiry.top().expiresAt < now) {
            seen.erase(byExpiry.top().digest);
            byExpiry.pop();
        }
    }
};

ReplayCache::ReplayCache(qsizetype capacity, std::chrono::seconds window)
    : d(std::make_unique<ReplayCachePrivate>())
{
    d->capacity = std::max<qsizetype>(1, capacity);
    d->window = std::max(std::chrono::seconds(0), window);
}

ReplayCache::~ReplayCache() = default;

qsizetype ReplayCache::capacity() const
{
    return d->capacity;
}

std::chrono::seconds ReplayCache::window() const
{
    return d->window;
}

qsizetype ReplayCache::size() const
{
    QMutexLocker lock(&d->mutex);
    return qsizetype(d->seen.size());
}

Error ReplayCache::remember(QByteArrayView id, qint64 issuedAt, qint64 now)
{
    const QByteArray hash = sha256(id);
    Digest digest;
    std::memcpy(digest.data(), hash.constData(), digest.size());
    // The proof stays acceptable while now <= iat + window; so must its entry. Saturating: a
    // huge iat is refused by the window check before it gets here, but the cache must not wrap.
    const qint64 window = d->window.count();
    const qint64 expiresAt = issuedAt > std::numeric_limits<qint64>::max() - window
            ? std::numeric_limits<qint64>::max()
            : issuedAt + window;

    QMutexLocker lock(&d->mutex);
    d->dropExpired(now);
    if (d->seen.count(digest) != 0)
        return Error::Replayed;
    if (qsizetype(d->seen.size()) >= d->capacity)
        return Error::ReplayCacheFull;
    d->seen.insert(digest);
    d->byExpiry.push(Entry{expiresAt, digest});
    return Error::None;
}

} // namespace Tessera::Jose::Dpop
