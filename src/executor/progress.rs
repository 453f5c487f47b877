//! Run progress on a terminal: one overall bar (jobs done, bytes of `.fsm`
//! written) and one bar per running job with its share done and time left,
//! estimated from the input's size and the job's I/O so far (so the bar
//! also moves while the job reads its input and during the self-test).
//! Result lines and warnings are printed above the bars without tearing
//! them; the summary table follows the run.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{
    HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike,
};

use super::events::{JobSnapshot, Reporter, RunEvent};
use super::plain::{self, SummaryTo};

/// Bars advance in thousandths.
const SCALE: u64 = 1000;

pub struct BarReporter {
    mp: MultiProgress,
    overall: ProgressBar,
    summary: SummaryTo,
    /// A line per job phase above the bars (`-v`).
    phases: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    id_width: usize,
    bars: HashMap<usize, ProgressBar>,
    /// The latest sample of each running job.
    last: HashMap<usize, JobSnapshot>,
    /// Final `.fsm` bytes of finished jobs plus the latest of running ones.
    written_done: u64,
    written_running: HashMap<usize, u64>,
}

impl BarReporter {
    /// Bars on stderr; with `phases`, also a line per job phase.
    pub fn new(summary: SummaryTo, phases: bool) -> Self {
        // indicatif hides bars whose stderr is not a terminal; bars asked
        // for with `--progress bar` are drawn there anyway, with plain ANSI.
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::term_like_with_hz(Box::new(AnsiStderr::from_env()), 4)
        };
        let mut r = Self::with_target(target, summary);
        r.phases = phases;
        r
    }

    fn with_target(target: ProgressDrawTarget, summary: SummaryTo) -> Self {
        let mp = MultiProgress::with_draw_target(target);
        let overall = mp.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] [{bar:30.green}] {pos}/{len} jobs  {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        BarReporter {
            mp,
            overall,
            summary,
            phases: false,
            state: Mutex::new(State::default()),
        }
    }

    /// A line above the bars (printed even where no bars are drawn).
    fn println(&self, line: &str) {
        self.mp.suspend(|| eprintln!("{line}"));
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn show_written(&self, s: &State) {
        let total = s.written_done + s.written_running.values().sum::<u64>();
        self.overall
            .set_message(format!("{} written", HumanBytes(total)));
    }

    fn update(&self, bar: &ProgressBar, snap: &JobSnapshot) {
        let mut msg = plain::activity(snap);
        match snap.fraction {
            Some(f) => {
                bar.set_position((f * SCALE as f64) as u64);
                if let Some(eta) = snap.eta {
                    msg.push_str(&format!("  ETA {}", plain::short_duration(eta)));
                }
            }
            None => bar.set_position(0),
        }
        bar.set_message(msg);
    }
}

