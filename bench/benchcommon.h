// SPDX-License-Identifier: MIT
// Small helpers shared by the benchmark programs. Tokens and passwords handled
// here are never printed or logged.
#pragma once

#include "session_p.h" // SessionPrivate::refreshCount(): not public API

#include <tessera/session.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QEventLoop>
#include <QtCore/QFuture>
#include <QtCore/QFutureWatcher>
#include <QtCore/QHash>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QStringList>
#include <QtCore/QTimer>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace Bench {

// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the machine.
inline qint64 nowNs()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return qint64(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// "--key value" pairs and bare "--flag"s.
class Args
{
public:
    explicit Args(const QStringList &arguments)
    {
        for (int i = 1; i < arguments.size(); ++i) {
            const QString &a = arguments.at(i);
            if (!a.startsWith(QLatin1String("--")))
                continue;
            const QString key = a.mid(2);
            if (i + 1 < arguments.size() && !arguments.at(i + 1).startsWith(QLatin1String("--")))
                m_values.insert(key, arguments.at(++i));
            else
                m_values.insert(key, QString());
        }
    }
    bool has(const QString &key) const { return m_values.contains(key); }
    QString str(const QString &key, const QString &fallback = {}) const
    {
        return m_values.value(key, fallback);
    }
    int num(const QString &key, int fallback) const
    {
        bool ok = false;
        const int v = m_values.value(key).toInt(&ok);
        return ok ? v : fallback;
    }

private:
    QHash<QString, QString> m_values;
};

inline QString readStdinLine()
{
    std::string line;
    std::getline(std::cin, line);
    if (!line.empty() && line.back() == '\r')
        line.pop_back();
    return QString::fromStdString(line);
}

inline void printJson(const QJsonObject &object)
{
    const QByteArray text = QJsonDocument(object).toJson(QJsonDocument::Compact);
    std::fwrite(text.constData(), 1, size_t(text.size()), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

[[noreturn]] inline void die(const QString &message)
{
    std::fprintf(stderr, "%s: %s\n", qPrintable(QCoreApplication::applicationName()),
                 qPrintable(message));
    std::exit(1);
}

// Waits for one Session operation (its future) to complete, bounded by timeoutMs.
inline Tessera::Error runOperation(QFuture<void> operation, int timeoutMs = 60000)
{
    QEventLoop loop;
    QFutureWatcher<void> watcher;
    QObject::connect(&watcher, &QFutureWatcher<void>::finished, &loop, &QEventLoop::quit);
    watcher.setFuture(operation);
    QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
    if (!operation.isFinished())
        loop.exec();
    if (!operation.isFinished())
        return {Tessera::Error::Code::Timeout, QStringLiteral("operation timed out")};
    return Tessera::errorOf(operation);
}

// Refreshes that brought a new access token (a private counter of the SDK).
inline int refreshCount(Tessera::Session &session)
{
    return Tessera::SessionPrivate::get(&session)->refreshCount();
}

// The current access token, for the raw-QNAM baseline. Kept by the caller in
// memory only.
inline QByteArray freshToken(Tessera::Session &session, int timeoutMs = 30000)
{
    QFuture<Tessera::Secret> future = session.freshAccessToken();
    QEventLoop loop;
    QTimer poll;
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (future.isFinished())
            loop.quit();
    });
    poll.start(5);
    QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
    if (!future.isFinished())
        loop.exec();
    if (!future.isFinished() || Tessera::errorOf(future))
        return {};
    const Tessera::Secret token = future.takeResult();
    return token.reveal().toByteArray();
}

inline double median(std::vector<double> values)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The spread of a few values (rounds): min, quartiles (linear interpolation
// between closest ranks), median and max.
inline QJsonObject spread(std::vector<double> values)
{
    if (values.empty())
        return {};
    std::sort(values.begin(), values.end());
    auto quantile = [&](double q) {
        const double position = q * double(values.size() - 1);
        const size_t below = size_t(position);
        const size_t above = std::min(below + 1, values.size() - 1);
        return values[below] + (values[above] - values[below]) * (position - double(below));
    };
    return {{QStringLiteral("min"), values.front()},
            {QStringLiteral("q1"), quantile(0.25)},
            {QStringLiteral("median"), quantile(0.5)},
            {QStringLiteral("q3"), quantile(0.75)},
            {QStringLiteral("max"), values.back()}};
}

// Percentile by nearest rank, p in [0, 100].
inline double percentile(std::vector<double> values, double p)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    size_t rank = size_t(p / 100.0 * double(values.size()) + 0.999999);
    rank = std::clamp<size_t>(rank, 1, values.size());
    return values[rank - 1];
}

} // namespace Bench
