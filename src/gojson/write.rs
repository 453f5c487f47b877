//! A streaming writer that reproduces Go's `json.Marshal`, `MarshalIndent`
//! and `Encoder` output byte for byte.

use base64::Engine;

/// Which of Go's two escaping behaviours a call site uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// `json.Marshal` / a default `Encoder`: `<`, `>`, `&` become `\u003c` ...
    Html,
    /// `Encoder.SetEscapeHTML(false)`.
    NoHtml,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append `s` as a Go JSON string literal. `s` may hold any bytes: each
/// invalid UTF-8 byte becomes `\ufffd`, as Go does.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], esc: Escape) {
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            let needs = b < 0x20
                || b == b'"'
                || b == b'\\'
                || (esc == Escape::Html && (b == b'<' || b == b'>' || b == b'&'));
            if !needs {
                i += 1;
                continue;
            }
            out.extend_from_slice(&s[start..i]);
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                _ => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 0xf) as usize]);
                }
            }
            i += 1;
            start = i;
            continue;
        }
        let (ch, size) = decode_rune(&s[i..]);
        match ch {
            None => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(b"\\ufffd");
                i += size;
                start = i;
            }
            Some('\u{2028}') | Some('\u{2029}') => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(if ch == Some('\u{2028}') {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += size;
                start = i;
            }
            Some(_) => i += size,
        }
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Go's `utf8.DecodeRune`: a valid rune and its size, or `None` with size 1.
pub(crate) fn decode_rune(b: &[u8]) -> (Option<char>, usize) {
    let n = match b[0] {
        0x00..=0x7f => return (Some(b[0] as char), 1),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (None, 1),
    };
    if b.len() < n {
        return (None, 1);
    }
    match std::str::from_utf8(&b[..n]) {
        Ok(s) => (s.chars().next(), n),
        Err(_) => (None, 1),
    }
}

#[derive(Debug, Clone, Copy)]
struct Level {
    first: bool,
    array: bool,
}

/// Builds one JSON document. With an indent it reproduces `MarshalIndent`
/// (`"key": value`, empty containers stay `{}` / `[]`).
pub struct JsonWriter {
    out: Vec<u8>,
    esc: Escape,
    indent: Option<&'static str>,
    stack: Vec<Level>,
    after_key: bool,
}

impl JsonWriter {
    pub fn compact(esc: Escape) -> Self {
        JsonWriter {
            out: Vec::new(),
            esc,
            indent: None,
            stack: Vec::new(),
            after_key: false,
        }
    }

    /// Two-space indentation, as every upstream pretty file uses.
    pub fn pretty(esc: Escape) -> Self {
        JsonWriter {
            indent: Some("  "),
            ..Self::compact(esc)
        }
    }

    /// Reuse the internal buffer for a new document.
    pub fn reset(&mut self) {
        self.out.clear();
        self.stack.clear();
        self.after_key = false;
    }

    fn newline(&mut self, depth: usize) {
        if let Some(ind) = self.indent {
            self.out.push(b'\n');
            for _ in 0..depth {
                self.out.extend_from_slice(ind.as_bytes());
            }
        }
    }

    /// Separator and indentation before a value or a key.
    fn before_item(&mut self) {
        if self.after_key {
            self.after_key = false;
            return;
        }
        let depth = self.stack.len();
        if let Some(top) = self.stack.last_mut() {
            if top.first {
                top.first = false;
            } else {
                self.out.push(b',');
            }
            self.newline(depth);
        }
    }

    fn open(&mut self, c: u8, array: bool) -> &mut Self {
        self.before_item();
        self.out.push(c);
        self.stack.push(Level { first: true, array });
        self
    }

    fn close(&mut self, c: u8) -> &mut Self {
        let lvl = self.stack.pop().expect("close without open");
        if !lvl.first {
            let d = self.stack.len();
            self.newline(d);
        }
        self.out.push(c);
        self
    }

    pub fn begin_object(&mut self) -> &mut Self {
        self.open(b'{', false)
    }
    pub fn end_object(&mut self) -> &mut Self {
        self.close(b'}')
    }
    pub fn begin_array(&mut self) -> &mut Self {
        self.open(b'[', true)
    }
    pub fn end_array(&mut self) -> &mut Self {
        self.close(b']')
    }

