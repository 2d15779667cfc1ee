//! OASIS Common Alerting Protocol 1.2: the alert model, the XML Tearline writes, and the
//! strict reader for partners' alerts.
//!
//! The writer emits exactly the schema's element order and formats (times with an offset and
//! UTC as `-00:00`, `lat,lon` points); every alert shape is checked against the official XSD
//! with `xmllint` in `tests/cap_schema.rs`. [`Alert::validate`] adds the rules of the CAP 1.2
//! specification that the schema cannot express (closed polygons of at least four points,
//! restricted characters in identifiers, `references` as `sender,identifier,sent` triples,
//! `restriction`/`addresses` required by the scope). The reader applies the same schema
//! sequence rules and names the element and the reason of the first violation. Partners'
//! `<resource>` elements are checked for their place and not modelled: an imported alert
//! keeps its original XML, so nothing of it is lost.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::geo::{Area, Circle, GeoError, Polygon};
use crate::xmldsig::XMLDSIG;

pub const NAMESPACE: &str = "urn:oasis:names:tc:emergency:cap:1.2";

/// Defines a CAP enumeration with its exact wire spelling.
macro_rules! cap_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

cap_enum!(Status { Actual => "Actual", Exercise => "Exercise", System => "System", Test => "Test", Draft => "Draft" });
cap_enum!(MsgType { Alert => "Alert", Update => "Update", Cancel => "Cancel", Ack => "Ack", Error => "Error" });
cap_enum!(Scope { Public => "Public", Restricted => "Restricted", Private => "Private" });
cap_enum!(Category {
    Geo => "Geo", Met => "Met", Safety => "Safety", Security => "Security", Rescue => "Rescue",
    Fire => "Fire", Health => "Health", Env => "Env", Transport => "Transport", Infra => "Infra",
    Cbrne => "CBRNE", Other => "Other",
});
cap_enum!(ResponseType {
    Shelter => "Shelter", Evacuate => "Evacuate", Prepare => "Prepare", Execute => "Execute",
    Avoid => "Avoid", Monitor => "Monitor", Assess => "Assess", AllClear => "AllClear", None => "None",
});
cap_enum!(Urgency { Immediate => "Immediate", Expected => "Expected", Future => "Future", Past => "Past", Unknown => "Unknown" });
cap_enum!(Severity { Extreme => "Extreme", Severe => "Severe", Moderate => "Moderate", Minor => "Minor", Unknown => "Unknown" });
cap_enum!(Certainty { Observed => "Observed", Likely => "Likely", Possible => "Possible", Unlikely => "Unlikely", Unknown => "Unknown" });

/// A CAP `dateTime`: an instant and the offset it was written with. CAP forbids `Z`; UTC is
/// written `-00:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CapTime {
    pub millis: i64,
    pub offset_minutes: i16,
}

impl CapTime {
    /// An instant in UTC, to the second (CAP has no fractions).
    pub fn utc(millis: i64) -> CapTime {
        CapTime { millis: millis - millis.rem_euclid(1000), offset_minutes: 0 }
    }

    pub fn parse(text: &str) -> Option<CapTime> {
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 25
            && bytes.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                10 => *b == b'T',
                13 | 16 | 22 => *b == b':',
                19 => *b == b'-' || *b == b'+',
                _ => b.is_ascii_digit(),
            });
        if !shape_ok {
            return None;
        }
        let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        let offset_minutes = parsed.offset().whole_minutes();
        // §3.3.2: UTC is written -00:00; +00:00 is not a CAP time.
        if offset_minutes == 0 && bytes[19] == b'+' {
            return None;
        }
        let millis = i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()?;
        Some(CapTime { millis, offset_minutes })
    }
}

impl fmt::Display for CapTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset =
            UtcOffset::from_whole_seconds(i32::from(self.offset_minutes) * 60).unwrap_or(UtcOffset::UTC);
        let instant = OffsetDateTime::from_unix_timestamp(self.millis.div_euclid(1000))
            .map_err(|_| fmt::Error)?
            .to_offset(offset);
        let sign = if self.offset_minutes > 0 { '+' } else { '-' };
        let minutes = self.offset_minutes.unsigned_abs();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            instant.year(),
            u8::from(instant.month()),
            instant.day(),
            instant.hour(),
            instant.minute(),
            instant.second(),
            minutes / 60,
            minutes % 60
        )
    }
}

impl Serialize for CapTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CapTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<CapTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        CapTime::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("{text:?} is not a CAP time like 2026-11-26T09:30:00-00:00"))
        })
    }
}

/// One earlier alert an Update or Cancel refers to: `sender,identifier,sent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    pub sender: String,
    pub identifier: String,
    pub sent: CapTime,
}

impl Reference {
    pub fn to(alert: &Alert) -> Reference {
        Reference { sender: alert.sender.clone(), identifier: alert.identifier.clone(), sent: alert.sent }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{}", self.sender, self.identifier, self.sent)
    }
}

/// A `valueName`/`value` pair (`eventCode`, `parameter`, `geocode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedValue {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapArea {
    #[serde(flatten)]
    pub area: Area,
    #[serde(default)]
    pub geocodes: Vec<NamedValue>,
    /// In feet above mean sea level, as CAP defines them.
    #[serde(default)]
    pub altitude: Option<f64>,
    #[serde(default)]
    pub ceiling: Option<f64>,
}

/// Whether two language tags name the same language: their primary subtags agree, so "ar-SY"
/// reads an "ar" block and "en" an "en-GB" one.
pub fn same_language(a: &str, b: &str) -> bool {
    let primary = |tag: &str| tag.split('-').next().unwrap_or(tag).to_ascii_lowercase();
    primary(a) == primary(b)
}

