// SPDX-License-Identifier: MIT
#include "demoapp.h"

#include <tessera/qmlnetwork.h>

#include <QtCore/QCommandLineParser>
#include <QtGui/QGuiApplication>
#include <QtQml/QQmlApplicationEngine>
#include <QtQuick/QQuickWindow>

namespace TesseraDemo {
namespace {

QStringList resourceOriginsOf(const Options &options)
{
    if (options.issuer.isEmpty()
        || Tessera::originOf(options.serverUrl) == Tessera::originOf(options.issuer))
        return {};
    return {Tessera::originOf(options.serverUrl)};
}

} // namespace

std::optional<Options> optionsFromArguments(const QStringList &arguments, QString *error)
{
    auto fail = [error](const QString &problem) -> std::optional<Options> {
        if (error)
            *error = problem;
        return std::nullopt;
    };
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
    const QCommandLineOption dpop(QStringLiteral("dpop"),
                                  QStringLiteral("Require DPoP: tokens bound to a key of this "
                                                 "session, or no sign-in."));
    const QCommandLineOption noDpop(QStringLiteral("no-dpop"),
                                    QStringLiteral("Never use DPoP: plain bearer tokens."));
    parser.addOptions({server, appId, memoryOnly, issuer, clientId, dpop, noDpop});
    parser.process(arguments);

    Options options;
    options.appId = parser.value(appId);
    options.memoryOnly = parser.isSet(memoryOnly);
    if (parser.isSet(dpop) && parser.isSet(noDpop))
        return fail(QStringLiteral("--dpop and --no-dpop exclude each other"));
    if (parser.isSet(dpop))
        options.dpopPolicy = Tessera::SessionConfig::DpopPolicy::Required;
    else if (parser.isSet(noDpop))
        options.dpopPolicy = Tessera::SessionConfig::DpopPolicy::Off;
    if (parser.isSet(issuer) != parser.isSet(clientId))
        return fail(QStringLiteral("--issuer and --client-id go together"));
    if (parser.isSet(issuer)) {
        // The issuer exactly as given: discovery compares it character for character.
        options.issuer = QUrl(parser.value(issuer), QUrl::StrictMode);
        options.clientId = parser.value(clientId);
        if (!options.issuer.isValid() || options.issuer.isRelative())
            return fail(QStringLiteral("--issuer needs an absolute URL"));
    }
    options.serverUrl =
            parser.isSet(server) ? QUrl::fromUserInput(parser.value(server)) : options.issuer;
    if (options.serverUrl.isEmpty() || !options.serverUrl.isValid())
        return fail(QStringLiteral("--server URL is required (e.g. --server "
                                   "http://127.0.0.1:8000), or --issuer URL --client-id ID"));
    return options;
}

Tessera::SessionConfig sessionConfigOf(const Options &options)
{
    Tessera::SessionConfig config(options.serverUrl, options.appId);
    config.setIssuer(options.issuer);
    config.setClientId(options.clientId);
    config.setResourceOrigins(resourceOriginsOf(options));
    if (options.memoryOnly)
        config.setStoragePolicy(Tessera::SessionConfig::StoragePolicy::MemoryOnly);
    config.setDpopPolicy(options.dpopPolicy);
    return config;
}

QQuickWindow *loadMainWindow(QQmlApplicationEngine &engine, const Options &options)
{
    // Without a display (QT_QPA_PLATFORM=offscreen) there is no GPU context:
    // render with Qt Quick's software backend, which grabWindow() also reads.
    if (QGuiApplication::platformName() == QLatin1String("offscreen"))
        QQuickWindow::setGraphicsApi(QSGRendererInterface::Software);

    // Qt 6.4 does not search the modules' resources by default.
    engine.addImportPath(QStringLiteral("qrc:/qt/qml"));
    // XMLHttpRequest and Image requests to the server carry the session's token.
    Tessera::Qml::installNetworkAccess(&engine);
    engine.setInitialProperties({{QStringLiteral("serverUrl"), options.serverUrl},
                                 {QStringLiteral("appId"), options.appId},
                                 {QStringLiteral("memoryOnly"), options.memoryOnly},
                                 {QStringLiteral("issuer"), options.issuer},
                                 {QStringLiteral("clientId"), options.clientId},
                                 {QStringLiteral("resourceOrigins"), resourceOriginsOf(options)},
                                 {QStringLiteral("dpopPolicy"), int(options.dpopPolicy)}});
    engine.load(QUrl(QStringLiteral("qrc:/qt/qml/TesseraDemo/Main.qml")));
    if (engine.rootObjects().isEmpty())
        return nullptr;
    return qobject_cast<QQuickWindow *>(engine.rootObjects().constFirst());
}

} // namespace TesseraDemo
