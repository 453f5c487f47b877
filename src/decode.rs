//! `.fsm` → dump tree: routing of every live entry to its adapter decoder
//! (longest prefix wins), then MANIFEST.json and CHECKSUMS.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::adapter::{
    self, AdapterDecoder, AdapterKind, AdapterSet, CancelToken, DecodeContext, DecodeOptions, Warn,
};
use crate::budget::{self, DecodeBudget};
use crate::error::{Area, Error, IoResultExt, Result};
use crate::fsm::{self, FsmReader, StreamKind};
use crate::fsutil;
use crate::manifest::{self, Adapters, Exclusions, Manifest, Scope, Source};
use crate::tree::FileMode;
use crate::tree::fs_sink::FsSink;
use crate::tree::sink;

/// Where a routed key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Adapter(AdapterKind),
    /// Counted and dropped (transaction, routing, GC and generation rows).
    Internal,
}

/// Prefixes that are never decoded, even with their adapter enabled.
const INTERNAL_PREFIXES: &[&[u8]] = &[
    b"!s3|bucket|gen|",
    b"!s3|gc|upload|",
    b"!s3route|",
    b"!txn|",
    b"!dist|",
    b"!encryption|",
];

/// The routing table, longest prefix first (stable for equal lengths).
pub fn route_table() -> &'static [(&'static [u8], Target)] {
    static TABLE: OnceLock<Vec<(&'static [u8], Target)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: Vec<(&'static [u8], Target)> = Vec::new();
        for k in AdapterKind::FAN_OUT {
            t.extend(adapter::routes(k).iter().map(|p| (*p, Target::Adapter(k))));
        }
        t.extend(INTERNAL_PREFIXES.iter().map(|p| (*p, Target::Internal)));
        t.sort_by_key(|e| std::cmp::Reverse(e.0.len()));
        t
    })
}

pub fn route(user_key: &[u8]) -> Option<(&'static [u8], Target)> {
    route_table()
        .iter()
        .find(|(p, _)| user_key.starts_with(p))
        .copied()
}

/// Upstream's decode counters; `total = tombstone + adapters + internal + unknown`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub total: u64,
    pub tombstone: u64,
    pub dynamodb: u64,
    pub s3: u64,
    pub redis: u64,
    pub sqs: u64,
    pub internal: u64,
    pub unknown: u64,
}