/// What a warning officer changes when drafting an Update from the issued version. The
/// Update starts from every `info` of that version — every language, response types,
/// parameters, resources, geocodes, sender name — and changes only what is set here, so its
/// CAP equals the previous version's except for what the officer changed (and the
/// identifier, sent time, message type and references).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateEdits {
    /// Texts per language, applied to the `info` in that language (by primary subtag).
    pub texts: Vec<TextEdits>,
    /// Shared by every language; `None` keeps each `info`'s own.
    pub category: Option<Category>,
    pub urgency: Option<Urgency>,
    pub severity: Option<Severity>,
    pub certainty: Option<Certainty>,
    pub expires: Option<CapTime>,
    /// A new shape for the first area of every `info` (each keeps its own description).
    pub geometry: Option<(Vec<Polygon>, Vec<Circle>)>,
}

/// The texts of one language's `info`; `None` keeps the field, `Some("")` clears an
/// optional one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextEdits {
    pub language: String,
    pub event: Option<String>,
    pub headline: Option<String>,
    pub description: Option<String>,
    pub instruction: Option<String>,
    pub area_description: Option<String>,
}

impl UpdateEdits {
    /// The `info` blocks of the Update: `previous`'s, with these edits.
    pub fn apply(&self, previous: &[Info]) -> Vec<Info> {
        let optional = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
        previous
            .iter()
            .enumerate()
            .map(|(index, info)| {
                let mut info = info.clone();
                // One category chosen in a form keeps a list that already holds it.
                if let Some(category) = self.category.filter(|c| !info.categories.contains(c)) {
                    info.categories = vec![category];
                }
                info.urgency = self.urgency.unwrap_or(info.urgency);
                info.severity = self.severity.unwrap_or(info.severity);
                info.certainty = self.certainty.unwrap_or(info.certainty);
                if self.expires.is_some() {
                    info.expires = self.expires;
                }
                if let (Some((polygons, circles)), Some(first)) = (&self.geometry, info.areas.first_mut()) {
                    first.area.polygons.clone_from(polygons);
                    first.area.circles.clone_from(circles);
                }
                // Texts without a language are the first info's.
                let mine = |t: &&TextEdits| {
                    same_language(&t.language, &info.language) || (t.language.is_empty() && index == 0)
                };
                if let Some(edits) = self.texts.iter().find(mine) {
                    if let Some(event) = edits.event.as_deref().and_then(optional) {
                        info.event = event;
                    }
                    if let Some(headline) = &edits.headline {
                        info.headline = optional(headline);
                    }
                    if let Some(description) = &edits.description {
                        info.description = optional(description);
                    }
                    if let Some(instruction) = &edits.instruction {
                        info.instruction = optional(instruction);
                    }
                    if let (Some(text), Some(first)) =
                        (edits.area_description.as_deref().and_then(optional), info.areas.first_mut())
                    {
                        first.area.description = text;
                    }
                }
                info
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Info {
    pub language: String,
    pub categories: Vec<Category>,
    pub event: String,
    #[serde(default)]
    pub response_types: Vec<ResponseType>,
    pub urgency: Urgency,
    pub severity: Severity,
    pub certainty: Certainty,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default)]
    pub event_codes: Vec<NamedValue>,
    #[serde(default)]
    pub effective: Option<CapTime>,
    #[serde(default)]
    pub onset: Option<CapTime>,
    #[serde(default)]
    pub expires: Option<CapTime>,
    #[serde(default)]
    pub sender_name: Option<String>,
    #[serde(default)]
    pub headline: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub instruction: Option<String>,
    #[serde(default)]
    pub web: Option<String>,
    #[serde(default)]
    pub contact: Option<String>,
    #[serde(default)]
    pub parameters: Vec<NamedValue>,
    #[serde(default)]
    pub areas: Vec<CapArea>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub identifier: String,
    pub sender: String,
    pub sent: CapTime,
    pub status: Status,
    pub msg_type: MsgType,
    #[serde(default)]
    pub source: Option<String>,
    pub scope: Scope,
    #[serde(default)]
    pub restriction: Option<String>,
    #[serde(default)]
    pub addresses: Option<String>,
    #[serde(default)]
    pub codes: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub references: Vec<Reference>,
    #[serde(default)]
    pub incidents: Option<String>,
    pub infos: Vec<Info>,
}

/// What is wrong and where: `path` names the element (`alert/info[1]/area[2]/polygon[1]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct CapError {
    pub path: String,
    pub reason: String,
}

impl CapError {
    fn at(path: impl Into<String>, reason: impl Into<String>) -> CapError {
        CapError { path: path.into(), reason: reason.into() }
    }
}

/// CAP 1.2 §3.2.1: identifiers and senders must not include spaces, commas or the
/// XML-restricted characters `<` and `&`.
fn check_token(path: &str, text: &str) -> Result<(), CapError> {
    if text.is_empty() {
        return Err(CapError::at(path, "must not be empty"));
    }
    if let Some(bad) = text.chars().find(|c| c.is_whitespace() || matches!(c, ',' | '<' | '&')) {
        return Err(CapError::at(path, format!("must not contain {bad:?} (CAP 1.2 §3.2.1)")));
    }
    check_text(path, text)
}

/// Text that can stand in an XML 1.0 document (its `Char` production): no C0 control
/// characters but tab, line feed and carriage return, and not the noncharacters U+FFFE and
/// U+FFFF, which would make the alert, and every feed listing it, not well-formed. DEL and
/// the C1 controls are allowed, as XML 1.0 allows them, so a partner's valid alert is read.
fn check_text(path: &str, text: &str) -> Result<(), CapError> {
    let forbidden =
        |c: &char| (*c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}');
    match text.chars().find(forbidden) {
        Some(bad) => {
            Err(CapError::at(path, format!("contains the character {bad:?}, which XML does not allow")))
        }
        None => Ok(()),
    }
}

/// `web` is `xs:anyURI` and §3.2.2 a full absolute URI: a scheme and no spaces.
fn check_uri(path: &str, text: &str) -> Result<(), CapError> {
    let scheme = text.split_once(':').map(|(scheme, _)| scheme).unwrap_or_default();
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok || text.chars().any(char::is_whitespace) {
        return Err(CapError::at(path, format!("{text:?} is not an absolute URI")));
    }
    Ok(())
}

/// `xs:language` (RFC 3066 shape): letters, then `-`-separated letter/digit subtags.
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    first_ok && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

impl Alert {
    /// The `info` to show someone who reads `languages` (best first): the first language an
    /// `info` is written in, compared by primary subtag ("ar-SY" reads an "ar" block, "en"
    /// an "en-GB" one); else the alert's first `info`, as CAP orders them.
    pub fn info_for<S: AsRef<str>>(&self, languages: &[S]) -> Option<&Info> {
        self.info_index_for(languages).and_then(|index| self.infos.get(index))
    }

