//! `mpmsd demo`: scenarios against a running network, through its API; each step
//! prints its block.
//!
//! - `intern` (the published prototype's): an intern and a hospital register,
//!   governance accredits the hospital, the hospital issues a micro-credential, the
//!   licensing board asks, the intern grants, the board decrypts and verifies;
//! - `patient`: a cardiac patient's record. A hospital delegates signing to its
//!   cardiologist, who records a visit, a test result, a medication and a sick-leave
//!   certificate; the patient shares the certificate with the employer, refers the
//!   history to a second hospital in one grant, the test result is corrected, and an
//!   insurer checks the certificate.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, ValueEnum};
use mpms_client::build::Role;
use mpms_client::grant::{Opened, SetSelection};
use mpms_client::{build, governance, grant, issue, Sent, Wait, COMMIT_WAIT};
use mpms_crypto::Hash;
use mpms_ledger::transaction::{grant_id, request_id, OrganizationKind};
use mpms_ledger::Payload;
use mpms_node::home::Home;
use rand::rngs::OsRng;

use crate::client::Client;
use crate::keys_cmd::Party;

/// `mpmsd demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// The node's API.
    #[arg(long, default_value = "http://127.0.0.1:26601")]
    node: String,
    /// The network directory of `mpmsd devnet --dir` or `mpmsd testnet --out`: the
    /// validators' homes, whose operator keys vote the accreditation.
    #[arg(long)]
    network: PathBuf,
    /// Which scenario to play.
    #[arg(long, value_enum, default_value_t = Scenario::Intern)]
    scenario: Scenario,
}

/// A demo scenario.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// An intern's micro-credential, checked by a licensing board.
    Intern,
    /// A cardiac patient's record, shared with an employer, a second hospital and an
    /// insurer.
    Patient,
}

fn party() -> Party {
    Party::generate(&mut OsRng)
}

/// How long the demo's grants last, days.
const GRANT_DAYS: u64 = 30;

struct Demo {
    client: Client,
}

impl Demo {
    /// Sends `payload` from `who`, waits for its block and prints the step.
    fn step(&self, who: &Party, what: &str, payload: Payload) -> anyhow::Result<Sent> {
        match self.client.send(who, payload, Wait::Committed(COMMIT_WAIT)) {
            Ok(sent) => {
                println!("  [block {:>4}] {what}", sent.height.unwrap_or(0));
                Ok(sent)
            }
            Err(mpms_client::Error::Refused(reason)) => bail!("{what}: refused: {reason}"),
            Err(e) => Err(e.into()),
        }
    }

    /// `who` registers as `role`.
    fn register(&self, who: &Party, role: Role, what: &str) -> anyhow::Result<()> {
        let payload = self.client.registration(who, role)?;
        self.step(who, what, payload).map(drop)
    }

    /// The issuance by `certifier` (signed by `practitioner` for it, if given) of
    /// a credential of `schema` with `fields` to `draft`'s subject, at `now`.
    fn issuance(
        &self,
        certifier: &Party,
        practitioner: Option<&Party>,
        schema: &str,
        fields: &[(&str, &str)],
        draft: issue::Draft,
        now: u64,
    ) -> anyhow::Result<issue::Issued> {
        let record = self.client.schema(schema)?;
        let given: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let draft = issue::Draft {
            fields: issue::content_fields(&record, &given)?,
            ..draft
        };
        Ok(issue::prepare(
            &self.client,
            certifier,
            practitioner,
            &record,
            &draft,
            now,
            &mut OsRng,
        )?)
    }

    /// Sends an issuance and returns the credential's id.
    fn issue(&self, certifier: &Party, what: &str, issued: issue::Issued) -> anyhow::Result<Hash> {
        self.step(certifier, what, issued.payload)?;
        Ok(issued.credential)
    }

    /// `subject` grants `grantee` access to `credential` (answering `request`);
    /// returns the grant's id.
    fn grant(
        &self,
        subject: &Party,
        credential: Hash,
        grantee: &Party,
        request: Option<Hash>,
        what: &str,
    ) -> anyhow::Result<Hash> {
        // The credential's subject signs: the subject's account, or the entry key
        // the credential was issued to.
        let acting = mpms_client::entries::acting_for(&self.client, subject, &credential)?;
        let payload = grant::prepare_grant(
            &self.client,
            &acting,
            &credential,
            grantee.id(),
            request,
            build::days_after(mpms_client::now_ms(), GRANT_DAYS),
            &mut OsRng,
        )?;
        let sent = self.step(&acting, what, payload)?;
        Ok(grant_id(&acting.id(), sent.nonce))
    }

