//! Test vectors of the canonical encoding, for clients written in other languages.
//!
//! The file `docs/encoding-vectors.json` holds, for a fixed list of sample signed
//! transactions (every `Payload` variant, and every governance action), sample votes,
//! a block header and a credential content: their JSON form, their canonical bytes,
//! the exact message signed, the signature and the hash. `docs/ENCODING.md` explains
//! the bytes.
//!
//! By default this test recomputes everything from the code and fails, naming each
//! difference, when the file no longer matches: a change of the encoding must be
//! deliberate, since every client that builds transactions breaks with it. With
//! `MPMS_WRITE_VECTORS=1` it writes the file instead:
//!
//! ```text
//! MPMS_WRITE_VECTORS=1 cargo test -p mpms-ledger --test encoding_vectors
//! ```
//!
//! Everything is deterministic: fixed key seeds, fixed content, no randomness (the
//! ciphertexts are fixed placeholder bytes, not real encryptions).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use mpms_crypto::{
    signing_message, DecryptionKey, Domain, EncryptedContent, EncryptionKey, Hash, MerkleTree,
    PublicKey, Sealed, SigningKey,
};
use mpms_ledger::block::{tx_leaves, tx_root, Header};
use mpms_ledger::claims::{FieldKind, FieldSpec, FieldValue};
use mpms_ledger::credential::{CredentialContent, DocumentDigest};
use mpms_ledger::erasable::Erasable;
use mpms_ledger::evidence::Evidence;
use mpms_ledger::params::ParameterChange;
use mpms_ledger::transaction::{
    grant_id, request_id, CredentialClaim, CredentialIssuance, GovernanceAction, GrantSelection,
    GrantedEntry, OrganizationKind, SchemaDefinition,
};
use mpms_ledger::vote::{AuthorityMember, AuthoritySet, SignedVote, Vote, VoteKind};
use mpms_ledger::{codec, work, Params, Payload, SignedTransaction, Transaction};
use serde_json::{json, Value};

/// The chain every sample is for.
const CHAIN_ID: &str = "mpms-vectors";

/// Set to `1` to (re)write the vectors file instead of checking it.
const WRITE_VARIABLE: &str = "MPMS_WRITE_VECTORS";

/// A fixed point in time for the samples: 2026-01-01T00:00:00Z.
const T0_MS: u64 = 1_767_225_600_000;
const DAY_MS: u64 = 86_400_000;

/// Number of variants of `Payload` (see [`payload_tag`]).
const PAYLOAD_VARIANTS: u32 = 22;

/// Where the vectors live, from the repository root.
const VECTORS_FILE: &str = "docs/encoding-vectors.json";

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(VECTORS_FILE)
}

fn seed(first: u8) -> [u8; 32] {
    std::array::from_fn(|i| first + i as u8)
}

/// The seed of the key that signs every sample transaction: bytes 0x01 to 0x20.
fn signer_seed() -> [u8; 32] {
    seed(0x01)
}

fn signer() -> SigningKey {
    SigningKey::from_seed(&signer_seed())
}

/// The seed of the sample authority's consensus key: bytes 0x21 to 0x40.
fn validator_seed() -> [u8; 32] {
    seed(0x21)
}

fn validator_key() -> SigningKey {
    SigningKey::from_seed(&validator_seed())
}

/// The sample authority's operator account (the key of seed 0x41 to 0x60).
fn validator_operator() -> PublicKey {
    SigningKey::from_seed(&seed(0x41)).public_key()
}

/// The seed of the practitioner key that signs one sample claim: 0x61 to 0x80.
fn practitioner_seed() -> [u8; 32] {
    seed(0x61)
}

/// A fixed account, named by `label`.
fn account(label: &str) -> PublicKey {
    let seed = Hash::digest_parts(&[b"mpms-vectors/account/", label.as_bytes()]);
    SigningKey::from_seed(seed.as_bytes()).public_key()
}

/// A fixed X25519 encryption key, named by `label`.
fn encryption_key(label: &str) -> EncryptionKey {
    DecryptionKey::derive(format!("mpms-vectors/encryption/{label}").as_bytes()).encryption_key()
}

/// A fixed hash, named by `label`.
fn hash(label: &str) -> Hash {
    Hash::digest_parts(&[b"mpms-vectors/hash/", label.as_bytes()])
}

/// Fixed placeholder bytes (`n` bytes counting up from `first`).
fn blob(first: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| first.wrapping_add(i as u8)).collect()
}

/// A content key sealed to someone: a fixed placeholder of HPKE's shape (a 32-byte
/// encapsulated key, 32 bytes of key plus a 16-byte tag).
fn sealed(label: &str, first: u8) -> Sealed {
    Sealed {
        enc: encryption_key(&format!("ephemeral/{label}")),
        ciphertext: blob(first, 48),
    }
}

/// A note sealed to a subject's key: a fixed placeholder of its shape (a 32-byte
/// ephemeral point, `n` bytes of text plus a 16-byte tag).
fn note(label: &str, first: u8, n: usize) -> mpms_crypto::SignerSealed {
    mpms_crypto::SignerSealed {
        ephemeral: account(&format!("ephemeral/{label}")),
        ciphertext: blob(first, n + 16),
    }
}