impl Reporter for BarReporter {
    fn event(&self, ev: &RunEvent<'_>) {
        match ev {
            RunEvent::Started(s) => {
                self.overall.set_length(s.selected as u64);
                self.overall.set_message("0 B written");
                self.overall
                    .enable_steady_tick(Duration::from_millis(250));
                self.state().id_width = 4;
                if s.up_to_date > 0 {
                    self.println(&format!(
                        "ekvplan: {} job(s) up to date (--force reruns them)",
                        s.up_to_date
                    ));
                }
            }
            RunEvent::UpToDate(_) => self.overall.inc(1),
            RunEvent::LeftoversRemoved { count } => self.println(&format!(
                "ekvplan: removed {count} leftover temp file(s)/dir(s) of an earlier interrupted run"
            )),
            RunEvent::BudgetCapped { id, asked, total } => self.println(&format!(
                "warning: [{id}] memory_budget {asked} exceeds the run's total {total}; using {total}"
            )),
            RunEvent::JobStarted(j) => {
                let mut st = self.state();
                st.id_width = st.id_width.max(j.id.chars().count()).min(40);
                let w = st.id_width;
                let bar = self
                    .mp
                    .insert_before(&self.overall, ProgressBar::new(SCALE));
                bar.set_style(
                    ProgressStyle::with_template(&format!(
                        "  {{spinner.cyan}} {{prefix:{w}.bold}} [{{bar:20.cyan}}] {{percent:>3}}% {{msg}}"
                    ))
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                bar.set_prefix(j.id.clone());
                bar.set_message("starting");
                bar.enable_steady_tick(Duration::from_millis(120));
                st.bars.insert(j.index, bar);
            }
            RunEvent::JobPhase { index, id, phase } => {
                if self.phases {
                    self.println(&plain::phase_line(id, *phase));
                }
                let mut st = self.state();
                let st = &mut *st;
                if let Some(b) = st.bars.get(index) {
                    match st.last.get_mut(index) {
                        Some(snap) => {
                            snap.phase = Some(*phase);
                            self.update(b, snap);
                        }
                        None => b.set_message(phase.as_str()),
                    }
                }
            }
            RunEvent::JobWarning { id, message, .. } => {
                self.println(&format!("warning: [{id}] {message}"));
            }
            RunEvent::Progress(snaps) => {
                let mut st = self.state();
                for s in snaps.iter() {
                    if let Some(b) = st.bars.get(&s.index) {
                        self.update(b, s);
                    }
                    st.written_running.insert(s.index, s.fsm_bytes);
                    st.last.insert(s.index, s.clone());
                }
                self.show_written(&st);
            }
            RunEvent::JobFinished { index, record } => {
                let mut st = self.state();
                if let Some(b) = st.bars.remove(index) {
                    b.finish_and_clear();
                    self.mp.remove(&b);
                }
                st.written_running.remove(index);
                st.last.remove(index);
                st.written_done += record.output_bytes.map_or(0, |b| b.0);
                self.show_written(&st);
                drop(st);
                let color = crate::output::color(crate::output::Stream::Stderr);
                self.println(&plain::done_line_styled(record, color));
                self.overall.inc(1);
            }
            RunEvent::Interrupted => self.println(plain::INTERRUPTED),
            RunEvent::Finished(r) => {
                self.overall.finish_and_clear();
                for (_, b) in self.state().bars.drain() {
                    b.finish_and_clear();
                }
                let _ = self.mp.clear();
                plain::print_summary(self.summary, r);
            }
        }
    }

    fn sample_every(&self) -> Option<Duration> {
        Some(Duration::from_millis(200))
    }
}

/// Stderr as a terminal that is not one: cursor moves and line clears as
/// ANSI sequences, the width from `COLUMNS` (80 without it).
#[derive(Debug)]
struct AnsiStderr {
    width: u16,
}

impl AnsiStderr {
    fn from_env() -> Self {
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .filter(|&w| w > 0)
            .unwrap_or(80);
        AnsiStderr { width }
    }

    /// `n` cells or lines in the direction of the CSI `letter`.
    fn cursor(&self, n: usize, letter: char) -> std::io::Result<()> {
        if n == 0 {
            Ok(())
        } else {
            self.emit(&format!("\x1b[{n}{letter}"))
        }
    }

    fn emit(&self, s: &str) -> std::io::Result<()> {
        std::io::stderr().lock().write_all(s.as_bytes())
    }
}

impl TermLike for AnsiStderr {
    fn width(&self) -> u16 {
        self.width
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'A')
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'B')
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'C')
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'D')
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.emit(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.emit(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.emit("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::events::{JobStart, RunStart};
    use crate::executor::fingerprint::Reason;
    use crate::job::Phase;

    #[test]
    fn bars_follow_the_samples() {
        let r = BarReporter::with_target(ProgressDrawTarget::hidden(), SummaryTo::Stderr);
        r.event(&RunEvent::Started(&RunStart {
            plan: "p.toml".into(),
            jobs_in_plan: 2,
            selected: 2,
            up_to_date: 0,
            to_run: 2,
            parallel: 2,
            memory_budget: 1 << 30,
            shard: None,
        }));
        let start = JobStart {
            index: 1,
            ordinal: 1,
            to_run: 2,
            id: "job-b".into(),
            input: "in".into(),
            output: "out".into(),
            reason: Reason::NoOutput,
            input_bytes: Some(1000),
        };
        r.event(&RunEvent::JobStarted(&start));
        let snap = JobSnapshot {
            index: 1,
            id: "job-b".into(),
            phase: Some(Phase::SelfTest),
            elapsed: Duration::from_secs(2),
            entries: 10,
            fsm_bytes: 3000,
            io_bytes: Some(4000),
            input_bytes: Some(1000),
            fraction: Some(0.4),
            eta: Some(Duration::from_secs(3)),
        };
        r.event(&RunEvent::Progress(std::slice::from_ref(&snap)));
        {
            let st = r.state();
            let b = &st.bars[&1];
            assert_eq!(b.position(), 400);
            assert!(
                b.message().starts_with("self-test, 10 entries"),
                "{}",
                b.message()
            );
            assert!(b.message().ends_with("ETA 3s"), "{}", b.message());
        }
        assert_eq!(r.overall.message(), "2.93 KiB written");
    }
}
