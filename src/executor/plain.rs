//! Line-oriented run output for logs (CI, Kubernetes, a pipe): a
//! timestamped line when each job starts, a heartbeat per running job every
//! interval (phase, entries, bytes, rate, elapsed, estimated share done), a
//! line per result, and the summary table at the end. With `GITHUB_ACTIONS`
//! the [`GithubReporter`] adds a fold per finished job and annotations.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::HumanBytes;

use super::events::{JobSnapshot, JobStart, Reporter, RunEvent, RunStart};
use super::report::{self, JobRecord, JobStatus, RunReport, SelfTest};
use crate::job::Phase;
use crate::machine::github::{self, Level, Location};
use crate::output::{self, Stream, Verbosity};

/// Where a reporter's lines go (stderr, or a buffer in tests).
pub type Sink = Arc<Mutex<dyn Write + Send>>;

pub fn stderr_sink() -> Sink {
    Arc::new(Mutex::new(std::io::stderr()))
}

/// The summary table's destination: stdout, unless a report is written
/// there; nowhere when the caller prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryTo {
    Stdout,
    Stderr,
    Nowhere,
}

pub fn print_summary(to: SummaryTo, r: &RunReport) {
    let text = match to {
        SummaryTo::Stdout => r.summary_table_styled(output::color(Stream::Stdout)),
        _ => r.summary_table_styled(output::color(Stream::Stderr)),
    };
    // A closed stdout (`| head`) must not abort the run's last steps.
    let _ = match to {
        SummaryTo::Stdout => std::io::stdout().lock().write_all(text.as_bytes()),
        SummaryTo::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
        SummaryTo::Nowhere => Ok(()),
    };
}

/// `  phase cluster-2: sorting` (with `-v`).
pub fn phase_line(id: &str, phase: Phase) -> String {
    format!("{:>11} {id}: {}", "phase", phase.as_str())
}

/// `2026-05-01T10:00:00Z`: the current UTC time to the second.
pub fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    crate::gojson::time::format_rfc3339_nano(secs as i64, 0)
}

/// `  ok cluster-2 (412ms, 7.13 KiB, sha256 fb1193a974e4)`.
pub fn done_line(r: &JobRecord) -> String {
    done_line_styled(r, false)
}

/// [`done_line`] with the status in color when `color`.
pub fn done_line_styled(r: &JobRecord, color: bool) -> String {
    let label = format!("{:>11}", r.status.label());
    let mut s = if color {
        let st = r.status.style();
        format!("{}{label}{} {}", st.render(), st.render_reset(), r.id)
    } else {
        format!("{label} {}", r.id)
    };
    match r.status {
        JobStatus::Succeeded => {
            s.push_str(&format!(
                " ({}, {}, sha256 {})",
                report::format_duration(r.duration_ms.0),
                HumanBytes(r.output_bytes.map_or(0, |b| b.0)),
                r.output_sha256
                    .as_deref()
                    .map(|h| &h[..h.len().min(12)])
                    .unwrap_or("-")
            ));
        }
        JobStatus::Failed => {
            if let Some(e) = &r.error {
                s.push_str(&format!(": {}", e.message));
            }
        }
        JobStatus::UpToDate => s.push_str(&format!(" ({})", r.reason)),
        _ => {}
    }
    s
}

pub fn start_line(j: &JobStart) -> String {
    let size = j
        .input_bytes
        .map(|b| format!(", {}", HumanBytes(b)))
        .unwrap_or_default();
    format!(
        "{:>11} {} [{}/{}] {} -> {} ({}{size})",
        "start", j.id, j.ordinal, j.to_run, j.input, j.output, j.reason
    )
}

pub fn run_line(s: &RunStart) -> String {
    format!(
        "ekvplan run {}: {} of {} job(s) selected{}, {} up to date, {} to run, {} at once, memory budget {}",
        s.plan,
        s.selected,
        s.jobs_in_plan,
        s.shard
            .as_deref()
            .map(|sh| format!(" (shard {sh})"))
            .unwrap_or_default(),
        s.up_to_date,
        s.to_run,
        s.parallel,
        HumanBytes(s.memory_budget)
    )
}

/// What a running job is doing, for a heartbeat or a progress bar.
pub fn activity(s: &JobSnapshot) -> String {
    let mut parts = vec![s.phase.map_or("starting", Phase::as_str).to_string()];
    if s.entries > 0 {
        parts.push(format!("{} entries", s.entries));
    }
    if s.fsm_bytes > 0 {
        parts.push(format!("{} written", HumanBytes(s.fsm_bytes)));
    }
    if let (Some(io), Some(rate)) = (s.io_bytes, s.rate()) {
        parts.push(format!(
            "{} I/O at {}/s",
            HumanBytes(io),
            HumanBytes(rate as u64)
        ));
    }
    parts.join(", ")
}

