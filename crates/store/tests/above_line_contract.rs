//! Sealed text in the store, on SQLite and on PostgreSQL: what is handed sealed comes back
//! as it was, text written before sealing waits in one holding table until the server
//! seals it, and a rotation re-wraps a data key only if it is still the one read.

use tearline_domain::{Role, Timestamp};
use tearline_store::testing::{sealed_text, Case};
use tearline_store::{on_both_backends, Backend, Rewrap, SealedTable, Store, StoreError};

const T0: Timestamp = Timestamp(1_700_000_000_000);

on_both_backends!(a_rotation_replaces_a_text_key_only_if_it_is_still_the_one_read);

async fn case(store: &Store) -> Case {
    tearline_store::testing::case(store, &[("hana", Role::Handler), ("carl", Role::Controller)], T0).await
}

async fn a_rotation_replaces_a_text_key_only_if_it_is_still_the_one_read(store: Store) {
    let c = case(&store).await;
    let text = sealed_text("welfare");
    let id = store.bookkeeping().record_welfare(c.source, c.staff[0], T0, "check", &text).await.unwrap();
    let pending = store.sealed_texts_not_under(SealedTable::Welfare, 2).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].0, &pending[0].1, &pending[0].2), (id, &c.reference, &text));
    let rewrap = |previous| Rewrap { id, previous, key_id: 2, wrapped_key: vec![8; 72] };
    let stale = sealed_text("welfare");
    let stale = tearline_store::SealedColumns { wrapped_key: vec![0; 72], ..stale };
    let replaced =
        store.bookkeeping().replace_text_wrapped_keys(SealedTable::Welfare, &[rewrap(&stale)]).await.unwrap();
    assert!(replaced.is_empty(), "a key that is no longer the one read stays");
    let replaced =
        store.bookkeeping().replace_text_wrapped_keys(SealedTable::Welfare, &[rewrap(&text)]).await.unwrap();
    assert_eq!(replaced, [id]);
    let stored = &store.welfare_records(c.source).await.unwrap()[0].text;
    assert_eq!(
        (stored.key_id, stored.wrapped_key.as_slice(), &stored.ciphertext),
        (2, [8; 72].as_slice(), &text.ciphertext)
    );
    assert!(store.sealed_texts_not_under(SealedTable::Welfare, 2).await.unwrap().is_empty());
}

/// Every kind of text a build before version 13 wrote in the clear, with a marker.
const LEGACY_ROWS: &str = "
    INSERT INTO contacts (source_id, logged_by, at, method, place, summary, authorised, logged_at)
        VALUES ({source}, {user}, 1, 'meeting', 'MARKER-PLACE', 'MARKER-SUMMARY', 1, 1);
    INSERT INTO welfare_records (source_id, recorded_by, at, kind, notes)
        VALUES ({source}, {user}, 1, 'check', 'MARKER-WELFARE');
    INSERT INTO risk_assessments (source_id, version, assessed_by, assessed_at, risk_level, summary, mitigations,
        explained_and_understood) VALUES ({source}, 1, {user}, 1, 'low', 'MARKER-RISK', 'MARKER-MITIGATION', 1);
    INSERT INTO authorisations (source_id, kind, vulnerable, necessity, proportionality, purpose, tasking,
        collateral_intrusion, confidential_information, applicant_id, applied_at, state)
        VALUES ({source}, 'adult-written', 0, 'MARKER-N', 'MARKER-P', 'MARKER-PURPOSE', 'MARKER-T', 'MARKER-C',
        'MARKER-I', {user}, 1, 'applied');
    INSERT INTO contact_reports (source_id, handler_id, met_at, place, present, method, account, tasks_given,
        welfare, created_at) VALUES ({source}, {user}, 1, 'MARKER-CR-PLACE', 'MARKER-PRESENT', 'meeting',
        'MARKER-ACCOUNT', 'MARKER-TASKS', 'MARKER-CR-WELFARE', 1);";

/// Migration 13 moves text written in the clear into the holding table, where the server
/// seals it into its record: until then a read of the record says to start the server.
async fn text_written_before_sealing_waits_to_be_sealed(backend: Backend) {
    let database = tearline_store::testing::fresh_database(backend).await;
    let old = Store::open_at_version(&database.url, 12).await.unwrap();
    let c = case(&old).await;
    let rows =
        LEGACY_ROWS.replace("{source}", &c.source.0.to_string()).replace("{user}", &c.staff[0].0.to_string());
    old.execute_unchecked(&rows).await.unwrap();
    drop(old);
    let store = Store::open(&database.url).await.unwrap();
    let not_yet = store.contacts(c.source).await.unwrap_err();
    assert!(matches!(&not_yet, StoreError::Corrupt(m) if m.contains("start the server")), "{not_yet}");
    let mut fields = Vec::new();
    for table in SealedTable::ALL {
        let pending = store.unsealed_text(table, 10).await.unwrap();
        assert_eq!(pending.len(), 1, "{table:?}");
        assert_eq!(pending[0].reference, c.reference);
        fields.push(pending[0].fields.clone());
        let sealed = [(pending[0].record_id, sealed_text(table.kind()))];
        assert_eq!(store.bookkeeping().seal_unsealed_text(table, &sealed).await.unwrap(), 1);
        assert_eq!(store.bookkeeping().seal_unsealed_text(table, &sealed).await.unwrap(), 0, "sealed once");
        assert!(store.unsealed_text(table, 10).await.unwrap().is_empty());
    }
    let json = |i: usize| serde_json::from_str::<serde_json::Value>(&fields[i]).unwrap();
    assert_eq!(json(0), serde_json::json!({"place": "MARKER-PLACE", "summary": "MARKER-SUMMARY"}));
    assert_eq!(json(1), serde_json::json!({"notes": "MARKER-WELFARE"}));
    assert_eq!(json(2), serde_json::json!({"summary": "MARKER-RISK", "mitigations": "MARKER-MITIGATION"}));
    assert_eq!(json(3)["purpose"], "MARKER-PURPOSE");
    assert_eq!(json(4)["account"], "MARKER-ACCOUNT");
    assert_eq!(store.contacts(c.source).await.unwrap()[0].text, sealed_text("contact"));
    assert_eq!(
        store.authorisations_of(c.source).await.unwrap()[0].application.case,
        sealed_text("application")
    );
    assert_eq!(store.contact_reports_of(c.source).await.unwrap()[0].text, sealed_text("contact-report"));
    let everything = store.fingerprint_unchecked().await.unwrap();
    for (table, rows) in everything {
        assert!(!rows.contains("MARKER"), "{table} still holds text in the clear");
    }
}

#[tokio::test]
async fn text_written_before_sealing_waits_to_be_sealed_on_sqlite() {
    text_written_before_sealing_waits_to_be_sealed(Backend::Sqlite).await;
}

#[tokio::test]
async fn text_written_before_sealing_waits_to_be_sealed_on_postgres() {
    text_written_before_sealing_waits_to_be_sealed(Backend::Postgres).await;
}
