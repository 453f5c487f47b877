//! `.fsm` → `s3/` tree, in bounded memory.
//!
//! Records arrive in key order: every `!s3|blob|` chunk before any bucket
//! meta or manifest, so nothing can be written to its final path while the
//! stream is read. During the read:
//!
//! * chunk payloads are appended to spill files under `<scratch>/s3/` as
//!   they arrive (one file per run of chunks of one object generation);
//! * a small record per blob, chunk reference and manifest (payload
//!   location, chunk identity, rendered sidecar, declared parts) goes to a
//!   bounded-memory sorter keyed by (bucket, object, generation, kind,
//!   arrival);
//! * bucket metas stay in memory (one per bucket); chunkblob payloads are
//!   spilled and indexed by digest; upload records stream to their file.
//!
//! At finalize the sorted records are read back bucket by bucket, object
//! by object (all generations of a key together). Whether a key must be
//! renamed depends only on keys that start with it, and those follow it
//! directly in byte order, so pending objects wait on a stack of keys that
//! are byte-prefixes of one another and are written when the walk leaves
//! their prefix block. Memory is bounded by the sorter budget plus one
//! prefix chain of objects; payload bytes are never held. In the common
//! case (one upload, chunks arriving in assembly order, one generation) the
//! spill file already *is* the body and is renamed into place.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::json;
use super::keys::{self, ChunkRef};
use super::spill::{ChunkIndex, Loc, Spill};
use super::{LEAF_DATA_SUFFIX, META_RENAME_SUFFIX, META_SUFFIX, is_dot_or_empty};
use crate::adapter::{AdapterDecoder, CancelToken, DecodeContext, Warn};
use crate::error::{Error, InputError, Result};
use crate::fsutil;
use crate::gojson::{Escape, JsonWriter};
use crate::sorter::key::{self as sort_key, KeyReader};
use crate::sorter::{ExternalSorter, Ties};
use crate::tree::filename;
use crate::tree::keymap::{KIND_META_SUFFIX_RENAME, KIND_S3_LEAF_DATA};
use crate::tree::{FileWriter, Suspended, TreeOut, sink};

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

/// One chunk of an object, as upstream keys its chunk map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ChunkId {
    part_no: u64,
    part_version: u64,
    chunk_no: u64,
    upload_id: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PartKey {
    part_no: u64,
    part_version: u64,
    offloaded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Declared {
    chunk_count: u64,
    /// Kept for offloaded parts only (the only ones that check sizes).
    chunk_sizes: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Manifest {
    sidecar: Vec<u8>,
    upload_id: Vec<u8>,
    declared: BTreeMap<PartKey, Declared>,
}

// --- the sorted record index --------------------------------------------------

const REC_BLOB: u8 = 0;
const REC_REF: u8 = 1;
const REC_MANIFEST: u8 = 2;

/// A tiny length-prefixed binary codec for index values.
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn chunk_id(&mut self, c: &keys::ChunkKey) -> &mut Self {
        self.bytes(&c.upload_id)
            .u64(c.part_no)
            .u64(c.chunk_no)
            .u64(c.part_version)
    }
}

struct Dec<'a>(&'a [u8]);

impl<'a> Dec<'a> {
    fn u64(&mut self) -> Option<u64> {
        let (h, t) = self.0.split_first_chunk::<8>()?;
        self.0 = t;
        Some(u64::from_le_bytes(*h))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        let b = self.0.get(..n)?;
        self.0 = &self.0[n..];
        Some(b)
    }
    fn chunk_id(&mut self) -> Option<ChunkId> {
        let upload_id = self.bytes()?.to_vec();
        Some(ChunkId {
            part_no: self.u64()?,
            chunk_no: self.u64()?,
            part_version: self.u64()?,
            upload_id,
        })
    }
}

fn index_key(bucket: &[u8], object: &[u8], generation: u64, kind: u8, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + object.len() + 21);
    sort_key::push_bytes(&mut k, bucket);
    sort_key::push_bytes(&mut k, object);
    sort_key::push_u64(&mut k, generation);
    k.push(kind);
    sort_key::push_u64(&mut k, seq);
    k
}

