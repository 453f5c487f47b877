//! `ekvplan run` / `ekvplan verify`: runs a validated plan's jobs in
//! parallel with progress, reports, resume and sharding.
//!
//! A run: select jobs (`--only`, `--shard`) → fingerprint each and skip the
//! up-to-date ones → run the rest on a rayon pool of `--jobs` threads, each
//! admitted in plan order once its memory budget fits in the run's total →
//! report. Every job is exactly [`crate::job::run_encode`], with its own
//! scratch directory and temp file, so a failing or cancelled job never
//! touches another job's output and nothing partial is ever published.
//!
//! The scheduler says what happens as typed [`events::RunEvent`]s; the
//! reporters (`progress`, `plain`, `report_file`) turn them into bars, log lines,
//! GitHub Actions commands and report files.

pub(crate) mod cli;
pub(crate) mod dry_run;
pub(crate) mod events;
pub(crate) mod fingerprint;
pub(crate) mod plain;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod report_file;
pub(crate) mod scratch;
pub(crate) mod select;
pub(crate) mod verify;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::adapter::CancelToken;
use crate::archive::input as archive_input;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::job::{self, EncodeJob, EncodeOutcome, Phase, Progress};
use crate::machine::JsonU64;
use crate::manifest;
use crate::plan::{ResolvedJob, ValidatedPlan};

pub use crate::cancel::RunControl;
use crate::cancel::signals;
use events::{JobMeter, JobStart, Reporter, RunEvent, RunStart, Running};
use fingerprint::{Fingerprint, Freshness, Reason};
use report::{Counts, JobError, ReportOptions, SelfTest, SelfTestMismatch};
pub use report::{JobRecord, JobStatus, RunReport};
use scratch::RunDir;
pub use select::Shard;

/// Test-only hook: a job that reaches this phase waits there until the run
/// is cancelled (`writing`), or for ever (`writing:stuck`), so tests can
/// interrupt a run at a known point.
pub const HOLD_PHASE_ENV: &str = "EKVPLAN_INTERNAL_TEST_HOLD_PHASE";

/// See [`HOLD_PHASE_ENV`].
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestHold {
    pub phase: Phase,
    /// Ignore cancellation (a job stuck in a long system call).
    pub stuck: bool,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Jobs run at once (threads in the pool).
    pub jobs: usize,
    pub fail_fast: bool,
    pub force: bool,
    pub only: Vec<String>,
    pub shard: Option<Shard>,
    /// Total memory budget shared by the running jobs.
    pub memory_budget: u64,
    /// Install the Ctrl-C / SIGTERM handlers for the run's duration.
    pub handle_signals: bool,
    /// Test hook: jobs reaching this phase wait there until cancelled.
    #[doc(hidden)]
    pub test_hold: Option<TestHold>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: default_jobs(),
            fail_fast: false,
            force: false,
            only: Vec::new(),
            shard: None,
            memory_budget: default_total_memory(),
            handle_signals: false,
            test_hold: None,
        }
    }
}

/// One job per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Half of the memory this process may use: the machine's physical memory,
/// or the cgroup's limit when lower (containers), at least 256 MiB.
pub fn default_total_memory() -> u64 {
    // SAFETY: sysconf only reads system configuration.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let phys = if pages > 0 && page > 0 {
        (pages as u64).saturating_mul(page as u64)
    } else {
        u64::MAX
    };
    let limit = phys.min(cgroup_memory_limit().unwrap_or(u64::MAX));
    if limit == u64::MAX {
        return crate::budget::DEFAULT_MEMORY_BUDGET * default_jobs() as u64;
    }
    (limit / 2).max(crate::budget::DEFAULT_MEMORY_BUDGET)
}

