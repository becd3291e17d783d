// SPDX-License-Identifier: MIT
// The credential vault (credentialvault_p.h), except its rotation steps, which are in
// crashsaferotation.cpp.
#include "credentialvault_p.h"

#include "dpopsigner_p.h"
#include "logging_p.h"
#include "storageerror_p.h"

#include <tessera/sessionconfig.h>

#include <QtCore/QCryptographicHash>

namespace Tessera {

using Platform::StoreResult;

CredentialVault::CredentialVault(const SessionConfig &config, DpopSigner *dpop, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_dpop(dpop)
{
    applyConfig();
}

CredentialVault::~CredentialVault() = default;

void CredentialVault::applyConfig()
{
    const bool persist = m_config.storagePolicy() == SessionConfig::StoragePolicy::SecureStorage;
    const QString service = m_config.storageService();
    if (m_store && persist == m_storePersists && service == m_storeService)
        return;
    m_store = persist ? Platform::createKeychainStore(service) : Platform::createMemoryStore();
    m_storePersists = persist;
    m_storeService = service;
}

void CredentialVault::setStoreForTesting(std::unique_ptr<Platform::SecureStore> store)
{
    m_store = std::move(store);
}

bool CredentialVault::persists() const
{
    return m_config.storagePolicy() == SessionConfig::StoragePolicy::SecureStorage;
}

QString CredentialVault::storageKey(const QString &account) const
{
    return m_config.storageKey(account);
}

QString CredentialVault::dpopKeyStorageKey(const QString &account) const
{
    return m_config.storageKey(account) + QStringLiteral("#dpop");
}

QString CredentialVault::accountPointerKey() const
{
    // Names the account last signed in for this app and server, so restore()
    // needs no username; holds the user name, never a token.
    return m_config.storageKey(QString()) + QStringLiteral("#account");
}

QByteArray CredentialVault::digestOf(QByteArrayView token)
{
    return QCryptographicHash::hash(token, QCryptographicHash::Sha256);
}

void CredentialVault::hold(Secret token, bool stored)
{
    // Not stored: storage still holds the token last stored, and the digest still names it.
    if (stored)
        m_storedDigest = digestOf(token.reveal());
    m_refreshToken = std::move(token);
}

Secret CredentialVault::take()
{
    m_storedDigest.clear();
    return std::move(m_refreshToken);
}

void CredentialVault::forget()
{
    m_refreshToken.clear();
    m_storedDigest.clear();
}

void CredentialVault::afterRejectedRemovals(std::function<void()> start)
{
    if (m_rejectedRemovals == 0)
        return start();
    qCDebug(lcSession) << "waiting for the rejected token's removal";
    m_waitingForRemovals.append(std::move(start));
}

void CredentialVault::storeSignIn(const QString &account, const Secret &token,
                                  std::function<bool()> stillWanted, Done done)
{
    auto held = std::make_shared<Secret>(token.clone());
    afterRejectedRemovals([this, account, held, stillWanted = std::move(stillWanted),
                           done = std::move(done)] {
        if (!stillWanted())
            return;
        auto writeToken = [this, account, held, stillWanted, done] {
            m_store->write(
                    storageKey(account), *held,
                    [this, account, stillWanted, done](const StoreResult &result) {
                        if (!stillWanted())
                            return;
                        if (!result.ok())
                            return done(storageError(
                                    result, QStringLiteral("cannot store the refresh token")));
                        m_store->write(accountPointerKey(), Secret(account.toUtf8()),
                                       [done](const StoreResult &pointer) {
                                           if (!pointer.ok())
                                               qCWarning(lcSession)
                                                       << "cannot remember the account:"
                                                       << pointer.message;
                                           done({});
                                       });
                    });
        };
        // The key first: a stored bound refresh token always has its key beside it.
        const Secret key = m_dpop ? m_dpop->exportKey() : Secret();
        if (key.isEmpty())
            return m_store->remove(dpopKeyStorageKey(account),
                                   [writeToken, stillWanted](const StoreResult &) {
                                       if (stillWanted())
                                           writeToken();
                                   });
        m_store->write(dpopKeyStorageKey(account), key,
                       [stillWanted, done, writeToken](const StoreResult &result) {
                           if (!stillWanted())
                               return;
                           if (!result.ok())
                               return done(storageError(
                                       result, QStringLiteral("cannot store the DPoP key")));
                           writeToken();
                       });
    });
}

void CredentialVault::loadDpopKey(const QString &account, KeyDone done)
{
    if (!m_dpop)
        return done({}, {});
    m_store->read(dpopKeyStorageKey(account), [done](StoreResult result) {
        if (result.status == StoreResult::Status::NotFound)
            return done({}, {});
        if (!result.ok()) {
            const Error error =
                    storageError(result, QStringLiteral("cannot read the stored DPoP key"));
            if (error.isTransient())
                return done({}, error);
            qCWarning(lcSession) << "the stored DPoP key cannot be read:" << error;
            return done({}, {});
        }
        Jose::Key key = DpopSigner::importKey(result.data);
        if (key.isNull())
            qCWarning(lcSession) << "the stored DPoP key is not a P-256 private key; ignored";
        done(std::move(key), {});
    });
}

void CredentialVault::load(const QString &account, LoadDone done)
{
    afterRejectedRemovals([this, account, done = std::move(done)] { loadNow(account, done); });
}

void CredentialVault::loadNow(const QString &account, const LoadDone &done)
{
    const QString what = QStringLiteral("cannot read the stored session");
    auto readToken = [this, what, done](const QString &name) {
        m_store->read(storageKey(name), [this, name, what, done](StoreResult result) {
            if (result.status == StoreResult::Status::NotFound)
                return done(name, {}, {},
                            {Error::Code::NotSignedIn, QStringLiteral("no stored session")});
            if (!result.ok())
                return done(name, {}, {}, storageError(result, what));
            auto token = std::make_shared<Secret>(std::move(result.data));
            loadDpopKey(name, [name, token, done](Jose::Key key, const Error &error) {
                if (error.isError())
                    return done(name, {}, {}, error);
                done(name, std::move(*token), std::move(key), {});
            });
        });
    };
    if (!account.isEmpty())
        return readToken(account);
    m_store->read(accountPointerKey(), [readToken, what, done](const StoreResult &result) {
        if (result.ok() && !result.data.isEmpty())
            return readToken(QString::fromUtf8(result.data.reveal()));
        if (result.ok() || result.status == StoreResult::Status::NotFound)
            return done({}, {}, {},
                        {Error::Code::NotSignedIn, QStringLiteral("no stored session")});
        done({}, {}, {}, storageError(result, what));
    });
}

void CredentialVault::removeAccount(const QString &account, Done done)
{
    afterRejectedRemovals(
            [this, account, done = std::move(done)] { removeAccountNow(account, done); });
}

void CredentialVault::removeAccountNow(const QString &account, const Done &done)
{
    struct Removal
    {
        int pending = 2;
        Error error;
        Done done;
    };
    auto removal = std::make_shared<Removal>();
    removal->pending = 3;
    removal->done = done;
    auto removed = [removal](const StoreResult &result) {
        if (isStorageFailure(result))
            removal->error =
                    storageError(result, QStringLiteral("cannot delete the stored session"));
        if (--removal->pending == 0)
            removal->done(removal->error);
    };
    m_store->remove(storageKey(account), removed);
    m_store->remove(dpopKeyStorageKey(account), removed);
    m_store->remove(accountPointerKey(), removed);
}

void CredentialVault::removeIfStillStored(const QString &account, const QByteArray &rejectedDigest,
                                          std::function<void()> done)
{
    const QString key = storageKey(account);
    ++m_rejectedRemovals;
    auto landed = [this, done = std::move(done)] {
        // What waited starts first (in order), then the caller hears of it.
        if (--m_rejectedRemovals == 0) {
            const QList<std::function<void()>> waiting = std::move(m_waitingForRemovals);
            m_waitingForRemovals.clear();
            for (const std::function<void()> &start : waiting)
                start();
        }
        done();
    };
    m_store->read(key, [this, key, rejectedDigest, landed](const StoreResult &read) {
        if (read.ok() && !read.data.isEmpty() && digestOf(read.data.reveal()) != rejectedDigest) {
            qCInfo(lcSession) << "storage holds a different refresh token than the rejected "
                                 "one (another instance); kept";
            return landed();
        }
        m_store->remove(key, [this, key, landed](const StoreResult &result) {
            if (isStorageFailure(result))
                qCWarning(lcSession) << "cannot delete the rejected token:" << result.message;
            // Its DPoP key is worth nothing without it.
            m_store->remove(key + QStringLiteral("#dpop"),
                            [landed](const StoreResult &) { landed(); });
        });
    });
}

} // namespace Tessera
