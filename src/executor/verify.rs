//! `ekvplan verify`: re-hash published outputs against their sidecars and,
//! with `--deep`, decode each one and diff it against its input (the same
//! comparison as the encoder's self-test).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use super::control::RunControl;
use super::fingerprint::{self, SidecarExtra};
use super::report::JobError;
use super::scratch::RunDir;
use super::select::{self, Shard};
use crate::adapter::{AdapterSet, CancelToken, ScopeExclusions};
use crate::decode;
use crate::encode_info::EncodeInfo;
use crate::error::{Error, Result, exit};
use crate::fsutil;
use crate::job;
use crate::plan::ValidatedPlan;
use crate::selftest;
use crate::sorter::DEFAULT_MEMORY_BUDGET;
use crate::tree::checksums;

/// Where `--deep` finds the input an output was made from.
#[derive(Debug, Clone)]
pub struct DeepSource {
    pub input: PathBuf,
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
    pub plan_job: Option<job::EncodeJob>,
    pub scratch_base: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyRecord {
    pub id: String,
    pub output: String,
    pub ok: bool,
    pub sha256: Option<String>,
    pub deep: bool,
    /// Not a failure: e.g. the input changed since the output was made.
    pub note: Option<String>,
    pub error: Option<JobError>,
}

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub deep: bool,
    pub jobs: usize,
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
                adapters: rj.job.adapters,
                exclusions: rj.job.exclusions.clone(),
                memory_budget: rj.job.memory_budget,
            }),
            plan_job: Some(rj.job.clone()),
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
            return Err(Error::data_at(&path, "sidecar is missing"));
        }
        Err(e) => return Err(e),
    };
    EncodeInfo::parse(&bytes).map_err(|e| Error::data_at(&path, e))
}

/// The deep source recorded in a sidecar (ekvplan's object, else the
/// upstream fields with `input_root` taken relative to the current dir).
fn source_from_sidecar(info: &EncodeInfo) -> Result<DeepSource> {
    let extra = SidecarExtra::from_info(info);
    let input = extra
        .as_ref()
        .map(|x| PathBuf::from(&x.input_path))
        .unwrap_or_else(|| PathBuf::from(&info.input_root));
    let adapters = AdapterSet::parse_encode_flag(&info.adapters_enabled.join(","))?;
    Ok(DeepSource {
        input,
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
        )),
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
    deep: bool,
    run_dir: &dyn Fn(&Path) -> Result<Arc<RunDir>>,
    cancel: &CancelToken,
) -> (Result<String>, Option<String>) {
    let mut note = None;
    let res = (|| {
        match std::fs::symlink_metadata(&t.output) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(Error::data_at(&t.output, "is not a regular file")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::data_at(&t.output, "output is missing"));
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
            ));
        }
        if let Some(job) = &t.plan_job {
            let now = fingerprint::compute(job).ok();
            let recorded = SidecarExtra::from_info(&info);
            match (now, recorded) {
                (Some(n), Some(r)) if n.hex != r.fingerprint => {
                    note = Some("the input or settings changed since this output was made; `ekvplan run` would rebuild it".to_string());
                }
                (_, None) => {
                    note = Some("not made by `ekvplan run` (no fingerprint in the sidecar)".into());
                }
                _ => {}
            }
        }
        if deep {
            let src = match &t.source {
                Some(s) => s.clone(),
                None => source_from_sidecar(&info)?,
            };
            let dir = run_dir(&t.scratch_base)?.job_dir(index)?;
            let r = deep_check(&t.output, &info, &src, &dir, cancel);
            let _ = std::fs::remove_dir_all(&dir);
            r?;
        }
        Ok(got)
    })();
    (res, note)
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
                    verify_one(t, i, opts.deep, &run_dir, ctl.cancel_token())
                };
                VerifyRecord {
                    id: t.id.clone(),
                    output: t.output.display().to_string(),
                    ok: res.is_ok(),
                    sha256: res.as_ref().ok().cloned(),
                    deep: opts.deep,
                    note,
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

/// One line per record, for the terminal.
pub fn render(records: &[VerifyRecord]) -> String {
    let w = records
        .iter()
        .map(|r| r.id.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for r in records {
        match (&r.error, &r.sha256) {
            (None, Some(sha)) => {
                s.push_str(&format!(
                    "{:>7} {:<w$}  sha256 {}{}\n",
                    if r.deep { "ok+deep" } else { "ok" },
                    r.id,
                    &sha[..sha.len().min(16)],
                    r.note
                        .as_deref()
                        .map(|n| format!("  (note: {n})"))
                        .unwrap_or_default()
                ));
            }
            (Some(e), _) => {
                s.push_str(&format!("{:>7} {}: {}\n", "FAILED", r.id, e.message));
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
