//! The inspector's bundle: every entry of the log and every signed checkpoint, verifiable
//! offline with nothing but the log's verifier key.
//!
//! Layout (all counts decimal ASCII, lengths 4-byte big-endian):
//!
//! ```text
//! tearline-audit-bundle v1\n
//! origin <origin>\n
//! checkpoints <k>\n
//! entries <n>\n
//! \n
//! k × ( length ‖ signed checkpoint note )   oldest first
//! n × ( length ‖ entry bytes )              entry i is the i-th, from 0
//! ```

use crate::checkpoint::{self, CheckpointError, VerifiedCheckpoint};
use crate::entry;
use crate::frontier::Frontier;
use tlog_tiles::tlog::Hash;

const MAGIC: &str = "tearline-audit-bundle v1";
/// No single note or entry is anywhere near this; a larger length means a damaged file.
const MAX_RECORD: usize = 16 << 20;

/// A bundle read from bytes, borrowing them.
#[derive(Debug, PartialEq, Eq)]
pub struct Bundle<'a> {
    pub origin: &'a str,
    pub checkpoints: Vec<&'a [u8]>,
    pub entries: Vec<&'a [u8]>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("the bundle is malformed: {0}")]
    Malformed(&'static str),
    #[error("checkpoint {position} of the bundle: {error}")]
    Checkpoint { position: usize, error: CheckpointError },
    #[error("the trusted checkpoint: {0}")]
    Trusted(CheckpointError),
    #[error("the bundle's checkpoints must grow and end at its last entry ({0})")]
    CheckpointOrder(&'static str),
    #[error("entry {index} is not a canonical audit entry: {reason}")]
    BadEntry { index: u64, reason: String },
    #[error("entry {first_bad_index} is the first that does not match the checkpoint signed at size {checkpoint_size}: entries {first_bad_index}..{checkpoint_size} were altered, removed or reordered")]
    Mismatch { first_bad_index: u64, checkpoint_size: u64 },
    #[error("the trusted checkpoint at size {trusted_size} is not a prefix of this log (entries from {first_bad_index} on were rewritten)")]
    Inconsistent { trusted_size: u64, first_bad_index: u64 },
    #[error("the trusted checkpoint at size {trusted_size} is newer than this bundle (size {bundle_size}): entries were removed")]
    Truncated { trusted_size: u64, bundle_size: u64 },
}

impl BundleError {
    /// The index of the first entry shown to be bad, where the failure names one.
    pub fn first_bad_index(&self) -> Option<u64> {
        match self {
            BundleError::BadEntry { index, .. } => Some(*index),
            BundleError::Mismatch { first_bad_index, .. }
            | BundleError::Inconsistent { first_bad_index, .. } => Some(*first_bad_index),
            BundleError::Truncated { bundle_size, .. } => Some(*bundle_size),
            _ => None,
        }
    }
}

pub fn encode(origin: &str, checkpoints: &[impl AsRef<[u8]>], entries: &[impl AsRef<[u8]>]) -> Vec<u8> {
    let payload: usize = checkpoints.iter().map(|c| c.as_ref().len() + 4).sum::<usize>()
        + entries.iter().map(|e| e.as_ref().len() + 4).sum::<usize>();
    let mut out = Vec::with_capacity(payload + 128);
    out.extend_from_slice(
        format!("{MAGIC}\norigin {origin}\ncheckpoints {}\nentries {}\n\n", checkpoints.len(), entries.len())
            .as_bytes(),
    );
    for record in checkpoints.iter().map(AsRef::as_ref).chain(entries.iter().map(AsRef::as_ref)) {
        out.extend_from_slice(&(record.len() as u32).to_be_bytes());
        out.extend_from_slice(record);
    }
    out
}

fn header_line<'a>(rest: &mut &'a [u8], prefix: &str) -> Result<&'a str, BundleError> {
    let end = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(BundleError::Malformed("a header line is unterminated"))?;
    let line = std::str::from_utf8(&rest[..end])
        .map_err(|_| BundleError::Malformed("a header line is not UTF-8"))?;
    *rest = &rest[end + 1..];
    line.strip_prefix(prefix).ok_or(BundleError::Malformed("the header lines are not as documented"))
}

fn count(text: &str, remaining: usize) -> Result<usize, BundleError> {
    let count: usize = text.parse().map_err(|_| BundleError::Malformed("a count is not a number"))?;
    // Every record takes at least its 4-byte length, which bounds a lying count.
    if count > remaining / 4 {
        return Err(BundleError::Malformed("a count is larger than the file"));
    }
    Ok(count)
}

