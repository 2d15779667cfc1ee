//! The leak guard on every text that leaves the identity's circle: intelligence below the
//! line (drafts and corrections, at submission) and the lifecycle texts that people without
//! unseal rights read — authorisation applications, decisions and their notes, tasks and
//! contact records, which the authorising officer and the inspector read in the register and
//! the record set.
//!
//! One path for all: the check is audited before the identity is opened (failing closed: no
//! audit, no check, no write), the identity is opened and compared inside the vault
//! (`tearline_vault::leak`), and the caller learns the field and the kind of detail only.

use tearline_domain::audit::Outcome;
use tearline_domain::source::SourceRecord;
use tearline_store::LeakFinding;
use tearline_vault::leak::{check_sealed, Handles};

use crate::audit::record;
use crate::auth::Caller;
use crate::error::{ErrorCode, ServiceError};
use crate::sources::sealed_from_columns;
use crate::state::AppState;

/// Who reads the text, and so what in it would expose the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readers {
    /// Analysts and partners below the line: the code name and the reference tie a text to
    /// the source record too.
    BelowTheLine,
    /// Officers of the case who see the source record (its code name and reference) but may
    /// not unseal the identity: only the identity's details expose it.
    CaseOfficers,
}

/// Which `fields` name the source. The check is written to the audit log as `check_action`
/// on `object` before the identity is opened; if it cannot be, nothing is opened.
pub(crate) async fn findings(
    state: &AppState,
    caller: &Caller,
    source: &SourceRecord,
    check_action: &str,
    object: &str,
    fields: &[(&str, &str)],
    readers: Readers,
) -> Result<Vec<LeakFinding>, ServiceError> {
    let fields: Vec<(&str, &str)> =
        fields.iter().copied().filter(|(_, text)| !text.trim().is_empty()).collect();
    if fields.is_empty() {
        return Ok(Vec::new());
    }
    record(state, Some(caller.user.id), check_action, object, None, Outcome::Allowed).await?;
    let columns =
        state.store.sealed_identity(source.id).await?.ok_or_else(|| ServiceError::not_found("source"))?;
    let sealed = sealed_from_columns(&columns)?;
    let binding = source.reference.as_str().as_bytes();
    let handles = match readers {
        Readers::BelowTheLine => {
            Handles { code_name: &source.code_name, reference: source.reference.as_str() }
        }
        Readers::CaseOfficers => Handles { code_name: "", reference: "" },
    };
    let check =
        |keys: &dyn tearline_vault::KeyProvider| check_sealed(keys, &sealed, binding, handles, &fields);
    let checked = match check(state.keys.provider().as_ref()) {
        Err(tearline_vault::VaultError::UnknownKey { .. }) => check(state.keys.reload()?.as_ref()),
        other => other,
    }?;
    Ok(checked
        .into_iter()
        .map(|leak| LeakFinding {
            field: leak.field,
            detail: serde_json::to_value(leak.detail)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        })
        .collect())
}

/// Refuses a lifecycle text that names its source by its identity (422 `identity_leak`,
/// naming each field and kind of detail), auditing the refused `action` as denied.
pub(crate) async fn refuse_identity(
    state: &AppState,
    caller: &Caller,
    source: &SourceRecord,
    action: &str,
    fields: &[(&str, &str)],
) -> Result<(), ServiceError> {
    let object = format!("source:{}", source.id.0);
    let found = findings(state, caller, source, "leak-check", &object, fields, Readers::CaseOfficers).await?;
    if found.is_empty() {
        return Ok(());
    }
    record(state, Some(caller.user.id), action, &object, None, Outcome::Denied).await?;
    let named: Vec<String> = found.iter().map(|f| format!("{} ({})", f.field, f.detail)).collect();
    Err(ServiceError::refused(
        ErrorCode::IdentityLeak,
        format!(
            "{} would tell readers who may not unseal the identity who the source is; rewrite without it",
            named.join(", ")
        ),
    ))
}
