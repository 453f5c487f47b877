//! `archive unpack` on arbitrary bytes (as a plain tar or as zstd, by the
//! first byte), under a small budget: errors are fine, panics are bugs, and
//! nothing may be written outside the destination.
#![no_main]

use ekvplan::CancelToken;
use ekvplan::testing::archive::{Compression, Limits, unpack_to_dir};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let compression = if mode & 1 == 1 {
        Compression::Zstd
    } else {
        Compression::None
    };
    let outer = tempfile::tempdir().unwrap();
    let dest = outer.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let limits = Limits {
        max_entries: 1000,
        max_bytes: 1 << 20,
    };
    let _ = unpack_to_dir(
        std::io::Cursor::new(rest.to_vec()),
        compression,
        &dest,
        limits,
        &CancelToken::new(),
    );
    let names: Vec<_> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["dest"], "an entry escaped the destination");
});