fn record<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], BundleError> {
    let (length, tail) =
        rest.split_first_chunk::<4>().ok_or(BundleError::Malformed("the file ends inside a length"))?;
    let length = u32::from_be_bytes(*length) as usize;
    if length > MAX_RECORD || length > tail.len() {
        return Err(BundleError::Malformed("a record is longer than the file"));
    }
    let (data, tail) = tail.split_at(length);
    *rest = tail;
    Ok(data)
}

pub fn decode(bytes: &[u8]) -> Result<Bundle<'_>, BundleError> {
    let mut rest = bytes;
    if header_line(&mut rest, "")? != MAGIC {
        return Err(BundleError::Malformed("not a tearline audit bundle (v1)"));
    }
    let origin = header_line(&mut rest, "origin ")?;
    let checkpoints = count(header_line(&mut rest, "checkpoints ")?, rest.len())?;
    let entries = count(header_line(&mut rest, "entries ")?, rest.len())?;
    if !header_line(&mut rest, "")?.is_empty() {
        return Err(BundleError::Malformed("a blank line must end the header"));
    }
    let mut bundle =
        Bundle { origin, checkpoints: Vec::with_capacity(checkpoints), entries: Vec::with_capacity(entries) };
    for _ in 0..checkpoints {
        bundle.checkpoints.push(record(&mut rest)?);
    }
    for _ in 0..entries {
        bundle.entries.push(record(&mut rest)?);
    }
    if !rest.is_empty() {
        return Err(BundleError::Malformed("bytes after the last entry"));
    }
    Ok(bundle)
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub size: u64,
    pub root: Hash,
    pub checkpoints: usize,
    /// The size of the trusted checkpoint this log was shown to extend.
    pub extends_trusted: Option<u64>,
}

