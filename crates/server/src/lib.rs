//! Tearline's HTTP server: the JSON API under `/api/v1/` and the server-rendered web UI,
//! routes only, over the operations of `tearline_service`.
//!
//! Architecture invariant: every handler authenticates through [`auth::Session`] (or is a
//! public route) and calls an operation, which asks the policy; nothing here decides access
//! on its own. Operations answer `ServiceError`; [`error::status_of`] alone gives a code its
//! status. Nothing is logged per request, so no identifier of a source or a reason ever
//! reaches a log line.

pub mod api;
pub mod audit_api;
pub mod auth;
pub mod confirm;
pub mod error;
pub mod feedback;
pub mod intel;
pub mod lifecycle;
pub mod ui;
pub mod warn;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use tearline_service::{AppState, ServerSettings};

/// Strict by default: only our own scripts, styles and data load (plus the map tile server,
/// when one is configured), nothing frames us, and no page is cached, since most pages show
/// something sensitive.
fn content_security_policy(settings: &ServerSettings) -> HeaderValue {
    let tiles =
        settings.map_tiles_url.as_deref().and_then(origin_of).map(|o| format!(" {o}")).unwrap_or_default();
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:{tiles}; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

/// `https://tiles.example.org/{z}/{x}/{y}.png` → `https://tiles.example.org`.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    let clean = host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '{' | '}'));
    (matches!(scheme, "http" | "https") && clean && !host.is_empty()).then(|| format!("{scheme}://{host}"))
}

async fn security_headers(State(policy): State<HeaderValue>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let public =
        path.starts_with("/assets/") || path.starts_with("/cap/feed") || path.starts_with("/cap/alerts/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Public documents set their own caching; everything else is never stored.
    if !public {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Keeps every error in the contract: an answer the framework made on its own (a body over
/// the limit, a method the route lacks, a query or form it could not read) arrives as plain
/// text or empty, and leaves as `{code, message}` on the API and the public CAP routes, or
/// as the error page on the pages, with its status and the framework's explanation.
async fn errors_in_the_contract(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/") || request.uri().path().starts_with("/cap/");
    let response = next.run(request).await;
    let status = response.status();
    let ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if ours || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let said = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
    let said = String::from_utf8_lossy(&said);
    let message = match said.trim() {
        "" => status.canonical_reason().unwrap_or("the request was refused").to_lowercase(),
        text => text.chars().take(300).collect(),
    };
    let error = error::ApiError::new(status, error::code_for_status(status), message);
    if api {
        error.into_response()
    } else {
        ui::UiError::from(error).into_response()
    }
}

/// A listener whose connections send each response as soon as it is written (TCP_NODELAY,
/// as nginx sets on keep-alive connections): without it a small response can wait for the
/// client's acknowledgement of the last one. Every server and benchmark listens through it.
pub fn without_delay(
    listener: tokio::net::TcpListener,
) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    fn no_delay(connection: &mut tokio::net::TcpStream) {
        if let Err(error) = connection.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY could not be set on a connection");
        }
    }
    axum::serve::ListenerExt::tap_io(listener, no_delay as fn(&mut tokio::net::TcpStream))
}

/// The metrics listener's one route, `GET /metrics` (OpenMetrics text). It is served on a
/// separate address (`serve --metrics-listen`), never beside the application, so it can stay
/// on an internal network.
pub fn metrics_router(state: AppState) -> Router {
    async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
        match tearline_service::metrics::render(&state).await {
            Ok(text) => {
                ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
                    .into_response()
            }
            Err(error) => error::ApiError::from(error).into_response(),
        }
    }
    Router::new().route("/metrics", axum::routing::get(metrics)).with_state(state)
}

/// A bug that panics in a handler answers a bare 500, which `errors_in_the_contract` turns
/// into `{code: internal}` or the error page. The panic's message is not logged: it may
/// quote whatever the handler held.
fn answer_a_panic(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked; answered 500");
    axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

async fn not_found() -> impl IntoResponse {
    error::ApiError::not_found("page or endpoint")
}

/// The whole application: API, UI, and the headers every response carries.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The application with `extra` routes mounted beside it under the same headers (the demo's
/// stand-in receiver, which is not part of this library).
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let policy = content_security_policy(&state.settings);
    api::routes()
        .merge(ui::routes())
        .merge(intel::api::routes())
        .merge(intel::ui::routes())
        .merge(lifecycle::api::routes())
        .merge(lifecycle::ui::routes())
        .merge(warn::api::routes())
        .merge(warn::ui::routes())
        .merge(warn::threat_ui::routes())
        .merge(warn::public::routes())
        .merge(extra)
        .fallback(not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(answer_a_panic))
        .layer(middleware::from_fn(errors_in_the_contract))
        .layer(middleware::from_fn(ui::return_after_login))
        .layer(middleware::from_fn_with_state(policy, security_headers))
        // The public documents skip the layers above: they are errors-in-the-contract JSON
        // already and carry their own headers (`warn::public::cacheable`), and a country reads
        // them. Only the panic catcher stays.
        .merge(
            warn::public::documents().layer(tower_http::catch_panic::CatchPanicLayer::custom(answer_a_panic)),
        )
        .with_state(state)
}
