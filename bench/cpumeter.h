// SPDX-License-Identifier: MIT
// CPU cost of a stretch of work, measured in ways that background load on the
// machine barely moves (unlike wall time):
//   - CPU time of this process, all threads, user + system (getrusage);
//   - CPU time of another process (the server under test), all its threads,
//     from /proc/PID/task/*/schedstat (nanoseconds on CPU), or from
//     /proc/PID/stat (clock ticks) where schedstat is missing;
//   - instructions retired by this process, all threads, from a hardware
//     counter (perf_event_open) where the machine exposes one; many virtual
//     machines do not, and then this measure is absent, not zero.
#pragma once

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QHash>

#include <cstdint>
#include <cstring>

#include <linux/perf_event.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace Bench {

class CpuMeter
{
public:
    struct Sample
    {
        double selfCpuUs = 0;
        QHash<QString, double> serverTaskCpuUs; // per thread id: a thread that exits mid-way
                                                // must not make the difference negative
        double instructions = -1;
    };

    // Opens the instruction counter: call before the process starts any thread,
    // so every later thread inherits it.
    explicit CpuMeter(qint64 serverPid)
        : m_serverPid(serverPid)
    {
        perf_event_attr attr;
        std::memset(&attr, 0, sizeof attr);
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_HARDWARE;
        attr.config = PERF_COUNT_HW_INSTRUCTIONS;
        attr.inherit = 1;
        attr.exclude_hv = 1;
        // Kernel work (the socket system calls) is part of a request's cost;
        // count it where allowed, else user space only.
        for (const bool excludeKernel : {false, true}) {
            attr.exclude_kernel = excludeKernel;
            m_perfFd = int(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
            if (m_perfFd >= 0) {
                m_instructionScope =
                        excludeKernel ? QStringLiteral("user") : QStringLiteral("user+kernel");
                break;
            }
        }
        if (m_serverPid > 0) {
            QHash<QString, double> probe;
            m_serverSource = readServer(m_serverPid, probe);
        }
    }
    ~CpuMeter()
    {
        if (m_perfFd >= 0)
            ::close(m_perfFd);
    }
    CpuMeter(const CpuMeter &) = delete;
    CpuMeter &operator=(const CpuMeter &) = delete;

    bool hasInstructions() const { return m_perfFd >= 0; }
    QString instructionScope() const { return m_instructionScope; }
    bool hasServer() const { return !m_serverSource.isEmpty(); }
    // "schedstat" (ns) or "stat" (clock ticks), empty without a readable server.
    QString serverSource() const { return m_serverSource; }

    Sample sample() const
    {
        Sample s;
        rusage usage{};
        getrusage(RUSAGE_SELF, &usage);
        s.selfCpuUs = double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6
                + double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
        if (m_perfFd >= 0) {
            std::uint64_t count = 0;
            if (::read(m_perfFd, &count, sizeof count) == ssize_t(sizeof count))
                s.instructions = double(count);
        }
        if (m_serverPid > 0)
            readServer(m_serverPid, s.serverTaskCpuUs);
        return s;
    }

    static double serverCpuUs(const Sample &before, const Sample &after)
    {
        double total = 0;
        for (auto it = after.serverTaskCpuUs.cbegin(); it != after.serverTaskCpuUs.cend(); ++it)
            total += it.value() - before.serverTaskCpuUs.value(it.key(), 0);
        return total;
    }

private:
    // CPU time of each thread of process pid; returns where it came from.
    static QString readServer(qint64 pid, QHash<QString, double> &perTask)
    {
        QString source;
        const QString taskDir = QStringLiteral("/proc/%1/task").arg(pid);
        const QStringList tasks = QDir(taskDir).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
        for (const QString &tid : tasks) {
            QFile schedstat(taskDir + u'/' + tid + QStringLiteral("/schedstat"));
            if (schedstat.open(QIODevice::ReadOnly)) {
                // "<ns on CPU> <ns waiting> <timeslices>"
                const QByteArray ns = schedstat.readAll().split(' ').value(0);
                bool ok = false;
                const double value = ns.toDouble(&ok);
                if (ok) {
                    perTask.insert(tid, value / 1000.0);
                    source = QStringLiteral("schedstat");
                    continue;
                }
            }
            QFile stat(taskDir + u'/' + tid + QStringLiteral("/stat"));
            if (!stat.open(QIODevice::ReadOnly))
                continue;
            // Fields after the parenthesised command name: utime and stime are
            // the 12th and 13th (fields 14 and 15 of proc(5)).
            const QByteArray text = stat.readAll();
            const QList<QByteArray> fields = text.mid(text.lastIndexOf(')') + 2).split(' ');
            if (fields.size() < 13)
                continue;
            const double ticks = fields.at(11).toDouble() + fields.at(12).toDouble();
            perTask.insert(tid, ticks * 1e6 / double(sysconf(_SC_CLK_TCK)));
            source = QStringLiteral("stat");
        }
        return source;
    }

    qint64 m_serverPid = 0;
    int m_perfFd = -1;
    QString m_instructionScope;
    QString m_serverSource;
};

} // namespace Bench
