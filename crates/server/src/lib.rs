//! Tearline's HTTP server: the JSON API under `/api/v1/` and the server-rendered web UI,
//! over the operations both share (`sources`, `accounts`, `auth`).
//!
//! Architecture invariant: every handler authenticates through [`auth::Caller`] and asks
//! `tearline_domain::policy::authorize` before it reads or changes anything; nothing here
//! decides access on its own. Nothing is logged per request, so no identifier of a source
//! or a reason ever reaches a log line.

pub mod accounts;
pub mod api;
pub mod audit;
pub mod audit_api;
pub mod auth;
pub mod demo;
pub mod error;
pub mod sources;
pub mod state;
pub mod ui;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

pub use state::{
    open_audit_log, system_clock, AppState, Clock, Inner, ServerSettings, StartupError, VaultKeys,
};

/// Strict by default: nothing but our own stylesheet loads, nothing frames us, and no page
/// is cached, since most pages show something sensitive.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let cache = if is_asset { "public, max-age=3600" } else { "no-store" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

async fn not_found() -> impl IntoResponse {
    error::ApiError::not_found("page or endpoint")
}

/// The whole application: API, UI, and the headers every response carries.
pub fn router(state: AppState) -> Router {
    api::routes()
        .merge(ui::routes())
        .fallback(not_found)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}
