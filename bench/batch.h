// SPDX-License-Identifier: MIT
// Issues N GET requests with at most C in flight on one QNetworkAccessManager and
// measures the wall time and per-request latency. Bounded by a timeout.
#pragma once

#include "benchcommon.h"

#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QNetworkRequest>

namespace Bench {

struct BatchResult
{
    double wallMs = 0;
    int ok = 0;
    int failed = 0;
    bool timedOut = false;
    std::vector<double> latencyUs;
};

inline BatchResult runBatch(QNetworkAccessManager *manager, const QNetworkRequest &request,
                            int total, int concurrency, int timeoutMs = 300000)
{
    BatchResult result;
    result.latencyUs.reserve(size_t(total));
    QEventLoop loop;
    int issued = 0;
    int finished = 0;
    std::function<void()> issue = [&] {
        const qint64 started = nowNs();
        QNetworkReply *reply = manager->get(request);
        ++issued;
        QObject::connect(reply, &QNetworkReply::finished, &loop, [&, reply, started] {
            result.latencyUs.push_back(double(nowNs() - started) / 1000.0);
            const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
            if (reply->error() == QNetworkReply::NoError && status == 200)
                ++result.ok;
            else
                ++result.failed;
            reply->readAll();
            reply->deleteLater();
            ++finished;
            if (issued < total)
                issue();
            else if (finished == total)
                loop.quit();
        });
    };
    QTimer deadline;
    deadline.setSingleShot(true);
    QObject::connect(&deadline, &QTimer::timeout, &loop, [&] {
        result.timedOut = true;
        loop.quit();
    });
    deadline.start(timeoutMs);
    const qint64 start = nowNs();
    for (int i = 0; i < concurrency && issued < total; ++i)
        issue();
    loop.exec();
    result.wallMs = double(nowNs() - start) / 1e6;
    return result;
}

} // namespace Bench
