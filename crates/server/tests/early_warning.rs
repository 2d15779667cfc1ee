//! Early warning end to end inside the server: the CAP lifecycle and its reference chain,
//! approval by a second officer, partner alerts and feeds, recipient imports, signed
//! acknowledgements, and delivery against real local receivers that fail on purpose.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{harness, harness_with, Harness};
use serde_json::{json, Value};
use tearline_domain::Role;
use tearline_service::warn::dispatch::Dispatcher;
use tearline_service::warn::WarnSettings;
use tearline_service::{AppState, ServerSettings};
use tearline_store::Backend;
use tearline_warn::cap::Alert;
use tearline_warn::delivery::RetryPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A square around Eastmarsh quay, as JSON (lat, lon pairs).
fn square(south: f64, west: f64, size: f64) -> Value {
    let ring = [
        (south, west),
        (south + size, west),
        (south + size, west + size),
        (south, west + size),
        (south, west),
    ];
    json!([ring.iter().map(|(lat, lon)| json!({"lat": lat, "lon": lon})).collect::<Vec<_>>()])
}

fn draft(status: &str, headline: &str, polygons: Value) -> Value {
    json!({"status": status, "infos": [
        {"language": "en-GB", "categories": ["Security"], "event": "Threat", "urgency": "Immediate",
         "severity": "Severe", "certainty": "Likely", "expires": "2026-11-19T10:00:00-00:00",
         "headline": headline, "instruction": "Leave the area",
         "areas": [{"description": "Quay", "polygons": polygons}]},
        {"language": "ar", "categories": ["Security"], "event": "تهديد", "urgency": "Immediate",
         "severity": "Severe", "certainty": "Likely", "expires": "2026-11-19T10:00:00-00:00",
         "headline": "غادروا المنطقة", "areas": [{"description": "الرصيف", "polygons": polygons}]}
    ]})
}

/// Registers a 10 x 10 grid of recipients, 0.01° apart, from (52.90, 1.10); `address`
/// gives each one's webhook.
async fn grid(harness: &Harness, token: &str, address: impl Fn(usize) -> String) {
    let rows: Vec<Value> = (0..100)
        .map(|i| {
            json!({"external_id": format!("grid-{i}"), "name": format!("Resident {i}"), "kind": "person",
                   "channel": "webhook", "address": address(i),
                   "lat": 52.905 + (i / 10) as f64 * 0.01, "lon": 1.105 + (i % 10) as f64 * 0.01})
        })
        .collect();
    let reply = harness.call(Method::POST, "/api/v1/recipients", Some(token), Some(Value::Array(rows))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.json()["imported"], 100);
}

async fn post(harness: &Harness, token: &str, path: &str, body: Option<Value>) -> Value {
    let reply = harness.call(Method::POST, path, Some(token), body).await;
    assert!(reply.status.is_success(), "{path}: {} {}", reply.status, reply.body);
    reply.json()
}

fn xmllint_validates(documents: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/cap/CAP-v1.2.xsd");
    let paths: Vec<_> = documents
        .iter()
        .enumerate()
        .map(|(i, xml)| {
            let path = dir.path().join(format!("{i}.xml"));
            std::fs::write(&path, xml).unwrap();
            path
        })
        .collect();
    let output = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .args(&paths)
        .output()
        .expect("xmllint (libxml2-utils) must be installed; scripts/test installs it");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn alert_update_and_cancel_form_a_reference_chain_reaching_everyone_concerned() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    grid(&harness, &wren, |i| format!("http://127.0.0.1:9/{i}")).await;

    // Rows 0-2, columns 0-2 of the grid: 9 recipients.
    let first = post(
        &harness,
        &wren,
        "/api/v1/warnings",
        Some(draft("Exercise", "Leave the quay", square(52.90, 1.10, 0.03))),
    )
    .await;
    let submitted =
        post(&harness, &wren, &format!("/api/v1/warning-versions/{}/submit", first["id"]), None).await;
    assert_eq!(submitted, json!({"result": "issued", "deliveries": 9}));
    let warning = first["warning_id"].as_i64().unwrap();

    // The area moves one column east: 9 inside, 3 of them new; the 3 left behind hear too.
    let update = post(
        &harness,
        &wren,
        &format!("/api/v1/warnings/{warning}/updates"),
        Some(draft("Exercise", "The area moved", square(52.90, 1.11, 0.03))),
    )
    .await;
    let submitted =
        post(&harness, &wren, &format!("/api/v1/warning-versions/{}/submit", update["id"]), None).await;
    assert_eq!(submitted["deliveries"], 12);

    let cancel = post(&harness, &wren, &format!("/api/v1/warnings/{warning}/cancellation"), None).await;
    let submitted =
        post(&harness, &wren, &format!("/api/v1/warning-versions/{}/submit", cancel["id"]), None).await;
    assert_eq!(submitted["deliveries"], 12, "a cancellation reaches everyone the update reached");

    let history =
        harness.call(Method::GET, &format!("/api/v1/warnings/{warning}"), Some(&wren), None).await.json();
    let versions = history["versions"].as_array().unwrap();
    let alerts: Vec<Alert> =
        versions.iter().map(|v| Alert::from_xml(v["cap_xml"].as_str().unwrap()).unwrap()).collect();
    let states: Vec<&str> = versions.iter().map(|v| v["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["superseded", "superseded", "issued"]);
    let msg_types: Vec<&str> = alerts.iter().map(|a| a.msg_type.as_str()).collect();
    assert_eq!(msg_types, ["Alert", "Update", "Cancel"]);
    let reference = |a: &Alert| format!("{},{},{}", a.sender, a.identifier, a.sent);
    assert!(alerts[0].references.is_empty());
    let refs = |a: &Alert| a.references.iter().map(|r| r.to_string()).collect::<Vec<_>>();
    assert_eq!(refs(&alerts[1]), vec![reference(&alerts[0])]);
    assert_eq!(refs(&alerts[2]), vec![reference(&alerts[0]), reference(&alerts[1])]);
    assert!(versions[2]["cap_xml"].as_str().unwrap().contains(&format!(
        "<references>{} {}</references>",
        reference(&alerts[0]),
        reference(&alerts[1])
    )));
    assert_eq!(alerts[0].infos[1].language, "ar");
    xmllint_validates(
        &versions.iter().map(|v| v["cap_xml"].as_str().unwrap().to_owned()).collect::<Vec<_>>(),
    );

    // The public feed shows the warning once, as its cancellation; every version stays served.
    let feed = harness.call(Method::GET, "/cap/feed.atom", None, None).await;
    assert_eq!(feed.status, StatusCode::OK);
    assert!(
        feed.body.contains("<title>Cancelled: Leave the quay</title>")
            || feed.body.contains("Cancelled: The area moved"),
        "{}",
        feed.body
    );
    assert_eq!(feed.body.matches("<entry>").count(), 1, "{}", feed.body);
    for alert in &alerts {
        let document =
            harness.call(Method::GET, &format!("/cap/alerts/{}.xml", alert.identifier), None, None).await;
        assert_eq!(document.status, StatusCode::OK);
        assert_eq!(Alert::from_xml(&document.body).as_ref(), Ok(alert));
    }
    assert_eq!(
        harness.call(Method::GET, "/cap/alerts/nope.xml", None, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_actual_warning_needs_a_second_warning_officer_unless_the_unit_says_otherwise() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let wanda = harness.second_warning_officer().await;
    let actual =
        post(&harness, &wren, "/api/v1/warnings", Some(draft("Actual", "Real", square(52.9, 1.1, 0.05))))
            .await;
    let id = actual["id"].as_i64().unwrap();
    let submitted = post(&harness, &wren, &format!("/api/v1/warning-versions/{id}/submit"), None).await;
    assert_eq!(submitted["result"], "awaiting-approval");
    assert!(
        harness.call(Method::GET, "/cap/feed.atom", None, None).await.body.matches("<entry>").count() == 0
    );

    let server = &harness;
    let home = |token: String| async move { server.call(Method::GET, "/", Some(&token), None).await.body };
    assert!(!home(wren.clone()).await.contains("awaiting-approval"), "not shown to its drafter");
    let waiting = home(wanda.clone()).await;
    assert!(
        waiting.contains("awaiting-approval") && waiting.contains(&format!("/warnings/versions/{id}")),
        "{waiting}"
    );
    let own = harness
        .call(Method::POST, &format!("/api/v1/warning-versions/{id}/approve"), Some(&wren), None)
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);
    assert_eq!(own.json()["code"], "second_officer_required");
    let approved = post(&harness, &wanda, &format!("/api/v1/warning-versions/{id}/approve"), None).await;
    assert_eq!(approved["result"], "issued");
    assert!(!home(wanda.clone()).await.contains("awaiting-approval"), "gone once approved");
    let version =
        harness.call(Method::GET, &format!("/api/v1/warning-versions/{id}"), Some(&wren), None).await.json();
    assert_eq!(
        version["approved_by"],
        json!(harness.state.store.user_by_username("wanda").await.unwrap().unwrap().id.0)
    );

    let admin = harness.demo_login(Role::Administrator).await;
    let units = harness.state.store.units().await.unwrap();
    let unit = units.iter().find(|u| u.name == tearline_demo::DEMO_UNIT).unwrap().id.0;
    let path = format!("/api/v1/units/{unit}/warning-approval");
    let changed = harness.call(Method::PUT, &path, Some(&admin), Some(json!({"required": false}))).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let direct =
        post(&harness, &wren, "/api/v1/warnings", Some(draft("Actual", "Real 2", square(52.9, 1.1, 0.05))))
            .await;
    let submitted =
        post(&harness, &wren, &format!("/api/v1/warning-versions/{}/submit", direct["id"]), None).await;
    assert_eq!(submitted["result"], "issued");
}

#[tokio::test]
async fn bad_warnings_are_refused_with_the_element_and_nothing_is_stored() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let mut open_ring = draft(
        "Exercise",
        "x",
        json!([[{"lat": 1, "lon": 1}, {"lat": 2, "lon": 2}, {"lat": 3, "lon": 1}, {"lat": 1, "lon": 2}]]),
    );
    let reply = harness.call(Method::POST, "/api/v1/warnings", Some(&wren), Some(open_ring.clone())).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.body.contains("polygon must be closed"), "{}", reply.body);
    open_ring["infos"][0]["areas"] = json!([]);
    open_ring["infos"].as_array_mut().unwrap().truncate(1);
    let reply = harness.call(Method::POST, "/api/v1/warnings", Some(&wren), Some(open_ring)).await;
    assert_eq!(reply.json()["code"], "invalid_cap");
    assert!(reply.body.contains("alert/info[1]/area"), "{}", reply.body);
    let mut bad_expiry = draft("Exercise", "x", square(1.0, 1.0, 1.0));
    bad_expiry["infos"][0]["expires"] = json!("2026-11-19T10:00:00Z");
    let reply = harness.call(Method::POST, "/api/v1/warnings", Some(&wren), Some(bad_expiry)).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.json()["code"], "invalid_json");
    assert!(reply.body.contains("is not a CAP time"), "{}", reply.body);
    let listed = harness.call(Method::GET, "/api/v1/warnings", Some(&wren), None).await.json();
    assert_eq!(listed["warnings"], json!([]));
}

