//! The early-warning part of the store contract, on SQLite and on PostgreSQL.

use tearline_domain::{Role, Timestamp, UnitId, UserId};
use tearline_store::{
    on_both_backends, AttemptOutcome, DeliveryAnswer, IssueVersion, NewUser, PartnerKeyRecord, Store,
    StoreError, VersionState, TARGETS_PER_RUN,
};
use tearline_warn::cap::{
    Alert, CapTime, Certainty, Info, MsgType, Reference, Scope, Severity, Status, Urgency,
};
use tearline_warn::delivery::{AckStatus, Channel, DeliveryState, RecipientKind};
use tearline_warn::geo::LatLon;
use tearline_warn::recipients::Registration;

on_both_backends!(
    issuing_queues_exactly_one_delivery_per_target_in_one_step,
    an_update_reaches_the_new_area_and_everyone_the_previous_version_reached,
    claims_lease_deliveries_and_expired_leases_are_taken_up_again,
    a_stale_dispatcher_cannot_overwrite_a_newer_attempt,
    outcomes_are_recorded_exactly_with_any_error_text,
    a_delivery_handed_back_is_taken_up_again_uncounted,
    recipients_upsert_by_external_id_and_report_changes_by_revision,
    only_drafts_can_be_edited_and_a_version_is_issued_once,
    partner_alerts_are_unique_by_sender_identifier_and_sent,
    partner_keys_are_kept_per_sender_once_each_and_can_be_withdrawn,
    acknowledgements_are_counted,
    a_later_received_never_hides_help_or_safe_and_responders_see_who_needs_help,
    two_dispatchers_never_claim_the_same_delivery,
    a_national_warning_is_queued_as_runs_that_become_rows_once,
    answers_in_one_batch_stand_as_if_given_one_by_one,
);

const T0: Timestamp = Timestamp(1_790_000_000_000);

async fn officer(store: &Store) -> (UnitId, UserId) {
    let unit = store.bookkeeping().create_unit("Warnings", T0).await.unwrap();
    let user = NewUser {
        username: "wren",
        display_name: "Wren",
        role: Role::WarningOfficer,
        seniority: Default::default(),
        unit_id: unit,
        password_hash: "$argon2id$x",
        awaiting_approval: false,
    };
    (unit, store.bookkeeping().create_user(user, T0).await.unwrap())
}

fn alert(identifier: &str, msg_type: MsgType, references: Vec<Reference>) -> Alert {
    Alert {
        identifier: identifier.into(),
        sender: "warnings@tearline.example".into(),
        sent: CapTime::utc(T0.0),
        status: Status::Exercise,
        msg_type,
        source: None,
        scope: Scope::Public,
        restriction: None,
        addresses: None,
        codes: vec![],
        note: None,
        references,
        incidents: None,
        infos: vec![Info {
            language: "en-GB".into(),
            categories: vec![tearline_warn::cap::Category::Security],
            event: "Threat".into(),
            response_types: vec![],
            urgency: Urgency::Immediate,
            severity: Severity::Severe,
            certainty: Certainty::Likely,
            audience: None,
            event_codes: vec![],
            effective: None,
            onset: None,
            expires: Some(CapTime::utc(T0.0 + 3_600_000)),
            sender_name: None,
            headline: Some(format!("Headline {identifier}")),
            description: None,
            instruction: None,
            web: None,
            contact: None,
            parameters: vec![],
            areas: vec![],
        }],
    }
}

async fn recipients(store: &Store, count: usize) -> Vec<i64> {
    let new: Vec<Registration> = (0..count)
        .map(|i| Registration {
            external_id: Some(format!("r{i}")),
            name: format!("Recipient {i}"),
            kind: RecipientKind::Person,
            channel: Channel::Webhook,
            address: format!("http://127.0.0.1:9/{i}"),
            position: LatLon { lat: 33.0 + i as f64 * 0.001, lon: 36.0 },
            language: None,
        })
        .collect();
    store.bookkeeping().upsert_recipients(&new, T0).await.unwrap()
}

async fn issue(
    store: &Store,
    version_id: i64,
    alert: &Alert,
    targets: &[i64],
    carry_from: Option<i64>,
) -> i64 {
    store
        .bookkeeping()
        .issue_version(IssueVersion { version_id, alert, approved_by: None, at: T0, targets, carry_from })
        .await
        .unwrap()
}

