//! `ekvplan run` and `ekvplan verify`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::control::RunControl;
use super::report;
use super::select::{COMPLETION_INDEX_ENV, Shard};
use super::verify;
use super::{RunOptions, signals};
use crate::adapter::Warn;
use crate::budget::parse_size;
use crate::error::{Error, Result, exit};
use crate::plan::{ValidateOptions, ValidatedPlan};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// Jobs to run at once [default: number of cores].
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,
    /// Keep running the other jobs when one fails (the default).
    #[arg(long, overrides_with = "fail_fast")]
    pub keep_going: bool,
    /// Stop at the first failure: cancel running jobs, start no more.
    #[arg(long, overrides_with = "keep_going")]
    pub fail_fast: bool,
    /// Run only these jobs (ids or globs with * and ?; comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Run one shard of the plan: hash:M/N (1 <= M <= N), or hash:N with the
    /// shard taken from JOB_COMPLETION_INDEX (0-based).
    #[arg(long)]
    pub shard: Option<String>,
    /// Print what would run and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Rerun jobs even when their outputs are up to date.
    #[arg(long)]
    pub force: bool,
    /// Write a JSON report of the run to FILE ("{shard}" in FILE becomes M-of-N).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write a JUnit XML report (one testcase per job) to FILE ("{shard}" as above).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Total memory budget shared by running jobs [default: half of RAM or of
    /// the cgroup's memory limit].
    #[arg(long, value_parser = parse_size)]
    pub memory_budget: Option<u64>,
    /// Never draw progress bars (they are drawn only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// Also verify every input's CHECKSUMS file while validating the plan.
    #[arg(long)]
    pub verify_checksums: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// A plan file (*.toml) or a single .fsm.
    pub target: PathBuf,
    /// Also decode each output and compare it with its input (self-test).
    #[arg(long)]
    pub deep: bool,
    /// With a plan: verify only these jobs (ids or globs).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// With a plan: verify one shard (same syntax as `run --shard`).
    #[arg(long)]
    pub shard: Option<String>,
    /// Outputs checked at once [default: number of cores].
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,
    /// Base directory for --deep scratch trees (for a single .fsm).
    #[arg(long)]
    pub scratch_root: Option<PathBuf>,
    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

fn parse_shard(spec: Option<&str>) -> Result<Option<Shard>> {
    let env = std::env::var(COMPLETION_INDEX_ENV).ok();
    spec.map(|s| Shard::parse(s, env.as_deref())).transpose()
}

/// `{shard}` in a report path becomes `M-of-N` (or `all`), so every shard
/// of a CI matrix or Indexed Job can name its own report.
pub fn expand_shard_placeholder(path: &std::path::Path, shard: Option<Shard>) -> PathBuf {
    let s = path.to_string_lossy();
    if !s.contains("{shard}") {
        return path.to_path_buf();
    }
    let tag = shard.map_or_else(
        || "all".to_string(),
        |s| format!("{}-of-{}", s.index, s.count),
    );
    PathBuf::from(s.replace("{shard}", &tag))
}

fn load(plan: &std::path::Path, verify_checksums: bool) -> std::result::Result<ValidatedPlan, i32> {
    let opts = ValidateOptions { verify_checksums };
    let plan = crate::plan::load_and_validate(plan, &opts).map_err(|p| {
        p.eprint();
        p.exit_code()
    })?;
    plan.eprint_warnings();
    Ok(plan)
}

fn fail(e: Error) -> i32 {
    eprintln!("ekvplan: error: {e}");
    e.exit_code()
}

