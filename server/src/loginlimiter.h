// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QString>

namespace Tessera::Server {

// Login throttling that nobody can turn against a user (docs/SERVER.md
// "Login limits"). Only failed attempts count, in sliding windows:
// - per (username, client address): `pairLimit` failures, then 429 for that
//   pair alone until the oldest leaves the window;
// - per client address, whatever the username: `addressLimit` failures
//   (password spraying from one address);
// - per username, whatever the address: past `userCeiling` failures the
//   username is under a distributed attack, and each pair with failures of its
//   own backs off exponentially (window / pairLimit, doubled per failure, at
//   most the window). A pair without failures is never held back, so the
//   attacker cannot spend the legitimate user's attempts.
// A success clears its pair and stops counting as a failure; successes never
// count against anything. Event-loop thread only.
//
// Counted in memory, per process; or, after shareThrough(store), in the database so that
// every instance on one PostgreSQL database counts the same attempts (docs/SERVER.md
// "Running several instances"). Should the database fail, the attempt is refused
// (Reason::StorageFailure): counted in memory instead, it would let each instance allow a
// whole limit of its own, and a failure of this table alone would not stop the login.
//
// The device flow's user codes are limited by a LoginLimiter of their own (DeviceRoute), per
// client address: it shares the same table, its rows kept apart from the logins' (below).
class Store;

class LoginLimiter
{
public:
    // What is counted. In the shared table a user-code attempt is a row without a username
    // (a login always has one: empty usernames are refused before the limiter) and with its
    // address under a prefix no client address has, so neither kind counts against the
    // other, and each kind's rows are purged by its own window.
    enum class Attempts { Logins, UserCodes };

    struct Settings
    {
        int pairLimit = 10;     // 0 disables every limit
        int addressLimit = 100; // 0 disables this one
        int userCeiling = 100;  // 0 disables this one
        qint64 windowMs = 60'000;
        Attempts attempts = Attempts::Logins;
    };

    // StorageFailure: the shared count could not be read or written (the store's failed()
    // and unavailable() tell how); the caller answers as for any storage failure.
    enum class Reason { None, Pair, Address, UserBackoff, StorageFailure };

    struct Verdict
    {
        qint64 retryAfterSeconds = 0; // 0: admitted
        Reason reason = Reason::None;
    };

    // An admitted attempt. It counts as a failure from admission on (so that
    // attempts in flight count too) until succeeded() or withdrawn().
    struct Ticket
    {
        QString username;
        QString address;
        qint64 atMs = 0;
        bool counted = false;
        qint64 sharedId = 0; // its row in the shared table; 0: counted in memory
    };

    explicit LoginLimiter(const Settings &settings);

    // `address` is the client's limiter key (ClientAddressResolver::limiterKey).
    Verdict admit(const QString &username, const QString &address, qint64 nowMs, Ticket *ticket);
    // The password was right: the pair starts over.
    void succeeded(const Ticket &ticket);
    // The password was never checked (the client left, the queue was full).
    void withdrawn(const Ticket &ticket);

    bool enabled() const { return m_settings.pairLimit > 0; }

    // Counts in `store`'s table from now on (PostgreSQL). The store outlives the limiter.
    void shareThrough(Store *store) { m_shared = store; }

private:
    // Failure times per key, oldest first, pruned to the window on access.
    class Windows
    {
    public:
        explicit Windows(qint64 windowMs)
            : m_windowMs(windowMs)
        { }
        const QList<qint64> &current(const QString &key, qint64 nowMs);
        void add(const QString &key, qint64 atMs, qsizetype keepAtMost);
        void remove(const QString &key, qint64 atMs);
        void clear(const QString &key) { m_times.remove(key); }
        void prune(qint64 nowMs);

    private:
        qint64 m_windowMs;
        QHash<QString, QList<qint64>> m_times;
    };

    static QString pairKey(const QString &username, const QString &address);
    // The verdict on failure times in the window (oldest first, each at most its limit).
    Verdict decide(const QList<qint64> &pairFailures, const QList<qint64> &addressFailures,
                   const QList<qint64> &userFailures, qint64 nowMs) const;
    bool admitShared(const QString &username, const QString &address, qint64 nowMs, Ticket *ticket,
                     Verdict *verdict);
    void pruneAll(qint64 nowMs);

    Settings m_settings;
    Windows m_pairs;
    Windows m_addresses;
    Windows m_usernames;
    qint64 m_lastPruneMs = 0;
    Store *m_shared = nullptr;
};

} // namespace Tessera::Server
