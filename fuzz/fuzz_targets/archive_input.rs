//! The readers a plan's archive input goes through — `validate` peeks at
//! its manifest and lists its subtrees, `run` hashes it and stages it into
//! scratch — on arbitrary bytes as a `.tar` or `.tar.zst` file (by the
//! first byte): errors are fine, panics are bugs, and staging leaves
//! nothing behind in its scratch base once dropped.
#![no_main]

use ekvplan::CancelToken;
use ekvplan::testing::archive::{Compression, content_digest, peek_manifest, stage, subtrees};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (compression, name) = if mode & 1 == 1 {
        (Compression::Zstd, "dump.tar.zst")
    } else {
        (Compression::None, "dump.tar")
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, rest).unwrap();
    let cancel = CancelToken::new();
    let _ = peek_manifest(&path, compression);
    let _ = subtrees(&path, compression);
    let _ = content_digest(&path, &cancel);
    let base = dir.path().join("scratch");
    drop(stage(&path, compression, &base, &cancel));
    let left: Vec<_> = std::fs::read_dir(&base)
        .map(|rd| rd.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "staging left {left:?} behind");
});
