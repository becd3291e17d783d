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
#include "signingworkers.h"
#include "store.h"
#include "tokenservice.h"

#include <QtCore/QHash>
#include <QtCore/QObject>
#include <QtCore/QPointer>
#include <QtHttpServer/QHttpServer>
#include <QtNetwork/QTcpSocket>

#include <map>
#include <optional>
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
    // Commits the open group, then sends the answers of every settled group whose tokens are
    // signed.
    void commitHeldAnswers();
    void scheduleCommit();
    // The signing workers are done with a held answer's tokens.
    void signaturesReady(quint64 answer, const QList<QByteArray> &signatures);
    // `response` with each placeholder token replaced by its signed token (`signatures` in the
    // order of `tokens`); the route's internal error if they could not be signed.
    static QHttpServerResponse withSignedTokens(
            QHttpServerResponse &&response, const std::vector<TokenService::UnsignedToken> &tokens,
            const QList<QByteArray> &signatures, QHttpServerResponse (*storageError)(bool));
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
    // Answers waiting for their group's commit (group commit, docs/SERVER.md) and for the
    // signatures of their access tokens, and the groups settled since the last round:
    // serial -> committed.
    struct HeldAnswer
    {
        quint64 id;
        quint64 group;
        QPointer<QTcpSocket> socket;
        QHttpServerResponder responder;
        QHttpServerResponse response;
        QHttpServerResponse (*storageError)(bool);
        std::vector<TokenService::UnsignedToken> unsignedTokens; // empty once signed
        std::optional<bool> committed;                           // once its group settled
    };
    // Writes a held answer whose group settled (and, if it committed, whose tokens are signed).
    void writeHeld(HeldAnswer &answer);
    std::map<quint64, HeldAnswer> m_held; // by id: in the order the requests came
    QHash<quint64, bool> m_settledGroups;
    quint64 m_lastHeldId = 0;
    bool m_commitScheduled = false;
    // Access tokens are signed off this thread only where answers wait for a group commit.
    const bool m_deferSignatures;
    SigningWorkers m_signing;
    QHttpServer m_server;
};

} // namespace Tessera::Server
