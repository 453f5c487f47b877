//! ekvplan: byte-compatible re-encoding of elastickv logical dumps into
//! `.fsm` snapshots and back, one at a time or many from a TOML plan.
//!
//! The public API is what the binary and a program driving ekvplan need:
//!
//! * the command line: [`main`];
//! * one dump: [`EncodeJob`] and [`run_encode`] (tree → `.fsm`),
//!   [`DecodeRequest`] and [`run_decode`] (`.fsm` → tree), with
//!   [`AdapterSet`], [`DecodeOptions`], [`CancelToken`] and [`Warn`];
//! * many dumps: [`plan`] (load, validate, diagnostics) and [`run_plan`];
//! * the formats: [`FsmReader`], [`FsmWriter`], [`Manifest`], and the JSON
//!   Schemas of every machine-readable output ([`schemas`]);
//! * errors: [`Error`] with its [`exit`] codes and stable codes
//!   ([`Error::code`]).
//!
//! Everything else is internal. The integration tests, benchmarks and fuzz
//! targets reach the internals they exercise through [`testing`], which is
//! hidden and not stable.

mod adapter;
mod archive;
mod budget;
mod cancel;
mod cli;
mod decode;
mod diagnostic;
mod encode_info;
mod error;
mod executor;
mod fsm;
mod fsutil;
mod gojson;
mod job;
mod machine;
mod manifest;
mod output;
pub mod plan;
pub mod schemas;
mod selftest;
mod sorter;
#[doc(hidden)]
pub mod testing;
mod tree;

pub use adapter::{AdapterKind, AdapterSet, DecodeOptions, Warn, silent_warn, stderr_warn};
pub use cancel::CancelToken;
pub use cli::main;
pub use decode::{Counters as DecodeCounters, DecodeRequest, DecodeSummary, run_decode};
pub use error::{Area, Code, DataError, Error, InputError, Kind, Position, Result, exit};
pub use executor::{JobRecord, JobStatus, RunControl, RunOptions, RunReport, run_plan};
pub use fsm::{FsmError, FsmReader, FsmWriter, StreamKind};
pub use job::{EncodeJob, EncodeOutcome, Phase, parse_commit_ts, run_encode};
pub use manifest::Manifest;

pub(crate) use gojson::go_struct;
