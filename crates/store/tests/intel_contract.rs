//! The intelligence part of the store contract, on SQLite and on PostgreSQL.

use tearline_domain::{Role, SourceId, Timestamp, UnitId, UserId};
use tearline_intel::entities::{Entity, EntityKind};
use tearline_intel::grading::{Admiralty, HandlingCode, IntelligenceAssessment, SourceEvaluation, Tlp};
use tearline_store::{
    on_both_backends, Grading, LeakFinding, NewContactReport, Origin, ReportContent, ReportPlace,
    ReportState, Store, StoreError,
};

on_both_backends!(
    a_report_moves_from_draft_to_release_and_is_then_immutable,
    a_correction_is_a_new_version_and_there_is_one_per_report,
    partner_reports_arrive_released_once_per_stix_id,
    the_link_chart_holds_only_released_reports_of_the_unit,
    entities_belong_to_the_unit_of_the_report_that_mentions_them,
    a_correction_or_withdrawal_of_a_cited_report_puts_its_threats_under_review,
    an_outcome_judges_only_cited_reports_and_builds_the_track_record,
);

const T0: Timestamp = Timestamp(1_790_000_000_000);

struct Case {
    unit: UnitId,
    handler: UserId,
    controller: UserId,
    source: SourceId,
    reference: String,
    contact_report: i64,
}

async fn case(store: &Store) -> Case {
    let case =
        tearline_store::testing::case(store, &[("hana", Role::Handler), ("carl", Role::Controller)], T0)
            .await;
    let (handler, controller) = (case.staff[0], case.staff[1]);
    let contact_report = store
        .bookkeeping()
        .create_contact_report(NewContactReport {
            source_id: case.source,
            handler_id: handler,
            met_at: T0,
            method: "meeting",
            text: &tearline_store::testing::sealed_text("contact report"),
            situation_changed: false,
            created_at: T0,
        })
        .await
        .unwrap();
    Case {
        unit: case.unit,
        handler,
        controller,
        source: case.source,
        reference: case.reference.to_string(),
        contact_report,
    }
}

fn content(title: &str) -> ReportContent {
    ReportContent {
        title: title.into(),
        body: "Crates move from the quay to a van after midnight on Saturdays.".into(),
        grading: Grading {
            admiralty: Admiralty::parse("B2").unwrap(),
            source_evaluation: SourceEvaluation::Reliable,
            intelligence_assessment: IntelligenceAssessment::C,
            handling: HandlingCode::C("police use only".into()),
            tlp: Tlp::Amber,
        },
        place: Some(ReportPlace {
            name: "Eastmarsh quay".into(),
            latitude: Some(52.955),
            longitude: Some(1.215),
        }),
    }
}

async fn draft(
    store: &Store,
    c: &Case,
    supersedes: Option<&tearline_store::IntelReport>,
) -> Result<i64, StoreError> {
    let origin = Origin::Draft {
        contact_report: c.contact_report,
        source_reference: &c.reference,
        drafted_by: c.handler,
        supersedes,
    };
    store.bookkeeping().add_intel_report(c.unit, origin, &content("Quay deliveries"), T0).await
}

