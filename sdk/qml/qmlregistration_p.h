// SPDX-License-Identifier: MIT
// Private: the names the QML module "Tessera" gives the SDK's own types. Nothing here copies
// them: QML sees Tessera::Session, Tessera::SessionConfig and Tessera::Error themselves, with
// their own enums. Never installed.
#pragma once

#include <tessera/error.h>
#include <tessera/session.h>
#include <tessera/sessionconfig.h>

#include <QtQml/qqml.h> // QML_FOREIGN needs QQmlPrivate beside the registration macros

namespace Tessera {
namespace Qml {
namespace Registration {

// `Session { config.serverUrl: "https://auth.example.com"; config.appId: "org.example.notes" }`
// with Session.SignedOut ... Session.ReauthRequired. login(), restore() and logout() are
// Q_INVOKABLE on Tessera::Session; QML leaves the future they return alone and reads the
// outcome from state and lastError.
struct SessionForeign
{
    Q_GADGET
    QML_FOREIGN(Tessera::Session)
    QML_NAMED_ELEMENT(Session)
};

// session.config, a value type: writing one of its properties writes the whole configuration
// back through Session::setConfig() (honoured while signed out).
struct SessionConfigForeign
{
    Q_GADGET
    QML_FOREIGN(Tessera::SessionConfig)
    QML_VALUE_TYPE(sessionConfig)
};

// SessionConfig.SecureStorage, SessionConfig.MemoryOnly. (The engine resolves enums registered
// this way; qmllint 6.4 does not and reports "unqualified access". Copying the enums into a
// namespace of our own, as Qt Quick does for Font, is what this module avoids.)
namespace SessionConfigEnums {
Q_NAMESPACE
QML_FOREIGN_NAMESPACE(Tessera::SessionConfig)
QML_NAMED_ELEMENT(SessionConfig)
} // namespace SessionConfigEnums

// session.lastError, a value type: code, message, serverCode, transient.
struct ErrorForeign
{
    Q_GADGET
    QML_FOREIGN(Tessera::Error)
    QML_VALUE_TYPE(sessionError)
};

// SessionError.NoError, SessionError.InvalidCredentials, ... (a QML type named "Error" would
// hide JavaScript's Error constructor in every file that imports Tessera).
namespace ErrorEnums {
Q_NAMESPACE
QML_FOREIGN_NAMESPACE(Tessera::Error)
QML_NAMED_ELEMENT(SessionError)
} // namespace ErrorEnums

} // namespace Registration
} // namespace Qml
} // namespace Tessera
