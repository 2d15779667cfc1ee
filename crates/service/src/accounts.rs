//! User accounts as administrators manage them.

use serde::{Deserialize, Serialize};
use tearline_domain::policy::Action;
use tearline_domain::{Role, Seniority, UnitId, UserId};
use tearline_store::{NewUser, User};
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
        }
    }
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
    let unit_id = match store.units().await?.into_iter().find(|unit| unit.name == unit_name) {
        Some(unit) => unit.id,
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
    })
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
    let units = state.store.units().await?;
    Ok(units
        .into_iter()
        .find(|unit| unit.id == caller.actor.unit_id)
        .map(|unit| unit.name)
        .unwrap_or_default())
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

/// Every account, with the units they belong to, for an administrator.
pub async fn list(
    state: &AppState,
    caller: &Caller,
) -> Result<(Vec<UserView>, Vec<tearline_store::Unit>), ServiceError> {
    require(state, caller, Action::ManageUsers, "user.list").await?;
    let users = state.store.users().await?.iter().map(UserView::from).collect();
    Ok((users, state.store.units().await?))
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

fn approve_accounts(unit_id: UnitId) -> Action {
    Action::ApproveAccount { unit_id }
}

/// The accounts of the caller's unit that wait for the caller's approval: none when the
/// caller may not approve accounts.
pub async fn awaiting_my_approval(state: &AppState, caller: &Caller) -> Result<Vec<UserView>, ServiceError> {
    if tearline_domain::policy::authorize(&caller.actor, approve_accounts(caller.actor.unit_id)).is_err() {
        return Ok(Vec::new());
    }
    let users = state.store.users().await?;
    Ok(users
        .iter()
        .filter(|u| u.awaiting_approval && u.unit_id == caller.actor.unit_id)
        .map(UserView::from)
        .collect())
}

/// A senior controller of the account's unit lets it take effect: the second person an
/// account that reaches identities needs. Another unit's account answers like a missing one.
pub async fn approve(state: &AppState, caller: &Caller, id: UserId) -> Result<UserView, ServiceError> {
    let object = format!("user:{}", id.0);
    let found = state.store.user(id).await?.filter(|u| u.awaiting_approval).map(|user| {
        let asked = approve_accounts(user.unit_id);
        (user, asked)
    });
    let lookup = Lookup { kind: "account awaiting approval", audit_action: "user.approve", object: &object };
    let user = state.kernel.scoped(&caller.actor, lookup, found).await?;
    state.change(caller, "user.approve", &object, None).approve_account(user.id, caller.user.id).await?;
    let approved = state.store.user(id).await?.ok_or_else(|| ServiceError::not_found("account"))?;
    Ok(UserView::from(&approved))
}
