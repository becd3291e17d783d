// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/error.h>
#include <tessera/secret.h>
#include <tessera/sessionconfig.h>
#include <tessera/tessera_sdk_export.h>

#include <QtCore/QDateTime>
#include <QtCore/QFuture>
#include <QtCore/QObject>

#include <memory>

namespace Tessera {

class SessionPrivate;

// One signed-in account on one server: logs in, keeps the refresh token in
// secure storage and the access token in memory, refreshes before expiry and
// after a 401 (one refresh at a time, also across processes of the same app and
// account), and revokes on logout. Lives on one thread; no call blocks.
//
// Every operation a caller starts returns a QFuture: it finishes when the operation
// succeeded, or fails with Tessera::ErrorException holding the Error (see docs/SDK.md):
//
//     session->login(user, password)
//             .then(window, [window] { window->showMain(); })
//             .onFailed(window, [window](const Tessera::ErrorException &e) {
//                 window->showError(e.error().message());
//             });
//
// A failure is reported once, by the future of the operation that met it. errorOccurred()
// is for what no caller waits on: a proactive refresh or a retry, a storage problem after a
// success. lastError() holds the latest failure of either kind for a UI to bind to.
//
// QML uses this class itself (`import Tessera`, sdk/qml): its properties, State, and
// login(), restore(), logout(), signInWithBrowser() and signInWithDevice() (with the signals
// that carry what the person must see), whose outcome QML reads from state and lastError (QML
// has no use for the future). freshAccessToken() is not callable from QML: no token ever is.
class TESSERA_SDK_EXPORT Session : public QObject
{
    Q_OBJECT
    Q_PROPERTY(State state READ state NOTIFY stateChanged)
    Q_PROPERTY(QString user READ user NOTIFY userChanged)
    Q_PROPERTY(QDateTime accessExpiresAt READ accessExpiresAt NOTIFY accessExpiresAtChanged)
    Q_PROPERTY(Tessera::Error lastError READ lastError NOTIFY lastErrorChanged)
    Q_PROPERTY(bool busy READ isBusy NOTIFY busyChanged)
    Q_PROPERTY(Tessera::SessionConfig config READ config WRITE setConfig NOTIFY configChanged)

public:
    enum class State {
        SignedOut,
        SigningIn,
        SignedIn, // a refresh token is held; the access token may be momentarily stale
        Refreshing,
        ReauthRequired, // the server rejected the refresh token: sign in again
    };
    Q_ENUM(State)

    // Signed out, with no configuration yet: setConfig() before the first operation
    // (which fails with InvalidConfiguration until then).
    explicit Session(QObject *parent = nullptr);
    explicit Session(const SessionConfig &config, QObject *parent = nullptr);
    // Operations still running, and requests of an AuthenticatedNetworkAccessManager waiting
    // for a token, fail with Cancelled before the session goes.
    ~Session() override;

    SessionConfig config() const;
    // Takes effect while SignedOut or ReauthRequired (then the state becomes SignedOut) and
    // nothing runs. Otherwise (an operation, a refresh or a request waiting for one, or the
    // removal of a rejected refresh token from storage) the configuration is kept:
    // lastError() becomes Cancelled and a warning is logged.
    void setConfig(const SessionConfig &config);

    State state() const;
    QString user() const;
    // Local time at which the access token expires (corrected for server clock skew).
    QDateTime accessExpiresAt() const;
    // The latest failure: of an operation (cleared when the next one starts) or of
    // background work. NoError when there is none.
    Error lastError() const;
    bool isBusy() const;
    // DPoP (RFC 9449, SessionConfig::DpopPolicy): whether the access token in memory is bound
    // to the session's key (the server answered token_type DPoP), and the key's RFC 7638
    // thumbprint, the "jkt" the server binds to (empty when the session has no key). Neither
    // is secret: the thumbprint names the public key only.
    bool isDpopBound() const;
    QString dpopKeyThumbprint() const;

