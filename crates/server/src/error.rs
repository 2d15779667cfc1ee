//! Errors as the API shows them: an HTTP status, a stable machine-readable `code`, and a
//! human `message`. Messages never carry a sensitive value; internal causes are logged by
//! kind, not by content.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in first: send a bearer token or a session cookie",
        )
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", "your role does not permit this")
    }

    /// Used both for records that do not exist and for records the caller may not know of,
    /// so that a refusal never confirms that a source exists.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}"))
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// An internal failure: logged with its kind, answered without details.
    pub fn internal(kind: &'static str, cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(kind, %cause, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete the request",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { code: self.code, message: &self.message };
        (self.status, Json(body)).into_response()
    }
}

impl From<tearline_store::StoreError> for ApiError {
    fn from(error: tearline_store::StoreError) -> ApiError {
        use tearline_store::StoreError;
        match error {
            StoreError::Conflict(what) => ApiError::conflict(format!("{what} already exists")),
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::StateChanged(why) => ApiError::new(StatusCode::CONFLICT, "state_changed", why),
            StoreError::Ledger(error) => error.into(),
            StoreError::AuditUnavailable(cause) => {
                tracing::error!(%cause, "audit trail unavailable; the change was not made");
                tearline_kernel::KernelError::AuditUnavailable.into()
            }
            other => ApiError::internal("store", &other),
        }
    }
}

impl From<tearline_vault::VaultError> for ApiError {
    fn from(error: tearline_vault::VaultError) -> ApiError {
        // Vault messages name the cause and the remedy and never contain plaintext, so the
        // operator-facing text is safe to show.
        tracing::error!(cause = %error, "vault operation failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "vault_error", error.to_string())
    }
}

impl From<tearline_kernel::KernelError> for ApiError {
    fn from(error: tearline_kernel::KernelError) -> ApiError {
        use tearline_kernel::KernelError;
        match error {
            KernelError::AuditUnavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                "the audit trail cannot record this action, so it was not performed; try again later",
            ),
            KernelError::NotFound(kind) => ApiError::not_found(kind),
            KernelError::Store(error) => error.into(),
        }
    }
}
