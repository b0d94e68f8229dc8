//! The naming rule for patients' record schemas.
//!
//! A schema is public, and every entry names its schema: a schema called
//! `cardio.troponin` would tell anyone who sees an entry what it is about. So the
//! schemas that hold patients' records say no more than what kind of record they
//! hold. A record schema's id is `record.KIND` or `record.KIND.N` (N a number, so
//! that several certifiers each own one of a kind), and its whole definition is
//! the kind's: the description, the FHIR resource, the fields (a number field
//! takes its unit with each value, since a unit can name the test), no
//! prerequisites, no output and no completion condition. What a record says
//! travels sealed in its content.
//!
//! Every schema that maps to a FHIR resource is a record schema: clinical content
//! is never filed under a name of the certifier's choosing.

use crate::claims::{parse_spec, FieldSpec};
use crate::transaction::SchemaDefinition;

/// The first segment of every record schema's id.
pub const RECORD_NAMESPACE: &str = "record";

/// One kind of record: the definition every schema of the kind has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordKind {
    /// The kind's name, the id's second segment.
    pub kind: &'static str,
    /// The description every schema of the kind carries.
    pub description: &'static str,
    /// The FHIR resource type its content maps to, if any.
    pub fhir_resource: Option<&'static str>,
    /// Its fields, in text form (see [`crate::claims::parse_spec`]).
    pub fields: &'static [&'static str],
}

/// The kinds of record, each in words that name no condition, test or specialty.
pub const RECORD_KINDS: &[RecordKind] = &[
    RecordKind {
        kind: "condition",
        description: "A condition or diagnosis",
        fhir_resource: Some("Condition"),
        fields: &[
            "code:code:http://hl7.org/fhir/sid/icd-10",
            "onset?:date",
            "recorded?:date",
        ],
    },
    RecordKind {
        kind: "lab-result",
        description: "A laboratory result",
        fhir_resource: Some("Observation"),
        fields: &[
            "status:text",
            "code:code:http://loinc.org",
            "value:number:*",
            "effective:date",
        ],
    },
    RecordKind {
        kind: "medication",
        description: "A medication statement",
        fhir_resource: Some("MedicationStatement"),
        fields: &[
            "status:text",
            "medication:code:http://www.nlm.nih.gov/research/umls/rxnorm",
            "effective?:date",
            "dosage?:text",
        ],
    },
    RecordKind {
        kind: "medical-certificate",
        description: "A medical certificate",
        fhir_resource: None,
        fields: &[
            "kind:code:urn:mpms:certificate-kind",
            "from:date",
            "until:date",
            "fit_for_work:boolean",
            "diagnosis?:text",
        ],
    },
    RecordKind {
        kind: "note",
        description: "A clinical note",
        fhir_resource: None,
        fields: &["note:text"],
    },
];

impl RecordKind {
    /// The kind named `kind`.
    pub fn named(kind: &str) -> Option<&'static RecordKind> {
        RECORD_KINDS.iter().find(|k| k.kind == kind)
    }

    /// The kind's fields.
    pub fn field_specs(&self) -> Vec<FieldSpec> {
        // The table is constant and a unit test parses every entry.
        self.fields
            .iter()
            .filter_map(|f| parse_spec(f).ok())
            .collect()
    }

    /// The definition of the kind's schema `id`.
    pub fn definition(&self, id: &str, max_validity_ms: Option<u64>) -> SchemaDefinition {
        SchemaDefinition {
            id: id.into(),
            description: self.description.into(),
            prerequisites: vec![],
            output: String::new(),
            completion_condition: String::new(),
            max_validity_ms,
            fields: self.field_specs(),
            fhir_resource: self.fhir_resource.map(str::to_string),
        }
    }
}

/// Whether `id` is in the record namespace.
pub fn is_record_schema(id: &str) -> bool {
    id.split('.').next() == Some(RECORD_NAMESPACE)
}