fn partner_alert(identifier: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>met@partner.example</sender><sent>2026-11-18T09:00:00+01:00</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><category>Met</category><event>Flood</event><urgency>Expected</urgency><severity>Moderate</severity>
    <certainty>Likely</certainty><headline>River flooding</headline>
    <area><areaDesc>Lower valley</areaDesc><polygon>52.9,1.1 53.0,1.1 53.0,1.2 52.9,1.1</polygon></area></info>
</alert>"#
    )
}

async fn upload(harness: &Harness, token: &str, xml: &str) -> common::Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/partner-alerts")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/cap+xml")
        .body(Body::from(xml.to_owned()))
        .unwrap();
    harness.send(request).await
}

#[tokio::test]
async fn partner_alerts_are_read_strictly_and_an_invalid_one_changes_nothing() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let good = partner_alert("flood-1");
    assert_eq!(upload(&harness, &wren, &good).await.status, StatusCode::CREATED);
    assert_eq!(upload(&harness, &wren, &good).await.status, StatusCode::CONFLICT);
    for (xml, path) in [
        (
            good.replace(
                "<polygon>52.9,1.1 53.0,1.1 53.0,1.2 52.9,1.1</polygon>",
                "<polygon>52.9,1.1 53.0,1.1 52.9,1.1</polygon>",
            ),
            "alert/info[1]/area[1]/polygon[1]",
        ),
        (good.replace("<scope>Public</scope>", ""), "alert/scope"),
        (good.replace("+01:00</sent>", "</sent>"), "alert/sent"),
        (good.replace("</alert>", ""), "document"),
        ("{\"not\": \"xml\"}".to_owned(), "document"),
        (good.replace("+01:00</sent>", "+00:00</sent>"), "alert/sent"),
        (
            good.replace("<area>", "<resource><resourceDesc>map</resourceDesc></resource><area>"),
            "alert/info[1]/resource[1]/mimeType",
        ),
    ] {
        let reply = upload(&harness, &wren, &xml.replace("flood-1", "flood-2")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.json()["code"], "invalid_cap");
        assert!(reply.json()["message"].as_str().unwrap().starts_with(path), "{}", reply.body);
    }
    let listed = harness.call(Method::GET, "/api/v1/partner-alerts", Some(&wren), None).await.json();
    assert_eq!(listed["partner_alerts"].as_array().unwrap().len(), 1);
    assert_eq!(listed["partner_alerts"][0]["signature"], "unsigned");

    // What CAP 1.2 allows is taken: an enveloped XML Signature after the last info (§3.3.4.1,
    // as IPAWS alerts carry), kept in the stored document and, with no key registered for
    // its sender, shown as signed but not verified.
    let signature = "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\"><SignedInfo>\
        <CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
        <SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
        <Reference URI=\"\"><DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>\
        <DigestValue>AA==</DigestValue></Reference></SignedInfo><SignatureValue>AA==</SignatureValue></Signature>";
    let signed = partner_alert("flood-signed").replace("</alert>", &format!("{signature}</alert>"));
    let reply = upload(&harness, &wren, &signed).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let listed = harness.call(Method::GET, "/api/v1/partner-alerts", Some(&wren), None).await.json();
    let signatures: Vec<&str> =
        listed["partner_alerts"].as_array().unwrap().iter().filter_map(|p| p["signature"].as_str()).collect();
    assert!(signatures.contains(&"signed"), "{listed}");
}

/// An alert signed by the fixture's partner (RSA, exclusive canonicalisation, signed by
/// libxmlsec1), and the partner's certificate.
const SIGNED_ALERT: &str = include_str!("../../warn/tests/xmldsig/signed-rsa-exc.xml");
const PARTNER_CERTIFICATE: &str = include_str!("../../warn/tests/xmldsig/rsa-test-cert.pem");
const SIGNING_SENDER: &str = "warnings@partner.example.org";

