//! `ekvplan validate`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::error::exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Diagnostics for people (fancy on a terminal, plain otherwise).
    Human,
    /// One stable JSON document on stdout (see docs/plan.md).
    Json,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// Also verify every input's CHECKSUMS file.
    #[arg(long)]
    pub verify_checksums: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Show the expanded jobs, every setting and where it came from.
    #[arg(long)]
    pub explain: bool,
}

pub fn validate_main(a: ValidateArgs) -> i32 {
    let opts = super::ValidateOptions {
        verify_checksums: a.verify_checksums,
    };
    let (report, jobs) = match super::validate(&a.plan, &opts) {
        Ok(x) => x,
        Err(e) => {
            if a.format == Format::Json {
                let v = super::ValidateOutput::fatal(&a.plan, e.to_string());
                print!(
                    "{}",
                    String::from_utf8_lossy(&crate::machine::to_pretty_json(&v))
                );
            }
            eprintln!("ekvplan: error: {e}");
            return e.exit_code();
        }
    };
    let code = if report.is_valid() {
        exit::OK
    } else {
        exit::DATA
    };
    let mut stdout = std::io::stdout().lock();
    let res = match a.format {
        Format::Json => stdout.write_all(&crate::machine::to_pretty_json(
            &report.to_output(&jobs, a.explain),
        )),
        Format::Human => {
            let style = super::Style::for_stderr();
            if report.diagnostics.is_empty() {
                eprintln!("{}", report.summary(&jobs));
            } else {
                eprint!("{}", report.render(&jobs, style));
                if crate::machine::github::enabled() {
                    eprint!("{}", report.github_annotations());
                }
            }
            if a.explain {
                write!(stdout, "{}", super::explain::render(&report, &jobs))
            } else {
                Ok(())
            }
        }
    };
    match res.and_then(|_| stdout.flush()) {
        Ok(()) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(e) => {
            eprintln!("ekvplan: error: write stdout: {e}");
            exit::USAGE_OR_IO
        }
    }
}
