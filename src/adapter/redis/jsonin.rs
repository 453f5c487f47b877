//! Reading the dump's Redis JSON the way Go's `encoding/json` fills the
//! upstream encoder's structs: field names match case-insensitively, a
//! later duplicate key overwrites (and a duplicate array decodes *into* the
//! earlier one element by element), `null` leaves scalar fields untouched
//! and clears pointers/slices, unknown keys are ignored, and syntax errors
//! win over type errors. Element values are kept as byte spans of the raw
//! text (Go's `json.RawMessage`) and decoded only when records are built.
//!
//! Collection files are walked member by member so only the elements' raw
//! spans are held, never a full value tree; stream and TTL files are read as
//! a stream of top-level values.

use std::io::{BufRead, BufReader, Read};

use crate::gojson::{GO_MAX_DEPTH, Value, fold_eq, parse_prefix_with_limit};

/// A byte range of the buffer the record was decoded from.
pub type Span = (usize, usize);

/// One element of a `[]struct{A, B json.RawMessage}` array (or, for arrays
/// of bare raw values, `a` only). `None` is a nil `RawMessage`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pair {
    pub a: Option<Span>,
    pub b: Option<Span>,
}

/// The element shape of a collection's array field.
#[derive(Debug, Clone, Copy)]
pub enum Elem {
    /// `[]json.RawMessage`
    Raw,
    /// `[]struct{ <a> json.RawMessage; <b> json.RawMessage }`
    Pair(&'static str, &'static str),
}

/// `{format_version uint32, <array> []Elem, expire_at_ms *uint64}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionDoc {
    pub format_version: u32,
    pub elems: Vec<Pair>,
    pub expire_at_ms: Option<u64>,
}

fn field_is(key: &str, name: &str) -> bool {
    key == name || fold_eq(key, name)
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn quote(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        c if c.is_ascii_graphic() || c == b' ' => format!("'{}'", c as char),
        c => format!("'\\x{c:02x}'"),
    }
}

fn type_err(got: &Value, field: &str, ty: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field .{field} of type {ty}",
        got.kind()
    )
}

/// Keeps Go's precedence: the first type error is reported only if the
/// whole value is syntactically valid.
#[derive(Default)]
struct Saved(Option<String>);

impl Saved {
    fn save(&mut self, r: Result<(), String>) {
        if let Err(e) = r {
            self.0.get_or_insert(e);
        }
    }
}

/// Walk a valid JSON object's text: `(key span, value span)` per member.
fn raw_members(t: &[u8]) -> Vec<(Span, Span)> {
    let mut out = Vec::new();
    let mut i = skip_ws(t, 0);
    debug_assert_eq!(t.get(i), Some(&b'{'));
    i += 1;
    loop {
        i = skip_ws(t, i);
        match t.get(i) {
            Some(b'"') => {}
            _ => return out,
        }
        let ks = i;
        i = skip_valid(t, i);
        let k = (ks, i);
        i = skip_ws(t, i) + 1; // ':'
        i = skip_ws(t, i);
        let vs = i;
        i = skip_valid(t, i);
        out.push((k, (vs, i)));
        i = skip_ws(t, i);
        if t.get(i) == Some(&b',') {
            i += 1;
        } else {
            return out;
        }
    }
}

/// Walk a valid JSON array's text: the span of each element.
fn raw_elements(t: &[u8]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut i = skip_ws(t, 0) + 1;
    loop {
        i = skip_ws(t, i);
        if matches!(t.get(i), Some(b']') | None) {
            return out;
        }
        let s = i;
        i = skip_valid(t, i);
        out.push((s, i));
        i = skip_ws(t, i);
        if t.get(i) == Some(&b',') {
            i += 1;
        } else {
            return out;
        }
    }
}

fn skip_ws(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && is_ws(t[i]) {
        i += 1;
    }
    i
}

