//! Who may do what, tried from the outside: every role against every endpoint, and the
//! ways an identity could escape to someone who must never see it.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use common::{harness, harness_on, sealed_values, Harness};
use serde_json::{json, Value};
use tearline_demo as demo;
use tearline_domain::audit::{AuditLog, Outcome};
use tearline_domain::Role;

/// One endpoint as the matrix calls it. `{own}` is a source of the demo unit, handled by the
/// demo handler; `{other}` is a source of another unit.
struct Endpoint {
    method: Method,
    path: &'static str,
    body: Option<fn(Role) -> Value>,
    /// The roles that get a 2xx; every other role must get 403 or 404.
    allowed: &'static [Role],
}

use Role::*;

fn endpoints() -> Vec<Endpoint> {
    let all: &'static [Role] = &Role::ALL;
    vec![
        Endpoint { method: Method::GET, path: "/api/v1/me", body: None, allowed: all },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/sources",
            body: None,
            allowed: &[Handler, Controller, AuthorisingOfficer, Inspector],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources",
            body: Some(
                |role| json!({"code_name": format!("NEW {}", role.as_str()), "handler": "hana", "controller": "conrad", "identity": {"full_name": "Matrix Person"}}),
            ),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/sources/{own}",
            body: None,
            allowed: &[Handler, Controller, AuthorisingOfficer, Inspector],
        },
        Endpoint { method: Method::GET, path: "/api/v1/sources/{other}", body: None, allowed: &[] },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{own}/unseal",
            body: Some(|_| json!({"reason": "authorisation matrix check"})),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{other}/unseal",
            body: Some(|_| json!({"reason": "authorisation matrix check"})),
            allowed: &[],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{own}/assignments",
            body: Some(|_| json!({"role": "handler", "username": "hana"})),
            allowed: &[Controller],
        },
        Endpoint { method: Method::GET, path: "/api/v1/users", body: None, allowed: &[Administrator] },
        Endpoint { method: Method::GET, path: "/api/v1/account-approvals", body: None, allowed: all },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/users/{awaiting_account}/approval",
            body: None,
            allowed: &[Controller],
        },
        Endpoint {
            method: Method::PUT,
            path: "/api/v1/users/{changeable_account}",
            body: Some(|_| json!({"role": "analyst", "seniority": "senior", "unit": demo::DEMO_UNIT})),
            allowed: &[Administrator],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/users/{changeable_account}/disable",
            body: None,
            allowed: &[Administrator],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/users/{disabled_account}/enable",
            body: None,
            allowed: &[Administrator],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/account-changes/{account_change}/approval",
            body: None,
            allowed: &[Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/account-changes/{refusable_account_change}/refusal",
            body: None,
            allowed: &[Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/users",
            body: Some(
                |role| json!({"username": format!("new-{}", role.as_str()), "role": "analyst", "unit": "Harbour District Unit", "password": "a long enough password"}),
            ),
            allowed: &[Administrator],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/vault/rotate",
            body: None,
            allowed: &[Administrator],
        },
        Endpoint { method: Method::GET, path: "/api/v1/audit/events", body: None, allowed: &[Inspector] },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/audit/checkpoints",
            body: None,
            allowed: &[Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/audit/entries?start=0&end=1",
            body: None,
            allowed: &[Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/audit/proof/inclusion?index=0&size=1",
            body: None,
            allowed: &[Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/audit/proof/consistency?from=1&to=1",
            body: None,
            allowed: &[Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/threats",
            body: None,
            allowed: &[Analyst, WarningOfficer, Inspector],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/threats",
            body: Some(|_| threat_json()),
            allowed: &[Analyst],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/threats/{threat}",
            body: None,
            allowed: &[Analyst, WarningOfficer, Inspector],
        },
        Endpoint {
            method: Method::PUT,
            path: "/api/v1/threats/{threat}",
            body: Some(|_| threat_json()),
            allowed: &[Analyst],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/threats/{threat}/reports",
            body: None,
            allowed: &[Analyst, WarningOfficer, Inspector],
        },
        Endpoint {
            method: Method::PUT,
            path: "/api/v1/threats/{threat}/reports/{released}",
            body: None,
            allowed: &[Analyst],
        },
        Endpoint {
            method: Method::DELETE,
            path: "/api/v1/threats/{chain_threat}/reports/{uncitable}",
            body: None,
            allowed: &[Analyst],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/threat-reviews/{open_review}/clearance",
            body: Some(|_| json!({"note": "the threat stands"})),
            allowed: &[Analyst],
        },
        Endpoint {
            method: Method::PUT,
            path: "/api/v1/threats/{threat}/outcome",
            body: Some(|_| json!({"outcome": "unknown"})),
            allowed: &[Analyst],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/threats/{threat}/timeline",
            body: None,
            allowed: &[Analyst, WarningOfficer, Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/warnings",
            body: None,
            allowed: &[WarningOfficer, Inspector],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/warnings",
            body: Some(|_| draft_json("Exercise")),
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/warnings/{warning}",
            body: None,
            allowed: &[WarningOfficer, Inspector],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/warnings/{warning}/updates",
            body: Some(|_| draft_json("Exercise")),
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/warnings/{cancellable}/cancellation",
            body: None,
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/warning-versions/{version}",
            body: None,
            allowed: &[WarningOfficer, Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/warning-versions/{other_version}",
            body: None,
            allowed: &[],
        },
        Endpoint {
            method: Method::PUT,
            path: "/api/v1/warning-versions/{draft}",
            body: Some(|_| draft_json("Exercise")),
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/warning-versions/{submittable}/submit",
            body: None,
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/warning-versions/{awaiting}/approve",
            body: None,
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/warning-versions/{discardable}/discard",
            body: None,
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/warning-versions/{version}/deliveries",
            body: None,
            allowed: &[WarningOfficer, Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/warning-versions/{version}/answers",
            body: None,
            allowed: &[WarningOfficer, Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/warning-versions/{version}/support",
            body: None,
            allowed: &[WarningOfficer, Inspector],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/intel/reports/{withdrawable}/withdrawal",
            body: Some(|_| json!({"reason": "the source fabricated it"})),
            allowed: &[Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{own}/validations",
            body: Some(|_| json!({"reliability": "B", "note": "the record bears the grade out"})),
            allowed: &[Controller],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/warning-versions/{version}/help-requests",
            body: None,
            allowed: &[WarningOfficer, Inspector],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/targeting/preview",
            body: Some(|_| json!({"areas": [area_json()]})),
            allowed: &[WarningOfficer],
        },
        Endpoint { method: Method::GET, path: "/api/v1/recipients", body: None, allowed: &[WarningOfficer] },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/recipients",
            body: Some(recipients_json),
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/recipients/import",
            body: Some(|role| {
                json!({"type": "FeatureCollection", "features": [{"type": "Feature", "id": format!("geo-{role}"),
                "geometry": {"type": "Point", "coordinates": [1.215, 52.955]},
                "properties": {"name": "Siren", "kind": "siren", "channel": "webhook", "address": "http://127.0.0.1:9/siren"}}]})
            }),
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/recipients/{recipient}/retire",
            body: None,
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/partner-alerts",
            body: None,
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/partner-alerts",
            body: Some(|role| json!({"cap_xml": partner_alert_xml(role)})),
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/partner-feeds",
            body: None,
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/partner-feeds",
            body: Some(|role| json!({"url": format!("http://127.0.0.1:9/{role}/feed.atom")})),
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::PUT,
            path: "/api/v1/partner-feeds/{feed}",
            body: Some(|_| json!({"paused": true})),
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::DELETE,
            path: "/api/v1/partner-feeds/{feed}",
            body: None,
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/partner-keys",
            body: None,
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/partner-keys",
            body: Some(
                |role| json!({"sender": format!("{role}@partner.example"), "public_key": PARTNER_KEY}),
            ),
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::DELETE,
            path: "/api/v1/partner-keys/{partner_key}",
            body: None,
            allowed: &[WarningOfficer],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/sources/{own}/lifecycle",
            body: None,
            allowed: &[Handler, Controller, AuthorisingOfficer, Inspector],
        },
        Endpoint { method: Method::GET, path: "/api/v1/sources/{other}/lifecycle", body: None, allowed: &[] },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{unauthorised}/authorisations",
            body: Some(|_| application_json()),
            allowed: &[Handler, Controller, AuthorisingOfficer],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{other}/authorisations",
            body: Some(|_| application_json()),
            allowed: &[],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/authorisations/{applied}/decision",
            body: Some(|_| json!({"decision": "grant", "review_every_days": 30})),
            allowed: &[AuthorisingOfficer],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{own}/contacts",
            body: Some(|_| json!({"method": "meeting", "place": "Matrix", "summary": "Matrix contact"})),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{own}/tasks",
            body: Some(|_| json!({"description": "Matrix task"})),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/tasks/{task}/acknowledgement",
            body: None,
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{own}/welfare",
            body: Some(|_| json!({"kind": "check", "notes": "Matrix welfare"})),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{own}/risk-assessments",
            body: Some(
                |_| json!({"risk_level": "low", "summary": "Matrix", "mitigations": "Matrix", "explained_and_understood": true}),
            ),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{own}/payments",
            body: Some(
                |_| json!({"amount": "5", "currency": "GBP", "purpose": "Matrix", "not_contingent": true}),
            ),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{other}/payments",
            body: Some(
                |_| json!({"amount": "5", "currency": "GBP", "purpose": "Matrix", "not_contingent": true}),
            ),
            allowed: &[],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/payments/{requested}/decision",
            body: Some(|_| json!({"approve": true})),
            allowed: &[Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/payments/{approved}/paid",
            body: Some(|role| json!({"witness": if role == Handler { "conrad" } else { "hana" }})),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/payments/{paid}/receipt",
            body: Some(|_| json!({"code_name": "NIGHTJAR"})),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/ledger/entries/{entry}/reversal",
            body: Some(|_| json!({"memo": "Matrix correction"})),
            allowed: &[Controller],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/sources/{own}/disclosure?format=csv",
            body: None,
            allowed: &[Handler, Controller, Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/sources/{own}/record-set",
            body: None,
            allowed: &[Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/due-items",
            body: None,
            allowed: &[Handler, Controller, AuthorisingOfficer, Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/register",
            body: None,
            allowed: &[AuthorisingOfficer, Inspector],
        },
        Endpoint { method: Method::GET, path: "/api/v1/register/export", body: None, allowed: &[Inspector] },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/sources/{own}/contact-reports",
            body: None,
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{own}/contact-reports",
            body: Some(
                |_| json!({"place": "Matrix", "present": "Matrix", "method": "meeting", "account": "Matrix account"}),
            ),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{other}/contact-reports",
            body: Some(
                |_| json!({"place": "Matrix", "present": "Matrix", "method": "meeting", "account": "Matrix account"}),
            ),
            allowed: &[],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/contact-reports/{contact}/intel-reports",
            body: Some(|_| intel_draft_json()),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::PUT,
            path: "/api/v1/intel/drafts/{draft_intel}",
            body: Some(|_| intel_draft_json()),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/intel/drafts/{submittable_intel}/submit",
            body: None,
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/intel/drafts/{releasable}/release",
            body: Some(|_| json!({"release": true, "acknowledge_warnings": true})),
            allowed: &[Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/intel/reports/{correctable}/corrections",
            body: Some(|_| intel_draft_json()),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/intel/search?q=crates",
            body: None,
            allowed: &[Analyst, Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/intel/graph",
            body: None,
            allowed: &[Analyst, Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/intel/reports/{released}",
            body: None,
            allowed: &[Analyst, Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/intel/reports/{released}/stix",
            body: None,
            allowed: &[Analyst],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/intel/reports/{released}/entities",
            body: Some(|_| json!({"kind": "vehicle", "name": "XY12 ZZZ"})),
            allowed: &[Analyst],
        },
        Endpoint {
            method: Method::DELETE,
            path: "/api/v1/intel/reports/{released}/entities?entity={removable_entity}",
            body: None,
            allowed: &[Analyst],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/intel/reports/{released}/disseminations",
            body: Some(|_| json!({"recipient": "Matrix partner"})),
            allowed: &[Analyst],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/intel/import",
            body: Some(stix_bundle_json),
            allowed: &[Analyst],
        },
        Endpoint {
            method: Method::PUT,
            path: "/api/v1/units/{unit}/warning-approval",
            body: Some(|_| json!({"required": true})),
            allowed: &[Administrator],
        },
    ]
}

fn intel_draft_json() -> Value {
    json!({"title": "Matrix report", "body": "Crates move on Saturdays.", "admiralty": "B2", "handling_code": "P", "tlp": "TLP:AMBER"})
}

/// A minimal valid partner bundle, with a report id of the role's own.
fn stix_bundle_json(role: Role) -> Value {
    let n = Role::ALL.iter().position(|r| *r == role).unwrap_or(0);
    json!({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [
        {"type": "report", "spec_version": "2.1", "id": format!("report--{n:08}-1a2b-4c3d-8e4f-5a6b7c8d9e0f"),
         "created": "2026-11-17T08:00:00.000Z", "modified": "2026-11-17T08:00:00.000Z", "name": "Partner report",
         "published": "2026-11-17T08:00:00.000Z", "object_refs": ["identity--2d6d2bd8-1a74-4a13-9d3c-8f1c37d1c1d2"]}]})
}

fn application_json() -> Value {
    json!({"kind": "adult-written", "necessity": "n", "proportionality": "p", "purpose": "Matrix purpose",
           "tasking": "t", "collateral_intrusion": "c", "confidential_information": "none expected"})
}

fn area_json() -> Value {
    json!({"description": "Quay", "polygons": [[{"lat": 52.95, "lon": 1.20}, {"lat": 52.96, "lon": 1.20}, {"lat": 52.96, "lon": 1.23}, {"lat": 52.95, "lon": 1.20}]]})
}

fn threat_json() -> Value {
    json!({"title": "Matrix threat", "description": "", "threat_type": "arson", "area": area_json(),
           "window_start": common::T0, "window_end": common::T0 + 3_600_000,
           "likelihood": "likely", "impact": "severe", "status": "active"})
}

pub fn draft_json(status: &str) -> Value {
    json!({"status": status, "infos": [{"language": "en-GB", "categories": ["Security"], "event": "Threat",
        "urgency": "Immediate", "severity": "Severe", "certainty": "Likely",
        "expires": "2026-11-19T10:00:00-00:00", "headline": "Matrix warning", "areas": [area_json()]}]})
}

fn recipients_json(role: Role) -> Value {
    json!([{"external_id": format!("matrix-{role}"), "name": "Resident", "kind": "person", "channel": "sms",
            "address": "+441632960000", "lat": 52.955, "lon": 1.21}])
}

/// A partner's public key (a throwaway test key of the XML Signature tests).
const PARTNER_KEY: &str = include_str!("../../warn/tests/xmldsig/ec-test-public.pem");

fn partner_alert_xml(role: Role) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>partner-{role}</identifier><sender>partner@agency.example</sender><sent>2026-11-17T10:00:00-00:00</sent><status>Test</status><msgType>Alert</msgType><scope>Public</scope>
<info><category>Met</category><event>Flood</event><urgency>Expected</urgency><severity>Moderate</severity><certainty>Likely</certainty><area><areaDesc>Valley</areaDesc><circle>52.9,1.2 5</circle></area></info></alert>"#
    )
}

/// Records every endpoint of the matrix needs: sources of this and another unit, and
/// early-warning records in each state an action applies to.
struct Fixtures {
    /// Placeholder names and ids; a name `x:role` is that role's own record for `{x}`, for
    /// actions that move a record on and so cannot succeed twice on the same one.
    ids: Vec<(String, i64)>,
}

impl Fixtures {
    fn resolve(&self, path: &str, role: Role) -> String {
        let own = format!(":{role}");
        let (specific, generic): (Vec<_>, Vec<_>) = self.ids.iter().partition(|(name, _)| name.contains(':'));
        let specific = specific
            .into_iter()
            .filter_map(|(name, id)| name.strip_suffix(&own).map(|base| (base.to_owned(), *id)));
        specific
            .chain(generic.into_iter().map(|(name, id)| (name.clone(), *id)))
            .fold(path.to_owned(), |path, (name, id)| path.replace(&format!("{{{name}}}"), &id.to_string()))
    }
}

async fn fixtures(harness: &Harness) -> Fixtures {
    let wren = harness.demo_login(WarningOfficer).await;
    let wanda = harness.second_warning_officer().await;
    let analyst = harness.demo_login(Analyst).await;
    let created = |reply: common::Reply| {
        assert!(reply.status.is_success(), "fixture: {} {}", reply.status, reply.body);
        reply.json()["id"].as_i64().unwrap()
    };
    let post = |token: &str, path: &str, body: Option<Value>| {
        let token = token.to_owned();
        let path = path.to_owned();
        async move { harness.call(Method::POST, &path, Some(&token), body).await }
    };
    let threat = created(post(&analyst, "/api/v1/threats", Some(threat_json())).await);
    let issued = |token: String| async move {
        let version = created(post(&token, "/api/v1/warnings", Some(draft_json("Exercise"))).await);
        assert!(post(&token, &format!("/api/v1/warning-versions/{version}/submit"), None)
            .await
            .status
            .is_success());
        version
    };
    let version = issued(wren.clone()).await;
    let cancellable_version = issued(wren.clone()).await;
    let warning_of = |version: i64| async move {
        harness.state.store.warning_version(version).await.unwrap().unwrap().warning_id
    };
    let draft = created(post(&wren, "/api/v1/warnings", Some(draft_json("Exercise"))).await);
    let submittable = created(post(&wren, "/api/v1/warnings", Some(draft_json("Exercise"))).await);
    let discardable = created(post(&wren, "/api/v1/warnings", Some(draft_json("Exercise"))).await);
    let awaiting = created(post(&wanda, "/api/v1/warnings", Some(draft_json("Actual"))).await);
    let submitted = post(&wanda, &format!("/api/v1/warning-versions/{awaiting}/submit"), None).await;
    assert_eq!(submitted.json()["result"], "awaiting-approval", "{}", submitted.body);
    let recipient = post(&wren, "/api/v1/recipients", Some(recipients_json(Handler))).await;
    assert!(recipient.status.is_success(), "{}", recipient.body);
    let recipient = harness.state.store.recipients_page(0, 1).await.unwrap()[0].id;
    let other_version = harness.other_unit_warning().await;
    let adam = harness.demo_login(Administrator).await;
    let account = json!({"username": "awaiting-handler", "role": "handler", "unit": demo::DEMO_UNIT, "password": "a long enough password"});
    let awaiting_account = created(post(&adam, "/api/v1/users", Some(account)).await);
    let analyst_account = |name: &str| json!({"username": name, "role": "analyst", "unit": demo::DEMO_UNIT, "password": "a long enough password"});
    let changeable_account =
        created(post(&adam, "/api/v1/users", Some(analyst_account("matrix-changeable"))).await);
    let ui_changeable_account =
        created(post(&adam, "/api/v1/users", Some(analyst_account("matrix-ui-changeable"))).await);
    let mut disabled_accounts = Vec::new();
    for name in ["matrix-disabled", "matrix-ui-disabled"] {
        let id = created(post(&adam, "/api/v1/users", Some(analyst_account(name))).await);
        assert!(post(&adam, &format!("/api/v1/users/{id}/disable"), None).await.status.is_success());
        disabled_accounts.push(id);
    }
    // Accounts an administrator asked to make handlers: each change waits for a senior controller.
    let mut account_changes = Vec::new();
    for name in ["matrix-approve", "matrix-refuse", "matrix-ui-approve", "matrix-ui-refuse"] {
        let id = created(post(&adam, "/api/v1/users", Some(analyst_account(name))).await);
        let to_handler = json!({"role": "handler", "unit": demo::DEMO_UNIT});
        let asked =
            harness.call(Method::PUT, &format!("/api/v1/users/{id}"), Some(&adam), Some(to_handler)).await;
        account_changes.push(asked.json()["pending_change"]["id"].as_i64().expect("a change waits"));
    }
    let feed = |n: &str| json!({"url": format!("http://127.0.0.1:9/{n}/feed.atom")});
    let (feed, ui_feed) = (
        created(post(&wren, "/api/v1/partner-feeds", Some(feed("matrix"))).await),
        created(post(&wren, "/api/v1/partner-feeds", Some(feed("ui"))).await),
    );
    let key = |sender: &str| json!({"sender": sender, "label": "matrix", "public_key": PARTNER_KEY});
    let (partner_key, ui_partner_key) = (
        created(post(&wren, "/api/v1/partner-keys", Some(key("matrix@partner.example"))).await),
        created(post(&wren, "/api/v1/partner-keys", Some(key("ui@partner.example"))).await),
    );
    let unit = harness
        .state
        .store
        .units()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.name == demo::DEMO_UNIT)
        .unwrap()
        .id
        .0;
    Fixtures {
        ids: [
            ("own", harness.source_id("NIGHTJAR").await),
            ("other", harness.source_id("FALCON").await),
            ("threat", threat),
            ("warning", warning_of(version).await),
            ("cancellable", warning_of(cancellable_version).await),
            ("version", version),
            ("other_version", other_version),
            ("draft", draft),
            ("submittable", submittable),
            ("discardable", discardable),
            ("awaiting", awaiting),
            ("recipient", recipient),
            ("unit", unit),
            ("awaiting_account", awaiting_account),
            ("changeable_account", changeable_account),
            ("ui_changeable_account", ui_changeable_account),
            ("disabled_account", disabled_accounts[0]),
            ("ui_disabled_account", disabled_accounts[1]),
            ("account_change", account_changes[0]),
            ("refusable_account_change", account_changes[1]),
            ("ui_account_change", account_changes[2]),
            ("ui_refusable_account_change", account_changes[3]),
            ("feed", feed),
            ("ui_feed", ui_feed),
            ("partner_key", partner_key),
            ("ui_partner_key", ui_partner_key),
        ]
        .into_iter()
        .map(|(name, id)| (name.to_owned(), id))
        .chain(lifecycle_fixtures(harness).await)
        .collect(),
    }
}

/// Intelligence records the matrix's actions apply to: a contact report, drafts in each
/// state (per role where an action moves a draft on), and released reports.
async fn intel_fixtures(harness: &Harness) -> Vec<(String, i64)> {
    let hana = harness.demo_login(Handler).await;
    let conrad = harness.demo_login(Controller).await;
    let anders = harness.demo_login(Analyst).await;
    let own = harness.source_id("NIGHTJAR").await;
    let contact_body =
        json!({"place": "Quay", "present": "hana", "method": "meeting", "account": "Crates on Saturdays."});
    let contact = fixture_call(
        harness,
        &hana,
        Method::POST,
        &format!("/api/v1/sources/{own}/contact-reports"),
        Some(contact_body),
    )
    .await["id"]
        .as_i64()
        .unwrap_or_default();
    let draft = |stage: u8| {
        let (hana, conrad) = (hana.clone(), conrad.clone());
        async move {
            let path = format!("/api/v1/contact-reports/{contact}/intel-reports");
            let id = fixture_call(harness, &hana, Method::POST, &path, Some(intel_draft_json())).await["id"]
                .as_i64()
                .unwrap_or_default();
            if stage >= 1 {
                fixture_call(
                    harness,
                    &hana,
                    Method::POST,
                    &format!("/api/v1/intel/drafts/{id}/submit"),
                    None,
                )
                .await;
            }
            if stage >= 2 {
                let release = json!({"release": true, "acknowledge_warnings": true});
                fixture_call(
                    harness,
                    &conrad,
                    Method::POST,
                    &format!("/api/v1/intel/drafts/{id}/release"),
                    Some(release),
                )
                .await;
            }
            id
        }
    };
    let mut ids = vec![("contact".to_owned(), contact), ("draft_intel".to_owned(), draft(0).await)];
    for role in [Handler, Controller] {
        ids.push((format!("submittable_intel:{role}"), draft(0).await));
        ids.push((format!("correctable:{role}"), draft(2).await));
    }
    ids.push(("submittable_intel".to_owned(), draft(0).await));
    ids.push(("releasable".to_owned(), draft(1).await));
    let released = draft(2).await;
    ids.push(("released".to_owned(), released));
    ids.push(("correctable".to_owned(), released));
    let tagged = json!({"kind": "person", "name": "Matrix Removable"});
    let path = format!("/api/v1/intel/reports/{released}/entities");
    let entity = fixture_call(harness, &anders, Method::POST, &path, Some(tagged)).await["entity_id"]
        .as_i64()
        .unwrap_or_default();
    ids.push(("removable_entity".to_owned(), entity));
    ids.extend(
        chain_fixtures(
            harness,
            &anders,
            &conrad,
            [draft(2).await, draft(2).await, draft(2).await, draft(2).await],
        )
        .await,
    );
    ids.push(("withdrawable".to_owned(), draft(2).await));
    ids.push(("ui_withdrawable".to_owned(), draft(2).await));
    ids
}

/// A threat resting on released reports: two to remove a citation of, and two withdrawn,
/// which put the threat under review twice (one review for the API, one for the page).
async fn chain_fixtures(
    harness: &Harness,
    anders: &str,
    conrad: &str,
    reports: [i64; 4],
) -> Vec<(String, i64)> {
    let threat = fixture_call(harness, anders, Method::POST, "/api/v1/threats", Some(threat_json())).await
        ["id"]
        .as_i64()
        .unwrap_or_default();
    for report in reports {
        fixture_call(
            harness,
            anders,
            Method::PUT,
            &format!("/api/v1/threats/{threat}/reports/{report}"),
            None,
        )
        .await;
    }
    for report in &reports[2..] {
        let reason = json!({"reason": "the source fabricated it"});
        fixture_call(
            harness,
            conrad,
            Method::POST,
            &format!("/api/v1/intel/reports/{report}/withdrawal"),
            Some(reason),
        )
        .await;
    }
    let reviews = harness.state.store.threat_reviews(threat).await.unwrap();
    let review_of = |report: i64| reviews.iter().find(|r| r.report_id == report).map_or(0, |r| r.id);
    vec![
        ("chain_threat".to_owned(), threat),
        ("uncitable".to_owned(), reports[0]),
        ("ui_uncitable".to_owned(), reports[1]),
        ("open_review".to_owned(), review_of(reports[2])),
        ("ui_open_review".to_owned(), review_of(reports[3])),
    ]
}

/// A call that sets up a fixture: it must succeed.
async fn fixture_call(
    harness: &Harness,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let reply = harness.call(method, path, Some(token), body).await;
    assert!(reply.status.is_success(), "fixture {path}: {} {}", reply.status, reply.body);
    reply.json()
}

/// Lifecycle records in the states the matrix's actions apply to: an application awaiting
/// a decision (seeded by the demo), payments requested, approved and paid, a task, a
/// ledger entry, and a source with no authorisation.
async fn lifecycle_fixtures(harness: &Harness) -> Vec<(String, i64)> {
    let hana = harness.demo_login(Handler).await;
    let conrad = harness.demo_login(Controller).await;
    let own = harness.source_id("NIGHTJAR").await;
    let store = &harness.state.store;
    let ok = |reply: common::Reply| {
        assert!(reply.status.is_success(), "fixture: {} {}", reply.status, reply.body);
        reply.json()["id"].as_i64().unwrap_or_default()
    };
    let payment = |stage: u8| {
        let (hana, conrad) = (hana.clone(), conrad.clone());
        async move {
            let body = json!({"amount": "20.00", "currency": "GBP", "purpose": "Matrix expenses", "not_contingent": true});
            let id = ok(harness
                .call(Method::POST, &format!("/api/v1/sources/{own}/payments"), Some(&hana), Some(body))
                .await);
            if stage >= 1 {
                let approve = json!({"approve": true});
                ok(harness
                    .call(
                        Method::POST,
                        &format!("/api/v1/payments/{id}/decision"),
                        Some(&conrad),
                        Some(approve),
                    )
                    .await);
            }
            if stage >= 2 {
                let paid = json!({"witness": "conrad"});
                ok(harness
                    .call(Method::POST, &format!("/api/v1/payments/{id}/paid"), Some(&hana), Some(paid))
                    .await);
            }
            id
        }
    };
    let osprey = tearline_domain::SourceId(harness.source_id("OSPREY").await);
    let applied = store.authorisations_of(osprey).await.unwrap()[0].id;
    let task = store.tasks(tearline_domain::SourceId(own)).await.unwrap()[0].id;
    let mut ids = vec![
        ("unauthorised".to_owned(), harness.source_id("HERON").await),
        ("applied".to_owned(), applied),
        ("task".to_owned(), task),
        ("entry".to_owned(), 1),
        ("requested".to_owned(), payment(0).await),
    ];
    for role in [Handler, Controller] {
        ids.push((format!("approved:{role}"), payment(1).await));
        ids.push((format!("paid:{role}"), payment(2).await));
    }
    ids.extend(intel_fixtures(harness).await);
    // Roles the action is closed to try it on the handler's records.
    ids.push(("approved".to_owned(), ids.iter().find(|(n, _)| n == "approved:handler").map_or(0, |x| x.1)));
    ids.push(("paid".to_owned(), ids.iter().find(|(n, _)| n == "paid:handler").map_or(0, |x| x.1)));
    ids
}

#[tokio::test]
async fn every_role_gets_exactly_its_allowed_set_of_endpoints() {
    let harness = harness().await;
    let fixtures = fixtures(&harness).await;
    let mut mismatches = Vec::new();
    for role in Role::ALL {
        let token = harness.demo_login(role).await;
        for endpoint in endpoints() {
            let path = fixtures.resolve(endpoint.path, role);
            let body = endpoint.body.map(|make| make(role));
            let reply = harness.call(endpoint.method.clone(), &path, Some(&token), body).await;
            let expected = endpoint.allowed.contains(&role);
            let granted = reply.status.is_success();
            let refused = matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND);
            if (expected && !granted) || (!expected && !refused) {
                mismatches
                    .push(format!("{role} {} {path}: {} {}", endpoint.method, reply.status, reply.body));
            }
        }
    }
    assert!(mismatches.is_empty(), "policy mismatches:\n{}", mismatches.join("\n"));
}

#[tokio::test]
async fn without_a_session_only_public_endpoints_answer() {
    let harness = harness().await;
    let fixtures = fixtures(&harness).await;
    for endpoint in endpoints() {
        let path = fixtures.resolve(endpoint.path, Role::Handler);
        let reply =
            harness.call(endpoint.method.clone(), &path, None, endpoint.body.map(|b| b(Role::Handler))).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(reply.json()["code"], "unauthenticated");
    }
    for endpoint in ui_endpoints() {
        let reply = harness.send(ui_request(&endpoint, &fixtures, Role::Handler, None)).await;
        let (method, path) = (&endpoint.method, endpoint.path);
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{method} {path} redirects to the login page");
    }
    assert_eq!(harness.call(Method::GET, "/api/v1/health", None, None).await.status, StatusCode::OK);
    assert_eq!(harness.call(Method::GET, "/api/v1/openapi.json", None, None).await.status, StatusCode::OK);
}

/// The matrix must cover what the API documents, so a new endpoint cannot slip past it.
#[test]
fn the_matrix_covers_every_documented_endpoint() {
    let document: Value = serde_json::from_str(tearline_server::api::OPENAPI).unwrap();
    let public = [
        "/api/v1/health",
        "/api/v1/openapi.json",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/audit/checkpoint",
        "/cap/feed.atom",
        "/cap/alerts/{file}",
        "/cap/ack/{version}/{recipient}/{token}",
        "/cap/sms-replies",
    ];
    let mut documented = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            if !public.contains(&path.as_str()) {
                // The matrix names each parameter `{id}`, whatever the document calls it.
                let generic = path
                    .split('/')
                    .map(|part| if part.starts_with('{') { "{id}" } else { part })
                    .collect::<Vec<_>>()
                    .join("/");
                documented.insert(format!("{} {generic}", method.to_uppercase()));
            }
        }
    }
    let tested: BTreeSet<String> = endpoints()
        .iter()
        .filter(|e| e.path.starts_with("/api/"))
        .map(|e| {
            let path = e.path.split('?').next().unwrap_or_default();
            // Every placeholder of the matrix stands for the documented `{id}`.
            let generic = path
                .split('/')
                .map(|part| if part.starts_with('{') { "{id}" } else { part })
                .collect::<Vec<_>>()
                .join("/");
            format!("{} {generic}", e.method)
        })
        .collect();
    assert_eq!(documented, tested);
}

#[tokio::test]
async fn an_analyst_never_receives_an_identity_through_any_endpoint() {
    let harness = harness().await;
    let fixtures = fixtures(&harness).await;
    let handler = harness.demo_login(Handler).await;
    for code_name in ["NIGHTJAR", "KESTREL", "HERON"] {
        let id = harness.source_id(code_name).await;
        let reply = harness
            .call(
                Method::POST,
                &format!("/api/v1/sources/{id}/unseal"),
                Some(&handler),
                Some(json!({"reason": "checking before a meeting"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let secrets = sealed_values();
    for role in [Analyst, WarningOfficer, Administrator, AuthorisingOfficer, Inspector] {
        let token = harness.demo_login(role).await;
        let mut paths: Vec<(Method, String, Option<Value>)> = Vec::new();
        for endpoint in endpoints() {
            paths.push((
                endpoint.method.clone(),
                fixtures.resolve(endpoint.path, role),
                endpoint.body.map(|b| b(role)),
            ));
        }
        for id in 0..8 {
            paths.push((Method::GET, format!("/api/v1/sources/{id}"), None));
            paths.push((
                Method::POST,
                format!("/api/v1/sources/{id}/unseal"),
                Some(json!({"reason": "I would like to see it"})),
            ));
            paths.push((Method::GET, format!("/sources/{id}"), None));
        }
        paths.push((Method::GET, "/api/v1/sources/not-a-number".into(), None));
        paths.push((Method::POST, "/api/v1/sources/1/unseal".into(), Some(json!({"reason": 5}))));
        for (method, path, body) in paths {
            let reply = harness.call(method.clone(), &path, Some(&token), body).await;
            for secret in &secrets {
                assert!(!reply.body.contains(secret.as_str()), "{role} {method} {path} revealed {secret:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_handler_sees_only_their_own_sources() {
    let harness = harness().await;
    let olga = harness.login("olga", "olga-password-long").await;
    let listed = harness.call(Method::GET, "/api/v1/sources", Some(&olga), None).await.json();
    let names: Vec<&str> =
        listed["sources"].as_array().unwrap().iter().map(|s| s["code_name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["FALCON"]);
    let controller = harness.demo_login(Controller).await;
    let listed = harness.call(Method::GET, "/api/v1/sources", Some(&controller), None).await.json();
    assert_eq!(
        listed["sources"].as_array().unwrap().len(),
        4,
        "the controller sees the whole unit, and only it"
    );
}

#[tokio::test]
async fn a_source_record_never_carries_its_identity() {
    let harness = harness().await;
    let token = harness.demo_login(Controller).await;
    let id = harness.source_id("NIGHTJAR").await;
    let reply = harness.call(Method::GET, &format!("/api/v1/sources/{id}"), Some(&token), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.body.contains("Samira") && !reply.body.contains("900461"), "{}", reply.body);
    let detail = reply.json();
    assert_eq!(detail["source"]["code_name"], "NIGHTJAR");
    assert!(detail["source"]["reference"].as_str().unwrap().starts_with("SR-"));
    assert_eq!(detail["assignments"].as_array().unwrap().len(), 2);
}

/// While the audit trail refuses writes, every endpoint that changes something answers 503
/// `audit_unavailable` and leaves every table exactly as it was, reads either answer or
/// fail closed the same way, and once the fault clears the same requests succeed without a
/// restart.
async fn while_audit_writes_fail_nothing_changes_and_the_server_recovers(harness: Harness) {
    let fixtures = fixtures(&harness).await;
    let mut tokens = std::collections::HashMap::new();
    for role in Role::ALL {
        tokens.insert(role, harness.demo_login(role).await);
    }
    // Endpoints the matrix calls with POST that only compute an answer.
    let reads = ["/api/v1/targeting/preview"];
    let changes = |endpoint: &Endpoint| endpoint.method != Method::GET && !reads.contains(&endpoint.path);
    let before = harness.state.store.fingerprint_unchecked().await.unwrap();
    harness.fail_audit(true).await;
    let mut wrong = Vec::new();
    for endpoint in endpoints() {
        let Some(role) = endpoint.allowed.first().copied() else { continue };
        let path = fixtures.resolve(endpoint.path, role);
        let body = endpoint.body.map(|make| make(role));
        let reply = harness.call(endpoint.method.clone(), &path, Some(&tokens[&role]), body).await;
        let refused = reply.status == StatusCode::SERVICE_UNAVAILABLE
            && (reply.body.contains(r#""code":"audit_unavailable""#)
                || reply.body.contains(r#"data-code="audit_unavailable""#));
        if (changes(&endpoint) && !refused) || (!changes(&endpoint) && !refused && !reply.status.is_success())
        {
            wrong.push(format!("{role} {} {path}: {} {}", endpoint.method, reply.status, reply.body));
        }
    }
    let after = harness.state.store.fingerprint_unchecked().await.unwrap();
    let changed: Vec<_> = before.keys().filter(|table| before.get(*table) != after.get(*table)).collect();
    assert!(wrong.is_empty(), "while the audit trail failed:\n{}", wrong.join("\n"));
    assert!(changed.is_empty(), "tables changed while the audit trail failed: {changed:?}");
    harness.fail_audit(false).await;
    for endpoint in endpoints().iter().filter(|e| changes(e)) {
        let Some(role) = endpoint.allowed.first().copied() else { continue };
        let path = fixtures.resolve(endpoint.path, role);
        let body = endpoint.body.map(|make| make(role));
        let reply = harness.call(endpoint.method.clone(), &path, Some(&tokens[&role]), body).await;
        if !reply.status.is_success() {
            wrong.push(format!("{role} {} {path}: {} {}", endpoint.method, reply.status, reply.body));
        }
    }
    assert!(wrong.is_empty(), "after the fault cleared:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn while_audit_writes_fail_nothing_changes_and_the_server_recovers_on_sqlite() {
    while_audit_writes_fail_nothing_changes_and_the_server_recovers(harness().await).await;
}

#[tokio::test]
async fn while_audit_writes_fail_nothing_changes_and_the_server_recovers_on_postgres() {
    while_audit_writes_fail_nothing_changes_and_the_server_recovers(
        harness_on(tearline_store::Backend::Postgres).await,
    )
    .await;
}

/// An administrator who creates an account that could unseal reaches no identity through
/// it: it cannot log in until a senior controller of its unit approves, and neither the
/// administrator, a standard controller nor a senior controller of another unit can approve.
#[tokio::test]
async fn an_account_that_reaches_identities_takes_effect_only_when_a_second_person_approves() {
    let h = harness().await;
    let adam = h.demo_login(Administrator).await;
    let password = "mallory-password-long";
    let request = json!({"username": "mallory", "role": "controller", "seniority": "senior", "unit": demo::DEMO_UNIT, "password": password});
    let created = h.call(Method::POST, "/api/v1/users", Some(&adam), Some(request)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.json()["awaiting_approval"], true);
    let id = created.json()["id"].as_i64().unwrap();
    let login = json!({"username": "mallory", "password": password});
    let refused = h.call(Method::POST, "/api/v1/auth/login", None, Some(login.clone())).await;
    assert_eq!(
        (refused.status, refused.json()["code"].clone()),
        (StatusCode::FORBIDDEN, json!("account_awaiting_approval"))
    );
    let approval = format!("/api/v1/users/{id}/approval");
    let missing = h
        .call(Method::POST, "/api/v1/users/987654321/approval", Some(&h.demo_login(Controller).await), None)
        .await;
    for (username, seniority, unit) in [
        ("carla", tearline_domain::Seniority::Standard, demo::DEMO_UNIT),
        ("odile", tearline_domain::Seniority::Senior, "Riverside Unit"),
    ] {
        let token = h.account_in(unit, username, Controller, seniority).await;
        let reply = h.call(Method::POST, &approval, Some(&token), None).await;
        assert_eq!(
            (reply.status, &reply.body),
            (missing.status, &missing.body),
            "{username} may not approve"
        );
    }
    assert!(
        !h.call(Method::POST, &approval, Some(&adam), None).await.status.is_success(),
        "nor the administrator"
    );
    let conrad = h.demo_login(Controller).await;
    let waiting = h.call(Method::GET, "/api/v1/account-approvals", Some(&conrad), None).await.json();
    assert!(waiting["accounts"].as_array().unwrap().iter().any(|a| a["id"] == id), "{waiting}");
    let home = h.call(Method::GET, "/", Some(&conrad), None).await;
    assert!(
        home.body.contains("accounts-awaiting-approval") && home.body.contains("mallory"),
        "{}",
        home.body
    );
    let approved = h.call(Method::POST, &approval, Some(&conrad), None).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(
        h.call(Method::POST, &approval, Some(&conrad), None).await.status,
        StatusCode::NOT_FOUND,
        "approved once"
    );
    let mallory = h.login("mallory", password).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let unsealed = h
        .call(
            Method::POST,
            &format!("/api/v1/sources/{nightjar}/unseal"),
            Some(&mallory),
            Some(json!({"reason": "approved by a second person"})),
        )
        .await;
    assert_eq!(unsealed.status, StatusCode::OK, "{}", unsealed.body);
}

/// An administrator reaches no identity by changing an account either: a change that
/// widens what an account reaches waits for a senior controller of its new unit (the
/// account works as before meanwhile, and neither the administrator nor another unit's
/// senior controller can approve it); a change that narrows takes effect at once, in the
/// account's open sessions too; a disabled account's sessions end, and enabling a
/// handler's account again waits for approval like a new account.
async fn an_account_change_that_reaches_identities_takes_effect_only_when_a_second_person_approves(
    h: Harness,
) {
    let adam = h.demo_login(Administrator).await;
    let password = "mallory-password-long";
    let request =
        json!({"username": "mallory", "role": "analyst", "unit": demo::DEMO_UNIT, "password": password});
    let created = h.call(Method::POST, "/api/v1/users", Some(&adam), Some(request)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.json()["awaiting_approval"], false, "an analyst reaches no identity");
    let id = created.json()["id"].as_i64().unwrap();
    let mallory = h.login("mallory", password).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let unseal = |token: String| {
        let path = format!("/api/v1/sources/{nightjar}/unseal");
        let h = &h;
        async move {
            h.call(
                Method::POST,
                &path,
                Some(&token),
                Some(json!({"reason": "checking the change of account"})),
            )
            .await
        }
    };
    let refused = unseal(mallory.clone()).await;
    assert!(matches!(refused.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{}", refused.body);

    // Widening: an analyst made a senior controller waits, and works as an analyst meanwhile.
    let to_controller = json!({"role": "controller", "seniority": "senior", "unit": demo::DEMO_UNIT});
    let account = format!("/api/v1/users/{id}");
    let asked = h.call(Method::PUT, &account, Some(&adam), Some(to_controller.clone())).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert_eq!(asked.json()["role"], "analyst", "{}", asked.body);
    let change = asked.json()["pending_change"]["id"].as_i64().expect("the change waits");
    assert_eq!(asked.json()["pending_change"]["role"], "controller");
    let still = unseal(mallory.clone()).await;
    assert_eq!((still.status, &still.body), (refused.status, &refused.body), "no identity before approval");
    let me = h.call(Method::GET, "/api/v1/me", Some(&mallory), None).await;
    assert_eq!(me.json()["user"]["role"], "analyst", "{}", me.body);

    let approval = format!("/api/v1/account-changes/{change}/approval");
    let conrad = h.demo_login(Controller).await;
    let missing =
        h.call(Method::POST, "/api/v1/account-changes/987654321/approval", Some(&conrad), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let carla =
        h.account_in(demo::DEMO_UNIT, "carla", Controller, tearline_domain::Seniority::Standard).await;
    let odile = h.account_in("Riverside Unit", "odile", Controller, tearline_domain::Seniority::Senior).await;
    for (who, token) in
        [("the administrator", &adam), ("mallory", &mallory), ("carla", &carla), ("odile", &odile)]
    {
        let reply = h.call(Method::POST, &approval, Some(token), None).await;
        assert_eq!((reply.status, &reply.body), (missing.status, &missing.body), "{who} may not approve");
    }
    let waiting = h.call(Method::GET, "/api/v1/account-approvals", Some(&conrad), None).await.json();
    assert!(waiting["changes"].as_array().unwrap().iter().any(|c| c["change"]["id"] == change), "{waiting}");
    let home = h.call(Method::GET, "/", Some(&conrad), None).await;
    assert!(home.body.contains("account-changes-awaiting-approval") && home.body.contains("mallory"));
    let approved = h.call(Method::POST, &approval, Some(&conrad), None).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.json()["role"], "controller");
    assert_eq!(approved.json()["pending_change"], Value::Null);
    let again = h.call(Method::POST, &approval, Some(&conrad), None).await;
    assert_eq!((again.status, again.json()["code"].clone()), (StatusCode::CONFLICT, json!("state_changed")));
    assert_eq!(unseal(mallory.clone()).await.status, StatusCode::OK, "approved: her open session unseals");

    // Asking for what the account already is leaves nothing waiting.
    let same = h.call(Method::PUT, &account, Some(&adam), Some(to_controller)).await;
    assert_eq!(same.json()["pending_change"], Value::Null, "{}", same.body);

    // Narrowing takes effect at once, in her open session too.
    let to_analyst = json!({"role": "analyst", "unit": demo::DEMO_UNIT});
    let narrowed = h.call(Method::PUT, &account, Some(&adam), Some(to_analyst)).await;
    assert_eq!((narrowed.status, narrowed.json()["role"].clone()), (StatusCode::OK, json!("analyst")));
    let after = unseal(mallory.clone()).await;
    assert_eq!((after.status, &after.body), (refused.status, &refused.body));

    // A controller's account that holds sources keeps its role and unit.
    let conrad_id = h.state.store.user_by_username("conrad").await.unwrap().unwrap().id.0;
    let moved = json!({"role": "controller", "seniority": "senior", "unit": "Riverside Unit"});
    let held = h.call(Method::PUT, &format!("/api/v1/users/{conrad_id}"), Some(&adam), Some(moved)).await;
    assert_eq!((held.status, held.json()["code"].clone()), (StatusCode::CONFLICT, json!("holds_sources")));
    // Nobody changes their own account: the administrator's own answers like a missing one.
    let adam_id = h.state.store.user_by_username("adam").await.unwrap().unwrap().id.0;
    let own = h.call(Method::POST, &format!("/api/v1/users/{adam_id}/disable"), Some(&adam), None).await;
    let none = h.call(Method::POST, "/api/v1/users/987654321/disable", Some(&adam), None).await;
    assert_eq!((own.status, &own.body), (none.status, &none.body));

    // Disabled: her session ends and she cannot log in.
    let disabled = h.call(Method::POST, &format!("{account}/disable"), Some(&adam), None).await;
    assert_eq!((disabled.status, disabled.json()["disabled"].clone()), (StatusCode::OK, json!(true)));
    let ended = h.call(Method::GET, "/api/v1/me", Some(&mallory), None).await;
    assert_eq!(ended.status, StatusCode::UNAUTHORIZED);
    let login = json!({"username": "mallory", "password": password});
    let locked_out = h.call(Method::POST, "/api/v1/auth/login", None, Some(login.clone())).await;
    assert_eq!(locked_out.json()["code"], "account_disabled", "{}", locked_out.body);
    // A disabled account is changed at once; enabled again as a handler, it waits for approval.
    let to_handler = json!({"role": "handler", "unit": demo::DEMO_UNIT});
    let changed = h.call(Method::PUT, &account, Some(&adam), Some(to_handler)).await;
    assert_eq!(
        (changed.json()["role"].clone(), changed.json()["pending_change"].clone()),
        (json!("handler"), Value::Null)
    );
    let enabled = h.call(Method::POST, &format!("{account}/enable"), Some(&adam), None).await;
    assert_eq!(enabled.json()["awaiting_approval"], true, "{}", enabled.body);
    let waits = h.call(Method::POST, "/api/v1/auth/login", None, Some(login)).await;
    assert_eq!(waits.json()["code"], "account_awaiting_approval", "{}", waits.body);
    assert_eq!(
        h.call(Method::POST, &format!("{account}/approval"), Some(&conrad), None).await.status,
        StatusCode::OK
    );
    h.login("mallory", password).await;

    let events = h.state.log.read(0, 100_000).await.unwrap();
    for action in ["user.change.request", "user.change.approve", "user.change", "user.disable", "user.enable"]
    {
        assert!(
            events.iter().any(|e| e.event.action == action && e.event.outcome == Outcome::Allowed),
            "{action} is in the log"
        );
    }
}

#[tokio::test]
async fn an_account_change_that_reaches_identities_takes_effect_only_when_a_second_person_approves_on_sqlite()
{
    an_account_change_that_reaches_identities_takes_effect_only_when_a_second_person_approves(
        harness().await,
    )
    .await;
}

#[tokio::test]
async fn an_account_change_that_reaches_identities_takes_effect_only_when_a_second_person_approves_on_postgres(
) {
    an_account_change_that_reaches_identities_takes_effect_only_when_a_second_person_approves(
        harness_on(tearline_store::Backend::Postgres).await,
    )
    .await;
}

/// One page or form operation as the browser sends it: a form body (field, value), where a
/// value may name a fixture as `{name}`.
struct UiEndpoint {
    method: Method,
    path: &'static str,
    form: &'static [(&'static str, &'static str)],
    /// The roles the policy lets through: they get neither 403 nor 404 (a 2xx, a 303 to the
    /// next page, or the page again with a mistake to fix); every other role gets 403 or 404.
    allowed: &'static [Role],
}

const CASE: &[Role] = &[Handler, Controller];

/// A warning as the drafting form sends it.
const WARNING_FORM: &[(&str, &str)] = &[
    ("status", "Exercise"),
    ("category", "Security"),
    ("event", "UI"),
    ("urgency", "Immediate"),
    ("severity", "Severe"),
    ("certainty", "Likely"),
    ("expires_hours", "6"),
    ("headline", "UI"),
    ("area_description", "Quay"),
    ("polygon", "52.95,1.20 52.96,1.20 52.96,1.23 52.95,1.20"),
];

/// Every page and every form operation the pages offer (the tidy test below checks this
/// list against the router's routes and the templates' operations).
fn ui_endpoints() -> Vec<UiEndpoint> {
    let get = |path, allowed| UiEndpoint { method: Method::GET, path, form: &[], allowed };
    let post = |path, form, allowed| UiEndpoint { method: Method::POST, path, form, allowed };
    let all: &'static [Role] = &Role::ALL;
    vec![
        get("/", all),
        get("/sources", &[Handler, Controller, AuthorisingOfficer, Inspector]),
        get("/sources/{own}", &[Handler, Controller, AuthorisingOfficer, Inspector]),
        get("/users", &[Administrator]),
        get("/audit", &[Inspector]),
        get("/sources/{own}/intel", CASE),
        get("/intel", &[Analyst, Inspector]),
        get("/intel/reports/{released}", &[Analyst, Inspector]),
        get("/intel/graph", &[Analyst, Inspector]),
        get("/sources/{own}/lifecycle", &[Handler, Controller, AuthorisingOfficer, Inspector]),
        get("/sources/{own}/disclosure", &[Handler, Controller, Inspector]),
        get("/sources/{own}/record-set.csv", &[Inspector]),
        get("/register", &[AuthorisingOfficer, Inspector]),
        get("/register.csv", &[Inspector]),
        get("/warnings", &[WarningOfficer, Inspector]),
        get("/warnings/versions/{version}", &[WarningOfficer, Inspector]),
        get("/warnings/versions/{other_version}", &[]),
        get("/sources/{other}", &[]),
        get("/sources/{other}/lifecycle", &[]),
        get("/threats", &[Analyst, WarningOfficer, Inspector]),
        get("/threats/{threat}", &[Analyst, WarningOfficer, Inspector]),
        post("/threats/{threat}", &[("op", "cite"), ("report_id", "{released}")], &[Analyst]),
        post("/threats/{chain_threat}", &[("op", "uncite"), ("report_id", "{ui_uncitable}")], &[Analyst]),
        post(
            "/threats/{chain_threat}",
            &[("op", "clear"), ("review_id", "{ui_open_review}"), ("note", "stands")],
            &[Analyst],
        ),
        post("/threats/{threat}", &[("op", "outcome"), ("outcome", "prevented"), ("note", "n")], &[Analyst]),
        post("/intel/reports/{released}", &[("op", "cite"), ("threat_id", "{threat}")], &[Analyst]),
        post(
            "/sources/{own}/intel",
            &[("op", "withdraw"), ("target", "{ui_withdrawable}"), ("reason", "the source fabricated it")],
            &[Controller],
        ),
        post(
            "/sources/{own}/lifecycle",
            &[("op", "validate"), ("reliability", "C"), ("note", "fairly reliable on the record")],
            &[Controller],
        ),
        get("/recipients", &[WarningOfficer]),
        post(
            "/sources",
            &[
                ("op", "register"),
                ("code_name", "UI SOURCE"),
                ("handler", "hana"),
                ("controller", "conrad"),
                ("full_name", "Form Person"),
            ],
            CASE,
        ),
        post("/sources/{own}/unseal", &[("reason", "checking the page matrix")], CASE),
        post("/sources/{own}/unseal", &[("reason", "checking the page matrix"), ("confirmed", "yes")], CASE),
        // Without a ticket an unsealing made, the identity's page answers that the opening
        // ended (410) to whoever may unseal, and "no such source" to everyone else.
        get("/sources/{own}/identity?opening=none", CASE),
        post(
            "/sources/{own}/assignments",
            &[("op", "reassign"), ("role", "handler"), ("username", "hana")],
            &[Controller],
        ),
        post("/vault/rotate", &[("op", "rotate")], &[Administrator]),
        post(
            "/users",
            &[
                ("op", "add-user"),
                ("username", "ui-analyst"),
                ("role", "analyst"),
                ("unit", "Harbour District Unit"),
                ("password", "a long enough password"),
            ],
            &[Administrator],
        ),
        post("/users/{awaiting_account}/approval", &[], &[Controller]),
        post(
            "/users/changes",
            &[
                ("op", "change-user"),
                ("account", "{ui_changeable_account}"),
                ("role", "analyst"),
                ("seniority", "senior"),
                ("unit", "Harbour District Unit"),
            ],
            &[Administrator],
        ),
        post(
            "/users/status",
            &[("op", "disable-user"), ("account", "{ui_changeable_account}")],
            &[Administrator],
        ),
        post(
            "/users/status",
            &[("op", "enable-user"), ("account", "{ui_disabled_account}")],
            &[Administrator],
        ),
        post("/account-changes/{ui_account_change}/approval", &[], &[Controller]),
        post("/account-changes/{ui_refusable_account_change}/refusal", &[], &[Controller]),
        post(
            "/sources/{own}/intel",
            &[
                ("op", "contact-report"),
                ("place", "Quay"),
                ("present", "hana"),
                ("method", "meeting"),
                ("account", "Crates."),
            ],
            CASE,
        ),
        post(
            "/sources/{own}/intel",
            &[
                ("op", "draft"),
                ("target", "{contact}"),
                ("title", "UI"),
                ("body", "Crates."),
                ("admiralty", "B2"),
                ("handling_code", "P"),
                ("tlp", "TLP:AMBER"),
            ],
            CASE,
        ),
        post(
            "/sources/{own}/intel",
            &[
                ("op", "edit"),
                ("target", "{draft_intel}"),
                ("title", "UI"),
                ("body", "Crates."),
                ("admiralty", "B2"),
                ("handling_code", "P"),
                ("tlp", "TLP:AMBER"),
            ],
            CASE,
        ),
        post(
            "/sources/{own}/intel",
            &[
                ("op", "correct"),
                ("target", "{correctable}"),
                ("title", "UI"),
                ("body", "Crates."),
                ("admiralty", "B2"),
                ("handling_code", "P"),
                ("tlp", "TLP:AMBER"),
            ],
            CASE,
        ),
        post("/sources/{own}/intel", &[("op", "submit"), ("target", "{submittable_intel}")], CASE),
        post(
            "/sources/{own}/intel",
            &[("op", "release"), ("target", "{releasable}"), ("acknowledge_warnings", "on")],
            &[Controller],
        ),
        post("/sources/{own}/intel", &[("op", "send-back"), ("target", "{releasable}")], &[Controller]),
        post("/intel", &[("bundle", "{\"type\": \"bundle\"}")], &[Analyst]),
        post(
            "/intel/reports/{released}",
            &[("op", "tag"), ("kind", "vehicle"), ("name", "UI 123")],
            &[Analyst],
        ),
        post("/intel/reports/{released}", &[("op", "untag"), ("entity", "{removable_entity}")], &[Analyst]),
        post("/intel/reports/{released}", &[("op", "disseminate"), ("recipient", "UI partner")], &[Analyst]),
        post(
            "/sources/{unauthorised}/lifecycle",
            &[
                ("op", "apply"),
                ("kind", "adult-written"),
                ("necessity", "n"),
                ("proportionality", "p"),
                ("purpose", "u"),
                ("tasking", "t"),
                ("collateral_intrusion", "c"),
                ("confidential_information", "none"),
            ],
            &[Handler, Controller, AuthorisingOfficer],
        ),
        post(
            "/sources/{own}/lifecycle",
            &[("op", "grant"), ("target", "{applied}"), ("review_every_days", "30")],
            &[AuthorisingOfficer],
        ),
        post(
            "/sources/{own}/lifecycle",
            &[("op", "refuse"), ("target", "{applied}"), ("reason", "no")],
            &[AuthorisingOfficer],
        ),
        post("/sources/{own}/lifecycle", &[("op", "renew"), ("target", "{applied}")], &[AuthorisingOfficer]),
        post(
            "/sources/{own}/lifecycle",
            &[("op", "review"), ("target", "{applied}"), ("risk_assessment_id", "1"), ("note", "n")],
            &[AuthorisingOfficer],
        ),
        post(
            "/sources/{own}/lifecycle",
            &[("op", "write-up"), ("target", "{applied}"), ("note", "n")],
            &[AuthorisingOfficer],
        ),
        post(
            "/sources/{own}/lifecycle",
            &[("op", "cancel"), ("target", "{applied}"), ("reason", "r")],
            &[AuthorisingOfficer],
        ),
        post(
            "/sources/{own}/lifecycle",
            &[("op", "contact"), ("method", "meeting"), ("place", "Quay"), ("summary", "UI")],
            CASE,
        ),
        post("/sources/{own}/lifecycle", &[("op", "task"), ("description", "UI task")], CASE),
        post("/sources/{own}/lifecycle", &[("op", "acknowledge"), ("target", "{task}")], CASE),
        post("/sources/{own}/lifecycle", &[("op", "welfare"), ("kind", "check"), ("notes", "UI")], CASE),
        post(
            "/sources/{own}/lifecycle",
            &[
                ("op", "risk"),
                ("risk_level", "low"),
                ("summary", "s"),
                ("mitigations", "m"),
                ("explained_and_understood", "on"),
            ],
            CASE,
        ),
        post(
            "/sources/{own}/lifecycle",
            &[
                ("op", "payment"),
                ("amount", "5"),
                ("currency", "GBP"),
                ("purpose", "UI"),
                ("not_contingent", "on"),
            ],
            CASE,
        ),
        post(
            "/sources/{own}/lifecycle",
            &[("op", "approve-payment"), ("target", "{requested}")],
            &[Controller],
        ),
        post(
            "/sources/{own}/lifecycle",
            &[("op", "refuse-payment"), ("target", "{requested}"), ("note", "no")],
            &[Controller],
        ),
        post(
            "/sources/{own}/lifecycle",
            &[("op", "paid"), ("target", "{approved}"), ("witness", "conrad")],
            CASE,
        ),
        post(
            "/sources/{own}/lifecycle",
            &[("op", "receipt"), ("target", "{paid}"), ("code_name", "NIGHTJAR")],
            CASE,
        ),
        post(
            "/sources/{own}/lifecycle",
            &[("op", "reverse"), ("target", "{entry}"), ("memo", "UI")],
            &[Controller],
        ),
        post("/warnings", WARNING_FORM, &[WarningOfficer]),
        post("/warnings/versions/{submittable}/action", &[("action", "submit")], &[WarningOfficer]),
        post("/warnings/versions/{awaiting}/action", &[("action", "approve")], &[WarningOfficer]),
        post("/warnings/versions/{discardable}/action", &[("action", "discard")], &[WarningOfficer]),
        post("/warnings/versions/{version}/action", &[("action", "cancel")], &[WarningOfficer]),
        post("/warnings/{warning}/update", WARNING_FORM, &[WarningOfficer]),
        post("/partner-alerts", &[("cap_xml", "<alert/>")], &[WarningOfficer]),
        post("/partner-feeds", &[("url", "http://127.0.0.1:9/ui/feed.atom")], &[WarningOfficer]),
        post("/partner-feeds/{ui_feed}/pause", &[("paused", "true")], &[WarningOfficer]),
        post("/partner-feeds/{ui_feed}/removal", &[], &[WarningOfficer]),
        post(
            "/partner-keys",
            &[("sender", "form@partner.example"), ("public_key", PARTNER_KEY)],
            &[WarningOfficer],
        ),
        post("/partner-keys/{ui_partner_key}/removal", &[], &[WarningOfficer]),
        post(
            "/threats",
            &[
                ("title", "UI threat"),
                ("threat_type", "arson"),
                ("likelihood", "likely"),
                ("impact", "severe"),
                ("window_hours", "6"),
                ("area_description", "Quay"),
                ("polygon", "52.95,1.20 52.96,1.20 52.96,1.23 52.95,1.20"),
            ],
            &[Analyst],
        ),
    ]
}

/// The request a browser sends for `endpoint` as `role` (with its session, or none).
fn ui_request(
    endpoint: &UiEndpoint,
    fixtures: &Fixtures,
    role: Role,
    token: Option<&str>,
) -> axum::http::Request<axum::body::Body> {
    let mut fields: Vec<(String, String)> = vec![("csrf".into(), "bearer".into())];
    fields.extend(endpoint.form.iter().map(|(k, v)| ((*k).to_owned(), fixtures.resolve(v, role))));
    let mut request = axum::http::Request::builder()
        .method(endpoint.method.clone())
        .uri(fixtures.resolve(endpoint.path, role))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = if endpoint.method == Method::GET { String::new() } else { form_body(&fields) };
    request.body(axum::body::Body::from(body)).unwrap()
}

/// A form body, percent-encoded.
fn form_body(fields: &[(String, String)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    };
    fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

#[tokio::test]
async fn every_role_reaches_exactly_its_pages_and_form_operations() {
    let harness = harness().await;
    let fixtures = fixtures(&harness).await;
    let mut mismatches = Vec::new();
    for role in Role::ALL {
        let token = harness.demo_login(role).await;
        for endpoint in ui_endpoints() {
            let path = fixtures.resolve(endpoint.path, role);
            let reply = harness.send(ui_request(&endpoint, &fixtures, role, Some(&token))).await;
            let refused = matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND);
            let expected = endpoint.allowed.contains(&role);
            if (expected && (refused || reply.status.is_server_error())) || (!expected && !refused) {
                let op = endpoint.form.iter().find(|(k, _)| *k == "op" || *k == "action").map_or("", |f| f.1);
                let said = reply.body.chars().take(200).collect::<String>();
                mismatches.push(format!("{role} {} {path} {op}: {} {said}", endpoint.method, reply.status));
            }
        }
    }
    assert!(mismatches.is_empty(), "page and form mismatches:\n{}", mismatches.join("\n"));
}

/// The routes that answer without a session, or only serve files; every other route the
/// code declares must have a row in one of the matrices.
const OPEN_ROUTES: &[&str] = &[
    "GET /api/v1/health",
    "GET /api/v1/openapi.json",
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/logout",
    "GET /api/v1/audit/checkpoint",
    "GET /login",
    "POST /login",
    "POST /logout",
    "GET /favicon.ico",
    "GET /cap/feed.atom",
    "GET /cap/alerts/{}",
    "GET /cap/ack/{}/{}/{}",
    "POST /cap/ack/{}/{}/{}",
    "POST /cap/sms-replies",
    "POST /demo/receiver/{}",
    // Only on the separate metrics listener (`metrics_router`), never beside the application
    // (`metrics_are_served_on_their_own_listener_and_logs_can_be_json`, end to end).
    "GET /metrics",
];

/// A path with every `{placeholder}` written `{}`.
fn generic(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    path.split('/').map(|part| if part.starts_with('{') { "{}" } else { part }).collect::<Vec<_>>().join("/")
}

/// Every `.route(path, method(…)…)` in the server's source: "METHOD /generic/path".
fn declared_routes() -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut pending = vec![root];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            for call in source.split(".route(").skip(1) {
                let Some(route) = call.split('"').nth(1) else { continue };
                // The call's text up to the next route or the end of the builder.
                let call = call.split(";\n").next().unwrap_or(call);
                for method in ["get", "post", "put", "delete"] {
                    let named = [
                        format!(" {method}("),
                        format!("({method}("),
                        format!(".{method}("),
                        format!("::{method}("),
                    ];
                    if named.iter().any(|n| call.contains(n.as_str())) {
                        routes.insert(format!("{} {}", method.to_uppercase(), generic(route)));
                    }
                }
            }
        }
    }
    routes
}

/// The operations the pages' forms offer: every `name="op"` or `name="action"` button or
/// hidden field in the templates.
fn offered_operations() -> BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut operations = BTreeSet::new();
    for entry in std::fs::read_dir(root).unwrap().flatten() {
        let template = std::fs::read_to_string(entry.path()).unwrap();
        for tag in template.split('<') {
            if tag.contains(r#"name="op""#) || tag.contains(r#"name="action""#) {
                if let Some(value) = tag.split(r#"value=""#).nth(1).and_then(|v| v.split('"').next()) {
                    operations.insert(value.to_owned());
                }
            }
        }
    }
    operations
}

/// rust-analyzer's tidy habit: a route the code declares, or an operation a form offers,
/// that no matrix row tries for every role fails the build.
#[test]
fn every_route_and_form_operation_has_a_row_in_an_access_matrix() {
    let mut rows: BTreeSet<String> =
        endpoints().iter().map(|e| format!("{} {}", e.method, generic(e.path))).collect();
    rows.extend(ui_endpoints().iter().map(|e| format!("{} {}", e.method, generic(e.path))));
    rows.extend(OPEN_ROUTES.iter().map(|r| (*r).to_owned()));
    let declared = declared_routes();
    let unlisted: Vec<_> =
        declared.iter().filter(|r| !rows.contains(*r) && !r.starts_with("GET /assets/")).collect();
    assert!(declared.len() > 100, "the scan found the routes ({})", declared.len());
    assert!(unlisted.is_empty(), "routes with no row in an access matrix: {unlisted:?}");
    let tried: BTreeSet<String> = ui_endpoints()
        .iter()
        .flat_map(|e| {
            e.form.iter().filter(|(k, _)| *k == "op" || *k == "action").map(|(_, v)| (*v).to_owned())
        })
        .collect();
    let untried: Vec<_> = offered_operations().into_iter().filter(|op| !tried.contains(op)).collect();
    assert!(untried.is_empty(), "form operations no matrix row tries: {untried:?}");
}
