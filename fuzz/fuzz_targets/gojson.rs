//! The lenient Go-style JSON reader; whatever it accepts, its compact
//! re-encoding must parse to the same value.
#![no_main]

use ekvplan::gojson::{self as read, Escape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = read::parse_with_limit(data, 256) {
        let mut out = Vec::new();
        v.write_compact(&mut out, Escape::NoHtml);
        let again = read::parse_with_limit(&out, 256).expect("re-encoded JSON parses");
        let mut out2 = Vec::new();
        again.write_compact(&mut out2, Escape::NoHtml);
        assert_eq!(out, out2);
    }
});
