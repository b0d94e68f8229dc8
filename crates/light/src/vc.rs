//! W3C Verifiable Credentials: a credential in the VC Data Model 2.0, secured as a
//! JWT (VC-JOSE-COSE, `typ` `vc+jwt`, EdDSA) with the certifier's ed25519 key, the
//! certifier named by its `did:key`.
//!
//! The certifier makes it when it issues and delivers it inside the encrypted content,
//! so only the subject (and those it grants access) ever hold it. Its
//! `credentialStatus` names the chain and the credential id; a verifier obtains a
//! status proof from any node of the chain (`GET /v1/credentials/{id}/status-proof`)
//! and checks it with `mpmsd verify`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use mpms_crypto::{PublicKey, SigningKey};
use mpms_ledger::credential::CredentialContent;
use mpms_ledger::transaction::{CredentialClaim, STATUS_LIST_BITS};
use mpms_ledger::CredentialId;
use serde_json::{json, Value};

/// The JWT `typ` of a VC-JOSE-COSE credential.
pub const VC_JWT_TYPE: &str = "vc+jwt";
/// The VC Data Model 2.0 base context.
pub const VC_CONTEXT: &str = "https://www.w3.org/ns/credentials/v2";
/// The longest JWT accepted (a credential is a few kilobytes).
pub const MAX_JWT_BYTES: usize = 64 << 10;

/// The multicodec prefix of an ed25519 public key (varint 0xed).
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];

/// Why a Verifiable Credential could not be made or does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VcError {
    /// Not a `did:key` of an ed25519 key.
    #[error("not an ed25519 did:key: {0}")]
    DidKey(String),
    /// Signing failed.
    #[error("signing the credential: {0}")]
    Sign(String),
    /// The JWT is malformed, of another type, or its signature does not verify.
    #[error("credential JWT: {0}")]
    Jwt(String),
    /// The credential's content does not say what the chain's claim says.
    #[error("the credential does not match the on-chain claim: {0}")]
    Mismatch(String),
}

/// The `did:key` of an ed25519 public key: `did:key:z` and the key in base58btc,
/// multicodec-prefixed.
pub fn did_key(key: &PublicKey) -> String {
    let mut bytes = ED25519_MULTICODEC.to_vec();
    bytes.extend_from_slice(key.as_bytes());
    format!("did:key:z{}", bs58::encode(bytes).into_string())
}

/// The ed25519 public key a `did:key` (or its verification method `did:key:z…#z…`)
/// names. Refused: a key that is not a canonical encoding of a point outside the
/// small-order subgroup (the chain's signature rule accepts none), a non-canonical
/// base58 spelling, and a verification method whose fragment is not the key's.
pub fn key_of_did(did: &str) -> Result<PublicKey, VcError> {
    let bad = |why: &str| {
        VcError::DidKey(format!(
            "{}: {why}",
            did.chars().take(120).collect::<String>()
        ))
    };
    let mut parts = did.splitn(2, '#');
    let id = parts.next().unwrap_or_default();
    let encoded = id
        .strip_prefix("did:key:z")
        .ok_or_else(|| bad("not a base58btc did:key"))?;
    if encoded.len() > 100 {
        return Err(bad("too long"));
    }
    let bytes = bs58::decode(encoded)
        .into_vec()
        .map_err(|_| bad("not base58"))?;
    let key = bytes
        .strip_prefix(&ED25519_MULTICODEC[..])
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| bad("not an ed25519 key"))?;
    let key = PublicKey::from_bytes(key);
    if !key.is_valid() {
        return Err(bad(
            "not a valid ed25519 key (small order, or a non-canonical point)",
        ));
    }
    if did_key(&key) != id {
        return Err(bad("a non-canonical spelling of the key"));
    }
    if let Some(fragment) = parts.next() {
        if Some(fragment) != id.strip_prefix("did:key:") {
            return Err(bad("the fragment names another key"));
        }
    }
    Ok(key)
}

