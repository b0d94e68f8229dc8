//! FHIR R4 resources in and out of MPMS credential content.
//!
//! A hospital's records system speaks FHIR. A schema that names a FHIR resource type
//! (`Observation`, `Condition`, `MedicationStatement`, `DiagnosticReport`, or
//! `Composition` for a certificate) receives that resource's clinical elements as its
//! typed fields, and gives them back as a resource of the same type. The mapping is
//! directed by the schema: each field the schema declares is read from one element
//! (see [`mapping`]), a coded field takes the coding from the schema's code system,
//! a number takes a Quantity in the schema's unit (in its own UCUM unit when the
//! schema's is [`ANY_UNIT`]). What no field names is left out.
//!
//! The resource's JSON is checked against the R4 rules this mapping relies on: the
//! resource type, the elements R4 requires of it, the status value set, and the
//! shape of every element read (string, CodeableConcept, Quantity, dateTime). A
//! resource that breaks one is refused with the element and the rule; nothing is
//! sealed. The full R4 model is not compiled in: five resource types use a few
//! elements each, and a generated model of all 146 resources costs minutes of build
//! on every machine that builds the node.

use std::collections::BTreeMap;

use mpms_ledger::claims::{valid_date, valid_decimal, FieldKind, FieldSpec, FieldValue, ANY_UNIT};
use serde_json::{json, Map, Value};

/// Largest FHIR resource accepted, in bytes of JSON.
pub const MAX_RESOURCE_BYTES: usize = 1 << 20;

/// The UCUM code system, in which Quantity units are given.
pub const UCUM: &str = "http://unitsofmeasure.org";

/// The resource types content maps to and from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// A measurement or test result.
    Observation,
    /// A diagnosis or problem.
    Condition,
    /// A medication the patient takes.
    MedicationStatement,
    /// A report of a set of results.
    DiagnosticReport,
    /// A clinical document, e.g. a medical certificate.
    Composition,
}

impl ResourceType {
    /// Every supported type.
    pub const ALL: [ResourceType; 5] = [
        ResourceType::Observation,
        ResourceType::Condition,
        ResourceType::MedicationStatement,
        ResourceType::DiagnosticReport,
        ResourceType::Composition,
    ];

    /// Its FHIR name.
    pub fn name(self) -> &'static str {
        match self {
            ResourceType::Observation => "Observation",
            ResourceType::Condition => "Condition",
            ResourceType::MedicationStatement => "MedicationStatement",
            ResourceType::DiagnosticReport => "DiagnosticReport",
            ResourceType::Composition => "Composition",
        }
    }

    /// The type named `name`, if supported.
    pub fn parse(name: &str) -> Option<ResourceType> {
        ResourceType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// R4's required codes for `status`, if the type has that element.
    fn statuses(self) -> &'static [&'static str] {
        match self {
            ResourceType::Observation => &[
                "registered",
                "preliminary",
                "final",
                "amended",
                "corrected",
                "cancelled",
                "entered-in-error",
                "unknown",
            ],
            ResourceType::Condition => &[],
            ResourceType::MedicationStatement => &[
                "active",
                "completed",
                "entered-in-error",
                "intended",
                "stopped",
                "on-hold",
                "unknown",
                "not-taken",
            ],
            ResourceType::DiagnosticReport => &[
                "registered",
                "partial",
                "preliminary",
                "final",
                "amended",
                "corrected",
                "appended",
                "cancelled",
                "entered-in-error",
                "unknown",
            ],
            ResourceType::Composition => &["preliminary", "final", "amended", "entered-in-error"],
        }
    }

    /// Elements R4 requires (cardinality 1..) that the mapping does not read: they
    /// must be present in what comes in, and are written in what goes out.
    fn required_unmapped(self) -> &'static [&'static str] {
        match self {
            ResourceType::Observation | ResourceType::DiagnosticReport => &[],
            ResourceType::Condition | ResourceType::MedicationStatement => &["subject"],
            ResourceType::Composition => &["author"],
        }
    }
}