/// A first warning issued to `count` new recipients: its version and their ids.
async fn issued_to_new_recipients(store: &Store, count: usize) -> (i64, Vec<i64>) {
    let (unit, wren) = officer(store).await;
    let ids = recipients(store, count).await;
    let first = alert("tl-1", MsgType::Alert, vec![]);
    let (_, version) = store.bookkeeping().create_warning(unit, None, &first, wren, T0).await.unwrap();
    issue(store, version, &first, &ids, None).await;
    (version, ids)
}

async fn issuing_queues_exactly_one_delivery_per_target_in_one_step(store: Store) {
    let (unit, wren) = officer(&store).await;
    let ids = recipients(&store, 50).await;
    let first = alert("tl-1", MsgType::Alert, vec![]);
    let (_, version) = store.bookkeeping().create_warning(unit, None, &first, wren, T0).await.unwrap();
    assert_eq!(issue(&store, version, &first, &ids[..30], None).await, 30);
    let counts = store.delivery_counts(version).await.unwrap();
    assert_eq!((counts.queued, counts.total()), (30, 30));
    let issued = store.warning_version(version).await.unwrap().unwrap();
    assert_eq!(issued.state, VersionState::Issued);
    assert_eq!(issued.target_count, Some(30));
    assert_eq!(issued.cap_xml.as_deref(), Some(first.to_xml().as_str()));
    assert_eq!(store.issued_version_by_identifier("tl-1").await.unwrap().map(|v| v.id), Some(version));
}

async fn an_update_reaches_the_new_area_and_everyone_the_previous_version_reached(store: Store) {
    let (unit, wren) = officer(&store).await;
    let ids = recipients(&store, 20).await;
    let first = alert("tl-1", MsgType::Alert, vec![]);
    let (warning, v1) = store.bookkeeping().create_warning(unit, None, &first, wren, T0).await.unwrap();
    issue(&store, v1, &first, &ids[..10], None).await;
    let update = alert("tl-2", MsgType::Update, vec![Reference::to(&first)]);
    let v2 = store.bookkeeping().draft_next_version(warning, &update, wren, T0).await.unwrap();
    // The area moved: 5..15 now; 0..5 must still hear that it changed.
    assert_eq!(issue(&store, v2, &update, &ids[5..15], Some(v1)).await, 15);
    let versions = store.versions_of_warning(warning).await.unwrap();
    let states: Vec<VersionState> = versions.iter().map(|v| v.state).collect();
    assert_eq!(states, vec![VersionState::Superseded, VersionState::Issued]);
    assert_eq!(store.issued_versions().await.unwrap().len(), 1);
    assert_eq!(store.latest_versions_in_unit(unit).await.unwrap()[0].id, v2);
}

async fn claims_lease_deliveries_and_expired_leases_are_taken_up_again(store: Store) {
    issued_to_new_recipients(&store, 10).await;

    let lease = T0.plus_millis(30_000);
    let claimed = store.bookkeeping().claim_due_deliveries(T0, lease, 6).await.unwrap();
    assert_eq!(claimed.len(), 6);
    assert!(claimed.iter().all(|c| c.attempts == 1 && c.channel == Channel::Webhook));
    // While leased, those six are not handed out again.
    let rest = store.bookkeeping().claim_due_deliveries(T0, lease, 100).await.unwrap();
    assert_eq!(rest.len(), 4);
    assert!(store
        .bookkeeping()
        .claim_due_deliveries(T0.plus_millis(1), lease, 100)
        .await
        .unwrap()
        .is_empty());
    // The dispatcher that held them died; after the lease they are taken up, attempt 2.
    let retaken =
        store.bookkeeping().claim_due_deliveries(lease, lease.plus_millis(30_000), 100).await.unwrap();
    assert_eq!(retaken.len(), 10);
    assert!(retaken.iter().all(|c| c.attempts == 2));
}

