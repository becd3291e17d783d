// SPDX-License-Identifier: MIT
// The QML Session's OAuth profile against the real oidc-provider (testIssuer, testClientId from
// the C++ harness): the configuration written from QML, the browser and device sign-ins driven
// from QML signal handlers, with browser.py (scriptedBrowser) as the person, and nothing
// token-like reachable from QML once signed in.
import QtQuick
import QtTest
import Tessera

TestCase {
    id: testCase
    name: "OAuthSession"

    // node, python and the device flow's 5 s polling on two busy cores
    readonly property int timeout: 90000

    Component {
        id: sessionComponent
        Session {
            config.issuer: testIssuer
            config.clientId: testClientId
            config.appId: "org.tessera.tests.qml.oauth"
            config.storagePolicy: SessionConfig.MemoryOnly
        }
    }

    Component {
        id: spyComponent
        SignalSpy { }
    }

    // What the signal handlers saw, as QML sees it.
    property var browserRequests: []
    property var deviceRequests: []
    // Whether the handlers hand the request to the scripted person.
    property bool personActs: true

    // An app's handlers: open the URL in a browser; show the code and open the page.
    Component {
        id: handlersComponent
        Connections {
            function onBrowserSignInRequested(url) {
                testCase.browserRequests.push({ url: url, type: typeof url })
                if (testCase.personActs)
                    scriptedBrowser.open(url)
            }
            function onDeviceSignInRequested(verificationUri, verificationUriComplete, userCode,
                                             expiresAt) {
                testCase.deviceRequests.push({ verificationUri: verificationUri,
                                               verificationUriComplete: verificationUriComplete,
                                               userCode: userCode, expiresAt: expiresAt })
                if (testCase.personActs)
                    scriptedBrowser.openDevicePage(verificationUri, userCode)
            }
        }
    }

    function init() {
        browserRequests = []
        deviceRequests = []
        personActs = true
    }

    function createSession() {
        const session = createTemporaryObject(sessionComponent, testCase)
        verify(session, "Session created")
        verify(createTemporaryObject(handlersComponent, testCase, { target: session }))
        return session
    }

    function spy(target, signalName) {
        return createTemporaryObject(spyComponent, testCase,
                                     { target: target, signalName: signalName })
    }

    function settle(session, operation, state) {
        operation()
        tryVerify(() => session.lastError.code !== SessionError.NoError
                        || (!session.busy && session.state === state), timeout,
                  "settled in state " + state)
        tryVerify(() => !session.busy, timeout, "no longer busy")
        return session.lastError
    }

    // Every member of the session, its configuration and its error: none named like a token,
    // none holding something shaped like one (a JWT, or a long opaque string: oidc-provider's
    // tokens are 43 characters of base64url).
    function verifyNothingTokenLike(session) {
        const jwt = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/
        const opaque = /[A-Za-z0-9_-]{32,}/
        let checked = 0
        for (const [name, object] of [["session", session], ["config", session.config],
                                      ["lastError", session.lastError]]) {
            for (const key in object) {
                verify(key === "accessExpiresAt" || key === "accessExpiresAtChanged"
                       || !/token|secret|refresh(?!Path)|access/i.test(key),
                       "member named " + name + "." + key)
                const value = object[key]
                if (typeof value === "function")
                    continue
                const text = String(value)
                verify(!jwt.test(text), name + "." + key + " looks like a JWT")
                verify(!opaque.test(text), name + "." + key + " looks like an opaque token")
                ++checked
            }
        }
        verify(checked >= 16, "properties enumerated: " + checked)
        compare(typeof session.freshAccessToken, "undefined")
    }

    function test_configWrittenFromQml() {
        const session = createSession()
        compare(session.config.profile, SessionConfig.OAuth)
        compare(String(session.config.issuer), testIssuer)
        compare(session.config.clientId, testClientId)
        compare(Array.from(session.config.scopes).join(" "), "openid offline_access",
                "the default scopes")
        const changes = spy(session, "configChanged")
        session.config.scopes = ["openid", "offline_access", "profile"]
        session.config.resourceOrigins = ["https://api.example.com", "http://127.0.0.1:9"]
        session.config.clientId = "another-client"
        compare(changes.count, 3)
        compare(Array.from(session.config.scopes).join(" "), "openid offline_access profile")
        compare(Array.from(session.config.resourceOrigins).join(" "),
                "https://api.example.com http://127.0.0.1:9")
        compare(session.config.clientId, "another-client")
        compare(String(session.config.issuer), testIssuer, "the rest kept")
        // Clearing the issuer is the SimpleJWT profile again.
        session.config.issuer = ""
        compare(session.config.profile, SessionConfig.SimpleJwt)
    }

    function test_browserSignIn() {
        const session = createSession()
        const states = []
        session.stateChanged.connect(() => states.push(session.state))
        const error = settle(session, () => {
            session.signInWithBrowser()
            compare(session.busy, true)
            compare(session.state, Session.SigningIn)
        }, Session.SignedIn)
        compare(error.code, SessionError.NoError, error.message)
        compare(session.state, Session.SignedIn)
        compare(session.user, "alice")
        verify(session.accessExpiresAt > new Date(), "an access token that expires later")
        verify(states.indexOf(Session.SigningIn) >= 0)

        // The handler got the authorization request as a URL: PKCE S256 and the loopback
        // redirect, nothing secret (the verifier stays in the SDK).
        compare(browserRequests.length, 1)
        compare(scriptedBrowser.opened >= 1, true)
        const url = String(browserRequests[0].url)
        verify(url.startsWith(testIssuer), url.split("?")[0])
        verify(url.indexOf("code_challenge_method=S256") > 0, "PKCE S256")
        verify(url.indexOf("code_verifier") < 0, "no verifier in the URL")
        verify(/redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A[0-9]+%2Fcallback/.test(url),
               "a loopback redirect")
        compare(deviceRequests.length, 0)

        verifyNothingTokenLike(session)

        compare(settle(session, () => session.logout(), Session.SignedOut).code,
                SessionError.NoError)
        compare(session.user, "")
    }

    function test_browserSignInCancelled() {
        const session = createSession()
        personActs = false
        session.signInWithBrowser()
        tryVerify(() => browserRequests.length === 1, timeout, "the browser was asked for")
        compare(session.state, Session.SigningIn)
        session.cancelSignIn()
        tryVerify(() => !session.busy, timeout)
        compare(session.lastError.code, SessionError.Cancelled)
        compare(session.state, Session.SignedOut)
        compare(session.user, "")
    }

    function test_deviceSignIn() {
        const session = createSession()
        const started = new Date()
        const error = settle(session, () => {
            session.signInWithDevice()
            compare(session.state, Session.SigningIn)
        }, Session.SignedIn)
        compare(error.code, SessionError.NoError, error.message)
        compare(session.state, Session.SignedIn)
        compare(session.user, "alice")
        compare(browserRequests.length, 0)

        // What the person must see reached QML as a URL, a string and a time.
        compare(deviceRequests.length, 1)
        const request = deviceRequests[0]
        verify(String(request.verificationUri).startsWith(testIssuer),
               String(request.verificationUri))
        verify(String(request.verificationUriComplete).indexOf("user_code=") > 0,
               "the complete URI carries the code")
        compare(typeof request.userCode, "string")
        verify(request.userCode.length >= 6, "a user code: " + request.userCode.length)
        verify(request.expiresAt instanceof Date, "expiresAt is a Date")
        verify(request.expiresAt > started, "expires later")
        verify(request.expiresAt - started < 60 * 60 * 1000, "within the hour")

        verifyNothingTokenLike(session)
        compare(settle(session, () => session.logout(), Session.SignedOut).code,
                SessionError.NoError)
    }

    function test_deviceSignInCancelled() {
        const session = createSession()
        personActs = false
        session.signInWithDevice()
        tryVerify(() => deviceRequests.length === 1, timeout, "the code was shown")
        compare(session.state, Session.SigningIn)
        session.cancelSignIn()
        tryVerify(() => !session.busy, timeout)
        compare(session.lastError.code, SessionError.Cancelled)
        compare(session.state, Session.SignedOut)
    }
}
