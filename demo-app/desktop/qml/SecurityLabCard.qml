// SPDX-License-Identifier: MIT
// The reference article's threat table, checked live against the companion
// server by SecurityLab (C++). Only verdicts reach QML.
import QtQuick
import QtQuick.Controls.Basic
import QtQuick.Layouts
import TesseraDemo

Card {
    id: card

    required property bool signedIn
    required property SecurityLab lab

    readonly property int threatWidth: 160
    readonly property int articleWidth: 150
    readonly property int actionWidth: 104

    readonly property var threats: [
        { key: "disk", threat: qsTr("Token theft"), note: qsTr("XSS, malware reading files or logs"),
          article: qsTr("Fully exposed"), level: "bad",
          tessera: qsTr("Refresh token only in the Secret Service, access token only in memory."),
          action: qsTr("Scan disk"), effect: "" },
        { key: "csrf", threat: qsTr("CSRF"), note: qsTr("forged cross-site request"),
          article: qsTr("Not applicable"), level: "neutral",
          tessera: qsTr("Not applicable: a bearer header, never an ambient cookie."),
          action: qsTr("Probe"), effect: "" },
        { key: "mitm", threat: qsTr("MITM"), note: qsTr("passive interception"),
          article: qsTr("Blocked with HTTPS"), level: "ok",
          tessera: qsTr("https required (loopback excepted); optional SPKI pinning."),
          action: qsTr("Check"), effect: "" },
        { key: "stolen", threat: qsTr("Stolen access token"), note: qsTr("copied from memory or a log"),
          article: qsTr("Possible until exp"), level: "bad",
          tessera: qsTr("With DPoP the token is bound to this session's key: a copy is refused."),
          action: qsTr("Try"), effect: "" },
        { key: "logout", threat: qsTr("Replay after logout"), note: qsTr("a copied access token"),
          article: qsTr("Possible until exp"), level: "bad",
          tessera: qsTr("Logout revokes server-side: the access token dies at once."),
          action: qsTr("Run"), effect: qsTr("signs you out") },
        { key: "reuse", threat: qsTr("Token revocation"), note: qsTr("a stolen refresh token"),
          article: qsTr("Requires denylist"), level: "warn",
          tessera: qsTr("Rotation with reuse detection revokes the whole family; with DPoP a copy is refused outright."),
          action: qsTr("Run"), effect: qsTr("ends the session") }
    ]

    function reveal(item) {
        const flick = scroller.contentItem
        const top = item.mapToItem(flick.contentItem, 0, 0).y
        const bottom = top + item.height
        if (bottom > flick.contentY + flick.height)
            flick.contentY = Math.min(bottom - flick.height, flick.contentHeight - flick.height)
        if (top < flick.contentY)
            flick.contentY = top
    }

    function levelTint(level) {
        return level === "bad" ? Theme.dangerSoft : level === "warn" ? Theme.warningSoft
             : level === "ok" ? Theme.successSoft : Theme.neutralSoft
    }
    function levelColor(level) {
        return level === "bad" ? Theme.danger : level === "warn" ? Theme.warning
             : level === "ok" ? Theme.success : Theme.textMuted
    }

    title: qsTr("Security lab")
    subtitle: qsTr("The reference article's threat table, checked live against the companion "
                   + "server. Only verdicts are shown; no token leaves C++.")

    actions: AppButton {
        objectName: "runSafeChecksButton"
        kind: "secondary"
        text: qsTr("Run safe checks")
        busy: card.lab.running
        enabled: !card.lab.running && card.signedIn
        onClicked: card.lab.runSafeChecks()
    }

    // Column headings
    RowLayout {
        Layout.fillWidth: true
        spacing: 14
        Label {
            Layout.preferredWidth: card.threatWidth
            Layout.maximumWidth: card.threatWidth
            Layout.minimumWidth: card.threatWidth
            text: qsTr("THREAT")
            color: Theme.textFaint
            font.pixelSize: Theme.caption
            font.bold: true
            font.letterSpacing: 0.6
        }
        Label {
            Layout.preferredWidth: card.articleWidth
            Layout.maximumWidth: card.articleWidth
            Layout.minimumWidth: card.articleWidth
            text: qsTr("JWT IN LOCALSTORAGE")
            color: Theme.textFaint
            font.pixelSize: Theme.caption
            font.bold: true
            font.letterSpacing: 0.6
        }
        Label {
            Layout.fillWidth: true
            Layout.preferredWidth: 1
            text: qsTr("TESSERA")
            color: Theme.textFaint
            font.pixelSize: Theme.caption
            font.bold: true
            font.letterSpacing: 0.6
        }
        Item {
            Layout.preferredWidth: card.actionWidth
            Layout.minimumWidth: card.actionWidth
        }
    }

    Rectangle {
        Layout.fillWidth: true
        Layout.topMargin: -6
        height: 1
        color: Theme.border
    }

    ScrollView {
        id: scroller
        Layout.fillWidth: true
        Layout.fillHeight: true
        Layout.topMargin: -12
        contentWidth: availableWidth
        clip: true

        ColumnLayout {
            width: scroller.availableWidth
            spacing: 0

            Repeater {
                model: card.threats

                ColumnLayout {
                    id: row
                    required property var modelData
                    required property int index
                    readonly property var result: card.lab.results[modelData.key] || ({})
                    readonly property string status: result.status || "idle"

                    objectName: "threat-" + modelData.key
                    Layout.fillWidth: true
                    spacing: 10

                    // Keep the row of a running check, and then its verdict, in view.
                    onStatusChanged: if (status !== "idle") scrollTimer.restart()
                    onHeightChanged: if (status === "running") scrollTimer.restart()
                    Timer {
                        id: scrollTimer
                        interval: 50
                        onTriggered: card.reveal(row)
                    }

                    Rectangle {
                        Layout.fillWidth: true
                        height: 1
                        color: row.index > 0 ? Theme.border : "transparent"
                    }

                    RowLayout {
                        Layout.fillWidth: true
                        Layout.topMargin: 2
                        spacing: 14

                        ColumnLayout {
                            Layout.preferredWidth: card.threatWidth
                            Layout.maximumWidth: card.threatWidth
            Layout.minimumWidth: card.threatWidth
                            Layout.alignment: Qt.AlignTop
                            spacing: 2
                            Label {
                                Layout.fillWidth: true
                                text: row.modelData.threat
                                color: Theme.text
                                font.pixelSize: Theme.body
                                font.bold: true
                                wrapMode: Text.WordWrap
                            }
                            Label {
                                Layout.fillWidth: true
                                text: row.modelData.note
                                color: Theme.textFaint
                                font.pixelSize: Theme.caption
                                wrapMode: Text.WordWrap
                            }
                        }
                        Item {
                            Layout.preferredWidth: card.articleWidth
                            Layout.maximumWidth: card.articleWidth
            Layout.minimumWidth: card.articleWidth
                            Layout.alignment: Qt.AlignTop
                            implicitHeight: articleChip.implicitHeight
                            Chip {
                                id: articleChip
                                text: row.modelData.article
                                tint: card.levelTint(row.modelData.level)
                                textColor: card.levelColor(row.modelData.level)
                            }
                        }
                        Label {
                            Layout.fillWidth: true
                            Layout.preferredWidth: 1
                            Layout.alignment: Qt.AlignTop
                            text: row.modelData.tessera
                            color: Theme.textMuted
                            font.pixelSize: Theme.small
                            wrapMode: Text.WordWrap
                            lineHeight: 1.1
                        }
                        ColumnLayout {
                            Layout.preferredWidth: card.actionWidth
                            Layout.maximumWidth: card.actionWidth
            Layout.minimumWidth: card.actionWidth
                            Layout.alignment: Qt.AlignTop
                            spacing: 3
                            AppButton {
                                objectName: "run-" + row.modelData.key
                                Layout.fillWidth: true
                                implicitHeight: 30
                                kind: row.modelData.effect !== "" ? "dangerOutline" : "secondary"
                                font.pixelSize: Theme.small
                                text: row.modelData.action
                                busy: row.status === "running"
                                enabled: !card.lab.running && card.signedIn
                                onClicked: card.lab.run(row.modelData.key)
                            }
                            Label {
                                Layout.alignment: Qt.AlignHCenter
                                visible: row.modelData.effect !== ""
                                text: row.modelData.effect
                                color: Theme.textFaint
                                font.pixelSize: Theme.caption
                            }
                        }
                    }

                    // Live verdict
                    Rectangle {
                        objectName: "verdict-" + row.modelData.key
                        visible: row.status !== "idle"
                        Layout.fillWidth: true
                        Layout.bottomMargin: 4
                        radius: Theme.radiusSmall
                        color: row.status === "pass" ? Theme.successSoft
                             : row.status === "fail" ? Theme.dangerSoft
                             : row.status === "info" ? Theme.warningSoft : Theme.surfaceMuted
                        implicitHeight: verdict.implicitHeight + 16

                        RowLayout {
                            id: verdict
                            anchors.left: parent.left
                            anchors.right: parent.right
                            anchors.top: parent.top
                            anchors.margins: 8
                            anchors.leftMargin: 10
                            spacing: 10

                            Item {
                                Layout.alignment: Qt.AlignTop
                                width: 18
                                height: 18
                                Spinner {
                                    anchors.centerIn: parent
                                    visible: row.status === "running"
                                    size: 14
                                }
                                Rectangle {
                                    anchors.fill: parent
                                    visible: row.status !== "running"
                                    radius: 9
                                    color: row.status === "pass" ? Theme.success
                                         : row.status === "fail" ? Theme.danger : Theme.warning
                                    Label {
                                        anchors.centerIn: parent
                                        text: row.status === "pass" ? "\u2713"
                                            : row.status === "fail" ? "\u2717" : "i"
                                        color: "#ffffff"
                                        font.pixelSize: Theme.caption
                                        font.bold: true
                                    }
                                }
                            }
                            ColumnLayout {
                                Layout.fillWidth: true
                                spacing: 3
                                Label {
                                    Layout.fillWidth: true
                                    text: row.result.summary || ""
                                    color: Theme.text
                                    font.pixelSize: Theme.small
                                    font.bold: true
                                    wrapMode: Text.WordWrap
                                }
                                // One label, not a Repeater: delegates re-created inside a
                                // layout while it lays out crash Qt 6.4's layout engine.
                                Label {
                                    Layout.fillWidth: true
                                    visible: text !== ""
                                    text: (row.result.details || []).map(line => "\u2022  " + line)
                                                                     .join("\n")
                                    color: Theme.textMuted
                                    font.pixelSize: Theme.caption
                                    wrapMode: Text.WordWrap
                                    lineHeight: 1.15
                                }
                            }
                        }
                    }
                    Item { Layout.preferredHeight: 4 }
                }
            }
        }
    }
}
