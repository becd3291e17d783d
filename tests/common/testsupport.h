// SPDX-License-Identifier: MIT
// Test support: small assertions and fixtures shared by the integration tests.
#pragma once

#include "httpclient.h"
#include "serverprocess.h"

#include <QtTest/QTest>

#include <optional>

namespace Tessera::Test {

struct TokenPair
{
    QString access;
    QString refresh;
};

// The {"access","refresh"} pair of a 200 token response, if it is one.
inline std::optional<TokenPair> tokenPair(const HttpResponse &response)
{
    if (response.status != 200 || !response.isJsonObject())
        return std::nullopt;
    TokenPair pair{response.str(QStringLiteral("access")), response.str(QStringLiteral("refresh"))};
    if (pair.access.isEmpty() || pair.refresh.isEmpty())
        return std::nullopt;
    return pair;
}

inline const QString TestUser = QStringLiteral("alice");
inline const QString TestPassword = QStringLiteral("correct horse battery staple 7");

} // namespace Tessera::Test

// Start a server (or fail the test with the reason).
#define TESSERA_START(server) QVERIFY2((server).start(), qPrintable((server).errorString()))
#define TESSERA_ADD_USER(server, name, password) \
    QVERIFY2((server).addUser((name), QByteArray(password)), qPrintable((server).errorString()))
// The usual start: the test user (TestUser, TestPassword) added, then the server started.
#define TESSERA_START_WITH_TEST_USER(server) \
    do { \
        TESSERA_ADD_USER(server, ::Tessera::Test::TestUser, \
                         ::Tessera::Test::TestPassword.toUtf8()); \
        TESSERA_START(server); \
    } while (false)

// Status check that prints the response on failure. `responseExpr` is
// evaluated exactly once (it is often the request itself).
#define TESSERA_EXPECT_STATUS(responseExpr, expected) \
    do { \
        const ::Tessera::Test::HttpResponse tessera_response_ = (responseExpr); \
        QVERIFY2(tessera_response_.status == (expected), \
                 qPrintable(QStringLiteral("expected HTTP %1, got %2") \
                                    .arg(expected) \
                                    .arg(tessera_response_.describe()))); \
    } while (false)

// Status + JSON error body {"code": code, "detail": ...}; evaluated once.
#define TESSERA_EXPECT_ERROR(responseExpr, expectedStatus, expectedCode) \
    do { \
        const ::Tessera::Test::HttpResponse tessera_error_ = (responseExpr); \
        TESSERA_EXPECT_STATUS(tessera_error_, expectedStatus); \
        QVERIFY2(tessera_error_.isJsonObject(), \
                 qPrintable(QStringLiteral("error body is not a JSON object: ") \
                            + tessera_error_.describe())); \
        QVERIFY2(tessera_error_.code() == QString(expectedCode), \
                 qPrintable(QStringLiteral("expected code %1, got %2") \
                                    .arg(QString(expectedCode), tessera_error_.describe()))); \
    } while (false)

// A 200 token pair into `var` (declared by the macro).
#define TESSERA_TOKEN_PAIR(var, responseExpr) \
    const ::Tessera::Test::HttpResponse var##_response = (responseExpr); \
    TESSERA_EXPECT_STATUS(var##_response, 200); \
    QVERIFY2(::Tessera::Test::tokenPair(var##_response).has_value(), \
             qPrintable(var##_response.describe())); \
    const ::Tessera::Test::TokenPair var = *::Tessera::Test::tokenPair(var##_response)
