// SPDX-License-Identifier: MIT
#pragma once

#include "tokenservice.h"

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QThreadPool>

#include <functional>
#include <vector>

namespace Tessera::Server {

// Signs the access tokens of answers held for a group commit (docs/SERVER.md "Group commit
// (SQLite)") on worker threads, while the serving thread goes on and the group commits. The
// tokens of one event-loop round go to the pool together, in a few runnables, and come back
// in as few queued calls. Created, fed and destroyed on the event-loop thread; `finished`
// runs there.
class SigningWorkers : public QObject
{
public:
    // The signatures of an answer's tokens, in their order (BASE64URL), or an empty list when
    // any of them could not be made.
    using Finished = std::function<void(quint64 answer, QList<QByteArray> signatures)>;

    explicit SigningWorkers(Finished finished);
    ~SigningWorkers() override;

    void sign(quint64 answer, const std::vector<TokenService::UnsignedToken> &tokens);
    // Drops the work not started, waits for the running, and drops their results.
    void shutdown();

    // The signatures, made on the calling thread (workers, and answers that need not wait).
    static QList<QByteArray> signNow(const std::vector<TokenService::UnsignedToken> &tokens);

private:
    struct Job
    {
        quint64 answer;
        std::vector<TokenService::UnsignedToken> tokens;
    };

    void dispatch();

    Finished m_finished;
    QThreadPool m_pool;
    std::vector<Job> m_batch;
    bool m_dispatchScheduled = false;
};

} // namespace Tessera::Server