/// The shape of the element a field is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A string (a code or free text), at a path like `status` or `dosage.0.text`.
    String(&'static str),
    /// A date or dateTime: the first present of these elements (a Period's `start`
    /// counts for the Period); written back as the first.
    DateTime(&'static [&'static str]),
    /// A CodeableConcept.
    Concept(&'static str),
    /// A list of CodeableConcepts, of which the first is read.
    Concepts(&'static str),
    /// A Quantity.
    Quantity(&'static str),
}

impl Shape {
    /// The field type this shape fills.
    fn fills(self, kind: &FieldKind) -> bool {
        matches!(
            (self, kind),
            (Shape::String(_), FieldKind::Text)
                | (Shape::DateTime(_), FieldKind::Date)
                | (
                    Shape::Concept(_) | Shape::Concepts(_),
                    FieldKind::Code { .. }
                )
                | (Shape::Quantity(_), FieldKind::Number { .. })
        )
    }
}

/// One field's element: its name in content, its shape, and whether R4 requires it.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    /// The content field.
    pub field: &'static str,
    /// The element.
    pub shape: Shape,
    /// Whether R4 requires the element (cardinality 1..).
    pub required: bool,
}

const fn m(field: &'static str, shape: Shape, required: bool) -> Mapping {
    Mapping {
        field,
        shape,
        required,
    }
}

/// The fields a resource type maps, with their elements.
pub fn mapping(resource: ResourceType) -> &'static [Mapping] {
    match resource {
        ResourceType::Observation => {
            const TABLE: &[Mapping] = &[
                m("status", Shape::String("status"), true),
                m("code", Shape::Concept("code"), true),
                m("value", Shape::Quantity("valueQuantity"), false),
                m(
                    "effective",
                    Shape::DateTime(&["effectiveDateTime", "effectivePeriod", "effectiveInstant"]),
                    false,
                ),
                m("interpretation", Shape::Concepts("interpretation"), false),
            ];
            TABLE
        }
        ResourceType::Condition => {
            const TABLE: &[Mapping] = &[
                m("clinical_status", Shape::Concept("clinicalStatus"), false),
                m(
                    "verification_status",
                    Shape::Concept("verificationStatus"),
                    false,
                ),
                m("code", Shape::Concept("code"), false),
                m("severity", Shape::Concept("severity"), false),
                m(
                    "onset",
                    Shape::DateTime(&["onsetDateTime", "onsetPeriod"]),
                    false,
                ),
                m("recorded", Shape::DateTime(&["recordedDate"]), false),
            ];
            TABLE
        }
        ResourceType::MedicationStatement => {
            const TABLE: &[Mapping] = &[
                m("status", Shape::String("status"), true),
                m(
                    "medication",
                    Shape::Concept("medicationCodeableConcept"),
                    true,
                ),
                m(
                    "effective",
                    Shape::DateTime(&["effectiveDateTime", "effectivePeriod"]),
                    false,
                ),
                m("dosage", Shape::String("dosage.0.text"), false),
                m("reason", Shape::Concepts("reasonCode"), false),
            ];
            TABLE
        }
        ResourceType::DiagnosticReport => {
            const TABLE: &[Mapping] = &[
                m("status", Shape::String("status"), true),
                m("code", Shape::Concept("code"), true),
                m(
                    "effective",
                    Shape::DateTime(&["effectiveDateTime", "effectivePeriod"]),
                    false,
                ),
                m("issued", Shape::DateTime(&["issued"]), false),
                m("conclusion", Shape::String("conclusion"), false),
            ];
            TABLE
        }
        ResourceType::Composition => {
            const TABLE: &[Mapping] = &[
                m("status", Shape::String("status"), true),
                m("type", Shape::Concept("type"), true),
                m("date", Shape::DateTime(&["date"]), true),
                m("title", Shape::String("title"), true),
            ];
            TABLE
        }
    }
}

/// Why a resource or a schema does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FhirError {
    /// Not JSON, or not an object, or too large.
    #[error("not a FHIR resource: {0}")]
    NotAResource(String),
    /// A resource type this mapping does not take.
    #[error("resource type {0:?} is not one of Observation, Condition, MedicationStatement, DiagnosticReport, Composition")]
    UnsupportedType(String),
    /// The resource is not of the schema's type.
    #[error("the schema takes {expected} resources, not {got}")]
    WrongType {
        /// The schema's.
        expected: &'static str,
        /// The resource's.
        got: String,
    },
    /// An element breaks an R4 rule.
    #[error("{resource}.{element}: {rule}")]
    Invalid {
        /// The resource type.
        resource: &'static str,
        /// The element.
        element: String,
        /// The rule it breaks.
        rule: String,
    },
    /// The schema declares a field the resource type does not map, or with a type
    /// its element cannot fill.
    #[error("schema field {field}: {reason}")]
    Schema {
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
}

