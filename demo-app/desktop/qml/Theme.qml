// SPDX-License-Identifier: MIT
// Colours, type scale and spacing of the demo, in one place.
pragma Singleton
import QtQuick

QtObject {
    // Surfaces
    readonly property color background: "#f3f5f9"
    readonly property color surface: "#ffffff"
    readonly property color surfaceMuted: "#f7f8fb"
    readonly property color border: "#e1e6ef"
    readonly property color borderStrong: "#c9d1de"

    // Text
    readonly property color text: "#1b2430"
    readonly property color textMuted: "#5b6778"
    readonly property color textFaint: "#8a94a6"

    // Accent and status
    readonly property color primary: "#3353c8"
    readonly property color primaryHover: "#2a47b0"
    readonly property color primaryPressed: "#233b94"
    readonly property color primarySoft: "#e8edfb"
    readonly property color success: "#18804b"
    readonly property color successSoft: "#e3f4ea"
    readonly property color warning: "#a35f00"
    readonly property color warningSoft: "#fdf1dc"
    readonly property color danger: "#c53a3a"
    readonly property color dangerSoft: "#fbe7e7"
    readonly property color neutralSoft: "#eef1f6"

    // Type scale (pixels)
    readonly property string fontFamily: "DejaVu Sans"
    readonly property string monoFamily: "DejaVu Sans Mono"
    readonly property int title: 20
    readonly property int heading: 15
    readonly property int body: 13
    readonly property int small: 12
    readonly property int caption: 11

    // Spacing and shape
    readonly property int gap: 8
    readonly property int gapLarge: 16
    readonly property int gapHuge: 24
    readonly property int radius: 10
    readonly property int radiusSmall: 6
    readonly property int controlHeight: 36
}
