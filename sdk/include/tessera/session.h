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
class TESSERA_SDK_EXPORT Session : public QObject
{
    Q_OBJECT
    Q_PROPERTY(State state READ state NOTIFY stateChanged)
    Q_PROPERTY(QString user READ user NOTIFY userChanged)
    Q_PROPERTY(QDateTime accessExpiresAt READ accessExpiresAt NOTIFY accessExpiresAtChanged)
    Q_PROPERTY(Tessera::Error lastError READ lastError NOTIFY errorOccurred)
    Q_PROPERTY(bool busy READ isBusy NOTIFY busyChanged)
    Q_PROPERTY(int refreshCount READ refreshCount NOTIFY refreshCountChanged)

public:
    enum class State {
        SignedOut,
        SigningIn,
        SignedIn, // a refresh token is held; the access token may be momentarily stale
        Refreshing,
        ReauthRequired, // the server rejected the refresh token: sign in again
    };
    Q_ENUM(State)

    enum class Operation { Login, Restore, Logout };
    Q_ENUM(Operation)

    explicit Session(const SessionConfig &config, QObject *parent = nullptr);
    ~Session() override;

    SessionConfig config() const;
    State state() const;
    QString user() const;
    // Local time at which the access token expires (corrected for server clock skew).
    QDateTime accessExpiresAt() const;
    Error lastError() const;
    bool isBusy() const;
    int refreshCount() const;

    // Sends the credentials once; the password is not kept. On success the
    // refresh token is in secure storage before the state becomes SignedIn.
    void login(const QString &username, const QString &password);
    // Signs in from secure storage alone: the account last signed in for this
    // app and server (or `username`), then one refresh.
    void restore(const QString &username = QString());
    // Revokes server-side, deletes the storage entry and wipes memory. Local
    // state is cleared even when the server cannot be reached (RevokeFailed).
    void logout();

    // A valid access token, refreshed first when needed. For callers with
    // their own HTTP stack; prefer AuthenticatedNetworkAccessManager. The
    // future fails (QFuture::isCanceled) when no token can be had; lastError()
    // then says why. Take the value with QFuture::takeResult().
    QFuture<Secret> freshAccessToken();

Q_SIGNALS:
    void stateChanged(Tessera::Session::State state);
    void userChanged();
    void accessExpiresAtChanged();
    void busyChanged();
    void refreshCountChanged();
    // Every error, including those of background refreshes.
    void errorOccurred(const Tessera::Error &error);
    // login(), restore() or logout() is complete; `error` is NoError on success.
    void finished(Tessera::Session::Operation operation, const Tessera::Error &error,
                  QPrivateSignal);

private:
    friend class SessionPrivate;
    friend class AuthenticatedReply;
    std::unique_ptr<SessionPrivate> d;
};

} // namespace Tessera
