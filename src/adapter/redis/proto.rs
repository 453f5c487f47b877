//! The two protobuf payloads the Redis adapter touches, hand-coded:
//! `RedisStreamEntry { string id = 1; repeated string fields = 2; }` (both
//! directions) and the legacy `RedisZSetValue { repeated RedisZSetEntry
//! entries = 1; }` with `RedisZSetEntry { string member = 1; double score
//! = 2; }` (decode only).
//!
//! Decoding follows Go's protobuf runtime: unknown fields (and known field
//! numbers with a mismatched wire type) are skipped, the last occurrence of
//! a scalar wins, and proto3 `string` fields must be valid UTF-8.

/// Magic in front of a serialized stream entry.
pub const STREAM_ENTRY_MAGIC: &[u8] = &[0x00, b'R', b'X', b'E', 0x01];
/// Magic in front of a legacy single-blob sorted set.
pub const ZSET_BLOB_MAGIC: &[u8] = &[0x00, b'R', b'Z', 0x01];

/// Go's default protobuf recursion limit (applies to nested groups here).
const RECURSION_LIMIT: usize = 10_000;

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_BYTES: u8 = 2;
const WIRE_SGROUP: u8 = 3;
const WIRE_EGROUP: u8 = 4;
const WIRE_FIXED32: u8 = 5;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes_field(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    put_varint(out, (field << 3) | WIRE_BYTES as u64);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Serialize a stream entry (magic included) as Go's `proto.Marshal` does:
/// `id` first when non-empty, then every field element in order (empty
/// ones too). Fails on non-UTF-8 text, which proto3 refuses to marshal.
pub fn encode_stream_entry(id: &str, fields: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let mut out = STREAM_ENTRY_MAGIC.to_vec();
    if !id.is_empty() {
        put_bytes_field(&mut out, 1, id.as_bytes());
    }
    for f in fields {
        if std::str::from_utf8(f).is_err() {
            return Err("proto: field RedisStreamEntry.fields contains invalid UTF-8".to_string());
        }
        put_bytes_field(&mut out, 2, f);
    }
    Ok(out)
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for k in 0..10 {
            let Some(&c) = self.b.get(self.i) else {
                return Err(INVALID.into());
            };
            self.i += 1;
            if k == 9 && c > 1 {
                return Err(INVALID.into());
            }
            v |= ((c & 0x7f) as u64) << (7 * k);
            if c < 0x80 {
                return Ok(v);
            }
        }
        Err(INVALID.into())
    }

    fn tag(&mut self) -> Result<(u64, u8), String> {
        let t = self.varint()?;
        let num = t >> 3;
        if num == 0 || num > (1 << 29) - 1 {
            return Err(INVALID.into());
        }
        Ok((num, (t & 7) as u8))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let end = (self.i as u64)
            .checked_add(n)
            .filter(|&e| e <= self.b.len() as u64)
            .ok_or_else(|| INVALID.to_string())? as usize;
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }

    /// Consume one field value of an unwanted field.
    fn skip(&mut self, num: u64, wire: u8, depth: usize) -> Result<(), String> {
        match wire {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_FIXED64 => self.take(8).map(drop),
            WIRE_FIXED32 => self.take(4).map(drop),
            WIRE_BYTES => {
                let n = self.varint()?;
                self.take(n).map(drop)
            }
            WIRE_SGROUP => {
                if depth >= RECURSION_LIMIT {
                    return Err(INVALID.into());
                }
                loop {
                    if self.i >= self.b.len() {
                        return Err(INVALID.into());
                    }
                    let (n, w) = self.tag()?;
                    if w == WIRE_EGROUP {
                        return if n == num {
                            Ok(())
                        } else {
                            Err(INVALID.into())
                        };
                    }
                    self.skip(n, w, depth + 1)?;
                }
            }
            _ => Err(INVALID.into()),
        }
    }

    fn done(&self) -> bool {
        self.i >= self.b.len()
    }
}

const INVALID: &str = "proto: cannot parse invalid wire-format data";

fn utf8_string(b: &[u8], field: &str) -> Result<String, String> {
    String::from_utf8(b.to_vec())
        .map_err(|_| format!("string field contains invalid UTF-8 ({field})"))
}

/// Decode a stream entry body (magic already removed): the interleaved
/// field list. The id inside is ignored by the dump (it comes from the key)
/// but still has to be valid UTF-8.
pub fn decode_stream_entry(b: &[u8]) -> Result<Vec<String>, String> {
    let mut r = Reader { b, i: 0 };
    let mut fields = Vec::new();
    while !r.done() {
        let (num, wire) = r.tag()?;
        match (num, wire) {
            (1, WIRE_BYTES) => {
                let n = r.varint()?;
                utf8_string(r.take(n)?, "RedisStreamEntry.id")?;
            }
            (2, WIRE_BYTES) => {
                let n = r.varint()?;
                fields.push(utf8_string(r.take(n)?, "RedisStreamEntry.fields")?);
            }
            _ => r.skip(num, wire, 0)?,
        }
    }
    Ok(fields)
}

