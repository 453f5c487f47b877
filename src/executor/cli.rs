//! `ekvplan run` and `ekvplan verify`: flags, and which reporters a run
//! gets (terminal bars, plain CI lines, GitHub Actions commands, report
//! files).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::RunOptions;
use super::events::{Reporter, Reporters};
use super::plain::{GithubReporter, PlainOptions, PlainReporter, SummaryTo, stderr_sink};
use super::progress::BarReporter;
use super::report_file::{FileFormat, ReportFile};
use super::select::{COMPLETION_INDEX_ENV, Shard};
use super::verify;
use crate::adapter::Warn;
use crate::budget::parse_size;
use crate::cancel::{RunControl, signals};
use crate::diagnostic::Style;
use crate::error::{Error, Result, exit};
use crate::machine::dest::Dest;
use crate::machine::github;
use crate::output::{self, OutputArgs, Stream, Verbosity};
use crate::plan::{ValidateOptions, ValidatedPlan};

/// How a run shows its progress on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise (and under GitHub Actions).
    Auto,
    /// Bars with each job's share done and time left (drawn only on a
    /// terminal), never plain lines.
    Bar,
    /// Timestamped lines: a start line per job and a heartbeat per running
    /// job every --heartbeat (for CI and container logs).
    Plain,
    /// Only result lines, warnings and the summary.
    None,
}

/// What `--dry-run` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRunFormat {
    /// For people.
    Human,
    /// One JSON document (schema/dry-run.schema.json).
    Json,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The plan file (TOML); `-` reads it from standard input, and its
    /// relative paths then resolve against the working directory.
    pub plan: PathBuf,
    /// Jobs to run at once [default: number of cores].
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,
    /// Keep running the other jobs when one fails (the default).
    #[arg(long, conflicts_with = "fail_fast")]
    pub keep_going: bool,
    /// Stop at the first failure: cancel running jobs, start no more.
    #[arg(long)]
    pub fail_fast: bool,
    /// Run only these jobs (ids or globs with * and ?; comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "JOB_IDS")]
    pub only: Vec<String>,
    /// Run one shard of the plan: hash:M/N (1 <= M <= N), or hash:N with the
    /// shard taken from JOB_COMPLETION_INDEX (0-based).
    #[arg(long)]
    pub shard: Option<String>,
    /// Print what would run and write nothing.
    #[arg(long, conflicts_with_all = ["report", "junit"])]
    pub dry_run: bool,
    /// With --dry-run: print it for people or as JSON.
    #[arg(long, value_enum, default_value_t = DryRunFormat::Human)]
    pub format: DryRunFormat,
    /// Rerun jobs even when their outputs are up to date.
    #[arg(long)]
    pub force: bool,
    /// Write a JSON report of the run to FILE ("-": stdout; "{shard}" in
    /// FILE becomes M-of-N).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write a JUnit XML report (one testcase per job) to FILE ("-" and
    /// "{shard}" as above).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Total memory budget shared by running jobs [default: half of RAM or of
    /// the cgroup's memory limit].
    #[arg(long, value_parser = parse_size)]
    pub memory_budget: Option<u64>,
    /// How to show progress on stderr.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto, conflicts_with = "quiet")]
    pub progress: ProgressMode,
    /// With plain progress: a line per running job this often (10s, 500ms, 2m).
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_duration,
        default_value = "10s",
        conflicts_with = "quiet"
    )]
    pub heartbeat: Duration,
    /// Same as --progress none.
    #[arg(long, conflicts_with = "progress")]
    pub no_progress: bool,
    /// Also verify every input's CHECKSUMS file while validating the plan.
    #[arg(long)]
    pub verify_checksums: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `10s`, `1.5s`, `500ms`, `2m`, or a number of seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 10s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m or h)"
            ));
        }
    };
    let d =
        Duration::try_from_secs_f64(secs).map_err(|_| format!("duration {s:?} is out of range"))?;
    if d < Duration::from_millis(1) {
        return Err(format!("duration {s:?} is shorter than 1ms"));
    }
    Ok(d)
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// A plan file (*.toml; `-` reads one from standard input, its relative
    /// paths then resolving against the working directory) or a single .fsm.
    pub target: PathBuf,
    /// Also decode each output and compare it with its input (self-test).
    #[arg(long)]
    pub deep: bool,
    /// With a plan: verify only these jobs (ids or globs).
    #[arg(long, value_delimiter = ',', value_name = "JOB_IDS")]
    pub only: Vec<String>,
    /// With a plan: verify one shard (same syntax as `run --shard`).
    #[arg(long)]
    pub shard: Option<String>,
    /// Outputs checked at once [default: number of cores].
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,
    /// Memory shared by the --deep checks running at once [default: half
    /// of RAM or of the cgroup's memory limit]. Each check gets at most its
    /// share, and at most its job's memory_budget (for a lone .fsm: 256MiB,
    /// unless this is given).
    #[arg(long, value_parser = parse_size)]
    pub memory_budget: Option<u64>,
    /// Base directory for --deep scratch trees (for a single .fsm).
    #[arg(long)]
    pub scratch_root: Option<PathBuf>,
    /// Write the results as JSON to FILE ("-": stdout).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn parse_shard(spec: Option<&str>) -> Result<Option<Shard>> {
    let env = std::env::var(COMPLETION_INDEX_ENV).ok();
    spec.map(|s| Shard::parse(s, env.as_deref())).transpose()
}

