//! The source registry's operations, shared by the JSON API and the web UI. Each one asks
//! the policy first, records to the audit trail, and only then touches sealed data.

use serde::Deserialize;
use tearline_domain::audit::Outcome;
use tearline_domain::policy::{authorize, Action, SourceScope};
use tearline_domain::source::{
    validate_code_name, Assignment, CaseRole, PseudonymousRef, SourceRecord, SourceStatus,
};
use tearline_domain::{Role, SourceId, Timestamp, UserId};
use tearline_kernel::{Lookup, Recorded, Writer};
use tearline_store::{NewSource, Rewrap, SealedColumns, SealedTable, User};
use tearline_vault::{Identity, KeyProvider, Sealed};

use crate::audit::record;
use crate::auth::Caller;
use crate::error::{ErrorCode, ServiceError};
use crate::state::AppState;

pub fn scope(record: &SourceRecord) -> SourceScope {
    SourceScope {
        unit_id: record.unit_id,
        handler_id: record.handler_id,
        controller_id: record.controller_id,
    }
}

fn object(id: SourceId) -> String {
    format!("source:{}", id.0)
}

/// The sources the caller may see, in code-name order.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<SourceRecord>, ServiceError> {
    if authorize(&caller.actor, Action::ListSources).is_err() {
        record(state, Some(caller.user.id), "source.list", "sources", None, Outcome::Denied).await?;
        return Err(ServiceError::Forbidden);
    }
    let visible: Vec<SourceRecord> = state
        .store
        .sources_in_unit(caller.actor.unit_id)
        .await?
        .into_iter()
        .filter(|source| authorize(&caller.actor, Action::ReadSource(scope(source))).is_ok())
        .collect();
    record(
        state,
        Some(caller.user.id),
        "source.list",
        &format!("unit:{}", caller.actor.unit_id.0),
        None,
        Outcome::Allowed,
    )
    .await?;
    Ok(visible)
}

/// Loads a source and checks `action` on it. A refusal looks exactly like a missing record.
pub(crate) async fn load_for(
    state: &AppState,
    caller: &Caller,
    id: SourceId,
    action: fn(SourceScope) -> Action,
    audit_action: &str,
) -> Result<SourceRecord, ServiceError> {
    let found = state.store.source(id).await?.map(|source| {
        let asked = action(scope(&source));
        (source, asked)
    });
    let lookup = Lookup { kind: "source", audit_action, object: &object(id) };
    Ok(state.kernel.scoped(&caller.actor, lookup, found).await?)
}

/// Loads a record that belongs to a source (a payment, a task, an authorisation, a contact
/// report, a draft) and checks `action` on that source. A record that is missing and one
/// whose source the caller may not reach answer the same `no such {kind}`.
pub(crate) async fn load_belonging<T>(
    state: &AppState,
    caller: &Caller,
    lookup: Lookup<'_>,
    found: Option<(T, SourceId)>,
    action: fn(SourceScope) -> Action,
) -> Result<(T, SourceRecord), ServiceError> {
    let found = match found {
        Some((record, source_id)) => state.store.source(source_id).await?.map(|source| {
            let asked = action(scope(&source));
            ((record, source), asked)
        }),
        None => None,
    };
    Ok(state.kernel.scoped(&caller.actor, lookup, found).await?)
}

/// A source record as read: never the identity.
pub struct SourceRead {
    pub source: SourceRecord,
    /// Who held its case roles, and when.
    pub assignments: Vec<Assignment>,
    /// The recorded read, under which what is sealed about the source may be opened.
    pub read: Recorded,
}

/// A source record with who held its case roles, answered only once the read is recorded
/// (the assignments are fetched while the entry is written).
pub async fn read(state: &AppState, caller: &Caller, id: SourceId) -> Result<SourceRead, ServiceError> {
    let source = load_for(state, caller, id, Action::ReadSource, "source.read").await?;
    let assignments = async { Ok::<_, ServiceError>(state.store.assignments(id).await?) };
    let (read, assignments) = state
        .kernel
        .record_while(Some(caller.user.id), "source.read", &object(id), None, Outcome::Allowed, assignments)
        .await?;
    Ok(SourceRead { source, assignments, read })
}

/// Whether the caller could unseal this source (to offer the form; the unseal still asks).
pub fn may_unseal(caller: &Caller, source: &SourceRecord) -> bool {
    authorize(&caller.actor, Action::UnsealIdentity(scope(source))).is_ok()
}

