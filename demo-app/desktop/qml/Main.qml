// SPDX-License-Identifier: MIT
// Tessera desktop demo: sign in, watch the session, call a protected API, and
// check the reference article's threat table live in the security lab.
import QtQuick
import QtQuick.Controls.Basic
import QtQuick.Layouts
import Tessera
import TesseraDemo

ApplicationWindow {
    id: window

    required property url serverUrl
    required property string appId
    required property bool memoryOnly
    // Set (--issuer, --client-id): OpenID Connect sign-in through the browser or a device code.
    required property url issuer
    required property string clientId
    required property var resourceOrigins // a list of strings
    // SessionConfig.Off, IfSupported or Required (--no-dpop, neither, --dpop).
    required property int dpopPolicy
    readonly property bool oauth: clientId !== ""

    // For tests and tools that drive the window from C++.
    readonly property alias session: session
    readonly property alias lab: lab

    readonly property string serverLabel: serverUrl.toString().replace(/^[a-z]+:\/\//, "")
                                                         .replace(/\/$/, "")
    readonly property bool signedIn: session.state === Session.SignedIn
                                     || session.state === Session.Refreshing
    readonly property bool showSession: signedIn || session.state === Session.ReauthRequired
    // The start-up restore, until it has an outcome (state and lastError say which).
    property bool restoring: false
    property string lastUser: ""

    width: 1200
    height: 800
    minimumWidth: 1000
    minimumHeight: 700
    visible: true
    title: signedIn ? qsTr("Tessera Demo — %1").arg(session.user) : qsTr("Tessera Demo")
    color: Theme.background
    font.family: Theme.fontFamily
    font.pixelSize: Theme.body

    Session {
        id: session
        objectName: "session"
        config.serverUrl: window.serverUrl
        config.appId: window.appId
        config.issuer: window.issuer
        config.clientId: window.clientId
        config.resourceOrigins: window.resourceOrigins
        config.storagePolicy: window.memoryOnly ? SessionConfig.MemoryOnly
                                                : SessionConfig.SecureStorage
        config.dpopPolicy: window.dpopPolicy

        onUserChanged: if (user !== "") window.lastUser = user
        onBusyChanged: if (!busy) window.restoring = false
        onLastErrorChanged: if (lastError.code !== SessionError.NoError) window.restoring = false
        // A new sign-in starts a clean lab.
        onStateChanged: (newState) => { if (newState === Session.SigningIn) lab.reset() }
    }

    SecurityLab {
        id: lab
        objectName: "securityLab"
        session: session
    }

    Component.onCompleted: {
        if (!memoryOnly) {
            restoring = true
            session.restore()
        }
    }

    header: AppHeader {
        serverLabel: window.serverLabel
        memoryOnly: window.memoryOnly
        session: session
    }

    LoginView {
        anchors.fill: parent
        visible: !window.showSession && !window.oauth
        session: session
        serverLabel: window.serverLabel
        memoryOnly: window.memoryOnly
        restoring: window.restoring
        lastUser: window.lastUser
    }

    OAuthLoginView {
        anchors.fill: parent
        visible: !window.showSession && window.oauth
        session: session
        issuerLabel: window.issuer.toString().replace(/^[a-z]+:\/\//, "").replace(/\/$/, "")
        memoryOnly: window.memoryOnly
        restoring: window.restoring
    }

    SessionView {
        anchors.fill: parent
        visible: window.showSession
        session: session
        signedIn: window.signedIn
        lab: lab
        serverUrl: window.serverUrl
        serverLabel: window.serverLabel
    }
}
