// SPDX-License-Identifier: MIT
#include "requestpath.h"

namespace TesseraCli {

QUrl resolveRequestPath(const QUrl &server, const QString &path, QString *error)
{
    auto refuse = [&](const QString &why) {
        *error = QStringLiteral("get: %1; PATH must be a path on %2 starting with a single \"/\", "
                                "like /api/me/")
                         .arg(why,
                              server.toDisplayString(QUrl::RemovePath | QUrl::RemoveQuery
                                                     | QUrl::RemoveFragment
                                                     | QUrl::StripTrailingSlash));
        return QUrl();
    };
    QString shown = path; // echoed in the error: no control characters on the terminal
    for (QChar &c : shown) {
        if (c.unicode() < 0x20 || c.unicode() == 0x7f)
            c = QLatin1Char('?');
    }
    if (!path.startsWith(QLatin1Char('/')))
        return refuse(QStringLiteral("\"%1\" is not an absolute path").arg(shown));
    if (path.size() > 1 && (path.at(1) == QLatin1Char('/') || path.at(1) == QLatin1Char('\\')))
        return refuse(QStringLiteral("\"%1\" names another host").arg(shown));
    for (const QChar c : path) {
        if (c == QLatin1Char('\\') || c.unicode() < 0x20 || c.unicode() == 0x7f || c.isSpace())
            return refuse(QStringLiteral("it holds a backslash, a space or a control character"));
    }
    const QUrl reference(path, QUrl::StrictMode);
    if (!reference.isValid() || !reference.isRelative() || !reference.authority().isEmpty())
        return refuse(QStringLiteral("\"%1\" is not a valid path").arg(shown));

    QUrl url = server;
    url.setPath(reference.path(QUrl::FullyEncoded), QUrl::StrictMode);
    url.setQuery(reference.hasQuery() ? reference.query(QUrl::FullyEncoded) : QString(),
                 QUrl::StrictMode);
    url.setFragment(QString());
    // Belt and braces: whatever the path, the origin is the server's.
    if (!url.isValid() || url.scheme() != server.scheme() || url.host() != server.host()
        || url.port() != server.port())
        return refuse(QStringLiteral("\"%1\" does not resolve on the server").arg(shown));
    return url;
}

} // namespace TesseraCli