async fn partner_alert_states(harness: &Harness, token: &str) -> Vec<(String, String)> {
    let listed = harness.call(Method::GET, "/api/v1/partner-alerts", Some(token), None).await.json();
    listed["partner_alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["alert"]["identifier"].as_str().unwrap().to_owned(),
                p["signature"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_registered_partner_key_verifies_its_alerts_and_refuses_forged_ones() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    assert_eq!(upload(&harness, &wren, SIGNED_ALERT).await.status, StatusCode::CREATED);
    assert_eq!(
        partner_alert_states(&harness, &wren).await,
        [("PARTNER-2026-0042".to_owned(), "signed".to_owned())]
    );

    let register = |sender: &str, pem: &str| {
        let body = json!({"sender": sender, "label": "Partner signing key 2026", "public_key": pem});
        harness.call(Method::POST, "/api/v1/partner-keys", Some(&wren), Some(body))
    };
    for (sender, pem, code) in [
        ("two words", PARTNER_CERTIFICATE, "invalid_field"),
        (SIGNING_SENDER, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "invalid_key"),
        (SIGNING_SENDER, include_str!("../../warn/tests/xmldsig/rsa-test-key.pem"), "invalid_key"),
    ] {
        let reply = register(sender, pem).await;
        assert_eq!(
            (reply.status, reply.json()["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{}",
            reply.body
        );
    }
    let key = register(SIGNING_SENDER, PARTNER_CERTIFICATE).await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let (key_id, fingerprint) =
        (key.json()["id"].as_i64().unwrap(), key.json()["fingerprint"].as_str().unwrap().to_owned());
    assert_eq!(fingerprint.len(), 64);
    assert_eq!(register(SIGNING_SENDER, PARTNER_CERTIFICATE).await.status, StatusCode::CONFLICT);

    // The alert already held now verifies, naming the key.
    let listed = harness.call(Method::GET, "/api/v1/partner-alerts", Some(&wren), None).await.json();
    assert_eq!(listed["partner_alerts"][0]["signature"], "verified");
    assert_eq!(listed["partner_alerts"][0]["signature_key"], fingerprint.as_str());
    let page = harness.call(Method::GET, "/warnings", Some(&wren), None).await.body;
    assert!(page.contains("verified") && page.contains(&fingerprint), "the page shows the state and the key");

    // From the keyed sender, a changed alert and an unsigned one are refused and change nothing.
    let changed = SIGNED_ALERT.replace("PARTNER-2026-0042", "PARTNER-2026-0099");
    let unsigned = partner_alert("unsigned-1").replace("met@partner.example", SIGNING_SENDER);
    for (xml, why) in [(changed.as_str(), "changed after it was signed"), (unsigned.as_str(), "not signed")] {
        let reply = upload(&harness, &wren, xml).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert_eq!(reply.json()["code"], "signature_not_verified");
        assert!(reply.json()["message"].as_str().unwrap().contains(why), "{}", reply.body);
    }
    // Other senders are untouched.
    assert_eq!(upload(&harness, &wren, &partner_alert("other-sender")).await.status, StatusCode::CREATED);
    assert_eq!(partner_alert_states(&harness, &wren).await.len(), 2);

    // A feed serving a forged alert from the keyed sender reports it and stores nothing.
    let routes =
        axum::Router::new().route("/forged.xml", axum::routing::get(move || async move { changed.clone() }));
    let url = serve(routes).await;
    post(&harness, &wren, "/api/v1/partner-feeds", Some(json!({"url": format!("{url}/forged.xml")}))).await;
    assert_eq!(tearline_service::warn::partners::poll_all(&harness.state).await.unwrap(), 0);
    let feeds = harness.call(Method::GET, "/api/v1/partner-feeds", Some(&wren), None).await.json();
    let error = feeds["partner_feeds"][0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("has a registered key") && error.contains("changed after it was signed"),
        "{error}"
    );

    // Withdrawn, the key verifies nothing: the alert is signed, not verified, again.
    let path = format!("/api/v1/partner-keys/{key_id}");
    assert_eq!(harness.call(Method::DELETE, &path, Some(&wren), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(harness.call(Method::DELETE, &path, Some(&wren), None).await.status, StatusCode::NOT_FOUND);
    let states = partner_alert_states(&harness, &wren).await;
    assert!(states.contains(&("PARTNER-2026-0042".to_owned(), "signed".to_owned())), "{states:?}");
    let keys = harness.call(Method::GET, "/api/v1/partner-keys", Some(&wren), None).await.json();
    assert_eq!(keys["partner_keys"], json!([]));
}

/// Serves `routes` on a free local port; returns its base URL.
async fn serve(routes: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes).await });
    format!("http://{address}")
}

#[tokio::test]
async fn partner_feeds_are_polled_and_their_bad_alerts_reported() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let base = Arc::new(Mutex::new(String::new()));
    let feed_base = Arc::clone(&base);
    let routes = axum::Router::new()
        .route(
            "/feed.atom",
            axum::routing::get(move || {
                let base = feed_base.lock().unwrap().clone();
                async move {
                    format!(
                        r#"<feed xmlns="http://www.w3.org/2005/Atom"><id>x</id><title>Partner</title><updated>2026-11-18T09:00:00Z</updated>
<entry><id>1</id><title>a</title><updated>2026-11-18T09:00:00Z</updated><link rel="alternate" type="application/cap+xml" href="{base}/a.xml"/></entry>
<entry><id>2</id><title>b</title><updated>2026-11-18T09:00:00Z</updated><link href="{base}/b.xml"/></entry>
<entry><id>3</id><title>c</title><updated>2026-11-18T09:00:00Z</updated><link href="{base}/broken.xml"/></entry></feed>"#
                    )
                }
            }),
        )
        .route("/a.xml", axum::routing::get(|| async { partner_alert("feed-a") }))
        .route("/b.xml", axum::routing::get(|| async { partner_alert("feed-b") }))
        .route("/broken.xml", axum::routing::get(|| async { partner_alert("feed-c").replace("<status>Actual</status>", "") }));
    let url = serve(routes).await;
    *base.lock().unwrap() = url.clone();
    post(&harness, &wren, "/api/v1/partner-feeds", Some(json!({"url": format!("{url}/feed.atom")}))).await;
    let poll = || tearline_service::warn::partners::poll_all(&harness.state);
    assert_eq!(poll().await.unwrap(), 2);
    let feeds = harness.call(Method::GET, "/api/v1/partner-feeds", Some(&wren), None).await.json();
    let feed = &feeds["partner_feeds"][0];
    let error = feed["last_error"].as_str().unwrap();
    assert!(error.contains("broken.xml") && error.contains("alert/status"), "{error}");
    // A feed that failed backs off: two intervals after one failure, four after two.
    const MINUTE: i64 = 60_000;
    assert_eq!(
        (feed["failures"].as_i64(), feed["next_poll_at"].as_i64()),
        (Some(1), Some(common::T0 + 2 * MINUTE))
    );
    assert_eq!(poll().await.unwrap(), 0, "not due yet");
    harness.advance(2 * MINUTE);
    assert_eq!(poll().await.unwrap(), 0, "due, and what it holds is already held");
    let feed = &harness.call(Method::GET, "/api/v1/partner-feeds", Some(&wren), None).await.json()
        ["partner_feeds"][0];
    assert_eq!(
        (feed["failures"].as_i64(), feed["next_poll_at"].as_i64()),
        (Some(2), Some(common::T0 + 6 * MINUTE))
    );
}

async fn set_paused(harness: &Harness, token: &str, id: i64, paused: bool) -> common::Reply {
    let path = format!("/api/v1/partner-feeds/{id}");
    harness.call(Method::PUT, &path, Some(token), Some(json!({"paused": paused}))).await
}

#[tokio::test]
async fn a_paused_feed_is_not_polled_and_a_resumed_one_is_due_at_once_with_its_failures_forgotten() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let routes = axum::Router::new()
        .route("/alert.xml", axum::routing::get(|| async { partner_alert("paused-1") }))
        .route("/down.xml", axum::routing::get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }));
    let url = serve(routes).await;
    let poll = || tearline_service::warn::partners::poll_all(&harness.state);
    let add = |path: &str| {
        let body = json!({"url": format!("{url}/{path}")});
        async { post(&harness, &wren, "/api/v1/partner-feeds", Some(body)).await["id"].as_i64().unwrap() }
    };
    let (alert_feed, down_feed) = (add("alert.xml").await, add("down.xml").await);
    let pause = |id: i64, paused: bool| set_paused(&harness, &wren, id, paused);
    let paused = pause(alert_feed, true).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    assert_eq!(paused.json()["paused"], true);
    assert_eq!(poll().await.unwrap(), 0, "a paused feed is not polled");
    let down = pause(down_feed, false).await.json();
    assert_eq!(down["failures"], 0);
    assert_eq!(poll().await.unwrap(), 0);
    let listed = harness.call(Method::GET, "/api/v1/partner-feeds", Some(&wren), None).await.json();
    let down =
        listed["partner_feeds"].as_array().unwrap().iter().find(|f| f["id"] == down_feed).unwrap().clone();
    assert_eq!((down["failures"].as_i64(), down["last_error"].as_str()), (Some(1), Some("HTTP 503")));
    // The page says which feed is paused and why the other fails, with its next attempt.
    let page = harness.call(Method::GET, "/warnings", Some(&wren), None).await.body;
    assert!(
        page.contains("Resume polling")
            && page.contains("failing (1 polls in a row): HTTP 503; next attempt"),
        "{page}"
    );
    let resumed = pause(down_feed, false).await.json();
    assert_eq!(
        (resumed["failures"].as_i64(), resumed["next_poll_at"].as_i64()),
        (Some(0), None),
        "resumed: due at once"
    );
    assert_eq!(pause(alert_feed, false).await.json()["paused"], false);
    assert_eq!(poll().await.unwrap(), 1, "the resumed feed is polled");
    assert_eq!(pause(987_654, true).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn recipient_files_are_imported_row_by_row() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let csv = "name,kind,channel,address,lat,lon,external_id\n\
               School,school,email,head@school.example,52.95,1.21,s1\n\
               Bad,person,sms,not-a-number,52.95,1.21,s2\n\
               Siren,siren,webhook,http://10.0.0.5/cap,52.96,1.22,s3\n";
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/recipients/import")
        .header("authorization", format!("Bearer {wren}"))
        .header("content-type", "text/csv")
        .body(Body::from(csv))
        .unwrap();
    let reply = harness.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["imported"], 2);
    assert_eq!(reply.json()["errors"][0]["row"], 2);
    let listed = harness.call(Method::GET, "/api/v1/recipients", Some(&wren), None).await.json();
    assert_eq!(listed["active_total"], 2);
    let preview = post(&harness, &wren, "/api/v1/targeting/preview", Some(json!({"areas": [{"description": "x", "circles": [{"centre": {"lat": 52.95, "lon": 1.21}, "radius_km": 0.5}]}]}))).await;
    assert_eq!(preview["count"], 1);
    assert_eq!(preview["sample"], json!([{"lat": 52.95, "lon": 1.21}]));
}

/// What a receiver that honours idempotency keys saw: per key, how often it was posted
/// and whether it was processed.
#[derive(Default)]
struct Ledger {
    posted: HashMap<String, u32>,
    processed: HashMap<String, u32>,
}

impl Ledger {
    /// Records a post; returns how many times this key was posted before.
    fn post(&mut self, key: &str) -> u32 {
        let count = self.posted.entry(key.to_owned()).or_default();
        *count += 1;
        *count - 1
    }

    fn process(&mut self, key: &str) {
        let processed = self.processed.entry(key.to_owned()).or_default();
        if *processed == 0 {
            *processed = 1;
        }
    }
}

/// A receiver that misbehaves on purpose, by path: `ok`, `flaky` (503 twice, then fine),
/// `stall` (processes, then answers too late the first time), `gone` (404), `down` (503
/// always).
async fn misbehaving_receiver(ledger: Arc<Mutex<Ledger>>) -> String {
    let handler = move |axum::extract::Path((mode, _n)): axum::extract::Path<(String, u32)>,
                        headers: axum::http::HeaderMap| {
        let ledger = Arc::clone(&ledger);
        async move {
            let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let earlier = ledger.lock().unwrap().post(&key);
            match mode.as_str() {
                "flaky" if earlier < 2 => return StatusCode::SERVICE_UNAVAILABLE,
                "gone" => return StatusCode::NOT_FOUND,
                "down" => return StatusCode::SERVICE_UNAVAILABLE,
                _ => {}
            }
            ledger.lock().unwrap().process(&key);
            if mode == "stall" && earlier == 0 {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            StatusCode::NO_CONTENT
        }
    };
    serve(axum::Router::new().route("/{mode}/{n}", axum::routing::post(handler))).await
}

/// A receiver that drops the connection of each delivery's first attempt without answering.
async fn dropping_receiver(ledger: Arc<Mutex<Ledger>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let ledger = Arc::clone(&ledger);
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 64 * 1024];
                let mut read = 0;
                loop {
                    let Ok(n) = socket.read(&mut buffer[read..]).await else { return };
                    if n == 0 {
                        return;
                    }
                    read += n;
                    let text = String::from_utf8_lossy(&buffer[..read]).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| {
                                l.strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if read < end + 4 + length {
                            continue;
                        }
                        let key = text
                            .lines()
                            .find_map(|l| l.strip_prefix("idempotency-key:").map(|v| v.trim().to_owned()))
                            .unwrap_or_default();
                        let first = {
                            let mut ledger = ledger.lock().unwrap();
                            let earlier = ledger.post(&key);
                            if earlier > 0 {
                                ledger.process(&key);
                            }
                            earlier == 0
                        };
                        if first {
                            return; // dropped: the connection closes with no answer at all
                        }
                        let _ =
                            socket.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
                        return;
                    }
                }
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn every_delivery_ends_delivered_or_explicitly_failed_despite_bad_receivers() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let settings = ServerSettings {
            warn: WarnSettings {
                concurrency: 8,
                retry: RetryPolicy { max_attempts: 4, base_delay_millis: 100, max_delay_millis: 1_000 },
                // Generous, so that only the stalling receiver ever times out, even on a busy machine.
                request_timeout: Duration::from_millis(1_000),
                lease: Duration::from_secs(5),
                ..WarnSettings::default()
            },
            ..ServerSettings::default()
        };
        let harness = harness_with(backend, settings).await;
        let wren = harness.demo_login(Role::WarningOfficer).await;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let misbehaving = misbehaving_receiver(Arc::clone(&ledger)).await;
        let dropping = dropping_receiver(Arc::clone(&ledger)).await;
        let modes = ["ok", "flaky", "stall", "gone", "down", "drop"];
        grid(&harness, &wren, |i| match modes[i % modes.len()] {
            "drop" => format!("{dropping}/drop/{i}"),
            mode => format!("{misbehaving}/{mode}/{i}"),
        })
        .await;
        let warning =
            post(&harness, &wren, "/api/v1/warnings", Some(draft("Exercise", "All", square(52.9, 1.1, 0.1))))
                .await;
        let version = warning["id"].as_i64().unwrap();
        assert_eq!(
            post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await
                ["deliveries"],
            100
        );

        let mut dispatcher = Dispatcher::default();
        for _ in 0..200 {
            if dispatcher.round(&harness.state).await.unwrap() == 0 {
                let counts = harness.state.store.delivery_counts(version).await.unwrap();
                if counts.queued + counts.sending == 0 {
                    break;
                }
                harness.advance(1_000);
            }
        }
        let counts = harness.state.store.delivery_counts(version).await.unwrap();
        let per_mode = |mode: &str| (0..100).filter(|i| modes[i % modes.len()] == mode).count() as i64;
        let delivered = per_mode("ok") + per_mode("flaky") + per_mode("stall") + per_mode("drop");
        assert_eq!((counts.queued, counts.sending), (0, 0), "{backend:?}: nothing left hanging");
        assert_eq!(counts.sent, delivered, "{backend:?}: {counts:?}");
        assert_eq!(counts.failed, per_mode("gone") + per_mode("down"), "{backend:?}: {counts:?}");

        let ledger = ledger.lock().unwrap();
        assert_eq!(ledger.processed.len() as i64, delivered, "{backend:?}: every delivered key processed");
        assert!(ledger.processed.values().all(|n| *n == 1), "{backend:?}: none processed twice");
        // Recipients are registered in grid order, so recipient i has id i + 1.
        let posts = |i: usize| {
            ledger.posted.iter().find(|(k, _)| k.ends_with(&format!("/{}", i + 1))).map_or(0, |(_, n)| *n)
        };
        for i in 0..100 {
            let seen = posts(i);
            match modes[i % modes.len()] {
                "ok" | "gone" => assert_eq!(seen, 1, "{backend:?} recipient {i}"),
                "flaky" => assert_eq!(seen, 3, "{backend:?}: two 503s, then accepted"),
                "stall" => {
                    assert_eq!(seen, 2, "{backend:?}: timed out once, then accepted without processing again")
                }
                "down" => assert_eq!(seen, 4, "{backend:?}: every one of the 4 attempts, then failed"),
                _ => assert_eq!(seen, 2, "{backend:?}: a dropped connection is retried"),
            }
        }
    }
}