/// The variant tag of `payload`: its position in `enum Payload`, from 0. The match
/// has no wildcard, so a new variant does not compile until it is given a tag here
/// (and a sample below).
fn payload_tag(payload: &Payload) -> u32 {
    match payload {
        Payload::Transfer { .. } => 0,
        Payload::RotateKeys { .. } => 1,
        Payload::RegisterSubject { .. } => 2,
        Payload::RegisterOrganization { .. } => 3,
        Payload::RegisterCertifier { .. } => 4,
        Payload::Bond { .. } => 5,
        Payload::Unbond { .. } => 6,
        Payload::WithdrawUnbonded => 7,
        Payload::RegisterSchema(_) => 8,
        Payload::IssueCredential(_) => 9,
        Payload::RevokeCredential { .. } => 10,
        Payload::RequestAccess { .. } => 11,
        Payload::GrantAccess { .. } => 12,
        Payload::GrantAccessSet { .. } => 13,
        Payload::RevokeGrant { .. } => 14,
        Payload::RecordInspection { .. } => 15,
        Payload::Propose { .. } => 16,
        Payload::Vote { .. } => 17,
        Payload::SubmitEvidence(_) => 18,
        Payload::Delegate { .. } => 19,
        Payload::RevokeDelegation { .. } => 20,
        Payload::EraseContent { .. } => 21,
    }
}

/// One sample transaction.
struct Sample {
    name: String,
    description: String,
    tx: SignedTransaction,
}

/// The credential content the sample issuance commits to: every kind of field value.
fn sample_content() -> CredentialContent {
    let mut fields = BTreeMap::new();
    fields.insert(
        "description".to_string(),
        FieldValue::Text("Basic life support".into()),
    );
    fields.insert(
        "completed".to_string(),
        FieldValue::Date("2026-02-01".into()),
    );
    fields.insert(
        "score".to_string(),
        FieldValue::Number {
            value: "92.5".into(),
            unit: "%".into(),
        },
    );
    fields.insert(
        "procedure".to_string(),
        FieldValue::Code {
            system: "http://snomed.info/sct".into(),
            code: "428091000124105".into(),
            display: Some("Basic life support training".into()),
        },
    );
    fields.insert("supervised".to_string(), FieldValue::Boolean(true));
    CredentialContent {
        salt: std::array::from_fn(|i| 0xa0 + i as u8),
        holder_name: "A. Intern".into(),
        date_of_birth: "1999-04-01".into(),
        documents: vec![DocumentDigest {
            label: "certificate scan".into(),
            sha256: hash("certificate-scan"),
        }],
        fields,
    }
}

/// The schema of the sample issuance: every kind of field.
fn sample_schema() -> SchemaDefinition {
    SchemaDefinition {
        id: "cardiology.bls".into(),
        description: "Basic life support for cardiology interns".into(),
        prerequisites: vec!["cardiology.intro".into()],
        output: "certified in basic life support".into(),
        completion_condition: "pass mark 80% and 20 supervised hours".into(),
        max_validity_ms: Some(730 * DAY_MS),
        fields: vec![
            FieldSpec::required("description", FieldKind::Text),
            FieldSpec::required("completed", FieldKind::Date),
            FieldSpec::required("score", FieldKind::Number { unit: "%".into() }),
            FieldSpec::optional(
                "procedure",
                FieldKind::Code {
                    system: "http://snomed.info/sct".into(),
                },
            ),
            FieldSpec::optional("supervised", FieldKind::Boolean),
        ],
        fhir_resource: Some("Observation".into()),
    }
}

/// An issuance of the sample content to the sample subject, its claim signed by
/// `claim_key` (the certifier's, or a practitioner's for it).
fn issuance(
    claim_key: &SigningKey,
    practitioner: Option<PublicKey>,
    supersedes: Option<Hash>,
) -> CredentialIssuance {
    let claim = CredentialClaim {
        schema: "cardiology.bls".into(),
        subject: account("subject"),
        certifier: signer().public_key(),
        commitment: sample_content().commitment(),
        valid_from_ms: T0_MS,
        valid_until_ms: T0_MS + 730 * DAY_MS,
        practitioner,
        supersedes,
        status_index: 17,
    };
    let certifier_signature =
        claim_key.sign(CHAIN_ID, Domain::CredentialClaim, &codec::encode(&claim));
    CredentialIssuance {
        claim,
        certifier_signature,
        content: Erasable::new(EncryptedContent {
            nonce: std::array::from_fn(|i| 0xc0 + i as u8),
            ciphertext: blob(0x10, 64),
        }),
        subject_key: Erasable::new(sealed("subject", 0x50)),
    }
}

