//! Tearline's operations, shared by the JSON API, the web UI, the command line and the
//! background jobs: sources and the vault (`sources`), accounts and the second person's
//! approval (`accounts`), logins and sessions (`auth`), the source lifecycle
//! (`lifecycle`), intelligence below the tearline (`intel`) and early warning (`warn`).
//!
//! Every operation loads its record through the kernel's scoped loader or asks
//! `tearline_domain::policy::authorize`, and changes the store only through a writer whose
//! audit entry commits with the change (`tearline_kernel`). Nothing here knows HTTP:
//! operations return [`ServiceError`], whose [`ErrorCode`] the HTTP crate maps to a status.
//!
//! Architecture invariant: nothing is logged per operation, so no identifier of a source
//! or a reason ever reaches a log line.

pub mod above_line;
pub mod accounts;
pub mod audit;
pub mod auth;
pub mod error;
mod guard;
pub mod intel;
pub mod lifecycle;
pub mod metrics;
pub mod sources;
pub mod state;
pub mod warn;

pub use error::{ErrorCode, ServiceError};
pub use state::{
    open_audit_log, system_clock, AppState, Clock, Inner, ServerSettings, StartupError, VaultKeys,
};
