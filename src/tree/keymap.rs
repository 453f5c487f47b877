//! `KEYMAP.jsonl`: one record per file name that cannot be reversed on its
//! own (`{"encoded":…,"original":<base64url>,"kind":…}`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::filename::decode_raw_url_lenient;
use crate::gojson::{self, Escape, GoMap, JsonWriter, RawMessage};

pub const FILE_NAME: &str = "KEYMAP.jsonl";
pub const KIND_SHA_FALLBACK: &str = "sha-fallback";
pub const KIND_S3_LEAF_DATA: &str = "s3-leaf-data";
pub const KIND_META_SUFFIX_RENAME: &str = "meta-suffix-rename";
/// Upstream's scanner buffer: a longer line is an error.
pub const MAX_LINE: usize = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub encoded: String,
    pub original: Vec<u8>,
    pub kind: String,
}

/// Append one record line (compact, HTML escaping off, trailing newline).
pub fn write_record(out: &mut Vec<u8>, encoded: &str, original: &[u8], kind: &str) {
    debug_assert!(!encoded.is_empty() && !kind.is_empty());
    let mut w = JsonWriter::compact(Escape::NoHtml);
    w.begin_object()
        .key("encoded")
        .string(encoded)
        .key("original")
        .string(&URL_SAFE_NO_PAD.encode(original))
        .key("kind")
        .string(kind)
        .end_object();
    out.extend_from_slice(&w.finish_line());
}

crate::go_struct! {
    /// `KeymapRecord` as upstream decodes it.
    #[derive(Debug, Clone, Default)]
    struct GoRecord as "backup.KeymapRecord" {
        encoded: String,
        original: String,
        kind: String,
    }
}

/// Parse one line with upstream's reader rules: the three fields must be
/// present under their exact names and not `null` (upstream checks a
/// `map[string]json.RawMessage`), then the struct decode assigns them with
/// Go's rules (case-insensitive names, repeats applied in order).
pub fn parse_record(line: &[u8]) -> Result<Record, String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err("blank line".into());
    }
    let raw: GoMap<RawMessage> = gojson::unmarshal(line).map_err(|e| e.to_string())?;
    for name in ["encoded", "original", "kind"] {
        match raw
            .0
            .as_ref()
            .and_then(|m| m.get(name))
            .map(|r| r.bytes(line))
        {
            None => return Err(format!("missing field {name:?}")),
            Some(b"null") => return Err(format!("field {name:?} is null")),
            Some(_) => {}
        }
    }
    let rec: GoRecord = gojson::unmarshal(line).map_err(|e| e.to_string())?;
    if rec.encoded.is_empty() || rec.kind.is_empty() {
        return Err("missing encoded or kind".into());
    }
    let original = decode_raw_url_lenient(&rec.original)
        .ok_or_else(|| format!("\"original\" is not base64url: {:?}", rec.original))?;
    Ok(Record {
        encoded: rec.encoded,
        original,
        kind: rec.kind,
    })
}

/// Read all records, failing on the first bad line (1-based line number in
/// the error). CRLF endings and a missing final newline are accepted.
pub fn read_records(r: impl Read) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    for_each_record(r, |rec| {
        out.push(rec);
        Ok(())
    })?;
    Ok(out)
}

/// Stream the records to `f` line by line, as upstream's scanner does: a
/// line (before its `\n`, counting any `\r`) must be shorter than
/// `MAX_LINE`; an error from `f` stops the read and gets the line number.
pub fn for_each_record(
    r: impl Read,
    mut f: impl FnMut(Record) -> Result<(), String>,
) -> Result<(), String> {
    let mut br = BufReader::new(r);
    let mut line = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        let got = (&mut br)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        if got == 0 {
            return Ok(());
        }
        n += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.len() >= MAX_LINE {
            return Err(format!("line {n}: longer than {} bytes", MAX_LINE - 1));
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let rec = parse_record(&line).map_err(|e| format!("line {n}: {e}"))?;
        f(rec).map_err(|e| format!("line {n}: {e}"))?;
    }
}

/// `LoadKeymap`: encoded → original, last record wins.
pub fn load_last_wins(r: impl Read) -> Result<HashMap<String, Vec<u8>>, String> {
    Ok(read_records(r)?
        .into_iter()
        .map(|r| (r.encoded, r.original))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_layout_no_html_escape() {
        let mut out = Vec::new();
        write_record(&mut out, "a<b>&", b"\xff\x00", KIND_SHA_FALLBACK);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"encoded\":\"a<b>&\",\"original\":\"_wA\",\"kind\":\"sha-fallback\"}\n"
        );
    }

    #[test]
    fn reader_rules() {
        assert!(
            read_records(&b"{\"encoded\":\"e\",\"original\":\"\",\"kind\":\"k\"}\n"[..]).is_ok()
        );
        assert!(read_records(&b"\n"[..]).is_err());
        assert!(
            read_records(&b"{\"encoded\":\"e\",\"original\":null,\"kind\":\"k\"}"[..]).is_err()
        );
        assert!(read_records(&b"{\"encoded\":\"e\",\"kind\":\"k\"}"[..]).is_err());
        assert!(read_records(&b"{\"encoded\":\"\",\"original\":\"\",\"kind\":\"k\"}"[..]).is_err());
        assert!(
            read_records(&b"{\"encoded\":\"e\",\"original\":\"!!\",\"kind\":\"k\"}"[..]).is_err()
        );
        // Exact field names for presence, case-insensitive assignment.
        assert!(
            read_records(&b"{\"Encoded\":\"e\",\"original\":\"\",\"kind\":\"k\"}"[..]).is_err()
        );
        let r = read_records(
            &b"{\"encoded\":\"e\",\"ENCODED\":null,\"original\":\"\",\"kind\":\"k\",\"Kind\":\"j\"}"[..],
        )
        .unwrap();
        assert_eq!((r[0].encoded.as_str(), r[0].kind.as_str()), ("e", "j"));
        assert!(
            read_records(
                &b"{\"encoded\":null,\"Encoded\":\"e\",\"original\":\"\",\"kind\":\"k\"}"[..]
            )
            .is_err()
        );
        // A type error in an earlier copy fails, as in Go.
        assert!(
            read_records(&b"{\"encoded\":\"e\",\"original\":\"\",\"kind\":5,\"kind\":\"k\"}"[..])
                .is_err()
        );
        // A line (with its \r) must be shorter than 4 MiB.
        let long = |len: usize, tail: &[u8]| {
            let mut v =
                b"{\"encoded\":\"e\",\"kind\":\"k\",\"original\":\"QQ\",\"pad\":\"".to_vec();
            v.resize(len - 2 - tail.len(), b'Q');
            v.extend_from_slice(b"\"}");
            v.extend_from_slice(tail);
            v
        };
        assert!(read_records(&long(MAX_LINE - 1, b"")[..]).is_ok());
        assert!(read_records(&[long(MAX_LINE - 1, b""), b"\n".to_vec()].concat()[..]).is_ok());
        assert!(read_records(&long(MAX_LINE, b"")[..]).is_err());
        assert!(read_records(&[long(MAX_LINE, b"\r"), b"\n".to_vec()].concat()[..]).is_err());
        let m = load_last_wins(
            &b"{\"encoded\":\"e\",\"original\":\"QQ\",\"kind\":\"k\"}\r\n{\"encoded\":\"e\",\"original\":\"Qg\",\"kind\":\"k\"}"[..],
        )
        .unwrap();
        assert_eq!(m["e"], b"B");
    }
}
