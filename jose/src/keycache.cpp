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

    // Inserts `entry` as the most recently used of (list, index), dropping the least recently
    // used past capacity.
    void insert(std::list<Entry> &list, QHash<QByteArray, std::list<Entry>::iterator> &map,
                Entry entry)
    {
        if (map.contains(entry.first))
            return;
        list.push_front(std::move(entry));
        map.insert(list.front().first, list.begin());
        if (map.size() > capacity) {
            map.remove(list.back().first);
            list.pop_back();
        }
    }

    const qsizetype capacity;
    mutable QMutex mutex;
    std::list<Entry> byUse; // most recently used first
    QHash<QByteArray, std::list<Entry>::iterator> index;
    // Proof headers (base64url, as sent) that passed every header check, with their key; as
    // many as keys, dropped in the same order.
    std::list<Entry> headersByUse;
    QHash<QByteArray, std::list<Entry>::iterator> headerIndex;
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
    d->insert(d->byUse, d->index, {lookup, key});
    return key;
}

Key KeyCache::keyOfHeader(QByteArrayView encodedHeader)
{
    const QByteArray lookup = QByteArray::fromRawData(encodedHeader.data(), encodedHeader.size());
    QMutexLocker lock(&d->mutex);
    const auto found = d->headerIndex.constFind(lookup);
    if (found == d->headerIndex.constEnd())
        return {}; // counted by the publicKey() that follows
    d->headersByUse.splice(d->headersByUse.begin(), d->headersByUse, *found);
    ++d->hits;
    return found.value()->second;
}

void KeyCache::rememberHeader(QByteArrayView encodedHeader, const Key &key)
{
    if (key.isNull() || key.hasPrivateKey())
        return;
    QMutexLocker lock(&d->mutex);
    d->insert(d->headersByUse, d->headerIndex, {encodedHeader.toByteArray(), key});
}

} // namespace Tessera::Jose::Dpop
