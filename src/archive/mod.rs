//! Dump-tree archives, interchangeable with upstream's
//! `elastickv-snapshot-archive`: a tar stream of the tree in bytewise path
//! order, optionally zstd-compressed. `pack` verifies the tree first;
//! `unpack` refuses anything but plain directories and regular files inside
//! the tree, applies an entry and byte budget, and verifies MANIFEST.json
//! and CHECKSUMS before the tree is published.

use std::fmt;
use std::path::Path;

use crate::error::{Area, Error, Kind};

pub mod cli;
pub mod goheader;
pub mod input;
pub mod pack;
pub mod unpack;
mod verify;

pub use pack::pack_tree;
pub use unpack::{UnpackStats, unpack_to_dir};

/// The compressions upstream's `--compression` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Zstd,
}

impl Compression {
    /// `--compression`: `zstd` or `none` (upstream also takes "" as none).
    pub fn parse(s: &str) -> Result<Compression, Error> {
        match s {
            "zstd" => Ok(Compression::Zstd),
            "none" | "" => Ok(Compression::None),
            other => Err(Error::usage(format!(
                "--compression {other:?}: unsupported compression (use zstd or none)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd => "zstd",
        }
    }

    /// By file name: `.tar` is uncompressed, `.tar.zst`/`.tar.zstd` zstd.
    pub fn from_file_name(name: &str) -> Option<Compression> {
        if name.ends_with(".tar") {
            Some(Compression::None)
        } else if name.ends_with(".tar.zst") || name.ends_with(".tar.zstd") {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    /// `path` if it names an archive by its extension.
    pub fn from_path(path: &Path) -> Option<Compression> {
        path.file_name()
            .and_then(|n| n.to_str())
            .and_then(Compression::from_file_name)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The archive extensions, longest first.
pub const EXTENSIONS: [&str; 3] = [".tar.zstd", ".tar.zst", ".tar"];

/// A file name without its archive extension (`c1.tar.zst` → `c1`).
pub fn strip_extension(name: &str) -> &str {
    EXTENSIONS
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(name)
}

/// Upstream's unpack budget: at most this many entries ...
pub const MAX_ENTRIES: u64 = 1_000_000;
/// ... and this many bytes of regular-file data.
pub const MAX_BYTES: u64 = 1 << 40;

/// How much an unpack may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: u64,
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: MAX_ENTRIES,
            max_bytes: MAX_BYTES,
        }
    }
}

/// Why an archive was refused. Its error code is `ekvplan::archive::<kind>`;
/// the message also ends in a `[archive_<kind>]` tag, stable too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// `..`, an absolute path, or an empty name.
    UnsafePath,
    /// A symlink, hard link, device, FIFO or any other non-regular entry.
    NonRegular,
    /// Two entries for one path (or a file where a directory was).
    Duplicate,
    /// More than the entry or byte budget.
    Budget,
    /// The stream ends inside an entry or before the end-of-archive marker.
    Truncated,
    /// Malformed tar headers.
    Corrupt,
    /// Not zstd, or a damaged zstd frame.
    Compression,
    /// A regular file that CHECKSUMS does not list.
    Unchecksummed,
}

impl Problem {
    pub fn code(self) -> &'static str {
        match self {
            Problem::UnsafePath => "archive_unsafe_path",
            Problem::NonRegular => "archive_non_regular",
            Problem::Duplicate => "archive_duplicate_entry",
            Problem::Budget => "archive_budget_exceeded",
            Problem::Truncated => "archive_truncated",
            Problem::Corrupt => "archive_corrupt",
            Problem::Compression => "archive_bad_compression",
            Problem::Unchecksummed => "archive_unchecksummed_file",
        }
    }

    /// A data error (exit 2) with this problem's code.
    pub fn error(self, msg: impl fmt::Display) -> Error {
        Error::data_kind(self.kind(), format!("{msg} [{}]", self.code())).in_area(Area::Archive)
    }

    /// The kind of its error code, `ekvplan::archive::<kind>`.
    pub fn kind(self) -> Kind {
        match self {
            Problem::UnsafePath => Kind::UnsafePath,
            Problem::NonRegular => Kind::NonRegular,
            Problem::Duplicate => Kind::DuplicateEntry,
            Problem::Budget => Kind::BudgetExceeded,
            Problem::Truncated => Kind::Truncated,
            Problem::Corrupt => Kind::Corrupt,
            Problem::Compression => Kind::BadCompression,
            Problem::Unchecksummed => Kind::UnchecksummedFile,
        }
    }

    /// A data error about one archive entry.
    pub fn at_entry(self, name: &[u8], msg: impl fmt::Display) -> Error {
        self.error(format!("entry {}: {msg}", show_name(name)))
    }
}

/// An entry name for messages: quoted, invalid UTF-8 escaped.
pub fn show_name(name: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(name))
}
