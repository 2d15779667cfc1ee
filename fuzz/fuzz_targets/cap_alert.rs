//! The CAP 1.2 reader on arbitrary bytes: partners' uploads and feeds. Whatever it reads
//! must validate and write back to a document it reads again identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tearline_warn::cap::Alert;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(alert) = Alert::from_xml(text) {
        assert!(alert.validate().is_ok(), "a read alert validates");
        assert_eq!(Alert::from_xml(&alert.to_xml()).as_ref(), Ok(&alert), "it reads back as written");
    }
});
