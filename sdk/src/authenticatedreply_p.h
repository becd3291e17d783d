// SPDX-License-Identifier: MIT
// Private: the reply an AuthenticatedNetworkAccessManager hands out for
// requests to the session's server. It waits for a fresh token, sends the real
// request, and on a 401 refreshes once and retries once.
#pragma once

#include <tessera/secret.h>

#include <QtCore/QPointer>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>

namespace Tessera {

class AuthenticatedNetworkAccessManager;
class Session;
class Error;

class AuthenticatedReply : public QNetworkReply
{
    Q_OBJECT
public:
    AuthenticatedReply(AuthenticatedNetworkAccessManager *manager, Session *session,
                       QNetworkAccessManager::Operation operation, const QNetworkRequest &request,
                       QByteArray body, bool hasBody);
    ~AuthenticatedReply() override;

    void abort() override;
    qint64 bytesAvailable() const override;
    bool isSequential() const override { return true; }

protected:
    qint64 readData(char *data, qint64 maxSize) override;
    qint64 writeData(const char *, qint64) override { return -1; }

private:
    void requestToken();
    void send(const Secret &token);
    void onInnerFinished();
    void failWith(const Error &error);
    void complete();

    QPointer<AuthenticatedNetworkAccessManager> m_manager;
    QPointer<Session> m_session;
    QNetworkRequest m_original;
    QByteArray m_body;
    bool m_hasBody = false;
    Secret m_usedToken;
    QPointer<QNetworkReply> m_inner;
    bool m_retried = false;
    bool m_aborted = false;
    bool m_constructing = false;
    QByteArray m_buffer;
    qint64 m_readPosition = 0;
};

} // namespace Tessera
