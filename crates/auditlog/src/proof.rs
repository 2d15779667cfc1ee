//! Inclusion (RFC 9162 §2.1.3) and consistency (§2.1.4) proofs.
//!
//! Generation runs in two phases so that the caller owns the I/O: [`inclusion_plan`] /
//! [`consistency_plan`] name the stored hashes a proof needs (O(log n) of them), the caller
//! reads them, and [`inclusion_proof`] / [`consistency_proof`] assemble the proof.
//! Verification takes exactly what the RFC takes and never panics on untrusted input.

use std::cell::RefCell;
use std::collections::HashMap;

use tlog_tiles::tlog::{check_record, check_tree, prove_record, prove_tree, Hash, HashReader, EMPTY_HASH};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a consistency proof needs 0 < from ≤ to; got from {from}, to {to}")]
    BadRange { from: u64, to: u64 },
    #[error("the stored hashes the proof needs are missing")]
    MissingHashes,
    #[error("the proof does not verify")]
    Invalid,
}

/// Records which hashes a proof reads, answering with placeholders.
struct Recorder(RefCell<Vec<u64>>);

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::tlog::Error> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![EMPTY_HASH; indexes.len()])
    }
}

/// Answers from hashes the caller has read.
struct Fetched<'a>(&'a HashMap<u64, Hash>);

impl HashReader for Fetched<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::tlog::Error> {
        indexes
            .iter()
            .map(|i| self.0.get(i).copied().ok_or(tlog_tiles::tlog::Error::IndexesNotInTree))
            .collect()
    }
}

fn check_index(index: u64, size: u64) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    Ok(())
}

fn check_range(from: u64, to: u64) -> Result<(), ProofError> {
    if from == 0 || from > to {
        return Err(ProofError::BadRange { from, to });
    }
    Ok(())
}

/// The stored hashes an inclusion proof of `index` in a tree of `size` reads.
pub fn inclusion_plan(index: u64, size: u64) -> Result<Vec<u64>, ProofError> {
    check_index(index, size)?;
    let recorder = Recorder(RefCell::new(Vec::new()));
    prove_record(size, index, &recorder).map_err(|_| ProofError::MissingHashes)?;
    Ok(recorder.0.into_inner())
}

/// The audit path of RFC 9162 §2.1.3.1, from the hashes named by [`inclusion_plan`].
pub fn inclusion_proof(index: u64, size: u64, hashes: &HashMap<u64, Hash>) -> Result<Vec<Hash>, ProofError> {
    check_index(index, size)?;
    prove_record(size, index, &Fetched(hashes)).map_err(|_| ProofError::MissingHashes)
}

/// The stored hashes a consistency proof from `from` to `to` reads.
pub fn consistency_plan(from: u64, to: u64) -> Result<Vec<u64>, ProofError> {
    check_range(from, to)?;
    let recorder = Recorder(RefCell::new(Vec::new()));
    prove_tree(to, from, &recorder).map_err(|_| ProofError::MissingHashes)?;
    Ok(recorder.0.into_inner())
}

/// The consistency proof of RFC 9162 §2.1.4.1, from the hashes named by [`consistency_plan`].
pub fn consistency_proof(from: u64, to: u64, hashes: &HashMap<u64, Hash>) -> Result<Vec<Hash>, ProofError> {
    check_range(from, to)?;
    prove_tree(to, from, &Fetched(hashes)).map_err(|_| ProofError::MissingHashes)
}

/// RFC 9162 §2.1.3.2: does `proof` show that `leaf_hash` is entry `index` of the tree of
/// `size` entries with root `root`?
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: Hash,
    proof: &[Hash],
    root: Hash,
) -> Result<(), ProofError> {
    check_index(index, size)?;
    if proof.len() > 64 {
        return Err(ProofError::Invalid);
    }
    check_record(&proof.to_vec(), size, root, index, leaf_hash).map_err(|_| ProofError::Invalid)
}