async fn a_stale_dispatcher_cannot_overwrite_a_newer_attempt(store: Store) {
    let (version, _) = issued_to_new_recipients(&store, 1).await;
    let stale = store.bookkeeping().claim_due_deliveries(T0, T0.plus_millis(10), 1).await.unwrap().remove(0);
    let fresh = store
        .bookkeeping()
        .claim_due_deliveries(T0.plus_millis(10), T0.plus_millis(20), 1)
        .await
        .unwrap()
        .remove(0);
    let outcome = |claim: &tearline_store::ClaimedDelivery, state| claim.outcome(state, T0, None);
    store.bookkeeping().record_attempts(&[outcome(&fresh, DeliveryState::Sent)], T0).await.unwrap();
    store.bookkeeping().record_attempts(&[outcome(&stale, DeliveryState::Failed)], T0).await.unwrap();
    let counts = store.delivery_counts(version).await.unwrap();
    assert_eq!((counts.sent, counts.failed), (1, 0));
}

/// A delivery handed back unattempted is taken up again at once with its attempt not
/// counted, a first attempt included (it is behind the dispatch cursor, so only the retry
/// index finds it); a hand-back from a dispatcher whose lease ran out changes nothing.
async fn a_delivery_handed_back_is_taken_up_again_uncounted(store: Store) {
    let (_, ids) = issued_to_new_recipients(&store, 3).await;
    let lease = T0.plus_millis(60_000);
    let first = store.bookkeeping().claim_due_deliveries(T0, lease, 3).await.unwrap();
    assert!(first.iter().all(|c| c.attempts == 1));
    let handed: Vec<AttemptOutcome> =
        first.iter().map(|c| c.outcome(DeliveryState::Sending, T0.plus_millis(5), None)).collect();
    store.bookkeeping().record_attempts(&handed, T0.plus_millis(5)).await.unwrap();
    let lease = lease.plus_millis(5);
    let again = store.bookkeeping().claim_due_deliveries(T0.plus_millis(5), lease, 10).await.unwrap();
    let mut retaken: Vec<(i64, i64)> = again.iter().map(|c| (c.recipient_id, c.attempts)).collect();
    retaken.sort_unstable();
    assert_eq!(
        retaken,
        ids.iter().map(|&id| (id, 1)).collect::<Vec<_>>(),
        "each taken up again, as a first attempt"
    );
    // The first claims' holder hands back late: its claims were taken up again meanwhile.
    store.bookkeeping().record_attempts(&handed, T0.plus_millis(6)).await.unwrap();
    let counts = store.delivery_counts(first[0].version_id).await.unwrap();
    assert_eq!(counts.sending, 3, "still held by the second claim");
    let stale_handed_back =
        "SELECT COUNT(*) FROM deliveries WHERE attempts = 0 OR next_attempt_at <> ".to_owned();
    assert_eq!(store.count_unchecked(&format!("{stale_handed_back}{}", lease.0)).await.unwrap(), 0);
}

/// Outcomes are written back as they were decided, receivers' error texts exactly as
/// received whatever they hold, each to its own delivery.
async fn outcomes_are_recorded_exactly_with_any_error_text(store: Store) {
    issued_to_new_recipients(&store, 3).await;
    let claimed = store.bookkeeping().claim_due_deliveries(T0, T0.plus_millis(60_000), 3).await.unwrap();
    let hostile = "it's \"odd\" \\ ', $1); DROP TABLE deliveries; -- \u{1F6A8}";
    let decided = [
        (DeliveryState::Sent, T0, None),
        (DeliveryState::Failed, T0, Some(hostile)),
        (DeliveryState::Queued, T0.plus_millis(5_000), Some("HTTP 503")),
    ];
    let outcomes: Vec<AttemptOutcome> = claimed
        .iter()
        .zip(decided)
        .map(|(claim, (state, next_attempt_at, error))| {
            claim.outcome(state, next_attempt_at, error.map(str::to_owned))
        })
        .collect();
    store.bookkeeping().record_attempts(&outcomes, T0.plus_millis(7)).await.unwrap();
    let count = |condition: String| {
        let store = store.clone();
        async move {
            store
                .count_unchecked(&format!("SELECT COUNT(*) FROM deliveries WHERE {condition}"))
                .await
                .unwrap()
        }
    };
    let r = |i: usize| claimed[i].recipient_id;
    let sent =
        format!("recipient_id = {} AND state = 2 AND sent_at = {} AND last_error IS NULL", r(0), T0.0 + 7);
    assert_eq!(count(sent).await, 1);
    let failed =
        format!("recipient_id = {} AND state = 3 AND last_error = '{}'", r(1), hostile.replace('\'', "''"));
    assert_eq!(count(failed).await, 1, "the error text is stored as received");
    let retry = format!(
        "recipient_id = {} AND state = 0 AND next_attempt_at = {} AND last_error = 'HTTP 503' AND sent_at IS NULL",
        r(2),
        T0.0 + 5_000
    );
    assert_eq!(count(retry).await, 1);
}

