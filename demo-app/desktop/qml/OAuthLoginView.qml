// SPDX-License-Identifier: MIT
// The signed-out screen of the OAuth profile (--issuer, --client-id): "Sign in with your
// browser" (authorization code with PKCE through the system browser) or a code to type on
// another device (RFC 8628). While one runs it shows what the person needs (the page the
// browser should show, or the code and where to type it) and a Cancel button. No password is
// ever typed into the app.
import QtQuick
import QtQuick.Controls.Basic
import QtQuick.Layouts
import Tessera
import TesseraDemo

Item {
    id: view

    required property Session session
    required property string issuerLabel
    required property bool memoryOnly
    required property bool restoring

    // "browser" or "device" while a sign-in of that kind runs, else "".
    property string mode: ""
    property string browserUrl: ""
    property bool browserOpened: false
    property string userCode: ""
    property string verificationUri: ""
    property string verificationUriComplete: ""
    property date codeExpiresAt
    property int secondsLeft: 0

    readonly property bool working: session.busy || restoring
    // Nothing stored (the start-up restore) and a cancelled sign-in are no errors to show.
    readonly property bool showsSessionError: session.state === Session.SignedOut
                                              && mode === ""
                                              && session.lastError.code !== SessionError.NoError
                                              && session.lastError.code !== SessionError.NotSignedIn
                                              && session.lastError.code !== SessionError.Cancelled

    function signInWithBrowser() {
        if (working)
            return
        mode = "browser"
        session.signInWithBrowser()
    }

    function signInWithDevice() {
        if (working)
            return
        mode = "device"
        session.signInWithDevice()
    }

    function reset() {
        mode = ""
        browserUrl = ""
        browserOpened = false
        userCode = ""
        verificationUri = ""
        verificationUriComplete = ""
    }

    function updateSecondsLeft() {
        secondsLeft = Math.max(0, Math.round((codeExpiresAt - new Date()) / 1000))
    }

    Connections {
        target: view.session
        function onBrowserSignInRequested(url) {
            view.browserUrl = url.toString()
            view.browserOpened = SystemBrowser.open(url)
        }
        function onDeviceSignInRequested(verificationUri, verificationUriComplete, userCode,
                                         expiresAt) {
            view.verificationUri = verificationUri.toString()
            view.verificationUriComplete = verificationUriComplete.toString()
            view.userCode = userCode
            view.codeExpiresAt = expiresAt
            view.updateSecondsLeft()
        }
        function onBusyChanged() {
            if (!view.session.busy)
                view.reset()
        }
    }

    Timer {
        interval: 1000
        repeat: true
        running: view.userCode !== ""
        onTriggered: view.updateSecondsLeft()
    }

    ColumnLayout {
        anchors.centerIn: parent
        width: 460
        spacing: Theme.gapLarge

        Card {
            Layout.fillWidth: true
            padding: 32

            ColumnLayout {
                Layout.fillWidth: true
                spacing: 4
                Label {
                    text: view.mode === "device" ? qsTr("Sign in on another device")
                        : view.mode === "browser" ? qsTr("Continue in your browser")
                        : qsTr("Sign in")
                    color: Theme.text
                    font.pixelSize: Theme.title + 2
                    font.bold: true
                }
                Label {
                    Layout.fillWidth: true
                    text: qsTr("with your account at %1").arg(view.issuerLabel)
                    color: Theme.textMuted
                    font.pixelSize: Theme.body
                    elide: Text.ElideMiddle
                }
            }

            // --- nothing running: the two ways in ---
            ColumnLayout {
                objectName: "oauthChoices"
                Layout.fillWidth: true
                visible: view.mode === ""
                spacing: Theme.gap

                Label {
                    Layout.fillWidth: true
                    Layout.bottomMargin: 4
                    text: qsTr("Your browser shows your provider's sign-in page. The app never "
                               + "sees your password.")
                    color: Theme.textMuted
                    font.pixelSize: Theme.small
                    wrapMode: Text.WordWrap
                }
                AppButton {
                    objectName: "oauthSignInButton"
                    Layout.fillWidth: true
                    implicitHeight: 40
                    text: view.restoring ? qsTr("Restoring your session…")
                                         : qsTr("Sign in with your browser")
                    busy: view.restoring
                    enabled: !view.working
                    focus: true
                    onClicked: view.signInWithBrowser()
                }
                AppButton {
                    objectName: "deviceSignInButton"
                    Layout.fillWidth: true
                    kind: "secondary"
                    text: qsTr("Use a code on another device")
                    enabled: !view.working
                    onClicked: view.signInWithDevice()
                }
            }

            // --- the browser sign-in: waiting for the browser to come back ---
            ColumnLayout {
                objectName: "browserWaiting"
                Layout.fillWidth: true
                visible: view.mode === "browser"
                spacing: Theme.gap

                RowLayout {
                    spacing: Theme.gap
                    Spinner {
                        size: 16
                        color: Theme.primary
                    }
                    Label {
                        objectName: "browserStatus"
                        Layout.fillWidth: true
                        text: view.browserUrl === "" ? qsTr("Contacting your provider…")
                            : view.browserOpened ? qsTr("Waiting for you to sign in in your browser…")
                            : qsTr("No browser could be opened: open this address yourself.")
                        color: Theme.text
                        font.pixelSize: Theme.body
                        wrapMode: Text.WordWrap
                    }
                }
                Label {
                    Layout.fillWidth: true
                    visible: view.browserUrl !== ""
                    text: qsTr("The page did not open? Copy this address into your browser:")
                    color: Theme.textMuted
                    font.pixelSize: Theme.small
                    wrapMode: Text.WordWrap
                }
                TextField {
                    objectName: "browserUrlField"
                    Layout.fillWidth: true
                    visible: view.browserUrl !== ""
                    readOnly: true
                    selectByMouse: true
                    text: view.browserUrl
                    // Show where it goes (the provider's host), not the end of the query.
                    onTextChanged: cursorPosition = 0
                    font.family: Theme.monoFamily
                    font.pixelSize: Theme.caption
                    color: Theme.text
                    background: Rectangle {
                        radius: Theme.radiusSmall
                        color: Theme.surfaceMuted
                        border.color: Theme.border
                    }
                }
            }

            // --- the device sign-in: the code and where to type it ---
            ColumnLayout {
                objectName: "deviceWaiting"
                Layout.fillWidth: true
                visible: view.mode === "device"
                spacing: Theme.gap

                Label {
                    Layout.fillWidth: true
                    text: view.userCode === "" ? qsTr("Asking your provider for a code…")
                        : qsTr("On your phone or computer, open")
                    color: Theme.textMuted
                    font.pixelSize: Theme.body
                    wrapMode: Text.WordWrap
                }
                Label {
                    objectName: "deviceVerificationUri"
                    Layout.fillWidth: true
                    visible: view.userCode !== ""
                    text: view.verificationUri
                    color: Theme.primary
                    font.family: Theme.monoFamily
                    font.pixelSize: Theme.heading
                    font.bold: true
                    wrapMode: Text.WrapAnywhere
                }
                Label {
                    Layout.fillWidth: true
                    visible: view.userCode !== ""
                    text: qsTr("and enter this code:")
                    color: Theme.textMuted
                    font.pixelSize: Theme.body
                }
                Rectangle {
                    Layout.fillWidth: true
                    visible: view.userCode !== ""
                    implicitHeight: 64
                    radius: Theme.radius
                    color: Theme.primarySoft
                    border.color: Theme.primary
                    Label {
                        objectName: "deviceUserCode"
                        anchors.centerIn: parent
                        text: view.userCode
                        color: Theme.text
                        font.family: Theme.monoFamily
                        font.pixelSize: 30
                        font.bold: true
                        font.letterSpacing: 4
                    }
                }
                RowLayout {
                    Layout.fillWidth: true
                    visible: view.userCode !== ""
                    spacing: Theme.gap
                    Spinner {
                        size: 14
                        color: Theme.primary
                    }
                    Label {
                        objectName: "deviceExpiry"
                        Layout.fillWidth: true
                        text: qsTr("Waiting for you… the code expires in %1:%2")
                              .arg(Math.floor(view.secondsLeft / 60))
                              .arg(String(view.secondsLeft % 60).padStart(2, "0"))
                        color: Theme.textMuted
                        font.pixelSize: Theme.small
                    }
                }
                AppButton {
                    objectName: "deviceOpenHereButton"
                    Layout.fillWidth: true
                    visible: view.userCode !== ""
                    kind: "subtle"
                    text: qsTr("Open the page in this computer's browser")
                    onClicked: SystemBrowser.open(view.verificationUriComplete !== ""
                                                  ? view.verificationUriComplete
                                                  : view.verificationUri)
                }
            }

            AppButton {
                objectName: "cancelSignInButton"
                Layout.fillWidth: true
                visible: view.mode !== ""
                kind: "secondary"
                text: qsTr("Cancel")
                enabled: view.session.busy
                onClicked: view.session.cancelSignIn()
            }

            Banner {
                objectName: "oauthError"
                Layout.fillWidth: true
                visible: view.showsSessionError
                kind: view.session.lastError.transient ? "warning" : "error"
                text: view.showsSessionError ? view.session.lastError.message : ""
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
            text: qsTr("OpenID Connect: authorization code with PKCE (RFC 8252) or device code (RFC 8628)")
            color: Theme.textFaint
            font.pixelSize: Theme.small
        }
    }
}
