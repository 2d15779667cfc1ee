//! A gateway's per-message answer to a batch of text messages or e-mails.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tearline_warn::delivery::read_batch_answer(data);
});
