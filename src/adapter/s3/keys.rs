//! The `!s3|…` internal keyspace: prefixes, the zero-escaped key segment
//! (`00` → `00 FF`, terminated by `00 01`), 8-byte big-endian integers, and
//! the binary chunk-reference value. Bucket, object and upload names are raw
//! bytes here (upstream keeps them in Go strings, which hold any bytes).

use sha2::{Digest, Sha256};

pub const BUCKET_META: &[u8] = b"!s3|bucket|meta|";
pub const BUCKET_GEN: &[u8] = b"!s3|bucket|gen|";
pub const OBJECT_MANIFEST: &[u8] = b"!s3|obj|head|";
pub const UPLOAD_META: &[u8] = b"!s3|upload|meta|";
pub const UPLOAD_PART: &[u8] = b"!s3|upload|part|";
pub const BLOB: &[u8] = b"!s3|blob|";
pub const CHUNK_REF: &[u8] = b"!s3|chunkref|";
pub const CHUNK_BLOB: &[u8] = b"!s3|chunkblob|";
pub const GC_UPLOAD: &[u8] = b"!s3|gc|upload|";
pub const ROUTE: &[u8] = b"!s3route|";

/// Append `raw` as one key segment.
pub fn push_segment(out: &mut Vec<u8>, raw: &[u8]) {
    for &b in raw {
        if b == 0 {
            out.extend_from_slice(&[0, 0xFF]);
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A left-to-right reader over a key's components.
struct Cursor<'a> {
    key: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn after(key: &'a [u8], prefix: &[u8]) -> Option<Self> {
        key.starts_with(prefix).then_some(Cursor {
            key,
            pos: prefix.len(),
        })
    }

    /// One escaped segment; `None` on a bad escape or a missing terminator.
    fn segment(&mut self) -> Option<Vec<u8>> {
        let src = self.key;
        let mut out = Vec::new();
        let mut i = self.pos;
        while i < src.len() {
            if src[i] != 0 {
                out.push(src[i]);
                i += 1;
                continue;
            }
            match src.get(i + 1)? {
                0xFF => {
                    out.push(0);
                    i += 2;
                }
                1 => {
                    self.pos = i + 2;
                    return Some(out);
                }
                _ => return None,
            }
        }
        None
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.key.get(self.pos..self.pos + 8)?;
        self.pos += 8;
        Some(u64::from_be_bytes(b.try_into().ok()?))
    }

    fn remaining(&self) -> usize {
        self.key.len() - self.pos
    }
}

/// Decode one segment at the start of `src`: (raw bytes, the rest).
pub fn split_segment(src: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut c = Cursor { key: src, pos: 0 };
    let seg = c.segment()?;
    Some((seg, &src[c.pos..]))
}

pub fn bucket_meta_key(bucket: &[u8]) -> Vec<u8> {
    let mut k = BUCKET_META.to_vec();
    push_segment(&mut k, bucket);
    k
}

pub fn bucket_gen_key(bucket: &[u8]) -> Vec<u8> {
    let mut k = BUCKET_GEN.to_vec();
    push_segment(&mut k, bucket);
    k
}

pub fn object_manifest_key(bucket: &[u8], generation: u64, object: &[u8]) -> Vec<u8> {
    let mut k = OBJECT_MANIFEST.to_vec();
    push_segment(&mut k, bucket);
    push_u64(&mut k, generation);
    push_segment(&mut k, object);
    k
}

/// A blob or chunk-reference key; `part_version` 0 gives the short
/// (unversioned) form, as upstream's builders do.
pub fn chunk_key(prefix: &[u8], c: &ChunkKey) -> Vec<u8> {
    let mut k = prefix.to_vec();
    push_segment(&mut k, &c.bucket);
    push_u64(&mut k, c.generation);
    push_segment(&mut k, &c.object);
    push_segment(&mut k, &c.upload_id);
    push_u64(&mut k, c.part_no);
    push_u64(&mut k, c.chunk_no);
    if c.part_version != 0 {
        push_u64(&mut k, c.part_version);
    }
    k
}

pub fn chunk_blob_key(digest: &[u8; 32]) -> Vec<u8> {
    let mut k = CHUNK_BLOB.to_vec();
    k.extend_from_slice(hex::encode(digest).as_bytes());
    k
}

pub fn upload_meta_key(bucket: &[u8], generation: u64, object: &[u8], upload_id: &[u8]) -> Vec<u8> {
    let mut k = UPLOAD_META.to_vec();
    push_segment(&mut k, bucket);
    push_u64(&mut k, generation);
    push_segment(&mut k, object);
    push_segment(&mut k, upload_id);
    k
}

pub fn upload_part_key(
    bucket: &[u8],
    generation: u64,
    object: &[u8],
    upload_id: &[u8],
    part_no: u64,
) -> Vec<u8> {
    let mut k = upload_meta_key(bucket, generation, object, upload_id);
    k.splice(..UPLOAD_META.len(), UPLOAD_PART.iter().copied());
    push_u64(&mut k, part_no);
    k
}

/// `ParseBucketMetaKey`: the whole key must be consumed.
pub fn parse_bucket_meta_key(key: &[u8]) -> Option<Vec<u8>> {
    let mut c = Cursor::after(key, BUCKET_META)?;
    let bucket = c.segment()?;
    (c.remaining() == 0).then_some(bucket)
}

/// `ParseObjectManifestKey`: (bucket, generation, object), exact.
pub fn parse_object_manifest_key(key: &[u8]) -> Option<(Vec<u8>, u64, Vec<u8>)> {
    let mut c = Cursor::after(key, OBJECT_MANIFEST)?;
    let bucket = c.segment()?;
    let generation = c.u64()?;
    let object = c.segment()?;
    (c.remaining() == 0).then_some((bucket, generation, object))
}

/// The components of a blob or chunk-reference key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkKey {
    pub bucket: Vec<u8>,
    pub generation: u64,
    pub object: Vec<u8>,
    pub upload_id: Vec<u8>,
    pub part_no: u64,
    pub chunk_no: u64,
    pub part_version: u64,
}

/// `ParseBlobKey` / `ParseVersionedChunkRefKey`: after the chunk number
/// either nothing (version 0) or exactly one more u64 may follow.
pub fn parse_chunk_key(prefix: &[u8], key: &[u8]) -> Option<ChunkKey> {
    let mut c = Cursor::after(key, prefix)?;
    let bucket = c.segment()?;
    let generation = c.u64()?;
    let object = c.segment()?;
    let upload_id = c.segment()?;
    let part_no = c.u64()?;
    let chunk_no = c.u64()?;
    let part_version = match c.remaining() {
        0 => 0,
        8 => c.u64()?,
        _ => return None,
    };
    Some(ChunkKey {
        bucket,
        generation,
        object,
        upload_id,
        part_no,
        chunk_no,
        part_version,
    })
}

/// `ParseChunkBlobKey`: exactly 64 hex digits of either case.
pub fn parse_chunk_blob_key(key: &[u8]) -> Option<[u8; 32]> {
    let hex_part = key.strip_prefix(CHUNK_BLOB)?;
    if hex_part.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

/// The bucket of an upload-family key, as upstream routes it: part keys
/// are parsed in full; meta keys only up to the first `00 01`, and the
/// bucket bytes are taken raw (a `00 FF` escape is not undone).
pub fn upload_family_bucket(prefix: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    if prefix == UPLOAD_PART {
        let mut c = Cursor::after(key, UPLOAD_PART)?;
        let bucket = c.segment()?;
        c.u64()?;
        c.segment()?;
        c.segment()?;
        c.u64()?;
        return (c.remaining() == 0).then_some(bucket);
    }
    let rest = key.strip_prefix(UPLOAD_META)?;
    let end = rest.windows(2).position(|w| w == [0, 1])?;
    Some(rest[..end].to_vec())
}

/// The part of a chunk-reference value the backup uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRef {
    pub sha256: [u8; 32],
    pub size: u64,
}

fn take_u16(v: &[u8], at: usize) -> Option<(usize, usize)> {
    let b = v.get(at..at + 2)?;
    Some((u16::from_be_bytes([b[0], b[1]]) as usize, at + 2))
}

/// `DecodeChunkRefValue`: version 1 or 2, exact length, replica list
/// bounded by what the remaining bytes could hold.
pub fn decode_chunk_ref(v: &[u8]) -> Option<ChunkRef> {
    if v.len() < 43 || !matches!(v[0], 1 | 2) {
        return None;
    }
    let sha256: [u8; 32] = v[1..33].try_into().ok()?;
    let size = u64::from_be_bytes(v[33..41].try_into().ok()?);
    let (peer_len, at) = take_u16(v, 41)?;
    let mut next = at.checked_add(peer_len)?;
    if next > v.len() {
        return None;
    }
    if v[0] == 2 {
        let (count, at) = take_u16(v, next)?;
        next = at;
        if count > (v.len() - next) / 4 {
            return None;
        }
        for _ in 0..count * 2 {
            let (len, at) = take_u16(v, next)?;
            next = at.checked_add(len)?;
            if next > v.len() {
                return None;
            }
        }
    }
    (next == v.len()).then_some(ChunkRef { sha256, size })
}

/// Build a chunk-reference value (tests and tools; the encoder never
/// emits offloaded chunks).
pub fn encode_chunk_ref(
    sha256: &[u8; 32],
    size: u64,
    peer: &[u8],
    replicas: &[(&[u8], &[u8])],
) -> Vec<u8> {
    let mut v = vec![if replicas.is_empty() { 1 } else { 2 }];
    v.extend_from_slice(sha256);
    v.extend_from_slice(&size.to_be_bytes());
    v.extend_from_slice(&(peer.len() as u16).to_be_bytes());
    v.extend_from_slice(peer);
    if !replicas.is_empty() {
        v.extend_from_slice(&(replicas.len() as u16).to_be_bytes());
        for (id, addr) in replicas {
            v.extend_from_slice(&(id.len() as u16).to_be_bytes());
            v.extend_from_slice(id);
            v.extend_from_slice(&(addr.len() as u16).to_be_bytes());
            v.extend_from_slice(addr);
        }
    }
    v
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ck(bucket: &[u8], object: &[u8], upload: &[u8], part_version: u64) -> ChunkKey {
        ChunkKey {
            bucket: bucket.to_vec(),
            generation: 1,
            object: object.to_vec(),
            upload_id: upload.to_vec(),
            part_no: 1,
            chunk_no: 0,
            part_version,
        }
    }

    #[test]
    fn reference_layouts() {
        assert_eq!(bucket_meta_key(b"b"), b"!s3|bucket|meta|b\x00\x01");
        assert_eq!(
            object_manifest_key(b"b", 1, b"a/b"),
            b"!s3|obj|head|b\x00\x01\0\0\0\0\0\0\0\x01a/b\x00\x01"
        );
        let k = chunk_key(BLOB, &ck(b"b", b"a/b", b"elastickv-restore", 0));
        let mut want =
            b"!s3|blob|b\x00\x01\0\0\0\0\0\0\0\x01a/b\x00\x01elastickv-restore\x00\x01".to_vec();
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(k, want);
        // Zero bytes are escaped in every segment.
        assert_eq!(
            bucket_meta_key(b"a\0b"),
            b"!s3|bucket|meta|a\x00\xffb\x00\x01"
        );
        assert_eq!(
            upload_part_key(b"b", 2, b"o", b"u", 3)[..UPLOAD_PART.len()],
            *UPLOAD_PART
        );
    }

    #[test]
    fn blob_key_forms() {
        let v0 = ck(b"b", b"o", b"u", 0);
        let k = chunk_key(BLOB, &v0);
        assert_eq!(parse_chunk_key(BLOB, &k).unwrap(), v0);
        let v9 = ck(b"b", b"o", b"u", 9);
        let k9 = chunk_key(BLOB, &v9);
        assert_eq!(k9.len(), k.len() + 8);
        assert_eq!(parse_chunk_key(BLOB, &k9).unwrap(), v9);
        // An explicit zero version parses as version 0.
        let mut k0 = k.clone();
        k0.extend_from_slice(&[0; 8]);
        assert_eq!(parse_chunk_key(BLOB, &k0).unwrap(), v0);
        // Trailing garbage of any other length is refused.
        for extra in [1usize, 7, 9, 16] {
            let mut kk = k.clone();
            kk.extend(std::iter::repeat_n(7u8, extra));
            assert!(parse_chunk_key(BLOB, &kk).is_none(), "{extra}");
        }
        assert!(parse_chunk_key(CHUNK_REF, &k).is_none());
        assert!(parse_chunk_key(BLOB, b"!s3|blob|b\x00").is_none());
        assert!(parse_chunk_key(BLOB, b"!s3|blob|b\x00\x02").is_none());
    }

    #[test]
    fn exact_consumption() {
        let mut k = bucket_meta_key(b"b");
        assert_eq!(parse_bucket_meta_key(&k).unwrap(), b"b");
        k.push(b'x');
        assert!(parse_bucket_meta_key(&k).is_none());
        let mut m = object_manifest_key(b"b", 7, b"o\0");
        assert_eq!(
            parse_object_manifest_key(&m).unwrap(),
            (b"b".to_vec(), 7, b"o\0".to_vec())
        );
        m.push(0);
        assert!(parse_object_manifest_key(&m).is_none());
    }

    #[test]
    fn chunk_blob_keys() {
        let d = sha256(b"x");
        let k = chunk_blob_key(&d);
        assert_eq!(parse_chunk_blob_key(&k).unwrap(), d);
        let upper = [CHUNK_BLOB, hex::encode_upper(d).as_bytes()].concat();
        assert_eq!(parse_chunk_blob_key(&upper).unwrap(), d);
        assert!(parse_chunk_blob_key(&k[..k.len() - 1]).is_none());
        let mut bad = k.clone();
        *bad.last_mut().unwrap() = b'g';
        assert!(parse_chunk_blob_key(&bad).is_none());
    }

    #[test]
    fn upload_family_routing() {
        let k = upload_part_key(b"b\0x", 1, b"o", b"u", 2);
        assert_eq!(upload_family_bucket(UPLOAD_PART, &k).unwrap(), b"b\0x");
        assert!(upload_family_bucket(UPLOAD_PART, &k[..k.len() - 1]).is_none());
        // Meta keys keep the escaped bytes of the bucket.
        let m = upload_meta_key(b"b\0x", 1, b"o", b"u");
        assert_eq!(upload_family_bucket(UPLOAD_META, &m).unwrap(), b"b\0\xffx");
        assert!(upload_family_bucket(UPLOAD_META, b"!s3|upload|meta|").is_none());
        assert_eq!(
            upload_family_bucket(UPLOAD_META, b"!s3|upload|meta|\x00\x01").unwrap(),
            b""
        );
    }

    #[test]
    fn chunk_ref_values() {
        let d = sha256(b"payload");
        let v1 = encode_chunk_ref(&d, 7, b"n1", &[]);
        assert_eq!(
            decode_chunk_ref(&v1).unwrap(),
            ChunkRef { sha256: d, size: 7 }
        );
        let v2 = encode_chunk_ref(&d, 7, b"n1", &[(b"id", b"addr"), (b"", b"")]);
        assert_eq!(v2[0], 2);
        assert_eq!(decode_chunk_ref(&v2).unwrap().size, 7);
        // v2 with zero replicas is accepted.
        let mut v2z = v1.clone();
        v2z[0] = 2;
        v2z.extend_from_slice(&[0, 0]);
        assert!(decode_chunk_ref(&v2z).is_some());
        // Trailing bytes, truncation, unknown versions, short values.
        let mut t = v1.clone();
        t.push(0);
        assert!(decode_chunk_ref(&t).is_none());
        assert!(decode_chunk_ref(&v2[..v2.len() - 1]).is_none());
        let mut v3 = v1.clone();
        v3[0] = 3;
        assert!(decode_chunk_ref(&v3).is_none());
        assert!(decode_chunk_ref(&v1[..42]).is_none());
        // A replica count larger than the bytes could hold.
        let mut big = v1.clone();
        big[0] = 2;
        big.extend_from_slice(&[0, 2, 0, 0, 0, 0]);
        assert!(decode_chunk_ref(&big).is_none());
    }

    proptest! {
        #[test]
        fn segments_round_trip(b in proptest::collection::vec(any::<u8>(), 0..40),
                               o in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(0xffu8), any::<u8>()], 0..40),
                               g in any::<u64>()) {
            let k = object_manifest_key(&b, g, &o);
            prop_assert_eq!(parse_object_manifest_key(&k).unwrap(), (b.clone(), g, o.clone()));
            let c = ChunkKey { bucket: b, generation: g, object: o, upload_id: vec![0, 1], part_no: g, chunk_no: 3, part_version: g };
            prop_assert_eq!(parse_chunk_key(CHUNK_REF, &chunk_key(CHUNK_REF, &c)).unwrap(), c);
        }
    }
}
