//! `MANIFEST.json`: the dump tree's header. Read with upstream's exact gate
//! order (format-version probe, strict decode, trailing data, exclusion
//! flags, field validation) and written byte-identical to its decoder.

use std::path::Path;

use crate::error::{Area, Error, IoResultExt, Kind, Result};
use crate::gojson::{self, Escape, GoMap, GoSlice, JsonWriter, RawMessage};

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

crate::go_struct! {
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Source as "backup.Source" {
        pub fsm_path: String,
        pub fsm_crc32c: String,
    }
}

crate::go_struct! {
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Live as "backup.Live" {
        pub read_ts: u64,
        pub pin_token_sha256: String,
    }
}

crate::go_struct! {
    /// One adapter's scope object. The decoder always writes `{}`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Scope as "backup.Adapter" {
        pub tables: GoSlice<String>,
        pub buckets: GoSlice<String>,
        pub databases: GoSlice<u32>,
        pub queues: GoSlice<String>,
    }
}

crate::go_struct! {
    /// Which adapters the dump claims; `None` means "not in this dump".
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Adapters as "backup.Adapters" {
        pub dynamodb: Option<Scope>,
        pub s3: Option<Scope>,
        pub redis: Option<Scope>,
        pub sqs: Option<Scope>,
    }
}

crate::go_struct! {
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Exclusions as "backup.Exclusions" {
        pub include_incomplete_uploads: bool,
        pub include_orphans: bool,
        pub preserve_sqs_visibility: bool,
        pub include_sqs_side_records: bool,
        pub rename_s3_collisions: bool,
    }
}

