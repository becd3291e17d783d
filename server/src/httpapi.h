// SPDX-License-Identifier: MIT
#pragma once

#include "authorizeroute.h"
#include "clientaddress.h"
#include "config.h"
#include "deviceroute.h"
#include "dpopcheck.h"
#include "httplistener.h"
#include "loginroute.h"
#include "oauthtokenroute.h"
#include "passwordhasher.h"
#include "store.h"
#include "tokenservice.h"

#include <QtCore/QHash>
#include <QtCore/QObject>
#include <QtCore/QPointer>
#include <QtHttpServer/QHttpServer>
#include <QtNetwork/QTcpSocket>

#include <vector>

namespace Tessera::Server {

// The HTTP surface: routes, request validation and JSON error bodies. Owns the
// QHttpServer; all handlers run on the event-loop thread except the Argon2 work
// of the login route (LoginRoute) and the DPoP proof checks of the resource routes
// (DpopCheck::authorizeDeferred).
class HttpApi : public QObject
{
    Q_OBJECT
public:
    HttpApi(const ServerConfig &config, Store &store, TokenService &tokens,
            const PasswordHasher &hasher, QObject *parent = nullptr);
    ~HttpApi() override;

    // Listens on the configured address and serves what it accepts, or some of it when
    // serving threads add their intakes (servingunit.h). Null on failure.
    HttpListener *listen(QString *error);
    // Serves the connections a listener on another thread hands to the returned intake
    // (HttpListener::addIntake). Null on failure.
    ConnectionIntake *serveHandedConnections(QString *error);

private:
    bool isReady(QString *error) const;
    bool loadTls(std::optional<QSslConfiguration> *tls, QString *error) const;
    ConnectionSettings connectionSettings() const;
    void addRoutes();
    void addOAuthRoutes();
    // The named string field of a JSON body handed to `handle`, or the 4xx
    // response to send instead (size, media type, JSON, missing field).
    template<typename Handler>
    QHttpServerResponse withStringField(const QHttpServerRequest &request, const QString &field,
                                        Handler &&handle) const;
    QHttpServerResponse refresh(const QHttpServerRequest &request);
    // Answers a route that may rotate a refresh token (Store::RotationGroupScope): at once, or,
    // when a group of rotations is open, after its commit.
    // `storageError` is the route's answer to a failed commit.
    template<typename Handler>
    void answerAfterCommit(QHttpServerResponder &&responder,
                           QHttpServerResponse (*storageError)(bool), Handler &&handle);
    // The store reported a group committed or rolled back.
    void groupSettled(quint64 group, bool committed);
    // Commits the open group, then sends the answers of every settled group.
    void commitHeldAnswers();
    void scheduleCommit();
    QHttpServerResponse blacklist(const QHttpServerRequest &request);
    QHttpServerResponse verify(const QHttpServerRequest &request, const QByteArray &token);
    // The answer of GET /api/me/ once the request's credentials are checked.
    QHttpServerResponse meResponse(const DpopCheck::Access &access) const;
    // The client as --trusted-proxy defines it, for log lines.
    QString clientAddress(const QHttpServerRequest &request) const;

    const ServerConfig &m_config;
    Store &m_store;
    TokenService &m_tokens;
    ClientAddressResolver m_clients;
    LoginRoute m_login;
    QByteArray m_deploymentKey; // only during construction (see deploymentKey())
    DpopCheck m_dpop;
    AuthorizeRoute m_authorize;
    DeviceRoute m_device;
    OAuthTokenRoute m_oauth;
    // Answers waiting for their group's commit (group commit, docs/SERVER.md), and the groups
    // settled since the last round: serial -> committed.
    struct HeldAnswer
    {
        quint64 group;
        QPointer<QTcpSocket> socket;
        QHttpServerResponder responder;
        QHttpServerResponse response;
        QHttpServerResponse (*storageError)(bool);
    };
    std::vector<HeldAnswer> m_held;
    QHash<quint64, bool> m_settledGroups;
    bool m_commitScheduled = false;
    QHttpServer m_server;
};

} // namespace Tessera::Server
