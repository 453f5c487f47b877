//! The Go-compatible JSON layer: whatever the raw parser accepts, its
//! compact re-encoding parses to the same tree; the unmarshal layer,
//! `json.Decoder`-style reads and value streams never panic and agree
//! with the syntax check.
#![no_main]

use ekvplan::testing::gojson::{self, Escape, SampleOuter as Outer, Value, ValueStream};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = gojson::parse_with_limit(data, 256);
    if let Ok(v) = &parsed {
        let mut out = Vec::new();
        v.write_compact(&mut out, Escape::NoHtml);
        let again = gojson::parse_with_limit(&out, 256).expect("re-encoded JSON parses");
        let mut out2 = Vec::new();
        again.write_compact(&mut out2, Escape::NoHtml);
        assert_eq!(out, out2);
    }
    // Unmarshal fails on syntax exactly when the syntax check does.
    let u = gojson::unmarshal::<Outer>(data);
    if gojson::validate(data).is_err() {
        assert!(matches!(u, Err(gojson::UnmarshalError::Syntax(_))));
    } else {
        assert!(!matches!(u, Err(gojson::UnmarshalError::Syntax(_))));
    }
    let _ = gojson::decode_one::<Outer>(data);
    let _ = gojson::unmarshal::<Value>(data);
    let mut vs = ValueStream::new(data);
    while let Ok(Some(v)) = vs.next_value() {
        let _ = gojson::decode_value::<Outer>(v.bytes);
    }
});
