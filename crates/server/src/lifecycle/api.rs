//! The lifecycle's JSON endpoints, documented in `openapi.json`.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tearline_domain::{SourceId, Timestamp};

use super::{export, Decision};
use crate::api::{ApiJson, IdPath};
use crate::auth::Session;
use crate::error::{ApiError, ErrorCode};
use tearline_service::sources;
use tearline_service::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sources/{id}/lifecycle", get(lifecycle))
        .route("/api/v1/sources/{id}/authorisations", post(apply))
        .route("/api/v1/authorisations/{id}/decision", post(decide))
        .route("/api/v1/sources/{id}/contacts", post(log_contact))
        .route("/api/v1/sources/{id}/tasks", post(give_task))
        .route("/api/v1/tasks/{id}/acknowledgement", post(acknowledge_task))
        .route("/api/v1/sources/{id}/welfare", post(record_welfare))
        .route("/api/v1/sources/{id}/risk-assessments", post(assess_risk))
        .route("/api/v1/sources/{id}/payments", post(request_payment))
        .route("/api/v1/payments/{id}/decision", post(decide_payment))
        .route("/api/v1/payments/{id}/paid", post(record_paid))
        .route("/api/v1/payments/{id}/receipt", post(record_receipt))
        .route("/api/v1/ledger/entries/{id}/reversal", post(reverse_entry))
        .route("/api/v1/sources/{id}/disclosure", get(disclosure))
        .route("/api/v1/sources/{id}/record-set", get(record_set))
        .route("/api/v1/due-items", get(due_items))
        .route("/api/v1/sources/{id}/validations", post(validate_source))
        .route("/api/v1/register", get(register))
        .route("/api/v1/register/export", get(register_export))
}

fn created(body: impl serde::Serialize) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn lifecycle(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let read = sources::read(&state, &caller, SourceId(id)).await?;
    Ok(Json(super::view(&state, &caller, &read.source, &read.read).await?).into_response())
}

async fn apply(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::ApplicationRequest>,
) -> Result<Response, ApiError> {
    Ok(created(super::apply(&state, &caller, SourceId(id), request).await?))
}

async fn decide(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(decision): ApiJson<Decision>,
) -> Result<Response, ApiError> {
    Ok(Json(super::decide(&state, &caller, id, decision).await?).into_response())
}

async fn log_contact(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::ContactRequest>,
) -> Result<Response, ApiError> {
    Ok(created(super::log_contact(&state, &caller, SourceId(id), request).await?))
}

async fn give_task(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::TaskRequest>,
) -> Result<Response, ApiError> {
    Ok(created(super::give_task(&state, &caller, SourceId(id), request).await?))
}

async fn acknowledge_task(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    Ok(Json(super::acknowledge_task(&state, &caller, id).await?).into_response())
}

async fn record_welfare(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::WelfareRequest>,
) -> Result<Response, ApiError> {
    Ok(created(super::record_welfare(&state, &caller, SourceId(id), request).await?))
}

async fn validate_source(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::standing::ValidationRequest>,
) -> Result<Response, ApiError> {
    Ok(created(super::standing::validate(&state, &caller, SourceId(id), request).await?))
}

async fn assess_risk(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::RiskRequest>,
) -> Result<Response, ApiError> {
    Ok(created(super::assess_risk(&state, &caller, SourceId(id), request).await?))
}

async fn request_payment(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::PaymentRequest>,
) -> Result<Response, ApiError> {
    Ok(created(super::request_payment(&state, &caller, SourceId(id), request).await?))
}

async fn decide_payment(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(decision): ApiJson<super::PaymentDecision>,
) -> Result<Response, ApiError> {
    Ok(Json(super::decide_payment(&state, &caller, id, decision).await?).into_response())
}

async fn record_paid(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::PaidRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(super::record_paid(&state, &caller, id, request).await?).into_response())
}

async fn record_receipt(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::ReceiptRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(super::record_receipt(&state, &caller, id, request).await?).into_response())
}

async fn reverse_entry(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::ReversalRequest>,
) -> Result<Response, ApiError> {
    let entry = u64::try_from(id).map_err(|_| ApiError::not_found("ledger entry"))?;
    let reversal = super::reverse_entry(&state, &caller, entry, request).await?;
    Ok(created(json!({"reversal_entry_id": reversal, "reverses": entry})))
}

/// A period in milliseconds since the epoch, and whether to answer in CSV.
#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    pub from: Option<i64>,
    pub to: Option<i64>,
    #[serde(default)]
    pub format: Option<String>,
}

pub fn wants_csv(format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(ApiError::refused(ErrorCode::InvalidFormat, "format is json or csv")),
    }
}

/// A CSV attachment: never cached, named for what it holds.
pub fn csv_response(filename: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response()
}

async fn disclosure(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    query: Result<Query<PeriodQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::refused(ErrorCode::InvalidQuery, e.body_text()))?;
    let csv = wants_csv(query.format.as_deref())?;
    let disclosure =
        super::disclosure(&state, &caller, SourceId(id), query.from.map(Timestamp), query.to.map(Timestamp))
            .await?;
    if csv {
        let names = super::names(&state).await?;
        let filename = format!("disclosure-{}.csv", disclosure.reference);
        return Ok(csv_response(&filename, export::disclosure_csv(&disclosure, &names)?));
    }
    Ok(Json(disclosure).into_response())
}

async fn record_set(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let (filename, body) = export::record_set(&state, &caller, SourceId(id)).await?;
    Ok(csv_response(&filename, body))
}

async fn due_items(State(state): State<AppState>, Session(caller): Session) -> Result<Response, ApiError> {
    Ok(Json(json!({"due_items": super::due_for(&state, &caller).await?})).into_response())
}

async fn register(State(state): State<AppState>, Session(caller): Session) -> Result<Response, ApiError> {
    Ok(Json(json!({"authorisations": super::register(&state, &caller, false).await?})).into_response())
}

async fn register_export(
    State(state): State<AppState>,
    Session(caller): Session,
) -> Result<Response, ApiError> {
    let rows = super::register(&state, &caller, true).await?;
    let names = super::names(&state).await?;
    Ok(csv_response("authorisation-register.csv", export::register_csv(&rows, &names)?))
}
