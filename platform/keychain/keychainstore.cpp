// SPDX-License-Identifier: MIT
// The QtKeychain backend: Apple Keychain, Windows Credential Manager, Android Keystore and,
// on Linux, the Secret Service through libsecret. The insecure plaintext fallback is switched
// off on every job.
#include "keychain/keychainerrors_p.h"
#include "keychain/keychainprobe_p.h"
#include "securestore_p.h"
#include "storeutil_p.h"

#include <QtCore/QPointer>

#include <deque>

namespace Tessera::Platform {
namespace {

using Detail::KeychainOperation;
using Detail::ProbeResult;
using Status = StoreResult::Status;

const char *operationName(KeychainOperation operation)
{
    switch (operation) {
    case KeychainOperation::Read:
        return "read";
    case KeychainOperation::Write:
        return "write";
    case KeychainOperation::Remove:
    case KeychainOperation::VerifyRemoved:
        break;
    }
    return "remove";
}

// Operations run one at a time, in call order: a probe, then one QtKeychain job. A remove
// that is still probing can therefore never delete a token written after it was asked for.
class KeychainStore final : public SecureStore
{
    Q_OBJECT
public:
    explicit KeychainStore(const QString &service)
        : m_service(service)
    { }

    // Completions of pending operations are dropped with them (none may run after
    // destruction); their secrets wipe themselves.
    ~KeychainStore() override = default;

    void read(const QString &key, Completion done) override
    {
        enqueue({KeychainOperation::Read, key, {}, std::move(done)});
    }

    void write(const QString &key, const Secret &secret, Completion done) override
    {
        if (refuseOversized(this, "keychain", secret, done))
            return;
        enqueue({KeychainOperation::Write, key, secret.clone(), std::move(done)});
    }

    void remove(const QString &key, Completion done) override
    {
        enqueue({KeychainOperation::Remove, key, {}, std::move(done)});
    }

    QString backendName() const override { return QStringLiteral("keychain"); }

private:
    struct Operation
    {
        KeychainOperation kind = KeychainOperation::Read;
        QString key;
        Secret secret;
        Completion done;
    };

    void enqueue(Operation operation)
    {
        if (operation.key.isEmpty()) {
            completeLater(this, std::move(operation.done),
                          makeResult(Status::Other, QStringLiteral("empty storage key")));
            return;
        }
        m_queue.push_back(std::move(operation));
        if (!m_busy)
            startNext();
    }

    void startNext()
    {
        if (m_queue.empty()) {
            m_busy = false;
            return;
        }
        m_busy = true;
        m_current = std::move(m_queue.front());
        m_queue.pop_front();
        Detail::probeKeychain(m_current.kind, m_service, m_current.key, this,
                              [this](const ProbeResult &probe) { probed(probe); });
    }

    void probed(const ProbeResult &probe)
    {
        if (probe.result) {
            // A probe's result carries a status and a message, never a secret.
            finish(makeResult(probe.result->status, probe.result->message));
            return;
        }
        startJob(probe.entryLocked);
    }

    void startJob(bool entryLocked)
    {
        // Deliberately not parented to the store: QtKeychain 0.13 hands libsecret a raw
        // pointer to the job, so deleting a job mid-flight (as a parent would on destruction)
        // makes its completion callback use freed memory. Jobs delete themselves when done
        // (autoDelete); the connection below dies with the store.
        QKeychain::Job *job = nullptr;
        switch (m_current.kind) {
        case KeychainOperation::Read:
            job = new QKeychain::ReadPasswordJob(m_service);
            break;
        case KeychainOperation::Write: {
            auto *writeJob = new QKeychain::WritePasswordJob(m_service);
            // The job keeps its own (shared) copy until it deletes itself; ours goes now.
            QByteArray bytes = m_current.secret.reveal().toByteArray();
            writeJob->setBinaryData(bytes);
            secureWipe(bytes);
            m_current.secret.clear();
            job = writeJob;
            break;
        }
        case KeychainOperation::Remove:
        case KeychainOperation::VerifyRemoved:
            job = new QKeychain::DeletePasswordJob(m_service);
            break;
        }
        job->setInsecureFallback(false);
        job->setAutoDelete(true);
        job->setKey(m_current.key);

        const QPointer<KeychainStore> self(this);
        connect(job, &QKeychain::Job::finished, this,
                [self, entryLocked](QKeychain::Job *finished) {
                    if (self)
                        self->jobFinished(finished, entryLocked);
                });
        job->start();
    }

    void jobFinished(QKeychain::Job *job, bool entryLocked)
    {
        StoreResult result;
        result.status = statusForKeychainError(job->error(), job->errorString());
        result.message = job->errorString();
        if (result.ok()) {
            result.message.clear();
            if (auto *readJob = qobject_cast<QKeychain::ReadPasswordJob *>(job)) {
                QByteArray bytes = readJob->binaryData();
                result.data = Secret(bytes);
                secureWipe(bytes);
            }
        }

        if (entryLocked && m_current.kind == KeychainOperation::Read
            && result.status == Status::NotFound) {
            result = makeResult(Status::Locked,
                                QStringLiteral("the entry is in a locked keyring collection"));
        } else if (entryLocked && m_current.kind == KeychainOperation::Remove && result.ok()) {
            // libsecret reports a remove of a locked entry it could not unlock as done.
            Detail::probeKeychain(KeychainOperation::VerifyRemoved, m_service, m_current.key, this,
                                  [this](const ProbeResult &probe) {
                                      finish(probe.result ? makeResult(probe.result->status,
                                                                       probe.result->message)
                                                          : makeResult(Status::Ok));
                                  });
            return;
        }
        finish(std::move(result));
    }

    void finish(StoreResult result)
    {
        if (result.ok() || result.status == Status::NotFound) {
            qCDebug(lcStorage, "keychain %s: %s", operationName(m_current.kind),
                    qPrintable(statusName(result.status)));
        } else {
            qCWarning(lcStorage, "keychain %s failed: %s: %s", operationName(m_current.kind),
                      qPrintable(statusName(result.status)), qPrintable(result.message));
        }

        Completion done = std::move(m_current.done);
        m_current = Operation();
        const QPointer<KeychainStore> self(this);
        if (done)
            done(std::move(result)); // may destroy the store
        if (self)
            startNext();
    }

    const QString m_service;
    std::deque<Operation> m_queue;
    Operation m_current;
    bool m_busy = false;
};

} // namespace

std::unique_ptr<SecureStore> createKeychainStore(const QString &service)
{
    return std::make_unique<KeychainStore>(service);
}

} // namespace Tessera::Platform

#include "keychainstore.moc"
