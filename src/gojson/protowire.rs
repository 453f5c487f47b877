//! Go's protobuf wire format as `google.golang.org/protobuf` reads and
//! writes it: varints of at most ten bytes, field numbers 1..2^29-1,
//! unknown fields (and known numbers with another wire type) skipped,
//! groups nested at most 10,000 deep, proto3 strings valid UTF-8.
//! Messages themselves are hand-coded by the adapters on top of this.

use std::fmt;

pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const BYTES: u8 = 2;
pub const START_GROUP: u8 = 3;
pub const END_GROUP: u8 = 4;
pub const FIXED32: u8 = 5;

/// Go's default recursion limit.
pub const RECURSION_LIMIT: u32 = 10_000;
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// Why a message could not be parsed (Go reports one opaque error; the
/// text here is for humans).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoError(pub String);

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "proto: {}", self.0)
    }
}

impl std::error::Error for ProtoError {}

pub type PResult<T> = Result<T, ProtoError>;

pub fn perr<T>(msg: impl Into<String>) -> PResult<T> {
    Err(ProtoError(msg.into()))
}

// ---------------------------------------------------------------- writing

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_tag(out: &mut Vec<u8>, field: u32, wt: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wt));
}

/// A length-delimited field, written even when empty.
pub fn put_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    put_tag(out, field, BYTES);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A proto3 singular string: omitted when empty.
pub fn put_opt_string(out: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        put_bytes(out, field, s.as_bytes());
    }
}

/// A proto3 singular uint64: omitted when zero.
pub fn put_opt_u64(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_tag(out, field, VARINT);
        put_varint(out, v);
    }
}

/// A `fixed64`/`double` field. Only tests write one: no encoder builds a
/// message with a double (Redis zset blobs are only read).
#[cfg(test)]
pub fn put_fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    put_tag(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A sub-message, written even when empty.
pub fn put_message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    body(&mut inner);
    put_bytes(out, field, &inner);
}

// ---------------------------------------------------------------- reading

pub struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }

    pub fn done(&self) -> bool {
        self.pos >= self.b.len()
    }

    /// `protowire.ConsumeVarint`: at most 10 bytes, the 10th at most 1.
    pub fn varint(&mut self) -> PResult<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&c) = self.b.get(self.pos) else {
                return perr("truncated varint");
            };
            self.pos += 1;
            if i == 9 && c > 1 {
                return perr("varint overflows 64 bits");
            }
            v |= u64::from(c & 0x7f) << (7 * i);
            if c < 0x80 {
                return Ok(v);
            }
        }
        perr("varint overflows 64 bits")
    }

    pub fn tag(&mut self) -> PResult<(u32, u8)> {
        let t = self.varint()?;
        let num = t >> 3;
        if !(1..=MAX_FIELD_NUMBER).contains(&num) {
            return perr(format!("invalid field number {num}"));
        }
        Ok((num as u32, (t & 7) as u8))
    }

    pub fn take(&mut self, n: u64) -> PResult<&'a [u8]> {
        let remaining = (self.b.len() - self.pos) as u64;
        if n > remaining {
            return perr("truncated field");
        }
        let s = &self.b[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    pub fn bytes(&mut self) -> PResult<&'a [u8]> {
        let n = self.varint()?;
        self.take(n)
    }

    pub fn fixed64(&mut self) -> PResult<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    /// Skip one field value of wire type `wt` (`ConsumeFieldValue`).
    pub fn skip(&mut self, field: u32, wt: u8, depth: u32) -> PResult<()> {
        match wt {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            FIXED32 => self.take(4).map(drop),
            BYTES => self.bytes().map(drop),
            START_GROUP => {
                if depth == 0 {
                    return perr("exceeded maximum recursion depth");
                }
                loop {
                    if self.done() {
                        return perr("truncated group");
                    }
                    let (f, w) = self.tag()?;
                    if w == END_GROUP {
                        if f == field {
                            return Ok(());
                        }
                        return perr("mismatched end group");
                    }
                    self.skip(f, w, depth.saturating_sub(1))?;
                }
            }
            END_GROUP => perr("unexpected end group"),
            _ => perr(format!("invalid wire type {wt}")),
        }
    }
}

/// A proto3 string field's value.
pub fn utf8(b: &[u8]) -> PResult<String> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => perr("string field contains invalid UTF-8"),
    }
}

/// Walk the fields of one message body. `f` returns `Ok(false)` for a field
/// it does not know (or whose wire type does not match); such a field is
/// skipped, as Go keeps it as an unknown field.
pub fn for_each_field<'a>(
    body: &'a [u8],
    depth: u32,
    mut f: impl FnMut(u32, u8, &mut Reader<'a>) -> PResult<bool>,
) -> PResult<()> {
    if depth == 0 {
        return perr("exceeded maximum recursion depth");
    }
    let mut r = Reader::new(body);
    while !r.done() {
        let (field, wt) = r.tag()?;
        if wt == END_GROUP {
            return perr("unexpected end group");
        }
        if !f(field, wt, &mut r)? {
            r.skip(field, wt, depth)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_skips() {
        let mut v = Vec::new();
        put_varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
        assert_eq!(Reader::new(&v).varint().unwrap(), 300);
        assert!(Reader::new(&[0x80; 11]).varint().is_err());
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint()
                .is_err()
        );
        assert!(Reader::new(&[0x00]).tag().is_err());
        // A group with a nested unknown field, then a matching end group.
        let b = [0x23, 0x08, 0x01, 0x24];
        let mut r = Reader::new(&b);
        let (f, w) = r.tag().unwrap();
        r.skip(f, w, RECURSION_LIMIT).unwrap();
        assert!(r.done());
        assert!(for_each_field(&[0x24], 10, |_, _, _| Ok(false)).is_err());
    }
}
