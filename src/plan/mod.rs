//! The TOML plan: model, JSON Schema, batch expansion and validation
//! against the input dumps.
//!
//! The executor depends only on [`load_and_validate`], [`ValidatedPlan`],
//! [`ResolvedJob`] and [`PlanProblems`]; everything else is internal.
//!
//! Pipeline: read → parse TOML with spans ([`source`]) → JSON Schema
//! ([`schema_check`]) → defaults, batches and templates ([`expand`]) →
//! inputs, manifests, exclusions and outputs ([`check`]). Every stage reports
//! all it finds; a later stage skips only the entries an earlier one
//! rejected, so one run lists every problem of every job.

pub(crate) mod check;
pub(crate) mod cli;
pub(crate) mod diag;
pub(crate) mod expand;
pub(crate) mod explain;
pub(crate) mod init;
pub(crate) mod model;
pub(crate) mod output;
pub(crate) mod schema;
pub(crate) mod schema_check;
pub(crate) mod source;
pub(crate) mod template;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use miette::NamedSource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::adapter::{AdapterSet, ScopeExclusions};
use crate::archive::input::InputFormat;
use crate::error::{Error, IoResultExt, exit};
use crate::job::EncodeJob;
use crate::machine::JsonU64;
use crate::output::style as styles;

pub use diag::{Level, PlanDiagnostic, Style};
pub use output::ValidateOutput;

/// Where a resolved setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The `[[job]]` with this index (0-based, in file order).
    Job(usize),
    /// The `[[batch]]` with this index.
    Batch(usize),
    Defaults,
    /// Not set anywhere: ekvplan's default.
    BuiltIn,
}

/// What a plan's `adapters` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterChoice {
    /// These (`"all"` is all four).
    Set(AdapterSet),
    /// Exactly those the input's manifest lists (`"manifest"`).
    Manifest,
}

/// Which plan entry produced a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSource {
    Job { index: usize },
    Batch { index: usize, matched: PathBuf },
}

/// One job after defaults, batch expansion and path resolution.
#[derive(Debug, Clone)]
pub struct ResolvedJob {
    /// Unique id within the plan (used for `--only`, sharding, reports).
    pub id: String,
    /// The exact single-dump pipeline this job runs.
    pub job: EncodeJob,
    /// The entry that defined the job.
    pub source: JobSource,
    /// Byte span of that entry in the plan (`[[job]]` table or the batch
    /// glob that matched).
    pub span: Option<Range<usize>>,
    /// Where each setting came from; keys are [`expand::SETTING_NAMES`].
    pub origins: BTreeMap<&'static str, Origin>,
    /// The input manifest's `last_commit_ts`, when it could be read.
    pub manifest_last_commit_ts: Option<u64>,
    /// For batch jobs: the pointer of the glob that matched the input.
    pub input_pointer: Option<String>,
    /// The input and output as the plan names them: relative to the plan
    /// file's directory (absolute only when the plan wrote them so), so
    /// they do not change with the working directory or the checkout's
    /// location.
    pub input_in_plan: String,
    pub output_in_plan: String,
    /// How the input is stored (`input_format`, else by its name).
    pub input_format: InputFormat,
    /// `adapters = "manifest"`: `job.adapters` is what the input's manifest
    /// lists (filled in by validation).
    pub adapters_from_manifest: bool,
    /// Settings the plan gets wrong for this job (already reported): their
    /// values are unknown, so the checks that need them are skipped. A job
    /// with any is still checked for everything else, then dropped.
    pub unusable: BTreeSet<&'static str>,
}

/// The resolved settings of a job that shape its output or its sidecar,
/// with paths as the plan names them. This is what resume fingerprints and
/// what a sidecar records; `memory_budget` and `scratch_root` are left out
/// because they cannot change the output bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobSettings {
    /// The input dump, relative to the plan file's directory.
    pub input: String,
    /// The output .fsm, relative to the plan file's directory.
    pub output: String,
    pub adapters: Vec<String>,
    /// The plan's override of the manifest's last_commit_ts (null: none).
    pub last_commit_ts: Option<JsonU64>,
    pub self_test: bool,
    pub exclude: ExcludeSettings,
}

