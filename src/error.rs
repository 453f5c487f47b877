//! One error type for the whole crate, classified by exit code the way the
//! upstream encoder does: 1 for usage and I/O problems, 2 for bad data.
//! Every error also has a stable code, `ekvplan::<area>::<kind>` (or
//! `ekvplan::<kind>` for usage, I/O and interruption), a help line, and the
//! file and byte offset or line when it is about one; docs/errors.md lists
//! them. The message wording may change between releases; the codes do not.

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

/// Which part of ekvplan refused the input: the middle of a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    Redis,
    Dynamodb,
    S3,
    Sqs,
    /// `MANIFEST.json`.
    Manifest,
    /// The dump tree's `CHECKSUMS` file.
    Checksums,
    /// The `.fsm` stream's framing.
    Fsm,
    /// Dump-tree archives (`.tar`, `.tar.zst`).
    Archive,
    /// Encoding outside any one adapter (scanning the tree, sorting).
    Encode,
    /// Decoding outside any one adapter (routing, publishing the tree).
    Decode,
    /// The round-trip self-test and `verify`.
    SelfTest,
}

impl Area {
    pub const ALL: &[Area] = &[
        Area::Redis,
        Area::Dynamodb,
        Area::S3,
        Area::Sqs,
        Area::Manifest,
        Area::Checksums,
        Area::Fsm,
        Area::Archive,
        Area::Encode,
        Area::Decode,
        Area::SelfTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Redis => "redis",
            Area::Dynamodb => "dynamodb",
            Area::S3 => "s3",
            Area::Sqs => "sqs",
            Area::Manifest => "manifest",
            Area::Checksums => "checksums",
            Area::Fsm => "fsm",
            Area::Archive => "archive",
            Area::Encode => "encode",
            Area::Decode => "decode",
            Area::SelfTest => "self_test",
        }
    }
}

/// What is wrong: the last part of a code. Each kind has one exit class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Bad flags or arguments; exit 1.
    Usage,
    /// An operating-system failure; exit 1.
    Io,
    /// Ctrl-C, SIGTERM or fail-fast; exit 130.
    Interrupted,
    /// A bug in ekvplan (a job panicked); exit 1.
    Internal,
    JsonSyntax,
    JsonType,
    JsonBase64,
    JsonUnknownField,
    JsonTrailingData,
    /// A record that parses but that upstream refuses.
    InvalidRecord,
    ShortHeader,
    BadMagic,
    Truncated,
    KeyTooLarge,
    ValueTooLarge,
    ShortKey,
    ShortValue,
    Encrypted,
    RuntimeWrapper,
    ReadError,
    Mismatch,
    UnsupportedVersion,
    ChecksumMismatch,
    MissingFile,
    DuplicateKey,
    TooLarge,
    UnsafePath,
    NonRegular,
    DuplicateEntry,
    BudgetExceeded,
    Corrupt,
    BadCompression,
    UnchecksummedFile,
}

