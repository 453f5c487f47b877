//! The JSON documents of the S3 adapter, read and written the way Go's
//! `encoding/json` does for upstream's structs:
//!
//! * live values inside the `.fsm` (`!s3|bucket|meta|`, `!s3|obj|head|`),
//!   read with `json.Unmarshal` and written by the encoder with
//!   `json.Marshal` (every field, no `omitempty`);
//! * the dump's `_bucket.json` and `.elastickv-meta.json` sidecars, written
//!   with `MarshalIndent` (`omitempty` fields) and read back with a
//!   `json.Decoder` that tolerates a trailing `}` or `]`.
//!
//! Struct decoding follows Go: field names match case-insensitively, the
//! last occurrence wins, `null` leaves a scalar untouched and clears a map
//! or slice, a repeated map or slice field is decoded into the existing
//! value (maps merge, slice elements are updated in place), and a value of
//! the wrong JSON type is an error.

use std::collections::BTreeMap;

use crate::gojson::{self, Escape, JsonWriter, Value, fold_eq};

pub type StrMap = BTreeMap<String, String>;

fn type_err(v: &Value, ty: &str) -> String {
    format!("cannot unmarshal {} into Go value of type {ty}", v.kind())
}

/// Walk the members of an object decoded into a struct whose fields are
/// `fields`; `set(i, value)` assigns field `i`. `null` for the whole
/// struct is a no-op; the first type error is returned after the walk.
fn decode_struct(
    v: &Value,
    ty: &str,
    fields: &[&str],
    mut set: impl FnMut(usize, &Value) -> Result<(), String>,
) -> Result<(), String> {
    let members = match v {
        Value::Null => return Ok(()),
        Value::Object(m) => m,
        other => return Err(type_err(other, ty)),
    };
    let mut first = None;
    for (k, val) in members {
        let idx = fields
            .iter()
            .position(|f| k == f)
            .or_else(|| fields.iter().position(|f| fold_eq(k, f)));
        if let Some(i) = idx {
            if let Err(e) = set(i, val) {
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(()), Err)
}

fn set_str(dst: &mut String, v: &Value) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::String(s) => {
            dst.clone_from(s);
            Ok(())
        }
        other => Err(type_err(other, "string")),
    }
}

fn set_u64(dst: &mut u64, v: &Value) -> Result<(), String> {
    if !v.is_null() {
        *dst = v.go_u64()?;
    }
    Ok(())
}

fn set_u32(dst: &mut u32, v: &Value) -> Result<(), String> {
    if !v.is_null() {
        *dst = v.go_u32()?;
    }
    Ok(())
}

fn set_i64(dst: &mut i64, v: &Value) -> Result<(), String> {
    if !v.is_null() {
        *dst = v.go_i64()?;
    }
    Ok(())
}

fn set_bool(dst: &mut bool, v: &Value) -> Result<(), String> {
    if !v.is_null() {
        *dst = v.go_bool()?;
    }
    Ok(())
}

/// A Go `map[string]string` field.
fn set_str_map(dst: &mut Option<StrMap>, v: &Value) -> Result<(), String> {
    match v {
        Value::Null => {
            *dst = None;
            Ok(())
        }
        Value::Object(m) => {
            let map = dst.get_or_insert_with(StrMap::new);
            let mut first = None;
            for (k, val) in m {
                let mut s = String::new();
                if let Err(e) = set_str(&mut s, val) {
                    first.get_or_insert(e);
                }
                map.insert(k.clone(), s);
            }
            first.map_or(Ok(()), Err)
        }
        other => Err(type_err(other, "map[string]string")),
    }
}

/// A Go slice field: elements are decoded into the existing ones where
/// there are any (Go reuses the slice), fresh zero values past them.
fn set_slice<T: Default>(
    dst: &mut Option<Vec<T>>,
    v: &Value,
    ty: &str,
    mut elem: impl FnMut(&mut T, &Value) -> Result<(), String>,
) -> Result<(), String> {
    match v {
        Value::Null => {
            *dst = None;
            Ok(())
        }
        Value::Array(items) => {
            let vec = dst.get_or_insert_with(Vec::new);
            let mut first = None;
            for (i, item) in items.iter().enumerate() {
                if i == vec.len() {
                    vec.push(T::default());
                }
                if let Err(e) = elem(&mut vec[i], item) {
                    first.get_or_insert(e);
                }
            }
            vec.truncate(items.len());
            first.map_or(Ok(()), Err)
        }
        other => Err(type_err(other, ty)),
    }
}