/// RFC 9162 §2.1.4.2: does `proof` show that the tree of `from` entries with root
/// `from_root` is a prefix of the tree of `to` entries with root `to_root`?
pub fn verify_consistency(
    from: u64,
    to: u64,
    from_root: Hash,
    to_root: Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    check_range(from, to)?;
    if proof.len() > 128 {
        return Err(ProofError::Invalid);
    }
    check_tree(&proof.to_vec(), to, to_root, from, from_root).map_err(|_| ProofError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontier::Frontier;
    use proptest::prelude::*;

    /// The 8-leaf tree of RFC 6962's reference tests, as used by the Go and C++ CT code.
    const LEAVES: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn hash(s: &str) -> Hash {
        Hash(hex(s).try_into().unwrap())
    }

    /// Builds a tree of `size` leaves, keeping every stored hash.
    fn tree(leaves: &[Vec<u8>]) -> (Vec<Hash>, HashMap<u64, Hash>) {
        let mut frontier = Frontier::empty();
        let mut stored = HashMap::new();
        let mut roots = Vec::new();
        for leaf in leaves {
            stored.extend(frontier.append(leaf).into_iter().map(|h| (h.index, h.hash)));
            roots.push(frontier.root());
        }
        (roots, stored)
    }

    fn reference() -> (Vec<Hash>, HashMap<u64, Hash>) {
        tree(&LEAVES.iter().map(|l| hex(l)).collect::<Vec<_>>())
    }

    fn fetch(plan: &[u64], stored: &HashMap<u64, Hash>) -> HashMap<u64, Hash> {
        plan.iter().map(|i| (*i, stored[i])).collect()
    }

    #[test]
    fn roots_for_sizes_one_to_eight_match_the_reference() {
        let (roots, _) = reference();
        for (size, expected) in ROOTS.iter().enumerate() {
            assert_eq!(roots[size], hash(expected), "size {}", size + 1);
        }
    }

    #[test]
    fn inclusion_paths_match_the_reference() {
        let (_, stored) = reference();
        let cases: [(u64, u64, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, expected) in cases {
            let proof =
                inclusion_proof(index, size, &fetch(&inclusion_plan(index, size).unwrap(), &stored)).unwrap();
            assert_eq!(proof, expected.iter().map(|h| hash(h)).collect::<Vec<_>>(), "leaf {index} in {size}");
            let leaf = tlog_tiles::tlog::record_hash(&hex(LEAVES[index as usize]));
            assert_eq!(verify_inclusion(index, size, leaf, &proof, hash(ROOTS[size as usize - 1])), Ok(()));
        }
    }

    #[test]
    fn consistency_proofs_match_the_reference() {
        let (_, stored) = reference();
        let cases: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (from, to, expected) in cases {
            let proof =
                consistency_proof(from, to, &fetch(&consistency_plan(from, to).unwrap(), &stored)).unwrap();
            assert_eq!(proof, expected.iter().map(|h| hash(h)).collect::<Vec<_>>(), "{from} -> {to}");
            let (old, new) = (hash(ROOTS[from as usize - 1]), hash(ROOTS[to as usize - 1]));
            assert_eq!(verify_consistency(from, to, old, new, &proof), Ok(()));
        }
    }

    #[test]
    fn out_of_range_requests_are_errors_not_panics() {
        assert_eq!(inclusion_plan(8, 8), Err(ProofError::IndexOutOfRange { index: 8, size: 8 }));
        assert_eq!(consistency_plan(5, 4), Err(ProofError::BadRange { from: 5, to: 4 }));
        assert_eq!(consistency_plan(0, 4), Err(ProofError::BadRange { from: 0, to: 4 }));
        assert_eq!(inclusion_proof(1, 4, &HashMap::new()), Err(ProofError::MissingHashes));
    }

    proptest! {
        /// For random sizes every inclusion and consistency proof verifies, and altering any
        /// hash of a proof (or the root) makes it fail.
        #[test]
        fn every_proof_verifies_and_any_altered_hash_fails(size in 1u64..200, a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
            let leaves: Vec<Vec<u8>> = (0..size).map(|n| n.to_be_bytes().to_vec()).collect();
            let (roots, stored) = tree(&leaves);
            let index = a.index(size as usize) as u64;
            let proof = inclusion_proof(index, size, &fetch(&inclusion_plan(index, size).unwrap(), &stored)).unwrap();
            let leaf = tlog_tiles::tlog::record_hash(&leaves[index as usize]);
            let root = roots[size as usize - 1];
            prop_assert_eq!(verify_inclusion(index, size, leaf, &proof, root), Ok(()));
            let mut bad_root = root;
            bad_root.0[0] ^= 1;
            prop_assert_eq!(verify_inclusion(index, size, leaf, &proof, bad_root), Err(ProofError::Invalid));
            if !proof.is_empty() {
                let mut altered = proof.clone();
                altered[flip.index(proof.len())].0[31] ^= 0x80;
                prop_assert_eq!(verify_inclusion(index, size, leaf, &altered, root), Err(ProofError::Invalid));
            }

            let from = b.index(size as usize) as u64 + 1;
            let proof = consistency_proof(from, size, &fetch(&consistency_plan(from, size).unwrap(), &stored)).unwrap();
            let old = roots[from as usize - 1];
            prop_assert_eq!(verify_consistency(from, size, old, root, &proof), Ok(()));
            if !proof.is_empty() {
                let mut altered = proof.clone();
                altered[flip.index(proof.len())].0[0] ^= 1;
                prop_assert_eq!(verify_consistency(from, size, old, root, &altered), Err(ProofError::Invalid));
            }
        }

        #[test]
        fn verifying_garbage_never_panics(index in any::<u64>(), size in any::<u64>(), from in any::<u64>(), hashes in proptest::collection::vec(any::<[u8; 32]>(), 0..70)) {
            let proof: Vec<Hash> = hashes.into_iter().map(Hash).collect();
            let _ = verify_inclusion(index, size, Hash([0; 32]), &proof, Hash([1; 32]));
            let _ = verify_consistency(from, size, Hash([0; 32]), Hash([1; 32]), &proof);
        }
    }
}
