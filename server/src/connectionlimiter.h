// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QHash>
#include <QtNetwork/QHostAddress>

#include <mutex>

namespace Tessera::Server {

// Open connections, in total and per client address. An IPv6 client is counted
// by its /64 (one host commonly holds a whole /64); an IPv4-mapped IPv6 address
// counts as its IPv4 address. Thread-safe: the listener takes slots, and a connection served
// by another thread (servingunit.h) gives its slot back from there.
class ConnectionLimiter
{
public:
    // maxPerAddress 0: no per-address cap.
    ConnectionLimiter(int maxTotal, int maxPerAddress);

    // Takes a slot for `address`; false (nothing taken) when a cap is reached.
    bool tryAcquire(const QHostAddress &address);
    void release(const QHostAddress &address);

    int total() const;
    int count(const QHostAddress &address) const;
    int maxTotal() const { return m_maxTotal; }
    int maxPerAddress() const { return m_maxPerAddress; }

    static QByteArray addressKey(const QHostAddress &address);

private:
    const int m_maxTotal;
    const int m_maxPerAddress;
    mutable std::mutex m_mutex;
    int m_total = 0;
    QHash<QByteArray, int> m_perAddress;
};

// What RLIMIT_NOFILE leaves for connections once `reserve` descriptors are kept
// for the rest of the process (standard streams, the listening socket, SQLite's
// database, WAL and shared-memory files, the signal pipe, Qt's event
// dispatcher). If `wanted` connections do not fit under the soft limit, the soft
// limit is raised towards the hard one first.
struct FileDescriptorBudget
{
    int connections = 0; // min(wanted, what fits)
    qint64 softLimit = 0;
    qint64 hardLimit = 0;
};
FileDescriptorBudget fitToFileDescriptorLimit(int wanted, int reserve);

} // namespace Tessera::Server
