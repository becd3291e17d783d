// SPDX-License-Identifier: MIT
// libFuzzer target: tessera-server's request-body parsing and field checks.
#include "requestbody.h"

#include <QtCore/QJsonDocument>

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    // The first byte picks the Content-Type header, the rest is the body.
    static const QByteArray contentTypes[] = {
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "text/plain",
            "",
            "application/json;",
            "application/jsonx",
    };
    const QByteArray &contentType = contentTypes[data[0] % std::size(contentTypes)];
    const QByteArray body(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));
    auto parsed = Tessera::Server::parseJsonBody(body, contentType, 64 * 1024);
    if (const auto *object = std::get_if<QJsonObject>(&parsed)) {
        // What the server accepts, QJsonDocument reads as the same object.
        if (!body.isEmpty() && QJsonDocument::fromJson(body).object() != *object)
            std::abort();
        Tessera::Server::requireStrings(*object,
                                        {QStringLiteral("username"), QStringLiteral("password")});
        Tessera::Server::requireStrings(*object, {QStringLiteral("refresh")});
    }
    return 0;
}