async fn a_report_moves_from_draft_to_release_and_is_then_immutable(store: Store) {
    let c = case(&store).await;
    assert_eq!(store.contact_reports_of(c.source).await.unwrap()[0].id, c.contact_report);
    let id = draft(&store, &c, None).await.unwrap();
    let leak = [LeakFinding { field: "body".into(), detail: "alias".into() }];
    assert_eq!(
        store.bookkeeping().record_check(id, 0, &leak, &[]).await.unwrap(),
        ReportState::Draft,
        "a leak keeps it a draft"
    );
    assert_eq!(store.intel_report(id).await.unwrap().unwrap().leak_findings, leak);
    store.bookkeeping().update_draft(id, &content("Quay deliveries, fixed")).await.unwrap();
    assert!(
        store.intel_report(id).await.unwrap().unwrap().leak_findings.is_empty(),
        "an edit clears the verdict"
    );
    let warnings = vec!["the driver of".to_owned()];
    assert!(
        matches!(
            store.bookkeeping().record_check(id, 0, &[], &warnings).await,
            Err(StoreError::StateChanged(_))
        ),
        "a verdict on the text before the edit is refused"
    );
    assert_eq!(store.intel_report(id).await.unwrap().unwrap().revision, 1);
    assert_eq!(
        store.bookkeeping().record_check(id, 1, &[], &warnings).await.unwrap(),
        ReportState::Submitted
    );
    assert!(matches!(
        store.bookkeeping().update_draft(id, &content("late edit")).await,
        Err(StoreError::StateChanged(_))
    ));
    store.bookkeeping().decide_release(id, true, c.controller, T0, &[]).await.unwrap();
    let released = store.intel_report(id).await.unwrap().unwrap();
    assert_eq!(
        (released.state, released.released_by, released.title.as_str()),
        (ReportState::Released, Some(c.controller), "Quay deliveries, fixed")
    );
    assert_eq!(released.grading, content("x").grading);
    assert_eq!(released.phrasing_warnings, warnings);
    assert_eq!(released.source_reference.as_deref(), Some(c.reference.as_str()));
    // The database itself refuses to alter or remove a released report.
    for tamper in [
        format!("UPDATE intel_reports SET body = 'edited' WHERE id = {id}"),
        format!("DELETE FROM intel_reports WHERE id = {id}"),
    ] {
        assert!(store.execute_unchecked(&tamper).await.is_err(), "{tamper}");
    }
    assert!(matches!(
        store.bookkeeping().decide_release(id, true, c.controller, T0, &[]).await,
        Err(StoreError::StateChanged(_))
    ));
    store
        .bookkeeping()
        .record_dissemination(id, "Regional Organised Crime Unit", T0, c.controller)
        .await
        .unwrap();
    assert_eq!(store.disseminations(id).await.unwrap()[0].recipient, "Regional Organised Crime Unit");
    assert_eq!(store.released_reports_after(0, 10).await.unwrap().len(), 1);
    assert_eq!(store.released_report_count().await.unwrap(), 1);
}

async fn a_correction_is_a_new_version_and_there_is_one_per_report(store: Store) {
    let c = case(&store).await;
    let id = draft(&store, &c, None).await.unwrap();
    store.bookkeeping().record_check(id, 0, &[], &[]).await.unwrap();
    store.bookkeeping().decide_release(id, true, c.controller, T0, &[]).await.unwrap();
    let original = store.intel_report(id).await.unwrap().unwrap();
    let correction = draft(&store, &c, Some(&original)).await.unwrap();
    let corrected = store.intel_report(correction).await.unwrap().unwrap();
    assert_eq!((corrected.version, corrected.supersedes), (2, Some(id)));
    assert_eq!(store.correction_of(id).await.unwrap(), Some(correction));
    assert!(matches!(draft(&store, &c, Some(&original)).await, Err(StoreError::Conflict(_))));
    // Sent back by the controller: a submitted report returns to draft.
    store.bookkeeping().record_check(correction, 0, &[], &[]).await.unwrap();
    store.bookkeeping().decide_release(correction, false, c.controller, T0, &[]).await.unwrap();
    assert_eq!(store.intel_report(correction).await.unwrap().unwrap().state, ReportState::Draft);
    assert_eq!(store.intel_reports_of_source(c.source).await.unwrap().len(), 2);
    assert_eq!(store.intel_reports_in_state(c.unit, ReportState::Draft).await.unwrap().len(), 1);
}

