//! `json.Unmarshal` into Go-shaped Rust types, with Go's rules:
//!
//! * the whole input is syntax-checked first, so a syntax error wins over
//!   any type error;
//! * object members are applied in document order into the same value: a
//!   repeated struct or map field merges, a repeated slice is decoded into
//!   the earlier one element by element (Go reuses the backing array, so a
//!   slot a shorter array cut off comes back with its old value);
//! * `null` clears pointers, slices, maps and raw messages and leaves every
//!   other field as it is;
//! * struct fields match keys exactly, else by Go's case folding
//!   (`foldName`: each character maps to the smallest rune of its
//!   `unicode.SimpleFold` orbit, so beyond ASCII case only the long s `ſ`
//!   and the Kelvin sign `K` match ASCII letters; the dotted and dotless
//!   Turkish i do not); unknown keys are skipped;
//! * a value of the wrong JSON type, an out-of-range number or bad base64
//!   in a `[]byte` is recorded (the first one only), decoding goes on, and
//!   the recorded error is returned at the end.
//!
//! Types implement [`Unmarshal`]; structs are declared with [`go_struct!`].

use std::collections::BTreeMap;
use std::fmt;

use super::base64::{self as gob64, STD};
use super::scan::{self, SyntaxError};
use super::write::decode_rune;

/// Why an unmarshal failed, in Go's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnmarshalError {
    /// Malformed JSON (fatal; nothing is assigned).
    Syntax(SyntaxError),
    /// The input ended inside a value (`json.Decoder`'s `unexpected EOF`).
    UnexpectedEof { offset: usize },
    /// No value at all where a `json.Decoder` expected one (`EOF`).
    Eof,
    /// Go's `UnmarshalTypeError`.
    Type {
        /// `"number"`, `"number 1.5"`, `"string"`, `"object"`, ...
        value: String,
        /// The Go type, as Go prints it.
        go_type: String,
        /// The innermost Go struct and the JSON field path to the value.
        strukt: &'static str,
        field: String,
        offset: usize,
    },
    /// Bad base64 text for a `[]byte` field.
    Base64 { input_offset: usize, offset: usize },
    /// A key not in the struct where unknown fields are refused.
    UnknownField { key: String, offset: usize },
    /// Something a custom unmarshaler rejected.
    Custom { msg: String, offset: usize },
    /// A `json.Decoder` read one value and found more than whitespace (or a
    /// closing bracket) after it.
    TrailingData { offset: usize },
}

impl UnmarshalError {
    /// Byte offset of the problem in the input.
    pub fn offset(&self) -> Option<usize> {
        match self {
            UnmarshalError::Syntax(e) => Some(e.offset),
            UnmarshalError::Eof => None,
            UnmarshalError::UnexpectedEof { offset }
            | UnmarshalError::Type { offset, .. }
            | UnmarshalError::Base64 { offset, .. }
            | UnmarshalError::UnknownField { offset, .. }
            | UnmarshalError::Custom { offset, .. }
            | UnmarshalError::TrailingData { offset } => Some(*offset),
        }
    }

    /// The JSON field path the error is about, when Go names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            UnmarshalError::Type { field, .. } if !field.is_empty() => Some(field),
            UnmarshalError::UnknownField { key, .. } => Some(key),
            _ => None,
        }
    }

    /// Shift offsets by `base` (for values cut out of a larger input).
    pub fn at_base(mut self, base: usize) -> Self {
        match &mut self {
            UnmarshalError::Syntax(e) => e.offset += base,
            UnmarshalError::Eof => {}
            UnmarshalError::UnexpectedEof { offset }
            | UnmarshalError::Type { offset, .. }
            | UnmarshalError::Base64 { offset, .. }
            | UnmarshalError::UnknownField { offset, .. }
            | UnmarshalError::Custom { offset, .. }
            | UnmarshalError::TrailingData { offset } => *offset += base,
        }
        self
    }

    pub fn custom(msg: impl Into<String>) -> Self {
        UnmarshalError::Custom {
            msg: msg.into(),
            offset: 0,
        }
    }
}

impl fmt::Display for UnmarshalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnmarshalError::Syntax(e) => write!(f, "{e}"),
            UnmarshalError::UnexpectedEof { offset } => {
                write!(f, "unexpected EOF (value started at byte {offset})")
            }
            UnmarshalError::Eof => f.write_str("EOF"),
            UnmarshalError::Type {
                value,
                go_type,
                strukt,
                field,
                offset,
            } => {
                if strukt.is_empty() && field.is_empty() {
                    write!(
                        f,
                        "json: cannot unmarshal {value} into Go value of type {go_type}"
                    )?;
                } else {
                    write!(
                        f,
                        "json: cannot unmarshal {value} into Go struct field {strukt}.{field} of type {go_type}"
                    )?;
                }
                write!(f, " (at byte {offset})")
            }
            UnmarshalError::Base64 {
                input_offset,
                offset,
            } => write!(
                f,
                "illegal base64 data at input byte {input_offset} (at byte {offset})"
            ),
            UnmarshalError::UnknownField { key, offset } => {
                write!(f, "json: unknown field {key:?} (at byte {offset})")
            }
            UnmarshalError::Custom { msg, offset } => write!(f, "{msg} (at byte {offset})"),
            UnmarshalError::TrailingData { offset } => {
                write!(f, "trailing data after JSON value (at byte {offset})")
            }
        }
    }
}

