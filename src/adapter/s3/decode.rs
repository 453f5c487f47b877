//! `.fsm` → `s3/` tree.
//!
//! Records arrive in key order: every `!s3|blob|` chunk before any bucket
//! meta or manifest, so nothing can be written to its final path while the
//! stream is read. Chunk payloads go straight to spill files under
//! `<scratch>/s3/` as they arrive (one file per object state, in arrival
//! order) and only their locations stay in memory. At finalize each object
//! is assembled from those locations in upstream's order. In the common
//! case (one upload, chunks arriving in assembly order, one generation) the
//! spill file already *is* the body and is renamed into place; otherwise
//! the selected byte ranges are copied (`copy_file_range` where the kernel
//! offers it). Memory is O(objects + chunks) of metadata, never payload.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::json;
use super::keys::{self, ChunkRef};
use super::{LEAF_DATA_SUFFIX, META_RENAME_SUFFIX, META_SUFFIX, is_dot_or_empty};
use crate::adapter::{AdapterDecoder, DecodeContext, Warn};
use crate::error::{Error, IoResultExt, Result};
use crate::fsutil;
use crate::gojson::{Escape, JsonWriter};
use crate::tree::filename;
use crate::tree::keymap::{KIND_META_SUFFIX_RENAME, KIND_S3_LEAF_DATA};

const MALFORMED: &str = "backup: malformed S3 key";
const COLLISION: &str = "backup: user S3 object key collides with reserved sidecar suffix";
const INCOMPLETE: &str = "backup: incomplete blob chunks for manifest-declared part";
const BAD_CHUNK_REF: &str = "backup: invalid S3 chunk reference";
/// Longest file name the kernel takes (upstream's scratch and orphan chunk
/// names fail past it, so ours do too).
const NAME_MAX: usize = 255;

fn show(b: &[u8]) -> String {
    format!("\"{}\"", b.escape_ascii())
}

fn malformed(what: &str, key: &[u8]) -> Error {
    Error::data(format!("{what}: {}: {MALFORMED}", show(key)))
}

/// Where a spilled payload lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    file: u32,
    off: u64,
    len: u64,
}