/// Scope exclusions, each list sorted and without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExcludeSettings {
    pub dynamodb_tables: Vec<String>,
    pub s3_buckets: Vec<String>,
    pub sqs_queues: Vec<String>,
    pub redis_databases: Vec<u32>,
}

impl ExcludeSettings {
    pub fn of(e: &ScopeExclusions) -> Self {
        fn norm<T: Ord + Clone>(v: &[T]) -> Vec<T> {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        }
        ExcludeSettings {
            dynamodb_tables: norm(&e.dynamodb_tables),
            s3_buckets: norm(&e.s3_buckets),
            sqs_queues: norm(&e.sqs_queues),
            redis_databases: norm(&e.redis_databases),
        }
    }

    pub fn to_scope(&self) -> ScopeExclusions {
        ScopeExclusions {
            dynamodb_tables: self.dynamodb_tables.clone(),
            s3_buckets: self.s3_buckets.clone(),
            sqs_queues: self.sqs_queues.clone(),
            redis_databases: self.redis_databases.clone(),
        }
    }
}

impl ResolvedJob {
    /// A job built outside a plan (tests, embedders).
    pub fn new(id: impl Into<String>, job: EncodeJob) -> Self {
        ResolvedJob {
            id: id.into(),
            source: JobSource::Job { index: 0 },
            span: None,
            origins: BTreeMap::new(),
            manifest_last_commit_ts: None,
            input_pointer: None,
            input_in_plan: job.input_display.clone(),
            output_in_plan: job.output_display.clone(),
            input_format: InputFormat::detect(&job.input),
            adapters_from_manifest: false,
            unusable: BTreeSet::new(),
            job,
        }
    }

    /// The T the job will stamp: the override, else the manifest's.
    pub fn effective_last_commit_ts(&self) -> Option<u64> {
        self.job.last_commit_ts.or(self.manifest_last_commit_ts)
    }

    /// The settings that shape the job's output and sidecar.
    pub fn settings(&self) -> JobSettings {
        let j = &self.job;
        JobSettings {
            input: self.input_in_plan.clone(),
            output: self.output_in_plan.clone(),
            adapters: j.adapters.names().iter().map(|s| s.to_string()).collect(),
            last_commit_ts: j.last_commit_ts.map(JsonU64),
            self_test: j.self_test,
            exclude: ExcludeSettings::of(&j.exclusions),
        }
    }

    /// Canonical compact JSON of [`Self::settings`].
    pub fn settings_fingerprint(&self) -> String {
        serde_json::to_string(&self.settings()).unwrap_or_default()
    }
}

/// A plan that passed schema and dump validation.
#[derive(Debug, Clone)]
pub struct ValidatedPlan {
    pub path: PathBuf,
    pub jobs: Vec<ResolvedJob>,
    /// Warnings found while validating (never errors).
    pub report: Report,
}

impl ValidatedPlan {
    /// Print the warnings, if any, to stderr.
    pub fn eprint_warnings(&self) {
        if !self.report.diagnostics.is_empty() {
            eprint!("{}", self.report.render(&self.jobs, Style::for_stderr()));
        }
    }

    /// The expanded jobs with every setting and where it came from.
    pub fn explain(&self) -> String {
        self.report.explain(&self.jobs)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Also verify each input's CHECKSUMS file.
    pub verify_checksums: bool,
}

/// Everything validation found, with the source it points into.
#[derive(Debug, Clone)]
pub struct Report {
    pub path: PathBuf,
    pub source: String,
    /// In the order of the plan file (see [`order`]).
    pub diagnostics: Vec<PlanDiagnostic>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.level == Level::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }

    pub fn is_valid(&self) -> bool {
        self.errors() == 0
    }

    fn named_source(&self) -> NamedSource<String> {
        NamedSource::new(self.path.display().to_string(), self.source.clone())
    }

    /// Every diagnostic in file order, each job's under a heading, and a
    /// summary.
    pub fn render(&self, jobs: &[ResolvedJob], style: Style) -> String {
        self.render_levels(jobs, style, true)
    }

