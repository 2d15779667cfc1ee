//! The source lifecycle through the API, with an injected clock: every rule the issue names,
//! the register and exports, and bad input refused with nothing changed.

mod common;

use axum::http::{Method, StatusCode};
use common::{harness, harness_on, sealed_values, Harness, Reply};
use serde_json::{json, Value};
use tearline_domain::{Role, Seniority};
use tearline_store::Backend;

const DAY: i64 = 86_400_000;

impl Harness {
    async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    async fn get(&self, token: &str, path: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn lifecycle(&self, token: &str, source: i64) -> Value {
        let reply = self.get(token, &format!("/api/v1/sources/{source}/lifecycle")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()
    }

    async fn due_kinds(&self, token: &str, code_name: &str) -> Vec<String> {
        let reply = self.get(token, "/api/v1/due-items").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()["due_items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["code_name"] == code_name)
            .map(|d| d["kind"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn application(kind: &str) -> Value {
    json!({"kind": kind, "necessity": "needed", "proportionality": "proportionate", "purpose": "the purpose",
           "tasking": "what we will ask", "collateral_intrusion": "little", "confidential_information": "none expected"})
}

fn expect(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.json()["code"], code, "{}", reply.body);
}

async fn apply(h: &Harness, token: &str, source: i64, kind: &str) -> i64 {
    let reply = h.post(token, &format!("/api/v1/sources/{source}/authorisations"), application(kind)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.json()["id"].as_i64().unwrap()
}

async fn decide(h: &Harness, token: &str, id: i64, decision: Value) -> Reply {
    h.post(token, &format!("/api/v1/authorisations/{id}/decision"), decision).await
}

#[tokio::test]
async fn no_one_authorises_their_own_case_and_the_register_keeps_the_attempt() {
    let h = harness().await;
    let aurelia = h.demo_login(Role::AuthorisingOfficer).await;
    let heron = h.source_id("HERON").await;
    let own = apply(&h, &aurelia, heron, "adult-written").await;
    let refused = decide(&h, &aurelia, own, json!({"decision": "grant", "review_every_days": 30})).await;
    expect(&refused, StatusCode::FORBIDDEN, "self_authorisation");
    assert_eq!(h.lifecycle(&aurelia, heron).await["authorisations"][0]["state"], "applied");

    let avery = h.officer("avery", Role::AuthorisingOfficer, Seniority::Standard).await;
    let granted = decide(&h, &avery, own, json!({"decision": "grant", "review_every_days": 30})).await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);

    let ines = h.demo_login(Role::Inspector).await;
    let register = h.get(&ines, "/api/v1/register").await.json();
    let row = register["authorisations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["authorisation"]["id"] == own)
        .unwrap()
        .clone();
    let events: Vec<&str> =
        row["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(events, ["applied", "refused-self-authorisation", "granted"]);
    assert_eq!(row["events"][1]["actor"], "aurelia");
    let csv = h.get(&ines, "/api/v1/register/export").await;
    assert!(csv.body.contains("refused-self-authorisation"), "{}", csv.body);
    // Every inspector read is audited.
    let audited = tearline_domain::audit::AuditLog::read(&h.state.log, 0, 10_000).await.unwrap();
    for action in ["register.read", "register.export"] {
        assert!(audited.iter().any(|r| r.event.action == action), "{action} audited");
    }
}

#[tokio::test]
async fn juveniles_need_a_senior_officer_expire_after_four_months_and_are_reviewed_monthly() {
    let h = harness().await;
    let hana = h.demo_login(Role::Handler).await;
    let aurelia = h.demo_login(Role::AuthorisingOfficer).await;
    let avery = h.officer("avery", Role::AuthorisingOfficer, Seniority::Standard).await;
    let heron = h.source_id("HERON").await;
    let id = apply(&h, &hana, heron, "juvenile").await;
    let grant = |days: i64| json!({"decision": "grant", "review_every_days": days});
    expect(&decide(&h, &avery, id, grant(30)).await, StatusCode::FORBIDDEN, "senior_officer_required");
    expect(
        &decide(&h, &aurelia, id, grant(60)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_review_interval",
    );
    let granted = decide(&h, &aurelia, id, grant(30)).await.json();
    let (starts, expires) =
        (granted["grant"]["starts_at"].as_i64().unwrap(), granted["grant"]["expires_at"].as_i64().unwrap());
    // Four calendar months: between 120 and 123 days.
    assert!((120 * DAY..=123 * DAY).contains(&(expires - starts)), "{}", expires - starts);
    // Sessions last hours, not weeks: log in again after moving the clock.
    h.advance(24 * DAY);
    let hana = h.demo_login(Role::Handler).await;
    assert!(h.due_kinds(&hana, "HERON").await.contains(&"review-due".to_owned()));
    h.advance(7 * DAY);
    let hana = h.demo_login(Role::Handler).await;
    let aurelia = h.demo_login(Role::AuthorisingOfficer).await;
    assert!(h.due_kinds(&hana, "HERON").await.contains(&"review-overdue".to_owned()));
    let register = h.get(&aurelia, "/api/v1/register").await.json();
    let kinds: Vec<String> = register["authorisations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["authorisation"]["id"] == id)
        .flat_map(|r| r["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(kinds, ["applied", "refused-level", "granted"]);
}

#[tokio::test]
async fn expiry_shows_at_thirty_and_seven_days_renewal_extends_from_the_old_expiry_and_lapsed_cannot_renew() {
    let h = harness().await;
    let aurelia = h.demo_login(Role::AuthorisingOfficer).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let authorisation = h.lifecycle(&aurelia, nightjar).await["authorisations"][0].clone();
    let (id, expires) =
        (authorisation["id"].as_i64().unwrap(), authorisation["grant"]["expires_at"].as_i64().unwrap());
    assert!(h.due_kinds(&aurelia, "NIGHTJAR").await.contains(&"expires-within30-days".to_owned()));
    let now = h.now.load(std::sync::atomic::Ordering::SeqCst);
    h.advance(expires - now - 6 * DAY);
    let aurelia = h.demo_login(Role::AuthorisingOfficer).await;
    assert!(h.due_kinds(&aurelia, "NIGHTJAR").await.contains(&"expires-within7-days".to_owned()));
    let renewed = decide(&h, &aurelia, id, json!({"decision": "renew"})).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    let new_expiry = renewed.json()["grant"]["expires_at"].as_i64().unwrap();
    assert!((365 * DAY..=366 * DAY).contains(&(new_expiry - expires)), "extends from the old expiry");
    assert!(!h.due_kinds(&aurelia, "NIGHTJAR").await.iter().any(|k| k.starts_with("expires")));

    h.advance(new_expiry - expires + 7 * DAY);
    let aurelia = h.demo_login(Role::AuthorisingOfficer).await;
    assert!(h.due_kinds(&aurelia, "NIGHTJAR").await.contains(&"expired".to_owned()));
    expect(
        &decide(&h, &aurelia, id, json!({"decision": "renew"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "authorisation_lapsed",
    );
    // Lapsed: the source can no longer be tasked.
    let hana = h.demo_login(Role::Handler).await;
    let task =
        h.post(&hana, &format!("/api/v1/sources/{nightjar}/tasks"), json!({"description": "one more"})).await;
    expect(&task, StatusCode::CONFLICT, "no_live_authorisation");
}

#[tokio::test]
async fn cancel_and_regrant_does_not_reset_the_cumulative_clock() {
    let h = harness().await;
    let hana = h.demo_login(Role::Handler).await;
    let aurelia = h.demo_login(Role::AuthorisingOfficer).await;
    let heron = h.source_id("HERON").await;
    let first = apply(&h, &hana, heron, "adult-written").await;
    decide(&h, &aurelia, first, json!({"decision": "grant", "review_every_days": 90})).await;
    // Overlapping authorisations are refused: a live one must be renewed, not re-applied for.
    let overlapping =
        h.post(&hana, &format!("/api/v1/sources/{heron}/authorisations"), application("adult-written")).await;
    assert_eq!(overlapping.status, StatusCode::CONFLICT, "{}", overlapping.body);
    h.advance(100 * DAY);
    let aurelia = h.demo_login(Role::AuthorisingOfficer).await;
    let cancelled =
        decide(&h, &aurelia, first, json!({"decision": "cancel", "reason": "no longer necessary"})).await;
    assert_eq!(cancelled.json()["state"], "cancelled");
    h.advance(DAY);
    let (hana, aurelia) = (h.demo_login(Role::Handler).await, h.demo_login(Role::AuthorisingOfficer).await);
    let second = apply(&h, &hana, heron, "adult-written").await;
    decide(&h, &aurelia, second, json!({"decision": "grant", "review_every_days": 90})).await;
    h.advance(100 * DAY);
    let hana = h.demo_login(Role::Handler).await;
    assert_eq!(h.lifecycle(&hana, heron).await["cumulative_deployment_days"], 200);
}

#[tokio::test]
async fn tasking_needs_a_live_authorisation_and_contacts_without_one_are_flagged() {
    let h = harness().await;
    let hana = h.demo_login(Role::Handler).await;
    let heron = h.source_id("HERON").await;
    let task = h
        .post(&hana, &format!("/api/v1/sources/{heron}/tasks"), json!({"description": "watch the quay"}))
        .await;
    expect(&task, StatusCode::CONFLICT, "no_live_authorisation");
    assert!(h.lifecycle(&hana, heron).await["tasks"].as_array().unwrap().is_empty());
    let contact = h
        .post(
            &hana,
            &format!("/api/v1/sources/{heron}/contacts"),
            json!({"method": "meeting", "place": "Quay", "summary": "talked"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED);
    assert_eq!(contact.json()["authorised"], false);
    assert!(h.due_kinds(&hana, "HERON").await.contains(&"uncontrolled-contacts".to_owned()));
    let nightjar = h.source_id("NIGHTJAR").await;
    let task = h
        .post(&hana, &format!("/api/v1/sources/{nightjar}/tasks"), json!({"description": "watch the quay"}))
        .await;
    assert_eq!(task.status, StatusCode::CREATED, "{}", task.body);
    let id = task.json()["id"].as_i64().unwrap();
    let acknowledged = h.post(&hana, &format!("/api/v1/tasks/{id}/acknowledgement"), json!({})).await;
    assert!(acknowledged.json()["acknowledged_at"].is_i64());
    // New tasking makes the risk assessment stale.
    assert!(h.due_kinds(&hana, "NIGHTJAR").await.contains(&"stale-risk-assessment".to_owned()));
}

#[tokio::test]
async fn reviews_must_reference_the_current_risk_assessment_and_risks_must_be_explained() {
    let h = harness().await;
    let hana = h.demo_login(Role::Handler).await;
    let aurelia = h.demo_login(Role::AuthorisingOfficer).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let unexplained =
        json!({"risk_level": "high", "summary": "s", "mitigations": "m", "explained_and_understood": false});
    let refused = h.post(&hana, &format!("/api/v1/sources/{nightjar}/risk-assessments"), unexplained).await;
    expect(&refused, StatusCode::BAD_REQUEST, "risks_not_explained");
    let view = h.lifecycle(&aurelia, nightjar).await;
    let id = view["authorisations"][0]["id"].as_i64().unwrap();
    let old = view["risk_assessments"][1]["id"].as_i64().unwrap();
    let current = view["risk_assessments"][0]["id"].as_i64().unwrap();
    let review = |risk: i64| json!({"decision": "review", "risk_assessment_id": risk, "note": "reviewed"});
    expect(
        &decide(&h, &aurelia, id, review(old)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "stale_risk_assessment",
    );
    assert_eq!(decide(&h, &aurelia, id, review(current)).await.status, StatusCode::OK);
}

async fn payments_flow_and_thresholds(h: Harness) {
    let hana = h.demo_login(Role::Handler).await;
    let conrad = h.demo_login(Role::Controller).await;
    let cara = h.officer("cara", Role::Controller, Seniority::Standard).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let request = |amount: &str| json!({"amount": amount, "currency": "GBP", "purpose": "information on the quay", "not_contingent": true});
    let large = h.post(&hana, &format!("/api/v1/sources/{nightjar}/payments"), request("1500.00")).await;
    assert_eq!(large.status, StatusCode::CREATED, "{}", large.body);
    assert_eq!(large.json()["thresholds_crossed"], json!(["per payment"]));
    let large = large.json()["id"].as_i64().unwrap();
    let approve = json!({"approve": true, "note": "proportionate"});
    let junior = h.post(&cara, &format!("/api/v1/payments/{large}/decision"), approve.clone()).await;
    expect(&junior, StatusCode::FORBIDDEN, "senior_approval_required");
    let own = h.post(&conrad, &format!("/api/v1/sources/{nightjar}/payments"), request("10")).await.json()
        ["id"]
        .as_i64()
        .unwrap();
    expect(
        &h.post(&conrad, &format!("/api/v1/payments/{own}/decision"), approve.clone()).await,
        StatusCode::FORBIDDEN,
        "own_request",
    );
    let approved = h.post(&conrad, &format!("/api/v1/payments/{large}/decision"), approve).await;
    assert_eq!(approved.json()["state"], "approved", "{}", approved.body);
    let bad_witness =
        h.post(&hana, &format!("/api/v1/payments/{large}/paid"), json!({"witness": "hana"})).await;
    expect(&bad_witness, StatusCode::BAD_REQUEST, "invalid_witness");
    let paid = h.post(&hana, &format!("/api/v1/payments/{large}/paid"), json!({"witness": "conrad"})).await;
    assert_eq!(paid.json()["state"], "paid", "{}", paid.body);
    let wrong_name =
        h.post(&hana, &format!("/api/v1/payments/{large}/receipt"), json!({"code_name": "Samira"})).await;
    expect(&wrong_name, StatusCode::BAD_REQUEST, "invalid_receipt");
    let receipt =
        h.post(&hana, &format!("/api/v1/payments/{large}/receipt"), json!({"code_name": "nightjar"})).await;
    assert_eq!(receipt.json()["receipt_code_name"], "NIGHTJAR");

    let disclosure = h.get(&conrad, &format!("/api/v1/sources/{nightjar}/disclosure")).await.json();
    assert_eq!(disclosure["totals_paid"], json!(["1650.00 GBP"]), "the demo's 150 and this 1500");
    let csv = h.get(&conrad, &format!("/api/v1/sources/{nightjar}/disclosure?format=csv")).await;
    assert!(csv.body.contains("1500.00 GBP") && csv.body.contains("receipted"), "{}", csv.body);

    // A correction is a reversal, never an edit; the books still balance.
    let ledger_before = h.state.store.ledger().await.unwrap();
    let entry = ledger_before.entries().iter().rev().find(|e| e.memo == "payment made").unwrap().id;
    let reversed = h
        .post(
            &conrad,
            &format!("/api/v1/ledger/entries/{entry}/reversal"),
            json!({"memo": "paid twice in error"}),
        )
        .await;
    assert_eq!(reversed.status, StatusCode::CREATED, "{}", reversed.body);
    let again =
        h.post(&conrad, &format!("/api/v1/ledger/entries/{entry}/reversal"), json!({"memo": "again"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let ledger = h.state.store.ledger().await.unwrap();
    assert_eq!(&ledger.entries()[..ledger_before.entries().len()], ledger_before.entries());
    assert!(ledger.trial_balance().values().all(|sum| *sum == 0));
    let disclosure = h.get(&conrad, &format!("/api/v1/sources/{nightjar}/disclosure")).await.json();
    assert_eq!(disclosure["totals_paid"], json!(["150.00 GBP"]));
}

#[tokio::test]
async fn payments_are_approved_above_thresholds_only_by_a_senior_witnessed_receipted_and_corrected_by_reversal_sqlite(
) {
    payments_flow_and_thresholds(harness_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn payments_are_approved_above_thresholds_only_by_a_senior_witnessed_receipted_and_corrected_by_reversal_postgres(
) {
    payments_flow_and_thresholds(harness_on(Backend::Postgres).await).await;
}

#[tokio::test]
async fn bad_input_gets_a_precise_error_and_changes_nothing() {
    let h = harness().await;
    let hana = h.demo_login(Role::Handler).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let before = h.lifecycle(&hana, nightjar).await;
    let payment = |amount: &str, currency: &str| json!({"amount": amount, "currency": currency, "purpose": "p", "not_contingent": true});
    let payments = format!("/api/v1/sources/{nightjar}/payments");
    for (body, code) in [
        (payment("-5", "GBP"), "invalid_amount"),
        (payment("1.234", "GBP"), "invalid_amount"),
        (payment("0", "GBP"), "invalid_amount"),
        (payment("12.5", "XXX"), "unknown_currency"),
        (
            payment("500", "JPY")
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.insert("amount".into(), json!("1.5"));
                    Value::Object(o)
                })
                .unwrap(),
            "invalid_amount",
        ),
        (
            json!({"amount": "5", "currency": "GBP", "purpose": "p", "not_contingent": false}),
            "contingent_payment",
        ),
        (json!({"amount": 5, "currency": "GBP"}), "invalid_json"),
    ] {
        let reply = h.post(&hana, &payments, body.clone()).await;
        assert!(reply.status.is_client_error(), "{body}: {}", reply.body);
        assert_eq!(reply.json()["code"], code, "{body}: {}", reply.body);
    }
    let now = h.now.load(std::sync::atomic::Ordering::SeqCst);
    let contacts = format!("/api/v1/sources/{nightjar}/contacts");
    let future = h
        .post(&hana, &contacts, json!({"at": now + DAY, "method": "meeting", "place": "x", "summary": "y"}))
        .await;
    expect(&future, StatusCode::BAD_REQUEST, "invalid_date");
    let ancient =
        h.post(&hana, &contacts, json!({"at": 0, "method": "meeting", "place": "x", "summary": "y"})).await;
    expect(&ancient, StatusCode::BAD_REQUEST, "invalid_date");
    let period =
        h.get(&hana, &format!("/api/v1/sources/{nightjar}/disclosure?from={now}&to={}", now - DAY)).await;
    expect(&period, StatusCode::BAD_REQUEST, "invalid_period");
    let overlapping = h
        .post(&hana, &format!("/api/v1/sources/{nightjar}/authorisations"), application("adult-written"))
        .await;
    expect(&overlapping, StatusCode::CONFLICT, "conflict");
    let incomplete = json!({"kind": "adult-written", "necessity": " ", "proportionality": "p", "purpose": "p",
        "tasking": "t", "collateral_intrusion": "c", "confidential_information": "c"});
    let heron = h.source_id("HERON").await;
    let reply = h.post(&hana, &format!("/api/v1/sources/{heron}/authorisations"), incomplete).await;
    expect(&reply, StatusCode::UNPROCESSABLE_ENTITY, "incomplete_application");
    assert!(reply.json()["message"].as_str().unwrap().contains("necessity"));
    let after = h.lifecycle(&hana, nightjar).await;
    for part in ["authorisations", "payments", "contacts", "tasks"] {
        assert_eq!(before[part], after[part], "{part} unchanged");
    }
    assert!(h.lifecycle(&hana, heron).await["authorisations"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_inspectors_record_set_is_complete_audited_and_keeps_the_identity_sealed() {
    let h = harness().await;
    let ines = h.demo_login(Role::Inspector).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let reply = h.get(&ines, &format!("/api/v1/sources/{nightjar}/record-set")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    for section in [
        "identity",
        "code name",
        "reference",
        "recruited",
        "handler",
        "controller",
        "authorisation",
        "authorisation event",
        "risk assessment",
        "welfare",
        "task",
        "contact",
        "payment",
    ] {
        assert!(
            reply.body.lines().any(|l| l.starts_with(&format!("{section},"))),
            "{section} in\n{}",
            reply.body
        );
    }
    for secret in sealed_values() {
        assert!(!reply.body.contains(&secret), "the record set revealed {secret:?}");
    }
    let audited = tearline_domain::audit::AuditLog::read(&h.state.log, 0, 10_000).await.unwrap();
    assert!(
        audited
            .iter()
            .any(|r| r.event.action == "source.records.export"
                && r.event.object == format!("source:{nightjar}"))
    );
}

/// The register and the record set are read by the authorising officer and the inspector,
/// who may not unseal: a lifecycle text that names the source by its identity — however
/// disguised — is refused, naming the field and the kind of detail only, and nothing is
/// written. The code name, which those readers see on the record anyway, may be used.
#[tokio::test]
async fn lifecycle_texts_that_name_the_source_are_refused_and_change_nothing() {
    let h = harness().await;
    let hana = h.demo_login(Role::Handler).await;
    let aurelia = h.demo_login(Role::AuthorisingOfficer).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let before = h.lifecycle(&hana, nightjar).await;
    let contacts = format!("/api/v1/sources/{nightjar}/contacts");
    let tasks = format!("/api/v1/sources/{nightjar}/tasks");
    let applications = format!("/api/v1/sources/{nightjar}/authorisations");
    let mut naming_application = application("adult-written");
    naming_application["purpose"] =
        json!("to learn what \u{0405}\u{0430}m\u{0456}r\u{0430} Haddad hears at the quay");
    let cases = [
        (
            &contacts,
            json!({"method": "meeting", "place": "14 Tannery Lane", "summary": "talked"}),
            "place (address)",
        ),
        (
            &contacts,
            json!({"method": "call", "place": "phone", "summary": "Samira called about the van"}),
            "summary (name)",
        ),
        (
            &tasks,
            json!({"description": "keep oh seven seven double oh nine oh oh four six one on"}),
            "description (phone-number)",
        ),
        (&applications, naming_application, "purpose (name)"),
    ];
    for (path, body, named) in cases {
        let reply = h.post(&hana, path, body).await;
        expect(&reply, StatusCode::UNPROCESSABLE_ENTITY, "identity_leak");
        let message = reply.json()["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with(named), "{message}");
        for value in ["Samira", "Tannery", "900461", "Haddad"] {
            assert!(!message.contains(value), "the refusal repeats nothing it found: {message}");
        }
    }
    let live = before["authorisations"][0]["id"].as_i64().unwrap();
    let cancel = json!({"decision": "cancel", "reason": "Umm Yusuf's son would be at risk"});
    let reply = decide(&h, &aurelia, live, cancel).await;
    expect(&reply, StatusCode::UNPROCESSABLE_ENTITY, "identity_leak");
    assert!(reply.json()["message"].as_str().unwrap().starts_with("reason (alias)"), "{}", reply.body);

    let after = h.lifecycle(&hana, nightjar).await;
    for section in ["contacts", "tasks", "authorisations"] {
        assert_eq!(after[section], before[section], "a refused {section} text wrote nothing");
    }
    let harmless = json!({"method": "meeting", "place": "the usual café", "summary": "NIGHTJAR was calm; little to report"});
    assert_eq!(h.post(&hana, &contacts, harmless).await.status, StatusCode::CREATED);
}

/// Every string in a JSON document.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
        Value::Object(fields) => fields.values().for_each(|field| strings(field, out)),
        _ => {}
    }
}

/// The demo itself keeps the rule it demonstrates: nothing in any demo source's lifecycle
/// record (applications, decisions, contacts, tasks, welfare, risk, payments) names that
/// source by its identity, as the leak guard reads it.
#[tokio::test]
async fn no_demo_lifecycle_text_names_its_source() {
    let h = harness().await;
    let hana = h.demo_login(Role::Handler).await;
    for demo in &tearline_demo::DEMO_SOURCES {
        let id = h.source_id(demo.code_name).await;
        let mut texts = Vec::new();
        strings(&h.lifecycle(&hana, id).await, &mut texts);
        assert!(texts.len() > 5, "{}: the record holds texts", demo.code_name);
        let identity = demo.identity();
        let none = tearline_vault::leak::Handles { code_name: "", reference: "" };
        let named: Vec<&String> = texts
            .iter()
            .filter(|t| !tearline_vault::leak::leaks(&identity, none, &[("text", t)]).is_empty())
            .collect();
        assert!(named.is_empty(), "{}: {named:?}", demo.code_name);
    }
}