/// `json.Unmarshal`: one document, nothing but whitespace after it.
fn unmarshal(bytes: &[u8]) -> Result<Value, String> {
    gojson::parse(bytes).map_err(|e| e.to_string())
}

/// `json.NewDecoder(r).Decode(v)` followed by upstream's `dec.More()`
/// check: after the value, only whitespace, or anything starting with `}`
/// or `]`, may follow.
fn decode_one(bytes: &[u8]) -> Result<Value, String> {
    let (v, end) = gojson::parse_prefix(bytes).map_err(|e| e.to_string())?;
    let rest = &bytes[end..];
    match rest
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        None | Some(b'}') | Some(b']') => Ok(v),
        Some(_) => Err("trailing data after JSON value".into()),
    }
}

// --- live records (inside the .fsm) -----------------------------------------

/// Upstream's `s3LiveBucketMeta`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveBucketMeta {
    pub bucket_name: String,
    pub generation: u64,
    pub created_at_hlc: u64,
    pub owner: String,
    pub region: String,
    pub acl: String,
}

pub fn parse_live_bucket_meta(bytes: &[u8]) -> Result<LiveBucketMeta, String> {
    let v = unmarshal(bytes)?;
    let mut m = LiveBucketMeta::default();
    decode_struct(
        &v,
        "backup.s3LiveBucketMeta",
        &[
            "bucket_name",
            "generation",
            "created_at_hlc",
            "owner",
            "region",
            "acl",
        ],
        |i, val| match i {
            0 => set_str(&mut m.bucket_name, val),
            1 => set_u64(&mut m.generation, val),
            2 => set_u64(&mut m.created_at_hlc, val),
            3 => set_str(&mut m.owner, val),
            4 => set_str(&mut m.region, val),
            _ => set_str(&mut m.acl, val),
        },
    )?;
    Ok(m)
}

/// The encoder's bucket record: `json.Marshal` of the mirror struct.
pub fn render_live_bucket_meta(m: &LiveBucketMeta) -> Vec<u8> {
    let mut w = JsonWriter::compact(Escape::Html);
    w.begin_object()
        .key("bucket_name")
        .string(&m.bucket_name)
        .key("generation")
        .u64(m.generation)
        .key("created_at_hlc")
        .u64(m.created_at_hlc)
        .key("owner")
        .string(&m.owner)
        .key("region")
        .string(&m.region)
        .key("acl")
        .string(&m.acl)
        .end_object();
    w.finish()
}

/// Upstream's `s3LivePart`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LivePart {
    pub part_no: u64,
    pub etag: String,
    pub size_bytes: i64,
    pub chunk_count: u64,
    pub chunk_sizes: Option<Vec<u64>>,
    pub part_version: u64,
    pub chunk_ref_version: u64,
    pub offloaded: bool,
}

/// Upstream's `s3LiveManifest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveManifest {
    pub upload_id: String,
    pub etag: String,
    pub size_bytes: i64,
    pub last_modified_hlc: u64,
    pub content_type: String,
    pub content_encoding: String,
    pub cache_control: String,
    pub content_disposition: String,
    pub user_metadata: Option<StrMap>,
    pub parts: Option<Vec<LivePart>>,
}

fn decode_part(p: &mut LivePart, v: &Value) -> Result<(), String> {
    decode_struct(
        v,
        "backup.s3LivePart",
        &[
            "part_no",
            "etag",
            "size_bytes",
            "chunk_count",
            "chunk_sizes",
            "part_version",
            "chunk_ref_version",
            "offloaded",
        ],
        |i, val| match i {
            0 => set_u64(&mut p.part_no, val),
            1 => set_str(&mut p.etag, val),
            2 => set_i64(&mut p.size_bytes, val),
            3 => set_u64(&mut p.chunk_count, val),
            4 => set_slice(&mut p.chunk_sizes, val, "[]uint64", set_u64),
            5 => set_u64(&mut p.part_version, val),
            6 => set_u64(&mut p.chunk_ref_version, val),
            _ => set_bool(&mut p.offloaded, val),
        },
    )
}

