//! The store contract: every test here runs unchanged on SQLite and on PostgreSQL.

use tearline_auditlog::proof;
use tearline_domain::audit::{AuditEvent, AuditLog, Outcome};
use tearline_domain::source::{CaseRole, PseudonymousRef, SourceStatus};
use tearline_domain::{Role, SourceId, Timestamp, UnitId, UserId};
use tearline_store::testing::{disable_append_only_guards, new_signer};
use tearline_store::{
    Backend, LogError, MerkleLog, NewSource, NewUser, Rewrap, SealedColumns, Store, StoreError,
};

use tearline_store::on_both_backends;

on_both_backends!(
    users_round_trip_and_usernames_are_unique,
    login_attempts_lock_the_account_at_the_threshold_and_a_locked_one_takes_none,
    sessions_expire_and_end_on_logout,
    sources_keep_their_sealed_bytes_exactly,
    code_names_are_unique_within_a_unit,
    reassignment_keeps_the_history_of_who_held_each_role,
    rewrapping_never_overwrites_a_concurrent_change,
    the_audit_log_refuses_edits_and_deletions,
    concurrent_writers_lose_nothing,
    proofs_from_the_store_verify_against_signed_checkpoints,
    two_processes_append_one_linear_log,
    a_flipped_byte_in_an_entry_or_a_hash_is_found_with_its_index,
    a_flipped_entry_inside_a_batch_is_named_by_its_own_index,
    reopening_a_migrated_database_is_a_no_op,
);

const T0: Timestamp = Timestamp(1_764_000_000_000);

