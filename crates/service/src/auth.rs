//! Logins and sessions: Argon2id password hashing, login with the per-address throttle
//! and the per-account lockout, session tokens (the HTTP crate carries them as a bearer
//! token or a cookie) and CSRF tokens.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tearline_domain::audit::Outcome;
use tearline_domain::policy::Actor;
use tearline_store::User;
use zeroize::Zeroizing;

use crate::error::{ErrorCode, ServiceError};
use crate::state::AppState;

/// Hashes a password with Argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane, the
/// OWASP-recommended minimum) and a random salt.
pub fn hash_password(password: &str) -> Result<String, ServiceError> {
    check_password_policy(password)?;
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ServiceError::internal("password hashing", &e))
}

pub fn check_password_policy(password: &str) -> Result<(), ServiceError> {
    let length = password.chars().count();
    if !(12..=256).contains(&length) {
        return Err(ServiceError::refused(
            ErrorCode::WeakPassword,
            "a password must be 12 to 256 characters",
        ));
    }
    Ok(())
}

fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A hash of a password no one has, verified against when the username is unknown so that
/// the answer takes as long as for a real account.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"decoy password never issued", &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

pub fn random_token() -> String {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    URL_SAFE_NO_PAD.encode(bytes.as_ref())
}

/// Sessions are looked up by the hash of their token, so the sessions table cannot be
/// replayed from a stolen database copy.
fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A session just opened: the token goes to the client once and is never stored.
pub struct OpenedSession {
    pub token: Zeroizing<String>,
    pub csrf_token: String,
    pub user: User,
}

/// Refuses a login attempt from an address that used up its window, before any hashing.
/// Only the first refusal of a window is audited, so an anonymous client grows the log by
/// at most one entry per window once its budget is spent.
async fn throttle(state: &AppState, client: Option<&str>) -> Result<(), ServiceError> {
    let Some(address) = client else { return Ok(()) };
    let settings = &state.settings;
    let attempt = state
        .store
        .bookkeeping()
        .reserve_address_attempt(address, state.now(), settings.address_window_millis)
        .await?;
    if attempt <= settings.attempts_per_address {
        return Ok(());
    }
    if attempt == settings.attempts_per_address + 1 {
        crate::audit::record(
            state,
            None,
            "auth.login.throttled",
            &format!("address:{address}"),
            None,
            Outcome::Denied,
        )
        .await?;
    }
    Err(ServiceError::refused(
        ErrorCode::TooManyAttempts,
        "too many login attempts from this address; try again in a few minutes",
    ))
}

/// Checks a username and password, applying the per-address throttle (`client` is the
/// address the attempt came from, when it came over a socket) and the per-account lockout
/// before any hashing, and opens a session.
pub async fn log_in(
    state: &AppState,
    client: Option<&str>,
    username: &str,
    password: &str,
) -> Result<OpenedSession, ServiceError> {
    let attempt = attempt_log_in(state, client, username, password).await;
    if let Err(ServiceError::Refused { code, .. }) = &attempt {
        state.metrics.login_refused(code.as_str());
    }
    attempt
}

