"""Reads a credential's W3C status as a generic Verifiable Credential verifier does,
with libraries that share no code with MPMS: joserfc checks the credential's and the
status list's signatures (keys resolved from their did:key by openvc's resolver),
openvc reads the credential's BitstringStatusListEntry and the list's bit.

Usage: python3 w3c_status.py < credential.jwt
Prints {"revoked": bool, "suspended": bool, "entries": n}; exits non-zero, with the
reason, if the credential or its status list does not check out.
"""
import json
import sys
import time
import urllib.request
import warnings
from base64 import urlsafe_b64decode
from datetime import datetime

warnings.filterwarnings("ignore")

from joserfc import jwt  # noqa: E402
from joserfc.jwk import OKPKey  # noqa: E402
from openvc.did.did_key import DidKeyResolver  # noqa: E402
from openvc.status.status_list import check_credential_status  # noqa: E402


def b64json(segment):
    return json.loads(urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def verify(token):
    """The claims of a vc+jwt whose signature is its issuer's did:key's."""
    header = b64json(token.split(".")[0])
    assert header.get("typ") == "vc+jwt", header
    did = header["kid"].split("#")[0]
    method = DidKeyResolver().resolve(did).key_by_kid(header["kid"])
    key = OKPKey.import_key(method.public_key_jwk)
    claims = jwt.decode(token, key, algorithms=["EdDSA"]).claims
    assert claims["issuer"] == did, "the issuer is not the signer"
    return claims


def seconds(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def resolve(url):
    """Fetches the status list at url and checks it before its bits are read."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.headers["Content-Type"] == "application/vc+jwt", answer.headers
        token = answer.read().decode()
    status_list = verify(token)
    assert status_list["id"] == url, "the list is not the one at its address"
    assert "BitstringStatusListCredential" in status_list["type"], status_list["type"]
    now = time.time()
    assert seconds(status_list["validFrom"]) <= now + 60, "a list from the future"
    assert seconds(status_list["validUntil"]) >= now, "an expired list"
    return status_list


credential = verify(sys.stdin.read().strip())
result = check_credential_status(credential, resolve_status_list=resolve)
print(json.dumps({
    "revoked": result.revoked,
    "suspended": result.suspended,
    "entries": len(result.entries),
}))
