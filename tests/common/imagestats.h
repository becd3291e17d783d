// SPDX-License-Identifier: MIT
// Test support: what a screenshot shows, in numbers, so a test can tell a rendered page or window
// (text, shapes, anti-aliasing) from a blank or one-colour image. Header-only: only tests that
// link Qt Gui include it.
#pragma once

#include <QtCore/QHash>
#include <QtGui/QImage>

namespace Tessera::Test {

struct ImageStats
{
    int distinctColors = 0;
    double dominantFraction = 1.0; // share of the most common colour
    double darkFraction = 0.0;     // share of dark pixels (text)
};

inline ImageStats statsOf(const QImage &source)
{
    const QImage image = source.convertToFormat(QImage::Format_RGB32);
    QHash<QRgb, qint64> counts;
    qint64 dark = 0;
    for (int y = 0; y < image.height(); ++y) {
        const auto *line = reinterpret_cast<const QRgb *>(image.constScanLine(y));
        for (int x = 0; x < image.width(); ++x) {
            ++counts[line[x]];
            if (qGray(line[x]) < 110)
                ++dark;
        }
    }
    ImageStats stats;
    const double total = double(image.width()) * image.height();
    if (total == 0)
        return stats;
    qint64 dominant = 0;
    for (auto it = counts.cbegin(); it != counts.cend(); ++it)
        dominant = qMax(dominant, it.value());
    stats.distinctColors = int(counts.size());
    stats.dominantFraction = double(dominant) / total;
    stats.darkFraction = double(dark) / total;
    return stats;
}

} // namespace Tessera::Test
