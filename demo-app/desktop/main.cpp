// SPDX-License-Identifier: MIT
// tessera-demo: the Tessera desktop demo (Qt Quick Controls).
//   tessera-demo --server URL [--app-id ID] [--memory-only]
//   tessera-demo --issuer URL --client-id ID [--server URL] [--app-id ID] [--memory-only]
// With --issuer the demo signs in with OpenID Connect (the browser, or a code on another
// device); the API calls go to --server (a resource origin of the session), else to the issuer.
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
    const QCommandLineOption issuer(QStringLiteral("issuer"),
                                    QStringLiteral("OpenID provider to sign in with, through the "
                                                   "browser or a code (needs --client-id)."),
                                    QStringLiteral("URL"));
    const QCommandLineOption clientId(QStringLiteral("client-id"),
                                      QStringLiteral("The demo's client id at the --issuer."),
                                      QStringLiteral("ID"));
    parser.addOptions({server, appId, memoryOnly, issuer, clientId});
    parser.process(app);

    TesseraDemo::Options options;
    options.appId = parser.value(appId);
    options.memoryOnly = parser.isSet(memoryOnly);
    if (parser.isSet(issuer) != parser.isSet(clientId)) {
        std::fprintf(stderr, "tessera-demo: --issuer and --client-id go together\n");
        return 2;
    }
    if (parser.isSet(issuer)) {
        // The issuer exactly as given: discovery compares it character for character.
        options.issuer = QUrl(parser.value(issuer), QUrl::StrictMode);
        options.clientId = parser.value(clientId);
        if (!options.issuer.isValid() || options.issuer.isRelative()) {
            std::fprintf(stderr, "tessera-demo: --issuer needs an absolute URL\n");
            return 2;
        }
    }
    options.serverUrl =
            parser.isSet(server) ? QUrl::fromUserInput(parser.value(server)) : options.issuer;
    if (options.serverUrl.isEmpty() || !options.serverUrl.isValid()) {
        std::fprintf(stderr,
                     "tessera-demo: --server URL is required (e.g. --server "
                     "http://127.0.0.1:8000), or --issuer URL --client-id ID\n");
        return 2;
    }
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
