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
//! Decoding goes through [`crate::gojson`] with Go's rules.

use std::collections::BTreeMap;

use crate::gojson::{self, Escape, GoMap, GoSlice, JsonWriter, UnmarshalError};

pub type StrMap = BTreeMap<String, String>;

// --- live records (inside the .fsm) -----------------------------------------

crate::go_struct! {
    /// Upstream's `s3LiveBucketMeta`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct LiveBucketMeta as "backup.s3LiveBucketMeta" {
        pub bucket_name: String,
        pub generation: u64,
        pub created_at_hlc: u64,
        pub owner: String,
        pub region: String,
        pub acl: String,
    }
}

/// `json.Unmarshal` of a `!s3|bucket|meta|` value.
pub fn parse_live_bucket_meta(bytes: &[u8]) -> Result<LiveBucketMeta, UnmarshalError> {
    gojson::unmarshal(bytes)
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

crate::go_struct! {
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    struct GoLivePart as "backup.s3LivePart" {
        part_no: u64,
        etag: String,
        size_bytes: i64,
        chunk_count: u64,
        chunk_sizes: GoSlice<u64>,
        part_version: u64,
        chunk_ref_version: u64,
        offloaded: bool,
    }
}

crate::go_struct! {
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    struct GoLiveManifest as "backup.s3LiveManifest" {
        upload_id: String,
        etag: String,
        size_bytes: i64,
        last_modified_hlc: u64,
        content_type: String,
        content_encoding: String,
        cache_control: String,
        content_disposition: String,
        user_metadata: GoMap<String>,
        parts: GoSlice<GoLivePart>,
    }
}

/// `json.Unmarshal` of a `!s3|obj|head|` value.
pub fn parse_live_manifest(bytes: &[u8]) -> Result<LiveManifest, UnmarshalError> {
    let m: GoLiveManifest = gojson::unmarshal(bytes)?;
    Ok(LiveManifest {
        upload_id: m.upload_id,
        etag: m.etag,
        size_bytes: m.size_bytes,
        last_modified_hlc: m.last_modified_hlc,
        content_type: m.content_type,
        content_encoding: m.content_encoding,
        cache_control: m.cache_control,
        content_disposition: m.content_disposition,
        user_metadata: m.user_metadata.0,
        parts: m.parts.into_option().map(|ps| {
            ps.into_iter()
                .map(|p| LivePart {
                    part_no: p.part_no,
                    etag: p.etag,
                    size_bytes: p.size_bytes,
                    chunk_count: p.chunk_count,
                    chunk_sizes: p.chunk_sizes.into_option(),
                    part_version: p.part_version,
                    chunk_ref_version: p.chunk_ref_version,
                    offloaded: p.offloaded,
                })
                .collect()
        }),
    })
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

crate::go_struct! {
    /// Upstream's `s3PublicBucket` (`_bucket.json`). Fields the restore
    /// ignores are still decoded, so their types are checked.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct PublicBucket as "backup.s3PublicBucket" {
        pub format_version: u32,
        pub name: String,
        pub creation_time_iso: String,
        pub owner: String,
        pub region: String,
        pub acl: String,
        pub versioning: String,
        pub policy_json: String,
    }
}

/// Read `_bucket.json` as the encoder does (`decodeOneJSON`).
pub fn parse_public_bucket(bytes: &[u8]) -> Result<PublicBucket, UnmarshalError> {
    gojson::decode_one(bytes)
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

crate::go_struct! {
    /// Upstream's `s3PublicManifest` (the object sidecar).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct PublicManifest as "backup.s3PublicManifest" {
        pub format_version: u32,
        pub etag: String,
        pub size_bytes: i64,
        pub last_modified: String,
        pub content_type: String,
        pub content_encoding: String,
        pub cache_control: String,
        pub content_disposition: String,
        pub user_metadata: GoMap<String>,
    }
}

/// Read an object sidecar as the encoder does (`decodeOneJSON`).
pub fn parse_public_manifest(bytes: &[u8]) -> Result<PublicManifest, UnmarshalError> {
    gojson::decode_one(bytes)
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
    match gojson::time::parse_rfc3339(s).map(|t| t.unix_millis()) {
        Some(ms) if ms >= 0 => (ms as u64) << HLC_LOGICAL_BITS,
        _ => 0,
    }
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
    fn hlc_parsing() {
        assert_eq!(parse_hlc("1969-12-31T23:59:59.999Z"), 0);
        assert_eq!(parse_hlc("nonsense"), 0);
        assert_eq!(parse_hlc("1970-01-01T00:00:00.001Z"), 1 << 16);
        assert_eq!(parse_hlc("1970-01-01T1:00:00.001+01:00"), 1 << 16);
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
        // Slices: repeated fields update elements in place, and a slot a
        // shorter array cut off comes back with its old value.
        let m = parse_live_manifest(
            br#"{"parts":[{"part_no":1,"chunk_count":2},{"etag":"x"}],"parts":[{"part_no":3}],"parts":[{},{}]}"#,
        )
        .unwrap();
        let parts = m.parts.unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].part_no, parts[0].chunk_count), (3, 2));
        assert_eq!(parts[1].etag, "x");
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
        assert_eq!((m.size_bytes, m.user_metadata.0), (-3, Some(StrMap::new())));
        assert!(parse_public_manifest(br#"{"format_version":4294967296}"#).is_err());
    }
}
