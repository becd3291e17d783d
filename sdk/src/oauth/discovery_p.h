// SPDX-License-Identifier: MIT
// Private (exported only for the tests): an issuer's metadata fetched from its discovery
// document, once per Discovery object (one per session), through the SDK's transport policy
// (transport_p.h: https except loopback, pins, no redirects, no cookies or cache, timeouts,
// a size cap). Never installed.
#pragma once

#include "providermetadata_p.h"

#include <tessera/sessionconfig.h>

#include <QtCore/QFuture>
#include <QtCore/QObject>

#include <memory>
#include <optional>

QT_BEGIN_NAMESPACE
class QNetworkAccessManager;
class QNetworkReply;
QT_END_NAMESPACE

namespace Tessera::OAuth {

// OIDC Discovery §4.1: "/.well-known/openid-configuration" appended to the issuer, after its
// path, with the path's terminating "/" removed.
TESSERA_SDK_EXPORT QUrl openIdConfigurationUrl(const QString &issuer);
// RFC 8414 §3.1: "/.well-known/oauth-authorization-server" inserted between the host and the
// issuer's path (its terminating "/" removed): https://h/realms/acme gives
// https://h/.well-known/oauth-authorization-server/realms/acme.
TESSERA_SDK_EXPORT QUrl authorizationServerMetadataUrl(const QString &issuer);

class DiscoveryFetch;

class TESSERA_SDK_EXPORT Discovery : public QObject
{
    Q_OBJECT
public:
    // `issuer` exactly as configured (it is compared with the document's character for
    // character); `transport` supplies the request timeout, SPKI pins and extra CAs.
    Discovery(const QString &issuer, const SessionConfig &transport, QObject *parent = nullptr);
    ~Discovery() override;

    QString issuer() const { return m_issuer; }

    // The metadata of the last successful fetch, if any.
    const std::optional<ProviderMetadata> &cached() const { return m_cached; }

    // The cached metadata, or the result of fetching it: the OpenID configuration, and on 404
    // the RFC 8414 document. Callers that ask while a fetch runs share it. Fails with
    // NetworkError, Timeout, ServerError or RateLimited (transient: ask again later) or with
    // InvalidConfiguration, InsecureTransport, TlsError, PinMismatch (fatal) naming the cause.
    QFuture<ProviderMetadata> metadata();

    // Fetches the document again (for a provider whose keys or configuration may have moved).
    // When the issuer or an endpoint differs from the cached metadata, or the document no
    // longer says authorization_response_iss_parameter_supported, the future fails with
    // InvalidConfiguration and the cached metadata stays: endpoints do not change under a
    // running session unnoticed. Other members (supported scopes, algorithms) are updated.
    QFuture<ProviderMetadata> refetch();

private:
    void start();
    void finish(const std::optional<ProviderMetadata> &fetched, const Error &error);

    const QString m_issuer;
    const SessionConfig m_transport;
    std::unique_ptr<QNetworkAccessManager> m_network;
    std::unique_ptr<DiscoveryFetch> m_fetch; // the fetch in progress
    std::optional<ProviderMetadata> m_cached;
    struct Waiters;
    std::unique_ptr<Waiters> m_waiters;
};

} // namespace Tessera::OAuth