impl Kind {
    pub const ALL: &[Kind] = &[
        Kind::Usage,
        Kind::Io,
        Kind::Interrupted,
        Kind::Internal,
        Kind::JsonSyntax,
        Kind::JsonType,
        Kind::JsonBase64,
        Kind::JsonUnknownField,
        Kind::JsonTrailingData,
        Kind::InvalidRecord,
        Kind::ShortHeader,
        Kind::BadMagic,
        Kind::Truncated,
        Kind::KeyTooLarge,
        Kind::ValueTooLarge,
        Kind::ShortKey,
        Kind::ShortValue,
        Kind::Encrypted,
        Kind::RuntimeWrapper,
        Kind::ReadError,
        Kind::Mismatch,
        Kind::UnsupportedVersion,
        Kind::ChecksumMismatch,
        Kind::MissingFile,
        Kind::DuplicateKey,
        Kind::TooLarge,
        Kind::UnsafePath,
        Kind::NonRegular,
        Kind::DuplicateEntry,
        Kind::BudgetExceeded,
        Kind::Corrupt,
        Kind::BadCompression,
        Kind::UnchecksummedFile,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Usage => "usage",
            Kind::Io => "io",
            Kind::Interrupted => "interrupted",
            Kind::Internal => "internal",
            Kind::JsonSyntax => "json_syntax",
            Kind::JsonType => "json_type",
            Kind::JsonBase64 => "json_base64",
            Kind::JsonUnknownField => "json_unknown_field",
            Kind::JsonTrailingData => "json_trailing_data",
            Kind::InvalidRecord => "invalid_record",
            Kind::ShortHeader => "short_header",
            Kind::BadMagic => "bad_magic",
            Kind::Truncated => "truncated",
            Kind::KeyTooLarge => "key_too_large",
            Kind::ValueTooLarge => "value_too_large",
            Kind::ShortKey => "short_key",
            Kind::ShortValue => "short_value",
            Kind::Encrypted => "encrypted",
            Kind::RuntimeWrapper => "runtime_wrapper",
            Kind::ReadError => "read_error",
            Kind::Mismatch => "mismatch",
            Kind::UnsupportedVersion => "unsupported_version",
            Kind::ChecksumMismatch => "checksum_mismatch",
            Kind::MissingFile => "missing_file",
            Kind::DuplicateKey => "duplicate_key",
            Kind::TooLarge => "too_large",
            Kind::UnsafePath => "unsafe_path",
            Kind::NonRegular => "non_regular",
            Kind::DuplicateEntry => "duplicate_entry",
            Kind::BudgetExceeded => "budget_exceeded",
            Kind::Corrupt => "corrupt",
            Kind::BadCompression => "bad_compression",
            Kind::UnchecksummedFile => "unchecksummed_file",
        }
    }

    /// The exit code an error of this kind gives.
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Usage | Kind::Io | Kind::Internal => exit::USAGE_OR_IO,
            Kind::Interrupted => exit::INTERRUPTED,
            _ => exit::DATA,
        }
    }

    /// What to do about it, when the message alone does not say.
    pub fn help(self) -> Option<&'static str> {
        Some(match self {
            Kind::Usage => "see `ekvplan help` and the command's --help",
            Kind::Io => "check that the path exists, its permissions and the free space",
            Kind::Interrupted => return None,
            Kind::Internal => "a bug in ekvplan; please report it with the run report",
            Kind::JsonSyntax | Kind::JsonTrailingData => {
                "the file is not one valid JSON value at the place shown; upstream refuses it too"
            }
            Kind::JsonType => {
                "the field's JSON type differs from upstream's Go struct; the adapter's page in docs/ lists the fields"
            }
            Kind::JsonBase64 => "byte fields are standard base64 with padding, as Go writes them",
            Kind::JsonUnknownField => {
                "upstream reads this file with unknown fields disallowed; remove the field"
            }
            Kind::InvalidRecord => {
                "upstream refuses this record too; the adapter's page in docs/ says what it accepts"
            }
            Kind::ShortHeader | Kind::BadMagic | Kind::RuntimeWrapper => {
                "the file is not an elastickv snapshot (.fsm) that ekvplan or upstream reads"
            }
            Kind::Truncated | Kind::ShortKey | Kind::ShortValue | Kind::ReadError => {
                "the snapshot is damaged or was cut short; copy it again"
            }
            Kind::KeyTooLarge | Kind::ValueTooLarge => {
                "an entry exceeds upstream's size limits; the snapshot is damaged or not a logical snapshot"
            }
            Kind::Encrypted => "decrypt the snapshot first; neither ekvplan nor upstream decrypts",
            Kind::Mismatch => {
                "the snapshot does not decode back to its input; mismatch.txt names the differences (please report it)"
            }
            Kind::UnsupportedVersion => {
                "the dump was written by a newer elastickv; use an ekvplan that reads its format_version"
            }
            Kind::ChecksumMismatch => {
                "the file changed after the dump was written, or the copy is damaged; copy the dump again"
            }
            Kind::MissingFile => "a file the dump lists is not there; copy the whole dump again",
            Kind::DuplicateKey => {
                "two records of the dump map to one snapshot key; upstream refuses the dump too"
            }
            Kind::TooLarge => {
                "one record is larger than the memory budget can sort; raise --memory-budget"
            }
            Kind::UnsafePath | Kind::NonRegular | Kind::DuplicateEntry | Kind::Corrupt => {
                "the archive is not one that elastickv-snapshot-archive packs; ekvplan refuses it as upstream does"
            }
            Kind::BudgetExceeded => {
                "the archive holds more entries or bytes than the unpack budget allows"
            }
            Kind::BadCompression => {
                "the archive's compression does not match --compression (or the file is damaged)"
            }
            Kind::UnchecksummedFile => {
                "every regular file of a dump tree is listed in its CHECKSUMS file"
            }
        })
    }
}

