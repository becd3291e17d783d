// SPDX-License-Identifier: MIT
// Crash-safe rotation: the two steps of the credential vault (credentialvault_p.h) that make
// a rotating refresh survive a crash, a failed write and a second process.
//
// 1. A rotated refresh token reaches secure storage before the access token that came with it
//    is used. A process killed after the server rotated but before the write finds the old
//    token in storage at its next start; the server's grace window hands out the same
//    successor again. If the write fails, the new token is kept in memory (the old one is
//    spent on the server) and the failure is reported, never swallowed.
// 2. Before each refresh, under the cross-process lock, storage is read again: a token that
//    another process of this app and account stored is the one to spend. A stored token that
//    is still the one this vault last stored or read means nobody else rotated: the newer
//    token in memory (kept after a failed write) is the one to spend.
#include "credentialvault_p.h"

#include "dpopsigner_p.h"
#include "logging_p.h"
#include "storageerror_p.h"

namespace Tessera {

using Platform::StoreResult;

void CredentialVault::storeRotated(const QString &account, Secret rotated,
                                   std::function<bool()> stillWanted, Done done)
{
    auto token = std::make_shared<Secret>(std::move(rotated));
    m_store->write(storageKey(account), *token,
                   [this, token, stillWanted = std::move(stillWanted),
                    done = std::move(done)](const StoreResult &result) {
                       if (!stillWanted())
                           return;
                       hold(std::move(*token), result.ok());
                       done(result.ok() ? Error()
                                        : storageError(result,
                                                       QStringLiteral("the rotated refresh token "
                                                                      "is held in memory only")));
                   });
}

void CredentialVault::adoptNewerStoredToken(const QString &account,
                                            std::function<bool()> stillWanted,
                                            std::function<void()> done)
{
    m_store->read(
            storageKey(account),
            [this, account, stillWanted = std::move(stillWanted),
             done = std::move(done)](StoreResult result) {
                if (!stillWanted())
                    return;
                const bool differs = result.ok() && !result.data.isEmpty()
                        && !m_refreshToken.equals(result.data.reveal());
                if (differs && digestOf(result.data.reveal()) == m_storedDigest) {
                    qCInfo(lcSession) << "storage still holds an older refresh token (a write "
                                         "failed); using the newer one in memory";
                } else if (differs) {
                    qCInfo(lcSession)
                            << "another process rotated the refresh token; using the stored one";
                    hold(std::move(result.data), true);
                    // The other process may have signed in anew, with a key of its own.
                    if (m_dpop)
                        return loadDpopKey(
                                account,
                                [this, stillWanted, done](Jose::Key key, const Error &error) {
                                    if (!stillWanted())
                                        return;
                                    // A locked store keeps the key in memory: never dropped for
                                    // that.
                                    if (!error.isError())
                                        m_dpop->setKey(std::move(key));
                                    done();
                                });
                } else if (isStorageFailure(result)) {
                    qCWarning(lcSession)
                            << "cannot re-read the stored refresh token:" << result.message;
                }
                done();
            });
}

} // namespace Tessera
