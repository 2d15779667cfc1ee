//! What the operation kernel stands on, on SQLite and on PostgreSQL: a change commits
//! together with its audit entry or not at all, an entry whose process died before
//! settling it still reaches the log, and the database itself holds the rules that
//! concurrent requests race for.

use std::time::Duration;

use tearline_domain::audit::{AuditEvent, AuditLog, Outcome};
use tearline_domain::{Role, Timestamp};
use tearline_lifecycle::authorisation::{Application, AuthorisationKind, Grant};
use tearline_lifecycle::calendar::DAY;
use tearline_lifecycle::ledger::Currency;
use tearline_store::testing::{case, fail_audit_writes, new_signer};
use tearline_store::{on_both_backends, Approval, MerkleLog, NewPayment, Payment, Store, StoreError};

on_both_backends!(
    a_change_commits_with_its_audit_entry_in_the_same_transaction,
    an_entry_names_what_its_change_created_only_when_it_said_new,
    a_change_whose_entry_cannot_be_written_leaves_nothing_and_recovers_when_the_fault_clears,
    a_refused_change_leaves_no_entry,
    an_entry_committed_but_never_settled_is_appended_by_the_next_log,
    every_reader_sees_every_entry_committed_before_it_asked_in_any_process,
    parallel_grants_leave_one_live_authorisation,
    parallel_approvals_never_jointly_cross_a_threshold,
    the_same_payment_approved_twice_at_once_is_approved_once_with_one_entry,
);

const T0: Timestamp = Timestamp(1_764_000_000_000);

fn event(action: &str, object: &str) -> AuditEvent {
    AuditEvent {
        at: T0,
        actor: None,
        action: action.into(),
        object: object.into(),
        reason: None,
        outcome: Outcome::Allowed,
    }
}

async fn entries(log: &MerkleLog) -> Vec<AuditEvent> {
    let size = log.size().await.unwrap();
    log.read(0, size).await.unwrap().into_iter().map(|r| r.event).collect()
}

async fn a_change_commits_with_its_audit_entry_in_the_same_transaction(store: Store) {
    let log = MerkleLog::start(store.clone(), new_signer());
    let unit = log.audited(event("unit.create", "unit:new")).create_unit("North", T0).await.unwrap();
    let logged = entries(&log).await;
    assert_eq!(logged.len(), 1, "the entry is in the verifiable log when the change returns");
    assert_eq!(logged[0].object, format!("unit:{}", unit.0), "a created record is named by its new id");
    let pending: i64 = sqlx_count(&store, "SELECT COUNT(*) FROM audit_pending").await;
    assert_eq!(pending, 0, "a settled entry leaves no pending row");
}

/// `kind:new` becomes the ids the change created, all of them for a change that creates
/// several; an object that names something else (the unit a threat is assessed in) stays.
async fn an_entry_names_what_its_change_created_only_when_it_said_new(store: Store) {
    let log = MerkleLog::start(store.clone(), new_signer());
    log.audited(event("unit.create", "unit:7")).create_unit("North", T0).await.unwrap();
    assert_eq!(entries(&log).await[0].object, "unit:7", "an object that was not kind:new is kept");
    let unit = store.units().await.unwrap()[0].id;
    let content = |title: &str| tearline_store::ReportContent {
        title: title.into(),
        body: "Partner text.".into(),
        grading: tearline_store::Grading {
            admiralty: tearline_intel::grading::Admiralty::UNJUDGED,
            source_evaluation: tearline_intel::grading::SourceEvaluation::Untested,
            intelligence_assessment: tearline_intel::grading::IntelligenceAssessment::C,
            handling: tearline_intel::grading::HandlingCode::P,
            tlp: tearline_intel::grading::Tlp::Amber,
        },
        place: None,
    };
    let (a, b) = (content("A"), content("B"));
    let reports = [
        tearline_store::PartnerImport {
            stix_id: "report--11111111-1111-4111-8111-111111111111",
            content: &a,
            entities: Vec::new(),
        },
        tearline_store::PartnerImport {
            stix_id: "report--22222222-2222-4222-8222-222222222222",
            content: &b,
            entities: Vec::new(),
        },
    ];
    let ids = log
        .audited(event("intel.import", "intel-report:new"))
        .import_partner_reports(unit, &reports, T0)
        .await
        .unwrap();
    assert_eq!(entries(&log).await[1].object, format!("intel-report:{},{}", ids[0], ids[1]));
}

