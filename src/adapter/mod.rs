//! The four adapters as plug-ins. Each module owns both directions for its
//! subtree: `encode` walks `<input>/<name>/` and emits internal-keyspace
//! entries; its decoder receives the routed `.fsm` entries and writes the
//! subtree. The core owns routing, sorting, publishing and the self-test.

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::cancel::CancelToken;
use crate::error::{Area, Error, Result};
use crate::manifest::Manifest;
use crate::tree::TreeOut;

pub(crate) mod dynamodb;
pub(crate) mod redis;
pub(crate) mod s3;
pub(crate) mod sqs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdapterKind {
    Redis,
    DynamoDb,
    S3,
    Sqs,
}

impl AdapterKind {
    /// The adapter's part of an error code.
    pub fn area(self) -> Area {
        match self {
            AdapterKind::Redis => Area::Redis,
            AdapterKind::DynamoDb => Area::Dynamodb,
            AdapterKind::S3 => Area::S3,
            AdapterKind::Sqs => Area::Sqs,
        }
    }

    /// Upstream's encoder fan-out order (also the self-test diff order).
    pub const FAN_OUT: [AdapterKind; 4] = [
        AdapterKind::Redis,
        AdapterKind::DynamoDb,
        AdapterKind::S3,
        AdapterKind::Sqs,
    ];
    /// Upstream's decoder finalize order.
    pub const FINALIZE: [AdapterKind; 4] = [
        AdapterKind::DynamoDb,
        AdapterKind::S3,
        AdapterKind::Redis,
        AdapterKind::Sqs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AdapterKind::Redis => "redis",
            AdapterKind::DynamoDb => "dynamodb",
            AdapterKind::S3 => "s3",
            AdapterKind::Sqs => "sqs",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        AdapterKind::FAN_OUT.into_iter().find(|k| k.name() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl std::fmt::Display for AdapterKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of adapters; iterates in fan-out order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct AdapterSet(u8);

impl AdapterSet {
    pub const ALL: AdapterSet = AdapterSet(0b1111);
    pub const NONE: AdapterSet = AdapterSet(0);

    pub fn contains(self, k: AdapterKind) -> bool {
        self.0 & k.bit() != 0
    }
    pub fn insert(&mut self, k: AdapterKind) {
        self.0 |= k.bit();
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = AdapterKind> {
        AdapterKind::FAN_OUT
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(AdapterKind::name).collect()
    }

    /// The encoder's `--adapter` parser: "" or `all` select everything;
    /// otherwise comma-separated names, trimmed and lowercased.
    pub fn parse_encode_flag(s: &str) -> Result<AdapterSet> {
        if s.is_empty() || s == "all" {
            return Ok(AdapterSet::ALL);
        }
        let mut set = AdapterSet::NONE;
        for part in s.split(',') {
            let name = part.trim().to_lowercase();
            if name.is_empty() {
                continue;
            }
            match AdapterKind::from_name(&name) {
                Some(k) => set.insert(k),
                None => return Err(Error::usage(format!("unknown adapter {name:?}"))),
            }
        }
        if set.is_empty() {
            return Err(Error::usage(format!(
                "--adapter {s:?} selects no adapters; use \"all\" or a comma-separated subset"
            )));
        }
        Ok(set)
    }

    /// The decoder's `--adapter` parser: like the encoder's but case-sensitive.
    pub fn parse_decode_flag(s: &str) -> Result<AdapterSet> {
        if s.is_empty() || s == "all" {
            return Ok(AdapterSet::ALL);
        }
        let mut set = AdapterSet::NONE;
        for part in s.split(',') {
            let name = part.trim();
            if name.is_empty() {
                continue;
            }
            match AdapterKind::from_name(name) {
                Some(k) => set.insert(k),
                None => return Err(Error::usage(format!("{name}: unknown adapter name"))),
            }
        }
        if set.is_empty() {
            return Err(Error::usage("--adapter selected zero adapters"));
        }
        Ok(set)
    }
}

/// Plan-level scope exclusions: names of tables, buckets, queues and Redis
/// databases whose subtrees the encoder skips (and the self-test ignores).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ScopeExclusions {
    pub dynamodb_tables: Vec<String>,
    pub s3_buckets: Vec<String>,
    pub sqs_queues: Vec<String>,
    pub redis_databases: Vec<u32>,
}

impl ScopeExclusions {
    pub fn is_empty(&self) -> bool {
        self.dynamodb_tables.is_empty()
            && self.s3_buckets.is_empty()
            && self.sqs_queues.is_empty()
            && self.redis_databases.is_empty()
    }

    /// Paths relative to the tree root (`dynamodb/<seg>`, ...) that the
    /// exclusions remove from the encoder's view.
    pub fn excluded_subtrees(&self) -> Vec<String> {
        let seg = |s: &String| crate::tree::filename::encode(s.as_bytes());
        let mut v = Vec::new();
        v.extend(
            self.dynamodb_tables
                .iter()
                .map(|t| format!("dynamodb/{}", seg(t))),
        );
        v.extend(self.s3_buckets.iter().map(|t| format!("s3/{}", seg(t))));
        v.extend(self.sqs_queues.iter().map(|t| format!("sqs/{}", seg(t))));
        v.extend(self.redis_databases.iter().map(|d| format!("redis/db_{d}")));
        v
    }
}

/// Where encoded entries go (the bounded-memory sorter in production).
pub trait EntrySink {
    /// Stage one `(user key, user value)` pair; duplicates and oversize
    /// entries are rejected by the sink.
    fn add(&mut self, user_key: &[u8], user_value: &[u8]) -> Result<()>;
}

/// Everything an adapter encoder may consult.
pub struct EncodeContext<'a> {
    /// The dump tree root (holds MANIFEST.json).
    pub input_root: &'a Path,
    pub manifest: &'a Manifest,
    /// Private scratch directory for this job (spill files, temp state).
    pub scratch_dir: &'a Path,
    /// Memory an adapter may use for its own buffering.
    pub memory_budget: u64,
    pub exclusions: &'a ScopeExclusions,
    pub cancel: &'a CancelToken,
    pub warn: &'a Warn,
}

impl EncodeContext<'_> {
    pub fn adapter_dir(&self, kind: AdapterKind) -> PathBuf {
        self.input_root.join(kind.name())
    }
}

/// Receives warnings (`event`, free text); printed by the CLI.
pub type Warn = Arc<dyn Fn(&str) + Send + Sync>;

pub fn stderr_warn() -> Warn {
    Arc::new(|msg: &str| eprintln!("warning: {msg}"))
}

pub fn silent_warn() -> Warn {
    Arc::new(|_: &str| {})
}

/// Decoder options (upstream `DecodeOptions`, plus ekvplan's jsonl budget).
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    pub adapters: AdapterSet,
    pub redis_db_index: u32,
    pub include_incomplete_uploads: bool,
    pub include_orphans: bool,
    pub rename_s3_collisions: bool,
    pub preserve_sqs_visibility: bool,
    pub include_sqs_side_records: bool,
    pub dynamodb_bundle_jsonl: bool,
    /// Size budget of one `items/data-<part>.jsonl` file.
    pub dynamodb_bundle_max_bytes: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            adapters: AdapterSet::ALL,
            redis_db_index: 0,
            include_incomplete_uploads: false,
            include_orphans: false,
            rename_s3_collisions: false,
            preserve_sqs_visibility: false,
            include_sqs_side_records: false,
            dynamodb_bundle_jsonl: false,
            dynamodb_bundle_max_bytes: 64 << 20,
        }
    }
}