/// The kind of record schema `id` (`record.KIND` or `record.KIND.N`), if the id
/// follows the rule.
pub fn kind_of(id: &str) -> Option<&'static RecordKind> {
    let mut parts = id.split('.');
    if parts.next() != Some(RECORD_NAMESPACE) {
        return None;
    }
    let kind = RecordKind::named(parts.next()?)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(kind),
        (Some(n), None)
            if !n.is_empty()
                && n.len() <= 6
                && n.bytes().all(|b| b.is_ascii_digit())
                && !n.starts_with('0') =>
        {
            Some(kind)
        }
        _ => None,
    }
}

/// Checks the rule for a schema about to be registered: one in the record
/// namespace or mapping to a FHIR resource must be a record schema whose
/// definition is its kind's. Returns the offending field and why.
pub fn check(def: &SchemaDefinition) -> Result<(), (&'static str, String)> {
    if !is_record_schema(&def.id) && def.fhir_resource.is_none() {
        return Ok(());
    }
    let kinds = || {
        RECORD_KINDS
            .iter()
            .map(|k| k.kind)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(kind) = kind_of(&def.id) else {
        return Err((
            "id",
            format!(
                "a record schema (and any schema mapping to FHIR) is named record.KIND or \
                 record.KIND.N, N a number, KIND one of {}",
                kinds()
            ),
        ));
    };
    let expected = kind.definition(&def.id, def.max_validity_ms);
    let differs = |what: &'static str, want: String| {
        Err((
            what,
            format!("a record schema of kind {} has {what} {want}", kind.kind),
        ))
    };
    if def.description != expected.description {
        return differs("description", format!("{:?}", expected.description));
    }
    if def.fhir_resource != expected.fhir_resource {
        return differs(
            "fhir_resource",
            expected.fhir_resource.unwrap_or_else(|| "none".into()),
        );
    }
    if def.fields != expected.fields {
        return differs("fields", kind.fields.join(", "));
    }
    if !def.prerequisites.is_empty() {
        return differs("prerequisites", "none".into());
    }
    if !def.output.is_empty() {
        return differs("output", "empty".into());
    }
    if !def.completion_condition.is_empty() {
        return differs("completion_condition", "empty".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_kinds_fields_parse() {
        for kind in RECORD_KINDS {
            assert_eq!(kind.field_specs().len(), kind.fields.len(), "{}", kind.kind);
            crate::claims::check_specs(&kind.field_specs()).unwrap();
        }
    }

    #[test]
    fn ids_follow_the_rule() {
        for id in [
            "record.lab-result",
            "record.lab-result.2",
            "record.note.104",
        ] {
            assert!(kind_of(id).is_some(), "{id}");
        }
        for id in [
            "record",
            "record.troponin",
            "record.lab-result.troponin",
            "record.lab-result.02",
            "record.lab-result.2.3",
            "record.lab-result.",
            "cardio.lab-result",
        ] {
            assert!(kind_of(id).is_none(), "{id}");
        }
    }

    #[test]
    fn a_record_schema_is_its_kinds_definition() {
        let kind = RecordKind::named("lab-result").unwrap();
        let good = kind.definition("record.lab-result.7", Some(1));
        check(&good).unwrap();
        let mut named = good.clone();
        named.description = "Troponin".into();
        assert_eq!(check(&named).unwrap_err().0, "description");
        let mut unit = good.clone();
        unit.fields[2] = parse_spec("value:number:ng/L").unwrap();
        assert_eq!(check(&unit).unwrap_err().0, "fields");
        let mut said = good.clone();
        said.output = "cardiac".into();
        assert_eq!(check(&said).unwrap_err().0, "output");
        // A FHIR mapping under another name is refused; a course schema is free.
        let mut elsewhere = good.clone();
        elsewhere.id = "cardio.glucose".into();
        assert_eq!(check(&elsewhere).unwrap_err().0, "id");
        elsewhere.fhir_resource = None;
        check(&elsewhere).unwrap();
    }
}