/// Checks that every field `fields` declares maps to an element of `resource`, of
/// a shape that fills its type, and that the elements R4 requires are declared as
/// required fields (so what comes out is a valid resource).
pub fn check_schema(resource: ResourceType, fields: &[FieldSpec]) -> Result<(), FhirError> {
    let table = mapping(resource);
    for spec in fields {
        let Some(map) = table.iter().find(|m| m.field == spec.name) else {
            let names: Vec<&str> = table.iter().map(|m| m.field).collect();
            return Err(FhirError::Schema {
                field: spec.name.clone(),
                reason: format!("{} maps only {}", resource.name(), names.join(", ")),
            });
        };
        if !map.shape.fills(&spec.kind) {
            return Err(FhirError::Schema {
                field: spec.name.clone(),
                reason: format!("a {} field cannot hold {:?}", spec.kind.label(), map.shape),
            });
        }
    }
    for map in table.iter().filter(|m| m.required) {
        if !fields.iter().any(|s| s.name == map.field && s.required) {
            return Err(FhirError::Schema {
                field: map.field.into(),
                reason: format!(
                    "R4 requires it of a {}: declare it, required",
                    resource.name()
                ),
            });
        }
    }
    Ok(())
}

/// Reads `json` as a resource of one of the supported types.
pub fn parse(json: &[u8]) -> Result<(ResourceType, Value), FhirError> {
    if json.len() > MAX_RESOURCE_BYTES {
        return Err(FhirError::NotAResource(format!(
            "{} bytes, at most {MAX_RESOURCE_BYTES}",
            json.len()
        )));
    }
    let value: Value =
        serde_json::from_slice(json).map_err(|e| FhirError::NotAResource(e.to_string()))?;
    let name = value
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| FhirError::NotAResource("no resourceType".into()))?;
    let kind =
        ResourceType::parse(name).ok_or_else(|| FhirError::UnsupportedType(name.to_string()))?;
    Ok((kind, value))
}

fn invalid(resource: ResourceType, element: &str, rule: impl Into<String>) -> FhirError {
    FhirError::Invalid {
        resource: resource.name(),
        element: element.into(),
        rule: rule.into(),
    }
}

/// The element at a dotted path (`dosage.0.text`: numbers index arrays).
fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(value, |v, part| match part.parse::<usize>() {
            Ok(i) => v.get(i),
            Err(_) => v.get(part),
        })
}

