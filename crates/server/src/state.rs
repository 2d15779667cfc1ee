//! What every request handler shares: the store, the audit trail, the vault keys, the
//! clock and the settings.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tearline_domain::audit::AuditLog;
use tearline_domain::Timestamp;
use tearline_store::Store;
use tearline_vault::{FileKeyring, KeyCheck, KeyProvider, VaultError};

/// The time source. Injected so that rules that depend on time are testable.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
    })
}

/// Settings that change how requests are answered.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Set when a TLS-terminating proxy is in front: session cookies get `Secure`.
    pub behind_tls: bool,
    pub session_lifetime_millis: i64,
    pub lock_after_failures: i64,
    pub lockout_millis: i64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            behind_tls: false,
            session_lifetime_millis: 12 * 3600 * 1000,
            lock_after_failures: 5,
            lockout_millis: 15 * 60 * 1000,
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
            store.remember_vault_key(i64::from(check.key_id), &check.check, now).await?;
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
}

pub struct Inner {
    pub store: Store,
    pub audit: Arc<dyn AuditLog>,
    pub keys: VaultKeys,
    pub clock: Clock,
    pub settings: ServerSettings,
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
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }
}
