// SPDX-License-Identifier: MIT
// Test support: runs the real oidc-provider (npm, OpenID Certified; tests/interop/oidc) as a
// child process on a loopback port chosen at run time, with an in-memory store that dies with
// it. The public native client `clientId()` (no secret, loopback redirect, PKCE S256 required)
// may use the code flow, refresh with rotation and the device grant; revocation, introspection
// and the provider's development login/consent pages are on.
#pragma once

#include "listeningprocess.h"

namespace Tessera::Test {

class OidcProviderProcess : public ListeningProcess
{
public:
    OidcProviderProcess();

    // The provider.js installed with its node_modules by the build (target tessera-oidc-peer);
    // $TESSERA_OIDC_PROVIDER overrides it. $TESSERA_NODE overrides the Node.js binary.
    static QString scriptPath();
    static QString node();

    // An issuer path such as "/realms/acme" (leading slash, none trailing). Set before start().
    void setIssuerPath(const QString &path) { m_issuerPath = path; }
    void setClientId(const QString &clientId) { m_clientId = clientId; }
    QString clientId() const { return m_clientId; }
    // The access tokens' lifetime in seconds (provider.js --access-ttl); 0: its default.
    void setAccessTtl(int seconds) { m_accessTtl = seconds; }
    // More provider.js options (--dpop, --dpop-require-nonce, ...). Set before start().
    void setExtraArguments(const QStringList &arguments) { m_extraArguments = arguments; }

    // Starts node and waits for "listening on http://127.0.0.1:PORT".
    bool start(int timeoutMs = 30000);

    // baseUrl() + the issuer path: the `issuer` of the provider's discovery document.
    QUrl issuer() const;

private:
    QString m_issuerPath;
    QString m_clientId = QStringLiteral("tessera-native");
    int m_accessTtl = 0;
    QStringList m_extraArguments;
};

} // namespace Tessera::Test
