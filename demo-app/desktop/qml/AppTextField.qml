// SPDX-License-Identifier: MIT
// Text field with a label above it.
import QtQuick
import QtQuick.Controls.Basic
import QtQuick.Layouts

ColumnLayout {
    id: root

    property alias label: caption.text
    property alias text: field.text
    property alias field: field
    property alias placeholderText: field.placeholderText
    property alias echoMode: field.echoMode
    property bool invalid: false
    signal accepted()

    spacing: 6

    Label {
        id: caption
        color: Theme.text
        font.pixelSize: Theme.small
        font.bold: true
    }

    TextField {
        id: field
        Layout.fillWidth: true
        implicitHeight: 40
        leftPadding: 12
        rightPadding: 12
        font.pixelSize: Theme.body
        color: Theme.text
        placeholderTextColor: Theme.textFaint
        selectByMouse: true
        selectionColor: Theme.primarySoft
        selectedTextColor: Theme.text
        onAccepted: root.accepted()
        background: Rectangle {
            radius: Theme.radiusSmall
            color: field.enabled ? Theme.surface : Theme.surfaceMuted
            border.width: field.activeFocus ? 2 : 1
            border.color: root.invalid ? Theme.danger
                        : field.activeFocus ? Theme.primary : Theme.borderStrong
        }
    }
}
