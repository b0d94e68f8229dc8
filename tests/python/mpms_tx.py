#!/usr/bin/env python3
"""Build, sign and submit MPMS transactions from Python.

A small, dependency-light implementation of the canonical binary encoding described
in docs/ENCODING.md: Python 3.11 standard library plus the `cryptography` package
(Ed25519 only).

A transaction is handled in its JSON form (the same structure the node's API accepts
as JSON and returns), as plain dicts, lists, strings and ints. The module turns that
form into the canonical bytes, the bytes the signature covers, the signed message, the
SignedTransaction bytes to POST, and the transaction hash. It encodes every payload
the chain defines from its JSON form; builder functions exist for the payloads a
client usually sends itself (see PAYLOAD_BUILDERS).

Command line:

    # Check this implementation against the published vectors.
    python3 tests/python/mpms_tx.py check-vectors docs/encoding-vectors.json

    # The account id (public key) of a 32-byte Ed25519 seed.
    python3 tests/python/mpms_tx.py account-id --seed-hex 64HEX

    # Sign and submit a transfer, then wait until it is committed.
    python3 tests/python/mpms_tx.py submit --api http://127.0.0.1:8080 \\
        --chain-id mpms-devnet --seed-hex 64HEX \\
        --payload transfer --to 64HEX --amount 1000 --wait

What an account needs before it can send (the chain charges no fees):
- a Transfer, Bond, Unbond, WithdrawUnbonded or RotateKeys comes from an account that
  exists: created at genesis, or by a registration;
- a registration (RegisterSubject, RegisterOrganization, RegisterCertifier) may come
  from a key the chain has never seen: it carries a proof of work instead of a
  balance (this module computes it, see account_work);
- a Transfer's recipient must already exist too: funds cannot be sent to a bare key.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# ---------------------------------------------------------------------------
# Primitive encodings
# ---------------------------------------------------------------------------


class EncodeError(ValueError):
    """A JSON-form value does not fit the type it is encoded as."""


def _fail(path: str, message: str) -> EncodeError:
    return EncodeError(f"{path or '(top)'}: {message}")


class Type:
    """A type of the canonical encoding."""

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        raise NotImplementedError


class UInt(Type):
    """An unsigned integer, `width` bytes, little-endian."""

    def __init__(self, width: int) -> None:
        self.width = width

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"expected an integer, got {value!r}")
        if not 0 <= value < 1 << (8 * self.width):
            raise _fail(path, f"{value} does not fit in u{8 * self.width}")
        out += value.to_bytes(self.width, "little")


class Bool(Type):
    """One byte: 0 for false, 1 for true."""

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        if not isinstance(value, bool):
            raise _fail(path, f"expected true or false, got {value!r}")
        out.append(1 if value else 0)


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


class Str(Type):
    """UTF-8 text: u64 byte length, then the bytes."""

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        if not isinstance(value, str):
            raise _fail(path, f"expected a string, got {value!r}")
        data = value.encode("utf-8")
        out += _u64(len(data))
        out += data


class Fixed(Type):
    """A key, hash or signature of `n` bytes: hex text in JSON, the raw bytes (no
    length) in binary."""

    def __init__(self, n: int) -> None:
        self.n = n

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        out += fixed_bytes(value, self.n, path)


def fixed_bytes(value: Any, n: int, path: str = "") -> bytes:
    """The `n` raw bytes of a hex string (case-insensitive, surrounding blanks ignored,
    as the node reads it)."""
    if not isinstance(value, str):
        raise _fail(path, f"expected {n} bytes as a hex string, got {value!r}")
    try:
        data = bytes.fromhex(value.strip())
    except ValueError as e:
        raise _fail(path, f"not hex: {e}") from None
    if len(data) != n:
        raise _fail(path, f"expected {n} bytes, got {len(data)}")
    return data


class ByteString(Type):
    """A byte string (ciphertexts): a JSON array of numbers 0..255, in binary a u64
    length and the bytes."""

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        data = _byte_list(value, path)
        out += _u64(len(data))
        out += data


def _byte_list(value: Any, path: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if not isinstance(value, list):
        raise _fail(path, f"expected an array of byte values, got {value!r}")
    for b in value:
        if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b <= 255:
            raise _fail(path, f"{b!r} is not a byte value")
    return bytes(value)


class ByteArray(Type):
    """A fixed array of `n` bytes that is not a key or hash (a nonce, a salt): a JSON
    array of `n` numbers, in binary the `n` bytes without a length."""

    def __init__(self, n: int) -> None:
        self.n = n

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        data = _byte_list(value, path)
        if len(data) != self.n:
            raise _fail(path, f"expected {self.n} bytes, got {len(data)}")
        out += data


class Opt(Type):
    """An optional value: 0x00 for none (JSON null), 0x01 then the value."""

    def __init__(self, inner: Type) -> None:
        self.inner = inner

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        if value is None:
            out.append(0)
        else:
            out.append(1)
            self.inner.encode(value, out, erase, path)


class Seq(Type):
    """A list: u64 count, then the items."""

    def __init__(self, inner: Type) -> None:
        self.inner = inner

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        if not isinstance(value, list):
            raise _fail(path, f"expected an array, got {value!r}")
        out += _u64(len(value))
        for i, item in enumerate(value):
            self.inner.encode(item, out, erase, f"{path}[{i}]")


class TextMap(Type):
    """A map with text keys: u64 count, then key and value pairs in increasing order
    of the keys' UTF-8 bytes."""

    def __init__(self, value: Type) -> None:
        self.value = value

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        if not isinstance(value, dict):
            raise _fail(path, f"expected an object, got {value!r}")
        out += _u64(len(value))
        for key in sorted(value, key=lambda k: k.encode("utf-8")):
            Str().encode(key, out, erase, path)
            self.value.encode(value[key], out, erase, f"{path}.{key}")


