//! Throwaway databases for tests, on either backend.
//!
//! PostgreSQL tests need `TEARLINE_TEST_POSTGRES_URL` (the README's test command sets it).
//! Without it they fail loudly rather than pass by skipping.

use tearline_domain::source::{PseudonymousRef, SourceStatus};
use tearline_domain::{Role, SourceId, Timestamp, UnitId, UserId};

use crate::{Backend, NewSource, NewUser, SealedColumns, Store};

/// Declares each named `async fn(Store)` as two tests, one per backend, each on a fresh
/// database: the store contract holds on both or not at all.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, _db) = $crate::testing::fresh_store($crate::Backend::Sqlite).await;
                super::$name(store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, _db) = $crate::testing::fresh_store($crate::Backend::Postgres).await;
                super::$name(store).await;
            })*
        }
    };
}

pub const POSTGRES_URL_VARIABLE: &str = "TEARLINE_TEST_POSTGRES_URL";

/// Keeps a test database alive; a SQLite file lives in its temporary directory.
pub struct TestDatabase {
    pub url: String,
    /// The PostgreSQL schema the database lives in; `None` for SQLite.
    pub schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server tests run against.
pub fn postgres_url() -> String {
    std::env::var(POSTGRES_URL_VARIABLE).unwrap_or_else(|_| {
        panic!("{POSTGRES_URL_VARIABLE} is not set: the PostgreSQL store tests need a server (e.g. postgres://postgres@127.0.0.1:5432/test); the README's test command sets it")
    })
}

/// A fresh, empty database URL: a new SQLite file, or a new schema on the test server.
pub async fn fresh_database(backend: Backend) -> TestDatabase {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temporary directory");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("tearline.db").display());
            TestDatabase { url, schema: None, _dir: Some(dir) }
        }
        Backend::Postgres => {
            let base = postgres_url();
            let scratch = crate::scratch::create(&base, "tearline_test")
                .await
                .unwrap_or_else(|e| panic!("cannot create a test schema on {base}: {e}"));
            TestDatabase { url: scratch.url, schema: Some(scratch.schema), _dir: None }
        }
    }
}

/// A fresh store on `backend`, migrated.
pub async fn fresh_store(backend: Backend) -> (Store, TestDatabase) {
    let database = fresh_database(backend).await;
    let store = Store::open(&database.url).await.expect("open test store");
    (store, database)
}

impl Store {
    /// Runs SQL with no checks, as an attacker with database access could.
    pub async fn execute_unchecked(&self, sql: &str) -> Result<u64, sqlx::Error> {
        Ok(sqlx::raw_sql(sql).execute(&self.pool).await?.rows_affected())
    }
}

/// A fresh store with its audit log running under a new signing key.
pub async fn fresh_log(backend: Backend) -> (Store, crate::MerkleLog, TestDatabase) {
    let (store, database) = fresh_store(backend).await;
    let log = crate::MerkleLog::start(store.clone(), new_signer());
    (store, log, database)
}

/// A checkpoint signer under a new key.
pub fn new_signer() -> tearline_auditlog::checkpoint::CheckpointSigner {
    let key_file = tearline_auditlog::checkpoint::CheckpointSigner::generate_key_file();
    tearline_auditlog::checkpoint::CheckpointSigner::from_key_file(&key_file).expect("a fresh key file loads")
}

/// SQL that lets an attacker with database access edit the append-only audit tables.
pub fn disable_append_only_guards(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "DROP TRIGGER audit_entries_no_update; DROP TRIGGER audit_hashes_no_update; DROP TRIGGER audit_checkpoints_no_update"
        }
        Backend::Postgres => {
            "ALTER TABLE audit_entries DISABLE TRIGGER USER; ALTER TABLE audit_hashes DISABLE TRIGGER USER; ALTER TABLE audit_checkpoints DISABLE TRIGGER USER"
        }
    }
}

/// A case to test against: a unit "North" with one officer per `(username, role)`, and a
/// source KESTREL handled by the first and controlled by the second (its identity stands in
/// as placeholder ciphertext).
pub struct Case {
    pub unit: UnitId,
    pub staff: Vec<UserId>,
    pub source: SourceId,
    pub reference: PseudonymousRef,
}

/// Stand-in sealed text: the store treats what the vault sealed as opaque bytes, so its
/// contract tests need no vault. `tag` tells records apart.
pub fn sealed_text(tag: &str) -> crate::SealedColumns {
    crate::SealedColumns { key_id: 1, wrapped_key: vec![7; 72], ciphertext: tag.as_bytes().to_vec() }
}

