//! The verifiable audit log over HTTP: what an inspector (or anyone, for the checkpoint)
//! fetches verifies offline, and bad requests get precise 4xx answers.

mod common;

use axum::http::{Method, StatusCode};
use base64::Engine;
use common::harness;
use tearline_auditlog::{checkpoint, proof, record_hash, Hash};
use tearline_domain::audit::AuditLog;
use tearline_domain::Role;

fn hashes(reply: &serde_json::Value) -> Vec<Hash> {
    let decode = |h: &serde_json::Value| {
        let bytes = base64::engine::general_purpose::STANDARD.decode(h.as_str().unwrap()).unwrap();
        Hash(bytes.try_into().unwrap())
    };
    reply["hashes"].as_array().unwrap().iter().map(decode).collect()
}

#[tokio::test]
async fn what_the_api_serves_verifies_against_the_public_checkpoint() {
    let harness = harness().await;
    let inspector = harness.demo_login(Role::Inspector).await;
    let public = harness.call(Method::GET, "/api/v1/audit/checkpoint", None, None).await;
    assert_eq!(public.status, StatusCode::OK);
    let signed = checkpoint::verify(public.body.as_bytes(), harness.state.log.verifier_key()).unwrap();
    let size = signed.size;
    assert!(size >= 3, "logins were logged ({size})");

    let entries = harness
        .call(Method::GET, &format!("/api/v1/audit/entries?start=0&end={size}"), Some(&inspector), None)
        .await;
    let entries = entries.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len() as u64, size);
    let data =
        base64::engine::general_purpose::STANDARD.decode(entries[1]["data"].as_str().unwrap()).unwrap();
    assert!(String::from_utf8(data.clone()).unwrap().starts_with("tearline audit entry v1\n"));

    let inclusion = harness
        .call(
            Method::GET,
            &format!("/api/v1/audit/proof/inclusion?index=1&size={size}"),
            Some(&inspector),
            None,
        )
        .await;
    assert_eq!(inclusion.status, StatusCode::OK, "{}", inclusion.body);
    assert_eq!(
        proof::verify_inclusion(1, size, record_hash(&data), &hashes(&inclusion.json()), signed.root),
        Ok(())
    );

    let consistency = harness
        .call(
            Method::GET,
            &format!("/api/v1/audit/proof/consistency?from=2&to={size}"),
            Some(&inspector),
            None,
        )
        .await;
    let old_root = harness.state.log.root(2).await.unwrap();
    assert_eq!(
        proof::verify_consistency(2, size, old_root, signed.root, &hashes(&consistency.json())),
        Ok(())
    );
}

#[tokio::test]
async fn out_of_range_requests_are_precise_client_errors() {
    let harness = harness().await;
    let inspector = harness.demo_login(Role::Inspector).await;
    let size = harness.state.log.latest_checkpoint().await.unwrap().unwrap().0;
    let beyond = size + 1000;
    let cases = [
        (format!("/api/v1/audit/proof/inclusion?index={size}&size={size}"), "out_of_range"),
        (format!("/api/v1/audit/proof/inclusion?index=0&size={beyond}"), "beyond_checkpoint"),
        ("/api/v1/audit/proof/consistency?from=3&to=2".to_owned(), "out_of_range"),
        ("/api/v1/audit/proof/consistency?from=0&to=2".to_owned(), "out_of_range"),
        (format!("/api/v1/audit/proof/consistency?from=1&to={beyond}"), "beyond_checkpoint"),
        (format!("/api/v1/audit/entries?start=0&end={beyond}"), "beyond_checkpoint"),
        ("/api/v1/audit/entries?start=2&end=1".to_owned(), "out_of_range"),
        ("/api/v1/audit/entries?start=-1&end=1".to_owned(), "invalid_query"),
        ("/api/v1/audit/proof/inclusion?index=x&size=1".to_owned(), "invalid_query"),
    ];
    for (path, code) in cases {
        let reply = harness.call(Method::GET, &path, Some(&inspector), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}: {}", reply.body);
        assert_eq!(reply.json()["code"], code, "{path}: {}", reply.body);
    }
}

