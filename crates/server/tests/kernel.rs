//! The kernel's guarantees through the API: parallel wrong passwords are evaluated at most
//! as often as the lockout allows, one address is throttled before any hashing, and a
//! record decided twice at once is decided once.

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

/// Two callers acting on one record at the same moment: exactly one succeeds, the other
/// answers 409, and the log holds one entry of the action.
async fn twice_at_once(h: &Harness, token: &str, path: &str, body: Option<serde_json::Value>, action: &str) {
    let size = h.state.log.size().await.unwrap();
    let calls = (0..2).map(|_| {
        let app = h.app.clone();
        let request = axum::http::Request::post(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.clone().unwrap_or(json!({})).to_string()))
            .unwrap();
        tokio::spawn(async move { tower::ServiceExt::oneshot(app, request).await.unwrap().status() })
    });
    let mut statuses = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        statuses.push(call.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{path}");
    let events = h.state.log.read(size, 10_000).await.unwrap();
    let done =
        events.iter().filter(|e| e.event.action == action && e.event.outcome == Outcome::Allowed).count();
    assert_eq!(done, 1, "{path}: one {action} entry");
}

async fn a_draft_and_a_warning_version_decided_twice_at_once_are_decided_once(h: Harness) {
    let hana = h.demo_login(tearline_domain::Role::Handler).await;
    let conrad = h.demo_login(tearline_domain::Role::Controller).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let contact = h
        .call(
            Method::POST,
            &format!("/api/v1/sources/{nightjar}/contact-reports"),
            Some(&hana),
            Some(json!({
            "place": "Quay", "present": "hana", "method": "meeting", "account": "Crates on Saturdays."})),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let draft = json!({"title": "Quay", "body": "Crates move on Saturdays.", "admiralty": "B2", "handling_code": "P", "tlp": "TLP:AMBER"});
    let id = h
        .call(
            Method::POST,
            &format!("/api/v1/contact-reports/{contact}/intel-reports"),
            Some(&hana),
            Some(draft),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let submitted =
        h.call(Method::POST, &format!("/api/v1/intel/drafts/{id}/submit"), Some(&hana), None).await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
    let release = json!({"release": true, "acknowledge_warnings": true});
    twice_at_once(&h, &conrad, &format!("/api/v1/intel/drafts/{id}/release"), Some(release), "intel.release")
        .await;

    let wren = h.demo_login(tearline_domain::Role::WarningOfficer).await;
    let wanda = h.second_warning_officer().await;
    let area =
        json!({"description": "Quay", "circles": [{"centre": {"lat": 52.9, "lon": 1.1}, "radius_km": 1.0}]});
    let actual = json!({"status": "Actual", "infos": [{"language": "en-GB", "categories": ["Security"], "event": "Threat",
        "urgency": "Immediate", "severity": "Severe", "certainty": "Likely", "expires": "2026-11-19T10:00:00-00:00",
        "headline": "Twice", "areas": [area]}]});
    let version = h.call(Method::POST, "/api/v1/warnings", Some(&wanda), Some(actual)).await.json()["id"]
        .as_i64()
        .unwrap();
    let awaiting =
        h.call(Method::POST, &format!("/api/v1/warning-versions/{version}/submit"), Some(&wanda), None).await;
    assert_eq!(awaiting.json()["result"], "awaiting-approval", "{}", awaiting.body);
    twice_at_once(&h, &wren, &format!("/api/v1/warning-versions/{version}/approve"), None, "warning.issue")
        .await;
}

/// Two officers who saw the same expiry renew at once: it is renewed once (from that
/// expiry), the other answers 409, one audit entry. Each renewal names the expiry it saw,
/// as the renewal form does, and the store renews only while that expiry still stands.
async fn an_authorisation_renewed_twice_at_once_is_renewed_once(h: Harness) {
    let aurelia = h.demo_login(tearline_domain::Role::AuthorisingOfficer).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let lifecycle = h
        .call(Method::GET, &format!("/api/v1/sources/{nightjar}/lifecycle"), Some(&aurelia), None)
        .await
        .json();
    let authorisation = &lifecycle["authorisations"][0];
    let path = format!("/api/v1/authorisations/{}/decision", authorisation["id"]);
    let seen = json!({"decision": "renew", "expires_at": authorisation["grant"]["expires_at"]});
    twice_at_once(&h, &aurelia, &path, Some(seen), "authorisation.renew").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorisation_renewed_twice_at_once_is_renewed_once_on_sqlite() {
    an_authorisation_renewed_twice_at_once_is_renewed_once(harness().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorisation_renewed_twice_at_once_is_renewed_once_on_postgres() {
    an_authorisation_renewed_twice_at_once_is_renewed_once(harness_on(Backend::Postgres).await).await;
}

/// A change of account approved by two senior controllers at once is applied once.
async fn an_account_change_approved_twice_at_once_is_applied_once(h: Harness) {
    let adam = h.demo_login(tearline_domain::Role::Administrator).await;
    let analyst = json!({"username": "promoted", "role": "analyst", "unit": tearline_demo::DEMO_UNIT, "password": "a long enough password"});
    let id = h.call(Method::POST, "/api/v1/users", Some(&adam), Some(analyst)).await.json()["id"]
        .as_i64()
        .unwrap();
    let to_handler = json!({"role": "handler", "unit": tearline_demo::DEMO_UNIT});
    let asked = h.call(Method::PUT, &format!("/api/v1/users/{id}"), Some(&adam), Some(to_handler)).await;
    let change = asked.json()["pending_change"]["id"].as_i64().expect("the change waits");
    let conrad = h.demo_login(tearline_domain::Role::Controller).await;
    twice_at_once(
        &h,
        &conrad,
        &format!("/api/v1/account-changes/{change}/approval"),
        None,
        "user.change.approve",
    )
    .await;
    let user = h.state.store.user(tearline_domain::UserId(id)).await.unwrap().unwrap();
    assert_eq!(user.role, tearline_domain::Role::Handler);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_change_approved_twice_at_once_is_applied_once_on_sqlite() {
    an_account_change_approved_twice_at_once_is_applied_once(harness().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_change_approved_twice_at_once_is_applied_once_on_postgres() {
    an_account_change_approved_twice_at_once_is_applied_once(harness_on(Backend::Postgres).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_and_a_warning_version_decided_twice_at_once_are_decided_once_on_sqlite() {
    a_draft_and_a_warning_version_decided_twice_at_once_are_decided_once(harness().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_and_a_warning_version_decided_twice_at_once_are_decided_once_on_postgres() {
    a_draft_and_a_warning_version_decided_twice_at_once_are_decided_once(harness_on(Backend::Postgres).await)
        .await;
}
