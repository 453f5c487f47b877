//! What a run tells the outside world, as typed events. The scheduler only
//! emits them; reporters (terminal bars, plain CI lines, GitHub Actions
//! workflow commands, the JSON and JUnit report files) decide what, if
//! anything, to show. No text meant for people is built in the scheduler.
//!
//! Live progress comes from a [`JobMeter`] per running job: the job's
//! observer stores counters in it, and a sampler thread turns the meters
//! into [`RunEvent::Progress`] at the rate the reporters ask for.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::fingerprint::Reason;
use super::report::{JobRecord, RunReport};
use crate::job::Phase;

/// A run has selected and fingerprinted its jobs and starts running.
#[derive(Debug, Clone)]
pub struct RunStart {
    pub plan: String,
    pub jobs_in_plan: usize,
    pub selected: usize,
    pub up_to_date: usize,
    pub to_run: usize,
    /// Jobs at once (worker threads).
    pub parallel: usize,
    pub memory_budget: u64,
    pub shard: Option<String>,
}

/// A job starts running.
#[derive(Debug, Clone)]
pub struct JobStart {
    /// Position among the selected jobs (plan order).
    pub index: usize,
    /// 1 for the first job started in this run, 2 for the next, …
    pub ordinal: usize,
    pub to_run: usize,
    pub id: String,
    pub input: String,
    pub output: String,
    pub reason: Reason,
    pub input_bytes: Option<u64>,
}

/// One running job at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSnapshot {
    pub index: usize,
    pub id: String,
    /// `None` until the job reports its first phase.
    pub phase: Option<Phase>,
    pub elapsed: Duration,
    /// Entries staged so far.
    pub entries: u64,
    /// Bytes of the `.fsm` written so far.
    pub fsm_bytes: u64,
    /// Bytes the job has read and written so far (its thread's I/O
    /// accounting; `None` where the OS does not provide it).
    pub io_bytes: Option<u64>,
    pub input_bytes: Option<u64>,
    /// Estimated share of the job done, in `[0, 1)`.
    pub fraction: Option<f64>,
    /// Estimated time left.
    pub eta: Option<Duration>,
}

impl JobSnapshot {
    /// Average I/O rate since the job started, bytes per second.
    pub fn rate(&self) -> Option<f64> {
        let secs = self.elapsed.as_secs_f64();
        (secs > 0.0).then(|| self.io_bytes.map(|b| b as f64 / secs))?
    }
}

