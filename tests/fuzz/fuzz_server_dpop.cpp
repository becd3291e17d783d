// SPDX-License-Identifier: MIT
// libFuzzer target: tessera-server's DPoP checks (server/src/dpopproof.h) on what a request
// brings: the Authorization field and the DPoP fields, for a method, URL and time the input
// also gives. Invariants: an accepted proof has a key and its jti is never accepted twice;
// a refused one reports no key.
#include "dpopproof.h"

#include <QtCore/QList>
#include <QtCore/QUrl>

#include <cstdint>
#include <cstdlib>

using namespace Tessera::Server;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    // Input: "METHOD URL NOW\nAUTHORIZATION\nDPOP\nDPOP...". Nonces on or off, and a small
    // replay cache (so that it fills), alternate with the input's length.
    static DpopVerifier plain(60, false, "fuzz deployment key", 64);
    static DpopVerifier withNonces(60, true, "fuzz deployment key", 64);
    const QByteArray input(reinterpret_cast<const char *>(data), qsizetype(size));
    const QList<QByteArray> lines = input.split('\n');
    const QList<QByteArray> request = lines.value(0).split(' ');
    const QByteArray method = request.value(0);
    const QUrl url(QString::fromUtf8(request.value(1)));
    bool ok = false;
    const qint64 now = request.value(2).toLongLong(&ok);
    const Authorization authorization = parseAuthorization(lines.value(1));
    if (authorization.scheme != Authorization::Scheme::None && authorization.token.isEmpty())
        std::abort();
    const QList<QByteArray> proofs = lines.mid(2);
    std::optional<QByteArrayView> accessToken;
    if (authorization.scheme == Authorization::Scheme::Dpop)
        accessToken = QByteArrayView(authorization.token);
    DpopVerifier &verifier = size % 2 ? withNonces : plain;
    const qint64 at = ok ? now : 1700000000;
    const DpopVerifier::Proof first = verifier.verify(proofs, method, url, accessToken, {}, at);
    if (first.ok() == first.jkt.isEmpty())
        std::abort();
    if (first.ok()) {
        // The same proof again, also bound to its own key: a replay, never accepted.
        const DpopVerifier::Proof again =
                verifier.verify(proofs, method, url, accessToken, first.jkt, at);
        if (again.ok())
            std::abort();
    }
    (void)verifier.nonceAt(at);
    return 0;
}
