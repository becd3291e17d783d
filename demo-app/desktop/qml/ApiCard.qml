// SPDX-License-Identifier: MIT
// Calls the protected API with XMLHttpRequest. The Tessera network access
// manager adds the bearer token in C++ (refreshing first when needed); this
// file never sees it.
import QtQuick
import QtQuick.Controls.Basic
import QtQuick.Layouts

Card {
    id: card

    required property bool signedIn
    required property url serverUrl

    property bool loading: false
    property int status: -1
    property string statusText: ""
    property string body: ""
    property int elapsedMs: 0

    title: qsTr("Protected API")
    subtitle: qsTr("GET /api/me/ from QML. The token is added in C++; QML never sees it.")

    function call() {
        if (loading)
            return
        loading = true
        const started = Date.now()
        const xhr = new XMLHttpRequest()
        xhr.onreadystatechange = function() {
            if (xhr.readyState !== XMLHttpRequest.DONE)
                return
            card.elapsedMs = Date.now() - started
            card.status = xhr.status
            card.statusText = xhr.status === 0 ? qsTr("no response") : xhr.statusText
            let text = xhr.responseText
            try {
                text = JSON.stringify(JSON.parse(text), null, 2)
            } catch (e) {
            }
            card.body = text
            card.loading = false
        }
        xhr.open("GET", serverUrl.toString().replace(/\/$/, "") + "/api/me/")
        xhr.setRequestHeader("Accept", "application/json")
        xhr.send()
    }

    AppButton {
        objectName: "callApiButton"
        Layout.fillWidth: true
        text: card.loading ? qsTr("Calling…") : qsTr("Call protected API")
        busy: card.loading
        enabled: !card.loading && card.signedIn
        onClicked: card.call()
    }

    RowLayout {
        Layout.fillWidth: true
        visible: card.status >= 0
        spacing: 8
        Chip {
            objectName: "apiStatus"
            text: card.status > 0 ? card.status + " " + card.statusText : card.statusText
            mono: true
            tint: card.status === 200 ? Theme.successSoft : Theme.dangerSoft
            textColor: card.status === 200 ? Theme.success : Theme.danger
        }
        Label {
            text: qsTr("in %1 ms").arg(card.elapsedMs)
            color: Theme.textFaint
            font.pixelSize: Theme.caption
        }
        Item { Layout.fillWidth: true }
    }

    Rectangle {
        Layout.fillWidth: true
        Layout.fillHeight: true
        Layout.minimumHeight: 90
        radius: Theme.radiusSmall
        color: Theme.surfaceMuted
        border.color: Theme.border
        clip: true

        Label {
            objectName: "apiResponse"
            anchors.fill: parent
            anchors.margins: 12
            text: card.status >= 0 ? card.body : qsTr("No call yet. The response appears here.")
            color: card.status >= 0 ? Theme.text : Theme.textFaint
            font.family: card.status >= 0 ? Theme.monoFamily : Theme.fontFamily
            font.pixelSize: Theme.small
            wrapMode: Text.WrapAnywhere
            verticalAlignment: card.status >= 0 ? Text.AlignTop : Text.AlignVCenter
            horizontalAlignment: card.status >= 0 ? Text.AlignLeft : Text.AlignHCenter
        }
    }
}
