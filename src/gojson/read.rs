//! A JSON reader with Go `encoding/json` semantics: byte-wise invalid UTF-8
//! replacement, lone surrogates → U+FFFD, numbers kept as their literal text
//! (so integer fields can reject `1.0` as Go does), object members kept in
//! order (so "last duplicate wins" and case-insensitive field matching can be
//! applied by the caller), and Go's nesting limit.

use std::fmt;

use super::write::decode_rune;

use super::scan::GO_MAX_DEPTH;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number literal exactly as written.
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Members in document order, duplicates kept.
    Object(Vec<(String, Value)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the problem in the input.
    pub offset: usize,
    pub msg: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.msg, self.offset)
    }
}

impl std::error::Error for JsonError {}

/// Go's case-insensitive field-name match (`strings.EqualFold` semantics,
/// including the Kelvin sign and long s folding to ASCII).
pub fn fold_eq(a: &str, b: &str) -> bool {
    if a.len() == b.len() && a.eq_ignore_ascii_case(b) {
        return true;
    }
    let fold = |c: char| -> char {
        match c {
            '\u{212A}' => 'k',
            '\u{017F}' => 's',
            c => c.to_lowercase().next().unwrap_or(c),
        }
    };
    let mut x = a.chars().map(fold);
    let mut y = b.chars().map(fold);
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) if p == q => {}
            _ => return false,
        }
    }
}

impl Value {
    /// The value Go would assign to struct field `name`: the last member
    /// whose key matches exactly or case-insensitively.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m
                .iter()
                .rev()
                .find(|(k, _)| k == name || fold_eq(k, name))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Exact-key lookup (for `map[string]T` targets), last duplicate wins.
    pub fn get_exact(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Go's name for the JSON type, as used in its unmarshal errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Unmarshal into a Go `string` field: `null` leaves "".
    pub fn go_string(&self) -> Result<String, String> {
        match self {
            Value::Null => Ok(String::new()),
            Value::String(s) => Ok(s.clone()),
            v => Err(format!(
                "cannot unmarshal {} into Go value of type string",
                v.kind()
            )),
        }
    }

    /// Unmarshal into a Go `bool` field: `null` leaves false.
    pub fn go_bool(&self) -> Result<bool, String> {
        match self {
            Value::Null => Ok(false),
            Value::Bool(b) => Ok(*b),
            v => Err(format!(
                "cannot unmarshal {} into Go value of type bool",
                v.kind()
            )),
        }
    }

    /// Unmarshal into a Go `uint64` field: integer literal only.
    pub fn go_u64(&self) -> Result<u64, String> {
        self.go_uint(u64::MAX, "uint64")
    }

    pub fn go_u32(&self) -> Result<u32, String> {
        self.go_uint(u32::MAX as u64, "uint32").map(|v| v as u32)
    }

    fn go_uint(&self, max: u64, ty: &str) -> Result<u64, String> {
        match self {
            Value::Null => Ok(0),
            Value::Number(n) => match n.parse::<u64>() {
                Ok(v) if v <= max && !n.starts_with('-') && !n.starts_with('+') => Ok(v),
                _ => Err(format!(
                    "cannot unmarshal number {n} into Go value of type {ty}"
                )),
            },
            v => Err(format!(
                "cannot unmarshal {} into Go value of type {ty}",
                v.kind()
            )),
        }
    }

    /// Unmarshal into a Go `int64` field.
    pub fn go_i64(&self) -> Result<i64, String> {
        match self {
            Value::Null => Ok(0),
            Value::Number(n) => n
                .parse::<i64>()
                .map_err(|_| format!("cannot unmarshal number {n} into Go value of type int64")),
            v => Err(format!(
                "cannot unmarshal {} into Go value of type int64",
                v.kind()
            )),
        }
    }

    /// Unmarshal into a Go `float64` field (`null` leaves 0).
    pub fn go_f64(&self) -> Result<f64, String> {
        match self {
            Value::Null => Ok(0.0),
            Value::Number(n) => match n.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(format!(
                    "cannot unmarshal number {n} into Go value of type float64"
                )),
            },
            v => Err(format!(
                "cannot unmarshal {} into Go value of type float64",
                v.kind()
            )),
        }
    }

    /// Re-encode compactly, as Go's `json.Compact` of the original text would
    /// (numbers verbatim, strings re-escaped with the given mode).
    pub fn write_compact(&self, out: &mut Vec<u8>, esc: super::Escape) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Number(n) => out.extend_from_slice(n.as_bytes()),
            Value::String(s) => super::write_string(out, s.as_bytes(), esc),
            Value::Array(a) => {
                out.push(b'[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write_compact(out, esc);
                }
                out.push(b']');
            }
            Value::Object(m) => {
                out.push(b'{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    super::write_string(out, k.as_bytes(), esc);
                    out.push(b':');
                    v.write_compact(out, esc);
                }
                out.push(b'}');
            }
        }
    }
}

