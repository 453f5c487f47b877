//! `MANIFEST.json`: the dump tree's header. Read with upstream's exact gate
//! order (format-version probe, strict decode, trailing data, exclusion
//! flags, field validation) and written byte-identical to its decoder.

use std::path::Path;

use crate::error::{Error, IoResultExt, Result};
use crate::gojson::{self, Escape, JsonWriter, Value};

pub const FILE_NAME: &str = "MANIFEST.json";
pub const CURRENT_FORMAT_VERSION: u32 = 1;
pub const PHASE0: &str = "phase0-snapshot-decode";
pub const PHASE1: &str = "phase1-live-pinned";
pub const LAYOUT_PER_ITEM: &str = "per-item";
pub const LAYOUT_JSONL: &str = "jsonl";

/// Why a manifest was rejected. Both map to exit code 2 in the encoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest invalid: {0}")]
    Invalid(String),
    #[error("manifest format_version unsupported: {0}")]
    UnsupportedVersion(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    pub fsm_path: String,
    pub fsm_crc32c: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Live {
    pub read_ts: u64,
    pub pin_token_sha256: String,
}

/// One adapter's scope object. The decoder always writes `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub tables: Vec<String>,
    pub buckets: Vec<String>,
    pub databases: Vec<u32>,
    pub queues: Vec<String>,
}

/// Which adapters the dump claims; `None` means "not in this dump".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adapters {
    pub dynamodb: Option<Scope>,
    pub s3: Option<Scope>,
    pub redis: Option<Scope>,
    pub sqs: Option<Scope>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    pub include_incomplete_uploads: bool,
    pub include_orphans: bool,
    pub preserve_sqs_visibility: bool,
    pub include_sqs_side_records: bool,
    pub rename_s3_collisions: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub format_version: u32,
    pub phase: String,
    pub elastickv_version: String,
    pub cluster_id: String,
    pub snapshot_index: u64,
    pub last_commit_ts: u64,
    pub wall_time_iso: String,
    pub source: Option<Source>,
    pub live: Option<Live>,
    pub adapters: Option<Adapters>,
    pub exclusions: Option<Exclusions>,
    pub checksum_algorithm: String,
    pub checksum_format: String,
    pub encoded_filename_charset: String,
    pub key_segment_max_bytes: u32,
    pub s3_meta_suffix: String,
    pub s3_collision_strategy: String,
    pub dynamodb_layout: String,
    /// ekvplan only: the jsonl bundle size a jsonl tree was written with
    /// (0 = not recorded), so a self-test re-packs bundles identically.
    pub dynamodb_bundle_max_bytes: u64,
}

impl Manifest {
    /// The decoder's starting point (`NewPhase0SnapshotManifest`).
    pub fn new_phase0(wall_time_iso: String) -> Self {
        Manifest {
            format_version: CURRENT_FORMAT_VERSION,
            phase: PHASE0.into(),
            elastickv_version: String::new(),
            cluster_id: String::new(),
            snapshot_index: 0,
            last_commit_ts: 0,
            wall_time_iso,
            source: None,
            live: None,
            adapters: Some(Adapters::default()),
            exclusions: Some(Exclusions::default()),
            checksum_algorithm: "sha256".into(),
            checksum_format: "sha256sum".into(),
            encoded_filename_charset: "rfc3986-unreserved-plus-percent".into(),
            key_segment_max_bytes: 240,
            s3_meta_suffix: ".elastickv-meta.json".into(),
            s3_collision_strategy: "leaf-data-suffix".into(),
            dynamodb_layout: LAYOUT_PER_ITEM.into(),
            dynamodb_bundle_max_bytes: 0,
        }
    }

    /// A valid manifest for a tree with every adapter in scope, as upstream's
    /// decoder writes it (fixtures, benchmarks, hand-made dumps).
    pub fn all_adapters(cluster_id: &str, last_commit_ts: u64, wall_time_iso: &str) -> Self {
        let mut m = Manifest::new_phase0(wall_time_iso.into());
        m.elastickv_version = "dev".into();
        m.cluster_id = cluster_id.into();
        m.last_commit_ts = last_commit_ts;
        m.adapters = Some(Adapters {
            dynamodb: Some(Scope::default()),
            s3: Some(Scope::default()),
            redis: Some(Scope::default()),
            sqs: Some(Scope::default()),
        });
        m
    }

    pub fn exclusions(&self) -> Exclusions {
        self.exclusions.clone().unwrap_or_default()
    }

