//! User accounts as administrators manage them.

use serde::{Deserialize, Serialize};
use tearline_domain::audit::Outcome;
use tearline_domain::policy::Action;
use tearline_domain::{Role, Seniority, Timestamp, UnitId, UserId};
use tearline_store::{NewUser, Store, User};
use zeroize::Zeroizing;

use crate::audit::{record, require};
use crate::auth::{hash_password, Caller};
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

/// Creates an account (and its unit, if new). Callers decide who may: the API asks the
/// policy; the CLI is run by whoever holds the data directory.
pub async fn create_user(
    store: &Store,
    request: &NewUserRequest,
    now: Timestamp,
) -> Result<UserView, ApiError> {
    let username = validate_username(request.username.trim())?;
    let unit_name = request.unit.trim();
    if unit_name.is_empty() || unit_name.chars().count() > 100 {
        return Err(ApiError::bad_request("invalid_unit", "a unit name is 1 to 100 characters"));
    }
    let display_name =
        request.display_name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or(username);
    let password_hash = hash_password(&request.password)?;
    let unit_id = match store.units().await?.into_iter().find(|unit| unit.name == unit_name) {
        Some(unit) => unit.id,
        None => store.create_unit(unit_name, now).await?,
    };
    let id = store
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
    let created = create_user(&state.store, request, state.now()).await?;
    let object = format!("user:{}", created.id.0);
    record(state, Some(caller.user.id), "user.create", &object, None, Outcome::Allowed).await?;
    Ok(created)
}
