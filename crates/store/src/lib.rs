//! Tearline's store: one interface, two real backends.
//!
//! [`Store`] is the interface every other crate uses. Behind it, the same SQL runs on the
//! embedded SQLite default (WAL, `synchronous=FULL`) or on PostgreSQL, chosen by the URL.
//! Each backend has its own versioned migrations under `migrations/<backend>/`; the contract
//! tests in `tests/contract.rs` run unchanged against both.
//!
//! Architecture invariant: the store sees only ciphertext for identities. It knows nothing
//! of HTTP, keys or plaintext; what it is handed sealed, it returns sealed.

mod above_line;
mod audit;
mod chain;
mod gauges;
mod intel;
mod lifecycle;
mod migrate;
mod records;
pub mod scratch;
#[cfg(feature = "testing")]
pub mod testing;
mod warn;

pub use above_line::{SealedRecord, SealedTable, UnsealedText};
pub use audit::{Damage, LogError, MerkleLog};
pub use chain::*;
pub use gauges::Gauges;
pub use intel::*;
pub use lifecycle::*;
pub use records::*;
pub use warn::*;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use tokio::sync::Mutex;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL; use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl,
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A conditional change found the record no longer in the state it expected.
    #[error("{0}")]
    StateChanged(&'static str),
    #[error(transparent)]
    Ledger(#[from] tearline_lifecycle::ledger::LedgerError),
    /// The change's audit entry could not be written, so neither was the change.
    #[error("the audit trail cannot record this change: {0}")]
    AuditUnavailable(sqlx::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: Arc<str>,
    /// SQLite allows one writer at a time; taking turns in-process avoids busy errors when a
    /// deferred transaction upgrades to a write lock. PostgreSQL needs no such turn-taking.
    write_turn: Arc<Mutex<()>>,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = Store::connect(url).await?;
        migrate::run(&store, i64::MAX).await?;
        Ok(store)
    }

    /// Connects to the database at `url` without touching its schema.
    async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            // An acknowledged write survives power loss, not just a crash.
                            "PRAGMA synchronous = FULL",
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA foreign_keys = ON",
                            // Deleted pages are overwritten, so removed rows do not linger.
                            "PRAGMA secure_delete = ON",
                        ] {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Store { pool, backend, url: url.into(), write_turn: Arc::new(Mutex::new(())) })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL the store was opened with (it may hold a password: never print it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Waits for this process's turn to write (SQLite only) and begins a transaction that
    /// carries no audit entry: the store's own bookkeeping (migrations, the audit appender).
    async fn begin_write(&self) -> Result<WriteTx<'_>, StoreError> {
        let turn = self.take_write_turn().await;
        let tx = self.pool.begin().await?;
        Ok(WriteTx { tx, _turn: turn, entry: None, named_created: false })
    }

    /// This process's turn to write, on SQLite (one writer at a time); PostgreSQL locks rows.
    async fn take_write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_turn.lock().await),
            Backend::Postgres => None,
        }
    }

    /// A writer for the system's own bookkeeping, which is not audited entry by entry:
    /// sessions and login counters, delivery claims and attempts, feed polling state,
    /// recipients' acknowledgements, remembered key checks and re-wrapped data keys. Every
    /// caller is listed in `crates/kernel/tests/tidy.rs`; anything else is a change and goes
    /// through the kernel with its audit entry.
    pub fn bookkeeping(&self) -> Writer<'_> {
        Writer { store: self, entry: None }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The only way to change the store. A writer carries the audit entry of the change it
/// makes, and that entry is written in the change's own transaction: it commits with the
/// change or not at all (see [`MerkleLog::audited`]). Each write method consumes its
/// writer, so one entry stands for one transaction.
/// Row locks on PostgreSQL for a read that decides a write in the same transaction (taken
/// in a subquery's id order where many rows are claimed, so that racing processes wait for
/// each other instead of deadlocking). SQLite has one writer at a time and no such clause.
pub(crate) fn lock_rows(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    }
}

pub struct Writer<'a> {
    store: &'a Store,
    entry: Option<PendingEntry<'a>>,
}

/// An audit entry that rides in a change's transaction, and the log that settles it.
struct PendingEntry<'a> {
    log: &'a MerkleLog,
    event: tearline_domain::audit::AuditEvent,
}

