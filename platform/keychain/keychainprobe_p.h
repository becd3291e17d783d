// SPDX-License-Identifier: MIT
// Private: what the keychain backend asks the platform before (and after) a QtKeychain job.
// One implementation per platform, chosen by CMake: linux/secretserviceprobe.cpp talks to
// D-Bus; keychain/keychainprobe_other.cpp has nothing to check. Never installed.
#pragma once

#include "securestore_p.h"

#include <QtCore/QObject>
#include <QtCore/QString>

#include <functional>
#include <optional>

namespace Tessera::Platform::Detail {

enum class KeychainOperation {
    Read,
    Write,
    Remove,
    VerifyRemoved, // after QtKeychain reported a remove as done: is the entry really gone?
};

struct ProbeResult
{
    // Set when the operation must finish with this result and without a QtKeychain job
    // (e.g. Unavailable before anything could spawn or autolaunch; NotFound).
    std::optional<StoreResult> result;
    // The entry exists, but only in a locked collection. QtKeychain 0.13 then reports a read as
    // EntryNotFound and a remove as done (libsecret drops locked items it cannot unlock), so
    // the backend turns those answers into Locked.
    bool entryLocked = false;
};

using ProbeDone = std::function<void(const ProbeResult &)>;

// Asks whether `operation` on (service, key) can go to QtKeychain. done runs later on
// context's thread: never synchronously, never after context is destroyed. Never blocks
// on, spawns or autolaunches anything.
void probeKeychain(KeychainOperation operation, const QString &service, const QString &key,
                   QObject *context, ProbeDone done);

} // namespace Tessera::Platform::Detail
