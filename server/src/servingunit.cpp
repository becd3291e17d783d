// SPDX-License-Identifier: MIT
#include "servingunit.h"

#include "logging.h"

namespace Tessera::Server {

int defaultDatabasePool()
{
    return qBound(1, QThread::idealThreadCount(), 4);
}

std::unique_ptr<ServingUnit> ServingUnit::create(const ServerConfig &config,
                                                 std::unique_ptr<Store> store, QString *error)
{
    std::unique_ptr<ServingUnit> unit(new ServingUnit);
    unit->m_config = &config;
    unit->m_store = std::move(store);
    // Every statement blocks this unit's event loop until it returns: bound it (PostgreSQL).
    if (config.dbStatementTimeoutMs > 0
        && !unit->m_store->setStatementTimeout(config.dbStatementTimeoutMs)) {
        *error = QStringLiteral("cannot set the database's statement timeout");
        return nullptr;
    }
    unit->m_tokens = std::make_unique<TokenService>(config, *unit->m_store);
    if (!unit->m_tokens->loadOrCreateSigningKey(error))
        return nullptr;
    // Other units and instances on the same PostgreSQL database revoke families too.
    if (unit->m_store->isPostgreSQL()) {
        const auto location = parseDatabaseLocation(config.databasePath, error);
        if (!location)
            return nullptr;
        TokenService *tokens = unit->m_tokens.get();
        unit->m_revocations = std::make_unique<RevocationFeed>(
                *location, [tokens](const QString &familyId) { tokens->forgetFamily(familyId); });
        unit->m_tokens->setRevocationFeed(unit->m_revocations.get());
        unit->m_revocations->start();
    }
    return unit;
}

ServingUnit::~ServingUnit()
{
    // The routes use the token service, which uses the feed and the store.
    m_api.reset();
    if (m_tokens)
        m_tokens->setRevocationFeed(nullptr);
    m_revocations.reset();
    m_tokens.reset();
}

HttpApi &ServingUnit::api(const PasswordHasher &hasher)
{
    if (!m_api)
        m_api = std::make_unique<HttpApi>(*m_config, *m_store, *m_tokens, hasher);
    return *m_api;
}

ServingThread::ServingThread(const ServerConfig &config, const PasswordHasher &hasher, int number)
    : m_config(config)
    , m_hasher(hasher)
{
    setObjectName(QStringLiteral("tessera-serve-%1").arg(number));
}

ServingThread::~ServingThread()
{
    quit();
    wait();
}

ConnectionIntake *ServingThread::startServing(QString *error)
{
    start();
    std::unique_lock lock(m_mutex);
    m_started.wait(lock, [this] { return m_done; });
    if (!m_intake)
        *error = m_error;
    return m_intake;
}

void ServingThread::run()
{
    QString error;
    std::unique_ptr<ServingUnit> unit;
    ConnectionIntake *intake = nullptr;
    if (auto store = Store::open(m_config.databasePath, m_config.fullSync, &error)) {
        unit = ServingUnit::create(m_config, std::move(store), &error);
        if (unit)
            intake = unit->api(m_hasher).serveHandedConnections(&error);
    }
    {
        const std::lock_guard lock(m_mutex);
        m_done = true;
        m_intake = intake;
        m_error = error;
    }
    m_started.notify_all();
    if (intake)
        exec();
    unit.reset();
}

} // namespace Tessera::Server