pub async fn case(store: &Store, staff: &[(&str, Role)], at: Timestamp) -> Case {
    let unit = store.bookkeeping().create_unit("North", at).await.expect("unit");
    let mut ids = Vec::new();
    for (username, role) in staff {
        let user = NewUser {
            username,
            display_name: username,
            role: *role,
            seniority: Default::default(),
            unit_id: unit,
            password_hash: "$argon2id$x",
            awaiting_approval: false,
        };
        ids.push(store.bookkeeping().create_user(user, at).await.expect("user"));
    }
    store.bookkeeping().remember_vault_key(1, &[9; 32], at).await.expect("key check");
    let reference = PseudonymousRef::generate(&mut rand::thread_rng());
    let source = NewSource {
        code_name: "KESTREL",
        reference: &reference,
        unit_id: unit,
        handler_id: ids[0],
        controller_id: ids[1],
        status: SourceStatus::Active,
        recruited_at: at,
        sealed: SealedColumns { key_id: 1, wrapped_key: vec![1; 73], ciphertext: vec![2; 64] },
    };
    let source = store.bookkeeping().create_source(source, at).await.expect("source").id;
    Case { unit, staff: ids, source, reference }
}

/// Makes every write to the audit tables fail (or work again), as when the database role
/// loses INSERT on them: a fault injected in the middle of a running system.
pub async fn fail_audit_writes(store: &Store, failing: bool) {
    let sql = match (store.backend(), failing) {
        (Backend::Sqlite, true) => {
            "CREATE TRIGGER fault_audit_pending BEFORE INSERT ON audit_pending BEGIN SELECT RAISE(ABORT, 'injected fault: no INSERT on audit tables'); END;
             CREATE TRIGGER fault_audit_entries BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'injected fault: no INSERT on audit tables'); END;"
        }
        (Backend::Sqlite, false) => "DROP TRIGGER fault_audit_pending; DROP TRIGGER fault_audit_entries;",
        (Backend::Postgres, true) => {
            "CREATE FUNCTION fault_audit_insert() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'injected fault: no INSERT on audit tables'; END $$;
             CREATE TRIGGER fault_audit_pending BEFORE INSERT ON audit_pending FOR EACH ROW EXECUTE FUNCTION fault_audit_insert();
             CREATE TRIGGER fault_audit_entries BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION fault_audit_insert();"
        }
        (Backend::Postgres, false) => "DROP FUNCTION fault_audit_insert() CASCADE;",
    };
    store.execute_unchecked(sql).await.expect("inject or clear the audit fault");
}

impl Store {
    /// Runs a `SELECT COUNT(*) …` with no checks, to look at what a test left behind.
    pub async fn count_unchecked(&self, sql: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await
    }
}

impl Store {
    /// The content of every table as text, by table name: two equal fingerprints mean that
    /// nothing was inserted, changed or deleted in between.
    pub async fn fingerprint_unchecked(
        &self,
    ) -> Result<std::collections::BTreeMap<String, String>, sqlx::Error> {
        let tables: Vec<String> = match self.backend {
            Backend::Sqlite => {
                sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                )
                .fetch_all(&self.pool)
                .await?
            }
            Backend::Postgres => {
                sqlx::query_scalar(
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut fingerprints = std::collections::BTreeMap::new();
        for table in tables {
            let sql = match self.backend {
                Backend::Sqlite => {
                    let columns: Vec<String> =
                        sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                            .fetch_all(&self.pool)
                            .await?;
                    let row =
                        columns.iter().map(|c| format!("quote(\"{c}\")")).collect::<Vec<_>>().join("||','||");
                    format!("SELECT COALESCE(group_concat(r, char(10)), '') FROM (SELECT {row} AS r FROM \"{table}\" ORDER BY r)")
                }
                Backend::Postgres => {
                    format!("SELECT COALESCE(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM \"{table}\" t")
                }
            };
            fingerprints.insert(table, sqlx::query_scalar(&sql).fetch_one(&self.pool).await?);
        }
        Ok(fingerprints)
    }
}

impl Store {
    /// Opens the database at `url` with its schema brought only up to `version`, to put
    /// data into an older schema and then see [`Store::open`] migrate it.
    pub async fn open_at_version(url: &str, version: i64) -> Result<Store, crate::StoreError> {
        let store = Store::connect(url).await?;
        crate::migrate::run(&store, version).await?;
        Ok(store)
    }
}
