//! From the typed plan to resolved jobs: settings inherited from
//! `[defaults]`, `[[batch]]` globs expanded (deterministically: matches in
//! byte order of their paths), templates filled, paths resolved against the
//! plan's directory, ids checked for shape and uniqueness.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::diag::PlanDiagnostic;
use super::model::{
    self, AdapterSelection, BatchEntry, ByteSize, CommitTs, CommonSettings, Defaults, JobEntry,
};
use super::source::{Doc, child};
use super::template;
use super::{AdapterChoice, JobSource, Origin, ResolvedJob};
use crate::adapter::{AdapterSet, ScopeExclusions};
use crate::archive::Compression;
use crate::archive::input::InputFormat;
use crate::budget::{DEFAULT_MEMORY_BUDGET, parse_size};
use crate::job::{self, EncodeJob};

/// Settings of one level (`[defaults]`, a `[[job]]` or a `[[batch]]`),
/// parsed into their final types.
#[derive(Debug, Clone, Default)]
struct Level {
    input: Option<String>,
    output: Option<String>,
    adapters: Option<AdapterChoice>,
    input_format: Option<InputFormat>,
    last_commit_ts: Option<u64>,
    self_test: Option<bool>,
    scratch_root: Option<String>,
    memory_budget: Option<u64>,
    tables: Option<Vec<String>>,
    buckets: Option<Vec<String>>,
    queues: Option<Vec<String>>,
    databases: Option<Vec<u32>>,
    /// Settings this level gets wrong (already reported): their value is
    /// unknown, so jobs inheriting them are checked without them.
    unusable: BTreeSet<&'static str>,
}

/// The keys of [`ResolvedJob::origins`], in explain order.
pub const SETTING_NAMES: &[&str] = &[
    "input",
    "input_format",
    "output",
    "adapters",
    "last_commit_ts",
    "self_test",
    "scratch_root",
    "memory_budget",
    "exclude.dynamodb.tables",
    "exclude.s3.buckets",
    "exclude.sqs.queues",
    "exclude.redis.databases",
];

impl Origin {
    /// The JSON pointer of the table that set a value.
    pub fn pointer(&self) -> Option<String> {
        match self {
            Origin::Job(i) => Some(format!("/job/{i}")),
            Origin::Batch(i) => Some(format!("/batch/{i}")),
            Origin::Defaults => Some("/defaults".into()),
            Origin::BuiltIn => None,
        }
    }

    /// The pointer of one setting (`exclude.s3.buckets` → `/…/exclude/s3/buckets`).
    pub fn setting_pointer(&self, name: &str) -> Option<String> {
        let base = self.pointer()?;
        Some(name.split('.').fold(base, |acc, seg| child(&acc, seg)))
    }

    pub fn describe(&self) -> String {
        match self {
            Origin::Job(i) => format!("[[job]] #{}", i + 1),
            Origin::Batch(i) => format!("[[batch]] #{}", i + 1),
            Origin::Defaults => "[defaults]".into(),
            Origin::BuiltIn => "built-in default".into(),
        }
    }
}

pub struct Expander<'a> {
    doc: &'a Doc,
    plan_dir: PathBuf,
    /// Pointers of values already reported (by the schema or the parser).
    rejected: Vec<String>,
    pub diags: Vec<PlanDiagnostic>,
    /// Problems with ids across entries (invalid, used twice).
    pub id_diags: Vec<PlanDiagnostic>,
}

/// Deserialize one entry once its rejected values are taken out.
fn typed<T: DeserializeOwned>(
    doc: &Doc,
    ptr: &str,
    v: Value,
    diags: &mut Vec<PlanDiagnostic>,
) -> Option<T> {
    match serde_json::from_value(v) {
        Ok(t) => Some(t),
        Err(e) => {
            // The schema should have caught this; report rather than panic.
            diags.push(
                PlanDiagnostic::error("invalid_value", format!("cannot read {ptr}: {e}"))
                    .at(doc.value_span(ptr), "here"),
            );
            None
        }
    }
}