/// `~64%, ETA 6s` when there is an estimate.
pub fn estimate(s: &JobSnapshot) -> Option<String> {
    let f = s.fraction?;
    let mut e = format!("~{:.0}%", f * 100.0);
    if let Some(eta) = s.eta {
        e.push_str(&format!(", ETA {}", short_duration(eta)));
    }
    Some(e)
}

pub fn heartbeat_line(s: &JobSnapshot) -> String {
    let mut line = format!(
        "{:>11} {}: {}, {} elapsed",
        "running",
        s.id,
        activity(s),
        report::format_duration(s.elapsed.as_millis() as u64)
    );
    if let Some(e) = estimate(s) {
        line.push_str(", ");
        line.push_str(&e);
    }
    line
}

/// `6s`, `2m05s`, `1h02m`.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    }
}

pub const INTERRUPTED: &str =
    "ekvplan: interrupted: cancelling running jobs (press Ctrl-C again to exit at once)";

#[derive(Debug, Clone, Copy)]
pub struct PlainOptions {
    /// Timestamps, start lines and heartbeats; without them only results,
    /// warnings and the summary are printed.
    pub live: bool,
    pub heartbeat: Duration,
    pub summary: SummaryTo,
    /// Quiet: only failures, interruptions and the summary. Verbose: also
    /// a line per job phase.
    pub verbosity: Verbosity,
    /// Status words in color.
    pub color: bool,
}

pub struct PlainReporter {
    opts: PlainOptions,
    sink: Sink,
    /// When each running job last had a line (start or heartbeat).
    last_line: Mutex<HashMap<usize, Instant>>,
}

impl PlainReporter {
    pub fn new(opts: PlainOptions, sink: Sink) -> Self {
        PlainReporter {
            opts,
            sink,
            last_line: Mutex::new(HashMap::new()),
        }
    }

    /// Write whole lines at once, so lines of concurrent jobs never mix.
    pub fn write(&self, text: &str) {
        let mut w = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        let _ = w.write_all(text.as_bytes());
        let _ = w.flush();
    }

    fn line(&self, text: &str) {
        if self.opts.live {
            self.write(&format!("{} {text}\n", timestamp()));
        } else {
            self.write(&format!("{text}\n"));
        }
    }

