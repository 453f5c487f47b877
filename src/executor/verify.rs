//! `ekvplan verify`: re-hash published outputs against their sidecars and,
//! with `--deep`, decode each one and diff it against its input (the same
//! comparison as the encoder's self-test). The JSON report (`--report`) is
//! described by `schema/verify-report.schema.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;

use super::fingerprint::{self, Reason, Recorded};
use super::report::{JobError, const_schema};
use super::scratch::RunDir;
use super::select::{self, Shard};
use crate::adapter::{AdapterSet, CancelToken, ScopeExclusions};
use crate::archive::input::{self as archive_input, InputFormat};
use crate::budget::DEFAULT_MEMORY_BUDGET;
use crate::cancel::RunControl;
use crate::decode;
use crate::encode_info::EncodeInfo;
use crate::error::{Area, Error, Kind, Result, exit};
use crate::fsutil;
use crate::job;
use crate::plan::{ResolvedJob, ValidatedPlan};
use crate::selftest;
use crate::tree::checksums;

/// Where `--deep` finds the input an output was made from.
#[derive(Debug, Clone)]
pub struct DeepSource {
    pub input: PathBuf,
    /// A dump archive is unpacked into scratch space to be compared.
    pub format: InputFormat,
    pub adapters: AdapterSet,
    pub exclusions: ScopeExclusions,
    pub memory_budget: u64,
}

/// One output to verify.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: String,
    pub output: PathBuf,
    /// From the plan; `None` for a lone `.fsm` (taken from its sidecar).
    pub source: Option<DeepSource>,
    /// The plan job, to tell whether its input changed since the encode.
    pub plan_job: Option<ResolvedJob>,
    pub scratch_base: PathBuf,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VerifyRecord {
    /// The job id, or the .fsm path for a lone output.
    pub id: String,
    pub output: String,
    pub ok: bool,
    /// The output's SHA-256, when it matched its sidecar.
    pub sha256: Option<String>,
    pub deep: bool,
    /// Not a failure: e.g. the input changed since the output was made
    /// (what changed), so `ekvplan run` would rebuild it.
    pub note: Option<String>,
    /// The note as a stable code (a run report's `reason_code`).
    #[schemars(schema_with = "note_code_schema")]
    pub note_code: Option<&'static str>,
    pub error: Option<JobError>,
}

fn note_code_schema(_: &mut SchemaGenerator) -> Schema {
    let mut codes: Vec<serde_json::Value> = Reason::CODES.iter().map(|c| (*c).into()).collect();
    codes.push(serde_json::Value::Null);
    json_schema!({ "type": ["string", "null"], "enum": codes })
}

pub const VERIFY_REPORT_FORMAT: &str = "ekvplan-verify-report";
pub const FORMAT_VERSION: u32 = 2;

fn format_schema(_: &mut SchemaGenerator) -> Schema {
    const_schema(VERIFY_REPORT_FORMAT)
}

fn version_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "const": FORMAT_VERSION })
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VerifyCounts {
    pub verified: usize,
    pub failed: usize,
}

/// The JSON report of one `ekvplan verify`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "ekvplan verify report")]
pub struct VerifyReport {
    #[schemars(schema_with = "format_schema")]
    pub format: &'static str,
    #[schemars(schema_with = "version_schema")]
    pub format_version: u32,
    pub ekvplan_version: String,
    /// The plan or .fsm given.
    pub target: String,
    pub deep: bool,
    /// The process exit code (0, 1, 2 or 130).
    pub exit_code: i32,
    pub counts: VerifyCounts,
    pub outputs: Vec<VerifyRecord>,
}

impl VerifyReport {
    pub fn new(target: &Path, deep: bool, exit_code: i32, outputs: Vec<VerifyRecord>) -> Self {
        let failed = outputs.iter().filter(|r| !r.ok).count();
        VerifyReport {
            format: VERIFY_REPORT_FORMAT,
            format_version: FORMAT_VERSION,
            ekvplan_version: env!("CARGO_PKG_VERSION").to_string(),
            target: target.display().to_string(),
            deep,
            exit_code,
            counts: VerifyCounts {
                verified: outputs.len() - failed,
                failed,
            },
            outputs,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        crate::machine::to_pretty_json(self)
    }
}

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub deep: bool,
    pub jobs: usize,
    /// Memory shared by the deep checks running at once (`None`: half of
    /// RAM, and a lone output keeps the default budget).
    pub memory_budget: Option<u64>,
}

