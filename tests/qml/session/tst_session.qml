// SPDX-License-Identifier: MIT
// The QML Session type against a live tessera-server (testServerUrl, from the
// C++ harness), and XMLHttpRequest through the Tessera network access manager.
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
            serverUrl: testServerUrl
            appId: "org.tessera.tests.qml"
            memoryOnly: true
        }
    }

    Component {
        id: spyComponent
        SignalSpy { }
    }

    function createSession(properties) {
        const session = createTemporaryObject(sessionComponent, testCase, properties || {})
        verify(session, "Session created")
        return session
    }

    function spy(target, signalName) {
        return createTemporaryObject(spyComponent, testCase,
                                     { target: target, signalName: signalName })
    }

    // Runs `operation` and waits for the session's finished(operation, success, errorString).
    function finish(session, operation) {
        const finished = spy(session, "finished")
        operation()
        if (finished.count === 0)
            finished.wait(timeout)
        compare(finished.count, 1, "one finished signal")
        return { operation: finished.signalArguments[0][0],
                 success: finished.signalArguments[0][1],
                 errorString: finished.signalArguments[0][2] }
    }

    function signIn(session) {
        const result = finish(session, () => session.login(demoUser, demoPassword))
        verify(result.success, "login failed: " + result.errorString)
        compare(session.state, Session.SignedIn)
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
        compare(session.stateName, "SignedOut")
        compare(session.signedIn, false)
        compare(session.user, "")
        compare(session.busy, false)
        compare(session.errorString, "")
        compare(session.refreshCount, 0)
        verify(isNaN(session.expiresAt.getTime()), "no expiry while signed out")
    }

    function test_loginSucceeds() {
        const session = createSession()
        const busy = spy(session, "busyChanged")
        const states = []
        session.stateChanged.connect(() => states.push(session.state))

        const result = finish(session, () => {
            session.login(demoUser, demoPassword)
            // busy and SigningIn are visible at once, before the server answers
            compare(session.busy, true)
            compare(session.state, Session.SigningIn)
        })
        compare(result.operation, Session.Login)
        verify(result.success, result.errorString)
        compare(result.errorString, "")
        compare(session.state, Session.SignedIn)
        compare(session.stateName, "SignedIn")
        compare(session.signedIn, true)
        compare(session.user, demoUser)
        compare(session.busy, false)
        compare(busy.count, 2, "busy went true, then false")
        compare(session.errorString, "")
        verify(states.indexOf(Session.SigningIn) >= 0, "passed through SigningIn")
        const now = new Date()
        verify(session.expiresAt > now, "access token expires in the future")
        verify(session.expiresAt - now <= 10 * 60 * 1000, "and soon (server default: 5 min)")
    }

    function test_wrongPassword() {
        const session = createSession()
        const errors = spy(session, "errorOccurred")
        const result = finish(session, () => session.login(demoUser, "not the password"))
        compare(result.success, false)
        verify(result.errorString.length > 0)
        compare(session.state, Session.SignedOut)
        compare(session.user, "")
        compare(session.busy, false)
        verify(session.errorString.length > 0, "errorString set")
        compare(session.errorString, result.errorString)
        compare(session.errorCode, "InvalidCredentials")
        compare(session.errorTransient, false)
        compare(errors.count, 1)
        verify(session.errorString.indexOf("not the password") < 0, "password not echoed")

        // the next attempt starts with a clean error
        signIn(session)
        compare(session.errorString, "")
        compare(session.errorCode, "")
    }

    function test_unreachableServer() {
        const session = createSession({ serverUrl: "http://127.0.0.1:9" })
        const result = finish(session, () => session.login(demoUser, demoPassword))
        compare(result.success, false)
        compare(session.state, Session.SignedOut)
        compare(session.errorCode, "NetworkError")
        compare(session.errorTransient, true)
    }

    function test_insecureTransportRefused() {
        const session = createSession({ serverUrl: "http://auth.example.com" })
        const result = finish(session, () => session.login(demoUser, demoPassword))
        compare(result.success, false)
        compare(session.errorCode, "InsecureTransport")
        compare(session.state, Session.SignedOut)
    }

    function test_logout() {
        const session = createSession()
        signIn(session)
        const busy = spy(session, "busyChanged")
        const result = finish(session, () => {
            session.logout()
            compare(session.busy, true, "busy while the revoke is in flight")
        })
        compare(result.operation, Session.Logout)
        verify(result.success, result.errorString)
        compare(session.state, Session.SignedOut)
        compare(session.signedIn, false)
        compare(session.user, "")
        compare(session.busy, false)
        compare(busy.count, 2)
        verify(isNaN(session.expiresAt.getTime()))
    }

    function test_restore() {
        // Secure storage (the Secret Service of scripts/with-keyring.sh).
        const first = createSession({ memoryOnly: false })
        signIn(first)

        // Another Session of the same app (a restart) restores from storage alone.
        const second = createSession({ memoryOnly: false })
        const result = finish(second, () => {
            second.restore()
            compare(second.busy, true)
        })
        compare(result.operation, Session.Restore)
        verify(result.success, result.errorString)
        compare(second.state, Session.SignedIn)
        compare(second.user, demoUser)
        verify(second.expiresAt > new Date())
        verify(second.refreshCount >= 1, "restore refreshes once")

        // After logout nothing is stored: the next restore finds no session.
        verify(finish(second, () => second.logout()).success)
        const third = createSession({ memoryOnly: false })
        const none = finish(third, () => third.restore())
        compare(none.success, false)
        compare(third.state, Session.SignedOut)
        compare(third.errorCode, "NotSignedIn")
    }

    function test_restoreMemoryOnly() {
        const session = createSession()
        const result = finish(session, () => session.restore())
        compare(result.success, false)
        compare(session.errorCode, "NotSignedIn")
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
        verify(finish(session, () => session.logout()).success)
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
        for (const key in session) {
            verify(!/token|secret|refresh(?!Count)|access/i.test(key), "member named " + key)
            const value = session[key]
            if (typeof value === "function")
                continue
            const text = String(value)
            verify(!jwt.test(text), key + " looks like a JWT")
            verify(!opaque.test(text), key + " looks like an opaque token")
            ++checked
        }
        verify(checked >= 10, "properties enumerated: " + checked)
    }
}
