//! The internal DynamoDB protobuf messages (`proto/dynamodb_internal.proto`
//! upstream), written and read by hand.
//!
//! Writing reproduces Go's deterministic marshal: fields in number order,
//! proto3 scalars omitted when zero, oneof members and set sub-messages
//! always written, map entries sorted by key with both key and value always
//! present. Reading follows Go's unmarshal: unknown fields (and known
//! fields with the wrong wire type) are skipped, strings must be UTF-8,
//! repeated sub-messages merge, the last map entry for a key wins.

use std::collections::BTreeMap;

pub use crate::gojson::protowire::ProtoError;
use crate::gojson::protowire::{
    BYTES, PResult, RECURSION_LIMIT, VARINT, for_each_field, put_bytes, put_message,
    put_opt_string, put_opt_u64, put_tag, utf8,
};

/// One DynamoDB attribute value (the `value` oneof).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    /// The oneof is not set (never produced by the encoder).
    Unset,
    S(String),
    N(String),
    B(Vec<u8>),
    Bool(bool),
    Null(bool),
    Ss(Vec<String>),
    Ns(Vec<String>),
    Bs(Vec<Vec<u8>>),
    L(Vec<AttrValue>),
    M(BTreeMap<String, AttrValue>),
}

/// `DynamoItem`: attribute name → value (sorted, as Go marshals maps).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Item {
    pub attrs: BTreeMap<String, AttrValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySchema {
    pub hash_key: String,
    pub range_key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gsi {
    pub key_schema: Option<KeySchema>,
    pub projection: Option<Projection>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSchema {
    pub table_name: String,
    pub attribute_definitions: BTreeMap<String, String>,
    pub primary_key: Option<KeySchema>,
    pub global_secondary_indexes: BTreeMap<String, Gsi>,
    pub key_encoding_version: u64,
    pub migrating_from_generation: u64,
    pub generation: u64,
}

impl TableSchema {
    pub fn hash_key(&self) -> &str {
        self.primary_key
            .as_ref()
            .map_or("", |k| k.hash_key.as_str())
    }
    pub fn range_key(&self) -> &str {
        self.primary_key
            .as_ref()
            .map_or("", |k| k.range_key.as_str())
    }
}

// ---------------------------------------------------------------- writing

/// One map entry: key (1) and value (2) always written.
fn put_map_entry(out: &mut Vec<u8>, field: u32, key: &str, value: impl FnOnce(&mut Vec<u8>)) {
    put_message(out, field, |e| {
        put_bytes(e, 1, key.as_bytes());
        value(e);
    });
}

fn put_key_schema(out: &mut Vec<u8>, k: &KeySchema) {
    put_opt_string(out, 1, &k.hash_key);
    put_opt_string(out, 2, &k.range_key);
}

impl TableSchema {
    /// Deterministic marshal (without the stored-value magic).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_opt_string(&mut out, 1, &self.table_name);
        for (k, v) in &self.attribute_definitions {
            put_map_entry(&mut out, 2, k, |e| put_bytes(e, 2, v.as_bytes()));
        }
        if let Some(pk) = &self.primary_key {
            put_message(&mut out, 3, |m| put_key_schema(m, pk));
        }
        for (name, g) in &self.global_secondary_indexes {
            put_map_entry(&mut out, 4, name, |e| {
                put_message(e, 2, |m| {
                    if let Some(ks) = &g.key_schema {
                        put_message(m, 1, |k| put_key_schema(k, ks));
                    }
                    if let Some(p) = &g.projection {
                        put_message(m, 2, |pm| {
                            put_opt_string(pm, 1, &p.projection_type);
                            for a in &p.non_key_attributes {
                                put_bytes(pm, 2, a.as_bytes());
                            }
                        });
                    }
                })
            });
        }
        put_opt_u64(&mut out, 5, self.key_encoding_version);
        put_opt_u64(&mut out, 6, self.migrating_from_generation);
        put_opt_u64(&mut out, 7, self.generation);
        out
    }
}

fn put_attr_map(out: &mut Vec<u8>, field: u32, m: &BTreeMap<String, AttrValue>) {
    for (k, v) in m {
        put_map_entry(out, field, k, |e| put_message(e, 2, |b| v.encode_into(b)));
    }
}

impl AttrValue {
    /// The message body of this value (Go deterministic marshal).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            AttrValue::Unset => {}
            AttrValue::S(s) => put_bytes(out, 1, s.as_bytes()),
            AttrValue::N(s) => put_bytes(out, 2, s.as_bytes()),
            AttrValue::B(b) => put_bytes(out, 3, b),
            AttrValue::Bool(b) => {
                put_tag(out, 4, VARINT);
                out.push(u8::from(*b));
            }
            AttrValue::Null(b) => {
                put_tag(out, 5, VARINT);
                out.push(u8::from(*b));
            }
            AttrValue::Ss(v) | AttrValue::Ns(v) => {
                let field = if matches!(self, AttrValue::Ss(_)) {
                    6
                } else {
                    7
                };
                put_message(out, field, |m| {
                    for s in v {
                        put_bytes(m, 1, s.as_bytes());
                    }
                });
            }
            AttrValue::Bs(v) => put_message(out, 8, |m| {
                for b in v {
                    put_bytes(m, 1, b);
                }
            }),
            AttrValue::L(v) => put_message(out, 9, |m| {
                for av in v {
                    put_message(m, 1, |b| av.encode_into(b));
                }
            }),
            AttrValue::M(map) => put_message(out, 10, |m| put_attr_map(m, 1, map)),
        }
    }
}

