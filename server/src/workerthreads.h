// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QThreadPool>

#include <algorithm>
#include <iterator>
#include <memory>
#include <vector>

namespace Tessera::Server {

// Ends the work of `pool` for good: the runnables not started are dropped, the running ones
// finish, and then each of its threads frees its Jose and OpenSSL state
// (Jose::releaseThreadState()) before the pool lets it go. QThreadPool::waitForDone() returns
// before an ended thread has run its exit handlers, which free that state otherwise; a server
// that exits right after would leave it unreachable (LeakSanitizer reports it). Event-loop
// thread; the pool's runnables must not wait for that thread.
void retireWorkerThreads(QThreadPool &pool);

// Hands the jobs of one event-loop round to `pool`: in runnables of at most `maxPerRunnable`
// jobs, and at least one per thread, so that answers start to go out before the whole round is
// done. `run(const std::vector<Job> &chunk)` runs on a worker for each runnable.
template<typename Job, typename Run>
void startInChunks(QThreadPool &pool, std::vector<Job> &&jobs, size_t maxPerRunnable, Run run)
{
    const size_t workers = size_t(qMax(1, pool.maxThreadCount()));
    const size_t runnables = std::max(std::min(jobs.size(), workers),
                                      (jobs.size() + maxPerRunnable - 1) / maxPerRunnable);
    const size_t perRunnable = runnables ? (jobs.size() + runnables - 1) / runnables : 0;
    for (size_t first = 0; first < jobs.size(); first += perRunnable) {
        const size_t last = std::min(jobs.size(), first + perRunnable);
        auto chunk = std::make_shared<const std::vector<Job>>(
                std::make_move_iterator(jobs.begin() + qsizetype(first)),
                std::make_move_iterator(jobs.begin() + qsizetype(last)));
        pool.start([run, chunk] { run(*chunk); });
    }
}

} // namespace Tessera::Server