/// End of the (already validated) value starting at `i`.
fn skip_valid(t: &[u8], mut i: usize) -> usize {
    match t.get(i) {
        Some(b'"') => {
            i += 1;
            while i < t.len() {
                match t[i] {
                    b'\\' => i += 2,
                    b'"' => return i + 1,
                    _ => i += 1,
                }
            }
            i
        }
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            while i < t.len() {
                match t[i] {
                    b'"' => {
                        i = skip_valid(t, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i
        }
        _ => {
            while i < t.len() && !matches!(t[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                i += 1;
            }
            i
        }
    }
}

/// Members of a parsed object with the raw span (absolute, offset by
/// `base`) of each value.
fn object_fields<'v>(v: &'v Value, text: &[u8], base: usize) -> Vec<(&'v str, &'v Value, Span)> {
    let Value::Object(m) = v else {
        return Vec::new();
    };
    m.iter()
        .zip(raw_members(text))
        .map(|((k, val), (_, (s, e)))| (k.as_str(), val, (base + s, base + e)))
        .collect()
}

/// Decode one array element into slot `idx` the way Go decodes into a
/// reused slice element.
fn apply_elem(
    elems: &mut Vec<Pair>,
    idx: usize,
    shape: Elem,
    v: &Value,
    text: &[u8],
    base: usize,
) -> Result<(), String> {
    if idx >= elems.len() {
        elems.push(Pair::default());
    }
    let slot = &mut elems[idx];
    match shape {
        Elem::Raw => {
            slot.a = Some((base, base + text.len()));
            Ok(())
        }
        Elem::Pair(a, b) => match v {
            Value::Null => Ok(()),
            Value::Object(_) => {
                for (k, _, span) in object_fields(v, text, base) {
                    if field_is(k, a) {
                        slot.a = Some(span);
                    } else if field_is(k, b) {
                        slot.b = Some(span);
                    }
                }
                Ok(())
            }
            other => Err(format!(
                "json: cannot unmarshal {} into Go value of type struct",
                other.kind()
            )),
        },
    }
}

/// Decode a parsed array (or `null`) into a slice field.
fn apply_array(
    elems: &mut Vec<Pair>,
    shape: Elem,
    field: &str,
    v: &Value,
    text: &[u8],
    base: usize,
    saved: &mut Saved,
) {
    match v {
        Value::Null => elems.clear(),
        Value::Array(items) => {
            let spans = raw_elements(text);
            for (idx, (item, (s, e))) in items.iter().zip(spans).enumerate() {
                saved.save(apply_elem(elems, idx, shape, item, &text[s..e], base + s));
            }
            elems.truncate(items.len());
        }
        other => saved.save(Err(type_err(other, field, "[]"))),
    }
}

fn set_u32(dst: &mut u32, v: &Value, field: &str) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::Number(_) => v
            .go_u32()
            .map(|n| *dst = n)
            .map_err(|e| format!("json: {e}")),
        other => Err(type_err(other, field, "uint32")),
    }
}

fn set_u64(dst: &mut u64, v: &Value, field: &str) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::Number(_) => v
            .go_u64()
            .map(|n| *dst = n)
            .map_err(|e| format!("json: {e}")),
        other => Err(type_err(other, field, "uint64")),
    }
}

fn set_i64(dst: &mut i64, v: &Value, field: &str) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::Number(_) => v
            .go_i64()
            .map(|n| *dst = n)
            .map_err(|e| format!("json: {e}")),
        other => Err(type_err(other, field, "int64")),
    }
}

fn set_opt_u64(dst: &mut Option<u64>, v: &Value, field: &str) -> Result<(), String> {
    match v {
        Value::Null => {
            *dst = None;
            Ok(())
        }
        Value::Number(_) => v
            .go_u64()
            .map(|n| *dst = Some(n))
            .map_err(|e| format!("json: {e}")),
        other => Err(type_err(other, field, "*uint64")),
    }
}

fn set_string(dst: &mut String, v: &Value, field: &str) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::String(s) => {
            dst.clone_from(s);
            Ok(())
        }
        other => Err(type_err(other, field, "string")),
    }
}

fn set_bool(dst: &mut bool, v: &Value, field: &str) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::Bool(b) => {
            *dst = *b;
            Ok(())
        }
        other => Err(type_err(other, field, "bool")),
    }
}

