// SPDX-License-Identifier: MIT
#include "demoapp.h"

#include <tessera/qmlnetwork.h>

#include <QtGui/QGuiApplication>
#include <QtQml/QQmlApplicationEngine>
#include <QtQuick/QQuickWindow>

namespace TesseraDemo {

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
                                 {QStringLiteral("memoryOnly"), options.memoryOnly}});
    engine.load(QUrl(QStringLiteral("qrc:/qt/qml/TesseraDemo/Main.qml")));
    if (engine.rootObjects().isEmpty())
        return nullptr;
    return qobject_cast<QQuickWindow *>(engine.rootObjects().constFirst());
}

} // namespace TesseraDemo
