//! XML Signature verification and canonicalisation on arbitrary bytes, with the test
//! partners' keys registered, and partner key registration on arbitrary PEM text. Nothing
//! panics, and what verifies is what the partners signed: a document the fuzzer made
//! verifies only when it reads as the very alert of a signed fixture (it may differ in bytes
//! canonicalisation removes, such as quotes, whitespace in tags or character references).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tearline_warn::cap::Alert;
use tearline_warn::xmldsig::{check, PartnerKey, Signature};

const SIGNED: [&str; 2] = [
    include_str!("../../crates/warn/tests/xmldsig/signed-rsa-exc.xml"),
    include_str!("../../crates/warn/tests/xmldsig/signed-ec-inclusive.xml"),
];
const KEYS: [&str; 2] = [
    include_str!("../../crates/warn/tests/xmldsig/rsa-test-public.pem"),
    include_str!("../../crates/warn/tests/xmldsig/ec-test-public.pem"),
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = PartnerKey::from_pem(text);
    let keys: Vec<PartnerKey> = KEYS.iter().filter_map(|pem| PartnerKey::from_pem(pem).ok()).collect();
    assert_eq!(keys.len(), 2, "the test keys read");
    if let Signature::Verified { .. } = check(text, &keys) {
        let read = Alert::from_xml(text).ok();
        assert!(
            SIGNED.iter().any(|signed| Alert::from_xml(signed).ok() == read),
            "verified, yet not a signed alert: {text}"
        );
    }
});
