//! The source-lifecycle part of the store contract, on SQLite and on PostgreSQL.

use tearline_domain::{Role, SourceId, Timestamp, UnitId, UserId};
use tearline_lifecycle::authorisation::{Application, AuthorisationKind, EventKind, Grant};
use tearline_lifecycle::calendar::DAY;
use tearline_lifecycle::ledger::{Account, Currency};
use tearline_store::testing::sealed_text;
use tearline_store::{
    on_both_backends, Approval, AuthorisationState, NewPayment, NewRiskAssessment, PaymentState,
    SealedColumns, Store, StoreError,
};

on_both_backends!(
    authorisations_never_overlap_and_decisions_are_conditional,
    the_register_keeps_every_event_including_refused_attempts,
    risk_assessments_are_versioned,
    a_payment_flows_through_the_ledger_which_balances_and_refuses_edits,
);

const T0: Timestamp = Timestamp(1_790_000_000_000);

struct Case {
    unit: UnitId,
    handler: UserId,
    controller: UserId,
    officer: UserId,
    source: SourceId,
}

async fn case(store: &Store) -> Case {
    let staff = [("hana", Role::Handler), ("carl", Role::Controller), ("ava", Role::AuthorisingOfficer)];
    let case = tearline_store::testing::case(store, &staff, T0).await;
    Case {
        unit: case.unit,
        handler: case.staff[0],
        controller: case.staff[1],
        officer: case.staff[2],
        source: case.source,
    }
}

fn application() -> Application<SealedColumns> {
    Application { kind: AuthorisationKind::AdultWritten, vulnerable: false, case: sealed_text("application") }
}

fn grant_at(at: Timestamp) -> Grant {
    Grant {
        kind: AuthorisationKind::AdultWritten,
        starts_at: at,
        expires_at: AuthorisationKind::AdultWritten.expiry(at),
        review_every_millis: 90 * DAY,
    }
}

async fn authorisations_never_overlap_and_decisions_are_conditional(store: Store) {
    let c = case(&store).await;
    let id =
        store.bookkeeping().apply_for_authorisation(c.source, &application(), c.handler, T0).await.unwrap();
    let second =
        store.bookkeeping().apply_for_authorisation(c.source, &application(), c.handler, T0).await.unwrap();
    store.bookkeeping().grant_authorisation(id, c.officer, &grant_at(T0), "granted").await.unwrap();
    let overlapping =
        store.bookkeeping().grant_authorisation(second, c.officer, &grant_at(T0.plus_millis(DAY)), "").await;
    assert!(matches!(overlapping, Err(StoreError::Conflict(_))), "{overlapping:?}");
    store
        .bookkeeping()
        .end_authorisation(second, EventKind::Refused, c.officer, T0, "duplicate")
        .await
        .unwrap();
    let twice = store.bookkeeping().grant_authorisation(id, c.officer, &grant_at(T0), "again").await;
    assert!(matches!(twice, Err(StoreError::StateChanged(_))), "{twice:?}");
    let while_live = store
        .bookkeeping()
        .apply_for_authorisation(c.source, &application(), c.handler, T0.plus_millis(DAY))
        .await;
    assert!(matches!(while_live, Err(StoreError::Conflict(_))));
    let record = store.authorisation(id).await.unwrap().unwrap();
    assert_eq!(record.state, AuthorisationState::Granted);
    assert_eq!(record.live_grant(T0), Some(grant_at(T0)));
    let expiry = grant_at(T0).expires_at;
    let renewed = AuthorisationKind::AdultWritten.expiry(expiry);
    store
        .bookkeeping()
        .renew_authorisation(id, c.officer, expiry, renewed, T0.plus_millis(300 * DAY), "renewed")
        .await
        .unwrap();
    let stale = store.bookkeeping().renew_authorisation(id, c.officer, expiry, renewed, T0, "stale").await;
    assert!(matches!(stale, Err(StoreError::StateChanged(_))));
    let cancel_at = T0.plus_millis(400 * DAY);
    store
        .bookkeeping()
        .end_authorisation(id, EventKind::Cancelled, c.officer, cancel_at, "no longer needed")
        .await
        .unwrap();
    let record = store.authorisation(id).await.unwrap().unwrap();
    assert_eq!(record.state, AuthorisationState::Cancelled);
    assert_eq!(record.deployment().map(|d| (d.from, d.until)), Some((T0, cancel_at)));
    // Cancelled: a new application may now be filed.
    store
        .bookkeeping()
        .apply_for_authorisation(c.source, &application(), c.handler, cancel_at.plus_millis(DAY))
        .await
        .unwrap();
    assert_eq!(store.authorisations_of(c.source).await.unwrap().len(), 3);
}