    /// [`Self::render`], leaving out the warnings unless `warnings` (the
    /// summary still counts them).
    pub fn render_levels(&self, jobs: &[ResolvedJob], style: Style, warnings: bool) -> String {
        let src = self.named_source();
        let mut out = String::new();
        let mut current: Option<&str> = None;
        let shown = self
            .diagnostics
            .iter()
            .filter(|d| warnings || d.level == Level::Error);
        for (i, d) in shown.enumerate() {
            if i == 0 || d.job.as_deref() != current {
                match d.job.as_deref() {
                    Some(id) => {
                        let n = self
                            .diagnostics
                            .iter()
                            .filter(|x| warnings || x.level == Level::Error)
                            .filter(|x| x.job.as_deref() == Some(id))
                            .count();
                        let heading = format!(
                            "── job {id}: {n} problem{} ──",
                            if n == 1 { "" } else { "s" }
                        );
                        out.push_str(&style.paint(styles::HEADING, &heading));
                        out.push('\n');
                    }
                    // Plan-level problems after a job's are set apart.
                    None if current.is_some() => {
                        out.push_str(&style.paint(styles::HEADING, "── plan ──"));
                        out.push('\n');
                    }
                    None => {}
                }
                current = d.job.as_deref();
            }
            out.push_str(&diag::render(d, &src, style));
            out.push('\n');
        }
        out.push_str(&self.painted_summary(jobs, style));
        out.push('\n');
        out
    }

    /// [`Self::summary`], green when valid and red when not in the fancy
    /// style.
    pub fn painted_summary(&self, jobs: &[ResolvedJob], style: Style) -> String {
        let s = if self.is_valid() {
            styles::OK
        } else {
            styles::ERROR
        };
        style.paint(s, &self.summary(jobs))
    }

    /// `jobs` (as [`validate`] returned them) with every setting and where
    /// it came from, as `validate --explain` prints them.
    pub fn explain(&self, jobs: &[ResolvedJob]) -> String {
        explain::render(self, jobs)
    }

    /// One line: valid or not, and the counts.
    pub fn summary(&self, jobs: &[ResolvedJob]) -> String {
        let (e, w) = (self.errors(), self.warnings());
        let plural = |n: usize, s: &str| format!("{n} {s}{}", if n == 1 { "" } else { "s" });
        let mut ids: Vec<&str> = self
            .diagnostics
            .iter()
            .filter(|d| d.level == Level::Error)
            .filter_map(|d| d.job.as_deref())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let plan_level = self
            .diagnostics
            .iter()
            .filter(|d| d.level == Level::Error && d.job.is_none())
            .count();
        if e == 0 {
            format!(
                "{}: valid, {}{}",
                self.path.display(),
                plural(jobs.len(), "job"),
                if w > 0 {
                    format!(", {}", plural(w, "warning"))
                } else {
                    String::new()
                }
            )
        } else {
            let mut wheres = Vec::new();
            if plan_level > 0 {
                wheres.push(format!("{plan_level} in the plan itself"));
            }
            if !ids.is_empty() {
                wheres.push(format!(
                    "{} in {}",
                    e - plan_level,
                    plural(ids.len(), "job")
                ));
            }
            format!(
                "{}: invalid: {}, {} ({})",
                self.path.display(),
                plural(e, "error"),
                plural(w, "warning"),
                wheres.join(", ")
            )
        }
    }

    /// Every diagnostic as a GitHub Actions annotation, in order.
    pub fn github_annotations(&self) -> String {
        let idx = diag::LineIndex::new(&self.source);
        let file = crate::machine::github::workspace_path(&self.path);
        self.diagnostics
            .iter()
            .map(|d| diag::to_github(d, &file, &idx))
            .collect()
    }

    /// The stable JSON result of `validate --format json`; the expanded
    /// jobs are included with `with_jobs` (`--explain`).
    pub fn to_output(&self, jobs: &[ResolvedJob], with_jobs: bool) -> ValidateOutput {
        ValidateOutput::of(self, jobs, with_jobs)
    }

