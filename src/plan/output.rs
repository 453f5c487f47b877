//! `ekvplan validate --format json`: the typed document (described by
//! `schema/validate.schema.json`).

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;

use super::diag::{Level, LineIndex, PlanDiagnostic};
use super::expand::SETTING_NAMES;
use super::{JobSource, Origin, Report, ResolvedJob};
use crate::machine::JsonU64;

pub const VALIDATE_FORMAT: &str = "ekvplan-validate";
/// Bumped on any incompatible change (adding fields is compatible).
pub const FORMAT_VERSION: u32 = 2;

fn format_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "const": VALIDATE_FORMAT })
}

fn version_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "const": FORMAT_VERSION })
}

/// What `validate --format json` prints.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "ekvplan validate --format json")]
pub struct ValidateOutput {
    #[schemars(schema_with = "format_schema")]
    pub format: &'static str,
    #[schemars(schema_with = "version_schema")]
    pub format_version: u32,
    /// The plan path as given.
    pub plan: String,
    pub valid: bool,
    /// Why the plan could not be read at all (then there are no diagnostics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fatal: Option<String>,
    pub counts: ValidateCounts,
    /// Every problem, in the order of the plan file.
    pub diagnostics: Vec<DiagnosticOutput>,
    /// With `--explain`: the expanded jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<Vec<ExplainedJob>>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct ValidateCounts {
    pub jobs: usize,
    pub errors: usize,
    pub warnings: usize,
    pub jobs_with_problems: usize,
}

#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DiagnosticOutput {
    /// `ekvplan::plan::<kind>`.
    pub code: String,
    pub severity: Severity,
    /// The job the problem belongs to (null: the plan itself).
    pub job: Option<String>,
    pub message: String,
    pub file: String,
    pub labels: Vec<LabelOutput>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LabelOutput {
    pub primary: bool,
    pub label: Option<String>,
    /// Byte offsets in the plan file.
    pub byte_start: usize,
    pub byte_end: usize,
    pub start: Position,
    pub end: Position,
}

