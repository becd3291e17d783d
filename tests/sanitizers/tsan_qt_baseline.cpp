// SPDX-License-Identifier: MIT
// The TSan baseline (scripts/tsan.sh): textbook Qt code with no data race, the
// same pattern tessera-server uses for password hashing (QtConcurrent::run on a
// pool, the result handed back to the main thread with QFuture::then). Any
// ThreadSanitizer report from this program is a false positive caused by the
// uninstrumented Qt libraries, whose atomics and futex-based locks TSan cannot see.
#include <QtConcurrent/QtConcurrentRun>
#include <QtCore/QCoreApplication>
#include <QtCore/QFuture>
#include <QtCore/QThreadPool>

#include <cstdio>
#include <memory>
#include <string>

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QThreadPool pool;
    pool.setMaxThreadCount(2);
    constexpr int Jobs = 200;
    int remaining = Jobs;
    size_t total = 0;
    for (int i = 0; i < Jobs; ++i) {
        auto input = std::make_shared<std::string>(std::to_string(i));
        QtConcurrent::run(&pool, [input] { return input->size(); })
                .then(&app, [&remaining, &total, &app, input](size_t size) {
                    total += size;
                    if (--remaining == 0)
                        app.quit();
                });
    }
    const int status = app.exec();
    std::printf("%d jobs, %zu characters\n", Jobs, total);
    return status;
}
