//! Recording to the audit trail from request handlers.

use axum::http::StatusCode;
use tearline_domain::audit::{AuditEvent, Outcome};
use tearline_domain::policy::{authorize, Action};
use tearline_domain::UserId;

use crate::auth::Caller;
use crate::error::ApiError;
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
) -> Result<(), ApiError> {
    let event = AuditEvent {
        at: state.now(),
        actor,
        action: action.to_owned(),
        object: object.to_owned(),
        reason: reason.map(str::to_owned),
        outcome,
    };
    match state.audit.append(&event).await {
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::error!(action, %error, "audit trail unavailable; refusing the request");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                "the audit trail cannot record this action, so it was not performed; try again later",
            ))
        }
    }
}

/// Asks the policy for an administrative action and audits a refusal.
pub async fn require(
    state: &AppState,
    caller: &Caller,
    action: Action,
    audit_action: &str,
) -> Result<(), ApiError> {
    if authorize(&caller.actor, action).is_ok() {
        return Ok(());
    }
    record(state, Some(caller.user.id), audit_action, "system", None, Outcome::Denied).await?;
    Err(ApiError::forbidden())
}
