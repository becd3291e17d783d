// SPDX-License-Identifier: MIT
// Private: the token endpoint a session's refresher and operations talk to, for the profile
// its configuration names (SessionConfig::profile()): SimpleJWT as configured, or OAuth 2 at
// the endpoints of the issuer's discovery document. Never installed.
#pragma once

#include "oauth/discovery_p.h"
#include "tokenendpoint_p.h"

#include <memory>

namespace Tessera {

// Forwards to the endpoint of the configured profile. For OAuth the token and revocation
// endpoints are discovered first, once per configuration (the Discovery object caches the
// metadata): a restore in a fresh process discovers before its first refresh. A discovery
// failure fails the request with discovery's error (transient ones are retried by the
// refresher like any failed refresh).
class SessionEndpoint : public TokenEndpoint
{
    Q_OBJECT
public:
    // `config` and `dpop` (the session's DPoP side, may be null) are the session's and outlive
    // the endpoint. DPoP is on for OAuth as DpopSigner::isEnabled() says with the metadata.
    explicit SessionEndpoint(const SessionConfig &config, DpopSigner *dpop = nullptr,
                             QObject *parent = nullptr);
    ~SessionEndpoint() override;

    // After the session's configuration changed: the endpoints and the metadata of the old
    // one are dropped, and no completion of theirs runs.
    void applyConfig();
    // The session's discovery (OAuth profile), null for SimpleJWT.
    OAuth::Discovery *discovery() const { return m_discovery.get(); }

    // TokenEndpoint. The password grant is not offered for OAuth (RFC 9700 §2.4): it fails
    // with InvalidConfiguration.
    void obtainWithPassword(const QString &username, const QString &password, Done done) override;
    void exchangeCode(const Secret &code, const Secret &codeVerifier, const QUrl &redirectUri,
                      Done done) override;
    void exchangeDeviceCode(const Secret &deviceCode, Done done) override;
    void refresh(const Secret &refreshToken, Done done) override;
    // OAuth: true until the metadata shows the provider has no revocation endpoint.
    bool canRevoke() const override;
    void revoke(const Secret &refreshToken, RevokeDone done) override;
    // OAuth: as canRevoke(); SimpleJWT: false.
    bool canRevokeAccessTokens() const override;
    void revokeAccessToken(const Secret &accessToken, RevokeDone done) override;

private:
    // Runs `run` with the OAuth endpoint, discovering it first when needed, or `failed` with
    // discovery's error.
    void withOAuth(std::function<void(TokenEndpoint &)> run,
                   std::function<void(const Error &)> failed);
    // revoke() or revokeAccessToken() of the OAuth endpoint, once discovered.
    void revokeWithOAuth(const Secret &token, bool accessToken, RevokeDone done);
    void failLater(std::function<void()> report);

    const SessionConfig &m_config;
    DpopSigner *m_dpop;
    std::unique_ptr<TokenEndpoint> m_simpleJwt;
    std::unique_ptr<OAuth::Discovery> m_discovery;
    std::unique_ptr<TokenEndpoint> m_oauth;
    quint64 m_generation = 0;
};

} // namespace Tessera
