// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QList>
#include <QtCore/QStringList>

namespace TesseraDemo {

struct DiskScanReport
{
    qint64 files = 0;       // files read
    qint64 bytes = 0;       // bytes read
    qint64 skipped = 0;     // unreadable, too large, or over the budget
    QStringList hits;       // files that contain one of the needles (paths only)
    bool truncated = false; // the file or byte budget ran out
};

// Looks for any of `needles` in the regular files under `roots` (recursively,
// symbolic links not followed, each file at most `maxFileBytes`, at most
// `maxFiles` files and `maxTotalBytes` bytes overall). Runs on the calling
// thread; meant for a worker. Reports paths, never what matched.
DiskScanReport scanForSecrets(const QStringList &roots, const QList<QByteArray> &needles,
                              qint64 maxFiles = 50000, qint64 maxFileBytes = 16 << 20,
                              qint64 maxTotalBytes = qint64(512) << 20);

} // namespace TesseraDemo
