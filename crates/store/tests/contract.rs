//! The store contract: every test here runs unchanged on SQLite and on PostgreSQL.

use tearline_domain::audit::{AuditEvent, AuditLog, Outcome};
use tearline_domain::source::{CaseRole, PseudonymousRef, SourceStatus};
use tearline_domain::{Role, SourceId, Timestamp, UnitId, UserId};
use tearline_store::{Backend, NewSource, NewUser, SealedColumns, Store, StoreError};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, _db) = tearline_store::testing::fresh_store(tearline_store::Backend::Sqlite).await;
                super::$name(store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, _db) = tearline_store::testing::fresh_store(tearline_store::Backend::Postgres).await;
                super::$name(store).await;
            })*
        }
    };
}

on_both_backends!(
    users_round_trip_and_usernames_are_unique,
    failed_logins_lock_the_account_at_the_threshold,
    sessions_expire_and_end_on_logout,
    sources_keep_their_sealed_bytes_exactly,
    code_names_are_unique_within_a_unit,
    reassignment_keeps_the_history_of_who_held_each_role,
    rewrapping_never_overwrites_a_concurrent_change,
    the_audit_trail_refuses_edits_and_deletions,
    concurrent_writers_lose_nothing,
    reopening_a_migrated_database_is_a_no_op,
);

const T0: Timestamp = Timestamp(1_764_000_000_000);

async fn unit_with_staff(store: &Store) -> (UnitId, UserId, UserId) {
    let unit = store.create_unit("North", T0).await.unwrap();
    let mut ids = Vec::new();
    for (name, role) in [("hana", Role::Handler), ("carl", Role::Controller)] {
        let user =
            NewUser { username: name, display_name: name, role, unit_id: unit, password_hash: "$argon2id$x" };
        ids.push(store.create_user(user, T0).await.unwrap());
    }
    (unit, ids[0], ids[1])
}

fn sealed(seed: u8) -> SealedColumns {
    SealedColumns {
        key_id: 1,
        wrapped_key: vec![seed; 73],
        ciphertext: (0..=255).map(|b: u8| b ^ seed).collect(),
    }
}

async fn add_source(
    store: &Store,
    unit: UnitId,
    handler: UserId,
    controller: UserId,
    code_name: &str,
) -> Result<SourceId, StoreError> {
    store.remember_vault_key(1, &[9; 32], T0).await.unwrap();
    let reference = PseudonymousRef::generate(&mut rand::thread_rng());
    store
        .create_source(
            NewSource {
                code_name,
                reference: &reference,
                unit_id: unit,
                handler_id: handler,
                controller_id: controller,
                status: SourceStatus::Active,
                recruited_at: T0,
                sealed: sealed(7),
            },
            T0,
        )
        .await
}

