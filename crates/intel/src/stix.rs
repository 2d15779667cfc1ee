//! STIX 2.1 sharing: released reports out as bundles, partners' bundles in.
//!
//! Out: a `report` (name, the releasable text, published, confidence from the Admiralty
//! credibility), the `location`s and organisation `identity`s it refers to, the producer's
//! `identity`, the TLP 2.0 `marking-definition` (the extension's published objects), and for
//! handling code C a `statement` marking carrying the conditions. Ids are derived from the
//! report and its version (UUIDv4 in form, as STIX asks), so exporting again yields the same
//! objects. A TLP:RED report is
//! never exported. The source's pseudonymous reference stays home: partners do not need it,
//! and it would let them link reports by source.
//!
//! In: a strict reader that names the offending object and property (`objects[2].created:
//! not a STIX timestamp`) and never panics.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::grading::{stix_confidence, Admiralty, HandlingCode, Tlp};

/// The TLP 2.0 extension definition the marking objects use.
const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The published STIX ids of the TLP 2.0 markings.
fn tlp_marking_id(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
}

/// STIX 2.1's own TLP 1.0 markings, still common in partners' bundles.
const TLP1_MARKINGS: [(&str, Tlp); 4] = [
    ("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", Tlp::Clear),
    ("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", Tlp::Green),
    ("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", Tlp::Amber),
    ("marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", Tlp::Red),
];

fn tlp_of_marking(id: &str) -> Option<Tlp> {
    Tlp::ALL
        .into_iter()
        .find(|tlp| tlp_marking_id(*tlp) == id)
        .or_else(|| TLP1_MARKINGS.iter().find(|(known, _)| *known == id).map(|(_, tlp)| *tlp))
}

fn tlp_marking(tlp: Tlp) -> Value {
    let level = tlp.as_str().trim_start_matches("TLP:").to_ascii_lowercase();
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": tlp_marking_id(tlp),
        "created": "2022-10-01T00:00:00.000Z",
        "name": tlp.as_str(),
        "extensions": {TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}},
    })
}

/// A place a report refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// A released report as it may leave: nothing above the line.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleasedReport {
    /// Tearline's id of the report and the version released.
    pub id: i64,
    pub version: i64,
    pub title: String,
    pub text: String,
    pub grading: Admiralty,
    pub handling: HandlingCode,
    pub tlp: Tlp,
    /// When it was released, in milliseconds since the epoch.
    pub released_at: i64,
    pub places: Vec<Place>,
    pub organisations: Vec<String>,
}

/// Who produced the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Producer {
    pub name: String,
    /// A stable UUID for this Tearline installation's ids.
    pub namespace: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("a TLP:RED report never leaves Tearline")]
    TlpRed,
}

/// When the objects several bundles share were created: the producer's identity, places
/// and organisations. Their ids are derived from their content, so one id always carries the
/// same content; a fixed `created`/`modified` keeps them one object in every bundle (STIX
/// §3.6: objects with the same id and `modified` are the same object), as the published TLP
/// markings do with theirs.
const SHARED_OBJECT_CREATED: &str = "2026-01-01T00:00:00.000Z";

/// STIX timestamps: RFC 3339, UTC, milliseconds.
fn timestamp(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into())
}

impl Producer {
    fn id(&self, kind: &str, name: &str) -> String {
        // STIX asks for UUIDv4 identifiers on domain objects; the bits come from a name-based
        // hash instead of a random source, so the same report always exports the same ids.
        let hashed = Uuid::new_v5(&self.namespace, format!("{kind}/{name}").as_bytes());
        format!("{kind}--{}", uuid::Builder::from_random_bytes(*hashed.as_bytes()).into_uuid())
    }
}

