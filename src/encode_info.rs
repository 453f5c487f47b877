//! `<output>.encode_info.json`: the encoder's sidecar (upstream schema;
//! pretty JSON with HTML escaping on and a trailing newline).

use crate::gojson::{self, Escape, GoSlice, JsonWriter, RawMessage, Value};

pub const SUFFIX: &str = ".encode_info.json";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodeInfo {
    pub encoder_version: String,
    pub wall_time_iso: String,
    pub input_root: String,
    pub output_fsm_path: String,
    pub output_fsm_sha256: String,
    pub last_commit_ts: u64,
    pub last_commit_ts_overridden: bool,
    pub manifest_last_commit_ts: u64,
    pub manifest_cluster_id: String,
    pub adapters_enabled: Vec<String>,
    pub self_test_ran: bool,
    pub self_test_matched: bool,
    /// ekvplan's own fields (compact JSON object), written under `"ekvplan"`
    /// after upstream's keys; upstream readers ignore unknown fields.
    pub ekvplan: Option<Vec<u8>>,
}

impl EncodeInfo {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = JsonWriter::pretty(Escape::Html);
        w.begin_object();
        w.key("format_version").u64(FORMAT_VERSION as u64);
        w.key("encoder_version").string(&self.encoder_version);
        w.key("encoder_key_format_version").u64(1);
        w.key("wall_time_iso").string(&self.wall_time_iso);
        w.key("input_root").string(&self.input_root);
        w.key("output_fsm_path").string(&self.output_fsm_path);
        w.key("output_fsm_sha256").string(&self.output_fsm_sha256);
        w.key("last_commit_ts").u64(self.last_commit_ts);
        w.key("last_commit_ts_overridden")
            .bool(self.last_commit_ts_overridden);
        w.key("manifest_last_commit_ts")
            .u64(self.manifest_last_commit_ts);
        if !self.manifest_cluster_id.is_empty() {
            w.key("manifest_cluster_id")
                .string(&self.manifest_cluster_id);
        }
        w.key("adapters_enabled").begin_array();
        for a in &self.adapters_enabled {
            w.string(a);
        }
        w.end_array();
        w.key("self_test")
            .begin_object()
            .key("ran")
            .bool(self.self_test_ran)
            .key("matched")
            .bool(self.self_test_matched)
            .end_object();
        let mut out = Vec::new();
        if let Some(extra) = &self.ekvplan {
            // Re-indent the compact object through the same writer.
            let v = gojson::parse(extra).expect("ekvplan extra is valid JSON");
            w.key("ekvplan");
            write_value(&mut w, &v);
        }
        w.end_object();
        out.extend_from_slice(&w.finish_line());
        out
    }

    /// `ReadEncodeInfo`: a `format_version` probe (exactly 1), then the
    /// struct decode; unknown fields are ignored.
    pub fn parse(bytes: &[u8]) -> Result<EncodeInfo, String> {
        let probe: Probe = gojson::unmarshal(bytes).map_err(|e| e.to_string())?;
        if probe.format_version != FORMAT_VERSION {
            return Err(format!(
                "encode_info format_version unsupported: got {}, want {FORMAT_VERSION}",
                probe.format_version
            ));
        }
        let g: GoEncodeInfo = gojson::unmarshal(bytes).map_err(|e| e.to_string())?;
        let extra = g
            .ekvplan
            .0
            .map(|_| g.ekvplan.bytes(bytes))
            .filter(|b| *b != b"null")
            .map(|b| {
                let mut o = Vec::new();
                gojson::write_raw_compact(&mut o, b, Escape::Html);
                o
            });
        Ok(EncodeInfo {
            encoder_version: g.encoder_version,
            wall_time_iso: g.wall_time_iso,
            input_root: g.input_root,
            output_fsm_path: g.output_fsm_path,
            output_fsm_sha256: g.output_fsm_sha256,
            last_commit_ts: g.last_commit_ts,
            last_commit_ts_overridden: g.last_commit_ts_overridden,
            manifest_last_commit_ts: g.manifest_last_commit_ts,
            manifest_cluster_id: g.manifest_cluster_id,
            adapters_enabled: g.adapters_enabled.into_vec(),
            self_test_ran: g.self_test.ran,
            self_test_matched: g.self_test.matched,
            ekvplan: extra,
        })
    }
}

crate::go_struct! {
    #[derive(Debug, Default)]
    struct Probe as "struct { FormatVersion uint32 }" {
        format_version: u32,
    }
}

crate::go_struct! {
    #[derive(Debug, Default)]
    struct GoSelfTest as "backup.EncodeInfoSelfTest" {
        ran: bool,
        matched: bool,
    }
}

crate::go_struct! {
    #[derive(Debug, Default)]
    struct GoEncodeInfo as "backup.EncodeInfo" {
        format_version: u32,
        encoder_version: String,
        encoder_key_format_version: u32,
        wall_time_iso: String,
        input_root: String,
        output_fsm_path: String,
        output_fsm_sha256: String,
        last_commit_ts: u64,
        last_commit_ts_overridden: bool,
        manifest_last_commit_ts: u64,
        manifest_cluster_id: String,
        adapters_enabled: GoSlice<String>,
        self_test: GoSelfTest,
        ekvplan: RawMessage,
    }
}

fn write_value(w: &mut JsonWriter, v: &Value) {
    match v {
        Value::Null => {
            w.null();
        }
        Value::Bool(b) => {
            w.bool(*b);
        }
        Value::Number(n) => {
            w.raw(n);
        }
        Value::String(s) => {
            w.string(s);
        }
        Value::Array(a) => {
            w.begin_array();
            for x in a {
                write_value(w, x);
            }
            w.end_array();
        }
        Value::Object(m) => {
            w.begin_object();
            for (k, x) in m {
                w.key(k);
                write_value(w, x);
            }
            w.end_object();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_html_escaping() {
        let info = EncodeInfo {
            encoder_version: "dev".into(),
            wall_time_iso: "2026-01-01T00:00:00Z".into(),
            input_root: "in&<>".into(),
            output_fsm_path: "o.fsm".into(),
            output_fsm_sha256: "ab".into(),
            last_commit_ts: 7,
            manifest_last_commit_ts: 7,
            adapters_enabled: vec!["redis".into()],
            self_test_ran: true,
            self_test_matched: true,
            ..Default::default()
        };
        let s = String::from_utf8(info.to_bytes()).unwrap();
        assert!(s.contains(r#""input_root": "in\u0026\u003c\u003e","#));
        assert!(!s.contains("manifest_cluster_id"));
        assert!(
            s.ends_with("  \"self_test\": {\n    \"ran\": true,\n    \"matched\": true\n  }\n}\n")
        );
        assert_eq!(EncodeInfo::parse(s.as_bytes()).unwrap(), info);
        let with = EncodeInfo {
            ekvplan: Some(br#"{"fingerprint":"x"}"#.to_vec()),
            ..info
        };
        let s = with.to_bytes();
        assert_eq!(EncodeInfo::parse(&s).unwrap(), with);
        assert!(EncodeInfo::parse(br#"{"format_version":2}"#).is_err());
        assert!(EncodeInfo::parse(br#"{}"#).is_err());
    }
}
