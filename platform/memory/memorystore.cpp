// SPDX-License-Identifier: MIT
// The memory-only store: tests, and the explicit memory-only mode. Nothing leaves the process;
// values are overwritten before they are dropped.
#include "securestore_p.h"
#include "storeutil_p.h"

#include <QtCore/QHash>

namespace Tessera::Platform {
namespace {

using Status = StoreResult::Status;

// A copy with a buffer of its own, so that secureWipe() really overwrites what this store held.
QByteArray deepCopy(const QByteArray &bytes)
{
    return QByteArray(bytes.constData(), bytes.size());
}

class MemoryStore final : public SecureStore
{
    Q_OBJECT
public:
    using SecureStore::SecureStore;

    ~MemoryStore() override
    {
        for (auto it = m_entries.begin(); it != m_entries.end(); ++it)
            secureWipe(it.value());
    }

    void read(const QString &key, Completion done) override
    {
        const auto it = m_entries.constFind(key);
        if (it == m_entries.cend()) {
            completeLater(this, std::move(done), makeResult(Status::NotFound, notFound()));
            return;
        }
        StoreResult result = makeResult(Status::Ok);
        result.data = deepCopy(it.value());
        completeLater(this, std::move(done), std::move(result));
    }

    void write(const QString &key, const QByteArray &secret, Completion done) override
    {
        if (secret.size() > MaxSecretBytes) {
            qCWarning(lcStorage, "memory write refused: %lld bytes exceed the %lld-byte limit",
                      qlonglong(secret.size()), qlonglong(MaxSecretBytes));
            completeLater(this, std::move(done),
                          makeResult(Status::TooLarge,
                                     QStringLiteral("secret of %1 bytes exceeds the %2-byte limit")
                                             .arg(secret.size())
                                             .arg(MaxSecretBytes)));
            return;
        }
        QByteArray &slot = m_entries[key];
        secureWipe(slot);
        slot = deepCopy(secret);
        completeLater(this, std::move(done), makeResult(Status::Ok));
    }

    void remove(const QString &key, Completion done) override
    {
        const auto it = m_entries.find(key);
        if (it == m_entries.end()) {
            completeLater(this, std::move(done), makeResult(Status::NotFound, notFound()));
            return;
        }
        secureWipe(it.value());
        m_entries.erase(it);
        completeLater(this, std::move(done), makeResult(Status::Ok));
    }

    QString backendName() const override { return QStringLiteral("memory"); }

private:
    static QString notFound() { return QStringLiteral("no entry under that key"); }

    QHash<QString, QByteArray> m_entries;
};

} // namespace

std::unique_ptr<SecureStore> createMemoryStore()
{
    return std::make_unique<MemoryStore>();
}

} // namespace Tessera::Platform

#include "memorystore.moc"