async fn the_register_keeps_every_event_including_refused_attempts(store: Store) {
    let c = case(&store).await;
    let id = store
        .bookkeeping()
        .apply_for_authorisation(c.source, &application(), c.controller, T0)
        .await
        .unwrap();
    store
        .bookkeeping()
        .note_refused_attempt(
            id,
            EventKind::RefusedSelfAuthorisation,
            c.controller,
            T0,
            "controller of the case",
        )
        .await
        .unwrap();
    store.bookkeeping().grant_authorisation(id, c.officer, &grant_at(T0), "").await.unwrap();
    let (assessment, _) = store
        .bookkeeping()
        .add_risk_assessment(NewRiskAssessment {
            source_id: c.source,
            assessed_by: c.handler,
            at: T0,
            risk_level: "medium",
            text: &sealed_text("risk"),
        })
        .await
        .unwrap();
    store
        .bookkeeping()
        .review_authorisation(id, c.officer, T0.plus_millis(DAY), "reviewed", assessment)
        .await
        .unwrap();
    let register = store.authorisation_register(c.unit).await.unwrap();
    assert_eq!(register.len(), 1);
    assert_eq!(register[0].code_name, "KESTREL");
    let kinds: Vec<EventKind> = register[0].events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::Applied, EventKind::RefusedSelfAuthorisation, EventKind::Granted, EventKind::Reviewed]
    );
    assert_eq!(register[0].events[1].actor, "carl");
    assert_eq!(register[0].events[3].risk_assessment_id, Some(assessment));
    assert_eq!(store.authorisation_events_of(c.source).await.unwrap(), register[0].events);
    assert!(store.authorisation_register(UnitId(c.unit.0 + 100)).await.unwrap().is_empty());
}

async fn risk_assessments_are_versioned(store: Store) {
    let c = case(&store).await;
    for (day, level) in [(0, "low"), (10, "high")] {
        let new = NewRiskAssessment {
            source_id: c.source,
            assessed_by: c.handler,
            at: T0.plus_millis(day * DAY),
            risk_level: level,
            text: &sealed_text(level),
        };
        store.bookkeeping().add_risk_assessment(new).await.unwrap();
    }
    let versions = store.risk_assessments(c.source).await.unwrap();
    assert_eq!(
        versions.iter().map(|r| (r.version, r.risk_level.as_str())).collect::<Vec<_>>(),
        [(2, "high"), (1, "low")]
    );
    // The narrative comes back exactly as the vault sealed it.
    assert_eq!(versions[0].text, sealed_text("high"));
    assert_eq!(versions[1].text, sealed_text("low"));
}

async fn a_payment_flows_through_the_ledger_which_balances_and_refuses_edits(store: Store) {
    let c = case(&store).await;
    let gbp = Currency::parse("GBP").unwrap();
    let amount = gbp.amount("150.00").unwrap();
    let request = |purpose| NewPayment {
        source_id: c.source,
        requested_by: c.handler,
        at: T0,
        amount,
        purpose,
        thresholds_crossed: &[],
    };
    let id = store.bookkeeping().request_payment(request("expenses")).await.unwrap();
    let refused_id = store.bookkeeping().request_payment(request("reward")).await.unwrap();
    let payment = store.payment(id).await.unwrap().unwrap();
    let Approval::Posted(approval) = store
        .bookkeeping()
        .approve_payment(&payment, c.controller, T0, "proportionate", |_| Vec::new())
        .await
        .unwrap()
    else {
        panic!("no threshold stops this approval")
    };
    assert!(matches!(
        store.bookkeeping().approve_payment(&payment, c.controller, T0, "twice", |_| Vec::new()).await,
        Err(StoreError::StateChanged(_))
    ));
    store.bookkeeping().refuse_payment(refused_id, c.controller, T0, "not justified").await.unwrap();
    assert!(matches!(
        store
            .bookkeeping()
            .record_payment_made(
                &store.payment(refused_id).await.unwrap().unwrap(),
                c.handler,
                c.controller,
                T0
            )
            .await,
        Err(StoreError::StateChanged(_))
    ));
    store
        .bookkeeping()
        .record_payment_made(&payment, c.handler, c.controller, T0.plus_millis(DAY))
        .await
        .unwrap();
    store.bookkeeping().record_receipt(id, "KESTREL", T0.plus_millis(DAY)).await.unwrap();
    let states: Vec<PaymentState> = store.payments(c.source).await.unwrap().iter().map(|p| p.state).collect();
    assert_eq!(states, [PaymentState::Receipted, PaymentState::Refused]);

    let reversal =
        store.bookkeeping().reverse_ledger_entry(approval, c.controller, T0, "correction").await.unwrap();
    assert!(matches!(
        store.bookkeeping().reverse_ledger_entry(approval, c.controller, T0, "again").await,
        Err(StoreError::Ledger(_))
    ));
    let ledger = store.ledger().await.unwrap();
    assert_eq!(ledger.entries().len(), 3);
    assert_eq!(ledger.entries()[2].reverses, Some(approval));
    assert_eq!(reversal, 3);
    assert!(ledger.trial_balance().values().all(|sum| *sum == 0));
    assert_eq!(ledger.balance(Account::Cash)[&gbp], -15_000);
    // The database itself refuses to edit or delete the books.
    for tamper in ["UPDATE ledger_lines SET amount_minor = 1", "DELETE FROM ledger_entries"] {
        assert!(store.execute_unchecked(tamper).await.is_err(), "{tamper}");
    }
    assert_eq!(store.ledger().await.unwrap(), ledger);
}
