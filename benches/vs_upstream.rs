//! ekvplan against the upstream Go tools on one canonical dump: `encode`,
//! `encode --self-test` and `decode`, each as its own child process so that
//! wall time and peak RSS (`wait4` rusage) are its own.
//!
//!     cargo bench --bench vs_upstream
//!
//! Environment:
//! - `EKVPLAN_BENCH_TREE` (`/work/data/scale1`): a canonical (decoder-
//!   written) dump tree; `EKVPLAN_BENCH_FSM` (`<tree>.fsm`): its `.fsm`.
//! - `EKVPLAN_ORACLE_BIN` (`/work/oracle/bin`): where
//!   `elastickv-snapshot-{encode,decode}` are; without them only ekvplan is
//!   measured.
//! - `EKVPLAN_BENCH_RUNS` (1): measured runs per row (the best is kept),
//!   after one warm-up run of each command.
//! - `EKVPLAN_BENCH_BUDGETS` (`64MiB,256MiB`): ekvplan `--memory-budget`
//!   values for the self-test and decode rows.
//! - `EKVPLAN_BENCH_DIR`: where outputs and self-test scratch go (default:
//!   a fresh directory in the system temp dir, removed afterwards).
//!
//! Prints one row per command and the ratios the project targets:
//! self-test at most 3x plain encode, decode at most 0.5x upstream.

#[path = "common/child.rs"]
mod child;

use std::path::{Path, PathBuf};
use std::process::Command;

fn env_path(k: &str, d: &str) -> PathBuf {
    std::env::var_os(k).map_or_else(|| PathBuf::from(d), PathBuf::from)
}

/// Run a command to completion, its output discarded: (seconds, peak RSS bytes).
fn measure(cmd: &mut Command) -> (f64, u64) {
    let what = format!("{cmd:?}");
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    child::measure(cmd, &what)
}

/// A command whose outputs are cleared before each run.
struct Row {
    label: String,
    outputs: Vec<PathBuf>,
    make: Box<dyn Fn() -> Command>,
}

impl Row {
    fn clear(&self) {
        for p in &self.outputs {
            let _ = std::fs::remove_dir_all(p);
            let _ = std::fs::remove_file(p);
            let mut s = p.as_os_str().to_owned();
            s.push(".encode_info.json");
            let _ = std::fs::remove_file(PathBuf::from(s));
        }
    }

