//! Recording to the audit trail from request handlers, and searching it for inspectors.

use tearline_domain::audit::{AuditError, AuditEvent, AuditLog, AuditRecord, Outcome};
use tearline_domain::policy::{authorize, Action};
use tearline_domain::{Timestamp, UserId};
use tearline_kernel::Recorded;

use crate::auth::Caller;
use crate::error::ServiceError;
use crate::state::AppState;

/// Appends an event and waits until it is durable. If the trail cannot record it, the
/// request fails: nothing audited happens without its trace.
pub async fn record(
    state: &AppState,
    actor: Option<UserId>,
    action: &str,
    object: &str,
    reason: Option<&str>,
    outcome: Outcome,
) -> Result<Recorded, ServiceError> {
    Ok(state.kernel.record(actor, action, object, reason, outcome).await?)
}

/// Asks the policy for an administrative action and audits a refusal.
pub async fn require(
    state: &AppState,
    caller: &Caller,
    action: Action,
    audit_action: &str,
) -> Result<(), ServiceError> {
    if authorize(&caller.actor, action).is_ok() {
        return Ok(());
    }
    record(state, Some(caller.user.id), audit_action, "system", None, Outcome::Denied).await?;
    Err(ServiceError::Forbidden)
}

/// What an inspector looks for in the log. Every part is optional; an empty query matches
/// every event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// The acting account, by id (the page resolves a username to it).
    pub actor: Option<UserId>,
    /// The action, or the start of one (`authorisation.` finds every decision).
    pub action: String,
    /// A part of the object (`source:5`, `warning-version:`).
    pub object: String,
    /// From this time on, inclusive.
    pub from: Option<Timestamp>,
    /// Before this time.
    pub until: Option<Timestamp>,
}

impl AuditQuery {
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.actor.is_none_or(|actor| event.actor == Some(actor))
            && event.action.starts_with(self.action.trim())
            && event.object.contains(self.object.trim())
            && self.from.is_none_or(|from| event.at >= from)
            && self.until.is_none_or(|until| event.at < until)
    }
}

/// One page of matching events, newest first, and where the next older page starts.
#[derive(Debug)]
pub struct AuditPage {
    pub events: Vec<AuditRecord>,
    /// Continue before this index for older matches; `None` when the log's start was reached.
    pub older: Option<u64>,
    /// The indexes searched for this page: `searched.0 <= index < searched.1`.
    pub searched: (u64, u64),
}

/// The most events one page shows.
pub const AUDIT_PAGE_EVENTS: usize = 50;
/// The most entries one page reads while looking for matches: a rare match in a long log is
/// found page by page, each answered in bounded time.
pub const AUDIT_SCAN_LIMIT: u64 = 20_000;
const AUDIT_READ_CHUNK: u64 = 1_000;

/// Searches the log backwards from `before` (the newest entry when `None`) for events that
/// match `query`. An inspector's search is itself recorded, with what was asked.
pub async fn search(
    state: &AppState,
    caller: &Caller,
    query: &AuditQuery,
    before: Option<u64>,
) -> Result<AuditPage, ServiceError> {
    require(state, caller, Action::ReadAuditTrail, "audit.read").await?;
    let object =
        format!("audit:search:before={}", before.map_or_else(|| "latest".to_owned(), |b| b.to_string()));
    record(state, Some(caller.user.id), "audit.read", &object, None, Outcome::Allowed).await?;
    let failed = |e: AuditError| ServiceError::internal("audit read", &e);
    let size = AuditLog::size(&state.log).await.map_err(failed)?;
    let newest = before.unwrap_or(size).min(size);
    let oldest = newest.saturating_sub(AUDIT_SCAN_LIMIT);
    let mut events = Vec::new();
    let mut end = newest;
    while end > oldest {
        let start = end.saturating_sub(AUDIT_READ_CHUNK).max(oldest);
        let chunk = AuditLog::read(&state.log, start, end - start).await.map_err(failed)?;
        for entry in chunk.into_iter().rev() {
            if query.matches(&entry.event) {
                let index = entry.index;
                events.push(entry);
                if events.len() == AUDIT_PAGE_EVENTS {
                    return Ok(AuditPage {
                        events,
                        older: (index > 0).then_some(index),
                        searched: (index, newest),
                    });
                }
            }
        }
        end = start;
    }
    Ok(AuditPage { events, older: (oldest > 0).then_some(oldest), searched: (oldest, newest) })
}
