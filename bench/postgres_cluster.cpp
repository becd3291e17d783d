// SPDX-License-Identifier: MIT
// bench_postgres_cluster: the tests' throwaway PostgreSQL cluster (tests/common/
// postgrescluster.h: initdb in a temporary directory, a free loopback port, run as the
// postgres user when root) for bench/run.py's scale-out phase. Prints
//   cluster PORT DIRECTORY
//   database URI        (one line per --databases)
//   ready
// then keeps the cluster until its stdin closes (or SIGTERM), and removes it. With
// --statement-statistics the cluster loads pg_stat_statements (bench/scaleout.py creates its
// view and counts the statements of each set-up).
#include "postgrescluster.h"

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include <unistd.h>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
            "A throwaway PostgreSQL cluster on loopback for the benchmarks; kept until stdin "
            "closes."));
    parser.addHelpOption();
    const QCommandLineOption databases(QStringLiteral("databases"),
                                       QStringLiteral("Empty databases to create (default 1)."),
                                       QStringLiteral("N"), QStringLiteral("1"));
    parser.addOption(databases);
    const QCommandLineOption statementStatistics(
            QStringLiteral("statement-statistics"),
            QStringLiteral("Load pg_stat_statements (every statement counted, utility statements "
                           "such as BEGIN and COMMIT included)."));
    parser.addOption(statementStatistics);
    parser.process(app);
    if (parser.isSet(statementStatistics))
        Tessera::Test::PostgresCluster::setServerSettings(
                {QStringLiteral("shared_preload_libraries=pg_stat_statements"),
                 QStringLiteral("pg_stat_statements.track_utility=on")});

    const QString missing = Tessera::Test::PostgresCluster::unavailableReason();
    if (!missing.isEmpty()) {
        std::fprintf(stderr, "bench_postgres_cluster: %s\n", qPrintable(missing));
        return 1;
    }
    QString error;
    Tessera::Test::PostgresCluster *cluster = Tessera::Test::PostgresCluster::shared(&error);
    if (!cluster) {
        std::fprintf(stderr, "bench_postgres_cluster: %s\n", qPrintable(error));
        return 1;
    }
    std::printf("cluster %u %s\n", unsigned(cluster->port()), qPrintable(cluster->directory()));

    for (int i = 0; i < qMax(1, parser.value(databases).toInt()); ++i) {
        const QString uri = cluster->createDatabase(&error);
        if (uri.isEmpty()) {
            std::fprintf(stderr, "bench_postgres_cluster: %s\n", qPrintable(error));
            return 1;
        }
        std::printf("database %s\n", qPrintable(uri));
    }
    std::printf("ready\n");
    std::fflush(stdout);
    // SIGTERM ends the wait like EOF does, so the cluster is still stopped and removed.
    // (close() is async-signal-safe; the interrupted read then fails with EBADF.)
    std::signal(SIGTERM, [](int) { ::close(0); });
    std::string line;
    while (std::getline(std::cin, line)) { }
    return 0; // ~QCoreApplication stops and removes the cluster
}
