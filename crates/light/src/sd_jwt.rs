//! The credential as an IETF SD-JWT VC (`dc+sd-jwt`): the holder shows a verifier
//! only the fields it chooses, and proves with its own key that it is the holder.
//!
//! The certifier (or its practitioner) signs, beside the `vc+jwt`, an issuer JWT
//! whose personal members are each replaced by the SHA-256 digest of a salted
//! disclosure: `holder_name`, `date_of_birth`, `documents`, and each field of
//! `claims`. The chain's part is always shown: the issuer (`iss`, a `did:key`), the
//! type (`vct`, the schema's URN), the dates (`nbf`, `exp`), the holder's key
//! (`cnf.jwk`, the subject's account key) and the credential's id on its chain
//! (`mpms_chain`, `mpms_credential`, `mpms_certifier`, `mpms_practitioner`), so a
//! verifier can check it against the chain as it checks the `vc+jwt`.
//!
//! A presentation is the issuer JWT, the disclosures the holder chose, and a Key
//! Binding JWT (`kb+jwt`) signed with the subject's key over the verifier's audience
//! and nonce, the time, and the SHA-256 of everything before it (`sd_hash`): without
//! the holder's key, a token seen once cannot be shown again.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use mpms_crypto::{CryptoRng, Hash, PublicKey, RngCore, SigningKey};
use mpms_ledger::claims::FieldValue;
use mpms_ledger::credential::CredentialContent;
use mpms_ledger::transaction::CredentialClaim;
use mpms_ledger::CredentialId;
use serde_json::{json, Map, Value};

use crate::vc::{did_key, key_of_did, schema_urn, sign_compact, VcError};

/// The `typ` of an SD-JWT VC's issuer JWT.
pub const SD_JWT_TYPE: &str = "dc+sd-jwt";
/// The `typ` of a Key Binding JWT.
pub const KB_JWT_TYPE: &str = "kb+jwt";
/// The longest presentation accepted.
pub const MAX_SD_JWT_BYTES: usize = 64 << 10;
/// The most disclosures a presentation may carry.
pub const MAX_DISCLOSURES: usize = 256;
/// How far a Key Binding JWT's `iat` may be ahead of the verifier's clock.
pub const KB_CLOCK_SKEW_MS: u64 = 60_000;

/// The members of the issuer JWT a holder may withhold (the fields of `claims` too).
pub const DISCLOSABLE: [&str; 3] = ["holder_name", "date_of_birth", "documents"];

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The base64url SHA-256 of `text` (a disclosure's digest, or `sd_hash`).
fn digest(text: &str) -> String {
    b64(Hash::digest(text.as_bytes()).as_bytes())
}

fn sign(header: Header, payload: &Value, key: &SigningKey) -> Result<String, VcError> {
    sign_compact(&header, payload, key)
}

/// The JWK of an ed25519 public key.
pub fn jwk(key: &PublicKey) -> Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(key.as_bytes()) })
}

fn key_of_jwk(jwk: &Value) -> Result<PublicKey, VcError> {
    let bad = || VcError::Jwt("cnf.jwk is not an Ed25519 JWK".into());
    if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" {
        return Err(bad());
    }
    let x = jwk["x"]
        .as_str()
        .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(bad)?;
    // The same checks as a did:key: a canonical point of large order.
    key_of_did(&did_key(&PublicKey::from_bytes(x)))
}

/// A field's value as a verifier reads it: text, dates and codes as strings or
/// objects, booleans as booleans, numbers with their unit.
pub fn plain_value(value: &FieldValue) -> Value {
    match value {
        FieldValue::Text(s) | FieldValue::Date(s) => json!(s),
        FieldValue::Boolean(b) => json!(b),
        FieldValue::Number { value, unit } => json!({ "value": value, "unit": unit }),
        FieldValue::Code {
            system,
            code,
            display,
        } => match display {
            Some(display) => json!({ "system": system, "code": code, "display": display }),
            None => json!({ "system": system, "code": code }),
        },
    }
}

