//! The two protobuf payloads the Redis adapter touches, hand-coded:
//! `RedisStreamEntry { string id = 1; repeated string fields = 2; }` (both
//! directions) and the legacy `RedisZSetValue { repeated RedisZSetEntry
//! entries = 1; }` with `RedisZSetEntry { string member = 1; double score
//! = 2; }` (decode only).
//!
//! Decoding follows Go's protobuf runtime: unknown fields (and known field
//! numbers with a mismatched wire type) are skipped, the last occurrence of
//! a scalar wins, and proto3 `string` fields must be valid UTF-8.

use crate::gojson::protowire::{
    BYTES, FIXED64, ProtoError, RECURSION_LIMIT, for_each_field, put_bytes, put_opt_string, utf8,
};

/// Magic in front of a serialized stream entry.
pub const STREAM_ENTRY_MAGIC: &[u8] = &[0x00, b'R', b'X', b'E', 0x01];
/// Magic in front of a legacy single-blob sorted set.
pub const ZSET_BLOB_MAGIC: &[u8] = &[0x00, b'R', b'Z', 0x01];

/// Serialize a stream entry (magic included) as Go's `proto.Marshal` does:
/// `id` first when non-empty, then every field element in order (empty
/// ones too). Fails on non-UTF-8 text, which proto3 refuses to marshal.
pub fn encode_stream_entry(id: &str, fields: &[Vec<u8>]) -> Result<Vec<u8>, ProtoError> {
    let mut out = STREAM_ENTRY_MAGIC.to_vec();
    put_opt_string(&mut out, 1, id);
    for f in fields {
        if std::str::from_utf8(f).is_err() {
            return Err(ProtoError(
                "field RedisStreamEntry.fields contains invalid UTF-8".into(),
            ));
        }
        put_bytes(&mut out, 2, f);
    }
    Ok(out)
}

/// Decode a stream entry body (magic already removed): the interleaved
/// field list. The id inside is ignored by the dump (it comes from the key)
/// but still has to be valid UTF-8.
pub fn decode_stream_entry(b: &[u8]) -> Result<Vec<String>, ProtoError> {
    let mut fields = Vec::new();
    for_each_field(b, RECURSION_LIMIT, |num, wire, r| match (num, wire) {
        (1, BYTES) => utf8(r.bytes()?).map(|_| true),
        (2, BYTES) => {
            fields.push(utf8(r.bytes()?)?);
            Ok(true)
        }
        _ => Ok(false),
    })?;
    Ok(fields)
}

/// Decode a legacy zset blob body (magic already removed) into its
/// `(member, score)` entries in stored order.
pub fn decode_zset_blob(b: &[u8]) -> Result<Vec<(String, f64)>, ProtoError> {
    let mut out = Vec::new();
    for_each_field(b, RECURSION_LIMIT, |num, wire, r| {
        if (num, wire) != (1, BYTES) {
            return Ok(false);
        }
        let (mut member, mut score) = (String::new(), 0f64);
        for_each_field(r.bytes()?, RECURSION_LIMIT - 1, |num, wire, e| {
            match (num, wire) {
                (1, BYTES) => member = utf8(e.bytes()?)?,
                (2, FIXED64) => score = f64::from_bits(e.fixed64()?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        out.push((member, score));
        Ok(true)
    })?;
    Ok(out)
}

#[cfg(test)]
pub(crate) fn encode_zset_blob(entries: &[(&[u8], f64)]) -> Vec<u8> {
    let mut out = ZSET_BLOB_MAGIC.to_vec();
    for (m, s) in entries {
        let mut e = Vec::new();
        if !m.is_empty() {
            put_bytes(&mut e, 1, m);
        }
        if *s != 0.0 || s.is_sign_negative() {
            crate::gojson::protowire::put_fixed64(&mut e, 2, s.to_bits());
        }
        put_bytes(&mut out, 1, &e);
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
