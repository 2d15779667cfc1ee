//! The routes the public and partner systems reach without logging in: the CAP Atom feed,
//! each published alert's XML, and acknowledgements (`tearline_service::warn::public`).

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tearline_service::warn::public;
use tearline_service::AppState;
use tearline_warn::delivery::AckStatus;

use crate::error::{ApiError, ErrorCode};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cap/feed.atom", get(feed))
        .route("/cap/alerts/{file}", get(alert_document))
        .route("/cap/ack/{version}/{recipient}/{token}", post(acknowledge))
}

async fn feed(State(state): State<AppState>) -> Result<Response, ApiError> {
    let body = public::feed(&state).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=30"),
        ],
        body,
    )
        .into_response())
}

async fn alert_document(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let identifier = file.strip_suffix(".xml").ok_or_else(|| ApiError::not_found("alert"))?;
    let xml = public::alert_document(&state, identifier).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/cap+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        xml,
    )
        .into_response())
}

#[derive(Deserialize)]
struct AckQuery {
    #[serde(default)]
    status: Option<String>,
}

async fn acknowledge(
    State(state): State<AppState>,
    Path((version_id, recipient_id, token)): Path<(i64, i64, String)>,
    Query(query): Query<AckQuery>,
) -> Result<Response, ApiError> {
    let status = match query.status.as_deref() {
        None => AckStatus::Received,
        Some(text) => AckStatus::parse(text)
            .ok_or_else(|| ApiError::refused(ErrorCode::InvalidStatus, "status must be received or safe"))?,
    };
    public::acknowledge(&state, version_id, recipient_id, &token, status).await?;
    Ok((StatusCode::OK, Json(json!({"acknowledged": status.as_str()}))).into_response())
}
