// SPDX-License-Identifier: MIT
#include "storageerror_p.h"

namespace Tessera {

Error storageError(const Platform::StoreResult &result, const QString &what)
{
    using Status = Platform::StoreResult::Status;
    const QString message = QStringLiteral("%1: %2").arg(what, result.message);
    switch (result.status) {
    case Status::Ok:
        return {};
    case Status::Unavailable:
        return {Error::Code::StorageUnavailable, message};
    case Status::Locked:
        return {Error::Code::StorageLocked, message};
    case Status::AccessDenied:
        return {Error::Code::StorageAccessDenied, message};
    case Status::TooLarge:
        return {Error::Code::StorageTooLarge, message};
    case Status::NotFound:
    case Status::Other:
        break;
    }
    return {Error::Code::StorageFailure, message};
}

} // namespace Tessera
