// SPDX-License-Identifier: MIT
// tessera-demo: the Tessera desktop demo (Qt Quick Controls).
//   tessera-demo --server URL [--app-id ID] [--memory-only] [--dpop | --no-dpop]
//   tessera-demo --issuer URL --client-id ID [--server URL] [--app-id ID] [--memory-only]
//                [--dpop | --no-dpop]
// With --issuer the demo signs in with OpenID Connect (the browser, or a code on another
// device); the API calls go to --server (a resource origin of the session), else to the issuer.
// Without a display, run it with QT_QPA_PLATFORM=offscreen.
#include "demoapp.h"

#include <tessera/sessionconfig.h>

#include <QtGui/QGuiApplication>
#include <QtQml/QQmlApplicationEngine>
#include <QtQml/QQmlExtensionPlugin>

#include <cstdio>

Q_IMPORT_QML_PLUGIN(TesseraDemoPlugin)

int main(int argc, char *argv[])
{
    QGuiApplication app(argc, argv);
    QGuiApplication::setOrganizationName(QStringLiteral("Tessera"));
    QGuiApplication::setApplicationName(QStringLiteral("tessera-demo"));
    QGuiApplication::setApplicationDisplayName(QStringLiteral("Tessera Demo"));
    QGuiApplication::setApplicationVersion(QStringLiteral("0.1.0"));

    QString problem;
    const std::optional<TesseraDemo::Options> parsed =
            TesseraDemo::optionsFromArguments(QCoreApplication::arguments(), &problem);
    if (!parsed) {
        std::fprintf(stderr, "tessera-demo: %s\n", qPrintable(problem));
        return 2;
    }
    const TesseraDemo::Options &options = *parsed;
    const Tessera::Error configError = TesseraDemo::sessionConfigOf(options).validate();
    if (configError.isError()) {
        std::fprintf(stderr, "tessera-demo: %s\n", qPrintable(configError.message()));
        return 2;
    }

    QQmlApplicationEngine engine;
    if (!TesseraDemo::loadMainWindow(engine, options))
        return 1;
    return app.exec();
}
