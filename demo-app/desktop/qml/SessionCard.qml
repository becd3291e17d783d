// SPDX-License-Identifier: MIT
// Who is signed in, the session state, a live countdown to the access token's
// expiry, and when the current access token arrived.
import QtQuick
import QtQuick.Controls.Basic
import QtQuick.Layouts
import Tessera

Card {
    id: card

    required property Session session
    required property string serverLabel

    property date now: new Date()
    property real lifetimeMs: 0
    // When the current access token arrived (at sign-in, or by a refresh): a new token is
    // a new expiry.
    property date receivedAt: new Date(NaN)
    readonly property bool hasExpiry: !isNaN(session.accessExpiresAt.getTime())
    readonly property real remainingMs: hasExpiry ? Math.max(0, session.accessExpiresAt - now) : 0
    readonly property bool ended: session.state === Session.ReauthRequired
    readonly property bool hasError: session.lastError.code !== SessionError.NoError
    readonly property bool memoryOnly: session.config.storagePolicy === SessionConfig.MemoryOnly

    function clock(ms) {
        const total = Math.ceil(ms / 1000)
        const minutes = Math.floor(total / 60)
        const seconds = total % 60
        return minutes + ":" + (seconds < 10 ? "0" : "") + seconds
    }

    function stateLabel(state) {
        switch (state) {
        case Session.SignedIn: return qsTr("Signed in")
        case Session.Refreshing: return qsTr("Refreshing")
        case Session.SigningIn: return qsTr("Signing in")
        case Session.ReauthRequired: return qsTr("Ended")
        default: return qsTr("Signed out")
        }
    }

    Timer {
        interval: 500
        repeat: true
        running: card.visible && card.hasExpiry
        triggeredOnStart: true
        onTriggered: card.now = new Date()
    }

    function tokenArrived() {
        card.now = new Date()
        const expires = card.session.accessExpiresAt
        const known = !isNaN(expires.getTime())
        card.lifetimeMs = known ? Math.max(1, expires - card.now) : 0
        card.receivedAt = known ? card.now : new Date(NaN)
    }

    Component.onCompleted: tokenArrived()

    Connections {
        target: card.session
        function onAccessExpiresAtChanged() {
            card.tokenArrived()
        }
    }

    RowLayout {
        Layout.fillWidth: true
        spacing: 14

        Rectangle {
            width: 46
            height: 46
            radius: 23
            color: card.ended ? Theme.dangerSoft : Theme.primarySoft
            Label {
                anchors.centerIn: parent
                text: card.session.user.length > 0 ? card.session.user[0].toUpperCase() : "?"
                color: card.ended ? Theme.danger : Theme.primary
                font.pixelSize: 19
                font.bold: true
            }
        }
        ColumnLayout {
            Layout.fillWidth: true
            spacing: 2
            Label {
                objectName: "sessionUser"
                Layout.fillWidth: true
                text: card.session.user
                color: Theme.text
                font.pixelSize: Theme.heading + 1
                font.bold: true
                elide: Text.ElideRight
            }
            Label {
                Layout.fillWidth: true
                text: qsTr("on %1").arg(card.serverLabel)
                color: Theme.textMuted
                font.pixelSize: Theme.small
                elide: Text.ElideMiddle
            }
        }
        Chip {
            objectName: "sessionState"
            Layout.alignment: Qt.AlignVCenter
            dot: true
            text: card.stateLabel(card.session.state)
            tint: card.ended ? Theme.dangerSoft
                : card.session.state === Session.Refreshing ? Theme.warningSoft : Theme.successSoft
            textColor: card.ended ? Theme.danger
                     : card.session.state === Session.Refreshing ? Theme.warning : Theme.success
        }
    }

    Rectangle {
        Layout.fillWidth: true
        height: 1
        color: Theme.border
    }

    // Countdown
    ColumnLayout {
        Layout.fillWidth: true
        spacing: 8
        visible: !card.ended

        RowLayout {
            Layout.fillWidth: true
            Label {
                text: qsTr("Access token expires in")
                color: Theme.textMuted
                font.pixelSize: Theme.small
            }
            Item { Layout.fillWidth: true }
            Spinner {
                visible: card.session.state === Session.Refreshing
                size: 12
            }
            Label {
                objectName: "expiryCountdown"
                text: card.hasExpiry ? card.clock(card.remainingMs) : "–"
                color: card.remainingMs < 30000 && card.hasExpiry ? Theme.warning : Theme.text
                font.family: Theme.monoFamily
                font.pixelSize: 22
                font.bold: true
            }
        }
        Rectangle {
            Layout.fillWidth: true
            height: 6
            radius: 3
            color: Theme.neutralSoft
            Rectangle {
                height: parent.height
                radius: 3
                width: card.lifetimeMs > 0
                       ? parent.width * Math.min(1, card.remainingMs / card.lifetimeMs) : 0
                color: card.remainingMs < 30000 ? Theme.warning : Theme.primary
                Behavior on width { NumberAnimation { duration: 400 } }
            }
        }
    }

    GridLayout {
        Layout.fillWidth: true
        columns: 2
        columnSpacing: 12
        rowSpacing: 8

        Label { text: qsTr("Token received"); color: Theme.textMuted; font.pixelSize: Theme.small }
        Label {
            objectName: "tokenReceivedAt"
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignRight
            text: isNaN(card.receivedAt.getTime())
                  ? "–" : card.receivedAt.toLocaleTimeString(Qt.locale(), "HH:mm:ss")
            color: Theme.text
            font.pixelSize: Theme.small
            font.bold: true
        }
        Label { text: qsTr("Expires at"); color: Theme.textMuted; font.pixelSize: Theme.small }
        Label {
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignRight
            text: card.hasExpiry
                  ? card.session.accessExpiresAt.toLocaleTimeString(Qt.locale(), "HH:mm:ss") : "–"
            color: Theme.text
            font.pixelSize: Theme.small
            font.bold: true
        }
        Label { text: qsTr("Refresh token"); color: Theme.textMuted; font.pixelSize: Theme.small }
        Label {
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignRight
            text: card.memoryOnly ? qsTr("in memory only") : qsTr("in the Secret Service")
            color: Theme.text
            font.pixelSize: Theme.small
            font.bold: true
        }
    }

    Banner {
        objectName: "sessionEndedBanner"
        Layout.fillWidth: true
        visible: card.ended
        kind: "error"
        title: qsTr("The server ended this session")
        text: card.session.lastError.message
        AppButton {
            objectName: "signInAgainButton"
            text: qsTr("Sign in again")
            onClicked: card.session.logout()
        }
    }

    Banner {
        Layout.fillWidth: true
        visible: !card.ended && card.hasError
        kind: card.session.lastError.transient ? "warning" : "error"
        text: card.session.lastError.message
    }

    AppButton {
        objectName: "signOutButton"
        visible: !card.ended
        Layout.fillWidth: true
        kind: "secondary"
        text: card.session.busy && card.session.state !== Session.Refreshing ? qsTr("Signing out…")
                                                                               : qsTr("Sign out")
        busy: card.session.busy && card.session.state !== Session.Refreshing
        enabled: !card.session.busy
        onClicked: card.session.logout()
    }
}