async fn users_round_trip_and_usernames_are_unique(store: Store) {
    let (unit, handler, _) = unit_with_staff(&store).await;
    let user = store.user_by_username("hana").await.unwrap().unwrap();
    assert_eq!((user.id, user.role, user.unit_id), (handler, Role::Handler, unit));
    assert_eq!(store.user(handler).await.unwrap().unwrap().username, "hana");
    assert!(store.user_by_username("nobody").await.unwrap().is_none());
    let duplicate = NewUser {
        username: "hana",
        display_name: "x",
        role: Role::Analyst,
        unit_id: unit,
        password_hash: "h",
    };
    assert!(matches!(store.create_user(duplicate, T0).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.users().await.unwrap().len(), 2);
    assert!(matches!(store.create_unit("North", T0).await, Err(StoreError::Conflict(_))));
}

async fn failed_logins_lock_the_account_at_the_threshold(store: Store) {
    let (_, handler, _) = unit_with_staff(&store).await;
    let until = T0.plus_millis(900_000);
    for expected in 1..=2 {
        assert_eq!(store.note_login_failure(handler, 3, until).await.unwrap(), expected);
        assert_eq!(store.user(handler).await.unwrap().unwrap().locked_until, None);
    }
    assert_eq!(store.note_login_failure(handler, 3, until).await.unwrap(), 3);
    assert_eq!(store.user(handler).await.unwrap().unwrap().locked_until, Some(until));
    store.clear_login_failures(handler).await.unwrap();
    let user = store.user(handler).await.unwrap().unwrap();
    assert_eq!((user.failed_logins, user.locked_until), (0, None));
}

async fn sessions_expire_and_end_on_logout(store: Store) {
    let (_, handler, _) = unit_with_staff(&store).await;
    let token = [1u8; 32];
    store.create_session(&token, handler, "csrf", T0, T0.plus_millis(1000)).await.unwrap();
    let session = store.session(&token, T0).await.unwrap().unwrap();
    assert_eq!((session.user.id, session.csrf_token.as_str()), (handler, "csrf"));
    assert!(store.session(&token, T0.plus_millis(1000)).await.unwrap().is_none(), "expired");
    store.delete_session(&token).await.unwrap();
    assert!(store.session(&token, T0).await.unwrap().is_none(), "logged out");
}

async fn sources_keep_their_sealed_bytes_exactly(store: Store) {
    let (unit, handler, controller) = unit_with_staff(&store).await;
    let id = add_source(&store, unit, handler, controller, "NIGHTJAR").await.unwrap();
    let record = store.source(id).await.unwrap().unwrap();
    assert_eq!(
        (record.code_name.as_str(), record.handler_id, record.controller_id),
        ("NIGHTJAR", handler, controller)
    );
    assert!(store.sealed_identity(id).await.unwrap().unwrap() == sealed(7));
    assert_eq!(store.sources_in_unit(unit).await.unwrap(), vec![record]);
    assert!(store.source(SourceId(9999)).await.unwrap().is_none());
    assert_eq!(store.vault_key_checks().await.unwrap(), vec![(1, vec![9; 32])]);
}

async fn code_names_are_unique_within_a_unit(store: Store) {
    let (unit, handler, controller) = unit_with_staff(&store).await;
    add_source(&store, unit, handler, controller, "NIGHTJAR").await.unwrap();
    let again = add_source(&store, unit, handler, controller, "NIGHTJAR").await;
    assert!(matches!(again, Err(StoreError::Conflict(_))));
    assert_eq!(store.sources_in_unit(unit).await.unwrap().len(), 1, "the failed insert left nothing behind");
}

async fn reassignment_keeps_the_history_of_who_held_each_role(store: Store) {
    let (unit, handler, controller) = unit_with_staff(&store).await;
    let successor = NewUser {
        username: "omar",
        display_name: "Omar",
        role: Role::Handler,
        unit_id: unit,
        password_hash: "h",
    };
    let successor = store.create_user(successor, T0).await.unwrap();
    let id = add_source(&store, unit, handler, controller, "KESTREL").await.unwrap();
    let later = T0.plus_millis(86_400_000);
    store.reassign(id, CaseRole::Handler, successor, later).await.unwrap();
    assert_eq!(store.source(id).await.unwrap().unwrap().handler_id, successor);
    let history = store.assignments(id).await.unwrap();
    let handlers: Vec<_> = history
        .iter()
        .filter(|a| a.role == CaseRole::Handler)
        .map(|a| (a.user_id, a.from, a.until))
        .collect();
    assert_eq!(handlers, vec![(handler, T0, Some(later)), (successor, later, None)]);
    assert!(matches!(
        store.reassign(SourceId(9999), CaseRole::Handler, successor, later).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn rewrapping_never_overwrites_a_concurrent_change(store: Store) {
    let (unit, handler, controller) = unit_with_staff(&store).await;
    let id = add_source(&store, unit, handler, controller, "ORIOLE").await.unwrap();
    store.remember_vault_key(2, &[8; 32], T0).await.unwrap();
    let pending = store.sealed_identities_not_under(2).await.unwrap();
    assert_eq!(pending.len(), 1);
    let (_, _, previous) = &pending[0];
    assert!(store.replace_wrapped_key(id, previous, 2, &[5; 73]).await.unwrap());
    assert!(!store.replace_wrapped_key(id, previous, 2, &[6; 73]).await.unwrap(), "stale read refused");
    let now = store.sealed_identity(id).await.unwrap().unwrap();
    assert_eq!((now.key_id, now.wrapped_key, now.ciphertext), (2, vec![5; 73], sealed(7).ciphertext));
    assert!(store.sealed_identities_not_under(2).await.unwrap().is_empty());
}

fn event(n: i64) -> AuditEvent {
    AuditEvent {
        at: T0.plus_millis(n),
        actor: Some(UserId(n)),
        action: "source.read".into(),
        object: format!("source:{n}"),
        reason: (n % 2 == 0).then(|| "reason".to_string()),
        outcome: Outcome::Allowed,
    }
}

async fn the_audit_trail_refuses_edits_and_deletions(store: Store) {
    let first = store.append(&event(1)).await.unwrap();
    let second = store.append(&event(2)).await.unwrap();
    assert!(second > first);
    assert!(store.execute_unchecked("UPDATE audit_events SET action = 'nothing'").await.is_err());
    assert!(store.execute_unchecked("DELETE FROM audit_events").await.is_err());
    let records = store.read(0, 10).await.unwrap();
    assert_eq!(records.iter().map(|r| r.event.clone()).collect::<Vec<_>>(), vec![event(1), event(2)]);
    assert_eq!(store.read(first, 10).await.unwrap().len(), 1);
}

async fn concurrent_writers_lose_nothing(store: Store) {
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for n in 0..40 {
                    seqs.push(store.append(&event(writer * 1000 + n)).await.unwrap());
                }
                seqs
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    acknowledged.sort_unstable();
    acknowledged.dedup();
    assert_eq!(acknowledged.len(), 320);
    let stored: Vec<i64> = store.read(0, 1000).await.unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(stored, acknowledged);
}

async fn reopening_a_migrated_database_is_a_no_op(store: Store) {
    let (unit, _, _) = unit_with_staff(&store).await;
    assert!(matches!(store.backend(), Backend::Sqlite | Backend::Postgres));
    assert_eq!(store.units().await.unwrap()[0].id, unit);
}
