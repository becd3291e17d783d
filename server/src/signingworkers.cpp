// SPDX-License-Identifier: MIT
#include "signingworkers.h"

#include "workerthreads.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QThread>

#include <utility>

namespace Tessera::Server {

SigningWorkers::SigningWorkers(Finished finished)
    : m_finished(std::move(finished))
{
    // Signing is CPU-bound: one thread per core.
    m_pool.setMaxThreadCount(qMax(1, QThread::idealThreadCount()));
}

SigningWorkers::~SigningWorkers()
{
    shutdown();
}

void SigningWorkers::shutdown()
{
    retireWorkerThreads(m_pool);
    // The results of the runnables that ran are queued calls: dropped with their answers.
    QCoreApplication::removePostedEvents(this, QEvent::MetaCall);
    m_batch.clear();
    m_dispatchScheduled = false;
}

QList<QByteArray> SigningWorkers::signNow(const std::vector<TokenService::UnsignedToken> &tokens)
{
    QList<QByteArray> signatures;
    signatures.reserve(qsizetype(tokens.size()));
    for (const TokenService::UnsignedToken &token : tokens) {
        QByteArray signature = Jose::jwsSignature(token.key, token.signingInput);
        if (signature.size() != TokenService::DeferredSignatureChars)
            return {};
        signatures.append(std::move(signature));
    }
    return signatures;
}

void SigningWorkers::sign(quint64 answer, const std::vector<TokenService::UnsignedToken> &tokens)
{
    m_batch.push_back(Job{answer, tokens});
    if (!m_dispatchScheduled) {
        m_dispatchScheduled = true;
        // Queued: runs once the round's socket events are handled.
        QMetaObject::invokeMethod(
                this, [this] { dispatch(); }, Qt::QueuedConnection);
    }
}

void SigningWorkers::dispatch()
{
    m_dispatchScheduled = false;
    std::vector<Job> jobs = std::exchange(m_batch, {});
    constexpr size_t JobsPerRunnable = 8;
    startInChunks(m_pool, std::move(jobs), JobsPerRunnable, [this](const std::vector<Job> &chunk) {
        // Keys are shared read-only; ES256 keeps a signing context per thread and key.
        std::vector<std::pair<quint64, QList<QByteArray>>> results;
        results.reserve(chunk.size());
        for (const Job &job : chunk)
            results.emplace_back(job.answer, signNow(job.tokens));
        QMetaObject::invokeMethod(
                this,
                [this, results = std::move(results)]() mutable {
                    for (auto &[answer, signatures] : results)
                        m_finished(answer, std::move(signatures));
                },
                Qt::QueuedConnection);
    });
}

} // namespace Tessera::Server
