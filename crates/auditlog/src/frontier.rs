//! The right edge of the tree: the roots of the perfect subtrees that make up the first
//! `size` leaves, biggest first. Appending a leaf costs O(log n) hashing at worst (O(1)
//! amortised), yields the stored hashes it creates, and the root is a fold of O(log n).

use tlog_tiles::tlog::{node_hash, record_hash, stored_hash_index, sub_tree_index, Hash, EMPTY_HASH};

/// One perfect subtree on the right edge.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Peak {
    level: u8,
    hash: Hash,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Peak>,
}

/// A hash the store must keep, at its Go `tlog` stored-hash index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredHash {
    pub index: u64,
    pub hash: Hash,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the stored hashes for the tree's right edge are missing or too many")]
pub struct FrontierError;

impl Frontier {
    pub fn empty() -> Frontier {
        Frontier::default()
    }

    /// Which stored hashes make up the right edge of a tree of `size` leaves.
    pub fn stored_indexes(size: u64) -> Vec<u64> {
        if size == 0 {
            return Vec::new();
        }
        sub_tree_index(0, size, Vec::new())
    }

    /// Rebuilds the right edge from the stored hashes at [`Frontier::stored_indexes`].
    pub fn from_stored(size: u64, hashes: &[Hash]) -> Result<Frontier, FrontierError> {
        let mut peaks = Vec::new();
        let mut remaining = size;
        let mut hashes = hashes.iter();
        while remaining > 0 {
            let level = u8::try_from(63 - remaining.leading_zeros()).map_err(|_| FrontierError)?;
            peaks.push(Peak { level, hash: *hashes.next().ok_or(FrontierError)? });
            remaining -= 1 << level;
        }
        if hashes.next().is_some() {
            return Err(FrontierError);
        }
        Ok(Frontier { size, peaks })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one entry; returns the stored hashes it creates, leaf first.
    pub fn append(&mut self, entry: &[u8]) -> Vec<StoredHash> {
        self.append_leaf_hash(record_hash(entry))
    }

    pub fn append_leaf_hash(&mut self, leaf: Hash) -> Vec<StoredHash> {
        let n = self.size;
        let mut created = vec![StoredHash { index: stored_hash_index(0, n), hash: leaf }];
        let mut peak = Peak { level: 0, hash: leaf };
        while let Some(left) = self.peaks.last().filter(|left| left.level == peak.level) {
            let level = peak.level + 1;
            peak = Peak { level, hash: node_hash(left.hash, peak.hash) };
            self.peaks.pop();
            created.push(StoredHash { index: stored_hash_index(level, n >> level), hash: peak.hash });
        }
        self.peaks.push(peak);
        self.size += 1;
        created
    }

    /// The RFC 6962 Merkle tree hash of the first `size` leaves.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else { return EMPTY_HASH };
        peaks.fold(last.hash, |right, left| node_hash(left.hash, right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use tlog_tiles::tlog::{tree_hash, HashReader};

    struct Memory(HashMap<u64, Hash>);

    impl HashReader for Memory {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::tlog::Error> {
            Ok(indexes.iter().map(|i| self.0[i]).collect())
        }
    }

    proptest! {
        /// The frontier agrees with Go tlog's tree hash over every stored hash it created,
        /// and can be rebuilt from the store at any size.
        #[test]
        fn frontier_matches_tlog_at_every_size(size in 0u64..300) {
            let mut frontier = Frontier::empty();
            let mut stored = HashMap::new();
            for n in 0..size {
                for hash in frontier.append(format!("entry {n}").as_bytes()) {
                    prop_assert!(stored.insert(hash.index, hash.hash).is_none(), "each index is written once");
                }
                let reader = Memory(stored.clone());
                prop_assert_eq!(frontier.root(), tree_hash(n + 1, &reader).unwrap());
                let edge: Vec<Hash> = Frontier::stored_indexes(n + 1).iter().map(|i| stored[i]).collect();
                prop_assert_eq!(&Frontier::from_stored(n + 1, &edge).unwrap(), &frontier);
            }
            prop_assert_eq!(stored.len() as u64, tlog_tiles::tlog::stored_hash_count(size));
        }
    }

    #[test]
    fn the_empty_tree_hashes_to_the_empty_string() {
        assert_eq!(Frontier::empty().root(), EMPTY_HASH);
        assert_eq!(Frontier::from_stored(3, &[EMPTY_HASH]), Err(FrontierError));
    }
}
