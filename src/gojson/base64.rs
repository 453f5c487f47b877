//! Go's `encoding/base64` decoders (`StdEncoding`, `RawURLEncoding`), which
//! are more lenient than RFC 4648 decoders: `\r` and `\n` are skipped
//! anywhere, the unused bits of the last symbol may be non-zero (`QR==`
//! decodes like `QQ==`), and for the padded encoding nothing but newlines
//! may follow the padding. Encoding needs nothing special; the `base64`
//! crate does it.

use std::fmt;

/// One of Go's encodings.
pub struct Encoding {
    url: bool,
    padded: bool,
}

/// `base64.StdEncoding`.
pub const STD: Encoding = Encoding {
    url: false,
    padded: true,
};

/// `base64.RawURLEncoding`.
pub const RAW_URL: Encoding = Encoding {
    url: true,
    padded: false,
};

/// Go's `CorruptInputError`: the offset of the bad input byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptInput(pub usize);

impl fmt::Display for CorruptInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "illegal base64 data at input byte {}", self.0)
    }
}

impl std::error::Error for CorruptInput {}

impl Encoding {
    fn value(&self, c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' if !self.url => 62,
            b'/' if !self.url => 63,
            b'-' if self.url => 62,
            b'_' if self.url => 63,
            _ => return None,
        }))
    }
}

fn skip_newlines(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && matches!(s[i], b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// `enc.DecodeString(s)`.
pub fn decode(enc: &Encoding, s: &[u8]) -> Result<Vec<u8>, CorruptInput> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 2);
    let mut i = 0;
    loop {
        // One quantum of up to four symbols.
        let mut acc = 0u32;
        let mut j = 0;
        while j < 4 {
            i = skip_newlines(s, i);
            if i == s.len() {
                if j == 0 {
                    return Ok(out);
                }
                if j == 1 || enc.padded {
                    return Err(CorruptInput(i - j));
                }
                break;
            }
            let c = s[i];
            i += 1;
            if let Some(v) = enc.value(c) {
                acc |= v << (18 - 6 * j);
                j += 1;
                continue;
            }
            if c != b'=' || !enc.padded {
                return Err(CorruptInput(i - 1));
            }
            // Padding ends the input.
            match j {
                0 | 1 => return Err(CorruptInput(i - 1)),
                2 => {
                    i = skip_newlines(s, i);
                    if i == s.len() {
                        return Err(CorruptInput(s.len()));
                    }
                    if s[i] != b'=' {
                        return Err(CorruptInput(i - 1));
                    }
                    i += 1;
                }
                _ => {}
            }
            i = skip_newlines(s, i);
            if i < s.len() {
                return Err(CorruptInput(i));
            }
            break;
        }
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..j - 1]);
        if j < 4 {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use proptest::prelude::*;

    #[test]
    fn std_vectors() {
        let d = |s: &str| decode(&STD, s.as_bytes());
        assert_eq!(d("").unwrap(), b"");
        assert_eq!(d("QQ==").unwrap(), b"A");
        assert_eq!(d("QR==").unwrap(), b"A");
        assert_eq!(d("QUI=").unwrap(), b"AB");
        assert_eq!(d("QUJD").unwrap(), b"ABC");
        assert_eq!(d("Q\nQ=\r\n=\n").unwrap(), b"A");
        assert_eq!(d("QQ").unwrap_err(), CorruptInput(0));
        assert_eq!(d("QUI").unwrap_err(), CorruptInput(0));
        assert_eq!(d("Q===").unwrap_err(), CorruptInput(1));
        assert_eq!(d("QQ=").unwrap_err(), CorruptInput(3));
        assert_eq!(d("QQ==QQ==").unwrap_err(), CorruptInput(4));
        assert_eq!(d("QQ=A").unwrap_err(), CorruptInput(2));
        assert_eq!(d("Q-==").unwrap_err(), CorruptInput(1));
        assert!(d("====").is_err());
    }

    #[test]
    fn raw_url_vectors() {
        let d = |s: &str| decode(&RAW_URL, s.as_bytes());
        assert_eq!(d("_w").unwrap(), b"\xff");
        assert_eq!(d("_x").unwrap(), b"\xff");
        assert_eq!(d("QUI").unwrap(), b"AB");
        assert_eq!(d("Q\nUI\r").unwrap(), b"AB");
        assert_eq!(d("Q").unwrap_err(), CorruptInput(0));
        assert_eq!(d("QQ==").unwrap_err(), CorruptInput(2));
        assert_eq!(d("Q+").unwrap_err(), CorruptInput(1));
    }

    proptest! {
        #[test]
        fn canonical_text_round_trips(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let std = base64::engine::general_purpose::STANDARD.encode(&b);
            prop_assert_eq!(decode(&STD, std.as_bytes()).unwrap(), b.clone());
            let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b);
            prop_assert_eq!(decode(&RAW_URL, url.as_bytes()).unwrap(), b);
        }
    }
}
