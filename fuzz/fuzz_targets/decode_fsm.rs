//! The whole decoder (routing plus every adapter's decode side) on arbitrary
//! `.fsm` bytes: errors are fine, panics are bugs.
#![no_main]

use ekvplan::testing::{DecodeContext, decode_stream};
use ekvplan::{CancelToken, DecodeOptions, silent_warn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let ctx = DecodeContext::writing_to(
        dir.path(),
        &dir.path().join(".scratch"),
        DecodeOptions {
            rename_s3_collisions: data.first().is_some_and(|b| b & 1 == 1),
            include_sqs_side_records: data.first().is_some_and(|b| b & 2 == 2),
            ..DecodeOptions::default()
        },
        1 << 20,
        silent_warn(),
    );
    let _ = decode_stream(data, ctx, &CancelToken::new());
});
