//! RFC 9162 proof verification on arbitrary sizes, indexes, roots and proof hashes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tearline_auditlog::{proof, Hash};

fn hash(bytes: &[u8]) -> Hash {
    let mut out = [0u8; 32];
    for (slot, byte) in out.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    Hash(out)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 80 {
        return;
    }
    let number = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap_or_default());
    let (a, b) = (number(0), number(8));
    let (first, second) = (hash(&data[16..48]), hash(&data[48..80]));
    let path: Vec<Hash> = data[80..].chunks(32).map(hash).collect();
    let _ = proof::verify_inclusion(a, b, first, &path, second);
    let _ = proof::verify_consistency(a, b, first, second, &path);
    let _ = proof::inclusion_plan(a % 1_000_000, b % 1_000_000);
    let _ = proof::consistency_plan(a % 1_000_000, b % 1_000_000);
});
