//! User accounts as administrators manage them.

use serde::{Deserialize, Serialize};
use tearline_domain::policy::Action;
use tearline_domain::{Role, Seniority, UnitId, UserId};
use tearline_store::{NewUser, User};
use zeroize::Zeroizing;

use tearline_kernel::{CpuPool, Kernel};

use crate::audit::require;
use crate::auth::{check_password_policy, hash_password, Caller};
use crate::error::ApiError;
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
        }
    }
}

pub fn validate_username(username: &str) -> Result<&str, ApiError> {
    let valid = (3..=40).contains(&username.len())
        && username.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if valid {
        Ok(username)
    } else {
        Err(ApiError::bad_request(
            "invalid_username",
            "a username is 3 to 40 characters of lowercase letters, digits, '.', '_' or '-'",
        ))
    }
}

/// Creates an account (and its unit, if new) through the kernel: each change commits
/// with its audit entry, recorded as `actor`'s (`None`: the installation itself, that is
/// the command line run by whoever holds the data directory, or the demo seed).
pub async fn create_user(
    kernel: &Kernel,
    cpu: &CpuPool,
    actor: Option<UserId>,
    request: &NewUserRequest,
) -> Result<UserView, ApiError> {
    let username = validate_username(request.username.trim())?;
    let unit_name = request.unit.trim();
    if unit_name.is_empty() || unit_name.chars().count() > 100 {
        return Err(ApiError::bad_request("invalid_unit", "a unit name is 1 to 100 characters"));
    }
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
        .map_err(|e| ApiError::internal("password hashing", &e))??;
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
    })
}

/// Creates an account on an administrator's behalf: the policy decides, the trail records.
pub async fn create_user_as(
    state: &AppState,
    caller: &Caller,
    request: &NewUserRequest,
) -> Result<UserView, ApiError> {
    require(state, caller, Action::ManageUsers, "user.create").await?;
    create_user(&state.kernel, &state.cpu, Some(caller.user.id), request).await
}
