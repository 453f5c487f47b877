//! The pieces of Go `encoding/json` behaviour the SQS records need beyond
//! `gojson`: objects whose member values are kept as raw text (Go's
//! `json.RawMessage` message attributes), `json.Compact`-style rewriting of
//! that raw text, and Go's lenient standard base64 for `[]byte` fields.

use crate::gojson::{Escape, JsonError, Value, parse_prefix};

/// One object member: the key as Go unescapes it, the parsed value, and
/// the value's exact bytes in the input.
pub struct Member<'a> {
    pub key: String,
    pub value: Value,
    pub raw: &'a [u8],
}

/// A whole JSON document: an object with its members, or any other value.
pub enum Document<'a> {
    Object(Vec<Member<'a>>),
    Other(Value),
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

fn err_at(offset: usize, msg: impl Into<String>) -> JsonError {
    JsonError {
        offset,
        msg: msg.into(),
    }
}

fn show_char(c: u8) -> String {
    if c.is_ascii_graphic() || c == b' ' {
        format!("'{}'", c as char)
    } else {
        format!("'\\x{c:02x}'")
    }
}

/// Parse one value at `b[i..]`, returning it and the offset past it.
fn value_at(b: &[u8], i: usize) -> Result<(Value, usize), JsonError> {
    parse_prefix(&b[i..])
        .map(|(v, n)| (v, i + n))
        .map_err(|e| err_at(i + e.offset, e.msg))
}

/// Parse `input` as exactly one JSON document (surrounding whitespace
/// allowed), as `json.Unmarshal` would, keeping the raw text of each member
/// value when the document is an object.
pub fn document(input: &[u8]) -> Result<Document<'_>, JsonError> {
    let b = input;
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        let (v, end) = value_at(b, i)?;
        let end = skip_ws(b, end);
        if end < b.len() {
            return Err(err_at(
                end,
                format!(
                    "invalid character {} after top-level value",
                    show_char(b[end])
                ),
            ));
        }
        return Ok(Document::Other(v));
    }
    i += 1;
    let mut members = Vec::new();
    i = skip_ws(b, i);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            i = skip_ws(b, i);
            match b.get(i) {
                None => return Err(err_at(i, "unexpected end of JSON input")),
                Some(b'"') => {}
                Some(&c) => {
                    return Err(err_at(
                        i,
                        format!(
                            "invalid character {} looking for beginning of object key string",
                            show_char(c)
                        ),
                    ));
                }
            }
            let (k, after_key) = value_at(b, i)?;
            let Value::String(key) = k else {
                unreachable!("a value starting with '\"' is a string")
            };
            i = skip_ws(b, after_key);
            match b.get(i) {
                None => return Err(err_at(i, "unexpected end of JSON input")),
                Some(b':') => i += 1,
                Some(&c) => {
                    return Err(err_at(
                        i,
                        format!("invalid character {} after object key", show_char(c)),
                    ));
                }
            }
            let start = skip_ws(b, i);
            let (value, end) = value_at(b, start)?;
            members.push(Member {
                key,
                value,
                raw: &b[start..end],
            });
            i = skip_ws(b, end);
            match b.get(i) {
                None => return Err(err_at(i, "unexpected end of JSON input")),
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                Some(&c) => {
                    return Err(err_at(
                        i,
                        format!(
                            "invalid character {} after object key:value pair",
                            show_char(c)
                        ),
                    ));
                }
            }
        }
    }
    let end = skip_ws(b, i);
    if end < b.len() {
        return Err(err_at(
            end,
            format!(
                "invalid character {} after top-level value",
                show_char(b[end])
            ),
        ));
    }
    Ok(Document::Object(members))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append raw JSON text the way Go's encoder writes a `json.RawMessage`:
/// whitespace outside strings dropped, nothing re-escaped, except that with
/// HTML escaping `<`, `>`, `&`, U+2028 and U+2029 become `\u` escapes
/// wherever they appear. `raw` must be valid JSON.
pub fn compact_into(out: &mut Vec<u8>, raw: &[u8], esc: Escape) {
    let html = esc == Escape::Html;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if html && matches!(c, b'<' | b'>' | b'&') {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 0xf) as usize]);
            i += 1;
            continue;
        }
        if html
            && c == 0xe2
            && raw.get(i + 1) == Some(&0x80)
            && matches!(raw.get(i + 2), Some(0xa8 | 0xa9))
        {
            out.extend_from_slice(b"\\u202");
            out.push(HEX[(raw[i + 2] & 0xf) as usize]);
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
        } else if !is_ws(c) {
            out.push(c);
            in_string = c == b'"';
        }
        i += 1;
    }
}

