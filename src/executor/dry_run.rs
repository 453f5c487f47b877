//! `ekvplan run --dry-run`: the selected jobs as they would run (effective
//! settings and T, whether each is up to date or why it would run), for
//! people or as JSON (`--format json`, `schema/dry-run.schema.json`). Reads
//! inputs and sidecars; writes nothing.

use std::fmt::Write as _;

use indicatif::HumanBytes;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;

use super::fingerprint::{Freshness, Reason};
use super::report::const_schema;
use super::{RunOptions, build_pool, prepare_all, select};
use crate::error::Result;
use crate::job;
use crate::machine::JsonU64;
use crate::plan::{JobSettings, ResolvedJob, ValidatedPlan};

pub const DRY_RUN_FORMAT: &str = "ekvplan-dry-run";
pub const FORMAT_VERSION: u32 = 1;

fn format_schema(_: &mut SchemaGenerator) -> Schema {
    const_schema(DRY_RUN_FORMAT)
}

fn version_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "const": FORMAT_VERSION })
}

fn reason_code_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": Reason::CODES })
}

/// What `run --dry-run --format json` prints.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "ekvplan dry run")]
pub struct DryRun {
    #[schemars(schema_with = "format_schema")]
    pub format: &'static str,
    #[schemars(schema_with = "version_schema")]
    pub format_version: u32,
    pub ekvplan_version: String,
    pub plan: String,
    /// `hash:M/N`, or null.
    pub shard: Option<String>,
    pub counts: DryRunCounts,
    /// The selected jobs, in plan order.
    pub jobs: Vec<DryRunJob>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DryRunCounts {
    pub plan: usize,
    pub selected: usize,
    pub would_run: usize,
    pub up_to_date: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DryRunStatus {
    WouldRun,
    UpToDate,
}

/// Where a job's T comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TsSource {
    Manifest,
    Override,
}

/// The T a job would stamp.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EffectiveTs {
    /// Null when it cannot be known (`error` says why).
    pub value: Option<JsonU64>,
    pub source: Option<TsSource>,
    /// The input manifest's last_commit_ts.
    pub manifest: Option<JsonU64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DryRunJob {
    pub id: String,
    pub status: DryRunStatus,
    pub reason: String,
    #[schemars(schema_with = "reason_code_schema")]
    pub reason_code: &'static str,
    /// Input and output as the job would open them.
    pub input: String,
    pub output: String,
    /// The settings that shape the output (paths relative to the plan).
    pub settings: JobSettings,
    pub last_commit_ts: EffectiveTs,
    /// The memory budget the job would run with, in bytes.
    pub memory_budget: JsonU64,
    pub scratch_root: Option<String>,
    /// Subtrees of the input the exclusions leave out.
    pub excluded_subtrees: Vec<String>,
    pub fingerprint: Option<String>,
    /// `checksums`, `tree-metadata` or `archive`.
    pub input_content: Option<String>,
    /// Why the input could not be fingerprinted.
    pub fingerprint_error: Option<String>,
}

fn effective_ts(rj: &ResolvedJob, override_ts: Option<u64>) -> EffectiveTs {
    let input = &rj.job.input;
    let manifest = match rj.input_format.compression() {
        None => job::read_input_manifest(input),
        Some(c) => crate::archive::input::peek_manifest(input, c).map_err(|e| e.into_error(input)),
    };
    match manifest {
        Ok(m) => match job::resolve_commit_ts(m.last_commit_ts, override_ts) {
            Ok((t, overridden)) => EffectiveTs {
                value: Some(JsonU64(t)),
                source: Some(if overridden {
                    TsSource::Override
                } else {
                    TsSource::Manifest
                }),
                manifest: Some(JsonU64(m.last_commit_ts)),
                error: None,
            },
            Err(e) => EffectiveTs {
                value: None,
                source: None,
                manifest: Some(JsonU64(m.last_commit_ts)),
                error: Some(e.to_string()),
            },
        },
        Err(e) => EffectiveTs {
            value: None,
            source: None,
            manifest: None,
            error: Some(e.to_string()),
        },
    }
}

/// Fingerprint the selected jobs and say what a run would do.
pub fn dry_run(plan: &ValidatedPlan, opts: &RunOptions) -> Result<DryRun> {
    let selected = select::select(&plan.jobs, &opts.only, opts.shard)?;
    let total = opts.memory_budget.max(1);
    let pool = build_pool(opts.jobs)?;
    let prepared = prepare_all(&pool, &selected, opts.force, total);
    let jobs: Vec<DryRunJob> = prepared
        .iter()
        .map(|p| {
            let j = &p.rj.job;
            let reason = p.reason();
            DryRunJob {
                id: p.rj.id.clone(),
                status: match p.freshness {
                    Freshness::UpToDate(_) => DryRunStatus::UpToDate,
                    Freshness::Run(_) => DryRunStatus::WouldRun,
                },
                reason: reason.to_string(),
                reason_code: reason.code(),
                input: j.input_display.clone(),
                output: j.output_display.clone(),
                settings: p.rj.settings(),
                last_commit_ts: effective_ts(p.rj, j.last_commit_ts),
                memory_budget: JsonU64(p.need),
                scratch_root: j.scratch_root.as_ref().map(|s| s.display().to_string()),
                excluded_subtrees: j.exclusions.excluded_subtrees(),
                fingerprint: p.fingerprint.as_ref().ok().map(|f| f.hex.clone()),
                input_content: p.fingerprint.as_ref().ok().map(|f| f.input.content.clone()),
                fingerprint_error: p.fingerprint.as_ref().err().cloned(),
            }
        })
        .collect();
    let would_run = jobs
        .iter()
        .filter(|j| j.status == DryRunStatus::WouldRun)
        .count();
    Ok(DryRun {
        format: DRY_RUN_FORMAT,
        format_version: FORMAT_VERSION,
        ekvplan_version: env!("CARGO_PKG_VERSION").to_string(),
        plan: plan.path.display().to_string(),
        shard: opts.shard.map(|s| s.to_string()),
        counts: DryRunCounts {
            plan: plan.jobs.len(),
            selected: jobs.len(),
            would_run,
            up_to_date: jobs.len() - would_run,
        },
        jobs,
    })
}

impl DryRun {
    pub fn to_json(&self) -> Vec<u8> {
        crate::machine::to_pretty_json(self)
    }

