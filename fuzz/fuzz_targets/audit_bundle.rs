//! The inspector's offline verification of an exported bundle, with and without a trusted
//! checkpoint.
#![no_main]

use libfuzzer_sys::fuzz_target;

const VERIFIER_KEY: &str = include_str!("../corpus-key.txt");

fuzz_target!(|data: &[u8]| {
    let key = VERIFIER_KEY.trim();
    let _ = tearline_auditlog::bundle::verify(data, key, None, &mut |_, _| {});
    if let Ok(bundle) = tearline_auditlog::bundle::decode(data) {
        if let Some(first) = bundle.checkpoints.first() {
            let _ = tearline_auditlog::bundle::verify(data, key, Some(*first), &mut |_, _| {});
        }
    }
});
