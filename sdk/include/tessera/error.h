// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/tessera_sdk_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QException>
#include <QtCore/QFuture>
#include <QtCore/QMetaType>
#include <QtCore/QObject>
#include <QtCore/QString>

QT_BEGIN_NAMESPACE
class QDebug;
QT_END_NAMESPACE

namespace Tessera {

// The one error type of the SDK: what went wrong (code), a human message, the
// server's stable `code` when the server sent one, and whether retrying later
// can help (transient) or the user must act (fatal).
class TESSERA_SDK_EXPORT Error
{
    Q_GADGET
    Q_PROPERTY(Code code READ code)
    Q_PROPERTY(QString message READ message)
    Q_PROPERTY(QString serverCode READ serverCode)
    Q_PROPERTY(bool transient READ isTransient)

public:
    enum class Code {
        NoError,
        // Configuration and transport policy (fatal)
        InvalidConfiguration,
        InsecureTransport, // http:// to a host that is not loopback
        TlsError,          // certificate or handshake failure; never ignored
        PinMismatch,       // the server key matches none of the configured SPKI pins
        // Network and server (transient)
        NetworkError,
        Timeout,
        ServerError, // 5xx, or a response that could not be read (truncated, malformed)
        RateLimited, // 429
        // Authentication (fatal)
        InvalidCredentials, // login refused
        SessionRejected,    // refresh token rejected, revoked or reused: sign in again
        Unauthorized,       // a request was still refused after a refresh and one retry
        NotSignedIn,
        // Secure storage
        StorageUnavailable,  // no secure storage (no D-Bus, no Secret Service): fatal
        StorageLocked,       // transient: the user can unlock it
        StorageAccessDenied, // fatal
        StorageTooLarge,     // fatal
        StorageFailure,      // fatal
        // Logout
        RevokeFailed, // local state was cleared, but the server could not be told
        Cancelled,    // ended by the caller (cancel, sign-out, destruction) before it finished
        // Browser sign-in (OAuth 2.0 authorization response)
        AccessDenied,    // fatal: the user or the provider refused the sign-in (the redirect's
                         // `error`, e.g. access_denied, is serverCode)
        InvalidResponse, // fatal: a response failed a security check (RFC 9207 `iss` missing
                         // or naming another issuer: a mix-up); never retried
        // DPoP (RFC 9449)
        DpopNotBound, // fatal: SessionConfig::DpopPolicy::Required, and the server issued a
                      // token that is not bound to the key (token_type is not DPoP)
    };
    Q_ENUM(Code)

    Error() = default;
    Error(Code code, const QString &message, const QString &serverCode = {});

    Code code() const { return m_code; }
    QString message() const { return m_message; }
    QString serverCode() const { return m_serverCode; }
    bool isError() const { return m_code != Code::NoError; }
    explicit operator bool() const { return isError(); }

    bool isTransient() const { return isTransient(m_code); }
    static bool isTransient(Code code);

    friend bool operator==(const Error &a, const Error &b)
    {
        return a.m_code == b.m_code && a.m_message == b.m_message
                && a.m_serverCode == b.m_serverCode;
    }
    friend bool operator!=(const Error &a, const Error &b) { return !(a == b); }

private:
    Code m_code = Code::NoError;
    QString m_message;
    QString m_serverCode;
};

TESSERA_SDK_EXPORT QDebug operator<<(QDebug debug, const Error &error);

// How a failed operation of the SDK reaches its QFuture (Session::login() and the others):
// the future fails with this exception, which holds the Error. Catch it with
// `.onFailed(context, [](const Tessera::ErrorException &e) { ... e.error() ... })`, or read
// a finished future with errorOf(). raise() and clone() keep the type when QFuture stores
// and rethrows it.
class TESSERA_SDK_EXPORT ErrorException : public QException
{
public:
    explicit ErrorException(const Error &error);

    const Error &error() const noexcept { return m_error; }
    // The error's message (UTF-8). Messages never hold a token or a password.
    const char *what() const noexcept override;

    void raise() const override;
    ErrorException *clone() const override;

private:
    Error m_error;
    QByteArray m_what;
};

// The Error a finished future of the SDK carries, for callers that do not handle exceptions:
// NoError when the operation succeeded, its ErrorException's error when it failed, Cancelled
// when the future was cancelled or failed otherwise. Meant for a finished future: one still
// running gives Cancelled ("has not finished") without waiting.
TESSERA_SDK_EXPORT Error errorOf(const QFuture<void> &future);

template<typename T> Error errorOf(const QFuture<T> &future)
{
    return errorOf(QFuture<void>(future));
}

} // namespace Tessera

Q_DECLARE_METATYPE(Tessera::Error)
