// SPDX-License-Identifier: MIT
#include "deviceflow_p.h"

#include "../dpopsigner_p.h"

#include "../logging_p.h"
#include "../transport_p.h"
#include "discovery_p.h"
#include "oauthtokenendpoint_p.h"
#include "oauthtokenresponse_p.h"

#include <tessera/strictjson.h>

#include <QtCore/QJsonObject>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>

#include <algorithm>
#include <cmath>

namespace Tessera::OAuth {
namespace {

Error invalid(const QString &problem)
{
    return {Error::Code::InvalidResponse,
            QStringLiteral("unusable device authorization response: %1").arg(problem)};
}

// A whole JSON number in [min, max]; nullopt otherwise (also for 5.5, "5", 1e400).
std::optional<qint64> wholeNumber(const QJsonValue &value, qint64 min, qint64 max)
{
    if (!value.isDouble())
        return std::nullopt;
    const double number = value.toDouble();
    if (!std::isfinite(number) || number != std::floor(number) || number < double(min)
        || number > double(max))
        return std::nullopt;
    return qint64(number);
}

// A verification URI the person's browser is sent to: the SDK's transport policy applies.
std::optional<QUrl> verificationUrl(const QJsonValue &value)
{
    if (!value.isString())
        return std::nullopt;
    const QString text = value.toString();
    if (text.isEmpty() || text.toUtf8().size() > MaxVerificationUriBytes)
        return std::nullopt;
    const QUrl url(text, QUrl::StrictMode);
    if (!url.isValid() || url.isRelative() || url.host().isEmpty() || !url.userInfo().isEmpty()
        || url.hasFragment() || !isTransportAllowed(url))
        return std::nullopt;
    return url;
}

bool isUserCode(const QString &code)
{
    if (code.isEmpty() || code.size() > MaxUserCodeLength)
        return false;
    return std::all_of(code.cbegin(), code.cend(), [](QChar c) { return c.isPrint(); });
}

bool isDeviceCode(QByteArrayView code)
{
    if (code.isEmpty() || code.size() > MaxDeviceCodeBytes)
        return false;
    return std::all_of(code.begin(), code.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

// An RFC 6749 §5.2 error from the device authorization endpoint (RFC 8628 §3.2).
Error deviceAuthorizationError(const OAuthError &error)
{
    const QString &code = error.error;
    QString text = QStringLiteral("device authorization: the provider answered error %1").arg(code);
    if (!error.description.isEmpty())
        text += QStringLiteral(" (\"%1\")").arg(error.description);
    if (code == u"invalid_client" || code == u"unauthorized_client" || code == u"invalid_scope"
        || code == u"invalid_request" || code == u"unsupported_grant_type")
        return {Error::Code::InvalidConfiguration,
                text + QStringLiteral(": check the client id, its allowed grants and the scope"),
                code};
    return {Error::Code::ServerError, text, code};
}

} // namespace

std::optional<DeviceAuthorization> parseDeviceAuthorizationResponse(QByteArrayView body,
                                                                    Error *error)
{
    if (body.size() > MaxDeviceAuthorizationResponseBytes) {
        *error = invalid(QStringLiteral("too large"));
        return std::nullopt;
    }
    QString jsonProblem;
    const std::optional<QJsonObject> object = Jose::parseJsonObject(body, &jsonProblem);
    if (!object) {
        *error = invalid(QStringLiteral("not one strict JSON object (%1)").arg(jsonProblem));
        return std::nullopt;
    }
    DeviceAuthorization result;
    const QJsonValue deviceCode = object->value(QStringLiteral("device_code"));
    QByteArray deviceCodeBytes =
            deviceCode.isString() ? deviceCode.toString().toUtf8() : QByteArray();
    if (!isDeviceCode(deviceCodeBytes)) {
        secureWipe(deviceCodeBytes);
        *error = invalid(QStringLiteral("device_code is missing, too long or has invalid "
                                        "characters"));
        return std::nullopt;
    }
    result.deviceCode = Secret(deviceCodeBytes);
    secureWipe(deviceCodeBytes);

    const QJsonValue userCode = object->value(QStringLiteral("user_code"));
    if (!userCode.isString() || !isUserCode(userCode.toString())) {
        *error = invalid(QStringLiteral("user_code is missing, not a string of 1..%1 printable "
                                        "characters")
                                 .arg(MaxUserCodeLength));
        return std::nullopt;
    }
    result.verification.userCode = userCode.toString();

    const std::optional<QUrl> uri =
            verificationUrl(object->value(QStringLiteral("verification_uri")));
    if (!uri) {
        *error = invalid(QStringLiteral("verification_uri is missing or not an absolute https "
                                        "URL (http only for loopback hosts)"));
        return std::nullopt;
    }
    result.verification.verificationUri = *uri;
    const QJsonValue complete = object->value(QStringLiteral("verification_uri_complete"));
    if (!complete.isUndefined()) {
        const std::optional<QUrl> completeUri = verificationUrl(complete);
        if (!completeUri) {
            *error = invalid(QStringLiteral("verification_uri_complete is not an absolute https "
                                            "URL (http only for loopback hosts)"));
            return std::nullopt;
        }
        result.verification.verificationUriComplete = *completeUri;
    }

    const std::optional<qint64> expiresIn = wholeNumber(object->value(QStringLiteral("expires_in")),
                                                        1, MaxDeviceCodeLifetimeSeconds);
    if (!expiresIn) {
        *error = invalid(QStringLiteral("expires_in is missing or not a whole number of seconds "
                                        "in 1..%1")
                                 .arg(MaxDeviceCodeLifetimeSeconds));
        return std::nullopt;
    }
    result.verification.expiresInSeconds = *expiresIn;
    result.verification.expiresAt = QDateTime::currentDateTimeUtc().addSecs(*expiresIn);

    const QJsonValue interval = object->value(QStringLiteral("interval"));
    if (!interval.isUndefined()) {
        const std::optional<qint64> seconds = wholeNumber(interval, 1, MaxPollIntervalSeconds);
        if (!seconds) {
            *error = invalid(QStringLiteral("interval is not a whole number of seconds in 1..%1")
                                     .arg(MaxPollIntervalSeconds));
            return std::nullopt;
        }
        result.intervalSeconds = int(*seconds);
    }
    return result;
}

DeviceFlow::DeviceFlow(Discovery &discovery, const SessionConfig &transport, const Options &options,
                       QObject *parent)
    : QObject(parent)
    , m_discovery(discovery)
    , m_transport(transport)
    , m_options(options)
{
    connect(&m_metadataWatcher, &QFutureWatcherBase::finished, this, &DeviceFlow::onMetadata);
    // RFC 8628 §3.5: "MUST wait at least the number of seconds specified by the interval";
    // a coarse timer may fire up to 5 % early.
    m_pollTimer.setSingleShot(true);
    m_pollTimer.setTimerType(Qt::PreciseTimer);
    connect(&m_pollTimer, &QTimer::timeout, this, &DeviceFlow::poll);
    m_expiryTimer.setSingleShot(true);
    m_expiryTimer.setTimerType(Qt::PreciseTimer);
    connect(&m_expiryTimer, &QTimer::timeout, this, [this] {
        dropRequests();
        fail({Error::Code::Timeout,
              QStringLiteral("device sign-in: the codes expired before the sign-in was "
                             "completed; start again")});
    });
}

DeviceFlow::~DeviceFlow()
{
    m_metadataWatcher.disconnect(this);
    if (m_deviceReply) {
        m_deviceReply->disconnect(this);
        m_deviceReply->abort();
    }
}

void DeviceFlow::start()
{
    if (m_started)
        return;
    m_started = true;
    if (m_options.clientId.isEmpty())
        return fail({Error::Code::InvalidConfiguration, QStringLiteral("no client id configured")});
    qCInfo(lcSession) << "device sign-in started";
    m_metadataWatcher.setFuture(m_discovery.metadata());
}

void DeviceFlow::cancel()
{
    if (m_finished)
        return;
    dropRequests();
    fail({Error::Code::Cancelled, QStringLiteral("the device sign-in was cancelled")});
}

void DeviceFlow::onMetadata()
{
    const QFuture<ProviderMetadata> future = m_metadataWatcher.future();
    const Error error = errorOf(future);
    if (error.isError())
        return fail(error);
    m_metadata = future.result();
    if (m_metadata->deviceAuthorizationEndpoint.isEmpty())
        return fail({Error::Code::InvalidConfiguration,
                     QStringLiteral("the provider %1 does not offer the device authorization "
                                    "grant (no device_authorization_endpoint)")
                             .arg(m_metadata->issuer)});
    const bool dpop = m_options.dpop
            && DpopSigner::isEnabled(m_transport.dpopPolicy(),
                                     m_metadata->dpopSigningAlgValuesSupported);
    m_endpoint = createOAuthTokenEndpoint(
            m_transport,
            {m_options.clientId, m_metadata->tokenEndpoint, m_metadata->revocationEndpoint, dpop},
            m_options.dpop);
    requestDeviceAuthorization();
}

// RFC 8628 §3.1: a form POST with client_id and scope, as a token request is sent.
void DeviceFlow::requestDeviceAuthorization()
{
    m_network = std::make_unique<QNetworkAccessManager>();
    m_network->setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
    QNetworkRequest request(m_metadata->deviceAuthorizationEndpoint);
    Transport::prepareRequest(request, m_transport);
    request.setHeader(QNetworkRequest::ContentTypeHeader,
                      QByteArrayLiteral("application/x-www-form-urlencoded"));
    request.setRawHeader("Accept", "application/json");
    const QByteArray clientId = m_options.clientId.toUtf8();
    const QByteArray scope = m_options.scopes.join(u' ').toUtf8();
    QList<std::pair<QByteArray, QByteArrayView>> fields = {{"client_id", clientId}};
    if (!scope.isEmpty())
        fields.append({"scope", scope});
    m_deviceReply = m_network->post(request, formEncode(fields));
    Transport::watchReply(m_deviceReply, m_transport, MaxDeviceAuthorizationResponseBytes);
    connect(m_deviceReply, &QNetworkReply::finished, this, &DeviceFlow::onDeviceAuthorizationReply);
}

void DeviceFlow::onDeviceAuthorizationReply()
{
    QNetworkReply *reply = m_deviceReply;
    m_deviceReply = nullptr;
    reply->deleteLater();
    const QString what = QStringLiteral("device authorization");
    if (Transport::replyError(reply).isError())
        return fail(Transport::transportOrServerError(reply, what));
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const bool json = Transport::mediaTypeOf(reply) == "application/json";
    QByteArray body = reply->readAll();
    if (status == 200) {
        if (!json) {
            secureWipe(body);
            return fail(invalid(QStringLiteral("not application/json")));
        }
        Error error;
        std::optional<DeviceAuthorization> authorization =
                parseDeviceAuthorizationResponse(body, &error);
        secureWipe(body);
        if (!authorization)
            return fail(error);
        m_deviceCode = std::move(authorization->deviceCode);
        m_intervalSeconds = authorization->intervalSeconds;
        m_expiryTimer.start(std::chrono::seconds(authorization->verification.expiresInSeconds));
        qCInfo(lcSession) << "device sign-in: waiting for the person at"
                          << authorization->verification.verificationUri.host() << "for"
                          << authorization->verification.expiresInSeconds << "s, polling every"
                          << m_intervalSeconds << "s";
        schedulePoll(m_intervalSeconds);
        emit verificationReady(authorization->verification, QPrivateSignal());
        return;
    }
    if ((status == 400 || status == 401) && json) {
        if (const auto error = parseOAuthError(body))
            return fail(deviceAuthorizationError(*error));
    }
    const Error failure = Transport::transportOrServerError(reply, what);
    if (failure.isError())
        return fail(failure);
    fail({Error::Code::ServerError,
          QStringLiteral("%1: unexpected HTTP status %2 without an OAuth error")
                  .arg(what)
                  .arg(status)});
}

void DeviceFlow::schedulePoll(int delaySeconds)
{
    m_pollTimer.start(std::chrono::seconds(delaySeconds));
}

void DeviceFlow::poll()
{
    if (m_finished || m_pollInFlight)
        return;
    m_pollInFlight = true;
    ++m_pollCount;
    m_endpoint->exchangeDeviceCode(
            m_deviceCode, [this](TokenOutcome outcome) { onPollAnswer(std::move(outcome)); });
}

void DeviceFlow::onPollAnswer(TokenOutcome outcome)
{
    m_pollInFlight = false;
    if (m_finished)
        return;
    const QString serverCode = outcome.error.serverCode();
    if (outcome.kind == TokenOutcome::Kind::Failed) {
        if (serverCode == u"authorization_pending") {
            m_transportFailures = 0;
            return schedulePoll(m_intervalSeconds);
        }
        if (serverCode == u"slow_down") {
            m_transportFailures = 0;
            m_intervalSeconds += SlowDownStepSeconds;
            qCInfo(lcSession) << "device sign-in: the provider asked to slow down; polling every"
                              << m_intervalSeconds << "s";
            return schedulePoll(m_intervalSeconds);
        }
        // RFC 8628 §3.5: on a connection failure, poll less often rather than give up; the
        // codes' lifetime still ends the flow. An OAuth error code other than the two above
        // ends it (a 5xx or a timeout carries none).
        const Error::Code code = outcome.error.code();
        const bool transient = serverCode.isEmpty()
                && (code == Error::Code::NetworkError || code == Error::Code::Timeout
                    || code == Error::Code::ServerError || code == Error::Code::RateLimited);
        if (transient) {
            ++m_transportFailures;
            const int backoff = m_intervalSeconds << std::min(m_transportFailures, 6);
            const int delay =
                    std::max(m_intervalSeconds, std::min(backoff, MaxTransportBackoffSeconds));
            qCWarning(lcSession) << "device sign-in: polling failed (" << code << "); next poll in"
                                 << delay << "s";
            return schedulePoll(delay);
        }
    }
    finish(std::move(outcome));
}

// Not from an endpoint's completion: destroying the endpoint there would destroy the reply
// that is calling back.
void DeviceFlow::dropRequests()
{
    m_metadataWatcher.disconnect(this);
    if (m_deviceReply) {
        QNetworkReply *reply = m_deviceReply;
        m_deviceReply = nullptr;
        reply->disconnect(this);
        reply->abort();
        reply->deleteLater();
    }
    // A token request in flight is dropped with the endpoint, which never calls back after
    // its destruction.
    m_endpoint.reset();
    m_pollInFlight = false;
}

void DeviceFlow::finish(TokenOutcome outcome)
{
    if (m_finished)
        return;
    m_finished = true;
    m_pollTimer.stop();
    m_expiryTimer.stop();
    m_metadataWatcher.disconnect(this);
    m_deviceCode.clear();
    if (outcome.kind == TokenOutcome::Kind::Issued)
        qCInfo(lcSession) << "device sign-in: tokens issued after" << m_pollCount << "polls";
    else
        qCWarning(lcSession) << "device sign-in failed:" << outcome.error.code()
                             << outcome.error.serverCode();
    m_outcome = std::move(outcome);
    // From the event loop, also when the flow ends inside start() or cancel().
    QMetaObject::invokeMethod(
            this, [this] { emit finished(QPrivateSignal()); }, Qt::QueuedConnection);
}

} // namespace Tessera::OAuth
