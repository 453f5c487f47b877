//! Key bytes ↔ file-name segments: RFC 3986 unreserved bytes kept, the rest
//! `%HH` (uppercase), a SHA-256 fallback for names past 240 bytes (or that
//! could be mistaken for one), and `b64.` for DynamoDB binary keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const MAX_SEGMENT: usize = 240;
const SHA_PREFIX_HEX: usize = 32;
const SHA_SUFFIX_RAW: usize = 64;
pub const BINARY_PREFIX: &str = "b64.";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("invalid encoded segment {0:?}")]
    Invalid(String),
    #[error("segment {0:?} is a SHA fallback; its original bytes live in KEYMAP.jsonl")]
    NeedsKeymap(String),
}

#[inline]
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

fn percent_encode_into(raw: &[u8], out: &mut String) {
    for &b in raw {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(UPPER_HEX[(b >> 4) as usize] as char);
            out.push(UPPER_HEX[(b & 15) as usize] as char);
        }
    }
}

fn encoded_len(raw: &[u8]) -> usize {
    raw.iter()
        .map(|&b| if is_unreserved(b) { 1 } else { 3 })
        .sum()
}

/// True when `s` has the shape of a SHA fallback: 32 hex chars then `__`.
pub fn looks_like_fallback(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= SHA_PREFIX_HEX + 2
        && b[..SHA_PREFIX_HEX].iter().all(|c| c.is_ascii_hexdigit())
        && &b[SHA_PREFIX_HEX..SHA_PREFIX_HEX + 2] == b"__"
}

/// `<first 32 hex of sha256(raw)>__<percent-encoded first 64 raw bytes>`.
pub fn sha_fallback(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    let mut s = hex::encode(digest)[..SHA_PREFIX_HEX].to_string();
    s.push_str("__");
    percent_encode_into(&raw[..raw.len().min(SHA_SUFFIX_RAW)], &mut s);
    s
}

/// Encode a key as one path segment. The boolean is true when the result is
/// a SHA fallback (and so needs a KEYMAP record to be reversed).
pub fn encode_segment(raw: &[u8]) -> (String, bool) {
    if raw.len() > MAX_SEGMENT || encoded_len(raw) > MAX_SEGMENT {
        return (sha_fallback(raw), true);
    }
    let mut s = String::with_capacity(encoded_len(raw));
    percent_encode_into(raw, &mut s);
    if looks_like_fallback(&s) || s.starts_with(BINARY_PREFIX) {
        return (sha_fallback(raw), true);
    }
    (s, false)
}

/// The segment only (for callers that do not keep a KEYMAP).
pub fn encode(raw: &[u8]) -> String {
    encode_segment(raw).0
}

/// DynamoDB `B` keys: `b64.` + unpadded base64url, or a SHA fallback once
/// that would pass 240 bytes.
pub fn encode_binary_segment(raw: &[u8]) -> (String, bool) {
    let enc_len = (raw.len() * 8).div_ceil(6);
    if enc_len + BINARY_PREFIX.len() > MAX_SEGMENT {
        return (sha_fallback(raw), true);
    }
    let mut s = String::from(BINARY_PREFIX);
    URL_SAFE_NO_PAD.encode_string(raw, &mut s);
    (s, false)
}

/// Go's lenient RawURLEncoding decode: `\r`/`\n` ignored anywhere, non-zero
/// trailing bits accepted, `=` and a 1-char remainder rejected.
pub fn decode_raw_url_lenient(s: &str) -> Option<Vec<u8>> {
    crate::gojson::base64::decode(&crate::gojson::base64::RAW_URL, s.as_bytes()).ok()
}

/// Reverse `encode_segment` / `encode_binary_segment`, as leniently as
/// upstream's decoder (lowercase hex and escaped unreserved bytes accepted).
pub fn decode_segment(seg: &str) -> Result<Vec<u8>, SegmentError> {
    if seg.len() > MAX_SEGMENT {
        return Err(SegmentError::Invalid(seg.to_string()));
    }
    if looks_like_fallback(seg) {
        return Err(SegmentError::NeedsKeymap(seg.to_string()));
    }
    if let Some(rest) = seg.strip_prefix(BINARY_PREFIX) {
        return decode_raw_url_lenient(rest).ok_or_else(|| SegmentError::Invalid(seg.to_string()));
    }
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let hex = |x: u8| (x as char).to_digit(16);
            match (
                b.get(i + 1).and_then(|&x| hex(x)),
                b.get(i + 2).and_then(|&x| hex(x)),
            ) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(SegmentError::Invalid(seg.to_string())),
            }
            i += 3;
        } else if is_unreserved(c) {
            out.push(c);
            i += 1;
        } else {
            return Err(SegmentError::Invalid(seg.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reference_vectors() {
        assert_eq!(encode(b"abc-._XYZ09"), "abc-._XYZ09");
        assert_eq!(encode(b"~"), "%7E");
        assert_eq!(encode(b"a/b%"), "a%2Fb%25");
        assert_eq!(encode(b""), "");
        assert_eq!(
            encode(b"b64.foo"),
            "72ef1a090c013093607ce5a62f598cf4__b64.foo"
        );
        assert_eq!(
            encode(&[b'a'; 241]),
            format!("ec6e326ef29fe322b62111584194c54e__{}", "a".repeat(64))
        );
        assert_eq!(
            encode(&[1u8; 81]),
            format!("60c285d83690be0345cc75ae7c286b6e__{}", "%01".repeat(64))
        );
        assert_eq!(encode(&[b'a'; 240]), "a".repeat(240));
        assert_eq!(encode(&[1u8; 80]), "%01".repeat(80));
        assert!(encode_segment(b"0123456789abcdef0123456789ABCDEF__x").1);
    }

    #[test]
    fn binary_segments() {
        assert_eq!(encode_binary_segment(b"").0, "b64.");
        assert_eq!(encode_binary_segment(&[0xfb, 0xff]).0, "b64.-_8");
        assert!(!encode_binary_segment(&[7u8; 177]).1);
        assert!(encode_binary_segment(&[7u8; 178]).1);
    }

    #[test]
    fn lenient_decoding() {
        assert_eq!(decode_segment("%4a%41").unwrap(), b"JA");
        assert!(decode_segment("%4").is_err());
        assert!(decode_segment("%zz").is_err());
        assert!(decode_segment("a b").is_err());
        assert!(matches!(
            decode_segment("72ef1a090c013093607ce5a62f598cf4__b64.foo"),
            Err(SegmentError::NeedsKeymap(_))
        ));
        assert_eq!(decode_segment("b64.QR").unwrap(), b"A");
        assert_eq!(decode_segment("b64.QQ\n").unwrap(), b"A");
        assert!(decode_segment("b64.QQ==").is_err());
        assert!(decode_segment("b64.Q").is_err());
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (seg, fallback) = encode_segment(&raw);
            prop_assert!(seg.len() <= MAX_SEGMENT);
            if !fallback {
                prop_assert_eq!(decode_segment(&seg).unwrap(), raw);
            }
        }

        #[test]
        fn binary_roundtrip(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let (seg, fallback) = encode_binary_segment(&raw);
            if !fallback {
                prop_assert_eq!(decode_segment(&seg).unwrap(), raw);
            }
        }
    }
}
