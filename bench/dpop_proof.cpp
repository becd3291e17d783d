// SPDX-License-Identifier: MIT
// bench_dpop_proof [--proofs 20000] [--rounds 5]
// The SDK's per-request cost of DPoP (RFC 9449): one DpopSigner::proof() for a resource
// request (ES256 signature over a new jti, htm, normalised htu, iat on the corrected clock,
// ath = SHA-256 of a 1 KB access token, a nonce), as AuthenticatedNetworkAccessManager makes
// for every attempt with a bound token. Prints one JSON line: microseconds per proof for each
// round, and the median.
#include "dpopsigner_p.h"
#include "proofrounds.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QUrl>

#include <algorithm>
#include <cstdio>

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    ProofRounds counts{20000};
    if (!parseProofRounds(app.arguments(), "bench_dpop_proof", &counts))
        return 2;
    const int proofs = counts.proofs;
    const int rounds = counts.rounds;
    Tessera::DpopSigner signer;
    signer.ensureKey();
    const QByteArray token(1024, 'a');
    const QUrl url(QStringLiteral("https://api.example.com:8443/v1/items/42?page=2"));
    qsizetype bytes = 0;
    QJsonArray perRound;
    std::vector<double> values;
    for (int round = 0; round < rounds; ++round) {
        QElapsedTimer clock;
        clock.start();
        for (int i = 0; i < proofs; ++i)
            bytes += signer.proof("GET", url, QByteArrayView(token)).size();
        const double us = double(clock.nsecsElapsed()) / 1000.0 / proofs;
        perRound.append(us);
        values.push_back(us);
    }
    std::sort(values.begin(), values.end());
    const QJsonObject result{{"benchmark", "dpop_proof"},
                             {"proofs_per_round", proofs},
                             {"us_per_proof", perRound},
                             {"median_us_per_proof", values[values.size() / 2]},
                             {"proof_bytes", double(bytes) / (double(proofs) * rounds)}};
    std::printf("%s\n", QJsonDocument(result).toJson(QJsonDocument::Compact).constData());
    return 0;
}