impl std::error::Error for UnmarshalError {}

impl From<SyntaxError> for UnmarshalError {
    fn from(e: SyntaxError) -> Self {
        UnmarshalError::Syntax(e)
    }
}

/// The JSON kind of the value at the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    /// Go's word for it in `UnmarshalTypeError`.
    pub fn go_word(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "bool",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

/// A cursor over syntactically valid JSON that assigns into [`Unmarshal`]
/// types and keeps Go's first recorded error.
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    saved: Option<UnmarshalError>,
    /// Go's error context: the innermost struct and the field path.
    strukt: &'static str,
    fields: Vec<&'static str>,
    disallow_unknown: bool,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Decoder<'a> {
    /// `data` must hold valid JSON from `pos` on (see [`scan::validate`]).
    fn new(data: &'a [u8], pos: usize) -> Self {
        Decoder {
            data,
            pos,
            saved: None,
            strukt: "",
            fields: Vec::new(),
            disallow_unknown: false,
        }
    }

    /// The whole input this decoder reads (raw message spans index it).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    fn ws(&mut self) {
        while self.pos < self.data.len() && is_ws(self.data[self.pos]) {
            self.pos += 1;
        }
    }

    /// The kind of the next value (skipping whitespace).
    pub fn peek(&mut self) -> Kind {
        self.ws();
        match self.data.get(self.pos) {
            Some(b'n') => Kind::Null,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'"') => Kind::String,
            Some(b'[') => Kind::Array,
            Some(b'{') => Kind::Object,
            _ => Kind::Number,
        }
    }

    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Record an error unless one is recorded already (Go's `saveError`).
    pub fn save(&mut self, e: UnmarshalError) {
        if self.saved.is_none() {
            self.saved = Some(e);
        }
    }

    /// Record Go's `UnmarshalTypeError` for the value at the cursor and
    /// skip it.
    pub fn mismatch(&mut self, value: &str, go_type: String) {
        self.ws();
        self.type_error(value.to_string(), go_type, self.pos);
        self.skip();
    }

    /// Record Go's `UnmarshalTypeError` for a value read at `offset` that
    /// does not fit `go_type` (e.g. a number out of range).
    pub fn type_error(&mut self, value: String, go_type: String, offset: usize) {
        let e = UnmarshalError::Type {
            value,
            go_type,
            strukt: self.strukt,
            field: self.fields.join("."),
            offset,
        };
        self.save(e);
    }

    /// Skip the next value; returns its span.
    pub fn skip(&mut self) -> (usize, usize) {
        self.ws();
        let start = self.pos;
        let d = self.data;
        let mut i = self.pos;
        match d.get(i) {
            Some(b'"') => i = string_end(d, i),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                while i < d.len() {
                    match d[i] {
                        b'"' => {
                            i = string_end(d, i);
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => {
                while i < d.len()
                    && matches!(d[i], b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'E')
                {
                    i += 1;
                }
            }
        }
        self.pos = i;
        (start, i)
    }

    /// The next literal or number's text.
    pub fn read_number(&mut self) -> &'a str {
        let (s, e) = self.skip();
        std::str::from_utf8(&self.data[s..e]).unwrap_or("")
    }

    pub fn read_bool(&mut self) -> bool {
        let (s, _) = self.skip();
        self.data[s] == b't'
    }

    pub fn read_null(&mut self) {
        self.skip();
    }

    /// The next string, unquoted as Go does (invalid UTF-8 and lone
    /// surrogates become U+FFFD).
    pub fn read_string(&mut self) -> String {
        let (s, e) = self.skip();
        unquote(&self.data[s + 1..e.saturating_sub(1).max(s + 1)])
    }

    /// Enter an object; then call [`Decoder::next_key`] until `None`.
    pub fn enter_object(&mut self) {
        self.ws();
        self.pos += 1;
    }

    /// The next member's key (the cursor is then on its value), or `None`
    /// after the closing `}`.
    pub fn next_key(&mut self) -> Option<String> {
        self.ws();
        match self.data.get(self.pos) {
            Some(b',') => {
                self.pos += 1;
                self.ws();
            }
            Some(b'}') | None => {
                self.pos += 1;
                return None;
            }
            _ => {}
        }
        if self.data.get(self.pos) != Some(&b'"') {
            self.pos += 1;
            return None;
        }
        let key = self.read_string();
        self.ws();
        self.pos += 1; // ':'
        Some(key)
    }

    /// Enter an array; then call [`Decoder::next_element`] until false.
    pub fn enter_array(&mut self) {
        self.ws();
        self.pos += 1;
    }

    /// Whether another element follows (the cursor is then on it).
    pub fn next_element(&mut self) -> bool {
        self.ws();
        match self.data.get(self.pos) {
            Some(b',') => {
                self.pos += 1;
                true
            }
            Some(b']') | None => {
                self.pos += 1;
                false
            }
            _ => true,
        }
    }

    /// The JSON field path of the value being decoded (`a.b`), for the
    /// messages of custom unmarshalers.
    pub fn field_path(&self) -> String {
        self.fields.join(".")
    }

    /// Refuse keys that match no field (Go's `DisallowUnknownFields`).
    pub fn disallow_unknown_fields(&mut self) {
        self.disallow_unknown = true;
    }

    /// Decode an object into a struct whose JSON field names are `fields`;
    /// `set(d, i)` decodes the value at the cursor into field `i`.
    pub fn decode_struct(
        &mut self,
        go_type: &'static str,
        fields: &'static [&'static str],
        mut set: impl FnMut(&mut Self, usize),
    ) {
        match self.peek() {
            Kind::Null => self.read_null(),
            Kind::Object => {
                let short = go_type.rsplit('.').next().unwrap_or(go_type);
                self.enter_object();
                while let Some(key) = self.next_key() {
                    let Some(i) = field_index(fields, &key) else {
                        if self.disallow_unknown {
                            let offset = self.pos;
                            self.save(UnmarshalError::UnknownField { key, offset });
                        }
                        self.skip();
                        continue;
                    };
                    let (outer, depth) = (self.strukt, self.fields.len());
                    self.strukt = short;
                    self.fields.push(fields[i]);
                    set(self, i);
                    self.fields.truncate(depth);
                    self.strukt = outer;
                }
            }
            k => self.mismatch(k.go_word(), go_type.to_string()),
        }
    }

    fn finish(self) -> Result<(), UnmarshalError> {
        match self.saved {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// End (exclusive) of the valid string starting at `i`.
fn string_end(d: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < d.len() {
        match d[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    d.len()
}

fn hex4(b: &[u8]) -> Option<u32> {
    let s = b.get(..4)?;
    let mut v = 0u32;
    for &c in s {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// Go's `unquoteBytes` of a valid string's contents (without quotes).
pub fn unquote(b: &[u8]) -> String {
    if !b.iter().any(|&c| c == b'\\' || c >= 0x80) {
        return String::from_utf8(b.to_vec()).expect("ascii");
    }
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            let e = b.get(i + 1).copied().unwrap_or(b'\\');
            i += 2;
            match e {
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let u = hex4(&b[i.min(b.len())..]).unwrap_or(0xFFFD);
                    i += 4;
                    if (0xD800..0xE000).contains(&u) {
                        // Only a high surrogate directly followed by an
                        // escaped low one pairs up.
                        if (0xD800..0xDC00).contains(&u)
                            && b.get(i) == Some(&b'\\')
                            && b.get(i + 1) == Some(&b'u')
                        {
                            if let Some(lo) = hex4(&b[(i + 2).min(b.len())..]) {
                                if (0xDC00..0xE000).contains(&lo) {
                                    let cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                                    out.push(char::from_u32(cp).expect("pair"));
                                    i += 6;
                                    continue;
                                }
                            }
                        }
                        out.push('\u{FFFD}');
                    } else {
                        out.push(char::from_u32(u).unwrap_or('\u{FFFD}'));
                    }
                }
                other => out.push(other as char),
            }
        } else if c < 0x80 {
            out.push(c as char);
            i += 1;
        } else {
            let (ch, n) = decode_rune(&b[i..]);
            out.push(ch.unwrap_or('\u{FFFD}'));
            i += n;
        }
    }
    out
}

/// Go's `foldName` of one key character, when it folds to ASCII.
fn fold_to_ascii(c: char) -> Option<u8> {
    match c {
        'a'..='z' => Some(c as u8 - 32),
        c if c.is_ascii() => Some(c as u8),
        '\u{017F}' => Some(b'S'),
        '\u{212A}' => Some(b'K'),
        _ => None,
    }
}

/// Whether `key` selects the (ASCII) field name `name` under Go's folding.
pub fn fold_matches(key: &str, name: &str) -> bool {
    let mut n = name.bytes();
    for c in key.chars() {
        match (fold_to_ascii(c), n.next()) {
            (Some(a), Some(b)) if a == b.to_ascii_uppercase() => {}
            _ => return false,
        }
    }
    n.next().is_none()
}

/// Go's field lookup: the exact name first, else the case-folded one.
pub fn field_index(fields: &[&str], key: &str) -> Option<usize> {
    fields
        .iter()
        .position(|f| *f == key)
        .or_else(|| fields.iter().position(|f| fold_matches(key, f)))
}

/// A Rust type that Go's decoder can fill.
pub trait Unmarshal {
    /// The Go type as `UnmarshalTypeError` prints it.
    fn go_type() -> String;
    /// Decode the value at the cursor into `self`.
    fn unmarshal(&mut self, d: &mut Decoder<'_>);
}

/// Go types that take exactly one kind of JSON value (or `null`, a no-op).
macro_rules! go_scalar {
    ($($t:ty => $name:literal, $kind:ident, $read:ident);*) => {$(
        impl Unmarshal for $t {
            fn go_type() -> String {
                $name.into()
            }
            fn unmarshal(&mut self, d: &mut Decoder<'_>) {
                match d.peek() {
                    Kind::Null => d.read_null(),
                    Kind::$kind => *self = d.$read(),
                    k => d.mismatch(k.go_word(), Self::go_type()),
                }
            }
        }
    )*};
}

go_scalar!(String => "string", String, read_string; bool => "bool", Bool, read_bool);

macro_rules! go_int {
    ($($t:ty => $name:literal),*) => {$(
        impl Unmarshal for $t {
            fn go_type() -> String {
                $name.into()
            }
            fn unmarshal(&mut self, d: &mut Decoder<'_>) {
                match d.peek() {
                    Kind::Null => d.read_null(),
                    Kind::Number => {
                        let at = d.offset();
                        let n = d.read_number();
                        // Go: strconv.ParseInt/ParseUint(n, 10, 64), then the
                        // range of the field's type. No fraction, no
                        // exponent, no "-0" for unsigned types.
                        match n.parse::<$t>() {
                            Ok(v) if !n.starts_with('+') => *self = v,
                            _ => d.type_error(format!("number {n}"), Self::go_type(), at),
                        }
                    }
                    k => d.mismatch(k.go_word(), Self::go_type()),
                }
            }
        }
    )*};
}

go_int!(u8 => "uint8", u16 => "uint16", u32 => "uint32", u64 => "uint64",
        i32 => "int32", i64 => "int64");

impl Unmarshal for f64 {
    fn go_type() -> String {
        "float64".into()
    }
    fn unmarshal(&mut self, d: &mut Decoder<'_>) {
        match d.peek() {
            Kind::Null => d.read_null(),
            Kind::Number => {
                let at = d.offset();
                let n = d.read_number();
                match n.parse::<f64>() {
                    Ok(v) if v.is_finite() => *self = v,
                    _ => d.type_error(format!("number {n}"), Self::go_type(), at),
                }
            }
            k => d.mismatch(k.go_word(), Self::go_type()),
        }
    }
}

/// A Go pointer `*T`: `null` makes it nil; any other value allocates it
/// (if nil) and decodes into the pointee.
impl<T: Unmarshal + Default> Unmarshal for Option<T> {
    fn go_type() -> String {
        T::go_type()
    }
    fn unmarshal(&mut self, d: &mut Decoder<'_>) {
        if d.peek() == Kind::Null {
            d.read_null();
            *self = None;
        } else {
            self.get_or_insert_with(T::default).unmarshal(d);
        }
    }
}

/// A Go slice `[]T`: nil, or a length over a backing array that keeps the
/// slots a shorter decode cut off (Go's `reflect.Value.SetLen` exposes
/// them again when a later array is longer).
#[derive(Debug, Clone)]
pub struct GoSlice<T> {
    backing: Vec<T>,
    len: usize,
    nil: bool,
}

impl<T> Default for GoSlice<T> {
    fn default() -> Self {
        GoSlice {
            backing: Vec::new(),
            len: 0,
            nil: true,
        }
    }
}

/// Equal when Go would print them the same (stale slots do not count).
impl<T: PartialEq> PartialEq for GoSlice<T> {
    fn eq(&self, other: &Self) -> bool {
        self.nil == other.nil && self.as_slice() == other.as_slice()
    }
}

impl<T: Eq> Eq for GoSlice<T> {}

impl<T> GoSlice<T> {
    /// A non-nil slice holding `v`.
    pub fn from_vec(v: Vec<T>) -> Self {
        GoSlice {
            len: v.len(),
            backing: v,
            nil: false,
        }
    }

    pub fn as_slice(&self) -> &[T] {
        &self.backing[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_nil(&self) -> bool {
        self.nil
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    /// The elements, `None` for a nil slice.
    pub fn into_option(mut self) -> Option<Vec<T>> {
        if self.nil {
            return None;
        }
        self.backing.truncate(self.len);
        Some(self.backing)
    }

    pub fn into_vec(self) -> Vec<T> {
        self.into_option().unwrap_or_default()
    }
}

impl<'a, T> IntoIterator for &'a GoSlice<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Unmarshal + Default> Unmarshal for GoSlice<T> {
    fn go_type() -> String {
        format!("[]{}", T::go_type())
    }
    fn unmarshal(&mut self, d: &mut Decoder<'_>) {
        match d.peek() {
            Kind::Null => {
                d.read_null();
                *self = GoSlice::default();
            }
            Kind::Array => {
                d.enter_array();
                let mut i = 0;
                while d.next_element() {
                    if i == self.backing.len() {
                        self.backing.push(T::default());
                    }
                    self.backing[i].unmarshal(d);
                    i += 1;
                }
                if i == 0 {
                    // Go replaces the slice with a fresh empty one.
                    self.backing.clear();
                }
                self.len = i;
                self.nil = false;
            }
            k => d.mismatch(k.go_word(), Self::go_type()),
        }
    }
}

/// A Go `map[string]V`: `null` makes it nil; an object adds to it, each
/// member's value decoded from V's zero value (map elements never merge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoMap<V>(pub Option<BTreeMap<String, V>>);

impl<V> Default for GoMap<V> {
    fn default() -> Self {
        GoMap(None)
    }
}

impl<V: Unmarshal + Default> Unmarshal for GoMap<V> {
    fn go_type() -> String {
        format!("map[string]{}", V::go_type())
    }
    fn unmarshal(&mut self, d: &mut Decoder<'_>) {
        match d.peek() {
            Kind::Null => {
                d.read_null();
                self.0 = None;
            }
            Kind::Object => {
                let map = self.0.get_or_insert_with(BTreeMap::new);
                d.enter_object();
                while let Some(key) = d.next_key() {
                    let mut v = V::default();
                    v.unmarshal(d);
                    map.insert(key, v);
                }
            }
            k => d.mismatch(k.go_word(), Self::go_type()),
        }
    }
}

/// Go's `json.RawMessage`: the exact text of a value, as a span of the
/// decoder's input (`null` is kept as the text `null`); `None` when the
/// field never appeared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawMessage(pub Option<(usize, usize)>);

impl RawMessage {
    /// The text, from the buffer the value was decoded from.
    pub fn bytes<'b>(&self, data: &'b [u8]) -> &'b [u8] {
        self.0.map_or(&[][..], |(s, e)| &data[s..e])
    }
}

impl Unmarshal for RawMessage {
    fn go_type() -> String {
        "json.RawMessage".into()
    }
    fn unmarshal(&mut self, d: &mut Decoder<'_>) {
        self.0 = Some(d.skip());
    }
}

/// Go's `[]byte`: a string is standard base64 (bad base64 is recorded and
/// leaves the field as it was), an array is one number per byte, `null`
/// makes it nil.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoBytes(pub GoSlice<u8>);

impl GoBytes {
    pub fn into_option(self) -> Option<Vec<u8>> {
        self.0.into_option()
    }
}

impl Unmarshal for GoBytes {
    fn go_type() -> String {
        "[]uint8".into()
    }
    fn unmarshal(&mut self, d: &mut Decoder<'_>) {
        if d.peek() == Kind::String {
            let at = d.offset();
            let s = d.read_string();
            match gob64::decode(&STD, s.as_bytes()) {
                Ok(b) => self.0 = GoSlice::from_vec(b),
                Err(e) => d.save(UnmarshalError::Base64 {
                    input_offset: e.0,
                    offset: at,
                }),
            }
        } else {
            self.0.unmarshal(d);
        }
    }
}

/// Go's `interface{}` (`any`): objects become maps (a repeated key
/// replaces the earlier value), numbers must fit a float64 (an overflow is
/// recorded), everything else as is. Object members come out sorted by key.
impl Unmarshal for super::Value {
    fn go_type() -> String {
        "interface {}".into()
    }
    fn unmarshal(&mut self, d: &mut Decoder<'_>) {
        use super::Value;
        *self = match d.peek() {
            Kind::Null => {
                d.read_null();
                Value::Null
            }
            Kind::Bool => Value::Bool(d.read_bool()),
            Kind::String => Value::String(d.read_string()),
            Kind::Number => {
                let at = d.offset();
                let n = d.read_number();
                if !n.parse::<f64>().is_ok_and(f64::is_finite) {
                    d.type_error(format!("number {n}"), "float64".into(), at);
                    Value::Null
                } else {
                    Value::Number(n.to_string())
                }
            }
            Kind::Array => {
                let mut v = Vec::new();
                d.enter_array();
                while d.next_element() {
                    let mut x = Value::Null;
                    x.unmarshal(d);
                    v.push(x);
                }
                Value::Array(v)
            }
            Kind::Object => {
                let mut m = BTreeMap::new();
                d.enter_object();
                while let Some(k) = d.next_key() {
                    let mut x = Value::Null;
                    x.unmarshal(d);
                    m.insert(k, x);
                }
                Value::Object(m.into_iter().collect())
            }
        };
    }
}

/// The raw tree of valid JSON (duplicates kept, numbers verbatim).
pub(crate) fn raw_tree(data: &[u8]) -> super::Value {
    fn build(d: &mut Decoder<'_>) -> super::Value {
        use super::Value;
        match d.peek() {
            Kind::Null => {
                d.read_null();
                Value::Null
            }
            Kind::Bool => Value::Bool(d.read_bool()),
            Kind::String => Value::String(d.read_string()),
            Kind::Number => Value::Number(d.read_number().to_string()),
            Kind::Array => {
                let mut v = Vec::new();
                d.enter_array();
                while d.next_element() {
                    v.push(build(d));
                }
                Value::Array(v)
            }
            Kind::Object => {
                let mut m = Vec::new();
                d.enter_object();
                while let Some(k) = d.next_key() {
                    m.push((k, build(d)));
                }
                Value::Object(m)
            }
        }
    }
    build(&mut Decoder::new(data, 0))
}

/// `json.Unmarshal(data, v)`.
pub fn unmarshal_into<T: Unmarshal>(data: &[u8], v: &mut T) -> Result<(), UnmarshalError> {
    scan::validate(data)?;
    let mut d = Decoder::new(data, 0);
    v.unmarshal(&mut d);
    d.finish()
}

/// `json.Unmarshal` into a fresh `T`.
pub fn unmarshal<T: Unmarshal + Default>(data: &[u8]) -> Result<T, UnmarshalError> {
    let mut v = T::default();
    unmarshal_into(data, &mut v)?;
    Ok(v)
}

/// [`unmarshal_into`] with the decoder tuned first (e.g. to refuse unknown
/// fields).
pub fn unmarshal_with<T: Unmarshal>(
    data: &[u8],
    v: &mut T,
    tune: impl FnOnce(&mut Decoder<'_>),
) -> Result<(), UnmarshalError> {
    scan::validate(data)?;
    let mut d = Decoder::new(data, 0);
    tune(&mut d);
    v.unmarshal(&mut d);
    d.finish()
}

/// One `json.NewDecoder(r).Decode(v)` followed by `dec.More()` refusing
/// anything after the value except whitespace or a closing bracket (which
/// `More` does not count), as upstream's single-document readers do.
pub fn decode_one<T: Unmarshal + Default>(data: &[u8]) -> Result<T, UnmarshalError> {
    if data.iter().all(|&c| is_ws(c)) {
        return Err(UnmarshalError::Eof);
    }
    let end = scan::value_end(data).map_err(|e| {
        if e.msg == "unexpected end of JSON input" {
            UnmarshalError::UnexpectedEof { offset: e.offset }
        } else {
            UnmarshalError::Syntax(e)
        }
    })?;
    let mut v = T::default();
    let mut d = Decoder::new(&data[..end], 0);
    v.unmarshal(&mut d);
    d.finish()?;
    match data[end..].iter().position(|&c| !is_ws(c)) {
        Some(i) if !matches!(data[end + i], b']' | b'}') => {
            Err(UnmarshalError::TrailingData { offset: end + i })
        }
        _ => Ok(v),
    }
}

/// Decode one already-delimited value (from a [`super::ValueStream`]).
pub fn decode_value<T: Unmarshal + Default>(value: &[u8]) -> Result<T, UnmarshalError> {
    let mut v = T::default();
    let mut d = Decoder::new(value, 0);
    v.unmarshal(&mut d);
    d.finish()?;
    Ok(v)
}

/// Declare a Go struct: the Rust struct plus its [`Unmarshal`] impl with
/// Go's field matching. `go_struct! { pub struct X as "backup.x" { pub a:
/// String, pub ty: String = "type", ... } }`: a field's JSON key is its
/// name unless given after `=`; derives go on the struct as usual.
macro_rules! go_struct {
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $json:literal) => { $json };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident as $go:literal {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty $(= $json:literal)? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty, )*
        }

        impl $crate::gojson::Unmarshal for $name {
            fn go_type() -> String {
                $go.into()
            }
            fn unmarshal(&mut self, d: &mut $crate::gojson::Decoder<'_>) {
                const FIELDS: &[&str] = &[$($crate::go_struct!(@key $field $($json)?)),*];
                d.decode_struct($go, FIELDS, |d, i| {
                    let mut k = 0usize;
                    $(
                        if i == k {
                            $crate::gojson::Unmarshal::unmarshal(&mut self.$field, d);
                            return;
                        }
                        k += 1;
                    )*
                    let _ = k;
                });
            }
        }
    };
}
pub(crate) use go_struct;

#[cfg(test)]
mod tests {
    use super::*;

    crate::go_struct! {
        #[derive(Debug, Default, Clone, PartialEq)]
        struct Inner as "t.inner" {
            name: String,
            n: u32,
        }
    }

    crate::go_struct! {
        #[derive(Debug, Default, Clone, PartialEq)]
        struct Outer as "t.outer" {
            ts: u64 = "last_commit_ts",
            phase: String,
            ptr: Option<Inner>,
            list: GoSlice<Inner>,
            strs: GoSlice<String>,
            map: GoMap<String>,
            raw: RawMessage,
            bytes: GoBytes,
            i: i64,
            f: f64,
        }
    }

    fn outer(s: &str) -> Result<Outer, UnmarshalError> {
        unmarshal(s.as_bytes())
    }

    #[test]
    fn members_apply_in_order_and_null_is_a_no_op_for_values() {
        let o = outer(r#"{"last_commit_ts":5,"last_commit_ts":null}"#).unwrap();
        assert_eq!(o.ts, 5);
        let o = outer(r#"{"phase":"a","PHASE":null,"Phase":"b","phase":null}"#).unwrap();
        assert_eq!(o.phase, "b");
        let o = outer(r#"{"ptr":{"name":"x"},"ptr":null}"#).unwrap();
        assert_eq!(o.ptr, None);
        let o = outer(r#"{"ptr":{"name":"x"},"ptr":{"n":2}}"#).unwrap();
        assert_eq!(
            o.ptr,
            Some(Inner {
                name: "x".into(),
                n: 2
            })
        );
    }

    #[test]
    fn first_type_error_wins_and_decoding_continues() {
        let e = outer(r#"{"phase":5,"phase":"p","i":"x"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal number into Go struct field outer.phase of type string (at byte 9)"
        );
        let e = outer(r#"{"ptr":{"n":-1}}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("number -1 into Go struct field inner.ptr.n of type uint32"),
            "{e}"
        );
        assert!(outer(r#"{"i":1.0}"#).is_err());
        assert!(outer(r#"{"i":-0}"#).is_ok());
        assert!(outer(r#"{"last_commit_ts":-0}"#).is_err());
        assert!(outer(r#"{"last_commit_ts":18446744073709551616}"#).is_err());
        assert!(outer(r#"{"f":1e309}"#).is_err());
        assert_eq!(outer(r#"{"f":1e-400}"#).unwrap().f, 0.0);
        // A syntax error anywhere beats a type error.
        let e = outer(r#"{"phase":5,"x":[}"#).unwrap_err();
        assert!(matches!(e, UnmarshalError::Syntax(_)), "{e}");
        assert!(matches!(
            outer("[]").unwrap_err(),
            UnmarshalError::Type { .. }
        ));
        assert_eq!(outer("null").unwrap(), Outer::default());
    }

    #[test]
    fn slices_reuse_their_backing_array() {
        let o =
            outer(r#"{"list":[{"name":"a","n":1},{"name":"b","n":2}],"list":[{"n":3}]}"#).unwrap();
        assert_eq!(
            o.list.as_slice(),
            [Inner {
                name: "a".into(),
                n: 3
            }]
        );
        let o = outer(r#"{"strs":["a","b","c"],"strs":["x"],"strs":[null,null]}"#).unwrap();
        assert_eq!(o.strs.as_slice(), ["x", "b"]);
        let o = outer(r#"{"strs":["a","b"],"strs":[],"strs":[null,null]}"#).unwrap();
        assert_eq!(o.strs.as_slice(), ["", ""]);
        let o = outer(r#"{"strs":["a"],"strs":null}"#).unwrap();
        assert!(o.strs.is_nil());
        let o = outer(r#"{"strs":[]}"#).unwrap();
        assert!(!o.strs.is_nil() && o.strs.is_empty());
    }

    #[test]
    fn maps_merge_and_elements_start_from_zero() {
        let o = outer(r#"{"map":{"a":"1","b":"2"},"MAP":{"b":null,"c":"3"}}"#).unwrap();
        let m = o.map.0.unwrap();
        assert_eq!(
            m.iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            [("a", "1"), ("b", ""), ("c", "3")]
        );
        assert!(
            outer(r#"{"map":{"a":"1"},"map":null}"#)
                .unwrap()
                .map
                .0
                .is_none()
        );
    }

    #[test]
    fn raw_bytes_and_folding() {
        let src = r#"{"raw" : [1, {"a":null}] ,"bytes":"QUI=","ptr":{"ſ":1,"NAME":"k"}}"#;
        let o = outer(src).unwrap();
        assert_eq!(o.raw.bytes(src.as_bytes()), b"[1, {\"a\":null}]");
        assert_eq!(o.bytes.into_option().unwrap(), b"AB");
        assert_eq!(o.ptr.unwrap().name, "k");
        assert!(outer(r#"{"bytes":"QUI"}"#).is_err());
        assert_eq!(
            outer(r#"{"bytes":[104,105]}"#)
                .unwrap()
                .bytes
                .into_option()
                .unwrap(),
            b"hi"
        );
        assert!(outer(r#"{"bytes":[256]}"#).is_err());
        assert!(!fold_matches("ıd", "id"));
        assert!(!fold_matches("İD", "id"));
        assert!(fold_matches("\u{212A}ey", "key"));
        assert!(fold_matches("\u{17F}et", "set"));
        assert!(!fold_matches("ée", "ee"));
        assert!(!fold_matches("i", "id"));
        assert_eq!(field_index(&["a_b", "A_B"], "A_B"), Some(1));
        assert_eq!(field_index(&["a_b", "A_B"], "a_B"), Some(0));
        let o = outer(r#"{"raw":null}"#).unwrap();
        assert_eq!(o.raw.0, Some((7, 11)));
    }

    #[test]
    fn decode_one_trailing_rules() {
        assert!(decode_one::<Outer>(b"{} \n").is_ok());
        assert!(decode_one::<Outer>(b"{}}").is_ok());
        assert!(decode_one::<Outer>(b"{}]x").is_ok());
        assert!(matches!(
            decode_one::<Outer>(b"{}x").unwrap_err(),
            UnmarshalError::TrailingData { offset: 2 }
        ));
        assert!(decode_one::<Outer>(b"{} {}").is_err());
        assert_eq!(decode_one::<Outer>(b"").unwrap_err(), UnmarshalError::Eof);
        assert!(matches!(
            decode_one::<Outer>(b"{\"a\":").unwrap_err(),
            UnmarshalError::UnexpectedEof { .. }
        ));
        // A type error in the value is reported before trailing data.
        assert!(matches!(
            decode_one::<Outer>(b"{\"i\":\"x\"} x").unwrap_err(),
            UnmarshalError::Type { .. }
        ));
    }

    #[test]
    fn unquote_is_go_lenient() {
        assert_eq!(unquote(b"a\xffb"), "a\u{FFFD}b");
        assert_eq!(unquote(b"\xe2\x82"), "\u{FFFD}\u{FFFD}");
        assert_eq!(
            unquote(br"\ud800x\udc00\ud83d\ude00\ud800\u0041"),
            "\u{FFFD}x\u{FFFD}😀\u{FFFD}A"
        );
        assert_eq!(unquote(br#"\"\\\/\b\f\n\r\t"#), "\"\\/\u{8}\u{c}\n\r\t");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Go's reflect slice decoding written out with an explicit
        /// capacity (grown by doubling), as an independent model.
        fn go_model(arrays: &[Option<Vec<Option<String>>>]) -> Option<Vec<String>> {
            let (mut backing, mut len, mut nil): (Vec<String>, usize, bool) = (Vec::new(), 0, true);
            for a in arrays {
                let Some(a) = a else {
                    (backing, len, nil) = (Vec::new(), 0, true);
                    continue;
                };
                nil = false;
                if a.is_empty() {
                    (backing, len) = (Vec::new(), 0);
                    continue;
                }
                for (i, v) in a.iter().enumerate() {
                    if i >= backing.len() {
                        let cap = (backing.len() * 2).max(i + 1);
                        backing.resize(cap, String::new());
                    }
                    len = len.max(i + 1);
                    if let Some(v) = v {
                        backing[i] = v.clone();
                    }
                }
                len = a.len();
            }
            (!nil).then(|| backing[..len].to_vec())
        }

        fn arrays() -> impl Strategy<Value = Vec<Option<Vec<Option<String>>>>> {
            proptest::collection::vec(
                proptest::option::weighted(
                    0.9,
                    proptest::collection::vec(proptest::option::of("[a-c]"), 0..5),
                ),
                1..5,
            )
        }

        fn json_of(arrays: &[Option<Vec<Option<String>>>]) -> String {
            let members: Vec<String> = arrays
                .iter()
                .map(|a| match a {
                    None => "\"strs\":null".to_string(),
                    Some(v) => {
                        let items: Vec<String> = v
                            .iter()
                            .map(|x| x.as_ref().map_or("null".into(), |s| format!("{s:?}")))
                            .collect();
                        format!("\"strs\":[{}]", items.join(","))
                    }
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }

        /// JSON text of any shape over the test structs' field names.
        fn json_text() -> impl Strategy<Value = String> {
            let leaf = prop_oneof![
                Just("null".to_string()),
                Just("true".to_string()),
                Just("-0".to_string()),
                Just("1e309".to_string()),
                (0u64..300).prop_map(|n| n.to_string()),
                "[a-zA-Z=/+ſ]{0,6}".prop_map(|s| format!("{s:?}")),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                let key = prop_oneof![
                    Just("last_commit_ts"),
                    Just("PHASE"),
                    Just("ptr"),
                    Just("list"),
                    Just("strs"),
                    Just("map"),
                    Just("raw"),
                    Just("bytes"),
                    Just("name"),
                    Just("n"),
                    Just("x"),
                ];
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4)
                        .prop_map(|v| format!("[{}]", v.join(","))),
                    proptest::collection::vec((key, inner), 0..5).prop_map(|m| {
                        let parts: Vec<String> =
                            m.into_iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
                        format!("{{{}}}", parts.join(","))
                    }),
                ]
            })
        }

        proptest! {
            #[test]
            fn repeated_slices_follow_go(a in arrays()) {
                let o: Outer = unmarshal(json_of(&a).as_bytes()).unwrap();
                let got = (!o.strs.is_nil()).then(|| o.strs.as_slice().to_vec());
                prop_assert_eq!(got, go_model(&a));
            }

            #[test]
            fn well_formed_json_never_fails_on_syntax(text in json_text()) {
                prop_assert!(scan::validate(text.as_bytes()).is_ok(), "{}", text);
                let r = unmarshal::<Outer>(text.as_bytes());
                prop_assert!(!matches!(r, Err(UnmarshalError::Syntax(_))), "{}", text);
                let _ = unmarshal::<super::super::super::Value>(text.as_bytes());
            }

            #[test]
            fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
                let r = unmarshal::<Outer>(&b);
                prop_assert_eq!(
                    scan::validate(&b).is_err(),
                    matches!(r, Err(UnmarshalError::Syntax(_)))
                );
                let _ = decode_one::<Outer>(&b);
            }
        }
    }
}