/// An entry with the values the schema (or the TOML conversion) rejected
/// taken out, and what they were.
struct Sanitized {
    value: Value,
    /// Settings whose value was rejected (or whose key was mistyped).
    unusable: BTreeSet<&'static str>,
}

/// The setting a top-level key of an entry sets.
fn setting_of_key(key: &str) -> Option<&'static str> {
    ["id", "input", "inputs", "skip", "output"]
        .iter()
        .chain(model::COMMON_KEYS)
        .copied()
        .find(|k| *k == key && *k != "exclude")
}

/// The exclusion setting of `exclude.<adapter>`.
fn exclude_setting(adapter: &str) -> Option<&'static str> {
    SETTING_NAMES
        .iter()
        .copied()
        .find(|n| n.strip_prefix("exclude.").and_then(|r| r.split('.').next()) == Some(adapter))
}

fn pointer_segments(rel: &str) -> Vec<String> {
    rel.split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Remove `path` from a JSON value (a missing path is fine).
fn remove_path(v: &mut Value, path: &[&str]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for p in parents {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(*last);
    }
}

/// The index and JSON pointer of each entry of the `[[table]]` array.
fn entry_pointers(json: &serde_json::Value, table: &str) -> Vec<(usize, String)> {
    let n = json
        .get(table)
        .and_then(|v| v.as_array())
        .map_or(0, Vec::len);
    (0..n).map(|i| (i, format!("/{table}/{i}"))).collect()
}

/// Placeholders each template may use.
const JOB_PATH_VARS: &[&str] = &["id"];
const BATCH_ID_VARS: &[&str] = &["name", "parent"];
const BATCH_PATH_VARS: &[&str] = &["id", "name", "parent"];

impl<'a> Expander<'a> {
    pub fn new(doc: &'a Doc, plan_dir: PathBuf, rejected: Vec<String>) -> Self {
        Expander {
            doc,
            plan_dir,
            rejected,
            diags: Vec::new(),
            id_diags: Vec::new(),
        }
    }

    /// The entry at `ptr` without what was rejected in it; `None` when the
    /// entry itself was rejected (wrong type, a required key missing).
    fn sanitize(&self, ptr: &str) -> Option<Sanitized> {
        let mut value = self.doc.json.pointer(ptr)?.clone();
        let mut unusable = BTreeSet::new();
        let below = |r: &str| {
            r.strip_prefix(ptr)
                .filter(|rest| rest.starts_with('/'))
                .map(str::to_string)
        };
        let rejections = self
            .rejected
            .iter()
            .map(String::as_str)
            .chain(self.doc.reported_pointers());
        for r in rejections {
            // The root is only ever rejected for a missing `version`, which
            // says nothing about the entries.
            let at_or_above = r == ptr
                || (!r.is_empty()
                    && ptr.starts_with(r)
                    && ptr.as_bytes().get(r.len()) == Some(&b'/'));
            if at_or_above {
                return None;
            }
            let Some(rel) = below(r) else { continue };
            let segs = pointer_segments(&rel);
            let key = segs[0].as_str();
            if key == "exclude" {
                match segs.get(1).map(String::as_str) {
                    None => {
                        remove_path(&mut value, &["exclude"]);
                        unusable.extend(
                            SETTING_NAMES
                                .iter()
                                .copied()
                                .filter(|n| n.starts_with("exclude.")),
                        );
                    }
                    Some(a) => {
                        remove_path(&mut value, &["exclude", a]);
                        unusable.extend(exclude_setting(a));
                    }
                }
            } else if let Some(name) = setting_of_key(key) {
                // A job's id stays, to name the job in what else is found;
                // a job without a usable name is not checked.
                let named = value.get("id").is_some_and(Value::is_string);
                if key == "id" && ptr.starts_with("/job/") && !named {
                    return None;
                }
                if !(key == "id" && named) {
                    remove_path(&mut value, &[key]);
                }
                unusable.insert(name);
            } else {
                // An unknown key: if it is a misspelling of a key the entry
                // lacks, that setting's intended value is unknown.
                remove_path(&mut value, &[key]);
                let known = SETTING_NAMES
                    .iter()
                    .copied()
                    .filter(|n| !n.starts_with("exclude."))
                    .chain(["id", "inputs", "skip"]);
                if let Some(meant) = super::schema_check::suggest(key, known) {
                    if value.get(meant).is_none() {
                        unusable.insert(meant);
                    }
                }
            }
        }
        Some(Sanitized { value, unusable })
    }

    fn span(&self, ptr: &str) -> Option<Range<usize>> {
        self.doc.value_span(ptr)
    }

    fn template_ok(&mut self, ptr: &str, t: &str, allowed: &[&str]) -> bool {
        match template::check(t, allowed) {
            Ok(()) => true,
            Err(msg) => {
                let field = super::schema_check::field_path(self.doc, ptr);
                let (entry, _) = super::schema_check::entry_of(self.doc, ptr);
                self.diags.push(
                    PlanDiagnostic::error(
                        "invalid_template",
                        format!("`{field}` in {entry}: {msg}"),
                    )
                    .at(self.span(ptr), "in this template"),
                );
                false
            }
        }
    }

    /// Report a setting whose value the schema accepts but that cannot be
    /// used, and mark it unusable at this level.
    fn unusable_value(
        &mut self,
        l: &mut Level,
        ptr: &str,
        key: &'static str,
        message: String,
        label: &str,
        help: &str,
    ) {
        l.unusable.insert(key);
        let span = self.span(&child(ptr, key));
        self.diags.push(
            PlanDiagnostic::error("invalid_value", message)
                .at(span, label)
                .help(help),
        );
    }

    /// Parse one level's settings; the unusable ones are reported and
    /// marked.
    fn level(
        &mut self,
        ptr: &str,
        common: &CommonSettings,
        input: Option<&String>,
        output: Option<&String>,
        path_vars: &[&str],
        unusable: BTreeSet<&'static str>,
    ) -> Level {
        let mut l = Level {
            unusable,
            ..Level::default()
        };
        if let Some(t) = input {
            if !self.template_ok(&child(ptr, "input"), t, JOB_PATH_VARS) {
                l.unusable.insert("input");
            }
            l.input = Some(t.clone());
        }
        if let Some(t) = output {
            if !self.template_ok(&child(ptr, "output"), t, path_vars) {
                l.unusable.insert("output");
            }
            l.output = Some(t.clone());
        }
        l.adapters = match &common.adapters {
            None => None,
            Some(AdapterSelection::Word(w)) if w == "manifest" => Some(AdapterChoice::Manifest),
            Some(AdapterSelection::Word(_)) => Some(AdapterChoice::Set(AdapterSet::ALL)),
            Some(AdapterSelection::List(v)) => match AdapterSet::parse_encode_flag(&v.join(",")) {
                Ok(s) => Some(AdapterChoice::Set(s)),
                Err(e) => {
                    l.unusable.insert("adapters");
                    let p = child(ptr, "adapters");
                    self.diags.push(
                        PlanDiagnostic::error("invalid_value", e.to_string())
                            .at(self.span(&p), "here"),
                    );
                    None
                }
            },
        };
        l.last_commit_ts = match &common.last_commit_ts {
            None => None,
            Some(CommitTs::Int(n)) => Some(*n),
            Some(CommitTs::Str(s)) => match job::parse_commit_ts(s) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.unusable_value(
                        &mut l,
                        ptr,
                        "last_commit_ts",
                        format!("last_commit_ts {s:?} does not fit in a uint64"),
                        "out of range",
                        "HLC timestamps are at most 18446744073709551615 (0xffffffffffffffff)",
                    );
                    None
                }
            },
        };
        // The schema admits only the known names.
        l.input_format = common
            .input_format
            .as_ref()
            .and_then(|f| InputFormat::parse(&f.0));
        l.self_test = common.self_test;
        l.scratch_root = common.scratch_root.clone();
        l.memory_budget = match &common.memory_budget {
            None => None,
            Some(ByteSize::Int(n)) => Some(*n),
            Some(ByteSize::Str(s)) => match parse_size(s) {
                Ok(0) | Err(_) => {
                    self.unusable_value(
                        &mut l,
                        ptr,
                        "memory_budget",
                        format!("memory_budget {s:?} is not a usable size"),
                        "zero or too large",
                        "use a positive size below 16 EiB, e.g. \"512MiB\"",
                    );
                    None
                }
                Ok(n) => Some(n),
            },
        };
        if let Some(ex) = &common.exclude {
            l.tables = ex.dynamodb.as_ref().map(|x| x.tables.clone());
            l.buckets = ex.s3.as_ref().map(|x| x.buckets.clone());
            l.queues = ex.sqs.as_ref().map(|x| x.queues.clone());
            l.databases = ex.redis.as_ref().map(|x| x.databases.clone());
        }
        l
    }

    /// Resolve paths against the plan's directory (lexically; `..` kept).
    fn resolve(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() || self.plan_dir.as_os_str().is_empty() {
            path.to_path_buf()
        } else {
            self.plan_dir.join(path)
        }
    }

    /// A path found under the plan's directory, relative to it again.
    fn relative_to_plan(&self, p: &Path) -> String {
        let dir = lexical_clean(&self.plan_dir);
        let full = lexical_clean(p);
        match full.strip_prefix(&dir) {
            Ok(rel) if !dir.as_os_str().is_empty() => rel.display().to_string(),
            _ => full.display().to_string(),
        }
    }

    /// Expand every entry of the plan into jobs. What the schema rejected
    /// is taken out of its entry and the settings it held are marked
    /// unusable ([`ResolvedJob::unusable`]), so the rest of every entry is
    /// still expanded and checked; only an entry that cannot be read at all
    /// (not a table, no id, no inputs) is skipped.
    pub fn expand(&mut self) -> Vec<ResolvedJob> {
        let doc = self.doc;
        let defaults: Level = if doc.json.get("defaults").is_none() {
            Level::default()
        } else {
            let parsed = self.sanitize("/defaults").and_then(|sv| {
                let d: Defaults = typed(doc, "/defaults", sv.value, &mut self.diags)?;
                Some((d, sv.unusable))
            });
            match parsed {
                Some((d, unusable)) => self.level(
                    "/defaults",
                    &d.common,
                    d.input.as_ref(),
                    d.output.as_ref(),
                    BATCH_PATH_VARS,
                    unusable,
                ),
                // Nothing [defaults] says can be trusted.
                None => Level {
                    unusable: SETTING_NAMES.iter().copied().collect(),
                    ..Level::default()
                },
            }
        };

        let mut jobs = Vec::new();
        for (i, ptr) in entry_pointers(&doc.json, "job") {
            let Some(sv) = self.sanitize(&ptr) else {
                continue;
            };
            let Some(e): Option<JobEntry> = typed(doc, &ptr, sv.value, &mut self.diags) else {
                continue;
            };
            let level = self.level(
                &ptr,
                &e.common,
                e.input.as_ref(),
                e.output.as_ref(),
                JOB_PATH_VARS,
                sv.unusable,
            );
            let vars = |v: &str| (v == "id").then(|| e.id.clone());
            if let Some(j) = self.build(
                e.id.clone(),
                JobSource::Job { index: i },
                Origin::Job(i),
                &level,
                &defaults,
                &vars,
                self.doc.value_span(&ptr),
            ) {
                jobs.push(j);
            }
        }

        for (b, ptr) in entry_pointers(&doc.json, "batch") {
            let Some(sv) = self.sanitize(&ptr) else {
                continue;
            };
            // Without its globs or its id template a batch has no jobs.
            if ["inputs", "skip", "id"]
                .iter()
                .any(|k| sv.unusable.contains(k))
            {
                continue;
            }
            let Some(e): Option<BatchEntry> = typed(doc, &ptr, sv.value, &mut self.diags) else {
                continue;
            };
            let id_ok = match &e.id {
                Some(t) => self.template_ok(&child(&ptr, "id"), t, BATCH_ID_VARS),
                None => true,
            };
            let level = self.level(
                &ptr,
                &e.common,
                None,
                e.output.as_ref(),
                BATCH_PATH_VARS,
                sv.unusable,
            );
            if !id_ok {
                continue;
            }
            // What the globs match depends on the batch's input format.
            let format = if level.unusable.contains("input_format") {
                None
            } else {
                level.input_format.or(defaults.input_format)
            };
            let Some(matches) = self.batch_matches(b, &e, format) else {
                continue;
            };
            let id_template = e.id.clone().unwrap_or_else(|| "{name}".into());
            for (dir, pattern_ptr) in matches {
                let file_name = dir
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let name = if dir.is_dir() {
                    file_name
                } else {
                    crate::archive::strip_extension(&file_name).to_string()
                };
                let parent = dir
                    .parent()
                    .and_then(Path::file_name)
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let base_vars = |v: &str| match v {
                    "name" => Some(name.clone()),
                    "parent" => Some(parent.clone()),
                    _ => None,
                };
                let id = match template::render(&id_template, base_vars) {
                    Ok(id) => id,
                    Err(msg) => {
                        self.diags.push(
                            PlanDiagnostic::error("invalid_template", msg)
                                .at(self.span(&child(&ptr, "id")), "in this template"),
                        );
                        continue;
                    }
                };
                let vars = |v: &str| match v {
                    "id" => Some(id.clone()),
                    other => base_vars(other),
                };
                let mut lvl = level.clone();
                // The match is the input; [defaults].input does not apply.
                lvl.input = Some(template_escape(&dir.to_string_lossy()));
                if let Some(mut j) = self.build(
                    id.clone(),
                    JobSource::Batch {
                        index: b,
                        matched: dir.clone(),
                    },
                    Origin::Batch(b),
                    &lvl,
                    &defaults,
                    &vars,
                    self.doc.value_span(&pattern_ptr),
                ) {
                    // The matched path is already resolved.
                    j.job.input = dir.clone();
                    j.job.input_display = dir.display().to_string();
                    j.input_in_plan = self.relative_to_plan(&dir);
                    j.input_pointer = Some(pattern_ptr.clone());
                    jobs.push(j);
                }
            }
        }
        self.check_ids(&mut jobs);
        let has_entries = doc.json.get("job").is_some() || doc.json.get("batch").is_some();
        if jobs.is_empty() && !has_entries {
            self.diags.push(
                PlanDiagnostic::error("no_jobs", "the plan defines no jobs")
                    .help("add a [[job]] with an id, input and output, or a [[batch]] with inputs and output"),
            );
        }
        jobs
    }

    /// Merge a level over the defaults and fill templates.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &mut self,
        id: String,
        source: JobSource,
        origin: Origin,
        level: &Level,
        defaults: &Level,
        vars: &dyn Fn(&str) -> Option<String>,
        span: Option<Range<usize>>,
    ) -> Option<ResolvedJob> {
        let mut origins: BTreeMap<&'static str, Origin> = BTreeMap::new();
        let mut unusable: BTreeSet<&'static str> = BTreeSet::new();
        if level.unusable.contains("id") {
            unusable.insert("id");
        }
        macro_rules! pick {
            ($field:ident, $name:expr) => {{
                if level.unusable.contains($name) {
                    origins.insert($name, origin.clone());
                    unusable.insert($name);
                    None
                } else if let Some(v) = &level.$field {
                    origins.insert($name, origin.clone());
                    Some(v.clone())
                } else if defaults.unusable.contains($name) {
                    origins.insert($name, Origin::Defaults);
                    unusable.insert($name);
                    None
                } else if let Some(v) = &defaults.$field {
                    origins.insert($name, Origin::Defaults);
                    Some(v.clone())
                } else {
                    origins.insert($name, Origin::BuiltIn);
                    None
                }
            }};
        }
        let input_t = pick!(input, "input");
        let output_t = pick!(output, "output");
        let adapters = pick!(adapters, "adapters").unwrap_or(AdapterChoice::Set(AdapterSet::ALL));
        let input_format = pick!(input_format, "input_format");
        let last_commit_ts = pick!(last_commit_ts, "last_commit_ts");
        let self_test = pick!(self_test, "self_test").unwrap_or(false);
        let scratch_root = pick!(scratch_root, "scratch_root");
        let memory_budget = pick!(memory_budget, "memory_budget").unwrap_or(DEFAULT_MEMORY_BUDGET);
        let exclusions = ScopeExclusions {
            dynamodb_tables: pick!(tables, "exclude.dynamodb.tables").unwrap_or_default(),
            s3_buckets: pick!(buckets, "exclude.s3.buckets").unwrap_or_default(),
            sqs_queues: pick!(queues, "exclude.sqs.queues").unwrap_or_default(),
            redis_databases: pick!(databases, "exclude.redis.databases").unwrap_or_default(),
        };
        let entry_ptr = origin.pointer().unwrap_or_default();
        // A path that is unusable, missing or a bad template is reported
        // (unless it already was) and left empty.
        let path = |name: &'static str,
                    t: Option<String>,
                    me: &mut Self,
                    unusable: &mut BTreeSet<&'static str>|
         -> String {
            if unusable.contains(name) {
                return String::new();
            }
            let o = &origins[name];
            let Some(t) = t else {
                me.diags.push(
                    PlanDiagnostic::error(
                        "missing_key",
                        format!("no `{name}`: neither the job nor [defaults] sets one"),
                    )
                    .job(Some(&id))
                    .at(
                        me.doc.value_span(&entry_ptr),
                        format!("`{name}` is required"),
                    ),
                );
                unusable.insert(name);
                return String::new();
            };
            match template::render(&t, vars) {
                Ok(s) => s,
                Err(msg) => {
                    let p = o.setting_pointer(name).unwrap_or_default();
                    let d = PlanDiagnostic::error(
                        "invalid_template",
                        format!("`{name}` of job {id:?}: {msg}"),
                    )
                    .job(Some(&id))
                    .at(me.doc.value_span(&p), "in this template")
                    .also(me.doc.value_span(&entry_ptr), "used by this job");
                    let d = if *o == Origin::Defaults {
                        d.help("{name} and {parent} exist only for jobs expanded from a [[batch]]")
                    } else {
                        d
                    };
                    me.diags.push(d);
                    unusable.insert(name);
                    String::new()
                }
            }
        };
        let input = if matches!(source, JobSource::Batch { .. }) {
            String::new()
        } else {
            path("input", input_t, self, &mut unusable)
        };
        let output = path("output", output_t, self, &mut unusable);
        let input_in_plan = clean_relative(&input);
        let output_in_plan = clean_relative(&output);
        let mut job = EncodeJob::new(self.resolve(&input), self.resolve(&output));
        // Resolved against the manifest by the checks ("manifest").
        job.adapters = match adapters {
            AdapterChoice::Set(s) => s,
            AdapterChoice::Manifest => AdapterSet::NONE,
        };
        let input_format = input_format.unwrap_or_else(|| match &source {
            JobSource::Batch { matched, .. } => InputFormat::detect(matched),
            JobSource::Job { .. } => InputFormat::detect(&job.input),
        });
        job.last_commit_ts = last_commit_ts;
        job.self_test = self_test;
        job.scratch_root = scratch_root.map(|s| self.resolve(&s));
        job.memory_budget = memory_budget;
        job.exclusions = exclusions;
        Some(ResolvedJob {
            id,
            job,
            source,
            span,
            origins,
            manifest_last_commit_ts: None,
            input_pointer: None,
            input_in_plan,
            output_in_plan,
            input_format,
            adapters_from_manifest: adapters == AdapterChoice::Manifest,
            unusable,
        })
    }

    /// The directories a batch matches, each with the pointer of the glob
    /// that matched it first, in byte order of their paths.
    fn batch_matches(
        &mut self,
        b: usize,
        e: &BatchEntry,
        format: Option<InputFormat>,
    ) -> Option<Vec<(PathBuf, String)>> {
        let ptr = format!("/batch/{b}");
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let pattern_ptr = |i: usize, many: bool, key: &str| {
            if many {
                format!("{ptr}/{key}/{i}")
            } else {
                format!("{ptr}/{key}")
            }
        };
        let mut skips = Vec::new();
        let mut ok = true;
        if let Some(skip) = &e.skip {
            let many = matches!(skip, model::Globs::Many(_));
            for (i, p) in skip.patterns().into_iter().enumerate() {
                let full = self.glob_path(p);
                match glob::Pattern::new(&full) {
                    Ok(pat) => skips.push(pat),
                    Err(err) => {
                        ok = false;
                        let at = err.pos.saturating_sub(full.len().saturating_sub(p.len()));
                        self.bad_glob(&pattern_ptr(i, many, "skip"), p, err.msg, at);
                    }
                }
            }
        }
        let many = matches!(e.inputs, model::Globs::Many(_));
        let mut found: BTreeMap<Vec<u8>, (PathBuf, String)> = BTreeMap::new();
        let mut skipped = 0usize;
        let mut searched = Vec::new();
        for (i, p) in e.inputs.patterns().into_iter().enumerate() {
            let pptr = pattern_ptr(i, many, "inputs");
            let full = self.glob_path(p);
            searched.push(full.clone());
            let paths = match glob::glob_with(&full, opts) {
                Ok(paths) => paths,
                Err(err) => {
                    ok = false;
                    let at = err.pos.saturating_sub(full.len().saturating_sub(p.len()));
                    self.bad_glob(&pptr, p, err.msg, at);
                    continue;
                }
            };
            for entry in paths {
                let Ok(path) = entry else {
                    // An unreadable directory on the way: nothing matched there.
                    continue;
                };
                let is_input = match format {
                    None => {
                        path.is_dir() || (path.is_file() && Compression::from_path(&path).is_some())
                    }
                    Some(InputFormat::Dir) => path.is_dir(),
                    Some(InputFormat::Archive(_)) => path.is_file(),
                };
                if !is_input {
                    continue;
                }
                if skips.iter().any(|s| s.matches_path_with(&path, opts)) {
                    skipped += 1;
                    continue;
                }
                let key = path.as_os_str().as_bytes().to_vec();
                found.entry(key).or_insert((path, pptr.clone()));
            }
        }
        if !ok {
            return None;
        }
        if found.is_empty() {
            let mut d = PlanDiagnostic::error(
                "batch_no_match",
                format!("[[batch]] #{} matches no input", b + 1),
            )
            .at(self.span(&child(&ptr, "inputs")), "matches nothing");
            for s in &searched {
                d = d.note(format!("searched: {s}"));
            }
            if skipped > 0 {
                d = d.note(format!("{skipped} match(es) were removed by `skip`"));
            }
            self.diags.push(
                d.help(match format {
                    None => "globs are relative to the plan file's directory; only directories and *.tar, *.tar.zst, *.tar.zstd files match",
                    Some(InputFormat::Dir) => "globs are relative to the plan file's directory; with input_format = \"dir\" only directories match",
                    Some(InputFormat::Archive(_)) => "globs are relative to the plan file's directory; with an archive input_format only files match",
                }),
            );
            return None;
        }
        Some(found.into_values().collect())
    }

    fn bad_glob(&mut self, ptr: &str, pattern: &str, err: &str, at: usize) {
        self.diags.push(
            PlanDiagnostic::error(
                "invalid_glob",
                format!("invalid glob {pattern:?}: {err} (at character {})", at + 1),
            )
            .at(self.span(ptr), "bad pattern")
            .help("globs use *, ?, [abc], [!abc] and **; write [[] or []] for a literal bracket"),
        );
    }

    /// A glob relative to the plan's directory, whose own name is escaped.
    fn glob_path(&self, p: &str) -> String {
        if Path::new(p).is_absolute() || self.plan_dir.as_os_str().is_empty() {
            p.to_string()
        } else {
            let dir = glob::Pattern::escape(&self.plan_dir.to_string_lossy());
            format!("{}/{p}", dir.trim_end_matches('/'))
        }
    }

    /// Ids must be well-formed (batch ids come from directory names) and
    /// unique across the plan.
    fn check_ids(&mut self, jobs: &mut Vec<ResolvedJob>) {
        let mut first: HashMap<String, usize> = HashMap::new();
        let mut keep = vec![true; jobs.len()];
        for (n, j) in jobs.iter().enumerate() {
            let id_span = self.id_span(j);
            if !valid_id(&j.id) && !j.unusable.contains("id") {
                let mut d = PlanDiagnostic::error(
                    "invalid_id",
                    format!("job id {:?} is not a valid id", j.id),
                )
                .at(id_span, "expands to an invalid id")
                .help("ids use letters, digits and . _ : @ + = -, start with a letter or digit, and have at most 128 characters");
                if let JobSource::Batch { matched, .. } = &j.source {
                    d = d
                        .note(format!("from the input {}", matched.display()))
                        .help("set an `id` template in the [[batch]], e.g. id = \"prod-{name}\"");
                }
                self.id_diags.push(d);
                keep[n] = false;
                continue;
            }
            if let Some(&f) = first.get(&j.id) {
                let fj = &jobs[f];
                let mut d = PlanDiagnostic::error(
                    "duplicate_id",
                    format!("job id {:?} is used twice", j.id),
                )
                .at(id_span.clone(), "second use");
                let fspan = self.id_span(fj);
                if fspan != id_span {
                    d = d.also(fspan, "first use");
                }
                for x in [fj, j] {
                    if let JobSource::Batch { matched, .. } = &x.source {
                        d = d.note(format!("expanded from the input {}", matched.display()));
                    }
                }
                self.id_diags
                    .push(d.help("job ids must be unique; give one of them another id"));
                keep[n] = false;
            } else {
                first.insert(j.id.clone(), n);
            }
        }
        let mut it = keep.into_iter();
        jobs.retain(|_| it.next().unwrap_or(true));
    }

    fn id_span(&self, j: &ResolvedJob) -> Option<Range<usize>> {
        match &j.source {
            JobSource::Job { index } => self.doc.value_span(&format!("/job/{index}/id")),
            JobSource::Batch { index, .. } => {
                let p = format!("/batch/{index}/id");
                self.doc.value_span(&p).or_else(|| j.span.clone())
            }
        }
    }
}