/// The bundle a released report is shared as.
pub fn export(report: &ReleasedReport, producer: &Producer) -> Result<Value, ExportError> {
    if !report.tlp.may_leave() {
        return Err(ExportError::TlpRed);
    }
    let created = timestamp(report.released_at);
    let producer_id = producer.id("identity", &format!("producer/{}", producer.name));
    let common = |kind: &str, name: &str, created: &str| {
        json!({
            "type": kind,
            "spec_version": "2.1",
            "id": producer.id(kind, name),
            "created": created,
            "modified": created,
            "created_by_ref": producer_id,
        })
    };
    let mut objects = vec![
        json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": producer_id,
            "created": SHARED_OBJECT_CREATED,
            "modified": SHARED_OBJECT_CREATED,
            "name": producer.name,
            "identity_class": "organization",
        }),
        tlp_marking(report.tlp),
    ];
    let mut markings = vec![Value::from(tlp_marking_id(report.tlp))];
    if let HandlingCode::C(conditions) = &report.handling {
        let id =
            producer.id("marking-definition", &format!("report/{}/{}/handling", report.id, report.version));
        objects.push(json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": id,
            "created": created,
            "created_by_ref": producer_id,
            "definition_type": "statement",
            "definition": {"statement": format!("Handling code C (3x5x2): {conditions}")},
        }));
        markings.push(Value::from(id));
    }
    let mut refs = Vec::new();
    for place in &report.places {
        let name = format!("place/{}/{}/{}", place.name, place.latitude, place.longitude);
        let mut location = common("location", &name, SHARED_OBJECT_CREATED);
        extend(
            &mut location,
            json!({"name": place.name, "latitude": place.latitude, "longitude": place.longitude}),
        );
        refs.push(location["id"].clone());
        objects.push(location);
    }
    for organisation in &report.organisations {
        let mut identity = common("identity", &format!("organisation/{organisation}"), SHARED_OBJECT_CREATED);
        extend(&mut identity, json!({"name": organisation, "identity_class": "organization"}));
        refs.push(identity["id"].clone());
        objects.push(identity);
    }
    if refs.is_empty() {
        // A report must refer to something; with nothing named, it refers to its producer.
        refs.push(Value::from(producer_id.clone()));
    }
    let (evaluation, assessment) = crate::grading::to_3x5x2(report.grading);
    let handling = match &report.handling {
        HandlingCode::P => "P".to_owned(),
        HandlingCode::C(_) => "C".to_owned(),
    };
    let mut stix_report = common("report", &format!("report/{}/{}", report.id, report.version), &created);
    extend(
        &mut stix_report,
        json!({
            "name": report.title,
            "description": report.text,
            "report_types": ["threat-report"],
            "published": created,
            "object_refs": refs,
            "labels": [
                format!("admiralty:{}", report.grading),
                format!("3x5x2:{}{:?}{handling}", u8::from(evaluation), assessment),
            ],
            "object_marking_refs": markings,
        }),
    );
    if let Some(confidence) = stix_confidence(report.grading.credibility) {
        extend(&mut stix_report, json!({"confidence": confidence}));
    }
    objects.push(stix_report);
    let bundle_id = producer.id("bundle", &format!("report/{}/{}", report.id, report.version));
    Ok(json!({"type": "bundle", "id": bundle_id, "objects": objects}))
}

fn extend(object: &mut Value, more: Value) {
    if let (Value::Object(object), Value::Object(more)) = (object, more) {
        object.extend(more);
    }
}

/// A partner's report as imported: graded "cannot be judged" until an analyst assesses it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerReport {
    pub stix_id: String,
    pub title: String,
    pub text: String,
    pub published: String,
    pub tlp: Option<Tlp>,
    /// What the partner said, kept for the analyst; it does not grade the report.
    pub partner_confidence: Option<u8>,
    pub grading: Admiralty,
    pub places: Vec<Place>,
    pub organisations: Vec<String>,
}

/// Why a bundle was refused: where, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct StixError {
    pub path: String,
    pub reason: String,
}

fn fail<T>(path: impl Into<String>, reason: impl Into<String>) -> Result<T, StixError> {
    Err(StixError { path: path.into(), reason: reason.into() })
}

/// `type--UUID`, with the type it must be; the UUID written hyphenated and of RFC 4122's
/// variant, as STIX §2.9 requires.
fn check_id(path: &str, value: Option<&Value>, kind: &str) -> Result<String, StixError> {
    let Some(id) = value.and_then(Value::as_str) else {
        return fail(path, "an identifier string is required");
    };
    let rfc_4122 = |uuid: &str| {
        uuid.len() == 36
            && Uuid::parse_str(uuid)
                .is_ok_and(|u| u.get_variant() == uuid::Variant::RFC4122 && u.get_version_num() >= 1)
    };
    match id.split_once("--") {
        Some((prefix, uuid)) if prefix == kind && rfc_4122(uuid) => Ok(id.to_owned()),
        _ => fail(path, format!("{id:?} is not an identifier of the form {kind}--UUID (RFC 4122)")),
    }
}

/// A STIX timestamp (§3.2): `YYYY-MM-DDTHH:MM:SS[.s+]Z`, upper-case `T` and `Z`, a real
/// instant. Returns it with the instant, for comparing.
fn check_timestamp(path: &str, value: Option<&Value>) -> Result<String, StixError> {
    timestamp_at(path, value).map(|(text, _)| text)
}