crate::go_struct! {
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Manifest as "backup.Manifest" {
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
        if gojson::time::parse_rfc3339(&self.wall_time_iso).is_none() {
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

    /// `ReadManifest`, in upstream's order. The format-version probe and
    /// the exclusion-flag presence check look keys up in a
    /// `map[string]json.RawMessage` upstream, so they match exactly and see
    /// the last of repeated keys; the struct decode matches keys Go's
    /// case-insensitive way and applies repeats in order.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let inv = |m: String| ManifestError::Invalid(m);
        // 1. The raw top-level map, then the version probe.
        let top: GoMap<RawMessage> = gojson::unmarshal(bytes).map_err(|e| inv(e.to_string()))?;
        let raw = |map: &GoMap<RawMessage>, k: &str| -> Option<Vec<u8>> {
            map.0
                .as_ref()
                .and_then(|m| m.get(k))
                .map(|r| r.bytes(bytes).to_vec())
        };
        match raw(&top, "format_version") {
            None => return Err(inv("format_version missing".into())),
            Some(v) if v == b"null" => return Err(inv("format_version is null".into())),
            Some(_) => {}
        }
        let probe: VersionProbe = gojson::unmarshal(bytes).map_err(|e| inv(e.to_string()))?;
        if probe.format_version == 0 {
            return Err(ManifestError::UnsupportedVersion(
                "format_version is zero".into(),
            ));
        }
        if probe.format_version > CURRENT_FORMAT_VERSION {
            return Err(ManifestError::UnsupportedVersion(format!(
                "format_version {} > current {CURRENT_FORMAT_VERSION} (newer producer)",
                probe.format_version
            )));
        }
        // 2. The struct decode (unknown fields allowed).
        let m: Manifest = gojson::unmarshal(bytes).map_err(|e| inv(e.to_string()))?;
        // 3. Exclusion flags present and not null, by exact key.
        if let Some(raw_excl) = raw(&top, "exclusions") {
            let excl: GoMap<RawMessage> =
                gojson::unmarshal(&raw_excl).map_err(|e| inv(e.to_string()))?;
            for flag in EXCLUSIONS_REQUIRED {
                let v = excl.0.as_ref().and_then(|m| m.get(flag));
                match v.map(|r| r.bytes(&raw_excl)) {
                    None => {
                        return Err(inv(format!(
                            "exclusions.{flag} missing (cannot infer producer-side default)"
                        )));
                    }
                    Some(b"null") => return Err(inv(format!("exclusions.{flag} is null"))),
                    Some(_) => {}
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
        Manifest::parse(&bytes).map_err(|e| {
            let kind = match e {
                ManifestError::UnsupportedVersion(_) => Kind::UnsupportedVersion,
                ManifestError::Invalid(_) => Kind::InvalidRecord,
            };
            Error::data_at(&path, e)
                .with_kind(kind)
                .in_area(Area::Manifest)
        })
    }
}

/// Exclusion flags upstream requires to be spelled out (not the legacy
/// `rename_s3_collisions`).
const EXCLUSIONS_REQUIRED: [&str; 4] = [
    "include_incomplete_uploads",
    "include_orphans",
    "preserve_sqs_visibility",
    "include_sqs_side_records",
];

crate::go_struct! {
    /// The version probe upstream decodes before the full struct.
    #[derive(Debug, Clone, Default)]
    struct VersionProbe as "struct { FormatVersion uint32 }" {
        format_version: u32,
    }
}

/// `time.Now().UTC().Format(time.RFC3339Nano)`.
pub fn now_rfc3339_nano() -> String {
    gojson::time::now_rfc3339_nano()
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
    fn wall_time_takes_go_general_parser_forms() {
        for ok in [
            "2026-04-29T15:42:11.094Z",
            "0000-01-01T00:00:00+09:00",
            "2024-02-29T23:59:59.1234567891Z",
            "2026-04-29T5:42:11Z",
            "2026-04-29T15:42:11+24:00",
            "2026-04-29T15:42:11-23:60",
            "2026-04-29T15:42:11,5Z",
        ] {
            let m = SAMPLE.replace("2026-04-29T15:42:11.094Z", ok);
            assert!(Manifest::parse(m.as_bytes()).is_ok(), "{ok}");
        }
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00+25:00",
        ] {
            let m = SAMPLE.replace("2026-04-29T15:42:11.094Z", bad);
            assert!(Manifest::parse(m.as_bytes()).is_err(), "{bad}");
        }
    }

    fn with_tail(extra: &str) -> String {
        SAMPLE.replacen("{\n", &format!("{{\n{extra}\n"), 1)
    }

    #[test]
    fn repeated_members_follow_go() {
        // null does not undo an earlier value of a non-pointer field.
        let m = Manifest::parse(
            SAMPLE
                .replace(
                    "\"last_commit_ts\": 7000,",
                    "\"last_commit_ts\": 7000, \"last_commit_ts\": null,",
                )
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(m.last_commit_ts, 7000);
        for f in [
            "\"wall_time_iso\": null,",
            "\"phase\": null,",
            "\"dynamodb_layout\": null,",
            "\"key_segment_max_bytes\": null,",
        ] {
            assert!(
                Manifest::parse(
                    SAMPLE
                        .to_string()
                        .replacen(
                            "  \"format_version\": 1,",
                            &format!("  \"format_version\": 1, {f}"),
                            1
                        )
                        .as_bytes()
                )
                .is_ok(),
                "{f}"
            );
        }
        // A type error in an earlier copy fails even when a later copy is fine.
        let bad = with_tail("\"phase\": 5,");
        assert!(matches!(
            Manifest::parse(bad.as_bytes()),
            Err(ManifestError::Invalid(_))
        ));
        // Repeated objects merge.
        let merged = SAMPLE.replace(
            "\"adapters\": {",
            "\"adapters\": {\"sqs\": {}}, \"adapters\": {",
        );
        let m = Manifest::parse(merged.as_bytes()).unwrap();
        let a = m.adapters.unwrap();
        assert!(a.sqs.is_some() && a.redis.is_some());
        // A later null pointer clears the section.
        let cleared = SAMPLE.replace(
            "\"checksum_algorithm\"",
            "\"adapters\": null, \"checksum_algorithm\"",
        );
        assert!(Manifest::parse(cleared.as_bytes()).is_err());
    }

    #[test]
    fn raw_map_lookups_are_exact() {
        // Case-folded flag: the struct takes it, the presence check does not.
        let folded = SAMPLE.replace("\"include_orphans\"", "\"Include_Orphans\"");
        assert!(Manifest::parse(folded.as_bytes()).is_err());
        // A case-folded section escapes the presence check entirely.
        let section = SAMPLE
            .replace("\"exclusions\"", "\"Exclusions\"")
            .replace("    \"include_orphans\": false,\n", "");
        assert!(Manifest::parse(section.as_bytes()).is_ok());
        // The presence check sees the last exact copy of the section.
        let last = SAMPLE.replace(
            "\"checksum_algorithm\"",
            "\"exclusions\": {}, \"checksum_algorithm\"",
        );
        assert!(Manifest::parse(last.as_bytes()).is_err());
        // The version probe is exact; a folded duplicate still feeds the struct.
        let probe = SAMPLE.replace("\"format_version\": 1,", "\"Format_Version\": 1,");
        assert!(Manifest::parse(probe.as_bytes()).is_err());
        let newer = SAMPLE.replace(
            "\"format_version\": 1,",
            "\"format_version\": 1, \"FORMAT_VERSION\": 2,",
        );
        assert!(matches!(
            Manifest::parse(newer.as_bytes()),
            Err(ManifestError::UnsupportedVersion(_))
        ));
    }

    #[test]
    fn time_formatting() {
        assert_eq!(
            gojson::time::format_rfc3339_nano(0, 0),
            "1970-01-01T00:00:00Z"
        );
    }
}