    /// The human form.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "plan {}: {} of {} job(s) selected{}",
            self.plan,
            self.counts.selected,
            self.counts.plan,
            self.shard
                .as_deref()
                .map(|sh| format!(" (shard {sh})"))
                .unwrap_or_default()
        );
        for j in &self.jobs {
            let status = match j.status {
                DryRunStatus::UpToDate => "up to date".to_string(),
                DryRunStatus::WouldRun => format!("would run ({})", j.reason),
            };
            let ts = &j.last_commit_ts;
            let t = match (ts.value, ts.source, ts.manifest, &ts.error) {
                (Some(t), Some(TsSource::Override), Some(m), _) => {
                    format!("{t} (override; manifest {m})")
                }
                (Some(t), _, _, _) => format!("{t} (from manifest)"),
                (None, _, _, Some(e)) => format!("? ({e})"),
                _ => "?".into(),
            };
            let _ = writeln!(s, "\n{}: {status}", j.id);
            let _ = writeln!(s, "  input       {}", j.input);
            let _ = writeln!(s, "  output      {}", j.output);
            let _ = writeln!(s, "  T           {t}");
            let _ = writeln!(s, "  adapters    {}", j.settings.adapters.join(","));
            if !j.excluded_subtrees.is_empty() {
                let _ = writeln!(s, "  excluded    {}", j.excluded_subtrees.join(", "));
            }
            let _ = writeln!(
                s,
                "  self-test   {}",
                if j.settings.self_test { "yes" } else { "no" }
            );
            let _ = writeln!(s, "  memory      {}", HumanBytes(j.memory_budget.0));
            match (&j.fingerprint, &j.input_content, &j.fingerprint_error) {
                (Some(f), Some(c), _) => {
                    let _ = writeln!(s, "  fingerprint {} ({c})", &f[..16.min(f.len())]);
                }
                (_, _, e) => {
                    let _ = writeln!(s, "  fingerprint ? ({})", e.as_deref().unwrap_or("-"));
                }
            }
        }
        let _ = writeln!(
            s,
            "\n{} job(s) would run, {} up to date; nothing was written",
            self.counts.would_run, self.counts.up_to_date
        );
        s
    }
}
