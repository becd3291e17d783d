// SPDX-License-Identifier: MIT
// The OAuth profile's sign-in with the device authorization grant (Session::signInWithDevice(),
// RFC 8628): the device flow (oauth/deviceflow.cpp), then the browser sign-in's ID token
// validation, without a nonce, and crash-safe storing (browsersignin.cpp, sessionoperations.cpp).
#include "session_p.h"

#include "logging_p.h"
#include "oauth/deviceflow_p.h"

namespace Tessera {

QFuture<void> SessionPrivate::signInWithDevice()
{
    const VoidOperation operation = startOperation<void>();
    const Error refusal = oauthSignInRefusal("device");
    if (refusal.isError())
        return refuse(operation, refusal);

    m_signIn = operation;
    const quint64 generation = ++m_generation;
    wipeTokens();
    setState(Session::State::SigningIn);

    OAuth::DeviceFlow::Options options;
    options.clientId = m_config.clientId();
    options.scopes = m_config.scopes();
    options.dpop = m_dpop.get();
    m_deviceFlow = std::make_unique<OAuth::DeviceFlow>(*m_endpoint->discovery(), m_config, options);
    connect(m_deviceFlow.get(), &OAuth::DeviceFlow::verificationReady, this,
            [this](const OAuth::DeviceVerification &shown) {
                emit q->deviceSignInRequested(shown.verificationUri, shown.verificationUriComplete,
                                              shown.userCode, shown.expiresAt,
                                              Session::QPrivateSignal());
            });
    connect(m_deviceFlow.get(), &OAuth::DeviceFlow::finished, this,
            [this, generation, operation] { onDeviceFlowFinished(generation, operation); });
    m_deviceFlow->start();
    return operation->future();
}

void SessionPrivate::onDeviceFlowFinished(quint64 generation, const VoidOperation &operation)
{
    // The flow goes once this returns; it is still the sender now.
    OAuth::DeviceFlow *flow = m_deviceFlow.release();
    flow->deleteLater();
    if (generation != m_generation)
        return;
    // RFC 8628 §3.1 has no nonce: the ID token comes straight from the token endpoint.
    completeOAuthSignIn(flow->takeOutcome(), flow->metadata(), QByteArray(), generation, operation);
}

} // namespace Tessera