/// Everything an adapter decoder may consult. Owned, so decoders can keep it.
#[derive(Clone)]
pub struct DecodeContext {
    /// Where the decoded tree goes (written to disk, or compared with an
    /// input tree); an adapter emits under `<name>/`.
    pub tree: TreeOut,
    /// Private space for spill files (created if missing, removed by the
    /// caller); never part of the output.
    pub scratch_root: PathBuf,
    pub options: DecodeOptions,
    /// This decoder's share of the decode budget (`decode_stream` hands
    /// each enabled decoder its share; see `budget`).
    pub memory_budget: u64,
    pub warn: Warn,
    /// Checked by the decoder's long loops (`decode_stream` sets its own).
    pub cancel: CancelToken,
}

impl DecodeContext {
    /// Where the decoder's sorters put their run files: the scratch root.
    /// Runs are anonymous files, so they never show up anywhere.
    pub fn spill_dir(&self) -> &Path {
        &self.scratch_root
    }

    /// Decode straight into `out_root`, each file written before the call
    /// that emits it returns (tests, embedders); no CHECKSUMS. The scratch
    /// directory is created (a failure surfaces at the first spill).
    pub fn writing_to(
        out_root: &Path,
        scratch_root: &Path,
        options: DecodeOptions,
        memory_budget: u64,
        warn: Warn,
    ) -> DecodeContext {
        let _ = crate::fsutil::create_dir_all(scratch_root);
        DecodeContext {
            tree: crate::tree::fs_sink::FsSink::inline(out_root, &CancelToken::new()),
            scratch_root: scratch_root.to_path_buf(),
            options,
            memory_budget,
            warn,
            cancel: CancelToken::new(),
        }
    }
}