    /// The position of [`Alert::info_for`]'s `info` among the alert's.
    pub fn info_index_for<S: AsRef<str>>(&self, languages: &[S]) -> Option<usize> {
        languages
            .iter()
            .find_map(|wanted| {
                self.infos.iter().position(|info| same_language(&info.language, wanted.as_ref()))
            })
            .or_else(|| (!self.infos.is_empty()).then_some(0))
    }

    /// Checks the rules of the CAP 1.2 specification that the XML schema cannot.
    pub fn validate(&self) -> Result<(), CapError> {
        check_token("alert/identifier", &self.identifier)?;
        check_token("alert/sender", &self.sender)?;
        for (path, text) in [
            ("alert/source", &self.source),
            ("alert/restriction", &self.restriction),
            ("alert/addresses", &self.addresses),
            ("alert/note", &self.note),
            ("alert/incidents", &self.incidents),
        ] {
            if let Some(text) = text {
                check_text(path, text)?;
            }
        }
        if self.scope == Scope::Restricted && self.restriction.as_deref().is_none_or(str::is_empty) {
            return Err(CapError::at("alert/restriction", "required when scope is Restricted"));
        }
        if self.scope == Scope::Private && self.addresses.as_deref().is_none_or(str::is_empty) {
            return Err(CapError::at("alert/addresses", "required when scope is Private"));
        }
        if matches!(self.msg_type, MsgType::Update | MsgType::Cancel) && self.references.is_empty() {
            return Err(CapError::at(
                "alert/references",
                "an Update or Cancel must reference the alert it replaces",
            ));
        }
        for (i, reference) in self.references.iter().enumerate() {
            let path = format!("alert/references[{}]", i + 1);
            check_token(&path, &reference.sender)?;
            check_token(&path, &reference.identifier)?;
        }
        for (i, info) in self.infos.iter().enumerate() {
            info.validate(&format!("alert/info[{}]", i + 1))?;
        }
        Ok(())
    }

    /// The CAP 1.2 XML document.
    pub fn to_xml(&self) -> String {
        let mut out = Xml::new();
        out.declaration();
        out.open_with_namespace("alert", NAMESPACE);
        out.leaf("identifier", &self.identifier);
        out.leaf("sender", &self.sender);
        out.leaf("sent", &self.sent.to_string());
        out.leaf("status", self.status.as_str());
        out.leaf("msgType", self.msg_type.as_str());
        out.optional("source", &self.source);
        out.leaf("scope", self.scope.as_str());
        out.optional("restriction", &self.restriction);
        out.optional("addresses", &self.addresses);
        for code in &self.codes {
            out.leaf("code", code);
        }
        out.optional("note", &self.note);
        if !self.references.is_empty() {
            let references: Vec<String> = self.references.iter().map(Reference::to_string).collect();
            out.leaf("references", &references.join(" "));
        }
        out.optional("incidents", &self.incidents);
        for info in &self.infos {
            info.write(&mut out);
        }
        out.close("alert");
        out.finish()
    }

    /// Reads a CAP 1.2 alert, applying the schema's structure and the specification's rules.
    pub fn from_xml(xml: &str) -> Result<Alert, CapError> {
        crate::bounded::check(xml, crate::bounded::PARTNER_DOCUMENT)
            .map_err(|why| CapError::at("document", why))?;
        let options = roxmltree::ParsingOptions { allow_dtd: false, ..Default::default() };
        let document = roxmltree::Document::parse_with_options(xml, options)
            .map_err(|error| CapError::at("document", format!("not well-formed XML: {error}")))?;
        let root = document.root_element();
        if root.tag_name().name() != "alert" || root.tag_name().namespace() != Some(NAMESPACE) {
            return Err(CapError::at(
                "document",
                format!("the root element must be <alert> in the namespace {NAMESPACE}"),
            ));
        }
        let alert = read_alert(root)?;
        alert.validate()?;
        Ok(alert)
    }

    /// The latest `expires` over all infos; `None` when any info never expires.
    pub fn expires(&self) -> Option<CapTime> {
        self.infos.iter().map(|info| info.expires).collect::<Option<Vec<_>>>()?.into_iter().max()
    }