/// The sample header: a block at height 7 holding `transactions`.
fn sample_header(transactions: &[SignedTransaction]) -> Header {
    let set = AuthoritySet {
        members: vec![AuthorityMember {
            operator: validator_operator(),
            consensus_key: validator_key().public_key(),
        }],
    };
    Header {
        chain_id: CHAIN_ID.into(),
        height: 7,
        parent: hash("block-6"),
        time_ms: T0_MS + 7_000,
        proposer: validator_operator(),
        tx_root: tx_root(transactions),
        tx_count: transactions.len() as u32,
        state_root: hash("state-root-7"),
        authority_set: set.hash(),
        next_authority_set: set.hash(),
        last_commit: hash("commit-6"),
    }
}

fn vote(kind: VoteKind, block: Option<Hash>, valid_round: Option<u32>) -> SignedVote {
    Vote {
        height: 7,
        round: 0,
        kind,
        block,
        valid_round,
    }
    .sign(CHAIN_ID, validator_operator(), &validator_key())
}

/// The sample votes, by name, with what each shows.
fn sample_votes() -> Vec<(&'static str, &'static str, SignedVote)> {
    let block = Some(sample_header(&[transfer()]).hash());
    vec![
        (
            "proposal",
            "the proposer's signed proposal of the sample header's block (domain 3)",
            vote(VoteKind::Proposal, block, Some(0)),
        ),
        (
            "prevote",
            "a prevote for the sample header's block (domain 4)",
            vote(VoteKind::Prevote, block, None),
        ),
        (
            "precommit",
            "a precommit for the sample header's block (domain 5); commit certificates carry these signatures",
            vote(VoteKind::Precommit, block, None),
        ),
        (
            "precommit-nil",
            "a precommit for no block (nil)",
            vote(VoteKind::Precommit, None, None),
        ),
    ]
}

fn sign(nonce: u64, payload: Payload) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN_ID.into(),
        sender: signer().public_key(),
        nonce,
        payload,
    }
    .sign(&signer())
}

fn transfer() -> SignedTransaction {
    sign(
        5,
        Payload::Transfer {
            to: account("recipient"),
            amount: 1_000,
        },
    )
}

fn work_stamp() -> u64 {
    work::stamp(
        CHAIN_ID,
        &signer().public_key(),
        Params::default().account_creation_work_bits,
    )
}

fn governance_actions() -> Vec<(&'static str, &'static str, GovernanceAction)> {
    vec![
        (
            "add-authority",
            "proposes a new authority (action 0)",
            GovernanceAction::AddAuthority {
                operator: account("new-operator"),
                consensus_key: account("new-consensus-key"),
                peer_id: "12D3KooWExamplePeerId".into(),
            },
        ),
        (
            "remove-authority",
            "proposes removing an authority (action 1)",
            GovernanceAction::RemoveAuthority {
                operator: validator_operator(),
            },
        ),
        (
            "rotate-authority-key",
            "proposes a new consensus key for an authority (action 2)",
            GovernanceAction::RotateAuthorityKey {
                operator: validator_operator(),
                consensus_key: account("rotated-consensus-key"),
            },
        ),
        (
            "accredit-certifier",
            "proposes accrediting a certifier (action 3)",
            GovernanceAction::AccreditCertifier {
                certifier: account("certifier"),
                scope: vec!["cardiology.*".into(), "general.first-aid".into()],
                valid_from_ms: T0_MS,
                valid_until_ms: T0_MS + 365 * DAY_MS,
            },
        ),
        (
            "suspend-certifier",
            "proposes suspending a certifier (action 4)",
            GovernanceAction::SuspendCertifier {
                certifier: account("certifier"),
                reason: "accreditation audit pending".into(),
            },
        ),
        (
            "slash-certifier",
            "proposes slashing a certifier (action 5, with a u32)",
            GovernanceAction::SlashCertifier {
                certifier: account("certifier"),
                fraction_bps: 2_500,
                reason: "issued credentials for courses never held".into(),
            },
        ),
        (
            "set-parameter-u64",
            "proposes a parameter change (action 6) with a u64 value (change 8)",
            GovernanceAction::SetParameter(ParameterChange::MaxTransactionBytes(512 << 10)),
        ),
        (
            "set-parameter-u32",
            "proposes a parameter change (action 6) with a u32 value (change 4)",
            GovernanceAction::SetParameter(ParameterChange::SlashFractionBps(500)),
        ),
        (
            "set-parameter-u8",
            "proposes a parameter change (action 6) with a u8 value (change 9)",
            GovernanceAction::SetParameter(ParameterChange::AccountCreationWorkBits(20)),
        ),
        (
            "admit-node",
            "proposes admitting a node to the network (action 7)",
            GovernanceAction::AdmitNode {
                peer_id: "12D3KooWHospitalNode".into(),
                operator: account("organization"),
            },
        ),
        (
            "remove-node",
            "proposes removing a node from the registry (action 8)",
            GovernanceAction::RemoveNode {
                peer_id: "12D3KooWHospitalNode".into(),
            },
        ),
        (
            "revoke-certifier-credentials",
            "proposes revoking a certifier's credentials issued at heights 120 to 480 (action 9, an Option<u64> that is Some)",
            GovernanceAction::RevokeCertifierCredentials {
                certifier: account("certifier"),
                from_height: 120,
                to_height: Some(480),
                reason: "diplomas shown forged".into(),
            },
        ),
        (
            "revoke-all-certifier-credentials",
            "proposes revoking every credential a certifier issued up to the applying block (action 9, an Option<u64> that is None)",
            GovernanceAction::RevokeCertifierCredentials {
                certifier: account("certifier"),
                from_height: 0,
                to_height: None,
                reason: "diplomas shown forged".into(),
            },
        ),
        (
            "admit-organization",
            "proposes admitting a registered organization: it may then ask subjects for access (action 10)",
            GovernanceAction::AdmitOrganization {
                organization: account("organization"),
            },
        ),
        (
            "suspend-organization",
            "proposes suspending an organization: it may no longer ask (action 11)",
            GovernanceAction::SuspendOrganization {
                organization: account("organization"),
                reason: "asked for records without cause".into(),
            },
        ),
    ]
}

