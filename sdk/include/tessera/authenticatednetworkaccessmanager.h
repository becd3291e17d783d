// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/tessera_sdk_export.h>

#include <QtCore/QPointer>
#include <QtNetwork/QNetworkAccessManager>

namespace Tessera {

class Session;

// A QNetworkAccessManager whose requests to the session's server carry
// `Authorization: Bearer <access token>`. Each such request waits for a fresh
// token (one refresh serves every waiting request), and a 401 answer triggers
// one refresh and one retry, never more. Requests to any other origin pass
// through untouched and never see the token. Authenticated requests send and
// store no cookies, and do not follow redirects (so the token cannot be
// forwarded elsewhere); their response is delivered when complete.
class TESSERA_SDK_EXPORT AuthenticatedNetworkAccessManager : public QNetworkAccessManager
{
    Q_OBJECT
public:
    explicit AuthenticatedNetworkAccessManager(Session *session, QObject *parent = nullptr);
    ~AuthenticatedNetworkAccessManager() override;

    Session *session() const;

protected:
    QNetworkReply *createRequest(Operation operation, const QNetworkRequest &request,
                                 QIODevice *outgoingData = nullptr) override;

private:
    QPointer<Session> m_session;
};

} // namespace Tessera