struct IndexKey {
    bucket: Vec<u8>,
    object: Vec<u8>,
    generation: u64,
    kind: u8,
    seq: u64,
}

fn parse_index_key(k: &[u8]) -> Option<IndexKey> {
    let mut r = KeyReader::new(k);
    let key = IndexKey {
        bucket: r.bytes()?,
        object: r.bytes()?,
        generation: r.u64()?,
        kind: r.u8()?,
        seq: r.u64()?,
    };
    r.rest().is_empty().then_some(key)
}

fn corrupt_index() -> Error {
    Error::data("S3 decoder: corrupt scratch index (internal error)")
}

// --- the decoder ------------------------------------------------------------------

/// The S3 decoder (upstream's `S3Encoder`, which despite its name writes
/// the dump tree).
pub struct S3Decoder {
    tree: TreeOut,
    include_incomplete_uploads: bool,
    include_orphans: bool,
    rename_collisions: bool,
    memory_budget: u64,
    warn: Warn,
    cancel: CancelToken,
    /// Bucket metas (upstream keeps the last one handled).
    metas: BTreeMap<Vec<u8>, json::LiveBucketMeta>,
    /// Buckets seen only through upload records (flag on).
    upload_buckets: BTreeSet<Vec<u8>>,
    spill: Spill,
    /// Whether upstream would have created its scratch tree (a blob or a
    /// chunkblob was handled), which it leaves behind as `.scratch/`.
    scratch_used: bool,
    index: Option<ExternalSorter>,
    seq: u64,
    /// The object generation whose chunks the current spill file holds.
    run: Option<(Vec<u8>, Vec<u8>, u64, u32)>,
    chunk_index: ChunkIndex,
    chunk_blob_file: Option<u32>,
    /// The open `records.jsonl`: (bucket, writer); the other buckets'
    /// are set aside (upload metas and parts of a bucket arrive apart).
    uploads: Option<(Vec<u8>, FileWriter)>,
    uploads_aside: HashMap<Vec<u8>, Suspended>,
    finalized: bool,
}

impl S3Decoder {
    pub fn new(ctx: &DecodeContext) -> Self {
        let o = &ctx.options;
        S3Decoder {
            tree: ctx.tree.clone(),
            include_incomplete_uploads: o.include_incomplete_uploads,
            include_orphans: o.include_orphans,
            rename_collisions: o.rename_s3_collisions,
            memory_budget: ctx.memory_budget - ctx.memory_budget / 4,
            warn: ctx.warn.clone(),
            cancel: ctx.cancel.clone(),
            metas: BTreeMap::new(),
            upload_buckets: BTreeSet::new(),
            spill: Spill::new(ctx.scratch_root.join("s3")),
            scratch_used: false,
            index: None,
            seq: 0,
            run: None,
            chunk_index: ChunkIndex::new(
                ctx.memory_budget / 4,
                ctx.scratch_root.join("s3"),
                ctx.cancel.clone(),
            ),
            chunk_blob_file: None,
            uploads: None,
            uploads_aside: HashMap::new(),
            finalized: false,
        }
    }

    fn ensure_scratch(&mut self) -> Result<()> {
        if self.index.is_none() {
            fsutil::create_dir_all(&self.spill.dir)?;
            self.index = Some(
                ExternalSorter::new(self.memory_budget, &self.spill.dir, Ties::InsertionOrder)
                    .with_cancel(&self.cancel),
            );
        }
        Ok(())
    }

    /// Upstream makes `<out>/.scratch/s3/` for the first payload and only
    /// removes `s3/`: the tree keeps an empty `.scratch/`.
    fn use_scratch(&mut self) -> Result<()> {
        if !self.scratch_used {
            self.scratch_used = true;
            self.tree.dir(b".scratch")?;
        }
        Ok(())
    }

    fn index_add(
        &mut self,
        b: &[u8],
        o: &[u8],
        generation: u64,
        kind: u8,
        value: &[u8],
    ) -> Result<()> {
        self.ensure_scratch()?;
        self.seq += 1;
        let k = index_key(b, o, generation, kind, self.seq);
        self.index.as_mut().expect("index just made").add(&k, value)
    }

