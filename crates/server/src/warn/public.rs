//! The routes the public and partner systems reach without logging in: the CAP Atom feed,
//! each published alert's XML, and acknowledgements (`tearline_service::warn::public`).
//!
//! An acknowledgement link works two ways. A program POSTs to it (`?status=`) and gets
//! JSON. A person taps it: the GET shows a small page — no script, readable on any phone
//! browser, in the browser's language where the warning has it — whose three buttons POST
//! the answer as a form, and the answer comes back as the same page with a thank-you.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tearline_service::warn::public;
use tearline_service::AppState;
use tearline_warn::delivery::AckStatus;

use crate::error::{ApiError, ErrorCode};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cap/ack/{version}/{recipient}/{token}", get(ack_page).post(acknowledge))
        .route("/cap/sms-replies", axum::routing::post(sms_reply))
}

/// The feed and the published alerts: what a country's readers and aggregators fetch, served
/// from precomputed bytes outside the application's layers, with their own headers.
pub fn documents() -> Router<AppState> {
    Router::new()
        .route("/cap/feed.atom", get(feed).fallback(only_get))
        .route("/cap/alerts/{file}", get(alert_document).fallback(only_get))
}

/// Another method than GET (or HEAD) on a document, answered in the contract as the
/// application's layers would.
async fn only_get() -> ApiError {
    let status = StatusCode::METHOD_NOT_ALLOWED;
    ApiError::new(status, crate::error::code_for_status(status), "the public documents are read with GET")
}

/// A public document with its entity tag (a digest of its bytes): a client or CDN that sends
/// the tag back in `If-None-Match` gets 304 Not Modified and no body.
fn cacheable(
    headers: &HeaderMap,
    content_type: &'static str,
    cache_control: &'static str,
    document: public::PublicDocument,
) -> Response {
    let etag = &*document.etag;
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    let common = [
        (header::ETAG, HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\""))),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache_control)),
        // A document loads nothing and runs nothing.
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ];
    if matches {
        (StatusCode::NOT_MODIFIED, common).into_response()
    } else {
        (common, [(header::CONTENT_TYPE, content_type)], document.body).into_response()
    }
}

async fn feed(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let document = public::feed_document(&state).await?;
    Ok(cacheable(&headers, "application/atom+xml; charset=utf-8", "public, max-age=30", document))
}

async fn alert_document(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let identifier = file.strip_suffix(".xml").ok_or_else(|| ApiError::not_found("alert"))?;
    let document = public::published_alert(&state, identifier).await?;
    // An issued alert's bytes are fixed when it is issued.
    Ok(cacheable(
        &headers,
        "application/cap+xml; charset=utf-8",
        "public, max-age=86400, immutable",
        document,
    ))
}

#[derive(Deserialize)]
struct AckQuery {
    #[serde(default)]
    status: Option<String>,
}

fn ack_status(text: Option<&str>) -> Result<AckStatus, ApiError> {
    match text {
        None => Ok(AckStatus::Received),
        Some(text) => AckStatus::parse(text).ok_or_else(|| {
            ApiError::refused(ErrorCode::InvalidStatus, "status must be received, safe or help")
        }),
    }
}

