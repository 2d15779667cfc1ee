//! User accounts as administrators manage them.

use serde::{Deserialize, Serialize};
use tearline_domain::policy::Action;
use tearline_domain::{Role, Seniority, Standing, Timestamp, UnitId, UserId};
use tearline_store::{AccountChange, NewUser, User};
use zeroize::Zeroizing;

use tearline_kernel::{CpuPool, Kernel, Lookup};

use crate::audit::require;
use crate::auth::{check_password_policy, hash_password, Caller};
use crate::error::{ErrorCode, ServiceError};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct NewUserRequest {
    pub username: String,
    #[serde(default)]
    pub display_name: Option<String>,
    pub role: Role,
    /// Standard unless said otherwise; senior officers authorise juveniles and vulnerable
    /// sources and approve payments above the thresholds.
    #[serde(default)]
    pub seniority: Seniority,
    /// The unit's name; created if it does not exist yet.
    pub unit: String,
    pub password: Zeroizing<String>,
}

/// An account as shown to administrators and to its owner: never the password hash.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct UserView {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub seniority: Seniority,
    pub unit_id: UnitId,
    /// Waits for a senior controller of its unit before it takes effect.
    pub awaiting_approval: bool,
    /// Disabled by an administrator: it cannot log in.
    pub disabled: bool,
    /// A change of its role, seniority or unit that waits for a senior controller.
    pub pending_change: Option<AccountChangeView>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> UserView {
        UserView {
            id: user.id,
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            role: user.role,
            seniority: user.seniority,
            unit_id: user.unit_id,
            awaiting_approval: user.awaiting_approval,
            disabled: user.disabled,
            pending_change: None,
        }
    }
}

/// A change of an account's role, seniority or unit, as an administrator asks for it.
#[derive(Deserialize)]
pub struct AccountChangeRequest {
    pub role: Role,
    #[serde(default)]
    pub seniority: Seniority,
    /// The unit's name; created if it does not exist yet.
    pub unit: String,
}

/// A change of account that waits for a senior controller of the unit it names.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AccountChangeView {
    pub id: i64,
    pub user_id: UserId,
    pub role: Role,
    pub seniority: Seniority,
    pub unit_id: UnitId,
    pub requested_at: Timestamp,
}

impl From<&AccountChange> for AccountChangeView {
    fn from(change: &AccountChange) -> AccountChangeView {
        AccountChangeView {
            id: change.id,
            user_id: change.user_id,
            role: change.to.role,
            seniority: change.to.seniority,
            unit_id: change.to.unit_id,
            requested_at: change.requested_at,
        }
    }
}

/// A change that waits for the caller's approval, with the account as it is now.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ChangeAwaitingApproval {
    pub change: AccountChangeView,
    pub account: UserView,
    /// The names of the account's unit now and of the unit the change names.
    pub unit_now: String,
    pub unit_asked: String,
}

pub fn validate_username(username: &str) -> Result<&str, ServiceError> {
    let valid = (3..=40).contains(&username.len())
        && username.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if valid {
        Ok(username)
    } else {
        Err(ServiceError::refused(
            ErrorCode::InvalidUsername,
            "a username is 3 to 40 characters of lowercase letters, digits, '.', '_' or '-'",
        ))
    }
}

/// A unit's name: 1 to 100 characters once trimmed.
pub fn validate_unit(unit: &str) -> Result<&str, ServiceError> {
    let unit = unit.trim();
    if unit.is_empty() || unit.chars().count() > 100 {
        return Err(ServiceError::refused(ErrorCode::InvalidUnit, "a unit name is 1 to 100 characters"));
    }
    Ok(unit)
}