pub fn validate_reason(reason: &str) -> Result<&str, ServiceError> {
    let reason = reason.trim();
    if !(10..=500).contains(&reason.chars().count()) {
        return Err(ServiceError::refused(
            ErrorCode::ReasonRequired,
            "state why you need the identity, in 10 to 500 characters; the reason is recorded",
        ));
    }
    Ok(reason)
}

/// An identity just opened, with the code name of the record it belongs to.
pub struct Unsealed {
    pub code_name: String,
    pub identity: Identity,
}

/// Decrypts a source's identity. The audit entry, with its reason, is durable before
/// decryption starts; if it cannot be written, nothing is decrypted.
pub async fn unseal(
    state: &AppState,
    caller: &Caller,
    id: SourceId,
    reason: &str,
) -> Result<Unsealed, ServiceError> {
    let reason = validate_reason(reason)?;
    let source = load_for(state, caller, id, Action::UnsealIdentity, "source.unseal").await?;
    open_identity(state, caller, source, "source.unseal", Some(reason)).await
}

/// How long an unsealing's ticket opens the identity after it was recorded.
pub const OPENING_MILLIS: i64 = 120_000;

/// The binding of a ticket: which account, which source. A ticket opens for nobody else.
fn ticket_binding(caller: &Caller, id: SourceId) -> Vec<u8> {
    format!("unseal-opening/{}/{}", caller.user.id.0, id.0).into_bytes()
}

/// Records an unsealing with its reason — the audit entry is durable first — and answers
/// a ticket that opens the identity for [`OPENING_MILLIS`]: the page the browser is sent to
/// after its form (so that reloading it never sends the form, nor records an unsealing,
/// again). Nothing is decrypted here. The ticket is sealed by the vault: no one without
/// the vault key can make one, and it opens only for this account and this source.
pub async fn record_unseal(
    state: &AppState,
    caller: &Caller,
    id: SourceId,
    reason: &str,
) -> Result<String, ServiceError> {
    let reason = validate_reason(reason)?;
    load_for(state, caller, id, Action::UnsealIdentity, "source.unseal").await?;
    record(state, Some(caller.user.id), "source.unseal", &object(id), Some(reason), Outcome::Allowed).await?;
    let until = state.now().plus_millis(OPENING_MILLIS);
    let ticket = until.0.to_string();
    Ok(state
        .keys
        .using(|keys| tearline_vault::seal_ticket(keys, ticket.as_bytes(), &ticket_binding(caller, id)))?)
}

/// Opens the identity an unsealing's `ticket` was made for, while it lasts. The caller must
/// still be allowed to unseal the source; each opening is recorded (`source.unseal.view`)
/// before anything is decrypted. A ticket that ended, was altered or is another account's
/// answers `state_changed`: unseal again, with a reason.
pub async fn open_unsealed(
    state: &AppState,
    caller: &Caller,
    id: SourceId,
    ticket: &str,
) -> Result<Unsealed, ServiceError> {
    let source = load_for(state, caller, id, Action::UnsealIdentity, "source.unseal.view").await?;
    let ended = || {
        ServiceError::refused(
            ErrorCode::StateChanged,
            "this opening of the identity has ended; unseal it again, with a reason, to see it",
        )
    };
    let opened =
        state.keys.using(|keys| tearline_vault::open_ticket(keys, ticket, &ticket_binding(caller, id)));
    let until: i64 = match opened {
        Ok(bytes) => std::str::from_utf8(&bytes).ok().and_then(|text| text.parse().ok()).ok_or_else(ended)?,
        Err(_) => return Err(ended()),
    };
    if state.now().0 > until {
        return Err(ended());
    }
    open_identity(state, caller, source, "source.unseal.view", None).await
}

/// A source's identity as stored, still sealed: what may be fetched while the read that
/// will open it is being recorded.
pub(crate) async fn sealed_columns(state: &AppState, id: SourceId) -> Result<SealedColumns, ServiceError> {
    state.store.sealed_identity(id).await?.ok_or_else(|| ServiceError::not_found("source"))
}

/// Records `action` on the source and decrypts its identity under the receipt, which only a
/// durable audit entry gives, so nothing is decrypted before its trace exists; the sealed
/// columns are fetched while the entry is written. A failure to open is recorded too.
async fn open_identity(
    state: &AppState,
    caller: &Caller,
    source: SourceRecord,
    action: &str,
    reason: Option<&str>,
) -> Result<Unsealed, ServiceError> {
    let fetch = sealed_columns(state, source.id);
    let (_read, columns) = state
        .kernel
        .record_while(Some(caller.user.id), action, &object(source.id), reason, Outcome::Allowed, fetch)
        .await?;
    let sealed = sealed_from_columns(&columns)?;
    let binding = source.reference.as_str().as_bytes();
    match state.keys.using(|keys| tearline_vault::open(keys, &sealed, binding)) {
        Ok(identity) => Ok(Unsealed { code_name: source.code_name, identity }),
        Err(error) => {
            let object = object(source.id);
            record(state, Some(caller.user.id), "source.unseal.failed", &object, None, Outcome::Failed)
                .await?;
            Err(error.into())
        }
    }
}

