// SPDX-License-Identifier: MIT
// A white panel with an optional title, subtitle and header actions.
import QtQuick
import QtQuick.Controls.Basic
import QtQuick.Layouts

Rectangle {
    id: card

    property string title
    property string subtitle
    property int padding: 20
    default property alias content: body.data
    property alias actions: actionsRow.data

    color: Theme.surface
    radius: Theme.radius
    border.color: Theme.border
    implicitWidth: column.implicitWidth + 2 * padding
    implicitHeight: column.implicitHeight + 2 * padding

    ColumnLayout {
        id: column
        anchors.fill: parent
        anchors.margins: card.padding
        spacing: Theme.gapLarge

        RowLayout {
            visible: card.title !== ""
            Layout.fillWidth: true
            spacing: Theme.gapLarge

            ColumnLayout {
                Layout.fillWidth: true
                spacing: 3
                Label {
                    text: card.title
                    color: Theme.text
                    font.pixelSize: Theme.heading
                    font.bold: true
                }
                Label {
                    visible: card.subtitle !== ""
                    Layout.fillWidth: true
                    text: card.subtitle
                    color: Theme.textMuted
                    font.pixelSize: Theme.small
                    wrapMode: Text.WordWrap
                }
            }
            RowLayout {
                id: actionsRow
                Layout.alignment: Qt.AlignTop
                spacing: Theme.gap
            }
        }

        ColumnLayout {
            id: body
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: 12
        }
    }
}