/// Parse one complete document (trailing whitespace allowed), as
/// `json.Unmarshal` would.
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    parse_with_limit(input, GO_MAX_DEPTH)
}

pub fn parse_with_limit(input: &[u8], max_depth: usize) -> Result<Value, JsonError> {
    let mut p = Parser {
        b: input,
        i: 0,
        max_depth,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i < p.b.len() {
        return Err(p.err(format!(
            "invalid character {} after top-level value",
            quote_char(p.b[p.i])
        )));
    }
    Ok(v)
}

/// Parse a leading value and return it with the offset just past it (for
/// callers that emulate `json.Decoder` and inspect what follows).
pub fn parse_prefix(input: &[u8]) -> Result<(Value, usize), JsonError> {
    parse_prefix_with_limit(input, GO_MAX_DEPTH)
}

/// [`parse_prefix`] for a value nested `GO_MAX_DEPTH - max_depth` levels
/// deep inside a document the caller walks itself.
pub fn parse_prefix_with_limit(
    input: &[u8],
    max_depth: usize,
) -> Result<(Value, usize), JsonError> {
    let mut p = Parser {
        b: input,
        i: 0,
        max_depth,
    };
    p.ws();
    let v = p.value(0)?;
    Ok((v, p.i))
}

fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        c if c.is_ascii_graphic() || c == b' ' => format!("'{}'", c as char),
        c => format!("'\\x{c:02x}'"),
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn err(&self, msg: impl Into<String>) -> JsonError {
        JsonError {
            offset: self.i,
            msg: msg.into(),
        }
    }

    fn eof(&self) -> JsonError {
        self.err("unexpected end of JSON input")
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        let Some(&c) = self.b.get(self.i) else {
            return Err(self.eof());
        };
        match c {
            b'{' | b'[' if depth + 1 > self.max_depth => Err(self.err("exceeded max depth")),
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(Value::String),
            b't' => self.lit(b"true", Value::Bool(true)),
            b'f' => self.lit(b"false", Value::Bool(false)),
            b'n' => self.lit(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            c => Err(self.err(format!(
                "invalid character {} looking for beginning of value",
                quote_char(c)
            ))),
        }
    }

    fn lit(&mut self, word: &[u8], v: Value) -> Result<Value, JsonError> {
        for &w in word {
            match self.b.get(self.i) {
                None => return Err(self.eof()),
                Some(&c) if c == w => self.i += 1,
                Some(&c) => {
                    return Err(self.err(format!("invalid character {} in literal", quote_char(c))));
                }
            }
        }
        Ok(v)
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.i;
        let digits = |p: &mut Self| -> usize {
            let s = p.i;
            while p.i < p.b.len() && p.b[p.i].is_ascii_digit() {
                p.i += 1;
            }
            p.i - s
        };
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        match self.b.get(self.i) {
            None => return Err(self.eof()),
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            Some(&c) => {
                return Err(self.err(format!(
                    "invalid character {} in numeric literal",
                    quote_char(c)
                )));
            }
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(match self.b.get(self.i) {
                    None => self.eof(),
                    Some(&c) => self.err(format!(
                        "invalid character {} after decimal point in numeric literal",
                        quote_char(c)
                    )),
                });
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(match self.b.get(self.i) {
                    None => self.eof(),
                    Some(&c) => self.err(format!(
                        "invalid character {} in exponent of numeric literal",
                        quote_char(c)
                    )),
                });
            }
        }
        Ok(Value::Number(
            std::str::from_utf8(&self.b[start..self.i])
                .expect("ascii")
                .to_owned(),
        ))
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let s = self.b.get(at..at + 4)?;
        let mut v = 0u32;
        for &c in s {
            v = v * 16 + (c as char).to_digit(16)?;
        }
        Some(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        debug_assert_eq!(self.b[self.i], b'"');
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.eof());
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let Some(&e) = self.b.get(self.i + 1) else {
                        self.i += 1;
                        return Err(self.eof());
                    };
                    self.i += 2;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let Some(u) = self.hex4(self.i) else {
                                return Err(self
                                    .err("invalid character in \\u hexadecimal character escape"));
                            };
                            self.i += 4;
                            if (0xD800..0xDC00).contains(&u) {
                                // A high surrogate pairs only with an immediately
                                // following low one; otherwise it is U+FFFD.
                                if self.b.get(self.i) == Some(&b'\\')
                                    && self.b.get(self.i + 1) == Some(&b'u')
                                {
                                    if let Some(lo) = self.hex4(self.i + 2) {
                                        if (0xDC00..0xE000).contains(&lo) {
                                            let cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                                            out.push(char::from_u32(cp).expect("valid pair"));
                                            self.i += 6;
                                            continue;
                                        }
                                    }
                                }
                                out.push('\u{FFFD}');
                            } else if (0xDC00..0xE000).contains(&u) {
                                out.push('\u{FFFD}');
                            } else {
                                out.push(char::from_u32(u).expect("BMP scalar"));
                            }
                        }
                        c => {
                            self.i -= 1;
                            return Err(self.err(format!(
                                "invalid character {} in string escape code",
                                quote_char(c)
                            )));
                        }
                    }
                }
                c if c < 0x20 => {
                    return Err(self.err(format!(
                        "invalid character {} in string literal",
                        quote_char(c)
                    )));
                }
                c if c < 0x80 => {
                    out.push(c as char);
                    self.i += 1;
                }
                _ => {
                    let (ch, size) = decode_rune(&self.b[self.i..]);
                    out.push(ch.unwrap_or('\u{FFFD}'));
                    self.i += size;
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.i += 1;
        let mut v = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Value::Array(v));
        }
        loop {
            self.ws();
            v.push(self.value(depth)?);
            self.ws();
            match self.b.get(self.i) {
                None => return Err(self.eof()),
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(v));
                }
                Some(&c) => {
                    return Err(self.err(format!(
                        "invalid character {} after array element",
                        quote_char(c)
                    )));
                }
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.i += 1;
        let mut m = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Value::Object(m));
        }
        loop {
            self.ws();
            match self.b.get(self.i) {
                None => return Err(self.eof()),
                Some(b'"') => {}
                Some(&c) => {
                    return Err(self.err(format!(
                        "invalid character {} looking for beginning of object key string",
                        quote_char(c)
                    )));
                }
            }
            let k = self.string()?;
            self.ws();
            match self.b.get(self.i) {
                None => return Err(self.eof()),
                Some(b':') => self.i += 1,
                Some(&c) => {
                    return Err(self.err(format!(
                        "invalid character {} after object key",
                        quote_char(c)
                    )));
                }
            }
            self.ws();
            let v = self.value(depth)?;
            m.push((k, v));
            self.ws();
            match self.b.get(self.i) {
                None => return Err(self.eof()),
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(m));
                }
                Some(&c) => {
                    return Err(self.err(format!(
                        "invalid character {} after object key:value pair",
                        quote_char(c)
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_string_leniency() {
        let v = parse(b"\"a\xffb\"").unwrap();
        assert_eq!(v, Value::String("a\u{FFFD}b".into()));
        let v = parse(b"\"\xe2\x82\"").unwrap();
        assert_eq!(v, Value::String("\u{FFFD}\u{FFFD}".into()));
        let v = parse(br#""\ud800x\udc00\ud83d\ude00""#).unwrap();
        assert_eq!(v, Value::String("\u{FFFD}x\u{FFFD}😀".into()));
        assert!(parse(b"\"a\nb\"").is_err());
    }

    #[test]
    fn fields_case_insensitive_last_wins() {
        let v = parse(br#"{"Name":"a","name":"b","NAME":"c","other":1}"#).unwrap();
        assert_eq!(v.get("name").unwrap().as_str(), Some("c"));
        assert_eq!(v.get_exact("name").unwrap().as_str(), Some("b"));
        assert!(v.get("missing").is_none());
    }

    #[test]
    fn integer_fields_are_strict() {
        let n = |s: &str| parse(s.as_bytes()).unwrap();
        assert_eq!(n("12").go_u64(), Ok(12));
        assert!(n("1.0").go_u64().is_err());
        assert!(n("1e0").go_u64().is_err());
        assert!(n("-0").go_u64().is_err());
        assert!(n("4294967296").go_u32().is_err());
        assert_eq!(n("null").go_u64(), Ok(0));
        assert!(n("\"1\"").go_u64().is_err());
    }

    #[test]
    fn syntax_errors_and_depth() {
        assert!(parse(b"{} x").is_err());
        assert!(parse(b"{}\n \t").is_ok());
        assert!(parse(b"\xef\xbb\xbf{}").is_err());
        assert!(parse(b"01").is_err());
        assert!(parse(b"[1,]").is_err());
        let deep = "[".repeat(10_001) + &"]".repeat(10_001);
        let ok = "[".repeat(10_000) + &"]".repeat(10_000);
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || {
                assert_eq!(
                    parse(deep.as_bytes()).unwrap_err().msg,
                    "exceeded max depth"
                );
                assert!(parse(ok.as_bytes()).is_ok());
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