fn build_samples() -> Vec<Sample> {
    let work = work_stamp();
    let credential = hash("credential-1");
    let grant = grant_id(&account("subject"), 3);
    let mut samples: Vec<(String, String, SignedTransaction)> = Vec::new();
    let mut add = |name: &str, description: &str, tx: SignedTransaction| {
        samples.push((name.into(), description.into(), tx));
    };
    add(
        "transfer",
        "moves 1000 units of balance to another existing account",
        transfer(),
    );
    add(
        "rotate-keys",
        "replaces the signing key (from the next height), keeps the encryption key (None)",
        sign(
            6,
            Payload::RotateKeys {
                signing_key: Some(account("new-signing-key")),
                encryption_key: None,
            },
        ),
    );
    add(
        "register-subject",
        "registers the sender as a subject, with its proof of work (see account_work)",
        sign(
            0,
            Payload::RegisterSubject {
                encryption_key: encryption_key("signer"),
                work,
            },
        ),
    );
    add(
        "register-organization",
        "registers the sender as an organization of kind hospital",
        sign(
            0,
            Payload::RegisterOrganization {
                name: "St. Mary's Hospital".into(),
                kind: OrganizationKind::Hospital,
                encryption_key: encryption_key("signer"),
                work,
            },
        ),
    );
    add(
        "register-certifier",
        "registers the sender as a certifier (pending accreditation)",
        sign(
            0,
            Payload::RegisterCertifier {
                name: "Board of Cardiology".into(),
                encryption_key: encryption_key("signer"),
                work,
            },
        ),
    );
    add(
        "bond",
        "bonds 500 units of balance as stake",
        sign(7, Payload::Bond { amount: 500 }),
    );
    add(
        "unbond",
        "starts unbonding 200 units of stake",
        sign(8, Payload::Unbond { amount: 200 }),
    );
    add(
        "withdraw-unbonded",
        "withdraws matured unbonded stake (a variant without fields: the tag alone)",
        sign(9, Payload::WithdrawUnbonded),
    );
    add(
        "register-schema",
        "registers a schema declaring every kind of field",
        sign(10, Payload::RegisterSchema(Box::new(sample_schema()))),
    );
    add(
        "issue-credential",
        "issues a credential whose claim the certifier (the sender) signs itself; content and subject key are erasable values",
        sign(
            11,
            Payload::IssueCredential(Box::new(issuance(&signer(), None, None))),
        ),
    );
    let practitioner = SigningKey::from_seed(&practitioner_seed());
    add(
        "issue-credential-by-practitioner",
        "issues a credential whose claim a practitioner signed for the certifier (the sender), correcting an earlier entry",
        sign(
            12,
            Payload::IssueCredential(Box::new(issuance(
                &practitioner,
                Some(practitioner.public_key()),
                Some(hash("credential-0")),
            ))),
        ),
    );
    add(
        "revoke-credential",
        "revokes a credential the sender issued",
        sign(
            13,
            Payload::RevokeCredential {
                credential,
                reason: "issued in error".into(),
            },
        ),
    );
    add(
        "request-access",
        "an organization asks a subject for two credentials",
        sign(
            14,
            Payload::RequestAccess {
                subject: account("subject"),
                credentials: vec![credential, hash("credential-2")],
                purpose: note("purpose", 0x50, 28),
            },
        ),
    );
    let grant_access = sign(
        15,
        Payload::GrantAccess {
            credential,
            grantee: account("organization"),
            request: Some(request_id(&account("organization"), 14)),
            sealed_key: Erasable::new(sealed("grantee", 0x70)),
            expires_at_ms: T0_MS + 30 * DAY_MS,
        },
    );
    let mut grant_access_erased = grant_access.clone();
    grant_access_erased.erase_credential(&credential);
    add(
        "grant-access",
        "a subject grants an organization access to one credential, answering its request; the sealed key is an erasable value",
        grant_access,
    );
    add(
        "grant-access-erased",
        "the grant-access sample as a node keeps it after the credential's content was erased: same signature, same hash, the value gone (only its digest is left)",
        grant_access_erased,
    );
    add(
        "grant-access-set",
        "a subject grants an organization access to every credential of a schema (two entries), answering no request",
        sign(
            16,
            Payload::GrantAccessSet {
                grantee: account("organization"),
                request: None,
                selection: GrantSelection::Schema("cardiology.bls".into()),
                entries: vec![
                    GrantedEntry {
                        credential,
                        sealed_key: Erasable::new(sealed("set-entry-0", 0x80)),
                    },
                    GrantedEntry {
                        credential: hash("credential-2"),
                        sealed_key: Erasable::new(sealed("set-entry-1", 0x90)),
                    },
                ],
                expires_at_ms: T0_MS + 30 * DAY_MS,
            },
        ),
    );
    add(
        "grant-access-set-listed",
        "a set grant of the entries listed (a selection variant without fields)",
        sign(
            17,
            Payload::GrantAccessSet {
                grantee: account("organization"),
                request: Some(request_id(&account("organization"), 14)),
                selection: GrantSelection::Listed,
                entries: vec![GrantedEntry {
                    credential,
                    sealed_key: Erasable::new(sealed("listed-entry-0", 0xa0)),
                }],
                expires_at_ms: T0_MS + 7 * DAY_MS,
            },
        ),
    );
    add(
        "revoke-grant",
        "a subject revokes a grant it made",
        sign(18, Payload::RevokeGrant { grant }),
    );
    add(
        "record-inspection",
        "a grantee records a successful inspection",
        sign(
            19,
            Payload::RecordInspection {
                grant,
                outcome: note("verified", 0x60, 4),
            },
        ),
    );
    add(
        "record-inspection-failed",
        "a grantee records a failed inspection, with the reason (sealed to the subject)",
        sign(
            20,
            Payload::RecordInspection {
                grant,
                outcome: note("failed", 0x70, 45),
            },
        ),
    );
    for (i, (name, description, action)) in governance_actions().into_iter().enumerate() {
        add(
            &format!("propose-{name}"),
            &format!("an authority {description}"),
            sign(21 + i as u64, Payload::Propose { action }),
        );
    }
    add(
        "vote",
        "an authority approves proposal 3",
        sign(
            40,
            Payload::Vote {
                proposal: 3,
                approve: true,
            },
        ),
    );
    let first = vote(VoteKind::Prevote, Some(hash("block-7a")), None);
    let second = vote(VoteKind::Prevote, Some(hash("block-7b")), None);
    add(
        "submit-evidence-equivocation",
        "evidence that an authority signed two prevotes for different blocks at one height and round",
        sign(
            41,
            Payload::SubmitEvidence(Box::new(Evidence::Equivocation { first, second })),
        ),
    );
    let fake = sign(
        11,
        Payload::IssueCredential(Box::new(issuance(&signer(), None, None))),
    );
    let block = vec![fake.clone(), transfer()];
    let header = sample_header(&block);
    let proof = MerkleTree::from_leaf_hashes(tx_leaves(&block))
        .proof(0)
        .expect("the block holds transaction 0");
    let statement = vote(VoteKind::Precommit, Some(header.hash()), None);
    add(
        "submit-evidence-fake-credential",
        "evidence that an authority voted for a block holding a rejected issuance: header, signed vote, the issuance (its erasable values replaced by their digests when signing and hashing) and its Merkle proof",
        sign(
            42,
            Payload::SubmitEvidence(Box::new(Evidence::FakeCredential {
                header: Box::new(header),
                vote: statement,
                transaction: fake,
                proof,
            })),
        ),
    );
    add(
        "delegate",
        "a certifier delegates claim signing to a practitioner",
        sign(
            43,
            Payload::Delegate {
                practitioner: practitioner.public_key(),
                role: mpms_ledger::records::role_digest("attending cardiologist", &[7; 16]),
                schemas: vec!["cardiology.*".into(), "general.first-aid".into()],
                valid_from_ms: T0_MS,
                valid_until_ms: T0_MS + 365 * DAY_MS,
            },
        ),
    );
    add(
        "revoke-delegation",
        "a certifier revokes a practitioner's delegation",
        sign(
            44,
            Payload::RevokeDelegation {
                practitioner: practitioner.public_key(),
                reason: "left the hospital".into(),
            },
        ),
    );
    add(
        "erase-content",
        "a subject has a credential's content erased",
        sign(45, Payload::EraseContent { credential }),
    );
    samples
        .into_iter()
        .map(|(name, description, tx)| Sample {
            name,
            description,
            tx,
        })
        .collect()
}

