//! What can go wrong in an operation, in words a caller can act on: a closed set of
//! [`ErrorCode`]s and the [`ServiceError`] every operation returns. Nothing here knows
//! HTTP; the HTTP crate alone maps a code to a status. Messages never carry a sensitive
//! value; internal causes are logged by kind, not by content.

use tearline_kernel::KernelError;
use tearline_lifecycle::ledger::LedgerError;
use tearline_store::StoreError;
use tearline_vault::VaultError;

macro_rules! error_codes {
    ($($variant:ident = $wire:literal: $meaning:literal,)*) => {
        /// Every code an error answer can carry. `openapi.json` lists exactly these, with
        /// their meanings (a test keeps the two equal), so a client can branch on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $(#[doc = $meaning] $variant,)*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                }
            }

            pub fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $meaning,)*
                }
            }
        }
    };
}

error_codes! {
    AccountAwaitingApproval = "account_awaiting_approval": "the account takes effect when a senior controller of its unit approves it",
    AccountDisabled = "account_disabled": "an administrator disabled the account; it cannot log in until enabled again",
    AccountLocked = "account_locked": "too many failed logins: the account is locked for a while",
    AuditUnavailable = "audit_unavailable": "the audit trail cannot record the action, so it was not performed (503)",
    AuthorisationLapsed = "authorisation_lapsed": "the authorisation has lapsed and cannot be renewed or reviewed",
    BeyondCheckpoint = "beyond_checkpoint": "the requested range reaches past the latest signed checkpoint",
    Conflict = "conflict": "the record already exists or collides with another",
    ContingentPayment = "contingent_payment": "a payment must be attested as not contingent on any outcome",
    CsrfFailed = "csrf_failed": "the form or request lacks its session's CSRF token",
    Forbidden = "forbidden": "the caller's role does not permit the action",
    HoldsSources = "holds_sources": "the account still handles or controls sources; a controller reassigns them before its role or unit changes",
    IdentityLeak = "identity_leak": "a text names its source to readers who may not know it; the fields and kinds of detail are listed",
    IncompleteApplication = "incomplete_application": "an authorisation application lacks a required part",
    Internal = "internal": "the server could not complete the request (500)",
    InvalidAmount = "invalid_amount": "an amount is not a positive sum in the currency's minor units",
    InvalidAssignment = "invalid_assignment": "the officer named for a case role is not such an officer of the unit",
    InvalidCap = "invalid_cap": "a CAP 1.2 alert breaks the standard; the element and the reason are named",
    InvalidCodeName = "invalid_code_name": "a code name is empty, too long or already used",
    InvalidCredentials = "invalid_credentials": "wrong username or password",
    InvalidDate = "invalid_date": "a date or time is malformed or out of its allowed range",
    InvalidField = "invalid_field": "a field is missing, empty or too long",
    InvalidForm = "invalid_form": "a form field is missing or malformed",
    InvalidFormat = "invalid_format": "an export format other than those offered",
    InvalidGrading = "invalid_grading": "an Admiralty, 3x5x2, handling or TLP grading is malformed",
    InvalidId = "invalid_id": "an id in the path is not a positive integer",
    InvalidIdentity = "invalid_identity": "an identity to seal is empty or malformed",
    InvalidJson = "invalid_json": "the body is not the JSON the operation takes",
    InvalidRequest = "invalid_request": "the request is malformed in a way no other code names",
    InvalidKey = "invalid_key": "a partner key is not a PEM public key or certificate of RSA (2048 to 8192 bits) or ECDSA P-256/P-384",
    InvalidOperation = "invalid_operation": "a form names no operation its page knows",
    InvalidPeriod = "invalid_period": "a period's start is after its end, or it is malformed",
    InvalidPlace = "invalid_place": "a latitude or longitude is out of range",
    InvalidQuery = "invalid_query": "a query-string parameter is malformed",
    InvalidReceipt = "invalid_receipt": "a receipt's signature does not match the source's code name",
    InvalidRecipients = "invalid_recipients": "a recipient list or import file is malformed",
    InvalidReviewInterval = "invalid_review_interval": "a review interval outside what the authorisation's kind allows",
    InvalidSearch = "invalid_search": "a search query cannot be parsed",
    InvalidStatus = "invalid_status": "a status value outside those allowed",
    InvalidStix = "invalid_stix": "a STIX 2.1 bundle breaks the standard or Tearline's import rules",
    InvalidThreat = "invalid_threat": "a threat assessment is incomplete or inconsistent",
    InvalidUnit = "invalid_unit": "a unit name is empty or too long",
    InvalidUrl = "invalid_url": "a URL is malformed or not http(s)",
    InvalidUsername = "invalid_username": "a username outside 3 to 40 lowercase letters, digits, '.', '_' or '-'",
    MethodNotAllowed = "method_not_allowed": "the path exists but not with this HTTP method",
    InvalidWitness = "invalid_witness": "the witness of a payment is not another officer of the unit",
    NoLiveAuthorisation = "no_live_authorisation": "the source has no live authorisation for the action",
    NoRiskAssessment = "no_risk_assessment": "the action needs a current risk assessment",
    NotFound = "not_found": "no such record, or one the caller may not know of (the two answer alike)",
    OutOfRange = "out_of_range": "a number is outside its allowed range",
    PayloadTooLarge = "payload_too_large": "the body is larger than the operation accepts",
    OwnRequest = "own_request": "no one decides a payment they requested",
    ReasonRequired = "reason_required": "an unseal needs a reason of 10 to 500 characters",
    RisksNotExplained = "risks_not_explained": "a risk assessment must record that the risks were explained and understood",
    SignatureNotVerified = "signature_not_verified": "the alert's sender has a registered key and no signature on the alert verifies with it",
    SecondOfficerRequired = "second_officer_required": "an Actual warning needs a second warning officer's approval",
    SelfAuthorisation = "self_authorisation": "no one authorises a case they applied for, handle or control",
    SeniorApprovalRequired = "senior_approval_required": "a payment crossing a threshold needs a senior controller",
    SeniorOfficerRequired = "senior_officer_required": "a juvenile or vulnerable source needs a senior authorising officer",
    StaleRiskAssessment = "stale_risk_assessment": "the risk assessment is older than the unit allows",
    StateChanged = "state_changed": "the record moved on meanwhile (decided, edited, submitted); reload and retry",
    TlpRed = "tlp_red": "a TLP:RED report never leaves",
    TooManyAttempts = "too_many_attempts": "too many login attempts from this address; wait a few minutes",
    Unauthenticated = "unauthenticated": "no valid session: log in first",
    UriTooLong = "uri_too_long": "the request's URI is longer than the server reads",
    UnknownCurrency = "unknown_currency": "an ISO 4217 currency code Tearline does not know",
    UnsupportedMediaType = "unsupported_media_type": "the body's content type is not one the operation takes",
    VaultError = "vault_error": "the vault could not seal or open a record; the message names cause and remedy",
    WarningsUnacknowledged = "warnings_unacknowledged": "a release needs its phrasing warnings acknowledged",
    PlacesUnacknowledged = "places_unacknowledged": "a warning's area lies near the address of a source behind it; it is issued only when acknowledged",
    WeakPassword = "weak_password": "a password must be 12 to 256 characters",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an operation did not happen. Every variant has one [`ErrorCode`]; the message is
/// safe to show the caller.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request breaks a rule: input the caller can fix, or a rule of the domain that
    /// refuses it (a threshold, a second officer, a state that moved on). `code` says which.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    /// The caller's role does not permit the action (an action on no particular record;
    /// a refused record answers [`ServiceError::NotFound`], like a missing one).
    #[error("your role does not permit this")]
    Forbidden,
    /// No such record, or one the caller may not know of: the two answer alike.
    #[error("no such {0}")]
    NotFound(String),
    /// The audit trail could not record the operation, so it was not performed.
    #[error("the audit trail cannot record this action, so it was not performed; try again later")]
    AuditUnavailable,
    /// The vault could not seal or open a record. Vault messages name the cause and the
    /// remedy and never contain plaintext, so they are safe to show.
    #[error("{0}")]
    Vault(VaultError),
    /// Something failed that the caller cannot fix; its kind was logged.
    #[error("the server could not complete the request")]
    Internal,
}

