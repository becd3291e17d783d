// SPDX-License-Identifier: MIT
// The memory-only store: tests, and the explicit memory-only mode. Nothing leaves the process;
// values are overwritten before they are dropped.
#include "securestore_p.h"
#include "storeutil_p.h"

#include <map>

namespace Tessera::Platform {
namespace {

using Status = StoreResult::Status;

class MemoryStore final : public SecureStore
{
    Q_OBJECT
public:
    using SecureStore::SecureStore;

    void read(const QString &key, Completion done) override
    {
        const auto it = m_entries.find(key);
        if (it == m_entries.end()) {
            completeLater(this, std::move(done), makeResult(Status::NotFound, notFound()));
            return;
        }
        StoreResult result = makeResult(Status::Ok);
        result.data = it->second.clone();
        completeLater(this, std::move(done), std::move(result));
    }

    void write(const QString &key, const Secret &secret, Completion done) override
    {
        if (refuseOversized(this, "memory", secret, done))
            return;
        m_entries[key] = secret.clone(); // the Secret it replaces wipes itself
        completeLater(this, std::move(done), makeResult(Status::Ok));
    }

    void remove(const QString &key, Completion done) override
    {
        if (m_entries.erase(key) == 0) {
            completeLater(this, std::move(done), makeResult(Status::NotFound, notFound()));
            return;
        }
        completeLater(this, std::move(done), makeResult(Status::Ok));
    }

    QString backendName() const override { return QStringLiteral("memory"); }

private:
    static QString notFound() { return QStringLiteral("no entry under that key"); }

    // Secrets wipe themselves when replaced, erased or destroyed. (A QHash would need
    // copyable values.)
    std::map<QString, Secret> m_entries;
};

} // namespace

std::unique_ptr<SecureStore> createMemoryStore()
{
    return std::make_unique<MemoryStore>();
}

} // namespace Tessera::Platform

#include "memorystore.moc"
