//! `mpmsd tx`: one command per domain action. Each signs a transaction with the
//! sender's next nonce, submits it, waits for its block (unless `--no-wait`) and
//! prints one JSON line: `{"hash", "height", ...ids the action created}`. A refused
//! transaction prints the ledger's reason and exits with status 1.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use mpms_client::build::Role;
use mpms_client::grant::SetSelection;
use mpms_client::{build, governance, grant, issue, Wait, ACCOUNT_WAIT, COMMIT_WAIT};
use mpms_crypto::{EncryptionKey, Hash, PublicKey};
use mpms_ledger::transaction::{grant_id, request_id, OrganizationKind};
use mpms_ledger::Payload;
use mpms_node::join::JoinRequest;
use rand::rngs::OsRng;
use serde_json::{json, Value};

use crate::client::{connect, Client};
use crate::keys_cmd::{KeySource, Party};

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
        /// Schema id (e.g. `cardio.ecg`). A patient record schema is
        /// `record.KIND` or `record.KIND.N` (KIND: condition, lab-result, medication,
        /// medical-certificate, note): its definition is the kind's, so give no
        /// description, prerequisite, output, condition, field or FHIR type.
        #[arg(long)]
        id: String,
        /// What it attests (required, except for a record schema).
        #[arg(long)]
        description: Option<String>,
        /// A schema that must be held first (repeatable).
        #[arg(long = "prerequisite")]
        prerequisites: Vec<String>,
        /// What completing it yields [default: competence].
        #[arg(long)]
        output: Option<String>,
        /// The completion condition [default: pass].
        #[arg(long)]
        condition: Option<String>,
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
        /// Name the subject's account in the claim instead of a fresh entry key of it
        /// (an entry key keeps the subject's entries unlinkable; a schema of a stack,
        /// with prerequisites or one of another's, always names the account).
        #[arg(long)]
        linked: bool,
    },
    /// A certifier (a hospital) delegates claim signing to a practitioner, or
    /// replaces its terms. In force from the next block.
    Delegate {
        /// The practitioner's account (`mpmsd keys generate`; it needs no
        /// registration).
        #[arg(long)]
        practitioner: PublicKey,
        /// Its role, e.g. "attending cardiologist": the chain holds a salted digest of
        /// it (the output's `role_salt` lets the hospital show it).
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
        /// The subject the credentials name (default: read from the first one; an
        /// entry of a record names its own entry key).
        #[arg(long)]
        subject: Option<PublicKey>,
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
    /// A subject grants an organization access to a set of its credentials (on
    /// referral or transfer): every credential of a schema (corrected ones
    /// included), or a list. One transaction per key the credentials were issued to
    /// (the account, or each entry key: the chain links no two of them), each a set
    /// grant printed on its own line.
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
    /// Admit a registered organization: it may then ask subjects for access.
    AdmitOrganization {
        /// The organization's account.
        #[arg(long)]
        organization: PublicKey,
    },
    /// Suspend an organization: it may no longer ask subjects for access.
    SuspendOrganization {
        /// The organization's account.
        #[arg(long)]
        organization: PublicKey,
        /// Why.
        #[arg(long)]
        reason: String,
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
    /// Revoke every credential a certifier issued in a range of heights (as when
    /// its credentials were shown fraudulent): every verifier refuses them.
    RevokeCertifierCredentials {
        /// The certifier.
        #[arg(long)]
        certifier: PublicKey,
        /// Lowest issue height revoked (default: from its first credential).
        #[arg(long, default_value_t = 0)]
        from_height: u64,
        /// Highest issue height revoked (default: up to the block that applies it).
        #[arg(long)]
        to_height: Option<u64>,
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

/// What the output names besides the hash and the height.
enum Out {
    /// These fields.
    Fields(Value),
    /// The access request the transaction creates.
    Request,
    /// The grant it creates.
    Grant,
    /// The set grant it creates, of these credentials.
    GrantSet(Vec<Hash>),
}

impl Out {
    /// The fields, once the transaction was signed by `sender` with `nonce`.
    fn fields(self, sender: &PublicKey, nonce: u64) -> Value {
        match self {
            Out::Fields(v) => v,
            Out::Request => json!({ "request": request_id(sender, nonce).to_string() }),
            Out::Grant => json!({ "grant": grant_id(sender, nonce).to_string() }),
            Out::GrantSet(credentials) => {
                let (set, entries) = grant::set_grant_ids(sender, nonce, &credentials);
                let grants: Vec<Value> = entries
                    .iter()
                    .map(|(c, g)| json!({ "credential": c.to_string(), "grant": g.to_string() }))
                    .collect();
                json!({ "grant_set": set.to_string(), "grants": grants })
            }
        }
    }
}

/// Largest evidence file read.
const MAX_EVIDENCE_FILE: u64 = 1 << 20;

/// The largest supporting document hashed (a scan of a diploma or a report).
const MAX_DOCUMENT_BYTES: u64 = 256 << 20;

/// The bytes of file `path` (`flag` names it in errors), refused beyond `limit`.
fn read_limited(path: &Path, limit: u64, flag: &str) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("{flag}{}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{flag}{}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!("{flag}{}: larger than {limit} bytes", path.display());
    }
    Ok(bytes)
}

/// Reads evidence from `path`: JSON if it starts with `{`, canonical bytes otherwise.
fn read_evidence(path: &Path) -> anyhow::Result<mpms_ledger::evidence::Evidence> {
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
    build::parse_evidence(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// `LABEL=FILE` as the digest of the file's bytes.
fn document_digest(arg: &str) -> anyhow::Result<mpms_ledger::credential::DocumentDigest> {
    let (label, path) = arg
        .split_once('=')
        .ok_or_else(|| anyhow!("--document {arg:?}: expected LABEL=FILE"))?;
    let bytes = read_limited(Path::new(path), MAX_DOCUMENT_BYTES, "--document ")?;
    Ok(issue::document_digest(label, &bytes))
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
            if !client.account_exists(&account)? {
                let registration = request.registration()?;
                let hash = client.submit(&registration).map_err(|e| {
                    anyhow!(
                        "submitting the institution's registration from {}: {e}",
                        file.display()
                    )
                })?;
                let committed = client.wait_committed(&hash, COMMIT_WAIT)?;
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

pub fn run(args: TxArgs) -> anyhow::Result<()> {
    let client = connect(args.node, args.signer.home.as_deref())?;
    let party = args.signer.load()?;
    let is_proposal = matches!(args.action, TxAction::Propose { .. });
    let voted = match args.action {
        TxAction::Vote { proposal, .. } => Some(proposal),
        _ => None,
    };
    let mut action = args.action;
    let mut extra = json!({});
    complete(&mut action, &args.signer, &party, &client, &mut extra)?;
    let wait = if args.no_wait {
        Wait::Admitted
    } else {
        Wait::Committed(COMMIT_WAIT)
    };
    if let TxAction::GrantAccessSet {
        grantee,
        schema,
        credentials,
        request,
        days,
    } = action
    {
        let selection = match schema {
            Some(schema) => SetSelection::Schema(schema),
            None => SetSelection::Listed(credentials),
        };
        let now = mpms_client::now_ms();
        let sets = grant::prepare_grant_sets(
            &client,
            &party,
            grantee,
            selection,
            request,
            build::days_after(now, days),
            now,
            &mut OsRng,
        )?;
        for (acting, set) in sets {
            let out = Out::GrantSet(set.credentials);
            println!(
                "{}",
                send(&client, &acting, set.payload, out, wait, &json!({}))?
            );
        }
        return Ok(());
    }
    // A subject acts on a credential of its record with the key the credential
    // names: its account's, or the entry key it was issued to.
    let acting = match &action {
        TxAction::GrantAccess { credential, .. } | TxAction::EraseContent { credential } => {
            mpms_client::entries::acting_for(&client, &party, credential)?
        }
        TxAction::RevokeGrant { grant } => {
            let credential = match client.grant_set(grant)? {
                Some(set) => set
                    .grants
                    .first()
                    .map(|(credential, _)| *credential)
                    .context("the set grant holds no grant")?,
                None => client.grant(grant)?.credential,
            };
            mpms_client::entries::acting_for(&client, &party, &credential)?
        }
        _ => party.clone(),
    };
    let (payload, out) = payload(&client, &acting, &args.signer.password_file, action)?;
    let mut out = send(&client, &acting, payload, out, wait, &extra)?;
    let mut proposal = voted;
    if is_proposal && out["height"].is_u64() {
        proposal = governance::latest_proposal_by(&client, &party.id())?;
        out["proposal"] = json!(proposal);
    }
    if let (Some(id), true) = (proposal, out["height"].is_u64()) {
        out["proposal_outcome"] = governance::proposal_outcome(&client, id)?.to_json();
    }
    println!("{out}");
    Ok(())
}

/// Sends `payload` signed by `party` and returns the output fields to print (with
/// the registration `extra` names, if any).
fn send(
    client: &Client,
    party: &Party,
    payload: Payload,
    out: Out,
    wait: Wait,
    extra: &Value,
) -> anyhow::Result<Value> {
    let sent = client.send_when_known(party, payload, wait, ACCOUNT_WAIT, || {
        eprintln!(
            "the node does not know account {} yet: waiting for it to apply the latest blocks",
            party.id()
        )
    });
    let sent = match sent {
        Ok(sent) => sent,
        Err(mpms_client::Error::Refused(reason)) => {
            println!("{}", json!({ "refused": reason }));
            bail!("refused: {reason}")
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = out.fields(&party.id(), sent.nonce);
    if let Some(registered) = extra.get("registered") {
        out["registered"] = registered.clone();
    }
    out["hash"] = json!(sent.hash.to_string());
    out["height"] = json!(sent.height);
    Ok(out)
}

/// The content fields of `issue-credential` as `(name, text)`: each `--field
/// NAME=VALUE`, then the course options given.
fn given_fields(
    fields: &[String],
    course: [(&str, Option<String>); 5],
) -> anyhow::Result<Vec<(String, String)>> {
    fields
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
        .collect()
}

/// Builds the payload of `action`.
fn payload(
    client: &Client,
    party: &Party,
    password_file: &Option<PathBuf>,
    action: TxAction,
) -> anyhow::Result<(Payload, Out)> {
    let now = mpms_client::now_ms();
    let account = || json!({ "account": party.id().to_string() });
    Ok(match action {
        TxAction::RegisterSubject => (
            client.registration(party, Role::Subject)?,
            Out::Fields(account()),
        ),
        TxAction::RegisterOrganization { name, kind } => (
            client.registration(
                party,
                Role::Organization {
                    name,
                    kind: kind.into(),
                },
            )?,
            Out::Fields(account()),
        ),
        TxAction::RegisterCertifier { name } => (
            client.registration(party, Role::Certifier { name })?,
            Out::Fields(account()),
        ),
        TxAction::Transfer { to, amount, .. } => (
            build::transfer(to.context("give --to or --request")?, amount),
            Out::Fields(json!({})),
        ),
        TxAction::Bond { amount } => (build::bond(amount), Out::Fields(json!({}))),
        TxAction::Unbond { amount } => (build::unbond(amount), Out::Fields(json!({}))),
        TxAction::WithdrawUnbonded => (build::withdraw_unbonded(), Out::Fields(json!({}))),
        TxAction::RotateKeys {
            signing_key,
            encryption_key,
        } => {
            if signing_key.is_none() && encryption_key.is_none() {
                bail!("give --signing-key, --encryption-key or both");
            }
            (
                build::rotate_keys(signing_key, encryption_key)?,
                Out::Fields(json!({})),
            )
        }
        TxAction::SubmitEvidence { file } => {
            let evidence = read_evidence(&file)?;
            let offence = evidence.offence_id();
            (
                build::submit_evidence(evidence),
                Out::Fields(json!({ "offence": offence.to_string() })),
            )
        }
        TxAction::RecordInspection { grant, failed } => {
            // Sealed to the subject the grant names (its grant set's, for a member).
            let subject = client.grant(&grant)?.subject;
            (
                build::record_inspection(grant, &subject, failed, &mut OsRng)?,
                Out::Fields(json!({ "grant": grant.to_string() })),
            )
        }
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
            let payload = if mpms_ledger::record_schema::is_record_schema(&id) {
                if description.is_some()
                    || !prerequisites.is_empty()
                    || output.is_some()
                    || condition.is_some()
                    || !fields.is_empty()
                    || fhir_resource.is_some()
                {
                    bail!(
                        "{id} is a record schema: its definition is its kind's, so give only \
                         --id (and --max-validity-days)"
                    );
                }
                build::register_record_schema(&id, max_validity_days)?
            } else {
                build::register_schema(build::SchemaSpec {
                    id: id.clone(),
                    description: description
                        .ok_or_else(|| anyhow!("--description: what the schema attests"))?,
                    prerequisites,
                    output: output.unwrap_or_else(|| "competence".into()),
                    condition: condition.unwrap_or_else(|| "pass".into()),
                    max_validity_days,
                    fields: build::field_specs(&fields)?,
                    fhir_resource,
                })?
            };
            (payload, Out::Fields(json!({ "schema": id })))
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
            linked,
        } => {
            let practitioner = practitioner_key
                .map(|path| {
                    crate::keys_cmd::load_keys(&path, &crate::keys_cmd::password(password_file)?)
                        .with_context(|| format!("--practitioner-key {}", path.display()))
                })
                .transpose()?;
            let given = given_fields(
                &fields,
                [
                    ("description", description),
                    ("start_date", start_date),
                    ("end_date", end_date),
                    ("marks", marks),
                    ("result", result),
                ],
            )?;
            let record = client.schema(&schema)?;
            let fields = match &fhir {
                Some(path) => {
                    let resource =
                        read_limited(path, mpms_fhir::MAX_RESOURCE_BYTES as u64, "--fhir ")?;
                    issue::fhir_fields(&record, &resource)
                        .with_context(|| format!("--fhir {}", path.display()))?
                }
                None => issue::content_fields(&record, &given)?,
            };
            let draft = issue::Draft {
                subject,
                holder_name,
                date_of_birth,
                fields,
                documents: documents
                    .iter()
                    .map(|d| document_digest(d))
                    .collect::<anyhow::Result<Vec<_>>>()?,
                valid_days,
                corrects,
                linked,
            };
            let issued = issue::prepare(
                client,
                party,
                practitioner.as_ref(),
                &record,
                &draft,
                now,
                &mut OsRng,
            )?;
            (
                issued.payload,
                Out::Fields(json!({
                    "credential": issued.credential.to_string(),
                    "subject": issued.subject.to_string(),
                })),
            )
        }
        TxAction::Delegate {
            practitioner,
            role,
            schemas,
            valid_days,
        } => {
            let (payload, salt) =
                build::delegate(practitioner, &role, schemas, now, valid_days, &mut OsRng)?;
            // The chain holds the role's digest: the salt (and the role) let the
            // certifier show it to whom it chooses.
            (
                payload,
                Out::Fields(json!({
                    "practitioner": practitioner.to_string(),
                    "role_salt": hex::encode(salt),
                })),
            )
        }
        TxAction::RevokeDelegation {
            practitioner,
            reason,
        } => (
            build::revoke_delegation(practitioner, reason),
            Out::Fields(json!({ "practitioner": practitioner.to_string() })),
        ),
        TxAction::EraseContent { credential } => (
            build::erase_content(credential),
            Out::Fields(json!({ "credential": credential.to_string(), "erased": true })),
        ),
        TxAction::RevokeCredential { credential, reason } => (
            build::revoke_credential(credential, reason),
            Out::Fields(json!({ "credential": credential.to_string() })),
        ),
        TxAction::RequestAccess {
            subject,
            credentials,
            purpose,
        } => (
            build::request_access(
                &party.id(),
                match subject {
                    Some(subject) => subject,
                    None => {
                        let first = credentials.first().context("give a --credential")?;
                        client.credential(first)?.claim.subject
                    }
                },
                credentials,
                &purpose,
                &mut OsRng,
            )?,
            Out::Request,
        ),
        TxAction::GrantAccess {
            credential,
            grantee,
            request,
            days,
        } => (
            grant::prepare_grant(
                client,
                party,
                &credential,
                grantee,
                request,
                build::days_after(now, days),
                &mut OsRng,
            )?,
            Out::Grant,
        ),
        // Several transactions, one per key: sent by `run` itself.
        TxAction::GrantAccessSet { .. } => bail!("grant-access-set builds its own transactions"),
        TxAction::RevokeGrant { grant } => (
            build::revoke_grant(grant),
            Out::Fields(json!({ "grant": grant.to_string() })),
        ),
        TxAction::Propose { action } => {
            let action = match action {
                ProposeAction::AccreditCertifier {
                    certifier,
                    scope,
                    days,
                } => governance::accredit_certifier(certifier, scope, now, days),
                ProposeAction::SuspendCertifier { certifier, reason } => {
                    governance::suspend_certifier(certifier, reason)
                }
                ProposeAction::AddAuthority {
                    operator,
                    consensus_key,
                    peer_id,
                    ..
                } => governance::add_authority(
                    operator.context("give --operator or --request")?,
                    consensus_key
                        .context("give --consensus-key, or a --request from a validator")?,
                    peer_id.context("give --peer-id or --request")?,
                ),
                ProposeAction::RemoveAuthority { operator } => {
                    governance::remove_authority(operator)
                }
                ProposeAction::RotateAuthorityKey {
                    operator,
                    consensus_key,
                } => governance::rotate_authority_key(
                    operator.context("give --operator (or --home)")?,
                    consensus_key.context("give --consensus-key (or --home)")?,
                ),
                ProposeAction::SlashCertifier {
                    certifier,
                    fraction_bps,
                    reason,
                } => governance::slash_certifier(certifier, fraction_bps, reason),
                ProposeAction::RevokeCertifierCredentials {
                    certifier,
                    from_height,
                    to_height,
                    reason,
                } => governance::revoke_certifier_credentials(
                    certifier,
                    from_height,
                    to_height,
                    reason,
                ),
                ProposeAction::SetParameter { name, value } => {
                    governance::set_parameter(parameter(name, value)?)
                }
                ProposeAction::RemoveNode { peer_id } => governance::remove_node(peer_id),
                ProposeAction::AdmitOrganization { organization } => {
                    governance::admit_organization(organization)
                }
                ProposeAction::SuspendOrganization {
                    organization,
                    reason,
                } => governance::suspend_organization(organization, reason),
                ProposeAction::AdmitNode {
                    peer_id, operator, ..
                } => governance::admit_node(
                    peer_id.context("give --peer-id or --request")?,
                    operator.context("give --operator or --request")?,
                ),
            };
            (governance::propose(action), Out::Fields(json!({})))
        }
        TxAction::Vote { proposal, reject } => (
            governance::vote(proposal, !reject),
            Out::Fields(json!({ "proposal": proposal })),
        ),
    })
}
