// SPDX-License-Identifier: MIT
// The OAuth profile's sign-in through the system browser (Session::signInWithBrowser()): the
// code flow (oauth/codeflow.cpp), the ID token's validation (oauth/idtoken.cpp), then the same
// crash-safe storing as the SimpleJWT login (sessionoperations.cpp). The validation and storing
// are shared with the device sign-in (devicesignin.cpp), and so are the refusal of a sign-in
// that cannot start and cancelSignIn(). Also RP-initiated logout's URL and the ready-made
// browser opener.
#include "session_p.h"

#include "logging_p.h"
#include "oauth/codeflow_p.h"
#include "oauth/deviceflow_p.h"
#include "oauth/idtoken_p.h"
#include "oauth/jwkscache_p.h"
#include "oauth/oauthtokenendpoint_p.h"

#include <QtCore/QFutureWatcher>
#include <QtCore/QProcess>
#include <QtCore/QStandardPaths>

namespace Tessera {

Error SessionPrivate::oauthSignInRefusal(const char *flowName) const
{
    if (m_configError.isError())
        return m_configError;
    if (m_config.profile() != SessionConfig::Profile::OAuth)
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("the %1 sign-in needs an issuer and a client id "
                               "(SessionConfig::setIssuer, setClientId)")
                        .arg(QLatin1String(flowName))};
    if (m_state == Session::State::SigningIn || m_state == Session::State::Refreshing
        || m_logoutInFlight || m_state == Session::State::SignedIn || m_codeFlow || m_deviceFlow)
        return {Error::Code::Cancelled,
                QStringLiteral("a session is active or busy; log out first")};
    return {};
}

QFuture<void> SessionPrivate::signInWithBrowser()
{
    const VoidOperation operation = startOperation<void>();
    const Error refusal = oauthSignInRefusal("browser");
    if (refusal.isError())
        return refuse(operation, refusal);

    m_signIn = operation;
    const quint64 generation = ++m_generation;
    wipeTokens();
    setState(Session::State::SigningIn);

    OAuth::CodeFlow::Options options;
    options.clientId = m_config.clientId();
    options.scopes = m_config.scopes();
    options.receiver.path = m_config.redirectPath().toLatin1();
    options.receiver.timeout = m_config.browserTimeout();
    options.dpop = m_dpop.get();
    m_codeFlow = std::make_unique<OAuth::CodeFlow>(*m_endpoint->discovery(), m_config, options);
    connect(m_codeFlow.get(), &OAuth::CodeFlow::authorizationUrlReady, this,
            [this](const QUrl &url) {
                emit q->browserSignInRequested(url, Session::QPrivateSignal());
            });
    connect(m_codeFlow.get(), &OAuth::CodeFlow::finished, this,
            [this, generation, operation] { onCodeFlowFinished(generation, operation); });
    m_codeFlow->start();
    return operation->future();
}

void SessionPrivate::cancelSignIn()
{
    // finished() follows from the event loop and ends the operation with Cancelled.
    if (m_codeFlow) {
        m_codeFlow->cancel();
        return;
    }
    if (m_deviceFlow) {
        m_deviceFlow->cancel();
        return;
    }
    if (!m_signIn || m_signIn->isFinished() || m_state != Session::State::SigningIn)
        return;
    // Past the browser (validating the ID token or storing): that work is dropped.
    ++m_generation;
    wipeTokens();
    setState(Session::State::SignedOut);
    failOperation(*m_signIn, {Error::Code::Cancelled, QStringLiteral("the sign-in was cancelled")});
    m_signIn.reset();
}

void SessionPrivate::onCodeFlowFinished(quint64 generation, const VoidOperation &operation)
{
    // The flow goes once this returns; it is still the sender now.
    std::unique_ptr<OAuth::CodeFlow> flow = std::move(m_codeFlow);
    OAuth::CodeFlow *raw = flow.release();
    raw->deleteLater();
    if (generation != m_generation)
        return;
    completeOAuthSignIn(raw->takeOutcome(), raw->metadata(), raw->nonce(), generation, operation);
}