/// The memory limit of this process's cgroup (v2 `memory.max`, else v1
/// `memory.limit_in_bytes`), when one is set.
fn cgroup_memory_limit() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let parse = |s: String| s.trim().parse::<u64>().ok();
    let cg = read("/proc/self/cgroup").unwrap_or_default();
    // v2: a line "0::<path>"; v1: a line "<n>:memory:<path>".
    if let Some(rel) = cg.lines().find_map(|l| l.strip_prefix("0::")) {
        let rel = rel.trim().trim_start_matches('/');
        for dir in [
            format!("/sys/fs/cgroup/{rel}"),
            "/sys/fs/cgroup".to_string(),
        ] {
            if let Some(v) = read(&format!("{dir}/memory.max")) {
                return parse(v); // "max" → None
            }
        }
    }
    let v1 = cg
        .lines()
        .find_map(|l| {
            l.split_once(":memory:")
                .map(|(_, p)| p.trim().trim_start_matches('/'))
        })
        .unwrap_or("");
    for dir in [
        format!("/sys/fs/cgroup/memory/{v1}"),
        "/sys/fs/cgroup/memory".to_string(),
    ] {
        if let Some(v) = read(&format!("{dir}/memory.limit_in_bytes")) {
            // An unlimited v1 group reports a huge page-rounded number.
            return parse(v).filter(|&v| v < (1 << 60));
        }
    }
    None
}

/// A selected job after fingerprinting.
struct Prepared<'a> {
    index: usize,
    rj: &'a ResolvedJob,
    fingerprint: std::result::Result<Fingerprint, String>,
    freshness: Freshness,
    /// Size of the input's files, for progress (jobs that will run).
    input_bytes: Option<u64>,
    /// Budget this job runs with (its own, capped at the run's total).
    need: u64,
}

impl Prepared<'_> {
    fn id(&self) -> &str {
        &self.rj.id
    }

    fn reason(&self) -> Reason {
        match &self.freshness {
            Freshness::Run(r) => r.clone(),
            Freshness::UpToDate(_) => Reason::UpToDate,
        }
    }
}

fn prepare<'a>(index: usize, rj: &'a ResolvedJob, force: bool, total: u64) -> Prepared<'a> {
    let fp = fingerprint::compute(rj).map_err(|e| e.to_string());
    let freshness = if force {
        Freshness::Run(Reason::Forced)
    } else {
        fingerprint::check(rj, fp.as_ref().map_err(String::as_str))
    };
    let input_bytes = match freshness {
        Freshness::Run(_) => fingerprint::input_bytes(&rj.job.input),
        Freshness::UpToDate(_) => None,
    };
    Prepared {
        index,
        rj,
        fingerprint: fp,
        freshness,
        input_bytes,
        need: rj.job.memory_budget.clamp(1, total.max(1)),
    }
}

fn prepare_all<'a>(
    pool: &rayon::ThreadPool,
    selected: &[&'a ResolvedJob],
    force: bool,
    total: u64,
) -> Vec<Prepared<'a>> {
    pool.install(|| {
        selected
            .par_iter()
            .enumerate()
            .map(|(i, rj)| prepare(i, rj, force, total))
            .collect()
    })
}

fn build_pool(jobs: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        // Deeply nested JSON is parsed recursively (as on the main thread).
        .stack_size(256 << 20)
        .thread_name(|i| format!("ekvplan-job-{i}"))
        .build()
        .map_err(|e| Error::io("start worker pool", std::io::Error::other(e.to_string())))
}

/// The hold named by [`HOLD_PHASE_ENV`], if any.
pub fn hold_phase_from_env() -> Option<TestHold> {
    let raw = std::env::var(HOLD_PHASE_ENV).ok()?;
    let (want, stuck) = match raw.strip_suffix(":stuck") {
        Some(p) => (p.to_string(), true),
        None => (raw, false),
    };
    let phase = [
        Phase::Reading,
        Phase::Sorting,
        Phase::Writing,
        Phase::SelfTest,
        Phase::Publishing,
    ]
    .into_iter()
    .find(|p| p.as_str() == want)?;
    Some(TestHold { phase, stuck })
}

/// What a job's pipeline reports goes to its meter (and phase changes to
/// the reporters); the test hold waits here too.
struct Observer<'a> {
    meter: &'a JobMeter,
    reporter: &'a dyn Reporter,
    hold: Option<TestHold>,
    cancel: &'a CancelToken,
}