async fn recipients_upsert_by_external_id_and_report_changes_by_revision(store: Store) {
    let ids = recipients(&store, 3).await;
    let changes = store.recipient_changes_since((0, 0), 100).await.unwrap();
    assert_eq!(changes.len(), 3);
    let revision = changes[0].revision;
    let paged = store.recipient_changes_since((revision, ids[0]), 1).await.unwrap();
    assert_eq!(paged.iter().map(|c| c.id).collect::<Vec<_>>(), vec![ids[1]], "pages within one revision");
    let moved = Registration {
        external_id: Some("r1".into()),
        name: "Moved".into(),
        kind: RecipientKind::School,
        channel: Channel::Sms,
        address: "+441632960000".into(),
        position: LatLon { lat: 1.0, lon: 2.0 },
        language: Some("ar".into()),
    };
    assert_eq!(store.bookkeeping().upsert_recipients(&[moved], T0).await.unwrap(), vec![ids[1]]);
    let stored = store.recipients_by_id(&[ids[1]]).await.unwrap();
    assert_eq!(stored[0].language.as_deref(), Some("ar"), "the language is kept and updated by re-import");
    store.bookkeeping().deactivate_recipient(ids[2]).await.unwrap();
    let later = store.recipient_changes_since((revision, i64::MAX), 100).await.unwrap();
    assert_eq!(
        later.iter().map(|c| (c.id, c.active)).collect::<Vec<_>>(),
        vec![(ids[1], true), (ids[2], false)]
    );
    assert_eq!(later[0].position, LatLon { lat: 1.0, lon: 2.0 });
    assert_eq!(store.recipient_count().await.unwrap(), 2);
    assert!(matches!(store.bookkeeping().deactivate_recipient(999).await, Err(StoreError::NotFound(_))));
    // The same external id twice in one import: registered once, as the last row says.
    let twice = |name: &str| Registration {
        external_id: Some("dup".into()),
        name: name.into(),
        kind: RecipientKind::Siren,
        channel: Channel::Webhook,
        address: "http://127.0.0.1:9/dup".into(),
        position: LatLon { lat: 3.0, lon: 4.0 },
        language: None,
    };
    let ids = store.bookkeeping().upsert_recipients(&[twice("first"), twice("second")], T0).await.unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(store.recipients_by_id(&ids).await.unwrap()[0].name, "second");
}