pub fn sealed_from_columns(columns: &SealedColumns) -> Result<Sealed, ServiceError> {
    let key_id = u32::try_from(columns.key_id)
        .map_err(|_| ServiceError::internal("vault", &"stored vault key id out of range"))?;
    Ok(Sealed { key_id, wrapped_key: columns.wrapped_key.clone(), ciphertext: columns.ciphertext.clone() })
}

/// A new source as submitted: the record's fields and the identity to seal.
#[derive(Deserialize)]
pub struct NewSourceRequest {
    pub code_name: String,
    #[serde(default)]
    pub status: Option<SourceStatus>,
    /// Username of the handler; defaults to the caller when the caller is a handler.
    #[serde(default)]
    pub handler: Option<String>,
    /// Username of the controller; defaults to the caller when the caller is a controller.
    #[serde(default)]
    pub controller: Option<String>,
    pub identity: Identity,
}

/// A date of birth as ISO 8601 `YYYY-MM-DD`: a real calendar day, not after `today`, and no
/// earlier than 1900 (anything else is a typing mistake that the leak guard would then
/// fail to recognise in a draft).
fn check_date_of_birth(text: &str, now: Timestamp) -> Result<(), String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text.trim(), format)
        .map_err(|_| format!("identity.date_of_birth {text:?} is not a calendar date written YYYY-MM-DD"))?;
    let today = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now.0) * 1_000_000)
        .map(|t| t.date())
        .map_err(|_| "the clock is out of range".to_owned())?;
    if date > today || date.year() < 1900 {
        return Err(format!("identity.date_of_birth {text:?} is in the future or before 1900"));
    }
    Ok(())
}

fn validate_identity(identity: &Identity, now: Timestamp) -> Result<(), ServiceError> {
    let bad = |message: &str| ServiceError::refused(ErrorCode::InvalidIdentity, message.to_owned());
    if identity.full_name.trim().is_empty() || identity.full_name.chars().count() > 200 {
        return Err(bad("identity.full_name is required, at most 200 characters"));
    }
    let lists = [
        ("aliases", &identity.aliases),
        ("phone_numbers", &identity.phone_numbers),
        ("addresses", &identity.addresses),
        ("family", &identity.family),
    ];
    for (name, values) in lists {
        if values.len() > 20 || values.iter().any(|value| value.chars().count() > 300) {
            return Err(bad(&format!("identity.{name} holds at most 20 entries of at most 300 characters")));
        }
    }
    let on_earth = |[lat, lon]: &[f64; 2]| (-90.0..=90.0).contains(lat) && (-180.0..=180.0).contains(lon);
    if identity.address_points.len() > 20 || !identity.address_points.iter().all(on_earth) {
        return Err(bad(
            "identity.address_points holds at most 20 [latitude, longitude] pairs, each on Earth",
        ));
    }
    if identity.relation_to_group.chars().count() > 2_000 || identity.motivation.chars().count() > 2_000 {
        return Err(bad(
            "identity.relation_to_group and identity.motivation are at most 2000 characters each",
        ));
    }
    if identity.notes.chars().count() > 10_000
        || identity.date_of_birth.as_ref().is_some_and(|d| d.chars().count() > 40)
    {
        return Err(bad("identity.notes is at most 10000 characters, identity.date_of_birth at most 40"));
    }
    if let Some(date) = identity.date_of_birth.as_deref().filter(|d| !d.trim().is_empty()) {
        check_date_of_birth(date, now).map_err(|why| bad(&why))?;
    }
    Ok(())
}