impl Item {
    /// Deterministic marshal (without the stored-value magic).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_attr_map(&mut out, 1, &self.attrs);
        out
    }
}

// ---------------------------------------------------------------- reading

fn decode_key_schema(body: &[u8], into: &mut KeySchema, depth: u32) -> PResult<()> {
    for_each_field(body, depth, |field, wt, r| match (field, wt) {
        (1, BYTES) => {
            into.hash_key = utf8(r.bytes()?)?;
            Ok(true)
        }
        (2, BYTES) => {
            into.range_key = utf8(r.bytes()?)?;
            Ok(true)
        }
        _ => Ok(false),
    })
}

fn decode_projection(body: &[u8], into: &mut Projection, depth: u32) -> PResult<()> {
    for_each_field(body, depth, |field, wt, r| match (field, wt) {
        (1, BYTES) => {
            into.projection_type = utf8(r.bytes()?)?;
            Ok(true)
        }
        (2, BYTES) => {
            into.non_key_attributes.push(utf8(r.bytes()?)?);
            Ok(true)
        }
        _ => Ok(false),
    })
}

fn decode_gsi(body: &[u8], into: &mut Gsi, depth: u32) -> PResult<()> {
    for_each_field(body, depth, |field, wt, r| match (field, wt) {
        (1, BYTES) => {
            let b = r.bytes()?;
            decode_key_schema(
                b,
                into.key_schema.get_or_insert_with(Default::default),
                depth.saturating_sub(1),
            )?;
            Ok(true)
        }
        (2, BYTES) => {
            let b = r.bytes()?;
            decode_projection(
                b,
                into.projection.get_or_insert_with(Default::default),
                depth.saturating_sub(1),
            )?;
            Ok(true)
        }
        _ => Ok(false),
    })
}

/// One map entry: the key string and the raw value fields, handed to
/// `value` in order (a repeated value field merges into the same value).
fn decode_map_entry<'a>(
    body: &'a [u8],
    depth: u32,
    mut value: impl FnMut(&'a [u8]) -> PResult<()>,
) -> PResult<String> {
    let mut key = String::new();
    for_each_field(body, depth, |field, wt, r| match (field, wt) {
        (1, BYTES) => {
            key = utf8(r.bytes()?)?;
            Ok(true)
        }
        (2, BYTES) => {
            value(r.bytes()?)?;
            Ok(true)
        }
        _ => Ok(false),
    })?;
    Ok(key)
}

