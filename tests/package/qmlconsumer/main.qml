// The checks of the QML consumer (tests/package): what an app does with the installed module.
import QtQml
import Tessera

QtObject {
    id: app

    required property string unreachableUrl
    required property string serverUrl // empty: no server to sign in to
    property string step: "start"
    property string failure: ""
    property bool done: false
    signal finished()

    // Configured while signed out, the way an app declares it.
    property Session session: Session {
        config.serverUrl: "http://auth.example.com"
        config.appId: "org.example.qmlconsumer"
        config.storagePolicy: SessionConfig.MemoryOnly
    }

    function fail(why) {
        failure = step + ": " + why
        finished()
    }

    function expect(condition, why) {
        if (!condition)
            fail(why)
        return condition
    }

    function go(next, action) {
        step = next
        action()
    }

    // Each step starts an operation; the outcome arrives through state and lastError.
    property Timer poll: Timer {
        interval: 20
        repeat: true
        running: app.failure === "" && !app.done
        onTriggered: app.advance()
    }

    function advance() {
        const error = session.lastError
        switch (step) {
        case "insecure":
            if (error.code === SessionError.NoError)
                return
            if (!expect(error.code === SessionError.InsecureTransport,
                        "expected InsecureTransport, got " + error.code + " " + error.message)
                    || !expect(session.state === Session.SignedOut, "not signed out"))
                return
            // Still signed out: the configuration may change.
            session.config.serverUrl = unreachableUrl
            if (!expect(String(session.config.serverUrl) === unreachableUrl, "config not written"))
                return
            go("unreachable", () => session.login("alice", "a password"))
            return
        case "unreachable":
            if (error.code === SessionError.NoError || session.busy)
                return
            if (!expect(error.code === SessionError.NetworkError,
                        "expected NetworkError, got " + error.code + " " + error.message)
                    || !expect(error.transient, "a network error is transient")
                    || !expect(session.state === Session.SignedOut, "not signed out"))
                return
            if (serverUrl === "") {
                done = true
                finished()
                return
            }
            session.config.serverUrl = serverUrl
            go("signIn", () => session.login("demo", "tessera-demo"))
            return
        case "signIn":
            if (error.code !== SessionError.NoError)
                return fail("login failed: " + error.message)
            if (session.busy || session.state !== Session.SignedIn)
                return
            if (!expect(session.user === "demo", "user " + session.user)
                    || !expect(session.accessExpiresAt > new Date(), "no access token expiry"))
                return
            go("signOut", () => session.logout())
            return
        case "signOut":
            if (error.code !== SessionError.NoError)
                return fail("logout failed: " + error.message)
            if (session.busy || session.state !== Session.SignedOut)
                return
            if (!expect(session.user === "", "user kept after logout"))
                return
            done = true
            finished()
            return
        }
    }

    Component.onCompleted: {
        if (!expect(session.state === Session.SignedOut, "a new Session is signed out")
                || !expect(session.lastError.code === SessionError.NoError, "no error yet")
                || !expect(session.config.appId === "org.example.qmlconsumer", "appId not set")
                || !expect(session.config.storagePolicy === SessionConfig.MemoryOnly,
                           "storage policy not set")
                || !expect(session.config.refreshPath === "/api/token/refresh/",
                           "default paths lost"))
            return
        // http:// to a remote host: refused before anything is sent.
        go("insecure", () => session.login("alice", "a password"))
    }
}