/// One chunk of an object, as upstream keys its chunk map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ChunkId {
    part_no: u64,
    part_version: u64,
    chunk_no: u64,
    upload_id: Arc<[u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PartKey {
    part_no: u64,
    part_version: u64,
    offloaded: bool,
}

struct Declared {
    chunk_count: u64,
    chunk_sizes: Vec<u64>,
}

struct Manifest {
    sidecar: Vec<u8>,
    upload_id: Vec<u8>,
    declared: HashMap<PartKey, Declared>,
}

#[derive(Default)]
struct Object {
    manifest: Option<Manifest>,
    /// Blob chunks (upstream's `chunkPaths` before offload resolution).
    blobs: HashMap<ChunkId, Loc>,
    /// Parked chunk references, resolved at finalize.
    refs: HashMap<ChunkId, ChunkRef>,
    /// This object state's own spill file.
    spill: Option<u32>,
    /// The upload id of the last blob, shared by the chunks that carry it.
    last_upload: Option<Arc<[u8]>>,
}

#[derive(Default)]
struct Bucket {
    meta: Option<json::LiveBucketMeta>,
    active_gen: u64,
    /// Keyed by (object, generation): finalize walks them in this order.
    objects: BTreeMap<(Vec<u8>, u64), Object>,
    /// `_incomplete_uploads/records.jsonl` has been created.
    uploads_started: bool,
}

/// Append-only payload files under `<scratch>/s3/`.
struct Spill {
    dir: PathBuf,
    files: Vec<(PathBuf, u64)>,
    writer: Option<(u32, File)>,
    reader: Option<(u32, File)>,
}

impl Spill {
    fn new(dir: PathBuf) -> Self {
        Spill {
            dir,
            files: Vec::new(),
            writer: None,
            reader: None,
        }
    }

    fn create(&mut self) -> Result<u32> {
        if self.files.is_empty() {
            fsutil::create_dir_all(&self.dir)?;
        }
        let id =
            u32::try_from(self.files.len()).map_err(|_| Error::data("too many S3 spill files"))?;
        let path = self.dir.join(format!("{id}.spill"));
        let f = fsutil::create_new_private(&path)?;
        self.files.push((path, 0));
        self.writer = Some((id, f));
        Ok(id)
    }

    fn append(&mut self, id: u32, data: &[u8]) -> Result<Loc> {
        let (path, len) = &mut self.files[id as usize];
        if self.writer.as_ref().map(|w| w.0) != Some(id) {
            let f = OpenOptions::new()
                .append(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&*path)
                .io_at(path, "reopen spill file")?;
            self.writer = Some((id, f));
        }
        let (_, f) = self.writer.as_mut().expect("writer just set");
        f.write_all(data).io_at(path, "write spill file")?;
        let loc = Loc {
            file: id,
            off: *len,
            len: data.len() as u64,
        };
        *len += data.len() as u64;
        Ok(loc)
    }

    fn close_writer(&mut self) {
        self.writer = None;
    }

    /// Copy one spilled range to the end of `dst`.
    fn copy_to(&mut self, loc: Loc, dst: &mut File, dst_path: &Path) -> Result<()> {
        let path = &self.files[loc.file as usize].0;
        if self.reader.as_ref().map(|r| r.0) != Some(loc.file) {
            let f = File::open(path).io_at(path, "open spill file")?;
            self.reader = Some((loc.file, f));
        }
        let (_, src) = self.reader.as_mut().expect("reader just set");
        src.seek(SeekFrom::Start(loc.off))
            .io_at(path, "seek spill file")?;
        let n = io::copy(&mut src.take(loc.len), dst).io_at(dst_path, "write")?;
        if n != loc.len {
            return Err(Error::io_at(
                path,
                "read spill file",
                io::Error::from(io::ErrorKind::UnexpectedEof),
            ));
        }
        Ok(())
    }

    /// Move a whole spill file to `dest` (copying across file systems).
    fn take_file(&mut self, id: u32, dest: &Path) -> Result<()> {
        self.reader = None;
        let (path, len) = self.files[id as usize].clone();
        match fs::rename(&path, dest) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                let loc = Loc {
                    file: id,
                    off: 0,
                    len,
                };
                write_via_temp(dest, |f| self.copy_to(loc, f, dest))
            }
            Err(e) => Err(Error::io_at(dest, "rename into place", e)),
        }
    }
}

