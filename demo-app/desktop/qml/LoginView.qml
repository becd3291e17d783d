// SPDX-License-Identifier: MIT
// The signed-out screen: a sign-in form. Enter submits; errors appear in place.
import QtQuick
import QtQuick.Controls.Basic
import QtQuick.Layouts
import Tessera

Item {
    id: view

    required property Session session
    required property string serverLabel
    required property bool memoryOnly
    required property bool restoring
    required property string lastUser

    property string localError: ""
    readonly property bool working: session.busy || restoring
    // Nothing stored (NotSignedIn, from the start-up restore) is the normal first start.
    readonly property bool showsSessionError: session.state === Session.SignedOut
                                              && session.lastError.code !== SessionError.NoError
                                              && session.lastError.code !== SessionError.NotSignedIn
    readonly property string shownError: localError !== "" ? localError
                                       : showsSessionError ? session.lastError.message
                                       : ""

    function submit() {
        if (working)
            return
        if (username.text.trim() === "" || password.text === "") {
            localError = qsTr("Enter your username and password.")
            if (username.text.trim() === "")
                username.field.forceActiveFocus()
            else
                password.field.forceActiveFocus()
            return
        }
        localError = ""
        session.login(username.text.trim(), password.text)
        // The password is never kept, not even in the form.
        password.text = ""
    }

    onVisibleChanged: {
        if (visible) {
            if (username.text === "" && lastUser !== "")
                username.text = lastUser
            if (username.text === "")
                username.field.forceActiveFocus()
            else
                password.field.forceActiveFocus()
        }
    }

    Connections {
        target: view.session
        // A failed sign-in: ready for the next attempt.
        function onLastErrorChanged() {
            if (view.visible && view.showsSessionError)
                password.field.forceActiveFocus()
        }
    }

    ColumnLayout {
        anchors.centerIn: parent
        width: 420
        spacing: Theme.gapLarge

        Card {
            Layout.fillWidth: true
            padding: 32

            ColumnLayout {
                Layout.fillWidth: true
                spacing: 4
                Label {
                    text: qsTr("Sign in")
                    color: Theme.text
                    font.pixelSize: Theme.title + 2
                    font.bold: true
                }
                Label {
                    Layout.fillWidth: true
                    text: qsTr("to %1").arg(view.serverLabel)
                    color: Theme.textMuted
                    font.pixelSize: Theme.body
                    elide: Text.ElideMiddle
                }
            }

            AppTextField {
                id: username
                objectName: "usernameField"
                Layout.fillWidth: true
                Layout.topMargin: 8
                label: qsTr("Username")
                placeholderText: qsTr("e.g. demo")
                field.enabled: !view.working
                field.focus: true
                field.objectName: "usernameInput"
                onAccepted: {
                    if (password.text === "")
                        password.field.forceActiveFocus()
                    else
                        view.submit()
                }
                onTextChanged: view.localError = ""
            }

            AppTextField {
                id: password
                objectName: "passwordField"
                Layout.fillWidth: true
                label: qsTr("Password")
                placeholderText: qsTr("Your password")
                echoMode: TextInput.Password
                invalid: view.session.lastError.code === SessionError.InvalidCredentials
                field.enabled: !view.working
                field.objectName: "passwordInput"
                onAccepted: view.submit()
                onTextChanged: view.localError = ""
            }

            Banner {
                objectName: "loginError"
                Layout.fillWidth: true
                visible: view.shownError !== ""
                kind: view.session.lastError.transient ? "warning" : "error"
                text: view.shownError
            }

            AppButton {
                objectName: "signInButton"
                Layout.fillWidth: true
                Layout.topMargin: 4
                implicitHeight: 40
                text: view.restoring ? qsTr("Restoring your session…")
                    : view.session.busy ? qsTr("Signing in…") : qsTr("Sign in")
                busy: view.working
                enabled: !view.working
                onClicked: view.submit()
            }

            RowLayout {
                Layout.fillWidth: true
                spacing: 8
                Rectangle {
                    Layout.alignment: Qt.AlignTop
                    Layout.topMargin: 4
                    width: 6
                    height: 6
                    radius: 3
                    color: view.memoryOnly ? Theme.warning : Theme.success
                }
                Label {
                    Layout.fillWidth: true
                    text: view.memoryOnly
                          ? qsTr("Memory-only mode: nothing is stored. You will sign in again next time.")
                          : qsTr("Your refresh token goes to the Secret Service, never to a file. "
                                 + "The access token stays in memory.")
                    color: Theme.textMuted
                    font.pixelSize: Theme.caption
                    wrapMode: Text.WordWrap
                    lineHeight: 1.15
                }
            }
        }

        Label {
            Layout.alignment: Qt.AlignHCenter
            text: qsTr("Companion server demo account: <b>demo</b> · <b>tessera-demo</b>")
            textFormat: Text.StyledText
            color: Theme.textFaint
            font.pixelSize: Theme.small
        }
    }
}
