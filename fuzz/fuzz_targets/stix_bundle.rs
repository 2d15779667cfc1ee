//! The STIX 2.1 importer on arbitrary bytes: partners' bundles.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tearline_intel::stix::import(text);
    }
});
