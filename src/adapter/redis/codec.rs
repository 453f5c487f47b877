//! Byte-level codecs of the Redis internal keyspace: value envelopes, meta
//! records, sortable integer/float encodings, zset score text and the
//! UTF-8-or-base64 value envelope of the dump's JSON files.

use ::base64::Engine;
use ::base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::records::Envelope;
use crate::error::InputError;
use crate::gojson::{self, JsonWriter, base64 as gob64};

/// Magic byte shared by the string and HLL inline-TTL envelopes.
pub const ENVELOPE_MAGIC: u8 = 0xFF;
pub const STRING_VERSION: u8 = 0x01;
pub const HLL_VERSION: u8 = 0x02;
/// Flag bit of an envelope that carries an 8-byte expiry.
pub const FLAG_HAS_TTL: u8 = 0x01;

/// A value envelope that is malformed (the caller names the record kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeError(pub &'static str);

/// Split a `!redis|str|` / `!redis|hll|` value into `(body, expire_ms,
/// new_format)`. A value without the `FF <version>` prefix is a legacy raw
/// body. Expiries above `i64::MAX` are clamped as the live decoder does.
pub fn decode_envelope(value: &[u8], version: u8) -> Result<(&[u8], u64, bool), EnvelopeError> {
    if !(value.len() >= 2 && value[0] == ENVELOPE_MAGIC && value[1] == version) {
        return Ok((value, 0, false));
    }
    if value.len() < 3 {
        return Err(EnvelopeError("header truncated"));
    }
    let flags = value[2];
    let rest = &value[3..];
    if flags & FLAG_HAS_TTL == 0 {
        return Ok((rest, 0, true));
    }
    if rest.len() < 8 {
        return Err(EnvelopeError("ttl section truncated"));
    }
    let ms = be64(&rest[..8]).min(i64::MAX as u64);
    Ok((&rest[8..], ms, true))
}

/// The encoder's string value: always enveloped; a zero expiry means none.
pub fn encode_string_value(body: &[u8], expire_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 11);
    out.extend_from_slice(&[ENVELOPE_MAGIC, STRING_VERSION]);
    if expire_ms == 0 {
        out.push(0);
    } else {
        out.push(FLAG_HAS_TTL);
        out.extend_from_slice(&expire_ms.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// The encoder's HLL value: the raw sketch without a TTL (legacy shape),
/// else the envelope with the expiry.
pub fn encode_hll_value(sketch: &[u8], expire_ms: u64) -> Vec<u8> {
    if expire_ms == 0 {
        return sketch.to_vec();
    }
    let mut out = Vec::with_capacity(sketch.len() + 11);
    out.extend_from_slice(&[ENVELOPE_MAGIC, HLL_VERSION, FLAG_HAS_TTL]);
    out.extend_from_slice(&expire_ms.to_be_bytes());
    out.extend_from_slice(sketch);
    out
}

pub fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// A `!redis|ttl|` value: exactly 8 big-endian bytes, clamped to `i64::MAX`.
pub fn decode_ttl_value(v: &[u8]) -> Result<u64, InputError> {
    if v.len() != 8 {
        return Err(format!("length {} != 8", v.len()).into());
    }
    Ok(be64(v).min(i64::MAX as u64))
}

/// A hash/set/zset meta: `u64 count` (legacy) or `u64 count ‖ u64 expiry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountMeta {
    pub declared_len: i64,
    /// `Some` when the meta carries the inline expiry slot (even if 0).
    pub inline_expire: Option<u64>,
}

pub fn decode_count_meta(v: &[u8]) -> Result<CountMeta, InputError> {
    if v.len() != 8 && v.len() != 16 {
        return Err(format!("length {} not in {{8,16}}", v.len()).into());
    }
    let n = be64(&v[..8]);
    if n > i64::MAX as u64 {
        return Err(format!("declared len {n} overflows int64").into());
    }
    Ok(CountMeta {
        declared_len: n as i64,
        inline_expire: (v.len() == 16).then(|| be64(&v[8..16])),
    })
}

/// The encoder's count meta: 8 bytes without a TTL, 16 with one.
pub fn encode_count_meta(n: u64, expire_ms: u64) -> Vec<u8> {
    let mut out = n.to_be_bytes().to_vec();
    if expire_ms != 0 {
        out.extend_from_slice(&expire_ms.to_be_bytes());
    }
    out
}

/// A list meta: `Head ‖ Tail ‖ Len` (24) or `+ expiry` (32). Only `Len` and
/// the expiry are used.
pub fn decode_list_meta(v: &[u8]) -> Result<CountMeta, InputError> {
    if v.len() != 24 && v.len() != 32 {
        return Err(format!("length {} not in {{24,32}}", v.len()).into());
    }
    let n = be64(&v[16..24]);
    if n > i64::MAX as u64 {
        return Err(format!("declared len {n} overflows int64").into());
    }
    Ok(CountMeta {
        declared_len: n as i64,
        inline_expire: (v.len() == 32).then(|| be64(&v[24..32])),
    })
}

/// The encoder's list meta: `Head=0, Tail=n, Len=n` (+ expiry if any).
pub fn encode_list_meta(n: u64, expire_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
    if expire_ms != 0 {
        out.extend_from_slice(&expire_ms.to_be_bytes());
    }
    out
}

/// A stream meta: `Length ‖ LastMs ‖ LastSeq` (24), `+ expiry` (32) or
/// `+ expiry ‖ trim cursor` (48). The trim cursor is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamMeta {
    pub length: i64,
    pub last_ms: u64,
    pub last_seq: u64,
    pub inline_expire: Option<u64>,
}

