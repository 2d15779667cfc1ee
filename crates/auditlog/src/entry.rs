//! The canonical encoding of an audit event: the exact bytes that are hashed into the log.
//!
//! UTF-8 text, one field per line, in this order, each line `name: value`:
//!
//! ```text
//! tearline audit entry v1
//! at: 1795677272515
//! actor: 12
//! action: source.unseal
//! object: source:3
//! reason: preparing the next meeting
//! outcome: allowed
//! ```
//!
//! `at` is milliseconds since the Unix epoch; `actor` is a user id or `-`; `reason` is `-`
//! when absent. In values, `\` is written `\\`, a line feed `\n` and a carriage return `\r`,
//! so every field stays on its line; a reason that is literally `-` is written `\-`. The
//! encoding never changes: a new field means a new first line (`… v2`), and v1 entries stay
//! as they are.

use tearline_domain::audit::{AuditEvent, Outcome};
use tearline_domain::{Timestamp, UserId};

const HEADER: &str = "tearline audit entry v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("audit entry is not in the canonical v1 encoding: {0}")]
pub struct EntryError(pub &'static str);

fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn unescape(value: &str) -> Result<String, EntryError> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('-') => out.push('-'),
            _ => return Err(EntryError("a backslash must start \\\\, \\n, \\r or \\-")),
        }
    }
    Ok(out)
}

/// The bytes of `event` that the log hashes.
pub fn encode(event: &AuditEvent) -> Vec<u8> {
    let mut text = String::with_capacity(160);
    text.push_str(HEADER);
    text.push_str("\nat: ");
    text.push_str(&event.at.0.to_string());
    text.push_str("\nactor: ");
    match event.actor {
        Some(actor) => text.push_str(&actor.0.to_string()),
        None => text.push('-'),
    }
    text.push_str("\naction: ");
    escape(&event.action, &mut text);
    text.push_str("\nobject: ");
    escape(&event.object, &mut text);
    text.push_str("\nreason: ");
    match event.reason.as_deref() {
        None => text.push('-'),
        Some("-") => text.push_str("\\-"),
        Some(reason) => escape(reason, &mut text),
    }
    text.push_str("\noutcome: ");
    text.push_str(event.outcome.as_str());
    text.push('\n');
    text.into_bytes()
}

/// Reads an entry back. Only the exact canonical form is accepted, so `decode` and
/// [`encode`] are inverse: an entry that decodes re-encodes to the same bytes.
pub fn decode(bytes: &[u8]) -> Result<AuditEvent, EntryError> {
    let text = std::str::from_utf8(bytes).map_err(|_| EntryError("not UTF-8"))?;
    let body = text.strip_suffix('\n').ok_or(EntryError("must end with a line feed"))?;
    let mut lines = body.split('\n');
    if lines.next() != Some(HEADER) {
        return Err(EntryError("the first line must be `tearline audit entry v1`"));
    }
    let mut field = |name: &'static str| {
        lines
            .next()
            .and_then(|line| line.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix(": "))
            .ok_or(EntryError("fields must be at, actor, action, object, reason, outcome, in that order"))
    };
    let at = field("at")?.parse::<i64>().map_err(|_| EntryError("at must be an integer"))?;
    let actor = match field("actor")? {
        "-" => None,
        id => Some(UserId(id.parse().map_err(|_| EntryError("actor must be an integer or -"))?)),
    };
    let action = unescape(field("action")?)?;
    let object = unescape(field("object")?)?;
    let reason = match field("reason")? {
        "-" => None,
        reason => Some(unescape(reason)?),
    };
    let outcome = Outcome::parse(field("outcome")?).ok_or(EntryError("unknown outcome"))?;
    if lines.next().is_some() {
        return Err(EntryError("unexpected line after outcome"));
    }
    let event = AuditEvent { at: Timestamp(at), actor, action, object, reason, outcome };
    if encode(&event) != bytes {
        return Err(EntryError("not in canonical form"));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event(reason: Option<&str>) -> AuditEvent {
        AuditEvent {
            at: Timestamp(1_795_677_272_515),
            actor: Some(UserId(12)),
            action: "source.unseal".into(),
            object: "source:3".into(),
            reason: reason.map(str::to_owned),
            outcome: Outcome::Allowed,
        }
    }

    #[test]
    fn the_documented_example_is_byte_exact() {
        let expected = "tearline audit entry v1\nat: 1795677272515\nactor: 12\naction: source.unseal\nobject: source:3\nreason: preparing the next meeting\noutcome: allowed\n";
        assert_eq!(String::from_utf8(encode(&event(Some("preparing the next meeting")))).unwrap(), expected);
    }

    #[test]
    fn awkward_reasons_survive_the_round_trip() {
        for reason in
            [None, Some("-"), Some("line one\nline two\\ and \\n"), Some("\r\n"), Some(""), Some("سبب")]
        {
            let original = event(reason);
            assert_eq!(decode(&encode(&original)), Ok(original));
        }
    }

    #[test]
    fn non_canonical_bytes_are_refused() {
        let good = encode(&event(None));
        let text = String::from_utf8(good).unwrap();
        for bad in [
            text.replace("v1", "v2"),
            text.replace("actor: 12", "actor: 012"),
            text.trim_end().to_owned(),
            text.replace("outcome: allowed", "outcome: maybe"),
            format!("{text}extra\n"),
            text.replace("at: ", "at:"),
        ] {
            assert!(decode(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn every_event_round_trips(action in ".*", object in ".*", reason in proptest::option::of(".*"), at in any::<i64>(), actor in proptest::option::of(any::<i64>())) {
            let original = AuditEvent { at: Timestamp(at), actor: actor.map(UserId), action, object, reason, outcome: Outcome::Denied };
            prop_assert_eq!(decode(&encode(&original)), Ok(original));
        }
    }
}