/// One adapter's decode side. `handle` receives every routed live entry
/// (full user key, the matched route prefix, the value body) in `.fsm`
/// order; `finalize` runs once at the end, even after a read error. The
/// tree goes out through the context's [`TreeOut`] only.
pub trait AdapterDecoder {
    fn handle(&mut self, prefix: &'static [u8], user_key: &[u8], value: &[u8]) -> Result<()>;
    fn finalize(&mut self) -> Result<()>;
}

/// Run one adapter's encoder; what it refuses carries its [`Area`].
pub fn encode(kind: AdapterKind, ctx: &EncodeContext<'_>, sink: &mut dyn EntrySink) -> Result<()> {
    match kind {
        AdapterKind::Redis => redis::encode(ctx, sink),
        AdapterKind::DynamoDb => dynamodb::encode(ctx, sink),
        AdapterKind::S3 => s3::encode(ctx, sink),
        AdapterKind::Sqs => sqs::encode(ctx, sink),
    }
    .map_err(|e| e.in_area(kind.area()))
}

/// Build one adapter's decoder; what it refuses carries its [`Area`].
pub fn decoder(kind: AdapterKind, ctx: &DecodeContext) -> Result<Box<dyn AdapterDecoder>> {
    let inner = match kind {
        AdapterKind::Redis => redis::decoder(ctx),
        AdapterKind::DynamoDb => dynamodb::decoder(ctx),
        AdapterKind::S3 => s3::decoder(ctx),
        AdapterKind::Sqs => sqs::decoder(ctx),
    }
    .map_err(|e| e.in_area(kind.area()))?;
    Ok(Box::new(InArea {
        area: kind.area(),
        inner,
    }))
}

/// A decoder whose errors name its adapter.
struct InArea {
    area: Area,
    inner: Box<dyn AdapterDecoder>,
}

impl AdapterDecoder for InArea {
    fn handle(&mut self, prefix: &'static [u8], user_key: &[u8], value: &[u8]) -> Result<()> {
        self.inner
            .handle(prefix, user_key, value)
            .map_err(|e| e.in_area(self.area))
    }
    fn finalize(&mut self) -> Result<()> {
        self.inner.finalize().map_err(|e| e.in_area(self.area))
    }
}

/// The route prefixes each adapter's decoder handles.
pub fn routes(kind: AdapterKind) -> &'static [&'static [u8]] {
    match kind {
        AdapterKind::Redis => redis::ROUTES,
        AdapterKind::DynamoDb => dynamodb::ROUTES,
        AdapterKind::S3 => s3::ROUTES,
        AdapterKind::Sqs => sqs::ROUTES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_parsers_follow_upstream() {
        assert_eq!(AdapterSet::parse_encode_flag("").unwrap(), AdapterSet::ALL);
        assert_eq!(
            AdapterSet::parse_encode_flag("all").unwrap(),
            AdapterSet::ALL
        );
        assert!(AdapterSet::parse_encode_flag("ALL").is_err());
        assert!(AdapterSet::parse_encode_flag("redis,all").is_err());
        assert!(AdapterSet::parse_encode_flag(" ,").is_err());
        let s = AdapterSet::parse_encode_flag(" SQS, redis,").unwrap();
        assert_eq!(s.names(), ["redis", "sqs"]);
        assert!(AdapterSet::parse_decode_flag("Redis").is_err());
        assert_eq!(
            AdapterSet::parse_decode_flag("s3,").unwrap().names(),
            ["s3"]
        );
    }
}
