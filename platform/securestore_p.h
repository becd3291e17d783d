// SPDX-License-Identifier: MIT
// Private: the one interface every secure-storage backend implements. Never installed.
#pragma once

#include <tessera/secret.h>

#include <QtCore/QObject>
#include <QtCore/QString>

#include <functional>
#include <memory>

namespace Tessera::Platform {

struct StoreResult
{
    enum class Status {
        Ok,
        NotFound,     // no entry under that key (a read or remove of nothing)
        Unavailable,  // no secure storage at all: no D-Bus session, no Secret Service, no backend
        Locked,       // storage exists but is locked (e.g. a locked keyring collection)
        AccessDenied, // the user or the platform refused access
        TooLarge,     // the secret exceeds what the backend can hold (MaxSecretBytes)
        Other,        // anything else; message says what
    };

    Status status = Status::Other;
    QString message; // for humans and logs; never contains the secret
    Secret data;     // read(): the secret when status == Ok

    bool ok() const { return status == Status::Ok; }
};

// Asynchronous secret storage keyed by strings. Completions run on the thread
// that owns the store, after the call returned (never synchronously inside
// read/write/remove), and never after the store is destroyed. A completion receives
// the result by value: a read's secret moves on to whoever keeps it, never copied.
class SecureStore : public QObject
{
    Q_OBJECT
public:
    using Completion = std::function<void(StoreResult)>;

    // Secrets larger than this are refused with TooLarge on every platform, so
    // behaviour does not depend on the platform's own limit (Windows Credential
    // Manager: 2,560 bytes). Tessera stores only refresh tokens, far smaller.
    static constexpr qsizetype MaxSecretBytes = 2048;

    using QObject::QObject;
    ~SecureStore() override = default;

    virtual void read(const QString &key, Completion done) = 0;
    // The store keeps a copy of its own; the caller's Secret is left as it was.
    virtual void write(const QString &key, const Secret &secret, Completion done) = 0;
    virtual void remove(const QString &key, Completion done) = 0;

    // "keychain" or "memory": for logs and diagnostics.
    virtual QString backendName() const = 0;
};

// QtKeychain backend (Apple Keychain, Windows Credential Manager, Android
// Keystore, libsecret/KWallet). `service` groups the entries (QtKeychain's
// service name). The insecure plaintext fallback is always off.
// The factories take no QObject parent: the unique_ptr is the one owner (a parent as well
// would delete the store a second time).
std::unique_ptr<SecureStore> createKeychainStore(const QString &service);

// Process memory only: tests, and the explicit memory-only mode.
std::unique_ptr<SecureStore> createMemoryStore();

} // namespace Tessera::Platform