/// An RFC 3339 time (UTC, seconds) of Unix milliseconds.
pub(crate) fn rfc3339(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The credential's URN: chain and id.
pub fn credential_urn(chain_id: &str, id: &CredentialId) -> String {
    format!("urn:mpms:{chain_id}:credential:{id}")
}

/// The URN of schema `schema` on chain `chain_id` (the credential's
/// `credentialSchema`).
pub fn schema_urn(chain_id: &str, schema: &str) -> String {
    format!("urn:mpms:{chain_id}:schema:{schema}")
}

/// The IRI of one term of the credential's vocabulary.
fn term(name: &str) -> String {
    format!("urn:mpms:vocab#{name}")
}

/// The credential's own JSON-LD context: every term it uses beyond the VC Data Model
/// 2.0 context, each given an IRI (`urn:mpms:vocab#…`), carried inline so that a
/// JSON-LD processor needs nothing fetched to read it.
pub fn mpms_context() -> Value {
    let id_term = |name: &str| json!({ "@id": term(name), "@type": "@id" });
    json!({
        "@protected": true,
        "MpmsCredential": term("MpmsCredential"),
        "MpmsCredentialSchema": term("MpmsCredentialSchema"),
        "MpmsChainStatus": term("MpmsChainStatus"),
        "holderName": term("holderName"),
        "dateOfBirth": term("dateOfBirth"),
        "claims": { "@id": term("claims"), "@type": "@json" },
        "documents": { "@id": term("documents"), "@container": "@set" },
        "label": term("label"),
        "sha256": term("sha256"),
        "certifier": id_term("certifier"),
        "practitioner": id_term("practitioner"),
        "supersedes": id_term("supersedes"),
        "contentCommitment": term("contentCommitment"),
        "chain": term("chain"),
        "height": term("height"),
        "credential": term("credential"),
        "statusProof": term("statusProof"),
    })
}

/// The path, under a node's API address, of list `list` of `certifier`'s status
/// lists.
pub fn status_list_path(certifier: &PublicKey, list: u64) -> String {
    format!("/v1/status-lists/{certifier}/{list}")
}

/// The longest node API address accepted in a credential's status list address.
const MAX_STATUS_BASE: usize = 400;

/// The API address (`http(s)://host[:port][/path]`) under which a credential names
/// its status list, checked: `http` or `https`, letters, digits and `.-_~:/[]` only
/// (no query, fragment or escapes), at most [`MAX_STATUS_BASE`] bytes.
pub fn check_status_base(base: &str) -> Result<(), VcError> {
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))
        .ok_or_else(|| VcError::Mismatch("the status list address is not http(s)".into()))?;
    if rest.is_empty()
        || base.len() > MAX_STATUS_BASE
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_~:/[]".contains(&b))
    {
        return Err(VcError::Mismatch(format!(
            "the status list address {:?} is not a plain http(s) address",
            base.chars().take(120).collect::<String>()
        )));
    }
    Ok(())
}

