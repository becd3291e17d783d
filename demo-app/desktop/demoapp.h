// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/sessionconfig.h>

#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QUrl>

#include <optional>

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
    // --dpop: Required (sign-in fails unless the server binds the tokens to the session's key);
    // --no-dpop: Off; neither: IfSupported, the SDK's default.
    Tessera::SessionConfig::DpopPolicy dpopPolicy = Tessera::SessionConfig::DpopPolicy::IfSupported;
};

// The options of a command line (arguments[0] is the program). --help and --version print and
// exit, as QCommandLineParser::process() does. std::nullopt and *error when the options do not
// go together or a URL is unusable; the configuration itself is checked by the caller
// (sessionConfigOf(options).validate()).
std::optional<Options> optionsFromArguments(const QStringList &arguments, QString *error);

// The session configuration the window's QML writes for `options` (for checks before it loads).
Tessera::SessionConfig sessionConfigOf(const Options &options);

// Loads the demo's main window into `engine`: the Tessera network access
// manager factory, the module import paths, and the window's required
// properties from `options`. Used by main() and by the screenshot test.
// Returns the window, or nullptr (the engine printed why).
QQuickWindow *loadMainWindow(QQmlApplicationEngine &engine, const Options &options);

} // namespace TesseraDemo