/// A salted disclosure of member `name` = `value`, and its digest.
fn disclose<R: RngCore + CryptoRng>(name: &str, value: Value, rng: &mut R) -> (String, String) {
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    let disclosure = b64(json!([b64(&salt), name, value]).to_string().as_bytes());
    let d = digest(&disclosure);
    (disclosure, d)
}

/// The SD-JWT VC of `claim` with `content` on chain `chain_id`, signed by the holder
/// of `issuer_key` (the certifier's key in force, or its practitioner's): the issuer
/// JWT followed by every disclosure, each ended by `~` (the form the holder keeps).
pub fn issue<R: RngCore + CryptoRng>(
    chain_id: &str,
    claim: &CredentialClaim,
    content: &CredentialContent,
    issuer_key: &SigningKey,
    rng: &mut R,
) -> Result<String, VcError> {
    let mut disclosures = Vec::new();
    let mut top = Vec::new();
    let mut personal: Vec<(&str, Value)> = Vec::new();
    if !content.holder_name.is_empty() {
        personal.push(("holder_name", json!(content.holder_name)));
    }
    if !content.date_of_birth.is_empty() {
        personal.push(("date_of_birth", json!(content.date_of_birth)));
    }
    if !content.documents.is_empty() {
        let documents: Vec<Value> = content
            .documents
            .iter()
            .map(|d| json!({ "label": d.label, "sha256": d.sha256.to_string() }))
            .collect();
        personal.push(("documents", json!(documents)));
    }
    for (name, value) in personal {
        let (disclosure, d) = disclose(name, value, rng);
        disclosures.push(disclosure);
        top.push(d);
    }
    let mut fields = Vec::new();
    for (name, value) in &content.fields {
        let (disclosure, d) = disclose(name, plain_value(value), rng);
        disclosures.push(disclosure);
        fields.push(d);
    }
    // Sorted: the order says nothing about which member a digest hides.
    top.sort();
    fields.sort();
    let mut payload = json!({
        "iss": did_key(&issuer_key.public_key()),
        "iat": claim.valid_from_ms / 1000,
        "nbf": claim.valid_from_ms / 1000,
        "exp": claim.valid_until_ms / 1000,
        "vct": schema_urn(chain_id, &claim.schema),
        "cnf": { "jwk": jwk(&claim.subject) },
        "mpms_chain": chain_id,
        "mpms_credential": claim.id().to_string(),
        "mpms_certifier": did_key(&claim.certifier),
        "_sd_alg": "sha-256",
        "_sd": top,
    });
    if let Some(practitioner) = &claim.practitioner {
        payload["mpms_practitioner"] = json!(did_key(practitioner));
    }
    if !fields.is_empty() {
        payload["claims"] = json!({ "_sd": fields });
    }
    let did = did_key(&issuer_key.public_key());
    let fragment = did.trim_start_matches("did:key:").to_string();
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(SD_JWT_TYPE.into());
    header.kid = Some(format!("{did}#{fragment}"));
    let jwt = sign(header, &payload, issuer_key)?;
    let mut out = jwt;
    out.push('~');
    for disclosure in disclosures {
        out.push_str(&disclosure);
        out.push('~');
    }
    Ok(out)
}

/// A disclosure read: its text, member name and value.
struct Disclosure {
    text: String,
    name: String,
    value: Value,
}

