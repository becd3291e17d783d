// SPDX-License-Identifier: MIT
// A small busy indicator: eight dots fading around a circle.
import QtQuick

Item {
    id: spinner

    property color color: Theme.primary
    property int size: 16
    property bool running: visible

    implicitWidth: size
    implicitHeight: size

    Repeater {
        model: 8
        Rectangle {
            id: dot
            required property int index
            readonly property real angle: dot.index * Math.PI / 4
            readonly property real diameter: Math.max(2, spinner.size / 5)
            readonly property real orbit: spinner.size / 2 - dot.diameter / 2
            width: dot.diameter
            height: dot.diameter
            radius: dot.diameter / 2
            color: spinner.color
            opacity: 0.2 + 0.8 * (dot.index / 7)
            x: spinner.size / 2 + Math.cos(dot.angle) * dot.orbit - dot.diameter / 2
            y: spinner.size / 2 + Math.sin(dot.angle) * dot.orbit - dot.diameter / 2
        }
    }

    RotationAnimator on rotation {
        from: 0
        to: 360
        duration: 900
        loops: Animation.Infinite
        running: spinner.running
    }
}