impl Progress for Observer<'_> {
    fn phase(&self, phase: Phase) {
        // An archive input is read (unpacked) before the encoder reads it.
        if self.meter.current_phase() == Some(phase) {
            return;
        }
        self.meter.set_phase(phase);
        self.reporter.event(&RunEvent::JobPhase {
            index: self.meter.index,
            id: &self.meter.id,
            phase,
        });
        if let Some(h) = self.hold.filter(|h| h.phase == phase) {
            while h.stuck || !self.cancel.is_cancelled() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
    fn entries(&self, staged: u64) {
        self.meter.set_entries(staged);
    }
    fn bytes_written(&self, total: u64) {
        self.meter.set_fsm_bytes(total);
    }
}

/// Scratch run directories, one per scratch base, made on first use.
#[derive(Default)]
struct RunDirs(Mutex<HashMap<PathBuf, Arc<RunDir>>>);

impl RunDirs {
    fn for_base(&self, base: &std::path::Path) -> Result<Arc<RunDir>> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = m.get(base) {
            return Ok(d.clone());
        }
        let d = Arc::new(RunDir::create(base)?);
        m.insert(base.to_path_buf(), d.clone());
        Ok(d)
    }
}

fn scratch_base(job: &EncodeJob) -> PathBuf {
    job.scratch_root.clone().unwrap_or_else(std::env::temp_dir)
}

fn run_one(
    p: &Prepared<'_>,
    dirs: &RunDirs,
    ctl: &RunControl,
    observer: &Observer<'_>,
    warn: &crate::adapter::Warn,
) -> Result<EncodeOutcome> {
    let rj = p.rj;
    fsutil::create_dir_all(fsutil::parent_dir(&rj.job.output))?;
    let run_dir = dirs.for_base(&scratch_base(&rj.job))?;
    let job_dir = run_dir.job_dir(p.index)?;
    let mut job = rj.job.clone();
    job.scratch_root = Some(job_dir.clone());
    job.memory_budget = p.need;
    // The job's own scratch directory (removed below whatever happens)
    // holds a dump archive's unpacked tree while the job runs.
    let res = stage_and_encode(p, &mut job, &job_dir, ctl, observer, warn);
    let _ = std::fs::remove_dir_all(&job_dir);
    res
}

fn stage_and_encode(
    p: &Prepared<'_>,
    job: &mut EncodeJob,
    job_dir: &std::path::Path,
    ctl: &RunControl,
    observer: &Observer<'_>,
    warn: &crate::adapter::Warn,
) -> Result<EncodeOutcome> {
    let rj = p.rj;
    let Some(compression) = rj.input_format.compression() else {
        if let Ok(fp) = &p.fingerprint {
            job.sidecar_extra = Some(fingerprint::SidecarExtra::new(rj, fp).to_json());
        }
        return job::run_encode(job, ctl.cancel_token(), warn, Some(observer));
    };
    observer.phase(Phase::Reading);
    let staged = archive_input::stage(&rj.job.input, compression, job_dir, ctl.cancel_token())?;
    observer.meter.restart_estimate(staged.stats.bytes);
    // The sidecar records the bytes that were unpacked (the archive may
    // have changed since the run fingerprinted it).
    let manifest = fsutil::read_input_file(&staged.path().join(manifest::FILE_NAME))?;
    let fp = fingerprint::with_input(
        rj,
        fingerprint::archive_input_digest(&manifest, &staged.sha256),
    );
    job.sidecar_extra = Some(fingerprint::SidecarExtra::new(rj, &fp).to_json());
    job.input = staged.path().to_path_buf();
    let relabelled: crate::adapter::Warn = {
        let (warn, from, to) = (
            warn.clone(),
            staged.path().display().to_string(),
            rj.job.input.display().to_string(),
        );
        Arc::new(move |m: &str| warn(&m.replace(&from, &to)))
    };
    job::run_encode(job, ctl.cancel_token(), &relabelled, Some(observer))
        .map_err(|e| staged.relabel(e, &rj.job.input))
}