    /// Every area of every info, for targeting.
    pub fn areas(&self) -> Vec<Area> {
        self.infos.iter().flat_map(|info| info.areas.iter().map(|a| a.area.clone())).collect()
    }
}

impl Info {
    fn validate(&self, path: &str) -> Result<(), CapError> {
        if !is_language_tag(&self.language) {
            return Err(CapError::at(
                format!("{path}/language"),
                format!("{:?} is not a language tag like en-GB or ar", self.language),
            ));
        }
        if self.categories.is_empty() {
            return Err(CapError::at(format!("{path}/category"), "at least one category is required"));
        }
        if self.event.trim().is_empty() {
            return Err(CapError::at(format!("{path}/event"), "must not be empty"));
        }
        if let Some(web) = &self.web {
            check_uri(&format!("{path}/web"), web)?;
        }
        for (kind, values) in [("eventCode", &self.event_codes), ("parameter", &self.parameters)] {
            for value in values.iter() {
                check_text(&format!("{path}/{kind}"), &value.name)?;
                check_text(&format!("{path}/{kind}"), &value.value)?;
            }
        }
        for (name, text) in [
            ("event", Some(&self.event)),
            ("audience", self.audience.as_ref()),
            ("senderName", self.sender_name.as_ref()),
            ("headline", self.headline.as_ref()),
            ("description", self.description.as_ref()),
            ("instruction", self.instruction.as_ref()),
            ("web", self.web.as_ref()),
            ("contact", self.contact.as_ref()),
        ] {
            if let Some(text) = text {
                check_text(&format!("{path}/{name}"), text)?;
            }
        }
        if let (Some(onset), Some(expires)) = (self.onset, self.expires) {
            if expires.millis < onset.millis {
                return Err(CapError::at(format!("{path}/expires"), "must not be before onset"));
            }
        }
        for (i, area) in self.areas.iter().enumerate() {
            let area_path = format!("{path}/area[{}]", i + 1);
            if area.area.description.trim().is_empty() {
                return Err(CapError::at(format!("{area_path}/areaDesc"), "must not be empty"));
            }
            check_text(&format!("{area_path}/areaDesc"), &area.area.description)?;
            for geocode in &area.geocodes {
                check_text(&format!("{area_path}/geocode"), &geocode.name)?;
                check_text(&format!("{area_path}/geocode"), &geocode.value)?;
            }
            if area.ceiling.is_some() && area.altitude.is_none() {
                return Err(CapError::at(format!("{area_path}/ceiling"), "needs an altitude (§3.3.2)"));
            }
            for (name, value) in [("altitude", area.altitude), ("ceiling", area.ceiling)] {
                if value.is_some_and(|v| !v.is_finite()) {
                    return Err(CapError::at(format!("{area_path}/{name}"), "must be a finite number"));
                }
            }
        }
        Ok(())
    }

    fn write(&self, out: &mut Xml) {
        out.open("info");
        out.leaf("language", &self.language);
        for category in &self.categories {
            out.leaf("category", category.as_str());
        }
        out.leaf("event", &self.event);
        for response in &self.response_types {
            out.leaf("responseType", response.as_str());
        }
        out.leaf("urgency", self.urgency.as_str());
        out.leaf("severity", self.severity.as_str());
        out.leaf("certainty", self.certainty.as_str());
        out.optional("audience", &self.audience);
        out.named_values("eventCode", &self.event_codes);
        for (name, time) in [("effective", self.effective), ("onset", self.onset), ("expires", self.expires)]
        {
            if let Some(time) = time {
                out.leaf(name, &time.to_string());
            }
        }
        out.optional("senderName", &self.sender_name);
        out.optional("headline", &self.headline);
        out.optional("description", &self.description);
        out.optional("instruction", &self.instruction);
        out.optional("web", &self.web);
        out.optional("contact", &self.contact);
        out.named_values("parameter", &self.parameters);
        for area in &self.areas {
            out.open("area");
            out.leaf("areaDesc", &area.area.description);
            for polygon in &area.area.polygons {
                out.leaf("polygon", &polygon.to_string());
            }
            for circle in &area.area.circles {
                out.leaf("circle", &circle.to_string());
            }
            out.named_values("geocode", &area.geocodes);
            for (name, value) in [("altitude", area.altitude), ("ceiling", area.ceiling)] {
                if let Some(value) = value {
                    out.leaf(name, &value.to_string());
                }
            }
            out.close("area");
        }
        out.close("info");
    }
}

/// A small indenting XML writer over quick-xml, which does the escaping.
struct Xml {
    writer: quick_xml::Writer<Vec<u8>>,
}

impl Xml {
    fn new() -> Xml {
        Xml { writer: quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2) }
    }

    fn emit(&mut self, event: quick_xml::events::Event<'_>) {
        // Writing into a Vec cannot fail.
        let _ = self.writer.write_event(event);
    }

