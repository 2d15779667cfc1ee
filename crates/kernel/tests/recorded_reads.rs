//! A recorded read and what it loads meanwhile (`Kernel::record_while`), on SQLite and on
//! PostgreSQL: the load comes back only together with a durable entry, never without one.

use tearline_domain::audit::{AuditLog, Outcome};
use tearline_kernel::{system_clock, Kernel, KernelError};
use tearline_store::testing::{fail_audit_writes, new_signer};
use tearline_store::{on_both_backends, MerkleLog, Store};

on_both_backends!(
    what_a_read_loads_comes_back_only_with_its_durable_entry,
    a_load_that_fails_answers_its_own_error_and_hands_back_nothing,
);

fn kernel(store: &Store) -> (Kernel, MerkleLog) {
    let log = MerkleLog::start(store.clone(), new_signer());
    (Kernel::new(store.clone(), log.clone(), system_clock()), log)
}

async fn what_a_read_loads_comes_back_only_with_its_durable_entry(store: Store) {
    let (kernel, log) = kernel(&store);
    let load = || async { Ok::<_, KernelError>("sealed columns") };
    let reason = Some("benchmark of the unseal path");

    let (recorded, loaded) = kernel
        .record_while(None, "source.unseal", "source:1", reason, Outcome::Allowed, load())
        .await
        .unwrap();
    assert_eq!((recorded.object(), loaded), ("source:1", "sealed columns"));
    assert_eq!(log.size().await.unwrap(), 1, "the entry is in the log when the load is handed back");

    fail_audit_writes(&store, true).await;
    let refused =
        kernel.record_while(None, "source.unseal", "source:1", reason, Outcome::Allowed, load()).await;
    assert!(
        matches!(refused, Err(KernelError::AuditUnavailable)),
        "a load that succeeded is not handed back when its entry cannot be written"
    );
    fail_audit_writes(&store, false).await;
    assert_eq!(log.size().await.unwrap(), 1, "nothing was recorded while the fault lasted");
}

async fn a_load_that_fails_answers_its_own_error_and_hands_back_nothing(store: Store) {
    let (kernel, log) = kernel(&store);
    let missing = async { Err::<(), _>(KernelError::NotFound("source")) };
    let answer = kernel.record_while(None, "source.read", "source:9", None, Outcome::Allowed, missing).await;
    assert!(matches!(answer, Err(KernelError::NotFound("source"))), "{answer:?}");
    // The allowed read may or may not have reached the log by the time the load failed;
    // either way it stands alone: one entry at most, and nothing was shown.
    assert!(log.size().await.unwrap() <= 1, "at most the one entry");
}
