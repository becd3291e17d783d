// SPDX-License-Identifier: MIT
#include <tessera/authenticatednetworkaccessmanager.h>

#include "authenticatedreply_p.h"

#include <tessera/session.h>

namespace Tessera {
namespace {

bool sameOrigin(const QUrl &url, const SessionConfig &config)
{
    SessionConfig probe = config;
    probe.setServerUrl(url);
    return probe.origin() == config.origin();
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
    if (!m_session || !sameOrigin(request.url(), m_session->config()))
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