/// The languages a browser asks for, best first (`Accept-Language`, q-values honoured).
fn languages(headers: &HeaderMap) -> Vec<String> {
    let header = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut ranked: Vec<(u16, usize, String)> = header
        .split(',')
        .enumerate()
        .filter_map(|(order, part)| {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next()?.trim();
            let quality = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (!tag.is_empty() && tag != "*" && quality > 0.0)
                .then(|| ((quality * 1000.0) as u16, order, tag.to_owned()))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.into_iter().map(|(_, _, tag)| tag).collect()
}

/// The page's own words, in the language of the warning shown: English, and Arabic.
struct Words {
    direction: &'static str,
    received: &'static str,
    safe: &'static str,
    help: &'static str,
    /// What the page says once the answer is recorded: received, safe, help.
    thanks: [&'static str; 3],
}

impl Words {
    fn thanks_for(&self, status: AckStatus) -> &'static str {
        let [received, safe, help] = self.thanks;
        match status {
            AckStatus::Received => received,
            AckStatus::Safe => safe,
            AckStatus::Help => help,
        }
    }
}

fn words_for(language: &str) -> Words {
    if tearline_warn::cap::same_language(language, "ar") {
        Words {
            direction: "rtl",
            received: "تلقيت هذا التحذير",
            safe: "أنا بأمان / غادرت المنطقة",
            help: "أحتاج إلى مساعدة",
            thanks: [
                "شكراً. نعلم أنك تلقيت هذا التحذير.",
                "شكراً. نعلم أنك بأمان.",
                "وصل طلبك للمساعدة إلى فرق الاستجابة. ابقَ في مكان آمن إن استطعت.",
            ],
        }
    } else {
        Words {
            direction: "ltr",
            received: "I received this warning",
            safe: "I am safe / I have left the area",
            help: "I need help",
            thanks: [
                "Thank you. We know you received this warning.",
                "Thank you. We know you are safe.",
                "Your request for help has reached the responders. Stay somewhere safe if you can.",
            ],
        }
    }
}

#[derive(Template)]
#[template(path = "ack.html")]
struct AckTemplate {
    page: public::AckPage,
    words: Words,
    action: String,
    thanks: Option<&'static str>,
}

/// Renders the answer page; an invalid link answers a plain page saying so, as a 404.
async fn answer_page(
    state: &AppState,
    (version_id, recipient_id, token): (i64, i64, String),
    headers: &HeaderMap,
    answered: Option<AckStatus>,
) -> Response {
    match public::ack_page(state, version_id, recipient_id, &token, &languages(headers)).await {
        Ok(page) => {
            let words = words_for(&page.language);
            let thanks = answered.map(|status| words.thanks_for(status));
            let action = format!("/cap/ack/{version_id}/{recipient_id}/{token}");
            crate::ui::render(&AckTemplate { page, words, action, thanks })
        }
        Err(_) => (
            StatusCode::NOT_FOUND,
            Html("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Link not valid</title><p>This warning link is not valid. Follow the official instructions you were given.</p></html>"),
        )
            .into_response(),
    }
}

async fn ack_page(
    State(state): State<AppState>,
    Path(link): Path<(i64, i64, String)>,
    headers: HeaderMap,
) -> Response {
    answer_page(&state, link, &headers, None).await
}

/// A program's acknowledgement (`?status=`, JSON answer), or a person's answer from the page
/// (a form with `status`, answered with the page and a thank-you).
async fn acknowledge(
    State(state): State<AppState>,
    Path(link): Path<(i64, i64, String)>,
    Query(query): Query<AckQuery>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let from_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let (version_id, recipient_id, token) = &link;
    if from_form {
        let form: AckQuery = serde_urlencoded::from_str(&body)
            .map_err(|_| ApiError::refused(ErrorCode::InvalidForm, "the answer form is malformed"))?;
        let status = ack_status(form.status.as_deref().or(query.status.as_deref()))?;
        public::acknowledge(&state, *version_id, *recipient_id, token, status).await?;
        return Ok(answer_page(&state, link, &headers, Some(status)).await);
    }
    let status = ack_status(query.status.as_deref())?;
    public::acknowledge(&state, *version_id, *recipient_id, token, status).await?;
    Ok((StatusCode::OK, Json(json!({"acknowledged": status.as_str()}))).into_response())
}

#[derive(Deserialize)]
struct SmsReply {
    from: String,
    text: String,
}

/// A text-message reply the SMS gateway forwards, with its bearer token.
async fn sms_reply(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::api::ApiJson(reply): crate::api::ApiJson<SmsReply>,
) -> Result<Response, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let status = public::sms_reply(&state, presented, &reply.from, &reply.text).await?;
    Ok(Json(json!({"recorded": status.as_str()})).into_response())
}
