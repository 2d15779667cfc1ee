//! Signed checkpoints: a C2SP `tlog-checkpoint` body (origin line, decimal tree size, base64
//! root hash) signed as a C2SP `signed-note` with Ed25519. The verifier key string is the
//! `name+hash+base64` form; the key name is the log's origin.

use rand::RngCore;
use signed_note::{Note, NoteError, Signer, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::checkpoint::Checkpoint;
use tlog_tiles::tlog::Hash;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("the signing key file is malformed: {0}")]
    MalformedKeyFile(&'static str),
    #[error("the verifier key is malformed; expected name+hash+base64")]
    MalformedVerifierKey,
    #[error("the note is malformed: it must be text, a blank line, then signature lines")]
    MalformedNote,
    #[error("the note carries no signature by this key")]
    NotSignedByKey,
    #[error("the note's signature is invalid")]
    BadSignature,
    #[error("the note's text is not a checkpoint (origin, tree size, base64 root hash)")]
    MalformedCheckpoint,
    #[error("the checkpoint's origin {found:?} is not the key's {expected:?}")]
    OriginMismatch { expected: String, found: String },
    #[error("signing failed")]
    SigningFailed,
}

/// A checkpoint whose signature has been verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedCheckpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// The log's signing key, with the origin it signs for.
pub struct CheckpointSigner {
    signer: StandardSigner,
    origin: String,
    verifier_key: String,
}

impl CheckpointSigner {
    /// A new key for a new log; returns the key file's text (keep it secret).
    pub fn generate_key_file() -> Zeroizing<String> {
        let origin = format!("tearline-audit-{:08x}", rand::rngs::OsRng.next_u32());
        let (signer_key, verifier_key) = signed_note::generate_key(&mut rand::rngs::OsRng, &origin);
        let signer_key = Zeroizing::new(signer_key);
        Zeroizing::new(format!(
            "# Tearline audit log signing key. Keep it secret and apart from the database.\n{}\n{verifier_key}\n",
            signer_key.as_str()
        ))
    }

    /// Reads a key file: a private `PRIVATE+KEY+…` line and the matching verifier key line.
    pub fn from_key_file(text: &str) -> Result<CheckpointSigner, CheckpointError> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
        let secret =
            lines.next().ok_or(CheckpointError::MalformedKeyFile("the signing key line is missing"))?;
        let verifier_key = lines
            .next()
            .ok_or(CheckpointError::MalformedKeyFile("the verifier key line is missing"))?
            .to_owned();
        let signer = StandardSigner::new(secret).map_err(|_| {
            CheckpointError::MalformedKeyFile("the signing key is not PRIVATE+KEY+name+hash+base64")
        })?;
        let origin = signer.name().to_owned();
        let this = CheckpointSigner { signer, origin, verifier_key };
        let probe = this.sign(0, tlog_tiles::tlog::EMPTY_HASH)?;
        verify(probe.as_bytes(), &this.verifier_key).map_err(|_| {
            CheckpointError::MalformedKeyFile("the verifier key does not match the signing key")
        })?;
        Ok(this)
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The `name+hash+base64` string inspectors verify with.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// The signed note for a tree of `size` entries with root `root`.
    pub fn sign(&self, size: u64, root: Hash) -> Result<String, CheckpointError> {
        let body = Checkpoint::new(&self.origin, size, root, "")
            .map_err(|_| CheckpointError::MalformedCheckpoint)?;
        let mut note = Note::new(&body.to_bytes(), &[]).map_err(|_| CheckpointError::SigningFailed)?;
        note.add_sigs(&[&self.signer]).map_err(|_| CheckpointError::SigningFailed)?;
        String::from_utf8(note.to_bytes()).map_err(|_| CheckpointError::SigningFailed)
    }
}