async fn attempt_log_in(
    state: &AppState,
    client: Option<&str>,
    username: &str,
    password: &str,
) -> Result<OpenedSession, ServiceError> {
    throttle(state, client).await?;
    let now = state.now();
    let invalid = || ServiceError::refused(ErrorCode::InvalidCredentials, "wrong username or password");
    let Some(user) = state.store.user_by_username(username).await? else {
        let password = Zeroizing::new(password.to_owned());
        state.cpu.run(move || verify_password(decoy_hash(), &password)).await.map_err(hashing_failed)?;
        crate::audit::record(state, None, "auth.login", "user:unknown", None, Outcome::Denied).await?;
        return Err(invalid());
    };
    let object = format!("user:{}", user.id.0);
    let settings = &state.settings;
    let lock_until = now.plus_millis(settings.lockout_millis);
    let reserved = state
        .store
        .bookkeeping()
        .reserve_login_attempt(user.id, now, settings.lock_after_failures, lock_until)
        .await?;
    if reserved.is_none() {
        crate::audit::record(state, Some(user.id), "auth.login.locked", &object, None, Outcome::Denied)
            .await?;
        return Err(ServiceError::refused(ErrorCode::AccountLocked,
            "too many failed logins: this account is locked for a while; try again later or ask an administrator",
        ));
    }
    let (hash, password) = (user.password_hash.clone(), Zeroizing::new(password.to_owned()));
    if !state.cpu.run(move || verify_password(&hash, &password)).await.map_err(hashing_failed)? {
        crate::audit::record(state, Some(user.id), "auth.login", &object, None, Outcome::Denied).await?;
        return Err(invalid());
    }
    state.store.bookkeeping().clear_login_failures(user.id).await?;
    if let Some(address) = client {
        state.store.bookkeeping().refund_address_attempt(address).await?;
    }
    if user.disabled {
        crate::audit::record(state, Some(user.id), "auth.login.disabled", &object, None, Outcome::Denied)
            .await?;
        return Err(ServiceError::refused(
            ErrorCode::AccountDisabled,
            "this account is disabled; an administrator can enable it again",
        ));
    }
    if user.awaiting_approval {
        crate::audit::record(state, Some(user.id), "auth.login.unapproved", &object, None, Outcome::Denied)
            .await?;
        return Err(ServiceError::refused(
            ErrorCode::AccountAwaitingApproval,
            "this account takes effect when a senior controller of its unit approves it",
        ));
    }
    let token = Zeroizing::new(random_token());
    let csrf_token = random_token();
    let expires = now.plus_millis(state.settings.session_lifetime_millis);
    state.store.bookkeeping().create_session(&token_hash(&token), user.id, &csrf_token, now, expires).await?;
    crate::audit::record(state, Some(user.id), "auth.login", &object, None, Outcome::Allowed).await?;
    Ok(OpenedSession { token, csrf_token, user })
}

fn hashing_failed(error: tearline_kernel::PoolStopped) -> ServiceError {
    ServiceError::internal("password hashing", &error)
}

pub async fn log_out(state: &AppState, caller: &Caller) -> Result<(), ServiceError> {
    state.store.bookkeeping().delete_session(&token_hash(&caller.token)).await?;
    crate::audit::record(
        state,
        Some(caller.user.id),
        "auth.logout",
        &format!("user:{}", caller.user.id.0),
        None,
        Outcome::Allowed,
    )
    .await?;
    Ok(())
}

/// How the caller presented their session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    Bearer,
    Cookie,
}

/// An authenticated caller. Extracting it is what makes a route require a login; what the
/// caller may then do is for the policy to say.
pub struct Caller {
    pub user: User,
    pub actor: Actor,
    pub csrf_token: String,
    pub presented: Presented,
    token: Zeroizing<String>,
}

impl Caller {
    /// The server acting as one of its users without a session (the demo seed): the same
    /// policy and audit trail apply as to a request.
    pub fn acting_as(user: User) -> Caller {
        Caller {
            actor: Actor {
                user_id: user.id,
                unit_id: user.unit_id,
                role: user.role,
                seniority: user.seniority,
            },
            user,
            csrf_token: String::new(),
            presented: Presented::Bearer,
            token: Zeroizing::new(String::new()),
        }
    }

    /// Checks a CSRF token sent with a cookie-authenticated change.
    pub fn check_csrf(&self, sent: &str) -> Result<(), ServiceError> {
        if self.presented == Presented::Bearer
            || bool::from(self.csrf_token.as_bytes().ct_eq(sent.as_bytes()))
        {
            Ok(())
        } else {
            Err(ServiceError::refused(
                ErrorCode::CsrfFailed,
                "the form is stale or forged; reload the page and try again",
            ))
        }
    }
}

/// The caller a session token stands for, while the session lasts.
pub async fn authenticate(
    state: &AppState,
    token: &str,
    presented: Presented,
) -> Result<Caller, ServiceError> {
    let session = state.store.session(&token_hash(token), state.now()).await?.ok_or_else(unauthenticated)?;
    Ok(Caller {
        actor: Actor {
            user_id: session.user.id,
            unit_id: session.user.unit_id,
            role: session.user.role,
            seniority: session.user.seniority,
        },
        user: session.user,
        csrf_token: session.csrf_token,
        presented,
        token: Zeroizing::new(token.to_owned()),
    })
}

pub fn unauthenticated() -> ServiceError {
    ServiceError::refused(ErrorCode::Unauthenticated, "log in first: send a bearer token or a session cookie")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_with_argon2id_and_verified() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse battery!"));
        assert!(!verify_password("not a hash", "anything"));
        assert_eq!(hash_password("short").unwrap_err().code(), crate::error::ErrorCode::WeakPassword);
    }
}
