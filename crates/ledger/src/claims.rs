//! Schema-defined claims: the typed fields a schema declares and the values a
//! credential's content gives them.
//!
//! A schema lists its fields (name, type, required or not); a certifier's content
//! must match them before it is sealed ([`validate_fields`]). The chain never sees
//! the values: it stores the schema's field list in the clear (it names no person
//! and no condition) and only the commitment and ciphertext of each credential.
//! Intern credentials (courses) and patients' records are schemas like any other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most fields a schema may declare.
pub const MAX_FIELDS: usize = 64;
/// Longest field name, unit or code-system name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest code-system name (a URI such as `http://loinc.org`), in bytes.
pub const MAX_SYSTEM_BYTES: usize = 200;
/// Longest text value, in bytes.
pub const MAX_TEXT_BYTES: usize = 16 << 10;
/// The unit of a number field that takes its unit with each value (a UCUM code
/// such as `mmol/L`), so that the schema, which is public, names none: a unit
/// alone can say which test was run.
pub const ANY_UNIT: &str = "*";

/// The type of a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FieldKind {
    /// Free text.
    Text,
    /// A calendar date `YYYY-MM-DD`, or a date and time `YYYY-MM-DDThh:mm[:ss[.f]]`
    /// with `Z` or an offset `±hh:mm`.
    Date,
    /// A decimal number in a fixed unit (UCUM where one exists: `mmHg`, `mmol/L`),
    /// or in the unit each value gives when the field's unit is [`ANY_UNIT`].
    Number {
        /// The unit every value of this field is in, or [`ANY_UNIT`].
        unit: String,
    },
    /// A code from a named code system (`http://snomed.info/sct`, `http://loinc.org`,
    /// `http://hl7.org/fhir/sid/icd-10`, or a local one).
    Code {
        /// The code system every value of this field is from.
        system: String,
    },
    /// True or false.
    Boolean,
}

impl FieldKind {
    /// A short name for messages.
    pub fn label(&self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Date => "date",
            FieldKind::Number { .. } => "number",
            FieldKind::Code { .. } => "code",
            FieldKind::Boolean => "boolean",
        }
    }
}

/// One field a schema declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldSpec {
    /// Field name: 1 to 64 characters of `a-z 0-9 _`, starting with a letter.
    pub name: String,
    /// Its type.
    pub kind: FieldKind,
    /// Whether every credential of the schema must give it.
    pub required: bool,
}

impl FieldSpec {
    /// A required field.
    pub fn required(name: &str, kind: FieldKind) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            kind,
            required: true,
        }
    }

    /// An optional field.
    pub fn optional(name: &str, kind: FieldKind) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            kind,
            required: false,
        }
    }
}

/// The value of one field in a credential's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FieldValue {
    /// Free text.
    Text(String),
    /// A date or date-time (see [`FieldKind::Date`]).
    Date(String),
    /// A decimal number (written as text, so that every node and language reads the
    /// same value) in the field's unit.
    Number {
        /// The number, e.g. `-12.5`.
        value: String,
        /// Its unit, equal to the field's (any unit when the field's is [`ANY_UNIT`]).
        unit: String,
    },
    /// A code.
    Code {
        /// The code system, equal to the field's.
        system: String,
        /// The code, e.g. `I21.9`.
        code: String,
        /// Its human-readable meaning, if given.
        display: Option<String>,
    },
    /// True or false.
    Boolean(bool),
}

impl FieldValue {
    /// The value as one line of text, for display.
    pub fn display(&self) -> String {
        match self {
            FieldValue::Text(s) | FieldValue::Date(s) => s.clone(),
            FieldValue::Number { value, unit } => format!("{value} {unit}"),
            FieldValue::Code {
                system,
                code,
                display,
            } => match display {
                Some(d) => format!("{d} ({system}|{code})"),
                None => format!("{system}|{code}"),
            },
            FieldValue::Boolean(b) => b.to_string(),
        }
    }
}

