//! MANIFEST.json parsing and validation; an accepted manifest must write
//! back to bytes that parse to the same manifest.
#![no_main]

use ekvplan::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(data) {
        if let Ok(bytes) = m.to_bytes() {
            let again = Manifest::parse(&bytes).expect("our own output parses");
            assert_eq!(again.to_bytes().unwrap(), bytes);
        }
    }
});
