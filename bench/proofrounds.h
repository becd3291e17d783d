// SPDX-License-Identifier: MIT
// The `--proofs N --rounds N` options of the DPoP proof benchmarks (bench_dpop_proof,
// bench_dpop_verify), parsed one way for both.
#pragma once

#include <QtCore/QLatin1String>
#include <QtCore/QStringList>

#include <cstdio>

struct ProofRounds
{
    int proofs = 0;
    int rounds = 5;
};

// False, after a usage line on stderr, when a count is not a positive number.
inline bool parseProofRounds(const QStringList &arguments, const char *program,
                             ProofRounds *options)
{
    for (int i = 1; i + 1 < arguments.size(); i += 2) {
        if (arguments[i] == QLatin1String("--proofs"))
            options->proofs = arguments[i + 1].toInt();
        else if (arguments[i] == QLatin1String("--rounds"))
            options->rounds = arguments[i + 1].toInt();
    }
    if (options->proofs > 0 && options->rounds > 0)
        return true;
    std::fprintf(stderr, "usage: %s [--proofs N] [--rounds N]\n", program);
    return false;
}