impl TableSchema {
    /// Unmarshal a schema body (after the stored-value magic).
    pub fn decode(body: &[u8]) -> PResult<TableSchema> {
        let mut s = TableSchema::default();
        let depth = RECURSION_LIMIT;
        for_each_field(body, depth, |field, wt, r| {
            match (field, wt) {
                (1, BYTES) => s.table_name = utf8(r.bytes()?)?,
                (2, BYTES) => {
                    let mut v = String::new();
                    let k = decode_map_entry(r.bytes()?, depth.saturating_sub(1), |b| {
                        v = utf8(b)?;
                        Ok(())
                    })?;
                    s.attribute_definitions.insert(k, v);
                }
                (3, BYTES) => {
                    let b = r.bytes()?;
                    decode_key_schema(
                        b,
                        s.primary_key.get_or_insert_with(Default::default),
                        depth.saturating_sub(1),
                    )?;
                }
                (4, BYTES) => {
                    let mut g = Gsi::default();
                    let k = decode_map_entry(r.bytes()?, depth.saturating_sub(1), |b| {
                        decode_gsi(b, &mut g, depth.saturating_sub(2))
                    })?;
                    s.global_secondary_indexes.insert(k, g);
                }
                (5, VARINT) => s.key_encoding_version = r.varint()?,
                (6, VARINT) => s.migrating_from_generation = r.varint()?,
                (7, VARINT) => s.generation = r.varint()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(s)
    }
}

fn decode_strings(body: &[u8], into: &mut Vec<String>, depth: u32) -> PResult<()> {
    for_each_field(body, depth, |field, wt, r| match (field, wt) {
        (1, BYTES) => {
            into.push(utf8(r.bytes()?)?);
            Ok(true)
        }
        _ => Ok(false),
    })
}

fn decode_byte_strings(body: &[u8], into: &mut Vec<Vec<u8>>, depth: u32) -> PResult<()> {
    for_each_field(body, depth, |field, wt, r| match (field, wt) {
        (1, BYTES) => {
            into.push(r.bytes()?.to_vec());
            Ok(true)
        }
        _ => Ok(false),
    })
}

fn decode_list(body: &[u8], into: &mut Vec<AttrValue>, depth: u32) -> PResult<()> {
    for_each_field(body, depth, |field, wt, r| match (field, wt) {
        (1, BYTES) => {
            let mut av = AttrValue::Unset;
            decode_attr_value(r.bytes()?, &mut av, depth.saturating_sub(1))?;
            into.push(av);
            Ok(true)
        }
        _ => Ok(false),
    })
}

fn decode_attr_map(body: &[u8], into: &mut BTreeMap<String, AttrValue>, depth: u32) -> PResult<()> {
    for_each_field(body, depth, |field, wt, r| match (field, wt) {
        (1, BYTES) => {
            let mut av = AttrValue::Unset;
            let k = decode_map_entry(r.bytes()?, depth.saturating_sub(1), |b| {
                decode_attr_value(b, &mut av, depth.saturating_sub(2))
            })?;
            into.insert(k, av);
            Ok(true)
        }
        _ => Ok(false),
    })
}

/// Decode (merge) one `DynamoAttributeValue` body into `av`. A oneof member
/// replaces a different member; a repeated message member merges into the
/// one already set, as Go does.
fn decode_attr_value(body: &[u8], av: &mut AttrValue, depth: u32) -> PResult<()> {
    for_each_field(body, depth, |field, wt, r| {
        let expected = if field == 4 || field == 5 {
            VARINT
        } else {
            BYTES
        };
        if wt != expected {
            return Ok(false);
        }
        let inner = depth.saturating_sub(1);
        match field {
            1 => *av = AttrValue::S(utf8(r.bytes()?)?),
            2 => *av = AttrValue::N(utf8(r.bytes()?)?),
            3 => *av = AttrValue::B(r.bytes()?.to_vec()),
            4 => *av = AttrValue::Bool(r.varint()? != 0),
            5 => *av = AttrValue::Null(r.varint()? != 0),
            6 => match av {
                AttrValue::Ss(v) => decode_strings(r.bytes()?, v, inner)?,
                _ => {
                    let mut v = Vec::new();
                    decode_strings(r.bytes()?, &mut v, inner)?;
                    *av = AttrValue::Ss(v);
                }
            },
            7 => match av {
                AttrValue::Ns(v) => decode_strings(r.bytes()?, v, inner)?,
                _ => {
                    let mut v = Vec::new();
                    decode_strings(r.bytes()?, &mut v, inner)?;
                    *av = AttrValue::Ns(v);
                }
            },
            8 => match av {
                AttrValue::Bs(v) => decode_byte_strings(r.bytes()?, v, inner)?,
                _ => {
                    let mut v = Vec::new();
                    decode_byte_strings(r.bytes()?, &mut v, inner)?;
                    *av = AttrValue::Bs(v);
                }
            },
            9 => match av {
                AttrValue::L(v) => decode_list(r.bytes()?, v, inner)?,
                _ => {
                    let mut v = Vec::new();
                    decode_list(r.bytes()?, &mut v, inner)?;
                    *av = AttrValue::L(v);
                }
            },
            10 => match av {
                AttrValue::M(m) => decode_attr_map(r.bytes()?, m, inner)?,
                _ => {
                    let mut m = BTreeMap::new();
                    decode_attr_map(r.bytes()?, &mut m, inner)?;
                    *av = AttrValue::M(m);
                }
            },
            _ => return Ok(false),
        }
        Ok(true)
    })
}

impl Item {
    /// Unmarshal an item body (after the stored-value magic).
    pub fn decode(body: &[u8]) -> PResult<Item> {
        let mut item = Item::default();
        decode_attr_map(body, &mut item.attrs, RECURSION_LIMIT)?;
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        x.to_string()
    }

    /// The schema worked example of reference/dynamodb.md §2.5.
    #[test]
    fn schema_bytes_match_reference() {
        let mut sc = TableSchema {
            table_name: s("t"),
            primary_key: Some(KeySchema {
                hash_key: s("id"),
                range_key: String::new(),
            }),
            key_encoding_version: 2,
            generation: 1,
            ..Default::default()
        };
        sc.attribute_definitions.insert(s("id"), s("S"));
        assert_eq!(
            hex::encode(sc.encode()),
            "0a017412070a0269641201531a040a02696428023801"
        );
        assert_eq!(TableSchema::decode(&sc.encode()).unwrap(), sc);
    }

    #[test]
    fn item_bytes_match_reference() {
        let mut it = Item::default();
        it.attrs.insert(s("id"), AttrValue::S(s("k")));
        assert_eq!(hex::encode(it.encode()), "0a090a02696412030a016b");
        assert_eq!(Item::decode(&it.encode()).unwrap(), it);
    }

    #[test]
    fn map_entries_always_carry_key_and_value() {
        let mut sc = TableSchema::default();
        sc.attribute_definitions.insert(s("x"), String::new());
        assert_eq!(hex::encode(sc.encode()), "12050a01781200");
        let mut it = Item::default();
        it.attrs.insert(String::new(), AttrValue::Unset);
        assert_eq!(hex::encode(it.encode()), "0a040a001200");
        let mut g = TableSchema::default();
        g.global_secondary_indexes
            .insert(String::new(), Gsi::default());
        assert_eq!(hex::encode(g.encode()), "22040a001200");
    }

    #[test]
    fn oneof_zero_values_are_written() {
        let enc = |v: AttrValue| {
            let mut b = Vec::new();
            v.encode_into(&mut b);
            hex::encode(b)
        };
        assert_eq!(enc(AttrValue::S(String::new())), "0a00");
        assert_eq!(enc(AttrValue::B(Vec::new())), "1a00");
        assert_eq!(enc(AttrValue::Bool(false)), "2000");
        assert_eq!(enc(AttrValue::Null(false)), "2800");
        assert_eq!(enc(AttrValue::Ss(Vec::new())), "3200");
        assert_eq!(enc(AttrValue::M(BTreeMap::new())), "5200");
        assert_eq!(enc(AttrValue::Bs(vec![Vec::new()])), "42020a00");
    }

    #[test]
    fn lenient_reading_like_go() {
        // Unknown field 15 (varint) and a known field with the wrong wire
        // type are skipped; the last oneof member wins.
        let body = [0x78, 0x05, 0x08, 0x01, 0x0a, 0x01, b'a', 0x12, 0x01, b'7'];
        let mut av = AttrValue::Unset;
        decode_attr_value(&body, &mut av, 10).unwrap();
        assert_eq!(av, AttrValue::N(s("7")));
        // Repeated set members merge.
        let body = [0x32, 0x03, 0x0a, 0x01, b'a', 0x32, 0x03, 0x0a, 0x01, b'b'];
        let mut av = AttrValue::Unset;
        decode_attr_value(&body, &mut av, 10).unwrap();
        assert_eq!(av, AttrValue::Ss(vec![s("a"), s("b")]));
        // Invalid UTF-8, truncation, field 0, stray end group: errors.
        for bad in [
            &[0x0a, 0x01, 0xff][..],
            &[0x0a, 0x05, b'a'][..],
            &[0x00, 0x00][..],
            &[0x0c][..],
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
            ][..],
        ] {
            let mut av = AttrValue::Unset;
            assert!(decode_attr_value(bad, &mut av, 10).is_err(), "{bad:?}");
        }
        // A map entry without key or value: "" → empty message.
        let it = Item::decode(&[0x0a, 0x00]).unwrap();
        assert_eq!(it.attrs.get(""), Some(&AttrValue::Unset));
    }
}