    fn handle_bucket_meta(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let name =
            keys::parse_bucket_meta_key(key).ok_or_else(|| malformed("bucket meta key", key))?;
        let live = json::parse_live_bucket_meta(value).map_err(|e| {
            let mut ie = InputError::json(e, 0);
            ie.context.push(format!(
                "bucket {}: backup: invalid !s3|bucket|meta value",
                show(&name)
            ));
            Error::from(ie)
        })?;
        self.metas.insert(name, live);
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
        let live = json::parse_live_manifest(value).map_err(|e| bad(e.to_string()))?;
        let mut e = Enc::default();
        e.bytes(&json::render_sidecar(&live))
            .bytes(live.upload_id.as_bytes());
        let parts = live.parts.as_deref().unwrap_or_default();
        e.u64(parts.len() as u64);
        for p in parts {
            let sizes = p.chunk_sizes.as_deref().unwrap_or_default();
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
            e.u64(p.part_no)
                .u64(part_version)
                .u64(u64::from(p.offloaded))
                .u64(p.chunk_count);
            let kept: &[u64] = if p.offloaded { sizes } else { &[] };
            e.u64(kept.len() as u64);
            for s in kept {
                e.u64(*s);
            }
        }
        self.index_add(&bucket, &object, generation, REC_MANIFEST, &e.0)
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
        self.ensure_scratch()?;
        self.use_scratch()?;
        let file = match &self.run {
            Some((b, o, g, id)) if *b == k.bucket && *o == k.object && *g == k.generation => *id,
            _ => {
                let id = self.spill.create()?;
                self.run = Some((k.bucket.clone(), k.object.clone(), k.generation, id));
                id
            }
        };
        let loc = self.spill.append(file, value)?;
        let mut e = Enc::default();
        e.chunk_id(&k)
            .u64(u64::from(loc.file))
            .u64(loc.off)
            .u64(loc.len);
        self.index_add(&k.bucket, &k.object, k.generation, REC_BLOB, &e.0)
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
        self.ensure_scratch()?;
        self.use_scratch()?;
        let file = match self.chunk_blob_file {
            Some(id) => id,
            None => {
                let id = self.spill.create()?;
                self.chunk_blob_file = Some(id);
                id
            }
        };
        let loc = self.spill.append(file, value)?;
        self.chunk_index.insert(&digest, loc)
    }

