// SPDX-License-Identifier: MIT
// Private: an origin (RFC 6454) as its parts. The one place that reads them from a URL:
// originOf() formats them, and the authenticated manager compares them for every request
// without building a string. Never installed.
#pragma once

#include <QtCore/QString>
#include <QtCore/QUrl>

namespace Tessera {

struct Origin
{
    QString scheme; // lower-case
    QString host;   // lower-case; empty when the URL has no origin
    int port = -1;  // the default port filled in: 443 for https, else 80

    static Origin of(const QUrl &url);
    bool isEmpty() const { return host.isEmpty(); }

    friend bool operator==(const Origin &a, const Origin &b)
    {
        return a.port == b.port && a.host == b.host && a.scheme == b.scheme;
    }
};

} // namespace Tessera
