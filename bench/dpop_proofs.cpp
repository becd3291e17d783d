// SPDX-License-Identifier: MIT
// bench_dpop_proofs --key FILE --method M --url URL --count N [--token-file FILE] [--out FILE]
// Pre-signed DPoP proofs (RFC 9449) for bench/run.sh --dpop: wrk's lua cannot sign, so each
// request takes the next line of this file. All of one ES256 key, kept as a PKCS#8 PEM in
// --key (created, mode 0600, when missing, so the token request and the later requests prove
// the same key); a fresh jti each; iat = now; with --token-file (its first line: an access
// token), ath. One proof per line to --out (mode 0600). Nothing is printed but a count.
#include <tessera/dpop.h>
#include <tessera/jose.h>
#include <tessera/secret.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QDateTime>
#include <QtCore/QFile>
#include <QtCore/QUrl>

#include <cstdio>

using namespace Tessera::Jose;

namespace {

QByteArray firstLine(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return file.readLine().trimmed();
}

bool writePrivate(const QString &path, QByteArrayView bytes)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return false;
    file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    return file.write(bytes.data(), bytes.size()) == bytes.size();
}

Key loadOrCreateKey(const QString &path)
{
    QFile file(path);
    if (file.exists()) {
        if (!file.open(QIODevice::ReadOnly))
            return {};
        const Tessera::Secret pem(file.readAll());
        return Key::fromPrivateKeyPem(pem, Algorithm::ES256);
    }
    Key key = Key::generate(Algorithm::ES256);
    if (key.isNull() || !writePrivate(path, key.privateKeyPem().reveal()))
        return {};
    return key;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QString keyPath, method, url, tokenPath, outPath;
    qint64 count = 0;
    const QStringList arguments = app.arguments();
    for (int i = 1; i + 1 < arguments.size(); i += 2) {
        const QString &name = arguments[i];
        const QString &value = arguments[i + 1];
        if (name == QLatin1String("--key"))
            keyPath = value;
        else if (name == QLatin1String("--method"))
            method = value;
        else if (name == QLatin1String("--url"))
            url = value;
        else if (name == QLatin1String("--count"))
            count = value.toLongLong();
        else if (name == QLatin1String("--token-file"))
            tokenPath = value;
        else if (name == QLatin1String("--out"))
            outPath = value;
    }
    if (keyPath.isEmpty() || method.isEmpty() || url.isEmpty() || count < 0 || outPath.isEmpty()) {
        std::fprintf(stderr,
                     "usage: bench_dpop_proofs --key FILE --method M --url URL --count N "
                     "[--token-file FILE] --out FILE\n");
        return 2;
    }
    const Key key = loadOrCreateKey(keyPath);
    if (key.isNull()) {
        std::fprintf(stderr, "bench_dpop_proofs: no usable key\n");
        return 1;
    }
    Dpop::ProofOptions options;
    const QByteArray token = tokenPath.isEmpty() ? QByteArray() : firstLine(tokenPath);
    if (!tokenPath.isEmpty()) {
        if (token.isEmpty()) {
            std::fprintf(stderr, "bench_dpop_proofs: the token file is empty\n");
            return 1;
        }
        options.accessToken = QByteArrayView(token);
    }
    const QUrl target(url);
    const QByteArray methodBytes = method.toLatin1();
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    QByteArray out;
    for (qint64 i = 0; i < count; ++i) {
        QString problem;
        const QByteArray proof =
                Dpop::createProof(key, methodBytes, target, now, options, &problem);
        if (proof.isEmpty()) {
            std::fprintf(stderr, "bench_dpop_proofs: %s\n", qPrintable(problem));
            return 1;
        }
        out += proof;
        out += '\n';
    }
    if (!writePrivate(outPath, out)) {
        std::fprintf(stderr, "bench_dpop_proofs: cannot write the proofs\n");
        return 1;
    }
    std::printf("%lld proofs\n", static_cast<long long>(count));
    return 0;
}