fn read_disclosure(text: &str) -> Result<Disclosure, VcError> {
    let bad = |why: &str| VcError::Jwt(format!("disclosure: {why}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| bad("not base64url"))?;
    let array: Vec<Value> = serde_json::from_slice(&bytes).map_err(|_| bad("not a JSON array"))?;
    match array.as_slice() {
        [Value::String(_), Value::String(name), value] => Ok(Disclosure {
            text: text.to_string(),
            name: name.clone(),
            value: value.clone(),
        }),
        _ => Err(bad("not [salt, name, value]")),
    }
}

/// The parts of an SD-JWT (issuer JWT, disclosures, Key Binding JWT if any).
struct Parts<'a> {
    issuer_jwt: &'a str,
    disclosures: Vec<&'a str>,
    kb_jwt: Option<&'a str>,
}

fn split(sd_jwt: &str) -> Result<Parts<'_>, VcError> {
    let sd_jwt = sd_jwt.trim();
    if sd_jwt.len() > MAX_SD_JWT_BYTES {
        return Err(VcError::Jwt(format!(
            "longer than {MAX_SD_JWT_BYTES} bytes"
        )));
    }
    let mut parts: Vec<&str> = sd_jwt.split('~').collect();
    if parts.len() < 2 {
        return Err(VcError::Jwt("not an SD-JWT (no ~)".into()));
    }
    let last = parts.pop().unwrap_or_default();
    let issuer_jwt = parts.remove(0);
    if parts.len() > MAX_DISCLOSURES {
        return Err(VcError::Jwt(format!(
            "more than {MAX_DISCLOSURES} disclosures"
        )));
    }
    if parts.iter().any(|d| d.is_empty()) {
        return Err(VcError::Jwt("an empty disclosure".into()));
    }
    Ok(Parts {
        issuer_jwt,
        disclosures: parts,
        kb_jwt: (!last.is_empty()).then_some(last),
    })
}

fn decode_jwt(jwt: &str, key: &PublicKey) -> Result<Value, VcError> {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    Ok(
        jsonwebtoken::decode::<Value>(jwt, &DecodingKey::from_ed_der(key.as_bytes()), &validation)
            .map_err(|e| VcError::Jwt(e.to_string()))?
            .claims,
    )
}

fn header_of(jwt: &str, typ: &str) -> Result<Header, VcError> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| VcError::Jwt(e.to_string()))?;
    if header.alg != Algorithm::EdDSA {
        return Err(VcError::Jwt(format!(
            "algorithm {:?}, not EdDSA",
            header.alg
        )));
    }
    if header.typ.as_deref() != Some(typ) {
        return Err(VcError::Jwt(format!("type {:?}, not {typ}", header.typ)));
    }
    Ok(header)
}