    // SimpleJWT profile: sends the credentials once; the password is not kept. On success the
    // refresh token is in secure storage before the state becomes SignedIn. For the OAuth
    // profile it fails with InvalidConfiguration (no password grant: RFC 9700 §2.4).
    Q_INVOKABLE QFuture<void> login(const QString &username, const QString &password);
    // OAuth profile: signs in through the system browser (authorization code with PKCE,
    // RFC 8252). Discovers the issuer (once per configuration), listens on a loopback port and
    // emits browserSignInRequested() with the URL to open; the redirect's code is exchanged,
    // the ID token validated (signature, issuer, audience, nonce, expiry) and the user named by
    // its preferred_username (else sub); the ID token is not kept. The refresh token is in
    // secure storage before the state becomes SignedIn. Fails with InvalidConfiguration for a
    // SimpleJWT configuration, AccessDenied when the person declined, Timeout after
    // SessionConfig::browserTimeout(), Cancelled after cancelSignIn(), InvalidResponse for a
    // redirect or ID token that fails a check, and discovery's or the token endpoint's errors.
    Q_INVOKABLE QFuture<void> signInWithBrowser();
    // OAuth profile: signs in with the device authorization grant (RFC 8628), for devices
    // without a browser and for command lines. Discovers the issuer (once per configuration),
    // asks for a device code and emits deviceSignInRequested() with what the person must see
    // to sign in on another device, then polls the token endpoint at the provider's interval
    // (at least 5 s) until the person has signed in or refused, or the code expired. The ID
    // token is validated as for signInWithBrowser() (the request carries no nonce, so none is
    // checked) and not kept; the refresh token is in secure storage before the state becomes
    // SignedIn. Fails with InvalidConfiguration for a SimpleJWT configuration or a provider
    // without a device_authorization_endpoint, AccessDenied when the person refused, Timeout
    // when the code expired, Cancelled after cancelSignIn(), InvalidResponse for an answer or
    // ID token that fails a check, and discovery's or the token endpoint's errors.
    Q_INVOKABLE QFuture<void> signInWithDevice();
    // Ends a signInWithBrowser() (the loopback listener closes) or signInWithDevice() (no
    // further poll) in flight with Cancelled.
    Q_INVOKABLE void cancelSignIn();
    // OpenID Connect RP-Initiated Logout: the provider's end_session_endpoint with client_id
    // (and post_logout_redirect_uri when given), for an app that also wants to end the
    // person's session in the browser (open it after logout()). Empty for SimpleJWT, before
    // the issuer was discovered (a sign-in or restore does that), or when the provider has no
    // such endpoint. Carries no id_token_hint: the ID token is not kept. Not callable from QML,
    // where nothing callable returns a value.
    QUrl endSessionUrl(const QUrl &postLogoutRedirectUri = QUrl()) const;
    // Signs in from secure storage alone: the account last signed in for this
    // app and server (or `username`), then one refresh.
    Q_INVOKABLE QFuture<void> restore(const QString &username = QString());
    // Revokes server-side (OAuth: RFC 7009 at the provider's revocation endpoint), deletes
    // the storage entry and wipes memory. Local
    // state is cleared even when the server cannot be reached: the future then
    // fails with RevokeFailed.
    Q_INVOKABLE QFuture<void> logout();

    // A valid access token, refreshed first when needed; NotSignedIn (or SessionRejected,
    // InvalidConfiguration) when none can be had. For callers with their own HTTP stack;
    // prefer AuthenticatedNetworkAccessManager. Secret is move-only: take it in a
    // continuation `.then(ctx, [](Tessera::Secret token) { ... })` or with takeResult(),
    // once; QFuture::result() does not compile for it.
    QFuture<Secret> freshAccessToken();

Q_SIGNALS:
    void stateChanged(Tessera::Session::State state, QPrivateSignal);
    void userChanged(QPrivateSignal);
    void accessExpiresAtChanged(QPrivateSignal);
    void busyChanged(QPrivateSignal);
    void lastErrorChanged(QPrivateSignal);
    void configChanged(QPrivateSignal);
    // A failure no caller waits on: a proactive or retried refresh, or a storage problem
    // after an operation succeeded (a rotated token held in memory only).
    void errorOccurred(const Tessera::Error &error, QPrivateSignal);
    // signInWithBrowser(): open `url` in the system browser. The loopback listener already
    // waits. Connect an opener: QDesktopServices::openUrl in apps with QtGui, else
    // Tessera::openInSystemBrowser(). The URL carries no secret (PKCE keeps the verifier here)
    // but should not be logged either: it names the sign-in's state.
    void browserSignInRequested(const QUrl &url, QPrivateSignal);
    // signInWithDevice(): show the person `userCode` and `verificationUri` (where to type it,
    // on a phone or computer), until `expiresAt` (UTC). `verificationUriComplete` is the same
    // page with the code in it (empty when the provider gives none): open it when this device
    // has a browser, or show it as a QR code. Polling has started. The user code is for the
    // person's eyes: do not log it.
    void deviceSignInRequested(const QUrl &verificationUri, const QUrl &verificationUriComplete,
                               const QString &userCode, const QDateTime &expiresAt, QPrivateSignal);

private:
    friend class SessionPrivate;
    std::unique_ptr<SessionPrivate> d;
};

// Opens `url` in the system browser without blocking: the command in $BROWSER when set (run
// directly with the URL as its single argument, no shell), else xdg-open (macOS: open;
// Windows: the URL's handler through explorer). Started detached; false when it could not be
// started. For apps without QtGui; apps with it may use QDesktopServices::openUrl instead.
TESSERA_SDK_EXPORT bool openInSystemBrowser(const QUrl &url);

} // namespace Tessera
