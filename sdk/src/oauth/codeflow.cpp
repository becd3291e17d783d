// SPDX-License-Identifier: MIT
#include "codeflow_p.h"

#include "../dpopsigner_p.h"

#include "../logging_p.h"
#include "discovery_p.h"
#include "oauthtokenendpoint_p.h"
#include "pkce_p.h"

namespace Tessera::OAuth {

QUrl authorizationRequestUrl(const QUrl &authorizationEndpoint, const QString &clientId,
                             const QUrl &redirectUri, const QStringList &scopes,
                             QByteArrayView state, QByteArrayView nonce, QByteArrayView challenge,
                             QByteArrayView dpopJkt)
{
    const QByteArray client = clientId.toUtf8();
    const QByteArray redirect = redirectUri.toEncoded();
    const QByteArray scope = scopes.join(u' ').toUtf8();
    QList<std::pair<QByteArray, QByteArrayView>> fields = {
            {"response_type", "code"}, {"client_id", client}, {"redirect_uri", redirect},
            {"scope", scope},          {"state", state},
    };
    if (!nonce.isEmpty())
        fields.append({"nonce", nonce});
    fields.append({"code_challenge", challenge});
    fields.append({"code_challenge_method", Pkce::Method});
    if (!dpopJkt.isEmpty())
        fields.append({"dpop_jkt", dpopJkt});
    QByteArray query = authorizationEndpoint.query(QUrl::FullyEncoded).toLatin1();
    if (!query.isEmpty())
        query += '&';
    query += formEncode(fields);
    QUrl url = authorizationEndpoint;
    url.setQuery(QString::fromLatin1(query), QUrl::StrictMode);
    return url;
}

CodeFlow::CodeFlow(Discovery &discovery, const SessionConfig &transport, const Options &options,
                   QObject *parent)
    : QObject(parent)
    , m_discovery(discovery)
    , m_transport(transport)
    , m_options(options)
{
    connect(&m_metadataWatcher, &QFutureWatcherBase::finished, this, &CodeFlow::onMetadata);
    connect(&m_receiver, &LoopbackRedirectReceiver::finished, this, &CodeFlow::onRedirect);
}

CodeFlow::~CodeFlow()
{
    m_metadataWatcher.disconnect(this);
    m_receiver.disconnect(this);
}

void CodeFlow::start()
{
    if (m_started)
        return;
    m_started = true;
    if (m_options.clientId.isEmpty())
        return fail({Error::Code::InvalidConfiguration, QStringLiteral("no client id configured")});
    qCInfo(lcSession) << "browser sign-in started";
    m_metadataWatcher.setFuture(m_discovery.metadata());
}

void CodeFlow::cancel()
{
    if (m_finished)
        return;
    // The receiver (if listening) closes; a token request in flight is dropped with the
    // endpoint, which never calls back after its destruction.
    m_receiver.disconnect(this);
    m_receiver.cancel();
    m_metadataWatcher.disconnect(this);
    m_endpoint.reset();
    fail({Error::Code::Cancelled, QStringLiteral("the browser sign-in was cancelled")});
}

void CodeFlow::onMetadata()
{
    const QFuture<ProviderMetadata> future = m_metadataWatcher.future();
    const Error error = errorOf(future);
    if (error.isError())
        return fail(error);
    m_metadata = future.result();
    if (!m_metadata->responseTypesSupported.contains(QStringLiteral("code")))
        return fail({Error::Code::InvalidConfiguration,
                     QStringLiteral("the provider %1 does not offer the authorization code flow "
                                    "(response_types_supported lacks \"code\")")
                             .arg(m_metadata->issuer)});
    const bool dpop = m_options.dpop
            && DpopSigner::isEnabled(m_transport.dpopPolicy(),
                                     m_metadata->dpopSigningAlgValuesSupported);
    m_endpoint = createOAuthTokenEndpoint(
            m_transport,
            {m_options.clientId, m_metadata->tokenEndpoint, m_metadata->revocationEndpoint, dpop},
            m_options.dpop);
    // dpop_jkt binds the code to the key (RFC 9449 §10); only for a provider that advertises
    // DPoP: one that does not may still keep the parameter and then refuse the code exchange
    // for want of a proof it cannot check (oidc-provider with DPoP off does). Required still
    // sends proofs to such a provider, and fails with DpopNotBound if it does not bind.
    const bool advertised =
            m_metadata->dpopSigningAlgValuesSupported.contains(QLatin1String("ES256"));
    const QByteArray dpopJkt =
            dpop && advertised ? m_options.dpop->ensureKey().thumbprint().toLatin1() : QByteArray();

    Pkce pkce = Pkce::generate();
    Secret state = generateState();
    m_nonce = generateNonce();
    const Error listening = m_receiver.listen(
            state.clone(),
            {m_metadata->issuer, m_metadata->authorizationResponseIssParameterSupported},
            m_options.receiver);
    if (listening.isError())
        return fail(listening);
    m_verifier = std::move(pkce.verifier);
    m_authorizationUrl = authorizationRequestUrl(
            m_metadata->authorizationEndpoint, m_options.clientId, m_receiver.redirectUri(),
            m_options.scopes, state.reveal(), m_nonce, pkce.challenge, dpopJkt);
    qCInfo(lcSession) << "browser sign-in: waiting for the redirect on port" << m_receiver.port();
    emit authorizationUrlReady(m_authorizationUrl, QPrivateSignal());
}

void CodeFlow::onRedirect()
{
    const Error error = m_receiver.error();
    if (error.isError())
        return fail(error);
    const Secret code = m_receiver.takeCode();
    qCInfo(lcSession) << "browser sign-in: authorization code received, exchanging it";
    m_endpoint->exchangeCode(code, m_verifier, m_receiver.redirectUri(),
                             [this](TokenOutcome outcome) { finish(std::move(outcome)); });
}

void CodeFlow::finish(TokenOutcome outcome)
{
    if (m_finished)
        return;
    m_finished = true;
    m_verifier.clear();
    if (outcome.kind == TokenOutcome::Kind::Issued)
        qCInfo(lcSession) << "browser sign-in: tokens issued";
    else
        qCWarning(lcSession) << "browser sign-in failed:" << outcome.error.code();
    m_outcome = std::move(outcome);
    // From the event loop, also when the flow ends inside start().
    QMetaObject::invokeMethod(
            this, [this] { emit finished(QPrivateSignal()); }, Qt::QueuedConnection);
}

} // namespace Tessera::OAuth
