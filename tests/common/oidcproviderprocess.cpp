// SPDX-License-Identifier: MIT
#include "oidcproviderprocess.h"

#ifndef TESSERA_OIDC_PROVIDER_PATH
#define TESSERA_OIDC_PROVIDER_PATH ""
#endif
#ifndef TESSERA_NODE_PATH
#define TESSERA_NODE_PATH "node"
#endif

namespace Tessera::Test {

OidcProviderProcess::OidcProviderProcess()
    : ListeningProcess(QStringLiteral("oidc-provider"), Termination::CleanExit)
{
    // Node options from the caller's shell (a preloaded module, an inspector) stay out.
    m_environment.remove(QStringLiteral("NODE_OPTIONS"));
    m_environment.remove(QStringLiteral("NODE_PATH"));
}

QString OidcProviderProcess::scriptPath()
{
    const QString fromEnvironment = qEnvironmentVariable("TESSERA_OIDC_PROVIDER");
    return fromEnvironment.isEmpty() ? QString::fromLocal8Bit(TESSERA_OIDC_PROVIDER_PATH)
                                     : fromEnvironment;
}

QString OidcProviderProcess::node()
{
    const QString fromEnvironment = qEnvironmentVariable("TESSERA_NODE");
    return fromEnvironment.isEmpty() ? QString::fromLocal8Bit(TESSERA_NODE_PATH) : fromEnvironment;
}

bool OidcProviderProcess::start(int timeoutMs)
{
    QStringList arguments{scriptPath(), QStringLiteral("--client-id"), m_clientId};
    if (!m_issuerPath.isEmpty())
        arguments << QStringLiteral("--prefix") << m_issuerPath;
    if (m_accessTtl > 0)
        arguments << QStringLiteral("--access-ttl") << QString::number(m_accessTtl);
    arguments << m_extraArguments;
    return launch(node(), arguments, timeoutMs);
}

QUrl OidcProviderProcess::issuer() const
{
    return QUrl(baseUrl().toString() + m_issuerPath);
}

} // namespace Tessera::Test
