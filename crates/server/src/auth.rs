//! Sessions as HTTP carries them: a bearer token for the API, an `HttpOnly;
//! SameSite=Strict` cookie for the UI, the CSRF header on cookie-authenticated API changes,
//! and the client's address for the login throttle. What a session is and who may log in
//! is `tearline_service::auth`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use tearline_service::auth::{authenticate, unauthenticated, Caller, Presented};
use tearline_service::{AppState, ServerSettings};

use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "tearline_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The address a request came from: the peer's IP, or behind a TLS-terminating proxy the
/// address that proxy appended to `X-Forwarded-For` (the rightmost, the only one it
/// vouches for). `None` for requests that did not come over a socket (in-process tests).
#[derive(Debug, Clone, Default)]
pub struct ClientAddress(pub Option<String>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<ClientAddress, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .map(str::trim)
            .filter(|address| address.parse::<std::net::IpAddr>().is_ok())
            .map(str::to_owned);
        Ok(ClientAddress(if state.settings.behind_tls { forwarded.or(peer) } else { peer }))
    }
}

/// The `Set-Cookie` value for a UI session: `HttpOnly` so no script reads it, `SameSite=Strict`
/// so no other site sends it, `Secure` behind TLS. `None` clears the cookie.
pub fn session_cookie(settings: &ServerSettings, token: Option<&str>) -> String {
    let max_age = token.map_or(0, |_| settings.session_lifetime_millis / 1000);
    let secure = if settings.behind_tls { "; Secure" } else { "" };
    let value = token.unwrap_or("");
    format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

pub fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// An authenticated caller, as a handler extracts it. Extracting it is what makes a route
/// require a login; what the caller may then do is for the policy to say.
pub struct Session(pub Caller);

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Session, ApiError> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let (token, presented) = match bearer {
            Some(token) => (token, Presented::Bearer),
            None => {
                (cookie_value(&parts.headers, SESSION_COOKIE).ok_or_else(unauthenticated)?, Presented::Cookie)
            }
        };
        let caller = authenticate(state, token, presented).await?;
        // API changes made with a cookie must carry the CSRF token in a header; forms carry
        // it as a field and are checked by their handlers.
        let changes = !matches!(parts.method, Method::GET | Method::HEAD);
        if changes && presented == Presented::Cookie && parts.uri.path().starts_with("/api/") {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            caller.check_csrf(sent)?;
        }
        Ok(Session(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_strict_http_only_and_secure_behind_tls() {
        let plain = ServerSettings::default();
        let tls = ServerSettings { behind_tls: true, ..ServerSettings::default() };
        assert_eq!(
            session_cookie(&plain, Some("t0k")),
            "tearline_session=t0k; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200"
        );
        assert!(session_cookie(&tls, Some("t0k")).ends_with("; Secure"));
        assert_eq!(
            session_cookie(&tls, None),
            "tearline_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
    }
}