/// Recomputes every leaf and every checkpointed root, checks every signature, and proves
/// that the log extends the `trusted` checkpoint an inspector kept. `progress` hears
/// (entries done, total).
pub fn verify(
    bytes: &[u8],
    verifier_key: &str,
    trusted: Option<&[u8]>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Verified, BundleError> {
    let bundle = decode(bytes)?;
    let mut checkpoints: Vec<VerifiedCheckpoint> = Vec::with_capacity(bundle.checkpoints.len());
    for (position, note) in bundle.checkpoints.iter().enumerate() {
        let verified = checkpoint::verify(note, verifier_key)
            .map_err(|error| BundleError::Checkpoint { position, error })?;
        if checkpoints.last().is_some_and(|previous| previous.size >= verified.size) {
            return Err(BundleError::CheckpointOrder("sizes must strictly increase"));
        }
        checkpoints.push(verified);
    }
    let total = bundle.entries.len() as u64;
    let last = checkpoints.last().ok_or(BundleError::CheckpointOrder("there is no checkpoint"))?;
    if last.size != total || last.origin != bundle.origin {
        return Err(BundleError::CheckpointOrder(
            "the last checkpoint must cover exactly the bundle's entries",
        ));
    }
    let trusted = trusted
        .map(|note| checkpoint::verify(note, verifier_key).map_err(BundleError::Trusted))
        .transpose()?;
    if let Some(trusted) = &trusted {
        if trusted.size > total {
            return Err(BundleError::Truncated { trusted_size: trusted.size, bundle_size: total });
        }
    }

    let mut frontier = Frontier::empty();
    let mut next = checkpoints.iter().peekable();
    let mut last_good = 0;
    for (index, data) in bundle.entries.iter().enumerate() {
        let index = index as u64;
        entry::decode(data).map_err(|e| BundleError::BadEntry { index, reason: e.to_string() })?;
        frontier.append(data);
        let size = index + 1;
        if let Some(trusted) = trusted.as_ref().filter(|t| t.size == size) {
            if frontier.root() != trusted.root {
                return Err(BundleError::Inconsistent {
                    trusted_size: trusted.size,
                    first_bad_index: last_good,
                });
            }
        }
        if let Some(checkpoint) = next.next_if(|c| c.size == size) {
            if frontier.root() != checkpoint.root {
                return Err(BundleError::Mismatch { first_bad_index: last_good, checkpoint_size: size });
            }
            last_good = size;
        }
        if size.is_multiple_of(4096) || size == total {
            progress(size, total);
        }
    }
    Ok(Verified {
        size: total,
        root: frontier.root(),
        checkpoints: checkpoints.len(),
        extends_trusted: trusted.map(|t| t.size),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::CheckpointSigner;
    use proptest::prelude::*;
    use tearline_domain::audit::{AuditEvent, Outcome};
    use tearline_domain::Timestamp;

    fn entry(n: u64) -> Vec<u8> {
        entry::encode(&AuditEvent {
            at: Timestamp(n as i64),
            actor: None,
            action: "test.append".into(),
            object: format!("thing:{n}"),
            reason: None,
            outcome: Outcome::Allowed,
        })
    }

    /// A log of `size` entries with a checkpoint after every `every` entries (and at the end).
    fn log(size: u64, every: u64) -> (CheckpointSigner, Vec<Vec<u8>>, Vec<String>) {
        let signer = CheckpointSigner::from_key_file(&CheckpointSigner::generate_key_file()).unwrap();
        let mut frontier = Frontier::empty();
        let (mut entries, mut notes) = (Vec::new(), Vec::new());
        for n in 0..size {
            entries.push(entry(n));
            frontier.append(&entries[n as usize]);
            if (n + 1) % every == 0 || n + 1 == size {
                notes.push(signer.sign(n + 1, frontier.root()).unwrap());
            }
        }
        (signer, entries, notes)
    }

    fn check(
        signer: &CheckpointSigner,
        entries: &[Vec<u8>],
        notes: &[String],
        trusted: Option<&str>,
    ) -> Result<Verified, BundleError> {
        let bytes = encode(signer.origin(), notes, entries);
        verify(&bytes, signer.verifier_key(), trusted.map(str::as_bytes), &mut |_, _| {})
    }

    #[test]
    fn an_intact_bundle_verifies_and_extends_an_older_checkpoint() {
        let (signer, entries, notes) = log(20, 1);
        let verified = check(&signer, &entries, &notes, Some(&notes[6])).unwrap();
        assert_eq!((verified.size, verified.checkpoints, verified.extends_trusted), (20, 20, Some(7)));
    }

    #[test]
    fn an_altered_entry_is_named_by_its_index() {
        let (signer, mut entries, notes) = log(20, 1);
        let position = entries[13].len() - 3;
        entries[13][position] ^= 0x01;
        assert_eq!(check(&signer, &entries, &notes, None).unwrap_err().first_bad_index(), Some(13));
        let (signer, mut entries, notes) = log(20, 1);
        entries[9] = entry(99);
        let error = check(&signer, &entries, &notes, None).unwrap_err();
        assert_eq!(error, BundleError::Mismatch { first_bad_index: 9, checkpoint_size: 10 });
    }

    #[test]
    fn removed_or_reordered_entries_are_caught() {
        let (signer, entries, notes) = log(12, 1);
        let mut swapped = entries.clone();
        swapped.swap(4, 5);
        assert_eq!(check(&signer, &swapped, &notes, None).unwrap_err().first_bad_index(), Some(4));
        let (short_entries, short_notes) = (&entries[..8], &notes[..8]);
        assert_eq!(
            check(&signer, short_entries, short_notes, Some(&notes[10])).unwrap_err(),
            BundleError::Truncated { trusted_size: 11, bundle_size: 8 }
        );
    }

    #[test]
    fn a_rewritten_history_is_inconsistent_with_the_trusted_checkpoint() {
        let (signer, entries, notes) = log(10, 1);
        let trusted = notes[5].clone();
        // The operator rewrites entry 2 and re-signs everything after it with the same key.
        let mut rewritten = entries.clone();
        rewritten[2] = entry(77);
        let mut frontier = Frontier::empty();
        let resigned: Vec<String> = rewritten
            .iter()
            .enumerate()
            .map(|(n, e)| {
                frontier.append(e);
                signer.sign(n as u64 + 1, frontier.root()).unwrap()
            })
            .collect();
        let error = check(&signer, &rewritten, &resigned, Some(&trusted)).unwrap_err();
        assert!(matches!(error, BundleError::Inconsistent { trusted_size: 6, .. }), "{error}");
    }

    #[test]
    fn a_checkpoint_from_another_key_is_refused() {
        let (signer, entries, notes) = log(5, 2);
        let (other, _, _) = log(1, 1);
        let bytes = encode(signer.origin(), &notes, &entries);
        let error = verify(&bytes, other.verifier_key(), None, &mut |_, _| {}).unwrap_err();
        assert!(matches!(error, BundleError::Checkpoint { position: 0, .. }), "{error}");
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode(&bytes);
            let mut framed = b"tearline-audit-bundle v1\norigin x\ncheckpoints 1\nentries 2\n\n".to_vec();
            framed.extend_from_slice(&bytes);
            let _ = verify(&framed, "x+00000000+AQ==", None, &mut |_, _| {});
        }

        #[test]
        fn flipping_any_byte_of_any_entry_is_caught_at_that_entry(size in 2u64..24, pick in any::<prop::sample::Index>(), bit in 0u8..8) {
            let (signer, mut entries, notes) = log(size, 1);
            let index = pick.index(entries.len());
            let byte = pick.index(entries[index].len());
            entries[index][byte] ^= 1 << bit;
            prop_assert_eq!(check(&signer, &entries, &notes, None).unwrap_err().first_bad_index(), Some(index as u64));
        }
    }
}