/// The samples, built once per test process.
fn samples() -> &'static [Sample] {
    static SAMPLES: OnceLock<Vec<Sample>> = OnceLock::new();
    SAMPLES.get_or_init(build_samples)
}

fn hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}

fn transaction_vector(sample: &Sample) -> Value {
    let stx = &sample.tx;
    let signing_bytes = stx.tx.signing_bytes();
    let message = signing_message(&stx.tx.chain_id, Domain::Transaction, &signing_bytes);
    let mut vector = json!({
        "name": sample.name,
        "description": sample.description,
        "payload_kind": stx.tx.payload.kind(),
        "payload_tag": payload_tag(&stx.tx.payload),
        "json": serde_json::to_value(stx).expect("a transaction has a JSON form"),
        "signed_transaction_bytes": hex(codec::encode(stx)),
        "transaction_bytes": hex(codec::encode(&stx.tx)),
        "signing_bytes": hex(&signing_bytes),
        "signing_message": hex(&message),
        "signature": stx.signature.to_string(),
        "hash": stx.hash().to_string(),
    });
    if stx.tx.payload.holds_erasable() {
        vector["hashed_bytes"] = json!(hex(codec::encode(&stx.erased())));
    }
    if let Payload::IssueCredential(issuance) = &stx.tx.payload {
        let claim = codec::encode(&issuance.claim);
        vector["claim"] = json!({
            "claim_bytes": hex(&claim),
            "credential_id": issuance.claim.id().to_string(),
            "claim_signing_message": hex(signing_message(CHAIN_ID, Domain::CredentialClaim, &claim)),
        });
    }
    vector
}