    fn handle_chunk_ref(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let k = keys::parse_chunk_key(keys::CHUNK_REF, key)
            .ok_or_else(|| malformed("chunkref key", key))?;
        let r = keys::decode_chunk_ref(value)
            .ok_or_else(|| Error::data(format!("chunkref key: {}: {BAD_CHUNK_REF}", show(key))))?;
        let mut e = Enc::default();
        e.chunk_id(&k).bytes(&r.sha256).u64(r.size);
        self.index_add(&k.bucket, &k.object, k.generation, REC_REF, &e.0)
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
            if let Some((b, w)) = self.uploads.take() {
                self.uploads_aside.insert(b, w.suspend()?);
            }
            let w = match self.uploads_aside.remove(&bucket) {
                Some(s) => self.tree.resume(s)?,
                None => {
                    self.upload_buckets.insert(bucket.clone());
                    let rel = sink::join_all(&[
                        b"s3",
                        filename::encode(&bucket).as_bytes(),
                        b"_incomplete_uploads/records.jsonl",
                    ])?;
                    self.tree.create(&rel)?
                }
            };
            self.uploads = Some((bucket, w));
        }
        let (_, w) = self.uploads.as_mut().expect("writer just opened");
        w.write_all(&line)
    }

    fn close_uploads(&mut self) -> Result<()> {
        if let Some((_, w)) = self.uploads.take() {
            w.close()?;
        }
        let mut aside: Vec<(Vec<u8>, Suspended)> = self.uploads_aside.drain().collect();
        aside.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, s) in aside {
            self.tree.resume(s)?.close()?;
        }
        Ok(())
    }

    fn emit(&self, msg: String) {
        (self.warn)(&msg);
    }

    fn finalize_all(&mut self) -> Result<()> {
        self.spill.writer = None;
        self.chunk_index.seal()?;
        self.close_uploads()?;
        let mut rest: BTreeSet<Vec<u8>> = self.metas.keys().cloned().collect();
        rest.extend(std::mem::take(&mut self.upload_buckets));
        if let Some(index) = self.index.take() {
            let mut sorted = index.finish()?;
            let mut bucket: Option<BucketFlush> = None;
            let mut group: Option<Group> = None;
            while let Some((key, body)) = sorted.next()? {
                let k = parse_index_key(key).ok_or_else(corrupt_index)?;
                if bucket.as_ref().map(|b| &b.name) != Some(&k.bucket) {
                    if let Some(g) = group.take() {
                        self.object_group(bucket.as_mut().expect("group has a bucket"), g)?;
                    }
                    if let Some(b) = bucket.take() {
                        self.finish_bucket(b)?;
                    }
                    rest.remove(&k.bucket);
                    bucket = Some(self.start_bucket(k.bucket.clone())?);
                }
                if group.as_ref().map(|g| &g.object) != Some(&k.object) {
                    if let Some(g) = group.take() {
                        self.object_group(bucket.as_mut().expect("group has a bucket"), g)?;
                    }
                    group = Some(Group {
                        object: k.object.clone(),
                        gens: BTreeMap::new(),
                    });
                }
                let g = group.as_mut().expect("group just set");
                let gs = g.gens.entry(k.generation).or_default();
                let mut d = Dec(body);
                match k.kind {
                    REC_BLOB => {
                        let id = d.chunk_id().ok_or_else(corrupt_index)?;
                        let file = d.u64().ok_or_else(corrupt_index)?;
                        let loc = Loc {
                            file: u32::try_from(file).map_err(|_| corrupt_index())?,
                            off: d.u64().ok_or_else(corrupt_index)?,
                            len: d.u64().ok_or_else(corrupt_index)?,
                        };
                        gs.blobs.push((id, loc, k.seq));
                    }
                    REC_REF => {
                        let id = d.chunk_id().ok_or_else(corrupt_index)?;
                        let sha: [u8; 32] = d
                            .bytes()
                            .and_then(|b| b.try_into().ok())
                            .ok_or_else(corrupt_index)?;
                        let size = d.u64().ok_or_else(corrupt_index)?;
                        gs.refs.insert(id, ChunkRef { sha256: sha, size });
                    }
                    _ => gs.manifest = Some(decode_manifest(&mut d).ok_or_else(corrupt_index)?),
                }
            }
            if let Some(g) = group.take() {
                self.object_group(bucket.as_mut().expect("group has a bucket"), g)?;
            }
            if let Some(b) = bucket.take() {
                self.finish_bucket(b)?;
            }
        }
        for name in rest {
            let b = self.start_bucket(name)?;
            self.finish_bucket(b)?;
        }
        Ok(())
    }

    /// Upstream's `flushBucket` prologue: the directory and `_bucket.json`.
    fn start_bucket(&mut self, name: Vec<u8>) -> Result<BucketFlush> {
        if is_dot_or_empty(&name) {
            return Err(Error::data(format!(
                "bucket name {} is empty or a dot segment (would escape s3/ subtree): {MALFORMED}",
                show(&name)
            )));
        }
        let dir = sink::join(b"s3", filename::encode(&name).as_bytes())?;
        self.tree.dir(&dir)?;
        let active_gen = match self.metas.get(&name) {
            Some(m) => {
                let body = json::render_public_bucket(&name, &m.owner, &m.region, &m.acl);
                self.tree
                    .file(&[&dir[..], b"/_bucket.json"].concat(), body)?;
                m.generation
            }
            None => 0,
        };
        Ok(BucketFlush {
            name,
            dir,
            active_gen,
            stack: Vec::new(),
            stale: 0,
            keymap: None,
        })
    }

    fn finish_bucket(&mut self, mut b: BucketFlush) -> Result<()> {
        while let Some(p) = b.stack.pop() {
            self.flush_pending(&mut b, p)?;
        }
        if b.stale > 0 {
            self.emit(format!(
                "s3_stale_generation_objects: bucket={} active_generation={} stale_count={} \
                 (stale-gen objects excluded; restore would otherwise emit them under the new bucket)",
                show(&b.name),
                b.active_gen,
                b.stale
            ));
        }
        if let Some(w) = b.keymap.take() {
            w.close()?;
        }
        Ok(())
    }

    /// All generations of one object key: resolve upstream's shared chunk
    /// storage, route stale generations, and put the active ones on the
    /// prefix stack.
    fn object_group(&mut self, b: &mut BucketFlush, g: Group) -> Result<()> {
        // Upstream stores a chunk at a path that ignores the generation, so
        // the last chunk written with an identity is what every generation
        // of the key reads.
        let mut latest: HashMap<&ChunkId, (u64, Loc)> = HashMap::new();
        for gs in g.gens.values() {
            for (id, loc, seq) in &gs.blobs {
                let e = latest.entry(id).or_insert((*seq, *loc));
                if *seq >= e.0 {
                    *e = (*seq, *loc);
                }
            }
        }
        let mut resolved: Vec<(u64, GenState)> = Vec::new();
        for (generation, gs) in &g.gens {
            let mut ids: Vec<&ChunkId> = gs.blobs.iter().map(|(id, _, _)| id).collect();
            ids.sort();
            ids.dedup();
            let blobs = ids
                .into_iter()
                .map(|id| (id.clone(), latest[id].1))
                .collect();
            resolved.push((
                *generation,
                GenState {
                    blobs,
                    refs: gs.refs.clone(),
                    manifest: gs.manifest.clone(),
                },
            ));
        }
        drop(latest);
        let only_one = g.gens.len() == 1;
        let mut active = Vec::new();
        for (generation, gs) in resolved {
            if b.active_gen != 0 && generation != b.active_gen {
                b.stale += 1;
                if self.include_orphans {
                    self.flush_orphan(b, &g.object, generation, &gs)?;
                }
                continue;
            }
            active.push((generation, gs));
        }
        if active.is_empty() {
            return Ok(());
        }
        let key = g.object;
        // Leave every prefix block that does not contain this key.
        while let Some(top) = b.stack.last() {
            if key.starts_with(&top.key) {
                break;
            }
            let p = b.stack.pop().expect("non-empty stack");
            self.flush_pending(b, p)?;
        }
        for p in &mut b.stack {
            let rest = &key[p.key.len()..];
            if rest.first() == Some(&b'/') {
                p.dir_prefix = true;
            }
            if rest == LEAF_DATA_SUFFIX.as_bytes() {
                p.leaf_target_taken = true;
            }
            if rest == META_RENAME_SUFFIX.as_bytes() {
                p.meta_target_taken = true;
            }
        }
        b.stack.push(Pending {
            key,
            gens: active,
            single_generation: only_one,
            dir_prefix: false,
            leaf_target_taken: false,
            meta_target_taken: false,
        });
        Ok(())
    }

    /// Upstream's `flushObjectWithCollision` for each active generation.
    fn flush_pending(&mut self, b: &mut BucketFlush, p: Pending) -> Result<()> {
        for (generation, gs) in &p.gens {
            let Some(manifest) = &gs.manifest else {
                self.flush_orphan(b, &p.key, *generation, gs)?;
                continue;
            };
            // Upstream's order: offload resolution, name, path, then the
            // completeness check while assembling.
            let offloaded = self.resolve_offloaded(gs, manifest)?;
            let (target, kind) = self.resolve_name(&b.name, &p)?;
            let body = safe_join(&b.dir, &target)?;
            let chunks = select_chunks(gs, manifest, offloaded)?;
            let whole = match chunks.first() {
                Some(first) if p.single_generation => {
                    let len = self.spill.file_len(first.file);
                    covers_whole_file(&chunks, first.file, len).then_some(first.file)
                }
                _ => None,
            };
            match whole {
                Some(id) => self.spill.take_file(id, &self.tree, &body)?,
                None => {
                    let mut w = self.tree.create(&body)?;
                    for loc in &chunks {
                        self.spill.copy_to(*loc, &mut w)?;
                    }
                    w.close()?;
                }
            }
            let sidecar = [&body[..], META_SUFFIX.as_bytes()].concat();
            self.tree.file(&sidecar, manifest.sidecar.clone())?;
            if let Some(kind) = kind {
                if b.keymap.is_none() {
                    b.keymap = Some(self.tree.create(&[&b.dir[..], b"/KEYMAP.jsonl"].concat())?);
                }
                let w = b.keymap.as_mut().expect("keymap just opened");
                let mut line = JsonWriter::compact(Escape::NoHtml);
                line.begin_object()
                    .key("encoded")
                    .string_bytes(&target)
                    .key("original")
                    .string(&URL_SAFE_NO_PAD.encode(&p.key))
                    .key("kind")
                    .string(kind)
                    .end_object();
                w.write_all(&line.finish_line())?;
            }
        }
        Ok(())
    }

    /// Upstream's `resolveOffloadedChunkPaths`: the chunk references of
    /// the manifest's upload and declared offloaded parts whose payload is
    /// present, size-checked; a missing payload is skipped (completeness
    /// fails later).
    fn resolve_offloaded<'g>(
        &self,
        gs: &'g GenState,
        m: &Manifest,
    ) -> Result<Vec<(&'g ChunkId, Loc)>> {
        let mut refs: Vec<(&ChunkId, &ChunkRef)> = gs.refs.iter().collect();
        refs.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::new();
        for (id, r) in refs {
            if id.upload_id != m.upload_id {
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
            let Some(loc) = self.chunk_index.get(&r.sha256)? else {
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
            out.push((id, loc));
        }
        Ok(out)
    }

    /// Upstream's `resolveObjectFilename`: (relative target, KEYMAP kind).
    fn resolve_name(&self, bucket: &[u8], p: &Pending) -> Result<(Vec<u8>, Option<&'static str>)> {
        let object = p.key.as_slice();
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
            if p.meta_target_taken {
                return Err(collide("meta-suffix", &target));
            }
            return Ok((target, Some(KIND_META_SUFFIX_RENAME)));
        }
        if p.dir_prefix {
            let target = [object, LEAF_DATA_SUFFIX.as_bytes()].concat();
            if p.leaf_target_taken {
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
        b: &BucketFlush,
        object: &[u8],
        generation: u64,
        gs: &GenState,
    ) -> Result<()> {
        self.emit(format!(
            "s3_orphan_chunks: bucket={} object={} chunks={} (blob chunks present but no !s3|obj|head record matched)",
            show(&b.name),
            show(object),
            gs.blobs.len()
        ));
        if !self.include_orphans || gs.blobs.is_empty() {
            return Ok(());
        }
        if is_dot_or_empty(object) {
            return Err(Error::data(format!(
                "orphan object key {} is a dot segment (would escape orphan dir): {MALFORMED}",
                show(object)
            )));
        }
        let dir = sink::join_all(&[
            &b.dir,
            b"_orphans",
            filename::encode(object).as_bytes(),
            format!("gen-{generation}").as_bytes(),
        ])?;
        self.tree.dir(&dir)?;
        for (id, loc) in &gs.blobs {
            let name = scratch_name(&id.upload_id, id.part_no, id.chunk_no, id.part_version);
            let mut w = self
                .tree
                .create(&[&dir[..], b"/", name.as_bytes()].concat())?;
            self.spill.copy_to(*loc, &mut w)?;
            w.close()?;
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
        self.index = None;
        self.spill.close();
        // Spill files handed to the tree must be taken before they go.
        self.tree.barrier();
        let cleanup = match fs::remove_dir_all(&self.spill.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::io_at(&self.spill.dir, "remove", e))
            }
            _ => Ok(()),
        };
        res.and(cleanup)
    }
}

/// Per-bucket state while its records are read back.
struct BucketFlush {
    name: Vec<u8>,
    /// `s3/<bucket>` in the tree.
    dir: Vec<u8>,
    active_gen: u64,
    /// Active objects whose keys are byte-prefixes of one another, waiting
    /// until no later key can start with them.
    stack: Vec<Pending>,
    stale: u64,
    keymap: Option<FileWriter>,
}

/// The records of one object key, by generation.
struct Group {
    object: Vec<u8>,
    gens: BTreeMap<u64, RawGen>,
}

#[derive(Default)]
struct RawGen {
    /// (identity, location, arrival); the latest arrival of an identity
    /// wins.
    blobs: Vec<(ChunkId, Loc, u64)>,
    refs: HashMap<ChunkId, ChunkRef>,
    manifest: Option<Manifest>,
}

/// One generation of an object, chunk locations resolved.
struct GenState {
    /// Distinct blob chunks (upstream's `chunkPaths` before offload
    /// resolution), sorted by identity.
    blobs: Vec<(ChunkId, Loc)>,
    refs: HashMap<ChunkId, ChunkRef>,
    manifest: Option<Manifest>,
}

struct Pending {
    key: Vec<u8>,
    gens: Vec<(u64, GenState)>,
    /// The key's records had a single generation (so its spill file is
    /// read by nobody else).
    single_generation: bool,
    /// Another active key continues this one with `/`.
    dir_prefix: bool,
    /// `<key>.elastickv-leaf-data` / `<key>.user-data` is an active key.
    leaf_target_taken: bool,
    meta_target_taken: bool,
}

fn decode_manifest(d: &mut Dec<'_>) -> Option<Manifest> {
    let sidecar = d.bytes()?.to_vec();
    let upload_id = d.bytes()?.to_vec();
    let mut declared = BTreeMap::new();
    for _ in 0..d.u64()? {
        let pk = PartKey {
            part_no: d.u64()?,
            part_version: d.u64()?,
            offloaded: d.u64()? != 0,
        };
        let chunk_count = d.u64()?;
        let n = d.u64()?;
        let mut chunk_sizes = Vec::new();
        for _ in 0..n {
            chunk_sizes.push(d.u64()?);
        }
        declared.insert(
            pk,
            Declared {
                chunk_count,
                chunk_sizes,
            },
        );
    }
    Some(Manifest {
        sidecar,
        upload_id,
        declared,
    })
}

/// Upstream's `filterChunksForManifest` + `verifyChunkCompleteness`: the
/// payload locations of the body, in assembly order.
fn select_chunks(gs: &GenState, m: &Manifest, offloaded: Vec<(&ChunkId, Loc)>) -> Result<Vec<Loc>> {
    let declared_nonempty = |pk: &PartKey| m.declared.get(pk).is_some_and(|d| d.chunk_count > 0);
    let upload_ok = |u: &[u8]| m.upload_id.is_empty() || u == m.upload_id.as_slice();
    let mut chosen: Vec<(PartKey, &ChunkId, Loc)> = Vec::new();
    let blobs = gs.blobs.iter().map(|(id, loc)| (id, *loc, false));
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
    for (pk, d) in &m.declared {
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
fn safe_join(root: &[u8], rel: &[u8]) -> Result<Vec<u8>> {
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
    Ok([root, b"/", rel].concat())
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
        let root = b"s3/r";
        assert_eq!(safe_join(root, b"a/b").unwrap(), b"s3/r/a/b");
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

    #[test]
    fn index_keys_sort_by_bucket_object_generation() {
        let mut ks = [
            index_key(b"b", b"a/b", 1, REC_BLOB, 9),
            index_key(b"b", b"a", 2, REC_BLOB, 1),
            index_key(b"b", b"a", 1, REC_MANIFEST, 3),
            index_key(b"a", b"zzz", 1, REC_BLOB, 4),
            index_key(b"b", b"a\0", 1, REC_BLOB, 5),
            index_key(b"b", b"a.txt", 1, REC_BLOB, 6),
        ];
        ks.sort();
        let got: Vec<(Vec<u8>, Vec<u8>, u64)> = ks
            .iter()
            .map(|k| {
                let p = parse_index_key(k).unwrap();
                (p.bucket, p.object, p.generation)
            })
            .collect();
        let want: Vec<(Vec<u8>, Vec<u8>, u64)> = vec![
            (b"a".to_vec(), b"zzz".to_vec(), 1),
            (b"b".to_vec(), b"a".to_vec(), 1),
            (b"b".to_vec(), b"a".to_vec(), 2),
            (b"b".to_vec(), b"a\0".to_vec(), 1),
            (b"b".to_vec(), b"a.txt".to_vec(), 1),
            (b"b".to_vec(), b"a/b".to_vec(), 1),
        ];
        assert_eq!(got, want);
    }
}