class Struct(Type):
    """Fields in declaration order, nothing between them."""

    def __init__(self, *fields: tuple[str, Type]) -> None:
        self.fields = fields

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        if not isinstance(value, dict):
            raise _fail(path, f"expected an object, got {value!r}")
        names = [name for name, _ in self.fields]
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise _fail(path, f"unknown fields {unknown}; expected {names}")
        for name, kind in self.fields:
            if name not in value:
                # The node reads an absent optional field as null; be as lenient.
                if isinstance(kind, Opt):
                    out.append(0)
                    continue
                raise _fail(path, f"missing field {name!r}")
            kind.encode(value[name], out, erase, f"{path}.{name}")


class Enum(Type):
    """A u32 little-endian variant tag (position in the declaration, from 0), then
    the variant's content. JSON: a unit variant is its name as a string; any other is
    an object with one key, the name, holding the content."""

    def __init__(self, *variants: tuple[str, Type | None]) -> None:
        self.variants = variants
        self.index = {name: i for i, (name, _) in enumerate(variants)}

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        if isinstance(value, str):
            name, content = value, None
        elif isinstance(value, dict) and len(value) == 1:
            ((name, content),) = value.items()
        else:
            raise _fail(path, f"expected a variant name or {{name: content}}, got {value!r}")
        if name not in self.index:
            raise UnknownVariant(_fail(path, f"unknown variant {name!r}"))
        tag = self.index[name]
        kind = self.variants[tag][1]
        out += tag.to_bytes(4, "little")
        if kind is None:
            if content is not None:
                raise _fail(path, f"variant {name} carries nothing")
            return
        if isinstance(value, str):
            raise _fail(path, f"variant {name} needs its content")
        kind.encode(content, out, erase, f"{path}.{name}")


class UnknownVariant(EncodeError):
    """A variant name this module does not know (a newer chain than this module)."""


class Lazy(Type):
    """A type defined later (for recursive types)."""

    def __init__(self, get: Callable[[], Type]) -> None:
        self.get = get

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        self.get().encode(value, out, erase, path)


ERASABLE_TAG = b"mpms/erasable/v1"


class Erasable(Type):
    """A value committed to by digest, erasable later: `{"digest", "value"}`, the
    digest (32 bytes) then the value as an option. In the signed and hashed form
    (`erase=True`) the value is always left out: digest then 0x00."""

    def __init__(self, inner: Type) -> None:
        self.inner = inner

    def encode(self, value: Any, out: bytearray, erase: bool, path: str) -> None:
        if not isinstance(value, dict) or set(value) != {"digest", "value"}:
            raise _fail(path, f"expected {{digest, value}}, got {value!r}")
        digest = fixed_bytes(value["digest"], 32, f"{path}.digest")
        held = value["value"]
        if held is not None:
            expected = erasable_digest(self.inner, held)
            if expected != digest:
                raise _fail(
                    path,
                    f"digest {digest.hex()} is not the digest of the value ({expected.hex()})",
                )
        out += digest
        if held is None or erase:
            out.append(0)
        else:
            out.append(1)
            self.inner.encode(held, out, False, f"{path}.value")


def erasable_digest(kind: Type, value: Any) -> bytes:
    """SHA-256("mpms/erasable/v1" || canonical bytes of the value)."""
    return hashlib.sha256(ERASABLE_TAG + encode(kind, value)).digest()


def encode(kind: Type, value: Any, erase: bool = False) -> bytes:
    """The canonical bytes of `value` (JSON form) as type `kind`. With `erase`, every
    erasable value is replaced by its digest alone (the signed and hashed form)."""
    out = bytearray()
    kind.encode(value, out, erase, "")
    return bytes(out)


# ---------------------------------------------------------------------------
# The types of the chain (field order and variant order are the encoding)
# ---------------------------------------------------------------------------

U8, U32, U64 = UInt(1), UInt(4), UInt(8)
BOOL, STRING = Bool(), Str()
HASH = PUBLIC_KEY = ENCRYPTION_KEY = Fixed(32)
SIGNATURE = Fixed(64)
ACCOUNT_ID = CREDENTIAL_ID = GRANT_ID = REQUEST_ID = HASH

SEALED = Struct(("enc", ENCRYPTION_KEY), ("ciphertext", ByteString()))
# A note sealed to a subject's ed25519 key (a request's purpose, an inspection's
# outcome): the ephemeral point and the ciphertext.
SIGNER_SEALED = Struct(("ephemeral", PUBLIC_KEY), ("ciphertext", ByteString()))
ENCRYPTED_CONTENT = Struct(("nonce", ByteArray(12)), ("ciphertext", ByteString()))

