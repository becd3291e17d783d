// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QObject>
#include <QtCore/QUrl>
#include <QtQml/qqmlregistration.h>

namespace TesseraDemo {

// `SystemBrowser.open(url)`: opens the browser sign-in's URL (Session.browserSignInRequested)
// or the device flow's verification page without blocking, so the session's loopback listener
// answers while the browser runs.
//
// $BROWSER set: the command in it, run directly with the URL as its single argument
// (Tessera::openInSystemBrowser: no shell), the convention the `tessera` CLI follows too. It is
// the person's explicit choice, and the way tests and scripts play the person
// (tests/interop/oidc/browser.py), also where the platform has no URL handler (offscreen).
// Unset: QDesktopServices::openUrl, the desktop's own handler (portals in sandboxes, the
// default browser's settings), which an app with QtGui should prefer. Qt.openUrlExternally is
// the same call from QML.
class SystemBrowser : public QObject
{
    Q_OBJECT
    QML_ELEMENT
    QML_SINGLETON
public:
    explicit SystemBrowser(QObject *parent = nullptr);

    // False when nothing could be started (the page then shows the URL to copy).
    Q_INVOKABLE bool open(const QUrl &url) const;
};

} // namespace TesseraDemo