async fn partner_reports_arrive_released_once_per_stix_id(store: Store) {
    let c = case(&store).await;
    let stix_id = "report--2b4e1a2c-6d3f-4b1e-9c7a-1f2e3d4c5b6a";
    let mut partner = content("Partner: van seen");
    partner.grading.admiralty = Admiralty::UNJUDGED;
    let id = store
        .bookkeeping()
        .add_intel_report(c.unit, Origin::Partner { stix_id }, &partner, T0)
        .await
        .unwrap();
    let stored = store.intel_report(id).await.unwrap().unwrap();
    assert_eq!(
        (stored.state, stored.source_reference.clone(), stored.grading.admiralty),
        (ReportState::Released, None, Admiralty::UNJUDGED)
    );
    assert!(matches!(
        store.bookkeeping().add_intel_report(c.unit, Origin::Partner { stix_id }, &partner, T0).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn the_link_chart_holds_only_released_reports_of_the_unit(store: Store) {
    let c = case(&store).await;
    let released = draft(&store, &c, None).await.unwrap();
    store.bookkeeping().record_check(released, 0, &[], &[]).await.unwrap();
    store.bookkeeping().decide_release(released, true, c.controller, T0, &[]).await.unwrap();
    let drafted = draft(&store, &c, None).await.unwrap();
    let van = Entity::new(EntityKind::Vehicle, "AB12 CDE");
    let quay = Entity::new(EntityKind::Place, "Eastmarsh Quay");
    let store = &store;
    let link = |report, entity: Entity, place, by| async move {
        store.bookkeeping().link_entities(report, &[(entity, place)], by).await.unwrap()[0]
    };
    let van_id = link(released, van, None, None).await;
    assert_eq!(
        link(released, Entity::new(EntityKind::Vehicle, "ab12cde"), None, Some(c.handler)).await,
        van_id,
        "one entity per key"
    );
    link(released, quay, Some((52.955, 1.215)), None).await;
    link(drafted, Entity::new(EntityKind::Person, "Viktor Marsh"), None, None).await;
    // Linking is idempotent, also when two analysts link the same entity at once.
    let twice = Entity::new(EntityKind::Vehicle, "AB12 CDE");
    let (a, b) = tokio::join!(link(released, twice.clone(), None, None), link(released, twice, None, None));
    assert_eq!((a, b), (van_id, van_id));
    let (entities, links) = store.link_chart(c.unit).await.unwrap();
    assert_eq!(
        entities.iter().map(|e| e.entity.name.as_str()).collect::<Vec<_>>(),
        ["AB12 CDE", "Eastmarsh Quay"]
    );
    assert_eq!(entities[1].latitude, Some(52.955));
    assert_eq!(links.len(), 2);
    assert!(links
        .iter()
        .all(|l| l.report_id == released && l.source_reference.as_deref() == Some(c.reference.as_str())));
    assert!(store.bookkeeping().unlink_entity(released, van_id).await.unwrap());
    assert_eq!(store.link_chart(c.unit).await.unwrap().1.len(), 1);
    assert!(store.link_chart(UnitId(c.unit.0 + 100)).await.unwrap().0.is_empty());
}

/// The same name in two units' intelligence is two entities: each unit's link chart shows
/// only its own, and placing it in one unit does not move it in the other.
async fn entities_belong_to_the_unit_of_the_report_that_mentions_them(store: Store) {
    let c = case(&store).await;
    let released = draft(&store, &c, None).await.unwrap();
    store.bookkeeping().record_check(released, 0, &[], &[]).await.unwrap();
    let quay = Entity::new(EntityKind::Place, "Eastmarsh Quay");
    store
        .bookkeeping()
        .decide_release(released, true, c.controller, T0, &[(quay.clone(), Some((52.955, 1.215)))])
        .await
        .unwrap();
    let south = store.bookkeeping().create_unit("South", T0).await.unwrap();
    let stix_id = "report--7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
    let theirs = store
        .bookkeeping()
        .add_intel_report(south, Origin::Partner { stix_id }, &content("Quay"), T0)
        .await
        .unwrap();
    let their_quay =
        store.bookkeeping().link_entities(theirs, &[(quay, Some((10.0, 10.0)))], None).await.unwrap()[0];
    let (ours, _) = store.link_chart(c.unit).await.unwrap();
    let (south_chart, _) = store.link_chart(south).await.unwrap();
    assert_eq!(ours.len(), 1);
    assert_ne!(ours[0].id, their_quay, "one entity per unit");
    assert_eq!(
        (ours[0].latitude, ours[0].longitude),
        (Some(52.955), Some(1.215)),
        "the other unit did not move it"
    );
    assert_eq!(south_chart.iter().map(|e| e.id).collect::<Vec<_>>(), [their_quay]);
    assert_eq!(south_chart[0].latitude, Some(10.0));
}

/// Migration 6 gives each unit its own copy of an entity that reports of several units
/// linked, with the links and coordinates it had, and drops an entity nothing linked.
async fn migrating_splits_shared_entities_per_unit(backend: tearline_store::Backend) {
    let database = tearline_store::testing::fresh_database(backend).await;
    let old = Store::open_at_version(&database.url, 5).await.unwrap();
    let mut reports = Vec::new();
    for (unit, stix_id) in [
        ("North", "report--11111111-1111-4111-8111-111111111111"),
        ("South", "report--22222222-2222-4222-8222-222222222222"),
    ] {
        let unit = old.bookkeeping().create_unit(unit, T0).await.unwrap();
        let report = old
            .bookkeeping()
            .add_intel_report(unit, Origin::Partner { stix_id }, &content("Quay"), T0)
            .await
            .unwrap();
        reports.push((unit, report));
    }
    old.execute_unchecked(&format!(
        "INSERT INTO entities (kind, entity_key, name, latitude, longitude) VALUES ('place', 'eastmarsh quay', 'Eastmarsh Quay', 52.955, 1.215);
         INSERT INTO entities (kind, entity_key, name) VALUES ('person', 'nobody', 'Nobody');
         INSERT INTO report_entities (report_id, entity_id) VALUES ({}, 1), ({}, 1);",
        reports[0].1, reports[1].1
    ))
    .await
    .unwrap();
    drop(old);
    let store = Store::open(&database.url).await.unwrap();
    let mut ids = Vec::new();
    for (unit, _) in &reports {
        let (entities, links) = store.link_chart(*unit).await.unwrap();
        assert_eq!(entities.len(), 1, "each unit keeps its own quay");
        assert_eq!(
            (entities[0].entity.name.as_str(), entities[0].latitude),
            ("Eastmarsh Quay", Some(52.955))
        );
        assert_eq!(links.len(), 1);
        ids.push(entities[0].id);
    }
    assert_ne!(ids[0], ids[1]);
    assert_eq!(
        store.count_unchecked("SELECT COUNT(*) FROM entities").await.unwrap(),
        2,
        "the unlinked entity is gone"
    );
}

#[tokio::test]
async fn migrating_splits_shared_entities_per_unit_on_sqlite() {
    migrating_splits_shared_entities_per_unit(tearline_store::Backend::Sqlite).await;
}

#[tokio::test]
async fn migrating_splits_shared_entities_per_unit_on_postgres() {
    migrating_splits_shared_entities_per_unit(tearline_store::Backend::Postgres).await;
}

async fn released(store: &Store, c: &Case, supersedes: Option<&tearline_store::IntelReport>) -> i64 {
    let id = draft(store, c, supersedes).await.unwrap();
    store.bookkeeping().record_check(id, 0, &[], &[]).await.unwrap();
    store.bookkeeping().decide_release(id, true, c.controller, T0, &[]).await.unwrap();
    id
}

async fn threat(store: &Store, c: &Case) -> i64 {
    use tearline_warn::geo::{Area, Circle, LatLon};
    use tearline_warn::threat::{Impact, Likelihood, ThreatAssessment, ThreatStatus};
    let assessment = ThreatAssessment {
        title: "Device near the quay".into(),
        description: String::new(),
        threat_type: "explosive device".into(),
        area: Area {
            description: "quay".into(),
            polygons: Vec::new(),
            circles: vec![Circle::new(LatLon { lat: 52.955, lon: 1.215 }, 1.0).unwrap()],
        },
        window_start: T0,
        window_end: T0.plus_millis(3_600_000),
        likelihood: Likelihood::Likely,
        impact: Impact::Severe,
        status: ThreatStatus::Active,
    };
    store.bookkeeping().create_threat(c.unit, &assessment, c.handler, T0).await.unwrap()
}

async fn a_correction_or_withdrawal_of_a_cited_report_puts_its_threats_under_review(store: Store) {
    use tearline_store::ReviewCause;
    let c = case(&store).await;
    let threat = threat(&store, &c).await;
    let first = released(&store, &c, None).await;
    let second = released(&store, &c, None).await;
    let unreleased = draft(&store, &c, None).await.unwrap();
    assert!(
        !store.bookkeeping().link_report(threat, unreleased, c.handler, T0).await.unwrap(),
        "only released"
    );
    for report in [first, second] {
        assert!(store.bookkeeping().link_report(threat, report, c.handler, T0).await.unwrap());
    }
    assert!(!store.bookkeeping().link_report(threat, first, c.handler, T0).await.unwrap(), "once each");
    assert_eq!(store.threats_citing(first).await.unwrap(), vec![threat]);
    assert!(store.threat_reviews(threat).await.unwrap().is_empty());

    // Releasing a correction of a cited report raises a review in the same transaction.
    let original = store.intel_report(first).await.unwrap().unwrap();
    let correction = released(&store, &c, Some(&original)).await;
    // Withdrawing the other raises another; a report is withdrawn once.
    store.bookkeeping().withdraw_report(second, c.controller, T0, "the source fabricated it").await.unwrap();
    assert!(matches!(
        store.bookkeeping().withdraw_report(second, c.controller, T0, "again").await,
        Err(StoreError::StateChanged(_))
    ));
    assert!(matches!(
        store.bookkeeping().withdraw_report(unreleased, c.controller, T0, "not released").await,
        Err(StoreError::StateChanged(_))
    ));
    assert_eq!(store.withdrawal(second).await.unwrap().unwrap().reason, "the source fabricated it");
    let reviews = store.threat_reviews(threat).await.unwrap();
    let causes: Vec<(ReviewCause, i64)> = reviews.iter().map(|r| (r.cause, r.report_id)).collect();
    assert_eq!(causes.len(), 2);
    assert!(causes.contains(&(ReviewCause::Corrected, correction)));
    assert!(causes.contains(&(ReviewCause::Withdrawn, second)));
    assert_eq!(store.open_reviews_in_unit(c.unit).await.unwrap().len(), 2);

    let review = reviews[0].id;
    store.bookkeeping().clear_review(threat, review, c.handler, T0, "threat stands").await.unwrap();
    assert!(matches!(
        store.bookkeeping().clear_review(threat, review, c.handler, T0, "twice").await,
        Err(StoreError::StateChanged(_))
    ));
    assert_eq!(store.open_reviews_in_unit(c.unit).await.unwrap().len(), 1);
}

async fn an_outcome_judges_only_cited_reports_and_builds_the_track_record(store: Store) {
    use tearline_intel::track::{Accuracy, TrackRecord};
    use tearline_store::RecordedOutcome;
    use tearline_warn::threat::ThreatOutcome;
    let c = case(&store).await;
    let threat = threat(&store, &c).await;
    let cited = released(&store, &c, None).await;
    let uncited = released(&store, &c, None).await;
    store.bookkeeping().link_report(threat, cited, c.handler, T0).await.unwrap();
    let outcome =
        |o| RecordedOutcome { outcome: o, note: "n".into(), recorded_by: c.handler, recorded_at: T0 };
    // A judgement of a report the threat does not cite undoes the whole outcome.
    assert!(matches!(
        store
            .bookkeeping()
            .record_outcome(threat, &outcome(ThreatOutcome::Materialised), &[(uncited, Accuracy::Accurate)])
            .await,
        Err(StoreError::StateChanged(_))
    ));
    assert_eq!(store.threat(threat).await.unwrap().unwrap().outcome, None);
    store
        .bookkeeping()
        .record_outcome(threat, &outcome(ThreatOutcome::Prevented), &[(cited, Accuracy::Accurate)])
        .await
        .unwrap();
    let recorded = store.threat(threat).await.unwrap().unwrap().outcome.unwrap();
    assert_eq!(recorded.outcome, ThreatOutcome::Prevented);
    assert_eq!(store.threat_links(threat).await.unwrap()[0].accuracy, Some(Accuracy::Accurate));
    let record = TrackRecord::of(&store.released_under_reference(&c.reference).await.unwrap());
    assert_eq!(record, TrackRecord { released: 2, confirmed: 1, refuted: 0, pending: 1 });
}
