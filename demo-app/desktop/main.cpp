// SPDX-License-Identifier: MIT
// tessera-demo: the Tessera desktop demo (Qt Quick Controls).
//   tessera-demo --server URL [--app-id ID] [--memory-only]
// Without a display, run it with QT_QPA_PLATFORM=offscreen.
#include "demoapp.h"

#include <tessera/sessionconfig.h>

#include <QtCore/QCommandLineParser>
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

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
            "Tessera desktop demo: sign in, watch the session refresh, call a protected API, "
            "and check the threat table live in the security lab."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption server(QStringList{QStringLiteral("server"), QStringLiteral("s")},
                                    QStringLiteral("Base URL of the auth server (https, or "
                                                   "http on loopback)."),
                                    QStringLiteral("URL"));
    const QCommandLineOption appId(QStringLiteral("app-id"),
                                   QStringLiteral("Application id for the storage namespace "
                                                  "(default org.tessera.demo)."),
                                   QStringLiteral("ID"), QStringLiteral("org.tessera.demo"));
    const QCommandLineOption memoryOnly(QStringLiteral("memory-only"),
                                        QStringLiteral("Keep the refresh token in memory only "
                                                       "(nothing stored; no restore)."));
    parser.addOptions({server, appId, memoryOnly});
    parser.process(app);

    TesseraDemo::Options options;
    options.serverUrl = QUrl::fromUserInput(parser.value(server));
    options.appId = parser.value(appId);
    options.memoryOnly = parser.isSet(memoryOnly);
    if (!parser.isSet(server) || !options.serverUrl.isValid()) {
        std::fprintf(stderr,
                     "tessera-demo: --server URL is required (e.g. --server "
                     "http://127.0.0.1:8000)\n");
        return 2;
    }
    const Tessera::Error configError =
            Tessera::SessionConfig(options.serverUrl, options.appId).validate();
    if (configError.isError()) {
        std::fprintf(stderr, "tessera-demo: %s\n", qPrintable(configError.message()));
        return 2;
    }

    QQmlApplicationEngine engine;
    if (!TesseraDemo::loadMainWindow(engine, options))
        return 1;
    return app.exec();
}