impl std::ops::Deref for Writer<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store
    }
}

impl<'a> Writer<'a> {
    pub(crate) fn audited(
        store: &'a Store,
        log: &'a MerkleLog,
        event: tearline_domain::audit::AuditEvent,
    ) -> Self {
        Writer { store, entry: Some(PendingEntry { log, event }) }
    }

    /// Begins the change's transaction; its commit writes the audit entry first.
    async fn begin_write(&self) -> Result<WriteTx<'_>, StoreError> {
        let mut write = self.store.begin_write().await?;
        write.entry =
            self.entry.as_ref().map(|entry| PendingEntry { log: entry.log, event: entry.event.clone() });
        Ok(write)
    }

    /// Runs statements of bookkeeping and returns the rows they return. A lone statement
    /// commits by itself — atomic as any statement is, one round trip to the server — which
    /// is what a stream of small group commits wants; several statements, or a change with
    /// its audit entry, share one transaction as every other write does.
    async fn statements(&self, statements: Vec<Statement<'_>>) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        if statements.len() == 1 && self.entry.is_none() {
            let _turn = self.store.take_write_turn().await;
            let mut rows = Vec::new();
            for statement in statements {
                rows.extend(statement.fetch_all(&self.store.pool).await?);
            }
            return Ok(rows);
        }
        let mut write = self.begin_write().await?;
        let mut rows = Vec::new();
        for statement in statements {
            rows.extend(statement.fetch_all(&mut *write.tx).await?);
        }
        write.commit().await?;
        Ok(rows)
    }
}

/// One statement for [`Writer::statements`].
enum Statement<'q> {
    /// Text whose values are all written as literals (integers and closed sets of words,
    /// never text from outside), run as a simple query: nothing is prepared, so a text that
    /// differs every time costs no statement cache.
    Literal(&'q str),
    /// Text that never changes, prepared once per connection, and its arguments.
    Bound(sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>),
}

impl<'q> Statement<'q> {
    async fn fetch_all<'e, E>(self, executor: E) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error>
    where
        'q: 'e,
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        match self {
            Statement::Literal(text) => executor.fetch_all(text).await,
            Statement::Bound(query) => query.fetch_all(executor).await,
        }
    }
}

struct WriteTx<'a> {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::MutexGuard<'a, ()>>,
    entry: Option<PendingEntry<'a>>,
    /// Whether the entry's object was `kind:new` and now names what this change created.
    named_created: bool,
}

impl WriteTx<'_> {
    /// Names the record this change created in its audit entry, whose object was written
    /// as `kind:new` before the id existed; a change that creates several (a partner's
    /// bundle) names them all, `kind:12,13,14`.
    fn created(&mut self, id: i64) {
        if let Some(entry) = self.entry.as_mut() {
            let object = &mut entry.event.object;
            if let Some(kind) = object.strip_suffix(":new") {
                *object = format!("{kind}:{id}");
                self.named_created = true;
            } else if self.named_created {
                object.push_str(&format!(",{id}"));
            }
        }
    }

    /// Writes the audit entry into the transaction, commits both, and hands the entry to
    /// the appender. A failure before the commit leaves neither; once committed, the entry
    /// is durable, and is settled into the log by this process's next batch, by any reader's
    /// barrier (`MerkleLog::settled`), or by any process's sweep after a crash.
    async fn commit(self) -> Result<(), StoreError> {
        let WriteTx { mut tx, _turn, entry, .. } = self;
        let pending = match entry {
            Some(entry) => {
                let data = tearline_auditlog::entry::encode(&entry.event);
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO audit_pending (data, queued_at) VALUES ($1, $2) RETURNING id",
                )
                .bind(data.as_slice())
                .bind(now_millis())
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::AuditUnavailable)?;
                Some((entry.log, id, data))
            }
            None => None,
        };
        tx.commit().await?;
        drop(_turn);
        if let Some((log, id, data)) = pending {
            log.settle_later(id, data).await;
        }
        Ok(())
    }
}

/// Maps a unique-constraint violation to a conflict naming what collided.
fn conflict_as(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(error),
    }
}

/// The wall clock, for bookkeeping the store does on its own (when a migration ran). Every
/// domain time is passed in by the caller.
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}