fn vote_vector(name: &str, description: &str, vote: &SignedVote) -> Value {
    let bytes = codec::encode(&vote.vote);
    let domain = vote.vote.kind.domain();
    json!({
        "name": name,
        "description": description,
        "json": serde_json::to_value(vote).expect("a vote has a JSON form"),
        "vote_bytes": hex(&bytes),
        "domain": domain as u8,
        "signing_message": hex(signing_message(CHAIN_ID, domain, &bytes)),
        "signature": vote.signature.to_string(),
        "signed_vote_bytes": hex(codec::encode(vote)),
    })
}

/// Everything the vectors file holds, recomputed from the code.
fn vectors_document() -> Value {
    let header = sample_header(&[transfer()]);
    let content = sample_content();
    let signer_id = signer().public_key();
    let bits = Params::default().account_creation_work_bits;
    let work = work_stamp();
    let work_digest = Hash::digest_parts(&[
        b"mpms/account-work",
        &(CHAIN_ID.len() as u64).to_le_bytes(),
        CHAIN_ID.as_bytes(),
        signer_id.as_bytes(),
        &work.to_le_bytes(),
    ]);
    json!({
        "about": "Test vectors of the MPMS canonical encoding; docs/ENCODING.md explains every byte. All hex is lowercase. Ciphertexts are fixed placeholder bytes, not real encryptions.",
        "chain_id": CHAIN_ID,
        "signer": {
            "seed": hex(signer_seed()),
            "public_key": signer_id.to_string(),
            "note": "signs every transaction below; the account id is the public key",
        },
        "validator": {
            "consensus_seed": hex(validator_seed()),
            "consensus_key": validator_key().public_key().to_string(),
            "operator": validator_operator().to_string(),
            "note": "signs the votes below, and the votes inside the evidence samples",
        },
        "practitioner": {
            "seed": hex(practitioner_seed()),
            "public_key": SigningKey::from_seed(&practitioner_seed()).public_key().to_string(),
            "note": "signs the claim of the issue-credential-by-practitioner sample",
        },
        "account_work": {
            "chain_id": CHAIN_ID,
            "account": signer_id.to_string(),
            "bits": bits,
            "work": work,
            "digest": work_digest.to_string(),
            "note": "the proof of work the registration samples carry",
        },
        "transactions": samples().iter().map(transaction_vector).collect::<Vec<_>>(),
        "votes": sample_votes()
            .iter()
            .map(|(name, description, vote)| vote_vector(name, description, vote))
            .collect::<Vec<_>>(),
        "headers": [{
            "name": "header",
            "description": "a block header at height 7 holding the transfer sample; votes sign its hash",
            "json": serde_json::to_value(&header).expect("a header has a JSON form"),
            "header_bytes": hex(codec::encode(&header)),
            "hash": header.hash().to_string(),
        }],
        "credential_content": {
            "description": "the content the issue-credential samples commit to (it travels encrypted, never on chain in the clear)",
            "json": serde_json::to_value(&content).expect("content has a JSON form"),
            "content_bytes": hex(codec::encode(&content)),
            "commitment": content.commitment().to_string(),
        },
    })
}

/// A short form of a long value for messages.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.len() > 96 {
        format!("{}… ({} characters)", &text[..96], text.len())
    } else {
        text
    }
}

/// Where two strings first differ, for a message.
fn first_difference(a: &Value, b: &Value) -> String {
    match (a, b) {
        (Value::String(a), Value::String(b)) => {
            let at = a
                .bytes()
                .zip(b.bytes())
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            if a.len() == b.len() {
                format!(", first difference at character {at}")
            } else {
                format!(
                    ", lengths {} and {}, first difference at character {at}",
                    a.len(),
                    b.len()
                )
            }
        }
        _ => String::new(),
    }
}