/// A coding of `concept` (a CodeableConcept) from `system`, checked.
fn coding_from(
    resource: ResourceType,
    element: &str,
    concept: &Value,
    system: &str,
) -> Result<FieldValue, FhirError> {
    let codings = concept
        .get("coding")
        .map(|c| {
            c.as_array()
                .ok_or_else(|| invalid(resource, element, "coding is an array"))
        })
        .transpose()?
        .map(Vec::as_slice)
        .unwrap_or_default();
    for coding in codings {
        if !coding.is_object() {
            return Err(invalid(resource, element, "each coding is an object"));
        }
        for key in ["system", "code", "display"] {
            if coding.get(key).is_some_and(|v| !v.is_string()) {
                return Err(invalid(
                    resource,
                    element,
                    format!("coding.{key} is a string"),
                ));
            }
        }
    }
    let coding = codings
        .iter()
        .find(|c| c.get("system").and_then(Value::as_str) == Some(system))
        .ok_or_else(|| invalid(resource, element, format!("no coding from {system}")))?;
    let code = coding.get("code").and_then(Value::as_str).ok_or_else(|| {
        invalid(
            resource,
            element,
            format!("the {system} coding has no code"),
        )
    })?;
    Ok(FieldValue::Code {
        system: system.into(),
        code: code.into(),
        display: coding
            .get("display")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Reads the value of field `spec` from `resource`'s element, if present.
fn read(
    kind: ResourceType,
    resource: &Value,
    map: &Mapping,
    spec: &FieldSpec,
) -> Result<Option<FieldValue>, FhirError> {
    match (map.shape, &spec.kind) {
        (Shape::String(path), FieldKind::Text) => match at(resource, path) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(FieldValue::Text(s.clone()))),
            Some(_) => Err(invalid(kind, path, "a non-empty string")),
        },
        (Shape::DateTime(choices), FieldKind::Date) => {
            for element in choices {
                let Some(v) = resource.get(*element) else {
                    continue;
                };
                // A Period counts by its start.
                let (v, name) = if element.ends_with("Period") {
                    let start = v
                        .get("start")
                        .ok_or_else(|| invalid(kind, element, "a Period with a start"))?;
                    (start, format!("{element}.start"))
                } else {
                    (v, element.to_string())
                };
                let s = v
                    .as_str()
                    .ok_or_else(|| invalid(kind, &name, "a dateTime string"))?;
                if !valid_date(s) {
                    return Err(invalid(
                        kind,
                        &name,
                        format!("{s:?}: a full date, or a date and time with its zone (partial dates are not taken)"),
                    ));
                }
                return Ok(Some(FieldValue::Date(s.into())));
            }
            Ok(None)
        }
        (Shape::Concept(path), FieldKind::Code { system }) => match resource.get(path) {
            None => Ok(None),
            Some(c) if c.is_object() => coding_from(kind, path, c, system).map(Some),
            Some(_) => Err(invalid(kind, path, "a CodeableConcept object")),
        },
        (Shape::Concepts(path), FieldKind::Code { system }) => match resource.get(path) {
            None => Ok(None),
            Some(Value::Array(list)) => match list.first() {
                None => Ok(None),
                Some(c) if c.is_object() => coding_from(kind, path, c, system).map(Some),
                Some(_) => Err(invalid(kind, path, "CodeableConcept objects")),
            },
            Some(_) => Err(invalid(kind, path, "an array of CodeableConcepts")),
        },
        (Shape::Quantity(path), FieldKind::Number { unit }) => match resource.get(path) {
            None => Ok(None),
            Some(q) => {
                let number = q
                    .get("value")
                    .and_then(Value::as_number)
                    .ok_or_else(|| invalid(kind, path, "a Quantity with a numeric value"))?;
                let text = number.to_string();
                if !valid_decimal(&text) {
                    return Err(invalid(kind, path, format!("{text}: a plain decimal")));
                }
                if let Some(system) = q.get("system").and_then(Value::as_str) {
                    if system != UCUM {
                        return Err(invalid(
                            kind,
                            path,
                            format!("units from {UCUM}, not {system}"),
                        ));
                    }
                }
                let given = q
                    .get("code")
                    .or_else(|| q.get("unit"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(kind, path, "a Quantity with its unit"))?;
                if unit != ANY_UNIT && given != unit {
                    return Err(invalid(
                        kind,
                        path,
                        format!("the schema takes {unit}, not {given}"),
                    ));
                }
                Ok(Some(FieldValue::Number {
                    value: text,
                    unit: given.to_string(),
                }))
            }
        },
        (shape, kind_) => Err(FhirError::Schema {
            field: spec.name.clone(),
            reason: format!("a {} field cannot hold {shape:?}", kind_.label()),
        }),
    }
}

/// The content fields a schema with `fields`, for resources of type `expected`,
/// takes from `resource`. The resource is checked against the R4 rules the mapping
/// relies on first.
pub fn content_fields(
    expected: ResourceType,
    fields: &[FieldSpec],
    resource: &Value,
) -> Result<BTreeMap<String, FieldValue>, FhirError> {
    check_schema(expected, fields)?;
    let got = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if got != expected.name() {
        return Err(FhirError::WrongType {
            expected: expected.name(),
            got: got.into(),
        });
    }
    let kind = expected;
    // The R4 rules relied on: required elements present, status from its value set.
    for map in mapping(kind).iter().filter(|m| m.required) {
        let present = match map.shape {
            Shape::String(p) | Shape::Concept(p) | Shape::Concepts(p) | Shape::Quantity(p) => {
                at(resource, p).is_some()
            }
            Shape::DateTime(choices) => choices.iter().any(|c| resource.get(*c).is_some()),
        };
        // A MedicationStatement may name its medication by reference instead.
        let by_reference =
            map.field == "medication" && resource.get("medicationReference").is_some();
        if !present && !by_reference {
            return Err(invalid(kind, map.field, "required in R4"));
        }
    }
    for element in kind.required_unmapped() {
        if resource.get(*element).is_none() {
            return Err(invalid(kind, element, "required in R4"));
        }
    }
    if let Some(status) = resource.get("status") {
        let allowed = kind.statuses();
        match status.as_str() {
            Some(s) if allowed.contains(&s) => {}
            _ => {
                return Err(invalid(
                    kind,
                    "status",
                    format!("one of {}", allowed.join(", ")),
                ))
            }
        }
    }
    let resolved;
    let resource = if kind == ResourceType::MedicationStatement {
        resolved = with_contained_medication(resource)?;
        &resolved
    } else {
        resource
    };
    let mut out = BTreeMap::new();
    for spec in fields {
        let Some(map) = mapping(kind).iter().find(|m| m.field == spec.name) else {
            continue;
        };
        match read(kind, resource, map, spec)? {
            Some(value) => {
                out.insert(spec.name.clone(), value);
            }
            None if spec.required => {
                return Err(invalid(
                    kind,
                    map.field,
                    "the schema requires it and the resource does not give it",
                ))
            }
            None => {}
        }
    }
    mpms_ledger::claims::validate_fields(fields, &out).map_err(|e| FhirError::Schema {
        field: "content".into(),
        reason: e.to_string(),
    })?;
    Ok(out)
}

/// A MedicationStatement whose `medicationReference` points at a contained
/// Medication, with that Medication's code as its `medicationCodeableConcept`.
fn with_contained_medication(resource: &Value) -> Result<Value, FhirError> {
    let kind = ResourceType::MedicationStatement;
    let Some(reference) = resource.get("medicationReference") else {
        return Ok(resource.clone());
    };
    let target = reference
        .get("reference")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .ok_or_else(|| {
            invalid(
                kind,
                "medicationReference",
                "only a reference to a contained Medication (#id) can be read",
            )
        })?;
    let medication = resource
        .get("contained")
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter().find(|r| {
                r.get("resourceType").and_then(Value::as_str) == Some("Medication")
                    && r.get("id").and_then(Value::as_str) == Some(target)
            })
        })
        .ok_or_else(|| {
            invalid(
                kind,
                "medicationReference",
                format!("no contained Medication {target}"),
            )
        })?;
    let code = medication
        .get("code")
        .ok_or_else(|| invalid(kind, "contained Medication", "it has no code"))?;
    let mut resolved = resource.clone();
    if let Some(obj) = resolved.as_object_mut() {
        obj.insert("medicationCodeableConcept".into(), code.clone());
    }
    Ok(resolved)
}

