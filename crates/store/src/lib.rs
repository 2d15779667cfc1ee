//! Tearline's store: one interface, two real backends.
//!
//! [`Store`] is the interface every other crate uses. Behind it, the same SQL runs on the
//! embedded SQLite default (WAL, `synchronous=FULL`) or on PostgreSQL, chosen by the URL.
//! Each backend has its own versioned migrations under `migrations/<backend>/`; the contract
//! tests in `tests/contract.rs` run unchanged against both.
//!
//! Architecture invariant: the store sees only ciphertext for identities. It knows nothing
//! of HTTP, keys or plaintext; what it is handed sealed, it returns sealed.

mod audit;
mod intel;
mod lifecycle;
mod migrate;
mod records;
pub mod scratch;
#[cfg(feature = "testing")]
pub mod testing;
mod warn;

pub use audit::{Damage, LogError, MerkleLog};
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
        let store = Store { pool, backend, url: url.into(), write_turn: Arc::new(Mutex::new(())) };
        migrate::run(&store).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL the store was opened with (it may hold a password: never print it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Waits for this process's turn to write (SQLite only) and begins a transaction.
    async fn begin_write(&self) -> Result<WriteTx<'_>, StoreError> {
        let turn = match self.backend {
            Backend::Sqlite => Some(self.write_turn.lock().await),
            Backend::Postgres => None,
        };
        let tx = self.pool.begin().await?;
        Ok(WriteTx { tx, _turn: turn })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

struct WriteTx<'a> {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
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
