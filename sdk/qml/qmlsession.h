// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/session.h>
#include <tessera/tessera_qml_export.h>

#include <QtCore/QDateTime>
#include <QtCore/QObject>
#include <QtCore/QPointer>
#include <QtCore/QUrl>
#include <QtQml/QQmlParserStatus>
#include <QtQml/qqmlregistration.h>

namespace Tessera {

class AuthenticatedNetworkAccessManager;

namespace Qml {

// The QML face of Tessera::Session (`import Tessera` ... `Session { }`).
//
// Configure it with serverUrl, appId and memoryOnly; the C++ session behind it
// is created at the first login()/restore() and re-created when the
// configuration changed while signed out. QML sees state, user, expiresAt,
// busy, errorString and refreshCount. No token is a property, a return value or
// a signal argument here: tokens stay inside the SDK, and requests from QML get
// them through the network access manager factory (qmlnetwork.h).
class TESSERA_QML_EXPORT QmlSession : public QObject, public QQmlParserStatus
{
    Q_OBJECT
    Q_INTERFACES(QQmlParserStatus)
    QML_NAMED_ELEMENT(Session)

    // Configuration
    Q_PROPERTY(QUrl serverUrl READ serverUrl WRITE setServerUrl NOTIFY serverUrlChanged)
    Q_PROPERTY(QString appId READ appId WRITE setAppId NOTIFY appIdChanged)
    Q_PROPERTY(bool memoryOnly READ memoryOnly WRITE setMemoryOnly NOTIFY memoryOnlyChanged)

    // State
    Q_PROPERTY(State state READ state NOTIFY stateChanged)
    Q_PROPERTY(QString stateName READ stateName NOTIFY stateChanged)
    Q_PROPERTY(bool signedIn READ isSignedIn NOTIFY stateChanged)
    Q_PROPERTY(QString user READ user NOTIFY userChanged)
    Q_PROPERTY(QDateTime expiresAt READ expiresAt NOTIFY expiresAtChanged)
    Q_PROPERTY(bool busy READ isBusy NOTIFY busyChanged)
    Q_PROPERTY(int refreshCount READ refreshCount NOTIFY refreshCountChanged)

    // The last error (Error::message()), its code name (e.g. "InvalidCredentials")
    // and whether retrying later can help. Cleared when an operation starts.
    Q_PROPERTY(QString errorString READ errorString NOTIFY errorChanged)
    Q_PROPERTY(QString errorCode READ errorCode NOTIFY errorChanged)
    Q_PROPERTY(bool errorTransient READ isErrorTransient NOTIFY errorChanged)

public:
    enum class State {
        SignedOut = int(Tessera::Session::State::SignedOut),
        SigningIn = int(Tessera::Session::State::SigningIn),
        SignedIn = int(Tessera::Session::State::SignedIn),
        Refreshing = int(Tessera::Session::State::Refreshing),
        ReauthRequired = int(Tessera::Session::State::ReauthRequired),
    };
    Q_ENUM(State)

    enum class Operation { Login, Restore, Logout };
    Q_ENUM(Operation)

    explicit QmlSession(QObject *parent = nullptr);
    ~QmlSession() override;

    QUrl serverUrl() const { return m_serverUrl; }
    void setServerUrl(const QUrl &url);
    QString appId() const { return m_appId; }
    void setAppId(const QString &appId);
    bool memoryOnly() const { return m_memoryOnly; }
    void setMemoryOnly(bool memoryOnly);

    State state() const;
    QString stateName() const;
    bool isSignedIn() const;
    QString user() const;
    QDateTime expiresAt() const;
    bool isBusy() const;
    int refreshCount() const;
    QString errorString() const { return m_error.message(); }
    QString errorCode() const;
    bool isErrorTransient() const { return m_error.isError() && m_error.isTransient(); }

    // The configuration the next session is created with.
    SessionConfig config() const;

    // C++ only (not reachable from QML): the SDK session, created on first use
    // from the current configuration. For app code that needs the full C++ API.
    Tessera::Session *session();
    // C++ only: the SDK session if one was created yet (never creates one).
    Tessera::Session *currentSession() const { return m_session; }
    // C++ only: the session's authenticated network access manager (created on
    // first use, re-created with the session). Owned by this object.
    AuthenticatedNetworkAccessManager *networkAccessManager();

    // Sends the credentials once; the password is not kept.
    Q_INVOKABLE void login(const QString &username, const QString &password);
    // Signs in from secure storage (the last account, or `username`).
    Q_INVOKABLE void restore(const QString &username = QString());
    // Revokes server-side, deletes the stored token, wipes memory.
    Q_INVOKABLE void logout();
    Q_INVOKABLE void clearError();

    // QQmlParserStatus
    void classBegin() override { }
    void componentComplete() override;

Q_SIGNALS:
    void serverUrlChanged();
    void appIdChanged();
    void memoryOnlyChanged();
    void stateChanged();
    void userChanged();
    void expiresAtChanged();
    void busyChanged();
    void refreshCountChanged();
    void errorChanged();
    // Every error, including those of background refreshes.
    void errorOccurred(const QString &errorString, const QString &errorCode);
    // login(), restore() or logout() is complete.
    void finished(Tessera::Qml::QmlSession::Operation operation, bool success,
                  const QString &errorString);

private:
    void configChanged();
    void ensureSession();
    void setError(const Tessera::Error &error);
    // Emits finished() (and the error) when the operation's future is done.
    void watch(Operation operation, QFuture<void> future);

    QUrl m_serverUrl;
    QString m_appId;
    bool m_memoryOnly = false;
    bool m_configDirty = true;
    Tessera::Session *m_session = nullptr;
    AuthenticatedNetworkAccessManager *m_network = nullptr;
    Tessera::Error m_error;
    // Refreshes of the current session: access tokens that arrived while it was Refreshing.
    int m_refreshCount = 0;
};

} // namespace Qml
} // namespace Tessera