/// `p` with `.` segments and repeated separators removed (`..` is kept:
/// without the filesystem it cannot be resolved).
fn lexical_clean(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// A path from the plan, as the plan names it, cleaned lexically.
fn clean_relative(p: &str) -> String {
    let c = lexical_clean(Path::new(p));
    if c.as_os_str().is_empty() {
        ".".into()
    } else {
        c.display().to_string()
    }
}

/// A literal path used where a template is expected.
fn template_escape(s: &str) -> String {
    s.replace('{', "{{").replace('}', "}}")
}

/// The job-id shape of [`model::ID_PATTERN`], checked without a regex.
pub fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= model::ID_MAX_LEN
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"._:@+=-".contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(valid_id("cluster-1"));
        assert!(valid_id("a.b_c:d@e+f=g"));
        assert!(!valid_id(""));
        assert!(!valid_id("-a"));
        assert!(!valid_id("a b"));
        assert!(!valid_id("a,b"));
        assert!(!valid_id(&"a".repeat(129)));
    }

    #[test]
    fn origins_name_their_settings() {
        assert_eq!(
            Origin::Batch(2)
                .setting_pointer("exclude.s3.buckets")
                .unwrap(),
            "/batch/2/exclude/s3/buckets"
        );
        assert_eq!(Origin::BuiltIn.setting_pointer("input"), None);
    }
}