/// Creates an account (and its unit, if new) through the kernel: each change commits
/// with its audit entry, recorded as `actor`'s (`None`: the installation itself, that is
/// the command line run by whoever holds the data directory, or the demo seed).
pub async fn create_user(
    kernel: &Kernel,
    cpu: &CpuPool,
    actor: Option<UserId>,
    request: &NewUserRequest,
) -> Result<UserView, ServiceError> {
    let username = validate_username(request.username.trim())?;
    let unit_name = validate_unit(&request.unit)?;
    check_password_policy(&request.password)?;
    let display_name =
        request.display_name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or(username);
    let store = kernel.store();
    if store.user_by_username(username).await?.is_some() {
        return Err(tearline_store::StoreError::Conflict("a user with that username").into());
    }
    let password = request.password.clone();
    let password_hash = cpu
        .run(move || hash_password(&password))
        .await
        .map_err(|e| ServiceError::internal("password hashing", &e))??;
    // Two people deep: an account that could unseal, made by a person, waits for a senior
    // controller of its unit. The installation itself (the command line run by whoever
    // holds the data directory and the key file, and the demo seed) needs no second
    // person: it holds every identity already.
    let awaiting_approval = actor.is_some() && request.role.reaches_identities();
    let now = kernel.now();
    let unit_id = match unit_named(kernel, unit_name).await? {
        Some(unit) => unit,
        None => kernel.change(actor, "unit.create", "unit:new", None).create_unit(unit_name, now).await?,
    };
    let id = kernel
        .change(actor, "user.create", "user:new", None)
        .create_user(
            NewUser {
                username,
                display_name,
                role: request.role,
                seniority: request.seniority,
                unit_id,
                password_hash: &password_hash,
                awaiting_approval,
            },
            now,
        )
        .await?;
    Ok(UserView {
        id,
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        role: request.role,
        seniority: request.seniority,
        unit_id,
        awaiting_approval,
        disabled: false,
        pending_change: None,
    })
}

/// The name of the unit `id` among `units` ("" for none).
pub fn unit_name_of(units: &[tearline_store::Unit], id: UnitId) -> String {
    units.iter().find(|u| u.id == id).map(|u| u.name.clone()).unwrap_or_default()
}

async fn unit_named(kernel: &Kernel, name: &str) -> Result<Option<UnitId>, ServiceError> {
    Ok(kernel.store().units().await?.into_iter().find(|unit| unit.name == name).map(|unit| unit.id))
}

/// Creates an account on an administrator's behalf: the policy decides, the trail records.
pub async fn create_user_as(
    state: &AppState,
    caller: &Caller,
    request: &NewUserRequest,
) -> Result<UserView, ServiceError> {
    require(state, caller, Action::ManageUsers, "user.create").await?;
    create_user(&state.kernel, &state.cpu, Some(caller.user.id), request).await
}

/// The name of the caller's own unit.
pub async fn my_unit_name(state: &AppState, caller: &Caller) -> Result<String, ServiceError> {
    Ok(unit_name_of(&state.store.units().await?, caller.actor.unit_id))
}

/// The username of an officer of the caller's unit holding `role`, to offer as the
/// counterpart on a form (a controller for a handler's new source, and the reverse).
pub async fn colleague_in_role(
    state: &AppState,
    caller: &Caller,
    role: Role,
) -> Result<Option<String>, ServiceError> {
    let users = state.store.users().await?;
    Ok(users.into_iter().find(|u| u.unit_id == caller.actor.unit_id && u.role == role).map(|u| u.username))
}

/// Every account, with the changes that wait for approval and the units they belong to,
/// for an administrator.
pub async fn list(
    state: &AppState,
    caller: &Caller,
) -> Result<(Vec<UserView>, Vec<tearline_store::Unit>), ServiceError> {
    require(state, caller, Action::ManageUsers, "user.list").await?;
    let changes = state.store.account_changes().await?;
    let users = state
        .store
        .users()
        .await?
        .iter()
        .map(|user| UserView {
            pending_change: changes.iter().find(|c| c.user_id == user.id).map(AccountChangeView::from),
            ..UserView::from(user)
        })
        .collect();
    Ok((users, state.store.units().await?))
}

/// Loads an account an administrator may change (never their own): another account, or a
/// missing one, answers alike.
async fn load_to_change(
    state: &AppState,
    caller: &Caller,
    id: UserId,
    audit_action: &str,
) -> Result<User, ServiceError> {
    let object = format!("user:{}", id.0);
    let found = state.store.user(id).await?.map(|user| (user, Action::ChangeAccount { account: id }));
    let lookup = Lookup { kind: "account", audit_action, object: &object };
    Ok(state.kernel.scoped(&caller.actor, lookup, found).await?)
}

async fn view_of(state: &AppState, id: UserId) -> Result<UserView, ServiceError> {
    let user = state.store.user(id).await?.ok_or_else(|| ServiceError::not_found("account"))?;
    let pending = state.store.account_changes().await?.into_iter().find(|c| c.user_id == id);
    Ok(UserView { pending_change: pending.as_ref().map(AccountChangeView::from), ..UserView::from(&user) })
}

