//! One encode job, start to finish: manifest gates, the adapter fan-out into
//! the bounded-memory sorter, the temp file (hashed while written), the
//! optional self-test, atomic publication and the sidecar. Used by both
//! `ekvplan encode` and every job of `ekvplan run`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::adapter::{
    self, AdapterKind, AdapterSet, CancelToken, EncodeContext, EntrySink, ScopeExclusions, Warn,
};
use crate::budget::{DEFAULT_MEMORY_BUDGET, EncodeBudget};
use crate::decode;
use crate::encode_info::{self, EncodeInfo};
use crate::error::{Area, Error, IoResultExt, Result};
use crate::fsm::HashingWriter;
use crate::fsutil;
use crate::manifest::{self, Manifest};
use crate::selftest;
use crate::sorter::EntrySorter;

/// Phases reported to progress observers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Reading,
    Sorting,
    Writing,
    SelfTest,
    Publishing,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Reading => "reading",
            Phase::Sorting => "sorting",
            Phase::Writing => "writing",
            Phase::SelfTest => "self-test",
            Phase::Publishing => "publishing",
        }
    }
}

/// Observer of a job's progress (phase changes, entries staged, bytes of
/// the `.fsm` written so far).
pub trait Progress: Send + Sync {
    fn phase(&self, _phase: Phase) {}
    fn entries(&self, _staged: u64) {}
    fn bytes_written(&self, _total: u64) {}
}

struct NoProgress;
impl Progress for NoProgress {}

/// A fully resolved encode job.
#[derive(Debug, Clone)]
pub struct EncodeJob {
    pub input: PathBuf,
    pub output: PathBuf,
    /// As typed by the user (recorded in the sidecar).
    pub input_display: String,
    pub output_display: String,
    pub adapters: AdapterSet,
    pub last_commit_ts: Option<u64>,
    pub self_test: bool,
    /// Base for the self-test scratch tree and sort spill files.
    pub scratch_root: Option<PathBuf>,
    pub memory_budget: u64,
    pub exclusions: ScopeExclusions,
    /// Extra sidecar fields (`"ekvplan": {...}`), compact JSON.
    pub sidecar_extra: Option<Vec<u8>>,
}

impl EncodeJob {
    pub fn new(input: impl Into<PathBuf>, output: impl Into<PathBuf>) -> Self {
        let input = input.into();
        let output = output.into();
        EncodeJob {
            input_display: input.display().to_string(),
            output_display: output.display().to_string(),
            input,
            output,
            adapters: AdapterSet::ALL,
            last_commit_ts: None,
            self_test: false,
            scratch_root: None,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            exclusions: ScopeExclusions::default(),
            sidecar_extra: None,
        }
    }
}

/// What a successful (or self-test-mismatched) job produced.
#[derive(Debug, Clone)]
pub struct EncodeOutcome {
    pub sha256: String,
    pub bytes: u64,
    pub entries: u64,
    pub last_commit_ts: u64,
    pub overridden: bool,
    pub manifest_last_commit_ts: u64,
    pub adapters_enabled: Vec<String>,
    pub self_test: Option<bool>,
    pub spilled_runs: usize,
}

/// Read `<input>/MANIFEST.json` as the upstream encoder does: an input that
/// cannot be opened is an I/O error (1), a rejected manifest a data error (2).
pub fn read_input_manifest(input: &Path) -> Result<Manifest> {
    Manifest::read_from_dir(input)
}

/// Every selected adapter must be named in the manifest.
pub fn check_adapters_in_manifest(
    m: &Manifest,
    adapters: AdapterSet,
    manifest_path: &Path,
) -> Result<()> {
    let Some(a) = &m.adapters else {
        return Err(
            Error::data_at(manifest_path, "manifest has no adapters object")
                .in_area(Area::Manifest),
        );
    };
    for k in adapters.iter() {
        let present = match k {
            AdapterKind::Redis => a.redis.is_some(),
            AdapterKind::DynamoDb => a.dynamodb.is_some(),
            AdapterKind::S3 => a.s3.is_some(),
            AdapterKind::Sqs => a.sqs.is_some(),
        };
        if !present {
            return Err(Error::data_at(
                manifest_path,
                format!(
                    "adapter {k:?} selected but not present in manifest adapters",
                    k = k.name()
                ),
            )
            .in_area(Area::Manifest));
        }
    }
    Ok(())
}

