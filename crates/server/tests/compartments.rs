//! Units are compartments, and a refusal looks exactly like a missing record: for every
//! endpoint that names a record, a caller of the demo unit who asks for a record of the
//! Riverside unit gets the same status and the same body, byte for byte, as one who asks
//! for an id that does not exist.

mod common;

use axum::http::{Method, StatusCode};
use common::{harness, Harness};
use serde_json::{json, Value};
use tearline_domain::Role::{self, *};

/// An id no fixture reaches.
const MISSING: i64 = 987_654_321;

/// Records of the Riverside unit, one of each kind an endpoint names.
struct Riverside {
    ids: Vec<(&'static str, i64)>,
}

impl Riverside {
    fn resolve(&self, path: &str, missing: bool) -> String {
        self.ids.iter().fold(path.to_owned(), |path, (name, _)| {
            path.replace(&format!("{{{name}}}"), &self.id(name, missing).to_string())
        })
    }
}

async fn ok(h: &Harness, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let reply = h.call(method, path, Some(token), body).await;
    assert!(reply.status.is_success(), "fixture {path}: {} {}", reply.status, reply.body);
    reply.json()
}

fn id(value: &Value) -> i64 {
    value["id"].as_i64().unwrap_or_default()
}

async fn riverside(h: &Harness) -> Riverside {
    let olga = h.login("olga", "olga-password-long").await;
    let otto = h.login("otto", "otto-password-long").await;
    let falcon = h.source_id("FALCON").await;
    let application = json!({"kind": "adult-written", "necessity": "n", "proportionality": "p", "purpose": "Riverside",
        "tasking": "t", "collateral_intrusion": "c", "confidential_information": "none expected"});
    let authorisations = format!("/api/v1/sources/{falcon}/authorisations");
    let granted = id(&ok(h, &olga, Method::POST, &authorisations, Some(application.clone())).await);
    let ophelia = h.account_in("Riverside Unit", "ophelia", AuthorisingOfficer, Default::default()).await;
    let grant = json!({"decision": "grant", "review_every_days": 30});
    ok(h, &ophelia, Method::POST, &format!("/api/v1/authorisations/{granted}/decision"), Some(grant)).await;
    let plover =
        json!({"code_name": "PLOVER", "controller": "otto", "identity": {"full_name": "Orla Whitcombe"}});
    let plover = id(&ok(h, &olga, Method::POST, "/api/v1/sources", Some(plover)).await);
    let applied = format!("/api/v1/sources/{plover}/authorisations");
    let applied = id(&ok(h, &olga, Method::POST, &applied, Some(application)).await);
    let payment_body =
        json!({"amount": "5", "currency": "GBP", "purpose": "Riverside", "not_contingent": true});
    let payments = format!("/api/v1/sources/{falcon}/payments");
    let requested = id(&ok(h, &olga, Method::POST, &payments, Some(payment_body.clone())).await);
    let approved = id(&ok(h, &olga, Method::POST, &payments, Some(payment_body)).await);
    let decision = format!("/api/v1/payments/{approved}/decision");
    ok(h, &otto, Method::POST, &decision, Some(json!({"approve": true}))).await;
    let entry = h
        .state
        .store
        .ledger()
        .await
        .unwrap()
        .entries()
        .iter()
        .find(|e| e.lines.iter().any(|l| l.account.parts().1 == Some(tearline_domain::SourceId(falcon))))
        .map(|e| i64::try_from(e.id).unwrap())
        .unwrap();
    let task_body = json!({"description": "Riverside task"});
    let task =
        id(&ok(h, &olga, Method::POST, &format!("/api/v1/sources/{falcon}/tasks"), Some(task_body)).await);
    let contact_body =
        json!({"place": "Mill", "present": "olga", "method": "meeting", "account": "Barges at dawn."});
    let contact_reports = format!("/api/v1/sources/{falcon}/contact-reports");
    let contact = id(&ok(h, &olga, Method::POST, &contact_reports, Some(contact_body)).await);
    let drafts = format!("/api/v1/contact-reports/{contact}/intel-reports");
    let draft = id(&ok(h, &olga, Method::POST, &drafts, Some(intel_draft())).await);
    let submitted = id(&ok(h, &olga, Method::POST, &drafts, Some(intel_draft())).await);
    ok(h, &olga, Method::POST, &format!("/api/v1/intel/drafts/{submitted}/submit"), None).await;
    let released = id(&ok(h, &olga, Method::POST, &drafts, Some(intel_draft())).await);
    ok(h, &olga, Method::POST, &format!("/api/v1/intel/drafts/{released}/submit"), None).await;
    let release = json!({"release": true, "acknowledge_warnings": true});
    ok(h, &otto, Method::POST, &format!("/api/v1/intel/drafts/{released}/release"), Some(release)).await;
    let oscar = h.account_in("Riverside Unit", "oscar", Analyst, Default::default()).await;
    let threat = id(&ok(h, &oscar, Method::POST, "/api/v1/threats", Some(threat())).await);
    let version = h.other_unit_warning().await;
    let warning = h.state.store.warning_version(version).await.unwrap().unwrap().warning_id;
    Riverside {
        ids: vec![
            ("source", falcon),
            ("requested", requested),
            ("approved", approved),
            ("entry", entry),
            ("task", task),
            ("applied", applied),
            ("contact", contact),
            ("draft", draft),
            ("submitted", submitted),
            ("released", released),
            ("threat", threat),
            ("version", version),
            ("warning", warning),
        ],
    }
}

fn intel_draft() -> Value {
    json!({"title": "Riverside report", "body": "Barges move at dawn.", "admiralty": "B2", "handling_code": "P", "tlp": "TLP:AMBER"})
}

fn threat() -> Value {
    json!({"title": "Riverside threat", "description": "", "threat_type": "arson",
           "area": {"description": "Mill", "circles": [{"centre": {"lat": 52.9, "lon": 1.1}, "radius_km": 1.0}]},
           "window_start": common::T0, "window_end": common::T0 + 3_600_000,
           "likelihood": "likely", "impact": "severe", "status": "active"})
}

/// Every endpoint that names a record, with a role of the demo unit that could act on such
/// a record of its own unit.
fn named_records() -> Vec<(Role, Method, &'static str, Option<Value>)> {
    let warning = json!({"status": "Exercise", "infos": [{"language": "en-GB", "categories": ["Security"], "event": "Threat",
        "urgency": "Immediate", "severity": "Severe", "certainty": "Likely", "expires": "2026-11-19T10:00:00-00:00",
        "headline": "Probe", "areas": [{"description": "Quay", "circles": [{"centre": {"lat": 52.9, "lon": 1.1}, "radius_km": 1.0}]}]}]});
    vec![
        (Handler, Method::GET, "/api/v1/sources/{source}", None),
        (
            Handler,
            Method::POST,
            "/api/v1/sources/{source}/unseal",
            Some(json!({"reason": "probing another unit"})),
        ),
        (
            Controller,
            Method::POST,
            "/api/v1/sources/{source}/assignments",
            Some(json!({"role": "handler", "username": "hana"})),
        ),
        (Handler, Method::GET, "/api/v1/sources/{source}/lifecycle", None),
        (
            Handler,
            Method::POST,
            "/api/v1/sources/{source}/contacts",
            Some(json!({"method": "meeting", "place": "x", "summary": "x"})),
        ),
        (
            Handler,
            Method::POST,
            "/api/v1/sources/{source}/payments",
            Some(json!({"amount": "5", "currency": "GBP", "purpose": "x", "not_contingent": true})),
        ),
        (Handler, Method::GET, "/api/v1/sources/{source}/contact-reports", None),
        (Inspector, Method::GET, "/api/v1/sources/{source}/record-set", None),
        (Controller, Method::POST, "/api/v1/payments/{requested}/decision", Some(json!({"approve": true}))),
        (Handler, Method::POST, "/api/v1/payments/{approved}/paid", Some(json!({"witness": "conrad"}))),
        (Handler, Method::POST, "/api/v1/payments/{approved}/receipt", Some(json!({"code_name": "FALCON"}))),
        (Controller, Method::POST, "/api/v1/ledger/entries/{entry}/reversal", Some(json!({"memo": "probe"}))),
        (Handler, Method::POST, "/api/v1/tasks/{task}/acknowledgement", None),
        (
            AuthorisingOfficer,
            Method::POST,
            "/api/v1/authorisations/{applied}/decision",
            Some(json!({"decision": "grant", "review_every_days": 30})),
        ),
        (Handler, Method::POST, "/api/v1/contact-reports/{contact}/intel-reports", Some(intel_draft())),
        (Handler, Method::PUT, "/api/v1/intel/drafts/{draft}", Some(intel_draft())),
        (Handler, Method::POST, "/api/v1/intel/drafts/{draft}/submit", None),
        (
            Controller,
            Method::POST,
            "/api/v1/intel/drafts/{submitted}/release",
            Some(json!({"release": true, "acknowledge_warnings": true})),
        ),
        (Handler, Method::POST, "/api/v1/intel/reports/{released}/corrections", Some(intel_draft())),
        (Analyst, Method::GET, "/api/v1/intel/reports/{released}", None),
        (Analyst, Method::GET, "/api/v1/intel/reports/{released}/stix", None),
        (
            Analyst,
            Method::POST,
            "/api/v1/intel/reports/{released}/entities",
            Some(json!({"kind": "vehicle", "name": "XY12 ZZZ"})),
        ),
        (
            Analyst,
            Method::POST,
            "/api/v1/intel/reports/{released}/disseminations",
            Some(json!({"recipient": "probe"})),
        ),
        (Analyst, Method::GET, "/api/v1/threats/{threat}", None),
        (Analyst, Method::PUT, "/api/v1/threats/{threat}", Some(threat())),
        (WarningOfficer, Method::GET, "/api/v1/warning-versions/{version}", None),
        (WarningOfficer, Method::PUT, "/api/v1/warning-versions/{version}", Some(warning.clone())),
        (WarningOfficer, Method::POST, "/api/v1/warning-versions/{version}/submit", None),
        (WarningOfficer, Method::POST, "/api/v1/warning-versions/{version}/approve", None),
        (WarningOfficer, Method::POST, "/api/v1/warning-versions/{version}/discard", None),
        (WarningOfficer, Method::GET, "/api/v1/warning-versions/{version}/deliveries", None),
        (WarningOfficer, Method::GET, "/api/v1/warnings/{warning}", None),
        (WarningOfficer, Method::POST, "/api/v1/warnings/{warning}/updates", Some(warning)),
        (WarningOfficer, Method::POST, "/api/v1/warnings/{warning}/cancellation", None),
    ]
}

impl Riverside {
    fn id(&self, name: &str, missing: bool) -> i64 {
        if missing {
            MISSING
        } else {
            self.ids.iter().find(|(n, _)| *n == name).map_or(0, |(_, id)| *id)
        }
    }
}

#[tokio::test]
async fn a_record_of_another_unit_answers_byte_for_byte_like_a_missing_one() {
    let h = harness().await;
    let riverside = riverside(&h).await;
    let mut differences = Vec::new();
    for (role, method, path, body) in named_records() {
        let token = h.demo_login(role).await;
        let refused_path = riverside.resolve(path, false);
        let missing_path = riverside.resolve(path, true);
        let refused = h.call(method.clone(), &refused_path, Some(&token), body.clone()).await;
        let missing = h.call(method.clone(), &missing_path, Some(&token), body).await;
        if refused.status != StatusCode::NOT_FOUND
            || (refused.status, &refused.body) != (missing.status, &missing.body)
        {
            differences.push(format!(
                "{role} {method} {path}:\n  refused {} {}\n  missing {} {}",
                refused.status, refused.body, missing.status, missing.body
            ));
        }
    }
    // A body may name a record too: a warning drafted on a threat.
    let wren = h.demo_login(WarningOfficer).await;
    let on_threat = |missing: bool| json!({"status": "Exercise", "threat_id": riverside.id("threat", missing), "infos": []});
    let refused = h.call(Method::POST, "/api/v1/warnings", Some(&wren), Some(on_threat(false))).await;
    let missing = h.call(Method::POST, "/api/v1/warnings", Some(&wren), Some(on_threat(true))).await;
    if refused.status != StatusCode::NOT_FOUND
        || (refused.status, &refused.body) != (missing.status, &missing.body)
    {
        differences.push(format!(
            "warning on a threat: refused {} {}, missing {} {}",
            refused.status, refused.body, missing.status, missing.body
        ));
    }
    assert!(differences.is_empty(), "refused and missing records differ:\n{}", differences.join("\n"));
}
