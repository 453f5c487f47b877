//! One error type for the whole crate, classified by exit code the way the
//! upstream encoder does: 1 for usage and I/O problems, 2 for bad data.

use std::fmt;
use std::io;
use std::path::Path;

use crate::fsm::FsmError;

/// Process exit codes shared by every subcommand.
pub mod exit {
    pub const OK: i32 = 0;
    pub const USAGE_OR_IO: i32 = 1;
    pub const DATA: i32 = 2;
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags, bad plan invocation, missing files the user named.
    #[error("{0}")]
    Usage(String),
    /// An operating-system failure (open, write, fsync, rename, ...).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// Input data that upstream rejects as corrupt or unsupported.
    #[error("{0}")]
    Data(String),
    /// A malformed or unsupported `.fsm` stream.
    #[error("{context}: {source}")]
    Fsm {
        context: String,
        #[source]
        source: FsmError,
    },
    /// The round-trip self-test found differences (details in mismatch.txt).
    #[error("self-test mismatch: {0}")]
    SelfTestMismatch(Box<MismatchInfo>),
    /// A cooperative cancellation (Ctrl-C or fail-fast).
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A self-test mismatch: a one-line summary and, when files differ, the
/// first differing path and byte (beyond upstream, for reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MismatchInfo {
    pub summary: String,
    pub first_path: Option<String>,
    pub first_offset: Option<u64>,
}

impl fmt::Display for MismatchInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)
    }
}

impl Error {
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    pub fn data(msg: impl Into<String>) -> Self {
        Error::Data(msg.into())
    }

    /// A data error about one file of the dump tree.
    pub fn data_at(path: &Path, msg: impl fmt::Display) -> Self {
        Error::Data(format!("{}: {msg}", path.display()))
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// An I/O error about one path.
    pub fn io_at(path: &Path, op: &str, source: io::Error) -> Self {
        Error::Io {
            context: format!("{op} {}", path.display()),
            source,
        }
    }

    /// Prefix the message with `ctx: `, keeping the classification.
    pub fn context(self, ctx: impl fmt::Display) -> Self {
        match self {
            Error::Usage(m) => Error::Usage(format!("{ctx}: {m}")),
            Error::Data(m) => Error::Data(format!("{ctx}: {m}")),
            Error::Io { context, source } => Error::Io {
                context: format!("{ctx}: {context}"),
                source,
            },
            Error::Fsm { context, source } => Error::Fsm {
                context: format!("{ctx}: {context}"),
                source,
            },
            other => other,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Io { .. } => exit::USAGE_OR_IO,
            Error::Data(_) | Error::Fsm { .. } | Error::SelfTestMismatch(_) => exit::DATA,
            Error::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// `.context()` on results, so call sites read like a breadcrumb trail.
pub trait ResultExt<T> {
    fn context(self, ctx: impl fmt::Display) -> Result<T>;
    fn with_context<D: fmt::Display>(self, f: impl FnOnce() -> D) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn context(self, ctx: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.context(ctx))
    }
    fn with_context<D: fmt::Display>(self, f: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| e.context(f()))
    }
}

/// `.io_at()` on `std::io::Result`.
pub trait IoResultExt<T> {
    fn io_at(self, path: &Path, op: &str) -> Result<T>;
    fn io_ctx(self, ctx: impl Into<String>) -> Result<T>;
}

impl<T> IoResultExt<T> for io::Result<T> {
    fn io_at(self, path: &Path, op: &str) -> Result<T> {
        self.map_err(|e| Error::io_at(path, op, e))
    }
    fn io_ctx(self, ctx: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::io(ctx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_matches_upstream_exit_codes() {
        assert_eq!(Error::usage("x").exit_code(), 1);
        assert_eq!(Error::io("x", io::Error::other("y")).exit_code(), 1);
        assert_eq!(Error::data("x").exit_code(), 2);
        assert_eq!(Error::Interrupted.exit_code(), 130);
    }

    #[test]
    fn context_keeps_class_and_prefixes_message() {
        let e = Error::data("bad").context("redis/db_0/x.json");
        assert_eq!(e.to_string(), "redis/db_0/x.json: bad");
        assert_eq!(e.exit_code(), 2);
    }
}
