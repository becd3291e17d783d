// SPDX-License-Identifier: MIT
#include "storeutil_p.h"

#include <QtCore/QMetaObject>

namespace Tessera::Platform {

Q_LOGGING_CATEGORY(lcStorage, "tessera.storage", QtWarningMsg)

void completeLater(QObject *context, SecureStore::Completion done, StoreResult result)
{
    if (!done)
        return;
    QMetaObject::invokeMethod(
            context,
            [done = std::move(done), result = std::move(result)]() mutable {
                done(std::move(result));
            },
            Qt::QueuedConnection);
}

bool refuseOversized(QObject *context, const char *backend, const Secret &secret,
                     SecureStore::Completion &done)
{
    if (secret.size() <= SecureStore::MaxSecretBytes)
        return false;
    qCWarning(lcStorage, "%s write refused: %lld bytes exceed the %lld-byte limit", backend,
              qlonglong(secret.size()), qlonglong(SecureStore::MaxSecretBytes));
    completeLater(context, std::move(done),
                  makeResult(StoreResult::Status::TooLarge,
                             QStringLiteral("secret of %1 bytes exceeds the %2-byte limit")
                                     .arg(secret.size())
                                     .arg(SecureStore::MaxSecretBytes)));
    return true;
}

StoreResult makeResult(StoreResult::Status status, const QString &message)
{
    StoreResult result;
    result.status = status;
    result.message = message;
    return result;
}

QString statusName(StoreResult::Status status)
{
    using Status = StoreResult::Status;
    switch (status) {
    case Status::Ok:
        return QStringLiteral("Ok");
    case Status::NotFound:
        return QStringLiteral("NotFound");
    case Status::Unavailable:
        return QStringLiteral("Unavailable");
    case Status::Locked:
        return QStringLiteral("Locked");
    case Status::AccessDenied:
        return QStringLiteral("AccessDenied");
    case Status::TooLarge:
        return QStringLiteral("TooLarge");
    case Status::Other:
        break;
    }
    return QStringLiteral("Other");
}

} // namespace Tessera::Platform
