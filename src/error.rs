//! One error type for the whole crate, classified by exit code the way the
//! upstream encoder does: 1 for usage and I/O problems, 2 for bad data.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::fsm::FsmError;
use crate::gojson::{StreamError, UnmarshalError};

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
    /// A dump or snapshot record upstream rejects, with where it is.
    #[error("{0}")]
    Input(Box<InputError>),
    /// A malformed or unsupported `.fsm` stream.
    #[error("{context}: {source}")]
    Fsm {
        context: String,
        #[source]
        source: FsmError,
    },
    /// The round-trip self-test found differences (details in mismatch.txt).
    #[error("self-test mismatch: {0}")]
    SelfTestMismatch(String),
    /// A cooperative cancellation (Ctrl-C or fail-fast).
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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
            Error::Input(mut e) => {
                e.context.insert(0, ctx.to_string());
                Error::Input(e)
            }
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
            Error::Data(_) | Error::Input(_) | Error::Fsm { .. } | Error::SelfTestMismatch(_) => {
                exit::DATA
            }
            Error::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// Where in a file an input error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Byte(u64),
    Line(u64),
}

/// What is wrong with an input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputErrorKind {
    /// JSON that Go's decoder rejects (syntax, type, base64, trailing data).
    Json(UnmarshalError),
    /// A record that parses but that upstream refuses.
    Invalid(String),
}

/// A rejected record of a dump file or `.fsm` value: the file, the byte
/// offset or line, the JSON field, and why. Always exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub kind: Box<InputErrorKind>,
    pub file: Option<PathBuf>,
    pub at: Option<Position>,
    pub field: Option<String>,
    /// Outer context, outermost first (e.g. the key being encoded).
    pub context: Vec<String>,
}

impl InputError {
    pub fn new(kind: InputErrorKind) -> Self {
        InputError {
            kind: Box::new(kind),
            file: None,
            at: None,
            field: None,
            context: Vec::new(),
        }
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        InputError::new(InputErrorKind::Invalid(msg.into()))
    }

    /// A JSON error; its byte offset is shifted by `base` (where the value
    /// starts in the file).
    pub fn json(e: UnmarshalError, base: u64) -> Self {
        let mut out = InputError::new(InputErrorKind::Json(e));
        if let InputErrorKind::Json(e) = out.kind.as_ref() {
            out.field = e.field().map(str::to_string);
            out.at = e.offset().map(|o| Position::Byte(base + o as u64));
        }
        out
    }

    pub fn in_file(mut self, path: &Path) -> Self {
        self.file = Some(path.to_path_buf());
        self
    }

    pub fn at_line(mut self, line: u64) -> Self {
        self.at = Some(Position::Line(line));
        self
    }

    /// A stable identifier of the kind of problem.
    pub fn code(&self) -> &'static str {
        match self.kind.as_ref() {
            InputErrorKind::Json(UnmarshalError::Syntax(_))
            | InputErrorKind::Json(UnmarshalError::UnexpectedEof { .. })
            | InputErrorKind::Json(UnmarshalError::Eof) => "json-syntax",
            InputErrorKind::Json(UnmarshalError::Type { .. }) => "json-type",
            InputErrorKind::Json(UnmarshalError::Base64 { .. }) => "json-base64",
            InputErrorKind::Json(UnmarshalError::UnknownField { .. }) => "json-unknown-field",
            InputErrorKind::Json(UnmarshalError::TrailingData { .. }) => "json-trailing-data",
            InputErrorKind::Json(UnmarshalError::Custom { .. }) | InputErrorKind::Invalid(_) => {
                "invalid-record"
            }
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.at) {
            (Some(p), Some(Position::Line(n))) => write!(f, "{}:{n}: ", p.display())?,
            (Some(p), _) => write!(f, "{}: ", p.display())?,
            (None, Some(Position::Line(n))) => write!(f, "line {n}: ")?,
            (None, _) => {}
        }
        for c in &self.context {
            write!(f, "{c}: ")?;
        }
        match self.kind.as_ref() {
            InputErrorKind::Json(e) => {
                // The decoder's offsets are relative to the value; show the
                // file offset instead.
                let msg = e.to_string();
                match (self.at, msg.rfind(" (at byte ")) {
                    (Some(Position::Byte(b)), Some(i)) => write!(f, "{} (at byte {b})", &msg[..i]),
                    _ => f.write_str(&msg),
                }
            }
            InputErrorKind::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for InputError {}

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        Error::Input(Box::new(e))
    }
}

impl From<String> for InputError {
    fn from(m: String) -> Self {
        InputError::invalid(m)
    }
}

impl From<&str> for InputError {
    fn from(m: &str) -> Self {
        InputError::invalid(m)
    }
}

impl From<crate::gojson::protowire::ProtoError> for InputError {
    fn from(e: crate::gojson::protowire::ProtoError) -> Self {
        InputError::invalid(e.to_string())
    }
}

impl From<UnmarshalError> for InputError {
    fn from(e: UnmarshalError) -> Self {
        InputError::json(e, 0)
    }
}

impl From<StreamError> for Error {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Io(e) => Error::io("read", e),
            StreamError::Json(e, line) => InputError::json(e, 0).at_line(line).into(),
        }
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
