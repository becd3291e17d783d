// SPDX-License-Identifier: MIT
// Private (exported only for the tests): the browser sign-in of a native app, authorization code
// with PKCE (RFC 6749 §4.1, RFC 7636, RFC 8252), from the blocks of sdk/src/oauth: discovery,
// PKCE + state + nonce, the loopback redirect receiver, the OAuth token endpoint. Opening the
// browser is the caller's: the flow emits the URL. Never installed.
#pragma once

#include "../tokenendpoint_p.h"
#include "loopbackredirectreceiver_p.h"
#include "providermetadata_p.h"

#include <tessera/sessionconfig.h>

#include <QtCore/QFutureWatcher>
#include <QtCore/QObject>
#include <QtCore/QStringList>
#include <QtCore/QUrl>

#include <memory>
#include <optional>

namespace Tessera {
class DpopSigner;
}

namespace Tessera::OAuth {

class Discovery;

class TESSERA_SDK_EXPORT CodeFlow : public QObject
{
    Q_OBJECT
public:
    struct Options
    {
        QString clientId;
        QStringList scopes = {QStringLiteral("openid"), QStringLiteral("offline_access")};
        LoopbackRedirectReceiver::Options receiver; // path, port, the wait's timeout
        // The session's DPoP side (outlives the flow), null for none. When DPoP is on for the
        // provider (DpopSigner::isEnabled with its metadata), the key is made before the
        // authorization request, which names it in dpop_jkt (RFC 9449 §10) when the provider
        // advertises DPoP, and the code exchange carries a proof of it.
        DpopSigner *dpop = nullptr;
    };

    // `discovery` (the session's: its metadata is cached) and `transport` (timeouts, pins, CAs
    // of the token request) outlive the flow.
    CodeFlow(Discovery &discovery, const SessionConfig &transport, const Options &options,
             QObject *parent = nullptr);
    ~CodeFlow() override;

    // Runs once: discovery, then the receiver listens and authorizationUrlReady() is emitted;
    // the redirect's code (state and RFC 9207 iss checked by the receiver) is exchanged with
    // the PKCE verifier. Ends with finished().
    void start();
    // Ends the flow with Cancelled, wherever it is (a token request already sent is dropped).
    void cancel();

    // The authorization request (empty before authorizationUrlReady()).
    QUrl authorizationUrl() const { return m_authorizationUrl; }
    QUrl redirectUri() const { return m_receiver.redirectUri(); }
    // The OIDC nonce the request carried, for the ID token validator (OIDC Core §3.1.3.7).
    QByteArray nonce() const { return m_nonce; }
    // The metadata the flow used (after discovery).
    const std::optional<ProviderMetadata> &metadata() const { return m_metadata; }

    bool isFinished() const { return m_finished; }
    // After finished(): Issued with the tokens (and the ID token, unverified, in
    // tokens.idToken), Rejected (the provider refused the code: InvalidCredentials), or
    // Failed: discovery's errors, AccessDenied / InvalidResponse / Timeout / Cancelled from
    // the redirect, the token endpoint's failures. Taken once.
    TokenOutcome takeOutcome() { return std::move(m_outcome); }

Q_SIGNALS:
    // The URL to open in the system browser. The receiver listens already.
    void authorizationUrlReady(const QUrl &url, QPrivateSignal);
    // Emitted once, from the event loop, whatever the outcome.
    void finished(QPrivateSignal);

private:
    void onMetadata();
    void onRedirect();
    void finish(TokenOutcome outcome);
    void fail(const Error &error) { finish(TokenOutcome::failed(error)); }

    Discovery &m_discovery;
    const SessionConfig m_transport;
    const Options m_options;
    QFutureWatcher<ProviderMetadata> m_metadataWatcher;
    std::optional<ProviderMetadata> m_metadata;
    LoopbackRedirectReceiver m_receiver;
    std::unique_ptr<TokenEndpoint> m_endpoint;
    Secret m_verifier;
    QByteArray m_nonce;
    QUrl m_authorizationUrl;
    bool m_started = false;
    bool m_finished = false;
    TokenOutcome m_outcome;
};

// The authorization request URL (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1): the
// endpoint's own query kept (RFC 6749 §3.1), then response_type=code, client_id, redirect_uri,
// scope (space-separated), state, nonce (when non-empty), code_challenge and
// code_challenge_method=S256, dpop_jkt (RFC 9449 §10, when non-empty), each value
// percent-encoded (formEncode()).
TESSERA_SDK_EXPORT QUrl authorizationRequestUrl(const QUrl &authorizationEndpoint,
                                                const QString &clientId, const QUrl &redirectUri,
                                                const QStringList &scopes, QByteArrayView state,
                                                QByteArrayView nonce, QByteArrayView challenge,
                                                QByteArrayView dpopJkt = {});

} // namespace Tessera::OAuth