/// The credential (VC Data Model 2.0) of `claim` with `content` on chain `chain_id`,
/// issued by the holder of `issuer_key` (the certifier's signing key in force), its
/// W3C status list published under the node API address `status_base`. Members with
/// nothing to say are left out (a credential without documents has no
/// `documents`); `validFrom` is the claim's start, which the issuing client sets to
/// the moment it signs.
pub fn credential_document(
    chain_id: &str,
    claim: &CredentialClaim,
    content: &CredentialContent,
    issuer_key: &PublicKey,
    status_base: &str,
) -> Value {
    let id = claim.id();
    let urn = credential_urn(chain_id, &id);
    let mut subject = serde_json::Map::new();
    subject.insert("id".into(), did_key(&claim.subject).into());
    if !content.holder_name.is_empty() {
        subject.insert("holderName".into(), content.holder_name.clone().into());
    }
    if !content.date_of_birth.is_empty() {
        subject.insert("dateOfBirth".into(), content.date_of_birth.clone().into());
    }
    if !content.fields.is_empty() {
        subject.insert("claims".into(), json!(content.fields));
    }
    if !content.documents.is_empty() {
        let documents: Vec<Value> = content
            .documents
            .iter()
            .map(|d| json!({ "label": d.label, "sha256": d.sha256.to_string() }))
            .collect();
        subject.insert("documents".into(), documents.into());
    }
    // Who vouches: the certifier, and the practitioner who signed for it under its
    // delegation (then the issuer above is the practitioner's key).
    subject.insert("certifier".into(), did_key(&claim.certifier).into());
    if let Some(practitioner) = &claim.practitioner {
        subject.insert("practitioner".into(), did_key(practitioner).into());
    }
    if let Some(earlier) = &claim.supersedes {
        subject.insert(
            "supersedes".into(),
            credential_urn(chain_id, earlier).into(),
        );
    }
    subject.insert(
        "contentCommitment".into(),
        claim.commitment.to_string().into(),
    );
    let list = claim.status_index / STATUS_LIST_BITS;
    let list_url = format!("{status_base}{}", status_list_path(&claim.certifier, list));
    json!({
        "@context": [VC_CONTEXT, mpms_context()],
        "id": urn,
        "type": ["VerifiableCredential", "MpmsCredential"],
        "issuer": did_key(issuer_key),
        "validFrom": rfc3339(claim.valid_from_ms),
        "validUntil": rfc3339(claim.valid_until_ms),
        "credentialSchema": {
            "id": schema_urn(chain_id, &claim.schema),
            "type": "MpmsCredentialSchema",
        },
        "credentialSubject": subject,
        "credentialStatus": [
            {
                "id": format!("{urn}#status"),
                "type": "MpmsChainStatus",
                "chain": chain_id,
                "credential": id.to_string(),
                "statusProof": format!("GET /v1/credentials/{id}/status-proof from any node of chain {chain_id}; check it with `mpmsd verify`"),
            },
            {
                "id": format!("{list_url}#{}", claim.status_index % STATUS_LIST_BITS),
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": (claim.status_index % STATUS_LIST_BITS).to_string(),
                "statusListCredential": list_url,
            },
        ],
    })
}

/// A compact JWS (RFC 7515) of `payload` under `header`, signed with `key` (EdDSA:
/// an ed25519 signature over the ASCII signing input). Written here rather than by
/// the JOSE library so that any of our keys signs, a derived entry key included.
pub(crate) fn sign_compact(
    header: &Header,
    payload: &Value,
    key: &SigningKey,
) -> Result<String, VcError> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    if header.alg != Algorithm::EdDSA {
        return Err(VcError::Sign("only EdDSA is signed".into()));
    }
    let signing_input = format!("{}.{}", b64_json(header)?, b64_json(payload)?);
    let signature = key.sign_raw(signing_input.as_bytes());
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_bytes())
    ))
}

/// The base64url (unpadded) of `value`'s JSON.
fn b64_json<T: serde::Serialize>(value: &T) -> Result<String, VcError> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let json = serde_json::to_vec(value).map_err(|e| VcError::Sign(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Signs `credential` as a `vc+jwt` with `key`, naming the key as
/// `did:key:…#…` in `kid`.
pub fn sign_jwt(credential: &Value, key: &SigningKey) -> Result<String, VcError> {
    let did = did_key(&key.public_key());
    let fragment = did.trim_start_matches("did:key:").to_string();
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(VC_JWT_TYPE.into());
    header.cty = Some("vc".into());
    header.kid = Some(format!("{did}#{fragment}"));
    sign_compact(&header, credential, key)
}

/// A Verifiable Credential whose JWS checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedVc {
    /// The key that signed it (the issuer's `did:key`).
    pub issuer_key: PublicKey,
    /// The chain the credential is on.
    pub chain_id: String,
    /// The credential id.
    pub credential_id: CredentialId,
    /// The credential document.
    pub credential: Value,
}

/// Checks a `vc+jwt`'s header (EdDSA, `vc+jwt`, a `did:key` `kid` naming the
/// issuer's key), its signature under that key, and that the document's `issuer` is
/// that key: the signer and the document it signed.
pub fn verify_signed(jwt: &str) -> Result<(PublicKey, Value), VcError> {
    let jwt = jwt.trim();
    if jwt.len() > MAX_JWT_BYTES {
        return Err(VcError::Jwt(format!("longer than {MAX_JWT_BYTES} bytes")));
    }
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| VcError::Jwt(e.to_string()))?;
    if header.alg != Algorithm::EdDSA {
        return Err(VcError::Jwt(format!(
            "algorithm {:?}, not EdDSA",
            header.alg
        )));
    }
    if header.typ.as_deref() != Some(VC_JWT_TYPE) {
        return Err(VcError::Jwt(format!(
            "type {:?}, not {VC_JWT_TYPE}",
            header.typ
        )));
    }
    let kid = header
        .kid
        .ok_or_else(|| VcError::Jwt("no kid naming the issuer's key".into()))?;
    let issuer_key = key_of_did(&kid)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let document: Value = jsonwebtoken::decode(
        jwt,
        &DecodingKey::from_ed_der(issuer_key.as_bytes()),
        &validation,
    )
    .map_err(|e| VcError::Jwt(e.to_string()))?
    .claims;
    let issuer = document["issuer"].as_str().unwrap_or_default();
    if key_of_did(issuer)? != issuer_key {
        return Err(VcError::Jwt("kid names another key than the issuer".into()));
    }
    Ok((issuer_key, document))
}