pub fn parse_live_manifest(bytes: &[u8]) -> Result<LiveManifest, String> {
    let v = unmarshal(bytes)?;
    let mut m = LiveManifest::default();
    decode_struct(
        &v,
        "backup.s3LiveManifest",
        &[
            "upload_id",
            "etag",
            "size_bytes",
            "last_modified_hlc",
            "content_type",
            "content_encoding",
            "cache_control",
            "content_disposition",
            "user_metadata",
            "parts",
        ],
        |i, val| match i {
            0 => set_str(&mut m.upload_id, val),
            1 => set_str(&mut m.etag, val),
            2 => set_i64(&mut m.size_bytes, val),
            3 => set_u64(&mut m.last_modified_hlc, val),
            4 => set_str(&mut m.content_type, val),
            5 => set_str(&mut m.content_encoding, val),
            6 => set_str(&mut m.cache_control, val),
            7 => set_str(&mut m.content_disposition, val),
            8 => set_str_map(&mut m.user_metadata, val),
            _ => set_slice(&mut m.parts, val, "[]backup.s3LivePart", decode_part),
        },
    )?;
    Ok(m)
}

fn write_str_map(w: &mut JsonWriter, m: &StrMap) {
    w.begin_object();
    for (k, v) in m {
        w.key(k).string(v);
    }
    w.end_object();
}

/// The encoder's manifest record (`json.Marshal`, no `omitempty`).
pub fn render_live_manifest(m: &LiveManifest) -> Vec<u8> {
    let mut w = JsonWriter::compact(Escape::Html);
    w.begin_object()
        .key("upload_id")
        .string(&m.upload_id)
        .key("etag")
        .string(&m.etag)
        .key("size_bytes")
        .i64(m.size_bytes)
        .key("last_modified_hlc")
        .u64(m.last_modified_hlc)
        .key("content_type")
        .string(&m.content_type)
        .key("content_encoding")
        .string(&m.content_encoding)
        .key("cache_control")
        .string(&m.cache_control)
        .key("content_disposition")
        .string(&m.content_disposition)
        .key("user_metadata");
    match &m.user_metadata {
        None => {
            w.null();
        }
        Some(map) => write_str_map(&mut w, map),
    }
    w.key("parts");
    match &m.parts {
        None => {
            w.null();
        }
        Some(parts) => {
            w.begin_array();
            for p in parts {
                w.begin_object()
                    .key("part_no")
                    .u64(p.part_no)
                    .key("etag")
                    .string(&p.etag)
                    .key("size_bytes")
                    .i64(p.size_bytes)
                    .key("chunk_count")
                    .u64(p.chunk_count)
                    .key("chunk_sizes");
                match &p.chunk_sizes {
                    None => {
                        w.null();
                    }
                    Some(sizes) => {
                        w.begin_array();
                        for s in sizes {
                            w.u64(*s);
                        }
                        w.end_array();
                    }
                }
                w.key("part_version")
                    .u64(p.part_version)
                    .key("chunk_ref_version")
                    .u64(p.chunk_ref_version)
                    .key("offloaded")
                    .bool(p.offloaded)
                    .end_object();
            }
            w.end_array();
        }
    }
    w.end_object();
    w.finish()
}

// --- dump files ---------------------------------------------------------------

/// Upstream's `s3PublicBucket` (`_bucket.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicBucket {
    pub format_version: u32,
    pub name: String,
    pub owner: String,
    pub region: String,
    pub acl: String,
}

/// Read `_bucket.json` as the encoder does. Fields the restore ignores
/// (`creation_time_iso`, `versioning`, `policy_json`) are still type-checked.
pub fn parse_public_bucket(bytes: &[u8]) -> Result<PublicBucket, String> {
    let v = decode_one(bytes)?;
    let mut b = PublicBucket::default();
    let mut ignored = String::new();
    decode_struct(
        &v,
        "backup.s3PublicBucket",
        &[
            "format_version",
            "name",
            "creation_time_iso",
            "owner",
            "region",
            "acl",
            "versioning",
            "policy_json",
        ],
        |i, val| match i {
            0 => set_u32(&mut b.format_version, val),
            1 => set_str(&mut b.name, val),
            3 => set_str(&mut b.owner, val),
            4 => set_str(&mut b.region, val),
            5 => set_str(&mut b.acl, val),
            _ => set_str(&mut ignored, val),
        },
    )?;
    Ok(b)
}

