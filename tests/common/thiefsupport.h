// SPDX-License-Identifier: MIT
// What a thief does in the DPoP tests (tests/oauth, tests/session): read what the real keyring
// holds for a session, delete an entry, and send a copied token with exactly the headers it
// chooses, outside any session. Header-only: it needs the SDK's platform layer
// (securestore_p.h), which TesseraTestSupport does not link.
#pragma once

#include "securestore_p.h"

#include <tessera/sessionconfig.h>

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QUrl>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtTest/QTest>

#include <memory>
#include <optional>
#include <utility>

namespace Tessera::Test {

inline constexpr int ThiefWaitMs = 30000;

// What the real keyring holds under `key` of `config`'s service (empty when nothing).
inline QByteArray storedSecret(const SessionConfig &config, const QString &key)
{
    const auto store = Platform::createKeychainStore(config.storageService());
    std::optional<QByteArray> value;
    store->read(key, [&value](const Platform::StoreResult &result) {
        value = result.ok() ? QByteArray(result.data.reveal().data(), result.data.size())
                            : QByteArray();
    });
    if (!QTest::qWaitFor([&] { return value.has_value(); }, ThiefWaitMs))
        return {};
    return *value;
}

// Deletes `key` of `config`'s service from the real keyring; true when it is gone.
inline bool removeStoredSecret(const SessionConfig &config, const QString &key)
{
    const auto store = Platform::createKeychainStore(config.storageService());
    std::optional<bool> removed;
    store->remove(key, [&removed](const Platform::StoreResult &result) {
        removed = result.ok() || result.status == Platform::StoreResult::Status::NotFound;
    });
    return QTest::qWaitFor([&] { return removed.has_value(); }, ThiefWaitMs) && *removed;
}

// The answer to a request of the thief's: status (-1 when none came) and WWW-Authenticate.
struct Answer
{
    int status = -1;
    QByteArray challenge;
};

// A GET of `url` with exactly these headers.
inline Answer plainGet(const QUrl &url, const QList<std::pair<QByteArray, QByteArray>> &headers)
{
    QNetworkAccessManager plain;
    QNetworkRequest request(url);
    for (const auto &[name, value] : headers)
        request.setRawHeader(name, value);
    std::unique_ptr<QNetworkReply> reply(plain.get(request));
    if (!QTest::qWaitFor([&] { return reply->isFinished(); }, ThiefWaitMs))
        return {};
    return {reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(),
            reply->rawHeader("WWW-Authenticate")};
}

// A POST of `body` (`contentType`) to `url` with exactly these headers.
inline Answer plainPost(const QUrl &url, const QByteArray &contentType, const QByteArray &body,
                        const QList<std::pair<QByteArray, QByteArray>> &headers)
{
    QNetworkAccessManager plain;
    QNetworkRequest request(url);
    request.setHeader(QNetworkRequest::ContentTypeHeader, contentType);
    for (const auto &[name, value] : headers)
        request.setRawHeader(name, value);
    std::unique_ptr<QNetworkReply> reply(plain.post(request, body));
    if (!QTest::qWaitFor([&] { return reply->isFinished(); }, ThiefWaitMs))
        return {};
    return {reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(),
            reply->rawHeader("WWW-Authenticate")};
}

} // namespace Tessera::Test