fn timestamp_at(path: &str, value: Option<&Value>) -> Result<(String, i128), StixError> {
    let Some(text) = value.and_then(Value::as_str) else {
        return fail(path, "a timestamp is required");
    };
    let bytes = text.as_bytes();
    let shape = bytes.len() >= 20
        && bytes.iter().take(19).enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            _ => b.is_ascii_digit(),
        })
        && bytes.last() == Some(&b'Z')
        && match &bytes[19..bytes.len() - 1] {
            [] => true,
            [b'.', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
            _ => false,
        };
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339);
    match parsed {
        Ok(instant) if shape => Ok((text.to_owned(), instant.unix_timestamp_nanos())),
        _ => fail(path, format!("{text:?} is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.s]Z, in UTC)")),
    }
}

/// `created` and `modified` are "precise to the nearest millisecond" (§3.2): exactly three
/// fractional digits.
fn to_the_millisecond(path: &str, value: Option<&Value>) -> Result<i128, StixError> {
    let (text, instant) = timestamp_at(path, value)?;
    match text.rsplit_once('.') {
        Some((_, fraction)) if fraction.len() == 4 => Ok(instant),
        _ => fail(path, format!("{text:?} is not precise to the millisecond (YYYY-MM-DDTHH:MM:SS.sssZ)")),
    }
}

/// The STIX 2.1 cyber-observable types: they have no `created` or `modified`.
const OBSERVABLES: [&str; 18] = [
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// Properties that STIX defines as lists wherever they appear.
const LIST_PROPERTIES: [&str; 7] = [
    "labels",
    "object_marking_refs",
    "external_references",
    "granular_markings",
    "object_refs",
    "report_types",
    "aliases",
];

/// The common properties of any object (§3): its type, id, and for domain and relationship
/// objects `spec_version`, `created` and `modified` (never before `created`). Observables
/// and types Tearline does not read are taken as they come once these hold.
fn check_common(path: &str, object: &Map<String, Value>) -> Result<(String, String), StixError> {
    let Some(kind) = object.get("type").and_then(Value::as_str) else {
        return fail(format!("{path}.type"), "a type is required");
    };
    let type_ok = (3..=250).contains(&kind.len())
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !kind.starts_with('-')
        && !kind.ends_with('-');
    if !type_ok {
        return fail(format!("{path}.type"), format!("{kind:?} is not a STIX type name"));
    }
    let id = check_id(&format!("{path}.id"), object.get("id"), kind)?;
    let observable = OBSERVABLES.contains(&kind);
    match object.get("spec_version") {
        None if observable => {}
        Some(Value::String(version)) if version == "2.1" => {}
        _ => return fail(format!("{path}.spec_version"), "must be \"2.1\""),
    }
    for key in LIST_PROPERTIES {
        if object.get(key).is_some_and(|value| !value.is_array()) {
            return fail(format!("{path}.{key}"), "must be a list");
        }
    }
    if observable {
        return Ok((kind.to_owned(), id));
    }
    let created = to_the_millisecond(&format!("{path}.created"), object.get("created"))?;
    if kind != "marking-definition" {
        let modified = to_the_millisecond(&format!("{path}.modified"), object.get("modified"))?;
        if modified < created {
            return fail(format!("{path}.modified"), "is before created");
        }
    }
    Ok((kind.to_owned(), id))
}

fn required_text(path: &str, object: &Map<String, Value>, key: &str) -> Result<String, StixError> {
    match object.get(key).and_then(Value::as_str).map(str::trim) {
        Some(text) if !text.is_empty() => Ok(text.to_owned()),
        _ => fail(format!("{path}.{key}"), "a non-empty string is required"),
    }
}

/// Reads a partner's bundle: every object checked for the common properties, every report
/// with the objects it refers to. Refuses the whole bundle at the first fault, naming it.
pub fn import(text: &str) -> Result<Vec<PartnerReport>, StixError> {
    let bundle: Value = serde_json::from_str(text).or_else(|e| fail("bundle", format!("not JSON: {e}")))?;
    let Some(bundle) = bundle.as_object() else {
        return fail("bundle", "a STIX bundle is a JSON object");
    };
    if bundle.get("type").and_then(Value::as_str) != Some("bundle") {
        return fail("bundle.type", "must be \"bundle\"");
    }
    check_id("bundle.id", bundle.get("id"), "bundle")?;
    let Some(objects) = bundle.get("objects").and_then(Value::as_array) else {
        return fail("bundle.objects", "a list of objects is required");
    };
    let mut by_id: std::collections::HashMap<String, &Map<String, Value>> = std::collections::HashMap::new();
    for (index, object) in objects.iter().enumerate() {
        let path = format!("objects[{index}]");
        let Some(object) = object.as_object() else {
            return fail(path, "each object is a JSON object");
        };
        let (_, id) = check_common(&path, object)?;
        if by_id.insert(id.clone(), object).is_some() {
            return fail(format!("{path}.id"), format!("{id} appears twice"));
        }
    }
    let mut reports = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        let path = format!("objects[{index}]");
        let Some(object) =
            object.as_object().filter(|o| o.get("type").and_then(Value::as_str) == Some("report"))
        else {
            continue;
        };
        reports.push(read_report(&path, object, &by_id)?);
    }
    if reports.is_empty() {
        return fail("bundle.objects", "the bundle holds no report");
    }
    Ok(reports)
}