    /// An object key; the next call writes its value.
    pub fn key(&mut self, k: &str) -> &mut Self {
        self.key_bytes(k.as_bytes())
    }

    pub fn key_bytes(&mut self, k: &[u8]) -> &mut Self {
        debug_assert!(matches!(
            self.stack.last(),
            Some(Level { array: false, .. })
        ));
        self.before_item();
        write_string(&mut self.out, k, self.esc);
        self.out.push(b':');
        if self.indent.is_some() {
            self.out.push(b' ');
        }
        self.after_key = true;
        self
    }

    pub fn string(&mut self, s: &str) -> &mut Self {
        self.string_bytes(s.as_bytes())
    }

    pub fn string_bytes(&mut self, s: &[u8]) -> &mut Self {
        self.before_item();
        write_string(&mut self.out, s, self.esc);
        self
    }

    /// A pre-formatted JSON token (number literal, `true`, a raw message).
    pub fn raw(&mut self, token: &str) -> &mut Self {
        self.before_item();
        self.out.extend_from_slice(token.as_bytes());
        self
    }

    /// Pre-encoded compact JSON (Go's `json.RawMessage`): compacted by Go
    /// before indenting, so it must already be compact here.
    pub fn raw_bytes(&mut self, token: &[u8]) -> &mut Self {
        self.before_item();
        self.out.extend_from_slice(token);
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.raw(&v.to_string())
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.raw(&v.to_string())
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.raw(if v { "true" } else { "false" })
    }
    pub fn null(&mut self) -> &mut Self {
        self.raw("null")
    }
    /// A float64 as Go's encoder writes it. Panics on NaN/Inf, which Go
    /// refuses to marshal; callers must reject those first.
    pub fn f64(&mut self, v: f64) -> &mut Self {
        let s = super::format_json_float(v).expect("NaN/Inf cannot be marshalled");
        self.raw(&s)
    }
    /// `[]byte` → standard padded base64 string, as Go marshals byte slices.
    pub fn bytes_b64(&mut self, b: &[u8]) -> &mut Self {
        let s = base64::engine::general_purpose::STANDARD.encode(b);
        self.string(&s)
    }

    /// The document without a trailing newline (`Marshal`/`MarshalIndent`).
    pub fn finish(&mut self) -> Vec<u8> {
        debug_assert!(self.stack.is_empty(), "unclosed container");
        std::mem::take(&mut self.out)
    }

    /// The document plus `\n` (`Encoder.Encode`).
    pub fn finish_line(&mut self) -> Vec<u8> {
        let mut v = self.finish();
        v.push(b'\n');
        v
    }

    /// Borrow the bytes so far (for appending into a larger buffer).
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }
}

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

