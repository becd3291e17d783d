// SPDX-License-Identifier: MIT
// An inline message (error, warning, info or success) shown where it applies.
import QtQuick
import QtQuick.Controls.Basic
import QtQuick.Layouts

Rectangle {
    id: banner

    property string kind: "error"
    property string text
    property string title
    default property alias actions: actionRow.data

    readonly property color accent: kind === "error" ? Theme.danger
                                  : kind === "warning" ? Theme.warning
                                  : kind === "success" ? Theme.success : Theme.primary
    readonly property string glyph: kind === "error" ? "!" : kind === "warning" ? "!"
                                  : kind === "success" ? "\u2713" : "i"

    radius: Theme.radiusSmall
    color: kind === "error" ? Theme.dangerSoft : kind === "warning" ? Theme.warningSoft
         : kind === "success" ? Theme.successSoft : Theme.primarySoft
    border.color: Qt.lighter(accent, 1.9)
    implicitHeight: layout.implicitHeight + 20
    implicitWidth: layout.implicitWidth + 24

    RowLayout {
        id: layout
        anchors.fill: parent
        anchors.margins: 10
        anchors.leftMargin: 12
        anchors.rightMargin: 12
        spacing: 10

        Rectangle {
            Layout.alignment: Qt.AlignTop
            Layout.topMargin: 1
            width: 18
            height: 18
            radius: 9
            color: banner.accent
            Label {
                anchors.centerIn: parent
                text: banner.glyph
                color: "#ffffff"
                font.pixelSize: Theme.caption
                font.bold: true
            }
        }
        ColumnLayout {
            Layout.fillWidth: true
            spacing: 2
            Label {
                visible: banner.title !== ""
                Layout.fillWidth: true
                text: banner.title
                color: Theme.text
                font.pixelSize: Theme.small
                font.bold: true
                wrapMode: Text.WordWrap
            }
            Label {
                objectName: "bannerText"
                Layout.fillWidth: true
                // Messages come from Error::message(), which starts in lower case.
                text: banner.text.length > 0 ? banner.text[0].toUpperCase() + banner.text.slice(1)
                                             : ""
                color: Theme.text
                font.pixelSize: Theme.small
                wrapMode: Text.WordWrap
            }
            RowLayout {
                id: actionRow
                visible: children.length > 0
                Layout.topMargin: 6
                spacing: Theme.gap
            }
        }
    }
}