/// `{shard}` in a report path becomes `M-of-N` (or `all`), so every shard
/// of a CI matrix or Indexed Job can name its own report.
pub fn expand_shard_placeholder(path: &Path, shard: Option<Shard>) -> PathBuf {
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

/// A report destination from its flag, checked before any work is done.
fn report_dest(flag: &str, p: &Path, shard: Option<Shard>) -> Result<Dest> {
    let d = Dest::parse(&expand_shard_placeholder(p, shard));
    d.check().map_err(|e| e.context(flag))?;
    Ok(d)
}

fn load(
    plan: &Path,
    verify_checksums: bool,
    level: Verbosity,
) -> std::result::Result<ValidatedPlan, i32> {
    let opts = ValidateOptions { verify_checksums };
    let gh = github::enabled();
    let plan = crate::plan::load_and_validate(plan, &opts).map_err(|p| {
        p.eprint();
        if gh {
            if let Some(r) = p.report() {
                eprint!("{}", r.github_annotations());
            }
        }
        p.exit_code()
    })?;
    if level > Verbosity::Quiet {
        plan.eprint_warnings();
        if gh {
            eprint!("{}", plan.report.github_annotations());
        }
    }
    Ok(plan)
}

fn fail(e: Error) -> i32 {
    eprint!("{}", e.render(Style::for_stderr()));
    e.exit_code()
}

/// The line of each job's entry in the plan (for annotations).
fn job_lines(plan: &ValidatedPlan) -> HashMap<String, usize> {
    let idx = crate::plan::diag::LineIndex::new(&plan.report.source);
    plan.jobs
        .iter()
        .filter_map(|j| Some((j.id.clone(), idx.line_col(j.span.as_ref()?.start).0)))
        .collect()
}

/// How progress is shown for these flags and this environment: bars or
/// not, and the mode lines follow.
fn progress_mode(a: &RunArgs) -> (bool, ProgressMode) {
    let mode = if a.no_progress || a.output.quiet {
        ProgressMode::None
    } else {
        a.progress
    };
    let bars = match mode {
        ProgressMode::Bar => true,
        ProgressMode::Auto => std::io::stderr().is_terminal() && !github::enabled(),
        ProgressMode::Plain | ProgressMode::None => false,
    };
    (bars, mode)
}

/// The people-facing reporter for this run's flags and environment.
fn human_reporter(a: &RunArgs, plan: &ValidatedPlan, summary: SummaryTo) -> Arc<dyn Reporter> {
    let gh = github::enabled();
    let level = a.output.verbosity();
    let (bars, mode) = progress_mode(a);
    if bars {
        return Arc::new(BarReporter::new(summary, level == Verbosity::Verbose));
    }
    let plain = PlainReporter::new(
        PlainOptions {
            live: mode != ProgressMode::None,
            heartbeat: a.heartbeat,
            summary,
            verbosity: level,
            color: output::color(Stream::Stderr),
        },
        stderr_sink(),
    );
    if gh {
        Arc::new(GithubReporter::new(plain, &plan.path, job_lines(plan)))
    } else {
        Arc::new(plain)
    }
}

/// `-v`: the settings a run goes with, each with where it came from when
/// that is not a flag.
fn settings_lines(a: &RunArgs, plan: &ValidatedPlan, opts: &RunOptions) -> String {
    let (bars, mode) = progress_mode(a);
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut rows: Vec<(&str, String)> = vec![
        (
            "plan",
            format!("{} ({} job(s))", plan.path.display(), plan.jobs.len()),
        ),
        (
            "jobs at once",
            match a.jobs {
                Some(n) => n.to_string(),
                None => format!("{} (number of cores)", opts.jobs),
            },
        ),
        (
            "memory budget",
            format!(
                "{}{}",
                indicatif::HumanBytes(opts.memory_budget),
                if a.memory_budget.is_some() {
                    ""
                } else {
                    " (half of RAM or of the cgroup limit)"
                }
            ),
        ),
        (
            "on failure",
            if opts.fail_fast {
                "stop (--fail-fast)"
            } else {
                "keep going"
            }
            .into(),
        ),
        ("force", yes_no(opts.force).into()),
        (
            "only",
            if opts.only.is_empty() {
                "all jobs".into()
            } else {
                opts.only.join(",")
            },
        ),
        (
            "shard",
            opts.shard
                .map_or_else(|| "none".into(), |s| format!("{} of {}", s.index, s.count)),
        ),
        ("verify checksums", yes_no(a.verify_checksums).into()),
        (
            "progress",
            format!(
                "{}{}",
                if bars {
                    "bars"
                } else {
                    match mode {
                        ProgressMode::Plain | ProgressMode::Auto => "plain lines",
                        _ => "result lines only",
                    }
                },
                if mode == ProgressMode::Plain || (mode == ProgressMode::Auto && !bars) {
                    format!(
                        ", heartbeat every {}",
                        super::plain::short_duration(a.heartbeat)
                    )
                } else {
                    String::new()
                }
            ),
        ),
        (
            "color",
            format!(
                "stderr {}, stdout {} (--color {})",
                yes_no(output::color(Stream::Stderr)),
                yes_no(output::color(Stream::Stdout)),
                a.output.color.as_str()
            ),
        ),
        ("github actions", yes_no(github::enabled()).into()),
    ];
    for (flag, p) in [("report", &a.report), ("junit", &a.junit)] {
        if let Some(p) = p {
            let shown = expand_shard_placeholder(p, opts.shard);
            rows.push((flag, shown.display().to_string()));
        }
    }
    let mut out = String::from("ekvplan run: settings\n");
    for (k, v) in rows {
        out.push_str(&format!("  {k:<17}{v}\n"));
    }
    out
}

pub fn run_main(a: RunArgs, _warn: Warn) -> i32 {
    a.output.apply();
    let level = a.output.verbosity();
    let shard = match parse_shard(a.shard.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if !a.dry_run && a.format == DryRunFormat::Json {
        return fail(Error::usage(
            "--format json is for --dry-run; for a JSON report of a run use --report - (stdout) or --report FILE",
        ));
    }
    let mut files = Vec::new();
    for (flag, path, format) in [
        ("--report", &a.report, FileFormat::Json),
        ("--junit", &a.junit, FileFormat::Junit),
    ] {
        if let Some(p) = path {
            match report_dest(flag, p, shard) {
                Ok(d) => files.push(Arc::new(ReportFile::new(d, format))),
                Err(e) => return fail(e),
            }
        }
    }
    let on_stdout = files.iter().filter(|f| f.dest().is_stdout()).count();
    if on_stdout > 1 {
        return fail(Error::usage(
            "--report - and --junit - would both write to stdout; send one of them to a file",
        ));
    }
    let plan = match load(&a.plan, a.verify_checksums, level) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let opts = RunOptions {
        jobs: a.jobs.map_or_else(super::default_jobs, |n| n as usize),
        fail_fast: a.fail_fast,
        force: a.force,
        only: a.only.clone(),
        shard,
        memory_budget: a.memory_budget.unwrap_or_else(super::default_total_memory),
        handle_signals: true,
        test_hold: super::hold_phase_from_env(),
    };
    if level == Verbosity::Verbose {
        eprint!("{}", settings_lines(&a, &plan, &opts));
    }
    if a.dry_run {
        return match super::dry_run::dry_run(&plan, &opts) {
            Ok(d) => {
                let bytes = match a.format {
                    DryRunFormat::Json => d.to_json(),
                    DryRunFormat::Human => d.render().into_bytes(),
                };
                match Dest::Stdout.write(&bytes) {
                    Ok(()) => exit::OK,
                    Err(e) => fail(e),
                }
            }
            Err(e) => fail(e),
        };
    }
    let summary = if on_stdout > 0 {
        SummaryTo::Stderr
    } else {
        SummaryTo::Stdout
    };
    let mut reporters: Vec<Arc<dyn Reporter>> = vec![human_reporter(&a, &plan, summary)];
    reporters.extend(files.iter().map(|f| f.clone() as Arc<dyn Reporter>));
    let ctl = Arc::new(RunControl::new());
    let rep = match super::run_plan_with(&plan, &opts, &ctl, Arc::new(Reporters(reporters))) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut code = rep.exit_code;
    for f in &files {
        if let Err(e) = f.outcome() {
            eprintln!("ekvplan: error: report {}: {e}", f.dest());
            if code == exit::OK {
                code = exit::USAGE_OR_IO;
            }
        }
    }
    code
}

/// A `.toml` target (or `-`, standard input) is a plan; anything else is
/// one `.fsm`.
fn is_plan(p: &std::path::Path) -> bool {
    p.as_os_str() == crate::plan::STDIN_PATH
        || p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

pub fn verify_main(a: VerifyArgs, _warn: Warn) -> i32 {
    a.output.apply();
    let level = a.output.verbosity();
    let shard = match parse_shard(a.shard.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let mut lines = (String::new(), HashMap::new());
    let targets = if is_plan(&a.target) {
        let plan = match load(&a.target, false, level) {
            Ok(p) => p,
            Err(code) => return code,
        };
        lines = (github::workspace_path(&plan.path), job_lines(&plan));
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
    let dest = match &a.report {
        Some(p) => match report_dest("--report", p, shard) {
            Ok(d) => Some(d),
            Err(e) => return fail(e),
        },
        None => None,
    };
    let ctl = Arc::new(RunControl::new());
    let guard = signals::install(ctl.clone(), |_| {
        eprintln!("ekvplan: interrupted (press Ctrl-C again to exit at once)");
    });
    let opts = verify::VerifyOptions {
        deep: a.deep,
        jobs: a.jobs.map_or_else(super::default_jobs, |n| n as usize),
        memory_budget: a.memory_budget,
    };
    if level == Verbosity::Verbose {
        eprintln!(
            "ekvplan verify: {} output(s), {} at once, deep: {}, color: stderr {}, stdout {} (--color {})",
            targets.len(),
            opts.jobs,
            if a.deep { "yes" } else { "no" },
            if output::color(Stream::Stderr) {
                "yes"
            } else {
                "no"
            },
            if output::color(Stream::Stdout) {
                "yes"
            } else {
                "no"
            },
            a.output.color.as_str()
        );
        for t in &targets {
            eprintln!("  check {}: {}", t.id, t.output.display());
        }
    }
    let records = verify::verify_all(&targets, &opts, &ctl);
    drop(guard);
    let quiet = level == Verbosity::Quiet;
    if dest.as_ref().is_some_and(Dest::is_stdout) {
        eprint!(
            "{}",
            verify::render_styled(&records, output::color(Stream::Stderr), quiet)
        );
    } else {
        print!(
            "{}",
            verify::render_styled(&records, output::color(Stream::Stdout), quiet)
        );
    }
    if github::enabled() {
        eprint!("{}", verify::github_annotations(&records, &targets, &lines));
    }
    let mut code = verify::exit_code(ctl.is_interrupted(), &records);
    if let Some(d) = dest {
        let shown = if a.target.as_os_str() == crate::plan::STDIN_PATH {
            Path::new(crate::plan::STDIN_NAME)
        } else {
            a.target.as_path()
        };
        let rep = verify::VerifyReport::new(shown, a.deep, code, records);
        if let Err(e) = d.write(&rep.to_json()) {
            eprintln!("ekvplan: error: report {d}: {e}");
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
    fn durations_parse() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("50ms").unwrap(), Duration::from_millis(50));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        for bad in ["", "0", "0.1ms", "5 parsecs", "-1s", "1e400s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

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