    /// [`Self::to_output`] as a JSON value.
    pub fn to_json(&self, jobs: &[ResolvedJob], with_jobs: bool) -> Value {
        serde_json::to_value(self.to_output(jobs, with_jobs)).expect("validate output serializes")
    }
}

/// Why a plan cannot run: either a list of diagnostics (exit 2) or a
/// usage/IO failure (exit 1).
#[derive(Debug)]
pub struct PlanProblems(Box<Problems>);

#[derive(Debug)]
struct Problems {
    fatal: Option<Error>,
    report: Option<Report>,
    jobs: Vec<ResolvedJob>,
}

impl PlanProblems {
    pub fn exit_code(&self) -> i32 {
        match &self.0.fatal {
            Some(e) => e.exit_code(),
            None => exit::DATA,
        }
    }

    /// Print every diagnostic to stderr (fancy on a TTY, plain otherwise).
    pub fn eprint(&self) {
        match (&self.0.fatal, &self.0.report) {
            (Some(e), _) => eprintln!("ekvplan: error: {e}"),
            (None, Some(r)) => eprint!("{}", r.render(&self.0.jobs, Style::for_stderr())),
            (None, None) => eprintln!("ekvplan: error: invalid plan"),
        }
    }

    /// The diagnostics (empty for a usage/IO failure).
    pub fn diagnostics(&self) -> &[PlanDiagnostic] {
        self.0.report.as_ref().map_or(&[], |r| &r.diagnostics)
    }

    pub fn report(&self) -> Option<&Report> {
        self.0.report.as_ref()
    }

    /// The usage/IO failure, if that is what happened.
    pub fn fatal(&self) -> Option<&Error> {
        self.0.fatal.as_ref()
    }

    /// The jobs that could be expanded despite the problems.
    pub fn jobs(&self) -> &[ResolvedJob] {
        &self.0.jobs
    }
}

/// Validate a plan and return everything found (an `Err` only when the plan
/// file itself cannot be read).
pub fn validate(path: &Path, opts: &ValidateOptions) -> Result<(Report, Vec<ResolvedJob>), Error> {
    let (bytes, path, plan_dir) = read_plan(path)?;
    let path = path.as_path();
    let (source, utf8_error) = match String::from_utf8(bytes) {
        Ok(s) => (s, None),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(at))
        }
    };
    let finish = |diagnostics: Vec<PlanDiagnostic>, jobs: Vec<ResolvedJob>, source: String| {
        let report = Report {
            path: path.to_path_buf(),
            source,
            diagnostics,
        };
        Ok((report, jobs))
    };
    if let Some(at) = utf8_error {
        let d = PlanDiagnostic::error(
            "syntax",
            format!("the plan is not valid UTF-8 (first bad byte at offset {at})"),
        )
        .help("TOML files are UTF-8 text");
        return finish(vec![d], Vec::new(), source);
    }
    let (doc, mut diags) = match source::parse(&source) {
        Ok(x) => x,
        Err(syntax) => return finish(syntax, Vec::new(), source),
    };
    let (schema_diags, rejected) = schema_check::check(&doc);
    diags.extend(schema_diags);
    let mut ex = expand::Expander::new(&doc, plan_dir, rejected);
    let mut jobs = ex.expand();
    diags.append(&mut ex.diags);
    attribute_to_jobs(&doc, &mut diags);
    diags.append(&mut ex.id_diags);
    let checker = check::Checker::new(&doc, opts);
    diags.extend(checker.check(&mut jobs));
    let diags = order(&doc, diags, &jobs);
    // Jobs with settings the plan got wrong were checked for everything
    // else; they cannot run.
    jobs.retain(|j| j.unusable.is_empty());
    finish(diags, jobs, source)
}

/// The plan path `-` reads standard input.
pub const STDIN_PATH: &str = "-";

/// How a plan read from standard input is named in messages and reports.
pub const STDIN_NAME: &str = "<stdin>";

