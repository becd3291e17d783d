// SPDX-License-Identifier: MIT
#include "connectionlimiter.h"

#include <limits>

#include <sys/resource.h>

namespace Tessera::Server {

ConnectionLimiter::ConnectionLimiter(int maxTotal, int maxPerAddress)
    : m_maxTotal(maxTotal)
    , m_maxPerAddress(maxPerAddress)
{ }

QByteArray ConnectionLimiter::addressKey(const QHostAddress &address)
{
    bool isV4 = false;
    const quint32 v4 = address.toIPv4Address(&isV4); // also unwraps ::ffff:a.b.c.d
    if (isV4)
        return QByteArray::number(v4);
    const Q_IPV6ADDR v6 = address.toIPv6Address();
    return QByteArray(reinterpret_cast<const char *>(v6.c), 8).toHex();
}

int ConnectionLimiter::total() const
{
    const std::lock_guard lock(m_mutex);
    return m_total;
}

int ConnectionLimiter::count(const QHostAddress &address) const
{
    const std::lock_guard lock(m_mutex);
    return m_perAddress.value(addressKey(address));
}

bool ConnectionLimiter::tryAcquire(const QHostAddress &address)
{
    const QByteArray key = addressKey(address);
    const std::lock_guard lock(m_mutex);
    if (m_total >= m_maxTotal)
        return false;
    int &open = m_perAddress[key];
    if (m_maxPerAddress > 0 && open >= m_maxPerAddress) {
        if (open == 0)
            m_perAddress.remove(key);
        return false;
    }
    ++open;
    ++m_total;
    return true;
}

void ConnectionLimiter::release(const QHostAddress &address)
{
    const QByteArray key = addressKey(address);
    const std::lock_guard lock(m_mutex);
    const auto it = m_perAddress.find(key);
    if (it == m_perAddress.end())
        return;
    if (--it.value() <= 0)
        m_perAddress.erase(it);
    --m_total;
}

FileDescriptorBudget fitToFileDescriptorLimit(int wanted, int reserve)
{
    FileDescriptorBudget budget;
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        budget.connections = wanted;
        return budget;
    }
    const rlim_t needed = rlim_t(wanted) + rlim_t(reserve);
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? needed : qMin(needed, limit.rlim_max);
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
            limit = raised;
    }
    const auto asQint = [](rlim_t value) {
        return value == RLIM_INFINITY ? std::numeric_limits<qint64>::max() : qint64(value);
    };
    budget.softLimit = asQint(limit.rlim_cur);
    budget.hardLimit = asQint(limit.rlim_max);
    const qint64 room = budget.softLimit - reserve;
    budget.connections = int(qBound(qint64(1), room, qint64(wanted)));
    return budget;
}

} // namespace Tessera::Server