impl ServiceError {
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> ServiceError {
        ServiceError::Refused { code, message: message.into() }
    }

    /// Used both for records that do not exist and for records the caller may not know
    /// of, so that a refusal never confirms that a source exists.
    pub fn not_found(what: &str) -> ServiceError {
        ServiceError::NotFound(what.to_owned())
    }

    pub fn conflict(message: impl Into<String>) -> ServiceError {
        ServiceError::refused(ErrorCode::Conflict, message)
    }

    /// An internal failure: logged with its kind, answered without details.
    pub fn internal(kind: &'static str, cause: &dyn std::fmt::Display) -> ServiceError {
        tracing::error!(kind, %cause, "operation failed");
        ServiceError::Internal
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Refused { code, .. } => *code,
            ServiceError::Forbidden => ErrorCode::Forbidden,
            ServiceError::NotFound(_) => ErrorCode::NotFound,
            ServiceError::AuditUnavailable => ErrorCode::AuditUnavailable,
            ServiceError::Vault(_) => ErrorCode::VaultError,
            ServiceError::Internal => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> ServiceError {
        match error {
            StoreError::Conflict(what) => ServiceError::conflict(format!("{what} already exists")),
            StoreError::NotFound(what) => ServiceError::not_found(what),
            StoreError::StateChanged(why) => ServiceError::refused(ErrorCode::StateChanged, why),
            StoreError::Ledger(error) => error.into(),
            StoreError::AuditUnavailable(cause) => {
                tracing::error!(%cause, "audit trail unavailable; the change was not made");
                ServiceError::AuditUnavailable
            }
            other => ServiceError::internal("store", &other),
        }
    }
}

impl From<VaultError> for ServiceError {
    fn from(error: VaultError) -> ServiceError {
        tracing::error!(cause = %error, "vault operation failed");
        ServiceError::Vault(error)
    }
}

impl From<KernelError> for ServiceError {
    fn from(error: KernelError) -> ServiceError {
        match error {
            KernelError::AuditUnavailable => ServiceError::AuditUnavailable,
            KernelError::NotFound(kind) => ServiceError::not_found(kind),
            KernelError::Store(error) => error.into(),
        }
    }
}

impl From<LedgerError> for ServiceError {
    fn from(error: LedgerError) -> ServiceError {
        match error {
            LedgerError::Corrupt(_) | LedgerError::Overflow => ServiceError::internal("ledger", &error),
            LedgerError::UnknownCurrency(_) => {
                ServiceError::refused(ErrorCode::UnknownCurrency, error.to_string())
            }
            LedgerError::InvalidAmount(..) | LedgerError::Zero => {
                ServiceError::refused(ErrorCode::InvalidAmount, error.to_string())
            }
            LedgerError::NoSuchEntry(_) => ServiceError::not_found("ledger entry"),
            _ => ServiceError::conflict(error.to_string()),
        }
    }
}

/// Text a person typed, trimmed: refused when empty or longer than `max` characters, naming
/// the request's `field` (the forms mark that field from the words).
pub(crate) fn required_text(field: &str, value: &str, max: usize) -> Result<String, ServiceError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(ServiceError::refused(
            ErrorCode::InvalidField,
            format!("{field} is required, at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}
