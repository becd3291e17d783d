// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/sessionconfig.h>

#include <QtCore/QString>
#include <QtCore/QUrl>

QT_BEGIN_NAMESPACE
class QQmlApplicationEngine;
class QQuickWindow;
QT_END_NAMESPACE

namespace TesseraDemo {

struct Options
{
    QUrl serverUrl; // the API the demo calls; SimpleJWT: also where it signs in
    QString appId = QStringLiteral("org.tessera.demo");
    bool memoryOnly = false;
    // Set: the OAuth profile (browser and device sign-in at the issuer); serverUrl becomes a
    // resource origin of the session when it is not the issuer's origin.
    QUrl issuer;
    QString clientId;
};

// The session configuration the window's QML writes for `options` (for checks before it loads).
Tessera::SessionConfig sessionConfigOf(const Options &options);

// Loads the demo's main window into `engine`: the Tessera network access
// manager factory, the module import paths, and the window's required
// properties from `options`. Used by main() and by the screenshot test.
// Returns the window, or nullptr (the engine printed why).
QQuickWindow *loadMainWindow(QQmlApplicationEngine &engine, const Options &options);

} // namespace TesseraDemo
