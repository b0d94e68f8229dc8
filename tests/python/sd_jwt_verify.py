"""Verifies an SD-JWT VC presentation as an independent verifier does, with openvc
(a Python SD-JWT / SD-JWT VC implementation that shares no code with MPMS): the
issuer JWT's signature under its did:key, each disclosure against the digests the
issuer signed, the Key Binding JWT (holder key from cnf, audience, nonce, sd_hash,
freshness) and the type (vct).

Usage: python3 sd_jwt_verify.py AUDIENCE NONCE VCT < presentation
Prints the disclosed claims as JSON; exits non-zero, with the reason, if the
presentation does not check out.
"""
import json
import sys
import warnings

warnings.filterwarnings("ignore")

from openvc.verify import VerificationPolicy, verify_credential  # noqa: E402

audience, nonce, vct = sys.argv[1], sys.argv[2], sys.argv[3]
presentation = sys.stdin.read().strip()
result = verify_credential(
    presentation,
    policy=VerificationPolicy(
        audience=audience,
        nonce=nonce,
        require_key_binding=True,
        expected_vct=vct,
        # The credential's status is the chain's (checked by `mpmsd verify`); the
        # SD-JWT names no IETF status list.
        require_status=False,
    ),
)
assert result.key_bound is True, "no key binding verified"
print(json.dumps({"issuer": result.issuer, "claims": result.credential}))
