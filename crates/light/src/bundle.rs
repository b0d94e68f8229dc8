//! The proof bundle of a credential, its status proof, and how a node builds them
//! from its store.

use mpms_crypto::MerkleProof;
use mpms_ledger::credential::{issuance_of, CredentialContent};
use mpms_ledger::records::{keys, Credential};
use mpms_ledger::state::{tree, StateProof};
use mpms_ledger::{codec, AuthoritySet, CredentialId, Genesis, SignedTransaction};
use mpms_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::{AuthorityChange, CertifiedHeader};

/// The `format` of bundles this version writes and reads.
pub const BUNDLE_FORMAT: &str = "mpms-proof-bundle/2";

/// A chain's genesis block as a bundle carries it: its header, whose hash is what a
/// consortium publishes, and the authority set that header names for the first
/// blocks. A verifier anchored by the published hash compares it before using
/// anything else of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenesisBlock {
    /// The genesis header (height 0).
    pub header: mpms_ledger::Header,
    /// The authority set that finalizes the first blocks.
    pub authorities: AuthoritySet,
}

/// The most authority-set changes a status proof carries (a consortium changes its
/// set a few times a year; a bundle with more is refused).
pub const MAX_AUTHORITY_CHANGES: usize = 10_000;

/// A credential's status as of a finalized height, proven against that height's
/// certified header: the credential record, and the certifier's records that say
/// whether it was accredited and which key it signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusProof {
    /// The credential.
    pub credential_id: CredentialId,
    /// Every change of the authority set from genesis up to [`StatusProof::at`].
    pub authority_changes: Vec<AuthorityChange>,
    /// The finalized header the proofs are against (height H).
    pub at: CertifiedHeader,
    /// The credential record at H.
    pub credential: StateProof,
    /// The certifier's record (accreditation history) at H.
    pub certifier: StateProof,
    /// The certifier's account (signing-key history) at H.
    pub certifier_account: StateProof,
    /// The governance revocations of the certifier's credentials at H (by issue
    /// height range), or their absence.
    pub certifier_revocations: StateProof,
    /// For a claim a practitioner signed for the certifier: the certifier's
    /// delegation to it at H (its terms by height).
    #[serde(default)]
    pub delegation: Option<StateProof>,
    /// For a claim a practitioner signed: the practitioner's account (signing-key
    /// history) at H.
    #[serde(default)]
    pub practitioner_account: Option<StateProof>,
}

/// Everything needed to check a credential offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProofBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The chain's genesis block (the trust anchor when its hash is the published
    /// one, unless the verifier brings its own genesis).
    pub genesis: GenesisBlock,
    /// The credential.
    pub credential_id: CredentialId,
    /// The issuing transaction (claim, certifier signature, encrypted content).
    pub transaction: SignedTransaction,
    /// The transaction's Merkle proof in its block.
    pub tx_proof: MerkleProof,
    /// The issuing block's header and certificate.
    pub issued: CertifiedHeader,
    /// The account of the claim's signer (the certifier, or the practitioner who
    /// signed for it) at the issue height, against [`ProofBundle::issued`] (present
    /// while nodes keep that version of state; older signing keys are also in the
    /// account's history at the status height, within the evidence window).
    #[serde(default)]
    pub signer_account_at_issue: Option<StateProof>,
    /// For a claim a practitioner signed: the certifier's delegation to it at the
    /// issue height (while nodes keep that version of state; within the evidence
    /// window the terms then are also in the delegation's history at the status
    /// height).
    #[serde(default)]
    pub delegation_at_issue: Option<StateProof>,
    /// The status as of a later height.
    pub status: StatusProof,
    /// The decrypted content, if the bundle's maker could open it and chose to
    /// include it.
    #[serde(default)]
    pub content: Option<CredentialContent>,
}

/// Why a bundle's text is refused before any check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or not a bundle.
    #[error("not a proof bundle: {0}")]
    Json(String),
    /// A member this verifier does not read (so does not check): refused rather than
    /// ignored.
    #[error("the bundle carries {0}, which this verifier does not check")]
    Unchecked(String),
}

