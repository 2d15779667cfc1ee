//! The JSON API under `/api/v1/`, described by `openapi.json` in this crate. Every handler
//! authenticates with [`Caller`] and leaves the decision to the policy through the
//! operations it calls.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::json;
use tearline_domain::source::{Assignment, SourceRecord};
use tearline_domain::SourceId;
use zeroize::Zeroizing;

use crate::auth::{self, Session};
use crate::error::{ApiError, ErrorCode};
use tearline_service::accounts::{self, NewUserRequest, UserView};
use tearline_service::sources::{self, NewSourceRequest, ReassignRequest};
use tearline_service::AppState;

pub const OPENAPI: &str = include_str!("../openapi.json");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/api/v1/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/sources", get(list_sources).post(create_source))
        .route("/api/v1/sources/{id}", get(read_source))
        .route("/api/v1/sources/{id}/unseal", post(unseal))
        .route("/api/v1/sources/{id}/assignments", post(reassign))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{id}", put(change_user))
        .route("/api/v1/users/{id}/approval", post(approve_user))
        .route("/api/v1/users/{id}/disable", post(disable_user))
        .route("/api/v1/users/{id}/enable", post(enable_user))
        .route("/api/v1/account-approvals", get(account_approvals))
        .route("/api/v1/account-changes/{id}/approval", post(approve_account_change))
        .route("/api/v1/account-changes/{id}/refusal", post(refuse_account_change))
        .route("/api/v1/vault/rotate", post(rotate_vault_key))
        .merge(crate::audit_api::routes())
}

/// JSON that failed to parse becomes a 400 with the reason, in the API's error shape.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(request, state).await.map(|Json(value)| ApiJson(value)).map_err(|rejection| {
            ApiError::new(rejection.status(), ErrorCode::InvalidJson, rejection.body_text())
        })
    }
}

/// A numeric id in the path; anything else is a 400, not a panic or a 500.
pub struct IdPath(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(id)| IdPath(id))
            .map_err(|_| ApiError::refused(ErrorCode::InvalidId, "the id in the path must be an integer"))
    }
}

/// Two numeric ids in the path, such as a threat and a report it cites.
pub struct IdPairPath(pub i64, pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdPairPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<(i64, i64)>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path((first, second))| IdPairPath(first, second))
            .map_err(|_| ApiError::refused(ErrorCode::InvalidId, "the ids in the path must be integers"))
    }
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: Zeroizing<String>,
}

async fn login(
    state: axum::extract::State<AppState>,
    client: auth::ClientAddress,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let session =
        tearline_service::auth::log_in(&state, client.0.as_deref(), &request.username, &request.password)
            .await?;
    Ok(Json(json!({
        "token": session.token.as_str(),
        "csrf_token": session.csrf_token,
        "user": UserView::from(&session.user),
    })))
}

async fn logout(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
) -> Result<impl IntoResponse, ApiError> {
    tearline_service::auth::log_out(&state, &caller).await?;
    Ok(Json(json!({"status": "logged out"})))
}

async fn me(Session(caller): Session) -> Json<serde_json::Value> {
    Json(json!({"user": UserView::from(&caller.user), "csrf_token": caller.csrf_token}))
}

#[derive(Serialize)]
struct SourceList {
    sources: Vec<SourceRecord>,
}

async fn list_sources(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
) -> Result<Json<SourceList>, ApiError> {
    Ok(Json(SourceList { sources: sources::list(&state, &caller).await? }))
}

async fn create_source(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
    ApiJson(request): ApiJson<NewSourceRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let created = sources::create(&state, &caller, request).await?;
    Ok((axum::http::StatusCode::CREATED, Json(created)))
}

#[derive(Serialize)]
struct SourceDetail {
    source: SourceRecord,
    assignments: Vec<Assignment>,
}

async fn read_source(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<Json<SourceDetail>, ApiError> {
    let read = sources::read(&state, &caller, SourceId(id)).await?;
    Ok(Json(SourceDetail { source: read.source, assignments: read.assignments }))
}

#[derive(Deserialize)]
struct UnsealRequest {
    reason: String,
}

async fn unseal(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<UnsealRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let identity = sources::unseal(&state, &caller, SourceId(id), &request.reason).await?.identity;
    Ok(Json(json!({"source_id": id, "identity": identity})))
}

async fn reassign(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<ReassignRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let assignments = sources::reassign(&state, &caller, SourceId(id), request).await?;
    Ok(Json(json!({"assignments": assignments})))
}

async fn list_users(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
) -> Result<impl IntoResponse, ApiError> {
    let (users, _) = accounts::list(&state, &caller).await?;
    Ok(Json(json!({"users": users})))
}

async fn create_user(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
    ApiJson(request): ApiJson<NewUserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let created = accounts::create_user_as(&state, &caller, &request).await?;
    Ok((axum::http::StatusCode::CREATED, Json(created)))
}

async fn approve_user(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(accounts::approve(&state, &caller, tearline_domain::UserId(id)).await?))
}

async fn change_user(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
    ApiJson(request): ApiJson<accounts::AccountChangeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(accounts::change_account(&state, &caller, tearline_domain::UserId(id), &request).await?))
}

async fn disable_user(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(accounts::disable_account(&state, &caller, tearline_domain::UserId(id)).await?))
}

async fn enable_user(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(accounts::enable_account(&state, &caller, tearline_domain::UserId(id)).await?))
}

async fn account_approvals(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(json!({
        "accounts": accounts::awaiting_my_approval(&state, &caller).await?,
        "changes": accounts::changes_awaiting_my_approval(&state, &caller).await?,
    })))
}

async fn approve_account_change(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<Json<accounts::UserView>, ApiError> {
    Ok(Json(accounts::decide_change(&state, &caller, id, accounts::ChangeDecision::Approve).await?))
}

async fn refuse_account_change(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
    IdPath(id): IdPath,
) -> Result<Json<accounts::UserView>, ApiError> {
    Ok(Json(accounts::decide_change(&state, &caller, id, accounts::ChangeDecision::Refuse).await?))
}

async fn rotate_vault_key(
    state: axum::extract::State<AppState>,
    Session(caller): Session,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(sources::rotate_vault_key_as(&state, &caller).await?))
}
