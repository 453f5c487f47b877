//! Real signals against a real process. The test binary re-runs itself as
//! the child (`child_entry`, active only when CHILD_ENV is set), which runs
//! a plan with the CLI's signal handling while its jobs hold in the writing
//! phase, so a signal always lands mid-job with a temp file on disk.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;

use ekvplan::testing::TestHold;
use ekvplan::{Phase, RunControl, RunOptions, run_plan};

use crate::common::run::{plan, temp_files, tree, wait_for};

const CHILD_ENV: &str = "EKVPLAN_TEST_SIGNAL_CHILD_DIR";
const HOLD_ENV: &str = "EKVPLAN_TEST_SIGNAL_CHILD_HOLD";

fn options(hold: Option<TestHold>) -> RunOptions {
    RunOptions {
        jobs: 2,
        memory_budget: 1 << 30,
        handle_signals: true,
        test_hold: hold,
        ..RunOptions::default()
    }
}

/// The child: run the 4-job plan in CHILD_ENV and exit with the run's code.
#[test]
fn child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let hold = match std::env::var(HOLD_ENV).as_deref() {
        Ok("stuck") => Some(TestHold {
            phase: Phase::Writing,
            stuck: true,
        }),
        Ok("hold") => Some(TestHold {
            phase: Phase::Writing,
            stuck: false,
        }),
        _ => None,
    };
    let root = PathBuf::from(dir);
    let p = plan(&root, 4);
    let rep = run_plan(&p, &options(hold), &Arc::new(RunControl::new())).unwrap();
    print!("{}", rep.summary_table());
    std::process::exit(rep.exit_code);
}

struct Kid {
    child: Child,
    lines: mpsc::Receiver<String>,
}

fn spawn(root: &Path, hold: &str) -> Kid {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "run_signals::child_entry",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, root)
        .env(HOLD_ENV, hold)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    Kid { child, lines }
}

fn signal(kid: &Kid, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(kid.child.id() as i32, sig) };
    assert_eq!(rc, 0);
}

/// Exit code (or 128+signal) once the child ends; bounded wait.
fn wait_exit(kid: &mut Kid) -> i32 {
    let mut status = None;
    wait_for("the child to exit", || {
        status = kid.child.try_wait().unwrap();
        status.is_some()
    });
    let s = status.unwrap();
    use std::os::unix::process::ExitStatusExt;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

fn wait_for_line(kid: &Kid, needle: &str) {
    let mut seen = Vec::new();
    wait_for(&format!("{needle:?} on the child's stderr"), || {
        while let Ok(l) = kid.lines.try_recv() {
            seen.push(l);
        }
        seen.iter().any(|l| l.contains(needle))
    });
}

fn outputs(root: &Path) -> Vec<String> {
    tree(root, &["out"])
        .into_iter()
        .filter(|p| p.ends_with(".fsm"))
        .collect()
}

/// The 4-job plan running in a child, two jobs in the writing phase.
fn writing(hold: &str) -> (tempfile::TempDir, Kid) {
    let t = tempfile::tempdir().unwrap();
    plan(t.path(), 4);
    let kid = spawn(t.path(), hold);
    wait_for("two jobs to write", || {
        temp_files(&t.path().join("out")).len() == 2
    });
    (t, kid)
}

/// A run after an interrupted one removes its leftovers and does the work.
fn a_rerun_cleans_up_and_finishes(root: &Path) {
    let mut kid = spawn(root, "none");
    assert_eq!(wait_exit(&mut kid), 0);
    assert_eq!(temp_files(&root.join("out")), Vec::<String>::new());
    assert_eq!(outputs(root).len(), 4);
    assert_eq!(tree(root, &["scratch"]), Vec::<String>::new());
}

#[test]
fn first_sigint_cancels_and_cleans_up() {
    let (t, mut kid) = writing("hold");
    let root = t.path();
    signal(&kid, libc::SIGINT);
    assert_eq!(wait_exit(&mut kid), 130);
    assert_eq!(
        tree(root, &["out", "scratch"]),
        Vec::<String>::new(),
        "no output, no temp file, no scratch directory"
    );
}

#[test]
fn second_sigint_exits_at_once_and_a_rerun_cleans_up() {
    let (t, mut kid) = writing("stuck");
    let root = t.path();
    signal(&kid, libc::SIGINT);
    wait_for_line(&kid, "interrupted: cancelling running jobs");
    // The stuck jobs ignore cancellation; only the second signal ends it.
    assert!(kid.child.try_wait().unwrap().is_none());
    signal(&kid, libc::SIGINT);
    assert_eq!(wait_exit(&mut kid), 130);
    assert_eq!(outputs(root), Vec::<String>::new(), "nothing published");
    assert_eq!(temp_files(&root.join("out")).len(), 2, "left for the rerun");

    a_rerun_cleans_up_and_finishes(root);
}

#[test]
fn one_sigint_ends_a_stuck_run_after_the_grace_period() {
    let (t, mut kid) = writing("stuck");
    let root = t.path();
    let t0 = std::time::Instant::now();
    signal(&kid, libc::SIGINT);
    // The jobs never notice the cancellation; the process exits anyway,
    // within the 2 s an interrupted command has (here: well under 10 s).
    assert_eq!(wait_exit(&mut kid), 130);
    let waited = t0.elapsed();
    assert!(
        waited >= ekvplan::testing::SIGNAL_GRACE,
        "exited after {waited:?}, before the grace period"
    );
    assert!(waited < std::time::Duration::from_secs(10), "{waited:?}");
    assert_eq!(outputs(root), Vec::<String>::new(), "nothing published");

    a_rerun_cleans_up_and_finishes(root);
}

#[test]
fn sigkill_leftovers_are_removed_by_the_next_run() {
    let (t, mut kid) = writing("stuck");
    let root = t.path();
    signal(&kid, libc::SIGKILL);
    assert_eq!(wait_exit(&mut kid), 128 + libc::SIGKILL);
    assert_eq!(outputs(root), Vec::<String>::new());
    assert!(
        tree(root, &["scratch"])
            .iter()
            .any(|p| p.starts_with("scratch/ekvplan-run-")),
        "the killed run's scratch directory is still there"
    );

    a_rerun_cleans_up_and_finishes(root);
}

#[test]
fn sigterm_is_an_interruption_too() {
    let (t, mut kid) = writing("hold");
    let root = t.path();
    signal(&kid, libc::SIGTERM);
    assert_eq!(wait_exit(&mut kid), 130);
    assert_eq!(tree(root, &["out", "scratch"]), Vec::<String>::new());
}