/// A stable error code: `ekvplan::<area>::<kind>`, or `ekvplan::<kind>`
/// when no one part of ekvplan is to blame (usage, I/O, interruption).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code {
    pub area: Option<Area>,
    pub kind: Kind,
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.area {
            Some(a) => write!(f, "ekvplan::{}::{}", a.as_str(), self.kind.as_str()),
            None => write!(f, "ekvplan::{}", self.kind.as_str()),
        }
    }
}

/// A refused input that is not one JSON record: the code's kind, the part
/// of ekvplan that refused it, the file, and the message as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    pub kind: Kind,
    pub area: Option<Area>,
    pub file: Option<PathBuf>,
    pub at: Option<Position>,
    pub help: Option<String>,
    /// The whole message, contexts and file included.
    pub message: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
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
    Data(Box<DataError>),
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

    /// A refused input, [`Kind::InvalidRecord`] until said otherwise.
    pub fn data(msg: impl Into<String>) -> Self {
        Error::data_kind(Kind::InvalidRecord, msg)
    }

    pub fn data_kind(kind: Kind, msg: impl Into<String>) -> Self {
        Error::Data(Box::new(DataError {
            kind,
            area: None,
            file: None,
            at: None,
            help: None,
            message: msg.into(),
        }))
    }

    /// A data error about one file of the dump tree.
    pub fn data_at(path: &Path, msg: impl fmt::Display) -> Self {
        match Error::data(format!("{}: {msg}", path.display())) {
            Error::Data(mut d) => {
                d.file = Some(path.to_path_buf());
                Error::Data(d)
            }
            _ => unreachable!("Error::data builds Data"),
        }
    }

    /// Prefix the whole message with `ctx: `, before the file an input
    /// error names (where [`Self::context`] goes after it).
    pub fn lead(self, ctx: impl fmt::Display) -> Self {
        match self {
            Error::Input(mut e) => {
                e.context.insert(0, ctx.to_string());
                e.lead = e.lead.saturating_add(1);
                Error::Input(e)
            }
            other => other.context(ctx),
        }
    }

    /// The line of the file a data error is about.
    pub fn at_line(mut self, line: u64) -> Self {
        if let Error::Data(d) = &mut self {
            d.at = Some(Position::Line(line));
        }
        self
    }

    /// Where in the `.fsm` payload a data error without a position is (the
    /// entry it came from). An input error keeps its own: its offset is
    /// inside the record and shown in its message.
    pub fn at_payload_byte(mut self, offset: u64) -> Self {
        if let Error::Data(d) = &mut self {
            if d.at.is_none() && d.file.is_none() {
                d.at = Some(Position::Byte(offset));
            }
        }
        self
    }

    /// A data error of `kind` (other errors keep theirs).
    pub fn with_kind(mut self, kind: Kind) -> Self {
        if let Error::Data(d) = &mut self {
            d.kind = kind;
        }
        self
    }

    /// Blame `area` unless a more precise part of ekvplan already is.
    pub fn in_area(mut self, area: Area) -> Self {
        match &mut self {
            Error::Data(d) if d.area.is_none() => d.area = Some(area),
            Error::Input(e) if e.area.is_none() => e.area = Some(area),
            _ => {}
        }
        self
    }

    /// A help line in place of the kind's own.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        match &mut self {
            Error::Data(d) => d.help = Some(help.into()),
            Error::Input(e) => e.help = Some(help.into().into_boxed_str()),
            _ => {}
        }
        self
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
            Error::Data(mut d) => {
                d.message = format!("{ctx}: {}", d.message);
                Error::Data(d)
            }
            Error::Input(mut e) => {
                let after_lead = usize::from(e.lead).min(e.context.len());
                e.context.insert(after_lead, ctx.to_string());
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
        self.code().kind.exit_code()
    }

    /// The stable code.
    pub fn code(&self) -> Code {
        let (area, kind) = match self {
            Error::Usage(_) => (None, Kind::Usage),
            Error::Io { .. } => (None, Kind::Io),
            Error::Interrupted => (None, Kind::Interrupted),
            Error::Data(d) => (d.area, d.kind),
            Error::Input(e) => (e.area, e.kind()),
            Error::Fsm { source, .. } => (Some(Area::Fsm), fsm_kind(source)),
            Error::SelfTestMismatch(_) => (Some(Area::SelfTest), Kind::Mismatch),
        };
        Code { area, kind }
    }

    /// The file the error is about, when it is about one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Error::Data(d) => d.file.as_deref(),
            Error::Input(e) => e.file.as_deref(),
            _ => None,
        }
    }

    /// Where in [`Self::file`] (or in the `.fsm` payload).
    pub fn position(&self) -> Option<Position> {
        match self {
            Error::Data(d) => d.at,
            Error::Input(e) => e.at,
            Error::Fsm { source, .. } => source.offset().map(Position::Byte),
            _ => None,
        }
    }

    /// What to do about it.
    pub fn help(&self) -> Option<&str> {
        let own = match self {
            Error::Data(d) => d.help.as_deref(),
            Error::Input(e) => e.help.as_deref(),
            _ => None,
        };
        own.or_else(|| self.code().kind.help())
    }

    /// The error for the terminal. Usage errors are one line after the
    /// command's usage, as upstream's flag errors are; the others are drawn
    /// by miette like plan diagnostics: the code, the message (naming the
    /// file and where in it), and the help line.
    pub fn render(&self, style: crate::diagnostic::Style) -> String {
        match self {
            Error::Usage(m) => format!("ekvplan: error: {m}\n"),
            _ => crate::diagnostic::render(&Shown(self), style),
        }
    }
}

