// SPDX-License-Identifier: MIT
// Private: the promise behind the future of one operation a caller started. Never installed.
#pragma once

#include <tessera/error.h>

#include <QtCore/QPromise>

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
template<typename T> class Operation final : public OperationBase
{
public:
    Operation() { m_promise.start(); }
    ~Operation() override
    {
        fail({Error::Code::Cancelled, QStringLiteral("the operation was abandoned")});
    }
    Operation(const Operation &) = delete;
    Operation &operator=(const Operation &) = delete;

    QFuture<T> future() { return m_promise.future(); }
    bool isFinished() const override { return m_finished; }

    // Continuations attached with a context on this thread run inside these calls: the
    // state is marked finished first.
    template<typename... Value> void succeed(Value &&...value)
    {
        if (m_finished)
            return;
        m_finished = true;
        if constexpr (sizeof...(Value) > 0)
            m_promise.addResult(std::forward<Value>(value)...);
        m_promise.finish();
    }

    void fail(const Error &error) override
    {
        if (m_finished)
            return;
        m_finished = true;
        m_promise.setException(ErrorException(error));
        m_promise.finish();
    }

private:
    QPromise<T> m_promise;
    bool m_finished = false;
};

} // namespace Tessera