/// `_bucket.json` as the decoder writes it; the name comes from the key and
/// may hold any bytes (invalid UTF-8 becomes U+FFFD, as in Go).
pub fn render_public_bucket(name: &[u8], owner: &str, region: &str, acl: &str) -> Vec<u8> {
    let mut w = JsonWriter::pretty(Escape::Html);
    w.begin_object()
        .key("format_version")
        .u64(1)
        .key("name")
        .string_bytes(name);
    for (k, v) in [("owner", owner), ("region", region), ("acl", acl)] {
        if !v.is_empty() {
            w.key(k).string(v);
        }
    }
    w.end_object();
    w.finish()
}

/// Upstream's `s3PublicManifest` (the object sidecar).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicManifest {
    pub format_version: u32,
    pub etag: String,
    pub size_bytes: i64,
    pub last_modified: String,
    pub content_type: String,
    pub content_encoding: String,
    pub cache_control: String,
    pub content_disposition: String,
    pub user_metadata: Option<StrMap>,
}

pub fn parse_public_manifest(bytes: &[u8]) -> Result<PublicManifest, String> {
    let v = decode_one(bytes)?;
    let mut m = PublicManifest::default();
    decode_struct(
        &v,
        "backup.s3PublicManifest",
        &[
            "format_version",
            "etag",
            "size_bytes",
            "last_modified",
            "content_type",
            "content_encoding",
            "cache_control",
            "content_disposition",
            "user_metadata",
        ],
        |i, val| match i {
            0 => set_u32(&mut m.format_version, val),
            1 => set_str(&mut m.etag, val),
            2 => set_i64(&mut m.size_bytes, val),
            3 => set_str(&mut m.last_modified, val),
            4 => set_str(&mut m.content_type, val),
            5 => set_str(&mut m.content_encoding, val),
            6 => set_str(&mut m.cache_control, val),
            7 => set_str(&mut m.content_disposition, val),
            _ => set_str_map(&mut m.user_metadata, val),
        },
    )?;
    Ok(m)
}

/// The sidecar the decoder writes for a live manifest (`MarshalIndent`,
/// `omitempty` everywhere but `format_version` and `size_bytes`).
pub fn render_sidecar(m: &LiveManifest) -> Vec<u8> {
    let mut w = JsonWriter::pretty(Escape::Html);
    w.begin_object().key("format_version").u64(1);
    if !m.etag.is_empty() {
        w.key("etag").string(&m.etag);
    }
    w.key("size_bytes").i64(m.size_bytes);
    let last_modified = format_hlc(m.last_modified_hlc);
    for (k, v) in [
        ("last_modified", last_modified.as_str()),
        ("content_type", &m.content_type),
        ("content_encoding", &m.content_encoding),
        ("cache_control", &m.cache_control),
        ("content_disposition", &m.content_disposition),
    ] {
        if !v.is_empty() {
            w.key(k).string(v);
        }
    }
    if let Some(map) = m.user_metadata.as_ref().filter(|m| !m.is_empty()) {
        w.key("user_metadata");
        write_str_map(&mut w, map);
    }
    w.end_object();
    w.finish()
}

// --- time ---------------------------------------------------------------------

const HLC_LOGICAL_BITS: u32 = 16;

/// `formatHLCAsRFC3339Nano`: the millisecond half of an HLC as Go's
/// `time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)`; 0 → "".
pub fn format_hlc(hlc: u64) -> String {
    if hlc == 0 {
        return String::new();
    }
    let ms = (hlc >> HLC_LOGICAL_BITS) as i64;
    crate::gojson::time::format_rfc3339_nano(
        ms.div_euclid(1000),
        (ms.rem_euclid(1000) * 1_000_000) as u32,
    )
}