/// Checks a `vc+jwt`: its header and signature ([`verify_signed`]) and the
/// credential's shape (context, type, issuer, status naming the chain and id).
pub fn verify_jwt(jwt: &str) -> Result<VerifiedVc, VcError> {
    let (issuer_key, credential) = verify_signed(jwt)?;
    if credential["@context"][0] != VC_CONTEXT
        || !credential["type"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x == "VerifiableCredential"))
    {
        return Err(VcError::Jwt("not a VC Data Model 2.0 credential".into()));
    }
    let status = credential["credentialStatus"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["type"] == "MpmsChainStatus"))
        .ok_or_else(|| VcError::Jwt("no MpmsChainStatus in credentialStatus".into()))?;
    let chain_id = status["chain"]
        .as_str()
        .ok_or_else(|| VcError::Jwt("credentialStatus names no chain".into()))?
        .to_string();
    let credential_id = status["credential"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| VcError::Jwt("credentialStatus names no credential id".into()))?;
    Ok(VerifiedVc {
        issuer_key,
        chain_id,
        credential_id,
        credential,
    })
}

/// The members of `credentialSubject` that come from the personal content (checked
/// only against the content itself).
const PERSONAL_FIELDS: [&str; 4] = ["holderName", "dateOfBirth", "claims", "documents"];

/// `credential` without its personal subject fields.
fn without_personal(credential: &Value) -> Value {
    let mut credential = credential.clone();
    if let Some(subject) = credential
        .get_mut("credentialSubject")
        .and_then(Value::as_object_mut)
    {
        for field in PERSONAL_FIELDS {
            subject.remove(field);
        }
    }
    credential
}

