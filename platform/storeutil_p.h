// SPDX-License-Identifier: MIT
// Private helpers shared by the secure-storage backends. Never installed.
#pragma once

#include "securestore_p.h"

#include <tessera/secret.h>

#include <QtCore/QLoggingCategory>

namespace Tessera::Platform {

// "tessera.storage": events and statuses only, never a secret.
Q_DECLARE_LOGGING_CATEGORY(lcStorage)

// Runs done(result) later from context's event loop: never synchronously, and never once
// context has been destroyed (pending queued calls die with their context object).
void completeLater(QObject *context, SecureStore::Completion done, StoreResult result);

// Refuses a secret over SecureStore::MaxSecretBytes: completes `done` later with TooLarge
// (and logs it, naming `backend`) and returns true; false when the size is fine.
bool refuseOversized(QObject *context, const char *backend, const Secret &secret,
                     SecureStore::Completion &done);

// A StoreResult with a status and a human message.
StoreResult makeResult(StoreResult::Status status, const QString &message = {});

// "Ok", "NotFound", ...: for log lines and test output.
QString statusName(StoreResult::Status status);

} // namespace Tessera::Platform
