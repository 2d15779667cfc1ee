//! Early warning's JSON endpoints under `/api/v1/`, documented in `openapi.json`.

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tearline_warn::geo::Area;
use tearline_warn::recipients::{read_csv, read_geojson, RecipientFields, RowError};
use tearline_warn::threat::ThreatAssessment;
use tearline_warn::xmldsig::Signature;

use super::service::{self, DraftRequest, VersionView};
use super::{chain, partners};
use crate::api::{ApiJson, IdPairPath, IdPath};
use crate::auth::Session;
use crate::error::{ApiError, ErrorCode};
use tearline_service::AppState;

/// The largest recipient file accepted in one request.
const MAX_IMPORT_BYTES: usize = 512 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/threats", get(list_threats).post(create_threat))
        .route("/api/v1/threats/{id}", get(read_threat).put(update_threat))
        .route("/api/v1/threats/{id}/reports", get(threat_support))
        .route("/api/v1/threats/{id}/reports/{report}", axum::routing::put(cite_report).delete(uncite_report))
        .route("/api/v1/threat-reviews/{id}/clearance", post(clear_review))
        .route("/api/v1/threats/{id}/outcome", axum::routing::put(record_outcome))
        .route("/api/v1/threats/{id}/timeline", get(threat_timeline))
        .route("/api/v1/warnings", get(list_warnings).post(draft_warning))
        .route("/api/v1/warnings/{id}", get(warning_history))
        .route("/api/v1/warnings/{id}/updates", post(draft_update))
        .route("/api/v1/warnings/{id}/cancellation", post(draft_cancel))
        .route("/api/v1/warning-versions/{id}", get(read_version).put(edit_version))
        .route("/api/v1/warning-versions/{id}/submit", post(submit))
        .route("/api/v1/warning-versions/{id}/approve", post(approve))
        .route("/api/v1/warning-versions/{id}/discard", post(discard))
        .route("/api/v1/warning-versions/{id}/deliveries", get(deliveries))
        .route("/api/v1/warning-versions/{id}/help-requests", get(help_requests))
        .route("/api/v1/warning-versions/{id}/answers", get(answers_by_area))
        .route("/api/v1/warning-versions/{id}/support", get(warning_support))
        .route("/api/v1/targeting/preview", post(preview))
        .route("/api/v1/recipients", get(list_recipients).post(register_recipients))
        .route(
            "/api/v1/recipients/import",
            post(import_recipients).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/api/v1/recipients/{id}/retire", post(retire_recipient))
        .route("/api/v1/partner-alerts", get(list_partner_alerts).post(upload_partner_alert))
        .route("/api/v1/partner-feeds", get(list_partner_feeds).post(add_partner_feed))
        .route("/api/v1/partner-keys", get(list_partner_keys).post(add_partner_key))
        .route("/api/v1/partner-keys/{id}", axum::routing::delete(remove_partner_key))
        .route(
            "/api/v1/partner-feeds/{id}",
            axum::routing::put(pause_partner_feed).delete(remove_partner_feed),
        )
        .route("/api/v1/units/{id}/warning-approval", axum::routing::put(set_warning_approval))
}

async fn list_threats(
    State(state): State<AppState>,
    Session(caller): Session,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(json!({"threats": service::threats(&state, &caller).await?})))
}

async fn read_threat(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::threat(&state, &caller, id).await?))
}

async fn create_threat(
    State(state): State<AppState>,
    Session(caller): Session,
    ApiJson(assessment): ApiJson<ThreatAssessment>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((StatusCode::CREATED, Json(service::create_threat(&state, &caller, &assessment).await?)))
}

async fn update_threat(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(assessment): ApiJson<ThreatAssessment>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::update_threat(&state, &caller, id, &assessment).await?))
}

async fn threat_support(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(support_json(&chain::support(&state, &caller, id).await?)))
}