/// A round whose receivers are so slow that a request could outlast its lease hands the
/// rest back instead of starting them: no two dispatchers can hold one delivery at once, and
/// no attempt is counted that was not made. Here each answer takes longer than the lease
/// leaves (the clock jumps as the receiver answers), so each round sends one delivery and
/// hands back the others, which the next round takes up; every delivery is sent once, on its
/// first attempt.
#[tokio::test]
async fn deliveries_that_cannot_start_within_their_lease_are_handed_back_uncounted() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let settings = ServerSettings {
            warn: WarnSettings {
                concurrency: 1,
                request_timeout: Duration::from_secs(10),
                lease: Duration::from_secs(30),
                ..WarnSettings::default()
            },
            ..ServerSettings::default()
        };
        let harness = harness_with(backend, settings).await;
        let wren = harness.demo_login(Role::WarningOfficer).await;
        let posted = Arc::new(Mutex::new(Vec::<String>::new()));
        let (seen, clock) = (Arc::clone(&posted), Arc::clone(&harness.now));
        let slow = serve(axum::Router::new().route(
            "/{n}",
            axum::routing::post(move |headers: axum::http::HeaderMap| {
                let (seen, clock) = (Arc::clone(&seen), Arc::clone(&clock));
                async move {
                    let key =
                        headers.get("idempotency-key").and_then(|k| k.to_str().ok()).unwrap_or_default();
                    seen.lock().unwrap().push(key.to_owned());
                    clock.fetch_add(25_000, std::sync::atomic::Ordering::SeqCst);
                    StatusCode::NO_CONTENT
                }
            }),
        ))
        .await;
        grid(&harness, &wren, |i| format!("{slow}/{i}")).await;
        let warning = post(
            &harness,
            &wren,
            "/api/v1/warnings",
            Some(draft("Exercise", "All", square(52.9, 1.1, 0.025))),
        )
        .await;
        let version = warning["id"].as_i64().unwrap();
        let reply = post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await;
        let targeted = reply["deliveries"].as_i64().unwrap();
        assert!(targeted >= 4, "{backend:?}: a few recipients, {targeted}");

        let mut dispatcher = Dispatcher::default();
        let mut rounds = 0;
        while dispatcher.round(&harness.state).await.unwrap() > 0 {
            rounds += 1;
        }
        let counts = harness.state.store.delivery_counts(version).await.unwrap();
        assert_eq!((counts.sent, counts.total()), (targeted, targeted), "{backend:?}: {counts:?}");
        assert_eq!(rounds, targeted, "{backend:?}: one delivery sent a round, the rest handed back");
        let mut keys = posted.lock().unwrap().clone();
        keys.sort();
        let sent = keys.len();
        keys.dedup();
        assert_eq!((sent, keys.len()), (targeted as usize, targeted as usize), "{backend:?}: each sent once");
        let recounted = "SELECT COUNT(*) FROM deliveries WHERE state = 2 AND attempts = 1";
        assert_eq!(harness.state.store.count_unchecked(recounted).await.unwrap(), targeted, "{backend:?}");
    }
}

/// However many read the public feed at once, one request builds it from the store when it
/// goes stale, the others meanwhile served the feed last built; just after this process
/// issued an alert there is no feed to serve, and everyone waits for the one build, which
/// shows the new alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_feed_is_built_once_however_many_read_it_at_once() {
    let harness = harness().await;
    let builds = |state: AppState| async move {
        let text = tearline_service::metrics::render(&state).await.unwrap();
        let line =
            text.lines().find(|l| l.starts_with("tearline_public_feed_builds_total")).unwrap().to_owned();
        line.rsplit(' ').next().unwrap().parse::<u64>().unwrap()
    };
    let read_at_once = |state: AppState| async move {
        let mut readers = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let state = state.clone();
            readers
                .spawn(async move { tearline_service::warn::public::feed_document(&state).await.unwrap() });
        }
        readers.join_all().await
    };
    let state = harness.state.clone();
    let before = builds(state.clone()).await;
    read_at_once(state.clone()).await;
    assert_eq!(builds(state.clone()).await, before + 1, "one build at start, the others waited for it");
    harness.advance(5_000);
    read_at_once(state.clone()).await;
    assert_eq!(builds(state.clone()).await, before + 2, "one build when stale, the others served the last");

    let wren = harness.demo_login(Role::WarningOfficer).await;
    let warning = post(
        &harness,
        &wren,
        "/api/v1/warnings",
        Some(draft("Exercise", "Leave the quay now", square(52.9, 1.1, 0.1))),
    )
    .await;
    let version = warning["id"].as_i64().unwrap();
    let submitted = post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await;
    let issued = builds(state.clone()).await;
    assert_eq!(issued, before + 2, "{submitted}");
    let read = read_at_once(state.clone()).await;
    assert_eq!(builds(state.clone()).await, issued + 1, "one build after the issue: {submitted}");
    assert!(read.iter().all(|d| d.etag == read[0].etag), "everyone got the new feed");
    assert!(String::from_utf8_lossy(&read[0].body).contains("Leave the quay now"));
}

/// One dispatcher round: every queued message goes out once (here to a closed port), with
/// the link a recipient answers from. An answer comes from a message that was sent.
async fn send_once(harness: &Harness) {
    Dispatcher::default().round(&harness.state).await.unwrap();
}

#[tokio::test]
async fn acknowledgement_links_are_signed_per_delivery() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    grid(&harness, &wren, |i| format!("http://127.0.0.1:9/{i}")).await;
    let warning =
        post(&harness, &wren, "/api/v1/warnings", Some(draft("Exercise", "Ack", square(52.9, 1.1, 0.1))))
            .await;
    let version = warning["id"].as_i64().unwrap();
    post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await;
    send_once(&harness).await;
    let link = tearline_service::warn::dispatch::ack_url(&harness.state, version, 5).await.unwrap();
    let path = link.split_once("//").unwrap().1.split_once('/').unwrap().1;
    let forged = format!("/{}", path.replace("/5/", "/6/"));
    assert_eq!(harness.call(Method::POST, &forged, None, None).await.status, StatusCode::NOT_FOUND);
    let reply = harness.call(Method::POST, &format!("/{path}?status=safe"), None, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let bad = harness.call(Method::POST, &format!("/{path}?status=dead"), None, None).await;
    assert_eq!(bad.json()["code"], "invalid_status");
    let counts = harness
        .call(Method::GET, &format!("/api/v1/warning-versions/{version}/deliveries"), Some(&wren), None)
        .await
        .json();
    assert_eq!(
        (counts["counts"]["acknowledged"].clone(), counts["counts"]["safe"].clone()),
        (json!(1), json!(1))
    );
}

/// Sends a request as a phone browser would: `Accept-Language`, and a form body if given.
async fn browse(
    harness: &Harness,
    method: Method,
    path: &str,
    language: &str,
    form: Option<&str>,
) -> common::Reply {
    let mut request = Request::builder().method(method).uri(path).header("accept-language", language);
    if form.is_some() {
        request = request.header("content-type", "application/x-www-form-urlencoded");
    }
    harness.send(request.body(Body::from(form.unwrap_or_default().to_owned())).unwrap()).await
}