/// How an audit entry names a standing: role, seniority and unit.
fn described(to: Standing) -> String {
    format!("to {} ({}) in unit {}", to.role, to.seniority.as_str(), to.unit_id.0)
}

/// Changes an account's role, seniority or unit. Two people deep: a change after which
/// the account reaches identities it may not reach now waits for a senior controller of
/// its new unit (the account works as before meanwhile); one that narrows, or leaves the
/// account reaching no identity, takes effect at once and withdraws any change that waited.
/// An account that cannot log in (awaiting approval, or disabled) is changed at once: it
/// takes effect through an approval when it next could. Nobody changes their own account,
/// and an account that still handles or controls a source keeps its role and unit until a
/// controller reassigns them.
pub async fn change_account(
    state: &AppState,
    caller: &Caller,
    id: UserId,
    request: &AccountChangeRequest,
) -> Result<UserView, ServiceError> {
    let user = load_to_change(state, caller, id, "user.change").await?;
    let unit_name = validate_unit(&request.unit)?;
    let from = user.standing();
    let unit = unit_named(&state.kernel, unit_name).await?;
    if (unit != Some(from.unit_id) || request.role != from.role)
        && state.store.current_assignments_of(id).await? > 0
    {
        return Err(ServiceError::refused(
            ErrorCode::HoldsSources,
            "this account still handles or controls sources; a controller reassigns them before its role or unit changes",
        ));
    }
    let unit_id = match unit {
        Some(unit) => unit,
        None => {
            state.change(caller, "unit.create", "unit:new", None).create_unit(unit_name, state.now()).await?
        }
    };
    let to = Standing { role: request.role, seniority: request.seniority, unit_id };
    let object = format!("user:{}", id.0);
    let reason = described(to);
    let in_effect = !user.awaiting_approval && !user.disabled;
    if in_effect && from.change_needs_second_person(to) {
        state
            .change(caller, "user.change.request", &object, Some(&reason))
            .request_account_change(id, from, to, Some(caller.user.id), state.now())
            .await?;
    } else {
        state
            .change(caller, "user.change", &object, Some(&reason))
            .change_account(id, from, to, state.now())
            .await?;
    }
    view_of(state, id).await
}

/// Disables an account at once, recorded as `actor`'s (`None`: the installation, as for
/// [`create_user`]): it cannot log in, its sessions end, and a change of it that waited
/// is dropped.
pub async fn disable(kernel: &Kernel, actor: Option<UserId>, id: UserId) -> Result<(), ServiceError> {
    let object = format!("user:{}", id.0);
    Ok(kernel.change(actor, "user.disable", &object, None).disable_account(id, kernel.now()).await?)
}

/// Enables a disabled account again, recorded as `actor`'s. Enabled by a person, an
/// account whose role reaches identities waits for a senior controller of its unit, as a
/// new account would; enabled by the installation, it takes effect at once.
pub async fn enable(kernel: &Kernel, actor: Option<UserId>, user: &User) -> Result<(), ServiceError> {
    let object = format!("user:{}", user.id.0);
    let awaiting = actor.is_some() && user.role.reaches_identities();
    Ok(kernel.change(actor, "user.enable", &object, None).enable_account(user.id, awaiting).await?)
}

/// Disables an account on an administrator's behalf. Nobody disables their own account.
pub async fn disable_account(
    state: &AppState,
    caller: &Caller,
    id: UserId,
) -> Result<UserView, ServiceError> {
    load_to_change(state, caller, id, "user.disable").await?;
    disable(&state.kernel, Some(caller.user.id), id).await?;
    view_of(state, id).await
}

/// Enables an account on an administrator's behalf.
pub async fn enable_account(state: &AppState, caller: &Caller, id: UserId) -> Result<UserView, ServiceError> {
    let user = load_to_change(state, caller, id, "user.enable").await?;
    enable(&state.kernel, Some(caller.user.id), &user).await?;
    view_of(state, id).await
}

/// Whether a unit's Actual warnings need a second warning officer; administrators decide.
pub async fn set_warning_approval(
    state: &AppState,
    caller: &Caller,
    unit: UnitId,
    required: bool,
) -> Result<(), ServiceError> {
    require(state, caller, Action::ManageUsers, "unit.warning-approval").await?;
    state.store.unit_requires_approval(unit).await?;
    let object = format!("unit:{}", unit.0);
    Ok(state
        .change(caller, "unit.warning-approval", &object, None)
        .set_unit_requires_approval(unit, required)
        .await?)
}