FIELD_KIND = Enum(
    ("text", None),
    ("date", None),
    ("number", Struct(("unit", STRING))),
    ("code", Struct(("system", STRING))),
    ("boolean", None),
)
FIELD_SPEC = Struct(("name", STRING), ("kind", FIELD_KIND), ("required", BOOL))
FIELD_VALUE = Enum(
    ("text", STRING),
    ("date", STRING),
    ("number", Struct(("value", STRING), ("unit", STRING))),
    ("code", Struct(("system", STRING), ("code", STRING), ("display", Opt(STRING)))),
    ("boolean", BOOL),
)
DOCUMENT_DIGEST = Struct(("label", STRING), ("sha256", HASH))
CREDENTIAL_CONTENT = Struct(
    ("salt", ByteArray(32)),
    ("holder_name", STRING),
    ("date_of_birth", STRING),
    ("documents", Seq(DOCUMENT_DIGEST)),
    ("fields", TextMap(FIELD_VALUE)),
)

ORGANIZATION_KIND = Enum(
    ("hospital", None),
    ("university", None),
    ("medical-college", None),
    ("licensing-board", None),
    ("government-agency", None),
    ("course-provider", None),
    ("other", None),
    ("employer", None),
    ("insurer", None),
)
SCHEMA_DEFINITION = Struct(
    ("id", STRING),
    ("description", STRING),
    ("prerequisites", Seq(STRING)),
    ("output", STRING),
    ("completion_condition", STRING),
    ("max_validity_ms", Opt(U64)),
    ("fields", Seq(FIELD_SPEC)),
    ("fhir_resource", Opt(STRING)),
)
CREDENTIAL_CLAIM = Struct(
    ("schema", STRING),
    ("subject", ACCOUNT_ID),
    ("certifier", ACCOUNT_ID),
    ("commitment", HASH),
    ("valid_from_ms", U64),
    ("valid_until_ms", U64),
    ("practitioner", Opt(ACCOUNT_ID)),
    ("supersedes", Opt(CREDENTIAL_ID)),
    ("status_index", U64),
)
CREDENTIAL_ISSUANCE = Struct(
    ("claim", CREDENTIAL_CLAIM),
    ("certifier_signature", SIGNATURE),
    ("content", Erasable(ENCRYPTED_CONTENT)),
    ("subject_key", Erasable(SEALED)),
)
GRANT_SELECTION = Enum(("schema", STRING), ("listed", None))
GRANTED_ENTRY = Struct(("credential", CREDENTIAL_ID), ("sealed_key", Erasable(SEALED)))
PARAMETER_CHANGE = Enum(
    ("MinAuthorityStake", U64),
    ("MinCertifierStake", U64),
    ("UnbondingPeriodBlocks", U64),
    ("ProposalTtlBlocks", U64),
    ("SlashFractionBps", U32),
    ("EvidenceMaxAgeBlocks", U64),
    ("MaxBlockTransactions", U32),
    ("MaxBlockBytes", U64),
    ("MaxTransactionBytes", U64),
    ("AccountCreationWorkBits", U8),
    ("ProposeTimeoutMs", U64),
    ("PrevoteTimeoutMs", U64),
    ("PrecommitTimeoutMs", U64),
    ("TimeoutDeltaMs", U64),
    ("MaxTimeoutMs", U64),
    ("HeartbeatMs", U64),
    ("MinBlockIntervalMs", U64),
)
GOVERNANCE_ACTION = Enum(
    (
        "AddAuthority",
        Struct(("operator", ACCOUNT_ID), ("consensus_key", PUBLIC_KEY), ("peer_id", STRING)),
    ),
    ("RemoveAuthority", Struct(("operator", ACCOUNT_ID))),
    ("RotateAuthorityKey", Struct(("operator", ACCOUNT_ID), ("consensus_key", PUBLIC_KEY))),
    (
        "AccreditCertifier",
        Struct(
            ("certifier", ACCOUNT_ID),
            ("scope", Seq(STRING)),
            ("valid_from_ms", U64),
            ("valid_until_ms", U64),
        ),
    ),
    ("SuspendCertifier", Struct(("certifier", ACCOUNT_ID), ("reason", STRING))),
    (
        "SlashCertifier",
        Struct(("certifier", ACCOUNT_ID), ("fraction_bps", U32), ("reason", STRING)),
    ),
    ("SetParameter", PARAMETER_CHANGE),
    ("AdmitNode", Struct(("peer_id", STRING), ("operator", ACCOUNT_ID))),
    ("RemoveNode", Struct(("peer_id", STRING))),
    (
        "RevokeCertifierCredentials",
        Struct(
            ("certifier", ACCOUNT_ID),
            ("from_height", U64),
            ("to_height", Opt(U64)),
            ("reason", STRING),
        ),
    ),
    ("AdmitOrganization", Struct(("organization", ACCOUNT_ID))),
    ("SuspendOrganization", Struct(("organization", ACCOUNT_ID), ("reason", STRING))),
)