/// A threat's support as the API shows it, with whether it is under review.
fn support_json(support: &chain::Support) -> serde_json::Value {
    json!({
        "threat": support.threat,
        "reports": support.reports,
        "reviews": support.reviews,
        "under_review": support.under_review(),
    })
}

async fn cite_report(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPairPath(threat, report): IdPairPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(support_json(&chain::cite(&state, &caller, threat, report).await?)))
}

async fn uncite_report(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPairPath(threat, report): IdPairPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(support_json(&chain::uncite(&state, &caller, threat, report).await?)))
}

async fn clear_review(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<chain::ClearRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(support_json(&chain::clear_review(&state, &caller, id, request).await?)))
}

async fn record_outcome(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<chain::OutcomeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(support_json(&chain::record_outcome(&state, &caller, id, request).await?)))
}

async fn threat_timeline(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    let timeline = chain::timeline(&state, &caller, id).await?;
    Ok(Json(json!({
        "support": support_json(&timeline.support),
        "warnings": timeline.warnings,
        "events": timeline.events,
    })))
}

async fn answers_by_area(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(chain::answers_by_area(&state, &caller, id).await?))
}

async fn warning_support(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    let support = chain::warning_support(&state, &caller, id).await?;
    Ok(Json(json!({"support": support.as_ref().map(support_json)})))
}

fn views(versions: Vec<tearline_store::WarningVersion>) -> Vec<VersionView> {
    versions.into_iter().map(VersionView::from).collect()
}

async fn list_warnings(
    State(state): State<AppState>,
    Session(caller): Session,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(json!({"warnings": views(service::warnings(&state, &caller).await?)})))
}

async fn warning_history(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(json!({"versions": views(service::history(&state, &caller, id).await?)})))
}

async fn draft_warning(
    State(state): State<AppState>,
    Session(caller): Session,
    ApiJson(request): ApiJson<DraftRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let version = service::draft_alert(&state, &caller, request).await?;
    Ok((StatusCode::CREATED, Json(VersionView::from(version))))
}

async fn draft_update(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<DraftRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let version = service::draft_update(&state, &caller, id, request).await?;
    Ok((StatusCode::CREATED, Json(VersionView::from(version))))
}

async fn draft_cancel(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    let version = service::draft_cancel(&state, &caller, id).await?;
    Ok((StatusCode::CREATED, Json(VersionView::from(version))))
}

async fn read_version(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(VersionView::from(service::version(&state, &caller, id).await?)))
}

async fn edit_version(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<DraftRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(VersionView::from(service::edit_draft(&state, &caller, id, request).await?)))
}

#[derive(Deserialize)]
struct IssueQuery {
    /// `acknowledge_places=true`: the officer judged that an area lying near the address of a
    /// source behind the warning cannot single the source out.
    #[serde(default)]
    acknowledge_places: bool,
}

fn acknowledged(
    query: Result<Query<IssueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<service::Acknowledged, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::refused(ErrorCode::InvalidQuery, e.body_text()))?;
    Ok(service::Acknowledged { places: query.acknowledge_places })
}

async fn submit(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    query: Result<Query<IssueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::submit(&state, &caller, id, acknowledged(query)?).await?))
}

async fn approve(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    query: Result<Query<IssueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::approve(&state, &caller, id, acknowledged(query)?).await?))
}

async fn discard(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    service::discard(&state, &caller, id).await?;
    Ok(Json(json!({"state": "discarded"})))
}

async fn deliveries(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    let counts = service::deliveries(&state, &caller, id).await?;
    Ok(Json(json!({"total": counts.total(), "counts": counts})))
}

/// Recipients who answered "I need help", longest waiting first.
async fn help_requests(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    let waiting = service::help_requests(&state, &caller, id).await?;
    let listed: Vec<serde_json::Value> = waiting
        .iter()
        .map(|(r, at)| {
            json!({"recipient_id": r.id, "name": r.name, "kind": r.kind.as_str(), "channel": r.channel.as_str(),
                   "address": r.address, "lat": r.position.lat, "lon": r.position.lon, "asked_at": at})
        })
        .collect();
    Ok(Json(json!({"help_requests": listed})))
}

