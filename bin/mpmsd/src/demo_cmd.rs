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
use mpms_crypto::{DecryptionKey, Hash, SigningKey};
use mpms_node::home::Home;
use rand::rngs::OsRng;

use crate::client::{Client, SubmitError};
use crate::keys_cmd::Party;
use crate::tx_cmd::{self, Kind, ProposeAction, TxAction};

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
    Party {
        signing: SigningKey::generate(&mut OsRng),
        decryption: Some(DecryptionKey::generate(&mut OsRng)),
    }
}

struct Demo {
    client: Client,
}

impl Demo {
    fn step(&self, who: &Party, what: &str, action: TxAction) -> anyhow::Result<serde_json::Value> {
        let built = tx_cmd::payload(&self.client, who, &None, action)?;
        self.submit(who, what, built)
    }

    /// Sends `payload` from `who` and waits for its block; returns `out`.
    fn submit(
        &self,
        who: &Party,
        what: &str,
        (payload, out): (mpms_ledger::Payload, serde_json::Value),
    ) -> anyhow::Result<serde_json::Value> {
        match tx_cmd::send(&self.client, who, payload, true) {
            Ok((_, _, height)) => {
                println!("  [block {:>4}] {what}", height.unwrap_or(0));
                Ok(out)
            }
            Err(SubmitError::Refused(reason)) => bail!("{what}: refused: {reason}"),
            Err(SubmitError::Other(e)) => Err(e),
        }
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
            out.push(Party {
                signing: keys.operator,
                decryption: None,
            });
        }
    }
    if out.is_empty() {
        bail!("no validator homes under {}", network.display());
    }
    Ok(out)
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let demo = Demo {
        client: Client::new(&args.node),
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
        TxAction::Transfer {
            to: Some(certifier.id()),
            request: None,
            amount: 1_000,
        },
    )?;
    demo.step(
        certifier,
        "the hospital bonds 500",
        TxAction::Bond { amount: 500 },
    )?;
    demo.step(
        &authorities[0],
        &format!("authority 1 proposes the accreditation (scope {scope})"),
        TxAction::Propose {
            action: ProposeAction::AccreditCertifier {
                certifier: certifier.id(),
                scope: vec![scope.into()],
                days: 365,
            },
        },
    )?;
    let proposal = tx_cmd::latest_proposal_by(&demo.client, &authorities[0].id())?
        .ok_or_else(|| anyhow!("the proposal is not listed"))?;
    let needed = authorities.len() * 2 / 3 + 1;
    for (i, voter) in authorities.iter().enumerate().skip(1).take(needed - 1) {
        demo.step(
            voter,
            &format!("authority {} votes for proposal {proposal}", i + 1),
            TxAction::Vote {
                proposal,
                reject: false,
            },
        )?;
    }
    Ok(())
}

fn id_of(out: &serde_json::Value, field: &str) -> anyhow::Result<Hash> {
    out[field]
        .as_str()
        .ok_or_else(|| anyhow!("no {field} in {out}"))?
        .parse()
        .map_err(|e| anyhow!("{field}: {e}"))
}

