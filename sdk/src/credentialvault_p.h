// SPDX-License-Identifier: MIT
// Private: the credential vault, the one owner of the refresh token: in memory, and in the
// platform's secure storage under the account's key; and of the DPoP key stored beside it
// (the signer holds it in memory). Never installed.
#pragma once

#include "securestore_p.h"

#include <tessera/error.h>
#include <tessera/jose.h>
#include <tessera/secret.h>

#include <QtCore/QObject>

#include <functional>
#include <memory>

namespace Tessera {

class DpopSigner;
class SessionConfig;

// Keeps the refresh token of the signed-in account, and the account pointer (which account
// restore() resumes). Knows what it last stored (a digest), so that it can tell a token
// another process rotated from one its own failed write left behind, and so that it removes
// a rejected token only while storage still holds that one. Completions run from the event
// loop and never after the vault is destroyed.
//
// The DPoP key (when the session has one) is stored under the token's key + "#dpop", as
// unencrypted PKCS#8 DER in a Secret: written before the refresh token at sign-in (a stored
// bound token always has its key), read back by load() into the signer, removed with the
// token (logout, rejection). Its value is never logged.
//
// A removal of a rejected token is not overtaken: a sign-in's write, a restore's read and a
// logout's removal that start meanwhile wait until it has landed, so none reads the rejected
// token back or has its new token deleted by it.
class CredentialVault : public QObject
{
    Q_OBJECT
public:
    using Done = std::function<void(const Error &error)>;

    // `config` and `dpop` (may be null: no DPoP) are the session's and outlive the vault.
    explicit CredentialVault(const SessionConfig &config, DpopSigner *dpop = nullptr,
                             QObject *parent = nullptr);
    ~CredentialVault() override;

    // Secure storage for SessionConfig::StoragePolicy::SecureStorage, memory for MemoryOnly.
    // Re-creates the store when the configuration now names another one.
    void applyConfig();
    void setStoreForTesting(std::unique_ptr<Platform::SecureStore> store);
    Platform::SecureStore *store() const { return m_store.get(); }
    // True when tokens outlive the process (secure storage); false in memory-only mode.
    bool persists() const;
    // The storage key of an account's refresh token (SessionConfig::storageKey).
    QString storageKey(const QString &account) const;
    // ... and of its DPoP key.
    QString dpopKeyStorageKey(const QString &account) const;

    // --- in memory ---
    const Secret &refreshToken() const { return m_refreshToken; }
    // Holds `token` as the account's refresh token. `stored`: storage holds it too; else
    // storage still holds the token stored before (a write failed).
    void hold(Secret token, bool stored);
    // Hands the token over (logout revokes it) and forgets it.
    Secret take();
    // Forgets the token and what was stored; storage is not touched.
    void forget();

    // --- in storage ---
    // A new sign-in: stores the signer's DPoP key (or removes a stale one when it has none),
    // then the refresh token, then the account pointer (a failure there is logged only: the
    // pointer is a convenience for restore()). Does not hold the token.
    // Stops after the first write when `stillWanted()` says the sign-in was abandoned.
    void storeSignIn(const QString &account, const Secret &token, std::function<bool()> stillWanted,
                     Done done);
    // The stored session of `account`, or of the account the pointer names when empty.
    // NotSignedIn when there is none. Does not hold the token. Also the stored DPoP key (a
    // null Key when there is none or it is unreadable: a bound session then cannot refresh
    // and goes to ReauthRequired; a locked store fails the load, transiently).
    using LoadDone = std::function<void(const QString &account, Secret token, Jose::Key dpopKey,
                                        const Error &error)>;
    void load(const QString &account, LoadDone done);
    // Logout: removes the account's token, its DPoP key and the pointer. The error of a failed
    // removal.
    void removeAccount(const QString &account, Done done);
    // Removes the token whose digest is `rejectedDigest`, but only while storage still holds
    // that one: a token another instance stored meanwhile is kept.
    void removeIfStillStored(const QString &account, const QByteArray &rejectedDigest,
                             std::function<void()> done);
    // True while such a removal has not landed.
    bool isRemovingRejected() const { return m_rejectedRemovals > 0; }

    // --- crash-safe rotation (crashsaferotation.cpp) ---
    // Stores a rotated refresh token before anyone uses the access token that came with it.
    // The vault holds `rotated` from the moment the write completes, whatever its outcome:
    // the old token is spent, and a failed write is reported (the error), never swallowed.
    // `done` runs only while `stillWanted()` says so (the session may have moved on).
    void storeRotated(const QString &account, Secret rotated, std::function<bool()> stillWanted,
                      Done done);
    // Before a refresh, under the cross-process lock: takes a token another process of this
    // app and account rotated meanwhile from storage, so the spent one is not presented.
    void adoptNewerStoredToken(const QString &account, std::function<bool()> stillWanted,
                               std::function<void()> done);

    static QByteArray digestOf(QByteArrayView token);

private:
    QString accountPointerKey() const;
    // Runs `start` now, or once no removal of a rejected token is in flight.
    void afterRejectedRemovals(std::function<void()> start);
    void loadNow(const QString &account, const LoadDone &done);
    void removeAccountNow(const QString &account, const Done &done);
    // Reads the account's DPoP key (null when none or unreadable); a storage error only when
    // the store is locked (transient).
    using KeyDone = std::function<void(Jose::Key key, const Error &error)>;
    void loadDpopKey(const QString &account, KeyDone done);

    const SessionConfig &m_config;
    DpopSigner *m_dpop;
    std::unique_ptr<Platform::SecureStore> m_store;
    QString m_storeService; // what m_store was created for
    bool m_storePersists = false;
    Secret m_refreshToken;
    // SHA-256 of the refresh token last written to or read from storage.
    QByteArray m_storedDigest;
    int m_rejectedRemovals = 0;
    QList<std::function<void()>> m_waitingForRemovals;
};

} // namespace Tessera
