//! The `EKVPBBL1` snapshot payload: a streaming reader and writer.
//!
//! Layout: magic `EKVPBBL1`, LE u64 last-commit TS, then entries
//! `LE64 keyLen ‖ key ‖ LE64 valLen ‖ value` until a clean EOF. The key is
//! `userKey ‖ BE64(!commitTS)`, the value `flags ‖ LE64 expireAt ‖ body`.
//! Neither side ever holds more than one entry in memory.

use std::io::{self, BufRead, BufReader, Read, Write};

use sha2::{Digest, Sha256};

pub const MAGIC: &[u8; 8] = b"EKVPBBL1";
pub const HEADER_LEN: u64 = 16;
pub const TS_SUFFIX_LEN: usize = 8;
pub const VALUE_HEADER_LEN: usize = 9;
/// Inclusive cap on the encoded key: a 1 MiB user key plus the TS suffix.
pub const MAX_ENCODED_KEY: u64 = (1 << 20) + 8;
/// Inclusive cap on the encoded value: 256 MiB body + header + the 34-byte
/// encryption envelope upstream budgets for.
pub const MAX_ENCODED_VALUE: u64 = 256 * (1 << 20) + 9 + 34;

const FLAG_TOMBSTONE: u8 = 0x01;
const FLAG_ENC_MASK: u8 = 0x06;
const FLAG_RESERVED_MASK: u8 = 0xF8;

/// Every way a payload can be malformed, in the order upstream checks them.
/// Offsets are byte offsets into the payload (after any runtime wrapper).
#[derive(Debug, thiserror::Error)]
pub enum FsmError {
    #[error("short header at byte {offset}: file ends before the 16-byte header")]
    ShortHeader { offset: u64 },
    #[error("got {got:?}: snapshot magic header does not match \"EKVPBBL1\"")]
    BadMagic { got: String },
    #[error("snapshot truncated mid-entry (entry at byte {offset})")]
    Truncated { offset: u64 },
    #[error(
        "snapshot key length exceeds limit: length {len} > {MAX_ENCODED_KEY} (entry at byte {offset})"
    )]
    KeyTooLarge { offset: u64, len: u64 },
    #[error(
        "snapshot value length exceeds limit: length {len} > {MAX_ENCODED_VALUE} (entry at byte {offset})"
    )]
    ValueTooLarge { offset: u64, len: u64 },
    #[error("encoded key shorter than timestamp suffix (entry at byte {offset})")]
    ShortKey { offset: u64 },
    #[error("encoded value shorter than value-header (entry at byte {offset})")]
    ShortValue { offset: u64 },
    #[error(
        "value header carries reserved encryption_state; decoder cannot interpret this entry (entry at byte {offset})"
    )]
    EncryptedReserved { offset: u64 },
    #[error(
        "snapshot contains encrypted entries — decryption is not supported (entry at byte {offset})"
    )]
    Encrypted { offset: u64 },
    #[error("runtime snapshot wrapper: {0}")]
    Runtime(String),
    #[error("read error at byte {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
}

impl FsmError {
    /// The payload byte offset the error points at, when there is one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            FsmError::ShortHeader { offset }
            | FsmError::Truncated { offset }
            | FsmError::KeyTooLarge { offset, .. }
            | FsmError::ValueTooLarge { offset, .. }
            | FsmError::ShortKey { offset }
            | FsmError::ShortValue { offset }
            | FsmError::EncryptedReserved { offset }
            | FsmError::Encrypted { offset }
            | FsmError::Io { offset, .. } => Some(*offset),
            FsmError::BadMagic { .. } => Some(0),
            FsmError::Runtime(_) => None,
        }
    }
}

/// One decoded entry; the slices borrow the reader's buffers.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub user_key: &'a [u8],
    pub body: &'a [u8],
    pub commit_ts: u64,
    pub expire_at: u64,
    pub tombstone: bool,
    /// Payload offset of the entry's keyLen field.
    pub offset: u64,
}

