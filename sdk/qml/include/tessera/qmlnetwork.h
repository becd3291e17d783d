// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/tessera_qml_export.h>

#include <QtQml/QQmlNetworkAccessManagerFactory>

QT_BEGIN_NAMESPACE
class QQmlEngine;
QT_END_NAMESPACE

namespace Tessera {

class AuthenticatedNetworkAccessManager;
class Session;

namespace Qml {

// Network access managers for QML (XMLHttpRequest, Image, ...) that route a request to the
// server of a signed-in Session through that session: it gets `Authorization: Bearer <fresh
// access token>`, waits for one shared refresh when needed and is retried once after a 401.
// Every live Tessera::Session of the process counts, whether QML or C++ created it. Requests
// to any other origin, and to the server while nobody is signed in there, go out unchanged
// and never see a token. The token endpoints of a session (obtain, refresh, revoke) are
// refused, so QML code cannot fetch a token pair either. Each routed request runs on the
// session's thread (Image loading runs on a loader thread) and is answered whole.
class TESSERA_QML_EXPORT NetworkAccessManagerFactory : public QQmlNetworkAccessManagerFactory
{
public:
    QNetworkAccessManager *create(QObject *parent) override;
};

enum class InstallMode {
    Always,      // replace whatever factory the engine has
    IfNoFactory, // leave an application's own factory alone
};

// Sets a process-wide NetworkAccessManagerFactory on `engine` (which does not own it). Call
// before the engine loads QML: an engine keeps the manager it made for its first request.
TESSERA_QML_EXPORT void installNetworkAccess(QQmlEngine *engine,
                                             InstallMode mode = InstallMode::Always);

// The one AuthenticatedNetworkAccessManager of `session`, which the requests QML engines route
// to its server go through as well. Created on first use as a child of the session; call on
// the session's thread. For C++ code beside the QML that needs the same manager.
TESSERA_QML_EXPORT AuthenticatedNetworkAccessManager *networkAccessManager(Session *session);

} // namespace Qml
} // namespace Tessera
