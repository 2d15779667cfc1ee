//! C2SP checkpoints as signed notes, verified against a fixed key (the corpus holds notes
//! that key signed, so the fuzzer starts from valid signatures).
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The verifier key of the corpus's notes (a throwaway key made for the corpus).
pub const VERIFIER_KEY: &str = include_str!("../corpus-key.txt");

fuzz_target!(|data: &[u8]| {
    let _ = tearline_auditlog::checkpoint::verify(data, VERIFIER_KEY.trim());
});
