//! The canonical audit entry decoder: whatever decodes must encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tearline_auditlog::entry;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = entry::decode(data) {
        assert_eq!(entry::encode(&event), data, "an entry has one encoding");
    }
});
