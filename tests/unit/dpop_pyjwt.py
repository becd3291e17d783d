#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""PyJWT's side of tst_jose_dpop's cross-checks (Debian's python3-jwt + python3-cryptography).

Reads one JSON object on stdin:
  {"verify": [{"proof", "method", "htu", "access_token"?}...],
   "sign":   [{"alg", "method", "htu", "iat", "access_token"?, "nonce"?}...]}
and prints {"verified": [...], "signed": [...]}.

verify: PyJWT checks the signature with the key from the proof's own "jwk" header; this script
checks typ, that jwk is public, htm, htu (exact: the C++ side sends the normalised URL), ath and
computes the RFC 7638 thumbprint independently of Tessera. Each entry gives "ok" and "claims".
sign: a fresh key made by python3-cryptography, the proof made by PyJWT; each entry gives
"proof" and the "jkt" of its key.
"""

import base64
import hashlib
import json
import secrets
import sys

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives import serialization


def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk):
    required = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"),
                           sort_keys=True)
    return b64e(hashlib.sha256(canonical.encode("utf-8")).digest())


def ath(token):
    return b64e(hashlib.sha256(token.encode("ascii")).digest())


def verify(order):
    proof = order["proof"]
    header = jwt.get_unverified_header(proof)
    if header.get("typ") != "dpop+jwt":
        return {"ok": False, "why": "typ"}
    alg = header.get("alg")
    if alg not in ("ES256", "EdDSA"):
        return {"ok": False, "why": "alg"}
    jwk = header["jwk"]
    if any(member in jwk for member in ("d", "p", "q", "dp", "dq", "qi", "oth", "k")):
        return {"ok": False, "why": "private jwk"}
    key = jwt.PyJWK(jwk, alg).key
    try:
        claims = jwt.decode(proof, key, algorithms=[alg],
                            options={"verify_exp": False, "verify_iat": False,
                                     "verify_aud": False})
    except jwt.InvalidTokenError as error:
        return {"ok": False, "why": type(error).__name__}
    if claims.get("htm") != order["method"] or claims.get("htu") != order["htu"]:
        return {"ok": False, "why": "htm/htu"}
    if "access_token" in order and claims.get("ath") != ath(order["access_token"]):
        return {"ok": False, "why": "ath"}
    if len(base64.urlsafe_b64decode(claims["jti"] + "=" * (-len(claims["jti"]) % 4))) < 16:
        return {"ok": False, "why": "jti under 128 bits"}
    return {"ok": True, "claims": claims, "jkt": thumbprint(jwk)}


def sign(order):
    alg = order["alg"]
    if alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        numbers = private.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": b64e(numbers.x.to_bytes(32, "big")),
               "y": b64e(numbers.y.to_bytes(32, "big"))}
    else:
        private = ed25519.Ed25519PrivateKey.generate()
        raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64e(raw)}
    claims = {"jti": b64e(secrets.token_bytes(16)), "htm": order["method"], "htu": order["htu"],
              "iat": order["iat"]}
    if "access_token" in order:
        claims["ath"] = ath(order["access_token"])
    if "nonce" in order:
        claims["nonce"] = order["nonce"]
    proof = jwt.encode(claims, private, algorithm=alg, headers={"typ": "dpop+jwt", "jwk": jwk})
    return {"proof": proof, "jkt": thumbprint(jwk)}


def main():
    request = json.load(sys.stdin)
    json.dump({"verified": [verify(order) for order in request.get("verify", [])],
               "signed": [sign(order) for order in request.get("sign", [])]}, sys.stdout)


if __name__ == "__main__":
    main()