impl VerifyOptions {
    /// The budget of one deep check: its job's (or the default, for a
    /// lone output unless a total was given), within its share of the
    /// total.
    pub(super) fn check_budget(&self, src: &DeepSource, lone: bool) -> u64 {
        let share = (self
            .memory_budget
            .unwrap_or_else(super::default_total_memory)
            / self.jobs.max(1) as u64)
            .max(1);
        if lone && self.memory_budget.is_some() {
            share
        } else {
            src.memory_budget.min(share)
        }
    }
}

/// The selected jobs of a plan as verification targets.
pub fn plan_targets(
    plan: &ValidatedPlan,
    only: &[String],
    shard: Option<Shard>,
) -> Result<Vec<Target>> {
    Ok(select::select(&plan.jobs, only, shard)?
        .into_iter()
        .map(|rj| Target {
            id: rj.id.clone(),
            output: rj.job.output.clone(),
            source: Some(DeepSource {
                input: rj.job.input.clone(),
                format: rj.input_format,
                adapters: rj.job.adapters,
                exclusions: rj.job.exclusions.clone(),
                memory_budget: rj.job.memory_budget,
            }),
            plan_job: Some(rj.clone()),
            scratch_base: rj
                .job
                .scratch_root
                .clone()
                .unwrap_or_else(std::env::temp_dir),
        })
        .collect())
}

/// A lone `.fsm` (its sidecar says where its input is).
pub fn fsm_target(path: &Path, scratch_root: Option<PathBuf>) -> Target {
    Target {
        id: path.display().to_string(),
        output: path.to_path_buf(),
        source: None,
        plan_job: None,
        scratch_base: scratch_root.unwrap_or_else(std::env::temp_dir),
    }
}

fn read_sidecar(output: &Path) -> Result<EncodeInfo> {
    let path = job::sidecar_path(output);
    let bytes = match fsutil::read_input_file(&path) {
        Ok(b) => b,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::data_at(&path, "sidecar is missing").with_kind(Kind::MissingFile));
        }
        Err(e) => return Err(e),
    };
    EncodeInfo::parse(&bytes).map_err(|e| Error::data_at(&path, e))
}

/// The deep source recorded in a sidecar: ekvplan's object (the input
/// relative to the output, else where it was), else the upstream fields
/// with `input_root` taken relative to the current directory.
fn source_from_sidecar(output: &Path, info: &EncodeInfo) -> Result<DeepSource> {
    let recorded = Recorded::of(info);
    let extra = recorded.current();
    let input = extra
        .map(|x| x.locate_input(output))
        .unwrap_or_else(|| PathBuf::from(&info.input_root));
    let adapters = AdapterSet::parse_encode_flag(&info.adapters_enabled.join(","))?;
    let format = match InputFormat::detect(&input) {
        InputFormat::Dir
            if extra.is_some_and(|x| x.input_digest.content == fingerprint::CONTENT_ARCHIVE) =>
        {
            // An archive named otherwise (`input_format` in the plan).
            InputFormat::Archive(crate::archive::Compression::Zstd)
        }
        f => f,
    };
    Ok(DeepSource {
        input,
        format,
        adapters,
        exclusions: extra
            .map(|x| x.settings.exclude.to_scope())
            .unwrap_or_default(),
        memory_budget: DEFAULT_MEMORY_BUDGET,
    })
}