/// The effective T: the manifest's, or an override that is not below it.
pub fn resolve_commit_ts(manifest_ts: u64, override_ts: Option<u64>) -> Result<(u64, bool)> {
    match override_ts {
        None => Ok((manifest_ts, false)),
        Some(t) if t < manifest_ts => Err(Error::data(format!(
            "--last-commit-ts {t} is lower than the manifest's last_commit_ts {manifest_ts}"
        ))
        .in_area(Area::Manifest)),
        Some(t) => Ok((t, true)),
    }
}

/// Manifest flags whose records the encoder cannot rebuild, per adapter.
pub fn unsupported_manifest_features(
    m: &Manifest,
    adapters: AdapterSet,
) -> Vec<(AdapterKind, &'static str)> {
    let e = m.exclusions();
    let mut v = Vec::new();
    if adapters.contains(AdapterKind::S3) {
        if e.include_incomplete_uploads {
            v.push((AdapterKind::S3, "exclusions.include_incomplete_uploads"));
        }
        if e.include_orphans {
            v.push((AdapterKind::S3, "exclusions.include_orphans"));
        }
    }
    if adapters.contains(AdapterKind::Sqs) {
        if e.preserve_sqs_visibility {
            v.push((AdapterKind::Sqs, "exclusions.preserve_sqs_visibility"));
        }
        if e.include_sqs_side_records {
            v.push((AdapterKind::Sqs, "exclusions.include_sqs_side_records"));
        }
    }
    v
}

/// `--last-commit-ts`: decimal or `0x` hex u64, surrounding space trimmed.
pub fn parse_commit_ts(raw: &str) -> Result<u64> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Error::usage("--last-commit-ts is empty"));
    }
    let parsed = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            None
        } else {
            u64::from_str_radix(hex, 16).ok()
        }
    } else if s.bytes().all(|c| c.is_ascii_digit()) {
        s.parse::<u64>().ok()
    } else {
        None
    };
    parsed.ok_or_else(|| {
        Error::usage(format!(
            "--last-commit-ts {raw:?}: not a decimal or 0x-hex uint64"
        ))
    })
}

/// Checks cancellation and reports progress while forwarding to the sorter.
struct SorterSink<'a> {
    sorter: &'a mut EntrySorter,
    cancel: &'a CancelToken,
    progress: &'a dyn Progress,
}

impl EntrySink for SorterSink<'_> {
    fn add(&mut self, user_key: &[u8], user_value: &[u8]) -> Result<()> {
        self.sorter.add(user_key, user_value)?;
        let n = self.sorter.entries();
        if n % 4096 == 0 {
            self.cancel.check()?;
            self.progress.entries(n);
        }
        Ok(())
    }
}

/// Reports the bytes written through it to a progress observer and checks
/// for cancellation (about every MiB, so both stay cheap).
struct ProgressWriter<'a, W: Write> {
    inner: W,
    progress: &'a dyn Progress,
    cancel: &'a CancelToken,
    written: u64,
    reported: u64,
}

