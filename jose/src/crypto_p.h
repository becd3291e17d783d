// SPDX-License-Identifier: MIT
// Private to Tessera::Jose: OpenSSL ownership types and the cryptographic helpers the key, JWK
// and JWS files share (HMAC, EVP one-shot sign and verify, the ES256 signature encodings).
#pragma once

#include <tessera/tessera_jose_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include <memory>

namespace Tessera::Jose::Private {

template<typename T, void (*Free)(T *)> struct Deleter
{
    void operator()(T *p) const { Free(p); }
};
template<typename T, void (*Free)(T *)> using Owned = std::unique_ptr<T, Deleter<T, Free>>;

using PkeyPtr = Owned<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtxPtr = Owned<EVP_MD_CTX, EVP_MD_CTX_free>;
using BioPtr = Owned<BIO, BIO_free_all>;
using BnPtr = Owned<BIGNUM, BN_free>;
using SecureBnPtr = Owned<BIGNUM, BN_clear_free>;
using EcdsaSigPtr = Owned<ECDSA_SIG, ECDSA_SIG_free>;
using ParamBldPtr = Owned<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamPtr = Owned<OSSL_PARAM, OSSL_PARAM_free>;
using Pkcs8Ptr = Owned<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free>;

inline constexpr qsizetype P256CoordinateSize = 32;
inline constexpr qsizetype Es256SignatureSize = 64;
// SEQUENCE of two INTEGERs of up to 33 bytes each (a 0x00 before a high bit): 2 + 2 * 35.
inline constexpr qsizetype Es256MaxDerSignatureSize = 72;
inline constexpr qsizetype Ed25519KeySize = 32;
inline constexpr qsizetype Ed25519SignatureSize = 64;
inline constexpr qsizetype HmacSha256Size = 32;
inline constexpr qsizetype MinimumHs256SecretSize = 32; // RFC 7518 section 3.2

inline const unsigned char *bytes(QByteArrayView view)
{
    return reinterpret_cast<const unsigned char *>(view.data());
}

// A big-endian 32-byte scalar in [1, n-1], n the order of the P-256 group.
bool isP256Scalar(const unsigned char *scalar);
// An EC key on the P-256 curve.
bool isP256Key(EVP_PKEY *pkey);
// A P-256 public coordinate (OSSL_PKEY_PARAM_EC_PUB_X / _Y), zero-padded to 32 bytes.
QByteArray p256Coordinate(EVP_PKEY *pkey, const char *name);
// EVP_PKEY_check with a private key (point on the curve, scalar in range, pair matches),
// EVP_PKEY_public_check without.
bool checkKey(EVP_PKEY *pkey, bool hasPrivate);
// A P-256 public key: not the point at infinity, coordinates in range, on the curve. P-256's
// cofactor is 1, so such a point is in the prime-order group and EVP_PKEY_public_check's extra
// n*Q multiplication proves nothing more; skipping it halves the import of a public JWK, which
// a DPoP verifier does for every proof.
bool checkP256PublicKey(EVP_PKEY *pkey);

QByteArray hmacSha256(QByteArrayView secret, QByteArrayView data);
// EVP_DigestSign / EVP_DigestVerify one-shot; md is nullptr for Ed25519.
// SHA-256, fetched from the default provider once: EVP_sha256() is fetched again on every use.
const EVP_MD *sha256Digest();
QByteArray digestSign(EVP_PKEY *pkey, const EVP_MD *md, QByteArrayView data);
bool digestVerify(EVP_PKEY *pkey, const EVP_MD *md, QByteArrayView data, QByteArrayView signature);
// ES256 signature of `data` as r||s (empty on failure): SHA-256 of the data, then
// EVP_PKEY_sign on a context each thread keeps for the keys it signed with last (a server signs
// every access token with one key), instead of an EVP_DigestSignInit per call.
QByteArray es256Sign(const std::shared_ptr<EVP_PKEY> &pkey, QByteArrayView data);
// Frees the calling thread's signing context for `pkey`, if it has one: the deleter of an ES256
// private key calls it before EVP_PKEY_free, so that the context's reference does not keep the
// key alive. Other threads free theirs at their next ES256 signature.
void forgetEs256SignContext(EVP_PKEY *pkey);
// Frees the calling thread's signing and verification contexts (releaseThreadState()).
void releaseThreadContexts();
// How many ES256 signing contexts the calling thread holds (0 to 2). Exported for the unit tests.
TESSERA_JOSE_EXPORT int es256SignContextsHeldForTesting();
// ES256 verification of `data` against a DER ECDSA-Sig-Value: SHA-256 of the data, then
// EVP_PKEY_verify on a context each thread keeps for the keys it verified with last (a DPoP
// client signs every proof with one key), instead of an EVP_DigestVerifyInit per call.
bool es256VerifyDer(EVP_PKEY *pkey, QByteArrayView data, QByteArrayView derSignature);
// DER ECDSA-Sig-Value <-> r||s, each zero-padded to 32 bytes (RFC 7518 section 3.4).
// rawToDer() writes the DER itself (two minimal INTEGERs, no allocation by OpenSSL); empty
// unless `raw` has 64 bytes. Exported for the unit tests.
QByteArray derToRaw(QByteArrayView der);
TESSERA_JOSE_EXPORT QByteArray rawToDer(QByteArrayView raw);

} // namespace Tessera::Jose::Private
