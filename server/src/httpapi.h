// SPDX-License-Identifier: MIT
#pragma once

#include "config.h"
#include "passwordhasher.h"
#include "ratelimiter.h"
#include "store.h"
#include "tokenservice.h"

#include <QtCore/QObject>
#include <QtCore/QPointer>
#include <QtCore/QThreadPool>
#include <QtHttpServer/QHttpServer>
#include <QtNetwork/QTcpSocket>

namespace Tessera::Server {

// The HTTP surface: routes, request validation and JSON error bodies. Owns the
// QHttpServer; all handlers run on the event-loop thread except the Argon2 work.
class HttpApi : public QObject
{
    Q_OBJECT
public:
    HttpApi(const ServerConfig &config, Store &store, TokenService &tokens,
            const PasswordHasher &hasher, QObject *parent = nullptr);
    ~HttpApi() override;

    // Listens on the configured address; returns the bound port, 0 on failure.
    quint16 listen(QString *error);

private:
    void addRoutes();
    // The named string field of a JSON body handed to `handle`, or the 4xx
    // response to send instead (size, media type, JSON, missing field).
    template<typename Handler>
    QHttpServerResponse withStringField(const QHttpServerRequest &request, const QString &field,
                                        Handler &&handle) const;
    QHttpServerResponse loginResponse(const std::optional<Store::User> &user, bool passwordOk);
    // Runs on this object's thread once the password hash has been checked.
    void finishLogin(const std::optional<Store::User> &user, bool passwordOk,
                     const QPointer<QTcpSocket> &socket, QHttpServerResponder &responder);

    const ServerConfig &m_config;
    Store &m_store;
    TokenService &m_tokens;
    const PasswordHasher &m_hasher;
    RateLimiter m_userLimiter;
    RateLimiter m_addressLimiter;
    QThreadPool m_hashPool;
    QHttpServer m_server;
};

} // namespace Tessera::Server
