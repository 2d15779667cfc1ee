//! The verifiable audit log over HTTP: the latest signed checkpoint (public), and for
//! inspectors the entries, the history of checkpoints, inclusion and consistency proofs,
//! and the decoded events. Every inspector read is itself appended to the log.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use tearline_auditlog::Hash;
use tearline_domain::audit::Outcome;
use tearline_domain::policy::Action;
use tearline_store::LogError;

use crate::auth::Session;
use crate::error::{ApiError, ErrorCode};
use tearline_service::audit::{record, require};
use tearline_service::auth::Caller;
use tearline_service::AppState;

/// The most entries, events or checkpoints one page returns.
pub const MAX_PAGE: u64 = 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit/checkpoint", get(checkpoint))
        .route("/api/v1/audit/checkpoints", get(checkpoints))
        .route("/api/v1/audit/entries", get(entries))
        .route("/api/v1/audit/events", get(events))
        .route("/api/v1/audit/proof/inclusion", get(inclusion))
        .route("/api/v1/audit/proof/consistency", get(consistency))
}

fn query<T>(query: Result<Query<T>, QueryRejection>, expected: &str) -> Result<T, ApiError> {
    query
        .map(|Query(value)| value)
        .map_err(|_| ApiError::refused(ErrorCode::InvalidQuery, expected.to_owned()))
}

/// Checks the inspector's right to read the log and records the read.
async fn inspect(state: &AppState, caller: &Caller, what: String) -> Result<(), ApiError> {
    require(state, caller, Action::ReadAuditTrail, "audit.read").await?;
    record(state, Some(caller.user.id), "audit.read", &what, None, Outcome::Allowed).await?;
    Ok(())
}

fn base64_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|hash| BASE64.encode(hash.0)).collect()
}

impl From<LogError> for ApiError {
    fn from(error: LogError) -> ApiError {
        match error {
            LogError::Proof(proof) => ApiError::refused(ErrorCode::OutOfRange, proof.to_string()),
            LogError::BeyondCheckpoint { .. } => {
                ApiError::refused(ErrorCode::BeyondCheckpoint, error.to_string())
            }
            LogError::Store(store) => store.into(),
        }
    }
}

/// The latest signed checkpoint, byte-exact C2SP; public so anyone can witness the log.
async fn checkpoint(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let (_, note) = state.log.latest_checkpoint().await?.ok_or_else(|| ApiError::not_found("checkpoint"))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note))
}

#[derive(Deserialize)]
struct Range {
    start: u64,
    end: u64,
}

/// Entries `start <= index < end` as the exact bytes hashed, within the latest checkpoint.
async fn entries(
    State(state): State<AppState>,
    Session(caller): Session,
    range: Result<Query<Range>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Range { start, end } = query(range, "start and end must be non-negative integers")?;
    inspect(&state, &caller, format!("audit:entries:{start}..{end}")).await?;
    let latest = state.log.latest_checkpoint().await?.map_or(0, |(size, _)| size);
    if start > end {
        return Err(ApiError::refused(ErrorCode::OutOfRange, format!("start {start} is after end {end}")));
    }
    if end > latest {
        return Err(ApiError::refused(
            ErrorCode::BeyondCheckpoint,
            format!("end {end} is beyond the latest checkpoint (size {latest})"),
        ));
    }
    let end = end.min(start.saturating_add(MAX_PAGE));
    let entries: Vec<_> = state
        .log
        .entries(start, end)
        .await?
        .into_iter()
        .map(|(index, data)| json!({"index": index, "data": BASE64.encode(data)}))
        .collect();
    Ok(Json(json!({"entries": entries})))
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    start: u64,
    #[serde(default)]
    limit: Option<u64>,
}

/// Signed checkpoints with `size >= start`, oldest first: what an export bundles.
async fn checkpoints(
    State(state): State<AppState>,
    Session(caller): Session,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let page = query(page, "start and limit must be non-negative integers")?;
    let limit = page.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    inspect(&state, &caller, format!("audit:checkpoints:{}+{limit}", page.start)).await?;
    let checkpoints: Vec<_> = state
        .log
        .checkpoints(page.start, limit)
        .await?
        .into_iter()
        .map(|(size, note)| json!({"size": size, "note": note}))
        .collect();
    Ok(Json(json!({"checkpoints": checkpoints})))
}

/// Events from `start`, decoded for reading.
async fn events(
    State(state): State<AppState>,
    Session(caller): Session,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let page = query(page, "start and limit must be non-negative integers")?;
    let limit = page.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    inspect(&state, &caller, format!("audit:events:{}+{limit}", page.start)).await?;
    let size = tearline_domain::audit::AuditLog::size(&state.log)
        .await
        .map_err(|e| ApiError::internal("audit read", &e))?;
    // A page that starts past the end is empty, however far past (the store counts in i64).
    let events = if page.start >= size {
        Vec::new()
    } else {
        tearline_domain::audit::AuditLog::read(&state.log, page.start, limit)
            .await
            .map_err(|e| ApiError::internal("audit read", &e))?
    };
    Ok(Json(json!({"events": events})))
}

#[derive(Deserialize)]
struct InclusionQuery {
    index: u64,
    size: u64,
}

async fn inclusion(
    State(state): State<AppState>,
    Session(caller): Session,
    params: Result<Query<InclusionQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let InclusionQuery { index, size } = query(params, "index and size must be non-negative integers")?;
    inspect(&state, &caller, format!("audit:proof:inclusion:{index}@{size}")).await?;
    let hashes = state.log.inclusion_proof(index, size).await?;
    Ok(Json(json!({"index": index, "size": size, "hashes": base64_hashes(&hashes)})))
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: u64,
}

async fn consistency(
    State(state): State<AppState>,
    Session(caller): Session,
    params: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let ConsistencyQuery { from, to } = query(params, "from and to must be non-negative integers")?;
    inspect(&state, &caller, format!("audit:proof:consistency:{from}..{to}")).await?;
    let hashes = state.log.consistency_proof(from, to).await?;
    Ok(Json(json!({"from": from, "to": to, "hashes": base64_hashes(&hashes)})))
}
