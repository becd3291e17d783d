// SPDX-License-Identifier: MIT
#pragma once

#include "config.h"
#include "httpapi.h"
#include "passwordhasher.h"
#include "revocationfeed.h"
#include "store.h"
#include "tokenservice.h"

#include <QtCore/QThread>

#include <condition_variable>
#include <memory>
#include <mutex>

namespace Tessera::Server {

// The serving threads of a PostgreSQL --db when --db-pool is not given: one per CPU, at most 4.
int defaultDatabasePool();

// What one event loop needs to serve requests: its own database connection, token service
// (with its caches), revocation listener (PostgreSQL) and HTTP routes. Several units in one
// process behave as that many instances on one database (docs/SERVER.md "Running several
// instances"): nothing but the listener and the password hasher is shared between them.
class ServingUnit
{
public:
    // Sets the statement timeout, loads the signing key (creates it when the database has
    // none) and, on PostgreSQL, starts the revocation listener. Null with *error on failure.
    static std::unique_ptr<ServingUnit> create(const ServerConfig &config,
                                               std::unique_ptr<Store> store, QString *error);
    ~ServingUnit();

    Store &store() { return *m_store; }
    TokenService &tokens() { return *m_tokens; }
    // The routes; built once the database holds what they derive keys from (demo user aside).
    HttpApi &api(const PasswordHasher &hasher);

private:
    ServingUnit() = default;

    const ServerConfig *m_config = nullptr;
    std::unique_ptr<Store> m_store;
    std::unique_ptr<TokenService> m_tokens;
    std::unique_ptr<RevocationFeed> m_revocations;
    std::unique_ptr<HttpApi> m_api;
};

// A ServingUnit on a thread of its own, serving the connections the main thread's listener
// hands to it. Its objects are created, used and destroyed on that thread, as Qt's SQL and
// network classes require.
class ServingThread : public QThread
{
public:
    ServingThread(const ServerConfig &config, const PasswordHasher &hasher, int number);
    // Ends the thread's event loop and waits for it; its connections are closed.
    ~ServingThread() override;

    // Starts the thread and waits until it serves: the intake to hand connections to, or
    // null with *error when it could not start (its database, say).
    ConnectionIntake *startServing(QString *error);

protected:
    void run() override;

private:
    const ServerConfig &m_config;
    const PasswordHasher &m_hasher;
    std::mutex m_mutex;
    std::condition_variable m_started;
    bool m_done = false;
    QString m_error;
    ConnectionIntake *m_intake = nullptr;
};

} // namespace Tessera::Server
