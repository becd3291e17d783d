// SPDX-License-Identifier: MIT
#include "sessiondirectory_p.h"

#include <tessera/session.h>

#include <QtCore/QMutex>
#include <QtCore/QThread>

namespace Tessera::SessionDirectory {
namespace {

QMutex &directoryMutex()
{
    static QMutex mutex;
    return mutex;
}

QList<Entry> &entries()
{
    static QList<Entry> list;
    return list;
}

Entry snapshotOf(Session *session)
{
    const SessionConfig config = session->config();
    Entry entry;
    entry.session = session;
    entry.thread = session->thread();
    entry.origin = config.origin();
    // The origins the session's authenticated manager sends the token to (besides its own):
    // requests to them are the session's too. Spelled as the manager reads them.
    for (const QString &resource : config.resourceOrigins()) {
        const QString origin = originOf(QUrl(resource, QUrl::StrictMode));
        if (!origin.isEmpty() && origin != entry.origin && !entry.resourceOrigins.contains(origin))
            entry.resourceOrigins.append(origin);
    }
    // OAuth's token endpoints are discovered, not configured: none are listed for it.
    const QStringList paths = config.profile() == SessionConfig::Profile::SimpleJwt
            ? QStringList{config.obtainPath(), config.refreshPath(), config.revokePath()}
            : QStringList();
    for (const QString &path : paths) {
        if (!path.isEmpty())
            entry.tokenPaths.append(config.endpoint(path).path());
    }
    const Session::State state = session->state();
    entry.signedIn = state == Session::State::SignedIn || state == Session::State::Refreshing;
    return entry;
}

void update(Session *session)
{
    const Entry current = snapshotOf(session);
    QMutexLocker locker(&directoryMutex());
    for (Entry &entry : entries()) {
        if (entry.session == session)
            entry = current;
    }
}

} // namespace

bool Entry::isTokenEndpoint(const QUrl &url) const
{
    if (originOf(url) != origin)
        return false;
    const QString path = url.path();
    const QString trimmed = path.endsWith(u'/') ? path.chopped(1) : path;
    for (const QString &tokenPath : tokenPaths) {
        if (tokenPath == path || tokenPath == trimmed
            || (tokenPath.endsWith(u'/') && tokenPath.chopped(1) == trimmed))
            return true;
    }
    return false;
}

std::optional<Entry> find(const QUrl &url)
{
    const QString origin = originOf(url);
    if (origin.isEmpty())
        return std::nullopt;
    QMutexLocker locker(&directoryMutex());
    std::optional<Entry> found;
    for (const Entry &entry : std::as_const(entries())) {
        if (entry.origin != origin && !entry.resourceOrigins.contains(origin))
            continue;
        if (entry.signedIn)
            return entry;
        if (!found)
            found = entry;
    }
    return found;
}

bool contains(const Session *session)
{
    QMutexLocker locker(&directoryMutex());
    for (const Entry &entry : std::as_const(entries())) {
        if (entry.session == session)
            return true;
    }
    return false;
}

void add(Session *session)
{
    const Entry entry = snapshotOf(session);
    {
        QMutexLocker locker(&directoryMutex());
        entries().append(entry);
    }
    // The first connections to these signals: the entry is current before anyone else hears.
    QObject::connect(session, &Session::stateChanged, session, [session] { update(session); });
    QObject::connect(session, &Session::configChanged, session, [session] { update(session); });
}

void remove(const Session *session)
{
    QMutexLocker locker(&directoryMutex());
    entries().removeIf([session](const Entry &entry) { return entry.session == session; });
}

} // namespace Tessera::SessionDirectory