/// Finds the user to hold a case role: named, or the caller if they hold that role.
async fn case_officer(
    state: &AppState,
    caller: &Caller,
    named: Option<&str>,
    role: Role,
) -> Result<User, ServiceError> {
    let field = if role == Role::Handler { "handler" } else { "controller" };
    let user = match named.map(str::trim).filter(|name| !name.is_empty()) {
        Some(username) => state.store.user_by_username(username).await?,
        None if caller.user.role == role => Some(caller.user.clone()),
        None => {
            return Err(ServiceError::refused(
                ErrorCode::InvalidAssignment,
                format!("name the source's {field}"),
            ))
        }
    };
    user.filter(|user| user.role == role && user.unit_id == caller.actor.unit_id).ok_or_else(|| {
        ServiceError::refused(
            ErrorCode::InvalidAssignment,
            format!("the {field} must be a {field} of your unit"),
        )
    })
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    request: NewSourceRequest,
) -> Result<SourceRecord, ServiceError> {
    if authorize(&caller.actor, Action::CreateSource { unit_id: caller.actor.unit_id }).is_err() {
        record(state, Some(caller.user.id), "source.create", "sources", None, Outcome::Denied).await?;
        return Err(ServiceError::Forbidden);
    }
    let code_name = validate_code_name(&request.code_name)
        .map_err(|e| ServiceError::refused(ErrorCode::InvalidCodeName, e.to_string()))?
        .to_owned();
    validate_identity(&request.identity, state.now())?;
    let handler = case_officer(state, caller, request.handler.as_deref(), Role::Handler).await?;
    let controller = case_officer(state, caller, request.controller.as_deref(), Role::Controller).await?;
    let now = state.now();
    let draft = SourceDraft {
        code_name: &code_name,
        unit_id: caller.actor.unit_id,
        handler_id: handler.id,
        controller_id: controller.id,
        status: request.status.unwrap_or(SourceStatus::Prospective),
        recruited_at: now,
    };
    let writer = state.change(caller, "source.create", "source:new", None);
    register_sealed(writer, state.keys.provider().as_ref(), draft, &request.identity).await
}

/// A source's record before its identity is sealed and a reference is drawn.
pub struct SourceDraft<'a> {
    pub code_name: &'a str,
    pub unit_id: tearline_domain::UnitId,
    pub handler_id: UserId,
    pub controller_id: UserId,
    pub status: SourceStatus,
    pub recruited_at: Timestamp,
}

/// Draws a pseudonymous reference, seals the identity bound to it, and stores both with
/// the writer's audit entry.
pub async fn register_sealed(
    writer: Writer<'_>,
    keys: &dyn KeyProvider,
    draft: SourceDraft<'_>,
    identity: &Identity,
) -> Result<SourceRecord, ServiceError> {
    let reference = PseudonymousRef::generate(&mut rand::thread_rng());
    let sealed = tearline_vault::seal(keys, identity, reference.as_str().as_bytes())?;
    let source = NewSource {
        code_name: draft.code_name,
        reference: &reference,
        unit_id: draft.unit_id,
        handler_id: draft.handler_id,
        controller_id: draft.controller_id,
        status: draft.status,
        recruited_at: draft.recruited_at,
        sealed: SealedColumns {
            key_id: i64::from(sealed.key_id),
            wrapped_key: sealed.wrapped_key,
            ciphertext: sealed.ciphertext,
        },
    };
    Ok(writer.create_source(source, draft.recruited_at).await?)
}

#[derive(Deserialize)]
pub struct ReassignRequest {
    pub role: CaseRole,
    pub username: String,
}

/// Hands a case role to another officer of the unit; the history keeps who held it before.
pub async fn reassign(
    state: &AppState,
    caller: &Caller,
    id: SourceId,
    request: ReassignRequest,
) -> Result<Vec<Assignment>, ServiceError> {
    load_for(state, caller, id, Action::ReassignSource, "source.reassign").await?;
    let role = match request.role {
        CaseRole::Handler => Role::Handler,
        CaseRole::Controller => Role::Controller,
    };
    let successor = case_officer(state, caller, Some(&request.username), role).await?;
    state
        .change(caller, "source.reassign", &object(id), None)
        .reassign(id, request.role, successor.id, state.now())
        .await?;
    Ok(state.store.assignments(id).await?)
}

/// Data keys re-wrapped per transaction, each with its one audit entry.
const REWRAPS_PER_CHANGE: usize = 256;