pub fn run_main(a: RunArgs, _warn: Warn) -> i32 {
    let shard = match parse_shard(a.shard.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if a.dry_run && (a.report.is_some() || a.junit.is_some()) {
        return fail(Error::usage(
            "--dry-run writes nothing; drop --report/--junit or the dry run",
        ));
    }
    let plan = match load(&a.plan, a.verify_checksums) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let opts = RunOptions {
        jobs: a.jobs.map_or_else(super::default_jobs, |n| n as usize),
        fail_fast: a.fail_fast,
        force: a.force,
        only: a.only,
        shard,
        memory_budget: a.memory_budget.unwrap_or_else(super::default_total_memory),
        progress: !a.no_progress && std::io::stderr().is_terminal(),
        handle_signals: true,
        test_hold: super::hold_phase_from_env(),
    };
    if a.dry_run {
        return match super::dry_run(&plan, &opts) {
            Ok(text) => {
                print!("{text}");
                exit::OK
            }
            Err(e) => fail(e),
        };
    }
    let ctl = Arc::new(RunControl::new());
    let rep = match super::run_plan(&plan, &opts, &ctl) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    print!("{}", rep.summary_table());
    let mut code = rep.exit_code;
    for (path, bytes) in [
        (&a.report, rep.to_json()),
        (&a.junit, rep.to_junit().into_bytes()),
    ] {
        if let Some(p) = path {
            let p = expand_shard_placeholder(p, shard);
            if let Err(e) = report::write_atomic(&p, &bytes) {
                eprintln!("ekvplan: error: report: {e}");
                if code == exit::OK {
                    code = exit::USAGE_OR_IO;
                }
            }
        }
    }
    code
}

/// A `.toml` target is a plan; anything else is one `.fsm`.
fn is_plan(p: &std::path::Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

pub fn verify_main(a: VerifyArgs, _warn: Warn) -> i32 {
    let shard = match parse_shard(a.shard.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let targets = if is_plan(&a.target) {
        let plan = match load(&a.target, false) {
            Ok(p) => p,
            Err(code) => return code,
        };
        match verify::plan_targets(&plan, &a.only, shard) {
            Ok(t) => t,
            Err(e) => return fail(e),
        }
    } else {
        if !a.only.is_empty() || shard.is_some() {
            return fail(Error::usage(
                "--only and --shard apply to a plan, not to one .fsm",
            ));
        }
        vec![verify::fsm_target(&a.target, a.scratch_root.clone())]
    };
    let ctl = Arc::new(RunControl::new());
    let guard = signals::install(ctl.clone(), |_| {
        eprintln!("ekvplan: interrupted (press Ctrl-C again to exit at once)");
    });
    let opts = verify::VerifyOptions {
        deep: a.deep,
        jobs: a.jobs.map_or_else(super::default_jobs, |n| n as usize),
    };
    let records = verify::verify_all(&targets, &opts, &ctl);
    drop(guard);
    print!("{}", verify::render(&records));
    let mut code = verify::exit_code(ctl.is_interrupted(), &records);
    if let Some(p) = &a.report {
        let p = &expand_shard_placeholder(p, shard);
        let mut bytes = serde_json::to_vec_pretty(&serde_json::json!({
            "verify_report_version": 1,
            "ekvplan_version": env!("CARGO_PKG_VERSION"),
            "target": a.target.display().to_string(),
            "deep": a.deep,
            "exit_code": code,
            "outputs": records,
        }))
        .expect("verify report serializes");
        bytes.push(b'\n');
        if let Err(e) = report::write_atomic(p, &bytes) {
            eprintln!("ekvplan: error: report: {e}");
            if code == exit::OK {
                code = exit::USAGE_OR_IO;
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn shard_placeholder() {
        let s = Some(Shard { index: 2, count: 4 });
        assert_eq!(
            expand_shard_placeholder(Path::new("r/run-{shard}.json"), s),
            Path::new("r/run-2-of-4.json")
        );
        assert_eq!(
            expand_shard_placeholder(Path::new("run-{shard}.json"), None),
            Path::new("run-all.json")
        );
        assert_eq!(
            expand_shard_placeholder(Path::new("plain.json"), s),
            Path::new("plain.json")
        );
    }
}