pub fn decode_stream_meta(v: &[u8]) -> Result<StreamMeta, InputError> {
    if !matches!(v.len(), 24 | 32 | 48) {
        return Err(format!("length {} not in {{24,32,48}}", v.len()).into());
    }
    let n = be64(&v[..8]);
    if n > i64::MAX as u64 {
        return Err(format!("declared length {n} overflows int64").into());
    }
    Ok(StreamMeta {
        length: n as i64,
        last_ms: be64(&v[8..16]),
        last_seq: be64(&v[16..24]),
        inline_expire: (v.len() >= 32).then(|| be64(&v[24..32])),
    })
}

/// The encoder's stream meta: 24 bytes, or 32 with an expiry (never 48).
pub fn encode_stream_meta(length: i64, last_ms: u64, last_seq: u64, expire_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&(length as u64).to_be_bytes());
    out.extend_from_slice(&last_ms.to_be_bytes());
    out.extend_from_slice(&last_seq.to_be_bytes());
    if expire_ms != 0 {
        out.extend_from_slice(&expire_ms.to_be_bytes());
    }
    out
}

/// List item sequence → 8 sortable bytes (sign bit flipped).
pub fn encode_sortable_i64(seq: i64) -> [u8; 8] {
    ((seq as u64) ^ (1 << 63)).to_be_bytes()
}

pub fn decode_sortable_i64(b: &[u8]) -> i64 {
    (be64(b) ^ (1 << 63)) as i64
}

/// Score → 8 bytes whose unsigned order is the numeric order (−0 folds
/// onto +0).
pub fn encode_sortable_f64(f: f64) -> [u8; 8] {
    let f = if f == 0.0 { 0.0 } else { f };
    let bits = f.to_bits();
    let bits = if bits >> 63 == 0 {
        bits ^ (1 << 63)
    } else {
        !bits
    };
    bits.to_be_bytes()
}

/// A zset score as the dump writes it: Go's JSON float text, or the
/// strings `"+inf"` / `"-inf"`. `None` for NaN (rejected on intake).
pub fn format_score(score: f64) -> Option<String> {
    if score == f64::INFINITY {
        Some("\"+inf\"".into())
    } else if score == f64::NEG_INFINITY {
        Some("\"-inf\"".into())
    } else {
        gojson::format_json_float(score)
    }
}