void SessionPrivate::completeOAuthSignIn(TokenOutcome outcome,
                                         const std::optional<OAuth::ProviderMetadata> &metadata,
                                         const QByteArray &nonce, quint64 generation,
                                         const VoidOperation &operation)
{
    auto fail = [this, operation](const Error &error) {
        wipeTokens();
        setState(Session::State::SignedOut);
        failOperation(*operation, error);
    };
    if (outcome.kind != TokenOutcome::Kind::Issued)
        return fail(outcome.error);
    Q_ASSERT(metadata); // tokens come from the discovered token endpoint
    QString problem;
    const std::optional<AccessTiming> timing =
            accessTiming(outcome.tokens, m_config.refreshLead(), &problem);
    if (!timing)
        return fail({Error::Code::ServerError,
                     QStringLiteral("sign-in: unusable token response (%1)").arg(problem)});
    auto tokens = std::make_shared<TokenResponse>(std::move(outcome.tokens));
    auto stillWanted = [this, generation] { return generation == m_generation; };
    if (tokens->idToken.isEmpty()) {
        // Nothing names the user: revoke what was issued rather than leave it dangling.
        if (m_endpoint->canRevoke())
            m_endpoint->revoke(tokens->refresh, {});
        return fail({Error::Code::InvalidResponse,
                     QStringLiteral("the provider sent no ID token (the scopes must include "
                                    "\"openid\")")});
    }
    if (!m_jwks || m_jwks->jwksUri() != metadata->jwksUri) {
        m_idTokens.reset();
        m_jwks = std::make_unique<OAuth::JwksCache>(metadata->jwksUri, m_config);
        m_idTokens = std::make_unique<OAuth::IdTokenValidator>(*m_jwks);
    }
    OAuth::IdTokenExpectations expected;
    expected.issuer = metadata->issuer;
    expected.clientId = m_config.clientId();
    expected.signingAlgorithms = metadata->idTokenSigningAlgValuesSupported;
    expected.nonce = nonce;
    expected.serverSkewMs = timing->skewMs;
    auto *watcher = new QFutureWatcher<OAuth::IdTokenClaims>(this);
    connect(watcher, &QFutureWatcherBase::finished, this,
            [this, watcher, tokens, timing = *timing, operation, stillWanted, fail] {
                watcher->deleteLater();
                if (!stillWanted())
                    return;
                const QFuture<OAuth::IdTokenClaims> future = watcher->future();
                const Error error = errorOf(future);
                if (error.isError()) {
                    if (m_endpoint->canRevoke())
                        m_endpoint->revoke(tokens->refresh, {});
                    return fail(error);
                }
                const QString username = future.result().username;
                qCInfo(lcSession) << "OAuth sign-in: ID token valid; storing the session";
                completeSignIn(username, tokens, timing, operation, stillWanted, fail);
            });
    watcher->setFuture(m_idTokens->validate(std::move(tokens->idToken), expected));
}

void SessionPrivate::dropSignInFlows()
{
    // The listener closes (no further poll) now; finished() (queued) reaches nobody.
    if (m_codeFlow) {
        m_codeFlow->disconnect(this);
        m_codeFlow->cancel();
        m_codeFlow.release()->deleteLater();
    }
    if (m_deviceFlow) {
        m_deviceFlow->disconnect(this);
        m_deviceFlow->cancel();
        m_deviceFlow.release()->deleteLater();
    }
}

void SessionPrivate::resetOAuth()
{
    dropSignInFlows();
    m_idTokens.reset();
    m_jwks.reset();
}

QUrl SessionPrivate::endSessionUrl(const QUrl &postLogoutRedirectUri) const
{
    const OAuth::Discovery *discovery = m_endpoint->discovery();
    if (!discovery || !discovery->cached() || discovery->cached()->endSessionEndpoint.isEmpty())
        return {};
    const QUrl endpoint = discovery->cached()->endSessionEndpoint;
    const QByteArray clientId = m_config.clientId().toUtf8();
    const QByteArray redirect = postLogoutRedirectUri.toEncoded();
    QList<std::pair<QByteArray, QByteArrayView>> fields = {{"client_id", clientId}};
    if (postLogoutRedirectUri.isValid() && !postLogoutRedirectUri.isEmpty())
        fields.append({"post_logout_redirect_uri", redirect});
    // The endpoint's own query is kept (as for the authorization request, RFC 6749 §3.1).
    QByteArray query = endpoint.query(QUrl::FullyEncoded).toLatin1();
    if (!query.isEmpty())
        query += '&';
    query += OAuth::formEncode(fields);
    QUrl url = endpoint;
    url.setQuery(QString::fromLatin1(query), QUrl::StrictMode);
    return url;
}

bool openInSystemBrowser(const QUrl &url)
{
    if (!url.isValid() || url.isRelative())
        return false;
    const QString target = QString::fromLatin1(url.toEncoded());
    // $BROWSER names a program run with the URL as its one argument: no shell ever parses it.
    QString program = qEnvironmentVariable("BROWSER");
    if (program.isEmpty()) {
#if defined(Q_OS_MACOS)
        program = QStringLiteral("open");
#elif defined(Q_OS_WIN)
        program = QStringLiteral("explorer.exe");
#else
        program = QStringLiteral("xdg-open");
#endif
    }
    if (!program.contains(u'/') && QStandardPaths::findExecutable(program).isEmpty()) {
        qCWarning(lcSession) << "cannot open the browser:" << program << "is not on PATH";
        return false;
    }
    QProcess process;
    process.setProgram(program);
    process.setArguments({target});
    process.setStandardInputFile(QProcess::nullDevice());
    const bool started = process.startDetached();
    if (!started)
        qCWarning(lcSession) << "cannot open the browser: starting" << program << "failed";
    return started;
}

} // namespace Tessera
