// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QString>
#include <QtCore/QUrl>

QT_BEGIN_NAMESPACE
class QQmlApplicationEngine;
class QQuickWindow;
QT_END_NAMESPACE

namespace TesseraDemo {

struct Options
{
    QUrl serverUrl;
    QString appId = QStringLiteral("org.tessera.demo");
    bool memoryOnly = false;
};

// Loads the demo's main window into `engine`: the Tessera network access
// manager factory, the module import paths, and the window's required
// properties from `options`. Used by main() and by the screenshot test.
// Returns the window, or nullptr (the engine printed why).
QQuickWindow *loadMainWindow(QQmlApplicationEngine &engine, const Options &options);

} // namespace TesseraDemo
