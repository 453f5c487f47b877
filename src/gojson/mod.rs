//! Go `encoding/json`-compatible JSON, both directions.
//!
//! Upstream's files are produced by Go's encoder, whose escaping, float and
//! indentation rules no serde formatter reproduces, and read by Go's decoder,
//! whose leniency (case-insensitive keys, last duplicate wins, invalid UTF-8
//! replaced byte by byte) the tree format depends on. Both sides are written
//! here by hand and pinned by the vectors in the reference maps.

mod float;
mod read;
mod write;

pub use float::{format_float_g, format_json_float, shortest_decimal};
pub use read::{
    GO_MAX_DEPTH, JsonError, Value, fold_eq, parse, parse_prefix, parse_prefix_with_limit,
    parse_with_limit,
};
pub use write::{Escape, JsonWriter, write_string};
