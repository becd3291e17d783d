// SPDX-License-Identifier: MIT
// Test support: the database engine a test run uses. The server integration tests run
// twice, once per engine (tests/integration/CMakeLists.txt): TESSERA_TEST_DATABASE=postgresql
// gives every server a new database in this process's PostgresCluster, anything else an
// SQLite file in its temporary directory.
#pragma once

#include <QtCore/QList>
#include <QtCore/QString>
#include <QtCore/QVariantList>
#include <QtTest/QTest>

#include "postgrescluster.h"

#include <optional>

namespace Tessera::Test {

bool testsUsePostgreSQL();

// A --db value for a new, empty database: `dir`/db.sqlite3, or a new PostgreSQL database.
// Empty and `error` when the cluster cannot provide one.
QString newTestDatabase(const QString &dir, QString *error);

// One SELECT on a --db value from newTestDatabase() (SQLite opened read-only), for
// white-box checks that hold on both engines.
std::optional<QList<QVariantList>> databaseSelect(const QString &database, const QString &sql,
                                                  QString *error = nullptr);

// For a run on PostgreSQL: what is missing on this machine (empty for SQLite, or when
// nothing is).
QString testDatabaseUnavailable();
// For a run on PostgreSQL: starts the cluster; why it did not start (empty when it did).
QString testDatabaseStartProblem();

} // namespace Tessera::Test

// In initTestCase of a test that runs on both engines. A run on PostgreSQL on a machine
// without it is skipped with the reason, unless TESSERA_REQUIRE_POSTGRESQL is set (CI):
// then it fails, as it does whenever an installed PostgreSQL does not start. The cluster
// starts here, so its start-up is not charged to the first test function.
#define TESSERA_REQUIRE_TEST_DATABASE() \
    do { \
        const QString tessera_missing_ = ::Tessera::Test::testDatabaseUnavailable(); \
        if (!tessera_missing_.isEmpty()) { \
            if (::Tessera::Test::PostgresCluster::required()) \
                QFAIL(qPrintable(QStringLiteral("TESSERA_REQUIRE_POSTGRESQL is set but ") \
                                 + tessera_missing_)); \
            QSKIP(qPrintable(QStringLiteral("PostgreSQL run skipped: ") + tessera_missing_)); \
        } \
        const QString tessera_start_ = ::Tessera::Test::testDatabaseStartProblem(); \
        QVERIFY2(tessera_start_.isEmpty(), qPrintable(tessera_start_)); \
    } while (false)
