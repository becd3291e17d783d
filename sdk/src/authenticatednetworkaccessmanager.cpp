// SPDX-License-Identifier: MIT
#include <tessera/authenticatednetworkaccessmanager.h>

#include "authenticatedreply_p.h"
#include "session_p.h"

#include <tessera/session.h>

namespace Tessera {

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
    SessionPrivate *session = m_session ? SessionPrivate::get(m_session) : nullptr;
    if (!session || !session->sendsTokenTo(request.url()))
        return QNetworkAccessManager::createRequest(operation, request, outgoingData);
    // The body is read now: the caller's device may be gone by the time a
    // token is ready, and a retry after a 401 sends it again.
    QByteArray body;
    if (outgoingData)
        body = outgoingData->readAll();
    auto send = [this](Operation inner, const QNetworkRequest &authorized, QIODevice *data) {
        return QNetworkAccessManager::createRequest(inner, authorized, data);
    };
    return new AuthenticatedReply(this, send, session, operation, request, std::move(body),
                                  outgoingData != nullptr);
}

} // namespace Tessera
