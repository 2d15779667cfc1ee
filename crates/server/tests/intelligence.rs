//! Intelligence below the tearline through the API: the leak guard, release, search,
//! entities and the link chart, STIX export and import, and the ways an identity could
//! escape to an analyst.

mod common;

use axum::http::{Method, StatusCode};
use common::{harness, sealed_values, Harness, Reply};
use serde_json::{json, Value};
use tearline_domain::Role;

impl Harness {
    async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    async fn get(&self, token: &str, path: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// A contact report on NIGHTJAR by the demo handler; returns its id.
    async fn contact_report(&self, hana: &str) -> i64 {
        let nightjar = self.source_id("NIGHTJAR").await;
        let reply = self
            .post(hana, &format!("/api/v1/sources/{nightjar}/contact-reports"), json!({
                "place": "Car park, Saltford retail park", "present": "hana, NIGHTJAR", "method": "meeting",
                "account": "Samira said Viktor Marsh moves crates from the quay in van AB12 CDE on Saturdays."
            }))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.json()["id"].as_i64().unwrap()
    }
}

impl Harness {
    /// A draft from `contact` that names no one; returns its id.
    async fn clean_draft(&self, hana: &str, contact: i64) -> i64 {
        let path = format!("/api/v1/contact-reports/{contact}/intel-reports");
        let drafted = self.post(hana, &path, draft("Crates move on Saturdays.")).await;
        drafted.json()["id"].as_i64().unwrap_or_else(|| panic!("{}", drafted.body))
    }
}

fn draft(body: &str) -> Value {
    json!({"title": "Quay deliveries", "body": body, "admiralty": "B2", "handling_code": "P", "tlp": "TLP:AMBER",
           "place_name": "Eastmarsh quay", "latitude": 52.955, "longitude": 1.215})
}

/// Drafts, submits and releases a report; returns its id.
async fn released(h: &Harness, body: &str) -> i64 {
    let hana = h.demo_login(Role::Handler).await;
    let conrad = h.demo_login(Role::Controller).await;
    let contact = h.contact_report(&hana).await;
    let id =
        h.post(&hana, &format!("/api/v1/contact-reports/{contact}/intel-reports"), draft(body)).await.json()
            ["id"]
            .as_i64()
            .unwrap();
    let submitted = h.post(&hana, &format!("/api/v1/intel/drafts/{id}/submit"), json!({})).await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
    let reply = h
        .post(
            &conrad,
            &format!("/api/v1/intel/drafts/{id}/release"),
            json!({"release": true, "acknowledge_warnings": true}),
        )
        .await;
    assert_eq!(reply.json()["state"], "released", "{}", reply.body);
    id
}

#[tokio::test]
async fn a_report_is_drafted_blocked_fixed_released_and_found() {
    let h = harness().await;
    let hana = h.demo_login(Role::Handler).await;
    let conrad = h.demo_login(Role::Controller).await;
    let anders = h.demo_login(Role::Analyst).await;
    let contact = h.contact_report(&hana).await;
    let leaky =
        draft("Umm Yusuf reports that Viktor Marsh moves crates from the quay in van AB12 CDE on Saturdays.");
    let id = h.post(&hana, &format!("/api/v1/contact-reports/{contact}/intel-reports"), leaky).await.json()
        ["id"]
        .as_i64()
        .unwrap();
    let blocked = h.post(&hana, &format!("/api/v1/intel/drafts/{id}/submit"), json!({})).await;
    assert_eq!(blocked.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", blocked.body);
    assert_eq!(blocked.json()["code"], "identity_leak");
    assert!(blocked.json()["message"].as_str().unwrap().contains("body (alias)"), "{}", blocked.body);
    assert!(!blocked.body.contains("Umm Yusuf"), "the refusal names the field, not the value");
    let premature =
        h.post(&conrad, &format!("/api/v1/intel/drafts/{id}/release"), json!({"release": true})).await;
    assert_eq!(
        premature.status,
        StatusCode::CONFLICT,
        "a blocked draft cannot be released: {}",
        premature.body
    );

    let fixed = draft(
        "The driver of a grey van, AB12 CDE, moves crates for Viktor Marsh from the quay on Saturdays.",
    );
    assert_eq!(
        h.call(Method::PUT, &format!("/api/v1/intel/drafts/{id}"), Some(&hana), Some(fixed)).await.status,
        StatusCode::OK
    );
    let submitted = h.post(&hana, &format!("/api/v1/intel/drafts/{id}/submit"), json!({})).await.json();
    assert_eq!(submitted["state"], "submitted");
    assert!(submitted["warnings"][0].as_str().unwrap().contains("the driver of"), "{submitted}");
    let unacknowledged =
        h.post(&conrad, &format!("/api/v1/intel/drafts/{id}/release"), json!({"release": true})).await;
    assert_eq!(unacknowledged.json()["code"], "warnings_unacknowledged");
    let hana_releases = h
        .post(
            &hana,
            &format!("/api/v1/intel/drafts/{id}/release"),
            json!({"release": true, "acknowledge_warnings": true}),
        )
        .await;
    assert_eq!(hana_releases.status, StatusCode::NOT_FOUND, "only the controller releases");
    let released = h
        .post(
            &conrad,
            &format!("/api/v1/intel/drafts/{id}/release"),
            json!({"release": true, "acknowledge_warnings": true}),
        )
        .await;
    assert_eq!(released.json()["state"], "released", "{}", released.body);
    let edit =
        h.call(Method::PUT, &format!("/api/v1/intel/drafts/{id}"), Some(&hana), Some(draft("changed"))).await;
    assert_eq!(edit.status, StatusCode::CONFLICT, "released reports are immutable");

    let found = h.get(&anders, "/api/v1/intel/search?q=%22grey%20van%22&reliability=B&tlp=TLP:AMBER").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let hits = found.json()["hits"].as_array().unwrap().clone();
    assert_eq!(hits.len(), 1, "{}", found.body);
    assert!(hits[0]["body_html"].as_str().unwrap().contains("<b>grey</b> <b>van</b>"), "{}", found.body);
    assert_eq!(h.get(&anders, "/api/v1/intel/search?q=crates&reliability=A").await.json()["hits"], json!([]));
    assert_eq!(
        h.get(&anders, "/api/v1/intel/search?q=crates&area=50,-2,51,-1").await.json()["hits"],
        json!([])
    );

    let report = h.get(&anders, &format!("/api/v1/intel/reports/{id}")).await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(!report.body.contains("NIGHTJAR"), "no code name below the line");
    assert!(report.json()["source_reference"].as_str().unwrap().starts_with("SR-"));
    let read = report.json();
    let names: Vec<&str> =
        read["entities"].as_array().unwrap().iter().map(|e| e["entity"]["name"].as_str().unwrap()).collect();
    for expected in ["Viktor Marsh", "AB12 CDE", "Eastmarsh quay"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let graph = h.get(&anders, "/api/v1/intel/graph").await.json();
    assert_eq!(graph["reports"][0]["id"], id);
    assert!(graph["links"].as_array().unwrap().len() >= 3);
    // Not to the handler: search is for analysts.
    assert_eq!(h.get(&hana, "/api/v1/intel/search?q=crates").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_leak_guard_blocks_every_identity_detail_in_every_field() {
    let h = harness().await;
    let hana = h.demo_login(Role::Handler).await;
    let contact = h.contact_report(&hana).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let reference = h.get(&hana, &format!("/api/v1/sources/{nightjar}")).await.json()["source"]["reference"]
        .as_str()
        .expect("the source's reference")
        .to_owned();
    let cases = [
        ("body", "Samira Haddad-Okafor reports crates.", "body (name)"),
        ("body", "SAMIRA HADDAD OKAFOR reports crates.", "body (name)"),
        ("title", "Umm-Yusuf on the quay", "title (alias)"),
        ("body", "المصدر سَمِيرَة حَدّاد في الميناء", "body (alias)"),
        ("body", "Call 07700-900-461 after dark.", "body (phone-number)"),
        ("body", "Call +44 (0)7700 900 461.", "body (phone-number)"),
        ("place_name", "14 Tannery Ln", "place_name (address)"),
        ("body", "She was born on 17th April 1988.", "body (date-of-birth)"),
        ("body", "Born 17/04/1988.", "body (date-of-birth)"),
        (
            "handling_conditions",
            "Not to be shared with Yusuf Haddad-Okafor",
            "handling_conditions (family-name)",
        ),
        // The source's handles tie the text to its record: the code name and the reference.
        ("body", "NIGHTJAR reports crates moving at night.", "body (code-name)"),
        ("title", "nightjar update", "title (code-name)"),
        ("body", &format!("Per {}, crates move at night.", reference.to_lowercase()), "body (reference)"),
        // Disguised with invisible characters and full-width letters.
        ("body", "S\u{200B}a\u{200B}m\u{200B}i\u{200B}r\u{200B}a Haddad-Okafor reports.", "body (name)"),
        ("title", "ＮＩＧＨＴＪＡＲ on the quay", "title (code-name)"),
    ];
    for (field, text, expected) in cases {
        let mut body = draft("Crates move on Saturdays.");
        body[field] = json!(text);
        if field == "handling_conditions" {
            body["handling_code"] = json!("C");
        }
        let id = h.post(&hana, &format!("/api/v1/contact-reports/{contact}/intel-reports"), body).await;
        let id = id.json()["id"].as_i64().unwrap_or_else(|| panic!("{}", id.body));
        let refused = h.post(&hana, &format!("/api/v1/intel/drafts/{id}/submit"), json!({})).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{text}: {}", refused.body);
        assert!(refused.json()["message"].as_str().unwrap().contains(expected), "{text}: {}", refused.body);
        assert!(!refused.body.contains("NIGHTJAR") && !refused.body.contains(&reference), "{}", refused.body);
    }
}

#[tokio::test]
async fn the_leak_check_is_audited_first_and_fails_closed() {
    let h = harness().await;
    let hana = h.demo_login(Role::Handler).await;
    let contact = h.contact_report(&hana).await;
    let id = h
        .post(
            &hana,
            &format!("/api/v1/contact-reports/{contact}/intel-reports"),
            draft("Crates on Saturdays."),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    h.fail_audit(true).await;
    let refused = h.post(&hana, &format!("/api/v1/intel/drafts/{id}/submit"), json!({})).await;
    h.fail_audit(false).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{}", refused.body);
    assert_eq!(
        h.state.store.intel_report(id).await.unwrap().unwrap().state,
        tearline_store::ReportState::Draft
    );
    assert_eq!(
        h.post(&hana, &format!("/api/v1/intel/drafts/{id}/submit"), json!({})).await.status,
        StatusCode::OK
    );
    let audited = tearline_domain::audit::AuditLog::read(&h.state.log, 0, 10_000).await.unwrap();
    let position = |action: &str| {
        audited.iter().position(|r| r.event.action == action && r.event.object == format!("intel:{id}"))
    };
    assert!(
        position("intel.leak-check") < position("intel.submit"),
        "checked under audit before the verdict"
    );
}

#[tokio::test]
async fn an_analyst_never_receives_an_identity_through_search_graph_export_or_errors() {
    let h = harness().await;
    let id = released(&h, "A grey van moves crates for Viktor Marsh from the quay on Saturdays.").await;
    let anders = h.demo_login(Role::Analyst).await;
    let mut replies = vec![
        h.get(&anders, "/api/v1/intel/graph").await,
        h.get(&anders, &format!("/api/v1/intel/reports/{id}")).await,
        h.get(&anders, &format!("/api/v1/intel/reports/{id}/stix")).await,
        h.get(&anders, "/api/v1/intel/search?q=%22unclosed").await,
        h.get(&anders, "/api/v1/sources/1/contact-reports").await,
        h.get(&anders, "/api/v1/intel/reports/999").await,
    ];
    for secret in sealed_values() {
        let encoded: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
        replies.push(h.get(&anders, &format!("/api/v1/intel/search?q={encoded}")).await);
    }
    for reply in &replies {
        for secret in sealed_values() {
            assert!(!reply.body.contains(&secret), "revealed {secret:?}: {}", reply.body);
        }
        assert!(!reply.body.contains("NIGHTJAR"), "revealed the code name: {}", reply.body);
    }
}

#[tokio::test]
async fn stix_export_respects_tlp_and_handling_and_import_checks_every_bundle() {
    let h = harness().await;
    let id = released(&h, "Saltford Freight Ltd trucks leave the quay at dawn.").await;
    let anders = h.demo_login(Role::Analyst).await;
    let bundle = h.get(&anders, &format!("/api/v1/intel/reports/{id}/stix")).await;
    assert_eq!(bundle.status, StatusCode::OK, "{}", bundle.body);
    let bundle = bundle.json();
    let types: Vec<&str> =
        bundle["objects"].as_array().unwrap().iter().map(|o| o["type"].as_str().unwrap()).collect();
    assert!(
        types.contains(&"report") && types.contains(&"location") && types.contains(&"marking-definition"),
        "{types:?}"
    );
    let organisation =
        bundle["objects"].as_array().unwrap().iter().any(|o| o["name"] == "Saltford Freight Ltd");
    assert!(organisation, "organisations go out as identities");

    // A TLP:RED report never leaves.
    let hana = h.demo_login(Role::Handler).await;
    let conrad = h.demo_login(Role::Controller).await;
    let contact = h.contact_report(&hana).await;
    let mut red = draft("Crates at dawn.");
    red["tlp"] = json!("TLP:RED");
    let red = h.post(&hana, &format!("/api/v1/contact-reports/{contact}/intel-reports"), red).await.json()
        ["id"]
        .as_i64()
        .unwrap();
    h.post(&hana, &format!("/api/v1/intel/drafts/{red}/submit"), json!({})).await;
    h.post(
        &conrad,
        &format!("/api/v1/intel/drafts/{red}/release"),
        json!({"release": true, "acknowledge_warnings": true}),
    )
    .await;
    let refused = h.get(&anders, &format!("/api/v1/intel/reports/{red}/stix")).await;
    assert_eq!((refused.status, refused.json()["code"].clone()), (StatusCode::FORBIDDEN, json!("tlp_red")));

    // Import: a partner's bundle (our own export stands in for one).
    let mut partner = bundle.clone();
    let report =
        partner["objects"].as_array_mut().unwrap().iter_mut().find(|o| o["type"] == "report").unwrap();
    report["name"] = json!("Partner: trucks at dawn");
    report["id"] = json!("report--6f7c1a8e-2b3d-4c5e-8f90-1a2b3c4d5e6f");
    let imported = h.call(Method::POST, "/api/v1/intel/import", Some(&anders), Some(partner.clone())).await;
    assert_eq!(imported.status, StatusCode::CREATED, "{}", imported.body);
    let new_id = imported.json()["imported"][0].as_i64().unwrap();
    let stored = h.get(&anders, &format!("/api/v1/intel/reports/{new_id}")).await.json();
    assert_eq!(stored["admiralty"], "F6", "graded 'cannot be judged' until assessed");
    let again = h.call(Method::POST, "/api/v1/intel/import", Some(&anders), Some(partner.clone())).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let found = h.get(&anders, "/api/v1/intel/search?q=partner").await.json();
    assert_eq!(found["hits"][0]["id"], new_id);

    let before = h.state.store.released_report_count().await.unwrap();
    let mut broken = partner.clone();
    broken["objects"][0]["created"] = json!("yesterday");
    let refused = h.call(Method::POST, "/api/v1/intel/import", Some(&anders), Some(broken)).await;
    assert_eq!(refused.json()["code"], "invalid_stix", "{}", refused.body);
    assert!(
        refused.json()["message"].as_str().unwrap().starts_with("objects[0].created:"),
        "{}",
        refused.body
    );
    let garbage = h
        .send(
            axum::http::Request::builder()
                .method(Method::POST)
                .uri("/api/v1/intel/import")
                .header("authorization", format!("Bearer {anders}"))
                .body(axum::body::Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(garbage.json()["code"], "invalid_stix", "{}", garbage.body);
    assert_eq!(
        h.state.store.released_report_count().await.unwrap(),
        before,
        "nothing stored from a refused bundle"
    );
}

#[tokio::test]
async fn corroboration_counts_distinct_sources_and_corrections_are_new_versions() {
    let h = harness().await;
    let first = released(&h, "A grey van, AB12 CDE, at the quay.").await;
    let second = released(&h, "Van AB12 CDE again at the quay.").await;
    let anders = h.demo_login(Role::Analyst).await;
    let graph = h.get(&anders, "/api/v1/intel/graph").await.json();
    assert_eq!(graph["corroborated"], json!([]), "the same source twice is not corroboration: {graph}");
    // A partner's report on the same van is an independent source.
    let bundle = h.get(&anders, &format!("/api/v1/intel/reports/{first}/stix")).await.json();
    let mut partner = bundle.clone();
    let report =
        partner["objects"].as_array_mut().unwrap().iter_mut().find(|o| o["type"] == "report").unwrap();
    report["id"] = json!("report--0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    report["description"] = json!("Partner saw van AB12 CDE at the quay.");
    assert_eq!(
        h.call(Method::POST, "/api/v1/intel/import", Some(&anders), Some(partner)).await.status,
        StatusCode::CREATED
    );
    let graph = h.get(&anders, "/api/v1/intel/graph").await.json();
    let van = graph["corroborated"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["entity"]["name"] == "AB12 CDE")
        .cloned()
        .unwrap();
    assert_eq!(van["sources"], 2);
    let report = h.get(&anders, &format!("/api/v1/intel/reports/{second}")).await.json();
    assert_eq!(report["suggested_credibility"], 1);

    let hana = h.demo_login(Role::Handler).await;
    let correction = h
        .post(
            &hana,
            &format!("/api/v1/intel/reports/{first}/corrections"),
            draft("A grey van, AB12 CDF, at the quay."),
        )
        .await;
    assert_eq!(correction.status, StatusCode::CREATED, "{}", correction.body);
    assert_eq!(
        (correction.json()["version"].clone(), correction.json()["supersedes"].clone()),
        (json!(2), json!(first))
    );
    let disseminated = h
        .post(
            &anders,
            &format!("/api/v1/intel/reports/{first}/disseminations"),
            json!({"recipient": "Regional Organised Crime Unit"}),
        )
        .await;
    assert_eq!(disseminated.status, StatusCode::CREATED, "{}", disseminated.body);
    let read = h.get(&anders, &format!("/api/v1/intel/reports/{first}")).await.json();
    assert_eq!(read["disseminations"][0]["recipient"], "Regional Organised Crime Unit");
    let ines = h.demo_login(Role::Inspector).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let record_set = h.get(&ines, &format!("/api/v1/sources/{nightjar}/record-set")).await.body;
    assert!(
        record_set.contains("passed on,") && record_set.contains("to Regional Organised Crime Unit"),
        "{record_set}"
    );
    assert!(record_set.lines().any(|l| l.starts_with("information obtained,")), "{record_set}");
    assert_eq!(read["corrected_by"], correction.json()["id"]);
}

#[tokio::test]
async fn the_index_is_rebuilt_from_the_store() {
    let h = harness().await;
    released(&h, "Night deliveries at the chandlery.").await;
    h.state.search.clear().unwrap();
    let anders = h.demo_login(Role::Analyst).await;
    assert_eq!(h.get(&anders, "/api/v1/intel/search?q=chandlery").await.json()["hits"], json!([]));
    let rebuilt =
        tearline_service::intel::reindex(&h.state.store, &h.state.search, &|_, _| {}).await.unwrap();
    assert_eq!(rebuilt, 1);
    assert_eq!(
        h.get(&anders, "/api/v1/intel/search?q=chandlery").await.json()["hits"].as_array().unwrap().len(),
        1
    );
    let bad = h.get(&anders, "/api/v1/intel/search?q=crates&from=10&to=5").await;
    assert_eq!(bad.json()["code"], "invalid_period");
    assert_eq!(h.get(&anders, "/api/v1/intel/search?q=x&area=1,2,3").await.json()["code"], "invalid_search");
}

/// A submit racing an edit that names the source: whatever the interleaving, a submitted
/// draft holds only text the leak guard read.
async fn a_submit_racing_an_edit_submits_only_text_the_guard_checked(h: Harness) {
    let hana = h.demo_login(Role::Handler).await;
    let contact = h.contact_report(&hana).await;
    let mut submitted = 0;
    for _ in 0..20 {
        let id = h.clean_draft(&hana, contact).await;
        let (edit_path, submit_path) =
            (format!("/api/v1/intel/drafts/{id}"), format!("/api/v1/intel/drafts/{id}/submit"));
        let naming = draft("Samira Haddad-Okafor moves crates.");
        let (edit, submit) = tokio::join!(
            h.call(Method::PUT, &edit_path, Some(&hana), Some(naming)),
            h.post(&hana, &submit_path, json!({})),
        );
        assert!(
            [StatusCode::OK, StatusCode::CONFLICT].contains(&edit.status)
                && [StatusCode::OK, StatusCode::CONFLICT, StatusCode::UNPROCESSABLE_ENTITY]
                    .contains(&submit.status),
            "edit {} {}, submit {} {}",
            edit.status,
            edit.body,
            submit.status,
            submit.body
        );
        let report = h.state.store.intel_report(id).await.unwrap().unwrap();
        if report.state == tearline_store::ReportState::Submitted {
            submitted += 1;
            assert!(!report.body.contains("Samira"), "a submitted draft holds text the guard never read");
        }
    }
    // Which side wins each race is up to the scheduler; the guarantee holds either way. A
    // draft nobody edits still goes through, so the races above were real submissions.
    let id = h.clean_draft(&hana, contact).await;
    let clean = h.post(&hana, &format!("/api/v1/intel/drafts/{id}/submit"), json!({})).await;
    assert_eq!(clean.status, StatusCode::OK, "{} (races won by a submission: {submitted})", clean.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_racing_an_edit_submits_only_text_the_guard_checked_on_sqlite() {
    a_submit_racing_an_edit_submits_only_text_the_guard_checked(harness().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_racing_an_edit_submits_only_text_the_guard_checked_on_postgres() {
    a_submit_racing_an_edit_submits_only_text_the_guard_checked(
        common::harness_on(tearline_store::Backend::Postgres).await,
    )
    .await;
}

/// A bundle is imported whole or not at all: one report colliding with an earlier import
/// leaves the bundle's other reports unstored too.
#[tokio::test]
async fn a_refused_bundle_stores_none_of_its_reports() {
    let h = harness().await;
    let anders = h.demo_login(Role::Analyst).await;
    let report = |id: &str, name: &str| {
        json!({"type": "report", "spec_version": "2.1", "id": id, "created": "2026-11-17T08:00:00.000Z",
               "modified": "2026-11-17T08:00:00.000Z", "name": name, "published": "2026-11-17T08:00:00.000Z",
               "object_refs": ["identity--2d6d2bd8-1a74-4a13-9d3c-8f1c37d1c1d2"]})
    };
    let held = "report--11111111-2222-4333-8444-555555555555";
    let fresh = "report--66666666-7777-4888-8999-aaaaaaaaaaaa";
    let bundle = |objects: Vec<Value>| json!({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": objects});
    let first = h
        .call(Method::POST, "/api/v1/intel/import", Some(&anders), Some(bundle(vec![report(held, "Held")])))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let both = bundle(vec![report(fresh, "Fresh"), report(held, "Held again")]);
    let refused = h.call(Method::POST, "/api/v1/intel/import", Some(&anders), Some(both)).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    let sql = format!("SELECT COUNT(*) FROM intel_reports WHERE partner_stix_id = '{fresh}'");
    assert_eq!(
        h.state.store.count_unchecked(&sql).await.unwrap(),
        0,
        "nothing of the refused bundle is kept"
    );
}

/// JSON built to hurt — nested a hundred thousand deep, as a STIX bundle and as an API body —
/// is refused with its reason (serde_json stops at 128 levels, without recursing further),
/// nothing is stored, and the server goes on answering.
#[tokio::test]
async fn json_nested_too_deep_is_refused_and_the_server_goes_on() {
    let h = harness().await;
    let anders = h.demo_login(Role::Analyst).await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/v1/intel/import")
        .header("authorization", format!("Bearer {anders}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(deep.clone()))
        .unwrap();
    let refused = h.send(request).await;
    assert!(refused.status.is_client_error(), "{} {}", refused.status, refused.body);
    assert!(refused.body.contains("recursion limit"), "{}", refused.body);
    let wren = h.demo_login(Role::WarningOfficer).await;
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/v1/warnings")
        .header("authorization", format!("Bearer {wren}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(format!("{{\"status\": {deep}}}")))
        .unwrap();
    let refused = h.send(request).await;
    assert_eq!(refused.json()["code"], "invalid_json", "{}", refused.body);
    assert_eq!(
        h.get(&anders, "/api/v1/intel/search?q=quay").await.status,
        StatusCode::OK,
        "the server goes on"
    );
}

/// The chain from report to warning and back: an analyst cites released reports, the
/// warning officer sees their grading but never a title or reference, a correction puts the
/// threat and its live warning under review until cleared, the timeline runs from report to
/// warning, and the outcome builds the reference's track record the controller reads.
#[tokio::test]
async fn a_threat_rests_on_released_reports_and_their_correction_puts_its_warnings_under_review() {
    let h = harness().await;
    let anders = h.demo_login(Role::Analyst).await;
    let wren = h.demo_login(Role::WarningOfficer).await;
    let hana = h.demo_login(Role::Handler).await;
    let conrad = h.demo_login(Role::Controller).await;
    let report = released(&h, "Crates move on Saturdays.").await;
    let area = json!({"description": "Quay", "polygons": [], "circles": [{"centre": {"lat": 52.955, "lon": 1.215}, "radius_km": 1.0}]});
    let threat = h
        .post(
            &anders,
            "/api/v1/threats",
            json!({"title": "Device at the quay", "description": "", "threat_type": "explosive device",
            "area": area, "window_start": common::T0, "window_end": common::T0 + 3_600_000,
            "likelihood": "likely", "impact": "severe", "status": "active"}),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let cite = format!("/api/v1/threats/{threat}/reports/{report}");
    assert_eq!(
        h.call(Method::PUT, &cite, Some(&wren), None).await.status,
        StatusCode::NOT_FOUND,
        "analysts cite"
    );
    let cited = h.call(Method::PUT, &cite, Some(&anders), None).await;
    assert_eq!(cited.status, StatusCode::OK, "{}", cited.body);
    let reference = cited.json()["reports"][0]["detail"]["source_reference"].as_str().unwrap().to_owned();
    assert!(reference.starts_with("SR-"));

    let seen_by_officer = h.get(&wren, &format!("/api/v1/threats/{threat}/reports")).await;
    assert_eq!(seen_by_officer.json()["reports"][0]["admiralty"], "B2");
    assert_eq!(seen_by_officer.json()["reports"][0]["tlp"], "TLP:AMBER");
    assert!(seen_by_officer.json()["reports"][0].get("detail").is_none());
    assert!(!seen_by_officer.body.contains(&reference) && !seen_by_officer.body.contains("Quay deliveries"));

    let warning = json!({"threat_id": threat, "status": "Exercise", "infos": [{"language": "en-GB", "categories": ["Security"],
        "event": "Threat", "urgency": "Immediate", "severity": "Severe", "certainty": "Likely",
        "expires": "2026-11-19T10:00:00-00:00", "headline": "Avoid the quay", "areas": [area]}]});
    let version = h.post(&wren, "/api/v1/warnings", warning).await.json()["id"].as_i64().unwrap();
    h.post(&wren, &format!("/api/v1/warning-versions/{version}/submit"), json!({})).await;
    let support = h.get(&wren, &format!("/api/v1/warning-versions/{version}/support")).await.json();
    assert_eq!(
        (&support["support"]["threat"]["id"], &support["support"]["under_review"]),
        (&json!(threat), &json!(false))
    );

    // A correction of the cited report is released: the threat and its live warning go under review.
    let correction = h
        .post(&hana, &format!("/api/v1/intel/reports/{report}/corrections"), draft("Crates move on Sundays."))
        .await;
    let correction = correction.json()["id"].as_i64().unwrap();
    h.post(&hana, &format!("/api/v1/intel/drafts/{correction}/submit"), json!({})).await;
    let release = json!({"release": true, "acknowledge_warnings": true});
    assert_eq!(
        h.post(&conrad, &format!("/api/v1/intel/drafts/{correction}/release"), release).await.status,
        StatusCode::OK
    );
    let support = h.get(&wren, &format!("/api/v1/warning-versions/{version}/support")).await.json();
    assert_eq!(support["support"]["under_review"], true, "{support}");
    let page = h.get(&wren, &format!("/warnings/versions/{version}")).await.body;
    assert!(page.contains("Under review"), "the warning page says so");
    let home = h.get(&anders, "/").await.body;
    assert!(home.contains("Threats under review") && home.contains("Device at the quay"));

    let timeline = h.get(&wren, &format!("/api/v1/threats/{threat}/timeline")).await;
    let steps: Vec<String> = timeline.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_str().unwrap().to_owned())
        .collect();
    for step in ["report-released", "threat-assessed", "warning-issued", "report-corrected"] {
        assert!(steps.contains(&step.to_owned()), "{step} in {steps:?}");
    }
    assert!(!timeline.body.contains(&reference), "the warning officer's timeline names no source");
    let page = h.get(&wren, &format!("/threats/{threat}")).await.body;
    assert!(page.contains("Timeline") && page.contains("B2") && !page.contains(&reference));

    let review = support["support"]["reviews"][0]["id"].as_i64().unwrap();
    let clearance = format!("/api/v1/threat-reviews/{review}/clearance");
    assert_eq!(h.post(&wren, &clearance, json!({"note": "stands"})).await.status, StatusCode::NOT_FOUND);
    let cleared = h
        .post(&anders, &clearance, json!({"note": "the correction changes the day only; the threat stands"}))
        .await;
    assert_eq!(cleared.json()["under_review"], false, "{}", cleared.body);
    assert_eq!(h.post(&anders, &clearance, json!({"note": "again"})).await.json()["code"], "state_changed");

    // The window closes; the outcome judges the report and the controller sees the record.
    let outcome = format!("/api/v1/threats/{threat}/outcome");
    let bad = json!({"outcome": "prevented", "reports": [{"report_id": correction, "accuracy": "accurate"}]});
    assert_eq!(h.call(Method::PUT, &outcome, Some(&anders), Some(bad)).await.json()["code"], "invalid_field");
    h.advance(2 * 3_600_000);
    assert!(h.get(&anders, "/").await.body.contains("Outcomes to record"));
    let judged = json!({"outcome": "prevented", "note": "arrests at the quay", "reports": [{"report_id": report, "accuracy": "accurate"}]});
    let recorded = h.call(Method::PUT, &outcome, Some(&anders), Some(judged)).await;
    assert_eq!(recorded.json()["threat"]["outcome"]["outcome"], "prevented", "{}", recorded.body);
    let nightjar = h.source_id("NIGHTJAR").await;
    let lifecycle = h.get(&conrad, &format!("/api/v1/sources/{nightjar}/lifecycle")).await.json();
    assert_eq!(lifecycle["standing"]["track_record"]["confirmed"], 1, "{}", lifecycle["standing"]);
    let analyst_view = h.get(&anders, &format!("/api/v1/intel/reports/{report}")).await.json();
    assert_eq!(analyst_view["track_record"]["confirmed"], 1);
    assert_eq!(analyst_view["threats"], json!([threat]));
}

/// A contact that records a change in the source's situation asks for a welfare check and
/// a risk review, each until it is done; a withdrawal of a report reaches the analyst.
#[tokio::test]
async fn a_changed_situation_prompts_a_welfare_check_and_a_risk_review() {
    let h = harness().await;
    let hana = h.demo_login(Role::Handler).await;
    let nightjar = h.source_id("NIGHTJAR").await;
    let due = || async {
        let view = h.get(&hana, &format!("/api/v1/sources/{nightjar}/lifecycle")).await.json();
        view["due"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["kind"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(!due().await.contains(&"welfare-check-after-change".to_owned()));
    let contact = json!({"method": "meeting", "place": "car park", "summary": "Her son was moved to another cell.", "situation_changed": true});
    let logged = h.post(&hana, &format!("/api/v1/sources/{nightjar}/contacts"), contact).await;
    assert_eq!(logged.status, StatusCode::CREATED, "{}", logged.body);
    let kinds = due().await;
    assert!(
        kinds.contains(&"welfare-check-after-change".to_owned())
            && kinds.contains(&"risk-review-after-change".to_owned()),
        "{kinds:?}"
    );
    h.advance(60_000);
    let welfare = json!({"kind": "check", "notes": "Spoke at length; coping."});
    assert_eq!(
        h.post(&hana, &format!("/api/v1/sources/{nightjar}/welfare"), welfare).await.status,
        StatusCode::CREATED
    );
    let kinds = due().await;
    assert!(
        !kinds.contains(&"welfare-check-after-change".to_owned())
            && kinds.contains(&"risk-review-after-change".to_owned()),
        "{kinds:?}"
    );

    let report = released(&h, "Crates move on Saturdays.").await;
    let conrad = h.demo_login(Role::Controller).await;
    let anders = h.demo_login(Role::Analyst).await;
    let short =
        h.post(&conrad, &format!("/api/v1/intel/reports/{report}/withdrawal"), json!({"reason": "no"})).await;
    assert_eq!(short.json()["code"], "reason_required");
    let withdrawn = h
        .post(
            &conrad,
            &format!("/api/v1/intel/reports/{report}/withdrawal"),
            json!({"reason": "the meeting never happened"}),
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.body);
    assert_eq!(
        h.get(&anders, &format!("/api/v1/intel/reports/{report}")).await.json()["withdrawal"]["reason"],
        "the meeting never happened"
    );
}

/// Once a threat rests on a source's report, nothing below the line built on it — the
/// threat's own text, its notes, the warnings drafted from it, the report's STIX export —
/// may name that source by identity, code name or reference, however disguised.
#[tokio::test]
async fn texts_built_on_a_sources_report_never_name_the_source() {
    let h = harness().await;
    let anders = h.demo_login(Role::Analyst).await;
    let wren = h.demo_login(Role::WarningOfficer).await;
    let report = released(&h, "Crates move on Saturdays.").await;
    let area = json!({"description": "Quay", "polygons": [], "circles": [{"centre": {"lat": 52.955, "lon": 1.215}, "radius_km": 1.0}]});
    let threat = |description: &str| {
        json!({"title": "Device at the quay", "description": description, "threat_type": "explosive device",
            "area": area, "window_start": common::T0, "window_end": common::T0 + 3_600_000,
            "likelihood": "likely", "impact": "severe", "status": "active"})
    };
    // A threat that already names the source cannot cite its report.
    let naming =
        h.post(&anders, "/api/v1/threats", threat("NIGHTJAR says so")).await.json()["id"].as_i64().unwrap();
    let refused =
        h.call(Method::PUT, &format!("/api/v1/threats/{naming}/reports/{report}"), Some(&anders), None).await;
    assert_eq!(refused.json()["code"], "identity_leak", "{}", refused.body);
    assert_eq!(
        h.get(&anders, &format!("/api/v1/threats/{naming}/reports")).await.json()["reports"],
        json!([])
    );

    let id = h.post(&anders, "/api/v1/threats", threat("")).await.json()["id"].as_i64().unwrap();
    let cited =
        h.call(Method::PUT, &format!("/api/v1/threats/{id}/reports/{report}"), Some(&anders), None).await;
    assert_eq!(cited.status, StatusCode::OK, "{}", cited.body);
    for disguised in
        ["nightjar was there", "Sa\u{200b}mira Hadd\u{200b}ad-Okafor was there", "Ѕamira Наddad-Okafor"]
    {
        let update = h
            .call(Method::PUT, &format!("/api/v1/threats/{id}"), Some(&anders), Some(threat(disguised)))
            .await;
        assert_eq!(update.json()["code"], "identity_leak", "{disguised}: {}", update.body);
        assert!(!update.body.contains("amira"), "the refusal names the field, not the value");
    }
    let note = json!({"outcome": "unknown", "note": "NIGHTJAR was right"});
    let outcome =
        h.call(Method::PUT, &format!("/api/v1/threats/{id}/outcome"), Some(&anders), Some(note)).await;
    assert_eq!(outcome.json()["code"], "identity_leak");

    // A warning drafted from the threat: refused, and nothing is stored.
    let before = h.get(&wren, "/api/v1/warnings").await.json()["warnings"].as_array().unwrap().len();
    let warning = json!({"threat_id": id, "status": "Exercise", "infos": [{"language": "en-GB", "categories": ["Security"],
        "event": "Threat", "urgency": "Immediate", "severity": "Severe", "certainty": "Likely",
        "expires": "2026-11-19T10:00:00-00:00", "headline": "Avoid the quay", "instruction": "Samira Haddad-Okafor says leave",
        "areas": [area]}]});
    let drafted = h.post(&wren, "/api/v1/warnings", warning).await;
    assert_eq!(drafted.json()["code"], "identity_leak", "{}", drafted.body);
    assert!(drafted.json()["message"].as_str().unwrap().contains("info[1].instruction"));
    assert_eq!(h.get(&wren, "/api/v1/warnings").await.json()["warnings"].as_array().unwrap().len(), before);

    // An analyst's tag travels in the STIX bundle: one naming the source stops the export.
    let tag = json!({"kind": "organisation", "name": "Haddad-Okafor Samira"});
    h.post(&anders, &format!("/api/v1/intel/reports/{report}/entities"), tag).await;
    let export = h.get(&anders, &format!("/api/v1/intel/reports/{report}/stix")).await;
    assert_eq!(export.json()["code"], "identity_leak", "{}", export.body);
}

/// Another server's index follows the store's releases: a report released (or committed)
/// up to the overlap before what the follower has seen is still indexed, once.
#[tokio::test]
async fn another_servers_index_follows_the_releases_in_the_store() {
    use tearline_service::intel::{ReleaseFollower, FOLLOW_OVERLAP_MILLIS};
    let h = harness().await;
    let report = released(&h, "Tarpaulins cover crates at the slipway.").await;
    let elsewhere = tearline_search::SearchIndex::in_memory().unwrap();
    // This follower has seen releases up to two minutes after this one was released.
    let mut follower =
        ReleaseFollower::from(tearline_domain::Timestamp(common::T0 + FOLLOW_OVERLAP_MILLIS / 2));
    assert!(follower.round(&h.state.store, &elsewhere).await.unwrap() >= 1);
    assert!(elsewhere.contains(report).unwrap());
    assert_eq!(follower.round(&h.state.store, &elsewhere).await.unwrap(), 0, "each report once");
    let unit = h.state.store.intel_report(report).await.unwrap().unwrap().unit_id.0;
    let query =
        tearline_search::SearchQuery { text: "tarpaulins".into(), unit, limit: 10, ..Default::default() };
    assert_eq!(elsewhere.search(&query).unwrap().hits[0].id, report);
}

/// A place can single a source out as surely as a name: a report located near one of the
/// source's sealed addresses is flagged to the controller who releases it, and a warning
/// whose area lies over it is issued only when its officer acknowledges the flag — neither
/// ever says which address, or where.
#[tokio::test]
async fn places_near_a_sources_address_are_flagged_to_whoever_releases_or_issues_them() {
    let h = harness().await;
    let hana = h.demo_login(Role::Handler).await;
    let conrad = h.demo_login(Role::Controller).await;
    let anders = h.demo_login(Role::Analyst).await;
    let wren = h.demo_login(Role::WarningOfficer).await;
    let source = |points: Value| {
        json!({"code_name": "WAGTAIL", "controller": "conrad", "identity": {"full_name": "Imogen Caldwell-Reyes",
            "addresses": ["3 Slipway Cottages, Eastmarsh"], "address_points": points}})
    };
    let off_earth = h.post(&hana, "/api/v1/sources", source(json!([[95.0, 1.2]]))).await;
    assert_eq!(off_earth.json()["code"], "invalid_identity", "{}", off_earth.body);
    let created = h.post(&hana, "/api/v1/sources", source(json!([[52.9552, 1.2151]]))).await;
    let wagtail = created.json()["id"].as_i64().unwrap_or_else(|| panic!("{}", created.body));
    let contact = h
        .post(&hana, &format!("/api/v1/sources/{wagtail}/contact-reports"), json!({
            "place": "Car park", "present": "hana", "method": "meeting", "account": "Crates at the slipway on Fridays."}))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let draft = json!({"title": "Slipway crates", "body": "Crates are stacked at the slipway on Fridays.", "admiralty": "B2",
        "handling_code": "P", "tlp": "TLP:AMBER", "place_name": "the slipway", "latitude": 52.9556, "longitude": 1.2149});
    let id = h.post(&hana, &format!("/api/v1/contact-reports/{contact}/intel-reports"), draft).await.json()
        ["id"]
        .as_i64()
        .unwrap();
    let submitted = h.post(&hana, &format!("/api/v1/intel/drafts/{id}/submit"), json!({})).await;
    assert_eq!(submitted.json()["state"], "submitted", "a flag is no leak: {}", submitted.body);
    let warnings = submitted.json()["warnings"].to_string();
    assert!(
        warnings.contains("place: the location is within 250 m of an address of the source"),
        "{warnings}"
    );
    assert!(
        !warnings.contains("Slipway Cottages") && !warnings.contains("52.9552"),
        "never which address or where"
    );
    let release = format!("/api/v1/intel/drafts/{id}/release");
    assert_eq!(
        h.post(&conrad, &release, json!({"release": true})).await.json()["code"],
        "warnings_unacknowledged"
    );
    let released = h.post(&conrad, &release, json!({"release": true, "acknowledge_warnings": true})).await;
    assert_eq!(released.json()["state"], "released", "{}", released.body);

    // A threat resting on the report; warnings drafted from it.
    let near = json!({"description": "Slipway", "polygons": [], "circles": [{"centre": {"lat": 52.956, "lon": 1.215}, "radius_km": 0.5}]});
    let far = json!({"description": "Saltford", "polygons": [], "circles": [{"centre": {"lat": 52.90, "lon": 1.10}, "radius_km": 0.5}]});
    let threat = h
        .post(
            &anders,
            "/api/v1/threats",
            json!({"title": "Slipway device", "description": "", "threat_type": "device",
            "area": near, "window_start": common::T0, "window_end": common::T0 + 3_600_000,
            "likelihood": "likely", "impact": "severe", "status": "active"}),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    h.call(Method::PUT, &format!("/api/v1/threats/{threat}/reports/{id}"), Some(&anders), None).await;
    let warning = |area: &Value| {
        json!({"threat_id": threat, "status": "Exercise", "infos": [{"language": "en-GB", "categories": ["Security"],
            "event": "Threat", "urgency": "Immediate", "severity": "Severe", "certainty": "Likely",
            "expires": "2026-11-19T10:00:00-00:00", "headline": "Avoid the slipway", "areas": [area]}]})
    };
    let over = h.post(&wren, "/api/v1/warnings", warning(&near)).await.json()["id"].as_i64().unwrap();
    let refused = h.post(&wren, &format!("/api/v1/warning-versions/{over}/submit"), json!({})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(refused.json()["code"], "places_unacknowledged");
    assert!(refused.json()["message"].as_str().unwrap().contains("info[1].area[1]"), "{}", refused.body);
    assert!(!refused.body.contains("Slipway Cottages") && !refused.body.contains("WAGTAIL"));
    let page = h.get(&wren, &format!("/warnings/versions/{over}")).await.body;
    assert!(page.contains("Issue"), "still a draft");
    let issued = h
        .post(&wren, &format!("/api/v1/warning-versions/{over}/submit?acknowledge_places=true"), json!({}))
        .await;
    assert_eq!(issued.json()["result"], "issued", "{}", issued.body);
    let elsewhere = h.post(&wren, "/api/v1/warnings", warning(&far)).await.json()["id"].as_i64().unwrap();
    let issued = h.post(&wren, &format!("/api/v1/warning-versions/{elsewhere}/submit"), json!({})).await;
    assert_eq!(
        issued.json()["result"],
        "issued",
        "an area far from every address needs nothing: {}",
        issued.body
    );
}
