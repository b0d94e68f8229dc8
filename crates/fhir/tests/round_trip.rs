//! Resource in → credential → sealed, opened → resource out: the FHIR specification's
//! published examples come back equal to themselves, less what the mapping
//! documents it leaves out (narrative, identifiers, references, elements no field
//! names) and with its normalisations (a Period as its start, a referenced contained
//! Medication as the code, a Quantity's unit as its UCUM code).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mpms_crypto::{DecryptionKey, Hash, SigningKey};
use mpms_fhir::{content_fields, resource, Parties, ResourceType};
use mpms_ledger::claims::{parse_spec, FieldSpec};
use mpms_ledger::credential::{open_content, prepare_issuance, CredentialContent, SchemaRef};
use mpms_ledger::testkit::DeterministicRng;
use serde_json::{json, Value};

fn example(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/examples")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn specs(fields: &[&str]) -> Vec<FieldSpec> {
    fields.iter().map(|f| parse_spec(f).unwrap()).collect()
}

/// Maps `input` into content of a schema with `fields`, seals it to a patient as a
/// certifier would, opens it as the patient, and maps it back out.
fn round_trip(kind: ResourceType, fields: &[&str], input: &Value, holder: &str) -> Value {
    let schema = specs(fields);
    let mapped = content_fields(kind, &schema, input).unwrap();
    let content = CredentialContent {
        salt: [7; 32],
        holder_name: holder.into(),
        date_of_birth: "1970-01-01".into(),
        documents: vec![],
        fields: mapped,
    };
    let certifier = SigningKey::from_seed(&[1; 32]);
    let patient = SigningKey::from_seed(&[2; 32]);
    let patient_dk = DecryptionKey::derive(b"patient");
    let issuance = prepare_issuance(
        "fhir-test",
        &certifier,
        certifier.public_key(),
        SchemaRef {
            id: "record.fhir",
            fields: &schema,
        },
        patient.public_key(),
        &patient_dk.encryption_key(),
        &content,
        mpms_ledger::credential::ClaimTerms::new(0, u64::MAX, 0),
        &mut DeterministicRng(Hash::digest(b"fhir"), 0),
    )
    .unwrap();
    // What the chain holds is ciphertext: no clinical element in the clear.
    let on_chain = mpms_ledger::codec::encode(&issuance);
    let opened = open_content(&issuance, issuance.subject_key.get().unwrap(), &patient_dk).unwrap();
    assert_eq!(opened, content);
    let out = resource(
        kind,
        &opened.fields,
        Parties {
            subject: &opened.holder_name,
            author: "Dr. A. Chen",
        },
    );
    for code in out.to_string().split('"').filter(|s| s.len() >= 6) {
        assert!(
            !on_chain.windows(code.len()).any(|w| w == code.as_bytes()),
            "{code} in the clear"
        );
    }
    out
}

#[test]
fn observation_body_weight() {
    let input = example("observation-example.json");
    let out = round_trip(
        ResourceType::Observation,
        &[
            "status:text",
            "code:code:http://loinc.org",
            "value?:number:[lb_av]",
            "effective?:date",
        ],
        &input,
        "Patient example",
    );
    assert_eq!(
        out,
        json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body Weight"}]},
            "valueQuantity": {"value": 185, "unit": "[lb_av]", "system": "http://unitsofmeasure.org", "code": "[lb_av]"},
            "effectiveDateTime": "2016-03-28",
            "subject": {"display": "Patient example"}
        })
    );
}

#[test]
fn observation_glucose_with_interpretation() {
    let input = example("observation-example-f001-glucose.json");
    let out = round_trip(
        ResourceType::Observation,
        &[
            "status:text",
            "code:code:http://loinc.org",
            "value:number:mmol/L",
            "effective:date",
            "interpretation?:code:http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        ],
        &input,
        "P. van de Heuvel",
    );
    assert_eq!(
        out,
        json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "15074-8", "display": "Glucose [Moles/volume] in Blood"}]},
            "valueQuantity": {"value": 6.3, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
            // The Period comes back as its start.
            "effectiveDateTime": "2013-04-02T09:30:10+01:00",
            "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "H", "display": "High"}]}],
            "subject": {"display": "P. van de Heuvel"}
        })
    );
    // Mapped again, it gives the same content.
    let again = round_trip(
        ResourceType::Observation,
        &[
            "status:text",
            "code:code:http://loinc.org",
            "value:number:mmol/L",
            "effective:date",
            "interpretation?:code:http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        ],
        &out,
        "P. van de Heuvel",
    );
    assert_eq!(again, out);
}

