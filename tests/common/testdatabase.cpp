// SPDX-License-Identifier: MIT
#include "testdatabase.h"

#include "httpclient.h"

#include <QtCore/QDir>
#include <QtCore/QUrl>
#include <QtCore/QUuid>
#include <QtSql/QSqlDatabase>
#include <QtSql/QSqlError>
#include <QtSql/QSqlQuery>
#include <QtSql/QSqlRecord>

namespace Tessera::Test {

bool testsUsePostgreSQL()
{
    return qEnvironmentVariable("TESSERA_TEST_DATABASE") == QLatin1String("postgresql");
}

QString testDatabaseUnavailable()
{
    return testsUsePostgreSQL() ? PostgresCluster::unavailableReason() : QString();
}

QString testDatabaseStartProblem()
{
    if (!testsUsePostgreSQL())
        return {};
    QString error;
    return PostgresCluster::shared(&error) ? QString() : error;
}

QString newTestDatabase(const QString &dir, QString *error)
{
    if (!testsUsePostgreSQL())
        return QDir(dir).filePath(QStringLiteral("db.sqlite3"));
    PostgresCluster *cluster = PostgresCluster::shared(error);
    return cluster ? cluster->createDatabase(error) : QString();
}

std::optional<QList<QVariantList>> databaseSelect(const QString &database, const QString &sql,
                                                  QString *error)
{
    if (!database.startsWith(QLatin1String("postgresql://")))
        return sqliteSelect(database, sql, error);
    // The URIs newTestDatabase() makes: postgresql://USER@127.0.0.1:PORT/NAME.
    const QUrl url(database);
    const QString connection =
            QStringLiteral("tessera-test-") + QUuid::createUuid().toString(QUuid::Id128);
    std::optional<QList<QVariantList>> rows;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), connection);
        db.setHostName(url.host());
        db.setPort(url.port());
        db.setUserName(url.userName());
        db.setDatabaseName(url.path().mid(1));
        QSqlQuery query(db);
        if (!db.open()) {
            if (error)
                *error = db.lastError().text();
        } else if (query = QSqlQuery(db); !query.exec(sql)) {
            if (error)
                *error = query.lastError().text() + QStringLiteral(" in: ") + sql;
        } else {
            QList<QVariantList> result;
            while (query.next()) {
                QVariantList row;
                for (int i = 0; i < query.record().count(); ++i)
                    row.append(query.value(i));
                result.append(row);
            }
            rows = result;
        }
        query = QSqlQuery();
        db.close();
    }
    QSqlDatabase::removeDatabase(connection);
    return rows;
}

} // namespace Tessera::Test
