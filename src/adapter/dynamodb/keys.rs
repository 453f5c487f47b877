//! Internal key layouts: table meta / generation keys, ordered item keys
//! and the derived GSI rows (encode), and the item-key parser (decode).

use crate::error::InputError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::number::numeric_key_bytes;
use super::proto::{AttrValue, Item, KeySchema, TableSchema};

pub const META_TABLE_PREFIX: &[u8] = b"!ddb|meta|table|";
pub const META_GEN_PREFIX: &[u8] = b"!ddb|meta|gen|";
pub const ITEM_PREFIX: &[u8] = b"!ddb|item|";
pub const GSI_PREFIX: &[u8] = b"!ddb|gsi|";

/// Stored-value magics (`\0DS\x01`, `\0DI\x01`).
pub const SCHEMA_MAGIC: &[u8] = &[0x00, b'D', b'S', 0x01];
pub const ITEM_MAGIC: &[u8] = &[0x00, b'D', b'I', 0x01];

/// The generation every restored table gets (schema, counter, keys).
pub const RESTORE_GENERATION: u64 = 1;
/// The ordered primary-key encoding the item keys use.
pub const KEY_ENCODING_V2: u64 = 2;

pub fn b64url(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

pub fn table_meta_key(table: &str) -> Vec<u8> {
    let mut k = META_TABLE_PREFIX.to_vec();
    k.extend_from_slice(b64url(table.as_bytes()).as_bytes());
    k
}

pub fn table_gen_key(table: &str) -> Vec<u8> {
    let mut k = META_GEN_PREFIX.to_vec();
    k.extend_from_slice(b64url(table.as_bytes()).as_bytes());
    k
}

/// `0x00` → `0x00 0xFF`, then the `0x00 0x01` terminator.
pub fn ordered_segment(raw: &[u8], out: &mut Vec<u8>) {
    for &c in raw {
        out.push(c);
        if c == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// The raw bytes a key attribute contributes (S text, B bytes, N ordered).
pub fn key_attr_bytes(av: &AttrValue) -> Result<Vec<u8>, InputError> {
    match av {
        AttrValue::S(s) => Ok(s.as_bytes().to_vec()),
        AttrValue::B(b) => Ok(b.clone()),
        AttrValue::N(n) => numeric_key_bytes(n),
        _ => Err("primary key attribute is not S, N, or B".into()),
    }
}

/// The ordered hash (+ range) segments of `item` under key schema `ks`;
/// `Ok(None)` when an attribute is missing and `sparse` (GSIs skip such
/// items), an error otherwise.
fn key_segments(item: &Item, ks: &KeySchema, sparse: bool) -> Result<Option<Vec<u8>>, InputError> {
    let mut out = Vec::new();
    let Some(h) = item.attrs.get(&ks.hash_key) else {
        if sparse {
            return Ok(None);
        }
        return Err(format!("item missing hash-key attribute {:?}", ks.hash_key).into());
    };
    let h = key_attr_bytes(h)?;
    if ks.range_key.is_empty() {
        ordered_segment(&h, &mut out);
        return Ok(Some(out));
    }
    let Some(r) = item.attrs.get(&ks.range_key) else {
        if sparse {
            return Ok(None);
        }
        return Err(format!("item missing range-key attribute {:?}", ks.range_key).into());
    };
    let r = key_attr_bytes(r)?;
    ordered_segment(&h, &mut out);
    ordered_segment(&r, &mut out);
    Ok(Some(out))
}

fn primary_key_schema(schema: &TableSchema) -> KeySchema {
    schema.primary_key.clone().unwrap_or_default()
}

/// `!ddb|item|<b64url(table)>|<gen>|<hash seg>[<range seg>]`, plus the
/// primary-key segments (reused by the GSI rows).
pub fn item_key(
    table: &str,
    schema: &TableSchema,
    item: &Item,
) -> Result<(Vec<u8>, Vec<u8>), InputError> {
    let pk = key_segments(item, &primary_key_schema(schema), false)?.unwrap_or_default();
    let mut k = ITEM_PREFIX.to_vec();
    k.extend_from_slice(b64url(table.as_bytes()).as_bytes());
    k.push(b'|');
    k.extend_from_slice(RESTORE_GENERATION.to_string().as_bytes());
    k.push(b'|');
    k.extend_from_slice(&pk);
    Ok((k, pk))
}

/// The GSI row keys of one item, in index-name order:
/// `!ddb|gsi|<b64url(table)>|<gen>|<b64url(index)>|<index segs><pk segs>`
/// (each row's value is the item key). Items lacking an index key
/// attribute are skipped; present but unusable attributes are errors.
pub fn gsi_keys(
    table: &str,
    schema: &TableSchema,
    item: &Item,
    pk_segments: &[u8],
) -> Result<Vec<Vec<u8>>, InputError> {
    let enc_table = b64url(table.as_bytes());
    let mut out = Vec::new();
    for (name, gsi) in &schema.global_secondary_indexes {
        let ks = gsi.key_schema.clone().unwrap_or_default();
        let Some(idx) = key_segments(item, &ks, true)? else {
            continue;
        };
        let mut k = GSI_PREFIX.to_vec();
        k.extend_from_slice(enc_table.as_bytes());
        k.push(b'|');
        k.extend_from_slice(RESTORE_GENERATION.to_string().as_bytes());
        k.push(b'|');
        k.extend_from_slice(b64url(name.as_bytes()).as_bytes());
        k.push(b'|');
        k.extend_from_slice(&idx);
        k.extend_from_slice(pk_segments);
        out.push(k);
    }
    Ok(out)
}

/// `parseDDBItemKey`: the encoded table segment and the generation.
pub fn parse_item_key(key: &[u8]) -> Result<(&[u8], u64), InputError> {
    let rest = &key[ITEM_PREFIX.len().min(key.len())..];
    let show = || String::from_utf8_lossy(key).into_owned();
    let table_end = match rest.iter().position(|&c| c == b'|') {
        Some(i) if i > 0 => i,
        _ => {
            return Err(format!("item key missing table/gen separator: {:?}", show()).into());
        }
    };
    let enc = &rest[..table_end];
    if std::str::from_utf8(enc)
        .ok()
        .and_then(crate::tree::filename::decode_raw_url_lenient)
        .is_none()
    {
        return Err(format!("item key table segment is not base64url: {:?}", show()).into());
    }
    let after = &rest[table_end + 1..];
    let gen_end = match after.iter().position(|&c| c == b'|') {
        Some(i) if i > 0 => i,
        _ => return Err(format!("item key missing gen/rest separator: {:?}", show()).into()),
    };
    let gen_text = &after[..gen_end];
    let generation = parse_go_uint(gen_text)
        .ok_or_else(|| format!("item key generation is not a uint64: {:?}", show()))?;
    if gen_end + 1 == after.len() {
        return Err(format!("item key missing primary-key payload: {:?}", show()).into());
    }
    Ok((enc, generation))
}

/// `strconv.ParseUint(s, 10, 64)`: ASCII digits only, no sign.
fn parse_go_uint(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn seg(raw: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        ordered_segment(raw, &mut v);
        v
    }

    #[test]
    fn ordered_segment_bytes() {
        assert_eq!(seg(b""), [0, 1]);
        assert_eq!(seg(b"a\x00b"), [0x61, 0, 0xff, 0x62, 0, 1]);
    }

    fn schema(hash: &str, range: &str) -> TableSchema {
        TableSchema {
            primary_key: Some(KeySchema {
                hash_key: hash.into(),
                range_key: range.into(),
            }),
            ..Default::default()
        }
    }

    /// `TestDDBItemKeyBytesLayout`.
    #[test]
    fn item_key_layout() {
        let mut item = Item::default();
        item.attrs.insert("h".into(), AttrValue::S("a".into()));
        item.attrs.insert("r".into(), AttrValue::B(vec![0, 9]));
        let (k, _) = item_key("tbl", &schema("h", "r"), &item).unwrap();
        let mut want = b"!ddb|item|dGJs|1|".to_vec();
        want.extend_from_slice(&[0x61, 0, 1, 0, 0xff, 9, 0, 1]);
        assert_eq!(k, want);
        item.attrs.remove("r");
        assert!(item_key("tbl", &schema("h", "r"), &item).is_err());
        item.attrs.insert("r".into(), AttrValue::Bool(true));
        assert!(item_key("tbl", &schema("h", "r"), &item).is_err());
    }

    /// `TestDDBGSIRowKeyLayout`.
    #[test]
    fn gsi_row_layout() {
        let mut sc = schema("ph", "");
        let mut gsis = BTreeMap::new();
        gsis.insert(
            "g".to_string(),
            super::super::proto::Gsi {
                key_schema: Some(KeySchema {
                    hash_key: "gh".into(),
                    range_key: String::new(),
                }),
                projection: None,
            },
        );
        sc.global_secondary_indexes = gsis;
        let mut item = Item::default();
        item.attrs.insert("ph".into(), AttrValue::S("P".into()));
        item.attrs.insert("gh".into(), AttrValue::S("X".into()));
        let (k, pk) = item_key("t", &sc, &item).unwrap();
        assert_eq!(k, b"!ddb|item|dA|1|P\x00\x01");
        let rows = gsi_keys("t", &sc, &item, &pk).unwrap();
        assert_eq!(rows, [b"!ddb|gsi|dA|1|Zw|X\x00\x01P\x00\x01".to_vec()]);
        // Sparse: no index attribute, no row; a non-key type is an error.
        item.attrs.remove("gh");
        assert!(gsi_keys("t", &sc, &item, &pk).unwrap().is_empty());
        item.attrs.insert("gh".into(), AttrValue::N("x".into()));
        assert!(gsi_keys("t", &sc, &item, &pk).is_err());
    }

    #[test]
    fn item_key_parsing() {
        assert_eq!(
            parse_item_key(b"!ddb|item|dA|12|x").unwrap(),
            (&b"dA"[..], 12)
        );
        assert_eq!(parse_item_key(b"!ddb|item|dA|007|x").unwrap().1, 7);
        for bad in [
            &b"!ddb|item|"[..],
            b"!ddb|item||1|x",
            b"!ddb|item|dA|1|",
            b"!ddb|item|dA||x",
            b"!ddb|item|dA|+1|x",
            b"!ddb|item|dA|1",
            b"!ddb|item|d*|1|x",
            b"!ddb|item|dA|18446744073709551616|x",
        ] {
            assert!(
                parse_item_key(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
