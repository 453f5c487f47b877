//! `ekvplan run` scaling: the same N generated dumps (default 8) encoded
//! one after another and in parallel (`--jobs 2`), each mode in its own
//! child process so its peak RSS can be measured. "One after another" is
//! measured twice: as N single `encode` pipelines in a row (which may still
//! use every core inside one job, e.g. for sorting) and as `run --jobs 1`.
//!
//!     cargo bench --bench run_parallel
//!
//! Environment:
//! - `EKVPLAN_BENCH_DUMPS` (8), `EKVPLAN_BENCH_SCALE` (0.25): how many dumps
//!   of `gen_dumps.py --profile scale --scale S` (seeds 1..N).
//! - `EKVPLAN_BENCH_DIR`: keep the dumps there between runs (default: a
//!   temp dir, removed afterwards).
//! - `EKVPLAN_GEN_DUMPS`: path of gen_dumps.py (default: `../shared/tools/`
//!   beside the repository, then `/work/shared/tools/`).
//! - `EKVPLAN_BENCH_PARALLEL_JOBS` (2).
//!
//! Prints wall time and peak RSS per mode and the speed-up ratio.

#[path = "common/child.rs"]
mod child;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use ekvplan::testing::{resolved_job, validated_plan};
use ekvplan::{EncodeJob, RunControl, RunOptions, run_plan};

const CHILD_ENV: &str = "EKVPLAN_BENCH_CHILD";

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn gen_dumps_script() -> PathBuf {
    if let Ok(p) = std::env::var("EKVPLAN_GEN_DUMPS") {
        return PathBuf::from(p);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/gen_dumps.py");
    if beside.exists() {
        return beside;
    }
    PathBuf::from("/work/shared/tools/gen_dumps.py")
}

fn dump_dirs(root: &Path, n: usize) -> Vec<PathBuf> {
    (1..=n).map(|i| root.join(format!("dumps/d{i}"))).collect()
}

fn generate(root: &Path, n: usize, scale: f64) {
    let script = gen_dumps_script();
    for (i, d) in dump_dirs(root, n).iter().enumerate() {
        if d.join("MANIFEST.json").exists() {
            continue;
        }
        let st = Command::new("python3")
            .arg(&script)
            .args(["--seed", &(i + 1).to_string(), "--profile", "scale"])
            .args(["--scale", &scale.to_string(), "--out"])
            .arg(d)
            .status()
            .expect("run gen_dumps.py");
        assert!(st.success(), "gen_dumps.py failed for {}", d.display());
    }
}

/// The child for the encode loop: N `ekvplan encode` pipelines in a row.
fn child_encode_loop(root: &Path, n: usize) {
    let out = root.join("out-loop");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    for (i, d) in dump_dirs(root, n).into_iter().enumerate() {
        let mut j = EncodeJob::new(d, out.join(format!("d{}.fsm", i + 1)));
        j.scratch_root = Some(root.join("scratch"));
        if let Err(e) = ekvplan::testing::run_encode_simple(&j) {
            eprintln!("    d{}: {e}", i + 1);
            std::process::exit(e.exit_code());
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    std::process::exit(0);
}

/// The child: run every dump's job with `jobs` threads, print a summary.
fn child(root: &Path, n: usize, jobs: usize) {
    let out = root.join(format!("out-{jobs}"));
    let _ = std::fs::remove_dir_all(&out);
    let plan_jobs = dump_dirs(root, n)
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let mut j = EncodeJob::new(d, out.join(format!("d{}.fsm", i + 1)));
            j.scratch_root = Some(root.join("scratch"));
            resolved_job(format!("d{}", i + 1), j)
        })
        .collect();
    let plan = validated_plan(root.join("bench.toml"), plan_jobs);
    let opts = RunOptions {
        jobs,
        force: true,
        ..RunOptions::default()
    };
    let rep = run_plan(&plan, &opts, &Arc::new(RunControl::new())).expect("run");
    let bytes: u64 = rep
        .jobs
        .iter()
        .filter_map(|j| j.output_bytes)
        .map(|b| b.0)
        .sum();
    eprintln!(
        "  jobs={jobs}: {} succeeded, {} failed, {} written",
        rep.counts.succeeded, rep.counts.failed, bytes
    );
    for j in rep.jobs.iter().filter(|j| j.error.is_some()) {
        eprintln!("    {}: {}", j.id, j.error.as_ref().unwrap().message);
    }
    let _ = std::fs::remove_dir_all(&out);
    std::process::exit(rep.exit_code);
}

/// Run this binary as a child in `jobs` mode: (seconds, peak RSS bytes).
fn measure(root: &Path, mode: &str) -> (f64, u64) {
    child::measure(
        Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, mode)
            .env("EKVPLAN_BENCH_ROOT", root),
        &format!("child ({mode})"),
    )
}

fn main() {
    let n: usize = env_or("EKVPLAN_BENCH_DUMPS", 8);
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        let root = PathBuf::from(std::env::var("EKVPLAN_BENCH_ROOT").unwrap());
        match mode.as_str() {
            "loop" => child_encode_loop(&root, n),
            jobs => child(&root, n, jobs.parse().unwrap()),
        }
        return;
    }
    // `cargo bench` passes --bench; `cargo test --benches` does not, and
    // must not spend minutes generating dumps.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("run_parallel: skipped (run it with `cargo bench --bench run_parallel`)");
        return;
    }
    let scale: f64 = env_or("EKVPLAN_BENCH_SCALE", 0.25);
    let par: usize = env_or("EKVPLAN_BENCH_PARALLEL_JOBS", 2);
    let tmp;
    let root = match std::env::var("EKVPLAN_BENCH_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_path_buf()
        }
    };
    eprintln!("generating {n} dumps (scale {scale}) in {}", root.display());
    generate(&root, n, scale);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    eprintln!("{n} dumps, {cores} core(s)");
    // Warm the page cache so the first measured mode is not penalised.
    let _ = measure(&root, "loop");
    let (lp, lp_rss) = measure(&root, "loop");
    let (seq, seq_rss) = measure(&root, "1");
    let (parl, par_rss) = measure(&root, &par.to_string());
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("run_parallel: {n} dumps, scale {scale}, {cores} cores");
    println!(
        "  {n} x encode in a row : {lp:8.2} s   peak RSS {:8.1} MiB",
        mib(lp_rss)
    );
    println!(
        "  run --jobs 1        : {seq:8.2} s   peak RSS {:8.1} MiB",
        mib(seq_rss)
    );
    println!(
        "  run --jobs {par:<2}       : {parl:8.2} s   peak RSS {:8.1} MiB",
        mib(par_rss)
    );
    println!(
        "  speed-up vs encode loop: {:.2}x, vs --jobs 1: {:.2}x",
        lp / parl,
        seq / parl
    );
}