    /// `subject` grants `grantee` access to the credentials `selection` names: one
    /// set grant per key they were issued to; returns the set grants' ids.
    fn grant_sets(
        &self,
        subject: &Party,
        grantee: &Party,
        selection: SetSelection,
        what: &str,
    ) -> anyhow::Result<Vec<Hash>> {
        let now = mpms_client::now_ms();
        let prepared = grant::prepare_grant_sets(
            &self.client,
            subject,
            grantee.id(),
            selection,
            None,
            build::days_after(now, GRANT_DAYS),
            now,
            &mut OsRng,
        )?;
        let count = prepared.len();
        let mut sets = Vec::with_capacity(count);
        for (i, (acting, set)) in prepared.into_iter().enumerate() {
            let what = if count == 1 {
                what.to_string()
            } else {
                format!("{what} ({} of {count})", i + 1)
            };
            let sent = self.step(&acting, &what, set.payload)?;
            sets.push(grant_id(&acting.id(), sent.nonce));
        }
        Ok(sets)
    }

    /// `organization` asks `subject` for `credentials`; returns the request's id.
    fn request(
        &self,
        organization: &Party,
        subject: &Party,
        credentials: Vec<Hash>,
        purpose: &str,
        what: &str,
    ) -> anyhow::Result<Hash> {
        // A request names the subject the credentials name: the subject's account, or
        // (for an entry of a record) the entry key it was issued to.
        let named = match credentials.first() {
            Some(first) => self.client.credential(first)?.claim.subject,
            None => subject.id(),
        };
        let payload =
            build::request_access(&organization.id(), named, credentials, purpose, &mut OsRng)?;
        let sent = self.step(organization, what, payload)?;
        Ok(request_id(&organization.id(), sent.nonce))
    }

    /// `reader` opens the credential of `grant`.
    fn open(&self, reader: &Party, grant: &Hash) -> anyhow::Result<Opened> {
        Ok(grant::open_granted(
            &self.client,
            reader,
            grant,
            mpms_client::now_ms(),
        )?)
    }

    /// `reader` opens every entry of set grant `set`.
    fn open_set(&self, reader: &Party, set: &Hash) -> anyhow::Result<Vec<Opened>> {
        let opened = grant::open_grant_or_set(&self.client, reader, set, mpms_client::now_ms())?;
        Ok(opened.entries().to_vec())
    }
}

