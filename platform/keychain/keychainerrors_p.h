// SPDX-License-Identifier: MIT
// Private: QtKeychain's error codes and texts -> StoreResult::Status. Never installed.
#pragma once

#include "securestore_p.h"

#include <qt6keychain/keychain.h>

namespace Tessera::Platform {

// EntryNotFound -> NotFound; NoBackendAvailable/NotImplemented -> Unavailable;
// AccessDenied(ByUser) -> AccessDenied, or Locked when the text says the collection is locked;
// OtherError (and CouldNotDeleteEntry) -> classified by its text: no session bus or no
// Secret Service -> Unavailable, a locked or missing keyring collection -> Locked, else Other.
StoreResult::Status statusForKeychainError(QKeychain::Error error, const QString &errorText);

} // namespace Tessera::Platform
