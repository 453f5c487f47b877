//! `ekvplan run` / `ekvplan verify`: runs a validated plan's jobs in
//! parallel with progress, reports, resume and sharding (issue 8).
//!
//! A run: select jobs (`--only`, `--shard`) → fingerprint each and skip the
//! up-to-date ones → run the rest on a rayon pool of `--jobs` threads, each
//! admitted in plan order once its memory budget fits in the run's total →
//! report. Every job is exactly [`crate::job::run_encode`], with its own
//! scratch directory and temp file, so a failing or cancelled job never
//! touches another job's output and nothing partial is ever published.

pub mod cli;
pub mod control;
pub mod fingerprint;
pub mod progress;
pub mod report;
pub mod scratch;
pub mod select;
pub mod signals;
#[doc(hidden)]
pub mod testing;
pub mod verify;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rayon::prelude::*;

use crate::adapter::CancelToken;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::job::{self, EncodeJob, EncodeOutcome, Phase, Progress};
use crate::manifest;
use crate::plan::{ResolvedJob, ValidatedPlan};

pub use control::RunControl;
use fingerprint::{Fingerprint, Freshness};
use progress::{JobBar, Ui};
use report::{Counts, JobError, ReportOptions, SelfTest};
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
    /// Draw progress bars (only ever on a terminal).
    pub progress: bool,
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
            progress: false,
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
struct Prepared {
    id: String,
    job: EncodeJob,
    fingerprint: std::result::Result<Fingerprint, String>,
    freshness: Freshness,
    /// Budget this job runs with (its own, capped at the run's total).
    need: u64,
}

fn prepare(rj: &ResolvedJob, force: bool, total: u64) -> Prepared {
    let fp = fingerprint::compute(&rj.job);
    let freshness = if force {
        Freshness::Run("forced")
    } else {
        fingerprint::check(&rj.job, fp.as_ref().ok())
    };
    Prepared {
        id: rj.id.clone(),
        job: rj.job.clone(),
        fingerprint: fp.map_err(|e| e.to_string()),
        freshness,
        need: rj.job.memory_budget.clamp(1, total.max(1)),
    }
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

/// The progress observer a job sees: its UI line, plus the test hold.
struct Observer<'a> {
    bar: &'a JobBar,
    hold: Option<TestHold>,
    cancel: &'a CancelToken,
}

