//! Command-line interface. `main.rs` only calls [`main`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::adapter::{self, AdapterSet, CancelToken, DecodeOptions, Warn};
use crate::decode::{self, DecodeRequest};
use crate::error::{Error, Result, exit};
use crate::job::{self, EncodeJob};
use crate::sorter::DEFAULT_MEMORY_BUDGET;

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
    /// Encode one dump tree into an .fsm (flag-for-flag like elastickv-snapshot-encode).
    Encode(EncodeArgs),
    /// Decode one .fsm into a dump tree (flag-for-flag like elastickv-snapshot-decode).
    Decode(DecodeArgs),
    /// Check a plan against its schema and every input dump; report every problem.
    Validate(crate::plan::cli::ValidateArgs),
    /// Print the plan's JSON Schema.
    Schema(crate::plan::cli::SchemaArgs),
    /// Run a plan's jobs in parallel.
    Run(crate::executor::cli::RunArgs),
    /// Check published outputs against their sidecars (a plan or one .fsm).
    Verify(crate::executor::cli::VerifyArgs),
}

/// Parse a byte size such as `256MiB`, `1G`, `4096`.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("invalid size unit in {s:?} (use B, KiB, MiB, GiB)")),
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("size {s:?} overflows"))
}

#[derive(Args, Debug)]
pub struct EncodeArgs {
    /// Dump tree root (holds MANIFEST.json).
    #[arg(long)]
    pub input: Option<String>,
    /// Output .fsm path.
    #[arg(long)]
    pub output: Option<String>,
    /// Adapters to encode: "all" or a comma-separated subset of redis,dynamodb,s3,sqs.
    #[arg(long, default_value = "dynamodb,s3,redis,sqs")]
    pub adapter: String,
    /// Override the manifest's last_commit_ts (decimal or 0x hex; must not be lower).
    #[arg(long)]
    pub last_commit_ts: Option<String>,
    /// Decode the result and compare it with the input before publishing.
    #[arg(long)]
    pub self_test: bool,
    /// Base directory for the self-test scratch tree and sort spill files.
    #[arg(long)]
    pub scratch_root: Option<String>,
    /// Memory budget for staged entries before sorting spills to disk.
    #[arg(long, value_parser = parse_size, default_value = "256MiB")]
    pub memory_budget: u64,
}

#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// Input .fsm (a bare EKVPBBL1 payload, or a node fsm-snap file).
    #[arg(long)]
    pub input: Option<String>,
    /// Output directory (created; must be empty unless --force).
    #[arg(long)]
    pub output: Option<String>,
    /// Adapters to decode: "all" or a comma-separated subset (case-sensitive).
    #[arg(long, default_value = "dynamodb,s3,redis,sqs")]
    pub adapter: String,
    /// DynamoDB item layout: per-item or jsonl.
    #[arg(long, default_value = "per-item")]
    pub dynamodb_bundle_mode: String,
    /// Size budget of one DynamoDB jsonl bundle file.
    #[arg(long, value_parser = parse_size, default_value = "64MiB")]
    pub dynamodb_bundle_size: u64,
    /// Recorded in MANIFEST.json.
    #[arg(long, default_value = "")]
    pub cluster_id: String,
    #[arg(long)]
    pub include_incomplete_uploads: bool,
    #[arg(long)]
    pub include_orphans: bool,
    #[arg(long)]
    pub preserve_sqs_visibility: bool,
    #[arg(long)]
    pub include_sqs_side_records: bool,
    #[arg(long)]
    pub rename_collisions: bool,
    /// Replace a non-empty --output directory.
    #[arg(long)]
    pub force: bool,
    /// Memory budget for decoder buffering.
    #[arg(long, value_parser = parse_size, default_value = "256MiB")]
    pub memory_budget: u64,
}

fn required(v: Option<String>, flag: &str) -> Result<String> {
    match v {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Error::usage(format!("--{flag} is required"))),
    }
}

pub fn encode_job_from_args(a: EncodeArgs) -> Result<EncodeJob> {
    let input = required(a.input, "input")?;
    let output = required(a.output, "output")?;
    let adapters = AdapterSet::parse_encode_flag(&a.adapter)?;
    let last_commit_ts = a
        .last_commit_ts
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(job::parse_commit_ts)
        .transpose()?;
    let mut j = EncodeJob::new(&input, &output);
    j.input_display = input;
    j.output_display = output;
    j.adapters = adapters;
    j.last_commit_ts = last_commit_ts;
    j.self_test = a.self_test;
    j.scratch_root = a.scratch_root.filter(|s| !s.is_empty()).map(PathBuf::from);
    j.memory_budget = a.memory_budget;
    Ok(j)
}

/// Run one command with Ctrl-C/SIGTERM handling: the first signal cancels
/// it (it cleans up and the process exits 130), a second exits at once.
fn with_signals<T>(f: impl FnOnce(&CancelToken) -> Result<T>) -> Result<T> {
    let ctl = std::sync::Arc::new(crate::executor::RunControl::new());
    let guard = crate::executor::signals::install(ctl.clone(), |_| {
        eprintln!("ekvplan: interrupted (press Ctrl-C again to exit at once)");
    })?;
    let res = f(ctl.cancel_token());
    drop(guard);
    res
}

fn run_encode_cmd(a: EncodeArgs, warn: &Warn) -> Result<()> {
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

pub fn decode_request_from_args(a: DecodeArgs) -> Result<DecodeRequest> {
    let input = required(a.input, "input")?;
    let output = required(a.output, "output")?;
    let adapters = AdapterSet::parse_decode_flag(&a.adapter)?;
    let jsonl = decode::parse_bundle_mode(&a.dynamodb_bundle_mode)?;
    Ok(DecodeRequest {
        input,
        output: PathBuf::from(output),
        options: DecodeOptions {
            adapters,
            redis_db_index: 0,
            include_incomplete_uploads: a.include_incomplete_uploads,
            include_orphans: a.include_orphans,
            rename_s3_collisions: a.rename_collisions,
            preserve_sqs_visibility: a.preserve_sqs_visibility,
            include_sqs_side_records: a.include_sqs_side_records,
            dynamodb_bundle_jsonl: jsonl,
            dynamodb_bundle_max_bytes: a.dynamodb_bundle_size,
        },
        cluster_id: a.cluster_id,
        force: a.force,
        memory_budget: a.memory_budget.max(DEFAULT_MEMORY_BUDGET / 256),
    })
}

fn run_decode_cmd(a: DecodeArgs, warn: Warn) -> Result<()> {
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
    let cli = match Cli::try_parse() {
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
        Command::Schema(a) => return crate::plan::cli::schema_main(a),
        Command::Run(a) => return crate::executor::cli::run_main(a, warn),
        Command::Verify(a) => return crate::executor::cli::verify_main(a, warn),
    };
    match res {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("ekvplan: error: {e}");
            e.exit_code()
        }
    }
}
