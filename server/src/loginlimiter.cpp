// SPDX-License-Identifier: MIT
#include "loginlimiter.h"

#include "store.h"

namespace Tessera::Server {

const QList<qint64> &LoginLimiter::Windows::current(const QString &key, qint64 nowMs)
{
    static const QList<qint64> none;
    const auto it = m_times.find(key);
    if (it == m_times.end())
        return none;
    while (!it->isEmpty() && it->first() <= nowMs - m_windowMs)
        it->removeFirst();
    return *it;
}

void LoginLimiter::Windows::add(const QString &key, qint64 atMs, qsizetype keepAtMost)
{
    QList<qint64> &times = m_times[key];
    times.append(atMs);
    while (times.size() > keepAtMost)
        times.removeFirst();
}

void LoginLimiter::Windows::remove(const QString &key, qint64 atMs)
{
    const auto it = m_times.find(key);
    if (it == m_times.end())
        return;
    it->removeOne(atMs);
    if (it->isEmpty())
        m_times.erase(it);
}

void LoginLimiter::Windows::prune(qint64 nowMs)
{
    for (auto it = m_times.begin(); it != m_times.end();) {
        if (it->isEmpty() || it->last() <= nowMs - m_windowMs)
            it = m_times.erase(it);
        else
            ++it;
    }
}

LoginLimiter::LoginLimiter(const Settings &settings)
    : m_settings(settings)
    , m_pairs(settings.windowMs)
    , m_addresses(settings.windowMs)
    , m_usernames(settings.windowMs)
{ }

QString LoginLimiter::pairKey(const QString &username, const QString &address)
{
    // An address never contains U+001F, so the key cannot be ambiguous.
    return address + QChar(0x1f) + username;
}

void LoginLimiter::pruneAll(qint64 nowMs)
{
    // Keys come from clients (user names, addresses): drop stale ones regularly
    // so the tables cannot grow without bound.
    if (nowMs - m_lastPruneMs <= m_settings.windowMs)
        return;
    m_lastPruneMs = nowMs;
    m_pairs.prune(nowMs);
    m_addresses.prune(nowMs);
    m_usernames.prune(nowMs);
}

LoginLimiter::Verdict LoginLimiter::decide(const QList<qint64> &pairFailures,
                                           const QList<qint64> &addressFailures,
                                           const QList<qint64> &userFailures, qint64 nowMs) const
{
    const qint64 windowMs = m_settings.windowMs;
    qint64 waitMs = 0;
    Reason reason = Reason::None;
    auto mustWait = [&waitMs, &reason](qint64 ms, Reason why) {
        if (ms > waitMs) {
            waitMs = ms;
            reason = why;
        }
    };
    if (pairFailures.size() >= m_settings.pairLimit)
        mustWait(pairFailures.first() + windowMs - nowMs, Reason::Pair);
    if (m_settings.addressLimit > 0 && addressFailures.size() >= m_settings.addressLimit)
        mustWait(addressFailures.first() + windowMs - nowMs, Reason::Address);
    if (m_settings.userCeiling > 0 && !pairFailures.isEmpty()
        && userFailures.size() >= m_settings.userCeiling) {
        const qint64 baseMs = qMax<qint64>(1000, windowMs / m_settings.pairLimit);
        const int doublings = int(qMin<qsizetype>(pairFailures.size() - 1, 20));
        const qint64 backoffMs = qMin(windowMs, baseMs << doublings);
        mustWait(pairFailures.last() + backoffMs - nowMs, Reason::UserBackoff);
    }
    if (waitMs > 0)
        return {(waitMs + 999) / 1000, reason};
    return {};
}

LoginLimiter::Verdict LoginLimiter::admit(const QString &username, const QString &address,
                                          qint64 nowMs, Ticket *ticket)
{
    *ticket = Ticket{username, address, nowMs, false, 0};
    if (!enabled())
        return {};
    Verdict verdict;
    if (m_shared && admitShared(username, address, nowMs, ticket, &verdict))
        return verdict;
    pruneAll(nowMs);
    const QString pair = pairKey(username, address);
    static const QList<qint64> none;
    const QList<qint64> &pairFailures = m_pairs.current(pair, nowMs);
    const QList<qint64> &addressFailures =
            m_settings.addressLimit > 0 ? m_addresses.current(address, nowMs) : none;
    const QList<qint64> &userFailures =
            m_settings.userCeiling > 0 ? m_usernames.current(username, nowMs) : none;
    verdict = decide(pairFailures, addressFailures, userFailures, nowMs);
    if (verdict.retryAfterSeconds > 0)
        return verdict;

    m_pairs.add(pair, nowMs, m_settings.pairLimit);
    if (m_settings.addressLimit > 0)
        m_addresses.add(address, nowMs, m_settings.addressLimit);
    if (m_settings.userCeiling > 0)
        m_usernames.add(username, nowMs, m_settings.userCeiling);
    ticket->counted = true;
    return {};
}

bool LoginLimiter::admitShared(const QString &username, const QString &address, qint64 nowMs,
                               Ticket *ticket, Verdict *verdict)
{
    const bool userCodes = m_settings.attempts == Attempts::UserCodes;
    if (nowMs - m_lastPruneMs > m_settings.windowMs) {
        m_lastPruneMs = nowMs;
        m_shared->purgeLoginAttempts(nowMs - m_settings.windowMs, userCodes);
    }
    // A user-code attempt's pair window is then its address's, and its username window holds
    // the user-code attempts of every address.
    const QString sharedUsername = userCodes ? QStringLiteral("") : username;
    const QString sharedAddress = userCodes ? QStringLiteral("user-code ") + address : address;
    const Store::LoginKeep keep{m_settings.pairLimit, qMax(0, m_settings.addressLimit),
                                qMax(0, m_settings.userCeiling)};
    const auto id = m_shared->admitLoginAttempt(
            sharedUsername, sharedAddress, nowMs, nowMs - m_settings.windowMs, keep,
            [this, nowMs, verdict](const Store::LoginWindows &windows) {
                *verdict = decide(windows.pair, windows.address, windows.username, nowMs);
                return verdict->retryAfterSeconds == 0;
            });
    if (!id) {
        // Refused, not counted in memory: retryAfterSeconds stays non-zero so that no caller
        // can take it for an admission.
        *verdict = {1, Reason::StorageFailure};
        return true;
    }
    ticket->sharedId = *id;
    ticket->counted = *id > 0;
    return true;
}
void LoginLimiter::succeeded(const Ticket &ticket)
{
    if (!ticket.counted)
        return;
    if (ticket.sharedId > 0) {
        m_shared->endLoginAttempt(ticket.sharedId, true);
        return;
    }
    m_pairs.clear(pairKey(ticket.username, ticket.address));
    m_addresses.remove(ticket.address, ticket.atMs);
    m_usernames.remove(ticket.username, ticket.atMs);
}

void LoginLimiter::withdrawn(const Ticket &ticket)
{
    if (!ticket.counted)
        return;
    if (ticket.sharedId > 0) {
        m_shared->endLoginAttempt(ticket.sharedId, false);
        return;
    }
    m_pairs.remove(pairKey(ticket.username, ticket.address), ticket.atMs);
    m_addresses.remove(ticket.address, ticket.atMs);
    m_usernames.remove(ticket.username, ticket.atMs);
}

} // namespace Tessera::Server