async fn a_change_whose_entry_cannot_be_written_leaves_nothing_and_recovers_when_the_fault_clears(
    store: Store,
) {
    let log = MerkleLog::start(store.clone(), new_signer());
    fail_audit_writes(&store, true).await;
    let refused = log.audited(event("unit.create", "unit:new")).create_unit("North", T0).await;
    assert!(refused.is_err(), "no change without its entry");
    assert!(store.units().await.unwrap().is_empty(), "the database is unchanged");
    assert!(log.append(&event("source.read", "source:1")).await.is_err(), "reads are refused too");
    fail_audit_writes(&store, false).await;
    log.audited(event("unit.create", "unit:new")).create_unit("North", T0).await.unwrap();
    assert_eq!(store.units().await.unwrap().len(), 1);
    assert_eq!(entries(&log).await.len(), 1, "the log recovers without a restart");
}

async fn a_refused_change_leaves_no_entry(store: Store) {
    let log = MerkleLog::start(store.clone(), new_signer());
    log.audited(event("unit.create", "unit:new")).create_unit("North", T0).await.unwrap();
    let duplicate = log.audited(event("unit.create", "unit:new")).create_unit("North", T0).await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
    assert_eq!(entries(&log).await.len(), 1, "no entry for a change that did not commit");
}

