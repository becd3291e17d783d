// SPDX-License-Identifier: MIT
// The signed-in screen: session and API on the left, the security lab on the right.
import QtQuick
import QtQuick.Layouts
import Tessera
import TesseraDemo

Item {
    id: view

    required property Session session
    required property bool signedIn
    required property SecurityLab lab
    required property url serverUrl
    required property string serverLabel

    RowLayout {
        anchors.fill: parent
        anchors.margins: Theme.gapHuge
        spacing: 20

        ColumnLayout {
            Layout.preferredWidth: 380
            Layout.maximumWidth: 380
            Layout.fillHeight: true
            spacing: 20

            SessionCard {
                Layout.fillWidth: true
                session: view.session
                serverLabel: view.serverLabel
            }
            ApiCard {
                Layout.fillWidth: true
                Layout.fillHeight: true
                signedIn: view.signedIn
                serverUrl: view.serverUrl
            }
        }

        SecurityLabCard {
            Layout.fillWidth: true
            Layout.fillHeight: true
            signedIn: view.signedIn
            lab: view.lab
        }
    }
}