#[derive(Deserialize)]
struct PreviewRequest {
    areas: Vec<Area>,
}

async fn preview(
    State(state): State<AppState>,
    Session(caller): Session,
    ApiJson(request): ApiJson<PreviewRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::preview(&state, &caller, &request.areas).await?))
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

async fn list_recipients(
    State(state): State<AppState>,
    Session(caller): Session,
    Query(page): Query<Page>,
) -> Result<impl IntoResponse, ApiError> {
    let (recipients, total) = service::recipients(&state, &caller, page.after, page.limit).await?;
    let listed: Vec<serde_json::Value> = recipients
        .iter()
        .map(|r| {
            json!({"id": r.id, "external_id": r.external_id, "name": r.name, "kind": r.kind, "channel": r.channel,
                   "address": r.address, "lat": r.position.lat, "lon": r.position.lon, "active": r.active})
        })
        .collect();
    Ok(Json(json!({"active_total": total, "recipients": listed})))
}

/// One recipient, registered as JSON (the same fields as a CSV row).
#[derive(Deserialize)]
struct RecipientRequest {
    #[serde(flatten)]
    fields: RecipientFields,
    lat: f64,
    lon: f64,
}

async fn register_recipients(
    State(state): State<AppState>,
    Session(caller): Session,
    ApiJson(requests): ApiJson<Vec<RecipientRequest>>,
) -> Result<impl IntoResponse, ApiError> {
    let mut good = Vec::with_capacity(requests.len());
    let mut errors = Vec::new();
    for (i, request) in requests.into_iter().enumerate() {
        match request.fields.into_registration(request.lat, request.lon) {
            Ok(registration) => good.push(registration),
            Err(reason) => errors.push(RowError { row: i + 1, reason }),
        }
    }
    let report = service::register_recipients(&state, &caller, &good, errors).await?;
    Ok((StatusCode::CREATED, Json(report)))
}

async fn import_recipients(
    State(state): State<AppState>,
    Session(caller): Session,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let parsed = if content_type.starts_with("text/csv") {
        read_csv(&body)
    } else if content_type.starts_with("application/geo+json") || content_type.starts_with("application/json")
    {
        read_geojson(&body)
    } else {
        return Err(ApiError::refused(
            ErrorCode::UnsupportedMediaType,
            "send recipients as text/csv or application/geo+json",
        ));
    };
    let (good, errors) =
        parsed.map_err(|e| ApiError::refused(ErrorCode::InvalidRecipients, e.to_string()))?;
    Ok(Json(service::register_recipients(&state, &caller, &good, errors).await?))
}

async fn retire_recipient(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    service::retire_recipient(&state, &caller, id).await?;
    Ok(Json(json!({"retired": id})))
}

async fn list_partner_alerts(
    State(state): State<AppState>,
    Session(caller): Session,
) -> Result<impl IntoResponse, ApiError> {
    let alerts = partners::alerts(&state, &caller).await?;
    let listed: Vec<serde_json::Value> = alerts
        .iter()
        .map(|(p, signature)| {
            let (key, reason) = match signature {
                Signature::Verified { fingerprint } => (Some(fingerprint.as_str()), None),
                Signature::Failed { reason } => (None, Some(reason.as_str())),
                Signature::Unsigned | Signature::Signed => (None, None),
            };
            json!({"id": p.id, "origin": p.origin, "received_at": p.received_at,
                   "signature": signature.as_str(), "signature_key": key, "signature_problem": reason,
                   "alert": p.alert})
        })
        .collect();
    Ok(Json(json!({"partner_alerts": listed})))
}

#[derive(Deserialize)]
struct PartnerAlertRequest {
    cap_xml: String,
}

