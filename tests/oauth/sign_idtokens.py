#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Signs RS256/PS256 ID tokens for tst_oauth_idtoken with PyJWT (Debian's python3-jwt and
python3-cryptography): Tessera verifies RSA but never signs with it, so another implementation
makes the tokens.

stdin: {"keys": N, "tokens": [{"key": i, "alg": "RS256"|"PS256", "kid": "..." or null,
         "claims": {...}}, ...]}
stdout: {"jwks": [public JWK of key 0, ...], "pems": [public key PEM of key 0, ...],
         "tokens": ["compact JWS", ...], "ec_private_jwk": {...}}
Exit 77 when PyJWT or cryptography is missing."""

import base64
import json
import sys

try:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
except ImportError as missing:
    print(f"sign_idtokens.py: {missing}", file=sys.stderr)
    sys.exit(77)


def b64url_fixed(number, size):
    return base64.urlsafe_b64encode(number.to_bytes(size, "big")).rstrip(b"=").decode()


def p256_private_jwk(key):
    numbers = key.private_numbers()
    return {"kty": "EC", "crv": "P-256",
            "x": b64url_fixed(numbers.public_numbers.x, 32),
            "y": b64url_fixed(numbers.public_numbers.y, 32),
            "d": b64url_fixed(numbers.private_value, 32)}


def main():
    request = json.load(sys.stdin)
    privates = [rsa.generate_private_key(public_exponent=65537, key_size=2048)
                for _ in range(request["keys"])]
    jwks = [json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())) for key in privates]
    pems = [key.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            for key in privates]
    tokens = []
    for order in request["tokens"]:
        headers = {"kid": order["kid"]} if order.get("kid") is not None else {}
        tokens.append(jwt.encode(order["claims"], privates[order["key"]], algorithm=order["alg"],
                                 headers=headers))
    # A private P-256 JWK ("d" included): a provider must never publish one. Written here, not
    # with PyJWT 2.6's to_jwk, which drops leading zero bytes that RFC 7518 6.2.1.2/6.2.2.1
    # require (the JOSE layer then refused about 1 key in 80 for the wrong reason).
    ec_private_jwk = p256_private_jwk(ec.generate_private_key(ec.SECP256R1()))
    json.dump({"jwks": jwks, "pems": pems, "tokens": tokens, "ec_private_jwk": ec_private_jwk},
              sys.stdout)


if __name__ == "__main__":
    main()