impl Progress for Observer<'_> {
    fn phase(&self, phase: Phase) {
        self.bar.phase(phase);
        if let Some(h) = self.hold.filter(|h| h.phase == phase) {
            while h.stuck || !self.cancel.is_cancelled() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
    fn entries(&self, staged: u64) {
        self.bar.entries(staged);
    }
    fn bytes_written(&self, total: u64) {
        self.bar.bytes_written(total);
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
    index: usize,
    p: &Prepared,
    dirs: &RunDirs,
    ctl: &RunControl,
    hold: Option<TestHold>,
    bar: &JobBar,
    warn: &crate::adapter::Warn,
) -> Result<EncodeOutcome> {
    fsutil::create_dir_all(fsutil::parent_dir(&p.job.output))?;
    let run_dir = dirs.for_base(&scratch_base(&p.job))?;
    let job_dir = run_dir.job_dir(index)?;
    let mut job = p.job.clone();
    job.scratch_root = Some(job_dir.clone());
    job.memory_budget = p.need;
    if let Ok(fp) = &p.fingerprint {
        job.sidecar_extra = Some(fingerprint::sidecar_extra(&p.id, &p.job, fp).to_json());
    }
    let observer = Observer {
        bar,
        hold,
        cancel: ctl.cancel_token(),
    };
    let res = job::run_encode(&job, ctl.cancel_token(), warn, Some(&observer));
    let _ = std::fs::remove_dir_all(&job_dir);
    res
}

fn base_record(p: &Prepared, status: JobStatus, reason: &str) -> JobRecord {
    JobRecord {
        id: p.id.clone(),
        status,
        reason: reason.to_string(),
        input: p.job.input_display.clone(),
        output: p.job.output_display.clone(),
        duration_ms: 0,
        output_bytes: None,
        output_sha256: None,
        entries: None,
        last_commit_ts: None,
        last_commit_ts_overridden: None,
        adapters: p
            .job
            .adapters
            .names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        self_test: SelfTest::NotRun,
        fingerprint: p.fingerprint.as_ref().ok().map(|f| f.hex.clone()),
        error: None,
        warnings: Vec::new(),
    }
}

fn up_to_date_record(p: &Prepared, ex: &fingerprint::Existing) -> JobRecord {
    let mut r = base_record(p, JobStatus::UpToDate, "fingerprint matches");
    r.output_bytes = Some(ex.bytes);
    r.output_sha256 = Some(ex.info.output_fsm_sha256.clone());
    r.last_commit_ts = Some(ex.info.last_commit_ts);
    r.last_commit_ts_overridden = Some(ex.info.last_commit_ts_overridden);
    r.adapters = ex.info.adapters_enabled.clone();
    r.self_test = SelfTest::from_flags(ex.info.self_test_ran, ex.info.self_test_matched);
    r
}

fn finished_record(p: &Prepared, reason: &str, res: Result<EncodeOutcome>) -> JobRecord {
    match res {
        Ok(o) => {
            let mut r = base_record(p, JobStatus::Succeeded, reason);
            r.output_bytes = Some(o.bytes);
            r.output_sha256 = Some(o.sha256);
            r.entries = Some(o.entries);
            r.last_commit_ts = Some(o.last_commit_ts);
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
            let mut r = base_record(p, status, reason);
            if matches!(e, Error::SelfTestMismatch(_)) {
                r.self_test = SelfTest::Mismatched;
            }
            r.error = Some(JobError::from_error(&e));
            r
        }
    }
}

fn done_line(r: &JobRecord) -> String {
    let mut s = format!("{:>11} {}", r.status.label(), r.id);
    match r.status {
        JobStatus::Succeeded => {
            let _ = write!(
                s,
                " ({}, {}, sha256 {})",
                report::format_duration(r.duration_ms),
                indicatif::HumanBytes(r.output_bytes.unwrap_or(0)),
                r.output_sha256
                    .as_deref()
                    .map(|h| &h[..h.len().min(12)])
                    .unwrap_or("-")
            );
        }
        JobStatus::Failed => {
            if let Some(e) = &r.error {
                let _ = write!(s, ": {}", e.message);
            }
        }
        _ => {}
    }
    s
}

/// Run the selected jobs of a validated plan. Returns the report (its
/// `exit_code` is the process exit code); `Err` only for usage problems
/// found before any job started.
pub fn run_plan(
    plan: &ValidatedPlan,
    opts: &RunOptions,
    ctl: &Arc<RunControl>,
) -> Result<RunReport> {
    let started_at = manifest::now_rfc3339_nano();
    let t0 = Instant::now();
    let selected = select::select(&plan.jobs, &opts.only, opts.shard)?;
    let total = opts.memory_budget.max(1);
    let pool = build_pool(opts.jobs)?;
    let id_width = selected
        .iter()
        .map(|j| j.id.chars().count())
        .max()
        .unwrap_or(4);
    let ui = Ui::new(opts.progress, selected.len() as u64, id_width);
    let _signals = if opts.handle_signals {
        let ui2 = ui.clone();
        Some(signals::install(ctl.clone(), move |_| {
            ui2.println(
                "ekvplan: interrupted: cancelling running jobs (press Ctrl-C again to exit at once)",
            );
        })?)
    } else {
        None
    };

    // Fingerprint everything first (in parallel) so the totals are known.
    let prepared: Vec<Prepared> = pool.install(|| {
        selected
            .par_iter()
            .map(|rj| prepare(rj, opts.force, total))
            .collect()
    });
    let mut records: Vec<Option<JobRecord>> = vec![None; prepared.len()];
    let mut queue = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        match &p.freshness {
            Freshness::UpToDate(ex) => {
                records[i] = Some(up_to_date_record(p, ex));
                ui.job_done();
            }
            Freshness::Run(_) => queue.push(i),
        }
    }
    let fresh = prepared.len() - queue.len();
    if fresh > 0 {
        ui.println(&format!(
            "ekvplan: {fresh} job(s) up to date (--force reruns them)"
        ));
    }

    // Leftovers of runs that crashed or were killed.
    let mut stale = 0;
    let mut bases: Vec<PathBuf> = queue
        .iter()
        .map(|&i| scratch_base(&prepared[i].job))
        .collect();
    bases.sort();
    bases.dedup();
    for b in &bases {
        stale += scratch::sweep_stale(b).len();
    }
    for p in &prepared {
        stale += fingerprint::remove_stale_temps(&p.job.output).len();
    }
    if stale > 0 {
        ui.println(&format!(
            "ekvplan: removed {stale} leftover temp file(s)/dir(s) of an earlier interrupted run"
        ));
    }
    for &i in &queue {
        let p = &prepared[i];
        if p.job.memory_budget > total {
            ui.println(&format!(
                "warning: [{}] memory_budget {} exceeds the run's total {}; using {}",
                p.id, p.job.memory_budget, total, total
            ));
        }
    }

    let needs: Vec<u64> = queue.iter().map(|&i| prepared[i].need).collect();
    ctl.reset(total);
    let results: Mutex<Vec<Option<JobRecord>>> = Mutex::new(vec![None; queue.len()]);
    let dirs = RunDirs::default();
    pool.broadcast(|_| {
        while let Some(q) = ctl.admit_next(&needs) {
            let i = queue[q];
            let p = &prepared[i];
            let reason = match &p.freshness {
                Freshness::Run(r) => *r,
                Freshness::UpToDate(_) => "fingerprint matches",
            };
            let start = Instant::now();
            let kept = Arc::new(Mutex::new(Vec::new()));
            let warn = ui.warn_for(&p.id, kept.clone());
            let bar = ui.start_job(&p.id);
            let res = std::panic::catch_unwind(AssertUnwindSafe(|| {
                run_one(i, p, &dirs, ctl, opts.test_hold, &bar, &warn)
            }));
            drop(bar);
            let mut rec = match res {
                Ok(r) => finished_record(p, reason, r),
                Err(panic) => {
                    let msg = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "panic".into());
                    let mut r = base_record(p, JobStatus::Failed, reason);
                    r.error = Some(JobError::internal(format!("internal error: {msg}")));
                    r
                }
            };
            rec.duration_ms = start.elapsed().as_millis() as u64;
            rec.warnings = std::mem::take(&mut *kept.lock().unwrap_or_else(|e| e.into_inner()));
            if rec.status == JobStatus::Failed && opts.fail_fast {
                ctl.stop();
            }
            ctl.release(needs[q]);
            ui.println(&done_line(&rec));
            ui.job_done();
            results.lock().unwrap_or_else(|e| e.into_inner())[q] = Some(rec);
        }
    });
    drop(_signals);
    ui.finish();

    let ran = results.into_inner().unwrap_or_else(|e| e.into_inner());
    for (q, rec) in ran.into_iter().enumerate() {
        let i = queue[q];
        records[i] = Some(rec.unwrap_or_else(|| {
            base_record(
                &prepared[i],
                JobStatus::NotStarted,
                "run stopped before it started",
            )
        }));
    }
    let jobs: Vec<JobRecord> = records.into_iter().flatten().collect();
    let interrupted = ctl.is_interrupted();
    let exit_code = report::exit_code(interrupted, &jobs);
    Ok(RunReport {
        report_version: report::REPORT_VERSION,
        ekvplan_version: env!("CARGO_PKG_VERSION").to_string(),
        plan: plan.path.display().to_string(),
        started_at,
        finished_at: manifest::now_rfc3339_nano(),
        duration_ms: t0.elapsed().as_millis() as u64,
        exit_code,
        interrupted,
        options: ReportOptions {
            jobs: opts.jobs,
            fail_fast: opts.fail_fast,
            force: opts.force,
            only: opts.only.clone(),
            shard: opts.shard.map(|s| s.to_string()),
            memory_budget: total,
        },
        counts: Counts::tally(plan.jobs.len(), &jobs),
        jobs,
    })
}

