// SPDX-License-Identifier: MIT
// bench_dpop_verify [--proofs 5000] [--rounds 5]
// The server's per-proof cost of checking a DPoP proof of a resource request (RFC 9449:
// Jose::Dpop::verifyProof with ath and jkt, as tessera-server's DpopVerifier calls it), with
// and without the key cache, next to a bare ES256 signature check of the same bytes. Proofs
// are made before the clock starts. Prints one JSON line: microseconds per proof, median of
// the rounds.
#include "proofrounds.h"

#include <tessera/dpop.h>
#include <tessera/jose.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QUrl>

#include <algorithm>
#include <cstdio>
#include <vector>

using namespace Tessera::Jose;

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    ProofRounds counts{5000};
    if (!parseProofRounds(app.arguments(), "bench_dpop_verify", &counts))
        return 2;
    const int proofs = counts.proofs;
    const int rounds = counts.rounds;
    const Key key = Key::generate(Algorithm::ES256);
    const Key publicKey = Key::fromJwk(key.publicJwk(), Algorithm::ES256);
    const QByteArray token(600, 'a');
    const QUrl url(QStringLiteral("http://127.0.0.1:8000/api/me/"));
    const qint64 now = 1'700'000'000;
    Dpop::ProofOptions options;
    options.accessToken = QByteArrayView(token);

    Dpop::ExpectedRequest expected;
    expected.method = "GET";
    expected.url = url;
    expected.now = now;
    expected.accessToken = QByteArrayView(token);
    expected.jkt = key.thumbprint();

    std::vector<double> uncached, cached, signatureOnly;
    for (int round = 0; round < rounds; ++round) {
        QList<QByteArray> batch;
        batch.reserve(proofs);
        for (int i = 0; i < proofs; ++i)
            batch.append(Dpop::createProof(key, "GET", url, now, options));
        for (const bool useCache : {false, true}) {
            Dpop::ReplayCache replay(2 * qsizetype(proofs));
            Dpop::KeyCache keys;
            Dpop::VerifyPolicy policy;
            policy.keyCache = useCache ? &keys : nullptr;
            QElapsedTimer clock;
            clock.start();
            for (const QByteArray &proof : batch) {
                if (!Dpop::verifyProof({proof}, expected, replay, policy).ok()) {
                    std::fprintf(stderr, "bench_dpop_verify: a proof was refused\n");
                    return 1;
                }
            }
            (useCache ? cached : uncached)
                    .push_back(double(clock.nsecsElapsed()) / 1000.0 / proofs);
        }
        // The floor: the ES256 check of the JWS alone (verifyCompact refuses "jwk" headers,
        // so a plain JWS of the same size stands in).
        QList<QByteArray> plain;
        for (int i = 0; i < proofs; ++i)
            plain.append(signCompact(
                    key,
                    batch[i].sliced(batch[i].indexOf('.') + 1,
                                    batch[i].lastIndexOf('.') - batch[i].indexOf('.') - 1)));
        QElapsedTimer clock;
        clock.start();
        for (const QByteArray &jws : plain) {
            if (!verifyCompact(jws, {publicKey}).ok())
                return 1;
        }
        signatureOnly.push_back(double(clock.nsecsElapsed()) / 1000.0 / proofs);
    }
    const auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    const QJsonObject result{{QLatin1String("benchmark"), QLatin1String("dpop_verify")},
                             {QLatin1String("proofs_per_round"), proofs},
                             {QLatin1String("rounds"), rounds},
                             {QLatin1String("median_us_uncached"), median(uncached)},
                             {QLatin1String("median_us_cached"), median(cached)},
                             {QLatin1String("median_us_es256_verify"), median(signatureOnly)}};
    std::printf("%s\n", QJsonDocument(result).toJson(QJsonDocument::Compact).constData());
    return 0;
}