async fn unit_with_staff(store: &Store) -> (UnitId, UserId, UserId) {
    let unit = store.bookkeeping().create_unit("North", T0).await.unwrap();
    let mut ids = Vec::new();
    for (name, role) in [("hana", Role::Handler), ("carl", Role::Controller)] {
        let user = NewUser {
            username: name,
            display_name: name,
            role,
            seniority: Default::default(),
            unit_id: unit,
            password_hash: "$argon2id$x",
            awaiting_approval: false,
        };
        ids.push(store.bookkeeping().create_user(user, T0).await.unwrap());
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
    store.bookkeeping().remember_vault_key(1, &[9; 32], T0).await.unwrap();
    let reference = PseudonymousRef::generate(&mut rand::thread_rng());
    let created = store
        .bookkeeping()
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
        .await?;
    let read = store.source(created.id).await?;
    assert_eq!(read.as_ref(), Some(&created), "a creation answers the record a read of it answers");
    Ok(created.id)
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
        seniority: Default::default(),
        unit_id: unit,
        password_hash: "h",
        awaiting_approval: false,
    };
    assert!(matches!(store.bookkeeping().create_user(duplicate, T0).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.users().await.unwrap().len(), 2);
    assert!(matches!(store.bookkeeping().create_unit("North", T0).await, Err(StoreError::Conflict(_))));
}

async fn login_attempts_lock_the_account_at_the_threshold_and_a_locked_one_takes_none(store: Store) {
    let (_, handler, _) = unit_with_staff(&store).await;
    let until = T0.plus_millis(900_000);
    let reserve = || store.bookkeeping().reserve_login_attempt(handler, T0, 3, until);
    for expected in 1..=2 {
        assert_eq!(reserve().await.unwrap(), Some(expected));
        assert_eq!(store.user(handler).await.unwrap().unwrap().locked_until, None);
    }
    assert_eq!(reserve().await.unwrap(), Some(3));
    assert_eq!(store.user(handler).await.unwrap().unwrap().locked_until, Some(until));
    assert_eq!(reserve().await.unwrap(), None, "a locked account takes no attempt");
    assert_eq!(store.user(handler).await.unwrap().unwrap().failed_logins, 3);
    store.bookkeeping().clear_login_failures(handler).await.unwrap();
    let user = store.user(handler).await.unwrap().unwrap();
    assert_eq!((user.failed_logins, user.locked_until), (0, None));
}

async fn sessions_expire_and_end_on_logout(store: Store) {
    let (_, handler, _) = unit_with_staff(&store).await;
    let token = [1u8; 32];
    store.bookkeeping().create_session(&token, handler, "csrf", T0, T0.plus_millis(1000)).await.unwrap();
    let session = store.session(&token, T0).await.unwrap().unwrap();
    assert_eq!((session.user.id, session.csrf_token.as_str()), (handler, "csrf"));
    assert!(store.session(&token, T0.plus_millis(1000)).await.unwrap().is_none(), "expired");
    store.bookkeeping().delete_session(&token).await.unwrap();
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
        seniority: Default::default(),
        unit_id: unit,
        password_hash: "h",
        awaiting_approval: false,
    };
    let successor = store.bookkeeping().create_user(successor, T0).await.unwrap();
    let id = add_source(&store, unit, handler, controller, "KESTREL").await.unwrap();
    let later = T0.plus_millis(86_400_000);
    store.bookkeeping().reassign(id, CaseRole::Handler, successor, later).await.unwrap();
    assert_eq!(store.source(id).await.unwrap().unwrap().handler_id, successor);
    let history = store.assignments(id).await.unwrap();
    let handlers: Vec<_> = history
        .iter()
        .filter(|a| a.role == CaseRole::Handler)
        .map(|a| (a.user_id, a.from, a.until))
        .collect();
    assert_eq!(handlers, vec![(handler, T0, Some(later)), (successor, later, None)]);
    assert!(matches!(
        store.bookkeeping().reassign(SourceId(9999), CaseRole::Handler, successor, later).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn rewrapping_never_overwrites_a_concurrent_change(store: Store) {
    let (unit, handler, controller) = unit_with_staff(&store).await;
    let id = add_source(&store, unit, handler, controller, "ORIOLE").await.unwrap();
    store.bookkeeping().remember_vault_key(2, &[8; 32], T0).await.unwrap();
    let pending = store.sealed_identities_not_under(2).await.unwrap();
    assert_eq!(pending.len(), 1);
    let (_, _, previous) = &pending[0];
    let rewrap = |byte: u8| [Rewrap { id, previous, key_id: 2, wrapped_key: vec![byte; 73] }];
    assert_eq!(store.bookkeeping().replace_wrapped_keys(&rewrap(5)).await.unwrap(), vec![id]);
    assert!(
        store.bookkeeping().replace_wrapped_keys(&rewrap(6)).await.unwrap().is_empty(),
        "stale read refused"
    );
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

async fn the_audit_log_refuses_edits_and_deletions(store: Store) {
    let log = MerkleLog::start(store.clone(), new_signer());
    assert_eq!(log.append(&event(1)).await.unwrap(), 0);
    assert_eq!(log.append(&event(2)).await.unwrap(), 1);
    for sql in [
        "UPDATE audit_entries SET data = data",
        "DELETE FROM audit_entries",
        "UPDATE audit_hashes SET hash = hash",
        "DELETE FROM audit_hashes",
        "DELETE FROM audit_checkpoints",
    ] {
        assert!(store.execute_unchecked(sql).await.is_err(), "{sql}");
    }
    let records = log.read(0, 10).await.unwrap();
    assert_eq!(records.iter().map(|r| r.event.clone()).collect::<Vec<_>>(), vec![event(1), event(2)]);
    assert_eq!(log.read(1, 10).await.unwrap().len(), 1);
    assert_eq!(log.size().await.unwrap(), 2);
}

async fn concurrent_writers_lose_nothing(store: Store) {
    let log = MerkleLog::start(store.clone(), new_signer());
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut indexes = Vec::new();
                for n in 0..40 {
                    indexes.push(log.append(&event(writer * 1000 + n)).await.unwrap());
                }
                indexes
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    acknowledged.sort_unstable();
    assert_eq!(acknowledged, (0..320).collect::<Vec<u64>>(), "one linear sequence, nothing lost or doubled");
    assert_eq!(log.check(&|_, _| {}).await.unwrap(), None);
}

async fn proofs_from_the_store_verify_against_signed_checkpoints(store: Store) {
    let log = MerkleLog::start(store.clone(), new_signer());
    for n in 0..37 {
        log.append(&event(n)).await.unwrap();
    }
    let (size, note) = log.latest_checkpoint().await.unwrap().unwrap();
    let checkpoint = tearline_auditlog::checkpoint::verify(note.as_bytes(), log.verifier_key()).unwrap();
    assert_eq!((size, checkpoint.size), (37, 37));
    assert_eq!(log.root(37).await.unwrap(), checkpoint.root);
    for index in [0, 1, 17, 36] {
        let proof = log.inclusion_proof(index, 37).await.unwrap();
        let (_, data) = &log.entries(index, index + 1).await.unwrap()[0];
        let leaf = tearline_auditlog::record_hash(data);
        assert_eq!(proof::verify_inclusion(index, 37, leaf, &proof, checkpoint.root), Ok(()));
    }
    let old = log.root(20).await.unwrap();
    let proof = log.consistency_proof(20, 37).await.unwrap();
    assert_eq!(proof::verify_consistency(20, 37, old, checkpoint.root, &proof), Ok(()));
    assert!(matches!(
        log.inclusion_proof(3, 38).await,
        Err(LogError::BeyondCheckpoint { requested: 38, latest: 37 })
    ));
    assert!(matches!(log.consistency_proof(30, 20).await, Err(LogError::Proof(_))));
}

async fn two_processes_append_one_linear_log(store: Store) {
    // A second handle with its own pool and appender stands in for a second server process.
    let other = Store::open(&store_url(&store)).await.unwrap();
    let signer_file = tearline_auditlog::checkpoint::CheckpointSigner::generate_key_file();
    let signer = || tearline_auditlog::checkpoint::CheckpointSigner::from_key_file(&signer_file).unwrap();
    let (first, second) = (MerkleLog::start(store.clone(), signer()), MerkleLog::start(other, signer()));
    let mut tasks = Vec::new();
    for (log, base) in [(first.clone(), 0), (second, 10_000)] {
        tasks.push(tokio::spawn(async move {
            let mut indexes = Vec::new();
            for n in 0..60 {
                indexes.push(log.append(&event(base + n)).await.unwrap());
            }
            indexes
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (0..120).collect::<Vec<u64>>());
    assert_eq!(first.check(&|_, _| {}).await.unwrap(), None);
}

async fn a_flipped_byte_in_an_entry_or_a_hash_is_found_with_its_index(store: Store) {
    let log = MerkleLog::start(store.clone(), new_signer());
    for n in 0..50 {
        log.append(&event(n)).await.unwrap();
    }
    assert_eq!(log.check(&|_, _| {}).await.unwrap(), None);
    store.execute_unchecked(disable_append_only_guards(store.backend())).await.unwrap();
    let flip_entry = "UPDATE audit_entries SET data = REPLACE(data, 'source:23', 'source:24') WHERE idx = 23";
    let flip_entry = match store.backend() {
        Backend::Sqlite => flip_entry
            .replace("REPLACE(data,", "CAST(REPLACE(CAST(data AS TEXT),")
            .replace("'source:24')", "'source:24') AS BLOB)"),
        Backend::Postgres => flip_entry.replace(
            "REPLACE(data, 'source:23', 'source:24')",
            "convert_to(replace(convert_from(data, 'UTF8'), 'source:23', 'source:24'), 'UTF8')",
        ),
    };
    assert_eq!(store.execute_unchecked(&flip_entry).await.unwrap(), 1);
    let damage = log.check(&|_, _| {}).await.unwrap().unwrap();
    assert_eq!(damage.first_bad_index, 23, "{}", damage.what);

    let (fresh, _db) = tearline_store::testing::fresh_store(store.backend()).await;
    let log = MerkleLog::start(fresh.clone(), new_signer());
    for n in 0..50 {
        log.append(&event(n)).await.unwrap();
    }
    fresh.execute_unchecked(disable_append_only_guards(fresh.backend())).await.unwrap();
    let leaf_of_entry_32 = tlog_tiles::tlog::stored_hash_index(0, 32);
    let flip_hash = match fresh.backend() {
        Backend::Sqlite => {
            format!("UPDATE audit_hashes SET hash = zeroblob(32) WHERE id = {leaf_of_entry_32}")
        }
        Backend::Postgres => {
            format!("UPDATE audit_hashes SET hash = decode(repeat('00', 32), 'hex') WHERE id = {leaf_of_entry_32}")
        }
    };
    assert_eq!(fresh.execute_unchecked(&flip_hash).await.unwrap(), 1);
    let damage = log.check(&|_, _| {}).await.unwrap().unwrap();
    assert_eq!(damage.first_bad_index, 32, "{}", damage.what);
}

/// Entries that commit with their change gather into batches, so a checkpoint covers several
/// entries; a flipped entry in the middle of one is still named by its own index.
async fn a_flipped_entry_inside_a_batch_is_named_by_its_own_index(store: Store) {
    let log = MerkleLog::start(store.clone(), new_signer());
    for n in 0..12 {
        let at = tearline_domain::Timestamp(1_795_000_000_000);
        let audited = AuditEvent { object: "unit:new".into(), ..event(n) };
        log.audited(audited).create_unit(&format!("Unit {n}"), at).await.unwrap();
    }
    assert_eq!(tearline_domain::audit::AuditLog::size(&log).await.unwrap(), 12);
    let sizes: Vec<u64> = log.checkpoints(0, 100).await.unwrap().into_iter().map(|(size, _)| size).collect();
    let inside = (1..11).find(|i| !sizes.contains(&(i + 1))).expect("a batch of several entries");
    store.execute_unchecked(disable_append_only_guards(store.backend())).await.unwrap();
    let denied = match store.backend() {
        Backend::Sqlite => "CAST(REPLACE(CAST(data AS TEXT), 'outcome: allowed', 'outcome: denied') AS BLOB)",
        Backend::Postgres => {
            "convert_to(replace(convert_from(data, 'UTF8'), 'outcome: allowed', 'outcome: denied'), 'UTF8')"
        }
    };
    let flip = format!("UPDATE audit_entries SET data = {denied} WHERE idx = {inside}");
    assert_eq!(store.execute_unchecked(&flip).await.unwrap(), 1);
    let damage = log.check(&|_, _| {}).await.unwrap().unwrap();
    assert_eq!(damage.first_bad_index, inside, "{} (checkpoints at {sizes:?})", damage.what);
}

fn store_url(store: &Store) -> String {
    store.url().to_owned()
}

async fn reopening_a_migrated_database_is_a_no_op(store: Store) {
    let (unit, _, _) = unit_with_staff(&store).await;
    assert!(matches!(store.backend(), Backend::Sqlite | Backend::Postgres));
    assert_eq!(store.units().await.unwrap()[0].id, unit);
}