    pub fn is_jsonl_layout(&self) -> bool {
        self.dynamodb_layout == LAYOUT_JSONL
    }

    /// Upstream's `validate()`.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let inv = |m: &str| Err(ManifestError::Invalid(m.into()));
        if self.format_version != CURRENT_FORMAT_VERSION {
            return Err(ManifestError::UnsupportedVersion(format!(
                "format_version {} (this tool reads {CURRENT_FORMAT_VERSION})",
                self.format_version
            )));
        }
        if self.phase != PHASE0 && self.phase != PHASE1 {
            return inv(&format!("unknown phase {:?}", self.phase));
        }
        if self.wall_time_iso.is_empty() {
            return inv("wall_time_iso is required");
        }
        if !is_rfc3339(&self.wall_time_iso) {
            return inv(&format!(
                "wall_time_iso {:?} is not RFC 3339",
                self.wall_time_iso
            ));
        }
        if self.adapters.is_none() {
            return inv("adapters is required");
        }
        if self.exclusions.is_none() {
            return inv("exclusions is required");
        }
        for (name, v) in [
            ("checksum_algorithm", &self.checksum_algorithm),
            ("checksum_format", &self.checksum_format),
            ("encoded_filename_charset", &self.encoded_filename_charset),
            ("s3_meta_suffix", &self.s3_meta_suffix),
            ("s3_collision_strategy", &self.s3_collision_strategy),
        ] {
            if v.is_empty() {
                return inv(&format!("{name} is required"));
            }
        }
        if self.key_segment_max_bytes == 0 {
            return inv("key_segment_max_bytes must be non-zero");
        }
        if self.dynamodb_layout != LAYOUT_PER_ITEM && self.dynamodb_layout != LAYOUT_JSONL {
            return inv(&format!(
                "dynamodb_layout {:?} is not \"per-item\" or \"jsonl\"",
                self.dynamodb_layout
            ));
        }
        if self.phase == PHASE0 && self.live.is_some() {
            return inv("phase0 manifest must not set live");
        }
        if self.phase == PHASE1 {
            if self.source.is_some() {
                return inv("phase1 manifest must not set source");
            }
            match &self.live {
                None => return inv("phase1 manifest must set live"),
                Some(l) if l.read_ts == 0 => return inv("phase1 live.read_ts must be non-zero"),
                _ => {}
            }
        }
        Ok(())
    }

    /// Pretty JSON, HTML escaping off, trailing newline — as upstream writes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ManifestError> {
        self.validate()?;
        let mut w = JsonWriter::pretty(Escape::NoHtml);
        w.begin_object();
        w.key("format_version").u64(self.format_version as u64);
        w.key("phase").string(&self.phase);
        if !self.elastickv_version.is_empty() {
            w.key("elastickv_version").string(&self.elastickv_version);
        }
        if !self.cluster_id.is_empty() {
            w.key("cluster_id").string(&self.cluster_id);
        }
        if self.snapshot_index != 0 {
            w.key("snapshot_index").u64(self.snapshot_index);
        }
        if self.last_commit_ts != 0 {
            w.key("last_commit_ts").u64(self.last_commit_ts);
        }
        w.key("wall_time_iso").string(&self.wall_time_iso);
        if let Some(s) = &self.source {
            w.key("source")
                .begin_object()
                .key("fsm_path")
                .string(&s.fsm_path);
            if !s.fsm_crc32c.is_empty() {
                w.key("fsm_crc32c").string(&s.fsm_crc32c);
            }
            w.end_object();
        }
        if let Some(l) = &self.live {
            w.key("live").begin_object().key("read_ts").u64(l.read_ts);
            if !l.pin_token_sha256.is_empty() {
                w.key("pin_token_sha256").string(&l.pin_token_sha256);
            }
            w.end_object();
        }
        let a = self.adapters.as_ref().expect("validated");
        w.key("adapters").begin_object();
        for (name, scope) in [
            ("dynamodb", &a.dynamodb),
            ("s3", &a.s3),
            ("redis", &a.redis),
            ("sqs", &a.sqs),
        ] {
            if let Some(s) = scope {
                w.key(name).begin_object();
                for (k, list) in [("tables", &s.tables), ("buckets", &s.buckets)] {
                    if !list.is_empty() {
                        w.key(k).begin_array();
                        for x in list {
                            w.string(x);
                        }
                        w.end_array();
                    }
                }
                if !s.databases.is_empty() {
                    w.key("databases").begin_array();
                    for d in &s.databases {
                        w.u64(*d as u64);
                    }
                    w.end_array();
                }
                if !s.queues.is_empty() {
                    w.key("queues").begin_array();
                    for x in &s.queues {
                        w.string(x);
                    }
                    w.end_array();
                }
                w.end_object();
            }
        }
        w.end_object();
        let e = self.exclusions.as_ref().expect("validated");
        w.key("exclusions").begin_object();
        w.key("include_incomplete_uploads")
            .bool(e.include_incomplete_uploads);
        w.key("include_orphans").bool(e.include_orphans);
        w.key("preserve_sqs_visibility")
            .bool(e.preserve_sqs_visibility);
        w.key("include_sqs_side_records")
            .bool(e.include_sqs_side_records);
        if e.rename_s3_collisions {
            w.key("rename_s3_collisions").bool(true);
        }
        w.end_object();
        w.key("checksum_algorithm").string(&self.checksum_algorithm);
        w.key("checksum_format").string(&self.checksum_format);
        w.key("encoded_filename_charset")
            .string(&self.encoded_filename_charset);
        w.key("key_segment_max_bytes")
            .u64(self.key_segment_max_bytes as u64);
        w.key("s3_meta_suffix").string(&self.s3_meta_suffix);
        w.key("s3_collision_strategy")
            .string(&self.s3_collision_strategy);
        w.key("dynamodb_layout").string(&self.dynamodb_layout);
        if self.is_jsonl_layout() && self.dynamodb_bundle_max_bytes != 0 {
            w.key("dynamodb_bundle_max_bytes")
                .u64(self.dynamodb_bundle_max_bytes);
        }
        w.end_object();
        Ok(w.finish_line())
    }

    /// `ReadManifest`, in upstream's order.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let inv = |m: String| ManifestError::Invalid(m);
        // 1. Probe format_version on the raw object (map semantics: exact key).
        let top = gojson::parse(bytes).map_err(|e| inv(format!("not valid JSON: {e}")))?;
        let probe = match &top {
            Value::Object(_) => top.get_exact("format_version"),
            Value::Null => None,
            v => {
                return Err(inv(format!(
                    "top level is a JSON {}, not an object",
                    v.kind()
                )));
            }
        };
        let fv = match probe {
            None => return Err(inv("format_version missing".into())),
            Some(Value::Null) => return Err(inv("format_version is null".into())),
            Some(Value::Number(n)) => match n.parse::<u32>() {
                Ok(v) if n.bytes().all(|c| c.is_ascii_digit()) => v,
                _ => return Err(inv(format!("format_version {n} is not a uint32"))),
            },
            Some(v) => {
                return Err(inv(format!(
                    "format_version is a JSON {}, not a number",
                    v.kind()
                )));
            }
        };
        if fv != CURRENT_FORMAT_VERSION {
            return Err(ManifestError::UnsupportedVersion(format!(
                "format_version {fv} (this tool reads {CURRENT_FORMAT_VERSION})"
            )));
        }
        // 2. Strict struct decode (unknown fields allowed, keys case-insensitive).
        let m = decode_struct(&top).map_err(inv)?;
        // 3. Exclusion flags must be present and non-null when the object is.
        if let Some(ex) = top.get("exclusions") {
            for flag in [
                "include_incomplete_uploads",
                "include_orphans",
                "preserve_sqs_visibility",
                "include_sqs_side_records",
            ] {
                match ex.get(flag) {
                    None | Some(Value::Null) => {
                        return Err(inv(format!("exclusions.{flag} is missing or null")));
                    }
                    _ => {}
                }
            }
        }
        m.validate()?;
        Ok(m)
    }

    /// Read `<root>/MANIFEST.json`. An unreadable file is an I/O error (exit 1);
    /// a rejected one is a data error (exit 2).
    pub fn read_from_dir(root: &Path) -> Result<Manifest> {
        let path = root.join(FILE_NAME);
        let bytes = std::fs::read(&path).io_at(&path, "open")?;
        Manifest::parse(&bytes).map_err(|e| Error::data_at(&path, e))
    }
}

