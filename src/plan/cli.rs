//! `ekvplan validate`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::error::exit;
use crate::output::{self, OutputArgs, Stream, Verbosity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Diagnostics for people (fancy on a terminal, plain otherwise).
    Human,
    /// One stable JSON document on stdout (see docs/plan.md).
    Json,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The plan files (TOML); `-` reads one from standard input, and its
    /// relative paths then resolve against the working directory.
    #[arg(required = true, value_name = "PLAN")]
    pub plans: Vec<PathBuf>,
    /// Also verify every input's CHECKSUMS file.
    #[arg(long)]
    pub verify_checksums: bool,
    /// Output format (json: one document per plan, one after the other).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Show the expanded jobs, every setting and where it came from.
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What validating one plan came to.
enum Outcome {
    Valid,
    Invalid,
    Unreadable,
}

pub fn validate_main(a: ValidateArgs) -> i32 {
    a.output.apply();
    let level = a.output.verbosity();
    if a.plans
        .iter()
        .filter(|p| p.as_os_str() == super::STDIN_PATH)
        .count()
        > 1
    {
        eprintln!("ekvplan: error: standard input (-) can be read only once");
        return exit::USAGE_OR_IO;
    }
    let opts = super::ValidateOptions {
        verify_checksums: a.verify_checksums,
    };
    if level == Verbosity::Verbose {
        eprintln!(
            "ekvplan validate: {} plan(s), verify checksums: {}, format: {}, color: {}",
            a.plans.len(),
            if a.verify_checksums { "yes" } else { "no" },
            match a.format {
                Format::Human => "human",
                Format::Json => "json",
            },
            a.output.color.as_str(),
        );
    }
    let mut code = exit::OK;
    let mut outcomes = Vec::new();
    let (mut errors, mut warnings) = (0, 0);
    for plan in &a.plans {
        let (outcome, c) = validate_one(plan, &a, &opts, level);
        code = code.max(c);
        if let Some((e, w)) = outcome.1 {
            errors += e;
            warnings += w;
        }
        outcomes.push(outcome.0);
    }
    if a.plans.len() > 1 && a.format == Format::Human {
        let n = |o: fn(&Outcome) -> bool| outcomes.iter().filter(|x| o(x)).count();
        let valid = n(|o| matches!(o, Outcome::Valid));
        let mut parts = vec![format!("{valid} valid")];
        for (count, what) in [
            (n(|o| matches!(o, Outcome::Invalid)), "invalid"),
            (n(|o| matches!(o, Outcome::Unreadable)), "unreadable"),
        ] {
            if count > 0 {
                parts.push(format!("{count} {what}"));
            }
        }
        let line = format!(
            "{} plans: {}; {errors} error(s), {warnings} warning(s)",
            a.plans.len(),
            parts.join(", ")
        );
        let s = if valid == a.plans.len() {
            output::style::OK
        } else {
            output::style::ERROR
        };
        eprintln!("{}", output::paint(Stream::Stderr, s, &line));
    }
    code
}

/// Validate and report one plan: its outcome, its (errors, warnings) when
/// it could be read, and its exit code.
fn validate_one(
    plan: &Path,
    a: &ValidateArgs,
    opts: &super::ValidateOptions,
    level: Verbosity,
) -> ((Outcome, Option<(usize, usize)>), i32) {
    let (report, jobs) = match super::validate(plan, opts) {
        Ok(x) => x,
        Err(e) => {
            if a.format == Format::Json {
                let shown = if plan.as_os_str() == super::STDIN_PATH {
                    Path::new(super::STDIN_NAME)
                } else {
                    plan
                };
                let v = super::ValidateOutput::fatal(shown, e.to_string());
                print!(
                    "{}",
                    String::from_utf8_lossy(&crate::machine::to_pretty_json(&v))
                );
            }
            eprintln!("ekvplan: error: {e}");
            return ((Outcome::Unreadable, None), e.exit_code());
        }
    };
    let (outcome, code) = if report.is_valid() {
        (Outcome::Valid, exit::OK)
    } else {
        (Outcome::Invalid, exit::DATA)
    };
    let counts = Some((report.errors(), report.warnings()));
    let mut stdout = std::io::stdout().lock();
    let res = match a.format {
        Format::Json => stdout.write_all(&crate::machine::to_pretty_json(
            &report.to_output(&jobs, a.explain),
        )),
        Format::Human => {
            let style = super::Style::for_stderr();
            let warnings = level > Verbosity::Quiet;
            if level == Verbosity::Verbose {
                for j in &jobs {
                    eprintln!(
                        "  job {}: {} -> {}",
                        j.id, j.input_in_plan, j.output_in_plan
                    );
                }
            }
            if report.errors() == 0 && (!warnings || report.diagnostics.is_empty()) {
                eprintln!("{}", report.painted_summary(&jobs, style));
            } else {
                eprint!("{}", report.render_levels(&jobs, style, warnings));
            }
            if crate::machine::github::enabled() && !report.diagnostics.is_empty() {
                eprint!("{}", report.github_annotations());
            }
            if a.explain {
                write!(stdout, "{}", super::explain::render(&report, &jobs))
            } else {
                Ok(())
            }
        }
    };
    match res.and_then(|_| stdout.flush()) {
        Ok(()) => ((outcome, counts), code),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ((outcome, counts), code),
        Err(e) => {
            eprintln!("ekvplan: error: write stdout: {e}");
            ((outcome, counts), exit::USAGE_OR_IO.max(code))
        }
    }
}