VOTE_KIND = Enum(("Proposal", None), ("Prevote", None), ("Precommit", None))
VOTE = Struct(
    ("height", U64),
    ("round", U32),
    ("kind", VOTE_KIND),
    ("block", Opt(HASH)),
    ("valid_round", Opt(U32)),
)
SIGNED_VOTE = Struct(("vote", VOTE), ("validator", ACCOUNT_ID), ("signature", SIGNATURE))
HEADER = Struct(
    ("chain_id", STRING),
    ("height", U64),
    ("parent", HASH),
    ("time_ms", U64),
    ("proposer", ACCOUNT_ID),
    ("tx_root", HASH),
    ("tx_count", U32),
    ("state_root", HASH),
    ("authority_set", HASH),
    ("next_authority_set", HASH),
    ("last_commit", HASH),
)
MERKLE_PROOF = Struct(("index", U64), ("leaf_count", U64), ("siblings", Seq(HASH)))
EVIDENCE = Enum(
    ("Equivocation", Struct(("first", SIGNED_VOTE), ("second", SIGNED_VOTE))),
    (
        "FakeCredential",
        Struct(
            ("header", HEADER),
            ("vote", SIGNED_VOTE),
            ("transaction", Lazy(lambda: SIGNED_TRANSACTION)),
            ("proof", MERKLE_PROOF),
        ),
    ),
)

PAYLOAD = Enum(
    ("Transfer", Struct(("to", ACCOUNT_ID), ("amount", U64))),
    (
        "RotateKeys",
        Struct(("signing_key", Opt(PUBLIC_KEY)), ("encryption_key", Opt(ENCRYPTION_KEY))),
    ),
    ("RegisterSubject", Struct(("encryption_key", ENCRYPTION_KEY), ("work", U64))),
    (
        "RegisterOrganization",
        Struct(
            ("name", STRING),
            ("kind", ORGANIZATION_KIND),
            ("encryption_key", ENCRYPTION_KEY),
            ("work", U64),
        ),
    ),
    (
        "RegisterCertifier",
        Struct(("name", STRING), ("encryption_key", ENCRYPTION_KEY), ("work", U64)),
    ),
    ("Bond", Struct(("amount", U64))),
    ("Unbond", Struct(("amount", U64))),
    ("WithdrawUnbonded", None),
    ("RegisterSchema", SCHEMA_DEFINITION),
    ("IssueCredential", CREDENTIAL_ISSUANCE),
    ("RevokeCredential", Struct(("credential", CREDENTIAL_ID), ("reason", STRING))),
    (
        "RequestAccess",
        Struct(
            ("subject", ACCOUNT_ID), ("credentials", Seq(CREDENTIAL_ID)), ("purpose", SIGNER_SEALED)
        ),
    ),
    (
        "GrantAccess",
        Struct(
            ("credential", CREDENTIAL_ID),
            ("grantee", ACCOUNT_ID),
            ("request", Opt(REQUEST_ID)),
            ("sealed_key", Erasable(SEALED)),
            ("expires_at_ms", U64),
        ),
    ),
    (
        "GrantAccessSet",
        Struct(
            ("grantee", ACCOUNT_ID),
            ("request", Opt(REQUEST_ID)),
            ("selection", GRANT_SELECTION),
            ("entries", Seq(GRANTED_ENTRY)),
            ("expires_at_ms", U64),
        ),
    ),
    ("RevokeGrant", Struct(("grant", GRANT_ID))),
    ("RecordInspection", Struct(("grant", GRANT_ID), ("outcome", SIGNER_SEALED))),
    ("Propose", Struct(("action", GOVERNANCE_ACTION))),
    ("Vote", Struct(("proposal", U64), ("approve", BOOL))),
    ("SubmitEvidence", EVIDENCE),
    (
        "Delegate",
        Struct(
            ("practitioner", ACCOUNT_ID),
            ("role", HASH),
            ("schemas", Seq(STRING)),
            ("valid_from_ms", U64),
            ("valid_until_ms", U64),
        ),
    ),
    ("RevokeDelegation", Struct(("practitioner", ACCOUNT_ID), ("reason", STRING))),
    ("EraseContent", Struct(("credential", CREDENTIAL_ID))),
)

TRANSACTION = Struct(
    ("chain_id", STRING),
    ("sender", ACCOUNT_ID),
    ("nonce", U64),
    ("payload", PAYLOAD),
)
SIGNED_TRANSACTION = Struct(("tx", TRANSACTION), ("signature", SIGNATURE))

# ---------------------------------------------------------------------------
# Signing, hashing, accounts
# ---------------------------------------------------------------------------

SIGNING_TAG = b"MPMS-SIG-v1"

# The signature domains: one byte of every signed message.
DOMAIN_TRANSACTION = 1
DOMAIN_CREDENTIAL_CLAIM = 2
DOMAIN_PROPOSAL = 3
DOMAIN_PREVOTE = 4
DOMAIN_PRECOMMIT = 5
VOTE_DOMAINS = {"Proposal": DOMAIN_PROPOSAL, "Prevote": DOMAIN_PREVOTE, "Precommit": DOMAIN_PRECOMMIT}


def signing_message(chain_id: str, domain: int, message: bytes) -> bytes:
    """"MPMS-SIG-v1" || u16 LE byte length of chain_id || chain_id || domain || message."""
    chain = chain_id.encode("utf-8")
    if len(chain) > 0xFFFF:
        raise EncodeError("a chain id is at most 65535 bytes")
    return SIGNING_TAG + len(chain).to_bytes(2, "little") + chain + bytes([domain]) + message


