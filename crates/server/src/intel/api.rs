//! Intelligence's JSON endpoints, documented in `openapi.json`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tearline_domain::SourceId;

use crate::api::{ApiJson, IdPath};
use crate::auth::Session;
use crate::error::{ApiError, ErrorCode};
use tearline_service::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sources/{id}/contact-reports", get(contact_reports).post(write_contact_report))
        .route("/api/v1/contact-reports/{id}/intel-reports", post(draft))
        .route("/api/v1/intel/drafts/{id}", put(edit_draft))
        .route("/api/v1/intel/drafts/{id}/submit", post(submit))
        .route("/api/v1/intel/drafts/{id}/release", post(release))
        .route("/api/v1/intel/search", get(search))
        .route("/api/v1/intel/graph", get(graph))
        .route("/api/v1/intel/import", post(import))
        .route("/api/v1/intel/reports/{id}", get(report))
        .route("/api/v1/intel/reports/{id}/stix", get(stix))
        .route("/api/v1/intel/reports/{id}/corrections", post(correct))
        .route("/api/v1/intel/reports/{id}/withdrawal", post(withdraw))
        .route("/api/v1/intel/reports/{id}/entities", post(tag).delete(untag))
        .route("/api/v1/intel/reports/{id}/disseminations", post(disseminate))
}

fn created(body: impl serde::Serialize) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn contact_reports(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let read = tearline_service::sources::read(&state, &caller, SourceId(id)).await?;
    match super::case_reports(&state, &caller, &read.source, &read.read).await? {
        Some((contact_reports, intel_reports)) => {
            Ok(Json(json!({"contact_reports": contact_reports, "intel_reports": intel_reports}))
                .into_response())
        }
        None => Err(ApiError::not_found("source")),
    }
}

async fn write_contact_report(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::ContactReportRequest>,
) -> Result<Response, ApiError> {
    Ok(created(super::write_contact_report(&state, &caller, SourceId(id), request).await?))
}

async fn draft(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::DraftRequest>,
) -> Result<Response, ApiError> {
    Ok(created(super::draft(&state, &caller, id, request).await?))
}

async fn edit_draft(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::DraftRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(super::edit_draft(&state, &caller, id, request).await?).into_response())
}

/// A submission the leak guard stops answers 422 naming the fields; the draft keeps the
/// verdict so the page can show it.
async fn submit(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let submission = super::submit(&state, &caller, id).await?;
    if submission.leaks.is_empty() {
        return Ok(Json(submission).into_response());
    }
    let named: Vec<String> = submission.leaks.iter().map(|l| format!("{} ({})", l.field, l.detail)).collect();
    Err(ApiError::refused(
        ErrorCode::IdentityLeak,
        format!(
            "release refused: these fields name the source: {}; rewrite them and submit again",
            named.join(", ")
        ),
    ))
}

async fn release(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::ReleaseRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(super::decide_release(&state, &caller, id, request).await?).into_response())
}

async fn correct(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::DraftRequest>,
) -> Result<Response, ApiError> {
    Ok(created(super::correct(&state, &caller, id, request).await?))
}

async fn withdraw(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::WithdrawRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(super::withdraw(&state, &caller, id, request).await?).into_response())
}

async fn search(
    State(state): State<AppState>,
    Session(caller): Session,
    query: Result<Query<super::SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::refused(ErrorCode::InvalidSearch, e.body_text()))?;
    Ok(Json(super::search(&state, &caller, &params).await?).into_response())
}

async fn graph(State(state): State<AppState>, Session(caller): Session) -> Result<Response, ApiError> {
    Ok(Json(super::graph(&state, &caller).await?).into_response())
}

async fn report(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    Ok(Json(super::released(&state, &caller, id).await?).into_response())
}

async fn stix(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<Response, ApiError> {
    let bundle = super::export_stix(&state, &caller, id).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/stix+json;version=2.1")], bundle.to_string())
        .into_response())
}

/// The bundle is taken as text so that malformed JSON is reported by the STIX reader,
/// with its path, rather than by the framework.
async fn import(
    State(state): State<AppState>,
    Session(caller): Session,
    body: String,
) -> Result<Response, ApiError> {
    let imported = super::import_stix(&state, &caller, &body).await?;
    Ok(created(json!({"imported": imported})))
}

async fn tag(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::TagRequest>,
) -> Result<Response, ApiError> {
    Ok(created(json!({"entity_id": super::tag(&state, &caller, id, request).await?})))
}

#[derive(Deserialize)]
struct EntityQuery {
    entity: i64,
}

async fn untag(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    query: Result<Query<EntityQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::refused(ErrorCode::InvalidQuery, e.body_text()))?;
    super::untag(&state, &caller, id, query.entity).await?;
    Ok(Json(json!({"removed": query.entity})).into_response())
}

async fn disseminate(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<super::DisseminationRequest>,
) -> Result<Response, ApiError> {
    Ok(created(super::disseminate(&state, &caller, id, request).await?))
}