impl VerifiedVc {
    /// The node API address under which the credential names its status list: the
    /// issuer's choice (any node serves the same list), checked to be an http(s)
    /// origin; the rest of the address is checked against the claim with the whole
    /// document.
    fn status_base(&self) -> Result<String, VcError> {
        let url = self.credential["credentialStatus"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["type"] == "BitstringStatusListEntry"))
            .and_then(|s| s["statusListCredential"].as_str())
            .ok_or_else(|| VcError::Mismatch("no BitstringStatusListEntry".into()))?;
        let base = url
            .find("/v1/status-lists/")
            .map(|at| &url[..at])
            .ok_or_else(|| VcError::Mismatch("the status list address".into()))?;
        check_status_base(base)?;
        Ok(base.to_string())
    }

    /// Checks that the credential is exactly the document the chain's `claim` makes,
    /// every member of it (id, type, issuer, subject, certifier, practitioner,
    /// schema, commitment, dates, status), but for the personal fields, which only
    /// the content can check ([`VerifiedVc::matches_content`]); and that it was
    /// signed with `certifier_key`, the key the claim's signer held at the issue
    /// height. A member the chain does not give is refused, not ignored.
    pub fn matches(
        &self,
        claim: &CredentialClaim,
        certifier_key: &PublicKey,
    ) -> Result<(), VcError> {
        if self.credential_id != claim.id() {
            return Err(VcError::Mismatch("credential id".into()));
        }
        if &self.issuer_key != certifier_key {
            return Err(VcError::Mismatch(
                "signed with another key than the signer's at the issue height".into(),
            ));
        }
        let expected = credential_document(
            &self.chain_id,
            claim,
            &CredentialContent::default(),
            &self.issuer_key,
            &self.status_base()?,
        );
        let (got, want) = (
            without_personal(&self.credential),
            without_personal(&expected),
        );
        if got != want {
            let member = want
                .as_object()
                .and_then(|w| {
                    got.as_object().and_then(|g| {
                        g.keys()
                            .chain(w.keys())
                            .find(|k| g.get(*k) != w.get(*k))
                            .cloned()
                    })
                })
                .unwrap_or_else(|| "the document".into());
            return Err(VcError::Mismatch(format!(
                "{member} is not what the chain's claim says"
            )));
        }
        Ok(())
    }

    /// Checks that the credential is exactly the document of `content`, the content
    /// the on-chain `claim` commits to (the caller checks that commitment), personal
    /// fields included: without this, they are only what the key that signed says.
    pub fn matches_content(
        &self,
        claim: &CredentialClaim,
        content: &CredentialContent,
    ) -> Result<(), VcError> {
        if content.commitment() != claim.commitment {
            return Err(VcError::Mismatch(
                "the content is not what the claim commits to".into(),
            ));
        }
        let expected = credential_document(
            &self.chain_id,
            claim,
            content,
            &self.issuer_key,
            &self.status_base()?,
        );
        if self.credential != expected {
            return Err(VcError::Mismatch(
                "the credential's fields differ from the committed content".into(),
            ));
        }
        Ok(())
    }
}

