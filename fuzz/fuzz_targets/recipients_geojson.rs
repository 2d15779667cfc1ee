//! Recipient registrations uploaded as GeoJSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tearline_warn::recipients::read_geojson(data);
});
