//! `mpmsd tx`: one command per domain action. Each signs a transaction with the
//! sender's next nonce, submits it, waits for its block (unless `--no-wait`) and
//! prints one JSON line: `{"hash", "height", ...ids the action created}`. A refused
//! transaction prints the ledger's reason and exits with status 1.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use mpms_crypto::{EncryptionKey, Hash, PublicKey};
use mpms_ledger::claims::FieldValue;
use mpms_ledger::credential::{
    prepare_issuance_with_vc, reseal_key, ClaimTerms, CredentialContent, Issuer,
};
use mpms_ledger::erasable::Erasable;
use mpms_ledger::records::{Grant, Schema, Subject};
use mpms_ledger::transaction::CredentialIssuance;
use mpms_ledger::transaction::{
    grant_id, request_id, set_member_grant_id, GovernanceAction, GrantSelection, GrantedEntry,
    OrganizationKind, SchemaDefinition,
};
use mpms_ledger::{Payload, SignedTransaction, Transaction};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::{json, Value};
use std::collections::BTreeMap;

use std::path::PathBuf;

use mpms_node::join::JoinRequest;

use crate::client::{api_url, Client, SubmitError};
use crate::keys_cmd::{KeySource, Party};

const DAY_MS: u64 = 86_400_000;

/// Options of every transaction command.
#[derive(Args)]
pub struct TxArgs {
    /// The node's API (default: the API of the --home node, else
    /// http://127.0.0.1:26601, the first node of `mpmsd devnet`).
    #[arg(long, global = true)]
    pub node: Option<String>,
    #[command(flatten)]
    pub signer: KeySource,
    /// Return once the node admitted the transaction, without waiting for its block.
    #[arg(long, global = true)]
    pub no_wait: bool,
    #[command(subcommand)]
    pub action: TxAction,
}

/// An organization's kind.
#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    /// A hospital or clinic.
    Hospital,
    /// A university.
    University,
    /// A medical college.
    MedicalCollege,
    /// A medical licensing board.
    LicensingBoard,
    /// A government agency.
    GovernmentAgency,
    /// A course or training provider.
    CourseProvider,
    /// Anything else.
    Other,
    /// An employer (checks sick-leave and fitness certificates).
    Employer,
    /// A health insurer (checks certificates behind a claim).
    Insurer,
}

impl From<Kind> for OrganizationKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Hospital => OrganizationKind::Hospital,
            Kind::University => OrganizationKind::University,
            Kind::MedicalCollege => OrganizationKind::MedicalCollege,
            Kind::LicensingBoard => OrganizationKind::LicensingBoard,
            Kind::GovernmentAgency => OrganizationKind::GovernmentAgency,
            Kind::CourseProvider => OrganizationKind::CourseProvider,
            Kind::Other => OrganizationKind::Other,
            Kind::Employer => OrganizationKind::Employer,
            Kind::Insurer => OrganizationKind::Insurer,
        }
    }
}

