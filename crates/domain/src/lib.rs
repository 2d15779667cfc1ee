//! Tearline's domain model: roles, units, sources as the registry knows them, the audit
//! events every capability emits, and the one authorisation policy that every request goes
//! through.
//!
//! Architecture invariant: this crate does no I/O. It defines the ports ([`audit::AuditLog`])
//! that the outer crates implement, never the other way round.

pub mod audit;
pub mod policy;
pub mod role;
pub mod source;

pub use role::{Role, Seniority, Standing};

/// Identifies a user account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

/// Identifies a unit: the compartment that bounds need-to-know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UnitId(pub i64);

/// Identifies a source record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SourceId(pub i64);

/// Milliseconds since the Unix epoch, UTC. Time is passed in, never read here, so every
/// rule that depends on it is testable with an injected clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn plus_millis(self, millis: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(millis))
    }
}
