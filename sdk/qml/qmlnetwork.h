// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/tessera_qml_export.h>

#include <QtQml/QQmlNetworkAccessManagerFactory>

QT_BEGIN_NAMESPACE
class QQmlEngine;
QT_END_NAMESPACE

namespace Tessera::Qml {

// Network access managers for QML (XMLHttpRequest, Image, ...) that route a
// request to the server of a signed-in QML `Session` through that session:
// it gets `Authorization: Bearer <fresh access token>`, waits for one shared
// refresh when needed and is retried once after a 401. Requests to any other
// origin, and to the server while nobody is signed in, go out unchanged and
// never see a token. The token endpoints themselves (obtain, refresh, revoke)
// are refused, so QML code cannot fetch a token pair either. Image loading
// runs on a loader thread; its requests are relayed to the session's thread.
class TESSERA_QML_EXPORT NetworkAccessManagerFactory : public QQmlNetworkAccessManagerFactory
{
public:
    QNetworkAccessManager *create(QObject *parent) override;
};

enum class InstallMode {
    Always,      // replace whatever factory the engine has
    IfNoFactory, // leave an application's own factory alone
};

// Sets a process-wide NetworkAccessManagerFactory on `engine` (which does not
// own it). Call before the engine makes its first network request; a QML
// Session does it itself (IfNoFactory) when it is created by an engine.
TESSERA_QML_EXPORT void installNetworkAccess(QQmlEngine *engine,
                                             InstallMode mode = InstallMode::Always);

} // namespace Tessera::Qml