/// Go's `base64.StdEncoding.DecodeString` (what `json.Unmarshal` uses for
/// `[]byte`): padding required, `\r`/`\n` skipped, trailing bits accepted.
pub fn decode_std_base64(s: &[u8]) -> Option<Vec<u8>> {
    let vals: Vec<u8> = s
        .iter()
        .copied()
        .filter(|&c| c != b'\r' && c != b'\n')
        .collect();
    if vals.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(vals.len() / 4 * 3);
    let chunks = vals.len() / 4;
    for (n, q) in vals.chunks(4).enumerate() {
        let last = n + 1 == chunks;
        let pad = match (q[2], q[3]) {
            (b'=', b'=') if last => 2,
            (_, b'=') if last => 1,
            _ => 0,
        };
        let mut acc = 0u32;
        for (j, &c) in q[..4 - pad].iter().enumerate() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            };
            acc |= u32::from(v) << (18 - 6 * j);
        }
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Go's decoding of a `[]byte` field: a standard base64 string, `null`
/// (nil), or an array of byte-sized integers.
pub fn go_bytes(v: &Value) -> Result<Option<Vec<u8>>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => decode_std_base64(s.as_bytes())
            .map(Some)
            .ok_or_else(|| "illegal base64 data".to_string()),
        Value::Array(items) => items
            .iter()
            .map(|e| match e {
                Value::Null => Ok(0),
                Value::Number(n) => match n.parse::<u8>() {
                    Ok(b) if !n.starts_with('+') => Ok(b),
                    _ => Err(format!(
                        "cannot unmarshal number {n} into Go value of type uint8"
                    )),
                },
                other => Err(format!(
                    "cannot unmarshal {} into Go value of type uint8",
                    other.kind()
                )),
            })
            .collect::<Result<Vec<u8>, String>>()
            .map(Some),
        other => Err(format!(
            "cannot unmarshal {} into Go value of type []uint8",
            other.kind()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gojson::parse;

    fn compact(raw: &[u8], esc: Escape) -> String {
        let mut v = Vec::new();
        compact_into(&mut v, raw, esc);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn compaction_matches_go_raw_message() {
        let raw = "{ \"a\" : [1, 2 ,\"x y\\\" <&>\"],\n\t\"b\":\"\u{2028}\" }".as_bytes();
        assert_eq!(
            compact(raw, Escape::NoHtml),
            "{\"a\":[1,2,\"x y\\\" <&>\"],\"b\":\"\u{2028}\"}"
        );
        assert_eq!(
            compact(raw, Escape::Html),
            r#"{"a":[1,2,"x y\" \u003c\u0026\u003e"],"b":"\u2028"}"#
        );
        // Existing escapes and invalid UTF-8 are kept as they are.
        let raw = b"[ \"\\u0041\xff\\\\\" ]";
        let mut v = Vec::new();
        compact_into(&mut v, raw, Escape::Html);
        assert_eq!(v, b"[\"\\u0041\xff\\\\\"]");
    }

    #[test]
    fn documents_keep_raw_member_text() {
        let d = document(b" {\"a\" : { \"x\" : 1 } , \"B\":null}\n").unwrap();
        let Document::Object(m) = d else { panic!() };
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].key, "a");
        assert_eq!(m[0].raw, b"{ \"x\" : 1 }");
        assert_eq!(m[1].key, "B");
        assert!(m[1].value.is_null());
        assert!(matches!(document(b"{}").unwrap(), Document::Object(v) if v.is_empty()));
        assert!(matches!(
            document(b"null").unwrap(),
            Document::Other(Value::Null)
        ));
        for bad in [
            &b"{\"a\":1} x"[..],
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{\"a\":1",
            b"",
            b"{1:2}",
        ] {
            assert!(document(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // The same verdicts as the shared parser.
        for s in [&b"[1,2]"[..], b"\"s\"", b"{\"k\":[{}]}"] {
            assert!(parse(s).is_ok() && document(s).is_ok());
        }
    }

    #[test]
    fn std_base64_like_go() {
        assert_eq!(decode_std_base64(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_std_base64(b"aGVs\nbG8=").unwrap(), b"hello");
        assert_eq!(decode_std_base64(b"").unwrap(), b"");
        assert_eq!(decode_std_base64(b"aGk=").unwrap(), b"hi");
        assert_eq!(decode_std_base64(b"aGl=").unwrap(), b"hi");
        assert_eq!(decode_std_base64(b"+/8=").unwrap(), [0xfb, 0xff]);
        assert!(decode_std_base64(b"aGk").is_none());
        assert!(decode_std_base64(b"aG==aG==").is_none());
        assert!(decode_std_base64(b"a===").is_none());
        assert!(decode_std_base64(b"-_8=").is_none());
    }

    #[test]
    fn byte_fields_like_go() {
        let v = |s: &str| parse(s.as_bytes()).unwrap();
        assert_eq!(go_bytes(&v("\"aGk=\"")).unwrap(), Some(b"hi".to_vec()));
        assert_eq!(go_bytes(&v("\"\"")).unwrap(), Some(vec![]));
        assert_eq!(go_bytes(&v("null")).unwrap(), None);
        assert_eq!(
            go_bytes(&v("[104,null,255]")).unwrap(),
            Some(vec![104, 0, 255])
        );
        assert!(go_bytes(&v("[256]")).is_err());
        assert!(go_bytes(&v("[1.0]")).is_err());
        assert!(go_bytes(&v("5")).is_err());
        assert!(go_bytes(&v("\"a\"")).is_err());
    }
}
