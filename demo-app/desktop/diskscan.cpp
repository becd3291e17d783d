// SPDX-License-Identifier: MIT
#include "diskscan.h"

#include <tessera/secret.h>

#include <QtCore/QByteArrayMatcher>
#include <QtCore/QDirIterator>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
#include <QtCore/QSet>

#include <vector>

namespace TesseraDemo {

DiskScanReport scanForSecrets(const QStringList &roots, const QList<QByteArray> &needles,
                              qint64 maxFiles, qint64 maxFileBytes, qint64 maxTotalBytes)
{
    DiskScanReport report;
    std::vector<QByteArrayMatcher> matchers;
    qsizetype longest = 0;
    for (const QByteArray &needle : needles) {
        if (needle.isEmpty())
            continue;
        matchers.emplace_back(needle);
        longest = qMax(longest, needle.size());
    }
    if (matchers.empty())
        return report;

    constexpr qint64 ChunkBytes = 1 << 20;
    QSet<QString> seen;
    QByteArray window;
    for (const QString &root : roots) {
        if (root.isEmpty() || !QFileInfo(root).isDir())
            continue;
        QDirIterator it(root, QDir::Files | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot,
                        QDirIterator::Subdirectories);
        while (it.hasNext()) {
            const QString path = it.next();
            const QFileInfo info = it.fileInfo();
            if (info.isSymLink() || !info.isFile())
                continue;
            const QString canonical = info.canonicalFilePath();
            if (seen.contains(canonical))
                continue; // a root inside another root
            seen.insert(canonical);
            if (report.files >= maxFiles || report.bytes >= maxTotalBytes) {
                report.truncated = true;
                ++report.skipped;
                continue;
            }
            if (info.size() > maxFileBytes) {
                ++report.skipped;
                continue;
            }
            QFile file(path);
            if (!file.open(QIODevice::ReadOnly)) {
                ++report.skipped;
                continue;
            }
            ++report.files;
            bool hit = false;
            window.clear();
            // Chunks overlap by longest - 1 bytes, so a needle across a chunk border is found.
            while (!hit && !file.atEnd()) {
                const QByteArray chunk = file.read(ChunkBytes);
                if (chunk.isEmpty())
                    break;
                report.bytes += chunk.size();
                window.append(chunk);
                for (const QByteArrayMatcher &matcher : matchers) {
                    if (matcher.indexIn(window) >= 0) {
                        hit = true;
                        break;
                    }
                }
                if (window.size() > longest)
                    window = window.right(longest - 1);
            }
            Tessera::secureWipe(window);
            if (hit)
                report.hits.append(path);
        }
    }
    return report;
}

} // namespace TesseraDemo