fn validators(network: &Path) -> anyhow::Result<Vec<Party>> {
    let mut homes: Vec<PathBuf> = std::fs::read_dir(network)
        .with_context(|| format!("{}", network.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("config").join("node.toml").exists())
        .collect();
    homes.sort();
    let mut out = Vec::new();
    for path in homes {
        let home = Home::new(&path);
        let config = home.load_config()?.raw;
        if let Some((keys, _)) = home.load_validator(&config)? {
            out.push(Party::signing_only(keys.operator));
        }
    }
    if out.is_empty() {
        bail!("no validator homes under {}", network.display());
    }
    Ok(out)
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let demo = Demo {
        client: crate::client::connect(Some(args.node.clone()), None)?,
    };
    let chain_id = demo.client.chain_id()?;
    let authorities = validators(&args.network)?;
    println!("MPMS demo on {chain_id} through {}", args.node);
    match args.scenario {
        Scenario::Intern => intern(&demo, &authorities),
        Scenario::Patient => patient(&demo, &authorities),
    }
}

/// Funds and bonds `certifier`'s stake, and has the authorities accredit it for
/// `scope`.
fn accredit(
    demo: &Demo,
    authorities: &[Party],
    certifier: &Party,
    scope: &str,
) -> anyhow::Result<()> {
    demo.step(
        &authorities[0],
        "an authority funds the hospital's stake",
        build::transfer(certifier.id(), 1_000),
    )?;
    demo.step(certifier, "the hospital bonds 500", build::bond(500))?;
    pass(
        demo,
        authorities,
        &format!("the accreditation (scope {scope})"),
        governance::accredit_certifier(
            certifier.id(),
            vec![scope.into()],
            mpms_client::now_ms(),
            365,
        ),
    )
}

/// Governance admits `organization` (named `name`): it may then ask subjects for
/// access.
fn admit(
    demo: &Demo,
    authorities: &[Party],
    organization: &Party,
    name: &str,
) -> anyhow::Result<()> {
    pass(
        demo,
        authorities,
        &format!("admitting {name} (organizations ask for access once admitted)"),
        governance::admit_organization(organization.id()),
    )
}

/// Authority 1 proposes `action` (`what`), and enough others vote for it.
fn pass(
    demo: &Demo,
    authorities: &[Party],
    what: &str,
    action: mpms_ledger::transaction::GovernanceAction,
) -> anyhow::Result<()> {
    demo.step(
        &authorities[0],
        &format!("authority 1 proposes {what}"),
        governance::propose(action),
    )?;
    let proposal = governance::latest_proposal_by(&demo.client, &authorities[0].id())?
        .ok_or_else(|| anyhow!("the proposal is not listed"))?;
    let needed = governance::votes_needed(authorities.len());
    for (i, voter) in authorities.iter().enumerate().skip(1).take(needed - 1) {
        demo.step(
            voter,
            &format!("authority {} votes for proposal {proposal}", i + 1),
            governance::vote(proposal, true),
        )?;
    }
    Ok(())
}

/// The first 12 hex digits of an id.
fn short(id: &Hash) -> String {
    id.to_string().chars().take(12).collect()
}

/// A credential the way its grantee sees it once opened, on one line.
fn opened_line(opened: &Opened) -> String {
    let fields = opened
        .field_texts()
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut line = format!(
        "{} for {}: {fields}",
        opened.record.claim.schema, opened.content.holder_name,
    );
    if let Some(by) = opened.record.superseded_by {
        line.push_str(&format!(" [superseded by correction {}]", short(&by)));
    }
    if let Some(earlier) = opened.record.claim.supersedes {
        line.push_str(&format!(" [corrects {}]", short(&earlier)));
    }
    line
}

/// Checks credential `id`'s proof bundle as a verifier would, printing each check.
fn verify_printed(demo: &Demo, id: &Hash) -> anyhow::Result<()> {
    let (_, verdict) = mpms_client::proof::fetch_checked(&demo.client, id, mpms_client::now_ms())?;
    for check in &verdict.checks {
        let shown = match &check.outcome {
            mpms_light::verify::Outcome::Passed(d) => format!("valid ({d})"),
            mpms_light::verify::Outcome::Failed(d) => format!("INVALID: {d}"),
            mpms_light::verify::Outcome::Skipped(d) => format!("not checked: {d}"),
        };
        println!("              {}: {shown}", check.name);
    }
    if let Some(failed) = verdict.first_failure() {
        bail!("verification failed: {}", failed.name);
    }
    Ok(())
}

/// The cardiac patient's scenario.
fn patient(demo: &Demo, authorities: &[Party]) -> anyhow::Result<()> {
    println!("\n1. Roles register");
    let patient = party();
    let st_mary = party();
    let riverside = party();
    let employer = party();
    let insurer = party();
    // The cardiologist needs no registration: the hospital's delegation names her key.
    let cardiologist = party();
    demo.register(
        &patient,
        Role::Subject,
        "the patient registers as a subject (a key only, no personal data)",
    )?;
    demo.register(
        &st_mary,
        Role::Certifier {
            name: "St. Mary Hospital".into(),
        },
        "St. Mary Hospital registers as a certifier",
    )?;
    for (who, name, kind) in [
        (
            &riverside,
            "Riverside Heart Institute",
            OrganizationKind::Hospital,
        ),
        (&employer, "Northwind Logistics", OrganizationKind::Employer),
        (
            &insurer,
            "Civic Health Insurance",
            OrganizationKind::Insurer,
        ),
    ] {
        demo.register(
            who,
            Role::Organization {
                name: name.into(),
                kind,
            },
            &format!("{name} registers as an organization"),
        )?;
    }

    println!(
        "\n2. Governance accredits St. Mary for patient records (record.*) and admits the insurer"
    );
    accredit(demo, authorities, &st_mary, "record.*")?;
    admit(demo, authorities, &insurer, "the insurer")?;

    println!(
        "\n3. St. Mary registers generic record schemas and delegates signing to its cardiologist"
    );
    // The first three map to FHIR R4 resources (what the hospital's records system
    // sends, and what the patient's wallet exports). A record schema's definition is
    // its kind's: the name, description and fields say only what kind of record.
    for id in [
        "record.condition",
        "record.lab-result",
        "record.medication",
        "record.medical-certificate",
    ] {
        let description = mpms_ledger::record_schema::kind_of(id).map_or("", |k| k.description);
        demo.step(
            &st_mary,
            &format!(
                "schema {id} ({description}) registered: its name says nothing about a condition"
            ),
            build::register_record_schema(id, None)?,
        )?;
    }
    demo.step(
        &st_mary,
        "St. Mary delegates signing of record.* to its attending cardiologist",
        build::delegate(
            cardiologist.id(),
            "attending cardiologist",
            vec!["record.*".into()],
            mpms_client::now_ms(),
            365,
            &mut OsRng,
        )?
        .0,
    )?;

    println!("\n4. The cardiologist records the visit, a test result, a medication and a sick-leave certificate");
    let now = mpms_client::now_ms();
    let entry = |schema: &str, fields: &[(&str, &str)], corrects: Option<Hash>| {
        demo.issuance(
            &st_mary,
            Some(&cardiologist),
            schema,
            fields,
            issue::Draft {
                subject: patient.id(),
                holder_name: "Maria Gonzalez".into(),
                date_of_birth: "1961-07-23".into(),
                fields: Default::default(),
                documents: Vec::new(),
                valid_days: 3_650,
                corrects,
                linked: false,
            },
            now,
        )
    };
    let signed = "signed by the cardiologist for St. Mary";
    let visit = demo.issue(
        &st_mary,
        &format!("diagnosis recorded ({signed})"),
        entry(
            "record.condition",
            &[
                ("code", "I20.9|Angina pectoris, unspecified"),
                ("onset", "2026-10-12"),
                ("recorded", "2026-11-02"),
            ],
            None,
        )?,
    )?;
    let lab = demo.issue(
        &st_mary,
        &format!("lab result recorded ({signed})"),
        entry(
            "record.lab-result",
            &[
                ("status", "final"),
                ("code", "10839-9|Troponin I.cardiac"),
                ("value", "85 ng/L"),
                ("effective", "2026-11-02"),
            ],
            None,
        )?,
    )?;
    let medication = demo.issue(
        &st_mary,
        &format!("medication recorded ({signed})"),
        entry(
            "record.medication",
            &[
                ("status", "active"),
                ("medication", "1191|Aspirin"),
                ("effective", "2026-11-02"),
                ("dosage", "75 mg once daily"),
            ],
            None,
        )?,
    )?;
    let certificate = demo.issue(
        &st_mary,
        &format!("sick-leave certificate recorded ({signed})"),
        entry(
            "record.medical-certificate",
            &[
                ("kind", "sick-leave|Sick leave"),
                ("from", "2026-11-02"),
                ("until", "2026-11-16"),
                ("fit_for_work", "false"),
            ],
            None,
        )?,
    )?;

    println!("\n5. The patient shares the sick-leave certificate, and only it, with the employer");
    let grant = demo.grant(
        &patient,
        certificate,
        &employer,
        None,
        "the patient grants the employer the certificate",
    )?;
    let opened = demo.open(&employer, &grant)?;
    println!("              the employer reads: {}", opened_line(&opened));

    println!(
        "\n6. Referral: the patient grants Riverside the visit, the test result and the medication"
    );
    println!("              (each entry was issued to its own entry key of the patient: one grant per entry, so the chain links none of them)");
    let sets = demo.grant_sets(
        &patient,
        &riverside,
        SetSelection::Listed(vec![visit, lab, medication]),
        "the patient grants the referral (30 days)",
    )?;
    println!("              Riverside reads the history:");
    for set in &sets {
        for opened in demo.open_set(&riverside, set)? {
            println!("                {}", opened_line(&opened));
        }
    }

    println!("\n7. A correction: the cardiologist corrects the test result's value");
    let corrected = demo.issue(
        &st_mary,
        "corrected lab result recorded; the first one is superseded, both stay provable",
        entry(
            "record.lab-result",
            &[
                ("status", "corrected"),
                ("code", "10839-9|Troponin I.cardiac"),
                ("value", "58 ng/L"),
                ("effective", "2026-11-02"),
            ],
            Some(lab),
        )?,
    )?;
    let sets = demo.grant_sets(
        &patient,
        &riverside,
        SetSelection::Schema("record.lab-result".into()),
        "the patient grants Riverside every lab result (the correction and what it corrects)",
    )?;
    println!("              Riverside reads the test result's history:");
    for set in &sets {
        for opened in demo.open_set(&riverside, set)? {
            println!("                {}", opened_line(&opened));
        }
    }
    println!("              current entry: {corrected}");

    println!("\n8. The insurer asks for the certificate and checks it");
    let request = demo.request(
        &insurer,
        &patient,
        vec![certificate],
        "income protection claim",
        "the insurer requests the sick-leave certificate for a claim",
    )?;
    let grant = demo.grant(
        &patient,
        certificate,
        &insurer,
        Some(request),
        "the patient grants it",
    )?;
    let opened = demo.open(&insurer, &grant)?;
    println!("              the insurer reads: {}", opened_line(&opened));
    verify_printed(demo, &certificate)?;
    println!("\nDone: the record's content only ever left the hospital encrypted to its patient, and each reader saw what the patient granted.");
    Ok(())
}

/// The intern's scenario.
fn intern(demo: &Demo, authorities: &[Party]) -> anyhow::Result<()> {
    println!("\n1. Roles register");
    let intern = party();
    let hospital = party();
    let board = party();
    demo.register(
        &intern,
        Role::Subject,
        "the intern registers as a subject (a key only, no personal data)",
    )?;
    demo.register(
        &hospital,
        Role::Certifier {
            name: "St. Mary Teaching Hospital".into(),
        },
        "St. Mary Teaching Hospital registers as a certifier",
    )?;
    demo.register(
        &board,
        Role::Organization {
            name: "State Medical Licensing Board".into(),
            kind: OrganizationKind::LicensingBoard,
        },
        "the State Medical Licensing Board registers as an organization",
    )?;

    println!(
        "\n2. Governance accredits the hospital for cardiology and admits the board (more than 2/3 of the authorities)"
    );
    accredit(demo, authorities, &hospital, "cardio.*")?;
    admit(demo, authorities, &board, "the licensing board")?;

    println!("\n3. The hospital issues a micro-credential, encrypted to the intern");
    demo.step(
        &hospital,
        "schema cardio.bls (Basic Life Support) registered",
        build::register_schema(build::SchemaSpec {
            id: "cardio.bls".into(),
            description: "Basic Life Support".into(),
            prerequisites: vec![],
            output: "competence".into(),
            condition: "pass the practical assessment".into(),
            max_validity_days: None,
            fields: build::field_specs::<&str>(&[])?,
            fhir_resource: None,
        })?,
    )?;
    let issued = demo.issuance(
        &hospital,
        None,
        "cardio.bls",
        &[
            ("description", "Basic Life Support, 16 hours"),
            ("start_date", "2026-01-05"),
            ("end_date", "2026-01-07"),
            ("marks", "92/100"),
            ("result", "passed"),
        ],
        issue::Draft {
            subject: intern.id(),
            holder_name: "Dr. Amina Okafor".into(),
            date_of_birth: "1998-04-12".into(),
            fields: Default::default(),
            documents: Vec::new(),
            valid_days: 730,
            corrects: None,
            linked: false,
        },
        mpms_client::now_ms(),
    )?;
    let credential = demo.issue(&hospital, "cardio.bls issued to the intern", issued)?;
    println!("              credential {credential}");

    println!("\n4. The licensing board asks; the intern grants");
    let request = demo.request(
        &board,
        &intern,
        vec![credential],
        "medical licence application",
        "the board requests the intern's cardio.bls for licensing",
    )?;
    let grant = demo.grant(
        &intern,
        credential,
        &board,
        Some(request),
        "the intern grants it (re-seals the content key to the board)",
    )?;

    println!("\n5. The board decrypts and verifies");
    let opened = demo.open(&board, &grant)?;
    println!("              decrypted: {}", opened_line(&opened));
    println!("              certifier signature and content commitment: valid");
    verify_printed(demo, &credential)?;
    println!("\nDone: personal data only ever left the intern's hands encrypted.");
    Ok(())
}