/// `unmarshalRedisZSetScore`: exactly `"+inf"`/`"-inf"` (after trimming
/// whitespace), else `json.Unmarshal` into a float64 (`null` reads as 0).
pub fn parse_score(raw: &[u8]) -> Result<f64, InputError> {
    match raw.trim_ascii() {
        b"\"+inf\"" => return Ok(f64::INFINITY),
        b"\"-inf\"" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let f: f64 = gojson::unmarshal(raw)?;
    if f.is_nan() {
        return Err(InputError::invalid("zset score is NaN"));
    }
    Ok(f)
}

/// Write bytes as the dump's binary-safe value: a JSON string when they are
/// valid UTF-8, else `{"base64": "<base64url>"}`.
pub fn write_env(w: &mut JsonWriter, b: &[u8]) {
    if std::str::from_utf8(b).is_ok() {
        w.string_bytes(b);
    } else {
        w.begin_object()
            .key("base64")
            .string(&URL_SAFE_NO_PAD.encode(b))
            .end_object();
    }
}

/// The compact form of [`write_env`] (for JSONL lines).
#[cfg(test)]
pub fn env_compact(b: &[u8]) -> Vec<u8> {
    let mut w = JsonWriter::compact(gojson::Escape::Html);
    write_env(&mut w, b);
    w.finish()
}

/// `unmarshalRedisBinaryValue`: a JSON string gives its UTF-8 bytes;
/// anything else is `json.Unmarshal`ed into the `{"base64": …}` envelope,
/// which must then hold the key.
pub fn parse_env(raw: &[u8]) -> Result<Vec<u8>, InputError> {
    if raw.trim_ascii().first() == Some(&b'"') {
        let s: String = gojson::unmarshal(raw)?;
        return Ok(s.into_bytes());
    }
    let env: Envelope = gojson::unmarshal(raw)?;
    let b64 = env.base64.ok_or_else(|| InputError::invalid(NOT_ENV))?;
    gob64::decode(&gob64::RAW_URL, b64.as_bytes()).map_err(|e| InputError::invalid(e.to_string()))
}

const NOT_ENV: &str = "binary value is neither a string nor a base64 envelope";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gojson::Escape;
    use proptest::prelude::*;

    #[test]
    fn string_envelope_vectors() {
        assert_eq!(encode_string_value(b"ab", 0), b"\xff\x01\x00ab");
        assert_eq!(
            encode_string_value(b"ab", 0x0102030405060708),
            b"\xff\x01\x01\x01\x02\x03\x04\x05\x06\x07\x08ab"
        );
        assert_eq!(
            decode_envelope(b"\xff\x01\x00ab", STRING_VERSION),
            Ok((&b"ab"[..], 0, true))
        );
        assert_eq!(
            decode_envelope(b"plain", STRING_VERSION),
            Ok((&b"plain"[..], 0, false))
        );
        assert_eq!(
            decode_envelope(b"\xff\x01", STRING_VERSION),
            Err(EnvelopeError("header truncated"))
        );
        assert_eq!(
            decode_envelope(b"\xff\x01\x01\x00", STRING_VERSION),
            Err(EnvelopeError("ttl section truncated"))
        );
        // Unknown flag bits are ignored; the expiry is clamped.
        let v = b"\xff\x01\x03\xff\xff\xff\xff\xff\xff\xff\xffz";
        assert_eq!(
            decode_envelope(v, STRING_VERSION),
            Ok((&b"z"[..], i64::MAX as u64, true))
        );
        // The HLL version byte differs.
        assert_eq!(
            decode_envelope(b"\xff\x01\x00", HLL_VERSION),
            Ok((&b"\xff\x01\x00"[..], 0, false))
        );
        assert_eq!(encode_hll_value(b"sk", 0), b"sk");
        assert_eq!(
            encode_hll_value(b"sk", 1),
            b"\xff\x02\x01\x00\x00\x00\x00\x00\x00\x00\x01sk"
        );
    }

    #[test]
    fn metas() {
        assert_eq!(decode_ttl_value(&[0; 7]), Err("length 7 != 8".into()));
        assert_eq!(decode_ttl_value(&[0xff; 8]), Ok(i64::MAX as u64));
        let m = decode_count_meta(&encode_count_meta(3, 0)).unwrap();
        assert_eq!((m.declared_len, m.inline_expire), (3, None));
        let m = decode_count_meta(&encode_count_meta(3, 9)).unwrap();
        assert_eq!(m.inline_expire, Some(9));
        assert!(decode_count_meta(&[0x80, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode_count_meta(&[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_ok());
        assert!(decode_count_meta(&[0; 9]).is_err());
        assert_eq!(encode_list_meta(2, 0).len(), 24);
        let m = decode_list_meta(&encode_list_meta(2, 7)).unwrap();
        assert_eq!((m.declared_len, m.inline_expire), (2, Some(7)));
        let s = decode_stream_meta(&encode_stream_meta(5, 6, 7, 8)).unwrap();
        assert_eq!((s.length, s.last_ms, s.last_seq), (5, 6, 7));
        assert_eq!(s.inline_expire, Some(8));
        let mut v48 = encode_stream_meta(1, 2, 3, 0);
        v48.extend_from_slice(&[0; 24]);
        assert_eq!(decode_stream_meta(&v48).unwrap().inline_expire, Some(0));
        assert!(decode_stream_meta(&[0; 40]).is_err());
    }

    #[test]
    fn sortable_vectors() {
        assert_eq!(encode_sortable_i64(0), [0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(encode_sortable_i64(1), [0x80, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            encode_sortable_i64(-1),
            [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        let hex = |f: f64| hex::encode(encode_sortable_f64(f));
        assert_eq!(hex(0.0), "8000000000000000");
        assert_eq!(hex(-0.0), "8000000000000000");
        assert_eq!(hex(1.0), "bff0000000000000");
        assert_eq!(hex(-1.0), "400fffffffffffff");
        assert_eq!(hex(1.5), "bff8000000000000");
        assert_eq!(hex(f64::INFINITY), "fff0000000000000");
        assert_eq!(hex(f64::NEG_INFINITY), "000fffffffffffff");
    }

    #[test]
    fn score_text_vectors() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (100.0, "100"),
            (1.5, "1.5"),
            (1e15, "1000000000000000"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (-1e21, "-1e+21"),
            (2.5e21, "2.5e+21"),
            (1.5e-7, "1.5e-7"),
            (9.99999e-7, "9.99999e-7"),
            (1.2345678901234568e20, "123456789012345680000"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.2345e-6, "0.0000012345"),
            (1e-10, "1e-10"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (f64::INFINITY, "\"+inf\""),
            (f64::NEG_INFINITY, "\"-inf\""),
        ];
        for (v, want) in cases {
            assert_eq!(format_score(*v).unwrap(), *want, "{v:e}");
        }
        assert!(format_score(f64::NAN).is_none());
    }

    #[test]
    fn score_parsing_is_go_lenient() {
        assert_eq!(parse_score(b" \"+inf\" ").unwrap(), f64::INFINITY);
        assert_eq!(parse_score(b"\"-inf\"").unwrap(), f64::NEG_INFINITY);
        assert!(parse_score(b"\"inf\"").is_err());
        assert!(parse_score(b"\"Infinity\"").is_err());
        assert!(parse_score(b"\"\\u002binf\"").is_err());
        assert_eq!(parse_score(b"null").unwrap(), 0.0);
        assert!(parse_score(b"1e400").is_err());
        assert!(parse_score(b"").is_err());
        assert!(parse_score(b"-0").unwrap().is_sign_negative());
        assert_eq!(parse_score(b"1E+2").unwrap(), 100.0);
    }

    #[test]
    fn env_roundtrip_and_leniency() {
        assert_eq!(env_compact(b"a<b"), br#""a\u003cb""#);
        assert_eq!(env_compact(b"\xff"), br#"{"base64":"_w"}"#);
        assert_eq!(parse_env(br#""x""#).unwrap(), b"x".to_vec());
        assert_eq!(parse_env(br#"{"base64":"_w"}"#).unwrap(), vec![0xff]);
        assert_eq!(parse_env(br#"{"BASE64":"_x"}"#).unwrap(), vec![0xff]);
        assert_eq!(parse_env(br#"{"base64":""}"#).unwrap(), Vec::<u8>::new());
        assert_eq!(
            parse_env(br#"{"base64":"QQ","base64":"Qg"}"#).unwrap(),
            b"B".to_vec()
        );
        assert!(parse_env(br#"{"base64":5,"base64":"Qg"}"#).is_err());
        assert!(parse_env(br#"{"base64":"QQ=="}"#).is_err());
        assert!(parse_env(br#"{"base64":null}"#).is_err());
        assert!(parse_env(br#"{}"#).is_err());
        assert!(parse_env(b"null").is_err());
        assert!(parse_env(b"123").is_err());
        assert!(parse_env(b"").is_err());
        // Invalid UTF-8 inside a string becomes U+FFFD per byte.
        assert_eq!(
            parse_env(b"\"\xe2\x82A\"").unwrap(),
            "\u{FFFD}\u{FFFD}A".as_bytes()
        );
    }

    proptest! {
        #[test]
        fn env_roundtrip(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(parse_env(&env_compact(&b)).unwrap(), b.clone());
            let mut w = JsonWriter::pretty(Escape::Html);
            write_env(&mut w, &b);
            prop_assert_eq!(parse_env(&w.finish()).unwrap(), b);
        }

        #[test]
        fn score_roundtrip(bits in any::<u64>()) {
            let f = f64::from_bits(bits);
            prop_assume!(!f.is_nan());
            let s = format_score(f).unwrap();
            let back = parse_score(s.as_bytes()).unwrap();
            prop_assert_eq!(back.to_bits(), f.to_bits());
        }

        #[test]
        fn sortable_f64_orders_numerically(a in any::<f64>(), b in any::<f64>()) {
            prop_assume!(!a.is_nan() && !b.is_nan());
            let (ka, kb) = (encode_sortable_f64(a), encode_sortable_f64(b));
            if a < b { prop_assert!(ka < kb); }
            if a == b { prop_assert_eq!(ka, kb); }
        }

        #[test]
        fn sortable_i64_roundtrip(s in any::<i64>(), t in any::<i64>()) {
            prop_assert_eq!(decode_sortable_i64(&encode_sortable_i64(s)), s);
            prop_assert_eq!(s < t, encode_sortable_i64(s) < encode_sortable_i64(t));
        }

        #[test]
        fn envelope_roundtrip(body in proptest::collection::vec(any::<u8>(), 0..20), ms in 0u64..(i64::MAX as u64)) {
            let v = encode_string_value(&body, ms);
            prop_assert_eq!(decode_envelope(&v, STRING_VERSION).unwrap(), (&body[..], ms, true));
            let h = encode_hll_value(&body, ms);
            if ms != 0 {
                prop_assert_eq!(decode_envelope(&h, HLL_VERSION).unwrap(), (&body[..], ms, true));
            }
        }
    }
}