/// A recipient who taps the link gets a page — no script, in their browser's language —
/// whose buttons record "received", "safe" or "help"; answering again is harmless, and
/// responders see who needs help on the warning's page and through the API.
#[tokio::test]
async fn a_recipient_answers_from_the_page_behind_their_link() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    grid(&harness, &wren, |i| format!("http://127.0.0.1:9/{i}")).await;
    let reader_of_arabic = json!([{"external_id": "ar-1", "name": "Huda", "kind": "person", "channel": "webhook",
        "address": "http://127.0.0.1:9/ar", "lat": 52.95, "lon": 1.15, "language": "ar"}]);
    harness.call(Method::POST, "/api/v1/recipients", Some(&wren), Some(reader_of_arabic)).await;
    let warning = post(
        &harness,
        &wren,
        "/api/v1/warnings",
        Some(draft("Exercise", "Leave the quay", square(52.9, 1.1, 0.1))),
    )
    .await;
    let version = warning["id"].as_i64().unwrap();
    post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await;
    send_once(&harness).await;
    let state = &harness.state;
    let link = |recipient: i64| async move {
        let url = tearline_service::warn::dispatch::ack_url(state, version, recipient).await.unwrap();
        format!("/{}", url.split_once("//").unwrap().1.split_once('/').unwrap().1)
    };
    let (five, seven) = (link(5).await, link(7).await);

    let english = browse(&harness, Method::GET, &five, "en-GB,en;q=0.9", None).await;
    assert_eq!(english.status, StatusCode::OK);
    assert!(
        english.body.contains("Leave the quay") && english.body.contains("I need help"),
        "{}",
        english.body
    );
    assert!(!english.body.contains("<script"), "the page needs no script");
    let arabic = browse(&harness, Method::GET, &five, "ar-SY,ar;q=0.9,en;q=0.5", None).await;
    assert!(arabic.body.contains("غادروا المنطقة") && arabic.body.contains("dir=\"rtl\""), "{}", arabic.body);
    assert!(arabic.body.contains("أحتاج إلى مساعدة"));
    let unknown = browse(&harness, Method::GET, &five, "fr", None).await;
    assert!(unknown.body.contains("Leave the quay"), "no French info: the first one");
    let registered = browse(&harness, Method::GET, &link(101).await, "en", None).await;
    assert!(registered.body.contains("غادروا المنطقة"), "a recipient's registered language comes first");
    let forged = browse(&harness, Method::GET, &five.replace("/5/", "/6/"), "en", None).await;
    assert_eq!(forged.status, StatusCode::NOT_FOUND);
    assert!(forged.body.contains("not valid") && !forged.body.contains("Leave the quay"));

    let answered = browse(&harness, Method::POST, &five, "en", Some("status=help")).await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    assert!(answered.body.contains("reached the responders"), "{}", answered.body);
    // A second tap on "received" does not hide the call for help.
    browse(&harness, Method::POST, &five, "en", Some("status=received")).await;
    let bad = browse(&harness, Method::POST, &seven, "en", Some("status=dead")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let safe = browse(&harness, Method::POST, &seven, "ar", Some("status=safe")).await;
    assert!(safe.body.contains("نعلم أنك بأمان"), "{}", safe.body);

    let counts = harness
        .call(Method::GET, &format!("/api/v1/warning-versions/{version}/deliveries"), Some(&wren), None)
        .await
        .json();
    assert_eq!(
        (&counts["counts"]["acknowledged"], &counts["counts"]["safe"], &counts["counts"]["help"]),
        (&json!(2), &json!(1), &json!(1))
    );
    let help = harness
        .call(Method::GET, &format!("/api/v1/warning-versions/{version}/help-requests"), Some(&wren), None)
        .await
        .json();
    assert_eq!(help["help_requests"].as_array().unwrap().len(), 1, "{help}");
    assert_eq!(help["help_requests"][0]["name"], "Resident 4", "recipient 5 is the fifth registered");
    let page =
        harness.call(Method::GET, &format!("/warnings/versions/{version}"), Some(&wren), None).await.body;
    assert!(page.contains("Asking for help") && page.contains("Resident 4"), "{page}");
    assert!(
        page.contains("Answers by area over time")
            && page.contains("Quay: 0 received, 1 safe or left, 1 need help")
    );
    let by_area = harness
        .call(Method::GET, &format!("/api/v1/warning-versions/{version}/answers"), Some(&wren), None)
        .await
        .json();
    assert_eq!(by_area["areas"][0]["area"], "Quay", "{by_area}");
    assert_eq!(by_area["areas"][0]["periods"][0], json!([0, 1, 1]), "{by_area}");

    // Helped and safe now: "safe" replaces "help".
    browse(&harness, Method::POST, &five, "en", Some("status=safe")).await;
    let help = harness
        .call(Method::GET, &format!("/api/v1/warning-versions/{version}/help-requests"), Some(&wren), None)
        .await
        .json();
    assert_eq!(help["help_requests"], json!([]));
}

/// How many recipients the targeting preview finds in the whole grid.
async fn count_inside(harness: &Harness, token: &str) -> Value {
    let areas = json!({"areas": [{"description": "all", "polygons": square(52.9, 1.1, 0.1)}]});
    post(harness, token, "/api/v1/targeting/preview", Some(areas)).await["count"].clone()
}

#[tokio::test]
async fn recipients_registered_by_another_server_are_targeted_without_a_restart() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let harness = harness_with(backend, ServerSettings::default()).await;
        let wren = harness.demo_login(Role::WarningOfficer).await;
        grid(&harness, &wren, |i| format!("http://127.0.0.1:9/{i}")).await;
        assert_eq!(count_inside(&harness, &wren).await, 100);
        // Another server process on the same database moves one recipient away, retires one
        // and registers a new one.
        let other = tearline_store::Store::open(harness.state.store.url()).await.unwrap();
        let moved = tearline_warn::recipients::Registration {
            external_id: Some("grid-0".into()),
            name: "Moved away".into(),
            kind: tearline_warn::delivery::RecipientKind::Person,
            channel: tearline_warn::delivery::Channel::Webhook,
            address: "http://127.0.0.1:9/moved".into(),
            position: tearline_warn::geo::LatLon { lat: 10.0, lon: 10.0 },
            language: None,
        };
        let arrived = tearline_warn::recipients::Registration {
            external_id: Some("newcomer".into()),
            position: tearline_warn::geo::LatLon { lat: 52.95, lon: 1.15 },
            language: None,
            ..moved.clone()
        };
        other
            .bookkeeping()
            .upsert_recipients(&[moved, arrived], tearline_domain::Timestamp(0))
            .await
            .unwrap();
        let retired = other.recipients_page(1, 1).await.unwrap()[0].id;
        other.bookkeeping().deactivate_recipient(retired).await.unwrap();
        assert_eq!(count_inside(&harness, &wren).await, 99, "{backend:?}: 100 - moved - retired + newcomer");
    }
}

/// The document that aborted the server, nested 8 000 deep: uploaded, served as a feed and
/// served as an alert a feed links to. Each is refused with a reason, and the server (its
/// tests run on worker threads with a worker's stack) still answers afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_nested_eight_thousand_deep_is_refused_everywhere_and_the_server_goes_on() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let deep = |root: &str| {
        format!(
            r#"<{root}>{}{}</{}>"#,
            "<a>".repeat(8_000),
            "</a>".repeat(8_000),
            root.split(' ').next().unwrap_or(root)
        )
    };
    let alert = deep(r#"alert xmlns="urn:oasis:names:tc:emergency:cap:1.2""#);
    let reply = upload(&harness, &wren, &alert).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.json()["message"].as_str().unwrap().contains("deeper than"), "{}", reply.body);

    let feed = deep(r#"feed xmlns="http://www.w3.org/2005/Atom""#);
    let base = Arc::new(Mutex::new(String::new()));
    let linking_base = Arc::clone(&base);
    let routes = axum::Router::new()
        .route("/deep.atom", axum::routing::get(move || async move { feed }))
        .route(
            "/linking.atom",
            axum::routing::get(move || {
                let base = linking_base.lock().unwrap().clone();
                async move {
                    format!(
                        r#"<feed xmlns="http://www.w3.org/2005/Atom"><id>x</id><title>P</title><updated>2026-11-18T09:00:00Z</updated>
<entry><id>1</id><title>a</title><updated>2026-11-18T09:00:00Z</updated><link href="{base}/deep.xml"/></entry></feed>"#
                    )
                }
            }),
        )
        .route("/deep.xml", axum::routing::get(move || async move { alert }));
    let url = serve(routes).await;
    *base.lock().unwrap() = url.clone();
    for feed in ["deep.atom", "linking.atom"] {
        post(&harness, &wren, "/api/v1/partner-feeds", Some(json!({"url": format!("{url}/{feed}")}))).await;
    }
    assert_eq!(tearline_service::warn::partners::poll_all(&harness.state).await.unwrap(), 0);
    let feeds = harness.call(Method::GET, "/api/v1/partner-feeds", Some(&wren), None).await.json();
    for feed in feeds["partner_feeds"].as_array().unwrap() {
        let error = feed["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("deeper than"), "{feed}");
        // A feed that serves harmful documents can be removed.
        let path = format!("/api/v1/partner-feeds/{}", feed["id"]);
        assert_eq!(
            harness.call(Method::DELETE, &path, Some(&wren), None).await.status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            harness.call(Method::DELETE, &path, Some(&wren), None).await.status,
            StatusCode::NOT_FOUND
        );
    }
    let feeds = harness.call(Method::GET, "/api/v1/partner-feeds", Some(&wren), None).await.json();
    assert_eq!(feeds["partner_feeds"], json!([]));
    assert_eq!(harness.call(Method::GET, "/api/v1/health", None, None).await.status, StatusCode::OK);
}

/// Drafts that would have issued alerts failing the XSD or breaking the public feed are
/// refused at the door with a 4xx, and nothing is stored.
#[tokio::test]
async fn a_draft_that_would_break_the_feed_is_refused_and_nothing_is_stored() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let good = draft("Exercise", "Leave the quay", square(52.90, 1.10, 0.03));
    let with = |change: &dyn Fn(&mut Value)| {
        let mut bad = good.clone();
        change(&mut bad);
        bad
    };
    let circle =
        |lat: f64, lon: f64, radius: f64| json!([{"centre": {"lat": lat, "lon": lon}, "radius_km": radius}]);
    let bad = [
        with(&|d| d["infos"][0]["areas"][0]["circles"] = circle(95.0, 1.0, 5.0)),
        with(&|d| d["infos"][0]["areas"][0]["circles"] = circle(52.0, 200.0, 5.0)),
        with(&|d| d["infos"][0]["areas"][0]["circles"] = circle(52.0, 1.0, -5.0)),
        with(
            &|d| d["infos"][0]["areas"][0]["polygons"] = json!([[{"lat": 91, "lon": 1}, {"lat": 1, "lon": 1}, {"lat": 1, "lon": 2}, {"lat": 91, "lon": 1}]]),
        ),
        with(&|d| d["infos"][0]["headline"] = json!("Leave \u{FFFE} now")),
        with(&|d| d["infos"][0]["web"] = json!("not a uri")),
        with(&|d| d["infos"][0]["audience"] = json!("residents\u{0007}")),
        with(&|d| d["infos"][0]["areas"][0]["geocodes"] = json!([{"name": "UGC", "value": "x\u{0001}"}])),
        with(&|d| d["infos"][0]["areas"][0]["ceiling"] = json!(1000.0)),
    ];
    for draft in bad {
        let reply = harness.call(Method::POST, "/api/v1/warnings", Some(&wren), Some(draft.clone())).await;
        assert!(reply.status.is_client_error(), "{draft}: {} {}", reply.status, reply.body);
        assert!(reply.json()["code"].is_string(), "{}", reply.body);
    }
    let listed = harness.call(Method::GET, "/api/v1/warnings", Some(&wren), None).await.json();
    assert_eq!(listed["warnings"], json!([]), "nothing was stored");
    let feed = harness.call(Method::GET, "/cap/feed.atom", None, None).await;
    assert!(tearline_warn::atom::cap_links(&feed.body).is_ok(), "the feed stays well-formed: {}", feed.body);
}