/// Streaming reader of a bare `EKVPBBL1` payload.
pub struct FsmReader<R: Read> {
    r: BufReader<R>,
    pos: u64,
    last_commit_ts: u64,
    key: Vec<u8>,
    val: Vec<u8>,
}

enum LenRead {
    Eof,
    Len(u64),
}

impl<R: Read> FsmReader<R> {
    /// Read and check the 16-byte header.
    pub fn new(inner: R) -> Result<Self, FsmError> {
        let mut r = BufReader::with_capacity(256 * 1024, inner);
        let mut magic = [0u8; 8];
        let n =
            read_full(&mut r, &mut magic).map_err(|source| FsmError::Io { offset: 0, source })?;
        if n < 8 {
            return Err(FsmError::ShortHeader { offset: n as u64 });
        }
        if &magic != MAGIC {
            return Err(FsmError::BadMagic {
                got: go_quote(&magic),
            });
        }
        let mut ts = [0u8; 8];
        let n = read_full(&mut r, &mut ts).map_err(|source| FsmError::Io { offset: 8, source })?;
        if n < 8 {
            return Err(FsmError::ShortHeader {
                offset: 8 + n as u64,
            });
        }
        Ok(FsmReader {
            r,
            pos: HEADER_LEN,
            last_commit_ts: u64::from_le_bytes(ts),
            key: Vec::new(),
            val: Vec::new(),
        })
    }

    pub fn last_commit_ts(&self) -> u64 {
        self.last_commit_ts
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The underlying reader, for wrappers that check a trailer after EOF.
    pub fn into_inner(self) -> R {
        self.r.into_inner()
    }

    fn read_len(&mut self, entry_off: u64) -> Result<LenRead, FsmError> {
        let mut b = [0u8; 8];
        let n = read_full(&mut self.r, &mut b).map_err(|source| FsmError::Io {
            offset: self.pos,
            source,
        })?;
        self.pos += n as u64;
        match n {
            0 => Ok(LenRead::Eof),
            8 => Ok(LenRead::Len(u64::from_le_bytes(b))),
            _ => Err(FsmError::Truncated { offset: entry_off }),
        }
    }

    fn read_body(&mut self, len: u64, which: bool, entry_off: u64) -> Result<(), FsmError> {
        let buf = if which { &mut self.key } else { &mut self.val };
        buf.clear();
        // Grow with the data actually present, so a lying length on a short
        // file never allocates its full claim up front.
        let got = (&mut self.r)
            .take(len)
            .read_to_end(buf)
            .map_err(|source| FsmError::Io {
                offset: self.pos,
                source,
            })?;
        self.pos += got as u64;
        if (got as u64) < len {
            return Err(FsmError::Truncated { offset: entry_off });
        }
        Ok(())
    }

    /// The next entry, or `None` at a clean end of stream.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'_>>, FsmError> {
        let off = self.pos;
        let klen = match self.read_len(off)? {
            LenRead::Eof => return Ok(None),
            LenRead::Len(l) => l,
        };
        if klen > MAX_ENCODED_KEY {
            return Err(FsmError::KeyTooLarge {
                offset: off,
                len: klen,
            });
        }
        self.read_body(klen, true, off)?;
        let vlen = match self.read_len(off)? {
            LenRead::Eof => return Err(FsmError::Truncated { offset: off }),
            LenRead::Len(l) => l,
        };
        if vlen > MAX_ENCODED_VALUE {
            return Err(FsmError::ValueTooLarge {
                offset: off,
                len: vlen,
            });
        }
        self.read_body(vlen, false, off)?;

        if self.key.len() < TS_SUFFIX_LEN {
            return Err(FsmError::ShortKey { offset: off });
        }
        if self.val.len() < VALUE_HEADER_LEN {
            return Err(FsmError::ShortValue { offset: off });
        }
        let flags = self.val[0];
        if flags & FLAG_RESERVED_MASK != 0 {
            return Err(FsmError::EncryptedReserved { offset: off });
        }
        match (flags & FLAG_ENC_MASK) >> 1 {
            0 => {}
            1 => return Err(FsmError::Encrypted { offset: off }),
            _ => return Err(FsmError::EncryptedReserved { offset: off }),
        }
        let split = self.key.len() - TS_SUFFIX_LEN;
        let inv = u64::from_be_bytes(self.key[split..].try_into().expect("8 bytes"));
        let expire_at = u64::from_le_bytes(self.val[1..9].try_into().expect("8 bytes"));
        Ok(Some(Entry {
            user_key: &self.key[..split],
            body: &self.val[VALUE_HEADER_LEN..],
            commit_ts: !inv,
            expire_at,
            tombstone: flags & FLAG_TOMBSTONE != 0,
            offset: off,
        }))
    }
}

