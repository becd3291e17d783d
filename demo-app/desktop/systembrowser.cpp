// SPDX-License-Identifier: MIT
#include "systembrowser.h"

#include <tessera/session.h>

#include <QtGui/QDesktopServices>

namespace TesseraDemo {

SystemBrowser::SystemBrowser(QObject *parent)
    : QObject(parent)
{ }

bool SystemBrowser::open(const QUrl &url) const
{
    if (!url.isValid() || (url.scheme() != u"https" && url.scheme() != u"http"))
        return false;
    if (!qEnvironmentVariableIsEmpty("BROWSER"))
        return Tessera::openInSystemBrowser(url);
    return QDesktopServices::openUrl(url);
}

} // namespace TesseraDemo
