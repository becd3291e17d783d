// SPDX-License-Identifier: MIT
// tessera-jose-tool: a test-only command-line front end to Tessera::Jose, driven by
// pyjwt_interop.py to cross-check tokens with PyJWT. Not installed.
//
//   tessera-jose-tool sign <ES256|EdDSA|HS256> <claims-json> [kid]   (RS256/PS256: verify only)
//       Generates a fresh key, signs the claims as a JWT (typ "JWT") and prints
//       {"alg","token","public_jwk","thumbprint","kid", and "private_pem"+"public_pem"
//        or "secret" (base64url)} as JSON.
//   tessera-jose-tool verify
//       Reads {"alg","token", one of "pem" (public key)|"jwk"|"secret" (base64url), optional "kid",
//       "issuer","audience","type","now"} from stdin, runs verifyJwt and prints
//       (a JWK is imported for "alg", the verification policy, as an ID token verifier would)
//       {"ok","error","header","claims"}. Exit status 0 when valid, 1 when rejected.
//   Exit status 2: usage or key errors.

#include <tessera/jose.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QFile>
#include <QtCore/QJsonDocument>
#include <QtCore/QMetaEnum>

#include <cstdio>

using namespace Tessera::Jose;

namespace {

int fail(const char *message)
{
    std::fprintf(stderr, "tessera-jose-tool: %s\n", message);
    return 2;
}

void print(const QJsonObject &object)
{
    const QByteArray text = QJsonDocument(object).toJson(QJsonDocument::Compact);
    std::fwrite(text.constData(), 1, size_t(text.size()), stdout);
    std::fputc('\n', stdout);
}

int sign(const QStringList &args)
{
    if (args.size() < 4)
        return fail("usage: sign <alg> <claims-json> [kid]");
    const auto algorithm = algorithmFromName(args.at(2));
    if (!algorithm)
        return fail("unknown algorithm");
    const QJsonDocument claims = QJsonDocument::fromJson(args.at(3).toUtf8());
    if (!claims.isObject())
        return fail("claims must be a JSON object");

    Key key = Key::generate(*algorithm);
    if (key.isNull())
        return fail("key generation failed");
    if (args.size() > 4)
        key.setKeyId(args.at(4));
    const QByteArray token = signJwt(key, claims.object());
    if (token.isEmpty())
        return fail("signing failed");

    QJsonObject out{{"alg", algorithmName(*algorithm)},
                    {"token", QString::fromLatin1(token)},
                    {"kid", key.keyId()},
                    {"thumbprint", key.thumbprint()},
                    {"public_jwk", key.publicJwk()}};
    if (*algorithm == Algorithm::HS256) {
        // Printed for PyJWT to verify with: a test tool's output, never a product's.
        out.insert("secret", QString::fromLatin1(base64UrlEncode(key.secret().reveal())));
    } else {
        out.insert("private_pem", QString::fromLatin1(key.privateKeyPem().reveal()));
        out.insert("public_pem", QString::fromLatin1(key.publicKeyPem()));
    }
    print(out);
    return 0;
}

int verify()
{
    QFile in;
    if (!in.open(stdin, QIODevice::ReadOnly))
        return fail("cannot read stdin");
    const QJsonObject request = QJsonDocument::fromJson(in.readAll()).object();
    const auto algorithm = algorithmFromName(request.value("alg").toString());
    if (!algorithm)
        return fail("unknown algorithm");

    Key key;
    if (request.contains("pem")) {
        key = Key::fromPublicKeyPem(request.value("pem").toString().toLatin1(), *algorithm);
    } else if (request.contains("jwk")) {
        QString problem;
        key = Key::fromJwk(request.value("jwk").toObject(), *algorithm, &problem);
        if (key.isNull())
            std::fprintf(stderr, "tessera-jose-tool: %s\n", qPrintable(problem));
    } else if (request.contains("secret")) {
        const auto secret = base64UrlDecode(request.value("secret").toString().toLatin1());
        if (secret)
            key = Key::fromSecret(Tessera::Secret(*secret));
    }
    if (key.isNull() || key.algorithm() != *algorithm)
        return fail("no usable key in the request");
    if (request.contains("kid"))
        key.setKeyId(request.value("kid").toString());

    ClaimRequirements requirements;
    requirements.issuer = request.value("issuer").toString();
    requirements.audience = request.value("audience").toString();
    requirements.type = request.value("type").toString();
    if (request.contains("now"))
        requirements.now = qint64(request.value("now").toDouble());

    const VerifyResult result =
            verifyJwt(request.value("token").toString().toLatin1(), {key}, requirements);
    print({{"ok", result.ok()},
           {"error",
            QString::fromLatin1(QMetaEnum::fromType<Error>().valueToKey(int(result.error)))},
           {"header", result.header},
           {"claims", result.claims}});
    return result.ok() ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    const QString command = args.value(1);
    if (command == QLatin1String("sign"))
        return sign(args);
    if (command == QLatin1String("verify"))
        return verify();
    return fail("usage: tessera-jose-tool sign <alg> <claims-json> [kid] | verify < request.json");
}