fn deep_check(
    output: &Path,
    info: &EncodeInfo,
    src: &DeepSource,
    scratch: &Path,
    cancel: &CancelToken,
) -> Result<()> {
    let m = job::read_input_manifest(&src.input)?;
    let rt = selftest::round_trip(
        &selftest::RoundTripSpec {
            fsm: output,
            input: &src.input,
            options: decode::self_test_options(&m, src.adapters),
            skip: src.exclusions.excluded_subtrees(),
            scratch,
            memory_budget: src.memory_budget,
            want_commit_ts: info.last_commit_ts,
        },
        cancel,
    )?;
    match rt.failure {
        None => Ok(()),
        Some(selftest::Failure::Rejected(msg)) => Err(Error::data_at(output, msg)),
        Some(selftest::Failure::CommitTs { want, got }) => Err(Error::data_at(
            output,
            format!("header last_commit_ts {got} differs from the sidecar's {want}"),
        )
        .with_kind(Kind::Mismatch)),
        Some(f) => {
            let text = f.mismatch_text();
            let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
            Err(f.to_error(format!(
                "{}: decoded tree differs from {}: {}",
                output.display(),
                src.input.display(),
                String::from_utf8_lossy(first)
            )))
        }
    }
}

fn verify_one(
    t: &Target,
    index: usize,
    opts: &VerifyOptions,
    run_dir: &dyn Fn(&Path) -> Result<Arc<RunDir>>,
    cancel: &CancelToken,
) -> (Result<String>, Option<Reason>) {
    let mut note = None;
    let res = (|| {
        match std::fs::symlink_metadata(&t.output) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(
                    Error::data_at(&t.output, "is not a regular file").with_kind(Kind::NonRegular)
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(
                    Error::data_at(&t.output, "output is missing").with_kind(Kind::MissingFile)
                );
            }
            Err(e) => return Err(Error::io_at(&t.output, "stat", e)),
        }
        let info = read_sidecar(&t.output)?;
        let got = hex::encode(checksums::sha256_file(&t.output)?);
        if !got.eq_ignore_ascii_case(&info.output_fsm_sha256) {
            return Err(Error::data_at(
                &t.output,
                format!(
                    "sha256 {got} does not match the sidecar's {}",
                    info.output_fsm_sha256
                ),
            )
            .with_kind(Kind::ChecksumMismatch));
        }
        if let Some(job) = &t.plan_job {
            note = staleness_note(job, &info);
        }
        if opts.deep {
            let mut src = match &t.source {
                Some(s) => s.clone(),
                None => source_from_sidecar(&t.output, &info)?,
            };
            src.memory_budget = opts.check_budget(&src, t.source.is_none());
            let rd = run_dir(&t.scratch_base)?;
            let dir = rd.job_dir(index)?;
            let r = match src.format.compression() {
                None => deep_check(&t.output, &info, &src, &dir, cancel),
                Some(c) => {
                    let base = rd.path().join(format!("archive-{index:05}"));
                    archive_input::stage(&src.input, c, &base, cancel).and_then(|staged| {
                        let unpacked = DeepSource {
                            input: staged.path().to_path_buf(),
                            ..src.clone()
                        };
                        deep_check(&t.output, &info, &unpacked, &dir, cancel)
                            .map_err(|e| staged.relabel(e, &src.input))
                    })
                }
            };
            let _ = std::fs::remove_dir_all(&dir);
            r?;
        }
        Ok(got)
    })();
    (res.map_err(|e| e.in_area(Area::SelfTest)), note)
}

/// Verify every target (in parallel). Records come back in target order.
pub fn verify_all(targets: &[Target], opts: &VerifyOptions, ctl: &RunControl) -> Vec<VerifyRecord> {
    let dirs = std::sync::Mutex::new(std::collections::HashMap::<PathBuf, Arc<RunDir>>::new());
    let run_dir = |base: &Path| -> Result<Arc<RunDir>> {
        let mut m = dirs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = m.get(base) {
            return Ok(d.clone());
        }
        super::scratch::sweep_stale(base);
        let d = Arc::new(RunDir::create(base)?);
        m.insert(base.to_path_buf(), d.clone());
        Ok(d)
    };
    let work = || {
        targets
            .par_iter()
            .enumerate()
            .map(|(i, t)| {
                let (res, note) = if ctl.cancel_token().is_cancelled() {
                    (Err(Error::Interrupted), None)
                } else {
                    verify_one(t, i, opts, &run_dir, ctl.cancel_token())
                };
                let note = note.map(|n| match n {
                    Reason::NotMadeByRun => (
                        "not made by `ekvplan run` (no fingerprint in the sidecar)".to_string(),
                        n.code(),
                    ),
                    other => (
                        format!("{other}; `ekvplan run` would rebuild it"),
                        other.code(),
                    ),
                });
                VerifyRecord {
                    id: t.id.clone(),
                    output: t.output.display().to_string(),
                    ok: res.is_ok(),
                    sha256: res.as_ref().ok().cloned(),
                    deep: opts.deep,
                    note_code: note.as_ref().map(|n| n.1),
                    note: note.map(|n| n.0),
                    error: res.err().as_ref().map(JobError::from_error),
                }
            })
            .collect()
    };
    match rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .stack_size(256 << 20)
        .build()
    {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    }
}