/// Why a schema's field list or a content's fields are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The schema declares something invalid.
    #[error("schema field {field}: {reason}")]
    BadSpec {
        /// The field (or `fields`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A required field has no value.
    #[error("field {0} is required by the schema")]
    Missing(String),
    /// The content gives a field the schema does not declare.
    #[error("field {0} is not declared by the schema")]
    Undeclared(String),
    /// A value does not fit its field.
    #[error("field {field}: {reason}")]
    BadValue {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn valid_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// Checks a schema's field list: at most [`MAX_FIELDS`], names valid and distinct,
/// units and code systems non-empty, printable and short.
pub fn check_specs(specs: &[FieldSpec]) -> Result<(), ClaimError> {
    let bad = |field: &str, reason: String| ClaimError::BadSpec {
        field: field.into(),
        reason,
    };
    if specs.len() > MAX_FIELDS {
        return Err(bad("fields", format!("more than {MAX_FIELDS}")));
    }
    for (i, spec) in specs.iter().enumerate() {
        if !valid_field_name(&spec.name) {
            return Err(bad(
                &spec.name,
                "a name is 1 to 64 characters of a-z 0-9 _, starting with a letter".into(),
            ));
        }
        if specs[..i].iter().any(|s| s.name == spec.name) {
            return Err(bad(&spec.name, "declared twice".into()));
        }
        let (what, text, max) = match &spec.kind {
            FieldKind::Number { unit } => ("unit", unit, MAX_NAME_BYTES),
            FieldKind::Code { system } => ("code system", system, MAX_SYSTEM_BYTES),
            _ => continue,
        };
        if text.is_empty() || text.len() > max || !printable(text) || text.trim() != text {
            return Err(bad(
                &spec.name,
                format!("the {what} must be 1 to {max} printable bytes"),
            ));
        }
    }
    Ok(())
}

/// Checks content `fields` against a schema's `specs`: every required field given,
/// nothing undeclared, each value of its field's type, unit and code system.
pub fn validate_fields(
    specs: &[FieldSpec],
    fields: &BTreeMap<String, FieldValue>,
) -> Result<(), ClaimError> {
    for name in fields.keys() {
        if !specs.iter().any(|s| &s.name == name) {
            return Err(ClaimError::Undeclared(name.clone()));
        }
    }
    for spec in specs {
        match fields.get(&spec.name) {
            None if spec.required => return Err(ClaimError::Missing(spec.name.clone())),
            None => {}
            Some(value) => check_value(spec, value).map_err(|reason| ClaimError::BadValue {
                field: spec.name.clone(),
                reason,
            })?,
        }
    }
    Ok(())
}

fn check_value(spec: &FieldSpec, value: &FieldValue) -> Result<(), String> {
    match (&spec.kind, value) {
        (FieldKind::Text, FieldValue::Text(s)) => check_text(s),
        (FieldKind::Date, FieldValue::Date(s)) => {
            if valid_date(s) {
                Ok(())
            } else {
                Err(format!(
                    "{s:?} is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDThh:mm:ssZ)"
                ))
            }
        }
        (FieldKind::Number { unit }, FieldValue::Number { value, unit: given }) => {
            if unit == ANY_UNIT {
                if given.is_empty()
                    || given.len() > MAX_NAME_BYTES
                    || given == ANY_UNIT
                    || !printable(given)
                    || given.contains(char::is_whitespace)
                {
                    return Err(format!(
                        "a unit is 1 to {MAX_NAME_BYTES} printable bytes without spaces, not {given:?}"
                    ));
                }
            } else if given != unit {
                return Err(format!("the unit is {unit}, not {given}"));
            }
            if valid_decimal(value) {
                Ok(())
            } else {
                Err(format!("{value:?} is not a decimal number"))
            }
        }
        (
            FieldKind::Code { system },
            FieldValue::Code {
                system: given,
                code,
                display,
            },
        ) => {
            if given != system {
                return Err(format!("the code system is {system}, not {given}"));
            }
            if code.is_empty() || code.len() > MAX_NAME_BYTES || code.trim() != code {
                return Err(format!("a code is 1 to {MAX_NAME_BYTES} bytes, unpadded"));
            }
            if !printable(code) {
                return Err("a code is printable".into());
            }
            display.as_deref().map_or(Ok(()), check_text)
        }
        (FieldKind::Boolean, FieldValue::Boolean(_)) => Ok(()),
        (kind, _) => Err(format!("a {} value is expected", kind.label())),
    }
}

fn check_text(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty text".into());
    }
    if s.len() > MAX_TEXT_BYTES {
        return Err(format!("text longer than {MAX_TEXT_BYTES} bytes"));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("text with control characters".into());
    }
    Ok(())
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD`, optionally followed by `Thh:mm`, `:ss`, `.fraction` and `Z` or
/// `±hh:mm` (a time must carry its zone).
pub fn valid_date(s: &str) -> bool {
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(y), Some(m), Some(d)) = (digits(y, 4), digits(m, 2), digits(d, 2)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if d == 0 || d > days {
        return false;
    }
    time.is_none_or(valid_time)
}

fn valid_time(t: &str) -> bool {
    let (clock, zone) = if let Some(c) = t.strip_suffix('Z') {
        (c, None)
    } else if let Some(i) = t.rfind(['+', '-']) {
        (&t[..i], Some(&t[i + 1..]))
    } else {
        return false;
    };
    if let Some(zone) = zone {
        let Some((h, m)) = zone.split_once(':') else {
            return false;
        };
        if !matches!((digits(h, 2), digits(m, 2)), (Some(h), Some(m)) if h <= 14 && m < 60) {
            return false;
        }
    }
    let (clock, fraction) = match clock.split_once('.') {
        Some((c, f)) => (c, Some(f)),
        None => (clock, None),
    };
    if fraction
        .is_some_and(|f| f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let parts: Vec<&str> = clock.split(':').collect();
    let limits = [24, 60, 61];
    (parts.len() == 2 || parts.len() == 3)
        && (fraction.is_none() || parts.len() == 3)
        && parts
            .iter()
            .zip(limits)
            .all(|(p, limit)| digits(p, 2).is_some_and(|v| v < limit))
}

/// An optional sign, digits, and optionally a point followed by digits: `-12.5`,
/// `0.001`, `120`. No exponent, no leading `+`, at most 32 characters.
pub fn valid_decimal(s: &str) -> bool {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (unsigned, None),
    };
    s.len() <= 32
        && !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads a field declaration from its text form `NAME:TYPE`, with `TYPE` one of
/// `text`, `date`, `boolean`, `number:UNIT` or `code:SYSTEM`; a `?` after the name
/// makes the field optional (`note?:text`).
pub fn parse_spec(text: &str) -> Result<FieldSpec, ClaimError> {
    let bad = |reason: &str| ClaimError::BadSpec {
        field: text.into(),
        reason: reason.into(),
    };
    let mut parts = text.splitn(3, ':');
    let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
        return Err(bad("write NAME:TYPE, e.g. systolic:number:mm[Hg]"));
    };
    let rest = parts.next();
    let (name, required) = match name.strip_suffix('?') {
        Some(n) => (n, false),
        None => (name, true),
    };
    let kind = match (kind, rest) {
        ("text", None) => FieldKind::Text,
        ("date", None) => FieldKind::Date,
        ("boolean", None) => FieldKind::Boolean,
        ("number", Some(unit)) => FieldKind::Number { unit: unit.into() },
        ("code", Some(system)) => FieldKind::Code {
            system: system.into(),
        },
        ("number", None) => return Err(bad("a number field names its unit: NAME:number:UNIT")),
        ("code", None) => return Err(bad("a code field names its code system: NAME:code:SYSTEM")),
        _ => {
            return Err(bad(
                "TYPE is text, date, boolean, number:UNIT or code:SYSTEM",
            ))
        }
    };
    let spec = FieldSpec {
        name: name.into(),
        kind,
        required,
    };
    check_specs(std::slice::from_ref(&spec))?;
    Ok(spec)
}

/// Reads the value of field `spec` from text: a number in the field's unit (`5.4`),
/// or with its unit when the field takes any (`5.4 mmol/L`), a code as `CODE` or `CODE|DISPLAY`, a boolean as `true` or `false`, text and dates
/// as they are. The value is checked against the field.
pub fn parse_value(spec: &FieldSpec, text: &str) -> Result<FieldValue, ClaimError> {
    let value = match &spec.kind {
        FieldKind::Text => FieldValue::Text(text.into()),
        FieldKind::Date => FieldValue::Date(text.into()),
        FieldKind::Number { unit } if unit == ANY_UNIT => {
            let Some((value, given)) = text.trim().split_once(char::is_whitespace) else {
                return Err(ClaimError::BadValue {
                    field: spec.name.clone(),
                    reason: format!("{text:?}: give the number and its unit, e.g. 5.4 mmol/L"),
                });
            };
            FieldValue::Number {
                value: value.into(),
                unit: given.trim().into(),
            }
        }
        FieldKind::Number { unit } => FieldValue::Number {
            value: text.trim().into(),
            unit: unit.clone(),
        },
        FieldKind::Code { system } => {
            let (code, display) = match text.split_once('|') {
                Some((c, d)) => (c, Some(d.to_string())),
                None => (text, None),
            };
            FieldValue::Code {
                system: system.clone(),
                code: code.into(),
                display,
            }
        }
        FieldKind::Boolean => match text {
            "true" => FieldValue::Boolean(true),
            "false" => FieldValue::Boolean(false),
            _ => {
                return Err(ClaimError::BadValue {
                    field: spec.name.clone(),
                    reason: format!("{text:?} is not true or false"),
                })
            }
        },
    };
    check_value(spec, &value).map_err(|reason| ClaimError::BadValue {
        field: spec.name.clone(),
        reason,
    })?;
    Ok(value)
}

/// The fields of a course credential (an intern's micro-credential): what was
/// achieved, when, the marks and the result.
pub fn course_fields() -> Vec<FieldSpec> {
    vec![
        FieldSpec::required("description", FieldKind::Text),
        FieldSpec::required("start_date", FieldKind::Date),
        FieldSpec::required("end_date", FieldKind::Date),
        FieldSpec::optional("marks", FieldKind::Text),
        FieldSpec::required("result", FieldKind::Text),
    ]
}

/// Content fields for [`course_fields`].
pub fn course_values(
    description: &str,
    start_date: &str,
    end_date: &str,
    marks: Option<&str>,
    result: &str,
) -> BTreeMap<String, FieldValue> {
    let mut fields = BTreeMap::new();
    let mut text = |name: &str, v: FieldValue| {
        fields.insert(name.to_string(), v);
    };
    text("description", FieldValue::Text(description.into()));
    text("start_date", FieldValue::Date(start_date.into()));
    text("end_date", FieldValue::Date(end_date.into()));
    if let Some(marks) = marks {
        text("marks", FieldValue::Text(marks.into()));
    }
    text("result", FieldValue::Text(result.into()));
    fields
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn lab() -> Vec<FieldSpec> {
        vec![
            FieldSpec::required(
                "test",
                FieldKind::Code {
                    system: "http://loinc.org".into(),
                },
            ),
            FieldSpec::required(
                "value",
                FieldKind::Number {
                    unit: "mmol/L".into(),
                },
            ),
            FieldSpec::required("taken", FieldKind::Date),
            FieldSpec::optional("fasting", FieldKind::Boolean),
            FieldSpec::optional("note", FieldKind::Text),
        ]
    }

    fn lab_values() -> BTreeMap<String, FieldValue> {
        BTreeMap::from([
            (
                "test".to_string(),
                FieldValue::Code {
                    system: "http://loinc.org".into(),
                    code: "2339-0".into(),
                    display: Some("Glucose".into()),
                },
            ),
            (
                "value".to_string(),
                FieldValue::Number {
                    value: "5.4".into(),
                    unit: "mmol/L".into(),
                },
            ),
            (
                "taken".to_string(),
                FieldValue::Date("2026-11-02T08:30:00+01:00".into()),
            ),
        ])
    }

    #[test]
    fn content_matching_its_schema_passes() {
        check_specs(&lab()).unwrap();
        validate_fields(&lab(), &lab_values()).unwrap();
        let mut more = lab_values();
        more.insert("fasting".into(), FieldValue::Boolean(true));
        validate_fields(&lab(), &more).unwrap();
        check_specs(&course_fields()).unwrap();
        validate_fields(
            &course_fields(),
            &course_values("BLS", "2026-01-01", "2026-02-01", None, "passed"),
        )
        .unwrap();
    }

    #[test]
    fn content_not_matching_its_schema_is_refused() {
        let specs = lab();
        let with = |name: &str, value: FieldValue| {
            let mut v = lab_values();
            v.insert(name.into(), value);
            validate_fields(&specs, &v)
        };
        let mut missing = lab_values();
        missing.remove("value");
        assert_eq!(
            validate_fields(&specs, &missing),
            Err(ClaimError::Missing("value".into()))
        );
        assert_eq!(
            with("diagnosis", FieldValue::Text("x".into())),
            Err(ClaimError::Undeclared("diagnosis".into()))
        );
        let refused = [
            with("value", FieldValue::Text("5.4".into())),
            with(
                "value",
                FieldValue::Number {
                    value: "5.4".into(),
                    unit: "mg/dL".into(),
                },
            ),
            with(
                "value",
                FieldValue::Number {
                    value: "5,4".into(),
                    unit: "mmol/L".into(),
                },
            ),
            with(
                "test",
                FieldValue::Code {
                    system: "http://snomed.info/sct".into(),
                    code: "1".into(),
                    display: None,
                },
            ),
            with(
                "test",
                FieldValue::Code {
                    system: "http://loinc.org".into(),
                    code: String::new(),
                    display: None,
                },
            ),
            with("taken", FieldValue::Date("2026-02-30".into())),
            with("taken", FieldValue::Date("2026-11-02T08:30".into())),
            with("fasting", FieldValue::Text("yes".into())),
            with("note", FieldValue::Text(String::new())),
            with("note", FieldValue::Text("a\u{0}b".into())),
            with("note", FieldValue::Text("x".repeat(MAX_TEXT_BYTES + 1))),
        ];
        for r in refused {
            assert!(matches!(r, Err(ClaimError::BadValue { .. })), "{r:?}");
        }
    }

    #[test]
    fn bad_field_lists_are_refused() {
        let text = |name: &str| FieldSpec::required(name, FieldKind::Text);
        assert!(check_specs(&[text("a"), text("a")]).is_err());
        for name in ["", "A", "1a", "a-b", "a b", &"a".repeat(65)] {
            assert!(check_specs(&[text(name)]).is_err(), "{name:?}");
        }
        let too_many: Vec<FieldSpec> = (0..=MAX_FIELDS).map(|i| text(&format!("f{i}"))).collect();
        assert!(check_specs(&too_many).is_err());
        for unit in ["", " mmHg", "a\nb"] {
            let spec = FieldSpec::required("v", FieldKind::Number { unit: unit.into() });
            assert!(check_specs(&[spec]).is_err(), "{unit:?}");
        }
    }

    #[test]
    fn a_field_of_any_unit_takes_the_unit_with_each_value() {
        let spec = parse_spec("value:number:*").unwrap();
        assert_eq!(
            parse_value(&spec, "5.4 mmol/L").unwrap(),
            FieldValue::Number {
                value: "5.4".into(),
                unit: "mmol/L".into()
            }
        );
        for bad in ["5.4", "5.4 *", "x mmol/L", ""] {
            assert!(parse_value(&spec, bad).is_err(), "{bad:?}");
        }
        let fields = |unit: &str| {
            BTreeMap::from([(
                "value".to_string(),
                FieldValue::Number {
                    value: "1".into(),
                    unit: unit.into(),
                },
            )])
        };
        assert!(validate_fields(std::slice::from_ref(&spec), &fields("ng/L")).is_ok());
        for unit in ["", "a b", "*", "\n"] {
            assert!(
                validate_fields(std::slice::from_ref(&spec), &fields(unit)).is_err(),
                "{unit:?}"
            );
        }
    }

    #[test]
    fn text_forms_parse() {
        assert_eq!(
            parse_spec("systolic:number:mm[Hg]").unwrap(),
            FieldSpec::required(
                "systolic",
                FieldKind::Number {
                    unit: "mm[Hg]".into()
                }
            )
        );
        assert_eq!(
            parse_spec("diagnosis:code:http://hl7.org/fhir/sid/icd-10").unwrap(),
            FieldSpec::required(
                "diagnosis",
                FieldKind::Code {
                    system: "http://hl7.org/fhir/sid/icd-10".into()
                }
            )
        );
        assert_eq!(
            parse_spec("note?:text").unwrap(),
            FieldSpec::optional("note", FieldKind::Text)
        );
        for bad in [
            "note",
            "note:",
            "v:number",
            "c:code",
            "x:float",
            "X:text",
            "a:text:more",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
        let code = parse_spec("diagnosis:code:http://hl7.org/fhir/sid/icd-10").unwrap();
        assert_eq!(
            parse_value(&code, "I21.9|Acute myocardial infarction").unwrap(),
            FieldValue::Code {
                system: "http://hl7.org/fhir/sid/icd-10".into(),
                code: "I21.9".into(),
                display: Some("Acute myocardial infarction".into()),
            }
        );
        let flag = parse_spec("fit:boolean").unwrap();
        assert_eq!(
            parse_value(&flag, "false").unwrap(),
            FieldValue::Boolean(false)
        );
        assert!(parse_value(&flag, "no").is_err());
        let number = parse_spec("v:number:mmol/L").unwrap();
        assert!(parse_value(&number, "5.4").is_ok());
        assert!(parse_value(&number, "five").is_err());
    }

    #[test]
    fn dates_and_decimals() {
        for ok in [
            "2026-11-27",
            "2024-02-29",
            "2026-11-27T10:00Z",
            "2026-11-27T10:00:59Z",
            "2026-11-27T10:00:00.123-05:00",
        ] {
            assert!(valid_date(ok), "{ok}");
        }
        for bad in [
            "2026-1-27",
            "2023-02-29",
            "2026-13-01",
            "2026-11-27T",
            "2026-11-27T25:00Z",
            "2026-11-27T10:00:00",
            "2026-11-27T10:00.5Z",
            "27/11/2026",
            "",
        ] {
            assert!(!valid_date(bad), "{bad}");
        }
        for ok in ["0", "-12.5", "120", "0.001"] {
            assert!(valid_decimal(ok), "{ok}");
        }
        for bad in [
            "",
            "-",
            "1.",
            ".5",
            "+1",
            "1e3",
            "NaN",
            "1 000",
            &"9".repeat(33),
        ] {
            assert!(!valid_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn json_forms_are_readable() {
        let spec = FieldSpec::required(
            "value",
            FieldKind::Number {
                unit: "mmHg".into(),
            },
        );
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "value", "kind": {"number": {"unit": "mmHg"}}, "required": true})
        );
        let back: FieldSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, spec);
        let value = serde_json::to_value(FieldValue::Date("2026-11-27".into())).unwrap();
        assert_eq!(value, serde_json::json!({"date": "2026-11-27"}));
        let text = serde_json::to_value(FieldSpec::optional("note", FieldKind::Text)).unwrap();
        assert_eq!(
            text,
            serde_json::json!({"name": "note", "kind": "text", "required": false})
        );
        // The canonical encoding round trips (it is what the chain stores).
        let specs = lab();
        assert_eq!(
            crate::codec::decode::<Vec<FieldSpec>>(&crate::codec::encode(&specs)).unwrap(),
            specs
        );
        let values = lab_values();
        assert_eq!(
            crate::codec::decode::<BTreeMap<String, FieldValue>>(&crate::codec::encode(&values))
                .unwrap(),
            values
        );
    }
}