    fn declaration(&mut self) {
        use quick_xml::events::{BytesDecl, Event};
        self.emit(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    }

    fn open_with_namespace(&mut self, name: &str, namespace: &str) {
        use quick_xml::events::{BytesStart, Event};
        self.emit(Event::Start(BytesStart::new(name).with_attributes([("xmlns", namespace)])));
    }

    fn open(&mut self, name: &str) {
        use quick_xml::events::{BytesStart, Event};
        self.emit(Event::Start(BytesStart::new(name)));
    }

    fn close(&mut self, name: &str) {
        use quick_xml::events::{BytesEnd, Event};
        self.emit(Event::End(BytesEnd::new(name)));
    }

    fn leaf(&mut self, name: &str, text: &str) {
        use quick_xml::events::{BytesText, Event};
        self.open(name);
        self.emit(Event::Text(BytesText::new(text)));
        self.close(name);
    }

    fn optional(&mut self, name: &str, text: &Option<String>) {
        if let Some(text) = text {
            self.leaf(name, text);
        }
    }

    fn named_values(&mut self, name: &str, pairs: &[NamedValue]) {
        for pair in pairs {
            self.open(name);
            self.leaf("valueName", &pair.name);
            self.leaf("value", &pair.value);
            self.close(name);
        }
    }

    fn finish(self) -> String {
        let mut bytes = self.writer.into_inner();
        bytes.push(b'\n');
        String::from_utf8(bytes).unwrap_or_default()
    }
}

/// How often an element may appear at its place in a schema sequence.
#[derive(Clone, Copy, PartialEq)]
enum Occurs {
    One,
    Optional,
    Many,
    OneOrMore,
}

/// Checks an element's children against a schema `<sequence>` (order and cardinality, no
/// unknown elements) and hands back the children grouped by name.
struct Sequence<'a, 'input> {
    path: String,
    groups: Vec<(&'static str, Vec<roxmltree::Node<'a, 'input>>)>,
}

impl<'a, 'input> Sequence<'a, 'input> {
    fn read(
        node: roxmltree::Node<'a, 'input>,
        path: &str,
        schema: &[(&'static str, Occurs)],
    ) -> Result<Sequence<'a, 'input>, CapError> {
        Sequence::read_with_trailing(node, path, schema, None)
    }

    /// Reads the sequence `schema`; with `trailing`, any number of elements of that
    /// namespace may follow it (the XSD's `<any namespace=… processContents="lax"/>`), and
    /// are kept under the name `"#trailing"` without being read.
    fn read_with_trailing(
        node: roxmltree::Node<'a, 'input>,
        path: &str,
        schema: &[(&'static str, Occurs)],
        trailing: Option<&str>,
    ) -> Result<Sequence<'a, 'input>, CapError> {
        let mut groups: Vec<(&'static str, Vec<roxmltree::Node<'a, 'input>>)> =
            schema.iter().map(|(name, _)| (*name, Vec::new())).collect();
        let mut foreign = Vec::new();
        let mut cursor = 0;
        for child in node.children() {
            if child.is_text() && child.text().is_some_and(|t| t.trim().is_empty())
                || child.is_comment()
                || child.is_pi()
            {
                continue;
            }
            if !child.is_element() {
                return Err(CapError::at(path, "text is not allowed between elements here"));
            }
            let name = child.tag_name().name();
            if trailing.is_some() && child.tag_name().namespace() == trailing {
                foreign.push(child);
                continue;
            }
            if !foreign.is_empty() {
                return Err(CapError::at(
                    format!("{path}/{name}"),
                    "is out of order: CAP elements come before the signature",
                ));
            }
            if child.tag_name().namespace() != Some(NAMESPACE) {
                return Err(CapError::at(
                    format!("{path}/{name}"),
                    format!("is not in the CAP 1.2 namespace {NAMESPACE}"),
                ));
            }
            let Some(position) = schema.iter().position(|(expected, _)| *expected == name) else {
                return Err(CapError::at(format!("{path}/{name}"), "is not a CAP 1.2 element at this place"));
            };
            if position < cursor {
                return Err(CapError::at(
                    format!("{path}/{name}"),
                    format!("is out of order: it must come before <{}>", schema[cursor].0),
                ));
            }
            cursor = position;
            let group = &mut groups[position].1;
            if matches!(schema[position].1, Occurs::One | Occurs::Optional) && !group.is_empty() {
                return Err(CapError::at(format!("{path}/{name}"), "may appear only once"));
            }
            group.push(child);
        }
        for ((name, occurs), (_, found)) in schema.iter().zip(&groups) {
            if matches!(occurs, Occurs::One | Occurs::OneOrMore) && found.is_empty() {
                return Err(CapError::at(format!("{path}/{name}"), "is required but missing"));
            }
        }
        groups.push(("#trailing", foreign));
        Ok(Sequence { path: path.to_owned(), groups })
    }

    fn nodes(&self, name: &str) -> &[roxmltree::Node<'a, 'input>] {
        self.groups.iter().find(|(n, _)| *n == name).map_or(&[], |(_, nodes)| nodes.as_slice())
    }

    /// The element's text, checked to be text only.
    fn text_of(&self, node: roxmltree::Node<'_, '_>, label: &str) -> Result<String, CapError> {
        if node.children().any(|child| child.is_element()) {
            return Err(CapError::at(format!("{}/{label}", self.path), "must contain text, not elements"));
        }
        Ok(node.text().unwrap_or("").to_owned())
    }

    fn text(&self, name: &str) -> Result<Option<String>, CapError> {
        self.nodes(name).first().map(|node| self.text_of(*node, name)).transpose()
    }

    fn required(&self, name: &str) -> Result<String, CapError> {
        Ok(self.text(name)?.unwrap_or_default())
    }

    fn texts(&self, name: &str) -> Result<Vec<(String, String)>, CapError> {
        self.nodes(name)
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let label = format!("{name}[{}]", i + 1);
                self.text_of(*node, &label).map(|text| (label, text))
            })
            .collect()
    }

    fn parse<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<Option<T>, CapError> {
        self.text(name)?
            .map(|text| {
                parse(text.trim()).ok_or_else(|| {
                    CapError::at(
                        format!("{}/{name}", self.path),
                        format!("{:?} is not {expected}", text.trim()),
                    )
                })
            })
            .transpose()
    }

    fn parse_required<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<T, CapError> {
        self.parse(name, parse, expected)?
            .ok_or_else(|| CapError::at(format!("{}/{name}", self.path), "is required but missing"))
    }

    fn parse_all<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<Vec<T>, CapError> {
        self.texts(name)?
            .into_iter()
            .map(|(label, text)| {
                parse(text.trim()).ok_or_else(|| {
                    CapError::at(
                        format!("{}/{label}", self.path),
                        format!("{:?} is not {expected}", text.trim()),
                    )
                })
            })
            .collect()
    }

    fn named_values(&self, name: &str) -> Result<Vec<NamedValue>, CapError> {
        const PAIR: &[(&str, Occurs)] = &[("valueName", Occurs::One), ("value", Occurs::One)];
        self.nodes(name)
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let pair = Sequence::read(*node, &format!("{}/{name}[{}]", self.path, i + 1), PAIR)?;
                Ok(NamedValue { name: pair.required("valueName")?, value: pair.required("value")? })
            })
            .collect()
    }

    fn geo<T>(&self, name: &str, parse: impl Fn(&str) -> Result<T, GeoError>) -> Result<Vec<T>, CapError> {
        self.texts(name)?
            .into_iter()
            .map(|(label, text)| {
                parse(&text)
                    .map_err(|error| CapError::at(format!("{}/{label}", self.path), error.to_string()))
            })
            .collect()
    }
}

const TIME: &str =
    "a CAP time with an offset, like 2026-11-26T09:30:00-00:00 (UTC is -00:00, never +00:00 or Z)";

fn parse_decimal(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

fn read_alert(node: roxmltree::Node<'_, '_>) -> Result<Alert, CapError> {
    use Occurs::*;
    const ALERT: &[(&str, Occurs)] = &[
        ("identifier", One),
        ("sender", One),
        ("sent", One),
        ("status", One),
        ("msgType", One),
        ("source", Optional),
        ("scope", One),
        ("restriction", Optional),
        ("addresses", Optional),
        ("code", Many),
        ("note", Optional),
        ("references", Optional),
        ("incidents", Optional),
        ("info", Many),
    ];
    let alert = Sequence::read_with_trailing(node, "alert", ALERT, Some(XMLDSIG))?;
    let references = match alert.text("references")? {
        None => Vec::new(),
        Some(text) => read_references(&text)?,
    };
    let infos = alert
        .nodes("info")
        .iter()
        .enumerate()
        .map(|(i, info)| read_info(*info, &format!("alert/info[{}]", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Alert {
        identifier: alert.required("identifier")?,
        sender: alert.required("sender")?,
        sent: alert.parse_required("sent", CapTime::parse, TIME)?,
        status: alert.parse_required("status", Status::parse, "Actual, Exercise, System, Test or Draft")?,
        msg_type: alert.parse_required("msgType", MsgType::parse, "Alert, Update, Cancel, Ack or Error")?,
        source: alert.text("source")?,
        scope: alert.parse_required("scope", Scope::parse, "Public, Restricted or Private")?,
        restriction: alert.text("restriction")?,
        addresses: alert.text("addresses")?,
        codes: alert.texts("code")?.into_iter().map(|(_, text)| text).collect(),
        note: alert.text("note")?,
        references,
        incidents: alert.text("incidents")?,
        infos,
    })
}

fn read_references(text: &str) -> Result<Vec<Reference>, CapError> {
    text.split_whitespace()
        .map(|triple| {
            let parts: Vec<&str> = triple.split(',').collect();
            let [sender, identifier, sent] = parts.as_slice() else {
                return Err(CapError::at(
                    "alert/references",
                    format!("{triple:?} is not a sender,identifier,sent triple"),
                ));
            };
            let sent = CapTime::parse(sent).ok_or_else(|| {
                CapError::at("alert/references", format!("{sent:?} in {triple:?} is not {TIME}"))
            })?;
            Ok(Reference { sender: (*sender).to_owned(), identifier: (*identifier).to_owned(), sent })
        })
        .collect()
}

fn read_info(node: roxmltree::Node<'_, '_>, path: &str) -> Result<Info, CapError> {
    use Occurs::*;
    const INFO: &[(&str, Occurs)] = &[
        ("language", Optional),
        ("category", OneOrMore),
        ("event", One),
        ("responseType", Many),
        ("urgency", One),
        ("severity", One),
        ("certainty", One),
        ("audience", Optional),
        ("eventCode", Many),
        ("effective", Optional),
        ("onset", Optional),
        ("expires", Optional),
        ("senderName", Optional),
        ("headline", Optional),
        ("description", Optional),
        ("instruction", Optional),
        ("web", Optional),
        ("contact", Optional),
        ("parameter", Many),
        ("resource", Many),
        ("area", Many),
    ];
    const AREA: &[(&str, Occurs)] = &[
        ("areaDesc", One),
        ("polygon", Many),
        ("circle", Many),
        ("geocode", Many),
        ("altitude", Optional),
        ("ceiling", Optional),
    ];
    const RESOURCE: &[(&str, Occurs)] = &[
        ("resourceDesc", One),
        ("mimeType", One),
        ("size", Optional),
        ("uri", Optional),
        ("derefUri", Optional),
        ("digest", Optional),
    ];
    let info = Sequence::read(node, path, INFO)?;
    // Resources are checked, not modelled: what an alert points to stays in its document.
    for (i, resource_node) in info.nodes("resource").iter().enumerate() {
        let resource = Sequence::read(*resource_node, &format!("{path}/resource[{}]", i + 1), RESOURCE)?;
        for name in ["resourceDesc", "mimeType"] {
            if resource.required(name)?.trim().is_empty() {
                return Err(CapError::at(format!("{}/{name}", resource.path), "must not be empty"));
            }
        }
        resource.parse("size", |text| text.trim().parse::<u64>().ok(), "a whole number of bytes")?;
    }
    let areas = info
        .nodes("area")
        .iter()
        .enumerate()
        .map(|(i, area_node)| {
            let area = Sequence::read(*area_node, &format!("{path}/area[{}]", i + 1), AREA)?;
            Ok(CapArea {
                area: Area {
                    description: area.required("areaDesc")?,
                    polygons: area.geo("polygon", Polygon::parse_cap)?,
                    circles: area.geo("circle", Circle::parse_cap)?,
                },
                geocodes: area.named_values("geocode")?,
                altitude: area.parse("altitude", parse_decimal, "a decimal number")?,
                ceiling: area.parse("ceiling", parse_decimal, "a decimal number")?,
            })
        })
        .collect::<Result<Vec<_>, CapError>>()?;
    Ok(Info {
        language: info.text("language")?.map_or_else(|| "en-US".to_owned(), |l| l.trim().to_owned()),
        categories: info.parse_all(
            "category",
            Category::parse,
            "a CAP category such as Safety or Security",
        )?,
        event: info.required("event")?,
        response_types: info.parse_all(
            "responseType",
            ResponseType::parse,
            "a CAP response type such as Evacuate",
        )?,
        urgency: info.parse_required(
            "urgency",
            Urgency::parse,
            "Immediate, Expected, Future, Past or Unknown",
        )?,
        severity: info.parse_required(
            "severity",
            Severity::parse,
            "Extreme, Severe, Moderate, Minor or Unknown",
        )?,
        certainty: info.parse_required(
            "certainty",
            Certainty::parse,
            "Observed, Likely, Possible, Unlikely or Unknown",
        )?,
        audience: info.text("audience")?,
        event_codes: info.named_values("eventCode")?,
        effective: info.parse("effective", CapTime::parse, TIME)?,
        onset: info.parse("onset", CapTime::parse, TIME)?,
        expires: info.parse("expires", CapTime::parse, TIME)?,
        sender_name: info.text("senderName")?,
        headline: info.text("headline")?,
        description: info.text("description")?,
        instruction: info.text("instruction")?,
        web: info.text("web")?,
        contact: info.text("contact")?,
        parameters: info.named_values("parameter")?,
        areas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::LatLon;

    /// An alert with every optional part Tearline writes: two languages, two areas, a
    /// polygon and a circle, codes, parameters and geocodes.
    pub fn full_alert() -> Alert {
        let area = |description: &str| CapArea {
            area: Area {
                description: description.into(),
                polygons: vec![
                    Polygon::parse_cap("33.50,36.20 33.55,36.30 33.45,36.35 33.50,36.20").expect("valid")
                ],
                circles: vec![Circle::new(LatLon { lat: 33.51, lon: 36.28 }, 2.5).expect("valid")],
            },
            geocodes: vec![NamedValue { name: "district".into(), value: "North Quarter".into() }],
            altitude: None,
            ceiling: None,
        };
        let info = |language: &str, headline: &str| Info {
            language: language.into(),
            categories: vec![Category::Security, Category::Safety],
            event: "Threat to public gathering".into(),
            response_types: vec![ResponseType::Evacuate, ResponseType::Avoid],
            urgency: Urgency::Immediate,
            severity: Severity::Severe,
            certainty: Certainty::Likely,
            audience: Some("Residents and visitors".into()),
            event_codes: vec![NamedValue { name: "tearline".into(), value: "security-threat".into() }],
            effective: Some(CapTime::utc(1_790_000_000_000)),
            onset: Some(CapTime { millis: 1_790_000_600_000, offset_minutes: 180 }),
            expires: Some(CapTime { millis: 1_790_007_200_000, offset_minutes: -300 }),
            sender_name: Some("Tearline Early Warning".into()),
            headline: Some(headline.into()),
            description: Some("Credible threat <reported> & assessed".into()),
            instruction: Some("Leave the area by the east road.".into()),
            web: Some("https://warnings.example.org/a/1".into()),
            contact: Some("+00 000 000".into()),
            parameters: vec![NamedValue { name: "threat".into(), value: "12".into() }],
            areas: vec![area("Market square"), area("Bus station")],
        };
        Alert {
            identifier: "tearline-1-2".into(),
            sender: "warnings@tearline.example".into(),
            sent: CapTime::utc(1_790_000_000_000),
            status: Status::Exercise,
            msg_type: MsgType::Update,
            source: Some("Tearline".into()),
            scope: Scope::Public,
            restriction: None,
            addresses: None,
            codes: vec!["IPAWSv1.0".into()],
            note: Some("Exercise".into()),
            references: vec![Reference {
                sender: "warnings@tearline.example".into(),
                identifier: "tearline-1-1".into(),
                sent: CapTime::utc(1_789_999_000_000),
            }],
            incidents: Some("incident-7".into()),
            infos: vec![info("en-GB", "Leave the market now"), info("ar", "غادروا السوق الآن")],
        }
    }

    #[test]
    fn times_are_written_with_an_offset_and_utc_as_minus_zero() {
        assert_eq!(CapTime::utc(1_790_000_000_123).to_string(), "2026-09-21T14:13:20-00:00");
        let local = CapTime { millis: 1_790_000_000_000, offset_minutes: 330 };
        assert_eq!(local.to_string(), "2026-09-21T19:43:20+05:30");
        assert_eq!(CapTime::parse("2026-09-21T19:43:20+05:30"), Some(local));
        assert_eq!(CapTime::parse("2026-09-21T14:13:20-00:00"), Some(CapTime::utc(1_790_000_000_000)));
        for bad in [
            "2026-09-21T14:13:20Z",
            "2026-09-21T14:13:20",
            "2026-09-21T14:13:20.5-00:00",
            "2026-13-21T14:13:20-00:00",
            "",
        ] {
            assert_eq!(CapTime::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_alert_reads_back_exactly_as_written() {
        let alert = full_alert();
        alert.validate().expect("valid");
        let xml = alert.to_xml();
        assert!(xml.contains("<polygon>33.5,36.2 33.55,36.3 33.45,36.35 33.5,36.2</polygon>"), "{xml}");
        assert!(xml.contains("<circle>33.51,36.28 2.5</circle>"));
        assert!(xml.contains(
            "<references>warnings@tearline.example,tearline-1-1,2026-09-21T13:56:40-00:00</references>"
        ));
        assert!(xml.contains("Credible threat &lt;reported&gt; &amp; assessed"));
        assert_eq!(Alert::from_xml(&xml), Ok(alert));
    }

    #[test]
    fn spec_rules_the_schema_cannot_check_are_enforced() {
        let mut alert = full_alert();
        alert.identifier = "has space".into();
        assert_eq!(alert.validate().map_err(|e| e.path), Err("alert/identifier".into()));

        let mut alert = full_alert();
        alert.references.clear();
        assert_eq!(alert.validate().map_err(|e| e.path), Err("alert/references".into()));

        let mut alert = full_alert();
        alert.scope = Scope::Restricted;
        assert_eq!(alert.validate().map_err(|e| e.path), Err("alert/restriction".into()));

        let mut alert = full_alert();
        alert.infos[1].categories.clear();
        assert_eq!(alert.validate().map_err(|e| e.path), Err("alert/info[2]/category".into()));

        let mut alert = full_alert();
        alert.infos[0].headline = Some("bell\u{7}".into());
        assert_eq!(alert.validate().map_err(|e| e.path), Err("alert/info[1]/headline".into()));
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            /// Arbitrary text is refused with an error, never a panic.
            #[test]
            fn on_arbitrary_text(text in "\\PC{0,400}") {
                let _ = Alert::from_xml(&text);
            }

            /// A valid alert with a slice cut out, or a run of bytes overwritten, is read or
            /// refused, never a panic; what reads back still validates and writes again.
            #[test]
            fn on_damaged_alerts(start in 0usize..4000, length in 0usize..200, junk in "\\PC{0,20}") {
                let xml = full_alert().to_xml();
                let start = start.min(xml.len());
                let end = (start + length).min(xml.len());
                if xml.is_char_boundary(start) && xml.is_char_boundary(end) {
                    let damaged = format!("{}{}{}", &xml[..start], junk, &xml[end..]);
                    if let Ok(alert) = Alert::from_xml(&damaged) {
                        prop_assert!(alert.validate().is_ok());
                        prop_assert_eq!(Alert::from_xml(&alert.to_xml()), Ok(alert));
                    }
                }
            }
        }
    }

    /// An enveloped XML Signature's shape (its values need not verify to be read).
    const SIGNATURE: &str = "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><SignedInfo>\
        <CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
        <SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
        <Reference URI=\"\"><Transforms><Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
        </Transforms><DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><DigestValue>AA==</DigestValue>\
        </Reference></SignedInfo><SignatureValue>AA==</SignatureValue></Signature>";

    fn resource(inner: &str) -> String {
        format!("<resource>{inner}</resource><area>")
    }

    /// What the XSD and §3 allow is read: an enveloped signature after the last info (kept in
    /// the document, verified against the sender's registered keys by `xmldsig`), resources with their required parts, a time with
    /// a real offset.
    #[test]
    fn what_the_standard_allows_is_read() {
        let good = full_alert().to_xml();
        let signed = good.replacen("</alert>", &format!("{SIGNATURE}</alert>"), 1);
        assert_eq!(Alert::from_xml(&signed), Ok(full_alert()));
        assert_eq!(crate::xmldsig::check(&signed, &[]), crate::xmldsig::Signature::Signed);
        assert_eq!(crate::xmldsig::check(&good, &[]), crate::xmldsig::Signature::Unsigned);
        let with_resource = good.replacen(
            "<area>",
            &resource(
                "<resourceDesc>Evacuation map</resourceDesc><mimeType>image/png</mimeType>\
                 <size>12034</size><uri>map.png</uri><derefUri>iVBORw0KGgo=</derefUri><digest>ab12</digest>",
            ),
            1,
        );
        assert_eq!(Alert::from_xml(&with_resource), Ok(full_alert()));
        let eastern = good.replacen("-00:00</sent>", "+03:00</sent>", 1);
        assert!(Alert::from_xml(&eastern).is_ok());
        // XML 1.0 allows DEL and the C1 controls (it only discourages them).
        let c1 = good.replacen("<headline>", "<headline>\u{85}\u{7f}", 1);
        assert!(Alert::from_xml(&c1).is_ok(), "{:?}", Alert::from_xml(&c1));
    }

    fn rejected(xml: &str) -> CapError {
        Alert::from_xml(xml).expect_err("must be rejected")
    }

    #[test]
    fn malformed_alerts_are_rejected_naming_the_element_and_reason() {
        let good = full_alert().to_xml();
        let cases: Vec<(String, &str, &str)> = vec![
            (
                good.replacen("<polygon>33.5,36.2 ", "<polygon>", 1),
                "alert/info[1]/area[1]/polygon[1]",
                "at least 4 points",
            ),
            (
                good.replacen("<status>Exercise</status>", "<status>Real</status>", 1),
                "alert/status",
                "\"Real\" is not Actual",
            ),
            (good.replacen("-00:00</sent>", "Z</sent>", 1), "alert/sent", "is not a CAP time"),
            (good.replacen("<sender>warnings@tearline.example</sender>", "", 1), "alert/sender", "required"),
            (
                good.replacen("<msgType>Update</msgType>", "", 1).replacen(
                    "<status>",
                    "<msgType>Update</msgType><status>",
                    1,
                ),
                "alert/status",
                "out of order",
            ),
            (
                good.replacen("<note>", "<colour>red</colour><note>", 1),
                "alert/colour",
                "not a CAP 1.2 element",
            ),
            (
                good.replacen("<circle>33.51,36.28 2.5</circle>", "<circle>33.51,36.28</circle>", 1),
                "alert/info[1]/area[1]/circle[1]",
                "not a circle",
            ),
            (
                good.replacen("<references>warnings@tearline.example,", "<references>", 1),
                "alert/references",
                "triple",
            ),
            (
                good.replacen(
                    "urn:oasis:names:tc:emergency:cap:1.2",
                    "urn:oasis:names:tc:emergency:cap:1.1",
                    1,
                ),
                "document",
                "namespace",
            ),
            (good.replacen("</alert>", "", 1), "document", "not well-formed"),
            ("<!DOCTYPE a [<!ENTITY x \"y\">]><alert/>".into(), "document", "not well-formed"),
            (
                good.replacen("<language>en-GB</language>", "<language>en GB</language>", 1),
                "alert/info[1]/language",
                "language tag",
            ),
            // §3.3.2: UTC is -00:00; +00:00 is not a CAP time.
            (good.replacen("-00:00</sent>", "+00:00</sent>", 1), "alert/sent", "never +00:00"),
            (
                good.replacen("<area>", &resource("<resourceDesc>map</resourceDesc>"), 1),
                "alert/info[1]/resource[1]/mimeType",
                "required",
            ),
            (
                good.replacen(
                    "<area>",
                    &resource(
                        "<resourceDesc>map</resourceDesc><mimeType>image/png</mimeType><size>big</size>",
                    ),
                    1,
                ),
                "alert/info[1]/resource[1]/size",
                "whole number",
            ),
            (good.replacen("<info>", &format!("{SIGNATURE}<info>"), 1), "alert/info", "before the signature"),
        ];
        for (xml, path, reason) in cases {
            let error = rejected(&xml);
            assert_eq!(error.path, path, "{error}");
            assert!(error.reason.contains(reason), "{error}");
        }
    }
}
