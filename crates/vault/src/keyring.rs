//! The default [`KeyProvider`]: key-encryption keys in a file beside, never inside, the
//! database.
//!
//! File format, one key per line, highest id active:
//! ```text
//! # comment
//! kek <id> <base64 of 32 bytes>
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{decrypt, encrypt, wrap_aad, KeyProvider, SecretKey, VaultError};

const HEADER: &str =
    "# Tearline vault key-encryption keys. Keep this file secret and apart from database backups.\n";

/// Key-encryption keys loaded from a key file.
pub struct FileKeyring {
    keys: BTreeMap<u32, SecretKey>,
}

/// A public fingerprint of a KEK, stored in the database so a wrong key file is caught at
/// start-up with a clear message rather than at the first unseal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCheck {
    pub key_id: u32,
    pub check: Vec<u8>,
}

impl FileKeyring {
    /// Creates a new key file holding one fresh key, readable by its owner only. Refuses to
    /// overwrite an existing file: losing a KEK loses every identity sealed under it.
    pub fn create(path: &Path) -> Result<FileKeyring, VaultError> {
        let key = SecretKey::random();
        let contents = Zeroizing::new(format!("{HEADER}{}", key_line(1, &key)));
        write_private(path, contents.as_bytes(), true)?;
        Ok(FileKeyring { keys: BTreeMap::from([(1, key)]) })
    }

    pub fn load(path: &Path) -> Result<FileKeyring, VaultError> {
        let display = path.display().to_string();
        let text = read_secret_file(
            path,
            "this is the vault key file; point --key-file at it, or restore it from its backup (without it no sealed identity can be opened)",
        )?;
        let mut keys = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let malformed =
                |reason| VaultError::KeyFileMalformed { path: display.clone(), line: index + 1, reason };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            if fields.next() != Some("kek") {
                return Err(malformed("expected `kek <id> <base64 key>`"));
            }
            let id: u32 = fields
                .next()
                .and_then(|id| id.parse().ok())
                .filter(|id| *id > 0)
                .ok_or_else(|| malformed("the key id must be a positive integer"))?;
            let encoded = fields.next().ok_or_else(|| malformed("the key is missing"))?;
            let bytes =
                Zeroizing::new(BASE64.decode(encoded).map_err(|_| malformed("the key is not base64"))?);
            let key: [u8; 32] =
                bytes.as_slice().try_into().map_err(|_| malformed("a key must be 32 bytes"))?;
            if fields.next().is_some() {
                return Err(malformed("unexpected text after the key"));
            }
            if keys.insert(id, SecretKey::from_bytes(key)).is_some() {
                return Err(malformed("the key id appears twice"));
            }
        }
        if keys.is_empty() {
            return Err(VaultError::KeyFileMalformed {
                path: display,
                line: 0,
                reason: "the file holds no key",
            });
        }
        Ok(FileKeyring { keys })
    }

    /// Appends a fresh key, which becomes the active one. Existing keys stay so that records
    /// not yet re-wrapped, and backups, can still be opened.
    pub fn add_key(path: &Path) -> Result<u32, VaultError> {
        let ring = FileKeyring::load(path)?;
        let id = ring.active_key_id() + 1;
        let mut contents = Zeroizing::new(String::from(HEADER));
        for (key_id, key) in &ring.keys {
            contents.push_str(&key_line(*key_id, key));
        }
        contents.push_str(&key_line(id, &SecretKey::random()));
        let staged = path.with_extension("key.new");
        write_private(&staged, contents.as_bytes(), false)?;
        fs::rename(&staged, path)
            .map_err(|source| VaultError::KeyFileIo { path: path.display().to_string(), source })?;
        Ok(id)
    }

    /// Fingerprints of every key held, for the database to remember.
    pub fn checks(&self) -> Vec<KeyCheck> {
        self.keys.iter().map(|(id, key)| KeyCheck { key_id: *id, check: fingerprint(key) }).collect()
    }

    /// Confirms that this key file is the one the database was sealed with.
    pub fn verify(&self, expected: &[KeyCheck]) -> Result<(), VaultError> {
        for known in expected {
            let key = self.keys.get(&known.key_id).ok_or(VaultError::UnknownKey { key_id: known.key_id })?;
            if fingerprint(key) != known.check {
                return Err(VaultError::KeyMismatch { key_id: known.key_id });
            }
        }
        Ok(())
    }
}