/// The actions.
#[derive(Subcommand)]
pub enum TxAction {
    /// Registers the key's account as a subject (an intern or a patient).
    RegisterSubject,
    /// Registers the key's account as a member organization.
    RegisterOrganization {
        /// Public name.
        #[arg(long)]
        name: String,
        /// Kind.
        #[arg(long, value_enum)]
        kind: Kind,
    },
    /// Registers the key's account as a certifier (accreditation comes by vote).
    RegisterCertifier {
        /// Public name.
        #[arg(long)]
        name: String,
    },
    /// Transfers balance.
    Transfer {
        /// The receiving account.
        #[arg(long, required_unless_present = "request", conflicts_with = "request")]
        to: Option<PublicKey>,
        /// An institution's join request: transfer to its operator account.
        #[arg(long)]
        request: Option<PathBuf>,
        /// The amount.
        #[arg(long)]
        amount: u64,
    },
    /// Bonds stake.
    Bond {
        /// The amount.
        #[arg(long)]
        amount: u64,
    },
    /// Starts unbonding stake.
    Unbond {
        /// The amount.
        #[arg(long)]
        amount: u64,
    },
    /// Withdraws stake whose unbonding period has passed.
    WithdrawUnbonded,
    /// Rotates the account's signing key and/or its encryption key (from the next
    /// height). Sign with the current key.
    RotateKeys {
        /// The new signing (public) key.
        #[arg(long)]
        signing_key: Option<PublicKey>,
        /// The new encryption key.
        #[arg(long)]
        encryption_key: Option<EncryptionKey>,
    },
    /// A certifier registers a credential schema.
    RegisterSchema {
        /// Schema id (e.g. `cardio.ecg`).
        #[arg(long)]
        id: String,
        /// What it attests.
        #[arg(long)]
        description: String,
        /// A schema that must be held first (repeatable).
        #[arg(long = "prerequisite")]
        prerequisites: Vec<String>,
        /// What completing it yields.
        #[arg(long, default_value = "competence")]
        output: String,
        /// The completion condition.
        #[arg(long, default_value = "pass")]
        condition: String,
        /// Longest validity of credentials of this schema, days.
        #[arg(long)]
        max_validity_days: Option<u64>,
        /// A field of the content, `NAME:TYPE` with TYPE one of `text`, `date`,
        /// `boolean`, `number:UNIT`, `code:SYSTEM`; `NAME?:TYPE` for an optional one
        /// (repeatable). Without any: a course's fields (description, start_date,
        /// end_date, marks?, result).
        #[arg(long = "field", value_name = "NAME:TYPE")]
        fields: Vec<String>,
        /// The FHIR R4 resource type its content maps to and from (Observation,
        /// Condition, MedicationStatement, DiagnosticReport, Composition): every
        /// field must name an element of it.
        #[arg(long, value_name = "TYPE")]
        fhir_resource: Option<String>,
    },
    /// A certifier issues a credential, encrypted to the subject.
    IssueCredential {
        /// The schema.
        #[arg(long)]
        schema: String,
        /// The subject's account.
        #[arg(long)]
        subject: PublicKey,
        /// The holder's name (encrypted, never in plaintext on chain).
        #[arg(long)]
        holder_name: String,
        /// Date of birth (encrypted).
        #[arg(long, default_value = "")]
        date_of_birth: String,
        /// A field's value, `NAME=VALUE`, as the schema declares it (repeatable): a
        /// number in the field's unit (`5.4`), a code as `CODE` or `CODE|DISPLAY`,
        /// `true` or `false`, text and dates (`2026-11-27`) as they are. The content
        /// is checked against the schema before it is sealed.
        #[arg(long = "field", value_name = "NAME=VALUE")]
        fields: Vec<String>,
        /// A course's description (the field `description`).
        #[arg(long)]
        description: Option<String>,
        /// A course's start date (the field `start_date`).
        #[arg(long)]
        start_date: Option<String>,
        /// A course's end date (the field `end_date`).
        #[arg(long)]
        end_date: Option<String>,
        /// A course's marks (the field `marks`).
        #[arg(long)]
        marks: Option<String>,
        /// A supporting document, `LABEL=FILE` (repeatable): only its SHA-256 is
        /// recorded, in the encrypted content; the document itself goes nowhere.
        #[arg(long = "document", value_name = "LABEL=FILE")]
        documents: Vec<String>,
        /// A course's result (the field `result`).
        #[arg(long)]
        result: Option<String>,
        /// Validity from now, days.
        #[arg(long, default_value_t = 3_650)]
        valid_days: u64,
        /// The key file of the practitioner who signs the claim for the certifier
        /// (under the certifier's delegation); the certifier (--key) sends it. Its
        /// password is the certifier key's.
        #[arg(long, value_name = "FILE")]
        practitioner_key: Option<PathBuf>,
        /// The earlier entry this one corrects (same subject and schema, issued by
        /// the same certifier): both stay provable, the earlier one is marked
        /// superseded.
        #[arg(long, value_name = "CREDENTIAL")]
        corrects: Option<Hash>,
        /// A FHIR R4 resource (JSON) whose elements become the content's fields;
        /// the schema must name its resource type (instead of --field).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["fields", "description", "start_date", "end_date", "marks", "result"])]
        fhir: Option<PathBuf>,
    },
    /// A certifier (a hospital) delegates claim signing to a practitioner, or
    /// replaces its terms. In force from the next block.
    Delegate {
        /// The practitioner's account (`mpmsd keys generate`; it needs no
        /// registration).
        #[arg(long)]
        practitioner: PublicKey,
        /// Its role, e.g. "attending cardiologist".
        #[arg(long)]
        role: String,
        /// A schema it may sign: an id, or a prefix ending in `*` (repeatable).
        #[arg(long = "schema", required = true)]
        schemas: Vec<String>,
        /// Validity from now, days.
        #[arg(long, default_value_t = 365)]
        valid_days: u64,
    },
    /// A certifier revokes a practitioner's delegation: from the next block it signs
    /// nothing for the certifier; what it signed before stays valid.
    RevokeDelegation {
        /// The practitioner.
        #[arg(long)]
        practitioner: PublicKey,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// A subject has a credential's content erased: the chain keeps the claim, its
    /// commitment and the fact of issuance; every node deletes the ciphertext and the
    /// sealed keys from its storage.
    EraseContent {
        /// The credential.
        #[arg(long)]
        credential: Hash,
    },
    /// The certifier revokes a credential it issued.
    RevokeCredential {
        /// The credential.
        #[arg(long)]
        credential: Hash,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// An organization asks a subject for access to credentials.
    RequestAccess {
        /// The subject.
        #[arg(long)]
        subject: PublicKey,
        /// The credentials (repeatable).
        #[arg(long = "credential", required = true)]
        credentials: Vec<Hash>,
        /// Why.
        #[arg(long)]
        purpose: String,
    },
    /// A subject grants an organization access to one credential (re-seals its key).
    GrantAccess {
        /// The credential.
        #[arg(long)]
        credential: Hash,
        /// The organization.
        #[arg(long)]
        grantee: PublicKey,
        /// The request it answers.
        #[arg(long)]
        request: Option<Hash>,
        /// Validity, days.
        #[arg(long, default_value_t = 30)]
        days: u64,
    },
    /// A subject grants an organization access to a set of its credentials in one
    /// transaction (on referral or transfer): every credential of a schema
    /// (corrected ones included), or a list.
    #[command(group(clap::ArgGroup::new("selection").required(true).args(["schema", "credentials"])))]
    GrantAccessSet {
        /// The organization.
        #[arg(long)]
        grantee: PublicKey,
        /// Every credential of this schema that is neither revoked nor expired.
        #[arg(long)]
        schema: Option<String>,
        /// A credential (repeatable).
        #[arg(long = "credential")]
        credentials: Vec<Hash>,
        /// The request it answers (it must ask for every credential).
        #[arg(long)]
        request: Option<Hash>,
        /// Validity, days.
        #[arg(long, default_value_t = 30)]
        days: u64,
    },
    /// A subject revokes a grant, or a set grant with all its entries.
    RevokeGrant {
        /// The grant.
        #[arg(long)]
        grant: Hash,
    },
    /// The grantee records the outcome of its inspection of a credential.
    RecordInspection {
        /// The grant.
        #[arg(long)]
        grant: Hash,
        /// Why the credential failed the inspection (omit when verified).
        #[arg(long)]
        failed: Option<String>,
    },
    /// Submits evidence of misbehaviour (equivocation, or a vote for a block holding
    /// a fake credential), from a file in JSON or canonical bytes. Any account may
    /// submit it; the chain checks it and punishes the authority it proves guilty.
    SubmitEvidence {
        /// The evidence file (JSON as shown in docs/CONSENSUS.md, or canonical bytes).
        #[arg(long)]
        file: PathBuf,
    },
    /// An authority proposes a governance action.
    Propose {
        #[command(subcommand)]
        action: ProposeAction,
    },
    /// An authority votes on a proposal.
    Vote {
        /// The proposal.
        #[arg(long)]
        proposal: u64,
        /// Vote against (default: for).
        #[arg(long)]
        reject: bool,
    },
}

/// Governance actions.
#[derive(Subcommand)]
pub enum ProposeAction {
    /// Accredit a certifier for a scope of schemas.
    AccreditCertifier {
        /// The certifier.
        #[arg(long)]
        certifier: PublicKey,
        /// Schema patterns (`cardio.*`), repeatable.
        #[arg(long = "scope", required = true)]
        scope: Vec<String>,
        /// Validity from now, days.
        #[arg(long, default_value_t = 365)]
        days: u64,
    },
    /// Suspend a certifier.
    SuspendCertifier {
        /// The certifier.
        #[arg(long)]
        certifier: PublicKey,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Add an authority (its operator must have bonded the minimum stake).
    AddAuthority {
        /// An institution's join request: its operator, consensus key and peer id.
        #[arg(long, conflicts_with_all = ["operator", "consensus_key", "peer_id"])]
        request: Option<PathBuf>,
        /// The operator account.
        #[arg(long, required_unless_present = "request")]
        operator: Option<PublicKey>,
        /// Its consensus key.
        #[arg(long, required_unless_present = "request")]
        consensus_key: Option<PublicKey>,
        /// Its node's peer id.
        #[arg(long, required_unless_present = "request")]
        peer_id: Option<String>,
    },
    /// Remove an authority.
    RemoveAuthority {
        /// The operator account.
        #[arg(long)]
        operator: PublicKey,
    },
    /// Rotate an authority's consensus key.
    RotateAuthorityKey {
        /// The operator account (default: the --home node's operator).
        #[arg(long)]
        operator: Option<PublicKey>,
        /// The new consensus key (default: the newest key in the --home node's
        /// consensus keystore, made by `mpmsd keys new-consensus-key`).
        #[arg(long)]
        consensus_key: Option<PublicKey>,
    },
    /// Slash a certifier whose credentials were shown fraudulent.
    SlashCertifier {
        /// The certifier.
        #[arg(long)]
        certifier: PublicKey,
        /// Share of its stake to burn, in basis points.
        #[arg(long)]
        fraction_bps: u32,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Change a chain parameter.
    SetParameter {
        /// The parameter.
        #[arg(long, value_enum)]
        name: Parameter,
        /// Its new value.
        #[arg(long)]
        value: u64,
    },
    /// Remove a node from the node registry.
    RemoveNode {
        /// Its peer id.
        #[arg(long)]
        peer_id: String,
    },
    /// Admit a node to the permissioned network. With --request, the institution's
    /// organization registration (signed by the institution) is submitted first if
    /// its account is not on chain yet.
    AdmitNode {
        /// An institution's join request: its peer id and operator.
        #[arg(long, conflicts_with_all = ["peer_id", "operator"])]
        request: Option<PathBuf>,
        /// Its peer id.
        #[arg(long, required_unless_present = "request")]
        peer_id: Option<String>,
        /// The operator responsible for it.
        #[arg(long, required_unless_present = "request")]
        operator: Option<PublicKey>,
    },
}

/// A chain parameter governance can change.
#[derive(Clone, Copy, ValueEnum)]
pub enum Parameter {
    /// Least stake of an authority.
    MinAuthorityStake,
    /// Least stake of an accredited certifier.
    MinCertifierStake,
    /// Blocks before unbonded stake can be withdrawn.
    UnbondingPeriodBlocks,
    /// Blocks a proposal stays open.
    ProposalTtlBlocks,
    /// Share of stake burned by evidence, basis points.
    SlashFractionBps,
    /// Oldest offence evidence can prove, in blocks.
    EvidenceMaxAgeBlocks,
    /// Most transactions in a block.
    MaxBlockTransactions,
    /// Most bytes in a block.
    MaxBlockBytes,
    /// Largest transaction.
    MaxTransactionBytes,
    /// Zero bits a registration's proof of work must have (0 to 28).
    AccountCreationWorkBits,
    /// Consensus: wait for a proposal in round 0 on top of the heartbeat, ms.
    ProposeTimeoutMs,
    /// Consensus: wait for more prevotes once more than 2/3 arrived, ms.
    PrevoteTimeoutMs,
    /// Consensus: wait for more precommits once more than 2/3 arrived, ms.
    PrecommitTimeoutMs,
    /// Consensus: added to every timeout per round, ms.
    TimeoutDeltaMs,
    /// Consensus: upper bound of any timeout, ms.
    MaxTimeoutMs,
    /// Consensus: longest wait before an empty block, ms.
    HeartbeatMs,
    /// Consensus: least time between blocks, ms.
    MinBlockIntervalMs,
}

fn parameter(name: Parameter, value: u64) -> anyhow::Result<mpms_ledger::params::ParameterChange> {
    use mpms_ledger::params::ParameterChange as P;
    let small =
        |v: u64| u32::try_from(v).map_err(|_| anyhow!("{v} is too large for this parameter"));
    Ok(match name {
        Parameter::MinAuthorityStake => P::MinAuthorityStake(value),
        Parameter::MinCertifierStake => P::MinCertifierStake(value),
        Parameter::UnbondingPeriodBlocks => P::UnbondingPeriodBlocks(value),
        Parameter::ProposalTtlBlocks => P::ProposalTtlBlocks(value),
        Parameter::SlashFractionBps => P::SlashFractionBps(small(value)?),
        Parameter::EvidenceMaxAgeBlocks => P::EvidenceMaxAgeBlocks(value),
        Parameter::MaxBlockTransactions => P::MaxBlockTransactions(small(value)?),
        Parameter::MaxBlockBytes => P::MaxBlockBytes(value),
        Parameter::MaxTransactionBytes => P::MaxTransactionBytes(value),
        Parameter::AccountCreationWorkBits => P::AccountCreationWorkBits(
            u8::try_from(value).map_err(|_| anyhow!("{value} is too large for this parameter"))?,
        ),
        Parameter::ProposeTimeoutMs => P::ProposeTimeoutMs(value),
        Parameter::PrevoteTimeoutMs => P::PrevoteTimeoutMs(value),
        Parameter::PrecommitTimeoutMs => P::PrecommitTimeoutMs(value),
        Parameter::TimeoutDeltaMs => P::TimeoutDeltaMs(value),
        Parameter::MaxTimeoutMs => P::MaxTimeoutMs(value),
        Parameter::HeartbeatMs => P::HeartbeatMs(value),
        Parameter::MinBlockIntervalMs => P::MinBlockIntervalMs(value),
    })
}

fn now_ms() -> u64 {
    mpms_node::runtime::now_ms()
}

/// Signs `payload` as `party` with its next nonce, submits it and (if `wait`)
/// waits for its block. Returns the hash, the nonce used and the height.
pub fn send(
    client: &Client,
    party: &Party,
    payload: Payload,
    wait: bool,
) -> Result<(Hash, u64, Option<u64>), SubmitError> {
    let chain_id = client.chain_id()?;
    let nonce = client.next_nonce(&party.id())?;
    let tx = Transaction {
        chain_id,
        sender: party.id(),
        nonce,
        payload,
    }
    .sign(&party.signing);
    let hash = client.submit(&tx)?;
    if !wait {
        return Ok((hash, nonce, None));
    }
    let committed = client.wait_committed(&hash, Duration::from_secs(60))?;
    Ok((hash, nonce, Some(committed.height)))
}

/// How long a sender's first transaction waits for the node to know its account.
const ACCOUNT_WAIT: Duration = Duration::from_secs(15);

/// [`send`], waiting up to [`ACCOUNT_WAIT`] while the node does not know the
/// sender's account yet: an account funded moments ago through another node exists
/// on this one once it has applied that block.
fn send_when_known(
    client: &Client,
    party: &Party,
    payload: Payload,
    wait: bool,
) -> Result<(Hash, u64, Option<u64>), SubmitError> {
    let deadline = std::time::Instant::now() + ACCOUNT_WAIT;
    let mut told = false;
    loop {
        match send(client, party, payload.clone(), wait) {
            Err(SubmitError::Refused(reason))
                if reason.starts_with("unknown account")
                    && std::time::Instant::now() < deadline =>
            {
                if !told {
                    eprintln!("the node does not know account {} yet: waiting for it to apply the latest blocks", party.id());
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

/// A credential to issue, as the command line gives it.
pub struct Issue {
    /// The schema.
    pub schema: String,
    /// The subject.
    pub subject: PublicKey,
    /// The holder's name.
    pub holder_name: String,
    /// The holder's date of birth.
    pub date_of_birth: String,
    /// The fields, `(name, value as text)`.
    pub fields: Vec<(String, String)>,
    /// A FHIR resource file to take the fields from instead.
    pub fhir: Option<PathBuf>,
    /// Supporting documents, `LABEL=FILE`.
    pub documents: Vec<String>,
    /// Validity from now, days.
    pub valid_days: u64,
    /// The earlier entry it corrects.
    pub corrects: Option<Hash>,
}

/// The issuance of `issue` by certifier `party`, its claim signed by `practitioner`
/// under the certifier's delegation, or by the certifier itself.
pub fn issue_payload(
    client: &Client,
    party: &Party,
    practitioner: Option<&Party>,
    issue: Issue,
    now: u64,
) -> anyhow::Result<(Payload, Value)> {
    let issuer = match practitioner {
        Some(p) => Issuer::practitioner(&p.signing, p.id(), party.id()),
        None => Issuer::certifier(&party.signing, party.id()),
    };
    let record: Schema = client
        .get_as(&format!("/v1/schemas/{}", issue.schema))
        .with_context(|| format!("schema {}", issue.schema))?;
    let values = match &issue.fhir {
        Some(path) => fhir_fields(&record, path)?,
        None => content_fields(&record, &issue.fields)?,
    };
    let mut salt = [0u8; 32];
    OsRng.fill_bytes(&mut salt);
    let documents = issue
        .documents
        .iter()
        .map(|d| document_digest(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let content = CredentialContent {
        salt,
        holder_name: issue.holder_name,
        date_of_birth: issue.date_of_birth,
        documents,
        fields: values,
    };
    let chain_id = client.chain_id()?;
    // The certifier's W3C Verifiable Credential travels with the content,
    // sealed to the subject.
    let mut vc_error = None;
    let vc = |claim: &mpms_ledger::transaction::CredentialClaim| {
        let document = mpms_light::vc::credential_document(
            &chain_id,
            claim,
            &content,
            &issuer.signing_key.public_key(),
        );
        mpms_light::vc::sign_jwt(&document, issuer.signing_key)
            .map_err(|e| vc_error = Some(e))
            .ok()
    };
    let issuance = prepare_issuance_with_vc(
        &chain_id,
        issuer,
        (&record).into(),
        issue.subject,
        &subject_key(client, &issue.subject)?,
        &content,
        ClaimTerms {
            valid_from_ms: now.saturating_sub(DAY_MS),
            valid_until_ms: now + issue.valid_days * DAY_MS,
            supersedes: issue.corrects,
        },
        vc,
        &mut OsRng,
    )?;
    if let Some(e) = vc_error {
        bail!(e);
    }
    let id = issuance.claim.id();
    Ok((
        Payload::IssueCredential(Box::new(issuance)),
        json!({ "credential": id.to_string() }),
    ))
}

/// The content fields `schema` takes from the FHIR resource in file `path`.
fn fhir_fields(
    schema: &Schema,
    path: &std::path::Path,
) -> anyhow::Result<BTreeMap<String, FieldValue>> {
    use std::io::Read;
    let expected = schema
        .fhir_resource
        .as_deref()
        .and_then(mpms_fhir::ResourceType::parse)
        .ok_or_else(|| {
            anyhow!(
                "schema {} names no FHIR resource type (register-schema --fhir-resource)",
                schema.id
            )
        })?;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(mpms_fhir::MAX_RESOURCE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .with_context(|| format!("--fhir {}", path.display()))?;
    let (_, resource) =
        mpms_fhir::parse(&bytes).with_context(|| format!("--fhir {}", path.display()))?;
    mpms_fhir::content_fields(expected, &schema.fields, &resource)
        .with_context(|| format!("--fhir {}", path.display()))
}

/// The content fields `given` as `(name, text)` pairs, read and checked against
/// `schema`'s declarations.
fn content_fields(
    schema: &Schema,
    given: &[(String, String)],
) -> anyhow::Result<BTreeMap<String, FieldValue>> {
    let mut values = BTreeMap::new();
    for (name, text) in given {
        let spec = schema
            .fields
            .iter()
            .find(|s| &s.name == name)
            .ok_or_else(|| {
                let declared: Vec<&str> = schema.fields.iter().map(|s| s.name.as_str()).collect();
                anyhow!(
                    "schema {} has no field {name} (its fields: {})",
                    schema.id,
                    declared.join(", ")
                )
            })?;
        if values
            .insert(name.clone(), mpms_ledger::claims::parse_value(spec, text)?)
            .is_some()
        {
            bail!("field {name} given twice");
        }
    }
    mpms_ledger::claims::validate_fields(&schema.fields, &values)
        .with_context(|| format!("content for schema {}", schema.id))?;
    Ok(values)
}

/// The ids of `subject`'s credentials of `schema` that may be granted at `now_ms`:
/// neither revoked nor expired (corrected ones included: they are the history).
fn grantable_of_schema(
    client: &Client,
    subject: &PublicKey,
    schema: &str,
    now_ms: u64,
) -> anyhow::Result<Vec<Hash>> {
    let listed = client.get(&format!("/v1/subjects/{subject}/credentials?limit=1000"))?;
    let mut ids = Vec::new();
    for item in listed["credentials"].as_array().into_iter().flatten() {
        let record: mpms_ledger::records::Credential =
            serde_json::from_value(item["credential"].clone()).context("credential record")?;
        if record.claim.schema == schema
            && record.erased_height.is_none()
            && record.status == mpms_ledger::records::CredentialStatus::Active
            && record.claim.valid_until_ms > now_ms
        {
            ids.push(record.claim.id());
        }
    }
    Ok(ids)
}

/// Credential `id`'s record (as the API gives it) and the transaction that issued it.
fn issued(client: &Client, id: &Hash) -> anyhow::Result<(Value, SignedTransaction)> {
    let record = client.get(&format!("/v1/credentials/{id}"))?;
    let hash: Hash =
        serde_json::from_value(record["issued_tx"].clone()).context("credential record")?;
    let tx = client.committed_tx(&hash)?;
    issuance_in(&tx)?;
    Ok((record, tx))
}

/// The issuance `tx` carries.
fn issuance_in(tx: &SignedTransaction) -> anyhow::Result<&CredentialIssuance> {
    mpms_ledger::credential::issuance_of(tx)
        .ok_or_else(|| anyhow!("{} does not issue a credential", tx.hash()))
}

/// Credential `id`'s content key, opened by `party` (its subject) and sealed again
/// to `grantee_key`.
fn resealed(
    client: &Client,
    party: &Party,
    id: &Hash,
    grantee_key: &EncryptionKey,
) -> anyhow::Result<mpms_crypto::Sealed> {
    let (_, tx) = issued(client, id)?;
    Ok(reseal_key(
        id,
        mpms_ledger::credential::subject_sealed(issuance_in(&tx)?)?,
        party.decryption("granting access")?,
        grantee_key,
        &mut OsRng,
    )?)
}

fn subject_key(client: &Client, subject: &PublicKey) -> anyhow::Result<EncryptionKey> {
    let s: Subject = client
        .get_as(&format!("/v1/subjects/{subject}"))
        .with_context(|| format!("subject {subject}"))?;
    Ok(s.encryption_key)
}

fn org_key(client: &Client, account: &PublicKey) -> anyhow::Result<EncryptionKey> {
    let v = client
        .get_opt(&format!("/v1/organizations/{account}"))?
        .or(client.get_opt(&format!("/v1/certifiers/{account}"))?)
        .ok_or_else(|| anyhow!("{account} is not a registered organization or certifier"))?;
    serde_json::from_value(v["encryption_key"].clone()).context("encryption key")
}

/// The proof of work `party` needs to register on the node's chain, at the
/// requirement in force there.
fn account_work(client: &Client, party: &Party) -> anyhow::Result<u64> {
    let chain_id = client.chain_id()?;
    let params: mpms_ledger::Params = client.get_as("/v1/params").context("chain parameters")?;
    Ok(mpms_ledger::work::stamp(
        &chain_id,
        &party.id(),
        params.account_creation_work_bits,
    ))
}

/// Builds the payload of `action`; returns it with extra fields for the output.
pub fn payload(
    client: &Client,
    party: &Party,
    password_file: &Option<PathBuf>,
    action: TxAction,
) -> anyhow::Result<(Payload, Value)> {
    let now = now_ms();
    Ok(match action {
        TxAction::RegisterSubject => (
            Payload::RegisterSubject {
                encryption_key: party.decryption("a subject")?.encryption_key(),
                work: account_work(client, party)?,
            },
            json!({ "account": party.id().to_string() }),
        ),
        TxAction::RegisterOrganization { name, kind } => (
            Payload::RegisterOrganization {
                name,
                kind: kind.into(),
                encryption_key: party.decryption("an organization")?.encryption_key(),
                work: account_work(client, party)?,
            },
            json!({ "account": party.id().to_string() }),
        ),
        TxAction::RegisterCertifier { name } => (
            Payload::RegisterCertifier {
                name,
                encryption_key: party.decryption("a certifier")?.encryption_key(),
                work: account_work(client, party)?,
            },
            json!({ "account": party.id().to_string() }),
        ),
        TxAction::Transfer { to, amount, .. } => (
            Payload::Transfer {
                to: to.context("give --to or --request")?,
                amount,
            },
            json!({}),
        ),
        TxAction::Bond { amount } => (Payload::Bond { amount }, json!({})),
        TxAction::Unbond { amount } => (Payload::Unbond { amount }, json!({})),
        TxAction::WithdrawUnbonded => (Payload::WithdrawUnbonded, json!({})),
        TxAction::RotateKeys {
            signing_key,
            encryption_key,
        } => {
            if signing_key.is_none() && encryption_key.is_none() {
                bail!("give --signing-key, --encryption-key or both");
            }
            (
                Payload::RotateKeys {
                    signing_key,
                    encryption_key,
                },
                json!({}),
            )
        }
        TxAction::SubmitEvidence { file } => {
            let evidence = read_evidence(&file)?;
            let offence = evidence.offence_id();
            (
                Payload::SubmitEvidence(Box::new(evidence)),
                json!({ "offence": offence.to_string() }),
            )
        }
        TxAction::RecordInspection { grant, failed } => (
            Payload::RecordInspection {
                grant,
                outcome: match failed {
                    None => mpms_ledger::transaction::InspectionOutcome::Verified,
                    Some(reason) => mpms_ledger::transaction::InspectionOutcome::Failed(reason),
                },
            },
            json!({ "grant": grant.to_string() }),
        ),
        TxAction::RegisterSchema {
            id,
            description,
            prerequisites,
            output,
            condition,
            max_validity_days,
            fields,
            fhir_resource,
        } => {
            let fields = if fields.is_empty() {
                mpms_ledger::claims::course_fields()
            } else {
                fields
                    .iter()
                    .map(|f| mpms_ledger::claims::parse_spec(f))
                    .collect::<Result<Vec<_>, _>>()?
            };
            if let Some(name) = &fhir_resource {
                let kind = mpms_fhir::ResourceType::parse(name).ok_or_else(|| {
                    anyhow!("--fhir-resource {name}: one of Observation, Condition, MedicationStatement, DiagnosticReport, Composition")
                })?;
                mpms_fhir::check_schema(kind, &fields)?;
            }
            (
                Payload::RegisterSchema(Box::new(SchemaDefinition {
                    id: id.clone(),
                    description,
                    prerequisites,
                    output,
                    completion_condition: condition,
                    max_validity_ms: max_validity_days.map(|d| d * DAY_MS),
                    fields,
                    fhir_resource,
                })),
                json!({ "schema": id }),
            )
        }
        TxAction::IssueCredential {
            schema,
            subject,
            holder_name,
            date_of_birth,
            fields,
            description,
            start_date,
            end_date,
            marks,
            documents,
            result,
            valid_days,
            practitioner_key,
            corrects,
            fhir,
        } => {
            let practitioner = practitioner_key
                .map(|path| {
                    crate::keys_cmd::load_keys(&path, &crate::keys_cmd::password(password_file)?)
                        .with_context(|| format!("--practitioner-key {}", path.display()))
                })
                .transpose()?;
            let course = [
                ("description", description),
                ("start_date", start_date),
                ("end_date", end_date),
                ("marks", marks),
                ("result", result),
            ];
            let given = fields
                .iter()
                .map(|f| {
                    f.split_once('=')
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .ok_or_else(|| anyhow!("--field {f:?}: write NAME=VALUE"))
                })
                .chain(
                    course
                        .into_iter()
                        .filter_map(|(n, v)| v.map(|v| Ok((n.to_string(), v)))),
                )
                .collect::<anyhow::Result<Vec<_>>>()?;
            issue_payload(
                client,
                party,
                practitioner.as_ref(),
                Issue {
                    schema,
                    subject,
                    holder_name,
                    date_of_birth,
                    fields: given,
                    fhir,
                    documents,
                    valid_days,
                    corrects,
                },
                now,
            )?
        }
        TxAction::Delegate {
            practitioner,
            role,
            schemas,
            valid_days,
        } => (
            Payload::Delegate {
                practitioner,
                role,
                schemas,
                valid_from_ms: now.saturating_sub(DAY_MS),
                valid_until_ms: now + valid_days * DAY_MS,
            },
            json!({ "practitioner": practitioner.to_string() }),
        ),
        TxAction::RevokeDelegation {
            practitioner,
            reason,
        } => (
            Payload::RevokeDelegation {
                practitioner,
                reason,
            },
            json!({ "practitioner": practitioner.to_string() }),
        ),
        TxAction::EraseContent { credential } => (
            Payload::EraseContent { credential },
            json!({ "credential": credential.to_string(), "erased": true }),
        ),
        TxAction::RevokeCredential { credential, reason } => (
            Payload::RevokeCredential { credential, reason },
            json!({ "credential": credential.to_string() }),
        ),
        TxAction::RequestAccess {
            subject,
            credentials,
            purpose,
        } => {
            let nonce = client.next_nonce(&party.id())?;
            (
                Payload::RequestAccess {
                    subject,
                    credentials,
                    purpose,
                },
                json!({ "request": request_id(&party.id(), nonce).to_string() }),
            )
        }
        TxAction::GrantAccess {
            credential,
            grantee,
            request,
            days,
        } => {
            let sealed_key = resealed(client, party, &credential, &org_key(client, &grantee)?)?;
            let nonce = client.next_nonce(&party.id())?;
            (
                Payload::GrantAccess {
                    credential,
                    grantee,
                    request,
                    sealed_key: Erasable::new(sealed_key),
                    expires_at_ms: now + days * DAY_MS,
                },
                json!({ "grant": grant_id(&party.id(), nonce).to_string() }),
            )
        }
        TxAction::GrantAccessSet {
            grantee,
            schema,
            credentials,
            request,
            days,
        } => {
            let (selection, ids) = match schema {
                Some(schema) => {
                    let ids = grantable_of_schema(client, &party.id(), &schema, now)?;
                    if ids.is_empty() {
                        bail!("no credential of schema {schema} to grant");
                    }
                    (GrantSelection::Schema(schema), ids)
                }
                None => (GrantSelection::Listed, credentials),
            };
            let grantee_key = org_key(client, &grantee)?;
            let mut entries = Vec::with_capacity(ids.len());
            for credential in &ids {
                entries.push(GrantedEntry {
                    credential: *credential,
                    sealed_key: Erasable::new(resealed(client, party, credential, &grantee_key)?),
                });
            }
            let nonce = client.next_nonce(&party.id())?;
            let set = grant_id(&party.id(), nonce);
            let grants: Vec<Value> = ids
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    json!({
                        "credential": c.to_string(),
                        "grant": set_member_grant_id(&set, i as u32).to_string(),
                    })
                })
                .collect();
            (
                Payload::GrantAccessSet {
                    grantee,
                    request,
                    selection,
                    entries,
                    expires_at_ms: now + days * DAY_MS,
                },
                json!({ "grant_set": set.to_string(), "grants": grants }),
            )
        }
        TxAction::RevokeGrant { grant } => (
            Payload::RevokeGrant { grant },
            json!({ "grant": grant.to_string() }),
        ),
        TxAction::Propose { action } => {
            let action = match action {
                ProposeAction::AccreditCertifier {
                    certifier,
                    scope,
                    days,
                } => GovernanceAction::AccreditCertifier {
                    certifier,
                    scope,
                    valid_from_ms: now.saturating_sub(DAY_MS),
                    valid_until_ms: now + days * DAY_MS,
                },
                ProposeAction::SuspendCertifier { certifier, reason } => {
                    GovernanceAction::SuspendCertifier { certifier, reason }
                }
                ProposeAction::AddAuthority {
                    operator,
                    consensus_key,
                    peer_id,
                    ..
                } => GovernanceAction::AddAuthority {
                    operator: operator.context("give --operator or --request")?,
                    consensus_key: consensus_key
                        .context("give --consensus-key, or a --request from a validator")?,
                    peer_id: peer_id.context("give --peer-id or --request")?,
                },
                ProposeAction::RemoveAuthority { operator } => {
                    GovernanceAction::RemoveAuthority { operator }
                }
                ProposeAction::RotateAuthorityKey {
                    operator,
                    consensus_key,
                } => GovernanceAction::RotateAuthorityKey {
                    operator: operator.context("give --operator (or --home)")?,
                    consensus_key: consensus_key.context("give --consensus-key (or --home)")?,
                },
                ProposeAction::SlashCertifier {
                    certifier,
                    fraction_bps,
                    reason,
                } => GovernanceAction::SlashCertifier {
                    certifier,
                    fraction_bps,
                    reason,
                },
                ProposeAction::SetParameter { name, value } => {
                    GovernanceAction::SetParameter(parameter(name, value)?)
                }
                ProposeAction::RemoveNode { peer_id } => GovernanceAction::RemoveNode { peer_id },
                ProposeAction::AdmitNode {
                    peer_id, operator, ..
                } => GovernanceAction::AdmitNode {
                    peer_id: peer_id.context("give --peer-id or --request")?,
                    operator: operator.context("give --operator or --request")?,
                },
            };
            (Payload::Propose { action }, json!({}))
        }
        TxAction::Vote { proposal, reject } => (
            Payload::Vote {
                proposal,
                approve: !reject,
            },
            json!({ "proposal": proposal }),
        ),
    })
}

/// Largest evidence file read.
const MAX_EVIDENCE_FILE: u64 = 1 << 20;

/// Reads evidence from `path`: JSON if it starts with `{`, canonical bytes otherwise.
fn read_evidence(path: &std::path::Path) -> anyhow::Result<mpms_ledger::evidence::Evidence> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    if size > MAX_EVIDENCE_FILE {
        bail!(
            "{}: {size} bytes; evidence files are at most {MAX_EVIDENCE_FILE}",
            path.display()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let text_start = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if text_start == Some(&b'{') {
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not evidence JSON", path.display()))
    } else {
        mpms_ledger::codec::decode(&bytes)
            .with_context(|| format!("{}: not evidence in canonical bytes", path.display()))
    }
}

/// The newest proposal by `proposer`.
pub fn latest_proposal_by(client: &Client, proposer: &PublicKey) -> anyhow::Result<Option<u64>> {
    let list = client.get("/v1/proposals")?;
    let mine = list["proposals"].as_array().and_then(|ps| {
        ps.iter()
            .find(|p| p["proposer"].as_str() == Some(&proposer.to_string()))
            .and_then(|p| p["id"].as_u64())
    });
    Ok(mine)
}

/// Fills the values an action takes from a join request (`--request`) or from the
/// signer's home (`--home`). For `admit-node --request`, first submits the
/// institution's signed organization registration if its account is not on chain:
/// its `registered` hash goes into `out`.
fn complete(
    action: &mut TxAction,
    signer: &KeySource,
    party: &Party,
    client: &Client,
    out: &mut Value,
) -> anyhow::Result<()> {
    match action {
        TxAction::Transfer {
            to,
            request: Some(file),
            ..
        } => *to = Some(JoinRequest::load(file)?.body.operator),
        TxAction::Propose {
            action:
                ProposeAction::AddAuthority {
                    request: Some(file),
                    operator,
                    consensus_key,
                    peer_id,
                },
        } => {
            let request = JoinRequest::load(file)?;
            *operator = Some(request.body.operator);
            *consensus_key = Some(request.body.consensus_key.context(
                "the join request names no consensus key: it comes from a full node's home (mpmsd init without --validator)",
            )?);
            *peer_id = Some(request.body.peer_id);
        }
        TxAction::Propose {
            action:
                ProposeAction::AdmitNode {
                    request: Some(file),
                    peer_id,
                    operator,
                },
        } => {
            let request = JoinRequest::load(file)?;
            let account = request.body.operator;
            let known = client.get(&format!("/v1/accounts/{account}"))?["exists"] == true;
            if !known {
                let registration = request.registration()?;
                let hash = client.submit(&registration).map_err(|e| {
                    anyhow!(
                        "submitting the institution's registration from {}: {e}",
                        file.display()
                    )
                })?;
                let committed = client.wait_committed(&hash, Duration::from_secs(60))?;
                out["registered"] = json!({
                    "organization": request.body.organization,
                    "account": account.to_string(),
                    "hash": hash.to_string(),
                    "height": committed.height,
                });
            }
            *peer_id = Some(request.body.peer_id);
            *operator = Some(account);
        }
        TxAction::Propose {
            action:
                ProposeAction::RotateAuthorityKey {
                    operator,
                    consensus_key,
                },
        } => {
            if operator.is_none() && signer.home.is_some() {
                *operator = Some(party.id());
            }
            if let (None, Some(home)) = (&consensus_key, &signer.home) {
                let (home, config) = crate::keys_cmd::open_home(home, &signer.password_file)?;
                let keys = home
                    .load_consensus_keys(&config)?
                    .context("the home has no consensus keystore: give --consensus-key")?;
                *consensus_key = Some(keys.newest().public_key());
            }
        }
        _ => {}
    }
    Ok(())
}

/// How proposal `id` stands, for the output of `propose` and `vote`.
fn proposal_outcome(client: &Client, id: u64) -> anyhow::Result<Value> {
    let p = client.get(&format!("/v1/proposals/{id}"))?;
    let status = &p["status"];
    let approvals = p["approvals"].as_array().map_or(0, Vec::len);
    let set = client.get("/v1/authorities")?;
    let members = set["active_set"]["members"].as_array().map_or(0, Vec::len);
    let (state, summary) = if let Some(e) = status.get("Executed") {
        (
            "executed",
            format!(
                "passed and executed at height {}: no more votes are needed",
                e["height"]
            ),
        )
    } else if let Some(f) = status.get("Failed") {
        (
            "failed",
            format!(
                "passed at height {} but could not be applied: {}",
                f["height"],
                f["reason"].as_str().unwrap_or("")
            ),
        )
    } else if let Some(r) = status.get("Rejected") {
        ("rejected", format!("voted down at height {}", r["height"]))
    } else {
        (
            "open",
            format!(
                "open: {approvals} of {members} authorities approve; it passes with more than 2/3 ({} votes)",
                members * 2 / 3 + 1
            ),
        )
    };
    Ok(json!({ "status": state, "summary": summary }))
}

pub fn run(args: TxArgs) -> anyhow::Result<()> {
    let client = Client::new(&api_url(args.node, args.signer.home.as_deref())?);
    let party = args.signer.load()?;
    let is_proposal = matches!(args.action, TxAction::Propose { .. });
    let voted = match args.action {
        TxAction::Vote { proposal, .. } => Some(proposal),
        _ => None,
    };
    let mut action = args.action;
    let mut extra = json!({});
    complete(&mut action, &args.signer, &party, &client, &mut extra)?;
    let (payload, mut out) = payload(&client, &party, &args.signer.password_file, action)?;
    if let Some(registered) = extra.get("registered") {
        out["registered"] = registered.clone();
    }
    match send_when_known(&client, &party, payload, !args.no_wait) {
        Ok((hash, _, height)) => {
            out["hash"] = json!(hash.to_string());
            out["height"] = json!(height);
            let mut proposal = voted;
            if is_proposal && height.is_some() {
                proposal = latest_proposal_by(&client, &party.id())?;
                out["proposal"] = json!(proposal);
            }
            if let (Some(id), Some(_)) = (proposal, height) {
                out["proposal_outcome"] = proposal_outcome(&client, id)?;
            }
            println!("{out}");
            Ok(())
        }
        Err(SubmitError::Refused(reason)) => {
            println!("{}", json!({ "refused": reason }));
            bail!("refused: {reason}")
        }
        Err(SubmitError::Other(e)) => Err(e),
    }
}

/// The largest supporting document hashed (a scan of a diploma or a report).
const MAX_DOCUMENT_BYTES: u64 = 256 << 20;

/// `LABEL=FILE` as the digest of the file's bytes.
fn document_digest(arg: &str) -> anyhow::Result<mpms_ledger::credential::DocumentDigest> {
    use std::io::Read;
    let (label, path) = arg
        .split_once('=')
        .ok_or_else(|| anyhow!("--document {arg:?}: expected LABEL=FILE"))?;
    let file = std::fs::File::open(path).with_context(|| format!("--document {path}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("--document {path}"))?;
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        bail!("--document {path}: larger than {MAX_DOCUMENT_BYTES} bytes");
    }
    Ok(mpms_ledger::credential::DocumentDigest {
        label: label.to_string(),
        sha256: Hash::digest(&bytes),
    })
}

/// Whether `party` may open the credential of grant `id` at `now_ms`: the grant is
/// its own, not revoked and not expired.
fn usable_grant(id: &Hash, g: &Grant, party: &PublicKey, now_ms: u64) -> anyhow::Result<()> {
    if &g.grantee != party {
        bail!("grant {id} is for {}, not {party}", g.grantee);
    }
    if let Some(height) = g.revoked_height {
        bail!("grant {id} was revoked at height {height}");
    }
    if g.expires_at_ms <= now_ms {
        bail!(
            "grant {id} expired at {} ms since the epoch",
            g.expires_at_ms
        );
    }
    Ok(())
}

/// `mpmsd credential open`: opens grant `id`, or every entry of set grant `id`.
pub fn open_grant_or_set(client: &Client, party: &Party, id: &Hash) -> anyhow::Result<Value> {
    let Some(set) = client.get_opt(&format!("/v1/grant-sets/{id}"))? else {
        return open_granted(client, party, id);
    };
    let set: mpms_ledger::records::GrantSet =
        serde_json::from_value(set).context("grant set record")?;
    let mut entries = Vec::with_capacity(set.grants.len());
    for (_, grant) in &set.grants {
        entries.push(open_granted(client, party, grant)?);
    }
    Ok(json!({
        "grant_set": id.to_string(),
        "selection": set.selection,
        "entries": entries,
    }))
}

/// The grantee decrypts a credential shared with it by grant `grant` and checks it
/// (signature, commitment, status).
pub fn open_granted(client: &Client, party: &Party, grant: &Hash) -> anyhow::Result<Value> {
    let g: Grant = client.get_as(&format!("/v1/grants/{grant}"))?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    usable_grant(grant, &g, &party.id(), now_ms)?;
    let (record, tx) = issued(client, &g.credential)?;
    let issuance = issuance_in(&tx)?;
    if record["erased_height"].is_u64() {
        bail!(
            "credential {}: content erased at its subject's request",
            g.credential
        );
    }
    // The key sealed to this grantee is in the granting transaction.
    let granting = client.committed_tx(&g.granted_tx)?;
    let sealed = mpms_ledger::credential::granted_key(&granting, g.entry)
        .filter(|k| k.digest() == g.sealed_key)
        .ok_or_else(|| {
            anyhow!(
                "transaction {} does not hold grant {grant}'s key",
                g.granted_tx
            )
        })?
        .get()
        .ok_or(mpms_ledger::credential::ContentError::Erased)?;
    let content = mpms_ledger::credential::open_content(
        issuance,
        sealed,
        party.decryption("opening a credential")?,
    )?;
    mpms_ledger::credential::verify_content(
        &tx.tx.chain_id,
        &issuance.claim,
        &issuance.certifier_signature,
        &issuance.claim.signer(),
        &content,
    )?;
    Ok(json!({
        "credential": g.credential.to_string(),
        "schema": issuance.claim.schema,
        "certifier": issuance.claim.certifier.to_string(),
        "practitioner": issuance.claim.practitioner.map(|p| p.to_string()),
        "supersedes": issuance.claim.supersedes.map(|c| c.to_string()),
        "superseded_by": record["superseded_by"],
        "holder_name": content.holder_name,
        "fields": content.fields.iter().map(|(k, v)| (k.clone(), v.display())).collect::<BTreeMap<_, _>>(),
        "status": record["status"],
        "signature_and_commitment": "valid",
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn grant(grantee: PublicKey) -> Grant {
        Grant {
            credential: Hash::digest(b"credential"),
            subject: mpms_crypto::SigningKey::from_seed(&[2; 32]).public_key(),
            grantee,
            request: None,
            sealed_key: Hash::digest(b"sealed key"),
            granted_tx: Hash::digest(b"granting transaction"),
            entry: 0,
            expires_at_ms: 10_000,
            granted_height: 3,
            revoked_height: None,
            inspection_count: 0,
        }
    }

    #[test]
    fn an_expired_grant_is_refused_as_a_revoked_one_is() {
        let board = mpms_crypto::SigningKey::from_seed(&[3; 32]).public_key();
        let id = Hash::digest(b"grant");
        let g = grant(board);
        usable_grant(&id, &g, &board, 9_999).unwrap();
        let expired = usable_grant(&id, &g, &board, 10_000).unwrap_err();
        assert!(expired.to_string().contains("expired"), "{expired}");
        let mut revoked = g.clone();
        revoked.revoked_height = Some(7);
        let refused = usable_grant(&id, &revoked, &board, 0).unwrap_err();
        assert!(
            refused.to_string().contains("revoked at height 7"),
            "{refused}"
        );
        let other = mpms_crypto::SigningKey::from_seed(&[4; 32]).public_key();
        assert!(usable_grant(&id, &g, &other, 0).is_err());
    }
}