/// The plan's bytes, the name it is shown by, and the directory its
/// relative paths resolve against: the file's own, or the working
/// directory for standard input.
fn read_plan(path: &Path) -> Result<(Vec<u8>, PathBuf, PathBuf), Error> {
    if path.as_os_str() == STDIN_PATH {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
            .map_err(|e| Error::io("read plan from standard input", e))?;
        return Ok((bytes, PathBuf::from(STDIN_NAME), PathBuf::new()));
    }
    let bytes = std::fs::read(path).io_at(path, "read plan")?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((bytes, path.to_path_buf(), dir))
}

/// (pointer, extent) of every top-level entry: `[defaults]`, each `[[job]]`
/// and `[[batch]]`.
fn entries(doc: &source::Doc) -> Vec<(String, Range<usize>)> {
    let entry_ptrs =
        ["/defaults".to_string()]
            .into_iter()
            .chain(["job", "batch"].into_iter().flat_map(|t| {
                let n = doc
                    .json
                    .get(t)
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                (0..n).map(move |i| format!("/{t}/{i}"))
            }));
    entry_ptrs
        .filter_map(|p| Some((p.clone(), doc.extent(&p)?)))
        .collect()
}

/// The innermost entry holding `offset`.
fn entry_at(entries: &[(String, Range<usize>)], offset: usize) -> Option<&(String, Range<usize>)> {
    entries
        .iter()
        .filter(|(_, r)| r.contains(&offset))
        .min_by_key(|(_, r)| r.len())
}

/// A problem found in one `[[job]]`'s own settings is told as that job's.
fn attribute_to_jobs(doc: &source::Doc, diags: &mut [PlanDiagnostic]) {
    let entries = entries(doc);
    for d in diags.iter_mut().filter(|d| d.job.is_none()) {
        let Some((p, _)) = entry_at(&entries, d.sort_offset()) else {
            continue;
        };
        if p.starts_with("/job/") {
            if let Some(Value::String(id)) = doc.json.pointer(&format!("{p}/id")) {
                d.job = Some(id.clone());
            }
        }
    }
}

/// Every diagnostic in the order of the plan file: by the entry it is
/// about (`[defaults]`, a `[[job]]`, a `[[batch]]`, each of a batch's jobs
/// in turn), then by position within it.
fn order(
    doc: &source::Doc,
    mut diags: Vec<PlanDiagnostic>,
    jobs: &[ResolvedJob],
) -> Vec<PlanDiagnostic> {
    let entries = entries(doc);
    let entry_start = |ptr: String| doc.value_span(&ptr).map_or(usize::MAX, |r| r.start);
    let job_pos: HashMap<&str, (usize, usize)> = jobs
        .iter()
        .enumerate()
        .map(|(n, j)| {
            let entry = match &j.source {
                JobSource::Job { index } => format!("/job/{index}"),
                JobSource::Batch { index, .. } => format!("/batch/{index}"),
            };
            (j.id.as_str(), (entry_start(entry), n + 1))
        })
        .collect();
    diags.sort_by_key(|d| {
        let own = d.sort_offset();
        let by_job = d.job.as_deref().and_then(|id| job_pos.get(id).copied());
        match by_job {
            Some((start, n)) => (start, n, own),
            None => match entry_at(&entries, own) {
                Some((_, r)) => (r.start, 0, own),
                None => (own, 0, own),
            },
        }
    });
    diags
}

/// Load, schema-check, expand and validate a plan file.
pub fn load_and_validate(
    path: &Path,
    opts: &ValidateOptions,
) -> std::result::Result<ValidatedPlan, PlanProblems> {
    match validate(path, opts) {
        Err(e) => Err(PlanProblems(Box::new(Problems {
            fatal: Some(e),
            report: None,
            jobs: Vec::new(),
        }))),
        Ok((report, jobs)) if report.is_valid() => Ok(ValidatedPlan {
            path: report.path.clone(),
            jobs,
            report,
        }),
        Ok((report, jobs)) => Err(PlanProblems(Box::new(Problems {
            fatal: None,
            report: Some(report),
            jobs,
        }))),
    }
}
