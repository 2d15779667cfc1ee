//! What every request handler shares: the store, the audit trail, the vault keys, the
//! clock and the settings.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tearline_auditlog::checkpoint::{CheckpointError, CheckpointSigner};
use tearline_domain::Timestamp;
use tearline_kernel::{CpuPool, Kernel, Writer};
use tearline_store::{MerkleLog, Store};

use crate::auth::Caller;
use tearline_vault::{FileKeyring, KeyCheck, KeyProvider, VaultError};

pub use tearline_kernel::{system_clock, Clock};

/// Settings that change how requests are answered.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Set when a TLS-terminating proxy is in front: session cookies get `Secure`.
    pub behind_tls: bool,
    pub session_lifetime_millis: i64,
    pub lock_after_failures: i64,
    pub lockout_millis: i64,
    /// Login attempts one client address may make per window, whatever the account; the
    /// attempt past it is refused before any hashing and audited once per window.
    pub attempts_per_address: i64,
    pub address_window_millis: i64,
    /// A tile URL template (`https://…/{z}/{x}/{y}.png`) for maps; without one, maps show the
    /// bundled Natural Earth basemap and work offline.
    pub map_tiles_url: Option<String>,
    /// The roads and places of the area the deployment covers, drawn over the basemap
    /// (`serve --map-overlay FILE`; the demo's fictional town has its own).
    pub map_overlay: Option<std::sync::Arc<tearline_warn::overlay::Overlay>>,
    /// A report's location, a threat's or a warning's area this close to one of a source's
    /// sealed addresses is flagged to whoever releases or issues it.
    pub place_flag_metres: f64,
    pub warn: crate::warn::WarnSettings,
    pub lifecycle: crate::lifecycle::LifecycleSettings,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            behind_tls: false,
            session_lifetime_millis: 12 * 3600 * 1000,
            lock_after_failures: 5,
            lockout_millis: 15 * 60 * 1000,
            attempts_per_address: 30,
            address_window_millis: 10 * 60 * 1000,
            map_tiles_url: None,
            map_overlay: None,
            place_flag_metres: 250.0,
            warn: crate::warn::WarnSettings::default(),
            lifecycle: crate::lifecycle::LifecycleSettings::default(),
        }
    }
}

/// The vault's key-encryption keys as loaded from the key file, reloadable after rotation.
pub struct VaultKeys {
    path: PathBuf,
    ring: RwLock<Arc<FileKeyring>>,
}

impl VaultKeys {
    /// Loads the key file for `store`, creating it only for a database that has never sealed
    /// anything, and refuses a key file that does not match what the database remembers.
    pub async fn open(store: &Store, path: PathBuf, now: Timestamp) -> Result<VaultKeys, StartupError> {
        let remembered = store.vault_key_checks().await?;
        let ring = if remembered.is_empty() && !path.exists() {
            FileKeyring::create(&path)?
        } else {
            FileKeyring::load(&path)?
        };
        let expected: Vec<KeyCheck> = remembered
            .into_iter()
            .map(|(key_id, check)| KeyCheck { key_id: u32::try_from(key_id).unwrap_or(u32::MAX), check })
            .collect();
        ring.verify(&expected)?;
        for check in ring.checks() {
            store.bookkeeping().remember_vault_key(i64::from(check.key_id), &check.check, now).await?;
        }
        Ok(VaultKeys { path, ring: RwLock::new(Arc::new(ring)) })
    }

    pub fn provider(&self) -> Arc<FileKeyring> {
        match self.ring.read() {
            Ok(ring) => Arc::clone(&ring),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the key file, after a rotation by this process or by the CLI.
    /// Runs `vault_op` with the key ring, and once more with the key file read again when
    /// the record was wrapped under a key this process has not loaded yet (another process
    /// rotated the key since).
    pub fn using<T>(
        &self,
        vault_op: impl Fn(&dyn tearline_vault::KeyProvider) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        match vault_op(self.provider().as_ref()) {
            Err(VaultError::UnknownKey { .. }) => vault_op(self.reload()?.as_ref()),
            other => other,
        }
    }

    pub fn reload(&self) -> Result<Arc<FileKeyring>, VaultError> {
        let ring = Arc::new(FileKeyring::load(&self.path)?);
        match self.ring.write() {
            Ok(mut slot) => *slot = Arc::clone(&ring),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&ring),
        }
        Ok(ring)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn active_key_id(&self) -> u32 {
        self.provider().active_key_id()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] tearline_store::StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("audit signing key file {path}: {error}")]
    SigningKey { path: String, error: CheckpointError },
    #[error("the audit signing key in {path} did not sign this log's checkpoints ({error}); is this the right key file?")]
    SigningKeyMismatch { path: String, error: CheckpointError },
}

/// Opens the verifiable audit log with its signing key from `key_path`, creating the key
/// only for a log that has never been signed, and refusing a key that did not sign it.
pub async fn open_audit_log(store: &Store, key_path: &std::path::Path) -> Result<MerkleLog, StartupError> {
    let path = key_path.display().to_string();
    let signed = MerkleLog::latest_checkpoint_of(store).await?;
    if signed.is_none() && !key_path.exists() {
        tearline_vault::create_secret_file(key_path, CheckpointSigner::generate_key_file().as_bytes())?;
    }
    let text = tearline_vault::read_secret_file(
        key_path,
        "this is the audit signing key file; restore it from its backup (without it no new checkpoint can be signed)",
    )?;
    let signer = CheckpointSigner::from_key_file(&text)
        .map_err(|error| StartupError::SigningKey { path: path.clone(), error })?;
    if let Some((_, note)) = signed {
        tearline_auditlog::checkpoint::verify(note.as_bytes(), signer.verifier_key())
            .map_err(|error| StartupError::SigningKeyMismatch { path, error })?;
    }
    Ok(MerkleLog::start(store.clone(), signer))
}

pub struct Inner {
    /// The only door to changes: every write carries its audit entry (`AppState::change`).
    pub kernel: Kernel,
    /// The store, for reads.
    pub store: Store,
    /// The verifiable log itself: checkpoints, entries and proofs.
    pub log: MerkleLog,
    pub keys: VaultKeys,
    /// Argon2id and other CPU-heavy work, off the async workers.
    pub cpu: CpuPool,
    pub settings: ServerSettings,
    pub warn: crate::warn::WarnRuntime,
    /// The full-text index of released intelligence: a cache of the store.
    pub search: Arc<tearline_search::SearchIndex>,
    /// What operators scrape at `/metrics` on the separate metrics listener.
    pub metrics: crate::metrics::Metrics,
}

/// Shared state handed to every handler.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        store: Store,
        log: MerkleLog,
        keys: VaultKeys,
        clock: Clock,
        settings: ServerSettings,
        search: Arc<tearline_search::SearchIndex>,
    ) -> AppState {
        AppState(Arc::new(Inner {
            kernel: Kernel::new(store.clone(), log.clone(), clock),
            store,
            log,
            keys,
            cpu: CpuPool::for_this_machine(),
            settings,
            warn: crate::warn::WarnRuntime::default(),
            search,
            metrics: crate::metrics::Metrics::default(),
        }))
    }

    pub fn now(&self) -> Timestamp {
        self.kernel.now()
    }

    /// A writer for one change `caller` makes, its audit entry riding in the change's
    /// transaction (see `tearline_kernel::Kernel::change`).
    pub fn change(&self, caller: &Caller, action: &str, object: &str, reason: Option<&str>) -> Writer<'_> {
        self.kernel.change(Some(caller.user.id), action, object, reason)
    }
}