/// Replaces, in `object`, each `_sd` digest a disclosure answers by its member (and
/// the `claims` object's likewise); every disclosure must answer exactly one digest.
fn unpack(
    object: &mut Map<String, Value>,
    disclosures: &mut [Option<Disclosure>],
) -> Result<(), VcError> {
    let digests: Vec<String> = match object.remove("_sd") {
        None => Vec::new(),
        Some(Value::Array(all)) => all
            .into_iter()
            .map(|d| match d {
                Value::String(s) => Ok(s),
                _ => Err(VcError::Jwt("_sd holds a non-string".into())),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(VcError::Jwt("_sd is not an array".into())),
    };
    let mut seen = std::collections::HashSet::new();
    for d in digests {
        if !seen.insert(d.clone()) {
            return Err(VcError::Jwt("a digest appears twice".into()));
        }
        let found = disclosures
            .iter_mut()
            .find(|x| x.as_ref().is_some_and(|x| digest(&x.text) == d));
        if let Some(slot) = found {
            let Some(disclosure) = slot.take() else {
                continue;
            };
            if disclosure.name == "_sd" || disclosure.name == "..." {
                return Err(VcError::Jwt("a disclosure of a reserved name".into()));
            }
            if object.contains_key(&disclosure.name) {
                return Err(VcError::Jwt(format!(
                    "disclosure {:?} would overwrite a member",
                    disclosure.name
                )));
            }
            object.insert(disclosure.name, disclosure.value);
        }
    }
    Ok(())
}

/// A presentation whose issuer signature, disclosures and key binding checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedPresentation {
    /// The key that signed the issuer JWT (its `iss`).
    pub issuer_key: PublicKey,
    /// The holder's key (`cnf.jwk`), which signed the key binding.
    pub holder_key: PublicKey,
    /// The chain the credential is on.
    pub chain_id: String,
    /// The credential id.
    pub credential_id: CredentialId,
    /// The issuer JWT with the disclosed members in place (`_sd` and `_sd_alg`
    /// removed).
    pub disclosed: Value,
    /// Members the holder withheld.
    pub withheld: usize,
}

/// Checks a presentation made for `audience` with `nonce` at `now_ms`: the issuer
/// JWT's signature under its `did:key`, each disclosure answering one digest it
/// signed (none other accepted), and the Key Binding JWT: signed by the key in
/// `cnf.jwk`, for this audience and nonce, over exactly these disclosures
/// (`sd_hash`), made no earlier than `max_kb_age_ms` before `now_ms` and not
/// ahead of it.
pub fn verify_presentation(
    presentation: &str,
    audience: &str,
    nonce: &str,
    now_ms: u64,
    max_kb_age_ms: u64,
) -> Result<VerifiedPresentation, VcError> {
    let parts = split(presentation)?;
    let header = header_of(parts.issuer_jwt, SD_JWT_TYPE)?;
    let kid = header
        .kid
        .ok_or_else(|| VcError::Jwt("no kid naming the issuer's key".into()))?;
    let issuer_key = key_of_did(&kid)?;
    let mut payload = decode_jwt(parts.issuer_jwt, &issuer_key)?;
    if key_of_did(payload["iss"].as_str().unwrap_or_default())? != issuer_key {
        return Err(VcError::Jwt("kid names another key than iss".into()));
    }
    if payload["_sd_alg"] != "sha-256" {
        return Err(VcError::Jwt("_sd_alg is not sha-256".into()));
    }
    let holder_key = key_of_jwk(&payload["cnf"]["jwk"])?;
    // The key binding first: nothing of the disclosures is read for a token its
    // holder did not present.
    let kb = parts
        .kb_jwt
        .ok_or_else(|| VcError::Jwt("no key binding: the holder did not sign it".into()))?;
    header_of(kb, KB_JWT_TYPE)?;
    let binding = decode_jwt(kb, &holder_key)?;
    let presented = &presentation.trim()[..presentation.trim().len() - kb.len()];
    if binding["aud"] != audience {
        return Err(VcError::Jwt(
            "the key binding is for another audience".into(),
        ));
    }
    if binding["nonce"] != nonce {
        return Err(VcError::Jwt("the key binding is for another nonce".into()));
    }
    if binding["sd_hash"] != digest(presented) {
        return Err(VcError::Jwt(
            "the key binding is over other disclosures (sd_hash)".into(),
        ));
    }
    let iat_ms = binding["iat"]
        .as_u64()
        .and_then(|s| s.checked_mul(1000))
        .ok_or_else(|| VcError::Jwt("the key binding has no iat".into()))?;
    if iat_ms > now_ms.saturating_add(KB_CLOCK_SKEW_MS) {
        return Err(VcError::Jwt(
            "the key binding is dated in the future".into(),
        ));
    }
    if iat_ms.saturating_add(max_kb_age_ms) < now_ms {
        return Err(VcError::Jwt(format!(
            "the key binding is {} s old",
            (now_ms - iat_ms) / 1000
        )));
    }
    let mut disclosures: Vec<Option<Disclosure>> = parts
        .disclosures
        .iter()
        .map(|d| read_disclosure(d).map(Some))
        .collect::<Result<_, _>>()?;
    let shown = disclosures.len();
    let object = payload
        .as_object_mut()
        .ok_or_else(|| VcError::Jwt("the payload is not an object".into()))?;
    object.remove("_sd_alg");
    let mut withheld = object
        .get("_sd")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    unpack(object, &mut disclosures)?;
    if let Some(claims) = object.get_mut("claims") {
        let claims = claims
            .as_object_mut()
            .ok_or_else(|| VcError::Jwt("claims is not an object".into()))?;
        withheld += claims
            .get("_sd")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        unpack(claims, &mut disclosures)?;
    }
    if disclosures.iter().any(Option::is_some) {
        return Err(VcError::Jwt(
            "a disclosure the issuer did not sign (or given twice)".into(),
        ));
    }
    let chain_id = payload["mpms_chain"]
        .as_str()
        .ok_or_else(|| VcError::Jwt("no mpms_chain".into()))?
        .to_string();
    let credential_id = payload["mpms_credential"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| VcError::Jwt("no mpms_credential".into()))?;
    Ok(VerifiedPresentation {
        issuer_key,
        holder_key,
        chain_id,
        credential_id,
        disclosed: payload,
        withheld: withheld.saturating_sub(shown),
    })
}

impl VerifiedPresentation {
    /// Checks that the chain-bound members are exactly the chain's `claim`, signed
    /// with `signer` (the key that signed the claim at its issue height): issuer,
    /// type, dates, holder key, certifier, practitioner and id. The disclosed
    /// personal members rest on the issuer's signature over their digests.
    pub fn matches(&self, claim: &CredentialClaim, signer: &PublicKey) -> Result<(), VcError> {
        let mismatch = |what: &str| VcError::Mismatch(format!("{what} is not the chain's"));
        let p = &self.disclosed;
        if self.issuer_key != *signer {
            return Err(mismatch("the issuer key"));
        }
        if self.credential_id != claim.id() {
            return Err(mismatch("the credential id"));
        }
        if p["vct"] != schema_urn(&self.chain_id, &claim.schema) {
            return Err(mismatch("the type (vct)"));
        }
        if self.holder_key != claim.subject {
            return Err(mismatch("the holder key (cnf)"));
        }
        if p["mpms_certifier"] != did_key(&claim.certifier) {
            return Err(mismatch("the certifier"));
        }
        let practitioner = claim.practitioner.as_ref().map(did_key);
        if p.get("mpms_practitioner").and_then(Value::as_str) != practitioner.as_deref() {
            return Err(mismatch("the practitioner"));
        }
        if p["nbf"] != claim.valid_from_ms / 1000
            || p["iat"] != claim.valid_from_ms / 1000
            || p["exp"] != claim.valid_until_ms / 1000
        {
            return Err(mismatch("the dates"));
        }
        // Nothing else rides along unchecked.
        let known = [
            "iss",
            "iat",
            "nbf",
            "exp",
            "vct",
            "cnf",
            "mpms_chain",
            "mpms_credential",
            "mpms_certifier",
            "mpms_practitioner",
            "claims",
        ];
        if let Some(extra) = p.as_object().and_then(|o| {
            o.keys()
                .find(|k| !known.contains(&k.as_str()) && !DISCLOSABLE.contains(&k.as_str()))
        }) {
            return Err(VcError::Mismatch(format!(
                "member {extra:?} is not a credential's"
            )));
        }
        Ok(())
    }
}

/// A presentation of `sd_jwt` (as issued, all disclosures) showing only the members
/// named in `show` (`holder_name`, `date_of_birth`, `documents`, or a field of
/// `claims` by its name), bound with `holder` (the subject's key) to `audience` and
/// `nonce` at `now_ms`. Names it does not hold are an error: the holder asked to
/// show something it cannot.
pub fn present(
    sd_jwt: &str,
    show: &[String],
    holder: &SigningKey,
    audience: &str,
    nonce: &str,
    now_ms: u64,
) -> Result<String, VcError> {
    let parts = split(sd_jwt)?;
    let mut chosen = Vec::new();
    let mut found = vec![false; show.len()];
    for text in &parts.disclosures {
        let disclosure = read_disclosure(text)?;
        if let Some(at) = show.iter().position(|s| *s == disclosure.name) {
            found[at] = true;
            chosen.push(*text);
        }
    }
    if let Some(missing) = show.iter().zip(&found).find(|(_, f)| !**f) {
        return Err(VcError::Mismatch(format!(
            "the credential has no member {:?} to show",
            missing.0
        )));
    }
    let mut presented = format!("{}~", parts.issuer_jwt);
    for text in chosen {
        presented.push_str(text);
        presented.push('~');
    }
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(KB_JWT_TYPE.into());
    let binding = json!({
        "iat": now_ms / 1000,
        "aud": audience,
        "nonce": nonce,
        "sd_hash": digest(&presented),
    });
    let kb = sign(header, &binding, holder)?;
    Ok(format!("{presented}{kb}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mpms_ledger::testkit::DeterministicRng;

    use super::*;

    const NOW: u64 = 1_800_000_000_000;
    const MINUTE: u64 = 60_000;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed(&[n; 32])
    }

    /// A sick note: its claim, the SD-JWT as issued (by key 1), the holder's key (2).
    fn issued() -> (CredentialClaim, String, SigningKey) {
        let (certifier, holder) = (key(1), key(2));
        let mut content = CredentialContent {
            salt: [9; 32],
            holder_name: "Ana Pereira".into(),
            date_of_birth: "1990-04-01".into(),
            documents: vec![],
            fields: Default::default(),
        };
        for (name, value) in [
            ("fit_for_work", FieldValue::Boolean(false)),
            (
                "diagnosis",
                FieldValue::Text("major depressive episode".into()),
            ),
            ("from", FieldValue::Date("2026-12-01".into())),
            ("until", FieldValue::Date("2026-12-20".into())),
        ] {
            content.fields.insert(name.into(), value);
        }
        let claim = CredentialClaim {
            schema: "med.sick-note".into(),
            subject: holder.public_key(),
            certifier: certifier.public_key(),
            commitment: content.commitment(),
            valid_from_ms: NOW - MINUTE,
            valid_until_ms: NOW + 30 * 24 * 60 * MINUTE,
            practitioner: None,
            supersedes: None,
            status_index: 3,
        };
        let mut rng = DeterministicRng(Hash::digest(b"salts"), 0);
        let sd = issue("mpms-test", &claim, &content, &certifier, &mut rng).unwrap();
        (claim, sd, holder)
    }

    fn shown() -> Vec<String> {
        ["fit_for_work", "from", "until"].map(String::from).to_vec()
    }

    #[test]
    fn a_holder_shows_only_what_it_chooses() {
        let (claim, sd, holder) = issued();
        let p = present(
            &sd,
            &shown(),
            &holder,
            "https://employer.example",
            "n-1",
            NOW,
        )
        .unwrap();
        assert!(!p.contains(&b64(b"diagnosis")));
        let v =
            verify_presentation(&p, "https://employer.example", "n-1", NOW, 5 * MINUTE).unwrap();
        v.matches(&claim, &key(1).public_key()).unwrap();
        let claims = &v.disclosed["claims"];
        assert_eq!(claims["fit_for_work"], false);
        assert_eq!(claims["from"], "2026-12-01");
        assert_eq!(claims["until"], "2026-12-20");
        assert!(claims.get("diagnosis").is_none() && claims.get("_sd").is_none());
        assert!(v.disclosed.get("date_of_birth").is_none());
        assert!(v.disclosed.get("holder_name").is_none());
        assert_eq!(v.withheld, 3, "name, date of birth, diagnosis");
        assert_eq!(v.credential_id, claim.id());
        assert_eq!(v.holder_key, holder.public_key());
        // Asking to show what it does not hold is an error.
        assert!(present(&sd, &["salary".into()], &holder, "a", "n", NOW).is_err());
    }

    #[test]
    fn a_presentation_is_for_one_verifier_nonce_and_moment() {
        let (_, sd, holder) = issued();
        let p = present(
            &sd,
            &shown(),
            &holder,
            "https://employer.example",
            "n-1",
            NOW,
        )
        .unwrap();
        let check = |p: &str, aud: &str, nonce: &str, now: u64| {
            verify_presentation(p, aud, nonce, now, 5 * MINUTE)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert!(check(&p, "https://employer.example", "n-1", NOW).is_ok());
        // Replayed to another verifier, or with another nonce, or too late.
        assert!(check(&p, "https://other.example", "n-1", NOW)
            .unwrap_err()
            .contains("audience"));
        assert!(check(&p, "https://employer.example", "n-2", NOW)
            .unwrap_err()
            .contains("nonce"));
        assert!(
            check(&p, "https://employer.example", "n-1", NOW + 6 * MINUTE)
                .unwrap_err()
                .contains("old")
        );
        assert!(
            check(&p, "https://employer.example", "n-1", NOW - 2 * MINUTE)
                .unwrap_err()
                .contains("future")
        );
        // The token without its key binding (what a verifier saw, replayed): refused.
        let kb_at = p.rfind('~').unwrap() + 1;
        let bare = &p[..kb_at];
        assert!(check(bare, "https://employer.example", "n-1", NOW)
            .unwrap_err()
            .contains("no key binding"));
        // Bound by another key than the holder's.
        let stolen = present(
            &sd,
            &shown(),
            &key(3),
            "https://employer.example",
            "n-1",
            NOW,
        )
        .unwrap();
        assert!(check(&stolen, "https://employer.example", "n-1", NOW).is_err());
        // A disclosure added after the binding (the diagnosis, from the issued form).
        let diagnosis = sd
            .split('~')
            .find(|d| read_disclosure(d).is_ok_and(|d| d.name == "diagnosis"))
            .unwrap();
        let added = format!("{bare}{diagnosis}~{}", &p[kb_at..]);
        assert!(check(&added, "https://employer.example", "n-1", NOW)
            .unwrap_err()
            .contains("sd_hash"));
    }

    #[test]
    fn forged_disclosures_and_issuers_are_refused() {
        let (claim, sd, holder) = issued();
        // A disclosure the issuer never signed, bound by the holder itself.
        let mut rng = DeterministicRng(Hash::digest(b"forger"), 0);
        let (fake, _) = disclose("fit_for_work", json!(true), &mut rng);
        let jwt = sd.split('~').next().unwrap();
        let forged = present(
            &format!("{jwt}~{fake}~"),
            &["fit_for_work".into()],
            &holder,
            "a",
            "n",
            NOW,
        )
        .unwrap();
        let err = verify_presentation(&forged, "a", "n", NOW, MINUTE).unwrap_err();
        assert!(err.to_string().contains("did not sign"), "{err}");
        // The same disclosure twice.
        let from = sd
            .split('~')
            .find(|d| read_disclosure(d).is_ok_and(|d| d.name == "from"))
            .unwrap();
        let twice = present(
            &format!("{jwt}~{from}~{from}~"),
            &["from".into()],
            &holder,
            "a",
            "n",
            NOW,
        )
        .unwrap();
        assert!(verify_presentation(&twice, "a", "n", NOW, MINUTE).is_err());
        // Genuine, but checked against another claim or signer.
        let p = present(&sd, &shown(), &holder, "a", "n", NOW).unwrap();
        let v = verify_presentation(&p, "a", "n", NOW, MINUTE).unwrap();
        assert!(v.matches(&claim, &key(4).public_key()).is_err());
        let mut other = claim.clone();
        other.valid_until_ms += 1000;
        assert!(v.matches(&other, &key(1).public_key()).is_err());
        // Its issuer JWT with one payload character changed.
        let mut bytes = p.clone().into_bytes();
        bytes[jwt.len() / 2] ^= 1;
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(verify_presentation(&tampered, "a", "n", NOW, MINUTE).is_err());
    }
}