#[tokio::test]
async fn a_wrong_or_missing_signing_key_stops_the_log_from_opening() {
    let harness = harness().await;
    let store = &harness.state.store;
    let wrong = harness.dir.path().join("wrong-audit.key");
    let text = tearline_auditlog::checkpoint::CheckpointSigner::generate_key_file();
    tearline_vault::create_secret_file(&wrong, text.as_bytes()).unwrap();
    let error =
        tearline_service::open_audit_log(store, &wrong).await.err().expect("a key that did not sign the log");
    assert!(matches!(error, tearline_service::StartupError::SigningKeyMismatch { .. }), "{error}");
    let missing = harness.dir.path().join("absent-audit.key");
    let error = tearline_service::open_audit_log(store, &missing).await.err().expect("a missing key");
    assert!(error.to_string().contains("is missing"), "{error}");
    assert!(!missing.exists(), "a signed log never gets a fresh key");
    let right = harness.dir.path().join("audit-signing.key");
    assert!(tearline_service::open_audit_log(store, &right).await.is_ok());
}

/// Every read an inspector makes is itself recorded, threats and warnings included.
#[tokio::test]
async fn every_read_an_inspector_makes_leaves_an_entry() {
    let harness = harness().await;
    let inspector = harness.demo_login(Role::Inspector).await;
    let ines = harness.state.store.user_by_username("ines").await.unwrap().unwrap().id;
    let get = |path: String| {
        let (harness, inspector) = (&harness, inspector.clone());
        async move {
            let reply = harness.call(Method::GET, &path, Some(&inspector), None).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
            reply.json()
        }
    };
    let analyst = harness.demo_login(Role::Analyst).await;
    let area = serde_json::json!({"description": "Quay", "circles": [{"centre": {"lat": 52.9, "lon": 1.1}, "radius_km": 1.0}]});
    let threat = serde_json::json!({"title": "Inspected threat", "description": "", "threat_type": "arson", "area": area,
        "window_start": common::T0, "window_end": common::T0 + 3_600_000, "likelihood": "likely", "impact": "severe", "status": "active"});
    let threat = harness.call(Method::POST, "/api/v1/threats", Some(&analyst), Some(threat)).await.json()
        ["id"]
        .as_i64()
        .unwrap();
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let draft = serde_json::json!({"status": "Exercise", "infos": [{"language": "en-GB", "categories": ["Security"], "event": "Threat",
        "urgency": "Immediate", "severity": "Severe", "certainty": "Likely", "expires": "2026-11-19T10:00:00-00:00",
        "headline": "Inspected warning", "areas": [area]}]});
    let drafted = harness.call(Method::POST, "/api/v1/warnings", Some(&wren), Some(draft)).await.json();
    let (version, warning) = (drafted["id"].as_i64().unwrap(), drafted["warning_id"].as_i64().unwrap());
    let nightjar = harness.source_id("NIGHTJAR").await;
    for path in [
        "/api/v1/threats".to_owned(),
        format!("/api/v1/threats/{threat}"),
        "/api/v1/warnings".to_owned(),
        format!("/api/v1/warnings/{warning}"),
        format!("/api/v1/warning-versions/{version}"),
        format!("/api/v1/warning-versions/{version}/deliveries"),
        format!("/api/v1/sources/{nightjar}"),
        format!("/api/v1/sources/{nightjar}/lifecycle"),
        "/api/v1/register".to_owned(),
        "/api/v1/intel/search?q=crates".to_owned(),
    ] {
        let size = harness.state.log.size().await.unwrap();
        get(path.clone()).await;
        let entries = harness.state.log.read(size, 100).await.unwrap();
        assert!(
            entries.iter().any(|e| e.event.actor == Some(ines)
                && e.event.outcome == tearline_domain::audit::Outcome::Allowed),
            "{path} left no entry"
        );
    }
}