#[derive(Debug)]
pub enum RunEvent<'a> {
    Started(&'a RunStart),
    /// A selected job is skipped: its output is up to date.
    UpToDate(&'a JobRecord),
    /// Temp files and scratch directories of earlier killed runs were removed.
    LeftoversRemoved {
        count: usize,
    },
    /// A job's memory budget is above the run's total; it runs with the total.
    BudgetCapped {
        id: &'a str,
        asked: u64,
        total: u64,
    },
    JobStarted(&'a JobStart),
    JobPhase {
        index: usize,
        id: &'a str,
        phase: Phase,
    },
    JobWarning {
        id: &'a str,
        message: &'a str,
    },
    /// A periodic sample of every running job.
    Progress(&'a [JobSnapshot]),
    JobFinished {
        index: usize,
        record: &'a JobRecord,
    },
    /// The first Ctrl-C or SIGTERM: running jobs are being cancelled.
    Interrupted,
    Finished(&'a RunReport),
}

/// Something that renders run events. Called from several threads at once
/// (workers, the sampler, the signal thread): implementations serialize
/// their own output.
pub trait Reporter: Send + Sync {
    fn event(&self, ev: &RunEvent<'_>);

    /// How often this reporter wants [`RunEvent::Progress`] (never: `None`).
    fn sample_every(&self) -> Option<Duration> {
        None
    }
}

/// Several reporters, each given every event in order.
pub struct Reporters(pub Vec<Arc<dyn Reporter>>);

impl Reporter for Reporters {
    fn event(&self, ev: &RunEvent<'_>) {
        for r in &self.0 {
            r.event(ev);
        }
    }
    fn sample_every(&self) -> Option<Duration> {
        self.0.iter().filter_map(|r| r.sample_every()).min()
    }
}

/// A reporter that shows nothing.
#[cfg(test)]
pub struct Silent;

#[cfg(test)]
impl Reporter for Silent {
    fn event(&self, _: &RunEvent<'_>) {}
}

/// Live counters of one running job.
#[derive(Debug)]
pub struct JobMeter {
    pub index: usize,
    pub id: String,
    started: Instant,
    /// The input's size ([`UNKNOWN`] until known) and since when the
    /// estimate counts (an archive input is sized once it is unpacked).
    input_bytes: AtomicU64,
    estimate_from: Mutex<Instant>,
    self_test: bool,
    /// 0 before the first phase, else 1 + the phase's position in [`PHASES`].
    phase: AtomicU8,
    entries: AtomicU64,
    fsm_bytes: AtomicU64,
    thread: Mutex<Option<ThreadIo>>,
    /// The I/O count last seen and when it last moved.
    io_seen: Mutex<(u64, Instant)>,
}

/// With no I/O for this long (deleting a large scratch tree, a slow
/// filesystem) the job's time left is unknown rather than guessed.
const STALLED: Duration = Duration::from_secs(5);

const UNKNOWN: u64 = u64::MAX;

const PHASES: [Phase; 5] = [
    Phase::Reading,
    Phase::Sorting,
    Phase::Writing,
    Phase::SelfTest,
    Phase::Publishing,
];

impl JobMeter {
    pub fn new(index: usize, id: &str, input_bytes: Option<u64>, self_test: bool) -> Self {
        JobMeter {
            index,
            id: id.to_string(),
            started: Instant::now(),
            input_bytes: AtomicU64::new(input_bytes.unwrap_or(UNKNOWN)),
            estimate_from: Mutex::new(Instant::now()),
            self_test,
            phase: AtomicU8::new(0),
            entries: AtomicU64::new(0),
            fsm_bytes: AtomicU64::new(0),
            thread: Mutex::new(None),
            io_seen: Mutex::new((0, Instant::now())),
        }
    }

    /// The job runs on the calling thread from now on: measure its I/O.
    pub fn bind_to_current_thread(&self) {
        *self.thread.lock().unwrap_or_else(|p| p.into_inner()) = ThreadIo::current();
    }

    /// The input turned out to be `input_bytes` (an archive, now
    /// unpacked): estimate the rest of the job from here, on the calling
    /// thread.
    pub fn restart_estimate(&self, input_bytes: u64) {
        self.bind_to_current_thread();
        *self.estimate_from.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.input_bytes.store(input_bytes, Ordering::Relaxed);
    }

    fn input_bytes(&self) -> Option<u64> {
        Some(self.input_bytes.load(Ordering::Relaxed)).filter(|&n| n != UNKNOWN)
    }

    pub fn current_phase(&self) -> Option<Phase> {
        match self.phase.load(Ordering::Relaxed) {
            0 => None,
            n => PHASES.get(n as usize - 1).copied(),
        }
    }

    pub fn set_phase(&self, p: Phase) {
        let n = PHASES.iter().position(|x| *x == p).unwrap_or(0) as u8 + 1;
        self.phase.store(n, Ordering::Relaxed);
    }

    pub fn set_entries(&self, n: u64) {
        self.entries.store(n, Ordering::Relaxed);
    }

    pub fn set_fsm_bytes(&self, n: u64) {
        self.fsm_bytes.store(n, Ordering::Relaxed);
    }

    pub fn fsm_bytes(&self) -> u64 {
        self.fsm_bytes.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> JobSnapshot {
        let phase = self.current_phase();
        let elapsed = self.started.elapsed();
        let fsm_bytes = self.fsm_bytes();
        let io_bytes = self
            .thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(ThreadIo::bytes_since_bind);
        let input_bytes = self.input_bytes();
        let fraction = match (io_bytes, input_bytes) {
            (Some(io), Some(input)) => Some(estimate_fraction(
                input,
                fsm_bytes,
                self.self_test,
                phase,
                io,
            )),
            _ => None,
        };
        let stalled = io_bytes.is_some_and(|io| {
            let mut seen = self.io_seen.lock().unwrap_or_else(|p| p.into_inner());
            if io != seen.0 {
                *seen = (io, Instant::now());
            }
            seen.1.elapsed() >= STALLED
        });
        let since = self
            .estimate_from
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed();
        let eta = fraction.filter(|_| !stalled).and_then(|f| eta(f, since));
        JobSnapshot {
            index: self.index,
            id: self.id.clone(),
            phase,
            elapsed,
            entries: self.entries.load(Ordering::Relaxed),
            fsm_bytes,
            io_bytes,
            input_bytes,
            fraction,
            eta,
        }
    }
}

/// The share of a job's I/O done, from the input's size: reading the input,
/// writing the `.fsm`, and for a self-test reading the `.fsm` back, writing
/// the decoded tree (about the input's size) and reading both trees to
/// compare them. Until the `.fsm` is written its size is guessed as the
/// input's. An estimate: spills of a job over its memory budget add I/O it
/// does not foresee, so it never claims to be done before it is.
pub fn estimate_fraction(
    input: u64,
    fsm_written: u64,
    self_test: bool,
    phase: Option<Phase>,
    io_done: u64,
) -> f64 {
    const MOST: f64 = 0.99;
    if phase == Some(Phase::Publishing) {
        return MOST;
    }
    let written_all = matches!(phase, Some(Phase::SelfTest));
    let fsm = if written_all {
        fsm_written
    } else {
        fsm_written.max(input)
    } as f64;
    let input = input as f64;
    let mut expected = input + fsm;
    if self_test {
        expected += fsm + 3.0 * input;
    }
    if expected <= 0.0 {
        return 0.0;
    }
    (io_done as f64 / expected).clamp(0.0, MOST)
}

/// Time left at a constant rate, once there is enough to go on.
fn eta(fraction: f64, elapsed: Duration) -> Option<Duration> {
    if fraction < 0.01 || elapsed < Duration::from_millis(500) {
        return None;
    }
    let total = elapsed.as_secs_f64() / fraction;
    Some(Duration::from_secs_f64(
        (total - elapsed.as_secs_f64()).max(0.0),
    ))
}

/// A thread's I/O counters (Linux `/proc/self/task/<tid>/io`: bytes passed
/// to read and write calls, page cache included).
#[derive(Debug, Clone)]
struct ThreadIo {
    tid: i64,
    base: u64,
}

impl ThreadIo {
    fn current() -> Option<ThreadIo> {
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        let base = read_task_io(tid)?;
        Some(ThreadIo { tid, base })
    }

    fn bytes_since_bind(&self) -> Option<u64> {
        read_task_io(self.tid).map(|n| n.saturating_sub(self.base))
    }
}

/// rchar + wchar of one thread of this process.
fn read_task_io(tid: i64) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/io")).ok()?;
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    Some(field("rchar:")? + field("wchar:")?)
}

/// The meters of the jobs running now.
#[derive(Default)]
pub struct Running(Mutex<Vec<Arc<JobMeter>>>);

impl Running {
    pub fn add(&self, m: Arc<JobMeter>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(m);
    }

    pub fn remove(&self, index: usize) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|m| m.index != index);
    }

    pub fn snapshots(&self) -> Vec<JobSnapshot> {
        let mut v: Vec<JobSnapshot> = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|m| m.snapshot())
            .collect();
        v.sort_by_key(|s| s.index);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_grows_with_io_and_never_claims_done() {
        let f = |io, phase, st| estimate_fraction(1000, 0, st, phase, io);
        assert_eq!(f(0, Some(Phase::Reading), false), 0.0);
        assert!((f(1000, Some(Phase::Writing), false) - 0.5).abs() < 1e-9);
        assert_eq!(f(10_000, Some(Phase::Writing), false), 0.99);
        // A self-test triples what is left to do.
        assert!(f(1000, Some(Phase::Reading), true) < 0.2);
        // Once written, the real .fsm size replaces the guess.
        let small_fsm = estimate_fraction(1000, 100, true, Some(Phase::SelfTest), 1100);
        assert!((small_fsm - 1100.0 / 4200.0).abs() < 1e-9);
        assert_eq!(estimate_fraction(0, 0, false, None, 0), 0.0);
        assert_eq!(f(0, Some(Phase::Publishing), false), 0.99);
    }

    #[test]
    fn eta_needs_some_progress() {
        assert_eq!(eta(0.005, Duration::from_secs(10)), None);
        assert_eq!(eta(0.5, Duration::from_millis(100)), None);
        assert_eq!(
            eta(0.25, Duration::from_secs(10)),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn an_archive_job_is_estimated_once_its_size_is_known() {
        let m = JobMeter::new(0, "j", None, false);
        m.bind_to_current_thread();
        m.set_phase(Phase::Reading);
        let s = m.snapshot();
        assert_eq!((s.input_bytes, s.fraction), (None, None));
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        std::fs::write(&f, vec![7u8; 1 << 20]).unwrap();
        m.restart_estimate(4 << 20);
        let s = m.snapshot();
        assert_eq!(s.input_bytes, Some(4 << 20));
        if s.io_bytes.is_some() {
            // The I/O of unpacking does not count: only what follows does.
            assert!(s.fraction.unwrap() < 0.05, "{s:?}");
            let _ = std::fs::read(&f).unwrap();
            assert!(m.snapshot().fraction.unwrap() > s.fraction.unwrap());
        }
    }

    #[test]
    fn meters_measure_their_own_thread() {
        use std::sync::mpsc;
        let m = Arc::new(JobMeter::new(0, "j", Some(1 << 20), false));
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        std::fs::write(&f, vec![7u8; 1 << 20]).unwrap();
        let (read_tx, read_rx) = mpsc::channel();
        let (exit_tx, exit_rx) = mpsc::channel::<()>();
        let m2 = m.clone();
        let worker = std::thread::spawn(move || {
            m2.bind_to_current_thread();
            m2.set_phase(Phase::Reading);
            let _ = std::fs::read(&f).unwrap();
            read_tx.send(()).unwrap();
            let _ = exit_rx.recv();
        });
        read_rx.recv().unwrap();
        // Reading from this (another) thread does not count for the job.
        let _ = std::fs::read(t.path().join("f")).unwrap();
        let s = m.snapshot();
        exit_tx.send(()).unwrap();
        worker.join().unwrap();
        assert_eq!(s.phase, Some(Phase::Reading));
        if std::path::Path::new("/proc/thread-self/io").exists() {
            let io = s.io_bytes.expect("thread I/O is readable");
            assert!((1 << 20..2 << 20).contains(&io), "{io}");
            assert!(s.fraction.unwrap() > 0.4, "{s:?}");
        }
    }
}