/// A cursor over a collection document for the member walk.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn ws(&mut self) {
        self.i = skip_ws(self.b, self.i);
    }

    fn syntax(&self, what: &str) -> String {
        match self.b.get(self.i) {
            None => format!("unexpected end of JSON input (at byte {})", self.i),
            Some(&c) => format!("invalid character {} {what} (at byte {})", quote(c), self.i),
        }
    }

    /// Parse the value at the cursor; `depth` is its nesting level.
    fn value(&mut self, depth: usize) -> Result<(Value, Span), String> {
        self.ws();
        let start = self.i;
        let (v, n) = parse_prefix_with_limit(&self.b[self.i..], GO_MAX_DEPTH - depth)
            .map_err(|e| format!("{} (at byte {})", e.msg, start + e.offset))?;
        self.i += n;
        Ok((v, (start, self.i)))
    }
}

/// Decode a hash/set/list/zset file: exactly one JSON value (trailing
/// whitespace, `}` or `]` tolerated as Go's `Decoder.More` does).
pub fn read_collection(b: &[u8], array: &str, shape: Elem) -> Result<CollectionDoc, String> {
    let mut doc = CollectionDoc::default();
    let mut saved = Saved::default();
    let mut c = Cur { b, i: 0 };
    c.ws();
    if c.b.get(c.i) != Some(&b'{') {
        let (v, _) = c.value(0)?;
        if !v.is_null() {
            saved.save(Err(format!(
                "json: cannot unmarshal {} into Go value of type struct",
                v.kind()
            )));
        }
    } else {
        c.i += 1;
        c.ws();
        if c.b.get(c.i) == Some(&b'}') {
            c.i += 1;
        } else {
            loop {
                c.ws();
                if c.b.get(c.i) != Some(&b'"') {
                    return Err(c.syntax("looking for beginning of object key string"));
                }
                let (k, _) = c.value(1)?;
                let Value::String(key) = k else {
                    return Err(c.syntax("in object key"));
                };
                c.ws();
                if c.b.get(c.i) != Some(&b':') {
                    return Err(c.syntax("after object key"));
                }
                c.i += 1;
                c.ws();
                if field_is(&key, array) && c.b.get(c.i) == Some(&b'[') {
                    walk_array(&mut c, &mut doc.elems, shape, &mut saved)?;
                } else {
                    let (v, (s, e)) = c.value(1)?;
                    if field_is(&key, "format_version") {
                        saved.save(set_u32(&mut doc.format_version, &v, "format_version"));
                    } else if field_is(&key, "expire_at_ms") {
                        saved.save(set_opt_u64(&mut doc.expire_at_ms, &v, "expire_at_ms"));
                    } else if field_is(&key, array) {
                        apply_array(&mut doc.elems, shape, array, &v, &b[s..e], s, &mut saved);
                    }
                }
                c.ws();
                match c.b.get(c.i) {
                    Some(b',') => c.i += 1,
                    Some(b'}') => {
                        c.i += 1;
                        break;
                    }
                    _ => return Err(c.syntax("after object key:value pair")),
                }
            }
        }
    }
    if let Some(e) = saved.0 {
        return Err(e);
    }
    c.ws();
    match c.b.get(c.i) {
        None | Some(b'}' | b']') => Ok(doc),
        Some(_) => Err(format!("trailing data after JSON value (at byte {})", c.i)),
    }
}

/// Decode an array member element by element, without building its tree.
fn walk_array(
    c: &mut Cur<'_>,
    elems: &mut Vec<Pair>,
    shape: Elem,
    saved: &mut Saved,
) -> Result<(), String> {
    c.i += 1;
    let mut idx = 0;
    c.ws();
    if c.b.get(c.i) == Some(&b']') {
        c.i += 1;
    } else {
        loop {
            let (v, (s, e)) = c.value(2)?;
            saved.save(apply_elem(elems, idx, shape, &v, &c.b[s..e], s));
            idx += 1;
            c.ws();
            match c.b.get(c.i) {
                Some(b',') => c.i += 1,
                Some(b']') => {
                    c.i += 1;
                    break;
                }
                _ => return Err(c.syntax("after array element")),
            }
        }
    }
    elems.truncate(idx);
    Ok(())
}

