// SPDX-License-Identifier: MIT
#include "keychain/keychainerrors_p.h"

#include <QtCore/QStringList>

namespace Tessera::Platform {
namespace {

using Status = StoreResult::Status;

bool containsAny(const QString &text, const QStringList &needles)
{
    for (const QString &needle : needles) {
        if (text.contains(needle, Qt::CaseInsensitive))
            return true;
    }
    return false;
}

// Texts QtKeychain 0.13 passes on (from GDBus, dbus-daemon, libsecret or its KWallet path)
// when there is no session bus or nothing provides the Secret Service.
bool saysUnavailable(const QString &text)
{
    static const QStringList needles = {
            QStringLiteral("Cannot autolaunch D-Bus"), // no bus address and no X11 $DISPLAY
            QStringLiteral("Could not connect:"), // bus address names a socket nobody listens on
            QStringLiteral("not provided by any .service files"), // no org.freedesktop.secrets
            QStringLiteral("D-Bus is not running"),               // KWallet path
            QStringLiteral("No keychain service available"),      // KWallet path
    };
    return containsAny(text, needles);
}

// "Cannot create an item in a locked collection"; "Object does not exist at path
// “/org/freedesktop/secrets/collection/login”" (the default collection was never created or
// unlocked, e.g. gnome-keyring started without --unlock).
bool saysLocked(const QString &text)
{
    if (text.contains(QStringLiteral("locked"), Qt::CaseInsensitive))
        return true;
    return text.contains(QStringLiteral("does not exist at path"), Qt::CaseInsensitive)
            && text.contains(QStringLiteral("/org/freedesktop/secrets/collection/"));
}

} // namespace

StoreResult::Status statusForKeychainError(QKeychain::Error error, const QString &errorText)
{
    switch (error) {
    case QKeychain::NoError:
        return Status::Ok;
    case QKeychain::EntryNotFound:
        return Status::NotFound;
    case QKeychain::NoBackendAvailable:
    case QKeychain::NotImplemented:
        return Status::Unavailable;
    case QKeychain::AccessDeniedByUser:
    case QKeychain::AccessDenied:
        return saysLocked(errorText) ? Status::Locked : Status::AccessDenied;
    case QKeychain::CouldNotDeleteEntry:
    case QKeychain::OtherError:
        break;
    }
    if (saysUnavailable(errorText))
        return Status::Unavailable;
    if (saysLocked(errorText))
        return Status::Locked;
    return Status::Other;
}

} // namespace Tessera::Platform
