//! The dump tree: its own codecs (file-name segments, KEYMAP.jsonl,
//! CHECKSUMS) and the sinks decoders emit it through.

pub mod checksums;
pub mod filename;
pub mod fs_sink;
pub mod keymap;
pub mod pathsort;
pub mod sink;

pub use sink::{FileMode, FileWriter, Suspended, TreeOut};