/// Sets the element at a dotted path, creating objects and arrays on the way.
fn put(target: &mut Value, path: &str, value: Value) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = target;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let next_is_index = parts.get(i + 1).is_some_and(|p| p.parse::<usize>().is_ok());
        let empty = if next_is_index {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        };
        cur = match part.parse::<usize>() {
            Ok(index) => {
                let Some(list) = cur.as_array_mut() else {
                    return;
                };
                while list.len() <= index {
                    list.push(Value::Object(Map::new()));
                }
                if last {
                    list[index] = value;
                    return;
                }
                &mut list[index]
            }
            Err(_) => {
                let Some(obj) = cur.as_object_mut() else {
                    return;
                };
                if last {
                    obj.insert((*part).to_string(), value);
                    return;
                }
                obj.entry((*part).to_string()).or_insert(empty)
            }
        };
    }
}

fn concept(value: &FieldValue) -> Value {
    match value {
        FieldValue::Code {
            system,
            code,
            display,
        } => {
            let mut coding = json!({ "system": system, "code": code });
            if let Some(d) = display {
                coding["display"] = json!(d);
            }
            json!({ "coding": [coding] })
        }
        other => json!({ "text": other.display() }),
    }
}

/// Who a resource going out is about and who wrote it (R4 requires one or both of
/// some types).
#[derive(Debug, Clone, Copy)]
pub struct Parties<'a> {
    /// The patient, as a display name.
    pub subject: &'a str,
    /// The author (the practitioner or certifier), as a display name.
    pub author: &'a str,
}

