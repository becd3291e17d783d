// SPDX-License-Identifier: MIT
#include "revocationfeed.h"

#include "logging.h"
#include "storesql.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QSocketNotifier>
#include <QtCore/QStringList>
#include <QtCore/QUuid>
#include <QtCore/QVariant>
#include <QtSql/QSqlDriver>
#include <QtSql/QSqlError>
#include <QtSql/QSqlQuery>

#include <libpq-fe.h>
#include <poll.h>

#include <cstring>

namespace Tessera::Server {

RevocationFeed::RevocationFeed(const DatabaseLocation &location,
                               std::function<void(const QString &)> onRevoked, QObject *parent)
    : QObject(parent)
    , m_location(location)
    , m_onRevoked(std::move(onRevoked))
{
    m_timer.setInterval(1000);
    connect(&m_timer, &QTimer::timeout, this, &RevocationFeed::ping);
}

RevocationFeed::~RevocationFeed()
{
    m_timer.stop();
    m_conn = nullptr;
    if (!m_connectionName.isEmpty()) {
        m_db.close();
        m_db = QSqlDatabase();
        QSqlDatabase::removeDatabase(m_connectionName);
    }
}

void RevocationFeed::start()
{
    if (listen())
        qCInfo(lcServerStore) << "listening for revocations from other instances";
    m_timer.start();
}

bool RevocationFeed::listen()
{
    if (!m_connectionName.isEmpty()) {
        m_db = QSqlDatabase();
        QSqlDatabase::removeDatabase(m_connectionName);
    }
    // A new name per attempt: a connection that failed is removed whole, its driver with it.
    // Unique in the process: each serving thread has a feed, and QSqlDatabase replaces a
    // connection of the same name, whichever thread it belongs to.
    m_connectionName = QStringLiteral("tessera-revocations-%1")
                               .arg(QUuid::createUuid().toString(QUuid::Id128));
    // Named so that an operator (and the tests) can tell this connection in
    // pg_stat_activity: application_name=tessera-revocations-PID.
    DatabaseLocation location = m_location;
    QStringList options = location.connectOptions.split(u';', Qt::SkipEmptyParts);
    options.removeIf([](const QString &option) {
        return option.startsWith(QLatin1String("application_name="));
    });
    options << QStringLiteral("application_name=tessera-revocations-%1")
                       .arg(QCoreApplication::applicationPid());
    location.connectOptions = options.join(u';');
    QString error;
    if (!openDatabase(&m_db, m_connectionName, location, false, &error)) {
        qCWarning(lcServerStore).noquote() << "revocation listener cannot connect:" << error;
        return false;
    }
    // LISTEN as a plain statement, not QSqlDriver::subscribeToNotification(): QPSQL would
    // then read the socket with a notifier of its own whose handler consumes notifications
    // and ignores a failed read, and this feed must read them itself (sync()).
    QSqlQuery listen(m_db);
    if (!listen.exec(QStringLiteral("LISTEN %1").arg(QLatin1String(RevocationChannel)))
        || !listen.exec(QStringLiteral("LISTEN %1").arg(QLatin1String(RevocationAckChannel)))) {
        qCWarning(lcServerStore).noquote()
                << "revocation listener cannot LISTEN:" << listen.lastError().text();
        m_db.close();
        return false;
    }
    // QSqlDriver::handle(): a QVariant holding the driver's PGconn* (Qt's documented way
    // to reach the native connection); Qt 6 names the type after the struct behind the
    // typedef.
    const QVariant handle = m_db.driver()->handle();
    const char *type = handle.isValid() ? handle.typeName() : "";
    if (std::strcmp(type, "PGconn*") != 0 && std::strcmp(type, "pg_conn*") != 0) {
        qCWarning(lcServerStore) << "revocation listener: the driver gave no PGconn but" << type;
        m_db.close();
        return false;
    }
    m_conn = *static_cast<PGconn *const *>(handle.data());
    m_notifier = new QSocketNotifier(PQsocket(m_conn), QSocketNotifier::Read, this);
    connect(m_notifier, &QSocketNotifier::activated, this, &RevocationFeed::drain);
    // Everything cached before this LISTEN may have missed a revocation.
    ++m_epoch;
    return true;
}

void RevocationFeed::goDown(const QString &why)
{
    if (!m_conn)
        return;
    qCWarning(lcServerStore).noquote()
            << QStringLiteral("revocation listener lost (%1): session caches bypassed until it "
                              "is back")
                       .arg(why);
    m_conn = nullptr;
    if (m_notifier) {
        // Perhaps emitting right now (drain() from its activated signal).
        m_notifier->setEnabled(false);
        m_notifier->deleteLater();
        m_notifier = nullptr;
    }
    m_db.close();
}

void RevocationFeed::drain()
{
    if (!m_conn)
        return;
    const int socket = PQsocket(m_conn);
    if (socket < 0 || PQstatus(m_conn) != CONNECTION_OK) {
        goDown(QStringLiteral("connection closed"));
        return;
    }
    pollfd readable{socket, POLLIN, 0};
    if (::poll(&readable, 1, 0) > 0 && !PQconsumeInput(m_conn)) {
        goDown(QString::fromUtf8(PQerrorMessage(m_conn)).simplified());
        return;
    }
    QStringList applied;
    while (PGnotify *notify = PQnotifies(m_conn)) {
        const QString familyId = QString::fromUtf8(notify->extra);
        if (std::strcmp(notify->relname, RevocationChannel) == 0) {
            m_onRevoked(familyId);
            applied << familyId;
        } else if (std::strcmp(notify->relname, RevocationAckChannel) == 0
                   && familyId == m_awaited) {
            m_acks.insert(notify->be_pid);
        }
        PQfreemem(notify);
    }
    if (PQstatus(m_conn) != CONNECTION_OK) {
        goDown(QStringLiteral("connection closed"));
        return;
    }
    if (applied.isEmpty())
        return;
    // Applied: say so to the revoking instance, which waits for every listener's word.
    QSqlQuery ack(m_db);
    ack.prepare(QStringLiteral("SELECT pg_notify(?, ?)"));
    for (const QString &familyId : std::as_const(applied)) {
        ack.addBindValue(QString::fromLatin1(RevocationAckChannel));
        ack.addBindValue(familyId);
        if (!ack.exec()) {
            goDown(ack.lastError().text().simplified());
            return;
        }
    }
    // What libpq read along with the answers (acknowledgements, further revocations).
    drain();
}

bool RevocationFeed::sync()
{
    drain();
    return m_conn != nullptr;
}

bool RevocationFeed::awaitDelivery(const QString &familyId, int timeoutMs)
{
    if (!m_conn)
        return false;
    const QDeadlineTimer deadline(timeoutMs);
    // The instances listening now (this one included): each acknowledges once it applied
    // the revocation. A listener that connects later flushes its cache when it does.
    QSqlQuery listeners(m_db);
    if (!listeners.exec(QStringLiteral("SELECT count(*) FROM pg_stat_activity WHERE datname ="
                                       " current_database() AND application_name LIKE"
                                       " 'tessera-revocations-%'"))
        || !listeners.next()) {
        goDown(listeners.lastError().text().simplified());
        return false;
    }
    const qsizetype expected = listeners.value(0).toLongLong();
    listeners.finish();
    m_awaited = familyId;
    m_acks.clear();
    const int ownPid = PQbackendPID(m_conn);
    for (;;) {
        drain();
        if (m_acks.size() >= expected || !m_conn || deadline.hasExpired())
            break;
        pollfd readable{PQsocket(m_conn), POLLIN, 0};
        ::poll(&readable, 1, int(qMax<qint64>(1, deadline.remainingTime())));
    }
    m_awaited.clear();
    if (!m_conn)
        return false;
    if (!m_acks.contains(ownPid)) {
        goDown(QStringLiteral("a revocation did not come back in %1 ms").arg(timeoutMs));
        return false;
    }
    if (m_acks.size() < expected) {
        qCWarning(lcServerStore).noquote()
                << QStringLiteral("revocation of family %1: %2 of %3 instances acknowledged it "
                                  "within %4 ms")
                           .arg(familyId)
                           .arg(m_acks.size())
                           .arg(expected)
                           .arg(timeoutMs);
        return false;
    }
    return true;
}

void RevocationFeed::ping()
{
    if (!m_conn) {
        if (listen())
            qCInfo(lcServerStore) << "revocation listener back: session caches flushed";
        return;
    }
    drain();
    if (!m_conn)
        return;
    // A connection that died without a word (a network partition) shows only when used.
    QSqlQuery query(m_db);
    if (!query.exec(QStringLiteral("SELECT 1"))) {
        goDown(query.lastError().text().simplified());
        return;
    }
    // What libpq read along with the answer.
    drain();
}

} // namespace Tessera::Server