fn base_record(p: &Prepared<'_>, status: JobStatus, reason: &Reason) -> JobRecord {
    let job = &p.rj.job;
    JobRecord {
        id: p.id().to_string(),
        status,
        reason: reason.to_string(),
        reason_code: reason.code(),
        input: job.input_display.clone(),
        output: job.output_display.clone(),
        input_bytes: p.input_bytes.map(JsonU64),
        duration_ms: JsonU64(0),
        output_bytes: None,
        output_sha256: None,
        entries: None,
        last_commit_ts: None,
        last_commit_ts_overridden: None,
        adapters: job.adapters.names().iter().map(|s| s.to_string()).collect(),
        self_test: SelfTest::NotRun,
        self_test_mismatch: None,
        fingerprint: p.fingerprint.as_ref().ok().map(|f| f.hex.clone()),
        error: None,
        warnings: Vec::new(),
    }
}

fn up_to_date_record(p: &Prepared<'_>, ex: &fingerprint::Existing) -> JobRecord {
    let mut r = base_record(p, JobStatus::UpToDate, &Reason::UpToDate);
    r.output_bytes = Some(JsonU64(ex.bytes));
    r.output_sha256 = Some(ex.info.output_fsm_sha256.clone());
    r.last_commit_ts = Some(JsonU64(ex.info.last_commit_ts));
    r.last_commit_ts_overridden = Some(ex.info.last_commit_ts_overridden);
    r.adapters = ex.info.adapters_enabled.clone();
    r.self_test = SelfTest::from_flags(ex.info.self_test_ran, ex.info.self_test_matched);
    r
}

fn finished_record(p: &Prepared<'_>, res: Result<EncodeOutcome>) -> JobRecord {
    let reason = p.reason();
    match res {
        Ok(o) => {
            let mut r = base_record(p, JobStatus::Succeeded, &reason);
            r.output_bytes = Some(JsonU64(o.bytes));
            r.output_sha256 = Some(o.sha256);
            r.entries = Some(JsonU64(o.entries));
            r.last_commit_ts = Some(JsonU64(o.last_commit_ts));
            r.last_commit_ts_overridden = Some(o.overridden);
            r.adapters = o.adapters_enabled;
            r.self_test = match o.self_test {
                None => SelfTest::NotRun,
                Some(true) => SelfTest::Matched,
                Some(false) => SelfTest::Mismatched,
            };
            r
        }
        Err(e) => {
            let status = if matches!(e, Error::Interrupted) {
                JobStatus::Cancelled
            } else {
                JobStatus::Failed
            };
            let mut r = base_record(p, status, &reason);
            if matches!(e, Error::SelfTestMismatch(_)) {
                r.self_test = SelfTest::Mismatched;
                r.self_test_mismatch = SelfTestMismatch::from_error(&e);
            }
            r.error = Some(JobError::from_error(&e));
            r
        }
    }
}

