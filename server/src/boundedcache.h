// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QHash>

#include <deque>
#include <utility>

namespace Tessera::Server {

// A hash map with a fixed maximum size: inserting into a full cache evicts the
// oldest insertion first. Single-threaded, like its users.
template<typename Key, typename Value> class BoundedCache
{
public:
    explicit BoundedCache(qsizetype capacity)
        : m_capacity(qMax<qsizetype>(1, capacity))
    { }

    qsizetype size() const { return m_slots.size(); }
    qsizetype capacity() const { return m_capacity; }

    void setCapacity(qsizetype capacity)
    {
        m_capacity = qMax<qsizetype>(1, capacity);
        while (m_slots.size() > m_capacity)
            evictOldest();
    }

    // Null when absent. Valid until the next change to the cache.
    const Value *find(const Key &key) const
    {
        const auto it = m_slots.constFind(key);
        return it == m_slots.cend() ? nullptr : &it->value;
    }

    void insert(const Key &key, Value value)
    {
        const auto it = m_slots.find(key);
        if (it != m_slots.end()) {
            it->value = std::move(value);
            return;
        }
        while (m_slots.size() >= m_capacity)
            evictOldest();
        const quint64 serial = m_nextSerial++;
        m_slots.insert(key, Slot{std::move(value), serial});
        m_order.emplace_back(key, serial);
    }

    void remove(const Key &key)
    {
        if (m_slots.remove(key))
            compactOrderIfStale();
    }

    template<typename Predicate> void removeIf(Predicate &&predicate)
    {
        bool removed = false;
        for (auto it = m_slots.begin(); it != m_slots.end();) {
            if (predicate(it->value)) {
                it = m_slots.erase(it);
                removed = true;
            } else {
                ++it;
            }
        }
        if (removed)
            compactOrderIfStale();
    }

    void clear()
    {
        m_slots.clear();
        m_order.clear();
    }

private:
    struct Slot
    {
        Value value;
        quint64 serial; // tells a live entry from an older one under the same key
    };

    bool isLive(const std::pair<Key, quint64> &entry) const
    {
        const auto it = m_slots.constFind(entry.first);
        return it != m_slots.cend() && it->serial == entry.second;
    }

    void evictOldest()
    {
        while (!m_order.empty()) {
            const auto entry = std::move(m_order.front());
            m_order.pop_front();
            if (isLive(entry)) {
                m_slots.remove(entry.first);
                return;
            }
        }
    }

    // Removed entries leave their place in m_order behind; drop those places
    // once they outnumber the live entries, so m_order stays bounded too.
    void compactOrderIfStale()
    {
        if (qsizetype(m_order.size()) <= 2 * m_slots.size() + 64)
            return;
        std::deque<std::pair<Key, quint64>> live;
        for (auto &entry : m_order) {
            if (isLive(entry))
                live.push_back(std::move(entry));
        }
        m_order = std::move(live);
    }

    qsizetype m_capacity;
    quint64 m_nextSerial = 0;
    QHash<Key, Slot> m_slots;
    std::deque<std::pair<Key, quint64>> m_order;
};

} // namespace Tessera::Server