    fn best_of(&self, runs: usize) -> (f64, u64) {
        let mut best = (f64::MAX, 0);
        for _ in 0..runs.max(1) {
            self.clear();
            let (t, rss) = measure(&mut (self.make)());
            if t < best.0 {
                best = (t, rss);
            }
        }
        self.clear();
        best
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and
    // must not spend minutes on a scale dump.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("vs_upstream: skipped (run it with `cargo bench --bench vs_upstream`)");
        return;
    }
    let tree = env_path("EKVPLAN_BENCH_TREE", "/work/data/scale1");
    let fsm = std::env::var_os("EKVPLAN_BENCH_FSM").map_or_else(
        || {
            let mut s = tree.as_os_str().to_owned();
            s.push(".fsm");
            PathBuf::from(s)
        },
        PathBuf::from,
    );
    if !tree.join("MANIFEST.json").is_file() || !fsm.is_file() {
        eprintln!(
            "vs_upstream: skipped: no dump at {} / {} (set EKVPLAN_BENCH_TREE, EKVPLAN_BENCH_FSM)",
            tree.display(),
            fsm.display()
        );
        return;
    }
    let oracle = env_path("EKVPLAN_ORACLE_BIN", "/work/oracle/bin");
    let up_enc = oracle.join("elastickv-snapshot-encode");
    let up_dec = oracle.join("elastickv-snapshot-decode");
    let upstream = up_enc.is_file() && up_dec.is_file();
    if !upstream {
        eprintln!(
            "vs_upstream: upstream tools not found in {} (set EKVPLAN_ORACLE_BIN); measuring ekvplan only",
            oracle.display()
        );
    }
    let runs: usize = std::env::var("EKVPLAN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let budgets: Vec<String> = std::env::var("EKVPLAN_BENCH_BUDGETS")
        .unwrap_or_else(|_| "64MiB,256MiB".into())
        .split(',')
        .map(str::to_owned)
        .collect();
    let tmp;
    let dir = match std::env::var_os("EKVPLAN_BENCH_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).unwrap();
    let ekv = PathBuf::from(env!("CARGO_BIN_EXE_ekvplan"));
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();

    let encode = |tool: &Path, out: &Path, self_test: bool, budget: Option<&str>| {
        let (tool, out, tree, scratch) = (
            tool.to_path_buf(),
            out.to_path_buf(),
            tree.clone(),
            scratch.clone(),
        );
        let ekv = tool.ends_with("ekvplan");
        let budget = budget.map(str::to_owned);
        Box::new(move || {
            let mut c = Command::new(&tool);
            if ekv {
                c.arg("encode");
            }
            c.arg("--input").arg(&tree).arg("--output").arg(&out);
            if self_test {
                c.arg("--self-test").arg("--scratch-root").arg(&scratch);
            }
            if let Some(b) = &budget {
                c.args(["--memory-budget", b]);
            }
            c
        }) as Box<dyn Fn() -> Command>
    };
    let decode = |tool: &Path, out: &Path, budget: Option<&str>| {
        let (tool, out, fsm) = (tool.to_path_buf(), out.to_path_buf(), fsm.clone());
        let ekv = tool.ends_with("ekvplan");
        let budget = budget.map(str::to_owned);
        Box::new(move || {
            let mut c = Command::new(&tool);
            if ekv {
                c.arg("decode");
            }
            c.arg("--input").arg(&fsm).arg("--output").arg(&out);
            if let Some(b) = &budget {
                c.args(["--memory-budget", b]);
            }
            c
        }) as Box<dyn Fn() -> Command>
    };

    let mut rows: Vec<Row> = Vec::new();
    let out_fsm = dir.join("out.fsm");
    let out_tree = dir.join("out-tree");
    if upstream {
        rows.push(Row {
            label: "upstream encode".into(),
            outputs: vec![out_fsm.clone()],
            make: encode(&up_enc, &out_fsm, false, None),
        });
        rows.push(Row {
            label: "upstream encode --self-test".into(),
            outputs: vec![out_fsm.clone()],
            make: encode(&up_enc, &out_fsm, true, None),
        });
        rows.push(Row {
            label: "upstream decode".into(),
            outputs: vec![out_tree.clone()],
            make: decode(&up_dec, &out_tree, None),
        });
    }
    rows.push(Row {
        label: "ekvplan encode".into(),
        outputs: vec![out_fsm.clone()],
        make: encode(&ekv, &out_fsm, false, None),
    });
    for b in &budgets {
        rows.push(Row {
            label: format!("ekvplan encode --self-test ({b})"),
            outputs: vec![out_fsm.clone()],
            make: encode(&ekv, &out_fsm, true, Some(b)),
        });
    }
    for b in &budgets {
        rows.push(Row {
            label: format!("ekvplan decode ({b})"),
            outputs: vec![out_tree.clone()],
            make: decode(&ekv, &out_tree, Some(b)),
        });
    }

    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    eprintln!(
        "vs_upstream: {} ({} cores), {} measured run(s) per row after a warm-up",
        tree.display(),
        cores,
        runs
    );
    for r in &rows {
        r.clear();
        let _ = measure(&mut (r.make)());
    }
    let mut results = Vec::new();
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    for r in &rows {
        let (t, rss) = r.best_of(runs);
        println!(
            "  {:<44} {t:8.2} s   peak RSS {:8.1} MiB",
            r.label,
            mib(rss)
        );
        results.push((r.label.clone(), t));
    }
    let time = |prefix: &str| {
        results
            .iter()
            .find(|(l, _)| l.starts_with(prefix))
            .map(|r| r.1)
    };
    let last_budget = budgets.last().map_or("", String::as_str);
    let enc = time("ekvplan encode").unwrap();
    let st = time(&format!("ekvplan encode --self-test ({last_budget})"));
    let dec = time(&format!("ekvplan decode ({last_budget})"));
    if let Some(st) = st {
        println!(
            "  self-test / plain encode (ekvplan): {:.2}x (target <= 3)",
            st / enc
        );
        if let Some(up) = time("upstream encode --self-test") {
            println!(
                "  self-test ekvplan / upstream:       {:.2}x (target ~<= 0.1)",
                st / up
            );
        }
    }
    if let (Some(dec), Some(up)) = (dec, time("upstream decode")) {
        println!(
            "  decode ekvplan / upstream:          {:.2}x (target <= 0.5)",
            dec / up
        );
    }
}
