// SPDX-License-Identifier: MIT
// Store: the client registry (tables clients and client_redirect_uris, schema
// version 3). A file of its own so that store.cpp stays about tokens; the
// schema itself is defined once, in storesql.cpp.
#include "store.h"

#include <QtCore/QDateTime>
#include <QtCore/QVariant>

namespace Tessera::Server {

Store::AddClientResult Store::addClient(const QString &id, const QStringList &redirectUris)
{
    if (findClient(id))
        return AddClientResult::Exists;
    if (m_failed)
        return AddClientResult::Failed;
    if (!begin())
        return AddClientResult::Failed;
    QSqlQuery client(m_db);
    prepare(client, QStringLiteral("INSERT INTO clients (id, created_at) VALUES (?, ?)"));
    client.addBindValue(id);
    client.addBindValue(QDateTime::currentMSecsSinceEpoch());
    bool ok = execute(client);
    QSqlQuery uri(m_db);
    prepare(uri,
            QStringLiteral("INSERT INTO client_redirect_uris (client_id, position, uri)"
                           " VALUES (?, ?, ?)"));
    for (qsizetype position = 0; ok && position < redirectUris.size(); ++position) {
        uri.addBindValue(id);
        uri.addBindValue(position);
        uri.addBindValue(redirectUris[position]);
        ok = execute(uri);
    }
    if (!ok || !commit()) {
        m_db.rollback();
        return AddClientResult::Failed;
    }
    return AddClientResult::Added;
}

std::optional<Store::Client> Store::findClient(const QString &id)
{
    // Prepared once (Store::open): every /token, /authorize and /device_authorization asks.
    QSqlQuery &query = *m_findClient;
    query.addBindValue(id);
    if (!execute(query) || !query.next()) {
        query.finish();
        return std::nullopt;
    }
    Client client{query.value(0).toString(), {}, query.value(1).toLongLong()};
    do {
        if (!query.value(2).isNull())
            client.redirectUris.append(query.value(2).toString());
    } while (query.next());
    query.finish();
    return client;
}

bool Store::hasClient(const QString &id)
{
    // Prepared once (Store::open): every /token and /revoke asks.
    QSqlQuery &query = *m_hasClient;
    query.addBindValue(id);
    const bool found = execute(query) && query.next();
    query.finish();
    return found;
}

std::optional<QList<Store::Client>> Store::clients()
{
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    prepare(query,
            QStringLiteral("SELECT c.id, c.created_at, u.uri FROM clients c"
                           " LEFT JOIN client_redirect_uris u ON u.client_id = c.id"
                           " ORDER BY c.id, u.position"));
    if (!execute(query))
        return std::nullopt;
    QList<Client> list;
    while (query.next()) {
        const QString id = query.value(0).toString();
        if (list.isEmpty() || list.last().id != id)
            list.append(Client{id, {}, query.value(1).toLongLong()});
        if (!query.value(2).isNull())
            list.last().redirectUris.append(query.value(2).toString());
    }
    return list;
}

Store::RemoveClientResult Store::removeClient(const QString &id)
{
    // ON DELETE CASCADE removes its redirect URIs (foreign_keys is on).
    QSqlQuery query(m_db);
    prepare(query, QStringLiteral("DELETE FROM clients WHERE id = ?"));
    query.addBindValue(id);
    if (!execute(query))
        return RemoveClientResult::Failed;
    return query.numRowsAffected() == 0 ? RemoveClientResult::Missing : RemoveClientResult::Removed;
}

} // namespace Tessera::Server
