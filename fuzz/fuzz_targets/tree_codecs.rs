//! Dump-tree codecs: file-name segments, KEYMAP.jsonl records, CHECKSUMS
//! lines. Decoding an encoded segment must give the original bytes back.
#![no_main]

use ekvplan::testing::{checksums, filename, keymap};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keymap::parse_record(data);
    let _ = checksums::split_line(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = filename::decode_segment(s);
    }
    let (seg, fallback) = filename::encode_segment(data);
    if !fallback {
        assert_eq!(filename::decode_segment(&seg).unwrap(), data);
    }
});
