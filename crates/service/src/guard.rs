//! The leak guard on every text that leaves the identity's circle: intelligence below the
//! line (drafts and corrections, at submission; STIX exports; withdrawal reasons), threat
//! assessments and the warnings that rest on a source's reports (against every source behind
//! the threat's cited reports), and the lifecycle texts that people without unseal rights read — authorisation applications, decisions and their notes, tasks and
//! contact records, which the authorising officer and the inspector read in the register and
//! the record set.
//!
//! One path for all: the check is audited before the identity is opened (failing closed: no
//! audit, no check, no write), the identity is opened and compared inside the vault
//! (`tearline_vault::leak`), and the caller learns the field and the kind of detail only.

use tearline_domain::audit::Outcome;
use tearline_domain::source::SourceRecord;
use tearline_store::LeakFinding;
use tearline_vault::leak::{check_sealed, Handles, PlaceTest};
use tearline_vault::Sealed;

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
    let handles = match readers {
        Readers::BelowTheLine => {
            Handles { code_name: &source.code_name, reference: source.reference.as_str() }
        }
        Readers::CaseOfficers => Handles { code_name: "", reference: "" },
    };
    let checked = inside_the_vault(state, caller, source, check_action, object, |keys, sealed, binding| {
        check_sealed(keys, sealed, binding, handles, &fields)
    })
    .await?;
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

/// Runs `check` on the source's sealed identity inside the vault, once the check is written
/// to the audit log as `check_action` on `object` (if it cannot be, nothing is opened). A key
/// rotated by another process is picked up once.
async fn inside_the_vault<T>(
    state: &AppState,
    caller: &Caller,
    source: &SourceRecord,
    check_action: &str,
    object: &str,
    check: impl Fn(&dyn tearline_vault::KeyProvider, &Sealed, &[u8]) -> Result<T, tearline_vault::VaultError>,
) -> Result<T, ServiceError> {
    let (_read, columns) = state
        .kernel
        .record_while(Some(caller.user.id), check_action, object, None, Outcome::Allowed, async {
            crate::sources::sealed_columns(state, source.id).await
        })
        .await?;
    let sealed = sealed_from_columns(&columns)?;
    let binding = source.reference.as_str().as_bytes();
    Ok(state.keys.using(|keys| check(keys, &sealed, binding))?)
}

/// The fields whose place lies near one of the sources' sealed addresses (`places`: a field
/// and the test of an address point), for each source audited as `check_action` on `object`
/// before its identity is opened. Never says which address, or whose.
pub(crate) async fn places_near(
    state: &AppState,
    caller: &Caller,
    sources: &[SourceRecord],
    check_action: &str,
    object: &str,
    places: &[PlaceTest<'_>],
) -> Result<Vec<String>, ServiceError> {
    let mut flagged: Vec<String> = Vec::new();
    if places.is_empty() {
        return Ok(flagged);
    }
    for source in sources {
        let near = inside_the_vault(state, caller, source, check_action, object, |keys, sealed, binding| {
            tearline_vault::leak::places_near(keys, sealed, binding, places)
        })
        .await?;
        for field in near {
            if !flagged.contains(&field) {
                flagged.push(field);
            }
        }
    }
    Ok(flagged)
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
    refuse_naming(state, caller, std::slice::from_ref(source), action, &object, fields, Readers::CaseOfficers)
        .await
}

/// Refuses a text below the line (a threat, a warning that rests on reports, a STIX export,
/// a note analysts read) that names any of `sources` by identity, code name or reference:
/// 422 `identity_leak` with each field and kind of detail, the refused `action` on `object`
/// audited as denied.
pub(crate) async fn refuse_below_the_line(
    state: &AppState,
    caller: &Caller,
    sources: &[SourceRecord],
    action: &str,
    object: &str,
    fields: &[(&str, &str)],
) -> Result<(), ServiceError> {
    refuse_naming(state, caller, sources, action, object, fields, Readers::BelowTheLine).await
}

async fn refuse_naming(
    state: &AppState,
    caller: &Caller,
    sources: &[SourceRecord],
    action: &str,
    object: &str,
    fields: &[(&str, &str)],
    readers: Readers,
) -> Result<(), ServiceError> {
    let mut found = Vec::new();
    for source in sources {
        found.extend(findings(state, caller, source, "leak-check", object, fields, readers).await?);
    }
    if found.is_empty() {
        return Ok(());
    }
    record(state, Some(caller.user.id), action, object, None, Outcome::Denied).await?;
    let mut named: Vec<String> = found.iter().map(|f| format!("{} ({})", f.field, f.detail)).collect();
    named.dedup();
    Err(ServiceError::refused(
        ErrorCode::IdentityLeak,
        format!(
            "{} would tell readers who may not know the source who it is; rewrite without it",
            named.join(", ")
        ),
    ))
}
