// SPDX-License-Identifier: MIT
// The HTML pages and /device_authorization while the database cannot answer (docs/SERVER.md
// "Running several instances", "When PostgreSQL is down"): another connection of the test
// holds the tables the pages write (SQLite: an exclusive transaction, so the server's writes
// wait out its busy timeout; PostgreSQL: LOCK TABLE, so its statements meet
// --db-statement-timeout). Each page answers 503 with Retry-After: 1, never 500, and once the
// lock is gone the same pages work on the same server process, without a restart.
#include "oauthflow.h"
#include "testdatabase.h"

#include <QtCore/QUrl>
#include <QtSql/QSqlDatabase>
#include <QtSql/QSqlError>
#include <QtSql/QSqlQuery>
#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::Test;
using namespace Tessera::Test::OAuth;

namespace {

const QString LockConnection = QStringLiteral("pagefailures-lock");

// A connection of the test's own holding the write lock of the server's database until
// release() (or destruction).
class DatabaseLock
{
public:
    bool acquire(const QString &database, QString *error)
    {
        QSqlDatabase db;
        if (testsUsePostgreSQL()) {
            const QUrl uri(database);
            db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), LockConnection);
            db.setHostName(uri.host());
            db.setPort(uri.port());
            db.setUserName(uri.userName());
            db.setDatabaseName(uri.path().mid(1));
        } else {
            db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), LockConnection);
            db.setDatabaseName(database);
        }
        if (!db.open()) {
            *error = db.lastError().text();
            return false;
        }
        QSqlQuery query(db);
        // PostgreSQL: the tables every page reads or writes, reads included. SQLite (WAL):
        // readers go on, writers wait for the lock.
        const QStringList statements = testsUsePostgreSQL()
                ? QStringList{QStringLiteral("BEGIN"),
                              QStringLiteral("LOCK TABLE clients, authorization_codes, "
                                             "device_codes IN ACCESS EXCLUSIVE MODE")}
                : QStringList{QStringLiteral("BEGIN EXCLUSIVE")};
        for (const QString &statement : statements) {
            if (!query.exec(statement)) {
                *error = query.lastError().text();
                return false;
            }
        }
        m_held = true;
        return true;
    }

    void release()
    {
        if (!m_held)
            return;
        m_held = false;
        {
            QSqlDatabase db = QSqlDatabase::database(LockConnection);
            QSqlQuery(db).exec(QStringLiteral("ROLLBACK"));
            db.close();
        }
        QSqlDatabase::removeDatabase(LockConnection);
    }

    ~DatabaseLock() { release(); }

private:
    bool m_held = false;
};

// A page of the /device flow: its hidden fields and its cookie.
struct Page
{
    HttpResponse response;
    QList<QPair<QString, QString>> hidden;
    QByteArray cookie;
};

Page pageOf(const HttpResponse &response)
{
    return {response, hiddenFields(response.body),
            response.header("Set-Cookie").split(';').first()};
}

#define TESSERA_EXPECT_RETRY_PAGE(response) \
    do { \
        const HttpResponse &tessera_page_ = (response); \
        QVERIFY2(tessera_page_.status == 503, qPrintable(tessera_page_.describe())); \
        QCOMPARE(tessera_page_.header("Retry-After"), QByteArray("1")); \
        QVERIFY(tessera_page_.header("Content-Type").startsWith("text/html")); \
        QCOMPARE(tessera_page_.header("X-Frame-Options"), QByteArray("DENY")); \
        QVERIFY(tessera_page_.body.contains("try again")); \
    } while (false)

} // namespace

class tst_ServerPageFailures : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void pagesAnswer503ThenRecover();

private:
    QString startDevice(OAuthFlow &flow, int *status, QByteArray *retryAfter = nullptr,
                        QString *error = nullptr);
    HttpResponse postDevice(OAuthFlow &flow, const Page &page,
                            QList<QPair<QString, QString>> fields);
    // The /device confirmation page of `userCode` (entry page, then the code).
    Page confirmation(OAuthFlow &flow, const QString &userCode);
    HttpResponse allow(OAuthFlow &flow, const Page &confirmation);

    // SQLite's busy timeout is 5 s; PostgreSQL's statements end at this.
    ServerProcess m_server{{QStringLiteral("--demo"), QStringLiteral("--db-statement-timeout"),
                            QStringLiteral("300")}};
};

void tst_ServerPageFailures::initTestCase()
{
    TESSERA_REQUIRE_TEST_DATABASE();
    TESSERA_START_OAUTH(m_server);
}