/// 1-based; columns count characters.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Which plan entry produced a job.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceOutput {
    Job { index: usize },
    Batch { index: usize, matched: String },
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ExcludeOutput {
    pub dynamodb: TablesOutput,
    pub s3: BucketsOutput,
    pub sqs: QueuesOutput,
    pub redis: DatabasesOutput,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TablesOutput {
    pub tables: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BucketsOutput {
    pub buckets: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct QueuesOutput {
    pub queues: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DatabasesOutput {
    pub databases: Vec<u32>,
}

/// One expanded job with every setting.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ExplainedJob {
    pub id: String,
    pub source: SourceOutput,
    /// The line of the job's entry in the plan.
    pub line: Option<usize>,
    pub input: String,
    /// `dir`, `tar` or `tar.zst`.
    pub input_format: String,
    pub output: String,
    /// The adapters the job encodes (with `adapters = "manifest"`: those
    /// the manifest lists, empty when it cannot be read).
    pub adapters: Vec<String>,
    /// `adapters = "manifest"`.
    pub adapters_from_manifest: bool,
    pub last_commit_ts: Option<JsonU64>,
    pub manifest_last_commit_ts: Option<JsonU64>,
    pub self_test: bool,
    pub scratch_root: Option<String>,
    pub memory_budget: JsonU64,
    pub exclude: ExcludeOutput,
    /// Where each setting came from: `job`, `batch`, `defaults` or `built-in`.
    pub origins: BTreeMap<String, String>,
}

pub(crate) fn origin_word(o: Option<&Origin>) -> &'static str {
    match o {
        Some(Origin::Job(_)) => "job",
        Some(Origin::Batch(_)) => "batch",
        Some(Origin::Defaults) => "defaults",
        Some(Origin::BuiltIn) | None => "built-in",
    }
}

pub fn diagnostic(d: &PlanDiagnostic, file: &str, idx: &LineIndex<'_>) -> DiagnosticOutput {
    let pos = |o: usize| {
        let (line, column) = idx.line_col(o);
        Position { line, column }
    };
    DiagnosticOutput {
        code: d.code(),
        severity: match d.level {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
        },
        job: d.job.clone(),
        message: d.message.clone(),
        file: file.to_string(),
        labels: d
            .labels
            .iter()
            .map(|l| LabelOutput {
                primary: l.primary,
                label: l.text.clone(),
                byte_start: l.span.start,
                byte_end: l.span.end,
                start: pos(l.span.start),
                end: pos(l.span.end),
            })
            .collect(),
        help: d.help.clone(),
        notes: d.notes.clone(),
    }
}

pub fn explained(j: &ResolvedJob, idx: &LineIndex<'_>) -> ExplainedJob {
    let e = &j.job;
    ExplainedJob {
        id: j.id.clone(),
        source: match &j.source {
            JobSource::Job { index } => SourceOutput::Job { index: *index },
            JobSource::Batch { index, matched } => SourceOutput::Batch {
                index: *index,
                matched: matched.display().to_string(),
            },
        },
        line: j.span.as_ref().map(|s| idx.line_col(s.start).0),
        input: e.input.display().to_string(),
        input_format: j.input_format.as_str().to_string(),
        output: e.output.display().to_string(),
        adapters: e.adapters.names().iter().map(|s| s.to_string()).collect(),
        adapters_from_manifest: j.adapters_from_manifest,
        last_commit_ts: e.last_commit_ts.map(JsonU64),
        manifest_last_commit_ts: j.manifest_last_commit_ts.map(JsonU64),
        self_test: e.self_test,
        scratch_root: e.scratch_root.as_ref().map(|p| p.display().to_string()),
        memory_budget: JsonU64(e.memory_budget),
        exclude: ExcludeOutput {
            dynamodb: TablesOutput {
                tables: e.exclusions.dynamodb_tables.clone(),
            },
            s3: BucketsOutput {
                buckets: e.exclusions.s3_buckets.clone(),
            },
            sqs: QueuesOutput {
                queues: e.exclusions.sqs_queues.clone(),
            },
            redis: DatabasesOutput {
                databases: e.exclusions.redis_databases.clone(),
            },
        },
        origins: SETTING_NAMES
            .iter()
            .map(|n| (n.to_string(), origin_word(j.origins.get(n)).to_string()))
            .collect(),
    }
}

impl ValidateOutput {
    pub fn of(report: &Report, jobs: &[ResolvedJob], with_jobs: bool) -> Self {
        let idx = LineIndex::new(&report.source);
        let file = report.path.display().to_string();
        let mut with_problems: Vec<&str> = report
            .diagnostics
            .iter()
            .filter_map(|d| d.job.as_deref())
            .collect();
        with_problems.sort_unstable();
        with_problems.dedup();
        ValidateOutput {
            format: VALIDATE_FORMAT,
            format_version: FORMAT_VERSION,
            plan: file.clone(),
            valid: report.is_valid(),
            fatal: None,
            counts: ValidateCounts {
                jobs: jobs.len(),
                errors: report.errors(),
                warnings: report.warnings(),
                jobs_with_problems: with_problems.len(),
            },
            diagnostics: report
                .diagnostics
                .iter()
                .map(|d| diagnostic(d, &file, &idx))
                .collect(),
            jobs: with_jobs.then(|| jobs.iter().map(|j| explained(j, &idx)).collect()),
        }
    }

    /// The plan could not be read.
    pub fn fatal(plan: &std::path::Path, message: String) -> Self {
        ValidateOutput {
            format: VALIDATE_FORMAT,
            format_version: FORMAT_VERSION,
            plan: plan.display().to_string(),
            valid: false,
            fatal: Some(message),
            counts: ValidateCounts::default(),
            diagnostics: Vec::new(),
            jobs: None,
        }
    }
}
