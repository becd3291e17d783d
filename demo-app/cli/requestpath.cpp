// SPDX-License-Identifier: MIT
#include "requestpath.h"

#include <tessera/sessionconfig.h>

namespace TesseraCli {

namespace {

bool isPlainText(const QString &text)
{
    for (const QChar c : text) {
        if (c == QLatin1Char('\\') || c.unicode() < 0x20 || c.unicode() == 0x7f || c.isSpace())
            return false;
    }
    return true;
}

} // namespace

QUrl resolveRequestPath(const QUrl &base, const QString &path, QString *error,
                        const QStringList &resourceOrigins)
{
    auto refuse = [&](const QString &why) {
        *error = QStringLiteral("get: %1; PATH must be a path on %2 starting with a single \"/\", "
                                "like /api/me/%3")
                         .arg(why,
                              base.toDisplayString(QUrl::RemovePath | QUrl::RemoveQuery
                                                   | QUrl::RemoveFragment
                                                   | QUrl::StripTrailingSlash),
                              resourceOrigins.isEmpty()
                                      ? QString()
                                      : QStringLiteral(", or a full URL on a resource origin (%1)")
                                                .arg(resourceOrigins.join(QLatin1Char(' '))));
        return QUrl();
    };
    QString shown = path; // echoed in the error: no control characters on the terminal
    for (QChar &c : shown) {
        if (c.unicode() < 0x20 || c.unicode() == 0x7f)
            c = QLatin1Char('?');
    }

    if (path.startsWith(QLatin1String("http://"), Qt::CaseInsensitive)
        || path.startsWith(QLatin1String("https://"), Qt::CaseInsensitive)) {
        // A full URL: only on an origin listed at login, compared as the SDK compares origins
        // when it decides which requests carry the token.
        if (!isPlainText(path))
            return refuse(QStringLiteral("it holds a backslash, a space or a control character"));
        QUrl url(path, QUrl::StrictMode);
        const QString origin = Tessera::originOf(url);
        bool listed = false;
        for (const QString &allowed : resourceOrigins)
            listed = listed || (!origin.isEmpty() && Tessera::originOf(QUrl(allowed)) == origin);
        if (!url.isValid() || !url.userInfo().isEmpty() || !listed)
            return refuse(QStringLiteral("\"%1\" names another host").arg(shown));
        url.setFragment(QString());
        return url;
    }

    if (!path.startsWith(QLatin1Char('/')))
        return refuse(QStringLiteral("\"%1\" is not an absolute path").arg(shown));
    if (path.size() > 1 && (path.at(1) == QLatin1Char('/') || path.at(1) == QLatin1Char('\\')))
        return refuse(QStringLiteral("\"%1\" names another host").arg(shown));
    if (!isPlainText(path))
        return refuse(QStringLiteral("it holds a backslash, a space or a control character"));
    const QUrl reference(path, QUrl::StrictMode);
    if (!reference.isValid() || !reference.isRelative() || !reference.authority().isEmpty())
        return refuse(QStringLiteral("\"%1\" is not a valid path").arg(shown));

    QUrl url = base;
    url.setPath(reference.path(QUrl::FullyEncoded), QUrl::StrictMode);
    url.setQuery(reference.hasQuery() ? reference.query(QUrl::FullyEncoded) : QString(),
                 QUrl::StrictMode);
    url.setFragment(QString());
    // Belt and braces: whatever the path, the origin is the base's.
    if (!url.isValid() || url.scheme() != base.scheme() || url.host() != base.host()
        || url.port() != base.port())
        return refuse(QStringLiteral("\"%1\" does not resolve on the server").arg(shown));
    return url;
}

} // namespace TesseraCli
