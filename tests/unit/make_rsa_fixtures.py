#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Prints the RSA signatures tst_jose_rsa.cpp embeds. Not run by the tests.

The key is RFC 7515 appendix A.2's (its n, e and d are published there; p and q are recovered
from them). The script first checks that it reproduces A.2's RS256 signature, then signs the
RFC's payload as PS256 with the JWA parameters and with wrong ones. PSS salts are random, so
each run prints different PS256 signatures; any run's output is valid.
"""

import base64
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def integer(text):
    return int.from_bytes(b64d(text), "big")


N = integer("ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPME"
            "zP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bS"
            "f63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo"
            "5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h"
            "4FRWyuXpoQ")
E = 65537
D = integer("Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7"
            "YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3"
            "Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1Z"
            "diYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVR"
            "uOopznQ")
A2_SIGNATURE = ("cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt"
                "_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBAr"
                "LIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7"
                "noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGl"
                "UPQGe77Rw")
PAYLOAD = b'{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}'


def main():
    p, q = rsa.rsa_recover_prime_factors(N, E, D)
    key = rsa.RSAPrivateNumbers(p, q, D, D % (p - 1), D % (q - 1), rsa.rsa_crt_iqmp(p, q),
                                rsa.RSAPublicNumbers(E, N)).private_key()

    def signature(alg, scheme, digest=hashes.SHA256()):
        header = json.dumps({"alg": alg}, separators=(",", ":")).encode()
        signing_input = (b64e(header) + "." + b64e(PAYLOAD)).encode()
        return key.sign(signing_input, scheme, digest)

    def pss(salt, mgf_digest=hashes.SHA256()):
        return padding.PSS(mgf=padding.MGF1(mgf_digest), salt_length=salt)

    assert b64e(signature("RS256", padding.PKCS1v15())) == A2_SIGNATURE, "not the A.2 key"
    rows = {
        "Ps256Signature": signature("PS256", pss(32)),
        "Ps256Salt0Signature": signature("PS256", pss(0)),
        "Ps256SaltMaxSignature": signature("PS256", pss(padding.PSS.MAX_LENGTH)),
        "Ps256Salt20Signature": signature("PS256", pss(20)),
        "Ps256Mgf1Sha1Signature": signature("PS256", pss(32, hashes.SHA1())),
        "Rs256HeaderPssSignature": signature("RS256", pss(32)),
        "Ps256HeaderPkcs1Signature": signature("PS256", padding.PKCS1v15()),
    }
    while True:  # about one PSS signature in 256 starts with a zero octet
        candidate = signature("PS256", pss(32))
        if candidate[0] == 0:
            rows["Ps256StrippedLeadingZeroSignature"] = candidate[1:]
            break
    small = rsa.generate_private_key(65537, 1024).public_key().public_numbers()
    rows["Rsa1024N"] = small.n.to_bytes(128, "big")
    rows["RsaNDivisibleBy3"] = ((2**2047 // 3 | 1) * 3).to_bytes(256, "big")
    for name, value in rows.items():
        print(f"{name} {b64e(value)}")


if __name__ == "__main__":
    main()