async fn only_drafts_can_be_edited_and_a_version_is_issued_once(store: Store) {
    let (unit, wren) = officer(&store).await;
    let first = alert("tl-1", MsgType::Alert, vec![]);
    let (_, version) = store.bookkeeping().create_warning(unit, None, &first, wren, T0).await.unwrap();
    let mut edited = first.clone();
    edited.infos[0].headline = Some("Edited".into());
    store.bookkeeping().edit_draft(version, &edited).await.unwrap();
    assert!(store
        .bookkeeping()
        .move_version(version, VersionState::Draft, VersionState::AwaitingApproval)
        .await
        .unwrap());
    assert!(!store
        .bookkeeping()
        .move_version(version, VersionState::Draft, VersionState::AwaitingApproval)
        .await
        .unwrap());
    assert!(matches!(store.bookkeeping().edit_draft(version, &first).await, Err(StoreError::Conflict(_))));
    issue(&store, version, &edited, &[], None).await;
    let again = IssueVersion {
        version_id: version,
        alert: &edited,
        approved_by: None,
        at: T0,
        targets: &[],
        carry_from: None,
    };
    assert!(matches!(store.bookkeeping().issue_version(again).await, Err(StoreError::Conflict(_))));
    // Identifiers are unique across all warnings.
    assert!(matches!(
        store.bookkeeping().create_warning(unit, None, &first, wren, T0).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn partner_alerts_are_unique_by_sender_identifier_and_sent(store: Store) {
    let partner = alert("partner-1", MsgType::Alert, vec![]);
    store.bookkeeping().insert_partner_alert(&partner, &partner.to_xml(), "upload", T0).await.unwrap();
    let duplicate = store.bookkeeping().insert_partner_alert(&partner, &partner.to_xml(), "upload", T0).await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
    let stored = store.partner_alerts(10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].alert, partner);
}

async fn partner_keys_are_kept_per_sender_once_each_and_can_be_withdrawn(store: Store) {
    let (_, wren) = officer(&store).await;
    let key = |sender: &str, fingerprint: char| PartnerKeyRecord {
        id: 0,
        sender: sender.into(),
        label: "signing key".into(),
        public_key: "-----BEGIN PUBLIC KEY-----".into(),
        fingerprint: fingerprint.to_string().repeat(64),
        added_at: T0,
    };
    let first = store.bookkeeping().add_partner_key(&key("a@partner", 'a'), wren).await.unwrap();
    store.bookkeeping().add_partner_key(&key("a@partner", 'b'), wren).await.unwrap();
    store.bookkeeping().add_partner_key(&key("b@partner", 'a'), wren).await.unwrap();
    let again = store.bookkeeping().add_partner_key(&key("a@partner", 'a'), wren).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let short = PartnerKeyRecord { fingerprint: "ab".into(), ..key("c@partner", 'c') };
    assert!(
        store.bookkeeping().add_partner_key(&short, wren).await.is_err(),
        "the schema checks the fingerprint"
    );
    assert_eq!(store.partner_keys(Some("a@partner")).await.unwrap().len(), 2);
    assert_eq!(store.partner_keys(Some("nobody")).await.unwrap(), vec![]);
    assert_eq!(store.partner_keys(None).await.unwrap().len(), 3);
    store.bookkeeping().remove_partner_key(first).await.unwrap();
    assert!(matches!(store.bookkeeping().remove_partner_key(first).await, Err(StoreError::NotFound(_))));
    let left = store.partner_keys(Some("a@partner")).await.unwrap();
    assert_eq!(
        (left.len(), left[0].fingerprint.as_str(), left[0].added_at),
        (1, "b".repeat(64).as_str(), T0)
    );
}

/// Delivers every queued delivery: answers come from recipients a message reached.
async fn deliver_all(store: &Store) {
    let claimed = store.bookkeeping().claim_due_deliveries(T0, T0.plus_millis(60_000), 10_000).await.unwrap();
    let sent: Vec<AttemptOutcome> =
        claimed.iter().map(|c| c.outcome(DeliveryState::Sent, T0, None)).collect();
    store.bookkeeping().record_attempts(&sent, T0).await.unwrap();
}

/// A warning issued to three recipients and delivered to each: its version and their ids.
async fn delivered_to_three(store: &Store) -> (i64, Vec<i64>) {
    let (unit, wren) = officer(store).await;
    let ids = recipients(store, 3).await;
    let first = alert("tl-1", MsgType::Alert, vec![]);
    let (_, version) = store.bookkeeping().create_warning(unit, None, &first, wren, T0).await.unwrap();
    issue(store, version, &first, &ids, None).await;
    deliver_all(store).await;
    (version, ids)
}

async fn acknowledgements_are_counted(store: Store) {
    let (version, ids) = issued_to_new_recipients(&store, 3).await;
    assert!(
        !store.bookkeeping().acknowledge_delivery(version, ids[0], AckStatus::Safe, T0).await.unwrap(),
        "no answer before the message went out"
    );
    deliver_all(&store).await;
    assert!(store.bookkeeping().acknowledge_delivery(version, ids[0], AckStatus::Safe, T0).await.unwrap());
    assert!(store
        .bookkeeping()
        .acknowledge_delivery(version, ids[1], AckStatus::Received, T0)
        .await
        .unwrap());
    assert!(!store.bookkeeping().acknowledge_delivery(version, 999, AckStatus::Safe, T0).await.unwrap());
    let counts = store.delivery_counts(version).await.unwrap();
    assert_eq!((counts.acknowledged, counts.safe, counts.sent), (2, 1, 1));
}

async fn a_later_received_never_hides_help_or_safe_and_responders_see_who_needs_help(store: Store) {
    let (version, ids) = delivered_to_three(&store).await;
    let answer = |recipient: i64, status: AckStatus, at: i64| {
        let store = store.clone();
        async move {
            store.bookkeeping().acknowledge_delivery(version, recipient, status, Timestamp(at)).await.unwrap()
        }
    };
    assert!(answer(ids[0], AckStatus::Help, T0.0 + 2).await);
    assert!(answer(ids[0], AckStatus::Received, T0.0 + 3).await, "answering again is accepted");
    assert!(answer(ids[1], AckStatus::Help, T0.0 + 1).await);
    assert!(answer(ids[2], AckStatus::Safe, T0.0 + 1).await);
    assert!(answer(ids[2], AckStatus::Received, T0.0 + 4).await);
    let counts = store.delivery_counts(version).await.unwrap();
    assert_eq!((counts.acknowledged, counts.safe, counts.help), (3, 1, 2), "{counts:?}");
    let waiting = store.needing_help(version).await.unwrap();
    let order: Vec<(i64, i64)> = waiting.iter().map(|(r, at)| (r.id, at.0)).collect();
    assert_eq!(
        order,
        vec![(ids[1], T0.0 + 1), (ids[0], T0.0 + 2)],
        "longest waiting first, kept time of asking"
    );
    assert!(answer(ids[1], AckStatus::Safe, T0.0 + 5).await);
    assert_eq!(store.needing_help(version).await.unwrap().len(), 1, "reached and safe now");
}

async fn two_dispatchers_never_claim_the_same_delivery(store: Store) {
    // Over two runs of targets, so that both dispatchers also race to expand them.
    let (_, ids) = issued_to_new_recipients(&store, 2 * TARGETS_PER_RUN + 400).await;
    // A second process on the same database, claiming at the same time.
    let other = Store::open(store.url()).await.unwrap();
    let claim_all = |store: Store| async move {
        let mut mine = Vec::new();
        loop {
            let batch =
                store.bookkeeping().claim_due_deliveries(T0, T0.plus_millis(60_000), 1_500).await.unwrap();
            if batch.is_empty() {
                return mine;
            }
            mine.extend(batch.into_iter().map(|c| c.recipient_id));
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(claim_all(store.clone())), tokio::spawn(claim_all(other)));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut all: Vec<i64> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    let claimed = all.len();
    all.dedup();
    assert_eq!(claimed, all.len(), "a delivery was claimed twice");
    assert_eq!(all, ids, "every delivery was claimed");
}

/// A first issue writes its targets as runs; claims turn each run into rows as the
/// dispatch cursor reaches it, in recipient order, each delivery once. The counts include
/// what is still in runs, and an update issued before the runs were reached still reaches
/// everyone the first version targeted.
async fn a_national_warning_is_queued_as_runs_that_become_rows_once(store: Store) {
    let (unit, wren) = officer(&store).await;
    let ids = recipients(&store, 2 * TARGETS_PER_RUN + 7).await;
    let first = alert("tl-1", MsgType::Alert, vec![]);
    let (warning, v1) = store.bookkeeping().create_warning(unit, None, &first, wren, T0).await.unwrap();
    assert_eq!(issue(&store, v1, &first, &ids, None).await, ids.len() as i64);
    let queued_rows = "SELECT COUNT(*) FROM deliveries";
    assert_eq!(store.count_unchecked(queued_rows).await.unwrap(), 0, "no row per recipient at issue");
    assert_eq!(store.delivery_counts(v1).await.unwrap().queued, ids.len() as i64);
    assert_eq!(
        store.gauges().await.unwrap().deliveries_by_state,
        [(DeliveryState::Queued, ids.len() as i64)]
    );

    let lease = T0.plus_millis(60_000);
    let claimed = store.bookkeeping().claim_due_deliveries(T0, lease, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|c| c.recipient_id).collect::<Vec<_>>(), ids[..10]);
    assert_eq!(
        store.count_unchecked(queued_rows).await.unwrap(),
        TARGETS_PER_RUN as i64,
        "only the first run became rows"
    );
    let counts = store.delivery_counts(v1).await.unwrap();
    assert_eq!(
        (counts.sending, counts.queued, counts.total()),
        (10, ids.len() as i64 - 10, ids.len() as i64)
    );

    // An update before the dispatcher reached the other runs: everyone first targeted hears.
    let update = alert("tl-2", MsgType::Update, vec![Reference::to(&first)]);
    let v2 = store.bookkeeping().draft_next_version(warning, &update, wren, T0).await.unwrap();
    assert_eq!(issue(&store, v2, &update, &ids[..5], Some(v1)).await, ids.len() as i64);

    // A claim across a run's edge takes the rest of one run and the start of the next, in order.
    let across =
        store.bookkeeping().claim_due_deliveries(T0, lease, 3 * TARGETS_PER_RUN as i64).await.unwrap();
    let mut seen: Vec<i64> =
        claimed.iter().chain(&across).filter(|c| c.version_id == v1).map(|c| c.recipient_id).collect();
    seen.sort_unstable();
    let before = seen.len();
    seen.dedup();
    assert_eq!(before, seen.len(), "a delivery was claimed twice");
    let rest = store.bookkeeping().claim_due_deliveries(T0, lease, 3 * TARGETS_PER_RUN as i64).await.unwrap();
    seen.extend(rest.iter().filter(|c| c.version_id == v1).map(|c| c.recipient_id));
    seen.sort_unstable();
    assert_eq!(seen, ids, "every target of the first version was claimed once");
    assert_eq!(store.count_unchecked("SELECT COUNT(*) FROM delivery_targets").await.unwrap(), 0);
    assert_eq!(store.delivery_counts(v1).await.unwrap().sending, ids.len() as i64);
}

/// A batch of answers (group commit) stands exactly as the same answers one by one would:
/// in order, a later "received" never hiding "help", a missing delivery said to be missing.
async fn answers_in_one_batch_stand_as_if_given_one_by_one(store: Store) {
    let (version, ids) = delivered_to_three(&store).await;
    let answer = |recipient_id, status, at: i64| DeliveryAnswer {
        version_id: version,
        recipient_id,
        status,
        at: Timestamp(at),
    };
    let answers = [
        answer(ids[0], AckStatus::Help, T0.0 + 1),
        answer(ids[0], AckStatus::Received, T0.0 + 2),
        answer(ids[1], AckStatus::Help, T0.0 + 3),
        answer(999_999, AckStatus::Safe, T0.0 + 3),
        answer(ids[1], AckStatus::Safe, T0.0 + 4),
    ];
    assert_eq!(
        store.bookkeeping().answer_deliveries(&answers).await.unwrap(),
        [true, true, true, false, true]
    );
    let counts = store.delivery_counts(version).await.unwrap();
    assert_eq!((counts.acknowledged, counts.help, counts.safe), (2, 1, 1), "{counts:?}");
    let waiting = store.needing_help(version).await.unwrap();
    assert_eq!(waiting.iter().map(|(r, at)| (r.id, at.0)).collect::<Vec<_>>(), [(ids[0], T0.0 + 1)]);
}

/// Two servers on one PostgreSQL database committing batches over the same deliveries,
/// listed in opposite orders, at once: rows are locked in key order, so neither waits on the
/// other for ever. (Several servers share PostgreSQL; a SQLite database has one server,
/// whose writers take turns in-process.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_answering_the_same_deliveries_at_once_never_deadlock() {
    let (store, _database) = tearline_store::testing::fresh_store(tearline_store::Backend::Postgres).await;
    let (version, ids) = delivered_to_three(&store).await;
    let other = Store::open(store.url()).await.unwrap();
    let answers = |ids: Vec<i64>| -> Vec<DeliveryAnswer> {
        ids.into_iter()
            .map(|recipient_id| DeliveryAnswer {
                version_id: version,
                recipient_id,
                status: AckStatus::Safe,
                at: T0,
            })
            .collect()
    };
    let forwards = answers(ids.clone());
    let backwards = answers(ids.iter().rev().copied().collect());
    for _ in 0..20 {
        let (a, b) = tokio::join!(
            store.bookkeeping().answer_deliveries(&forwards),
            other.bookkeeping().answer_deliveries(&backwards)
        );
        assert_eq!((a.unwrap(), b.unwrap()), (vec![true; 3], vec![true; 3]));
    }
    assert_eq!(store.delivery_counts(version).await.unwrap().safe, 3);
}