/// Text as people and attackers type it: letters of several scripts, markup characters, and
/// now and then a character XML forbids (controls, U+FFFE, U+FFFF).
fn hostile_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        60 => "[a-zA-Z0-9 ]{1,12}",
        10 => Just("غادروا ".to_owned()),
        10 => prop::sample::select(vec!["<", ">", "&", "\"", "'", "]]>", "&amp;", "\n", "\u{85}", "\u{7f}"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["\u{0}", "\u{7}", "\u{1b}", "\u{fffe}", "\u{ffff}"]).prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 1..4).prop_map(|pieces| pieces.concat())
}

/// A warning draft as a client might send it: mostly sensible, sometimes not.
fn generated_draft() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    // Mostly on the globe, now and then off it.
    let lat = prop_oneof![30 => -90.0f64..=90.0, 1 => -100.0f64..100.0];
    let lon = prop_oneof![30 => -180.0f64..=180.0, 1 => -200.0f64..200.0];
    let radius = prop_oneof![30 => 0.0f64..300.0, 1 => -5.0f64..0.0];
    let circle = (lat.clone(), lon.clone(), radius)
        .prop_map(|(lat, lon, radius)| json!({"centre": {"lat": lat, "lon": lon}, "radius_km": radius}));
    let offsets = prop::collection::vec((-0.5f64..0.5, -0.5f64..0.5), 3..7);
    let polygon = (-80.0f64..80.0, lon, offsets).prop_map(|(lat, lon, offsets)| {
        let mut ring: Vec<Value> =
            offsets.iter().map(|(dlat, dlon)| json!({"lat": lat + dlat, "lon": lon + dlon})).collect();
        ring.push(ring[0].clone());
        Value::Array(ring)
    });
    let area = (
        hostile_text(),
        prop::collection::vec(circle, 0..3),
        prop::collection::vec(polygon, 0..2),
        prop::option::of((hostile_text(), hostile_text())),
        prop::option::of(-20_000.0f64..20_000.0),
        prop::option::weighted(0.15, 0.0f64..20_000.0),
    )
        .prop_map(|(description, circles, polygons, geocode, altitude, ceiling)| {
            let mut area = json!({"description": description, "circles": circles, "polygons": polygons});
            if let Some((name, value)) = geocode {
                area["geocodes"] = json!([{"name": name, "value": value}]);
            }
            if let Some(altitude) = altitude {
                area["altitude"] = json!(altitude);
            }
            if let Some(ceiling) = ceiling {
                area["ceiling"] = json!(ceiling);
            }
            area
        });
    let language = prop_oneof![
        20 => prop::sample::select(vec!["en-GB", "ar", "fr-CA", "es", "x-klingon"]),
        1 => prop::sample::select(vec!["en GB", "x-private-123456789"]),
    ];
    let web = prop::option::weighted(
        0.3,
        prop_oneof![
            10 => prop::sample::select(vec!["https://warnings.example/quay", "urn:isbn:0451450523", "https://w.example/a?b=c&d=<e>"]),
            1 => Just("not a uri"),
        ],
    );
    let expires = prop_oneof![
        20 => prop::sample::select(vec!["2026-11-19T10:00:00-00:00", "2026-11-19T10:00:00+05:30", "2026-11-19T10:00:00-07:00"]),
        1 => Just("2026-11-19T10:00:00Z"),
    ];
    let info = (
        language,
        hostile_text(),
        hostile_text(),
        hostile_text(),
        hostile_text(),
        web,
        expires,
        prop::collection::vec(area, 1..3),
    )
        .prop_map(|(language, event, headline, description, audience, web, expires, areas)| {
            let mut info = json!({"language": language, "categories": ["Security"], "event": event,
                "urgency": "Immediate", "severity": "Severe", "certainty": "Likely", "expires": expires,
                "headline": headline, "description": description, "audience": audience, "areas": areas});
            if let Some(web) = web {
                info["web"] = json!(web);
            }
            info
        });
    (prop::sample::select(vec!["Exercise", "Test", "System"]), prop::collection::vec(info, 1..3))
        .prop_map(|(status, infos)| json!({"status": status, "infos": infos}))
}

/// Every draft the API accepts issues as an alert that passes the official XSD and reads back
/// under CAP's rules, and the public feed stays well-formed whatever was drafted.
#[tokio::test]
async fn every_accepted_draft_issues_a_valid_alert_and_the_feed_stays_well_formed() {
    use proptest::strategy::{Strategy, ValueTree};
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = generated_draft();
    let (mut issued, mut refused) = (Vec::new(), 0);
    for _ in 0..96 {
        let draft = strategy.new_tree(&mut runner).expect("a draft").current();
        let reply = harness.call(Method::POST, "/api/v1/warnings", Some(&wren), Some(draft.clone())).await;
        if reply.status.is_client_error() {
            assert!(reply.json()["code"].is_string(), "{}", reply.body);
            refused += 1;
            continue;
        }
        assert_eq!(reply.status, StatusCode::CREATED, "{draft}: {}", reply.body);
        let version = reply.json()["id"].as_i64().unwrap();
        let path = format!("/api/v1/warning-versions/{version}/submit");
        let submitted = harness.call(Method::POST, &path, Some(&wren), None).await;
        assert_eq!(submitted.status, StatusCode::OK, "an accepted draft issues: {draft}: {}", submitted.body);
        let path = format!("/api/v1/warning-versions/{version}");
        let xml = harness.call(Method::GET, &path, Some(&wren), None).await.json()["cap_xml"]
            .as_str()
            .unwrap()
            .to_owned();
        let alert = Alert::from_xml(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
        assert_eq!(Alert::from_xml(&alert.to_xml()), Ok(alert));
        issued.push(xml);
    }
    assert!(
        issued.len() >= 10 && refused >= 10,
        "{} issued, {refused} refused: the generator tests both sides",
        issued.len()
    );
    xmllint_validates(&issued);
    let feed = harness.call(Method::GET, "/cap/feed.atom", None, None).await;
    let links = tearline_warn::atom::cap_links(&feed.body).unwrap_or_else(|e| panic!("{e}: {}", feed.body));
    assert!(links.len() >= issued.len(), "every issued alert is in the feed");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.atom");
    std::fs::write(&path, &feed.body).unwrap();
    let wellformed = std::process::Command::new("xmllint").arg("--noout").arg(&path).output().unwrap();
    assert!(wellformed.status.success(), "{}", String::from_utf8_lossy(&wellformed.stderr));
}

/// Text-message and e-mail gateways get the warning's text with the recipient's link: SMS in
/// GSM-7 or UCS-2 as the text allows, within the configured parts, the instruction first and
/// the link whole; e-mail in full.
#[tokio::test]
async fn gateways_get_the_text_sized_for_the_channel_with_the_link_whole() {
    let received = Arc::new(Mutex::new(Vec::<Value>::new()));
    let sink = Arc::clone(&received);
    let gateway = axum::Router::new().route(
        "/gateway",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push(body);
                StatusCode::ACCEPTED
            }
        }),
    );
    let base = serve(gateway).await;
    let settings = ServerSettings {
        warn: WarnSettings {
            sms_gateway_url: Some(format!("{base}/gateway")),
            email_gateway_url: Some(format!("{base}/gateway")),
            sms_max_parts: 2,
            ..WarnSettings::default()
        },
        ..ServerSettings::default()
    };
    let harness = harness_with(Backend::Sqlite, settings).await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let people = json!([
        {"external_id": "sms-1", "name": "Text", "kind": "person", "channel": "sms", "address": "+447700900001", "lat": 52.95, "lon": 1.15},
        {"external_id": "mail-1", "name": "Mail", "kind": "person", "channel": "email", "address": "mail@example.org", "lat": 52.95, "lon": 1.15},
        {"external_id": "sms-ar", "name": "Arabic", "kind": "person", "channel": "sms", "address": "+447700900002", "lat": 52.95, "lon": 1.15, "language": "ar-SY"}
    ]);
    assert_eq!(
        harness.call(Method::POST, "/api/v1/recipients", Some(&wren), Some(people)).await.status,
        StatusCode::CREATED
    );
    let long_instruction =
        format!("Leave the quay by the east road now. {}", "Keep away from the warehouses. ".repeat(20));
    let mut body = draft("Exercise", "Security threat at the quay", square(52.9, 1.1, 0.1));
    body["infos"][0]["instruction"] = json!(long_instruction);
    let version = post(&harness, &wren, "/api/v1/warnings", Some(body)).await["id"].as_i64().unwrap();
    post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await;
    let mut dispatcher = Dispatcher::default();
    while dispatcher.round(&harness.state).await.unwrap() > 0 {}

    let sent = received.lock().unwrap().clone();
    let by = |channel: &str| sent.iter().find(|m| m["channel"] == channel).cloned().unwrap();
    let (sms, mail) = (by("sms"), by("email"));
    let arabic = sent.iter().find(|m| m["to"] == "+447700900002").cloned().unwrap();
    let arabic_text = arabic["text"].as_str().unwrap();
    assert!(
        arabic_text.starts_with("غادروا المنطقة"),
        "the Arabic info, for a reader of Arabic: {arabic_text}"
    );
    assert_eq!(arabic["encoding"], "ucs-2");
    let sms = if sms["to"] == "+447700900002" {
        sent.iter().find(|m| m["to"] == "+447700900001").cloned().unwrap()
    } else {
        sms
    };
    let text = sms["text"].as_str().unwrap();
    let link = sms["ack_url"].as_str().unwrap();
    assert!(text.starts_with("Leave the quay by the east road now.") && text.ends_with(link), "{text}");
    assert!(text.contains("..."), "cut to fit: {text}");
    assert_eq!((sms["encoding"].as_str(), sms["parts"].as_u64()), (Some("gsm-7"), Some(2)));
    assert_eq!(tearline_warn::sms::parts(text), 2, "the link included, it fits the parts said");
    let mail_text = mail["text"].as_str().unwrap();
    let mail_link = mail["ack_url"].as_str().unwrap();
    assert!(
        mail_text.contains(long_instruction.trim()) && mail_text.ends_with(mail_link),
        "e-mail carries it all: {mail_text}"
    );
}

