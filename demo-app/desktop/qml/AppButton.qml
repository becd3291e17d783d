// SPDX-License-Identifier: MIT
// Push button in four kinds: primary, secondary, danger and subtle; `busy`
// shows a spinner next to the text.
import QtQuick
import QtQuick.Controls.Basic

Button {
    id: control

    property string kind: "primary"
    property bool busy: false

    readonly property bool filled: kind === "primary" || kind === "danger"
    readonly property color baseColor: kind === "danger" ? Theme.danger : Theme.primary
    readonly property color foreground: !enabled ? Theme.textFaint
                                      : filled ? "#ffffff"
                                      : kind === "subtle" ? Theme.primary
                                      : kind === "dangerOutline" ? Theme.danger
                                      : Theme.text

    implicitHeight: Theme.controlHeight
    leftPadding: 16
    rightPadding: 16
    font.pixelSize: Theme.body
    font.bold: true
    focusPolicy: Qt.StrongFocus
    hoverEnabled: true

    contentItem: Item {
        implicitWidth: row.implicitWidth
        implicitHeight: row.implicitHeight
        Row {
            id: row
            anchors.centerIn: parent
            spacing: 8
            Spinner {
                anchors.verticalCenter: parent.verticalCenter
                visible: control.busy
                size: 14
                color: control.foreground
            }
            Text {
                anchors.verticalCenter: parent.verticalCenter
                text: control.text
                font: control.font
                color: control.foreground
                elide: Text.ElideRight
            }
        }
    }

    background: Rectangle {
        implicitWidth: 96
        radius: Theme.radiusSmall
        color: {
            if (!control.enabled)
                return control.filled ? Theme.neutralSoft : "transparent"
            if (control.filled)
                return control.down ? Qt.darker(control.baseColor, 1.25)
                     : control.hovered ? Qt.darker(control.baseColor, 1.1) : control.baseColor
            if (control.kind === "subtle")
                return control.down || control.hovered ? Theme.primarySoft : "transparent"
            return control.down ? Theme.neutralSoft : control.hovered ? Theme.surfaceMuted
                                                                     : Theme.surface
        }
        border.width: control.visualFocus ? 2 : (control.filled || control.kind === "subtle" ? 0 : 1)
        border.color: control.visualFocus ? Theme.primary
                    : control.kind === "dangerOutline" ? Theme.danger : Theme.borderStrong
    }
}