/// The resource of type `kind` holding `fields` (as [`content_fields`] reads them):
/// each field written to its element, the subject and, for a Composition, the author
/// as display names.
pub fn resource(
    kind: ResourceType,
    fields: &BTreeMap<String, FieldValue>,
    parties: Parties<'_>,
) -> Value {
    let mut out = json!({ "resourceType": kind.name() });
    for map in mapping(kind) {
        let Some(value) = fields.get(map.field) else {
            continue;
        };
        match map.shape {
            Shape::String(path) => put(&mut out, path, json!(value.display())),
            Shape::DateTime(choices) => {
                if let Some(first) = choices.first() {
                    put(&mut out, first, json!(value.display()));
                }
            }
            Shape::Concept(path) => put(&mut out, path, concept(value)),
            Shape::Concepts(path) => put(&mut out, path, json!([concept(value)])),
            Shape::Quantity(path) => {
                if let FieldValue::Number { value, unit } = value {
                    let number: Value =
                        serde_json::from_str(value).unwrap_or_else(|_| json!(value));
                    put(
                        &mut out,
                        path,
                        json!({ "value": number, "unit": unit, "system": UCUM, "code": unit }),
                    );
                }
            }
        }
    }
    out["subject"] = json!({ "display": parties.subject });
    if kind == ResourceType::Composition {
        out["author"] = json!([{ "display": parties.author }]);
    }
    out
}

/// A `collection` Bundle of `resources`.
pub fn bundle(resources: Vec<Value>) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": resources.into_iter().map(|r| json!({ "resource": r })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn schemas_must_fit_their_resource_type() {
        let ok = vec![
            FieldSpec::required("status", FieldKind::Text),
            FieldSpec::required(
                "code",
                FieldKind::Code {
                    system: "http://loinc.org".into(),
                },
            ),
        ];
        check_schema(ResourceType::Observation, &ok).unwrap();
        // Unmapped name, wrong type, a required element left optional or out.
        let unmapped = [
            ok.clone(),
            vec![FieldSpec::optional("colour", FieldKind::Text)],
        ]
        .concat();
        assert!(check_schema(ResourceType::Observation, &unmapped).is_err());
        let wrong_type = vec![
            FieldSpec::required("status", FieldKind::Date),
            ok[1].clone(),
        ];
        assert!(check_schema(ResourceType::Observation, &wrong_type).is_err());
        assert!(check_schema(ResourceType::Observation, &ok[1..]).is_err());
        let optional_status = vec![
            FieldSpec::optional("status", FieldKind::Text),
            ok[1].clone(),
        ];
        assert!(check_schema(ResourceType::Observation, &optional_status).is_err());
    }

    #[test]
    fn hostile_input_is_refused_cleanly() {
        assert!(parse(b"not json").is_err());
        assert!(parse(b"[]").is_err());
        assert!(parse(br#"{"resourceType": "Patient"}"#).is_err());
        assert!(parse(&vec![b' '; MAX_RESOURCE_BYTES + 1]).is_err());
        let fields = vec![
            FieldSpec::required("status", FieldKind::Text),
            FieldSpec::required(
                "code",
                FieldKind::Code {
                    system: "http://loinc.org".into(),
                },
            ),
        ];
        for bad in [
            json!({"resourceType": "Observation", "status": "final"}),
            json!({"resourceType": "Observation", "status": "done", "code": {"coding": []}}),
            json!({"resourceType": "Observation", "status": "final", "code": {"coding": "x"}}),
            json!({"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": 7}]}}),
            json!({"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}}),
            json!({"resourceType": "Condition", "status": "final"}),
        ] {
            assert!(
                content_fields(ResourceType::Observation, &fields, &bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths_are_written_where_they_are_read() {
        let mut v = json!({});
        put(&mut v, "dosage.0.text", json!("1 tablet"));
        assert_eq!(at(&v, "dosage.0.text"), Some(&json!("1 tablet")));
        assert_eq!(v, json!({"dosage": [{"text": "1 tablet"}]}));
    }
}