/// Write `dest` through a temp file in its directory and rename it over
/// (upstream's `.obj.tmp-*` + rename).
fn write_via_temp(dest: &Path, fill: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    let dir = fsutil::parent_dir(dest);
    let tmp = dir.join(format!(".obj.tmp-{}", fsutil::random_suffix()));
    let mut f = fsutil::create_new_private(&tmp)?;
    let res = fill(&mut f).and_then(|()| fs::rename(&tmp, dest).io_at(dest, "rename into place"));
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// The S3 decoder (upstream's `S3Encoder`, which despite its name writes
/// the dump tree).
pub struct S3Decoder {
    out_s3: PathBuf,
    include_incomplete_uploads: bool,
    include_orphans: bool,
    rename_collisions: bool,
    warn: Warn,
    buckets: BTreeMap<Vec<u8>, Bucket>,
    spill: Spill,
    chunk_blobs: HashMap<[u8; 32], Loc>,
    chunk_blob_file: Option<u32>,
    /// The open `records.jsonl` (bucket, writer).
    uploads: Option<(Vec<u8>, BufWriter<File>, PathBuf)>,
    finalized: bool,
}

impl S3Decoder {
    pub fn new(ctx: &DecodeContext) -> Self {
        let o = &ctx.options;
        S3Decoder {
            out_s3: ctx.out_root.join("s3"),
            include_incomplete_uploads: o.include_incomplete_uploads,
            include_orphans: o.include_orphans,
            rename_collisions: o.rename_s3_collisions,
            warn: ctx.warn.clone(),
            buckets: BTreeMap::new(),
            spill: Spill::new(ctx.scratch_root.join("s3")),
            chunk_blobs: HashMap::new(),
            chunk_blob_file: None,
            uploads: None,
            finalized: false,
        }
    }

    fn object_mut(&mut self, bucket: Vec<u8>, generation: u64, object: Vec<u8>) -> &mut Object {
        self.buckets
            .entry(bucket)
            .or_default()
            .objects
            .entry((object, generation))
            .or_default()
    }

    fn handle_bucket_meta(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let name =
            keys::parse_bucket_meta_key(key).ok_or_else(|| malformed("bucket meta key", key))?;
        let live = json::parse_live_bucket_meta(value).map_err(|e| {
            Error::data(format!(
                "bucket {}: {e}: backup: invalid !s3|bucket|meta value",
                show(&name)
            ))
        })?;
        let b = self.buckets.entry(name).or_default();
        b.active_gen = live.generation;
        b.meta = Some(live);
        Ok(())
    }

    fn handle_manifest(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let (bucket, generation, object) =
            keys::parse_object_manifest_key(key).ok_or_else(|| malformed("manifest key", key))?;
        let bad = |msg: String| {
            Error::data(format!(
                "bucket {} object {}: {msg}: backup: invalid !s3|obj|head value",
                show(&bucket),
                show(&object)
            ))
        };
        let live = json::parse_live_manifest(value).map_err(bad)?;
        let mut declared = HashMap::new();
        for p in live.parts.iter().flatten() {
            let sizes = p.chunk_sizes.clone().unwrap_or_default();
            let part_version = if p.offloaded {
                if sizes.len() as u64 != p.chunk_count {
                    return Err(bad(format!(
                        "offloaded part {} declares {} chunks but has {} chunk sizes",
                        p.part_no,
                        p.chunk_count,
                        sizes.len()
                    )));
                }
                p.chunk_ref_version
            } else {
                p.part_version
            };
            declared.insert(
                PartKey {
                    part_no: p.part_no,
                    part_version,
                    offloaded: p.offloaded,
                },
                Declared {
                    chunk_count: p.chunk_count,
                    chunk_sizes: sizes,
                },
            );
        }
        let m = Manifest {
            sidecar: json::render_sidecar(&live),
            upload_id: live.upload_id.clone().into_bytes(),
            declared,
        };
        self.object_mut(bucket, generation, object).manifest = Some(m);
        Ok(())
    }

    fn handle_blob(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let k = keys::parse_chunk_key(keys::BLOB, key).ok_or_else(|| malformed("blob key", key))?;
        for seg in [&k.bucket, &k.object] {
            if is_dot_or_empty(seg) {
                return Err(Error::data(format!(
                    "bucket or object key {} is empty or a dot segment (would escape scratch root): {MALFORMED}",
                    show(seg)
                )));
            }
        }
        let name = scratch_name(&k.upload_id, k.part_no, k.chunk_no, k.part_version);
        if name.len() > NAME_MAX {
            return Err(Error::io_at(
                &self.spill.dir.join(&name),
                "create scratch chunk",
                io::Error::from_raw_os_error(libc::ENAMETOOLONG),
            ));
        }
        let obj_key = (k.object, k.generation);
        let bucket = self.buckets.entry(k.bucket).or_default();
        let obj = bucket.objects.entry(obj_key.clone()).or_default();
        let file = match obj.spill {
            Some(id) => id,
            None => {
                let id = self.spill.create()?;
                obj.spill = Some(id);
                id
            }
        };
        let loc = self.spill.append(file, value)?;
        let upload_id: Arc<[u8]> = match &obj.last_upload {
            Some(u) if **u == *k.upload_id => u.clone(),
            _ => k.upload_id.into(),
        };
        obj.last_upload = Some(upload_id.clone());
        let id = ChunkId {
            part_no: k.part_no,
            part_version: k.part_version,
            chunk_no: k.chunk_no,
            upload_id,
        };
        obj.blobs.insert(id.clone(), loc);
        // Upstream's scratch path ignores the generation, so a later chunk
        // with the same identity overwrites what every generation of this
        // object reads.
        let (object, generation) = obj_key;
        let range = (object.clone(), 0)..=(object, u64::MAX);
        for ((_, g), other) in bucket.objects.range_mut(range) {
            if *g != generation {
                if let Some(l) = other.blobs.get_mut(&id) {
                    *l = loc;
                }
            }
        }
        Ok(())
    }

    fn handle_chunk_blob(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let digest =
            keys::parse_chunk_blob_key(key).ok_or_else(|| malformed("chunkblob key", key))?;
        let actual = keys::sha256(value);
        if actual != digest {
            return Err(Error::data(format!(
                "key digest={} actual={}: backup: S3 chunkblob hash mismatch",
                hex::encode(digest),
                hex::encode(actual)
            )));
        }
        let file = match self.chunk_blob_file {
            Some(id) => id,
            None => {
                let id = self.spill.create()?;
                self.chunk_blob_file = Some(id);
                id
            }
        };
        let loc = self.spill.append(file, value)?;
        self.chunk_blobs.insert(digest, loc);
        Ok(())
    }

    fn handle_chunk_ref(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let k = keys::parse_chunk_key(keys::CHUNK_REF, key)
            .ok_or_else(|| malformed("chunkref key", key))?;
        let r = keys::decode_chunk_ref(value)
            .ok_or_else(|| Error::data(format!("chunkref key: {}: {BAD_CHUNK_REF}", show(key))))?;
        let id = ChunkId {
            part_no: k.part_no,
            part_version: k.part_version,
            chunk_no: k.chunk_no,
            upload_id: k.upload_id.into(),
        };
        self.object_mut(k.bucket, k.generation, k.object)
            .refs
            .insert(id, r);
        Ok(())
    }

    fn handle_upload(&mut self, prefix: &'static [u8], key: &[u8], value: &[u8]) -> Result<()> {
        if !self.include_incomplete_uploads {
            return Ok(());
        }
        let bucket = keys::upload_family_bucket(prefix, key)
            .ok_or_else(|| malformed("upload-family key", key))?;
        if is_dot_or_empty(&bucket) {
            return Err(Error::data(format!(
                "bucket name {} in upload-family key is empty or a dot segment: {MALFORMED}",
                show(&bucket)
            )));
        }
        let mut line = JsonWriter::compact(Escape::NoHtml);
        line.begin_object()
            .key("prefix")
            .string_bytes(prefix)
            .key("key")
            .bytes_b64(key)
            .key("value")
            .bytes_b64(value)
            .end_object();
        let line = line.finish_line();
        if self.uploads.as_ref().map(|u| &u.0) != Some(&bucket) {
            self.close_uploads()?;
            let dir = self
                .out_s3
                .join(std::ffi::OsStr::from_bytes(
                    filename::encode(&bucket).as_bytes(),
                ))
                .join("_incomplete_uploads");
            let path = dir.join("records.jsonl");
            let b = self.buckets.entry(bucket.clone()).or_default();
            let f = if b.uploads_started {
                OpenOptions::new()
                    .append(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .io_at(&path, "reopen")?
            } else {
                fsutil::create_dir_all(&dir)?;
                b.uploads_started = true;
                fsutil::open_sidecar_file(&path)?
            };
            self.uploads = Some((bucket, BufWriter::new(f), path));
        }
        let (_, w, path) = self.uploads.as_mut().expect("writer just opened");
        w.write_all(&line).io_at(path, "write")
    }

    fn close_uploads(&mut self) -> Result<()> {
        if let Some((_, w, path)) = self.uploads.take() {
            w.into_inner()
                .map_err(|e| Error::io_at(&path, "write", e.into_error()))?;
        }
        Ok(())
    }

    fn finalize_all(&mut self) -> Result<()> {
        self.spill.close_writer();
        self.close_uploads()?;
        let buckets = std::mem::take(&mut self.buckets);
        for (name, b) in buckets {
            self.flush_bucket(&name, b)?;
        }
        Ok(())
    }

    fn emit(&self, msg: String) {
        (self.warn)(&msg);
    }

    fn flush_bucket(&mut self, name: &[u8], b: Bucket) -> Result<()> {
        if is_dot_or_empty(name) {
            return Err(Error::data(format!(
                "bucket name {} is empty or a dot segment (would escape s3/ subtree): {MALFORMED}",
                show(name)
            )));
        }
        let dir = self.out_s3.join(std::ffi::OsStr::from_bytes(
            filename::encode(name).as_bytes(),
        ));
        fsutil::create_dir_all(&dir)?;
        if let Some(m) = &b.meta {
            let body = json::render_public_bucket(name, &m.owner, &m.region, &m.acl);
            fsutil::write_tree_file(&dir.join("_bucket.json"), &body)?;
        }
        let active = |g: u64| b.active_gen == 0 || g == b.active_gen;
        // Directory prefixes and the key set count every active object,
        // manifest or not (as upstream's computeDirPrefixes does).
        let mut dir_prefixes: HashSet<&[u8]> = HashSet::new();
        let mut active_keys: HashSet<&[u8]> = HashSet::new();
        let mut generations: HashMap<&[u8], usize> = HashMap::new();
        for (object, g) in b.objects.keys() {
            *generations.entry(object).or_default() += 1;
            if !active(*g) {
                continue;
            }
            active_keys.insert(object);
            for (i, &c) in object.iter().enumerate() {
                if c == b'/' {
                    dir_prefixes.insert(&object[..i]);
                }
            }
        }
        let mut keymap: Option<(BufWriter<File>, PathBuf)> = None;
        let mut stale = 0u64;
        for ((object, g), obj) in &b.objects {
            if !active(*g) {
                stale += 1;
                if self.include_orphans {
                    self.flush_orphan(name, &dir, object, *g, obj)?;
                }
                continue;
            }
            let Some(manifest) = &obj.manifest else {
                self.flush_orphan(name, &dir, object, *g, obj)?;
                continue;
            };
            // Upstream's order: offload resolution, name, path, then the
            // completeness check while assembling.
            let offloaded = self.resolve_offloaded(obj, manifest)?;
            let (target, kind) = self.resolve_name(
                name,
                object,
                dir_prefixes.contains(object.as_slice()),
                &active_keys,
            )?;
            let body = safe_join(&dir, &target)?;
            fsutil::create_dir_all(fsutil::parent_dir(&body))?;
            let chunks = select_chunks(obj, manifest, offloaded)?;
            let whole = obj
                .spill
                .filter(|_| generations.get(object.as_slice()) == Some(&1))
                .filter(|&id| covers_whole_file(&chunks, id, self.spill.files[id as usize].1));
            match whole {
                Some(id) => self.spill.take_file(id, &body)?,
                None => write_via_temp(&body, |f| {
                    for loc in &chunks {
                        self.spill.copy_to(*loc, f, &body)?;
                    }
                    Ok(())
                })?,
            }
            let sidecar = fsutil::with_suffix(&body, META_SUFFIX);
            fsutil::write_tree_file(&sidecar, &manifest.sidecar)?;
            if let Some(kind) = kind {
                if keymap.is_none() {
                    let p = dir.join("KEYMAP.jsonl");
                    keymap = Some((BufWriter::new(fsutil::open_sidecar_file(&p)?), p));
                }
                let (w, p) = keymap.as_mut().expect("keymap just opened");
                let mut line = JsonWriter::compact(Escape::NoHtml);
                line.begin_object()
                    .key("encoded")
                    .string_bytes(&target)
                    .key("original")
                    .string(&URL_SAFE_NO_PAD.encode(object))
                    .key("kind")
                    .string(kind)
                    .end_object();
                w.write_all(&line.finish_line()).io_at(p, "write")?;
            }
        }
        if stale > 0 {
            self.emit(format!(
                "s3_stale_generation_objects: bucket={} active_generation={} stale_count={stale} \
                 (stale-gen objects excluded; restore would otherwise emit them under the new bucket)",
                show(name),
                b.active_gen
            ));
        }
        if let Some((w, p)) = keymap {
            w.into_inner()
                .map_err(|e| Error::io_at(&p, "write", e.into_error()))?;
        }
        Ok(())
    }

    /// Upstream's `resolveOffloadedChunkPaths`: the chunk references of
    /// the manifest's upload and declared offloaded parts whose payload is
    /// present, size-checked; a missing payload is skipped (completeness
    /// fails later).
    fn resolve_offloaded<'o>(
        &self,
        obj: &'o Object,
        m: &Manifest,
    ) -> Result<Vec<(&'o ChunkId, Loc)>> {
        let mut refs: Vec<(&ChunkId, &ChunkRef)> = obj.refs.iter().collect();
        refs.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::new();
        for (id, r) in refs {
            if *id.upload_id != *m.upload_id {
                continue;
            }
            let pk = PartKey {
                part_no: id.part_no,
                part_version: id.part_version,
                offloaded: true,
            };
            let Some(declared) = m.declared.get(&pk) else {
                continue;
            };
            let Some(loc) = self.chunk_blobs.get(&r.sha256) else {
                continue;
            };
            if loc.len != r.size {
                return Err(Error::data(format!(
                    "partNo={} chunkNo={} version={} declared size={} actual size={}: {BAD_CHUNK_REF}",
                    id.part_no, id.chunk_no, id.part_version, r.size, loc.len
                )));
            }
            let declared_size = usize::try_from(id.chunk_no)
                .ok()
                .and_then(|i| declared.chunk_sizes.get(i));
            if declared_size != Some(&r.size) {
                return Err(Error::data(format!(
                    "partNo={} chunkNo={} version={} ref size={} does not match manifest chunk size: {BAD_CHUNK_REF}",
                    id.part_no, id.chunk_no, id.part_version, r.size
                )));
            }
            out.push((id, *loc));
        }
        Ok(out)
    }

    /// Upstream's `resolveObjectFilename`: (relative target, KEYMAP kind).
    fn resolve_name(
        &self,
        bucket: &[u8],
        object: &[u8],
        is_dir_prefix: bool,
        active_keys: &HashSet<&[u8]>,
    ) -> Result<(Vec<u8>, Option<&'static str>)> {
        let collide = |what: &str, target: &[u8]| {
            Error::data(format!(
                "bucket {} object {} {what} rename target {} is also a real object key (rename in S3 first): {COLLISION}",
                show(bucket),
                show(object),
                show(target)
            ))
        };
        if object.ends_with(META_SUFFIX.as_bytes()) {
            if !self.rename_collisions {
                return Err(Error::data(format!(
                    "bucket {} object {}: {COLLISION}",
                    show(bucket),
                    show(object)
                )));
            }
            let target = [object, META_RENAME_SUFFIX.as_bytes()].concat();
            if active_keys.contains(target.as_slice()) {
                return Err(collide("meta-suffix", &target));
            }
            return Ok((target, Some(KIND_META_SUFFIX_RENAME)));
        }
        if is_dir_prefix {
            let target = [object, LEAF_DATA_SUFFIX.as_bytes()].concat();
            if active_keys.contains(target.as_slice()) {
                return Err(collide("leaf-data", &target));
            }
            return Ok((target, Some(KIND_S3_LEAF_DATA)));
        }
        Ok((object.to_vec(), None))
    }

    /// Upstream's `flushOrphanObject`: always a warning; the blob chunks
    /// are written out only with `--include-orphans`.
    fn flush_orphan(
        &mut self,
        bucket: &[u8],
        bucket_dir: &Path,
        object: &[u8],
        generation: u64,
        obj: &Object,
    ) -> Result<()> {
        self.emit(format!(
            "s3_orphan_chunks: bucket={} object={} chunks={} (blob chunks present but no !s3|obj|head record matched)",
            show(bucket),
            show(object),
            obj.blobs.len()
        ));
        if !self.include_orphans || obj.blobs.is_empty() {
            return Ok(());
        }
        if is_dot_or_empty(object) {
            return Err(Error::data(format!(
                "orphan object key {} is a dot segment (would escape orphan dir): {MALFORMED}",
                show(object)
            )));
        }
        let dir = bucket_dir
            .join("_orphans")
            .join(std::ffi::OsStr::from_bytes(
                filename::encode(object).as_bytes(),
            ))
            .join(format!("gen-{generation}"));
        fsutil::create_dir_all(&dir)?;
        let mut chunks: Vec<(&ChunkId, &Loc)> = obj.blobs.iter().collect();
        chunks.sort_by(|a, b| a.0.cmp(b.0));
        for (id, loc) in chunks {
            let name = scratch_name(&id.upload_id, id.part_no, id.chunk_no, id.part_version);
            let path = dir.join(name);
            let mut f = fsutil::create_tree_file(&path)?;
            self.spill.copy_to(*loc, &mut f, &path)?;
        }
        Ok(())
    }
}

impl AdapterDecoder for S3Decoder {
    fn handle(&mut self, prefix: &'static [u8], user_key: &[u8], value: &[u8]) -> Result<()> {
        match prefix {
            keys::BLOB => self.handle_blob(user_key, value),
            keys::BUCKET_META => self.handle_bucket_meta(user_key, value),
            keys::OBJECT_MANIFEST => self.handle_manifest(user_key, value),
            keys::CHUNK_BLOB => self.handle_chunk_blob(user_key, value),
            keys::CHUNK_REF => self.handle_chunk_ref(user_key, value),
            keys::UPLOAD_META | keys::UPLOAD_PART => self.handle_upload(prefix, user_key, value),
            _ => Ok(()),
        }
    }

    fn finalize(&mut self) -> Result<()> {
        if std::mem::replace(&mut self.finalized, true) {
            return Ok(());
        }
        let res = self.finalize_all();
        self.spill.writer = None;
        self.spill.reader = None;
        match fs::remove_dir_all(&self.spill.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if res.is_ok() => return Err(Error::io_at(&self.spill.dir, "remove", e)),
            Err(_) => {}
        }
        res
    }
}

/// Upstream's `filterChunksForManifest` + `verifyChunkCompleteness`: the
/// payload locations of the body, in assembly order.
fn select_chunks(obj: &Object, m: &Manifest, offloaded: Vec<(&ChunkId, Loc)>) -> Result<Vec<Loc>> {
    let declared_nonempty = |pk: &PartKey| m.declared.get(pk).is_some_and(|d| d.chunk_count > 0);
    let upload_ok = |u: &[u8]| m.upload_id.is_empty() || u == m.upload_id.as_slice();
    let mut chosen: Vec<(PartKey, &ChunkId, Loc)> = Vec::new();
    let blobs = obj.blobs.iter().map(|(id, loc)| (id, *loc, false));
    let refs = offloaded.into_iter().map(|(id, loc)| (id, loc, true));
    for (id, loc, off) in blobs.chain(refs) {
        let pk = PartKey {
            part_no: id.part_no,
            part_version: id.part_version,
            offloaded: off,
        };
        if upload_ok(&id.upload_id) && declared_nonempty(&pk) {
            chosen.push((pk, id, loc));
        }
    }
    // Completeness: every declared part with chunks must have exactly the
    // chunk numbers 0..count.
    let mut seen: HashMap<PartKey, HashSet<u64>> = HashMap::new();
    for (pk, id, _) in &chosen {
        seen.entry(*pk).or_default().insert(id.chunk_no);
    }
    let mut declared: Vec<(&PartKey, &Declared)> = m.declared.iter().collect();
    declared.sort_by_key(|(pk, _)| (pk.part_no, pk.part_version, pk.offloaded));
    for (pk, d) in declared {
        if d.chunk_count == 0 {
            continue;
        }
        let got = seen.get(pk).map_or(0, |s| s.len() as u64);
        if got != d.chunk_count {
            return Err(Error::data(format!(
                "partNo={} partVersion={} offloaded={} declared chunks={}, observed unique={got}: {INCOMPLETE}",
                pk.part_no, pk.part_version, pk.offloaded, d.chunk_count
            )));
        }
        if let Some(missing) = (0..d.chunk_count).find(|i| !seen[pk].contains(i)) {
            return Err(Error::data(format!(
                "partNo={} partVersion={} offloaded={} declared chunks={}, missing chunkNo={missing}: {INCOMPLETE}",
                pk.part_no, pk.part_version, pk.offloaded, d.chunk_count
            )));
        }
    }
    // Upstream's order; the upload id breaks ties that Go leaves to map
    // order (possible only when the manifest's upload_id is empty).
    chosen.sort_by(|a, b| {
        (
            a.0.part_no,
            a.0.part_version,
            a.0.offloaded,
            a.1.chunk_no,
            &a.1.upload_id,
        )
            .cmp(&(
                b.0.part_no,
                b.0.part_version,
                b.0.offloaded,
                b.1.chunk_no,
                &b.1.upload_id,
            ))
    });
    Ok(chosen.into_iter().map(|c| c.2).collect())
}

/// True when `chunks` are exactly spill file `id` from start to end, in
/// order, so the file can become the body as it is.
fn covers_whole_file(chunks: &[Loc], id: u32, file_len: u64) -> bool {
    let mut off = 0u64;
    for c in chunks {
        if c.file != id || c.off != off {
            return false;
        }
        off += c.len;
    }
    !chunks.is_empty() && off == file_len
}

/// Upstream's `blobScratchName` (also the file name of an orphan chunk).
fn scratch_name(upload_id: &[u8], part_no: u64, chunk_no: u64, part_version: u64) -> String {
    format!(
        "{}_{part_no:016x}_{chunk_no:016x}_{part_version:016x}.bin",
        filename::encode(upload_id)
    )
}

/// Upstream's `safeJoinUnderRoot`: the key is refused, never cleaned.
fn safe_join(root: &Path, rel: &[u8]) -> Result<PathBuf> {
    let refuse = |why: &str| Error::data(format!("object name {why} {}: {MALFORMED}", show(rel)));
    if rel.is_empty() {
        return Err(refuse("is empty"));
    }
    if rel.contains(&0) {
        return Err(refuse("contains NUL"));
    }
    if rel.contains(&b'\\') {
        return Err(refuse("contains a backslash (rename in S3 first)"));
    }
    if rel.split(|&c| c == b'/').any(is_dot_or_empty) {
        return Err(refuse(
            "has an empty or dot path segment (rename in S3 first)",
        ));
    }
    Ok(root.join(std::ffi::OsStr::from_bytes(rel)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_and_paths() {
        assert_eq!(
            scratch_name(b"u-1", 1, 255, 0),
            "u-1_0000000000000001_00000000000000ff_0000000000000000.bin"
        );
        let root = Path::new("/r");
        assert_eq!(safe_join(root, b"a/b").unwrap(), Path::new("/r/a/b"));
        for bad in [
            &b""[..],
            b"/a",
            b"a/",
            b"a//b",
            b"./a",
            b"a/../b",
            b"..",
            b"a\\b",
            b"a\0b",
        ] {
            assert!(safe_join(root, bad).is_err(), "{bad:?}");
        }
        assert!(safe_join(root, b"...").is_ok());
    }

    #[test]
    fn whole_file_cover() {
        let l = |file, off, len| Loc { file, off, len };
        assert!(covers_whole_file(&[l(1, 0, 3), l(1, 3, 2)], 1, 5));
        assert!(!covers_whole_file(&[l(1, 3, 2), l(1, 0, 3)], 1, 5));
        assert!(!covers_whole_file(&[l(1, 0, 3)], 1, 5));
        assert!(!covers_whole_file(&[l(0, 0, 5)], 1, 5));
        assert!(!covers_whole_file(&[], 1, 0));
    }
}