/// 0 when every output verified; 130 if interrupted; else 2 if any failed
/// on data (mismatch, missing output or sidecar), else 1.
pub fn exit_code(interrupted: bool, records: &[VerifyRecord]) -> i32 {
    if interrupted {
        return exit::INTERRUPTED;
    }
    let mut worst = exit::OK;
    for e in records.iter().filter_map(|r| r.error.as_ref()) {
        if e.exit_code == exit::DATA {
            return exit::DATA;
        }
        worst = exit::USAGE_OR_IO;
    }
    worst
}

/// A note for an output whose recorded fingerprint no longer matches the
/// plan job: what changed.
fn staleness_note(job: &ResolvedJob, info: &EncodeInfo) -> Option<Reason> {
    let now = fingerprint::compute(job).map_err(|e| e.to_string());
    fingerprint::stale_reason(info, now.as_ref().map_err(String::as_str))
}

/// GitHub Actions annotations for failed outputs: on the job's line of the
/// plan (`plan` is the plan file and each job's line), else unplaced.
pub fn github_annotations(
    records: &[VerifyRecord],
    targets: &[Target],
    plan: &(String, std::collections::HashMap<String, usize>),
) -> String {
    use crate::machine::github::{Level, Location, annotation};
    let mut out = String::new();
    for (r, t) in records.iter().zip(targets) {
        let Some(e) = &r.error else { continue };
        let at = match t.plan_job {
            Some(_) => Location {
                file: Some(plan.0.clone()),
                line: plan.1.get(&r.id).copied(),
                ..Location::default()
            },
            None => Location::default(),
        };
        out.push_str(&annotation(
            Level::Error,
            &at,
            &format!("ekvplan verify {}", r.id),
            &e.message,
        ));
    }
    out
}

/// One line per record, for the terminal, the results in color when
/// `color`; `quiet` keeps only the failures and the count line.
pub fn render_styled(records: &[VerifyRecord], color: bool, quiet: bool) -> String {
    use crate::output::style;
    let paint = |st: anstyle::Style, text: String| {
        if color {
            format!("{}{text}{}", st.render(), st.render_reset())
        } else {
            text
        }
    };
    let w = records
        .iter()
        .map(|r| r.id.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for r in records {
        match (&r.error, &r.sha256) {
            (None, Some(_)) if quiet => {}
            (None, Some(sha)) => {
                s.push_str(&format!(
                    "{} {:<w$}  sha256 {}{}\n",
                    paint(
                        style::OK,
                        format!("{:>7}", if r.deep { "ok+deep" } else { "ok" })
                    ),
                    r.id,
                    &sha[..sha.len().min(16)],
                    r.note
                        .as_deref()
                        .map(|n| format!("  (note: {n})"))
                        .unwrap_or_default()
                ));
            }
            (Some(e), _) => {
                s.push_str(&format!(
                    "{} {}: {}\n",
                    paint(style::ERROR, format!("{:>7}", "FAILED")),
                    r.id,
                    e.message
                ));
            }
            (None, None) => {}
        }
    }
    let bad = records.iter().filter(|r| !r.ok).count();
    s.push_str(&format!(
        "\n{} output(s) verified{}, {} failed\n",
        records.len() - bad,
        if records.first().is_some_and(|r| r.deep) {
            " (deep)"
        } else {
            ""
        },
        bad
    ));
    s
}
