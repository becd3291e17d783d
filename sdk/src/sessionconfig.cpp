// SPDX-License-Identifier: MIT
#include <tessera/sessionconfig.h>

#include "origin_p.h"

#include <QtNetwork/QHostAddress>

namespace Tessera {

SessionConfig::SessionConfig(const QUrl &serverUrl, const QString &appId)
    : m_serverUrl(serverUrl)
    , m_appId(appId)
{ }

Origin Origin::of(const QUrl &url)
{
    // Called for every request of an AuthenticatedNetworkAccessManager: toLower() copies
    // nothing when the text is lower-case already, as QUrl keeps scheme and host names.
    Origin origin;
    origin.host = url.host().toLower();
    if (!url.isValid() || origin.host.isEmpty())
        return {};
    origin.scheme = url.scheme().toLower();
    origin.port = url.port(origin.scheme == u"https" ? 443 : 80);
    return origin;
}

QString originOf(const QUrl &url)
{
    const Origin parts = Origin::of(url);
    if (parts.isEmpty())
        return {};
    const bool ipv6 = parts.host.contains(u':');
    QString origin;
    origin.reserve(parts.scheme.size() + parts.host.size() + 12);
    origin += parts.scheme;
    origin += u"://";
    if (ipv6)
        origin += u'[';
    origin += parts.host;
    if (ipv6)
        origin += u']';
    origin += u':';
    origin += QString::number(parts.port);
    return origin;
}

QString SessionConfig::origin() const
{
    return originOf(m_serverUrl);
}

QUrl SessionConfig::endpoint(const QString &path) const
{
    QUrl url = m_serverUrl;
    QString base = url.path();
    if (base.endsWith(u'/'))
        base.chop(1);
    url.setPath(base + (path.startsWith(u'/') ? path : u'/' + path));
    url.setQuery(QString());
    url.setFragment(QString());
    return url;
}

QString SessionConfig::storageService() const
{
    return QStringLiteral("tessera:") + m_appId;
}

QString SessionConfig::storageKey(const QString &username) const
{
    return QStringLiteral("%1|%2|%3").arg(m_appId, origin(), username);
}

bool isTransportAllowed(const QUrl &url)
{
    const QString scheme = url.scheme().toLower();
    if (scheme == u"https")
        return true;
    if (scheme != u"http")
        return false;
    const QString host = url.host().toLower();
    if (host == u"localhost")
        return true;
    const QHostAddress address(host);
    return !address.isNull() && address.isLoopback();
}

Error SessionConfig::validate() const
{
    if (!m_serverUrl.isValid() || m_serverUrl.host().isEmpty())
        return {Error::Code::InvalidConfiguration, QStringLiteral("the server URL is not valid")};
    if (!m_serverUrl.userInfo().isEmpty())
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("the server URL must not contain credentials")};
    if (!isTransportAllowed(m_serverUrl))
        return {Error::Code::InsecureTransport,
                QStringLiteral("%1 is refused: https is required except for loopback hosts")
                        .arg(m_serverUrl.scheme() + QStringLiteral("://") + m_serverUrl.host())};
    if (m_appId.trimmed().isEmpty() || m_appId.contains(u'|'))
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("an application id (without '|') is required")};
    if (m_obtainPath.isEmpty() || m_refreshPath.isEmpty())
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("the obtain and refresh paths must be set")};
    if (m_requestTimeout.count() <= 0 || m_refreshLead.count() < 0)
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("timeouts and refresh lead must be positive")};
    for (const QByteArray &pin : m_spkiPins) {
        if (QByteArray::fromBase64(pin).size() != 32)
            return {Error::Code::InvalidConfiguration,
                    QStringLiteral("an SPKI pin is not a base64 SHA-256 digest")};
    }
    return {};
}

} // namespace Tessera
