// SPDX-License-Identifier: MIT
#include <tessera/sessionconfig.h>

#include "oauth/providermetadata_p.h"
#include "origin_p.h"

#include <QtNetwork/QHostAddress>

#include <algorithm>

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
    return originOf(profile() == Profile::OAuth ? m_issuer : m_serverUrl);
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
    if (profile() == Profile::SimpleJwt)
        return QStringLiteral("%1|%2|%3").arg(m_appId, origin(), username);
    // The whole issuer (two issuers may share an origin) and the client id, percent-encoded so
    // neither can forge a "|".
    auto escaped = [](const QString &text) {
        return QString::fromLatin1(QUrl::toPercentEncoding(text, "/:"));
    };
    return QStringLiteral("%1|oauth|%2|%3|%4")
            .arg(m_appId, escaped(m_issuer.toString()), escaped(m_clientId), username);
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

Error SessionConfig::validateOAuth() const
{
    const Error issuer = OAuth::checkIssuer(m_issuer.toString());
    if (issuer.isError())
        return issuer;
    if (m_clientId.trimmed().isEmpty())
        return {Error::Code::InvalidConfiguration, QStringLiteral("a client id is required")};
    for (const QChar c : m_clientId) {
        if (c.unicode() < 0x20 || c.unicode() == 0x7f)
            return {Error::Code::InvalidConfiguration,
                    QStringLiteral("the client id contains a control character")};
    }
    for (const QString &scope : m_scopes) {
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        const bool valid = !scope.isEmpty() && std::all_of(scope.begin(), scope.end(), [](QChar c) {
            const char16_t u = c.unicode();
            return u >= 0x21 && u <= 0x7e && u != u'"' && u != u'\\';
        });
        if (!valid)
            return {Error::Code::InvalidConfiguration,
                    QStringLiteral("a scope is empty or has characters RFC 6749 §3.3 forbids")};
    }
    const bool pathValid = m_redirectPath.startsWith(u'/')
            && std::all_of(m_redirectPath.begin(), m_redirectPath.end(), [](QChar c) {
                               const char16_t u = c.unicode();
                               return (u >= u'a' && u <= u'z') || (u >= u'A' && u <= u'Z')
                                       || (u >= u'0' && u <= u'9') || u == u'/' || u == u'-'
                                       || u == u'.' || u == u'_' || u == u'~';
                           });
    if (!pathValid)
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("the redirect path must be \"/\" followed by unreserved "
                               "characters")};
    if (m_browserTimeout.count() <= 0)
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("the browser timeout must be positive")};
    return {};
}

Error SessionConfig::validate() const
{
    // Where the session goes first: an insecure server or issuer is InsecureTransport whatever
    // else is wrong.
    const Error location = profile() == Profile::OAuth ? validateOAuth() : validateSimpleJwt();
    if (location.isError())
        return location;
    if (m_appId.trimmed().isEmpty() || m_appId.contains(u'|'))
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("an application id (without '|') is required")};
    if (m_requestTimeout.count() <= 0 || m_refreshLead.count() < 0)
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("timeouts and refresh lead must be positive")};
    for (const QByteArray &pin : m_spkiPins) {
        if (QByteArray::fromBase64(pin).size() != 32)
            return {Error::Code::InvalidConfiguration,
                    QStringLiteral("an SPKI pin is not a base64 SHA-256 digest")};
    }
    for (const QString &resource : m_resourceOrigins) {
        const QUrl url(resource, QUrl::StrictMode);
        if (originOf(url).isEmpty() || !url.userInfo().isEmpty())
            return {Error::Code::InvalidConfiguration,
                    QStringLiteral("a resource origin is not an absolute URL without "
                                   "credentials")};
        if (!isTransportAllowed(url))
            return {Error::Code::InsecureTransport,
                    QStringLiteral("the resource origin %1 is refused: https is required except "
                                   "for loopback hosts")
                            .arg(originOf(url))};
    }
    return {};
}

Error SessionConfig::validateSimpleJwt() const
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
    if (m_obtainPath.isEmpty() || m_refreshPath.isEmpty())
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("the obtain and refresh paths must be set")};
    return {};
}

} // namespace Tessera