/// What `--dry-run` prints: the selected jobs as resolved, their effective
/// T and whether each is up to date. Reads inputs and sidecars; writes
/// nothing.
pub fn dry_run(plan: &ValidatedPlan, opts: &RunOptions) -> Result<String> {
    let selected = select::select(&plan.jobs, &opts.only, opts.shard)?;
    let total = opts.memory_budget.max(1);
    let pool = build_pool(opts.jobs)?;
    let prepared: Vec<Prepared> = pool.install(|| {
        selected
            .par_iter()
            .map(|rj| prepare(rj, opts.force, total))
            .collect()
    });
    let mut s = String::new();
    let _ = writeln!(
        s,
        "plan {}: {} of {} job(s) selected{}",
        plan.path.display(),
        selected.len(),
        plan.jobs.len(),
        opts.shard
            .map(|sh| format!(" (shard {sh})"))
            .unwrap_or_default()
    );
    let mut would_run = 0;
    for p in &prepared {
        let status = match &p.freshness {
            Freshness::UpToDate(_) => "up to date".to_string(),
            Freshness::Run(why) => {
                would_run += 1;
                format!("would run ({why})")
            }
        };
        let t = match job::read_input_manifest(&p.job.input) {
            Ok(m) => match job::resolve_commit_ts(m.last_commit_ts, p.job.last_commit_ts) {
                Ok((t, true)) => format!("{t} (override; manifest {})", m.last_commit_ts),
                Ok((t, false)) => format!("{t} (from manifest)"),
                Err(e) => format!("? ({e})"),
            },
            Err(e) => format!("? ({e})"),
        };
        let _ = writeln!(s, "\n{}: {status}", p.id);
        let _ = writeln!(s, "  input       {}", p.job.input_display);
        let _ = writeln!(s, "  output      {}", p.job.output_display);
        let _ = writeln!(s, "  T           {t}");
        let _ = writeln!(s, "  adapters    {}", p.job.adapters.names().join(","));
        let ex = p.job.exclusions.excluded_subtrees();
        if !ex.is_empty() {
            let _ = writeln!(s, "  excluded    {}", ex.join(", "));
        }
        let _ = writeln!(
            s,
            "  self-test   {}",
            if p.job.self_test { "yes" } else { "no" }
        );
        let _ = writeln!(s, "  memory      {}", indicatif::HumanBytes(p.need));
        match &p.fingerprint {
            Ok(f) => {
                let _ = writeln!(s, "  fingerprint {} ({})", &f.hex[..16], f.input_content);
            }
            Err(e) => {
                let _ = writeln!(s, "  fingerprint ? ({e})");
            }
        }
    }
    let _ = writeln!(
        s,
        "\n{would_run} job(s) would run, {} up to date; nothing was written",
        prepared.len() - would_run
    );
    Ok(s)
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
