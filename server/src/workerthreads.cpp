// SPDX-License-Identifier: MIT
#include "workerthreads.h"

#include <tessera/jose.h>

#include <QtCore/QSemaphore>

namespace Tessera::Server {

void retireWorkerThreads(QThreadPool &pool)
{
    pool.clear();
    // As many runnables as the pool has threads at most, each held until all of them run: so
    // each runs on a thread of its own, and every thread of the pool runs one.
    const int threads = qMax(1, pool.maxThreadCount());
    QSemaphore arrived;
    QSemaphore leave;
    for (int i = 0; i < threads; ++i) {
        pool.start([&arrived, &leave] {
            Jose::releaseThreadState();
            arrived.release();
            leave.acquire();
        });
    }
    arrived.acquire(threads);
    leave.release(threads);
    pool.waitForDone();
}

} // namespace Tessera::Server