impl KeyProvider for FileKeyring {
    fn active_key_id(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    fn wrap(&self, data_key: &SecretKey, binding: &[u8]) -> Result<(u32, Vec<u8>), VaultError> {
        let key_id = self.active_key_id();
        let kek = self.keys.get(&key_id).ok_or(VaultError::UnknownKey { key_id })?;
        Ok((key_id, encrypt(kek, data_key.expose(), &wrap_aad(binding))?))
    }

    fn unwrap(&self, key_id: u32, wrapped: &[u8], binding: &[u8]) -> Result<SecretKey, VaultError> {
        let kek = self.keys.get(&key_id).ok_or(VaultError::UnknownKey { key_id })?;
        let plain =
            decrypt(kek, wrapped, &wrap_aad(binding)).ok_or(VaultError::UnwrapFailed { key_id })??;
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| VaultError::UnwrapFailed { key_id })?;
        Ok(SecretKey::from_bytes(bytes))
    }
}

fn key_line(id: u32, key: &SecretKey) -> String {
    format!("kek {id} {}\n", BASE64.encode(key.expose()))
}

fn fingerprint(key: &SecretKey) -> Vec<u8> {
    Sha256::new().chain_update(b"tearline vault key check v1").chain_update(key.expose()).finalize().to_vec()
}

/// Creates a secret file readable by its owner only; never overwrites one.
pub fn create_secret_file(path: &Path, contents: &[u8]) -> Result<(), VaultError> {
    write_private(path, contents, true)
}

/// Reads a secret file, refusing one that other users can read. `hint` says what to do when
/// it is missing.
pub fn read_secret_file(path: &Path, hint: &'static str) -> Result<Zeroizing<String>, VaultError> {
    let display = path.display().to_string();
    let metadata = fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => VaultError::KeyFileMissing { path: display.clone(), hint },
        _ => VaultError::KeyFileIo { path: display.clone(), source },
    })?;
    check_private(path, &metadata)?;
    let text = fs::read_to_string(path).map_err(|source| VaultError::KeyFileIo { path: display, source })?;
    Ok(Zeroizing::new(text))
}

fn write_private(path: &Path, contents: &[u8], create_new: bool) -> Result<(), VaultError> {
    let io_error = |source| VaultError::KeyFileIo { path: path.display().to_string(), source };
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_error)?;
    file.write_all(contents).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

fn check_private(path: &Path, metadata: &fs::Metadata) -> Result<(), VaultError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(VaultError::KeyFileTooOpen { path: PathBuf::from(path).display().to_string(), mode });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_file_is_private_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.key");
        let created = FileKeyring::create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let loaded = FileKeyring::load(&path).unwrap();
        assert_eq!(loaded.checks(), created.checks());
        assert!(FileKeyring::create(&path).is_err(), "an existing key file is never overwritten");
    }

    #[test]
    fn a_missing_key_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let error = FileKeyring::load(&dir.path().join("absent.key")).err().unwrap();
        assert!(matches!(error, VaultError::KeyFileMissing { .. }), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn a_world_readable_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.key");
        FileKeyring::create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(FileKeyring::load(&path), Err(VaultError::KeyFileTooOpen { mode: 0o644, .. })));
    }

    #[test]
    fn malformed_key_files_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.key");
        for (contents, line) in [
            ("kek 1 notbase64!!\n", 1),
            ("# c\nkek 0 AAAA\n", 2),
            ("key 1 AAAA\n", 1),
            ("kek 1 AAAA\n", 1),
            ("", 0),
        ] {
            write_private(&path, contents.as_bytes(), false).unwrap();
            match FileKeyring::load(&path) {
                Err(VaultError::KeyFileMalformed { line: got, .. }) => {
                    assert_eq!(got, line, "{contents:?}")
                }
                other => panic!("{contents:?}: {:?}", other.err()),
            }
        }
    }

    proptest::proptest! {
        /// Whatever a key file holds, loading it answers with keys or a clear error, never a panic.
        #[test]
        fn loading_arbitrary_key_files_never_panics(contents in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
                                                    text in "(kek [0-9]{1,3} [A-Za-z0-9+/=]{0,50}\n|#.*\n|.*\n){0,4}") {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("vault.key");
            for bytes in [contents.as_slice(), text.as_bytes()] {
                write_private(&path, bytes, false).unwrap();
                let _ = FileKeyring::load(&path);
            }
        }
    }

    #[test]
    fn a_different_key_file_fails_verification() {
        let dir = tempfile::tempdir().unwrap();
        let ring = FileKeyring::create(&dir.path().join("a.key")).unwrap();
        let other = FileKeyring::create(&dir.path().join("b.key")).unwrap();
        assert!(ring.verify(&ring.checks()).is_ok());
        assert!(matches!(other.verify(&ring.checks()), Err(VaultError::KeyMismatch { key_id: 1 })));
        let future = [KeyCheck { key_id: 7, check: vec![] }];
        assert!(matches!(ring.verify(&future), Err(VaultError::UnknownKey { key_id: 7 })));
    }
}
