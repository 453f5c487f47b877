//! The dump tree's own codecs: file-name segments, KEYMAP.jsonl, CHECKSUMS.

pub mod checksums;
pub mod filename;
pub mod keymap;