/// A job's warnings: told to the reporters and kept for its record.
fn warn_sink(
    reporter: Arc<dyn Reporter>,
    id: &str,
    keep: Arc<Mutex<Vec<String>>>,
) -> crate::adapter::Warn {
    let id = id.to_string();
    Arc::new(move |msg: &str| {
        reporter.event(&RunEvent::JobWarning {
            id: &id,
            message: msg,
        });
        keep.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(msg.to_string());
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Emits [`RunEvent::Progress`] every `every` until dropped.
struct Sampler<'s> {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::ScopedJoinHandle<'s, ()>>,
}

impl<'s> Sampler<'s> {
    fn start<'e: 's>(
        scope: &'s std::thread::Scope<'s, 'e>,
        every: Option<Duration>,
        running: &'e Running,
        reporter: &'e dyn Reporter,
    ) -> Sampler<'s> {
        let Some(every) = every else {
            return Sampler {
                stop: None,
                thread: None,
            };
        };
        let every = every.max(Duration::from_millis(1));
        let (tx, rx) = mpsc::channel::<()>();
        let thread = scope.spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                let snaps = running.snapshots();
                if !snaps.is_empty() {
                    reporter.event(&RunEvent::Progress(&snaps));
                }
            }
        });
        Sampler {
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Sampler<'_> {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Run the selected jobs of a validated plan, printing result lines,
/// warnings and notices to stderr as `--progress none` does (the summary
/// table is the caller's). Returns the report (its `exit_code` is the
/// process exit code); `Err` only for usage problems found before any job
/// started.
pub fn run_plan(
    plan: &ValidatedPlan,
    opts: &RunOptions,
    ctl: &Arc<RunControl>,
) -> Result<RunReport> {
    let quiet = plain::PlainReporter::new(
        plain::PlainOptions {
            live: false,
            heartbeat: Duration::from_secs(10),
            summary: plain::SummaryTo::Nowhere,
            verbosity: crate::output::Verbosity::Normal,
            color: crate::output::color(crate::output::Stream::Stderr),
        },
        plain::stderr_sink(),
    );
    run_plan_with(plan, opts, ctl, Arc::new(quiet))
}

/// [`run_plan`], telling `reporter` everything that happens.
pub fn run_plan_with(
    plan: &ValidatedPlan,
    opts: &RunOptions,
    ctl: &Arc<RunControl>,
    reporter: Arc<dyn Reporter>,
) -> Result<RunReport> {
    let started_at = manifest::now_rfc3339_nano();
    let t0 = Instant::now();
    let selected = select::select(&plan.jobs, &opts.only, opts.shard)?;
    let total = opts.memory_budget.max(1);
    let pool = build_pool(opts.jobs)?;
    let _signals = if opts.handle_signals {
        let r = reporter.clone();
        Some(signals::install(ctl.clone(), move |_| {
            r.event(&RunEvent::Interrupted)
        })?)
    } else {
        None
    };
    let reporter_arc = reporter;
    let reporter: &dyn Reporter = &*reporter_arc;

    // Fingerprint everything first (in parallel) so the totals are known.
    let prepared = prepare_all(&pool, &selected, opts.force, total);
    let mut records: Vec<Option<JobRecord>> = vec![None; prepared.len()];
    let mut queue = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        match &p.freshness {
            Freshness::UpToDate(ex) => records[i] = Some(up_to_date_record(p, ex)),
            Freshness::Run(_) => queue.push(i),
        }
    }
    reporter.event(&RunEvent::Started(&RunStart {
        plan: plan.path.display().to_string(),
        jobs_in_plan: plan.jobs.len(),
        selected: prepared.len(),
        up_to_date: prepared.len() - queue.len(),
        to_run: queue.len(),
        parallel: opts.jobs,
        memory_budget: total,
        shard: opts.shard.map(|s| s.to_string()),
    }));
    for r in records.iter().flatten() {
        reporter.event(&RunEvent::UpToDate(r));
    }

    // Leftovers of runs that crashed or were killed.
    let mut bases: Vec<PathBuf> = queue
        .iter()
        .map(|&i| scratch_base(&prepared[i].rj.job))
        .collect();
    bases.sort();
    bases.dedup();
    let mut stale: usize = bases.iter().map(|b| scratch::sweep_stale(b).len()).sum();
    for p in &prepared {
        stale += fingerprint::remove_stale_temps(&p.rj.job.output).len();
    }
    if stale > 0 {
        reporter.event(&RunEvent::LeftoversRemoved { count: stale });
    }
    for &i in &queue {
        let p = &prepared[i];
        if p.rj.job.memory_budget > total {
            reporter.event(&RunEvent::BudgetCapped {
                id: p.id(),
                asked: p.rj.job.memory_budget,
                total,
            });
        }
    }

    let needs: Vec<u64> = queue.iter().map(|&i| prepared[i].need).collect();
    ctl.reset(total);
    let results: Mutex<Vec<Option<JobRecord>>> = Mutex::new(vec![None; queue.len()]);
    let dirs = RunDirs::default();
    let running = Running::default();
    let started = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let _sampler = Sampler::start(scope, reporter.sample_every(), &running, reporter);
        pool.broadcast(|_| {
            while let Some(q) = ctl.admit_next(&needs) {
                let p = &prepared[queue[q]];
                let start = Instant::now();
                let meter = Arc::new(JobMeter::new(
                    p.index,
                    p.id(),
                    p.input_bytes,
                    p.rj.job.self_test,
                ));
                meter.bind_to_current_thread();
                running.add(meter.clone());
                reporter.event(&RunEvent::JobStarted(&JobStart {
                    index: p.index,
                    ordinal: started.fetch_add(1, Ordering::Relaxed) + 1,
                    to_run: queue.len(),
                    id: p.id().to_string(),
                    input: p.rj.job.input_display.clone(),
                    output: p.rj.job.output_display.clone(),
                    reason: p.reason(),
                    input_bytes: p.input_bytes,
                }));
                let kept = Arc::new(Mutex::new(Vec::new()));
                let warn = warn_sink(reporter_arc.clone(), p.id(), kept.clone());
                let observer = Observer {
                    meter: &meter,
                    reporter,
                    hold: opts.test_hold,
                    cancel: ctl.cancel_token(),
                };
                let res = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    run_one(p, &dirs, ctl, &observer, &warn)
                }));
                let mut rec = match res {
                    Ok(r) => finished_record(p, r),
                    Err(panic) => {
                        let mut r = base_record(p, JobStatus::Failed, &p.reason());
                        r.error = Some(JobError::internal(format!(
                            "internal error: {}",
                            panic_message(&*panic)
                        )));
                        r
                    }
                };
                rec.duration_ms = JsonU64(start.elapsed().as_millis() as u64);
                rec.warnings = std::mem::take(&mut *kept.lock().unwrap_or_else(|e| e.into_inner()));
                if rec.status == JobStatus::Failed && opts.fail_fast {
                    ctl.stop();
                }
                ctl.release(needs[q]);
                running.remove(p.index);
                reporter.event(&RunEvent::JobFinished {
                    index: p.index,
                    record: &rec,
                });
                results.lock().unwrap_or_else(|e| e.into_inner())[q] = Some(rec);
            }
        });
    });
    drop(_signals);

    let ran = results.into_inner().unwrap_or_else(|e| e.into_inner());
    for (q, rec) in ran.into_iter().enumerate() {
        let i = queue[q];
        records[i] = Some(rec.unwrap_or_else(|| {
            let mut r = base_record(&prepared[i], JobStatus::NotStarted, &prepared[i].reason());
            r.reason = "run stopped before it started".into();
            r.reason_code = "not_started";
            r
        }));
    }
    let jobs: Vec<JobRecord> = records.into_iter().flatten().collect();
    let interrupted = ctl.is_interrupted();
    let exit_code = report::exit_code(interrupted, &jobs);
    let report = RunReport {
        format: report::RUN_REPORT_FORMAT,
        format_version: report::FORMAT_VERSION,
        ekvplan_version: env!("CARGO_PKG_VERSION").to_string(),
        plan: plan.path.display().to_string(),
        started_at,
        finished_at: manifest::now_rfc3339_nano(),
        duration_ms: JsonU64(t0.elapsed().as_millis() as u64),
        exit_code,
        interrupted,
        options: ReportOptions {
            jobs: opts.jobs,
            fail_fast: opts.fail_fast,
            force: opts.force,
            only: opts.only.clone(),
            shard: opts.shard.map(|s| s.to_string()),
            memory_budget: JsonU64(total),
        },
        counts: Counts::tally(plan.jobs.len(), &jobs),
        jobs,
    };
    reporter.event(&RunEvent::Finished(&report));
    Ok(report)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod memory_tests {
    #[test]
    fn default_total_memory_is_sane() {
        let m = super::default_total_memory();
        assert!(m >= crate::budget::DEFAULT_MEMORY_BUDGET);
        if let Some(l) = super::cgroup_memory_limit() {
            assert!(m <= (l / 2).max(crate::budget::DEFAULT_MEMORY_BUDGET));
        }
    }
}
