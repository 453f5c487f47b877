//! Command-line interface. `main.rs` only calls [`main`].

pub(crate) mod completions;
pub(crate) mod goflag_help;
pub(crate) mod help;
pub(crate) mod man;

use std::path::PathBuf;

use clap::{FromArgMatches, Parser, Subcommand};

use crate::adapter::{self, AdapterSet, CancelToken, DecodeOptions, Warn};
use crate::budget::{self, DEFAULT_MEMORY_BUDGET_STR, parse_size};
use crate::decode::{self, DecodeRequest};
use crate::diagnostic::Style;
use crate::error::{Error, Result, exit};
use crate::gojson::flag::{self as goflag, FlagError, FlagSpec, GoFlagArgs};
use crate::job::{self, EncodeJob};

#[derive(Parser, Debug)]
#[command(
    name = "ekvplan",
    version,
    about = "Re-encode elastickv logical dumps into .fsm snapshots (and back), one at a time or many from a plan"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Encode one dump tree into an .fsm (flag-for-flag like elastickv-snapshot-encode, Go flag syntax).
    Encode(GoFlagArgs),
    /// Decode one .fsm into a dump tree (flag-for-flag like elastickv-snapshot-decode, Go flag syntax).
    Decode(GoFlagArgs),
    /// Check a plan against its schema and every input dump; report every problem.
    Validate(crate::plan::cli::ValidateArgs),
    /// Print the plan's JSON Schema.
    Schema(crate::schemas::SchemaArgs),
    /// Run a plan's jobs in parallel.
    Run(crate::executor::cli::RunArgs),
    /// Check published outputs against their sidecars (a plan or one .fsm).
    Verify(crate::executor::cli::VerifyArgs),
    /// Pack a dump tree into a tar(.zst) archive or unpack one (flag-for-flag like elastickv-snapshot-archive).
    Archive(crate::archive::cli::ArchiveArgs),
    /// Write a first, commented plan for the dumps and dump archives in some directories.
    Init(crate::plan::init::InitArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print a man page, or write them all to a directory.
    Man(man::ManArgs),
}

const DEFAULT_ADAPTERS: &str = "dynamodb,s3,redis,sqs";

const fn flag(name: &'static str) -> FlagSpec {
    FlagSpec {
        name,
        boolean: false,
    }
}

const fn bool_flag(name: &'static str) -> FlagSpec {
    FlagSpec {
        name,
        boolean: true,
    }
}

/// `elastickv-snapshot-encode`'s flags, then ekvplan's.
pub const ENCODE_FLAGS: &[FlagSpec] = &[
    flag("input"),
    flag("output"),
    flag("adapter"),
    flag("last-commit-ts"),
    bool_flag("self-test"),
    flag("scratch-root"),
    flag("memory-budget"),
];

/// `elastickv-snapshot-decode`'s flags, then ekvplan's.
pub const DECODE_FLAGS: &[FlagSpec] = &[
    flag("input"),
    flag("output"),
    flag("adapter"),
    flag("dynamodb-bundle-mode"),
    flag("cluster-id"),
    bool_flag("include-incomplete-uploads"),
    bool_flag("include-orphans"),
    bool_flag("preserve-sqs-visibility"),
    bool_flag("include-sqs-side-records"),
    bool_flag("rename-collisions"),
    bool_flag("force"),
    flag("memory-budget"),
    flag("dynamodb-bundle-size"),
];

pub(crate) const ENCODE_USAGE: &str = "usage: ekvplan encode -input DIR -output FILE [-adapter LIST] \
[-last-commit-ts TS] [-self-test] [-scratch-root DIR] [-memory-budget SIZE]";
pub(crate) const DECODE_USAGE: &str = "usage: ekvplan decode -input FILE -output DIR [-adapter LIST] \
[-dynamodb-bundle-mode per-item|jsonl] [-cluster-id ID] [-include-incomplete-uploads] \
[-include-orphans] [-preserve-sqs-visibility] [-include-sqs-side-records] \
[-rename-collisions] [-force] [-memory-budget SIZE] [-dynamodb-bundle-size SIZE]";

/// Parse Go-style flags; `-h` prints `help` first and is then a usage
/// error, as upstream reports it.
fn go_flags(
    specs: &[FlagSpec],
    a: &GoFlagArgs,
    usage: &str,
    help: impl FnOnce() -> String,
) -> Result<goflag::Parsed> {
    goflag::parse(specs, &a.args).map_err(|e| match e {
        FlagError::Help => {
            eprintln!("{}", help());
            Error::usage("flag: help requested")
        }
        FlagError::Bad(m) => Error::usage(format!("{m}\n{usage}")),
    })
}

fn size_flag(f: &goflag::Parsed, name: &str, default: &str) -> Result<u64> {
    let v = f.string(name, default);
    parse_size(&v).map_err(|e| Error::usage(format!("invalid value {v:?} for flag -{name}: {e}")))
}

fn required(v: Option<String>, flag: &str) -> Result<String> {
    match v {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Error::usage(format!("--{flag} is required"))),
    }
}

