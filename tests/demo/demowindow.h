// SPDX-License-Identifier: MIT
// What the demo's window tests share: clicking an item, saving what the window shows as a PNG
// in the screenshot directory, checking that an image shows real content, and how much two
// images differ. Header-only; the test functions using it run in order on one window.
#pragma once

#include "imagestats.h"

#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtGui/QImage>
#include <QtQuick/QQuickItem>
#include <QtQuick/QQuickWindow>
#include <QtTest/QTest>

namespace Tessera::Test::DemoWindow {

// A mouse click at the centre of `target`, once it is visible and enabled.
inline void click(QQuickWindow *window, QQuickItem *target)
{
    QVERIFY(target);
    QTRY_VERIFY(target->isVisible() && target->isEnabled());
    const QPointF center = target->mapToScene(QPointF(target->width() / 2, target->height() / 2));
    QTest::mouseClick(window, Qt::LeftButton, {}, center.toPoint());
}

// What `window` shows, saved as `name` in `shots`.
inline QImage shoot(QQuickWindow *window, const QDir &shots, const QString &name)
{
    QTest::qWait(600); // let animations (progress bar, spinners) settle
    const QImage image = window->grabWindow();
    const QString path = shots.filePath(name);
    if (!image.save(path))
        qWarning("cannot save %s", qPrintable(path));
    else
        qInfo("screenshot: %s", qPrintable(path));
    return image;
}

// The image (saved as `name` in `shots`) shows real content: many colours, no single colour
// covering the window, text.
inline void expectContent(const QImage &image, const QDir &shots, const QString &name)
{
    QVERIFY2(!image.isNull(), qPrintable(name));
    QVERIFY(image.width() >= 1000 && image.height() >= 700);
    const ImageStats stats = statsOf(image);
    const QString summary = QStringLiteral("%1: %2 colours, dominant %3 %, dark %4 %")
                                    .arg(name)
                                    .arg(stats.distinctColors)
                                    .arg(stats.dominantFraction * 100, 0, 'f', 1)
                                    .arg(stats.darkFraction * 100, 0, 'f', 2);
    qInfo("%s", qPrintable(summary));
    QVERIFY2(stats.distinctColors >= 64, qPrintable(summary));    // text, shapes, anti-aliasing
    QVERIFY2(stats.dominantFraction < 0.85, qPrintable(summary)); // not one flat colour
    QVERIFY2(stats.darkFraction > 0.002, qPrintable(summary));    // there is text
    QVERIFY(QFileInfo::exists(shots.filePath(name)));
}

// The share of pixels that differ (1 when the sizes differ).
inline double differenceOf(const QImage &a, const QImage &b)
{
    if (a.size() != b.size())
        return 1.0;
    const QImage left = a.convertToFormat(QImage::Format_RGB32);
    const QImage right = b.convertToFormat(QImage::Format_RGB32);
    qint64 different = 0;
    for (int y = 0; y < left.height(); ++y) {
        const auto *l = reinterpret_cast<const QRgb *>(left.constScanLine(y));
        const auto *r = reinterpret_cast<const QRgb *>(right.constScanLine(y));
        for (int x = 0; x < left.width(); ++x)
            different += l[x] != r[x];
    }
    return double(different) / (double(left.width()) * left.height());
}

} // namespace Tessera::Test::DemoWindow
