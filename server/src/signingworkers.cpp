// SPDX-License-Identifier: MIT
#include "signingworkers.h"

#include "workerthreads.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QThread>

#include <algorithm>
#include <memory>

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
    // Runnables of at most JobsPerRunnable answers, at least one per worker: answers start to
    // go out before the whole round is signed.
    constexpr size_t JobsPerRunnable = 8;
    const size_t workers = size_t(qMax(1, m_pool.maxThreadCount()));
    const size_t runnables = std::max(std::min(jobs.size(), workers),
                                      (jobs.size() + JobsPerRunnable - 1) / JobsPerRunnable);
    const size_t perRunnable = runnables ? (jobs.size() + runnables - 1) / runnables : 0;
    for (size_t first = 0; first < jobs.size(); first += perRunnable) {
        const size_t last = std::min(jobs.size(), first + perRunnable);
        auto chunk = std::make_shared<const std::vector<Job>>(
                std::make_move_iterator(jobs.begin() + qsizetype(first)),
                std::make_move_iterator(jobs.begin() + qsizetype(last)));
        m_pool.start([this, chunk] {
            // Keys are shared read-only; ES256 keeps a signing context per thread and key.
            std::vector<std::pair<quint64, QList<QByteArray>>> results;
            results.reserve(chunk->size());
            for (const Job &job : *chunk)
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
}

} // namespace Tessera::Server