fn read_report(
    path: &str,
    object: &Map<String, Value>,
    by_id: &std::collections::HashMap<String, &Map<String, Value>>,
) -> Result<PartnerReport, StixError> {
    let title = required_text(path, object, "name")?;
    let text = object.get("description").and_then(Value::as_str).unwrap_or("").to_owned();
    let published = check_timestamp(&format!("{path}.published"), object.get("published"))?;
    let partner_confidence = match object.get("confidence") {
        None => None,
        Some(value) => match value.as_u64().and_then(|c| u8::try_from(c).ok()).filter(|c| *c <= 100) {
            Some(confidence) => Some(confidence),
            None => return fail(format!("{path}.confidence"), "an integer from 0 to 100 is required"),
        },
    };
    let mut tlp = None;
    for (i, marking) in
        object.get("object_marking_refs").and_then(Value::as_array).into_iter().flatten().enumerate()
    {
        let marking_path = format!("{path}.object_marking_refs[{i}]");
        let id = check_id(&marking_path, Some(marking), "marking-definition")?;
        if let Some(level) = tlp_of_marking(&id) {
            // The most restrictive marking wins.
            tlp = Some(tlp.map_or(level, |current: Tlp| current.min(level)));
        }
    }
    let Some(refs) = object.get("object_refs").and_then(Value::as_array).filter(|r| !r.is_empty()) else {
        return fail(format!("{path}.object_refs"), "a report must refer to at least one object");
    };
    let mut places = Vec::new();
    let mut organisations = Vec::new();
    for (i, reference) in refs.iter().enumerate() {
        let ref_path = format!("{path}.object_refs[{i}]");
        let Some(id) = reference.as_str() else {
            return fail(ref_path, "an identifier string is required");
        };
        let Some(target) = by_id.get(id) else {
            // Refs to objects the partner did not include are allowed by STIX; we skip them.
            continue;
        };
        match target.get("type").and_then(Value::as_str) {
            Some("location") => {
                let latitude = target.get("latitude").and_then(Value::as_f64);
                let longitude = target.get("longitude").and_then(Value::as_f64);
                if let (Some(latitude), Some(longitude)) = (latitude, longitude) {
                    if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
                        return fail(ref_path, format!("{id}: latitude or longitude out of range"));
                    }
                    let name =
                        target.get("name").and_then(Value::as_str).unwrap_or("unnamed place").to_owned();
                    places.push(Place { name, latitude, longitude });
                }
            }
            Some("identity")
                if target.get("identity_class").and_then(Value::as_str) == Some("organization") =>
            {
                if let Some(name) = target.get("name").and_then(Value::as_str) {
                    organisations.push(name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(PartnerReport {
        stix_id: check_id(&format!("{path}.id"), object.get("id"), "report")?,
        title,
        text,
        published,
        tlp,
        partner_confidence,
        grading: Admiralty::UNJUDGED,
        places,
        organisations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn producer() -> Producer {
        Producer { name: "Harbour District Unit".into(), namespace: Uuid::from_u128(0x7ea1_14e5) }
    }

    pub(crate) fn report(tlp: Tlp, handling: HandlingCode) -> ReleasedReport {
        ReleasedReport {
            id: 7,
            version: 2,
            title: "Deliveries at the quay after dark".into(),
            text: "Crates are moved from the quay to a van after midnight on Saturdays.".into(),
            grading: Admiralty::parse("B2").expect("valid"),
            handling,
            tlp,
            released_at: 1_795_000_000_123,
            places: vec![Place { name: "Eastmarsh quay".into(), latitude: 52.955, longitude: 1.215 }],
            organisations: vec!["Saltford Freight Ltd".into()],
        }
    }

    #[test]
    fn a_report_exports_with_its_marking_confidence_and_referenced_objects() {
        let bundle = export(&report(Tlp::Amber, HandlingCode::P), &producer()).expect("exported");
        let objects = bundle["objects"].as_array().expect("objects");
        let report = objects.iter().find(|o| o["type"] == "report").expect("a report");
        assert_eq!(report["confidence"], 70);
        assert_eq!(report["object_marking_refs"], json!([tlp_marking_id(Tlp::Amber)]));
        assert_eq!(report["published"], "2026-11-18T11:06:40.123Z");
        assert_eq!(report["labels"], json!(["admiralty:B2", "3x5x2:1CP"]));
        assert_eq!(report["object_refs"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            export(&self::report(Tlp::Amber, HandlingCode::P), &producer()),
            Ok(bundle.clone()),
            "stable ids"
        );
        let read = import(&bundle.to_string()).expect("our own bundle reads back");
        assert_eq!(read[0].tlp, Some(Tlp::Amber));
        assert_eq!(read[0].places[0].name, "Eastmarsh quay");
        assert_eq!(read[0].organisations, vec!["Saltford Freight Ltd".to_owned()]);
        assert_eq!(
            read[0].grading,
            Admiralty::UNJUDGED,
            "partners' intelligence is graded F6 until assessed"
        );
    }

    #[test]
    fn red_never_leaves_and_handling_conditions_travel_with_the_report() {
        assert_eq!(export(&report(Tlp::Red, HandlingCode::P), &producer()), Err(ExportError::TlpRed));
        let bundle =
            export(&report(Tlp::Green, HandlingCode::C("police use only".into())), &producer()).expect("ok");
        let statement = bundle["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["definition_type"] == "statement")
            .expect("a statement marking");
        assert_eq!(statement["definition"]["statement"], "Handling code C (3x5x2): police use only");
    }

    #[test]
    fn invalid_bundles_are_refused_naming_the_fault() {
        let good = export(&report(Tlp::Green, HandlingCode::P), &producer()).expect("ok");
        let with = |path: &[&str], value: Value| {
            let mut bundle = good.clone();
            let mut target = &mut bundle;
            for step in &path[..path.len() - 1] {
                target = match step.parse::<usize>() {
                    Ok(i) => &mut target[i],
                    Err(_) => &mut target[*step],
                };
            }
            target[path[path.len() - 1]] = value;
            import(&bundle.to_string()).map(|_| ()).map_err(|e| e.to_string())
        };
        let report_index = good["objects"].as_array().map_or(0, |o| o.len() - 1).to_string();
        let r = report_index.as_str();
        assert_eq!(with(&["type"], json!("report")), Err("bundle.type: must be \"bundle\"".into()));
        assert!(with(&["objects", "0", "created"], json!("2026-11-17 08:26"))
            .unwrap_err()
            .starts_with("objects[0].created:"));
        assert!(with(&["objects", r, "id"], json!("report--not-a-uuid"))
            .unwrap_err()
            .starts_with(&format!("objects[{r}].id:")));
        assert!(with(&["objects", r, "confidence"], json!(101))
            .unwrap_err()
            .starts_with(&format!("objects[{r}].confidence:")));
        assert!(with(&["objects", r, "object_refs"], json!([]))
            .unwrap_err()
            .starts_with(&format!("objects[{r}].object_refs:")));
        assert!(with(&["objects", r, "spec_version"], json!("2.0"))
            .unwrap_err()
            .ends_with("must be \"2.1\""));
        assert_eq!(import("[]").map(|_| ()).map_err(|e| e.path), Err("bundle".into()));
        assert!(import("{").unwrap_err().reason.starts_with("not JSON"));
    }

    proptest! {
        /// Whatever arrives, the reader answers with reports or a named fault, never a panic.
        #[test]
        fn the_reader_never_panics(text in ".{0,400}") {
            let _ = import(&text);
        }

        /// Bundles mutated value by value still never panic the reader.
        #[test]
        fn mutated_bundles_never_panic(index in 0usize..8, key in "[a-z_]{1,12}", value in prop_oneof![
            Just(Value::Null), any::<i64>().prop_map(Value::from), ".{0,20}".prop_map(Value::from),
            Just(json!([])), Just(json!({})),
        ]) {
            let mut bundle = export(&report(Tlp::Green, HandlingCode::P), &producer()).expect("ok");
            if let Some(object) = bundle["objects"].get_mut(index).and_then(Value::as_object_mut) {
                object.insert(key, value);
            }
            let _ = import(&bundle.to_string());
        }
    }
}
