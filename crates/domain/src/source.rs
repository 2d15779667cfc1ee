//! Sources as the registry knows them: code name, pseudonymous reference, unit, and who
//! handles and controls them. The true identity is not here; it lives sealed in the vault.

use std::fmt;
use std::str::FromStr;

use rand::Rng;

use crate::{SourceId, Timestamp, UnitId, UserId};

/// Where a source stands in its relationship with the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceStatus {
    /// Being assessed; not yet authorised for use.
    Prospective,
    Active,
    Suspended,
    Closed,
}

impl SourceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Prospective => "prospective",
            SourceStatus::Active => "active",
            SourceStatus::Suspended => "suspended",
            SourceStatus::Closed => "closed",
        }
    }
}

impl fmt::Display for SourceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown source status {0:?}; expected prospective, active, suspended or closed")]
pub struct UnknownStatus(pub String);

impl FromStr for SourceStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [SourceStatus::Prospective, SourceStatus::Active, SourceStatus::Suspended, SourceStatus::Closed]
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A source record without its identity: what the registry, the policy and the UI work with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceRecord {
    pub id: SourceId,
    pub code_name: String,
    /// The only handle intelligence will ever carry: random, so it says nothing about who.
    pub reference: PseudonymousRef,
    pub unit_id: UnitId,
    pub handler_id: UserId,
    pub controller_id: UserId,
    pub status: SourceStatus,
    pub recruited_at: Timestamp,
    pub created_at: Timestamp,
}

/// The two case roles whose holders are recorded with history, as reg. 3 asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseRole {
    Handler,
    Controller,
}

impl CaseRole {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseRole::Handler => "handler",
            CaseRole::Controller => "controller",
        }
    }

    pub fn parse(s: &str) -> Option<CaseRole> {
        match s {
            "handler" => Some(CaseRole::Handler),
            "controller" => Some(CaseRole::Controller),
            _ => None,
        }
    }
}

/// Who held a case role for a source, and when. `until` is `None` while it is held.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Assignment {
    pub role: CaseRole,
    pub user_id: UserId,
    pub username: String,
    pub from: Timestamp,
    pub until: Option<Timestamp>,
}

/// A pseudonymous source reference such as `SR-7KQ4-M2XD`: 40 random bits in Crockford
/// base32, without the letters people misread.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PseudonymousRef(String);

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl PseudonymousRef {
    pub fn generate(rng: &mut impl Rng) -> PseudonymousRef {
        let mut chars = String::with_capacity(12);
        chars.push_str("SR-");
        for position in 0..8 {
            if position == 4 {
                chars.push('-');
            }
            chars.push(CROCKFORD[rng.gen_range(0..32)] as char);
        }
        PseudonymousRef(chars)
    }

    /// Accepts a stored reference; the store trusts only what this accepts.
    pub fn parse(s: &str) -> Option<PseudonymousRef> {
        let bytes = s.as_bytes();
        let well_formed = bytes.len() == 12
            && s.starts_with("SR-")
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .filter(|(i, _)| *i >= 3 && *i != 7)
                .all(|(_, b)| CROCKFORD.contains(b));
        well_formed.then(|| PseudonymousRef(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PseudonymousRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a proposed code name is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodeNameError {
    #[error("a code name must be 2 to 40 characters")]
    Length,
    #[error("a code name may hold only letters, digits, spaces and hyphens")]
    Characters,
}

/// Code names are shown everywhere above the line, so they are kept plain and short.
pub fn validate_code_name(name: &str) -> Result<&str, CodeNameError> {
    let name = name.trim();
    let length = name.chars().count();
    if !(2..=40).contains(&length) {
        return Err(CodeNameError::Length);
    }
    if !name.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-') {
        return Err(CodeNameError::Characters);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn generated_references_always_parse(seed in any::<u64>()) {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let reference = PseudonymousRef::generate(&mut rng);
            prop_assert_eq!(PseudonymousRef::parse(reference.as_str()), Some(reference));
        }

        #[test]
        fn parse_never_panics(text in ".*") {
            let _ = PseudonymousRef::parse(&text);
        }
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in ["", "SR-", "SR-ABCD-EFGI", "XX-ABCD-EFGH", "SR-ABCDEEFGH", "SR-abcd-efgh"] {
            assert_eq!(PseudonymousRef::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn code_names_are_trimmed_and_checked() {
        assert_eq!(validate_code_name("  NIGHTJAR "), Ok("NIGHTJAR"));
        assert_eq!(validate_code_name("X"), Err(CodeNameError::Length));
        assert_eq!(validate_code_name("a<script>"), Err(CodeNameError::Characters));
    }
}
