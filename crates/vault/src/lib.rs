//! The sealed identity vault.
//!
//! A source's true identity is sealed with envelope encryption: the identity is encrypted
//! with XChaCha20-Poly1305 under a fresh 256-bit data key per record, and that data key is
//! wrapped by a key-encryption key (KEK) from a [`KeyProvider`]. The KEK never enters the
//! database; the database holds only ciphertext, the wrapped data key and the KEK's id.
//! Rotating the KEK re-wraps data keys ([`rewrap`]) without touching the records.
//!
//! Architecture invariant: this is the only crate that ever holds a plaintext [`Identity`]
//! outside a request that unsealed it; the type cannot be printed by accident and wipes
//! itself when dropped. The leak guard ([`leak`]) compares report text with an identity
//! here, so the identity never leaves the crate to be checked.

mod identity;
mod keyring;
pub mod leak;

pub use identity::Identity;
pub use keyring::{create_secret_file, read_secret_file, FileKeyring, KeyCheck};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// A 256-bit symmetric key that is wiped when dropped.
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl SecretKey {
    pub fn random() -> SecretKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        SecretKey(key)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey(Zeroizing::new(bytes))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_ref().into())
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

/// What the database stores for one sealed record: an identity, or text said about a source.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Which KEK wrapped the data key.
    pub key_id: u32,
    /// version ‖ nonce ‖ AEAD(data key).
    pub wrapped_key: Vec<u8>,
    /// version ‖ nonce ‖ AEAD(identity JSON).
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("wrapped_key_len", &self.wrapped_key.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// Everything that can go wrong in the vault. Messages name the cause and the remedy, and
/// never contain plaintext.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// A key file is missing; `hint` says which key it is and what to do.
    #[error("{path} is missing: {hint}")]
    KeyFileMissing { path: String, hint: &'static str },
    #[error("key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    KeyFileTooOpen { path: String, mode: u32 },
    #[error("vault key file {path} is malformed at line {line}: {reason}")]
    KeyFileMalformed { path: String, line: usize, reason: &'static str },
    #[error("key file {path} could not be read or written: {source}")]
    KeyFileIo { path: String, source: std::io::Error },
    #[error("this record was sealed under vault key {key_id}, which the key file does not hold; is this the right key file?")]
    UnknownKey { key_id: u32 },
    #[error("vault key {key_id} in the key file does not match the key this database was sealed with; is this the right key file?")]
    KeyMismatch { key_id: u32 },
    #[error("the wrapped data key of this record could not be opened with vault key {key_id}: the key file is wrong or the record's key was damaged")]
    UnwrapFailed { key_id: u32 },
    #[error("the sealed record failed authentication: it was altered or damaged in storage")]
    CorruptRecord,
    #[error("encryption failed")]
    EncryptionFailed,
    #[error("the sealed record uses format version {0}, which this build does not know")]
    UnknownFormat(u8),
}

/// Source of key-encryption keys. The file keyring is the default; a KMS-backed provider
/// implements the same two operations without the KEK ever leaving the KMS.
pub trait KeyProvider: Send + Sync {
    /// The KEK new data keys are wrapped with.
    fn active_key_id(&self) -> u32;
    fn wrap(&self, data_key: &SecretKey, binding: &[u8]) -> Result<(u32, Vec<u8>), VaultError>;
    fn unwrap(&self, key_id: u32, wrapped: &[u8], binding: &[u8]) -> Result<SecretKey, VaultError>;
}

/// Seals `identity` for the record named by `binding` (its pseudonymous reference). The
/// binding is authenticated, so a sealed identity moved to another record will not open.
pub fn seal(keys: &dyn KeyProvider, identity: &Identity, binding: &[u8]) -> Result<Sealed, VaultError> {
    seal_bytes(keys, &identity.to_json(), b"identity", binding)
}

/// Opens a sealed identity. Callers must have recorded the unseal in the audit trail first.
pub fn open(keys: &dyn KeyProvider, sealed: &Sealed, binding: &[u8]) -> Result<Identity, VaultError> {
    let plaintext = open_bytes(keys, sealed, b"identity", binding)?;
    Identity::from_json(&plaintext).ok_or(VaultError::CorruptRecord)
}

/// Seals text said about a source above the line (a contact's account, a welfare note, an
/// application's case) under a fresh data key of its own, as identities are sealed.
/// `binding` names the kind of record and its source (`contact/SR-…`): the ciphertext and
/// its wrapped key open only under the same binding.
pub fn seal_record(keys: &dyn KeyProvider, plaintext: &[u8], binding: &[u8]) -> Result<Sealed, VaultError> {
    seal_bytes(keys, plaintext, b"record", binding)
}

/// Opens what [`seal_record`] sealed. Callers must have recorded the read first.
pub fn open_record(
    keys: &dyn KeyProvider,
    sealed: &Sealed,
    binding: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    open_bytes(keys, sealed, b"record", binding)
}

/// Envelope encryption: `plaintext` under a fresh data key, authenticated with `purpose` and
/// `binding`; the data key wrapped by the active KEK under `binding`.
/// Seals a ticket the server hands a browser and takes back later (an unsealing's opening):
/// only a holder of the vault key can make or read one, and `binding` (who, which record)
/// must match to open it. Written as one URL-safe string.
pub fn seal_ticket(keys: &dyn KeyProvider, ticket: &[u8], binding: &[u8]) -> Result<String, VaultError> {
    use base64::Engine;
    let sealed = seal_bytes(keys, ticket, b"ticket", binding)?;
    let wrapped_len = u16::try_from(sealed.wrapped_key.len()).map_err(|_| VaultError::EncryptionFailed)?;
    let mut bytes = Vec::with_capacity(6 + sealed.wrapped_key.len() + sealed.ciphertext.len());
    bytes.extend_from_slice(&sealed.key_id.to_be_bytes());
    bytes.extend_from_slice(&wrapped_len.to_be_bytes());
    bytes.extend_from_slice(&sealed.wrapped_key);
    bytes.extend_from_slice(&sealed.ciphertext);
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Opens what [`seal_ticket`] sealed under the same `binding`; anything else — altered,
/// truncated, made for another binding — is [`VaultError::CorruptRecord`].
pub fn open_ticket(
    keys: &dyn KeyProvider,
    ticket: &str,
    binding: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(ticket.as_bytes())
        .map_err(|_| VaultError::CorruptRecord)?;
    let (key_id, rest) = bytes.split_first_chunk::<4>().ok_or(VaultError::CorruptRecord)?;
    let (wrapped_len, rest) = rest.split_first_chunk::<2>().ok_or(VaultError::CorruptRecord)?;
    let wrapped_len = usize::from(u16::from_be_bytes(*wrapped_len));
    if rest.len() < wrapped_len {
        return Err(VaultError::CorruptRecord);
    }
    let (wrapped_key, ciphertext) = rest.split_at(wrapped_len);
    let sealed = Sealed {
        key_id: u32::from_be_bytes(*key_id),
        wrapped_key: wrapped_key.to_vec(),
        ciphertext: ciphertext.to_vec(),
    };
    open_bytes(keys, &sealed, b"ticket", binding).map_err(|error| match error {
        VaultError::UnknownKey { .. } | VaultError::UnwrapFailed { .. } | VaultError::UnknownFormat(_) => {
            VaultError::CorruptRecord
        }
        other => other,
    })
}

fn seal_bytes(
    keys: &dyn KeyProvider,
    plaintext: &[u8],
    purpose: &[u8],
    binding: &[u8],
) -> Result<Sealed, VaultError> {
    let data_key = SecretKey::random();
    let ciphertext = encrypt(&data_key, plaintext, &aad(purpose, binding))?;
    let (key_id, wrapped_key) = keys.wrap(&data_key, binding)?;
    Ok(Sealed { key_id, wrapped_key, ciphertext })
}

fn open_bytes(
    keys: &dyn KeyProvider,
    sealed: &Sealed,
    purpose: &[u8],
    binding: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let data_key = keys.unwrap(sealed.key_id, &sealed.wrapped_key, binding)?;
    decrypt(&data_key, &sealed.ciphertext, &aad(purpose, binding)).ok_or(VaultError::CorruptRecord)?
}

/// Re-wraps a record's data key under the active KEK; the record's ciphertext is untouched.
pub fn rewrap(keys: &dyn KeyProvider, sealed: &Sealed, binding: &[u8]) -> Result<Sealed, VaultError> {
    let data_key = keys.unwrap(sealed.key_id, &sealed.wrapped_key, binding)?;
    let (key_id, wrapped_key) = keys.wrap(&data_key, binding)?;
    Ok(Sealed { key_id, wrapped_key, ciphertext: sealed.ciphertext.clone() })
}

fn aad(purpose: &[u8], binding: &[u8]) -> Vec<u8> {
    [b"tearline/v1/".as_slice(), purpose, b"/", binding].concat()
}

pub(crate) fn encrypt(key: &SecretKey, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = key
        .cipher()
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .map_err(|_| VaultError::EncryptionFailed)?;
    Ok([&[FORMAT_VERSION], nonce.as_slice(), &sealed].concat())
}

/// `None` when authentication fails; `Some(Err)` when the format is unknown.
pub(crate) fn decrypt(
    key: &SecretKey,
    sealed: &[u8],
    aad: &[u8],
) -> Option<Result<Zeroizing<Vec<u8>>, VaultError>> {
    let (&version, rest) = sealed.split_first()?;
    if version != FORMAT_VERSION {
        return Some(Err(VaultError::UnknownFormat(version)));
    }
    if rest.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    key.cipher()
        .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
        .ok()
        .map(|plain| Ok(Zeroizing::new(plain)))
}

pub(crate) fn wrap_aad(binding: &[u8]) -> Vec<u8> {
    aad(b"data-key", binding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> (tempfile::TempDir, FileKeyring) {
        let dir = tempfile::tempdir().unwrap();
        let ring = FileKeyring::create(&dir.path().join("vault.key")).unwrap();
        (dir, ring)
    }

    fn identity() -> Identity {
        Identity {
            full_name: "Test Person".into(),
            aliases: vec!["TP".into()],
            date_of_birth: Some("1990-02-03".into()),
            phone_numbers: vec!["+44 7700 900123".into()],
            addresses: vec!["1 Example Row".into()],
            address_points: vec![[51.5, -0.12]],
            family: vec![],
            relation_to_group: "sister of a courier".into(),
            motivation: "money".into(),
            notes: "note".into(),
        }
    }

    #[test]
    fn a_ticket_opens_only_whole_and_for_its_own_binding() {
        let (_dir, ring) = keyring();
        let ticket = seal_ticket(&ring, b"source 3, entry 41", b"user 2").unwrap();
        assert!(ticket.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{ticket}");
        assert_eq!(open_ticket(&ring, &ticket, b"user 2").unwrap().as_slice(), b"source 3, entry 41");
        assert!(matches!(open_ticket(&ring, &ticket, b"user 3"), Err(VaultError::CorruptRecord)));
        let mut altered = ticket.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(matches!(open_ticket(&ring, &altered, b"user 2"), Err(VaultError::CorruptRecord)));
        assert!(matches!(
            open_ticket(&ring, &ticket[..ticket.len() / 2], b"user 2"),
            Err(VaultError::CorruptRecord)
        ));
    }

    proptest::proptest! {
        /// Whatever a browser sends back as a ticket, opening it answers an error, never a panic.
        #[test]
        fn any_string_as_a_ticket_is_refused_without_panicking(text in ".{0,300}") {
            let (_dir, ring) = keyring();
            proptest::prop_assert!(open_ticket(&ring, &text, b"user 2").is_err());
        }
    }

    #[test]
    fn a_sealed_identity_opens_only_for_its_own_record() {
        let (_dir, ring) = keyring();
        let sealed = seal(&ring, &identity(), b"SR-AAAA-BBBB").unwrap();
        assert_eq!(open(&ring, &sealed, b"SR-AAAA-BBBB").unwrap(), identity());
        assert!(matches!(open(&ring, &sealed, b"SR-CCCC-DDDD"), Err(VaultError::UnwrapFailed { .. })));
    }

    #[test]
    fn ciphertext_contains_no_plaintext() {
        let (_dir, ring) = keyring();
        let sealed = seal(&ring, &identity(), b"SR-AAAA-BBBB").unwrap();
        let bytes = [sealed.wrapped_key.as_slice(), &sealed.ciphertext].concat();
        assert!(!bytes.windows(11).any(|w| w == b"Test Person"));
    }

    #[test]
    fn a_flipped_byte_anywhere_is_a_clear_error() {
        let (_dir, ring) = keyring();
        let sealed = seal(&ring, &identity(), b"SR-AAAA-BBBB").unwrap();
        for position in 1..sealed.ciphertext.len() {
            let mut damaged = sealed.clone();
            damaged.ciphertext[position] ^= 0x01;
            assert!(matches!(open(&ring, &damaged, b"SR-AAAA-BBBB"), Err(VaultError::CorruptRecord)));
        }
        let mut damaged = sealed.clone();
        damaged.wrapped_key[5] ^= 0x80;
        assert!(matches!(open(&ring, &damaged, b"SR-AAAA-BBBB"), Err(VaultError::UnwrapFailed { .. })));
        let mut truncated = sealed;
        truncated.ciphertext.truncate(3);
        assert!(matches!(open(&ring, &truncated, b"SR-AAAA-BBBB"), Err(VaultError::CorruptRecord)));
    }

    #[test]
    fn a_sealed_record_opens_only_under_its_own_binding_and_hides_its_text() {
        let (_dir, ring) = keyring();
        let text = b"met at the cafe on Harbour Row";
        let sealed = seal_record(&ring, text, b"contact/SR-AAAA-BBBB").unwrap();
        assert_eq!(open_record(&ring, &sealed, b"contact/SR-AAAA-BBBB").unwrap().as_slice(), text);
        let bytes = [sealed.wrapped_key.as_slice(), &sealed.ciphertext].concat();
        assert!(!bytes.windows(11).any(|w| w == b"Harbour Row"));
        // Moved to another source, or to another kind of record of the same source.
        for wrong in [b"contact/SR-CCCC-DDDD".as_slice(), b"welfare/SR-AAAA-BBBB"] {
            assert!(matches!(open_record(&ring, &sealed, wrong), Err(VaultError::UnwrapFailed { .. })));
        }
        let mut damaged = sealed.clone();
        damaged.ciphertext[30] ^= 1;
        assert!(matches!(
            open_record(&ring, &damaged, b"contact/SR-AAAA-BBBB"),
            Err(VaultError::CorruptRecord)
        ));
        let rewrapped = rewrap(&ring, &sealed, b"contact/SR-AAAA-BBBB").unwrap();
        assert_eq!(open_record(&ring, &rewrapped, b"contact/SR-AAAA-BBBB").unwrap().as_slice(), text);
    }

    #[test]
    fn a_wrong_keyring_cannot_open_the_record() {
        let (_dir, ring) = keyring();
        let (_other_dir, other) = keyring();
        let sealed = seal(&ring, &identity(), b"SR-AAAA-BBBB").unwrap();
        assert!(matches!(
            open(&other, &sealed, b"SR-AAAA-BBBB"),
            Err(VaultError::UnwrapFailed { key_id: 1 })
        ));
    }

    #[test]
    fn rotation_rewraps_the_data_key_and_leaves_the_record_alone() {
        let (dir, ring) = keyring();
        let sealed = seal(&ring, &identity(), b"SR-AAAA-BBBB").unwrap();
        let path = dir.path().join("vault.key");
        FileKeyring::add_key(&path).unwrap();
        let rotated = FileKeyring::load(&path).unwrap();
        assert_eq!(rotated.active_key_id(), 2);
        let rewrapped = rewrap(&rotated, &sealed, b"SR-AAAA-BBBB").unwrap();
        assert_eq!(rewrapped.key_id, 2);
        assert_eq!(rewrapped.ciphertext, sealed.ciphertext);
        assert_ne!(rewrapped.wrapped_key, sealed.wrapped_key);
        assert_eq!(open(&rotated, &rewrapped, b"SR-AAAA-BBBB").unwrap(), identity());
    }
}
