//! The kernel's guarantees through the API: while the audit trail cannot be written, every
//! kind of change and every unseal is refused and the database is unchanged; when the fault
//! clears, the same requests succeed without a restart. Parallel wrong passwords are
//! evaluated at most as often as the lockout allows.

mod common;

use axum::http::{Method, StatusCode};
use common::{harness, harness_on, Harness};
use serde_json::{json, Value};
use tearline_domain::audit::{AuditLog, Outcome};
use tearline_domain::Role;
use tearline_store::Backend;

/// Row counts of every table a change could touch.
async fn snapshot(h: &Harness) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "units",
        "users",
        "sources",
        "source_assignments",
        "threats",
        "warnings",
        "warning_versions",
        "recipients",
        "deliveries",
        "partner_feeds",
        "authorisations",
        "authorisation_events",
        "risk_assessments",
        "contacts",
        "tasks",
        "welfare_records",
        "payments",
        "ledger_entries",
        "contact_reports",
        "intel_reports",
        "disseminations",
        "entities",
        "report_entities",
        "audit_entries",
        "audit_pending",
    ] {
        counts.push(h.state.store.count_unchecked(&format!("SELECT COUNT(*) FROM {table}")).await.unwrap());
    }
    counts
}

fn area() -> Value {
    json!({"description": "Quay", "circles": [{"centre": {"lat": 52.955, "lon": 1.21}, "radius_km": 0.5}]})
}

async fn every_kind_of_change_is_refused_while_the_trail_cannot_record_it(h: Harness) {
    let hana = h.demo_login(Role::Handler).await;
    let conrad = h.demo_login(Role::Controller).await;
    let anders = h.demo_login(Role::Analyst).await;
    let wren = h.demo_login(Role::WarningOfficer).await;
    let adam = h.demo_login(Role::Administrator).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let requests: Vec<(&str, String, &str, Value)> = vec![
        (
            "source.create",
            "/api/v1/sources".into(),
            &hana,
            json!({
            "code_name": "WAGTAIL", "controller": "conrad", "identity": {"full_name": "Fault Test Person"}}),
        ),
        (
            "source.reassign",
            format!("/api/v1/sources/{nightjar}/assignments"),
            &conrad,
            json!({"role": "handler", "username": "hana"}),
        ),
        (
            "contact.log",
            format!("/api/v1/sources/{nightjar}/contacts"),
            &hana,
            json!({"method": "meeting", "place": "Quay", "summary": "talked"}),
        ),
        (
            "welfare.record",
            format!("/api/v1/sources/{nightjar}/welfare"),
            &hana,
            json!({"kind": "check", "notes": "fine"}),
        ),
        (
            "contact-report.write",
            format!("/api/v1/sources/{nightjar}/contact-reports"),
            &hana,
            json!({"place": "Quay", "present": "hana", "method": "meeting", "account": "Crates at night."}),
        ),
        (
            "threat.create",
            "/api/v1/threats".into(),
            &anders,
            json!({
            "title": "Fault threat", "description": "", "threat_type": "arson", "area": area(),
            "window_start": common::T0, "window_end": common::T0 + 3_600_000,
            "likelihood": "likely", "impact": "severe", "status": "active"}),
        ),
        (
            "warning.draft",
            "/api/v1/warnings".into(),
            &wren,
            json!({"status": "Exercise", "infos": [{
            "language": "en-GB", "categories": ["Security"], "event": "Threat", "urgency": "Immediate",
            "severity": "Severe", "certainty": "Likely", "expires": "2026-11-19T10:00:00-00:00",
            "headline": "Fault warning", "areas": [area()]}]}),
        ),
        (
            "user.create",
            "/api/v1/users".into(),
            &adam,
            json!({
            "username": "faulty", "role": "analyst", "unit": "Harbour District Unit",
            "password": "a long enough password"}),
        ),
        (
            "source.unseal",
            format!("/api/v1/sources/{nightjar}/unseal"),
            &hana,
            json!({"reason": "preparing the next meeting"}),
        ),
    ];
    h.fail_audit(true).await;
    let before = snapshot(&h).await;
    for (what, path, token, body) in &requests {
        let reply = h.call(Method::POST, path, Some(token), Some(body.clone())).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {}", reply.body);
        assert_eq!(reply.json()["code"], "audit_unavailable", "{what}");
        assert!(!reply.body.contains("Samira"), "{what}: {}", reply.body);
    }
    assert_eq!(snapshot(&h).await, before, "a refused change leaves the database as it was");
    h.fail_audit(false).await;
    let size = h.state.log.size().await.unwrap();
    for (what, path, token, body) in &requests {
        let reply = h.call(Method::POST, path, Some(token), Some(body.clone())).await;
        assert!(reply.status.is_success(), "{what} after the fault cleared: {} {}", reply.status, reply.body);
    }
    let events = h.state.log.read(size, 10_000).await.unwrap();
    for (what, ..) in &requests {
        assert!(
            events.iter().any(|e| e.event.action == *what && e.event.outcome == Outcome::Allowed),
            "{what} has its entry once the trail recovers, without a restart"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_change_is_refused_while_the_trail_cannot_record_it_on_sqlite() {
    every_kind_of_change_is_refused_while_the_trail_cannot_record_it(harness().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_change_is_refused_while_the_trail_cannot_record_it_on_postgres() {
    every_kind_of_change_is_refused_while_the_trail_cannot_record_it(harness_on(Backend::Postgres).await)
        .await;
}

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
