//! What the public and partner systems reach without logging in: the CAP Atom feed, each
//! issued alert's XML, and acknowledgements.
//!
//! Only alerts with scope Public and a status other than Draft are published. An
//! acknowledgement link carries an HMAC over the delivery, so only the recipient it was
//! sent to can acknowledge it.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use tearline_store::WarningVersion;
use tearline_warn::atom::{write_feed, FeedAlert};
use tearline_warn::cap::{Scope, Status};
use tearline_warn::delivery::AckStatus;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cap/feed.atom", get(feed))
        .route("/cap/alerts/{file}", get(alert_document))
        .route("/cap/ack/{version}/{recipient}/{token}", post(acknowledge))
}

fn is_published(version: &WarningVersion) -> bool {
    version.alert.scope == Scope::Public && version.alert.status != Status::Draft
}

async fn feed(State(state): State<AppState>) -> Result<Response, ApiError> {
    let issued = state.store.issued_versions().await?;
    let alerts: Vec<FeedAlert> = issued
        .iter()
        .filter(|v| is_published(v))
        .map(|v| {
            let info = v.alert.infos.first();
            FeedAlert {
                identifier: v.alert.identifier.clone(),
                sender: v.alert.sender.clone(),
                headline: tearline_store::headline_of(&v.alert),
                summary: info
                    .and_then(|i| i.instruction.clone().or_else(|| i.description.clone()))
                    .unwrap_or_default(),
                sent: v.alert.sent,
                msg_type: v.alert.msg_type,
                expires: v.alert.expires(),
            }
        })
        .collect();
    let body =
        write_feed(&state.settings.warn.public_url, "Tearline public warnings", &alerts, state.now().0);
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
    let version = state.store.issued_version_by_identifier(identifier).await?;
    match version {
        Some(version) if is_published(&version) => {
            let xml = version.cap_xml.unwrap_or_default();
            Ok((
                [
                    (header::CONTENT_TYPE, "application/cap+xml; charset=utf-8"),
                    (header::CACHE_CONTROL, "public, max-age=60"),
                ],
                xml,
            )
                .into_response())
        }
        _ => Err(ApiError::not_found("alert")),
    }
}

/// The token in an acknowledgement link. (HMAC takes keys of any length; the empty
/// string for an impossible key error can never match a link's non-empty token.)
pub fn ack_token(key: &[u8], version_id: i64, recipient_id: i64) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("{version_id}/{recipient_id}").as_bytes());
    let tag = mac.finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..16])
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
        Some(text) => AckStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request(ErrorCode::InvalidStatus, "status must be received or safe")
        })?,
    };
    let key = state.warn.ack_key(&state.store).await?;
    let expected = ack_token(key, version_id, recipient_id);
    let matches: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), token.as_bytes()).into();
    if !matches
        || !state
            .store
            .bookkeeping()
            .acknowledge_delivery(version_id, recipient_id, status, state.now())
            .await?
    {
        return Err(ApiError::not_found("delivery"));
    }
    Ok((StatusCode::OK, Json(json!({"acknowledged": status.as_str()}))).into_response())
}