/// A record schema's number field names no unit (a unit can say which test was
/// run): the Quantity's own UCUM unit travels with the value, sealed.
#[test]
fn a_number_of_any_unit_keeps_the_resources_unit() {
    let input = example("observation-example-f001-glucose.json");
    let fields = [
        "status:text",
        "code:code:http://loinc.org",
        "value:number:*",
        "effective:date",
    ];
    let out = round_trip(
        ResourceType::Observation,
        &fields,
        &input,
        "P. van de Heuvel",
    );
    assert_eq!(
        out["valueQuantity"],
        json!({"value": 6.3, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"})
    );
    assert_eq!(
        round_trip(ResourceType::Observation, &fields, &out, "P. van de Heuvel"),
        out
    );
}

#[test]
fn condition_heart_valve_disorder() {
    let input = example("condition-example-f001-heart.json");
    let out = round_trip(
        ResourceType::Condition,
        &[
            "clinical_status?:code:http://terminology.hl7.org/CodeSystem/condition-clinical",
            "verification_status?:code:http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code:code:http://snomed.info/sct",
            "severity?:code:http://snomed.info/sct",
            "onset?:date",
            "recorded?:date",
        ],
        &input,
        "P. van de Heuvel",
    );
    assert_eq!(
        out,
        json!({
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "368009", "display": "Heart valve disorder"}]},
            "severity": {"coding": [{"system": "http://snomed.info/sct", "code": "6736007", "display": "Moderate"}]},
            "onsetDateTime": "2011-08-05",
            "recordedDate": "2011-10-05",
            "subject": {"display": "P. van de Heuvel"}
        })
    );
}

#[test]
fn medication_statement_with_a_contained_medication() {
    let input = example("medicationstatementexample1.json");
    let out = round_trip(
        ResourceType::MedicationStatement,
        &[
            "status:text",
            "medication:code:http://hl7.org/fhir/sid/ndc",
            "effective?:date",
            "dosage?:text",
            "reason?:code:http://snomed.info/sct",
        ],
        &input,
        "Donald Duck",
    );
    assert_eq!(
        out,
        json!({
            "resourceType": "MedicationStatement",
            "status": "active",
            // The contained Medication's code, in place of the reference to it.
            "medicationCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "50580-506-02", "display": "Tylenol PM"}]},
            "effectiveDateTime": "2015-01-23",
            "dosage": [{"text": "1-2 tablets once daily at bedtime as needed for restless legs"}],
            "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "32914008", "display": "Restless Legs"}]}],
            "subject": {"display": "Donald Duck"}
        })
    );
}

#[test]
fn diagnostic_report_blood_exam() {
    let bundle = example("diagnosticreport-example-f001-bloodexam.json");
    let input = bundle["entry"][0]["resource"].clone();
    let out = round_trip(
        ResourceType::DiagnosticReport,
        &[
            "status:text",
            "code:code:http://loinc.org",
            "issued?:date",
            "conclusion?:text",
        ],
        &input,
        "P. van den Heuvel",
    );
    assert_eq!(
        out,
        json!({
            "resourceType": "DiagnosticReport",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2", "display": "Complete blood count (hemogram) panel - Blood by Automated count"}]},
            "issued": "2013-05-15T19:32:52+01:00",
            "conclusion": "Core lab",
            "subject": {"display": "P. van den Heuvel"}
        })
    );
}

const CERTIFICATE: &[&str] = &[
    "status:text",
    "type:code:urn:mpms:certificate-kind",
    "date:date",
    "title:text",
];

#[test]
fn composition_medical_certificate() {
    // Written to R4's rules for Composition (status, type, date, title and author
    // required); the subject's reference is left out on the way (the credential's
    // subject is the patient).
    let input = json!({
        "resourceType": "Composition",
        "status": "final",
        "type": {"coding": [{"system": "urn:mpms:certificate-kind", "code": "sick-leave", "display": "Sick leave"}]},
        "date": "2026-11-02",
        "title": "Sick-leave certificate, 2 to 16 November 2026",
        "subject": {"reference": "Patient/x", "display": "Maria Gonzalez"},
        "author": [{"display": "Dr. A. Chen"}]
    });
    let out = round_trip(
        ResourceType::Composition,
        CERTIFICATE,
        &input,
        "Maria Gonzalez",
    );
    let mut expected = input.clone();
    expected["subject"] = json!({"display": "Maria Gonzalez"});
    assert_eq!(out, expected);
}

#[test]
fn resources_that_break_r4_rules_are_refused() {
    // DSTU2's published Composition example has no title, which R4 requires.
    let dstu2 = example("composition-example-dstu2.json");
    let err = content_fields(ResourceType::Composition, &specs(CERTIFICATE), &dstu2).unwrap_err();
    assert!(err.to_string().contains("title"), "{err}");
    // A resource of another type than the schema's.
    let weight = example("observation-example.json");
    assert!(content_fields(
        ResourceType::Condition,
        &specs(&["code:code:http://snomed.info/sct"]),
        &weight
    )
    .is_err());
    // A unit the schema does not take, a coding from another system, a partial date.
    let fields = specs(&[
        "status:text",
        "code:code:http://loinc.org",
        "value:number:kg",
    ]);
    let err = content_fields(ResourceType::Observation, &fields, &weight).unwrap_err();
    assert!(err.to_string().contains("kg"), "{err}");
    let fields = specs(&["status:text", "code:code:http://hl7.org/fhir/sid/icd-10"]);
    assert!(content_fields(ResourceType::Observation, &fields, &weight).is_err());
    let mut partial = weight.clone();
    partial["effectiveDateTime"] = json!("2016-03");
    let fields = specs(&[
        "status:text",
        "code:code:http://loinc.org",
        "effective:date",
    ]);
    let err = content_fields(ResourceType::Observation, &fields, &partial).unwrap_err();
    assert!(err.to_string().contains("partial"), "{err}");
    // A status outside R4's value set.
    let mut status = weight.clone();
    status["status"] = json!("done");
    assert!(content_fields(
        ResourceType::Observation,
        &specs(&["status:text", "code:code:http://loinc.org"]),
        &status
    )
    .is_err());
}