impl ProofBundle {
    /// Reads a bundle, refusing any member this version does not read: a field a
    /// verifier does not check is not accepted.
    pub fn from_json(text: &str) -> Result<ProofBundle, ParseError> {
        let given: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
        let bundle: ProofBundle =
            serde_json::from_value(given.clone()).map_err(|e| ParseError::Json(e.to_string()))?;
        let read = serde_json::to_value(&bundle).map_err(|e| ParseError::Json(e.to_string()))?;
        if let Some(path) = first_unread(&given, &read, "") {
            return Err(ParseError::Unchecked(path));
        }
        Ok(bundle)
    }
}

/// The first member of `given` (by path) that reading it as a bundle dropped or
/// changed, comparing with `read` (the bundle written back); an absent optional
/// member reads as null.
fn first_unread(given: &serde_json::Value, read: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match (given, read) {
        (Value::Object(g), Value::Object(r)) => {
            for (key, value) in g {
                let here = format!("{path}.{key}");
                match r.get(key) {
                    None => return Some(format!("member {here}")),
                    Some(back) => {
                        if let Some(p) = first_unread(value, back, &here) {
                            return Some(p);
                        }
                    }
                }
            }
            None
        }
        (Value::Array(g), Value::Array(r)) if g.len() == r.len() => g
            .iter()
            .zip(r)
            .enumerate()
            .find_map(|(i, (a, b))| first_unread(a, b, &format!("{path}[{i}]"))),
        // Numbers and strings that read back the same, in another spelling (hex
        // case, a float of an integer), are the same value.
        (a, b) if a == b => None,
        _ => Some(format!(
            "value at {}",
            if path.is_empty() { "." } else { path }
        )),
    }
}

/// Why a bundle could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No such credential on the chain.
    #[error("credential not found")]
    NotFound,
    /// The store lacks something it should hold.
    #[error("store: {0}")]
    Store(String),
}

impl From<StoreError> for BuildError {
    fn from(e: StoreError) -> Self {
        BuildError::Store(e.to_string())
    }
}

impl From<mpms_ledger::StateError> for BuildError {
    fn from(e: mpms_ledger::StateError) -> Self {
        BuildError::Store(e.to_string())
    }
}

fn missing(what: impl std::fmt::Display) -> BuildError {
    BuildError::Store(format!("{what} is missing"))
}

/// The certified header at `height`.
fn certified(store: &dyn Store, height: u64) -> Result<CertifiedHeader, BuildError> {
    Ok(CertifiedHeader {
        header: store
            .header(height)?
            .ok_or_else(|| missing(format!("header {height}")))?,
        certificate: store
            .certificate(height)?
            .ok_or_else(|| missing(format!("certificate {height}")))?,
    })
}

/// Every change of the authority set committed up to `height`.
pub fn authority_changes(
    store: &dyn Store,
    height: u64,
) -> Result<Vec<AuthorityChange>, BuildError> {
    let entries = store.scan_state(&keys::authority_change_prefix(), MAX_AUTHORITY_CHANGES)?;
    let mut changes = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let Some(bytes) = key.get(1..9) else {
            return Err(BuildError::Store("malformed authority change key".into()));
        };
        let mut be = [0u8; 8];
        be.copy_from_slice(bytes);
        let changed_at = u64::from_be_bytes(be);
        if changed_at > height {
            break;
        }
        let next_set: AuthoritySet =
            codec::decode(&value).map_err(|e| BuildError::Store(e.to_string()))?;
        changes.push(AuthorityChange {
            block: certified(store, changed_at)?,
            next_set,
        });
    }
    Ok(changes)
}

