//! Go-compatibility primitives, in one place: `encoding/json` both ways
//! (the writer's escaping, float and indentation rules; the reader's
//! syntax errors, struct-field matching, repeated members, `null` and
//! slice rules), `json.Decoder` value streams, `encoding/base64`'s lenient
//! decoders, `time`'s RFC 3339 parsing and formatting, and the `flag`
//! package's command-line syntax; and the protobuf wire format of Go's
//! protobuf runtime (`protowire`).
//!
//! Upstream's files are produced by Go's encoder and read by Go's decoder;
//! no serde format reproduces either, so both are written here by hand and
//! pinned by the vectors in the reference maps and by the upstream tools.

pub(crate) mod base64;
pub(crate) mod flag;
mod float;
pub(crate) mod protowire;
mod read;
mod scan;
mod stream;
pub(crate) mod time;
mod unmarshal;
mod write;

pub use float::{format_float_g, format_json_float, shortest_decimal};
pub use read::{Value, parse, parse_with_limit};
pub use scan::{GO_MAX_DEPTH, Scanner, SyntaxError, quote_char, validate, value_end};
pub use stream::{StreamError, StreamValue, ValueStream};
pub use unmarshal::{
    Decoder, GoBytes, GoMap, GoSlice, Kind, RawMessage, Unmarshal, UnmarshalError, decode_one,
    decode_value, field_index, fold_matches, unmarshal, unmarshal_into, unmarshal_with, unquote,
};
pub use write::{Escape, JsonWriter, write_raw_compact, write_string};

pub(crate) use unmarshal::go_struct;
