// SPDX-License-Identifier: MIT
// A small pill with an optional status dot.
import QtQuick
import QtQuick.Controls.Basic

Rectangle {
    id: chip

    property string text
    property color tint: Theme.neutralSoft
    property color textColor: Theme.textMuted
    property bool dot: false
    property bool mono: false

    implicitHeight: 24
    implicitWidth: row.implicitWidth + 20
    radius: height / 2
    color: tint

    Row {
        id: row
        anchors.centerIn: parent
        spacing: 6
        Rectangle {
            visible: chip.dot
            anchors.verticalCenter: parent.verticalCenter
            width: 7
            height: 7
            radius: 3.5
            color: chip.textColor
        }
        Label {
            anchors.verticalCenter: parent.verticalCenter
            text: chip.text
            color: chip.textColor
            font.pixelSize: Theme.caption
            font.bold: true
            font.family: chip.mono ? Theme.monoFamily : Theme.fontFamily
        }
    }
}