/// Read until `buf` is full or EOF; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Go's `%q` for a short byte string (used in the bad-magic message).
fn go_quote(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                '\r' => s.push_str("\\r"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    s.push_str(&format!("\\x{:02x}", c as u32))
                }
                c => s.push(c),
            }
        }
        for byte in chunk.invalid() {
            s.push_str(&format!("\\x{byte:02x}"));
        }
    }
    s.push('"');
    s
}

/// A writer that hashes and counts everything passing through, so the
/// digest of a published file never needs a second read.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }
    pub fn written(&self) -> u64 {
        self.written
    }
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
    pub fn finish(self) -> (W, [u8; 32], u64) {
        (self.inner, self.hasher.finalize().into(), self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes an `EKVPBBL1` stream from entries already in encoded-key order.
pub struct FsmWriter<W: Write> {
    w: W,
    entries: u64,
}

impl<W: Write> FsmWriter<W> {
    pub fn new(mut w: W, last_commit_ts: u64) -> io::Result<Self> {
        w.write_all(MAGIC)?;
        w.write_all(&last_commit_ts.to_le_bytes())?;
        Ok(FsmWriter { w, entries: 0 })
    }

    /// Write one entry whose key is already MVCC-encoded and whose value
    /// already carries the 9-byte header.
    pub fn write_encoded(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.w.write_all(&(key.len() as u64).to_le_bytes())?;
        self.w.write_all(key)?;
        self.w.write_all(&(value.len() as u64).to_le_bytes())?;
        self.w.write_all(value)?;
        self.entries += 1;
        Ok(())
    }

    /// Write one live entry from its parts.
    pub fn write_entry(
        &mut self,
        user_key: &[u8],
        commit_ts: u64,
        expire_at: u64,
        body: &[u8],
    ) -> io::Result<()> {
        let klen = (user_key.len() + TS_SUFFIX_LEN) as u64;
        self.w.write_all(&klen.to_le_bytes())?;
        self.w.write_all(user_key)?;
        self.w.write_all(&(!commit_ts).to_be_bytes())?;
        let vlen = (body.len() + VALUE_HEADER_LEN) as u64;
        self.w.write_all(&vlen.to_le_bytes())?;
        self.w.write_all(&[0u8])?;
        self.w.write_all(&expire_at.to_le_bytes())?;
        self.w.write_all(body)?;
        self.entries += 1;
        Ok(())
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    pub fn into_inner(self) -> W {
        self.w
    }
}

// ---------------------------------------------------------------------------
// Runtime wrapper (`fsm-snap/<index>.fsm`): beyond upstream, `decode` accepts
// it, verifying the CRC32C footer, so operators can decode node files as-is.
// ---------------------------------------------------------------------------

/// What kind of stream starts with these 8 bytes.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum StreamKind {
    /// A bare payload, or anything else (the payload reader reports it).
    Payload,
    RuntimeV1,
    RuntimeV2,
    /// `EKVTHLC` followed by an unknown version byte.
    RuntimeUnknown(u8),
}

pub fn sniff(first8: &[u8]) -> StreamKind {
    if first8.len() == 8 && &first8[..7] == b"EKVTHLC" {
        match first8[7] {
            b'1' => StreamKind::RuntimeV1,
            b'2' => StreamKind::RuntimeV2,
            other => StreamKind::RuntimeUnknown(other),
        }
    } else {
        StreamKind::Payload
    }
}

/// A reader that hides the last 4 bytes of its input (the CRC footer) and
/// CRC32C-checksums everything before them.
pub struct CrcFooterReader<R: Read> {
    inner: R,
    /// Bytes read from `inner` but not yet handed out (always ≤ 4 held back).
    hold: Vec<u8>,
    crc: u32,
    eof: bool,
}

impl<R: Read> CrcFooterReader<R> {
    /// `prefix` are bytes already consumed from `inner` that belong to the
    /// checksummed region (the runtime header).
    pub fn new(inner: R, prefix: &[u8]) -> Self {
        CrcFooterReader {
            inner,
            hold: Vec::with_capacity(64 * 1024),
            crc: crc32c::crc32c(prefix),
            eof: false,
        }
    }

    /// After the payload reader hit EOF: drain anything left and compare the
    /// footer with the computed CRC.
    pub fn verify(mut self) -> Result<(), FsmError> {
        let mut sink = [0u8; 8192];
        let n = self
            .read(&mut sink)
            .map_err(|e| FsmError::Runtime(format!("reading footer: {e}")))?;
        if n != 0 {
            return Err(FsmError::Runtime(
                "trailing bytes after the payload before the CRC32C footer".into(),
            ));
        }
        if self.hold.len() != 4 {
            return Err(FsmError::Runtime(
                "file too short for the 4-byte CRC32C footer".into(),
            ));
        }
        let want = u32::from_be_bytes(self.hold[..4].try_into().expect("4 bytes"));
        if want != self.crc {
            return Err(FsmError::Runtime(format!(
                "CRC32C mismatch: footer says {want:08x}, content hashes to {:08x}",
                self.crc
            )));
        }
        Ok(())
    }
}

impl<R: Read> Read for CrcFooterReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Keep at least 5 bytes buffered (4 held back + 1 to give) unless EOF.
        while !self.eof && self.hold.len() < 4 + buf.len().min(64 * 1024) {
            let start = self.hold.len();
            self.hold.resize(start + 64 * 1024, 0);
            let n = loop {
                match self.inner.read(&mut self.hold[start..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            match n {
                Ok(0) => {
                    self.hold.truncate(start);
                    self.eof = true;
                }
                Ok(k) => self.hold.truncate(start + k),
                Err(e) => {
                    self.hold.truncate(start);
                    return Err(e);
                }
            }
        }
        let avail = self.hold.len().saturating_sub(4);
        let n = avail.min(buf.len());
        buf[..n].copy_from_slice(&self.hold[..n]);
        self.crc = crc32c::crc32c_append(self.crc, &self.hold[..n]);
        self.hold.drain(..n);
        Ok(n)
    }
}

/// Peel a runtime header off `r` if there is one. Returns the stream kind
/// and the header bytes consumed (empty for a bare payload, in which case
/// the sniffed bytes are returned for re-chaining).
pub fn read_runtime_header<R: BufRead>(r: &mut R) -> Result<(StreamKind, Vec<u8>), FsmError> {
    let peek = r
        .fill_buf()
        .map_err(|source| FsmError::Io { offset: 0, source })?;
    let first: Vec<u8> = peek[..peek.len().min(8)].to_vec();
    // fill_buf may return fewer than 8 bytes even mid-file; a BufReader of
    // reasonable capacity returns at least 8 whenever the file has them.
    let kind = sniff(&first);
    match kind {
        StreamKind::Payload => Ok((kind, Vec::new())),
        StreamKind::RuntimeUnknown(b) => Err(FsmError::Runtime(format!(
            "unknown runtime header version EKVTHLC{}",
            b as char
        ))),
        StreamKind::RuntimeV1 => {
            let mut h = vec![0u8; 16];
            let n = read_full(r, &mut h).map_err(|source| FsmError::Io { offset: 0, source })?;
            if n < 16 {
                return Err(FsmError::Runtime("truncated EKVTHLC1 header".into()));
            }
            Ok((kind, h))
        }
        StreamKind::RuntimeV2 => {
            let mut h = vec![0u8; 10];
            let n = read_full(r, &mut h).map_err(|source| FsmError::Io { offset: 0, source })?;
            if n < 10 {
                return Err(FsmError::Runtime("truncated EKVTHLC2 header".into()));
            }
            let len = u16::from_be_bytes([h[8], h[9]]) as usize;
            if !(16..=1024).contains(&len) {
                return Err(FsmError::Runtime(format!(
                    "EKVTHLC2 header length {len} outside 16..=1024"
                )));
            }
            let mut rest = vec![0u8; len];
            let n =
                read_full(r, &mut rest).map_err(|source| FsmError::Io { offset: 10, source })?;
            if n < len {
                return Err(FsmError::Runtime("truncated EKVTHLC2 header".into()));
            }
            h.extend_from_slice(&rest);
            Ok((kind, h))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(ts: u64, entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut w = FsmWriter::new(Vec::new(), ts).unwrap();
        for (k, v) in entries {
            w.write_entry(k, ts, 0, v).unwrap();
        }
        w.into_inner()
    }

    #[test]
    fn worked_example_from_the_reference_map() {
        let bytes = build(7000, &[(b"!redis|str|k", &[0xff, 0x01, 0x00, b'v'])]);
        assert_eq!(bytes.len(), 65);
        assert_eq!(&bytes[..8], b"EKVPBBL1");
        assert_eq!(&bytes[8..16], &7000u64.to_le_bytes());
        assert_eq!(&bytes[16..24], &20u64.to_le_bytes());
        assert_eq!(
            &bytes[36..44],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xe4, 0xa7]
        );
        assert_eq!(&bytes[44..52], &13u64.to_le_bytes());
        assert_eq!(
            &bytes[52..65],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 1, 0, b'v']
        );
        let mut r = FsmReader::new(&bytes[..]).unwrap();
        assert_eq!(r.last_commit_ts(), 7000);
        let e = r.next_entry().unwrap().unwrap();
        assert_eq!(e.user_key, b"!redis|str|k");
        assert_eq!(e.commit_ts, 7000);
        assert_eq!(e.body, &[0xff, 1, 0, b'v']);
        assert!(!e.tombstone);
        assert!(r.next_entry().unwrap().is_none());
    }

    fn err_of(bytes: &[u8]) -> FsmError {
        let mut r = match FsmReader::new(bytes) {
            Ok(r) => r,
            Err(e) => return e,
        };
        loop {
            match r.next_entry() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("expected an error"),
                Err(e) => return e,
            }
        }
    }

    #[test]
    fn short_header_is_not_bad_magic() {
        assert!(matches!(err_of(b"EKVP"), FsmError::ShortHeader { .. }));
        assert!(matches!(err_of(b""), FsmError::ShortHeader { offset: 0 }));
        assert!(matches!(
            err_of(b"EKVPBBL1\x01\x02"),
            FsmError::ShortHeader { .. }
        ));
        assert!(matches!(
            err_of(b"EKVPBBL2\0\0\0\0\0\0\0\0"),
            FsmError::BadMagic { .. }
        ));
    }

    #[test]
    fn truncation_cases() {
        let full = build(5, &[(b"k", b"v")]);
        for cut in 17..full.len() {
            assert!(
                matches!(err_of(&full[..cut]), FsmError::Truncated { offset: 16 }),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn caps_are_inclusive_and_checked_before_reading() {
        let mut b = build(1, &[]);
        b.extend_from_slice(&(MAX_ENCODED_KEY + 1).to_le_bytes());
        assert!(matches!(err_of(&b), FsmError::KeyTooLarge { .. }));
        let mut b = build(1, &[]);
        b.extend_from_slice(&MAX_ENCODED_KEY.to_le_bytes());
        assert!(matches!(err_of(&b), FsmError::Truncated { .. }));
        let mut b = build(1, &[]);
        b.extend_from_slice(&8u64.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&(MAX_ENCODED_VALUE + 1).to_le_bytes());
        assert!(matches!(err_of(&b), FsmError::ValueTooLarge { .. }));
    }

    #[test]
    fn value_flag_checks_in_order() {
        let entry = |key: &[u8], val: &[u8]| {
            let mut b = build(1, &[]);
            b.extend_from_slice(&(key.len() as u64).to_le_bytes());
            b.extend_from_slice(key);
            b.extend_from_slice(&(val.len() as u64).to_le_bytes());
            b.extend_from_slice(val);
            b
        };
        assert!(matches!(
            err_of(&entry(b"short", &[0; 9])),
            FsmError::ShortKey { .. }
        ));
        assert!(matches!(
            err_of(&entry(&[0; 8], &[0; 8])),
            FsmError::ShortValue { .. }
        ));
        let mut v = [0u8; 9];
        v[0] = 0x08;
        assert!(matches!(
            err_of(&entry(&[0; 8], &v)),
            FsmError::EncryptedReserved { .. }
        ));
        v[0] = 0x02;
        assert!(matches!(
            err_of(&entry(&[0; 8], &v)),
            FsmError::Encrypted { .. }
        ));
        v[0] = 0x04 | 0x01;
        assert!(matches!(
            err_of(&entry(&[0; 8], &v)),
            FsmError::EncryptedReserved { .. }
        ));
        // Tombstone alone is fine and surfaced.
        v[0] = 0x01;
        let b = entry(&[0; 8], &v);
        let mut r = FsmReader::new(&b[..]).unwrap();
        assert!(r.next_entry().unwrap().unwrap().tombstone);
    }

    #[test]
    fn crc_footer_reader_withholds_and_verifies() {
        let payload = build(9, &[(b"a", b"1"), (b"b", b"2")]);
        let mut file = b"EKVTHLC1".to_vec();
        file.extend_from_slice(&0u64.to_be_bytes());
        file.extend_from_slice(&payload);
        let crc = crc32c::crc32c(&file);
        file.extend_from_slice(&crc.to_be_bytes());
        let mut br = BufReader::new(&file[..]);
        let (kind, hdr) = read_runtime_header(&mut br).unwrap();
        assert_eq!(kind, StreamKind::RuntimeV1);
        let crc_r = CrcFooterReader::new(br, &hdr);
        let mut r = FsmReader::new(crc_r).unwrap();
        let mut n = 0;
        while r.next_entry().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 2);
        r.into_inner().verify().unwrap_or_else(|e| panic!("{e}"));
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        type Parts = (Vec<u8>, u64, u64, Vec<u8>);

        fn entry() -> impl Strategy<Value = Parts> {
            (
                proptest::collection::vec(any::<u8>(), 0..64),
                any::<u64>(),
                any::<u64>(),
                proptest::collection::vec(any::<u8>(), 0..256),
            )
        }

        proptest! {
            #[test]
            fn write_then_read_is_identity(
                ts in any::<u64>(),
                entries in proptest::collection::vec(entry(), 0..32),
            ) {
                let mut w = FsmWriter::new(Vec::new(), ts).unwrap();
                for (k, cts, exp, body) in &entries {
                    w.write_entry(k, *cts, *exp, body).unwrap();
                }
                prop_assert_eq!(w.entries(), entries.len() as u64);
                let bytes = w.into_inner();
                let mut r = FsmReader::new(bytes.as_slice()).unwrap();
                prop_assert_eq!(r.last_commit_ts(), ts);
                let mut got: Vec<Parts> = Vec::new();
                while let Some(e) = r.next_entry().unwrap() {
                    prop_assert!(!e.tombstone);
                    got.push((e.user_key.to_vec(), e.commit_ts, e.expire_at, e.body.to_vec()));
                }
                prop_assert_eq!(got, entries);
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let mut with_magic = MAGIC.to_vec();
                with_magic.extend_from_slice(&bytes);
                for input in [bytes.as_slice(), with_magic.as_slice()] {
                    if let Ok(mut r) = FsmReader::new(input) {
                        while let Ok(Some(_)) = r.next_entry() {}
                    }
                }
            }
        }
    }
}