/// Verifies a signed checkpoint byte for byte against a verifier key.
pub fn verify(note: &[u8], verifier_key: &str) -> Result<VerifiedCheckpoint, CheckpointError> {
    let verifier = StandardVerifier::new(verifier_key).map_err(|_| CheckpointError::MalformedVerifierKey)?;
    let origin = signed_note::Verifier::name(&verifier).to_owned();
    let parsed = Note::from_bytes(note).map_err(|_| CheckpointError::MalformedNote)?;
    parsed.verify(&VerifierList::new(vec![Box::new(verifier)])).map_err(|error| match error {
        NoteError::UnverifiedNote => CheckpointError::NotSignedByKey,
        NoteError::InvalidSignature { .. } => CheckpointError::BadSignature,
        _ => CheckpointError::MalformedNote,
    })?;
    let checkpoint =
        Checkpoint::from_bytes(parsed.text()).map_err(|_| CheckpointError::MalformedCheckpoint)?;
    if checkpoint.origin() != origin {
        return Err(CheckpointError::OriginMismatch {
            expected: origin,
            found: checkpoint.origin().to_owned(),
        });
    }
    Ok(VerifiedCheckpoint { origin, size: checkpoint.size(), root: *checkpoint.hash() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the documentation of Go's golang.org/x/mod/sumdb/note.
    const GO_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn go_note_verifies(note: &str) -> Result<(), NoteError> {
        let verifier = StandardVerifier::new(GO_VERIFIER).unwrap();
        Note::from_bytes(note.as_bytes())?.verify(&VerifierList::new(vec![Box::new(verifier)])).map(drop)
    }

    #[test]
    fn the_go_note_example_verifies() {
        assert!(go_note_verifies(GO_NOTE).is_ok());
    }

    #[test]
    fn a_wrong_key_hash_a_wrong_signature_or_a_moved_blank_line_is_refused() {
        let wrong_hash = GO_VERIFIER.replace("c74f20a3", "c74f20a4");
        assert!(
            StandardVerifier::new(&wrong_hash).is_err() || verify(GO_NOTE.as_bytes(), &wrong_hash).is_err()
        );
        let bad_signature = GO_NOTE.replace("x08go/ZJ", "x08go/ZK");
        assert!(go_note_verifies(&bad_signature).is_err());
        let extra_blank = GO_NOTE.replace("is.\n\n—", "is.\n\n\n—");
        assert!(go_note_verifies(&extra_blank).is_err());
        let missing_blank = GO_NOTE.replace("is.\n\n—", "is.\n—");
        assert!(go_note_verifies(&missing_blank).is_err());
        let changed_text = GO_NOTE.replace("cryptography", "cryptographY");
        assert!(go_note_verifies(&changed_text).is_err());
    }

    #[test]
    fn signed_checkpoints_are_c2sp_byte_for_byte() {
        let signer = CheckpointSigner::from_key_file(&CheckpointSigner::generate_key_file()).unwrap();
        let root = tlog_tiles::tlog::record_hash(b"x");
        let note = signer.sign(42, root).unwrap();
        let (body, signature) = note.split_once("\n\n").unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], signer.origin());
        assert_eq!(lines[1], "42");
        assert_eq!(lines[2], root.to_string());
        assert!(signature.starts_with(&format!("— {} ", signer.origin())) && signature.ends_with('\n'));
        let verified = verify(note.as_bytes(), signer.verifier_key()).unwrap();
        assert_eq!((verified.size, verified.root), (42, root));
        let parts: Vec<&str> = signer.verifier_key().splitn(3, '+').collect();
        assert_eq!((parts.len(), parts[0], parts[1].len()), (3, signer.origin(), 8));
    }

    #[test]
    fn a_checkpoint_from_another_key_or_altered_is_refused() {
        let signer = CheckpointSigner::from_key_file(&CheckpointSigner::generate_key_file()).unwrap();
        let other = CheckpointSigner::from_key_file(&CheckpointSigner::generate_key_file()).unwrap();
        let note = signer.sign(7, tlog_tiles::tlog::EMPTY_HASH).unwrap();
        assert_eq!(verify(note.as_bytes(), other.verifier_key()), Err(CheckpointError::NotSignedByKey));
        let altered = note.replacen("\n7\n", "\n8\n", 1);
        assert_eq!(verify(altered.as_bytes(), signer.verifier_key()), Err(CheckpointError::BadSignature));
        assert_eq!(verify(b"garbage", signer.verifier_key()), Err(CheckpointError::MalformedNote));
        assert_eq!(verify(note.as_bytes(), "not a key"), Err(CheckpointError::MalformedVerifierKey));
    }

    proptest::proptest! {
        /// Whatever arrives as a checkpoint or a key, verification answers without panicking.
        #[test]
        fn verifying_arbitrary_notes_and_keys_never_panics(
            note in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            text in "[a-z0-9+/=\n— -]{0,200}",
            key in "[A-Za-z0-9+/=-]{0,80}",
        ) {
            let _ = verify(&note, GO_VERIFIER);
            let _ = verify(text.as_bytes(), GO_VERIFIER);
            let _ = verify(GO_NOTE.as_bytes(), &key);
            let _ = CheckpointSigner::from_key_file(&text);
        }
    }

    #[test]
    fn a_key_file_whose_halves_do_not_match_is_refused() {
        let one = CheckpointSigner::generate_key_file();
        let two = CheckpointSigner::generate_key_file();
        let secret = one.lines().nth(1).unwrap();
        let public = two.lines().nth(2).unwrap();
        assert!(CheckpointSigner::from_key_file(&format!("{secret}\n{public}\n")).is_err());
        assert!(CheckpointSigner::from_key_file("").is_err());
    }
}
