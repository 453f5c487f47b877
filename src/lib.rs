//! ekvplan: byte-compatible re-encoding of elastickv logical dumps into
//! `.fsm` snapshots and back, one at a time or many from a TOML plan.

pub mod adapter;
pub mod budget;
pub mod cancel;
pub mod cli;
pub mod decode;
pub mod encode_info;
pub mod error;
pub mod executor;
pub mod fsm;
pub mod fsutil;
pub mod gojson;
pub mod job;
pub mod machine;
pub mod manifest;
pub mod plan;
pub mod schemas;
pub mod selftest;
pub mod sorter;
pub mod tree;

pub use error::{Error, Result};
