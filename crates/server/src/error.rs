//! Errors as HTTP shows them: a status, a stable machine-readable `code`, and a human
//! `message`. The operations return `tearline_service::ServiceError`; this is the one place
//! that gives each of its codes a status ([`status_of`]). Messages never carry a sensitive
//! value; internal causes are logged by kind, not by content.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
pub use tearline_service::ErrorCode;
use tearline_service::ServiceError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An answer whose status the framework chose (a body it could not read, a method the
    /// route lacks): it keeps that status.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    /// A request refused at the edge (a malformed id, query or upload), with the status its
    /// code has everywhere.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ServiceError::refused(code, message).into()
    }

    /// Used both for records that do not exist and for records the caller may not know of,
    /// so that a refusal never confirms that a source exists.
    pub fn not_found(what: &str) -> ApiError {
        ServiceError::not_found(what).into()
    }

    /// An internal failure: logged with its kind, answered without details.
    pub fn internal(kind: &'static str, cause: &dyn std::fmt::Display) -> ApiError {
        ServiceError::internal(kind, cause).into()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { code: self.code.as_str(), message: &self.message };
        (self.status, Json(body)).into_response()
    }
}

/// The status each code answers with. A refusal the caller can fix is 400 unless a more
/// precise status says why: 401 who you are, 403 what your role or the rules forbid, 404
/// missing (or refused: the two answer alike), 409 a state that moved on or collides,
/// 422 a well-formed request a rule of the domain refuses, 429 slow down, 503 the audit
/// trail cannot record.
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        Unauthenticated | InvalidCredentials => StatusCode::UNAUTHORIZED,
        Forbidden
        | AccountAwaitingApproval
        | AccountDisabled
        | CsrfFailed
        | OwnRequest
        | SecondOfficerRequired
        | SeniorApprovalRequired
        | TlpRed
        | SelfAuthorisation
        | SeniorOfficerRequired => StatusCode::FORBIDDEN,
        NotFound => StatusCode::NOT_FOUND,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Conflict | StateChanged | NoLiveAuthorisation | WarningsUnacknowledged => StatusCode::CONFLICT,
        PlacesUnacknowledged | HoldsSources => StatusCode::CONFLICT,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UriTooLong => StatusCode::URI_TOO_LONG,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        IdentityLeak
        | NoRiskAssessment
        | StaleRiskAssessment
        | IncompleteApplication
        | InvalidReviewInterval
        | AuthorisationLapsed
        | SignatureNotVerified => StatusCode::UNPROCESSABLE_ENTITY,
        AccountLocked | TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
        Internal | VaultError => StatusCode::INTERNAL_SERVER_ERROR,
        AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        let code = error.code();
        ApiError { status: status_of(code), code, message: error.to_string() }
    }
}

impl From<tearline_store::StoreError> for ApiError {
    fn from(error: tearline_store::StoreError) -> ApiError {
        ServiceError::from(error).into()
    }
}

impl From<tearline_kernel::KernelError> for ApiError {
    fn from(error: tearline_kernel::KernelError) -> ApiError {
        ServiceError::from(error).into()
    }
}

/// The code for an error status the framework answered with on its own (a body too large,
/// a method the route lacks, a query or body it could not read).
pub fn code_for_status(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::CONFLICT => ErrorCode::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::URI_TOO_LONG => ErrorCode::UriTooLong,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidJson,
        status if status.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::InvalidRequest,
    }
}

#[cfg(test)]
mod tests {
    use super::{status_of, ErrorCode};
    use axum::http::StatusCode;

    /// Per operation and status, the document lists only codes that exist and that answer
    /// with that status (`invalid_json` also with the statuses the JSON reader chooses).
    #[test]
    fn every_operation_lists_known_codes_under_their_status() {
        let document: serde_json::Value =
            serde_json::from_str(crate::api::OPENAPI).expect("openapi.json parses");
        let paths = document["paths"].as_object().expect("paths");
        let mut operations = 0;
        for (path, methods) in paths {
            for (method, operation) in methods.as_object().expect("methods") {
                operations += 1;
                for (status, response) in operation["responses"].as_object().expect("responses") {
                    let status: u16 = status.parse().expect("numeric status");
                    if status < 400 {
                        continue;
                    }
                    let codes = response["content"]["application/json"]["schema"]["properties"]["code"]
                        ["enum"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{method} {path} {status} lists no codes"));
                    for code in codes {
                        let code = ErrorCode::ALL
                            .iter()
                            .find(|c| Some(c.as_str()) == code.as_str())
                            .unwrap_or_else(|| panic!("{method} {path} lists unknown code {code}"));
                        let framework = *code == ErrorCode::InvalidJson && [415, 422].contains(&status);
                        assert!(
                            framework || status_of(*code) == StatusCode::from_u16(status).expect("status"),
                            "{method} {path} lists {code} under {status}, but it answers {}",
                            status_of(*code)
                        );
                    }
                }
            }
        }
        assert!(operations > 80, "{operations} operations");
    }

    /// The API document lists exactly the codes the server can answer, each with the
    /// meaning the code gives it.
    #[test]
    fn the_api_document_lists_every_error_code_with_its_meaning() {
        let document: serde_json::Value =
            serde_json::from_str(crate::api::OPENAPI).expect("openapi.json parses");
        let code = &document["components"]["schemas"]["Error"]["properties"]["code"];
        let listed: Vec<&str> =
            code["enum"].as_array().expect("an enum").iter().filter_map(|c| c.as_str()).collect();
        let known: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, known);
        for c in ErrorCode::ALL {
            assert_eq!(code["x-meanings"][c.as_str()], c.meaning(), "{c}");
        }
    }
}
