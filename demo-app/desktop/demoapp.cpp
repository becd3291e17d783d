// SPDX-License-Identifier: MIT
#include "demoapp.h"

#include <tessera/qmlnetwork.h>

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

Tessera::SessionConfig sessionConfigOf(const Options &options)
{
    Tessera::SessionConfig config(options.serverUrl, options.appId);
    config.setIssuer(options.issuer);
    config.setClientId(options.clientId);
    config.setResourceOrigins(resourceOriginsOf(options));
    if (options.memoryOnly)
        config.setStoragePolicy(Tessera::SessionConfig::StoragePolicy::MemoryOnly);
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
                                 {QStringLiteral("resourceOrigins"), resourceOriginsOf(options)}});
    engine.load(QUrl(QStringLiteral("qrc:/qt/qml/TesseraDemo/Main.qml")));
    if (engine.rootObjects().isEmpty())
        return nullptr;
    return qobject_cast<QQuickWindow *>(engine.rootObjects().constFirst());
}

} // namespace TesseraDemo
