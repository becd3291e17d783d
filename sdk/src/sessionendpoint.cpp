// SPDX-License-Identifier: MIT
#include "sessionendpoint_p.h"

#include "dpopsigner_p.h"
#include "oauth/oauthtokenendpoint_p.h"

#include <tessera/sessionconfig.h>

#include <QtCore/QFutureWatcher>

namespace Tessera {

SessionEndpoint::SessionEndpoint(const SessionConfig &config, DpopSigner *dpop, QObject *parent)
    : TokenEndpoint(parent)
    , m_config(config)
    , m_dpop(dpop)
    , m_simpleJwt(createSimpleJwtEndpoint(config, dpop))
{
    applyConfig();
}

SessionEndpoint::~SessionEndpoint() = default;

void SessionEndpoint::applyConfig()
{
    // The SimpleJWT endpoint reads the configuration on every request: it stays.
    ++m_generation;
    m_oauth.reset();
    m_discovery.reset();
    if (m_config.profile() == SessionConfig::Profile::OAuth)
        m_discovery = std::make_unique<OAuth::Discovery>(m_config.issuer().toString(), m_config);
}

void SessionEndpoint::failLater(std::function<void()> report)
{
    // Completions run from the event loop, never inside the call.
    QMetaObject::invokeMethod(this, std::move(report), Qt::QueuedConnection);
}

void SessionEndpoint::withOAuth(std::function<void(TokenEndpoint &)> run,
                                std::function<void(const Error &)> failed)
{
    if (!m_discovery)
        return failLater([failed] {
            failed({Error::Code::InvalidConfiguration, QStringLiteral("no issuer configured")});
        });
    if (m_oauth)
        return run(*m_oauth);
    auto *watcher = new QFutureWatcher<OAuth::ProviderMetadata>(this);
    const quint64 generation = m_generation;
    connect(watcher, &QFutureWatcherBase::finished, this,
            [this, watcher, generation, run = std::move(run), failed = std::move(failed)] {
                watcher->deleteLater();
                if (generation != m_generation)
                    return; // another configuration: nobody waits for this one
                const QFuture<OAuth::ProviderMetadata> future = watcher->future();
                const Error error = errorOf(future);
                if (error.isError())
                    return failed(error);
                if (!m_oauth) {
                    const OAuth::ProviderMetadata metadata = future.result();
                    const bool dpop = m_dpop
                            && DpopSigner::isEnabled(m_config.dpopPolicy(),
                                                     metadata.dpopSigningAlgValuesSupported);
                    m_oauth = OAuth::createOAuthTokenEndpoint(m_config,
                                                              {m_config.clientId(),
                                                               metadata.tokenEndpoint,
                                                               metadata.revocationEndpoint, dpop},
                                                              m_dpop);
                }
                run(*m_oauth);
            });
    watcher->setFuture(m_discovery->metadata());
}

void SessionEndpoint::obtainWithPassword(const QString &username, const QString &password,
                                         Done done)
{
    if (m_config.profile() == SessionConfig::Profile::SimpleJwt)
        return m_simpleJwt->obtainWithPassword(username, password, std::move(done));
    failLater([done = std::move(done)] {
        done(TokenOutcome::failed({Error::Code::InvalidConfiguration,
                                   QStringLiteral("an OAuth session signs in through the browser "
                                                  "(signInWithBrowser()); the password grant "
                                                  "is not offered (RFC 9700 §2.4)")}));
    });
}

void SessionEndpoint::exchangeCode(const Secret &code, const Secret &codeVerifier,
                                   const QUrl &redirectUri, Done done)
{
    if (m_config.profile() == SessionConfig::Profile::SimpleJwt)
        return m_simpleJwt->exchangeCode(code, codeVerifier, redirectUri, std::move(done));
    auto held = std::make_shared<std::pair<Secret, Secret>>(code.clone(), codeVerifier.clone());
    withOAuth(
            [held, redirectUri, done](TokenEndpoint &endpoint) {
                endpoint.exchangeCode(held->first, held->second, redirectUri, done);
            },
            [done](const Error &error) { done(TokenOutcome::failed(error)); });
}

void SessionEndpoint::exchangeDeviceCode(const Secret &deviceCode, Done done)
{
    if (m_config.profile() == SessionConfig::Profile::SimpleJwt)
        return m_simpleJwt->exchangeDeviceCode(deviceCode, std::move(done));
    auto held = std::make_shared<Secret>(deviceCode.clone());
    withOAuth([held, done](TokenEndpoint &endpoint) { endpoint.exchangeDeviceCode(*held, done); },
              [done](const Error &error) { done(TokenOutcome::failed(error)); });
}

void SessionEndpoint::refresh(const Secret &refreshToken, Done done)
{
    if (m_config.profile() == SessionConfig::Profile::SimpleJwt)
        return m_simpleJwt->refresh(refreshToken, std::move(done));
    auto held = std::make_shared<Secret>(refreshToken.clone());
    withOAuth([held, done](TokenEndpoint &endpoint) { endpoint.refresh(*held, done); },
              [done](const Error &error) { done(TokenOutcome::failed(error)); });
}

bool SessionEndpoint::canRevoke() const
{
    if (m_config.profile() == SessionConfig::Profile::SimpleJwt)
        return m_simpleJwt->canRevoke();
    if (m_oauth)
        return m_oauth->canRevoke();
    const auto &metadata = m_discovery ? m_discovery->cached() : std::nullopt;
    return !metadata || !metadata->revocationEndpoint.isEmpty();
}

void SessionEndpoint::revoke(const Secret &refreshToken, RevokeDone done)
{
    if (m_config.profile() == SessionConfig::Profile::SimpleJwt)
        return m_simpleJwt->revoke(refreshToken, std::move(done));
    revokeWithOAuth(refreshToken, false, std::move(done));
}

bool SessionEndpoint::canRevokeAccessTokens() const
{
    if (m_config.profile() == SessionConfig::Profile::SimpleJwt)
        return m_simpleJwt->canRevokeAccessTokens();
    return canRevoke();
}

void SessionEndpoint::revokeAccessToken(const Secret &accessToken, RevokeDone done)
{
    if (m_config.profile() == SessionConfig::Profile::SimpleJwt)
        return m_simpleJwt->revokeAccessToken(accessToken, std::move(done));
    revokeWithOAuth(accessToken, true, std::move(done));
}

void SessionEndpoint::revokeWithOAuth(const Secret &token, bool accessToken, RevokeDone done)
{
    auto held = std::make_shared<Secret>(token.clone());
    withOAuth(
            [held, accessToken, done](TokenEndpoint &endpoint) {
                if (!endpoint.canRevoke()) {
                    if (done)
                        done({Error::Code::RevokeFailed,
                              QStringLiteral("the provider has no revocation endpoint")});
                    return;
                }
                if (accessToken)
                    endpoint.revokeAccessToken(*held, done);
                else
                    endpoint.revoke(*held, done);
            },
            [done](const Error &error) {
                if (done)
                    done(error);
            });
}

} // namespace Tessera
