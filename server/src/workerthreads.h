// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QThreadPool>

namespace Tessera::Server {

// Ends the work of `pool` for good: the runnables not started are dropped, the running ones
// finish, and then each of its threads frees its Jose and OpenSSL state
// (Jose::releaseThreadState()) before the pool lets it go. QThreadPool::waitForDone() returns
// before an ended thread has run its exit handlers, which free that state otherwise; a server
// that exits right after would leave it unreachable (LeakSanitizer reports it). Event-loop
// thread; the pool's runnables must not wait for that thread.
void retireWorkerThreads(QThreadPool &pool);

} // namespace Tessera::Server