    fn lines(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Instant>> {
        self.last_line.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn summary(&self, r: &RunReport) {
        match self.opts.summary {
            SummaryTo::Stderr => self.write(&r.summary_table_styled(self.opts.color)),
            to => print_summary(to, r),
        }
    }

    /// `-q`: failed jobs, an interruption and the summary.
    fn quiet_event(&self, ev: &RunEvent<'_>) {
        match ev {
            RunEvent::JobFinished { record, .. } if record.status == JobStatus::Failed => {
                self.line(&done_line_styled(record, self.opts.color));
            }
            RunEvent::Interrupted => self.line(INTERRUPTED),
            RunEvent::Finished(r) => self.summary(r),
            _ => {}
        }
    }
}

impl Reporter for PlainReporter {
    fn event(&self, ev: &RunEvent<'_>) {
        if self.opts.verbosity == Verbosity::Quiet {
            return self.quiet_event(ev);
        }
        match ev {
            RunEvent::Started(s) => {
                if self.opts.live {
                    self.line(&run_line(s));
                } else if s.up_to_date > 0 {
                    self.line(&format!(
                        "ekvplan: {} job(s) up to date (--force reruns them)",
                        s.up_to_date
                    ));
                }
            }
            RunEvent::UpToDate(r) => {
                if self.opts.live {
                    self.line(&done_line(r));
                }
            }
            RunEvent::LeftoversRemoved { count } => self.line(&format!(
                "ekvplan: removed {count} leftover temp file(s)/dir(s) of an earlier interrupted run"
            )),
            RunEvent::BudgetCapped { id, asked, total } => self.line(&format!(
                "warning: [{id}] memory_budget {asked} exceeds the run's total {total}; using {total}"
            )),
            RunEvent::JobStarted(j) => {
                self.lines().insert(j.index, Instant::now());
                if self.opts.live {
                    self.line(&start_line(j));
                }
            }
            RunEvent::JobPhase { id, phase, .. } => {
                if self.opts.verbosity == Verbosity::Verbose {
                    self.line(&phase_line(id, *phase));
                }
            }
            RunEvent::JobWarning { id, message, .. } => {
                self.line(&format!("warning: [{id}] {message}"));
            }
            RunEvent::Progress(snaps) => {
                if !self.opts.live {
                    return;
                }
                let now = Instant::now();
                let due: Vec<&JobSnapshot> = {
                    let mut last = self.lines();
                    snaps
                        .iter()
                        .filter(|s| {
                            let t = last.entry(s.index).or_insert(now);
                            if now.duration_since(*t) >= self.opts.heartbeat {
                                *t = now;
                                true
                            } else {
                                false
                            }
                        })
                        .collect()
                };
                for s in due {
                    self.line(&heartbeat_line(s));
                }
            }
            RunEvent::JobFinished { index, record } => {
                self.lines().remove(index);
                self.line(&done_line_styled(record, self.opts.color));
            }
            RunEvent::Interrupted => self.line(INTERRUPTED),
            RunEvent::Finished(r) => self.summary(r),
        }
    }

    fn sample_every(&self) -> Option<Duration> {
        // Sampled five times per interval, so a job's first heartbeat
        // comes at most a fifth of an interval late whenever it started.
        self.opts.live.then_some(self.opts.heartbeat / 5)
    }
}

/// Plain lines plus GitHub Actions workflow commands: each finished job is
/// a fold titled with its result line and holding its details; failed jobs
/// and job warnings become annotations on the job's line in the plan.
pub struct GithubReporter {
    plain: PlainReporter,
    plan_file: String,
    /// The line of each job's entry in the plan, by job id.
    lines: HashMap<String, usize>,
    phases: Mutex<HashMap<usize, Vec<(Phase, Instant)>>>,
}

impl GithubReporter {
    pub fn new(plain: PlainReporter, plan: &Path, lines: HashMap<String, usize>) -> Self {
        GithubReporter {
            plain,
            plan_file: github::workspace_path(plan),
            lines,
            phases: Mutex::new(HashMap::new()),
        }
    }

    fn location(&self, id: &str) -> Location {
        Location {
            file: Some(self.plan_file.clone()),
            line: self.lines.get(id).copied(),
            ..Location::default()
        }
    }

    fn details(&self, index: usize, r: &JobRecord) -> String {
        let mut d = String::new();
        let mut field = |k: &str, v: String| d.push_str(&format!("  {k:<10}{v}\n"));
        field("reason", r.reason.clone());
        field(
            "input",
            match r.input_bytes {
                Some(b) => format!("{} ({})", r.input, HumanBytes(b.0)),
                None => r.input.clone(),
            },
        );
        field("output", r.output.clone());
        if let Some(sha) = &r.output_sha256 {
            field(
                "sha256",
                format!("{sha} ({})", HumanBytes(r.output_bytes.map_or(0, |b| b.0))),
            );
        }
        if let Some(n) = r.entries {
            field("entries", n.to_string());
        }
        if let Some(t) = r.last_commit_ts {
            let how = if r.last_commit_ts_overridden == Some(true) {
                " (override)"
            } else {
                ""
            };
            field("T", format!("{t}{how}"));
        }
        field("adapters", r.adapters.join(","));
        field(
            "self-test",
            match r.self_test {
                SelfTest::Matched => "matched",
                SelfTest::Mismatched => "MISMATCH",
                SelfTest::NotRun => "not run",
            }
            .to_string(),
        );
        let phases = self
            .phases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&index)
            .unwrap_or_default();
        if !phases.is_empty() {
            let end = Instant::now();
            let parts: Vec<String> = phases
                .iter()
                .enumerate()
                .map(|(i, (p, t))| {
                    let until = phases.get(i + 1).map_or(end, |n| n.1);
                    format!(
                        "{} {}",
                        p.as_str(),
                        report::format_duration(until.duration_since(*t).as_millis() as u64)
                    )
                })
                .collect();
            field("phases", parts.join(", "));
        }
        for w in &r.warnings {
            field("warning", w.clone());
        }
        if let Some(e) = &r.error {
            field("error", e.message.clone());
            field("code", e.code.clone());
            if let Some(h) = &e.help {
                field("help", h.clone());
            }
        }
        d
    }
}

impl Reporter for GithubReporter {
    fn event(&self, ev: &RunEvent<'_>) {
        match ev {
            RunEvent::JobPhase { index, phase, .. } => {
                self.phases
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(*index)
                    .or_default()
                    .push((*phase, Instant::now()));
            }
            RunEvent::JobWarning { id, message, .. } => {
                self.plain.event(ev);
                self.plain.write(&github::annotation(
                    Level::Warning,
                    &self.location(id),
                    &format!("ekvplan job {id}"),
                    message,
                ));
            }
            RunEvent::JobFinished { index, record } => {
                self.plain.lines().remove(index);
                let mut out = github::group(&format!("{} {}", timestamp(), done_line(record)));
                out.push_str(&self.details(*index, record));
                out.push_str(github::END_GROUP);
                if record.status == JobStatus::Failed {
                    let msg = record
                        .error
                        .as_ref()
                        .map_or("failed", |e| e.message.as_str());
                    out.push_str(&github::annotation(
                        Level::Error,
                        &self.location(&record.id),
                        &format!("ekvplan job {} failed", record.id),
                        msg,
                    ));
                }
                self.plain.write(&out);
            }
            _ => self.plain.event(ev),
        }
    }

