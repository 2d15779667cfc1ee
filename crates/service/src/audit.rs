//! Recording to the audit trail from request handlers.

use tearline_domain::audit::Outcome;
use tearline_domain::policy::{authorize, Action};
use tearline_domain::UserId;
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