/// One line of a stream file (`streamLineJSON` upstream): either an entry
/// or the `_meta` record, told apart by `_meta`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamLine {
    pub meta: bool,
    pub id: String,
    pub fields: Vec<Pair>,
    pub length: i64,
    pub last_ms: u64,
    pub last_seq: u64,
    pub expire_at_ms: Option<u64>,
}

/// Decode one top-level value of a stream file (spans index `text`).
pub fn stream_line(v: &Value, text: &[u8]) -> Result<StreamLine, String> {
    let mut l = StreamLine::default();
    let mut saved = Saved::default();
    match v {
        Value::Null => {}
        Value::Object(_) => {
            for (k, val, (s, e)) in object_fields(v, text, 0) {
                let r = if field_is(k, "_meta") {
                    set_bool(&mut l.meta, val, "_meta")
                } else if field_is(k, "id") {
                    set_string(&mut l.id, val, "id")
                } else if field_is(k, "fields") {
                    apply_array(
                        &mut l.fields,
                        Elem::Pair("name", "value"),
                        "fields",
                        val,
                        &text[s..e],
                        s,
                        &mut saved,
                    );
                    Ok(())
                } else if field_is(k, "length") {
                    set_i64(&mut l.length, val, "length")
                } else if field_is(k, "last_ms") {
                    set_u64(&mut l.last_ms, val, "last_ms")
                } else if field_is(k, "last_seq") {
                    set_u64(&mut l.last_seq, val, "last_seq")
                } else if field_is(k, "expire_at_ms") {
                    set_opt_u64(&mut l.expire_at_ms, val, "expire_at_ms")
                } else {
                    Ok(())
                };
                saved.save(r);
            }
        }
        other => saved.save(Err(format!(
            "json: cannot unmarshal {} into Go value of type backup.streamLineJSON",
            other.kind()
        ))),
    }
    saved.0.map_or(Ok(l), Err)
}

/// One record of a TTL sidecar: `{key string, expire_at_ms uint64}`.
pub fn ttl_record(v: &Value) -> Result<(String, u64), String> {
    let (mut key, mut ms) = (String::new(), 0u64);
    let mut saved = Saved::default();
    match v {
        Value::Null => {}
        Value::Object(m) => {
            for (k, val) in m {
                if field_is(k, "key") {
                    saved.save(set_string(&mut key, val, "key"));
                } else if field_is(k, "expire_at_ms") {
                    saved.save(set_u64(&mut ms, val, "expire_at_ms"));
                }
            }
        }
        other => saved.save(Err(format!(
            "json: cannot unmarshal {} into Go value of type backup.ttlSidecarRecord",
            other.kind()
        ))),
    }
    saved.0.map_or(Ok((key, ms)), Err)
}

/// A top-level value of a [`ValueStream`]: parsed, raw text, byte offset.
pub type StreamValue<'a> = (Value, &'a [u8], u64);

/// Reads a file as a sequence of whitespace-separated top-level JSON values
/// (Go's `json.Decoder` loop), one value in memory at a time.
pub struct ValueStream<R: Read> {
    r: BufReader<R>,
    offset: u64,
    buf: Vec<u8>,
}

impl<R: Read> ValueStream<R> {
    pub fn new(r: R) -> Self {
        ValueStream {
            r: BufReader::with_capacity(64 * 1024, r),
            offset: 0,
            buf: Vec::new(),
        }
    }