/// The JWT's three parts, decoded (for tools that show a token).
pub fn decode_parts(jwt: &str) -> Option<(Value, Value)> {
    let mut parts = jwt.trim().split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    let payload = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    Some((
        serde_json::from_slice(&header).ok()?,
        serde_json::from_slice(&payload).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use mpms_ledger::testkit::TestChain;

    fn signed() -> (TestChain, CredentialClaim, String) {
        let chain = TestChain::new(4, 5);
        let content = chain.content(1, 1);
        let claim = CredentialClaim {
            schema: "med.cardiology".into(),
            subject: chain.subject(1).0.public_key(),
            certifier: chain.certifier.public_key(),
            commitment: content.commitment(),
            valid_from_ms: 1_767_225_600_000,
            valid_until_ms: 1_798_761_600_000,
            practitioner: None,
            supersedes: None,
            status_index: 131_072 + 17,
        };
        let doc = credential_document(
            chain.chain_id(),
            &claim,
            &content,
            &chain.certifier.public_key(),
            "https://mpms.hospital.example",
        );
        let jwt = sign_jwt(&doc, &chain.certifier).unwrap();
        (chain, claim, jwt)
    }

    #[test]
    fn did_key_round_trips_and_has_the_ed25519_form() {
        let key = SigningKey::from_seed(&[7; 32]).public_key();
        let did = did_key(&key);
        assert!(did.starts_with("did:key:z6Mk"), "{did}");
        assert_eq!(key_of_did(&did).unwrap(), key);
        assert_eq!(key_of_did(&format!("{did}#{}", &did[8..])).unwrap(), key);
        for bad in ["did:web:x", "did:key:z", "did:key:zzzz0OIl", "did:key:z6LS"] {
            assert!(key_of_did(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_signed_credential_verifies_and_matches_its_claim() {
        let (chain, claim, jwt) = signed();
        let vc = verify_jwt(&jwt).unwrap();
        assert_eq!(vc.chain_id, chain.chain_id());
        assert_eq!(vc.credential_id, claim.id());
        vc.matches(&claim, &chain.certifier.public_key()).unwrap();
        let (header, payload) = decode_parts(&jwt).unwrap();
        assert_eq!(header["typ"], "vc+jwt");
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(payload["validFrom"], "2026-01-01T00:00:00Z");
        assert!(
            payload.get("vc").is_none(),
            "the payload is the credential itself"
        );
        // Signed by another key than the certifier held: refused.
        let other = SigningKey::from_seed(&[9; 32]).public_key();
        assert!(vc.matches(&claim, &other).is_err());
        let mut changed = claim.clone();
        changed.schema = "med.other".into();
        assert!(vc.matches(&changed, &chain.certifier.public_key()).is_err());
        // The personal fields are the committed content's, and nothing else.
        let content = chain.content(1, 1);
        vc.matches_content(&claim, &content).unwrap();
        let mut other = content.clone();
        other.fields.insert(
            "result".into(),
            mpms_ledger::claims::FieldValue::Text("failed".into()),
        );
        assert!(vc.matches_content(&claim, &other).is_err());
    }

    /// The credential follows the VC Data Model 2.0: every term it uses is defined by
    /// the base context or its own inline one, its schema is a `credentialSchema`
    /// (not a member of the subject), members with nothing to say are left out, and
    /// its status is readable by a generic verifier (a `BitstringStatusListEntry`).
    /// (The credential used to carry `schema` inside its subject, undefined terms,
    /// and empty members.)
    #[test]
    fn the_credential_follows_the_vc_data_model() {
        let (chain, claim, jwt) = signed();
        let (_, vc) = decode_parts(&jwt).unwrap();
        // The terms of the VC Data Model 2.0 context it relies on.
        let base = [
            "@context",
            "id",
            "type",
            "issuer",
            "validFrom",
            "validUntil",
            "credentialSubject",
            "credentialSchema",
            "credentialStatus",
            "statusPurpose",
            "statusListIndex",
            "statusListCredential",
        ];
        let own = mpms_context();
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        out.push(k.clone());
                        // The content of a JSON literal (`claims`) is not JSON-LD.
                        if k != "claims" && k != "@context" {
                            walk(x, out);
                        }
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        let mut terms = Vec::new();
        walk(&vc, &mut terms);
        for term in &terms {
            assert!(
                base.contains(&term.as_str()) || own.get(term).is_some(),
                "{term} is defined by no context"
            );
        }
        for t in ["MpmsCredential", "MpmsCredentialSchema", "MpmsChainStatus"] {
            assert!(own.get(t).is_some(), "type {t}");
        }
        assert_eq!(vc["@context"][1], own);
        assert_eq!(
            vc["credentialSchema"]["id"],
            schema_urn(chain.chain_id(), &claim.schema)
        );
        assert!(vc["credentialSubject"].get("schema").is_none());
        // Nothing empty: the fixture has no practitioner or correction, and says
        // nothing of them.
        fn empty(v: &Value) -> bool {
            match v {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty() || a.iter().any(empty),
                Value::Object(m) => m.is_empty() || m.values().any(empty),
                _ => false,
            }
        }
        assert!(!empty(&vc), "{vc:#}");
        for absent in ["practitioner", "supersedes"] {
            assert!(vc["credentialSubject"].get(absent).is_none(), "{absent}");
        }
        // Content without a date of birth, documents or fields has no such members.
        let mut bare = chain.content(1, 1);
        bare.date_of_birth.clear();
        bare.documents.clear();
        bare.fields.clear();
        let doc = credential_document(
            chain.chain_id(),
            &claim,
            &bare,
            &chain.certifier.public_key(),
            "https://mpms.hospital.example",
        );
        assert!(!empty(&doc), "{doc:#}");
        for absent in ["dateOfBirth", "documents", "claims"] {
            assert!(doc["credentialSubject"].get(absent).is_none(), "{absent}");
        }
        let entry = &vc["credentialStatus"][1];
        assert_eq!(entry["type"], "BitstringStatusListEntry");
        assert_eq!(entry["statusListIndex"], "17");
        assert_eq!(
            entry["statusListCredential"],
            format!(
                "https://mpms.hospital.example/v1/status-lists/{}/1",
                claim.certifier
            )
        );
    }

    /// Keys the chain's signature rule would never accept are refused in a did:key:
    /// small-order points, non-canonical encodings, a non-canonical base58 spelling,
    /// a fragment naming another key. (They used to be read as keys.)
    #[test]
    fn small_order_and_non_canonical_did_keys_are_refused() {
        let did_of = |bytes: [u8; 32]| {
            let mut b = ED25519_MULTICODEC.to_vec();
            b.extend_from_slice(&bytes);
            format!("did:key:z{}", bs58::encode(b).into_string())
        };
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut order_two = [0u8; 32];
        order_two[0] = 0xec;
        order_two[31] = 0x7f;
        order_two
            .iter_mut()
            .take(31)
            .skip(1)
            .for_each(|b| *b = 0xff);
        let non_canonical_y = [0xffu8; 32];
        for bytes in [identity, order_two, non_canonical_y] {
            let did = did_of(bytes);
            assert!(matches!(key_of_did(&did), Err(VcError::DidKey(_))), "{did}");
        }
        let key = SigningKey::from_seed(&[7; 32]).public_key();
        let did = did_key(&key);
        // A leading '1' in base58 is a leading zero byte: another spelling.
        let respelled = format!("did:key:z1{}", &did["did:key:z".len()..]);
        assert!(key_of_did(&respelled).is_err());
        let other = did_key(&SigningKey::from_seed(&[8; 32]).public_key());
        assert!(key_of_did(&format!("{did}#{}", &other[8..])).is_err());
    }

    /// Every member of the credential is what the chain's claim says, not only a
    /// few: another certifier or an extra member, re-signed by the same key, is
    /// refused. (Members other than id, subject, schema, commitment and dates used to
    /// pass unchecked.)
    #[test]
    fn a_credential_is_matched_member_by_member() {
        let (chain, claim, jwt) = signed();
        let (_, payload) = decode_parts(&jwt).unwrap();
        let resign = |edit: &dyn Fn(&mut Value)| {
            let mut doc = payload.clone();
            edit(&mut doc);
            verify_jwt(&sign_jwt(&doc, &chain.certifier).unwrap()).unwrap()
        };
        let key = chain.certifier.public_key();
        let other = did_key(&SigningKey::from_seed(&[9; 32]).public_key());
        for edit in [
            Box::new(move |d: &mut Value| {
                d["credentialSubject"]["certifier"] = other.clone().into()
            }) as Box<dyn Fn(&mut Value)>,
            Box::new(|d: &mut Value| d["note"] = "trust me".into()),
            Box::new(|d: &mut Value| d["type"] = serde_json::json!(["VerifiableCredential"])),
        ] {
            assert!(resign(&*edit).matches(&claim, &key).is_err());
        }
        // The personal fields are left to the content check.
        let renamed = resign(&|d| d["credentialSubject"]["holderName"] = "Someone".into());
        renamed.matches(&claim, &key).unwrap();
        assert!(renamed
            .matches_content(&claim, &chain.content(1, 1))
            .is_err());
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let (_, _, jwt) = signed();
        let parts: Vec<&str> = jwt.split('.').collect();
        // A payload byte changed.
        let mut payload = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
        let at = payload.iter().position(|b| *b == b'I').unwrap();
        payload[at] = b'J';
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(payload),
            parts[2]
        );
        assert!(matches!(verify_jwt(&forged), Err(VcError::Jwt(_))));
        // alg none, or another type: refused before any signature check.
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"vc+jwt"}"#);
        assert!(verify_jwt(&format!("{none}.{}.", parts[1])).is_err());
        let other = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
        assert!(verify_jwt(&format!("{other}.{}.{}", parts[1], parts[2])).is_err());
        assert!(verify_jwt("not a token").is_err());
        assert!(verify_jwt(&"a".repeat(MAX_JWT_BYTES + 1)).is_err());
    }
}