/// Every difference between the file and what the code computes, in words.
fn differences(file: &Value, code: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(file), Some(code)) = (file.as_object(), code.as_object()) else {
        return vec!["the file does not hold a JSON object".into()];
    };
    let keys: BTreeSet<&String> = file.keys().chain(code.keys()).collect();
    for key in keys {
        let sections = ["transactions", "votes", "headers"];
        match (file.get(key), code.get(key)) {
            (None, Some(_)) => out.push(format!("section `{key}` is missing from the file")),
            (Some(_), None) => out.push(format!(
                "section `{key}` is in the file but the code no longer produces it"
            )),
            (Some(f), Some(c)) if sections.contains(&key.as_str()) => {
                out.extend(list_differences(key, f, c));
            }
            (Some(f), Some(c)) if f != c => out.push(format!(
                "section `{key}`: the file has {}, the code computes {}",
                shown(f),
                shown(c)
            )),
            _ => {}
        }
    }
    out
}

fn by_name(list: &Value) -> BTreeMap<String, &serde_json::Map<String, Value>> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|v| {
            let name = v.get("name").and_then(Value::as_str).unwrap_or("(unnamed)");
            (name.to_string(), v)
        })
        .collect()
}

fn list_differences(section: &str, file: &Value, code: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let (file, code) = (by_name(file), by_name(code));
    for name in code.keys().filter(|n| !file.contains_key(*n)) {
        out.push(format!(
            "{section}: sample `{name}` is missing from the file"
        ));
    }
    for name in file.keys().filter(|n| !code.contains_key(*n)) {
        out.push(format!(
            "{section}: sample `{name}` is in the file but the code no longer produces it"
        ));
    }
    for (name, c) in &code {
        let Some(f) = file.get(name) else { continue };
        let fields: BTreeSet<&String> = f.keys().chain(c.keys()).collect();
        for field in fields {
            match (f.get(field), c.get(field)) {
                (Some(a), Some(b)) if a != b => out.push(format!(
                    "{section}: sample `{name}`, field `{field}`: the file has {}, the code computes {}{}",
                    shown(a),
                    shown(b),
                    first_difference(a, b)
                )),
                (None, Some(_)) => out.push(format!(
                    "{section}: sample `{name}` lacks field `{field}` in the file"
                )),
                (Some(_), None) => out.push(format!(
                    "{section}: sample `{name}` has field `{field}` in the file, which the code no longer produces"
                )),
                _ => {}
            }
        }
    }
    out
}

fn write_mode() -> bool {
    std::env::var(WRITE_VARIABLE).is_ok_and(|v| v == "1")
}

/// The vectors file as written, or why it cannot be read.
fn read_file() -> Result<Value, String> {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read {VECTORS_FILE} ({e}); create it with {WRITE_VARIABLE}=1 cargo test -p mpms-ledger --test encoding_vectors"
        )
    })?;
    serde_json::from_str(&text).map_err(|e| format!("{VECTORS_FILE} is not valid JSON: {e}"))
}

#[test]
fn vectors_file_matches_what_the_code_computes() {
    let document = vectors_document();
    if write_mode() {
        let path = vectors_path();
        let mut text = serde_json::to_string_pretty(&document).expect("serializes");
        text.push('\n');
        // Written aside and renamed, so that a test reading the file never sees half.
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, text).expect("the docs directory is writable");
        std::fs::rename(&temporary, &path).expect("the vectors file can be replaced");
        println!("wrote {}", path.display());
        return;
    }
    let file = read_file().unwrap_or_else(|e| panic!("{e}"));
    let found = differences(&file, &document);
    assert!(
        found.is_empty(),
        "{VECTORS_FILE} no longer matches the canonical encoding the code produces \
         ({} differences):\n  - {}\nIf the encoding change is intended, rewrite the file with \
         {WRITE_VARIABLE}=1 cargo test -p mpms-ledger --test encoding_vectors, update \
         docs/ENCODING.md, and tell every client that builds transactions: their bytes change too.",
        found.len(),
        found.join("\n  - ")
    );
}

#[test]
fn every_payload_variant_has_a_sample_with_its_tag_first_in_its_encoding() {
    let mut covered = BTreeSet::new();
    for sample in samples() {
        let tag = payload_tag(&sample.tx.tx.payload);
        let encoded = codec::encode(&sample.tx.tx.payload);
        assert_eq!(
            encoded[..4],
            tag.to_le_bytes(),
            "sample `{}`: a payload's encoding must start with its variant tag {tag} as a \
             little-endian u32, but starts with {}",
            sample.name,
            hex(&encoded[..4])
        );
        covered.insert(tag);
    }
    let missing: Vec<u32> = (0..PAYLOAD_VARIANTS)
        .filter(|t| !covered.contains(t))
        .collect();
    assert!(
        missing.is_empty(),
        "no sample transaction for the payload variants with tags {missing:?}: add one to \
         build_samples so that clients get a vector for every payload"
    );
    let names: BTreeSet<&str> = samples().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names.len(),
        samples().len(),
        "two samples share a name; every vector needs its own"
    );
}

