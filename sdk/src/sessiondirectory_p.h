// SPDX-License-Identifier: MIT
// Private (exported for the QML module): every live Session of the process, as a snapshot
// any thread may read. Never installed.
#pragma once

#include <tessera/tessera_sdk_export.h>

#include <QtCore/QString>
#include <QtCore/QStringList>

#include <optional>

QT_BEGIN_NAMESPACE
class QThread;
class QUrl;
QT_END_NAMESPACE

namespace Tessera {

class Session;

// What a thread other than a session's own may know about it: where it signs in, its token
// endpoints, whether it is signed in. Each session keeps its entry current on its own
// thread (Session's constructor and destructor add and remove it). The QML module routes the
// requests of QML engines by it; an image loader thread must never touch a Session.
namespace SessionDirectory {

struct TESSERA_SDK_EXPORT Entry
{
    Session *session = nullptr; // dereference only on `thread`, after contains() said yes
    QThread *thread = nullptr;
    QString origin;              // SessionConfig::origin(); empty while nothing is configured
    QStringList resourceOrigins; // SessionConfig::resourceOrigins(), each as originOf() spells it
    QStringList tokenPaths;      // the URL paths of the obtain, refresh and revoke endpoints
    bool signedIn = false;       // SignedIn or Refreshing

    // Whether `url` is one of the token endpoints (on `origin`), with or without its trailing
    // slash.
    bool isTokenEndpoint(const QUrl &url) const;
};

// The session a request to `url` belongs to: the origins its token goes to are its own
// origin and its resource origins. A signed-in session of that origin first, else any session
// configured for it. None when no live session sends its token there.
TESSERA_SDK_EXPORT std::optional<Entry> find(const QUrl &url);

// Whether `session` is alive. On the session's thread the answer holds until control
// returns to that thread's event loop.
TESSERA_SDK_EXPORT bool contains(const Session *session);

// Session only, on its thread.
void add(Session *session);
void remove(const Session *session);

} // namespace SessionDirectory
} // namespace Tessera
