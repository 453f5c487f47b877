//! The S3 adapter: buckets, objects and their chunked bodies.
//!
//! * [`keys`]: the `!s3|…` key layouts and the chunk-reference value;
//! * [`json`]: the live records and the dump's JSON files, Go-compatible;
//! * [`decode`]: `.fsm` → `s3/<bucket>/…` (bodies streamed through scratch);
//! * [`encode`]: `s3/<bucket>/…` → records (bodies re-split into 1 MiB
//!   chunks), including the reversal of collision renames via KEYMAP.jsonl.
//!
//! See `docs/s3.md` for the format and every deliberate difference.

use super::{AdapterDecoder, DecodeContext, EncodeContext, EntrySink};
use crate::error::Result;

pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod json;
pub mod keys;
mod spill;

/// Key prefixes the decoder routes to this adapter. `!s3|bucket|gen|`,
/// `!s3|gc|upload|` and `!s3route|` are counted as internal by the core,
/// even with S3 enabled, as upstream does.
pub const ROUTES: &[&[u8]] = &[
    keys::BUCKET_META,
    keys::OBJECT_MANIFEST,
    keys::BLOB,
    keys::CHUNK_REF,
    keys::CHUNK_BLOB,
    keys::UPLOAD_META,
    keys::UPLOAD_PART,
];

/// The sidecar suffix; a user key ending with it collides.
pub const META_SUFFIX: &str = ".elastickv-meta.json";
/// Appended to a key that is also a directory prefix of another key.
pub const LEAF_DATA_SUFFIX: &str = ".elastickv-leaf-data";
/// Appended to a key ending in [`META_SUFFIX`] under `--rename-collisions`.
pub const META_RENAME_SUFFIX: &str = ".user-data";
/// Top-level bucket directories that hold the decoder's own payload.
pub const RESERVED_DIRS: [&str; 2] = ["_incomplete_uploads", "_orphans"];

/// Restore constants stamped into every encoded record.
pub const RESTORE_GENERATION: u64 = 1;
pub const RESTORE_UPLOAD_ID: &str = "elastickv-restore";
pub const RESTORE_PART_NO: u64 = 1;
pub const CHUNK_SIZE: usize = 1 << 20;

/// `""`, `"."` or `".."`: names upstream refuses as path components.
pub(crate) fn is_dot_or_empty(s: &[u8]) -> bool {
    matches!(s, b"" | b"." | b"..")
}

pub fn encode(ctx: &EncodeContext<'_>, sink: &mut dyn EntrySink) -> Result<()> {
    encode::encode(ctx, sink)
}

pub fn decoder(ctx: &DecodeContext) -> Result<Box<dyn AdapterDecoder>> {
    Ok(Box::new(decode::S3Decoder::new(ctx)))
}
