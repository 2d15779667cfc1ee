//! The Atom reader that finds CAP links in a partner's feed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tearline_warn::atom::cap_links(text);
    }
});
