// SPDX-License-Identifier: MIT
// The DPoP verifier's cache of imported public keys: a hash map for the lookup and a list in
// order of use for dropping the least recently used key when full.
#include "jose_p.h"

#include <tessera/dpop.h>

#include <QtCore/QHash>
#include <QtCore/QMutex>
#include <QtCore/QMutexLocker>

#include <list>
#include <utility>

namespace Tessera::Jose::Dpop {

class KeyCachePrivate
{
public:
    using Entry = std::pair<QByteArray, Key>; // (the lookup key, the imported key)

    explicit KeyCachePrivate(qsizetype capacity)
        : capacity(qMax<qsizetype>(1, capacity))
    { }

    const qsizetype capacity;
    mutable QMutex mutex;
    std::list<Entry> byUse; // most recently used first
    QHash<QByteArray, std::list<Entry>::iterator> index;
    quint64 hits = 0;
    quint64 misses = 0;
};

KeyCache::KeyCache(qsizetype capacity)
    : d(std::make_unique<KeyCachePrivate>(capacity))
{ }

KeyCache::~KeyCache() = default;

qsizetype KeyCache::capacity() const
{
    return d->capacity;
}

qsizetype KeyCache::size() const
{
    QMutexLocker lock(&d->mutex);
    return d->index.size();
}

quint64 KeyCache::hits() const
{
    QMutexLocker lock(&d->mutex);
    return d->hits;
}

quint64 KeyCache::misses() const
{
    QMutexLocker lock(&d->mutex);
    return d->misses;
}

Key KeyCache::publicKey(const QJsonObject &jwk, Algorithm algorithm)
{
    // Every member, not only the RFC 7638 ones: fromJwk() also judges "alg", "use" and the
    // rest, so two jwk objects share an entry only when they are the same object.
    const QByteArray lookup =
            algorithmName(algorithm).toLatin1() + '\n' + Private::compactJson(jwk);
    {
        QMutexLocker lock(&d->mutex);
        if (const auto found = d->index.constFind(lookup); found != d->index.constEnd()) {
            d->byUse.splice(d->byUse.begin(), d->byUse, *found);
            ++d->hits;
            return found.value()->second;
        }
        ++d->misses;
    }
    // Imported outside the lock: concurrent misses for one key both import it, the second
    // insert finds the first's entry.
    Key key = Key::fromJwk(jwk, algorithm);
    if (key.isNull() || key.hasPrivateKey())
        return key; // refused by the caller; never cached
    QMutexLocker lock(&d->mutex);
    if (d->index.contains(lookup))
        return key;
    d->byUse.emplace_front(lookup, key);
    d->index.insert(lookup, d->byUse.begin());
    if (d->index.size() > d->capacity) {
        d->index.remove(d->byUse.back().first);
        d->byUse.pop_back();
    }
    return key;
}

} // namespace Tessera::Jose::Dpop
