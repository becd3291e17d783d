// SPDX-License-Identifier: MIT
// The QML Session type (Tessera::Session itself) against a live tessera-server (testServerUrl,
// from the C++ harness), and XMLHttpRequest through the Tessera network access manager.
import QtQuick
import QtTest
import Tessera

TestCase {
    id: testCase
    name: "Session"

    readonly property string demoUser: "demo"
    readonly property string demoPassword: "tessera-demo"
    readonly property int timeout: 15000

    Component {
        id: sessionComponent
        Session {
            config.serverUrl: testServerUrl
            config.appId: "org.tessera.tests.qml"
            config.storagePolicy: SessionConfig.MemoryOnly
        }
    }

    Component {
        id: spyComponent
        SignalSpy { }
    }

    // A Session configured for the test server, memory-only; `storage` true keeps the refresh
    // token in the Secret Service instead, `serverUrl` points it elsewhere. Both are written
    // through session.config while signed out, as an app would.
    function createSession(options) {
        const session = createTemporaryObject(sessionComponent, testCase)
        verify(session, "Session created")
        if (options && options.storage)
            session.config.storagePolicy = SessionConfig.SecureStorage
        if (options && options.serverUrl)
            session.config.serverUrl = options.serverUrl
        return session
    }

    function spy(target, signalName) {
        return createTemporaryObject(spyComponent, testCase,
                                     { target: target, signalName: signalName })
    }

    function hasError(session) {
        return session.lastError.code !== SessionError.NoError
    }

    // Runs `operation` (a login, restore or logout) and waits until it has settled: the
    // session is no longer busy and has reached `state`, or it reports an error. The outcome
    // is what QML reads: state and lastError.
    function settle(session, operation, state) {
        operation()
        tryVerify(() => hasError(session) || (!session.busy && session.state === state), timeout,
                  "settled in state " + state)
        tryVerify(() => !session.busy, timeout, "no longer busy")
        return session.lastError
    }

    function signIn(session) {
        const error = settle(session, () => session.login(demoUser, demoPassword),
                             Session.SignedIn)
        compare(error.code, SessionError.NoError, "login failed: " + error.message)
        compare(session.state, Session.SignedIn)
    }

    function signedIn(session) {
        return session.state === Session.SignedIn || session.state === Session.Refreshing
    }

    // XMLHttpRequest through the engine's network access manager; resolves to
    // { status, text, headers }.
    function request(method, path, body) {
        const result = { done: false }
        const xhr = new XMLHttpRequest()
        xhr.onreadystatechange = function() {
            if (xhr.readyState === XMLHttpRequest.DONE) {
                result.status = xhr.status
                result.text = xhr.responseText
                result.headers = xhr.getAllResponseHeaders()
                result.done = true
            }
        }
        xhr.open(method, testServerUrl + path)
        if (body !== undefined) {
            xhr.setRequestHeader("Content-Type", "application/json")
            xhr.send(JSON.stringify(body))
        } else {
            xhr.send()
        }
        tryVerify(() => result.done, timeout, method + " " + path + " completes")
        return result
    }

    function test_initialState() {
        const session = createSession()
        compare(session.state, Session.SignedOut)
        compare(signedIn(session), false)
        compare(session.user, "")
        compare(session.busy, false)
        compare(session.lastError.code, SessionError.NoError)
        compare(session.lastError.message, "")
        verify(isNaN(session.accessExpiresAt.getTime()), "no expiry while signed out")
        compare(String(session.config.serverUrl), testServerUrl)
        compare(session.config.appId, "org.tessera.tests.qml")
        compare(session.config.storagePolicy, SessionConfig.MemoryOnly)
        compare(session.config.obtainPath, "/api/token/", "defaults kept")
    }

    function test_configWrittenWhileSignedOut() {
        const session = createSession()
        const changes = spy(session, "configChanged")
        session.config.appId = "org.tessera.tests.qml.other"
        compare(changes.count, 1)
        compare(session.config.appId, "org.tessera.tests.qml.other")
        compare(String(session.config.serverUrl), testServerUrl, "the rest of the configuration kept")

        // Signed in, the configuration stays as it is, and the session says why.
        signIn(session)
        session.config.appId = "org.tessera.tests.qml"
        compare(changes.count, 1)
        compare(session.config.appId, "org.tessera.tests.qml.other")
        compare(session.lastError.code, SessionError.Cancelled)
        compare(session.state, Session.SignedIn)
    }

    // A draft configuration of its own (the sessionConfig value type), applied in one go.
    property sessionConfig draft

    function test_configAppliedWhole() {
        const session = createSession()
        draft = session.config
        draft.appId = "org.tessera.tests.qml.draft"
        draft.revokePath = ""
        compare(session.config.appId, "org.tessera.tests.qml", "the draft is a copy")
        const changes = spy(session, "configChanged")
        session.config = draft
        compare(changes.count, 1)
        compare(session.config.appId, "org.tessera.tests.qml.draft")
        compare(session.config.revokePath, "")
        compare(String(session.config.serverUrl), testServerUrl)
    }

    function test_loginSucceeds() {
        const session = createSession()
        const busy = spy(session, "busyChanged")
        const errors = spy(session, "lastErrorChanged")
        const states = []
        session.stateChanged.connect(() => states.push(session.state))

        const error = settle(session, () => {
            session.login(demoUser, demoPassword)
            // busy and SigningIn are visible at once, before the server answers
            compare(session.busy, true)
            compare(session.state, Session.SigningIn)
        }, Session.SignedIn)
        compare(error.code, SessionError.NoError, error.message)
        compare(session.state, Session.SignedIn)
        compare(signedIn(session), true)
        compare(session.user, demoUser)
        compare(session.busy, false)
        compare(busy.count, 2, "busy went true, then false")
        compare(errors.count, 0, "no error set, none cleared")
        verify(states.indexOf(Session.SigningIn) >= 0, "passed through SigningIn")
        const now = new Date()
        verify(session.accessExpiresAt > now, "access token expires in the future")
        verify(session.accessExpiresAt - now <= 10 * 60 * 1000, "and soon (server default: 5 min)")
    }

    function test_wrongPassword() {
        const session = createSession()
        const background = spy(session, "errorOccurred")
        const error = settle(session, () => session.login(demoUser, "not the password"),
                             Session.SignedIn)
        compare(error.code, SessionError.InvalidCredentials)
        compare(error.transient, false)
        verify(error.message.length > 0, "a message")
        verify(error.message.indexOf("not the password") < 0, "password not echoed")
        compare(session.state, Session.SignedOut)
        compare(session.user, "")
        compare(session.busy, false)
        compare(session.lastError.code, SessionError.InvalidCredentials)
        // The failure belongs to the login; errorOccurred is for background work only.
        compare(background.count, 0)

        // the next attempt starts with a clean error
        const cleared = spy(session, "lastErrorChanged")
        session.login(demoUser, demoPassword)
        compare(session.lastError.code, SessionError.NoError, "cleared when the login starts")
        compare(cleared.count, 1)
        tryVerify(() => session.state === Session.SignedIn, timeout)
        compare(session.lastError.message, "")
    }

    function test_unreachableServer() {
        const session = createSession({ serverUrl: "http://127.0.0.1:9" })
        const error = settle(session, () => session.login(demoUser, demoPassword),
                             Session.SignedIn)
        compare(session.state, Session.SignedOut)
        compare(error.code, SessionError.NetworkError)
        compare(error.transient, true)
    }

    function test_insecureTransportRefused() {
        const session = createSession({ serverUrl: "http://auth.example.com" })
        const error = settle(session, () => session.login(demoUser, demoPassword),
                             Session.SignedIn)
        compare(error.code, SessionError.InsecureTransport)
        compare(session.state, Session.SignedOut)
    }

    // The device sign-in is callable from QML and its signal can be handled there. (The flow
    // itself runs against oidc-provider and tessera-server in tst_oauth_devicesession.cpp, and
    // from QML in tests/qml/oauth/tst_oauth.qml.)
    function test_deviceSignInFromQml() {
        const session = createSession()
        const requested = spy(session, "deviceSignInRequested")
        verify(requested.valid, "deviceSignInRequested is a signal QML sees")
        let error = settle(session, () => session.signInWithDevice(), Session.SignedIn)
        compare(error.code, SessionError.InvalidConfiguration, "a SimpleJWT session has no device flow")
        compare(session.state, Session.SignedOut)

        // An OAuth configuration whose issuer cannot be reached: the flow starts, discovery fails.
        draft = session.config
        draft.serverUrl = ""
        draft.issuer = "http://127.0.0.1:9"
        draft.clientId = "tessera-native"
        session.config = draft
        error = settle(session, () => {
            session.signInWithDevice()
            compare(session.state, Session.SigningIn)
        }, Session.SignedIn)
        compare(error.code, SessionError.NetworkError, error.message)
        compare(session.state, Session.SignedOut)
        compare(requested.count, 0)
    }

    function test_logout() {
        const session = createSession()
        signIn(session)
        const busy = spy(session, "busyChanged")
        const error = settle(session, () => {
            session.logout()
            compare(session.busy, true, "busy while the revoke is in flight")
        }, Session.SignedOut)
        compare(error.code, SessionError.NoError, error.message)
        compare(session.state, Session.SignedOut)
        compare(signedIn(session), false)
        compare(session.user, "")
        compare(session.busy, false)
        compare(busy.count, 2)
        verify(isNaN(session.accessExpiresAt.getTime()))
    }

    function test_restore() {
        // Secure storage (the Secret Service of scripts/with-keyring.sh).
        const first = createSession({ storage: true })
        signIn(first)

        // Another Session of the same app (a restart) restores from storage alone.
        const second = createSession({ storage: true })
        const error = settle(second, () => {
            second.restore()
            compare(second.busy, true)
        }, Session.SignedIn)
        compare(error.code, SessionError.NoError, error.message)
        compare(second.state, Session.SignedIn)
        compare(second.user, demoUser)
        // Nothing but the refresh token is stored: an access token means restore refreshed.
        verify(second.accessExpiresAt > new Date(), "restore refreshed: it has an access token")

        // After logout nothing is stored: the next restore finds no session.
        compare(settle(second, () => second.logout(), Session.SignedOut).code,
                SessionError.NoError)
        const third = createSession({ storage: true })
        const none = settle(third, () => third.restore(), Session.SignedIn)
        compare(none.code, SessionError.NotSignedIn)
        compare(third.state, Session.SignedOut)
    }

    function test_restoreMemoryOnly() {
        const session = createSession()
        const error = settle(session, () => session.restore(), Session.SignedIn)
        compare(error.code, SessionError.NotSignedIn)
        compare(session.state, Session.SignedOut)
    }

    function test_xhrCarriesToken() {
        const session = createSession()
        // Signed out: the request goes out without a token and is refused.
        compare(request("GET", "/api/me/").status, 401)

        signIn(session)
        const me = request("GET", "/api/me/")
        compare(me.status, 200)
        const body = JSON.parse(me.text)
        compare(body.username, demoUser)
        verify(me.headers.toLowerCase().indexOf("authorization") < 0)

        // Logout revokes at once: the same request is refused again.
        compare(settle(session, () => session.logout(), Session.SignedOut).code,
                SessionError.NoError)
        compare(request("GET", "/api/me/").status, 401)
    }

    function test_xhrCannotReachTokenEndpoints() {
        const session = createSession()
        signIn(session)
        // A token pair in a QML string is exactly what must not happen.
        const obtain = request("POST", "/api/token/",
                               { username: demoUser, password: demoPassword })
        compare(obtain.status, 0, "refused before it reaches the server")
        compare(obtain.text, "")
        const refresh = request("POST", "/api/token/refresh/", { refresh: "x" })
        compare(refresh.status, 0)
        // Other endpoints of the server still work.
        compare(request("GET", "/healthz").status, 200)
    }

    function test_nothingTokenLike() {
        const session = createSession()
        signIn(session)
        const jwt = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/
        const opaque = /[A-Za-z0-9_-]{32,}/
        let checked = 0
        // Every member, and every member of the configuration and error values.
        const values = [["session", session], ["config", session.config],
                        ["lastError", session.lastError]]
        for (const [name, object] of values) {
            for (const key in object) {
                // accessExpiresAt is a time; anything else named so is suspect
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
        // A token can only be had from C++: freshAccessToken() is not callable here.
        compare(typeof session.freshAccessToken, "undefined")
    }
}