/// Answers the framework makes on its own stay in the contract: JSON `{code, message}`
/// with a listed code, whatever went wrong.
#[tokio::test]
async fn framework_rejections_answer_in_the_error_contract() {
    let harness = harness().await;
    let inspector = harness.demo_login(Role::Inspector).await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let far = harness
        .call(Method::GET, "/api/v1/audit/events?start=9223372036854775808", Some(&inspector), None)
        .await;
    assert_eq!(far.status, StatusCode::OK, "{}", far.body);
    assert_eq!(far.json()["events"], serde_json::json!([]));
    let huge = "x".repeat(5 << 20);
    let request = axum::http::Request::post("/api/v1/partner-alerts")
        .header("authorization", format!("Bearer {wren}"))
        .header("content-type", "application/cap+xml")
        .body(axum::body::Body::from(huge))
        .unwrap();
    let cases = [
        (harness.send(request).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (
            harness.call(Method::DELETE, "/api/v1/sources", Some(&wren), None).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            harness.call(Method::GET, "/api/v1/audit/events?start=-1", Some(&inspector), None).await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            harness.call(Method::DELETE, "/cap/ack/1/2/3", None, None).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    let listed: Vec<&str> = tearline_server::error::ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    for (reply, status, code) in cases {
        assert_eq!(reply.status, status, "{}", reply.body);
        assert_eq!(reply.json()["code"], code, "{}", reply.body);
        assert!(listed.contains(&code));
        assert!(reply.json()["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", reply.body);
    }
}

/// On the pages, the framework's own refusals are the error page, with their status.
#[tokio::test]
async fn framework_rejections_on_pages_are_the_error_page() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let request = axum::http::Request::post("/partner-feeds")
        .header("authorization", format!("Bearer {wren}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from("csrf=x"))
        .unwrap();
    let missing_field = harness.send(request).await;
    let wrong_method = harness.call(Method::DELETE, "/warnings", Some(&wren), None).await;
    for (reply, status) in
        [(missing_field, StatusCode::UNPROCESSABLE_ENTITY), (wrong_method, StatusCode::METHOD_NOT_ALLOWED)]
    {
        assert_eq!(reply.status, status, "{}", reply.body);
        assert!(
            reply.body.starts_with("<!doctype html>") && reply.body.contains("data-code="),
            "{}",
            reply.body
        );
    }
}

/// Paging through a search, older page after older page, finds exactly what filtering the
/// whole log finds, newest first (the brute-force twin), whatever is asked: across the scan
/// limit of one page, by actor, action prefix, object part and time.
#[tokio::test]
async fn searching_the_log_page_by_page_finds_what_filtering_it_whole_finds() {
    use tearline_domain::audit::Outcome;
    use tearline_service::audit::{search, AuditQuery, AUDIT_SCAN_LIMIT};
    let harness = harness().await;
    let ines = harness.state.store.user_by_username("ines").await.unwrap().unwrap();
    let hana = harness.state.store.user_by_username("hana").await.unwrap().unwrap();
    // Enough entries to need more than one scan, some rare ones among them.
    let objects = ["source:1", "source:12", "warning-version:3", "unit:1"];
    for i in 0..(AUDIT_SCAN_LIMIT + 2_500) {
        let actor = if i % 7 == 0 { Some(hana.id) } else { None };
        let action = if i % 1_000 == 0 { "authorisation.renew" } else { "source.read" };
        let object = objects[usize::try_from(i % 4).unwrap()];
        harness.state.kernel.record(actor, action, object, None, Outcome::Allowed).await.unwrap();
        if i % 5_000 == 0 {
            harness.advance(60_000);
        }
    }
    let caller = tearline_service::auth::Caller::acting_as(ines);
    let everything = AuditLog::read(&harness.state.log, 0, u64::MAX / 2).await.unwrap();
    let middle = everything[everything.len() / 2].event.at;
    let queries = [
        AuditQuery::default(),
        AuditQuery { action: "authorisation.".into(), ..AuditQuery::default() },
        AuditQuery { actor: Some(hana.id), object: "source:1".into(), ..AuditQuery::default() },
        AuditQuery { object: "warning-version".into(), from: Some(middle), ..AuditQuery::default() },
        AuditQuery { action: "no.such.action".into(), ..AuditQuery::default() },
    ];
    for query in queries {
        // The log as it stands before this search (the search records itself as it goes).
        let size = AuditLog::size(&harness.state.log).await.unwrap();
        let expected: Vec<u64> = AuditLog::read(&harness.state.log, 0, size)
            .await
            .unwrap()
            .into_iter()
            .rev()
            .filter(|r| query.matches(&r.event))
            .map(|r| r.index)
            .collect();
        let mut found = Vec::new();
        let mut before = Some(size);
        let mut pages = 0;
        while let Some(cursor) = before {
            let page = search(&harness.state, &caller, &query, Some(cursor)).await.unwrap();
            assert!(page.events.len() <= tearline_service::audit::AUDIT_PAGE_EVENTS);
            found.extend(page.events.iter().map(|r| r.index));
            before = page.older;
            pages += 1;
            assert!(pages < 10_000, "paging ends");
        }
        assert_eq!(found, expected, "{query:?}");
    }
}