/// Takes the CAP document itself (`application/cap+xml`, `application/xml`, `text/xml`), or
/// JSON `{"cap_xml": "..."}` for clients that speak only JSON.
async fn upload_partner_alert(
    State(state): State<AppState>,
    Session(caller): Session,
    headers: HeaderMap,
    body: String,
) -> Result<impl IntoResponse, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let xml = if content_type.starts_with("application/json") {
        serde_json::from_str::<PartnerAlertRequest>(&body)
            .map_err(|e| ApiError::refused(ErrorCode::InvalidJson, e.to_string()))?
            .cap_xml
    } else {
        body
    };
    let stored = partners::upload(&state, &caller, &xml).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": stored.id, "alert": stored.alert}))))
}

async fn list_partner_feeds(
    State(state): State<AppState>,
    Session(caller): Session,
) -> Result<impl IntoResponse, ApiError> {
    let feeds = partners::feeds(&state, &caller).await?;
    let listed: Vec<serde_json::Value> = feeds.iter().map(feed_json).collect();
    Ok(Json(json!({"partner_feeds": listed})))
}

fn feed_json(f: &tearline_store::PartnerFeed) -> serde_json::Value {
    json!({"id": f.id, "url": f.url, "paused": f.paused, "last_polled_at": f.last_polled_at,
           "last_error": f.last_error, "failures": f.failures, "next_poll_at": f.next_poll_at})
}

#[derive(Deserialize)]
struct FeedPause {
    paused: bool,
}

/// Pauses a partner feed's polling, or resumes it.
async fn pause_partner_feed(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<FeedPause>,
) -> Result<impl IntoResponse, ApiError> {
    let feed = partners::set_feed_paused(&state, &caller, id, request.paused).await?;
    Ok(Json(feed_json(&feed)))
}

#[derive(Deserialize)]
struct FeedRequest {
    url: String,
}

async fn remove_partner_feed(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    partners::remove_feed(&state, &caller, id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn add_partner_feed(
    State(state): State<AppState>,
    Session(caller): Session,
    ApiJson(request): ApiJson<FeedRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let id = partners::add_feed(&state, &caller, &request.url).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "url": request.url.trim()}))))
}

async fn list_partner_keys(
    State(state): State<AppState>,
    Session(caller): Session,
) -> Result<impl IntoResponse, ApiError> {
    let keys = partners::keys(&state, &caller).await?;
    let listed: Vec<serde_json::Value> = keys.iter().map(key_json).collect();
    Ok(Json(json!({"partner_keys": listed})))
}

fn key_json(k: &tearline_store::PartnerKeyRecord) -> serde_json::Value {
    json!({"id": k.id, "sender": k.sender, "label": k.label, "fingerprint": k.fingerprint,
           "public_key": k.public_key, "added_at": k.added_at})
}

/// A partner key to register; the warnings page's form carries the same fields.
#[derive(Deserialize)]
pub(super) struct KeyRequest {
    pub sender: String,
    #[serde(default)]
    pub label: String,
    pub public_key: String,
}

async fn add_partner_key(
    State(state): State<AppState>,
    Session(caller): Session,
    ApiJson(request): ApiJson<KeyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let key =
        partners::add_key(&state, &caller, &request.sender, &request.label, &request.public_key).await?;
    Ok((StatusCode::CREATED, Json(key_json(&key))))
}

async fn remove_partner_key(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    partners::remove_key(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ApprovalRequest {
    required: bool,
}

/// Whether a unit's Actual warnings need a second warning officer (administrators decide).
async fn set_warning_approval(
    State(state): State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<ApprovalRequest>,
) -> Result<impl IntoResponse, ApiError> {
    tearline_service::accounts::set_warning_approval(
        &state,
        &caller,
        tearline_domain::UnitId(id),
        request.required,
    )
    .await?;
    Ok(Json(json!({"unit": id, "actual_warnings_need_approval": request.required})))
}
