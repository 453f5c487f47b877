//! Validation speed of a large plan: generates `--jobs N` (default 1000)
//! small dump trees and a plan with one `[[job]]` per dump (each with an
//! override and a scope exclusion to check), then times `plan::validate`
//! (manifests only, no checksum verification) over `--runs R` runs.
//!
//!     cargo bench --bench plan_validate -- --jobs 1000
//!
//! A measurement, not a test: nothing here fails on speed. The target is
//! well under one second for 1,000 jobs.

use std::fmt::Write as _;
use std::fs;
use std::time::{Duration, Instant};

use ekvplan::plan::{self, ValidateOptions};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn manifest_bytes() -> Vec<u8> {
    ekvplan::Manifest::all_adapters("bench", 114693662310400001, "2026-06-01T00:00:00Z")
        .to_bytes()
        .unwrap()
}

fn main() {
    let jobs = arg("--jobs", 1000);
    let runs = arg("--runs", 5).max(1);
    let t = tempfile::tempdir().expect("tempdir");
    let mut plan = String::from(
        "#:schema ../schema/plan.schema.json\nversion = 1\n\n[defaults]\nself_test = true\nmemory_budget = \"256MiB\"\n",
    );
    for i in 0..jobs {
        let d = t.path().join(format!("dumps/cluster-{i:04}"));
        for sub in [
            "dynamodb/orders",
            "dynamodb/sessions",
            "s3/media",
            "redis/db_0",
        ] {
            fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        fs::write(d.join("MANIFEST.json"), manifest_bytes()).expect("manifest");
        let _ = write!(
            plan,
            "\n[[job]]\nid = \"cluster-{i:04}\"\ninput = \"dumps/cluster-{i:04}\"\noutput = \"out/cluster-{i:04}.fsm\"\nlast_commit_ts = \"0x0197800000000000\"\nexclude.dynamodb.tables = [\"sessions\"]\n"
        );
    }
    let path = t.path().join("plan.toml");
    fs::write(&path, &plan).expect("plan");

    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let (report, expanded) = plan::validate(&path, &ValidateOptions::default()).expect("read");
        times.push(start.elapsed());
        assert!(report.is_valid(), "{}", report.summary(&expanded));
        assert_eq!(expanded.len(), jobs);
    }
    times.sort();
    println!(
        "plan_validate: {jobs} jobs, {} bytes of TOML: slowest {:.1} ms, median {:.1} ms, best {:.1} ms ({runs} runs)",
        plan.len(),
        slowest(&times) * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
    );
}

fn slowest(sorted: &[Duration]) -> f64 {
    sorted.last().map_or(0.0, Duration::as_secs_f64)
}