fn fsm_kind(e: &FsmError) -> Kind {
    match e {
        FsmError::ShortHeader { .. } => Kind::ShortHeader,
        FsmError::BadMagic { .. } => Kind::BadMagic,
        FsmError::Truncated { .. } => Kind::Truncated,
        FsmError::KeyTooLarge { .. } => Kind::KeyTooLarge,
        FsmError::ValueTooLarge { .. } => Kind::ValueTooLarge,
        FsmError::ShortKey { .. } => Kind::ShortKey,
        FsmError::ShortValue { .. } => Kind::ShortValue,
        FsmError::EncryptedReserved { .. } | FsmError::Encrypted { .. } => Kind::Encrypted,
        FsmError::Runtime(_) => Kind::RuntimeWrapper,
        FsmError::Io { .. } => Kind::ReadError,
    }
}

/// [`Error`] as a miette diagnostic; the `where` line goes under the
/// message so the message stays as every other output shows it.
struct Shown<'a>(&'a Error);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

impl std::error::Error for Shown<'_> {}

impl miette::Diagnostic for Shown<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.0.code()))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0
            .help()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
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
    /// How many of `context`'s first entries go before the file (the
    /// encoder that read it).
    pub lead: u8,
    /// The part of ekvplan that refused it (set where an adapter's work
    /// is dispatched).
    pub area: Option<Area>,
    pub help: Option<Box<str>>,
}