/// Append raw JSON text the way Go's encoder writes a `json.RawMessage`:
/// whitespace outside strings dropped, nothing re-escaped, except that with
/// HTML escaping `<`, `>`, `&`, U+2028 and U+2029 become `\u` escapes
/// wherever they appear. `raw` must be valid JSON.
pub fn write_raw_compact(out: &mut Vec<u8>, raw: &[u8], esc: Escape) {
    let html = esc == Escape::Html;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if html && matches!(c, b'<' | b'>' | b'&') {
            out.extend_from_slice(b"\\u00");
            out.push(LOWER_HEX[(c >> 4) as usize]);
            out.push(LOWER_HEX[(c & 0xf) as usize]);
            i += 1;
            continue;
        }
        if html
            && c == 0xe2
            && raw.get(i + 1) == Some(&0x80)
            && matches!(raw.get(i + 2), Some(0xa8 | 0xa9))
        {
            out.extend_from_slice(b"\\u202");
            out.push(LOWER_HEX[(raw[i + 2] & 0xf) as usize]);
            i += 3;
            continue;
        }
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
        } else if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(c);
            in_string = c == b'"';
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &[u8], e: Escape) -> String {
        let mut v = Vec::new();
        write_string(&mut v, s, e);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn go_escaping_vectors() {
        // core.md §3.13.1
        assert_eq!(esc(b"in&<>", Escape::Html), r#""in\u0026\u003c\u003e""#);
        assert_eq!(esc(b"in&<>", Escape::NoHtml), r#""in&<>""#);
        assert_eq!(esc(b"a\"b\\c", Escape::Html), r#""a\"b\\c""#);
        assert_eq!(esc(b"\n\r\t\x08\x0c", Escape::Html), r#""\n\r\t\b\f""#);
        assert_eq!(esc(b"\x01\x1f", Escape::Html), r#""\u0001\u001f""#);
        assert_eq!(esc(b"\x7f", Escape::Html), "\"\x7f\"");
        assert_eq!(
            esc("\u{2028}x\u{2029}".as_bytes(), Escape::NoHtml),
            r#""\u2028x\u2029""#
        );
        assert_eq!(
            esc(b"a\xffb\xe2\x82", Escape::NoHtml),
            r#""a\ufffdb\ufffd\ufffd""#
        );
        assert_eq!(esc("é😀".as_bytes(), Escape::Html), "\"é😀\"");
        // Surrogate code points encoded in UTF-8 are invalid: 3 replacements.
        assert_eq!(
            esc(b"\xed\xa0\x80", Escape::Html),
            r#""\ufffd\ufffd\ufffd""#
        );
    }

    #[test]
    fn marshal_indent_layout() {
        let mut w = JsonWriter::pretty(Escape::NoHtml);
        w.begin_object();
        w.key("a").u64(1);
        w.key("e").begin_object().end_object();
        w.key("l").begin_array().end_array();
        w.key("n").begin_array().string("x").u64(2).end_array();
        w.key("o").begin_object().key("k").bool(true).end_object();
        w.end_object();
        let got = String::from_utf8(w.finish()).unwrap();
        assert_eq!(
            got,
            "{\n  \"a\": 1,\n  \"e\": {},\n  \"l\": [],\n  \"n\": [\n    \"x\",\n    2\n  ],\n  \"o\": {\n    \"k\": true\n  }\n}"
        );
    }

    #[test]
    fn compact_layout() {
        let mut w = JsonWriter::compact(Escape::Html);
        w.begin_object()
            .key("a")
            .begin_array()
            .null()
            .f64(1.5)
            .end_array()
            .key("b")
            .bytes_b64(b"hi")
            .end_object();
        assert_eq!(
            String::from_utf8(w.finish_line()).unwrap(),
            "{\"a\":[null,1.5],\"b\":\"aGk=\"}\n"
        );
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any valid UTF-8 string survives a round trip through a
            /// standard JSON parser, in both escaping modes; invalid bytes
            /// come back as U+FFFD exactly where `from_utf8_lossy` puts them
            /// (Go replaces each invalid byte, lossy each maximal invalid
            /// sequence, so only the all-valid case is compared for those).
            #[test]
            fn strings_round_trip(s in any::<String>(), html in any::<bool>()) {
                let esc = if html { Escape::Html } else { Escape::NoHtml };
                let mut out = Vec::new();
                write_string(&mut out, s.as_bytes(), esc);
                let back: String = serde_json::from_slice(&out).unwrap();
                prop_assert_eq!(back, s);
                if html {
                    prop_assert!(!out.iter().any(|&b| b == b'<' || b == b'>' || b == b'&'));
                }
            }

            #[test]
            fn arbitrary_bytes_give_valid_json(b in proptest::collection::vec(any::<u8>(), 0..64)) {
                let mut out = Vec::new();
                write_string(&mut out, &b, Escape::Html);
                let back: String = serde_json::from_slice(&out).unwrap();
                prop_assert!(back.chars().count() <= b.len());
            }
        }
    }

    #[test]
    fn raw_message_compaction_matches_go() {
        let compact = |raw: &[u8], esc: Escape| {
            let mut v = Vec::new();
            write_raw_compact(&mut v, raw, esc);
            v
        };
        let raw = "{ \"a\" : [1, 2 ,\"x y\\\" <&>\"],\n\t\"b\":\"\u{2028}\" }".as_bytes();
        assert_eq!(
            compact(raw, Escape::NoHtml),
            "{\"a\":[1,2,\"x y\\\" <&>\"],\"b\":\"\u{2028}\"}".as_bytes()
        );
        assert_eq!(
            compact(raw, Escape::Html),
            br#"{"a":[1,2,"x y\" \u003c\u0026\u003e"],"b":"\u2028"}"#
        );
        // Existing escapes and invalid UTF-8 are kept as they are.
        assert_eq!(
            compact(b"[ \"\\u0041\xff\\\\\" ]", Escape::Html),
            b"[\"\\u0041\xff\\\\\"]"
        );
    }
}
