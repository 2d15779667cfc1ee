//! The operation kernel: the one path every operation takes, whoever starts it (the API,
//! the web UI, the command line or a background job).
//!
//! An operation loads its record, asks [`tearline_domain::policy::authorize`] about the
//! action on that record's own scope, and then either records what it read or changes the
//! store. A change is only possible through a [`Writer`] that [`Kernel::change`] hands
//! out, and that writer puts the change's audit entry into the change's own transaction:
//! no change commits without its entry, and no entry stands for a change that did not
//! commit. Reads of sealed data use [`Kernel::record`], which returns only once the entry
//! is durable, so nothing is decrypted without its trace.
//!
//! Nothing here knows HTTP. Errors are [`KernelError`]; the HTTP crate maps them.

mod blocking;

use std::sync::Arc;

pub use blocking::{CpuPool, PoolStopped};
use tearline_domain::audit::{AuditEvent, AuditLog, Outcome};
use tearline_domain::policy::{authorize, Action, Actor};
use tearline_domain::{Timestamp, UserId};
pub use tearline_store::Writer;
use tearline_store::{MerkleLog, Store, StoreError};

/// The time source. Injected so that rules that depend on time are testable.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
    })
}

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The audit trail could not record the operation, so it was not performed.
    #[error("the audit trail cannot record this action, so it was not performed; try again later")]
    AuditUnavailable,
    /// The record does not exist, or the actor may not know of it: the two answer alike,
    /// so that a refusal never confirms that a record exists.
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a lookup is named: the record's kind (in the answer), and the audit action and
/// object under which a refusal is recorded.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    pub kind: &'static str,
    pub audit_action: &'a str,
    pub object: &'a str,
}

/// Proof that a read was recorded, durably, before it happens: what opening sealed text
/// asks for (`tearline_service::above_line::open`). Only [`Kernel::record`] makes one.
#[derive(Debug)]
pub struct Recorded {
    object: String,
}

impl Recorded {
    /// The object the recorded entry names (`source:7`, `unit:2`).
    pub fn object(&self) -> &str {
        &self.object
    }
}

/// The store, the verifiable log and the clock, and the only door to changing the store.
#[derive(Clone)]
pub struct Kernel {
    store: Store,
    log: MerkleLog,
    clock: Clock,
}

impl Kernel {
    pub fn new(store: Store, log: MerkleLog, clock: Clock) -> Kernel {
        Kernel { store, log, clock }
    }

    /// The store, for reads. Writes need a [`Writer`] from [`Kernel::change`].
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    fn event(
        &self,
        actor: Option<UserId>,
        action: &str,
        object: &str,
        reason: Option<&str>,
        outcome: Outcome,
    ) -> AuditEvent {
        AuditEvent {
            at: self.now(),
            actor,
            action: action.to_owned(),
            object: object.to_owned(),
            reason: reason.map(str::to_owned),
            outcome,
        }
    }

    /// Records an event that changes nothing (a read, a refusal, a login) and returns once
    /// it is durable. When the trail cannot record it, the caller must not go on.
    pub async fn record(
        &self,
        actor: Option<UserId>,
        action: &str,
        object: &str,
        reason: Option<&str>,
        outcome: Outcome,
    ) -> Result<Recorded, KernelError> {
        let event = self.event(actor, action, object, reason, outcome);
        match self.log.append(&event).await {
            Ok(_) => Ok(Recorded { object: event.object }),
            Err(error) => {
                tracing::error!(action, %error, "audit trail unavailable; refusing the request");
                Err(KernelError::AuditUnavailable)
            }
        }
    }

    /// Records an event as [`Kernel::record`] does while `load` runs, so that what the read
    /// will show is fetched during the log's group commit instead of after it. Nothing
    /// loaded is handed back unless the entry is durable (a load whose entry cannot be
    /// written answers `AuditUnavailable`), and sealed columns loaded this way are still
    /// opened only under the receipt. A load that fails answers its own error; its entry
    /// may still reach the log, as an allowed read that then found nothing always did.
    pub async fn record_while<T, E: From<KernelError>>(
        &self,
        actor: Option<UserId>,
        action: &str,
        object: &str,
        reason: Option<&str>,
        outcome: Outcome,
        load: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<(Recorded, T), E> {
        let recording = async { self.record(actor, action, object, reason, outcome).await.map_err(E::from) };
        tokio::try_join!(recording, load)
    }

    /// A writer for one change, carrying its audit entry (`object` may be `kind:new` for
    /// a record the change creates; the store fills in its id). The entry commits in the
    /// change's transaction or not at all.
    pub fn change(
        &self,
        actor: Option<UserId>,
        action: &str,
        object: &str,
        reason: Option<&str>,
    ) -> Writer<'_> {
        self.change_with(actor, action, object, reason, Outcome::Allowed)
    }

    /// A change whose entry records another outcome: a refusal that the domain keeps on
    /// record (a refused grant in the register, a draft the leak guard blocked).
    pub fn change_with(
        &self,
        actor: Option<UserId>,
        action: &str,
        object: &str,
        reason: Option<&str>,
        outcome: Outcome,
    ) -> Writer<'_> {
        self.log.audited(self.event(actor, action, object, reason, outcome))
    }

    /// The one scoped loader. `found` is the record as loaded with the action asked on
    /// its own scope (its unit, its case officers), or `None` when it does not exist. A
    /// missing record and one the policy refuses take the same path: the refusal is
    /// recorded as denied and both answer [`KernelError::NotFound`] of the same kind.
    pub async fn scoped<T>(
        &self,
        actor: &Actor,
        lookup: Lookup<'_>,
        found: Option<(T, Action)>,
    ) -> Result<T, KernelError> {
        match found {
            Some((record, action)) if authorize(actor, action).is_ok() => Ok(record),
            _ => {
                self.record(Some(actor.user_id), lookup.audit_action, lookup.object, None, Outcome::Denied)
                    .await?;
                Err(KernelError::NotFound(lookup.kind))
            }
        }
    }
}