fn field_err(name: &str, e: String) -> String {
    format!("field {name}: {e}")
}

fn opt_obj<'a>(v: Option<&'a Value>, name: &str) -> Result<Option<&'a Value>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(o @ Value::Object(_)) => Ok(Some(o)),
        Some(x) => Err(field_err(
            name,
            format!("cannot unmarshal {} into an object", x.kind()),
        )),
    }
}

fn get_str(o: &Value, name: &str) -> Result<String, String> {
    o.get(name)
        .map_or(Ok(String::new()), |v| v.go_string())
        .map_err(|e| field_err(name, e))
}

fn get_bool(o: &Value, name: &str) -> Result<bool, String> {
    o.get(name)
        .map_or(Ok(false), |v| v.go_bool())
        .map_err(|e| field_err(name, e))
}

fn get_u64(o: &Value, name: &str) -> Result<u64, String> {
    o.get(name)
        .map_or(Ok(0), |v| v.go_u64())
        .map_err(|e| field_err(name, e))
}

fn get_u32(o: &Value, name: &str) -> Result<u32, String> {
    o.get(name)
        .map_or(Ok(0), |v| v.go_u32())
        .map_err(|e| field_err(name, e))
}

fn get_list<T>(
    o: &Value,
    name: &str,
    f: impl Fn(&Value) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(&f)
            .collect::<Result<_, _>>()
            .map_err(|e| field_err(name, e)),
        Some(x) => Err(field_err(
            name,
            format!("cannot unmarshal {} into a list", x.kind()),
        )),
    }
}