impl InputError {
    pub fn new(kind: InputErrorKind) -> Self {
        InputError {
            kind: Box::new(kind),
            file: None,
            at: None,
            field: None,
            context: Vec::new(),
            lead: 0,
            area: None,
            help: None,
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

    /// The last part of the stable code.
    pub fn kind(&self) -> Kind {
        match self.kind.as_ref() {
            InputErrorKind::Json(UnmarshalError::Syntax(_))
            | InputErrorKind::Json(UnmarshalError::UnexpectedEof { .. })
            | InputErrorKind::Json(UnmarshalError::Eof) => Kind::JsonSyntax,
            InputErrorKind::Json(UnmarshalError::Type { .. }) => Kind::JsonType,
            InputErrorKind::Json(UnmarshalError::Base64 { .. }) => Kind::JsonBase64,
            InputErrorKind::Json(UnmarshalError::UnknownField { .. }) => Kind::JsonUnknownField,
            InputErrorKind::Json(UnmarshalError::TrailingData { .. }) => Kind::JsonTrailingData,
            InputErrorKind::Json(UnmarshalError::Custom { .. }) | InputErrorKind::Invalid(_) => {
                Kind::InvalidRecord
            }
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lead, rest) = self
            .context
            .split_at(usize::from(self.lead).min(self.context.len()));
        for c in lead {
            write!(f, "{c}: ")?;
        }
        match (&self.file, self.at) {
            (Some(p), Some(Position::Line(n))) => write!(f, "{}:{n}: ", p.display())?,
            (Some(p), _) => write!(f, "{}: ", p.display())?,
            (None, Some(Position::Line(n))) => write!(f, "line {n}: ")?,
            (None, _) => {}
        }
        for c in rest {
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
    fn every_code_part_is_documented_with_its_exit_code() {
        let doc = include_str!("../docs/errors.md");
        for a in Area::ALL {
            assert!(
                doc.contains(&format!("| `{}` |", a.as_str())),
                "docs/errors.md lacks area {}",
                a.as_str()
            );
        }
        for k in Kind::ALL {
            let row = format!("| `{}` | {} |", k.as_str(), k.exit_code());
            assert!(doc.contains(&row), "docs/errors.md lacks {row}");
        }
        let rows = doc.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(
            rows,
            Area::ALL.len() + Kind::ALL.len(),
            "a documented code is gone"
        );
    }

    #[test]
    fn codes_name_area_and_kind() {
        let e = Error::data("bad")
            .in_area(Area::Redis)
            .in_area(Area::Encode);
        assert_eq!(e.code().to_string(), "ekvplan::redis::invalid_record");
        let e = e.at_payload_byte(7);
        assert_eq!(e.position(), Some(Position::Byte(7)));
        assert_eq!(e.to_string(), "bad");
        assert_eq!(Error::usage("x").code().to_string(), "ekvplan::usage");
        let e = Error::Fsm {
            context: String::new(),
            source: FsmError::Truncated { offset: 40 },
        };
        assert_eq!(e.code().to_string(), "ekvplan::fsm::truncated");
        assert_eq!(e.position(), Some(Position::Byte(40)));
        let e: Error = InputError::json(UnmarshalError::Eof, 0)
            .in_file(Path::new("sqs/q.jsonl"))
            .at_line(3)
            .into();
        let e = e.in_area(Area::Sqs).lead("sqs encoder");
        assert_eq!(e.code().to_string(), "ekvplan::sqs::json_syntax");
        assert_eq!(e.file(), Some(Path::new("sqs/q.jsonl")));
        assert_eq!(e.position(), Some(Position::Line(3)));
        assert!(
            e.to_string().starts_with("sqs encoder: sqs/q.jsonl:3: "),
            "{e}"
        );
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn rendered_like_plan_diagnostics() {
        let e = Error::data_at(Path::new("MANIFEST.json"), "no adapters").in_area(Area::Manifest);
        let text = e.render(crate::diagnostic::Style::Plain);
        assert!(text.contains("ekvplan::manifest::invalid_record"), "{text}");
        assert!(text.contains("MANIFEST.json: no adapters"), "{text}");
        assert!(
            text.contains("help: upstream refuses this record too"),
            "{text}"
        );
    }

    #[test]
    fn context_keeps_class_and_prefixes_message() {
        let e = Error::data("bad").context("redis/db_0/x.json");
        assert_eq!(e.to_string(), "redis/db_0/x.json: bad");
        assert_eq!(e.exit_code(), 2);
    }
}
