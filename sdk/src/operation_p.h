// SPDX-License-Identifier: MIT
// Private: the state behind the future of one operation a caller started. Never installed.
#pragma once

#include <tessera/error.h>

#include <QtCore/QFuture>
#include <QtCore/QFutureInterface>

#include <type_traits>

namespace Tessera {

class OperationBase
{
public:
    virtual ~OperationBase() = default;
    virtual bool isFinished() const = 0;
    virtual void fail(const Error &error) = 0;
};

// Finishes once: with success (and a value), or failed with an ErrorException. One that is
// dropped unfinished (its session destroyed, or left behind by a sign-out) fails with
// Cancelled, so a caller's future never hangs and never ends merely "canceled".
//
// A QFutureInterface, not a QPromise: a continuation that takes a move-only value
// (`then(ctx, [](Secret token) {...})`) gets it with takeResult(), which in Qt 6.4 resets the
// shared state and so clears its Finished flag. ~QPromise would then take the finished future
// for an abandoned one, cancel it and run its continuation a second time. Whether this
// operation finished is our own flag; the future's state is not read back.
template<typename T> class Operation final : public OperationBase
{
public:
    Operation() { m_state.reportStarted(); }
    ~Operation() override
    {
        fail({Error::Code::Cancelled, QStringLiteral("the operation was abandoned")});
    }
    Operation(const Operation &) = delete;
    Operation &operator=(const Operation &) = delete;

    QFuture<T> future() { return m_state.future(); }
    bool isFinished() const override { return m_finished; }

    // Continuations attached with a context on this thread, or without one, run inside
    // these calls: the operation is marked finished first.
    template<typename... Value> void succeed(Value &&...value)
    {
        static_assert(sizeof...(Value) == (std::is_void_v<T> ? 0 : 1));
        if (m_finished)
            return;
        m_finished = true;
        if constexpr (!std::is_void_v<T>)
            m_state.reportAndMoveResult(T(std::forward<Value>(value)...));
        m_state.reportFinished();
    }

    void fail(const Error &error) override
    {
        if (m_finished)
            return;
        m_finished = true;
        m_state.reportException(ErrorException(error));
        m_state.reportFinished();
    }

private:
    QFutureInterface<T> m_state;
    bool m_finished = false;
};

} // namespace Tessera