impl<W: Write> Write for ProgressWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        if self.written - self.reported >= 1 << 20 {
            self.reported = self.written;
            self.progress.bytes_written(self.written);
            if self.cancel.is_cancelled() {
                return Err(std::io::Error::other("cancelled"));
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Deletes a file when dropped unless disarmed (temp outputs).
struct RemoveFileOnDrop(Option<PathBuf>);

impl RemoveFileOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveFileOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// A private directory under the scratch root. Like upstream, a
/// `--scratch-root` that does not exist is not created: the self-test
/// fails there with an I/O error. Sort spills, which upstream does not
/// have, go to the system temp directory instead of failing a run that
/// upstream would finish.
fn make_scratch(job: &EncodeJob, prefix: &str) -> Result<tempfile::TempDir> {
    let base = match &job.scratch_root {
        Some(b) if prefix == SELF_TEST_PREFIX || b.is_dir() => b.clone(),
        _ => std::env::temp_dir(),
    };
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .io_at(&base, "create scratch directory in")
}

const SELF_TEST_PREFIX: &str = "encode-self-test-";

/// Run one encode job with upstream's semantics. On self-test mismatch the
/// error is `Error::SelfTestMismatch` and `<out>.mismatch.txt` + a sidecar
/// with `matched=false` are left, as upstream leaves them.
pub fn run_encode(
    job: &EncodeJob,
    cancel: &CancelToken,
    warn: &Warn,
    progress: Option<&dyn Progress>,
) -> Result<EncodeOutcome> {
    encode_job(job, cancel, warn, progress).map_err(|e| e.in_area(Area::Encode))
}

fn encode_job(
    job: &EncodeJob,
    cancel: &CancelToken,
    warn: &Warn,
    progress: Option<&dyn Progress>,
) -> Result<EncodeOutcome> {
    let progress = progress.unwrap_or(&NoProgress);
    let manifest_path = job.input.join(manifest::FILE_NAME);
    // 1. Manifest, adapter scope, effective T, fail-closed guards.
    let m = read_input_manifest(&job.input)?;
    check_adapters_in_manifest(&m, job.adapters, &manifest_path)?;
    let (t, overridden) = resolve_commit_ts(m.last_commit_ts, job.last_commit_ts)
        .map_err(|e| e.context(manifest_path.display()))?;
    if job.adapters.is_empty() {
        return Err(Error::usage("no adapter selected"));
    }
    if let Some((k, flag)) = unsupported_manifest_features(&m, job.adapters).first() {
        return Err(Error::data_at(
            &manifest_path,
            format!("{flag} is set, and the {k} encoder cannot rebuild those records"),
        )
        .in_area(Area::Manifest));
    }
    // 2. Stale mismatch report from an earlier run goes first (as upstream).
    let _ = fs::remove_file(fsutil::with_suffix(&job.output, ".mismatch.txt"));

    // 3. Adapters → sorter (spilling into a private scratch dir).
    let work = make_scratch(job, "ekvplan-encode-")?;
    let budget = EncodeBudget::of(job.memory_budget);
    let mut sorter = EntrySorter::new(t, budget.sorter, work.path()).with_cancel(cancel);
    progress.phase(Phase::Reading);
    let mut enabled = Vec::new();
    {
        let ctx = EncodeContext {
            input_root: &job.input,
            manifest: &m,
            scratch_dir: work.path(),
            memory_budget: budget.adapters,
            exclusions: &job.exclusions,
            cancel,
            warn,
        };
        let mut sink = SorterSink {
            sorter: &mut sorter,
            cancel,
            progress,
        };
        for k in job.adapters.iter() {
            adapter::encode(k, &ctx, &mut sink).map_err(|e| match e {
                Error::Interrupted => e,
                other => other.lead(format_args!("{k} encoder")),
            })?;
            enabled.push(k.name().to_string());
        }
    }
    cancel.check()?;

    // 4. Sorted stream → temp file beside the output, hashed as written.
    let tmp_path = fsutil::sibling_temp_path(&job.output, ".tmp-");
    let file = fsutil::create_new_private(&tmp_path)?;
    let mut tmp_guard = RemoveFileOnDrop(Some(tmp_path.clone()));
    progress.phase(Phase::Sorting);
    let hw = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    progress.phase(Phase::Writing);
    let entries = sorter.entries();
    let pw = ProgressWriter {
        inner: hw,
        progress,
        cancel,
        written: 0,
        reported: 0,
    };
    let (pw, stats) = sorter.write_to(pw).map_err(|e| {
        if cancel.is_cancelled() {
            Error::Interrupted
        } else {
            e
        }
    })?;
    let (bw, digest, bytes) = pw.inner.finish();
    progress.bytes_written(bytes);
    let file = bw
        .into_inner()
        .map_err(|e| Error::io_at(&tmp_path, "write", e.into_error()))?;
    let synced = tmp_path.clone();
    fsutil::interruptible(cancel, move || file.sync_all().io_at(&synced, "fsync"))?;
    let sha256 = hex::encode(digest);
    cancel.check()?;

    let mut outcome = EncodeOutcome {
        sha256,
        bytes,
        entries,
        last_commit_ts: t,
        overridden,
        manifest_last_commit_ts: m.last_commit_ts,
        adapters_enabled: enabled,
        self_test: None,
        spilled_runs: stats.spilled_runs,
    };

    // 5. Self-test: decode the temp file, comparing it with the input.
    if job.self_test {
        progress.phase(Phase::SelfTest);
        let failure = self_test(job, &m, &tmp_path, t, cancel, warn)?;
        outcome.self_test = Some(failure.is_none());
        if let Some(failure) = failure {
            let text = failure.mismatch_text();
            let mm_path = fsutil::with_suffix(&job.output, ".mismatch.txt");
            match fsutil::open_sidecar_file(&mm_path) {
                Ok(mut f) => {
                    if let Err(e) = f.write_all(&text).and_then(|_| f.sync_all()) {
                        warn(&format!("write {}: {e}", mm_path.display()));
                    }
                }
                Err(e) => warn(&e.to_string()),
            }
            remove_stale_output(&job.output);
            drop(tmp_guard);
            if let Err(e) = write_sidecar(job, &m, &outcome) {
                warn(&format!("sidecar after self-test mismatch: {e}"));
            }
            let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
            return Err(failure.to_error(format!(
                "{} (see {})",
                String::from_utf8_lossy(first),
                mm_path.display()
            )));
        }
    }

    // 6. Publish, then the sidecar; a sidecar failure rolls the output back.
    // A job cancelled during its self-test publishes nothing.
    cancel.check()?;
    progress.phase(Phase::Publishing);
    fsutil::publish(&tmp_path, &job.output)?;
    tmp_guard.disarm();
    if let Err(e) = write_sidecar(job, &m, &outcome) {
        let _ = fs::remove_file(&job.output);
        return Err(e);
    }
    Ok(outcome)
}

fn self_test(
    job: &EncodeJob,
    m: &Manifest,
    fsm_path: &Path,
    t: u64,
    cancel: &CancelToken,
    warn: &Warn,
) -> Result<Option<selftest::Failure>> {
    let dir = make_scratch(job, SELF_TEST_PREFIX)?;
    let rt = selftest::round_trip(
        &selftest::RoundTripSpec {
            fsm: fsm_path,
            input: &job.input,
            options: decode::self_test_options(m, job.adapters),
            skip: job.exclusions.excluded_subtrees(),
            scratch: dir.path(),
            memory_budget: job.memory_budget,
            want_commit_ts: t,
        },
        cancel,
    )?;
    if let Some(w) = selftest::empty_dir_warning(&rt) {
        warn(&w);
    }
    Ok(rt.failure)
}

/// After a mismatch, nothing may remain at the output path: remove a
/// regular file or a symlink (not its target); leave anything else.
fn remove_stale_output(out: &Path) {
    if let Ok(md) = fs::symlink_metadata(out) {
        if md.file_type().is_file() || md.file_type().is_symlink() {
            let _ = fs::remove_file(out);
        }
    }
}

pub fn sidecar_path(output: &Path) -> PathBuf {
    fsutil::with_suffix(output, encode_info::SUFFIX)
}

fn write_sidecar(job: &EncodeJob, m: &Manifest, o: &EncodeOutcome) -> Result<()> {
    let info = EncodeInfo {
        encoder_version: env!("CARGO_PKG_VERSION").to_string(),
        wall_time_iso: manifest::now_rfc3339_nano(),
        input_root: job.input_display.clone(),
        output_fsm_path: job.output_display.clone(),
        output_fsm_sha256: o.sha256.clone(),
        last_commit_ts: o.last_commit_ts,
        last_commit_ts_overridden: o.overridden,
        manifest_last_commit_ts: m.last_commit_ts,
        manifest_cluster_id: m.cluster_id.clone(),
        adapters_enabled: o.adapters_enabled.clone(),
        self_test_ran: o.self_test.is_some(),
        self_test_matched: o.self_test.unwrap_or(false),
        ekvplan: job.sidecar_extra.clone(),
    };
    let path = sidecar_path(&job.output);
    let mut f = fsutil::open_sidecar_file(&path)?;
    let res = f
        .write_all(&info.to_bytes())
        .and_then(|_| f.sync_all())
        .io_at(&path, "write sidecar")
        .and_then(|_| fsutil::fsync_dir(fsutil::parent_dir(&path)));
    if res.is_err() {
        let _ = fs::remove_file(&path);
    }
    res
}

/// Convenience for tests and embedders: run with stderr warnings.
pub fn run_encode_simple(job: &EncodeJob) -> Result<EncodeOutcome> {
    let warn: Warn = Arc::new(|m: &str| eprintln!("warning: {m}"));
    run_encode(job, &CancelToken::new(), &warn, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_ts_parsing() {
        assert_eq!(parse_commit_ts("7000").unwrap(), 7000);
        assert_eq!(parse_commit_ts(" 0x1B58 ").unwrap(), 7000);
        assert_eq!(parse_commit_ts("0X000ff").unwrap(), 255);
        assert_eq!(parse_commit_ts("007").unwrap(), 7);
        for bad in [
            "",
            " ",
            "0x",
            "-1",
            "+1",
            "1_000",
            "18446744073709551616",
            "12abc",
        ] {
            assert!(parse_commit_ts(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commit_ts_resolution() {
        assert_eq!(resolve_commit_ts(5, None).unwrap(), (5, false));
        assert_eq!(resolve_commit_ts(5, Some(5)).unwrap(), (5, true));
        assert!(resolve_commit_ts(5, Some(4)).is_err());
    }
}
