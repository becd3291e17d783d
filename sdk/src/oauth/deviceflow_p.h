// SPDX-License-Identifier: MIT
// Private (exported only for the tests): the device authorization grant (RFC 8628) for devices
// without a browser and for the CLI: discovery, the device authorization request, the code the
// person types on another device (signalled to the caller), then polling the token endpoint
// until the person has signed in, refused, or the code expired. Never installed.
#pragma once

#include "../tokenendpoint_p.h"
#include "providermetadata_p.h"

#include <tessera/sessionconfig.h>

#include <QtCore/QDateTime>
#include <QtCore/QFutureWatcher>
#include <QtCore/QObject>
#include <QtCore/QPointer>
#include <QtCore/QStringList>
#include <QtCore/QTimer>
#include <QtCore/QUrl>

#include <chrono>
#include <memory>
#include <optional>

QT_BEGIN_NAMESPACE
class QNetworkAccessManager;
class QNetworkReply;
QT_END_NAMESPACE

namespace Tessera {
class DpopSigner;
}

namespace Tessera::OAuth {

class Discovery;

// Bounds on a device authorization response (RFC 8628 §3.2). Real providers answer with a few
// hundred bytes, codes of 8-64 characters, a lifetime of 5-30 minutes and an interval of 5 s.
inline constexpr qsizetype MaxDeviceAuthorizationResponseBytes = 16 * 1024;
inline constexpr qsizetype MaxDeviceCodeBytes = 4096;
inline constexpr qsizetype MaxUserCodeLength = 64;
inline constexpr qsizetype MaxVerificationUriBytes = 2048;
inline constexpr qint64 MaxDeviceCodeLifetimeSeconds = 24 * 3600;
// RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default".
inline constexpr int DefaultPollIntervalSeconds = 5;
inline constexpr int MaxPollIntervalSeconds = 300;
// RFC 8628 §3.5: slow_down adds 5 seconds "for this and all subsequent requests".
inline constexpr int SlowDownStepSeconds = 5;
// After a transport failure the next poll waits twice as long as the last (RFC 8628 §3.5:
// exponential backoff), up to this.
inline constexpr int MaxTransportBackoffSeconds = 60;

// What the person is shown: where to go and what to type, and until when.
struct TESSERA_SDK_EXPORT DeviceVerification
{
    QUrl verificationUri;         // where to type the user code (https, or http on loopback)
    QUrl verificationUriComplete; // the same page with the code in it, or empty (RFC 8628 §3.3.1)
    QString userCode;             // shown to the person only; never logged
    qint64 expiresInSeconds = 0;  // the lifetime of both codes
    QDateTime expiresAt;          // UTC, from the local clock when the response arrived
};

// A device authorization response as read (RFC 8628 §3.2).
struct TESSERA_SDK_EXPORT DeviceAuthorization
{
    Secret deviceCode; // sent to the token endpoint only; never logged
    DeviceVerification verification;
    int intervalSeconds = DefaultPollIntervalSeconds;
};

// Reads a device authorization response with the strict JSON parser (hostile input):
//  - device_code: a string of VSCHAR (%x20-7E), 1..MaxDeviceCodeBytes;
//  - user_code: a string of 1..MaxUserCodeLength printable characters;
//  - verification_uri, and verification_uri_complete when present: absolute URLs of at most
//    MaxVerificationUriBytes with a host, without credentials or fragment, https unless the
//    host is a loopback address (isTransportAllowed(): the person's browser follows them);
//  - expires_in: REQUIRED by RFC 8628 §3.2, a whole number in 1..MaxDeviceCodeLifetimeSeconds;
//  - interval: when present a whole number in 1..MaxPollIntervalSeconds, else 5.
// Unknown members are ignored. On refusal: std::nullopt and *error is InvalidResponse naming
// the member, never quoting a value.
TESSERA_SDK_EXPORT std::optional<DeviceAuthorization>
parseDeviceAuthorizationResponse(QByteArrayView body, Error *error);

class TESSERA_SDK_EXPORT DeviceFlow : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        QString clientId;
        QStringList scopes = {QStringLiteral("openid"), QStringLiteral("offline_access")};
        // The session's DPoP side (outlives the flow), null for none: when DPoP is on for the
        // provider, the device access token request carries a proof of the session's key.
        DpopSigner *dpop = nullptr;
    };

    // `discovery` (the session's: its metadata is cached) and `transport` (timeouts, pins, CAs
    // of every request) are used as CodeFlow uses them; `discovery` outlives the flow.
    DeviceFlow(Discovery &discovery, const SessionConfig &transport, const Options &options,
               QObject *parent = nullptr);
    ~DeviceFlow() override;

    // Runs once: discovery (InvalidConfiguration when the provider has no
    // device_authorization_endpoint), the device authorization request (client_id, scope),
    // verificationReady(), then polls the token endpoint every interval until it answers
    // with tokens or an error other than authorization_pending / slow_down, or the codes
    // expire. Ends with finished().
    void start();
    // Ends the flow with Cancelled at once: a request in flight is dropped, no further poll.
    void cancel();

    const std::optional<ProviderMetadata> &metadata() const { return m_metadata; }
    // Token requests sent so far, and the interval the next one waits (slow_down raises it).
    int pollCount() const { return m_pollCount; }
    std::chrono::seconds pollInterval() const { return std::chrono::seconds(m_intervalSeconds); }

    bool isFinished() const { return m_finished; }
    // After finished(): Issued with the tokens (the ID token, unverified, in tokens.idToken;
    // the request carried no nonce), Rejected (access_denied: AccessDenied; invalid_grant:
    // InvalidCredentials), or Failed: discovery's errors, InvalidConfiguration (no device
    // endpoint; the provider refused the client or scope), InvalidResponse (an unusable device
    // authorization response), Timeout (expired_token, or the codes' lifetime ran out locally),
    // Cancelled, the device authorization request's transport errors, the token endpoint's
    // fatal failures. Taken once.
    TokenOutcome takeOutcome() { return std::move(m_outcome); }

Q_SIGNALS:
    // Show `verification` to the person (and open verificationUriComplete if there is a
    // browser). Polling has started.
    void verificationReady(const Tessera::OAuth::DeviceVerification &verification, QPrivateSignal);
    // Emitted once, from the event loop, whatever the outcome.
    void finished(QPrivateSignal);

private:
    void onMetadata();
    void requestDeviceAuthorization();
    void onDeviceAuthorizationReply();
    void schedulePoll(int delaySeconds);
    void poll();
    void onPollAnswer(TokenOutcome outcome);
    void dropRequests();
    void finish(TokenOutcome outcome);
    void fail(const Error &error) { finish(TokenOutcome::failed(error)); }

    Discovery &m_discovery;
    const SessionConfig m_transport;
    const Options m_options;
    QFutureWatcher<ProviderMetadata> m_metadataWatcher;
    std::optional<ProviderMetadata> m_metadata;
    std::unique_ptr<QNetworkAccessManager> m_network;
    QPointer<QNetworkReply> m_deviceReply;
    std::unique_ptr<TokenEndpoint> m_endpoint;
    Secret m_deviceCode;
    QTimer m_pollTimer;
    QTimer m_expiryTimer;
    int m_intervalSeconds = DefaultPollIntervalSeconds;
    int m_transportFailures = 0;
    int m_pollCount = 0;
    bool m_pollInFlight = false;
    bool m_started = false;
    bool m_finished = false;
    TokenOutcome m_outcome;
};

} // namespace Tessera::OAuth