    /// The next value: its parsed form, its raw text and its byte offset.
    pub fn next_value(&mut self) -> Result<Option<StreamValue<'_>>, String> {
        self.buf.clear();
        // Skip whitespace.
        loop {
            let chunk = self.r.fill_buf().map_err(|e| e.to_string())?;
            if chunk.is_empty() {
                return Ok(None);
            }
            let n = chunk.iter().take_while(|&&c| is_ws(c)).count();
            let more = n == chunk.len();
            self.r.consume(n);
            self.offset += n as u64;
            if !more {
                break;
            }
        }
        let start = self.offset;
        self.scan_value().map_err(|e| e.to_string())?;
        self.offset += self.buf.len() as u64;
        let (v, n) = parse_prefix_with_limit(&self.buf, GO_MAX_DEPTH)
            .map_err(|e| format!("{} (at byte {})", e.msg, start + e.offset as u64))?;
        if n != self.buf.len() {
            return Err(format!(
                "invalid character {} after top-level value (at byte {})",
                quote(self.buf[n]),
                start + n as u64
            ));
        }
        Ok(Some((v, &self.buf, start)))
    }

    /// Copy the bytes of one value into `buf`: a container up to its
    /// matching bracket, a scalar up to the next whitespace. Anything
    /// malformed is left for the parser to reject.
    fn scan_value(&mut self) -> std::io::Result<()> {
        #[derive(PartialEq)]
        enum Mode {
            Container,
            Scalar,
        }
        let mut mode = None;
        let (mut depth, mut in_str, mut esc) = (0usize, false, false);
        loop {
            let chunk = self.r.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            let mut end = None;
            for (i, &c) in chunk.iter().enumerate() {
                if mode.is_none() {
                    mode = Some(if c == b'{' || c == b'[' {
                        Mode::Container
                    } else {
                        Mode::Scalar
                    });
                }
                if in_str {
                    if esc {
                        esc = false;
                    } else if c == b'\\' {
                        esc = true;
                    } else if c == b'"' {
                        in_str = false;
                    }
                    continue;
                }
                match c {
                    b'"' => in_str = true,
                    b'{' | b'[' if mode == Some(Mode::Container) => depth += 1,
                    b'}' | b']' if mode == Some(Mode::Container) => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    c if is_ws(c) && mode == Some(Mode::Scalar) => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let take = end.unwrap_or(chunk.len());
            self.buf.extend_from_slice(&chunk[..take]);
            self.r.consume(take);
            if end.is_some() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(doc: &str) -> Result<CollectionDoc, String> {
        read_collection(doc.as_bytes(), "fields", Elem::Pair("name", "value"))
    }

    fn text(doc: &str, s: Option<Span>) -> &str {
        let (a, b) = s.unwrap();
        &doc[a..b]
    }

    #[test]
    fn collection_basic_and_lenient() {
        let d = r#" {"format_version": 1, "fields": [{"name": "a", "value": {"base64": "_w"}}], "expire_at_ms": null} "#;
        let r = hash(d).unwrap();
        assert_eq!(r.format_version, 1);
        assert_eq!(r.elems.len(), 1);
        assert_eq!(text(d, r.elems[0].a), "\"a\"");
        assert_eq!(text(d, r.elems[0].b), "{\"base64\": \"_w\"}");
        assert_eq!(r.expire_at_ms, None);
        // Case-insensitive keys, last duplicate wins, null keeps scalars.
        let d = r#"{"FORMAT_VERSION":1,"format_version":null,"Expire_At_Ms":5,"x":[1,{}]}"#;
        let r = hash(d).unwrap();
        assert_eq!((r.format_version, r.expire_at_ms), (1, Some(5)));
        assert!(r.elems.is_empty());
        // Trailing `}` / `]` pass; other trailing data fails.
        assert!(hash(r#"{"format_version":1}}"#).is_ok());
        assert!(hash("{\"format_version\":1}\n]x").is_ok());
        assert!(hash(r#"{"format_version":1} x"#).is_err());
        assert!(hash(r#"{"format_version":1}{}"#).is_err());
        assert!(hash("").is_err());
        assert!(hash(r#"{"format_version":1.0}"#).is_err());
        assert!(hash(r#"{"format_version":"1"}"#).is_err());
        assert!(hash(r#"{"fields":{}}"#).is_err());
        assert_eq!(hash("null").unwrap(), CollectionDoc::default());
        assert!(hash("[]").is_err());
    }

    #[test]
    fn duplicate_arrays_decode_into_earlier_elements() {
        let d = r#"{"fields":[{"name":"a","value":"b"},{"name":"c","value":"d"}],"fields":[{"name":"x"}]}"#;
        let r = hash(d).unwrap();
        assert_eq!(r.elems.len(), 1);
        assert_eq!(text(d, r.elems[0].a), "\"x\"");
        assert_eq!(text(d, r.elems[0].b), "\"b\"");
        let d = r#"{"fields":[{"name":"a","value":"b"}],"fields":[null,null]}"#;
        let r = hash(d).unwrap();
        assert_eq!(r.elems.len(), 2);
        assert_eq!(text(d, r.elems[0].a), "\"a\"");
        assert_eq!(r.elems[1], Pair::default());
        let d = r#"{"fields":[{"name":"a"}],"fields":null}"#;
        assert!(hash(d).unwrap().elems.is_empty());
        let d = r#"{"fields":[{"name":"a"}],"fields":[]}"#;
        assert!(hash(d).unwrap().elems.is_empty());
    }

    #[test]
    fn raw_elements_keep_null_text() {
        let d = r#"{"members":["a" , null,{"base64":""}]}"#;
        let r = read_collection(d.as_bytes(), "members", Elem::Raw).unwrap();
        let got: Vec<&str> = r.elems.iter().map(|p| text(d, p.a)).collect();
        assert_eq!(got, ["\"a\"", "null", "{\"base64\":\"\"}"]);
    }

    #[test]
    fn syntax_errors_win_over_type_errors() {
        let e = hash(r#"{"format_version":"x","fields":[}"#).unwrap_err();
        assert!(e.contains("invalid character"), "{e}");
        let e = hash(r#"{"format_version":"x"}"#).unwrap_err();
        assert!(e.contains("cannot unmarshal string"), "{e}");
    }

    #[test]
    fn stream_lines_and_ttl_records() {
        let src = b" {\"id\":\"1-0\",\"fields\":[{\"name\":\"n\",\"value\":\"v\"}]}\n{\"_meta\":true,\"length\":1,\"last_ms\":1}{\"ID\":\"2-0\"}\nnull \"x\"";
        let mut vs = ValueStream::new(&src[..]);
        let (v, t, off) = vs.next_value().unwrap().unwrap();
        assert_eq!(off, 1);
        let l = stream_line(&v, t).unwrap();
        assert_eq!(l.id, "1-0");
        let (a, b) = l.fields[0].b.unwrap();
        assert_eq!(&t[a..b], b"\"v\"");
        let (v, t, _) = vs.next_value().unwrap().unwrap();
        let l = stream_line(&v, t).unwrap();
        assert!(l.meta && l.length == 1 && l.last_ms == 1 && l.expire_at_ms.is_none());
        let (v, t, _) = vs.next_value().unwrap().unwrap();
        assert_eq!(stream_line(&v, t).unwrap().id, "2-0");
        let (v, t, _) = vs.next_value().unwrap().unwrap();
        assert_eq!(stream_line(&v, t).unwrap(), StreamLine::default());
        let (v, _, _) = vs.next_value().unwrap().unwrap();
        assert!(ttl_record(&v).is_err());
        assert!(vs.next_value().unwrap().is_none());

        for bad in [&b"null{}"[..], b"1x", b"\"a\"\"b\"", b"{", b"{}]"] {
            let mut vs = ValueStream::new(bad);
            let mut failed = false;
            while let Some(r) = vs.next_value().transpose() {
                if r.is_err() {
                    failed = true;
                    break;
                }
            }
            assert!(failed, "{}", String::from_utf8_lossy(bad));
        }
        let v =
            crate::gojson::parse(br#"{"key":"k","Expire_At_Ms":5,"expire_at_ms":null}"#).unwrap();
        assert_eq!(ttl_record(&v).unwrap(), ("k".into(), 5));
        assert!(ttl_record(&crate::gojson::parse(b"{\"expire_at_ms\":-1}").unwrap()).is_err());
    }

    #[test]
    fn value_stream_spans_chunk_boundaries() {
        let line = format!(
            "{{\"id\":\"1-0\",\"pad\":\"{}\"}} 12345 ",
            "x".repeat(200_000)
        );
        let mut vs = ValueStream::new(line.as_bytes());
        let (v, _, _) = vs.next_value().unwrap().unwrap();
        assert_eq!(v.get("id").unwrap().as_str(), Some("1-0"));
        let (v, _, _) = vs.next_value().unwrap().unwrap();
        assert_eq!(v, Value::Number("12345".into()));
        assert!(vs.next_value().unwrap().is_none());
    }
}
