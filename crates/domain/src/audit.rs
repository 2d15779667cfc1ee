//! The audit trail's port: what every capability records, and the narrow interface it is
//! recorded through. The storage behind it is replaceable (the verifiable Merkle log takes
//! it over) without any caller changing.

use crate::{Timestamp, UserId};

/// How an audited attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Allowed,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "allowed" => Some(Outcome::Allowed),
            "denied" => Some(Outcome::Denied),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}

/// One thing that happened: who did what to which object, why, and how it ended.
///
/// `object` names a record by its internal id (`source:12`), never by anything that could
/// identify a source; `reason` is what the actor stated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEvent {
    pub at: Timestamp,
    pub actor: Option<UserId>,
    pub action: String,
    pub object: String,
    pub reason: Option<String>,
    pub outcome: Outcome,
}

/// An event as recorded, with its position in the log (from 0).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub index: u64,
    #[serde(flatten)]
    pub event: AuditEvent,
}

#[derive(Debug, thiserror::Error)]
#[error("the audit trail could not record the event: {0}")]
pub struct AuditError(pub String);

/// Where audit events go. `append` returns only once the event is durable; callers that
/// must not proceed without a trace (unsealing) rely on that.
#[async_trait::async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an event; returns its index once it is durable.
    async fn append(&self, event: &AuditEvent) -> Result<u64, AuditError>;

    /// How many events the log holds.
    async fn size(&self) -> Result<u64, AuditError>;

    /// Events with `index >= start`, oldest first, at most `limit`.
    async fn read(&self, start: u64, limit: u64) -> Result<Vec<AuditRecord>, AuditError>;
}