/// A hundred recipients answering at once, each twice ("safe", then "received" from a second
/// tap), are all recorded — in a few group commits — and each stands as "safe".
#[tokio::test]
async fn answers_arriving_together_are_committed_together_and_each_stands() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    grid(&harness, &wren, |i| format!("http://127.0.0.1:9/{i}")).await;
    let warning =
        post(&harness, &wren, "/api/v1/warnings", Some(draft("Exercise", "Answers", square(52.9, 1.1, 0.1))))
            .await;
    let version = warning["id"].as_i64().unwrap();
    post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await;
    send_once(&harness).await;
    let everyone = harness.state.store.recipients_page(0, 10_000).await.unwrap();
    let recipients: Vec<i64> =
        everyone.iter().filter(|r| r.name.starts_with("Resident ")).map(|r| r.id).collect();
    assert_eq!(recipients.len(), 100);
    let mut answering = tokio::task::JoinSet::new();
    for (recipient, status) in recipients.iter().flat_map(|r| [(*r, "safe"), (*r, "received")]) {
        let state = harness.state.clone();
        let router = tearline_server::router(state.clone());
        answering.spawn(async move {
            let link = tearline_service::warn::dispatch::ack_url(&state, version, recipient).await.unwrap();
            let path =
                format!("/{}?status={status}", link.split_once("//").unwrap().1.split_once('/').unwrap().1);
            let request = Request::post(path).body(Body::empty()).unwrap();
            tower::ServiceExt::oneshot(router, request).await.unwrap().status()
        });
    }
    while let Some(status) = answering.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    let counts = harness.state.store.delivery_counts(version).await.unwrap();
    assert_eq!((counts.acknowledged, counts.safe), (100, 100), "{counts:?}");
}

/// However many deliveries are in flight, one receiving host gets at most
/// `per_host_concurrency` requests at once.
#[tokio::test]
async fn one_receiving_host_gets_no_more_requests_at_once_than_allowed() {
    let (now, most) = (Arc::new(Mutex::new(0usize)), Arc::new(Mutex::new(0usize)));
    let (in_flight, peak) = (Arc::clone(&now), Arc::clone(&most));
    let receiver = axum::Router::new().route(
        "/{n}",
        axum::routing::post(move || {
            let (in_flight, peak) = (Arc::clone(&in_flight), Arc::clone(&peak));
            async move {
                {
                    let mut current = in_flight.lock().unwrap();
                    *current += 1;
                    let mut most = peak.lock().unwrap();
                    *most = (*most).max(*current);
                }
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                *in_flight.lock().unwrap() -= 1;
                StatusCode::NO_CONTENT
            }
        }),
    );
    let base = serve(receiver).await;
    let warn = WarnSettings { concurrency: 64, per_host_concurrency: 3, ..WarnSettings::default() };
    let harness = harness_with(Backend::Sqlite, ServerSettings { warn, ..ServerSettings::default() }).await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    grid(&harness, &wren, |i| format!("{base}/{i}")).await;
    let body = draft("Exercise", "Per-host bound", square(52.9, 1.1, 0.1));
    let version = post(&harness, &wren, "/api/v1/warnings", Some(body)).await["id"].as_i64().unwrap();
    post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await;
    let mut dispatcher = Dispatcher::default();
    while dispatcher.round(&harness.state).await.unwrap() > 0 {}
    assert_eq!(harness.state.store.delivery_counts(version).await.unwrap().sent, 100);
    assert_eq!(*most.lock().unwrap(), 3, "at most three at once, and three were reached");
}

/// In batch mode an aggregator gets many text messages in one request and answers for each:
/// what it sent is sent, what it refused fails at once, what it asks to retry and what its
/// answer leaves out are retried — and a retried message goes out again with its same
/// idempotency key, until it is sent.
#[tokio::test]
async fn a_batching_gateway_answers_per_message_and_only_what_it_did_not_send_is_retried() {
    let requests = Arc::new(Mutex::new(Vec::<Value>::new()));
    let sink = Arc::clone(&requests);
    let gateway = axum::Router::new().route(
        "/batch",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let sink = Arc::clone(&sink);
            async move {
                let first = sink.lock().unwrap().is_empty();
                sink.lock().unwrap().push(body.clone());
                let results: Vec<Value> = body["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|m| {
                        let status = match (first, m["to"].as_str().unwrap()) {
                            (true, "+447700900002") => "failed",
                            (true, "+447700900003") => "retry",
                            (true, "+447700900004") => return None,
                            _ => "sent",
                        };
                        Some(json!({"idempotency_key": m["idempotency_key"], "status": status, "error": "said the gateway"}))
                    })
                    .collect();
                axum::Json(json!({ "results": results }))
            }
        }),
    );
    let base = serve(gateway).await;
    let mut warn = WarnSettings {
        sms_gateway_url: Some(format!("{base}/batch")),
        gateway_batch: 10,
        ..WarnSettings::default()
    };
    // Retries at once, so the test need not wait.
    warn.retry.base_delay_millis = 0;
    warn.retry.max_delay_millis = 0;
    let harness = harness_with(Backend::Sqlite, ServerSettings { warn, ..ServerSettings::default() }).await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let people: Vec<Value> = (1..=5)
        .map(|i| {
            json!({"external_id": format!("sms-{i}"), "name": format!("Text {i}"), "kind": "person",
            "channel": "sms", "address": format!("+44770090000{i}"), "lat": 52.95, "lon": 1.15})
        })
        .collect();
    let registered =
        harness.call(Method::POST, "/api/v1/recipients", Some(&wren), Some(Value::Array(people))).await;
    assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);
    let body = draft("Exercise", "Security threat at the quay", square(52.9, 1.1, 0.1));
    let version = post(&harness, &wren, "/api/v1/warnings", Some(body)).await["id"].as_i64().unwrap();
    post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await;
    let mut dispatcher = Dispatcher::default();
    while dispatcher.round(&harness.state).await.unwrap() > 0 {}

    let every_request = Arc::clone(&requests);
    let requests = requests.lock().unwrap().clone();
    let to = |request: &Value| -> Vec<String> {
        let mut to: Vec<String> = request["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["to"].as_str().unwrap().to_owned())
            .collect();
        to.sort();
        to
    };
    assert_eq!(requests.len(), 2, "one batch, then one retry batch: {requests:?}");
    assert_eq!(to(&requests[0]).len(), 5, "the five messages went in one request");
    assert_eq!(to(&requests[1]), ["+447700900003", "+447700900004"], "only what was not sent nor refused");
    let key = |request: &Value, number: &str| {
        request["messages"].as_array().unwrap().iter().find(|m| m["to"] == number).unwrap()["idempotency_key"]
            .clone()
    };
    assert_eq!(key(&requests[0], "+447700900003"), key(&requests[1], "+447700900003"));
    let counts = harness.state.store.delivery_counts(version).await.unwrap();
    assert_eq!((counts.sent, counts.failed, counts.total()), (4, 1, 5), "{counts:?}");

    // One message left to send still goes in the batch form the gateway takes.
    let one = json!([{"external_id": "sms-6", "name": "Text 6", "kind": "person", "channel": "sms",
        "address": "+447700900006", "lat": 53.5, "lon": 1.5}]);
    harness.call(Method::POST, "/api/v1/recipients", Some(&wren), Some(one)).await;
    let single = draft("Exercise", "One more", square(53.49, 1.49, 0.02));
    let version = post(&harness, &wren, "/api/v1/warnings", Some(single)).await["id"].as_i64().unwrap();
    post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await;
    while dispatcher.round(&harness.state).await.unwrap() > 0 {}
    let last = every_request.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last["messages"].as_array().map(Vec::len), Some(1), "{last}");
    assert_eq!(harness.state.store.delivery_counts(version).await.unwrap().sent, 1);
}