pub fn encode_job_from_args(a: GoFlagArgs) -> Result<EncodeJob> {
    let f = go_flags(ENCODE_FLAGS, &a, ENCODE_USAGE, || {
        goflag_help::help_text(
            "elastickv-snapshot-encode",
            help::ENCODE_ABOUT,
            ENCODE_USAGE,
            goflag_help::ENCODE,
        )
    })?;
    let input = required(f.get("input").map(str::to_string), "input")?;
    let output = required(f.get("output").map(str::to_string), "output")?;
    let adapters = AdapterSet::parse_encode_flag(&f.string("adapter", DEFAULT_ADAPTERS))?;
    let last_commit_ts = f
        .get("last-commit-ts")
        .filter(|s| !s.is_empty())
        .map(job::parse_commit_ts)
        .transpose()?;
    let mut j = EncodeJob::new(&input, &output);
    j.input_display = input;
    j.output_display = output;
    j.adapters = adapters;
    j.last_commit_ts = last_commit_ts;
    j.self_test = f.bool("self-test");
    j.scratch_root = f
        .get("scratch-root")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    j.memory_budget = size_flag(&f, "memory-budget", DEFAULT_MEMORY_BUDGET_STR)?;
    Ok(j)
}

/// Run one command with Ctrl-C/SIGTERM handling: the first signal cancels
/// it (it cleans up and the process exits 130), a second exits at once.
fn with_signals<T>(f: impl FnOnce(&CancelToken) -> Result<T>) -> Result<T> {
    let ctl = std::sync::Arc::new(crate::cancel::RunControl::new());
    let guard = crate::cancel::signals::install(ctl.clone(), |_| {
        eprintln!("ekvplan: interrupted (press Ctrl-C again to exit at once)");
    })?;
    let res = f(ctl.cancel_token());
    drop(guard);
    res
}

fn run_encode_cmd(a: GoFlagArgs, warn: &Warn) -> Result<()> {
    let j = encode_job_from_args(a)?;
    let o = with_signals(|cancel| job::run_encode(&j, cancel, warn, None))?;
    eprintln!(
        "ekvplan encode: wrote {} ({} bytes, {} entries, sha256 {}){}",
        j.output_display,
        o.bytes,
        o.entries,
        o.sha256,
        match o.self_test {
            Some(true) => ", self-test matched",
            _ => "",
        }
    );
    Ok(())
}

pub fn decode_request_from_args(a: GoFlagArgs) -> Result<DecodeRequest> {
    let f = go_flags(DECODE_FLAGS, &a, DECODE_USAGE, || {
        goflag_help::help_text(
            "elastickv-snapshot-decode",
            help::DECODE_ABOUT,
            DECODE_USAGE,
            goflag_help::DECODE,
        )
    })?;
    let input = required(f.get("input").map(str::to_string), "input")?;
    let output = required(f.get("output").map(str::to_string), "output")?;
    let adapters = AdapterSet::parse_decode_flag(&f.string("adapter", DEFAULT_ADAPTERS))?;
    let jsonl = decode::parse_bundle_mode(&f.string("dynamodb-bundle-mode", "per-item"))?;
    let memory_budget = size_flag(&f, "memory-budget", DEFAULT_MEMORY_BUDGET_STR)?;
    Ok(DecodeRequest {
        input,
        output: PathBuf::from(output),
        options: DecodeOptions {
            adapters,
            redis_db_index: 0,
            include_incomplete_uploads: f.bool("include-incomplete-uploads"),
            include_orphans: f.bool("include-orphans"),
            rename_s3_collisions: f.bool("rename-collisions"),
            preserve_sqs_visibility: f.bool("preserve-sqs-visibility"),
            include_sqs_side_records: f.bool("include-sqs-side-records"),
            dynamodb_bundle_jsonl: jsonl,
            dynamodb_bundle_max_bytes: size_flag(&f, "dynamodb-bundle-size", "64MiB")?,
        },
        cluster_id: f.string("cluster-id", ""),
        force: f.bool("force"),
        memory_budget: memory_budget.max(budget::MIN_MEMORY_BUDGET),
    })
}

fn run_decode_cmd(a: GoFlagArgs, warn: Warn) -> Result<()> {
    let req = decode_request_from_args(a)?;
    let s = with_signals(|cancel| decode::run_decode(&req, warn, cancel))?;
    let c = s.counters;
    eprintln!(
        "ekvplan decode: wrote {} (entries={} redis={} dynamodb={} s3={} sqs={} internal={} tombstone={} unknown={})",
        req.output.display(),
        c.total,
        c.redis,
        c.dynamodb,
        c.s3,
        c.sqs,
        c.internal,
        c.tombstone,
        c.unknown
    );
    Ok(())
}

/// Parse arguments, run, and return the process exit code.
pub fn main() -> i32 {
    // The completion scripts' hook is no subcommand, so that no
    // completion, help or man page offers it.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == completions::HOOK)
    {
        return completions::complete_jobs_main(std::env::args_os().skip(1));
    }
    let parsed = help::command()
        .color(help::clap_color(std::env::args_os()))
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE_OR_IO
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    let warn: Warn = adapter::stderr_warn();
    let res = match cli.command {
        Command::Encode(a) => run_encode_cmd(a, &warn),
        Command::Decode(a) => run_decode_cmd(a, warn),
        Command::Validate(a) => return crate::plan::cli::validate_main(a),
        Command::Schema(a) => return crate::schemas::schema_main(a),
        Command::Run(a) => return crate::executor::cli::run_main(a, warn),
        Command::Verify(a) => return crate::executor::cli::verify_main(a, warn),
        Command::Archive(a) => return crate::archive::cli::archive_main(a),
        Command::Init(a) => return crate::plan::init::init_main(a),
        Command::Completions(a) => return completions::completions_main(a),
        Command::Man(a) => return man::man_main(a),
    };
    match res {
        Ok(()) => exit::OK,
        Err(e) => {
            eprint!("{}", e.render(Style::for_stderr()));
            e.exit_code()
        }
    }
}
