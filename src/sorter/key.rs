//! Order-preserving pieces of sort keys: a key built from pieces compares,
//! byte for byte, like the tuple of its pieces.

/// Append `raw` as a self-delimiting piece that orders like `raw`:
/// `00` becomes `00 FF`, and the piece ends with `00 00`.
pub fn push_bytes(out: &mut Vec<u8>, raw: &[u8]) {
    for &b in raw {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// Append an unsigned integer (4 bytes, big-endian).
pub fn push_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Append an unsigned integer (8 bytes, big-endian).
pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Append a signed integer as 8 bytes that order like the signed value.
pub fn push_i64(out: &mut Vec<u8>, v: i64) {
    push_u64(out, (v as u64) ^ (1 << 63));
}

/// Reads a key's pieces back, left to right; `None` when the key does not
/// hold the piece asked for.
pub struct KeyReader<'a>(&'a [u8]);

impl<'a> KeyReader<'a> {
    pub fn new(key: &'a [u8]) -> Self {
        KeyReader(key)
    }

    /// A piece written by [`push_bytes`].
    pub fn bytes(&mut self) -> Option<Vec<u8>> {
        let k = self.0;
        let mut raw = Vec::new();
        let mut i = 0;
        loop {
            match (*k.get(i)?, k.get(i + 1)) {
                (0, Some(0)) => {
                    self.0 = &k[i + 2..];
                    return Some(raw);
                }
                (0, Some(0xff)) => {
                    raw.push(0);
                    i += 2;
                }
                (0, _) => return None,
                (b, _) => {
                    raw.push(b);
                    i += 1;
                }
            }
        }
    }

    pub fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    pub fn u32(&mut self) -> Option<u32> {
        let (b, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*b))
    }

    pub fn u64(&mut self) -> Option<u64> {
        let (b, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_be_bytes(*b))
    }

    pub fn i64(&mut self) -> Option<i64> {
        self.u64().map(|v| (v ^ (1 << 63)) as i64)
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(raw: &[u8], n: i64, tail: &[u8]) -> Vec<u8> {
        let mut k = Vec::new();
        push_bytes(&mut k, raw);
        push_i64(&mut k, n);
        k.extend_from_slice(tail);
        k
    }

    #[test]
    fn malformed_pieces() {
        assert!(KeyReader::new(b"ab").bytes().is_none());
        assert!(KeyReader::new(b"a\0b").bytes().is_none());
        assert!(KeyReader::new(b"a\0").bytes().is_none());
        assert!(KeyReader::new(&[1; 7]).u64().is_none());
        assert!(KeyReader::new(b"").u8().is_none());
    }

    proptest! {
        #[test]
        fn pieces_order_like_tuples_and_read_back(
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(0xff), any::<u8>()], 0..6),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(0xff), any::<u8>()], 0..6),
            x in any::<i64>(),
            y in any::<i64>(),
        ) {
            let (ka, kb) = (key(&a, x, b"t"), key(&b, y, b"u"));
            prop_assert_eq!(ka.cmp(&kb), (&a, x, b"t").cmp(&(&b, y, b"u")));
            let mut r = KeyReader::new(&ka);
            prop_assert_eq!(r.bytes(), Some(a));
            prop_assert_eq!(r.i64(), Some(x));
            prop_assert_eq!(r.u8(), Some(b't'));
            prop_assert!(r.rest().is_empty());
        }
    }
}