/// Decode a legacy zset blob body (magic already removed) into its
/// `(member, score)` entries in stored order.
pub fn decode_zset_blob(b: &[u8]) -> Result<Vec<(String, f64)>, String> {
    let mut r = Reader { b, i: 0 };
    let mut out = Vec::new();
    while !r.done() {
        let (num, wire) = r.tag()?;
        if (num, wire) != (1, WIRE_BYTES) {
            r.skip(num, wire, 0)?;
            continue;
        }
        let n = r.varint()?;
        let mut e = Reader {
            b: r.take(n)?,
            i: 0,
        };
        let mut member = String::new();
        let mut score = 0f64;
        while !e.done() {
            let (num, wire) = e.tag()?;
            match (num, wire) {
                (1, WIRE_BYTES) => {
                    let n = e.varint()?;
                    member = utf8_string(e.take(n)?, "RedisZSetEntry.member")?;
                }
                (2, WIRE_FIXED64) => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(e.take(8)?);
                    score = f64::from_le_bytes(a);
                }
                _ => e.skip(num, wire, 0)?,
            }
        }
        out.push((member, score));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) fn encode_zset_blob(entries: &[(&[u8], f64)]) -> Vec<u8> {
    let mut out = ZSET_BLOB_MAGIC.to_vec();
    for (m, s) in entries {
        let mut e = Vec::new();
        if !m.is_empty() {
            put_bytes_field(&mut e, 1, m);
        }
        if *s != 0.0 || s.is_sign_negative() {
            put_varint(&mut e, (2 << 3) | WIRE_FIXED64 as u64);
            e.extend_from_slice(&s.to_le_bytes());
        }
        put_bytes_field(&mut out, 1, &e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stream_entry_golden_bytes() {
        let v = encode_stream_entry("1-0", &[b"k".to_vec(), b"v".to_vec()]).unwrap();
        assert_eq!(
            hex::encode(v),
            "0052584501".to_string() + "0a03312d30" + "12016b" + "120176"
        );
        let v = encode_stream_entry("1-0", &[Vec::new()]).unwrap();
        assert!(v.ends_with(&[0x12, 0x00]));
        assert!(encode_stream_entry("1-0", &[vec![0xff]]).is_err());
    }

    #[test]
    fn stream_entry_decoding_rules() {
        let v = encode_stream_entry("1-0", &[b"a".to_vec(), b"".to_vec()]).unwrap();
        assert_eq!(decode_stream_entry(&v[5..]).unwrap(), ["a", ""]);
        // Unknown fields, including a group and a mistyped field 2, are skipped.
        let mut b = vec![0x18, 0x05, 0x23, 0x08, 0x01, 0x24, 0x11];
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&[0x12, 0x01, b'x']);
        assert_eq!(decode_stream_entry(&b).unwrap(), ["x"]);
        assert!(decode_stream_entry(&[0x12, 0x01, 0xff]).is_err());
        assert!(decode_stream_entry(&[0x0a, 0x01, 0xff]).is_err());
        assert!(decode_stream_entry(&[0x12, 0x05, b'x']).is_err());
        assert!(decode_stream_entry(&[0x00]).is_err());
        assert!(decode_stream_entry(&[0x24]).is_err());
        assert!(decode_stream_entry(&[0x23]).is_err());
        assert!(decode_stream_entry(&[0x0f]).is_err());
        assert!(decode_stream_entry(&[0x80; 11]).is_err());
    }

    #[test]
    fn zset_blob_rules() {
        let b = encode_zset_blob(&[(b"a", 1.5), (b"", -0.0), (b"a", 2.0)]);
        let e = decode_zset_blob(&b[4..]).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0], ("a".to_string(), 1.5));
        assert!(e[1].1.is_sign_negative());
        assert!(decode_zset_blob(&encode_zset_blob(&[(b"\xff", 1.0)])[4..]).is_err());
        assert_eq!(decode_zset_blob(&[]).unwrap(), []);
    }

    proptest! {
        #[test]
        fn stream_entry_roundtrip(fields in proptest::collection::vec(".{0,6}", 0..6), ms in any::<u64>(), seq in any::<u64>()) {
            let id = format!("{ms}-{seq}");
            let f: Vec<Vec<u8>> = fields.iter().map(|s| s.as_bytes().to_vec()).collect();
            let v = encode_stream_entry(&id, &f).unwrap();
            prop_assert!(v.starts_with(STREAM_ENTRY_MAGIC));
            prop_assert_eq!(decode_stream_entry(&v[5..]).unwrap(), fields);
        }

        #[test]
        fn decoders_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_stream_entry(&b);
            let _ = decode_zset_blob(&b);
        }
    }
}