/// A credential the way its grantee sees it once opened, on one line.
fn opened_line(opened: &serde_json::Value) -> String {
    let fields = opened["fields"]
        .as_object()
        .map(|f| {
            f.iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let mut line = format!(
        "{} for {}: {fields}",
        opened["schema"].as_str().unwrap_or_default(),
        opened["holder_name"].as_str().unwrap_or_default(),
    );
    if let Some(by) = opened["superseded_by"].as_str() {
        line.push_str(&format!(
            " [superseded by correction {}]",
            &by[..12.min(by.len())]
        ));
    }
    if let Some(earlier) = opened["supersedes"].as_str() {
        line.push_str(&format!(
            " [corrects {}]",
            &earlier[..12.min(earlier.len())]
        ));
    }
    line
}

/// Checks credential `id`'s proof bundle as a verifier would, printing each check.
fn verify_printed(demo: &Demo, id: &Hash) -> anyhow::Result<()> {
    let bundle: mpms_light::ProofBundle = demo
        .client
        .get_as(&format!("/v1/credentials/{id}/bundle"))?;
    let anchor = mpms_light::Anchor::from_genesis(&bundle.genesis)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let verdict = mpms_light::verify::verify_bundle(&bundle, &anchor, None, now_ms);
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
    demo.step(
        &patient,
        "the patient registers as a subject (a key only, no personal data)",
        TxAction::RegisterSubject,
    )?;
    demo.step(
        &st_mary,
        "St. Mary Hospital registers as a certifier",
        TxAction::RegisterCertifier {
            name: "St. Mary Hospital".into(),
        },
    )?;
    for (who, name, kind) in [
        (&riverside, "Riverside Heart Institute", Kind::Hospital),
        (&employer, "Northwind Logistics", Kind::Employer),
        (&insurer, "Civic Health Insurance", Kind::Insurer),
    ] {
        demo.step(
            who,
            &format!("{name} registers as an organization"),
            TxAction::RegisterOrganization {
                name: name.into(),
                kind,
            },
        )?;
    }

    println!("\n2. Governance accredits St. Mary for patient records (record.*)");
    accredit(demo, authorities, &st_mary, "record.*")?;

    println!(
        "\n3. St. Mary registers generic record schemas and delegates signing to its cardiologist"
    );
    // The first three map to FHIR R4 resources (what the hospital's records system
    // sends, and what the patient's wallet exports).
    let schemas: [(&str, &str, Option<&str>, &[&str]); 4] = [
        (
            "record.condition",
            "A diagnosis",
            Some("Condition"),
            &[
                "code:code:http://hl7.org/fhir/sid/icd-10",
                "onset?:date",
                "recorded?:date",
            ],
        ),
        (
            "record.lab-result",
            "A laboratory result",
            Some("Observation"),
            &[
                "status:text",
                "code:code:http://loinc.org",
                "value:number:ng/L",
                "effective:date",
            ],
        ),
        (
            "record.medication",
            "A medication statement",
            Some("MedicationStatement"),
            &[
                "status:text",
                "medication:code:http://www.nlm.nih.gov/research/umls/rxnorm",
                "effective?:date",
                "dosage?:text",
            ],
        ),
        (
            "record.medical-certificate",
            "A medical certificate",
            None,
            &[
                "kind:code:urn:mpms:certificate-kind",
                "from:date",
                "until:date",
                "fit_for_work:boolean",
            ],
        ),
    ];
    for (id, description, fhir_resource, fields) in schemas {
        demo.step(
            &st_mary,
            &format!(
                "schema {id} ({description}) registered: its name says nothing about a condition"
            ),
            TxAction::RegisterSchema {
                id: id.into(),
                description: description.into(),
                prerequisites: vec![],
                output: "record".into(),
                condition: "written by the treating practitioner".into(),
                max_validity_days: None,
                fields: fields.iter().map(|f| f.to_string()).collect(),
                fhir_resource: fhir_resource.map(str::to_string),
            },
        )?;
    }
    demo.step(
        &st_mary,
        "St. Mary delegates signing of record.* to its attending cardiologist",
        TxAction::Delegate {
            practitioner: cardiologist.id(),
            role: "attending cardiologist".into(),
            schemas: vec!["record.*".into()],
            valid_days: 365,
        },
    )?;

    println!("\n4. The cardiologist records the visit, a test result, a medication and a sick-leave certificate");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let entry = |schema: &str, fields: &[(&str, &str)], corrects: Option<Hash>| {
        tx_cmd::issue_payload(
            &demo.client,
            &st_mary,
            Some(&cardiologist),
            tx_cmd::Issue {
                schema: schema.into(),
                subject: patient.id(),
                holder_name: "Maria Gonzalez".into(),
                date_of_birth: "1961-07-23".into(),
                fields: fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                fhir: None,
                documents: Vec::new(),
                valid_days: 3_650,
                corrects,
            },
            now,
        )
    };
    let signed = "signed by the cardiologist for St. Mary";
    let visit = demo.submit(
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
    let lab = demo.submit(
        &st_mary,
        &format!("lab result recorded ({signed})"),
        entry(
            "record.lab-result",
            &[
                ("status", "final"),
                ("code", "10839-9|Troponin I.cardiac"),
                ("value", "85"),
                ("effective", "2026-11-02"),
            ],
            None,
        )?,
    )?;
    let medication = demo.submit(
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
    let certificate = demo.submit(
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
    let (visit, lab, medication, certificate) = (
        id_of(&visit, "credential")?,
        id_of(&lab, "credential")?,
        id_of(&medication, "credential")?,
        id_of(&certificate, "credential")?,
    );

    println!("\n5. The patient shares the sick-leave certificate, and only it, with the employer");
    let grant = demo.step(
        &patient,
        "the patient grants the employer the certificate",
        TxAction::GrantAccess {
            credential: certificate,
            grantee: employer.id(),
            request: None,
            days: 30,
        },
    )?;
    let opened = tx_cmd::open_granted(&demo.client, &employer, &id_of(&grant, "grant")?)?;
    println!("              the employer reads: {}", opened_line(&opened));

    println!("\n6. Referral: the patient grants Riverside the visit, the test result and the medication in one grant");
    let set = demo.step(
        &patient,
        "the patient grants the referral set (3 entries, 30 days)",
        TxAction::GrantAccessSet {
            grantee: riverside.id(),
            schema: None,
            credentials: vec![visit, lab, medication],
            request: None,
            days: 30,
        },
    )?;
    let opened = tx_cmd::open_grant_or_set(&demo.client, &riverside, &id_of(&set, "grant_set")?)?;
    println!("              Riverside reads the history:");
    for entry in opened["entries"].as_array().into_iter().flatten() {
        println!("                {}", opened_line(entry));
    }

    println!("\n7. A correction: the cardiologist corrects the test result's value");
    let corrected = demo.submit(
        &st_mary,
        "corrected lab result recorded; the first one is superseded, both stay provable",
        entry(
            "record.lab-result",
            &[
                ("status", "corrected"),
                ("code", "10839-9|Troponin I.cardiac"),
                ("value", "58"),
                ("effective", "2026-11-02"),
            ],
            Some(lab),
        )?,
    )?;
    let corrected = id_of(&corrected, "credential")?;
    let set = demo.step(
        &patient,
        "the patient grants Riverside every lab result (the correction and what it corrects)",
        TxAction::GrantAccessSet {
            grantee: riverside.id(),
            schema: Some("record.lab-result".into()),
            credentials: Vec::new(),
            request: None,
            days: 30,
        },
    )?;
    let opened = tx_cmd::open_grant_or_set(&demo.client, &riverside, &id_of(&set, "grant_set")?)?;
    println!("              Riverside reads the test result's history:");
    for entry in opened["entries"].as_array().into_iter().flatten() {
        println!("                {}", opened_line(entry));
    }
    println!("              current entry: {corrected}");

    println!("\n8. The insurer asks for the certificate and checks it");
    let request = demo.step(
        &insurer,
        "the insurer requests the sick-leave certificate for a claim",
        TxAction::RequestAccess {
            subject: patient.id(),
            credentials: vec![certificate],
            purpose: "income protection claim".into(),
        },
    )?;
    let grant = demo.step(
        &patient,
        "the patient grants it",
        TxAction::GrantAccess {
            credential: certificate,
            grantee: insurer.id(),
            request: Some(id_of(&request, "request")?),
            days: 30,
        },
    )?;
    let opened = tx_cmd::open_granted(&demo.client, &insurer, &id_of(&grant, "grant")?)?;
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
    demo.step(
        &intern,
        "the intern registers as a subject (a key only, no personal data)",
        TxAction::RegisterSubject,
    )?;
    demo.step(
        &hospital,
        "St. Mary Teaching Hospital registers as a certifier",
        TxAction::RegisterCertifier {
            name: "St. Mary Teaching Hospital".into(),
        },
    )?;
    demo.step(
        &board,
        "the State Medical Licensing Board registers as an organization",
        TxAction::RegisterOrganization {
            name: "State Medical Licensing Board".into(),
            kind: Kind::LicensingBoard,
        },
    )?;

    println!(
        "\n2. Governance accredits the hospital for cardiology (more than 2/3 of the authorities)"
    );
    accredit(demo, authorities, &hospital, "cardio.*")?;

    println!("\n3. The hospital issues a micro-credential, encrypted to the intern");
    demo.step(
        &hospital,
        "schema cardio.bls (Basic Life Support) registered",
        TxAction::RegisterSchema {
            id: "cardio.bls".into(),
            description: "Basic Life Support".into(),
            prerequisites: vec![],
            output: "competence".into(),
            condition: "pass the practical assessment".into(),
            max_validity_days: None,
            fields: Vec::new(),
            fhir_resource: None,
        },
    )?;
    let issued = demo.step(
        &hospital,
        "cardio.bls issued to the intern",
        TxAction::IssueCredential {
            schema: "cardio.bls".into(),
            subject: intern.id(),
            holder_name: "Dr. Amina Okafor".into(),
            date_of_birth: "1998-04-12".into(),
            fields: Vec::new(),
            description: Some("Basic Life Support, 16 hours".into()),
            start_date: Some("2026-01-05".into()),
            end_date: Some("2026-01-07".into()),
            marks: Some("92/100".into()),
            documents: Vec::new(),
            result: Some("passed".into()),
            valid_days: 730,
            practitioner_key: None,
            corrects: None,
            fhir: None,
        },
    )?;
    let credential: Hash = issued["credential"]
        .as_str()
        .ok_or_else(|| anyhow!("no credential id"))?
        .parse()?;
    println!("              credential {credential}");

    println!("\n4. The licensing board asks; the intern grants");
    let request = demo.step(
        &board,
        "the board requests the intern's cardio.bls for licensing",
        TxAction::RequestAccess {
            subject: intern.id(),
            credentials: vec![credential],
            purpose: "medical licence application".into(),
        },
    )?;
    let request: Hash = request["request"]
        .as_str()
        .ok_or_else(|| anyhow!("no request id"))?
        .parse()?;
    let grant = demo.step(
        &intern,
        "the intern grants it (re-seals the content key to the board)",
        TxAction::GrantAccess {
            credential,
            grantee: board.id(),
            request: Some(request),
            days: 30,
        },
    )?;
    let grant: Hash = grant["grant"]
        .as_str()
        .ok_or_else(|| anyhow!("no grant id"))?
        .parse()?;

    println!("\n5. The board decrypts and verifies");
    let opened = tx_cmd::open_granted(&demo.client, &board, &grant)?;
    println!("              decrypted: {}", opened_line(&opened));
    println!("              certifier signature and content commitment: valid");
    verify_printed(demo, &credential)?;
    println!("\nDone: personal data only ever left the intern's hands encrypted.");
    Ok(())
}