    fn sample_every(&self) -> Option<Duration> {
        self.plain.sample_every()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::fingerprint::Reason;

    fn buffer() -> (Sink, Arc<Mutex<Vec<u8>>>) {
        let buf = Arc::new(Mutex::new(Vec::new()));
        (buf.clone() as Sink, buf)
    }

    fn text(buf: &Arc<Mutex<Vec<u8>>>) -> String {
        String::from_utf8(buf.lock().unwrap().clone()).unwrap()
    }

    fn snapshot(elapsed_ms: u64) -> JobSnapshot {
        JobSnapshot {
            index: 0,
            id: "j".into(),
            phase: Some(Phase::Writing),
            elapsed: Duration::from_millis(elapsed_ms),
            entries: 4096,
            fsm_bytes: 2 << 20,
            io_bytes: Some(6 << 20),
            input_bytes: Some(4 << 20),
            fraction: Some(0.5),
            eta: Some(Duration::from_secs(3)),
        }
    }

    #[test]
    fn heartbeats_come_once_per_interval_with_timestamps() {
        let (sink, buf) = buffer();
        let r = PlainReporter::new(
            PlainOptions {
                live: true,
                heartbeat: Duration::from_millis(30),
                summary: SummaryTo::Stderr,
                verbosity: Verbosity::Normal,
                color: false,
            },
            sink,
        );
        let start = JobStart {
            index: 0,
            ordinal: 1,
            to_run: 1,
            id: "j".into(),
            input: "dumps/j".into(),
            output: "out/j.fsm".into(),
            reason: Reason::NoOutput,
            input_bytes: Some(4 << 20),
        };
        r.event(&RunEvent::JobStarted(&start));
        let snaps = [snapshot(10)];
        r.event(&RunEvent::Progress(&snaps));
        std::thread::sleep(Duration::from_millis(40));
        r.event(&RunEvent::Progress(&snaps));
        r.event(&RunEvent::Progress(&snaps));
        let t = text(&buf);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(
            lines[0].ends_with("start j [1/1] dumps/j -> out/j.fsm (no output yet, 4.00 MiB)"),
            "{t}"
        );
        assert!(
            lines[0].starts_with("20") && lines[0].as_bytes()[10] == b'T',
            "{t}"
        );
        assert!(
            lines[1].ends_with("running j: writing, 4096 entries, 2.00 MiB written, 6.00 MiB I/O at 600.00 MiB/s, 10ms elapsed, ~50%, ETA 3s"),
            "{t}"
        );
    }

    #[test]
    fn quiet_mode_prints_results_only() {
        let (sink, buf) = buffer();
        let r = PlainReporter::new(
            PlainOptions {
                live: false,
                heartbeat: Duration::from_millis(1),
                summary: SummaryTo::Stderr,
                verbosity: Verbosity::Normal,
                color: false,
            },
            sink,
        );
        assert_eq!(r.sample_every(), None);
        let live = PlainReporter::new(
            PlainOptions {
                live: true,
                heartbeat: Duration::from_secs(10),
                summary: SummaryTo::Nowhere,
                verbosity: Verbosity::Normal,
                color: false,
            },
            buffer().0,
        );
        assert_eq!(live.sample_every(), Some(Duration::from_secs(2)));
        r.event(&RunEvent::Progress(&[snapshot(10)]));
        assert_eq!(text(&buf), "");
        r.event(&RunEvent::Interrupted);
        assert_eq!(text(&buf), format!("{INTERRUPTED}\n"));
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(Duration::from_secs(5)), "5s");
        assert_eq!(short_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(short_duration(Duration::from_secs(3720)), "1h02m");
    }
}