fn decode_scope(v: Option<&Value>, name: &str) -> Result<Option<Scope>, String> {
    let Some(o) = opt_obj(v, name)? else {
        return Ok(None);
    };
    Ok(Some(Scope {
        tables: get_list(o, "tables", |x| x.go_string())?,
        buckets: get_list(o, "buckets", |x| x.go_string())?,
        databases: get_list(o, "databases", |x| x.go_u32())?,
        queues: get_list(o, "queues", |x| x.go_string())?,
    }))
}

fn decode_struct(top: &Value) -> Result<Manifest, String> {
    if top.is_null() {
        return Err("manifest is null".into());
    }
    let source = opt_obj(top.get("source"), "source")?
        .map(|o| -> Result<Source, String> {
            Ok(Source {
                fsm_path: get_str(o, "fsm_path")?,
                fsm_crc32c: get_str(o, "fsm_crc32c")?,
            })
        })
        .transpose()?;
    let live = opt_obj(top.get("live"), "live")?
        .map(|o| -> Result<Live, String> {
            Ok(Live {
                read_ts: get_u64(o, "read_ts")?,
                pin_token_sha256: get_str(o, "pin_token_sha256")?,
            })
        })
        .transpose()?;
    let adapters = opt_obj(top.get("adapters"), "adapters")?
        .map(|o| -> Result<Adapters, String> {
            Ok(Adapters {
                dynamodb: decode_scope(o.get("dynamodb"), "adapters.dynamodb")?,
                s3: decode_scope(o.get("s3"), "adapters.s3")?,
                redis: decode_scope(o.get("redis"), "adapters.redis")?,
                sqs: decode_scope(o.get("sqs"), "adapters.sqs")?,
            })
        })
        .transpose()?;
    let exclusions = opt_obj(top.get("exclusions"), "exclusions")?
        .map(|o| -> Result<Exclusions, String> {
            Ok(Exclusions {
                include_incomplete_uploads: get_bool(o, "include_incomplete_uploads")?,
                include_orphans: get_bool(o, "include_orphans")?,
                preserve_sqs_visibility: get_bool(o, "preserve_sqs_visibility")?,
                include_sqs_side_records: get_bool(o, "include_sqs_side_records")?,
                rename_s3_collisions: get_bool(o, "rename_s3_collisions")?,
            })
        })
        .transpose()?;
    Ok(Manifest {
        format_version: get_u32(top, "format_version")?,
        phase: get_str(top, "phase")?,
        elastickv_version: get_str(top, "elastickv_version")?,
        cluster_id: get_str(top, "cluster_id")?,
        snapshot_index: get_u64(top, "snapshot_index")?,
        last_commit_ts: get_u64(top, "last_commit_ts")?,
        wall_time_iso: get_str(top, "wall_time_iso")?,
        source,
        live,
        adapters,
        exclusions,
        checksum_algorithm: get_str(top, "checksum_algorithm")?,
        checksum_format: get_str(top, "checksum_format")?,
        encoded_filename_charset: get_str(top, "encoded_filename_charset")?,
        key_segment_max_bytes: get_u32(top, "key_segment_max_bytes")?,
        s3_meta_suffix: get_str(top, "s3_meta_suffix")?,
        s3_collision_strategy: get_str(top, "s3_collision_strategy")?,
        dynamodb_layout: get_str(top, "dynamodb_layout")?,
        dynamodb_bundle_max_bytes: get_u64(top, "dynamodb_bundle_max_bytes")?,
    })
}