/// The SMS gateway forwards recipients' replies with its token; "HELP" from a number answers
/// the latest warning sent to it, in English or Arabic.
#[tokio::test]
async fn text_message_replies_arrive_through_the_gateway_callback() {
    let gateway =
        axum::Router::new().route("/gateway", axum::routing::post(|| async { StatusCode::ACCEPTED }));
    let base = serve(gateway).await;
    let settings = ServerSettings {
        warn: WarnSettings {
            sms_gateway_url: Some(format!("{base}/gateway")),
            sms_reply_token: Some(tearline_service::warn::GatewayToken::new("gateway-secret".into())),
            ..WarnSettings::default()
        },
        ..ServerSettings::default()
    };
    let harness = harness_with(Backend::Sqlite, settings).await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let people = json!([
        {"external_id": "sms-1", "name": "Texter", "kind": "person", "channel": "sms", "address": "+447700900001", "lat": 52.95, "lon": 1.15},
        {"external_id": "sms-2", "name": "Arabic texter", "kind": "person", "channel": "sms", "address": "+447700900002", "lat": 52.95, "lon": 1.16}
    ]);
    harness.call(Method::POST, "/api/v1/recipients", Some(&wren), Some(people)).await;
    let version =
        post(&harness, &wren, "/api/v1/warnings", Some(draft("Exercise", "Leave", square(52.9, 1.1, 0.1))))
            .await["id"]
            .as_i64()
            .unwrap();
    post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await;
    let mut dispatcher = Dispatcher::default();
    while dispatcher.round(&harness.state).await.unwrap() > 0 {}

    let reply = |token: &str, from: &str, text: &str| {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/cap/sms-replies")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(json!({"from": from, "text": text}).to_string()))
            .unwrap();
        harness.send(request)
    };
    assert_eq!(reply("wrong", "+447700900001", "HELP").await.status, StatusCode::UNAUTHORIZED);
    let unreadable = reply("gateway-secret", "+447700900001", "what is going on?").await;
    assert_eq!(
        (unreadable.status, unreadable.json()["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_status"))
    );
    assert_eq!(reply("gateway-secret", "+447700900999", "SAFE").await.status, StatusCode::NOT_FOUND);
    let help = reply("gateway-secret", "0044 7700 900001", "Help please").await;
    assert_eq!(
        (help.status, help.json()["recorded"].as_str()),
        (StatusCode::OK, Some("help")),
        "{}",
        help.body
    );
    let safe = reply("gateway-secret", "+447700900002", "أنا بأمان").await;
    assert_eq!(safe.json()["recorded"], "safe", "{}", safe.body);

    let waiting = harness
        .call(Method::GET, &format!("/api/v1/warning-versions/{version}/help-requests"), Some(&wren), None)
        .await
        .json();
    assert_eq!(waiting["help_requests"][0]["name"], "Texter", "{waiting}");
    let counts = harness.state.store.delivery_counts(version).await.unwrap();
    assert_eq!((counts.help, counts.safe), (1, 1));
}

/// The fields a form on `page` would send as the page shows them: inputs with their values,
/// textareas with their text, selects with their selected (else first) option.
fn form_fields(page: &str, form_marker: &str) -> Vec<(String, String)> {
    let start = page.find(form_marker).expect("the form is on the page");
    let form = &page[start..start + page[start..].find("</form>").expect("the form ends")];
    let unescape = |text: &str| {
        text.replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let attribute = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        tag.find(&key).map(|at| {
            let rest = &tag[at + key.len()..];
            unescape(&rest[..rest.find('"').unwrap_or(rest.len())])
        })
    };
    let mut fields = Vec::new();
    for (at, _) in form.match_indices('<') {
        let rest = &form[at..];
        let tag = &rest[..rest.find('>').map_or(rest.len(), |end| end + 1)];
        if tag.starts_with("<input") {
            if let Some(name) = attribute(tag, "name") {
                fields.push((name, attribute(tag, "value").unwrap_or_default()));
            }
        } else if tag.starts_with("<textarea") {
            let body = &rest[tag.len()..];
            let text = &body[..body.find("</textarea>").unwrap_or(0)];
            fields.push((attribute(tag, "name").unwrap_or_default(), unescape(text)));
        } else if tag.starts_with("<select") {
            let body = &rest[tag.len()..rest.find("</select>").unwrap_or(rest.len())];
            let option = body
                .find("<option selected>")
                .map_or_else(|| body.find("<option>").map(|at| at + 8), |at| Some(at + 17));
            let value =
                option.map(|at| &body[at..at + body[at..].find('<').unwrap_or(0)]).unwrap_or_default();
            fields.push((attribute(tag, "name").unwrap_or_default(), unescape(value)));
        }
    }
    fields
}

/// An Update drafted from the page of a bilingual warning keeps every language and every
/// field the form does not show; its CAP differs from the issued version only in what the
/// officer changed and in identifier, sent, message type and references.
#[tokio::test]
async fn an_update_of_a_bilingual_warning_changes_only_what_the_officer_changed() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let mut body = draft("Exercise", "Leave the quay", square(52.9, 1.1, 0.1));
    for info in body["infos"].as_array_mut().unwrap() {
        info["response_types"] = json!(["Evacuate", "Avoid"]);
        info["sender_name"] = json!("Eastmarsh civil protection");
        info["parameters"] = json!([{"name": "layer", "value": "quay-7"}]);
        info["description"] = json!("Crates \"marked\" <red> & a van");
    }
    let reply = harness.call(Method::POST, "/api/v1/warnings", Some(&wren), Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let (version, warning) =
        (reply.json()["id"].as_i64().unwrap(), reply.json()["warning_id"].as_i64().unwrap());
    post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await;
    let issued: Value = harness
        .call(Method::GET, &format!("/api/v1/warning-versions/{version}"), Some(&wren), None)
        .await
        .json();

    let page =
        harness.call(Method::GET, &format!("/warnings/versions/{version}"), Some(&wren), None).await.body;
    let mut fields = form_fields(&page, "data-testid=\"update-form\"");
    assert!(
        fields.iter().any(|(name, value)| name == "headline_1" && value == "غادروا المنطقة"),
        "every language is on the form"
    );
    for (name, value) in &mut fields {
        if name == "headline" {
            *value = "Leave the quay and the market".into();
        }
    }
    let encoded = serde_urlencoded::to_string(&fields).unwrap();
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/warnings/{warning}/update"))
        .header("authorization", format!("Bearer {wren}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(encoded))
        .unwrap();
    let reply = harness.send(request).await;
    assert!(reply.status.is_redirection(), "{} {}", reply.status, reply.body);
    let versions = harness.state.store.versions_of_warning(warning).await.unwrap();
    let update = versions.iter().find(|v| v.id != version).expect("the update draft");

    let mut before = serde_json::to_value(&issued["alert"]).unwrap();
    let mut after = serde_json::to_value(&update.alert).unwrap();
    assert_eq!(after["msg_type"], "Update");
    assert_eq!(before["infos"][1]["response_types"], json!(["Evacuate", "Avoid"]), "the fixture has them");
    assert_eq!(after["infos"][0]["headline"], "Leave the quay and the market");
    for alert in [&mut before, &mut after] {
        for key in ["identifier", "sent", "msg_type", "references"] {
            alert.as_object_mut().unwrap().remove(key);
        }
        alert["infos"][0]["headline"] = Value::Null;
    }
    assert_eq!(after, before, "nothing else changed, field by field");
}

/// Aggregators and CDNs poll the public feed and alerts: each answer carries an entity tag,
/// and a poll that names the current tag gets 304 and no body; a new alert changes the feed's.
#[tokio::test]
async fn public_documents_carry_entity_tags_and_answer_304_when_unchanged() {
    let harness = harness().await;
    let wren = harness.demo_login(Role::WarningOfficer).await;
    let conditional = |path: String, tag: Option<String>| {
        let mut request = Request::builder().method(Method::GET).uri(path);
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        let app = harness.app.clone();
        async move {
            use tower::ServiceExt;
            let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
            let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
            let cache = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
            (status, etag, cache, body.len())
        }
    };
    let (status, tag, cache, length) = conditional("/cap/feed.atom".into(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(tag.as_deref().is_some_and(|t| t.starts_with('"')) && length > 0, "{tag:?}");
    assert_eq!(cache.as_deref(), Some("public, max-age=30"));
    let (status, same, _, length) = conditional("/cap/feed.atom".into(), tag.clone()).await;
    assert_eq!((status, length), (StatusCode::NOT_MODIFIED, 0));
    assert_eq!(same, tag, "a 304 names the tag it confirms");

    let version =
        post(&harness, &wren, "/api/v1/warnings", Some(draft("Exercise", "New", square(52.9, 1.1, 0.1))))
            .await["id"]
            .as_i64()
            .unwrap();
    post(&harness, &wren, &format!("/api/v1/warning-versions/{version}/submit"), None).await;
    let (status, fresh, _, _) = conditional("/cap/feed.atom".into(), tag.clone()).await;
    assert_eq!(status, StatusCode::OK, "a new alert is news");
    assert_ne!(fresh, tag);

    let identifier = harness.state.store.warning_version(version).await.unwrap().unwrap().alert.identifier;
    let path = format!("/cap/alerts/{identifier}.xml");
    let (status, alert_tag, cache, _) = conditional(path.clone(), None).await;
    assert_eq!((status, cache.as_deref()), (StatusCode::OK, Some("public, max-age=86400, immutable")));
    assert_eq!(conditional(path.clone(), alert_tag).await.0, StatusCode::NOT_MODIFIED);

    // Served outside the application's layers, the documents carry their own protections.
    for path in ["/cap/feed.atom", &path] {
        use tower::ServiceExt;
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = harness.app.clone().oneshot(request).await.unwrap();
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            header("content-security-policy").as_deref(),
            Some("default-src 'none'; frame-ancestors 'none'")
        );
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
    }
    let missing = harness.call(Method::GET, "/cap/alerts/no-such-alert.xml", None, None).await;
    assert_eq!((missing.status, missing.json()["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let posted = harness.call(Method::POST, "/cap/feed.atom", None, None).await;
    assert_eq!(posted.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(posted.json()["code"].is_string(), "in the contract: {}", posted.body);
}
