// SPDX-License-Identifier: MIT
#include <tessera/authenticatednetworkaccessmanager.h>

#include "authenticatedreply_p.h"
#include "session_p.h"

#include <tessera/session.h>

namespace Tessera {
namespace {

// Equal SessionConfig::origin() strings (lower-case scheme and host, default
// port filled in), without copying the config and formatting two strings for
// every request. Schemes are ASCII; hosts go through toLower() as origin() does
// (case folding differs from it for a few letters).
bool sameOrigin(const QUrl &url, const QUrl &server)
{
    const QString scheme = url.scheme();
    if (scheme.compare(server.scheme(), Qt::CaseInsensitive) != 0)
        return false;
    const int defaultPort = scheme.compare(u"https", Qt::CaseInsensitive) == 0 ? 443 : 80;
    if (url.port(defaultPort) != server.port(defaultPort))
        return false;
    const QString host = url.host();
    const QString serverHost = server.host();
    return host == serverHost || host.toLower() == serverHost.toLower();
}

} // namespace

AuthenticatedNetworkAccessManager::AuthenticatedNetworkAccessManager(Session *session,
                                                                     QObject *parent)
    : QNetworkAccessManager(parent)
    , m_session(session)
{
    // Nothing of an authenticated exchange is kept: no cookie jar, no cache.
    setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
}

AuthenticatedNetworkAccessManager::~AuthenticatedNetworkAccessManager() = default;

Session *AuthenticatedNetworkAccessManager::session() const
{
    return m_session;
}

QNetworkReply *AuthenticatedNetworkAccessManager::createRequest(Operation operation,
                                                                const QNetworkRequest &request,
                                                                QIODevice *outgoingData)
{
    if (!m_session
        || !sameOrigin(request.url(), SessionPrivate::get(m_session)->config().serverUrl()))
        return QNetworkAccessManager::createRequest(operation, request, outgoingData);
    // The body is read now: the caller's device may be gone by the time a
    // token is ready, and a retry after a 401 sends it again.
    QByteArray body;
    if (outgoingData)
        body = outgoingData->readAll();
    return new AuthenticatedReply(this, m_session, operation, request, std::move(body),
                                  outgoingData != nullptr);
}

QNetworkReply *AuthenticatedNetworkAccessManager::createInnerRequest(Operation operation,
                                                                     const QNetworkRequest &request,
                                                                     QIODevice *outgoingData)
{
    return QNetworkAccessManager::createRequest(operation, request, outgoingData);
}

} // namespace Tessera
