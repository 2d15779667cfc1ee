//! The kernel's guarantees through the API: parallel wrong passwords are evaluated at most
//! as often as the lockout allows.

mod common;

use axum::http::{Method, StatusCode};
use common::{harness, harness_on, Harness};
use serde_json::json;
use tearline_domain::audit::{AuditLog, Outcome};
use tearline_store::Backend;

async fn fifty_parallel_wrong_passwords_get_at_most_the_lockout_count_evaluated(h: Harness) {
    let size = h.state.log.size().await.unwrap();
    let attempts = (0..50).map(|n| {
        let app = h.app.clone();
        tokio::spawn(async move {
            let request = axum::http::Request::post("/api/v1/auth/login")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    json!({"username": "hana", "password": format!("wrong guess number {n}")}).to_string(),
                ))
                .unwrap();
            tower::ServiceExt::oneshot(app, request).await.unwrap().status()
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        statuses.push(attempt.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS));
    let events = h.state.log.read(size, 10_000).await.unwrap();
    let evaluated = events
        .iter()
        .filter(|e| e.event.action == "auth.login" && e.event.outcome == Outcome::Denied)
        .count();
    let lock_after = usize::try_from(h.state.settings.lock_after_failures).unwrap();
    assert!(evaluated <= lock_after, "{evaluated} guesses were verified; the lockout allows {lock_after}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), evaluated);
    // Locked now: even the right password is not checked.
    let right = h
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "hana", "password": "demo-handler-pass"})),
        )
        .await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_wrong_passwords_get_at_most_the_lockout_count_evaluated_on_sqlite() {
    fifty_parallel_wrong_passwords_get_at_most_the_lockout_count_evaluated(harness().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_wrong_passwords_get_at_most_the_lockout_count_evaluated_on_postgres() {
    fifty_parallel_wrong_passwords_get_at_most_the_lockout_count_evaluated(
        harness_on(Backend::Postgres).await,
    )
    .await;
}

/// A login request as it arrives over a socket from `address`.
fn login_from(address: &str, username: &str, password: &str) -> axum::http::Request<axum::body::Body> {
    let mut request = axum::http::Request::post("/api/v1/auth/login")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(json!({"username": username, "password": password}).to_string()))
        .unwrap();
    let peer: std::net::SocketAddr = format!("{address}:40000").parse().unwrap();
    request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
    request
}

/// One client address guessing across many accounts, known and unknown, is stopped before
/// any hashing once its budget is spent, and grows the log by one entry for it; other
/// addresses are unaffected, and a successful login spends nothing.
#[tokio::test]
async fn one_address_guessing_across_accounts_is_throttled_before_hashing_and_audited_once() {
    let h = harness().await;
    let budget = usize::try_from(h.state.settings.attempts_per_address).unwrap();
    let right = h.send(login_from("203.0.113.7", "hana", "demo-handler-pass")).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.body);
    let size = h.state.log.size().await.unwrap();
    let mut statuses = Vec::new();
    for n in 0..budget + 20 {
        let username =
            if n % 2 == 0 { format!("nobody-{n}") } else { ["anders", "wren", "ines"][n % 3].to_owned() };
        statuses.push(h.send(login_from("203.0.113.7", &username, "not the password at all")).await.status);
    }
    assert!(statuses[..budget].iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert!(statuses[budget..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    let events = h.state.log.read(size, 10_000).await.unwrap();
    let throttled = events.iter().filter(|e| e.event.action == "auth.login.throttled").count();
    let verified = events.iter().filter(|e| e.event.action == "auth.login").count();
    assert_eq!((throttled, verified), (1, budget), "one entry for the throttle, one per verified guess");
    let elsewhere = h.send(login_from("198.51.100.9", "hana", "demo-handler-pass")).await;
    assert_eq!(elsewhere.status, StatusCode::OK, "another address is not throttled");
    h.advance(h.state.settings.address_window_millis);
    let later = h.send(login_from("203.0.113.7", "hana", "demo-handler-pass")).await;
    assert_eq!(later.status, StatusCode::OK, "the window passes");
}
