// Uses the installed headers and libraries: configuration checks, the secret
// type, and a JOSE round trip. Prints "consumer ok" on success.
#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/jose.h>
#include <tessera/session.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QJsonObject>

#include <cstdio>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    Tessera::SessionConfig insecure(QUrl(QStringLiteral("http://auth.example.com/")),
                                    QStringLiteral("org.example.consumer"));
    if (insecure.validate().code() != Tessera::Error::Code::InsecureTransport)
        return 1;
    Tessera::SessionConfig config(QUrl(QStringLiteral("http://127.0.0.1:9/")),
                                  QStringLiteral("org.example.consumer"));
    config.setStoragePolicy(Tessera::SessionConfig::StoragePolicy::MemoryOnly);
    Tessera::Session session(config);
    Tessera::AuthenticatedNetworkAccessManager network(&session);
    if (session.state() != Tessera::Session::State::SignedOut)
        return 2;
    const Tessera::Jose::Key key = Tessera::Jose::Key::generate(Tessera::Jose::Algorithm::ES256);
    const QByteArray token =
            Tessera::Jose::signJwt(key, {{QStringLiteral("sub"), QStringLiteral("x")}});
    Tessera::Jose::ClaimRequirements requirements;
    requirements.requireExpiry = false;
    if (!Tessera::Jose::verifyJwt(token, {key}, requirements).ok())
        return 3;
    std::puts("consumer ok");
    return 0;
}