impl Counters {
    fn bump(&mut self, k: AdapterKind) {
        match k {
            AdapterKind::Redis => self.redis += 1,
            AdapterKind::DynamoDb => self.dynamodb += 1,
            AdapterKind::S3 => self.s3 += 1,
            AdapterKind::Sqs => self.sqs += 1,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct DecodeSummary {
    pub last_commit_ts: u64,
    pub counters: Counters,
}

/// A failed decode: the error as the reader or adapter reported it, and the
/// byte offset of the `.fsm` entry it came from.
#[derive(Debug)]
pub struct DecodeError {
    pub error: Error,
    pub entry_offset: Option<u64>,
}

impl DecodeError {
    /// The error with its entry offset as context.
    pub fn into_error(self) -> Error {
        match self.entry_offset {
            Some(o) => self
                .error
                .at_payload_byte(o)
                .context(format_args!("entry at byte {o}")),
            None => self.error,
        }
    }
}

impl From<Error> for DecodeError {
    fn from(error: Error) -> Self {
        DecodeError {
            error,
            entry_offset: None,
        }
    }
}

/// Open an `.fsm` for decoding: a bare payload, or (beyond upstream) a node
/// runtime file whose header is skipped and whose CRC32C footer is checked.
pub fn decode_file(path: &Path, ctx: DecodeContext, cancel: &CancelToken) -> Result<DecodeSummary> {
    decode_file_detailed(path, ctx, cancel).map_err(|e| fsm_context(e.into_error(), path))
}

/// [`decode_file`] with the error left as the adapter worded it.
pub fn decode_file_detailed(
    path: &Path,
    ctx: DecodeContext,
    cancel: &CancelToken,
) -> Result<DecodeSummary, DecodeError> {
    let f = File::open(path).io_at(path, "open")?;
    let mut br = BufReader::with_capacity(64 * 1024, f);
    let bare = |source: fsm::FsmError| Error::Fsm {
        context: String::new(),
        source,
    };
    let (kind, header) = fsm::read_runtime_header(&mut br).map_err(bare)?;
    match kind {
        StreamKind::Payload => decode_stream_detailed(br, ctx, cancel),
        _ => {
            let mut crc = fsm::CrcFooterReader::new(br, &header);
            let summary = decode_stream_detailed(&mut crc, ctx, cancel)?;
            crc.verify().map_err(bare)?;
            Ok(summary)
        }
    }
}

fn fsm_context(e: Error, path: &Path) -> Error {
    match e {
        Error::Fsm { context, source } if context.is_empty() => Error::Fsm {
            context: format!("decode {}", path.display()),
            source,
        },
        e @ Error::Data(_) => e.context(format_args!("decode {}", path.display())),
        other => other,
    }
}

/// Decode a payload stream into `ctx.tree`. Finalizers always run, in
/// upstream's order (not after an interruption); a read error wins over a
/// finalize error. Returns once every write has been carried out.
pub fn decode_stream<R: Read>(
    r: R,
    ctx: DecodeContext,
    cancel: &CancelToken,
) -> Result<DecodeSummary> {
    decode_stream_detailed(r, ctx, cancel).map_err(DecodeError::into_error)
}

/// The first error in the order things happened. A decoder error found
/// when `n` sink operations had been emitted ranks `2n`; a sink failure
/// of operation `s` ranks `2s + 1` (it happened before any error found
/// after it was emitted).
#[derive(Default)]
struct FirstError(Option<(u64, DecodeError)>);

impl FirstError {
    fn note(&mut self, rank: u64, e: DecodeError) {
        if sink::is_earlier_failure(&e.error) && self.0.is_some() {
            return;
        }
        let replace = match &self.0 {
            None => true,
            Some((r, old)) => rank < *r || sink::is_earlier_failure(&old.error),
        };
        if replace {
            self.0 = Some((rank, e));
        }
    }
}

/// [`decode_stream`] with the error left as the adapter worded it.
pub fn decode_stream_detailed<R: Read>(
    r: R,
    ctx: DecodeContext,
    cancel: &CancelToken,
) -> Result<DecodeSummary, DecodeError> {
    let tree = ctx.tree.clone();
    let enabled = ctx.options.adapters;
    // Every enabled decoder holds its records until the end: each gets its
    // share of the budget, so together they stay within it.
    let share = DecodeContext {
        memory_budget: budget::decoder_share(ctx.memory_budget, enabled.iter().count()),
        cancel: cancel.clone(),
        ..ctx
    };
    let mut decoders: Vec<(AdapterKind, Box<dyn AdapterDecoder>)> = Vec::new();
    for k in AdapterKind::FINALIZE {
        if enabled.contains(k) {
            decoders.push((k, adapter::decoder(k, &share)?));
        }
    }
    drop(share);
    let mut counters = Counters::default();
    let mut last_ts = 0;
    let mut failed_entry = None;
    let read_result = (|| -> Result<()> {
        let mut reader = FsmReader::new(r).map_err(|source| Error::Fsm {
            context: String::new(),
            source,
        })?;
        last_ts = reader.last_commit_ts();
        loop {
            if counters.total % 4096 == 0 {
                cancel.check()?;
            }
            let e = match reader.next_entry() {
                Ok(Some(e)) => e,
                Ok(None) => return Ok(()),
                Err(source) => {
                    return Err(Error::Fsm {
                        context: String::new(),
                        source,
                    });
                }
            };
            counters.total += 1;
            if e.tombstone {
                counters.tombstone += 1;
                continue;
            }
            match route(e.user_key) {
                None => counters.unknown += 1,
                Some((_, Target::Internal)) => counters.internal += 1,
                Some((prefix, Target::Adapter(k))) => {
                    if !enabled.contains(k) {
                        counters.internal += 1;
                        continue;
                    }
                    counters.bump(k);
                    let (_, dec) = decoders
                        .iter_mut()
                        .find(|(kk, _)| *kk == k)
                        .expect("enabled decoder");
                    if let Err(err) = dec.handle(prefix, e.user_key, e.body) {
                        failed_entry = Some(e.offset);
                        return Err(err);
                    }
                }
            }
        }
    })();
    let mut first = FirstError::default();
    let interrupted = matches!(read_result, Err(Error::Interrupted));
    if let Err(e) = read_result {
        first.note(
            2 * tree.position(),
            DecodeError {
                error: e,
                entry_offset: failed_entry,
            },
        );
    }
    if !interrupted {
        for (_, d) in decoders.iter_mut() {
            if let Err(e) = d.finalize() {
                first.note(2 * tree.position(), e.into());
            }
        }
    }
    drop(decoders);
    if let Some((seq, e)) = tree.settle() {
        first.note(2 * seq + 1, e.into());
    }
    if let Some((_, e)) = first.0 {
        if cancel.is_cancelled() {
            return Err(Error::Interrupted.into());
        }
        return Err(e);
    }
    Ok(DecodeSummary {
        last_commit_ts: last_ts,
        counters,
    })
}

/// `SnapshotIndexFromPath`: the decimal stem of `<n>.fsm`, else 0.
pub fn snapshot_index_from_path(path: &str) -> u64 {
    let base = path.rsplit('/').next().unwrap_or(path);
    match base.strip_suffix(".fsm") {
        Some(stem) if !stem.is_empty() && stem.bytes().all(|c| c.is_ascii_digit()) => {
            stem.parse().unwrap_or(0)
        }
        _ => 0,
    }
}

/// A whole `decode` invocation (the CLI's flags, resolved).
#[derive(Debug, Clone)]
pub struct DecodeRequest {
    /// `--input` exactly as typed (recorded in MANIFEST `source.fsm_path`).
    pub input: String,
    pub output: PathBuf,
    pub options: DecodeOptions,
    pub cluster_id: String,
    /// Replace a non-empty `--output` (beyond upstream; see docs).
    pub force: bool,
    pub memory_budget: u64,
}

/// The manifest upstream's decoder writes for these options.
pub fn manifest_for(req: &DecodeRequest, last_commit_ts: u64) -> Manifest {
    let mut m = Manifest::new_phase0(manifest::now_rfc3339_nano());
    m.elastickv_version = "dev".into();
    m.cluster_id = req.cluster_id.clone();
    m.last_commit_ts = last_commit_ts;
    m.snapshot_index = snapshot_index_from_path(&req.input);
    m.source = Some(Source {
        fsm_path: req.input.clone(),
        fsm_crc32c: String::new(),
    });
    let on = |k| req.options.adapters.contains(k).then(Scope::default);
    m.adapters = Some(Adapters {
        dynamodb: on(AdapterKind::DynamoDb),
        s3: on(AdapterKind::S3),
        redis: on(AdapterKind::Redis),
        sqs: on(AdapterKind::Sqs),
    });
    let o = &req.options;
    m.exclusions = Some(Exclusions {
        include_incomplete_uploads: o.include_incomplete_uploads,
        include_orphans: o.include_orphans,
        preserve_sqs_visibility: o.preserve_sqs_visibility,
        include_sqs_side_records: o.include_sqs_side_records,
        rename_s3_collisions: o.rename_s3_collisions,
    });
    if o.dynamodb_bundle_jsonl {
        m.dynamodb_layout = manifest::LAYOUT_JSONL.into();
        m.dynamodb_bundle_max_bytes = o.dynamodb_bundle_max_bytes;
    }
    m
}

/// Where `decode` keeps its spill files while it runs: inside the tree
/// being built (so scratch files can be renamed into it), removed before
/// the tree is published. Upstream's `.scratch/` is a different name.
pub const SCRATCH_DIR: &str = ".ekvplan-scratch";

/// Decode into a fresh directory `root` (which must exist and be empty):
/// adapter subtrees, MANIFEST.json, CHECKSUMS. No publication.
pub fn decode_into(
    req: &DecodeRequest,
    root: &Path,
    warn: Warn,
    cancel: &CancelToken,
) -> Result<DecodeSummary> {
    let scratch = root.join(SCRATCH_DIR);
    fsutil::create_dir_all(&scratch)?;
    let scratch_guard = RemoveDirOnDrop(Some(scratch.clone()));
    let budget = DecodeBudget::of(req.memory_budget);
    let sink = FsSink::new(root, &scratch, &budget, cancel)?;
    let ctx = DecodeContext {
        tree: sink.tree(),
        scratch_root: scratch,
        options: req.options.clone(),
        memory_budget: budget.decoders,
        warn,
        cancel: cancel.clone(),
    };
    let summary = decode_file(Path::new(&req.input), ctx, cancel)?;
    let m = manifest_for(req, summary.last_commit_ts);
    let bytes = m.to_bytes().map_err(|e| Error::data(e.to_string()))?;
    sink.tree()
        .file_with_mode(manifest::FILE_NAME.as_bytes(), FileMode::Public, bytes)?;
    sink.finish_with_checksums()?;
    drop(scratch_guard);
    Ok(summary)
}

fn dir_is_empty(p: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(p)
        .io_at(p, "read directory")?
        .next()
        .is_none())
}

/// The `decode` command: build the tree beside `--output`, sync it, then
/// rename it into place. A failure leaves nothing at `--output`.
pub fn run_decode(req: &DecodeRequest, warn: Warn, cancel: &CancelToken) -> Result<DecodeSummary> {
    decode_request(req, warn, cancel).map_err(|e| e.in_area(Area::Decode))
}

fn decode_request(req: &DecodeRequest, warn: Warn, cancel: &CancelToken) -> Result<DecodeSummary> {
    let out = &req.output;
    let existing = match std::fs::symlink_metadata(out) {
        Ok(m) if m.is_dir() => Some(dir_is_empty(out)?),
        Ok(_) => {
            return Err(Error::usage(format!(
                "--output {} exists and is not a directory",
                out.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io_at(out, "stat", e)),
    };
    if existing == Some(false) && !req.force {
        return Err(Error::usage(format!(
            "--output {} is not empty; pass --force to replace it",
            out.display()
        )));
    }
    if !Path::new(&req.input).exists() {
        return Err(Error::usage(format!("--input {}: no such file", req.input)));
    }
    let parent = fsutil::parent_dir(out);
    fsutil::create_dir_all(parent)?;
    let tmp = fsutil::sibling_temp_path(out, ".tmp-");
    fsutil::create_dir_all(&tmp)?;
    let guard = RemoveDirOnDrop(Some(tmp.clone()));
    let summary = decode_into(req, &tmp, warn, cancel)?;
    let synced = tmp.clone();
    fsutil::interruptible(cancel, move || fsutil::sync_filesystem_of(&synced))?;
    cancel.check()?;
    // With --force the old tree is moved aside and only removed once the
    // new one is in place; if that rename fails it is moved back.
    let mut moved_aside = None;
    match existing {
        None => {}
        Some(true) => std::fs::remove_dir(out).io_at(out, "remove empty output directory")?,
        Some(false) => {
            let old = fsutil::sibling_temp_path(out, ".old-");
            std::fs::rename(out, &old).io_at(out, "move aside")?;
            moved_aside = Some(old);
        }
    }
    if let Err(e) = std::fs::rename(&tmp, out) {
        if let Some(old) = &moved_aside {
            let _ = std::fs::rename(old, out);
        }
        return Err(Error::io_at(out, "rename into place", e));
    }
    guard.disarm();
    fsutil::fsync_dir(parent)?;
    drop(RemoveDirOnDrop(moved_aside));
    Ok(summary)
}

/// Removes a directory tree when dropped (unless disarmed).
pub struct RemoveDirOnDrop(pub Option<PathBuf>);

impl RemoveDirOnDrop {
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// `--dynamodb-bundle-mode`: "" and `per-item` → false, `jsonl` → true.
pub fn parse_bundle_mode(s: &str) -> Result<bool> {
    match s {
        "" | "per-item" => Ok(false),
        "jsonl" => Ok(true),
        other => Err(Error::usage(format!(
            "--dynamodb-bundle-mode {other:?}: must be \"per-item\" or \"jsonl\""
        ))),
    }
}

/// Decode options for a self-test, derived from a manifest as upstream does.
pub fn self_test_options(m: &Manifest, adapters: AdapterSet) -> DecodeOptions {
    let e = m.exclusions();
    DecodeOptions {
        adapters,
        include_incomplete_uploads: e.include_incomplete_uploads,
        include_orphans: e.include_orphans,
        rename_s3_collisions: e.rename_s3_collisions,
        preserve_sqs_visibility: e.preserve_sqs_visibility,
        include_sqs_side_records: e.include_sqs_side_records,
        dynamodb_bundle_jsonl: m.is_jsonl_layout(),
        dynamodb_bundle_max_bytes: match m.dynamodb_bundle_max_bytes {
            0 => DecodeOptions::default().dynamodb_bundle_max_bytes,
            n => n,
        },
        ..DecodeOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        assert_eq!(route(b"!hs|meta|d|x").unwrap().0, b"!hs|meta|d|");
        assert_eq!(route(b"!hs|meta|x").unwrap().0, b"!hs|meta|");
        assert_eq!(route(b"!s3|bucket|gen|b").unwrap().1, Target::Internal);
        assert_eq!(route(b"!txn|1").unwrap().1, Target::Internal);
        assert!(route(b"zzz").is_none());
    }

    #[test]
    fn snapshot_index() {
        assert_eq!(snapshot_index_from_path("/a/0000000000000064.fsm"), 64);
        assert_eq!(snapshot_index_from_path("x.fsm"), 0);
        assert_eq!(snapshot_index_from_path(".fsm"), 0);
        assert_eq!(snapshot_index_from_path("+1.fsm"), 0);
        assert_eq!(snapshot_index_from_path("18446744073709551616.fsm"), 0);
    }

    /// Upstream joins table directories with `filepath.Join`: a table named
    /// `..` lands at the root (no `dynamodb/` directory), `.` in `dynamodb/`.
    #[test]
    fn dot_named_tables_land_where_go_joins_them() {
        use crate::adapter::dynamodb::keys::{META_TABLE_PREFIX, SCHEMA_MAGIC};
        use crate::adapter::dynamodb::proto::{KeySchema, TableSchema};
        use crate::tree::checksums::list_regular_files;
        let mut w = fsm::FsmWriter::new(Vec::new(), 5).unwrap();
        for (seg, name) in [("Lg", "."), ("Li4", "..")] {
            let schema = TableSchema {
                table_name: name.into(),
                attribute_definitions: [("id".to_string(), "S".to_string())].into(),
                primary_key: Some(KeySchema {
                    hash_key: "id".into(),
                    range_key: String::new(),
                }),
                generation: 1,
                ..TableSchema::default()
            };
            let key = [META_TABLE_PREFIX, seg.as_bytes()].concat();
            let value = [SCHEMA_MAGIC, &schema.encode()].concat();
            w.write_entry(&key, 5, 0, &value).unwrap();
        }
        let bytes = w.into_inner();
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let ctx = DecodeContext::writing_to(
            &out,
            &t.path().join("spill"),
            DecodeOptions::default(),
            1 << 20,
            adapter::silent_warn(),
        );
        decode_stream(&bytes[..], ctx, &CancelToken::new()).unwrap();
        let files: Vec<Vec<u8>> = list_regular_files(&out)
            .unwrap()
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(files, [&b"_schema.json"[..], b"dynamodb/_schema.json"]);
        assert!(out.join("items").is_dir() && out.join("dynamodb/items").is_dir());
    }

    #[test]
    fn counters_and_tombstones() {
        let mut w = fsm::FsmWriter::new(Vec::new(), 5).unwrap();
        w.write_entry(b"!txn|a", 5, 0, b"").unwrap();
        w.write_entry(b"other", 5, 0, b"").unwrap();
        let mut bytes = w.into_inner();
        // A tombstone for a Redis key is dropped before routing.
        bytes.extend_from_slice(&9u64.to_le_bytes());
        bytes.extend_from_slice(b"!redis|s");
        bytes.push(0);
        bytes.extend_from_slice(&9u64.to_le_bytes());
        bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0]);
        let t = tempfile::tempdir().unwrap();
        let ctx = DecodeContext::writing_to(
            t.path(),
            &t.path().join(".scratch"),
            DecodeOptions::default(),
            1 << 20,
            adapter::silent_warn(),
        );
        let s = decode_stream(&bytes[..], ctx, &CancelToken::new()).unwrap();
        assert_eq!(s.counters.total, 3);
        assert_eq!(s.counters.internal, 1);
        assert_eq!(s.counters.unknown, 1);
        assert_eq!(s.counters.tombstone, 1);
    }
}
