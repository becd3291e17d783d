// SPDX-License-Identifier: MIT
// Private: storage-error mapping, the one place where a secure-storage result becomes the
// SDK's Error. Never installed.
#pragma once

#include "securestore_p.h"

#include <tessera/error.h>

namespace Tessera {

// The Error for a failed storage operation: StorageUnavailable, StorageLocked (transient),
// StorageAccessDenied, StorageTooLarge, else StorageFailure. `what` says what the SDK was
// doing ("cannot store the refresh token"); the backend's message follows it.
Error storageError(const Platform::StoreResult &result, const QString &what);

// A failure worth reporting: NotFound is an answer (a read or remove of nothing), not a failure.
inline bool isStorageFailure(const Platform::StoreResult &result)
{
    return !result.ok() && result.status != Platform::StoreResult::Status::NotFound;
}

} // namespace Tessera