/// Adds a key-encryption key and re-wraps every data key under it, identities' and sealed
/// texts' alike. Records stay as they are.
/// `progress` hears (done, total) after each record.
///
/// The rotation is recorded before the key file changes (`vault.rotate`); then the data keys
/// are re-wrapped in changes of up to 256 records, each committing with its entry
/// (`vault.rewrap` naming the records). Each re-wrap is conditional on the key it read, so
/// an interrupted rotation is finished by running it again.
pub async fn rotate_vault_key(
    kernel: &tearline_kernel::Kernel,
    actor: Option<UserId>,
    keys: &crate::state::VaultKeys,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<RotationReport, ServiceError> {
    kernel.record(actor, "vault.rotate", "vault", None, Outcome::Allowed).await?;
    let store = kernel.store();
    let now = kernel.now();
    let key_id = tearline_vault::FileKeyring::add_key(keys.path())?;
    let ring = keys.reload()?;
    for check in ring.checks() {
        store.bookkeeping().remember_vault_key(i64::from(check.key_id), &check.check, now).await?;
    }
    // Identities, then each kind of sealed text; `None` is an identity.
    let mut pending: Vec<(Option<SealedTable>, i64, PseudonymousRef, SealedColumns)> = store
        .sealed_identities_not_under(i64::from(key_id))
        .await?
        .into_iter()
        .map(|(id, reference, columns)| (None, id.0, reference, columns))
        .collect();
    for table in SealedTable::ALL {
        let texts = store.sealed_texts_not_under(table, i64::from(key_id)).await?;
        pending
            .extend(texts.into_iter().map(|(id, reference, columns)| (Some(table), id, reference, columns)));
    }
    let total = pending.len();
    let mut rewrapped = 0;
    let mut done = 0;
    for holder in std::iter::once(None).chain(SealedTable::ALL.map(Some)) {
        let of_holder: Vec<_> = pending.iter().filter(|(h, ..)| *h == holder).collect();
        for chunk in of_holder.chunks(REWRAPS_PER_CHANGE) {
            let mut rewraps = Vec::with_capacity(chunk.len());
            for (_, id, reference, columns) in chunk {
                let binding = match holder {
                    None => reference.as_str().as_bytes().to_vec(),
                    Some(table) => crate::above_line::binding(table.kind(), reference),
                };
                let fresh = tearline_vault::rewrap(ring.as_ref(), &sealed_from_columns(columns)?, &binding)?;
                rewraps.push(Rewrap {
                    id: *id,
                    previous: columns,
                    key_id: i64::from(fresh.key_id),
                    wrapped_key: fresh.wrapped_key,
                });
            }
            let ids: Vec<String> = chunk.iter().map(|(_, id, ..)| id.to_string()).collect();
            let object = format!("{}:{}", holder.map_or("source", SealedTable::kind), ids.join(","));
            let writer = kernel.change(actor, "vault.rewrap", &object, None);
            rewrapped += match holder {
                None => {
                    let rewraps: Vec<Rewrap<'_>> = rewraps
                        .into_iter()
                        .map(|r| Rewrap {
                            id: SourceId(r.id),
                            previous: r.previous,
                            key_id: r.key_id,
                            wrapped_key: r.wrapped_key,
                        })
                        .collect();
                    writer.replace_wrapped_keys(&rewraps).await?.len()
                }
                Some(table) => writer.replace_text_wrapped_keys(table, &rewraps).await?.len(),
            };
            done += chunk.len();
            progress(done, total);
        }
    }
    Ok(RotationReport { key_id: ring.active_key_id(), rewrapped })
}

/// Rotates the vault key on an administrator's behalf: the policy decides, the log records.
pub async fn rotate_vault_key_as(state: &AppState, caller: &Caller) -> Result<RotationReport, ServiceError> {
    crate::audit::require(state, caller, Action::RotateVaultKey, "vault.rotate").await?;
    rotate_vault_key(&state.kernel, Some(caller.user.id), &state.keys, &|_, _| {}).await
}

#[derive(Debug, serde::Serialize)]
pub struct RotationReport {
    pub key_id: u32,
    pub rewrapped: usize,
}

/// The usernames behind ids, for showing assignments.
pub async fn usernames(state: &AppState, ids: &[UserId]) -> Result<Vec<String>, ServiceError> {
    let mut names = Vec::with_capacity(ids.len());
    for id in ids {
        names.push(
            state.store.user(*id).await?.map_or_else(|| format!("user {}", id.0), |user| user.username),
        );
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::check_date_of_birth;
    use tearline_domain::Timestamp;

    /// 2026-12-02.
    const NOW: Timestamp = Timestamp(1_796_169_600_000);

    #[test]
    fn a_date_of_birth_is_a_real_past_calendar_day() {
        assert_eq!(check_date_of_birth("1988-04-17", NOW), Ok(()));
        assert_eq!(check_date_of_birth("2000-02-29", NOW), Ok(()), "a leap day");
        for wrong in [
            "31/02/1990",
            "2090-13-45",
            "1990-02-31",
            "1999-02-29",
            "2027-01-01",
            "1850-01-01",
            "17 April 1988",
        ] {
            assert!(check_date_of_birth(wrong, NOW).is_err(), "{wrong} was accepted");
        }
    }
}