/// Go's `time.Parse(time.RFC3339Nano, s)` acceptance.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = b.get(r)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(d).ok()?.parse().ok()
    };
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return false;
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let dim = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d == 0
        || d > dim[mo as usize - 1]
        || h > 23
        || mi > 59
        || sec > 59
    {
        return false;
    }
    let mut i = 19;
    if matches!(b.get(i), Some(b'.' | b',')) {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            let (Some(oh), Some(om)) = (num(i + 1..i + 3), num(i + 4..i + 6)) else {
                return false;
            };
            b.get(i + 3) == Some(&b':') && i + 6 == b.len() && oh < 24 && om < 60
        }
        _ => false,
    }
}

/// `time.Now().UTC().Format(time.RFC3339Nano)`: fraction trimmed of
/// trailing zeros and dropped when zero.
pub fn now_rfc3339_nano() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format_rfc3339_nano(d.as_secs() as i64, d.subsec_nanos())
}

pub fn format_rfc3339_nano(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    let mut s = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos != 0 {
        let f = format!("{nanos:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
  "format_version": 1,
  "phase": "phase0-snapshot-decode",
  "elastickv_version": "dev",
  "cluster_id": "ek-test",
  "snapshot_index": 100,
  "last_commit_ts": 7000,
  "wall_time_iso": "2026-04-29T15:42:11.094Z",
  "source": {
    "fsm_path": "/tmp/x/0000000000000064.fsm"
  },
  "adapters": {
    "dynamodb": {},
    "redis": {}
  },
  "exclusions": {
    "include_incomplete_uploads": false,
    "include_orphans": false,
    "preserve_sqs_visibility": false,
    "include_sqs_side_records": false
  },
  "checksum_algorithm": "sha256",
  "checksum_format": "sha256sum",
  "encoded_filename_charset": "rfc3986-unreserved-plus-percent",
  "key_segment_max_bytes": 240,
  "s3_meta_suffix": ".elastickv-meta.json",
  "s3_collision_strategy": "leaf-data-suffix",
  "dynamodb_layout": "per-item"
}
"#;

    #[test]
    fn round_trips_the_reference_sample_byte_for_byte() {
        let m = Manifest::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(m.snapshot_index, 100);
        assert!(m.adapters.as_ref().unwrap().redis.is_some());
        assert!(m.adapters.as_ref().unwrap().s3.is_none());
        assert_eq!(String::from_utf8(m.to_bytes().unwrap()).unwrap(), SAMPLE);
    }

    #[test]
    fn version_gate_runs_before_type_checks() {
        let e = Manifest::parse(br#"{"format_version":2,"phase":5}"#).unwrap_err();
        assert!(matches!(e, ManifestError::UnsupportedVersion(_)));
        assert!(matches!(
            Manifest::parse(br#"{"format_version":0}"#).unwrap_err(),
            ManifestError::UnsupportedVersion(_)
        ));
        for bad in [
            &br#"{}"#[..],
            br#"{"format_version":null}"#,
            br#"{"format_version":"1"}"#,
            b"null",
            b"[]",
            br#"{"format_version":1.0}"#,
        ] {
            assert!(
                matches!(Manifest::parse(bad).unwrap_err(), ManifestError::Invalid(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn exclusions_flags_and_legacy_rename() {
        let without = SAMPLE.replace("    \"include_orphans\": false,\n", "");
        assert!(Manifest::parse(without.as_bytes()).is_err());
        let nulled = SAMPLE.replace("\"include_orphans\": false", "\"include_orphans\": null");
        assert!(Manifest::parse(nulled.as_bytes()).is_err());
        let m = Manifest::parse(SAMPLE.as_bytes()).unwrap();
        assert!(!m.exclusions().rename_s3_collisions);
        let trailing = format!("{SAMPLE} x");
        assert!(Manifest::parse(trailing.as_bytes()).is_err());
        let layout = SAMPLE.replace("per-item", "");
        assert!(Manifest::parse(layout.as_bytes()).is_err());
    }

    #[test]
    fn rfc3339() {
        for ok in [
            "2026-04-29T15:42:11.094Z",
            "2026-06-01T00:00:00Z",
            "0000-01-01T00:00:00+09:00",
            "2024-02-29T23:59:59.1234567891Z",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2026-04-29t15:42:11Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:60Z",
            "yesterday",
            "2026-01-01T00:00:00",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
        assert_eq!(format_rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339_nano(1_780_272_000, 100_000_000),
            "2026-06-01T00:00:00.1Z"
        );
    }
}