async fn an_entry_committed_but_never_settled_is_appended_by_the_next_log(store: Store) {
    // What a process leaves when it dies between committing a change and settling its
    // entry: the entry in audit_pending, committed with the change.
    let data = tearline_auditlog::entry::encode(&event("unit.create", "unit:1"));
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    let literal = match store.backend() {
        tearline_store::Backend::Sqlite => format!("X'{hex}'"),
        tearline_store::Backend::Postgres => format!("'\\x{hex}'::bytea"),
    };
    store
        .execute_unchecked(&format!("INSERT INTO audit_pending (data, queued_at) VALUES ({literal}, 0)"))
        .await
        .unwrap();
    let log = MerkleLog::start(store.clone(), new_signer());
    let mut waited = 0;
    while log.size().await.unwrap() == 0 {
        assert!(waited < 100, "the sweep did not append the pending entry");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(entries(&log).await, vec![event("unit.create", "unit:1")]);
    // A second process starting now finds nothing left: the entry is appended once.
    let second = MerkleLog::start(store.clone(), new_signer());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(second.size().await.unwrap(), 1);
    assert_eq!(sqlx_count(&store, "SELECT COUNT(*) FROM audit_pending").await, 0);
}

/// A change answers once its entry is committed, before the entry is in the Merkle log;
/// a reader of the log, in this process or another, first settles every committed entry.
/// Two logs on one database stand for two server processes.
async fn every_reader_sees_every_entry_committed_before_it_asked_in_any_process(store: Store) {
    let (writer, reader) =
        (MerkleLog::start(store.clone(), new_signer()), MerkleLog::start(store.clone(), new_signer()));
    for n in 1..=20_u64 {
        let name = format!("Unit {n}");
        writer.audited(event("unit.create", "unit:new")).create_unit(&name, T0).await.unwrap();
        assert_eq!(reader.size().await.unwrap(), n, "the other process's reader sees entry {n}");
        assert_eq!(writer.size().await.unwrap(), n, "this process's reader sees entry {n}");
    }
    let changes = (0..16).map(|n| {
        let writer = writer.clone();
        tokio::spawn(async move {
            writer.audited(event("unit.create", "unit:new")).create_unit(&format!("Parallel {n}"), T0).await
        })
    });
    for outcome in futures_join(changes.collect()).await {
        outcome.unwrap();
    }
    let logged = entries(&reader).await;
    assert_eq!(logged.len(), 36, "every committed entry once");
    let mut objects: Vec<&str> = logged.iter().map(|e| e.object.as_str()).collect();
    objects.sort_unstable();
    objects.dedup();
    assert_eq!(objects.len(), 36, "no entry appended twice");
    assert_eq!(sqlx_count(&store, "SELECT COUNT(*) FROM audit_pending").await, 0);
}

async fn parallel_grants_leave_one_live_authorisation(store: Store) {
    let c = case(
        &store,
        &[("hana", Role::Handler), ("carl", Role::Controller), ("ava", Role::AuthorisingOfficer)],
        T0,
    )
    .await;
    let application = Application {
        kind: AuthorisationKind::AdultWritten,
        vulnerable: false,
        case: tearline_store::testing::sealed_text("application"),
    };
    let mut applications = Vec::new();
    for _ in 0..8 {
        applications.push(
            store
                .bookkeeping()
                .apply_for_authorisation(c.source, &application, c.staff[0], T0)
                .await
                .unwrap(),
        );
    }
    let grant = Grant {
        kind: AuthorisationKind::AdultWritten,
        starts_at: T0,
        expires_at: T0.plus_millis(365 * DAY),
        review_every_millis: 30 * DAY,
    };
    let grants = applications.iter().map(|id| {
        let (store, grant, officer) = (store.clone(), grant, c.staff[2]);
        let id = *id;
        tokio::spawn(async move { store.bookkeeping().grant_authorisation(id, officer, &grant, "").await })
    });
    let mut granted = 0;
    for result in futures_join(grants.collect()).await {
        match result {
            Ok(()) => granted += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("a racing grant failed otherwise: {other}"),
        }
    }
    assert_eq!(granted, 1, "the database lets exactly one grant through");
    let live = sqlx_count(&store, "SELECT COUNT(*) FROM authorisations WHERE state = 'granted'").await;
    assert_eq!(live, 1);
}

async fn futures_join<T: Send + 'static>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

async fn sqlx_count(store: &Store, sql: &str) -> i64 {
    store.count_unchecked(sql).await.unwrap()
}

/// `count` requested payments of `amount` for the case's source, by its handler.
async fn requested_payments(
    store: &Store,
    c: &tearline_store::testing::Case,
    count: usize,
    amount: &str,
) -> Vec<Payment> {
    let amount = Currency::parse("GBP").unwrap().amount(amount).unwrap();
    let mut payments = Vec::new();
    for _ in 0..count {
        let request = NewPayment {
            source_id: c.source,
            requested_by: c.staff[0],
            at: T0,
            amount,
            purpose: "expenses",
            thresholds_crossed: &[],
        };
        let id = store.bookkeeping().request_payment(request).await.unwrap();
        payments.push(store.payment(id).await.unwrap().unwrap());
    }
    payments
}

/// Eight standard controllers approve eight payments of 100 at once under a yearly
/// threshold of 300: each approval is judged on what its own transaction sees, so exactly
/// three get through and the rest are stopped, never a fourth.
async fn parallel_approvals_never_jointly_cross_a_threshold(store: Store) {
    let log = MerkleLog::start(store.clone(), new_signer());
    let c = case(&store, &[("hana", Role::Handler), ("carl", Role::Controller)], T0).await;
    let payments = requested_payments(&store, &c, 8, "100.00").await;
    let approvals = payments.into_iter().map(|payment| {
        let (log, controller) = (log.clone(), c.staff[1]);
        tokio::spawn(async move {
            let stops = |earlier: &[(Timestamp, i64)]| {
                let so_far: i64 = earlier.iter().map(|(_, minor)| minor).sum();
                if so_far + payment.amount.minor > 30_000 {
                    vec!["yearly"]
                } else {
                    Vec::new()
                }
            };
            log.audited(event("payment.approve", "payment"))
                .approve_payment(&payment, controller, T0, "", stops)
                .await
        })
    });
    let outcomes: Vec<Approval> =
        futures_join(approvals.collect()).await.into_iter().map(|result| result.unwrap()).collect();
    let posted = outcomes.iter().filter(|o| matches!(o, Approval::Posted(_))).count();
    assert_eq!(posted, 3, "{outcomes:?}");
    let approved = sqlx_count(&store, "SELECT COUNT(*) FROM payments WHERE state = 'approved'").await;
    assert_eq!(approved, 3);
    assert_eq!(entries(&log).await.len(), 3, "a stopped approval leaves no entry of its own");
}

/// Two approvals of one payment at once: one is posted, the other answers that the
/// payment was decided meanwhile, and the log holds one entry.
async fn the_same_payment_approved_twice_at_once_is_approved_once_with_one_entry(store: Store) {
    let log = MerkleLog::start(store.clone(), new_signer());
    let c = case(&store, &[("hana", Role::Handler), ("carl", Role::Controller)], T0).await;
    let payment = requested_payments(&store, &c, 1, "5.00").await.remove(0);
    let approvals = (0..2).map(|_| {
        let (log, controller, payment) = (log.clone(), c.staff[1], payment.clone());
        tokio::spawn(async move {
            log.audited(event("payment.approve", "payment"))
                .approve_payment(&payment, controller, T0, "", |_| Vec::new())
                .await
        })
    });
    let outcomes = futures_join(approvals.collect()).await;
    assert_eq!(outcomes.iter().filter(|o| matches!(o, Ok(Approval::Posted(_)))).count(), 1, "{outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|o| matches!(o, Err(StoreError::StateChanged(_)))).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(entries(&log).await.len(), 1);
    assert_eq!(store.ledger().await.unwrap().entries().len(), 1, "posted to the ledger once");
}
