//! The run's terminal UI: one overall bar (jobs done, bytes written) and
//! one line per running job (id, phase, entries, bytes). indicatif draws
//! only when stderr is a terminal; everything else printed during the run
//! goes through [`Ui::println`], which lifts the bars out of the way first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::adapter::Warn;
use crate::job::{Phase, Progress};

pub struct Ui {
    mp: MultiProgress,
    overall: ProgressBar,
    written: AtomicU64,
    id_width: usize,
}

impl Ui {
    /// `show = false` (or a non-terminal stderr) hides every bar.
    pub fn new(show: bool, total_jobs: u64, id_width: usize) -> Arc<Ui> {
        let target = if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let mp = MultiProgress::with_draw_target(target);
        let overall = mp.add(ProgressBar::new(total_jobs));
        overall.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] [{bar:30}] {pos}/{len} jobs  {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        overall.set_message("0 B written");
        if !mp.is_hidden() {
            overall.enable_steady_tick(Duration::from_millis(250));
        }
        Arc::new(Ui {
            mp,
            overall,
            written: AtomicU64::new(0),
            id_width: id_width.clamp(4, 40),
        })
    }

    /// Print a line to stderr without tearing the bars.
    pub fn println(&self, line: &str) {
        self.mp.suspend(|| eprintln!("{line}"));
    }

    /// A job's warning sink: printed with the job id, and kept for reports.
    pub fn warn_for(self: &Arc<Self>, id: &str, keep: Arc<Mutex<Vec<String>>>) -> Warn {
        let ui = self.clone();
        let id = id.to_string();
        Arc::new(move |msg: &str| {
            ui.println(&format!("warning: [{id}] {msg}"));
            keep.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(msg.to_string());
        })
    }

    /// A line for a job that has started.
    pub fn start_job(self: &Arc<Self>, id: &str) -> JobBar {
        let bar = self
            .mp
            .insert_before(&self.overall, ProgressBar::new_spinner());
        let w = self.id_width;
        bar.set_style(
            ProgressStyle::with_template(&format!("  {{spinner}} {{prefix:{w}}} {{msg}}"))
                .expect("valid template"),
        );
        bar.set_prefix(id.to_string());
        bar.set_message("starting");
        if !self.mp.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        JobBar {
            bar,
            ui: self.clone(),
            state: Mutex::new(JobLine {
                phase: "starting",
                entries: 0,
                bytes: 0,
            }),
        }
    }

    /// A job (run or skipped) is done.
    pub fn job_done(&self) {
        self.overall.inc(1);
    }

    fn add_written(&self, delta: u64) {
        let total = self.written.fetch_add(delta, Ordering::Relaxed) + delta;
        self.overall
            .set_message(format!("{} written", HumanBytes(total)));
    }

    pub fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.mp.clear();
    }
}

struct JobLine {
    phase: &'static str,
    entries: u64,
    bytes: u64,
}

/// One running job's line; removed when dropped.
pub struct JobBar {
    bar: ProgressBar,
    ui: Arc<Ui>,
    state: Mutex<JobLine>,
}

impl JobBar {
    fn redraw(&self, s: &JobLine) {
        let mut m = s.phase.to_string();
        if s.entries > 0 {
            m.push_str(&format!("  {} entries", s.entries));
        }
        if s.bytes > 0 {
            m.push_str(&format!("  {}", HumanBytes(s.bytes)));
        }
        self.bar.set_message(m);
    }

    fn with_state(&self, f: impl FnOnce(&mut JobLine)) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        self.redraw(&s);
    }
}

impl Progress for JobBar {
    fn phase(&self, phase: Phase) {
        self.with_state(|s| s.phase = phase.as_str());
    }
    fn entries(&self, staged: u64) {
        self.with_state(|s| s.entries = staged);
    }
    fn bytes_written(&self, total: u64) {
        let mut delta = 0;
        self.with_state(|s| {
            delta = total.saturating_sub(s.bytes);
            s.bytes = total;
        });
        self.ui.add_written(delta);
    }
}

impl Drop for JobBar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        self.ui.mp.remove(&self.bar);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_ui_tracks_bytes_and_keeps_warnings() {
        let ui = Ui::new(false, 2, 8);
        let kept = Arc::new(Mutex::new(Vec::new()));
        let warn = ui.warn_for("job-a", kept.clone());
        warn("something odd");
        assert_eq!(*kept.lock().unwrap(), vec!["something odd".to_string()]);
        let bar = ui.start_job("job-a");
        bar.phase(Phase::Writing);
        bar.bytes_written(1000);
        bar.bytes_written(3000);
        drop(bar);
        let b2 = ui.start_job("job-b");
        b2.bytes_written(500);
        assert_eq!(ui.written.load(Ordering::Relaxed), 3500);
        ui.job_done();
        ui.finish();
    }
}