/// The status proof of credential `id` as of the last committed block.
pub fn build_status(store: &dyn Store, id: &CredentialId) -> Result<StatusProof, BuildError> {
    let height = store.last_height()?.ok_or_else(|| missing("the chain"))?;
    let at = certified(store, height)?;
    let credential = tree::prove(store, height, &keys::credential(id))?;
    let record: Credential = credential
        .record()
        .map_err(|e| BuildError::Store(e.to_string()))?
        .ok_or(BuildError::NotFound)?;
    let certifier_id = record.claim.certifier;
    let (delegation, practitioner_account) = match record.claim.practitioner {
        Some(p) => (
            Some(tree::prove(
                store,
                height,
                &keys::delegation(&certifier_id, &p),
            )?),
            Some(tree::prove(store, height, &keys::account(&p))?),
        ),
        None => (None, None),
    };
    Ok(StatusProof {
        credential_id: *id,
        authority_changes: authority_changes(store, height)?,
        at,
        credential,
        certifier: tree::prove(store, height, &keys::certifier(&certifier_id))?,
        certifier_account: tree::prove(store, height, &keys::account(&certifier_id))?,
        certifier_revocations: tree::prove(
            store,
            height,
            &keys::certifier_revocations(&certifier_id),
        )?,
        delegation,
        practitioner_account,
    })
}

/// The genesis block of the chain of `genesis` in `store`.
pub fn genesis_block(store: &dyn Store, genesis: &Genesis) -> Result<GenesisBlock, BuildError> {
    Ok(GenesisBlock {
        header: store
            .header(0)?
            .ok_or_else(|| missing("the genesis header"))?,
        authorities: AuthoritySet {
            members: genesis
                .authorities
                .iter()
                .map(|a| mpms_ledger::vote::AuthorityMember {
                    operator: a.operator,
                    consensus_key: a.consensus_key,
                })
                .collect(),
        },
    })
}

/// The proof bundle of credential `id` on the chain of `genesis`, with its status as
/// of the last committed block.
pub fn build_bundle(
    store: &dyn Store,
    genesis: &Genesis,
    id: &CredentialId,
) -> Result<ProofBundle, BuildError> {
    let genesis = genesis_block(store, genesis)?;
    let status = build_status(store, id)?;
    let record: Credential = status
        .credential
        .record()
        .map_err(|e| BuildError::Store(e.to_string()))?
        .ok_or(BuildError::NotFound)?;
    let location = store
        .tx_location(&record.issued_tx)?
        .ok_or_else(|| missing("the issuing transaction's index entry"))?;
    let block = store
        .block(location.height)?
        .ok_or_else(|| missing(format!("block {}", location.height)))?;
    let index = location.index as usize;
    // Erased: a bundle proves the claim, whose transaction hash erasure keeps; the
    // ciphertext and sealed keys are for the subject and its grantees alone.
    let transaction = block
        .transactions
        .get(index)
        .map(SignedTransaction::erased)
        .ok_or_else(|| missing("the issuing transaction"))?;
    if issuance_of(&transaction).map(|i| i.claim.id()) != Some(*id) {
        return Err(BuildError::Store(
            "the indexed transaction does not issue this credential".into(),
        ));
    }
    let tx_proof = block
        .tx_proof(index)
        .ok_or_else(|| missing("the transaction's Merkle proof"))?;
    let issued = CertifiedHeader {
        header: block.header,
        certificate: store
            .certificate(location.height)?
            .ok_or_else(|| missing(format!("certificate {}", location.height)))?,
    };
    let kept = tree::root_at(store, location.height)?.is_some();
    let signer_account_at_issue = match kept {
        true => Some(tree::prove(
            store,
            location.height,
            &keys::account(&record.claim.signer()),
        )?),
        false => None,
    };
    let delegation_at_issue = match (kept, record.claim.practitioner) {
        (true, Some(p)) => Some(tree::prove(
            store,
            location.height,
            &keys::delegation(&record.claim.certifier, &p),
        )?),
        _ => None,
    };
    Ok(ProofBundle {
        format: BUNDLE_FORMAT.into(),
        genesis,
        credential_id: *id,
        transaction,
        tx_proof,
        issued,
        signer_account_at_issue,
        delegation_at_issue,
        status,
        content: None,
    })
}