def private_key(seed: bytes) -> Ed25519PrivateKey:
    if len(seed) != 32:
        raise ValueError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_bytes(seed: bytes) -> bytes:
    return private_key(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def account_id(seed: bytes) -> str:
    """An account's id is the public key it was created with (hex)."""
    return public_key_bytes(seed).hex()


def transaction_bytes(tx: dict) -> bytes:
    """The canonical bytes of an unsigned Transaction (values held)."""
    return encode(TRANSACTION, tx)


def signing_bytes(tx: dict) -> bytes:
    """The bytes a transaction's signature covers: its encoding with every erasable
    value replaced by its digest."""
    return encode(TRANSACTION, tx, erase=True)


def transaction_signing_message(tx: dict) -> bytes:
    return signing_message(tx["chain_id"], DOMAIN_TRANSACTION, signing_bytes(tx))


def sign_transaction(tx: dict, seed: bytes) -> dict:
    """The SignedTransaction (JSON form) of `tx` signed with the key of `seed`."""
    signature = private_key(seed).sign(transaction_signing_message(tx))
    return {"tx": tx, "signature": signature.hex()}


def verify_transaction(stx: dict, public_key_hex: str) -> bool:
    key = Ed25519PublicKey.from_public_bytes(fixed_bytes(public_key_hex, 32))
    try:
        key.verify(fixed_bytes(stx["signature"], 64), transaction_signing_message(stx["tx"]))
        return True
    except Exception:  # cryptography raises InvalidSignature
        return False


def signed_transaction_bytes(stx: dict) -> bytes:
    """What to POST to /v1/transactions as application/octet-stream."""
    return encode(SIGNED_TRANSACTION, stx)


def transaction_hash(stx: dict) -> str:
    """SHA-256 of the SignedTransaction bytes with every erasable value replaced by
    its digest (hex)."""
    return hashlib.sha256(encode(SIGNED_TRANSACTION, stx, erase=True)).hexdigest()


WORK_TAG = b"mpms/account-work"


def work_digest(chain_id: str, account: str, work: int) -> bytes:
    chain = chain_id.encode("utf-8")
    return hashlib.sha256(
        WORK_TAG + _u64(len(chain)) + chain + fixed_bytes(account, 32) + _u64(work)
    ).digest()


def _leading_zero_bits(digest: bytes) -> int:
    return len(digest) * 8 - int.from_bytes(digest, "big").bit_length()


def work_meets(chain_id: str, account: str, work: int, bits: int) -> bool:
    return bits == 0 or _leading_zero_bits(work_digest(chain_id, account, work)) >= bits


def account_work(chain_id: str, account: str, bits: int) -> int:
    """The smallest proof of work of `bits` bits for `account` on `chain_id`, as a
    registration carries it (about 2**bits hashes)."""
    chain = chain_id.encode("utf-8")
    prefix = hashlib.sha256(WORK_TAG + _u64(len(chain)) + chain + fixed_bytes(account, 32))
    work = 0
    while True:
        h = prefix.copy()
        h.update(_u64(work))
        if bits == 0 or _leading_zero_bits(h.digest()) >= bits:
            return work
        work += 1


# ---------------------------------------------------------------------------
# Builders (JSON forms)
# ---------------------------------------------------------------------------


def make_transaction(chain_id: str, sender: str, nonce: int, payload: Any) -> dict:
    return {"chain_id": chain_id, "sender": sender, "nonce": nonce, "payload": payload}


def transfer(to: str, amount: int) -> dict:
    return {"Transfer": {"to": to, "amount": amount}}


def rotate_keys(signing_key: str | None = None, encryption_key: str | None = None) -> dict:
    return {"RotateKeys": {"signing_key": signing_key, "encryption_key": encryption_key}}


def register_subject(encryption_key: str, work: int) -> dict:
    return {"RegisterSubject": {"encryption_key": encryption_key, "work": work}}


def register_organization(name: str, kind: str, encryption_key: str, work: int) -> dict:
    return {
        "RegisterOrganization": {
            "name": name,
            "kind": kind,
            "encryption_key": encryption_key,
            "work": work,
        }
    }


def register_certifier(name: str, encryption_key: str, work: int) -> dict:
    return {"RegisterCertifier": {"name": name, "encryption_key": encryption_key, "work": work}}


def bond(amount: int) -> dict:
    return {"Bond": {"amount": amount}}


def unbond(amount: int) -> dict:
    return {"Unbond": {"amount": amount}}


def withdraw_unbonded() -> str:
    return "WithdrawUnbonded"


def erasable(kind: Type, value: Any) -> dict:
    """An erasable value with its digest."""
    return {"digest": erasable_digest(kind, value).hex(), "value": value}


def sealed(enc: str, ciphertext: bytes) -> dict:
    return {"enc": enc, "ciphertext": list(ciphertext)}


def grant_access(
    credential: str,
    grantee: str,
    sealed_key: dict,
    expires_at_ms: int,
    request: str | None = None,
) -> dict:
    """`sealed_key` is a sealed() value: the credential's content key sealed (HPKE) to
    the grantee's encryption key."""
    return {
        "GrantAccess": {
            "credential": credential,
            "grantee": grantee,
            "request": request,
            "sealed_key": erasable(SEALED, sealed_key),
            "expires_at_ms": expires_at_ms,
        }
    }


def revoke_grant(grant: str) -> dict:
    return {"RevokeGrant": {"grant": grant}}


def erase_content(credential: str) -> dict:
    return {"EraseContent": {"credential": credential}}


def request_access(subject: str, credentials: list[str], purpose: str) -> dict:
    return {"RequestAccess": {"subject": subject, "credentials": credentials, "purpose": purpose}}


def record_inspection(grant: str, failure: str | None = None) -> dict:
    outcome: Any = "Verified" if failure is None else {"Failed": failure}
    return {"RecordInspection": {"grant": grant, "outcome": outcome}}


# payload kind (as the node names it) -> what the builder needs
PAYLOAD_BUILDERS = {
    "transfer": "--to ACCOUNT --amount N",
    "bond": "--amount N",
    "unbond": "--amount N",
    "withdraw-unbonded": "",
    "rotate-keys": "[--new-signing-key KEY] [--new-encryption-key KEY]",
    "register-subject": "--encryption-key KEY (proof of work computed)",
    "register-organization": "--name NAME --kind KIND --encryption-key KEY (proof of work computed)",
    "register-certifier": "--name NAME --encryption-key KEY (proof of work computed)",
    "revoke-grant": "--grant ID",
    "erase-content": "--credential ID",
    "request-access": "--subject ACCOUNT --credential ID [--credential ID ...] --purpose TEXT",
    "record-inspection": "--grant ID [--failure REASON]",
    "json": "--payload-json JSON (any payload, in its JSON form)",
}

# ---------------------------------------------------------------------------
# check-vectors
# ---------------------------------------------------------------------------


class Checker:
    def __init__(self) -> None:
        self.mismatches: list[str] = []
        self.checked = 0
        self.skipped: list[str] = []

    def same(self, where: str, what: str, expected: Any, got: Any) -> None:
        self.checked += 1
        if expected != got:
            self.mismatches.append(f"{where}: {what} differs: the file has {expected}, this module computes {got}")

    def holds(self, where: str, condition: bool, failure: str) -> None:
        self.checked += 1
        if not condition:
            self.mismatches.append(f"{where}: {failure}")


def check_vectors(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    c = Checker()
    chain_id = doc["chain_id"]

    signer_seed = bytes.fromhex(doc["signer"]["seed"])
    c.same("signer", "public key from the seed", doc["signer"]["public_key"], account_id(signer_seed))
    validator_seed = bytes.fromhex(doc["validator"]["consensus_seed"])
    c.same("validator", "consensus key from the seed", doc["validator"]["consensus_key"], account_id(validator_seed))
    practitioner_seed = bytes.fromhex(doc["practitioner"]["seed"])
    c.same("practitioner", "public key from the seed", doc["practitioner"]["public_key"], account_id(practitioner_seed))
    seeds = {
        doc["signer"]["public_key"]: signer_seed,
        doc["practitioner"]["public_key"]: practitioner_seed,
    }

    work = doc["account_work"]
    c.same("account_work", "digest", work["digest"], work_digest(work["chain_id"], work["account"], work["work"]).hex())
    c.holds(
        "account_work",
        work_meets(work["chain_id"], work["account"], work["work"], work["bits"]),
        f"work {work['work']} is not a proof of work of {work['bits']} bits",
    )

    transactions = 0
    for v in doc["transactions"]:
        where = f"transaction `{v['name']}`"
        stx = v["json"]
        tx = stx["tx"]
        try:
            got = signed_transaction_bytes(stx).hex()
        except UnknownVariant as e:
            c.skipped.append(f"{where}: not supported by this module ({e})")
            continue
        except EncodeError as e:
            c.mismatches.append(f"{where}: cannot encode its JSON form: {e}")
            continue
        transactions += 1
        c.same(where, "signed_transaction_bytes", v["signed_transaction_bytes"], got)
        c.same(where, "transaction_bytes", v["transaction_bytes"], transaction_bytes(tx).hex())
        c.same(where, "signing_bytes", v["signing_bytes"], signing_bytes(tx).hex())
        c.same(where, "signing_message", v["signing_message"], transaction_signing_message(tx).hex())
        c.same(where, "hash", v["hash"], transaction_hash(stx))
        if "hashed_bytes" in v:
            c.same(where, "hashed_bytes", v["hashed_bytes"], encode(SIGNED_TRANSACTION, stx, erase=True).hex())
        c.same(where, "payload_tag", v["payload_tag"], int.from_bytes(encode(PAYLOAD, tx["payload"])[:4], "little"))
        seed = seeds.get(tx["sender"])
        if seed is None:
            c.mismatches.append(f"{where}: the sender {tx['sender']} is none of the file's keys")
        else:
            c.same(where, "signature", v["signature"], sign_transaction(tx, seed)["signature"])
        c.same(where, "signature in the JSON form", v["signature"], stx["signature"])
        c.holds(where, verify_transaction(stx, tx["sender"]), "the signature does not verify under the sender's key")
        claim_vector = v.get("claim")
        if claim_vector is not None:
            claim = tx["payload"]["IssueCredential"]["claim"]
            claim_bytes = encode(CREDENTIAL_CLAIM, claim)
            c.same(where, "claim_bytes", claim_vector["claim_bytes"], claim_bytes.hex())
            c.same(where, "credential_id", claim_vector["credential_id"], hashlib.sha256(claim_bytes).hexdigest())
            message = signing_message(chain_id, DOMAIN_CREDENTIAL_CLAIM, claim_bytes)
            c.same(where, "claim_signing_message", claim_vector["claim_signing_message"], message.hex())
            signer = claim["practitioner"] or claim["certifier"]
            claim_seed = seeds.get(signer)
            if claim_seed is not None:
                signature = private_key(claim_seed).sign(message).hex()
                c.same(where, "certifier_signature", tx["payload"]["IssueCredential"]["certifier_signature"], signature)

    for v in doc["votes"]:
        where = f"vote `{v['name']}`"
        signed = v["json"]
        vote_bytes = encode(VOTE, signed["vote"])
        domain = VOTE_DOMAINS[signed["vote"]["kind"]]
        message = signing_message(chain_id, domain, vote_bytes)
        c.same(where, "vote_bytes", v["vote_bytes"], vote_bytes.hex())
        c.same(where, "domain", v["domain"], domain)
        c.same(where, "signing_message", v["signing_message"], message.hex())
        c.same(where, "signature", v["signature"], private_key(validator_seed).sign(message).hex())
        c.same(where, "signed_vote_bytes", v["signed_vote_bytes"], encode(SIGNED_VOTE, signed).hex())

    for v in doc["headers"]:
        where = f"header `{v['name']}`"
        header_bytes = encode(HEADER, v["json"])
        c.same(where, "header_bytes", v["header_bytes"], header_bytes.hex())
        c.same(where, "hash", v["hash"], hashlib.sha256(header_bytes).hexdigest())

    content = doc["credential_content"]
    content_bytes = encode(CREDENTIAL_CONTENT, content["json"])
    c.same("credential_content", "content_bytes", content["content_bytes"], content_bytes.hex())
    commitment = hashlib.sha256(b"mpms/credential-content/v1" + content_bytes).hexdigest()
    c.same("credential_content", "commitment", content["commitment"], commitment)

    # The builders give the same transaction as the file's JSON form.
    sample = next(v for v in doc["transactions"] if v["name"] == "transfer")
    t = sample["json"]["tx"]
    built = make_transaction(chain_id, account_id(signer_seed), t["nonce"], transfer(t["payload"]["Transfer"]["to"], t["payload"]["Transfer"]["amount"]))
    c.same("builder", "transfer bytes", sample["signed_transaction_bytes"], signed_transaction_bytes(sign_transaction(built, signer_seed)).hex())

    for line in c.skipped:
        print(f"skipped  {line}")
    for line in c.mismatches:
        print(f"MISMATCH {line}")
    print(
        f"{transactions} transactions, {len(doc['votes'])} votes, {len(doc['headers'])} headers, "
        f"1 credential content: {c.checked} values compared, {len(c.mismatches)} mismatches, "
        f"{len(c.skipped)} vectors skipped"
    )
    return 1 if c.mismatches else 0


# ---------------------------------------------------------------------------
# submit
# ---------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def http(method: str, url: str, body: bytes | None = None, content_type: str | None = None) -> Any:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Accept", "application/json")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read().decode("utf-8") or "null")
    except urllib.error.HTTPError as e:
        raise ApiError(e.code, e.read().decode("utf-8", "replace")) from None


def build_payload(args: argparse.Namespace, api: str, chain_id: str, sender: str) -> Any:
    kind = args.payload

    def need(name: str) -> Any:
        value = getattr(args, name)
        if value is None:
            raise SystemExit(f"--payload {kind} needs --{name.replace('_', '-')}")
        return value

    def work() -> int:
        bits = args.work_bits
        if bits is None:
            bits = http("GET", f"{api}/v1/params")["account_creation_work_bits"]
        print(f"computing a proof of work of {bits} bits...", file=sys.stderr)
        return account_work(chain_id, sender, bits)

    if kind == "transfer":
        return transfer(need("to"), need("amount"))
    if kind == "bond":
        return bond(need("amount"))
    if kind == "unbond":
        return unbond(need("amount"))
    if kind == "withdraw-unbonded":
        return withdraw_unbonded()
    if kind == "rotate-keys":
        return rotate_keys(args.new_signing_key, args.new_encryption_key)
    if kind == "register-subject":
        return register_subject(need("encryption_key"), work())
    if kind == "register-organization":
        return register_organization(need("name"), need("kind"), need("encryption_key"), work())
    if kind == "register-certifier":
        return register_certifier(need("name"), need("encryption_key"), work())
    if kind == "revoke-grant":
        return revoke_grant(need("grant"))
    if kind == "erase-content":
        return erase_content(need("credential")[0])
    if kind == "request-access":
        return request_access(need("subject"), need("credential"), need("purpose"))
    if kind == "record-inspection":
        return record_inspection(need("grant"), args.failure)
    if kind == "json":
        return json.loads(need("payload_json"))
    raise SystemExit(f"unknown payload {kind}")


def submit(args: argparse.Namespace) -> int:
    api = args.api.rstrip("/")
    seed = bytes.fromhex(args.seed_hex)
    # An account keeps the id of the key that created it when it rotates its signing key.
    sender = args.sender or account_id(seed)
    chain_id = args.chain_id or http("GET", f"{api}/v1/status")["chain_id"]
    nonce = args.nonce
    if nonce is None:
        nonce = http("GET", f"{api}/v1/accounts/{sender}")["next_nonce"]
    payload = build_payload(args, api, chain_id, sender)
    stx = sign_transaction(make_transaction(chain_id, sender, nonce, payload), seed)
    body = signed_transaction_bytes(stx)
    tx_hash = transaction_hash(stx)
    print(f"sender {sender}, nonce {nonce}, transaction {tx_hash}", file=sys.stderr)
    if args.dry_run:
        print(json.dumps({"transaction": stx, "bytes": body.hex(), "hash": tx_hash}, indent=2))
        return 0
    try:
        answer = http("POST", f"{api}/v1/transactions", body, "application/octet-stream")
    except ApiError as e:
        print(f"refused: {e}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    if answer.get("hash") != tx_hash:
        print(f"the node names the transaction {answer.get('hash')}, this module {tx_hash}", file=sys.stderr)
        return 1
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.timeout
    unknown = 0
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            state = http("GET", f"{api}/v1/transactions/{tx_hash}")
        except ApiError as e:
            if e.status != 404:
                print(f"cannot follow the transaction: {e}", file=sys.stderr)
                return 1
            # Neither pending nor committed: dropped from the mempool (a block builder
            # found it no longer valid). Asked a few times, as the answer may come
            # between leaving the mempool and the block's indexing.
            unknown += 1
            if unknown >= 4:
                print(f"rejected: the node no longer knows transaction {tx_hash}: {e.body}", file=sys.stderr)
                return 1
            continue
        unknown = 0
        if state.get("status") == "committed":
            print(json.dumps(state, indent=2))
            return 0
    print(f"timed out: transaction {tx_hash} not committed after {args.timeout:g} s", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Build, sign and submit MPMS transactions.")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check-vectors", help="check this module against the test vectors")
    check.add_argument("path", help="docs/encoding-vectors.json")

    ident = commands.add_parser("account-id", help="the account id of a seed")
    ident.add_argument("--seed-hex", required=True, help="32-byte Ed25519 seed, hex")

    s = commands.add_parser(
        "submit",
        help="sign a transaction and POST it to a node",
        epilog="payloads: " + "; ".join(f"{k} {v}" for k, v in PAYLOAD_BUILDERS.items()),
    )
    s.add_argument("--api", required=True, help="the node's API, e.g. http://127.0.0.1:8080")
    s.add_argument("--chain-id", help="the chain id (default: asked from /v1/status)")
    s.add_argument("--seed-hex", required=True, help="the sender's 32-byte Ed25519 seed, hex")
    s.add_argument("--payload", required=True, choices=sorted(PAYLOAD_BUILDERS))
    s.add_argument("--sender", help="the sending account, if its signing key was rotated "
                   "(default: the account of --seed-hex)")
    s.add_argument("--nonce", type=int, help="default: next_nonce from /v1/accounts/{sender}")
    s.add_argument("--to", help="transfer: the recipient account (hex)")
    s.add_argument("--amount", type=int, help="transfer, bond, unbond: the amount")
    s.add_argument("--encryption-key", help="registrations: X25519 public key (hex)")
    s.add_argument("--name", help="register-organization, register-certifier: public name")
    s.add_argument("--kind", help="register-organization: hospital, university, medical-college, "
                   "licensing-board, government-agency, course-provider, other, employer, insurer")
    s.add_argument("--work-bits", type=int, help="registrations: proof-of-work bits (default: from /v1/params)")
    s.add_argument("--new-signing-key", help="rotate-keys: the new Ed25519 public key (hex)")
    s.add_argument("--new-encryption-key", help="rotate-keys: the new X25519 public key (hex)")
    s.add_argument("--grant", help="revoke-grant, record-inspection: the grant id (hex)")
    s.add_argument("--credential", action="append", help="erase-content, request-access: a credential id (hex)")
    s.add_argument("--subject", help="request-access: the subject asked")
    s.add_argument("--purpose", help="request-access: why")
    s.add_argument("--failure", help="record-inspection: why the inspection failed (default: verified)")
    s.add_argument("--payload-json", help="json: the payload in its JSON form")
    s.add_argument("--wait", action="store_true", help="poll until committed (exit 1 if rejected or after --timeout)")
    s.add_argument("--timeout", type=float, default=30.0, help="seconds --wait waits (default 30)")
    s.add_argument("--dry-run", action="store_true", help="print the signed transaction, do not POST it")

    args = parser.parse_args(argv)
    if args.command == "check-vectors":
        return check_vectors(args.path)
    if args.command == "account-id":
        print(account_id(bytes.fromhex(args.seed_hex)))
        return 0
    try:
        return submit(args)
    except ApiError as e:
        print(f"node error: {e}", file=sys.stderr)
        return 1
    except urllib.error.URLError as e:
        print(f"cannot reach the node: {e.reason}", file=sys.stderr)
        return 1
    except EncodeError as e:
        print(f"cannot encode the transaction: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
