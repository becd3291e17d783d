// SPDX-License-Identifier: MIT
// The window's top bar: product mark, server and storage mode.
import QtQuick
import QtQuick.Controls.Basic
import QtQuick.Layouts
import Tessera

Rectangle {
    id: header

    required property string serverLabel
    required property bool memoryOnly
    required property Session session

    implicitHeight: 60
    color: Theme.surface

    Rectangle {
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.bottom: parent.bottom
        height: 1
        color: Theme.border
    }

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 24
        anchors.rightMargin: 24
        spacing: 12

        Rectangle {
            width: 30
            height: 30
            radius: 8
            color: Theme.primary
            Grid {
                anchors.centerIn: parent
                columns: 2
                spacing: 3
                Repeater {
                    model: 4
                    Rectangle {
                        required property int index
                        width: 7
                        height: 7
                        radius: 1.5
                        color: "#ffffff"
                        opacity: index === 1 ? 0.55 : 1
                    }
                }
            }
        }
        Label {
            text: "Tessera"
            color: Theme.text
            font.pixelSize: 17
            font.bold: true
        }
        Label {
            text: qsTr("Demo")
            color: Theme.textMuted
            font.pixelSize: 17
        }

        Item { Layout.fillWidth: true }

        Chip {
            text: header.serverLabel
            mono: true
            dot: true
            tint: Theme.neutralSoft
            textColor: Theme.textMuted
        }
        Chip {
            text: header.memoryOnly ? qsTr("Memory only") : qsTr("Secret Service")
            tint: header.memoryOnly ? Theme.warningSoft : Theme.successSoft
            textColor: header.memoryOnly ? Theme.warning : Theme.success
        }
        Chip {
            visible: header.session.user !== ""
            text: header.session.user
            tint: Theme.primarySoft
            textColor: Theme.primary
        }
    }
}