QString tst_ServerPageFailures::startDevice(OAuthFlow &flow, int *status, QByteArray *retryAfter,
                                            QString *error)
{
    const HttpResponse answer = flow.http.post(QStringLiteral("/device_authorization"),
                                               formBody({{QStringLiteral("client_id"), Client}}),
                                               "application/x-www-form-urlencoded");
    *status = answer.status;
    if (retryAfter)
        *retryAfter = answer.header("Retry-After");
    if (error)
        *error = answer.str(QStringLiteral("error"));
    return answer.str(QStringLiteral("user_code"));
}

HttpResponse tst_ServerPageFailures::postDevice(OAuthFlow &flow, const Page &page,
                                                QList<QPair<QString, QString>> fields)
{
    QString csrf;
    for (const auto &[name, value] : page.hidden) {
        if (name == u"csrf")
            csrf = value;
    }
    fields.prepend({QStringLiteral("csrf"), csrf});
    return flow.http.post(QStringLiteral("/device"), formBody(fields),
                          "application/x-www-form-urlencoded", {{"Cookie", page.cookie}});
}

Page tst_ServerPageFailures::confirmation(OAuthFlow &flow, const QString &userCode)
{
    const Page entry = pageOf(flow.http.get(QStringLiteral("/device")));
    return pageOf(postDevice(flow, entry, {{QStringLiteral("user_code"), userCode}}));
}

HttpResponse tst_ServerPageFailures::allow(OAuthFlow &flow, const Page &confirmation)
{
    auto fields = confirmation.hidden;
    fields.removeIf([](const QPair<QString, QString> &field) { return field.first == u"csrf"; });
    fields << qMakePair(QStringLiteral("username"), TestUser)
           << qMakePair(QStringLiteral("password"), TestPassword)
           << qMakePair(QStringLiteral("action"), QStringLiteral("allow"));
    return postDevice(flow, confirmation, fields);
}

void tst_ServerPageFailures::pagesAnswer503ThenRecover()
{
    OAuthFlow flow(m_server);
    flow.http.setTimeout(30000);
    // Everything a person has open when the database goes: a login form and a device's
    // confirmation page.
    const Pkce pkce = newPkce();
    const Form form = flow.openForm(flow.authorizeParameters(pkce));
    TESSERA_EXPECT_STATUS(form.response, 200);
    int status = 0;
    const QString userCode = startDevice(flow, &status);
    QCOMPARE(status, 200);
    const Page confirm = confirmation(flow, userCode);
    TESSERA_EXPECT_STATUS(confirm.response, 200);

    DatabaseLock lock;
    QString error;
    QVERIFY2(lock.acquire(m_server.databasePath(), &error), qPrintable(error));

    // The login form's post: the client lookup (PostgreSQL) or the code's insert (SQLite)
    // cannot finish.
    TESSERA_EXPECT_RETRY_PAGE(flow.submit(form, TestUser, TestPassword));
    // The device's start: 503 temporarily_unavailable, as /token answers.
    QByteArray retryAfter;
    QString oauthError;
    startDevice(flow, &status, &retryAfter, &oauthError);
    QCOMPARE(status, 503);
    QCOMPARE(oauthError, QStringLiteral("temporarily_unavailable"));
    QCOMPARE(retryAfter, QByteArray("1"));
    // The device page's approval: the code's lookup (PostgreSQL) or the decision's update
    // (SQLite).
    TESSERA_EXPECT_RETRY_PAGE(allow(flow, confirm));
    if (testsUsePostgreSQL()) {
        // Reads wait for the lock too: the login form and the code entry.
        TESSERA_EXPECT_RETRY_PAGE(
                flow.http.get(flow.authorizePath(flow.authorizeParameters(pkce))));
        TESSERA_EXPECT_RETRY_PAGE(
                postDevice(flow, confirm, {{QStringLiteral("user_code"), userCode}}));
    }
    lock.release();

    // The same server process, the same pages: nothing was half-written, nothing restarted.
    const QString code = flow.code(pkce);
    QVERIFY(!code.isEmpty());
    TESSERA_EXPECT_STATUS(flow.exchange(code, pkce.verifier), 200);
    QVERIFY(!startDevice(flow, &status).isEmpty());
    QCOMPARE(status, 200);
    const HttpResponse allowed = allow(flow, confirmation(flow, userCode));
    TESSERA_EXPECT_STATUS(allowed, 200);
    QVERIFY(allowed.body.contains("Device connected"));
    QVERIFY(m_server.isRunning());
}

QTEST_GUILESS_MAIN(tst_ServerPageFailures)
#include "tst_server_pagefailures.moc"