#[test]
fn json_form_decodes_to_the_same_transaction() {
    for sample in samples() {
        let json = serde_json::to_string(&sample.tx).expect("serializes");
        let back: SignedTransaction = serde_json::from_str(&json).unwrap_or_else(|e| {
            panic!(
                "sample `{}`: its JSON form does not decode: {e}",
                sample.name
            )
        });
        assert_eq!(
            back, sample.tx,
            "sample `{}`: decoding its JSON form gives another transaction",
            sample.name
        );
    }
}

#[test]
fn json_forms_in_the_file_decode_to_the_samples() {
    if write_mode() {
        return;
    }
    let file = read_file().unwrap_or_else(|e| panic!("{e}"));
    let in_file = by_name(&file["transactions"]);
    for sample in samples() {
        let Some(vector) = in_file.get(&sample.name) else {
            panic!(
                "sample `{}` is missing from {VECTORS_FILE}: rewrite it with {WRITE_VARIABLE}=1",
                sample.name
            );
        };
        let back: SignedTransaction = serde_json::from_value(vector["json"].clone())
            .unwrap_or_else(|e| {
                panic!(
                    "sample `{}`: the JSON form in {VECTORS_FILE} does not decode: {e}",
                    sample.name
                )
            });
        assert_eq!(
            back, sample.tx,
            "sample `{}`: the JSON form in {VECTORS_FILE} decodes to another transaction",
            sample.name
        );
        let bytes = vector["signed_transaction_bytes"]
            .as_str()
            .and_then(|h| hex::decode(h).ok())
            .unwrap_or_else(|| panic!("sample `{}`: bytes in the file are not hex", sample.name));
        let decoded: SignedTransaction = codec::decode(&bytes).unwrap_or_else(|e| {
            panic!(
                "sample `{}`: the canonical bytes in {VECTORS_FILE} do not decode: {e}",
                sample.name
            )
        });
        assert_eq!(
            decoded, sample.tx,
            "sample `{}`: the canonical bytes in {VECTORS_FILE} decode to another transaction",
            sample.name
        );
    }
}

#[test]
fn canonical_bytes_decode_to_the_same_transaction_and_encode_back_identically() {
    for sample in samples() {
        let bytes = codec::encode(&sample.tx);
        let back: SignedTransaction = codec::decode(&bytes).unwrap_or_else(|e| {
            panic!(
                "sample `{}`: its canonical bytes do not decode: {e}",
                sample.name
            )
        });
        assert_eq!(
            back, sample.tx,
            "sample `{}`: its canonical bytes decode to another transaction",
            sample.name
        );
        assert_eq!(
            codec::encode(&back),
            bytes,
            "sample `{}`: re-encoding the decoded transaction gives other bytes",
            sample.name
        );
    }
}

#[test]
fn every_signature_verifies() {
    let signer_key = signer().public_key();
    for sample in samples() {
        sample.tx.verify(&signer_key).unwrap_or_else(|e| {
            panic!(
                "sample `{}`: the sender's signature does not verify: {e}",
                sample.name
            )
        });
        let message = signing_message(CHAIN_ID, Domain::Transaction, &sample.tx.tx.signing_bytes());
        signer_key
            .verify_raw(&message, &sample.tx.signature)
            .unwrap_or_else(|e| {
                panic!(
                    "sample `{}`: the signature does not verify over the signing message as \
                     documented: {e}",
                    sample.name
                )
            });
        if let Payload::IssueCredential(issuance) = &sample.tx.tx.payload {
            let key = issuance.claim.signer();
            key.verify(
                CHAIN_ID,
                Domain::CredentialClaim,
                &codec::encode(&issuance.claim),
                &issuance.certifier_signature,
            )
            .unwrap_or_else(|e| {
                panic!(
                    "sample `{}`: the claim signature does not verify under {key}: {e}",
                    sample.name
                )
            });
        }
    }
    let consensus_key = validator_key().public_key();
    for (name, _, vote) in sample_votes() {
        vote.verify(CHAIN_ID, &consensus_key)
            .unwrap_or_else(|e| panic!("vote `{name}`: its signature does not verify: {e}"));
    }
}

#[test]
fn erasing_a_value_changes_neither_hash_nor_signature() {
    for sample in samples()
        .iter()
        .filter(|s| s.tx.tx.payload.holds_erasable())
    {
        let erased = sample.tx.erased();
        assert_eq!(
            erased.hash(),
            sample.tx.hash(),
            "sample `{}`: erasing its erasable values changed its hash",
            sample.name
        );
        erased.verify(&signer().public_key()).unwrap_or_else(|e| {
            panic!(
                "sample `{}`: once its erasable values are erased its signature no longer \
                 verifies: {e}",
                sample.name
            )
        });
        assert_eq!(
            erased.tx.signing_bytes(),
            sample.tx.tx.signing_bytes(),
            "sample `{}`: the signed bytes differ before and after erasure",
            sample.name
        );
        let mut hashed = erased.tx.signing_bytes();
        hashed.extend_from_slice(sample.tx.signature.as_bytes());
        assert_eq!(
            codec::encode(&erased),
            hashed,
            "sample `{}`: the hashed bytes are not the signed bytes followed by the signature",
            sample.name
        );
    }
}