fn may_approve(caller: &Caller, unit_id: UnitId, account: UserId) -> bool {
    tearline_domain::policy::authorize(&caller.actor, Action::ApproveAccount { unit_id, account }).is_ok()
}

/// The accounts that wait for the caller's approval: none when the caller may not approve
/// accounts (the policy decides each).
pub async fn awaiting_my_approval(state: &AppState, caller: &Caller) -> Result<Vec<UserView>, ServiceError> {
    let users = state.store.users().await?;
    Ok(users
        .iter()
        .filter(|u| u.awaiting_approval && !u.disabled && may_approve(caller, u.unit_id, u.id))
        .map(UserView::from)
        .collect())
}

/// The changes of account that wait for the caller's approval, with each account as it
/// is now: none when the caller may not approve them.
pub async fn changes_awaiting_my_approval(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<ChangeAwaitingApproval>, ServiceError> {
    let mine: Vec<AccountChange> = state
        .store
        .account_changes()
        .await?
        .into_iter()
        .filter(|c| may_approve(caller, c.to.unit_id, c.user_id))
        .collect();
    if mine.is_empty() {
        return Ok(Vec::new());
    }
    let users = state.store.users().await?;
    let units = state.store.units().await?;
    Ok(mine
        .iter()
        .filter_map(|change| {
            let user = users.iter().find(|u| u.id == change.user_id)?;
            Some(ChangeAwaitingApproval {
                change: change.into(),
                account: user.into(),
                unit_now: unit_name_of(&units, user.unit_id),
                unit_asked: unit_name_of(&units, change.to.unit_id),
            })
        })
        .collect())
}

/// What a senior controller decides about a change of account that waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeDecision {
    /// The account takes the new standing at once.
    Approve,
    /// The change is dropped; the account stays as it is.
    Refuse,
}

impl ChangeDecision {
    fn audit_action(self) -> &'static str {
        match self {
            ChangeDecision::Approve => "user.change.approve",
            ChangeDecision::Refuse => "user.change.refuse",
        }
    }
}

/// A senior controller of the unit a change names decides it — never the account's own
/// holder; any other caller, or a change that does not exist, answers alike. Two decisions
/// at once take effect once (the other answers 409).
pub async fn decide_change(
    state: &AppState,
    caller: &Caller,
    id: i64,
    decision: ChangeDecision,
) -> Result<UserView, ServiceError> {
    let action = decision.audit_action();
    let object = format!("account-change:{id}");
    let found = state.store.account_change(id).await?.map(|change| {
        let asked = Action::ApproveAccount { unit_id: change.to.unit_id, account: change.user_id };
        (change, asked)
    });
    let lookup = Lookup { kind: "account change", audit_action: action, object: &object };
    let change = state.kernel.scoped(&caller.actor, lookup, found).await?;
    let account = format!("user:{}", change.user_id.0);
    let reason = format!("{object} {}", described(change.to));
    let writer = state.change(caller, action, &account, Some(&reason));
    let user = match decision {
        ChangeDecision::Approve => writer.apply_account_change(id, caller.user.id, state.now()).await?,
        ChangeDecision::Refuse => writer.refuse_account_change(id, caller.user.id, state.now()).await?,
    };
    view_of(state, user).await
}

/// A senior controller of the account's unit lets it take effect: the second person an
/// account that reaches identities needs. Another unit's account answers like a missing one.
pub async fn approve(state: &AppState, caller: &Caller, id: UserId) -> Result<UserView, ServiceError> {
    let object = format!("user:{}", id.0);
    let found = state.store.user(id).await?.filter(|u| u.awaiting_approval && !u.disabled).map(|user| {
        let asked = Action::ApproveAccount { unit_id: user.unit_id, account: user.id };
        (user, asked)
    });
    let lookup = Lookup { kind: "account awaiting approval", audit_action: "user.approve", object: &object };
    let user = state.kernel.scoped(&caller.actor, lookup, found).await?;
    state.change(caller, "user.approve", &object, None).approve_account(user.id, caller.user.id).await?;
    view_of(state, id).await
}
