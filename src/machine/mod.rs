//! Machine-readable output shared by every command that writes it: the JSON
//! conventions (one `format_version` key, every u64 as a decimal string so
//! no JSON reader rounds it), the committed JSON Schemas that describe each
//! document, and the destinations reports are written to.

pub(crate) mod dest;
pub(crate) mod github;

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A u64 written as a JSON string of decimal digits (`"114699324620800002"`).
/// JavaScript and jq read JSON numbers as doubles and silently round
/// integers past 2^53; a string survives every reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JsonU64(pub u64);

impl From<u64> for JsonU64 {
    fn from(n: u64) -> Self {
        JsonU64(n)
    }
}

impl fmt::Display for JsonU64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for JsonU64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for JsonU64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        if s.is_empty()
            || !s.bytes().all(|b| b.is_ascii_digit())
            || (s.len() > 1 && s.starts_with('0'))
        {
            return Err(serde::de::Error::custom(format!(
                "{s:?} is not a decimal u64"
            )));
        }
        s.parse()
            .map(JsonU64)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} does not fit in a u64")))
    }
}

/// Decimal digits without leading zeros, at most 20 of them.
pub const U64_PATTERN: &str = "^(0|[1-9][0-9]{0,19})$";

impl JsonSchema for JsonU64 {
    fn schema_name() -> Cow<'static, str> {
        "U64".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An unsigned 64-bit integer as a string of decimal digits (JSON numbers lose precision past 2^53 in many readers).",
            "type": "string",
            "pattern": U64_PATTERN
        })
    }
}

/// Serialize `v` as pretty JSON with a trailing newline (how every report
/// is written).
pub fn to_pretty_json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).expect("report types serialize");
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_is_a_string_both_ways() {
        let v = JsonU64(114_699_324_620_800_002);
        let s = serde_json::to_string(&v).unwrap();
        assert_eq!(s, "\"114699324620800002\"");
        let back: JsonU64 = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
        let max: JsonU64 = serde_json::from_str("\"18446744073709551615\"").unwrap();
        assert_eq!(max.0, u64::MAX);
        for bad in [
            "\"\"",
            "\"-1\"",
            "\"01\"",
            "\"1e3\"",
            "\"18446744073709551616\"",
            "7",
        ] {
            assert!(serde_json::from_str::<JsonU64>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pattern_matches_what_serialize_writes() {
        let re =
            jsonschema::draft7::new(&serde_json::json!({"type": "string", "pattern": U64_PATTERN}))
                .unwrap();
        for n in [0, 1, 10, 9_007_199_254_740_993, u64::MAX] {
            assert!(
                re.is_valid(&serde_json::to_value(JsonU64(n)).unwrap()),
                "{n}"
            );
        }
        assert!(!re.is_valid(&serde_json::json!("007")));
    }
}