/// `parseRFC3339NanoAsHLC`: `time.Parse(time.RFC3339Nano, s)`, then
/// `UnixMilli << 16`; empty, unparseable or pre-epoch → 0.
pub fn parse_hlc(s: &str) -> u64 {
    match go_parse_rfc3339_ms(s) {
        Some(ms) if ms >= 0 => (ms as u64) << HLC_LOGICAL_BITS,
        _ => 0,
    }
}

fn days_in_month(month: i64, year: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Go's `time.Parse(time.RFC3339Nano, s)` as Unix milliseconds (floor).
/// Go first tries a strict fast path; when that fails it falls back to the
/// general layout parser, which also takes a one-digit hour, a comma
/// before the fraction and zone offsets up to 24:60. The fast path accepts
/// a subset of what the general parser accepts, with the same result, so
/// only the general parser is reproduced here.
pub fn go_parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let mut i = 0usize;
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| (c - b'0') as i64)
    };
    // getnum(fixed): one or two digits; fixed requires two.
    let getnum = |i: &mut usize, fixed: bool| -> Option<i64> {
        let d0 = digit(*i)?;
        match digit(*i + 1) {
            Some(d1) => {
                *i += 2;
                Some(d0 * 10 + d1)
            }
            None if fixed => None,
            None => {
                *i += 1;
                Some(d0)
            }
        }
    };
    let lit = |i: &mut usize, c: u8| -> Option<()> { (b.get(*i) == Some(&c)).then(|| *i += 1) };
    // Year: exactly four digits.
    let mut year = 0i64;
    for k in 0..4 {
        year = year * 10 + digit(k)?;
    }
    i += 4;
    lit(&mut i, b'-')?;
    let month = getnum(&mut i, true)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    lit(&mut i, b'-')?;
    let day = getnum(&mut i, true)?;
    lit(&mut i, b'T')?;
    let hour = getnum(&mut i, false)?;
    if hour >= 24 {
        return None;
    }
    lit(&mut i, b':')?;
    let min = getnum(&mut i, true)?;
    if min >= 60 {
        return None;
    }
    lit(&mut i, b':')?;
    let sec = getnum(&mut i, true)?;
    if sec >= 60 {
        return None;
    }
    // Fraction: `.` or `,` then any number of digits; only the first nine
    // count.
    let mut nanos = 0i64;
    if matches!(b.get(i), Some(b'.' | b',')) && digit(i + 1).is_some() {
        i += 1;
        let mut n = 0;
        while let Some(d) = digit(i) {
            if n < 9 {
                nanos = nanos * 10 + d;
                n += 1;
            }
            i += 1;
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    // Zone: `Z` or ±hh:mm (hh ≤ 24, mm ≤ 60).
    let offset_secs = match b.get(i) {
        Some(b'Z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let z = b.get(i..i + 6)?;
            if z[3] != b':' {
                return None;
            }
            let two = |k: usize| -> Option<i64> {
                let (x, y) = (z[k], z[k + 1]);
                (x.is_ascii_digit() && y.is_ascii_digit())
                    .then(|| ((x - b'0') * 10 + (y - b'0')) as i64)
            };
            let (hh, mm) = (two(1)?, two(4)?);
            if hh > 24 || mm > 60 {
                return None;
            }
            i += 6;
            let off = (hh * 60 + mm) * 60;
            if sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    if i != b.len() || day < 1 || day > days_in_month(month, year) {
        return None;
    }
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some(secs * 1000 + nanos / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn encoder_manifest_bytes() {
        let m = LiveManifest {
            upload_id: "elastickv-restore".into(),
            etag: "e".into(),
            size_bytes: 5,
            content_type: "text/plain".into(),
            parts: Some(vec![LivePart {
                part_no: 1,
                etag: "e".into(),
                size_bytes: 5,
                chunk_count: 1,
                chunk_sizes: Some(vec![5]),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(
            s(render_live_manifest(&m)),
            r#"{"upload_id":"elastickv-restore","etag":"e","size_bytes":5,"last_modified_hlc":0,"content_type":"text/plain","content_encoding":"","cache_control":"","content_disposition":"","user_metadata":null,"parts":[{"part_no":1,"etag":"e","size_bytes":5,"chunk_count":1,"chunk_sizes":[5],"part_version":0,"chunk_ref_version":0,"offloaded":false}]}"#
        );
        let empty = LiveManifest {
            user_metadata: Some(StrMap::new()),
            ..Default::default()
        };
        assert!(s(render_live_manifest(&empty)).ends_with(r#""user_metadata":{},"parts":null}"#));
    }

    #[test]
    fn encoder_bucket_bytes() {
        let m = LiveBucketMeta {
            bucket_name: "a<b".into(),
            generation: 1,
            owner: "o".into(),
            ..Default::default()
        };
        assert_eq!(
            s(render_live_bucket_meta(&m)),
            r#"{"bucket_name":"a\u003cb","generation":1,"created_at_hlc":0,"owner":"o","region":"","acl":""}"#
        );
    }

    #[test]
    fn decoder_files() {
        assert_eq!(
            s(render_public_bucket(b"photos", "alice", "us-east-1", "")),
            "{\n  \"format_version\": 1,\n  \"name\": \"photos\",\n  \"owner\": \"alice\",\n  \"region\": \"us-east-1\"\n}"
        );
        let mut md = StrMap::new();
        md.insert("b".into(), "2".into());
        md.insert("a".into(), "<1>".into());
        let m = LiveManifest {
            etag: "\"abc\"".into(),
            size_bytes: 0,
            last_modified_hlc: 1_745_884_800_123u64 << 16 | 7,
            user_metadata: Some(md),
            ..Default::default()
        };
        assert_eq!(
            s(render_sidecar(&m)),
            "{\n  \"format_version\": 1,\n  \"etag\": \"\\\"abc\\\"\",\n  \"size_bytes\": 0,\n  \"last_modified\": \"2025-04-29T00:00:00.123Z\",\n  \"user_metadata\": {\n    \"a\": \"\\u003c1\\u003e\",\n    \"b\": \"2\"\n  }\n}"
        );
        let bare = LiveManifest {
            user_metadata: Some(StrMap::new()),
            ..Default::default()
        };
        assert_eq!(
            s(render_sidecar(&bare)),
            "{\n  \"format_version\": 1,\n  \"size_bytes\": 0\n}"
        );
    }

    #[test]
    fn hlc_formatting() {
        assert_eq!(format_hlc(0), "");
        assert_eq!(format_hlc(1_745_884_800_000 << 16), "2025-04-29T00:00:00Z");
        assert_eq!(
            format_hlc(1_745_884_800_120 << 16),
            "2025-04-29T00:00:00.12Z"
        );
        assert_eq!(
            format_hlc(1_745_884_800_100 << 16),
            "2025-04-29T00:00:00.1Z"
        );
        assert_eq!(format_hlc(1), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn rfc3339_parsing() {
        let base = 1_745_884_800_000i64;
        assert_eq!(go_parse_rfc3339_ms("2025-04-29T00:00:00Z"), Some(base));
        assert_eq!(
            go_parse_rfc3339_ms("2025-04-29T00:00:00.123Z"),
            Some(base + 123)
        );
        assert_eq!(
            go_parse_rfc3339_ms("2025-04-29T00:00:00.1239999999999Z"),
            Some(base + 123)
        );
        assert_eq!(
            go_parse_rfc3339_ms("2025-04-29T00:00:00,5Z"),
            Some(base + 500)
        );
        assert_eq!(go_parse_rfc3339_ms("2025-04-29T02:00:00+02:00"), Some(base));
        assert_eq!(go_parse_rfc3339_ms("2025-04-28T23:00:00-01:00"), Some(base));
        assert_eq!(
            go_parse_rfc3339_ms("2025-04-29T1:00:00Z"),
            Some(base + 3_600_000)
        );
        assert!(go_parse_rfc3339_ms("2024-02-29T00:00:00Z").is_some());
        for bad in [
            "",
            "2025-04-29",
            "2025-04-29 00:00:00Z",
            "2025-04-29t00:00:00Z",
            "2025-4-29T00:00:00Z",
            "2025-04-31T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-04-29T24:00:00Z",
            "2025-04-29T00:60:00Z",
            "2025-04-29T00:00:60Z",
            "2025-04-29T00:00:00",
            "2025-04-29T00:00:00.Z",
            "2025-04-29T00:00:00Zx",
            "2025-04-29T00:00:00+0200",
            "2025-04-29T00:00:00+25:00",
            "+025-04-29T00:00:00Z",
        ] {
            assert_eq!(go_parse_rfc3339_ms(bad), None, "{bad:?}");
        }
        assert_eq!(parse_hlc("1969-12-31T23:59:59.999Z"), 0);
        assert_eq!(parse_hlc("nonsense"), 0);
        assert_eq!(parse_hlc("1970-01-01T00:00:00.001Z"), 1 << 16);
        assert_eq!(
            go_parse_rfc3339_ms("0000-01-01T00:00:00Z"),
            Some(-62_167_219_200_000)
        );
    }

    #[test]
    fn go_struct_semantics() {
        // Case-insensitive names, last wins, null keeps the earlier value.
        let m =
            parse_live_manifest(br#"{"ETAG":"a","etag":"b","Etag":null,"upload_id":"u"}"#).unwrap();
        assert_eq!((m.etag.as_str(), m.upload_id.as_str()), ("b", "u"));
        // Wrong types fail; fractions and exponents fail for integers.
        assert!(parse_live_manifest(br#"{"etag":1}"#).is_err());
        assert!(parse_live_manifest(br#"{"size_bytes":1.0}"#).is_err());
        assert!(parse_live_manifest(br#"{"last_modified_hlc":-1}"#).is_err());
        assert!(parse_live_manifest(br#"{"parts":[{"chunk_sizes":[1e3]}]}"#).is_err());
        assert!(parse_live_manifest(br#"[]"#).is_err());
        assert!(parse_live_manifest(br#"{} x"#).is_err());
        assert_eq!(
            parse_live_manifest(b"null").unwrap(),
            LiveManifest::default()
        );
        // Maps merge across repeats, null clears; map values null → "".
        let m = parse_live_manifest(br#"{"user_metadata":{"a":"1"},"USER_METADATA":{"b":null}}"#)
            .unwrap();
        let md = m.user_metadata.unwrap();
        assert_eq!((md["a"].as_str(), md["b"].as_str()), ("1", ""));
        let m =
            parse_live_manifest(br#"{"user_metadata":{"a":"1"},"user_metadata":null}"#).unwrap();
        assert!(m.user_metadata.is_none());
        // Slices: repeated fields update elements in place.
        let m = parse_live_manifest(
            br#"{"parts":[{"part_no":1,"chunk_count":2}],"parts":[{"part_no":3},{}]}"#,
        )
        .unwrap();
        let parts = m.parts.unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].part_no, parts[0].chunk_count), (3, 2));
        assert_eq!(parts[1], LivePart::default());
        assert_eq!(
            parse_live_manifest(br#"{"parts":[]}"#).unwrap().parts,
            Some(vec![])
        );
        // Unknown fields are ignored; unused known fields are type-checked.
        assert!(parse_live_bucket_meta(br#"{"zzz":[1],"generation":2}"#).is_ok());
        assert!(parse_live_bucket_meta(br#"{"bucket_name":5}"#).is_err());
    }

    #[test]
    fn dump_file_trailing_rules() {
        let ok = br#"{"format_version":1,"name":"b"}"#;
        assert_eq!(parse_public_bucket(ok).unwrap().name, "b");
        assert!(parse_public_bucket(b"{\"format_version\":1} }]x").is_ok());
        assert!(parse_public_bucket(b"{\"format_version\":1}\n\n").is_ok());
        assert!(parse_public_bucket(b"{\"format_version\":1} {}").is_err());
        assert!(parse_public_bucket(b"").is_err());
        assert!(parse_public_bucket(br#"{"versioning":true}"#).is_err());
        let m =
            parse_public_manifest(br#"{"format_version":1,"size_bytes":-3,"user_metadata":{}}"#)
                .unwrap();
        assert_eq!((m.size_bytes, m.user_metadata), (-3, Some(StrMap::new())));
        assert!(parse_public_manifest(br#"{"format_version":4294967296}"#).is_err());
    }
}
