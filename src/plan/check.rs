//! Validation of resolved jobs against the filesystem, before anything runs:
//! inputs and their manifests (with the encoder's own gates), adapter scope,
//! the commit-timestamp override, scope exclusions, outputs and scratch
//! directories, and optionally each input's CHECKSUMS.

use std::collections::{BTreeSet, HashMap};
use std::ffi::CString;
use std::fs;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::diag::PlanDiagnostic;
use super::schema_check::suggest;
use super::source::Doc;
use super::{JobSource, Origin, ResolvedJob, ValidateOptions};
use crate::adapter::{AdapterKind, AdapterSet, CancelToken, ScopeExclusions};
use crate::archive::input::{self as archive_input, InputFormat, PeekError, VerifyError};
use crate::error::Error;
use crate::job;
use crate::manifest::{self, Manifest};
use crate::tree::{checksums, filename};

/// What reading one input produced (shared by jobs on it).
struct InputState {
    /// The canonical path, when the input exists.
    canonical: Option<PathBuf>,
    format: InputFormat,
    manifest: Result<Manifest, InputProblem>,
    /// With `--verify-checksums`: the CHECKSUMS check (for an archive, the
    /// whole archive checked as unpacking it would).
    checksums: Option<Result<(), String>>,
    /// For an archive whose jobs exclude something: the `<adapter>/<name>`
    /// directories it holds (or why they could not be listed).
    subtrees: Option<Result<BTreeSet<String>, String>>,
}

enum InputProblem {
    NotFound(String),
    /// A directory input that is not a directory.
    NotDir,
    /// An archive input that is not a regular file.
    NotFile,
    ManifestUnreadable(String),
    ManifestInvalid(String),
    /// The archive cannot be read up to its MANIFEST.json.
    ArchiveUnreadable(String),
}

fn read_input(input: &Path, format: InputFormat, verify: bool, subtrees: bool) -> InputState {
    let mut st = InputState {
        canonical: None,
        format,
        manifest: Err(InputProblem::NotDir),
        checksums: None,
        subtrees: None,
    };
    let md = match fs::metadata(input) {
        Ok(m) => m,
        Err(e) => {
            st.manifest = Err(InputProblem::NotFound(e.to_string()));
            return st;
        }
    };
    st.canonical = fs::canonicalize(input).ok();
    let InputFormat::Archive(compression) = format else {
        if !md.is_dir() {
            return st;
        }
        st.manifest = match job::read_input_manifest(input) {
            Ok(m) => Ok(m),
            Err(Error::Io { source, .. }) => {
                Err(InputProblem::ManifestUnreadable(source.to_string()))
            }
            Err(e) => Err(InputProblem::ManifestInvalid(strip_prefix_path(
                &e.to_string(),
                &input.join(manifest::FILE_NAME),
            ))),
        };
        st.checksums = (verify && st.manifest.is_ok()).then(|| {
            checksums::verify(input)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        return st;
    };
    if md.is_dir() {
        st.manifest = Err(InputProblem::NotFile);
        return st;
    }
    st.manifest = match archive_input::peek_manifest(input, compression) {
        Ok(m) => Ok(m),
        Err(PeekError::Archive(e)) => Err(InputProblem::ArchiveUnreadable(e.to_string())),
        Err(PeekError::Missing) => Err(InputProblem::ManifestUnreadable(
            "the archive has no MANIFEST.json".into(),
        )),
        Err(PeekError::Invalid(e)) => Err(InputProblem::ManifestInvalid(e.to_string())),
    };
    if st.manifest.is_ok() {
        st.checksums = verify.then(|| {
            archive_input::verify(input, compression, &CancelToken::new())
                .map(|_| ())
                .map_err(|e| match e {
                    VerifyError::Archive(e) | VerifyError::Checksums(e) => e.to_string(),
                })
        });
        st.subtrees = subtrees
            .then(|| archive_input::subtrees(input, compression).map_err(|e| e.to_string()));
    }
    st
}

/// `path: message` → `message` (the path is shown separately).
fn strip_prefix_path(msg: &str, path: &Path) -> String {
    let p = format!("{}: ", path.display());
    msg.strip_prefix(&p).unwrap_or(msg).to_string()
}

pub struct Checker<'a> {
    doc: &'a Doc,
    opts: &'a ValidateOptions,
}

impl<'a> Checker<'a> {
    pub fn new(doc: &'a Doc, opts: &'a ValidateOptions) -> Self {
        Checker { doc, opts }
    }

    /// The span of a job's setting where it was written, if it was.
    fn setting_span(&self, j: &ResolvedJob, name: &str) -> Option<Range<usize>> {
        if name == "input" {
            if let Some(p) = &j.input_pointer {
                return self.doc.value_span(p);
            }
        }
        let origin = j.origins.get(name)?;
        self.doc.value_span(&origin.setting_pointer(name)?)
    }

    /// The setting's span, else the job's own table.
    fn span_or_job(&self, j: &ResolvedJob, name: &str) -> Option<Range<usize>> {
        self.setting_span(j, name).or_else(|| j.span.clone())
    }

    fn origin_note(&self, j: &ResolvedJob, name: &str) -> Option<String> {
        match j.origins.get(name) {
            Some(Origin::Defaults) => Some(format!("`{name}` is inherited from [defaults]")),
            Some(o @ Origin::Batch(_)) => Some(format!("`{name}` is set by {}", o.describe())),
            _ => None,
        }
    }

    /// Check every job; fills `manifest_last_commit_ts` where readable.
    /// A job's unusable settings (already reported) are not checked, nor
    /// anything that depends on them.
    pub fn check(&self, jobs: &mut [ResolvedJob]) -> Vec<PlanDiagnostic> {
        // Each distinct input is read once, in parallel.
        let usable =
            |j: &ResolvedJob| !j.unusable.contains("input") && !j.unusable.contains("input_format");
        let mut inputs: Vec<(&Path, InputFormat, bool)> = jobs
            .iter()
            .filter(|j| usable(j))
            .map(|j| {
                let ex = &j.job.exclusions;
                let excludes = !(ex.dynamodb_tables.is_empty()
                    && ex.s3_buckets.is_empty()
                    && ex.sqs_queues.is_empty()
                    && ex.redis_databases.is_empty());
                (j.job.input.as_path(), j.input_format, excludes)
            })
            .collect();
        inputs.sort_by(|a, b| (a.0, a.1.as_str(), !a.2).cmp(&(b.0, b.1.as_str(), !b.2)));
        inputs.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let verify = self.opts.verify_checksums;
        let states: HashMap<(PathBuf, InputFormat), InputState> = inputs
            .par_iter()
            .map(|&(p, f, excludes)| ((p.to_path_buf(), f), read_input(p, f, verify, excludes)))
            .collect();
        let state_of = |j: &ResolvedJob| {
            states
                .get(&(j.job.input.clone(), j.input_format))
                .filter(|_| usable(j))
        };

        // `adapters = "manifest"`: the job takes what its manifest lists.
        for j in jobs.iter_mut() {
            if let Some(InputState {
                manifest: Ok(m), ..
            }) = state_of(j)
            {
                j.manifest_last_commit_ts = Some(m.last_commit_ts);
                if j.adapters_from_manifest && !j.unusable.contains("adapters") {
                    j.job.adapters = listed_adapters(m);
                }
            }
        }
        let per_job: Vec<Vec<PlanDiagnostic>> = jobs
            .par_iter()
            .map(|j| match state_of(j) {
                Some(st) => self.check_job(j, st),
                None => Vec::new(),
            })
            .collect();
        let mut out: Vec<PlanDiagnostic> = per_job.into_iter().flatten().collect();
        out.extend(self.check_outputs(jobs, &states));
        out
    }

    fn check_job(&self, j: &ResolvedJob, st: &InputState) -> Vec<PlanDiagnostic> {
        let mut out = Vec::new();
        let id = Some(j.id.as_str());
        let input_span = self.span_or_job(j, "input");
        let input_label = match &j.source {
            JobSource::Batch { matched, .. } => format!("matched {}", matched.display()),
            JobSource::Job { .. } => "this input".to_string(),
        };
        let shown = j.job.input.display();
        // For an archive, "<archive>/MANIFEST.json" names the member.
        let manifest_path = j.job.input.join(manifest::FILE_NAME);
        let m = match &st.manifest {
            Ok(m) => m,
            Err(p) => {
                let d = match p {
                    InputProblem::NotFound(e) => PlanDiagnostic::error(
                        "input_not_found",
                        format!("input {shown} does not exist"),
                    )
                    .note(e.clone())
                    .help("input paths are relative to the plan file's directory"),
                    InputProblem::NotDir => PlanDiagnostic::error(
                        "input_not_found",
                        format!("input {shown} is not a directory"),
                    )
                    .help(if j.origins.get("input_format").is_some_and(|o| *o != Origin::BuiltIn) {
                        "input_format = \"dir\" names a dump tree: a directory holding MANIFEST.json"
                    } else {
                        "an input is a dump tree (a directory holding MANIFEST.json) or a dump archive named *.tar, *.tar.zst or *.tar.zstd; set input_format for an archive named otherwise"
                    }),
                    InputProblem::NotFile => PlanDiagnostic::error(
                        "input_not_found",
                        format!("input {shown} is a directory, not a dump archive"),
                    )
                    .help(format!(
                        "the input is read as a {} archive ({}); set input_format = \"dir\" for a dump tree",
                        st.format.as_str(),
                        if j.origins.get("input_format").is_some_and(|o| *o != Origin::BuiltIn) {
                            "input_format"
                        } else {
                            "by its name"
                        }
                    )),
                    InputProblem::ArchiveUnreadable(e) => PlanDiagnostic::error(
                        "archive_unreadable",
                        format!("cannot read dump archive {shown} up to its MANIFEST.json"),
                    )
                    .note(e.clone())
                    .help("check the archive with `ekvplan archive unpack`; a symlink, a damaged or truncated stream, or an unsafe entry is refused"),
                    InputProblem::ManifestUnreadable(e) => PlanDiagnostic::error(
                        "manifest_unreadable",
                        format!("cannot read {}", manifest_path.display()),
                    )
                    .note(e.clone())
                    .help("an input is a dump tree: a directory holding MANIFEST.json"),
                    InputProblem::ManifestInvalid(e) => PlanDiagnostic::error(
                        "manifest_invalid",
                        format!("{} is rejected by the encoder", manifest_path.display()),
                    )
                    .note(e.clone()),
                };
                let mut d = d.job(id).at(input_span, input_label);
                if let Some(n) = self.origin_note(j, "input") {
                    d = d.note(n);
                }
                out.push(d);
                return out;
            }
        };

        let known = |name: &str| !j.unusable.contains(name);
        // Adapter scope: every selected adapter named in the manifest.
        let adapters_span = self.span_or_job(j, "adapters");
        let present: Vec<&str> = j
            .job
            .adapters
            .iter()
            .filter(|k| single_ok(m, *k, &manifest_path))
            .map(AdapterKind::name)
            .collect();
        let in_manifest: Vec<&str> = AdapterKind::FAN_OUT
            .into_iter()
            .filter(|k| single_ok(m, *k, &manifest_path))
            .map(AdapterKind::name)
            .collect();
        if !known("adapters") {
            // What the plan meant to select is unknown.
        } else if m.adapters.is_none() {
            out.push(
                PlanDiagnostic::error(
                    "adapter_not_in_manifest",
                    format!("{} has no adapters object", manifest_path.display()),
                )
                .job(id)
                .at(input_span.clone(), input_label.clone())
                .note("the encoder refuses a manifest without `adapters`"),
            );
        } else if j.adapters_from_manifest && in_manifest.is_empty() {
            out.push(
                PlanDiagnostic::error(
                    "adapter_not_in_manifest",
                    format!(
                        "adapters = \"manifest\", but {} lists no adapter",
                        manifest_path.display()
                    ),
                )
                .job(id)
                .at(adapters_span.clone(), "takes the manifest's adapters")
                .note("this dump holds no adapter data: there is nothing to encode"),
            );
        } else {
            let missing: Vec<&str> = j
                .job
                .adapters
                .iter()
                .map(AdapterKind::name)
                .filter(|n| !present.contains(n))
                .collect();
            if !missing.is_empty() {
                let (what, verb) = if missing.len() == 1 {
                    (format!("adapter {}", missing[0]), "it")
                } else {
                    (format!("adapters {}", missing.join(", ")), "them")
                };
                let label = match j.origins.get("adapters") {
                    Some(Origin::BuiltIn) | None => "adapters defaults to \"all\"".to_string(),
                    _ => format!("selects {}", missing.join(", ")),
                };
                let mut d = PlanDiagnostic::error(
                    "adapter_not_in_manifest",
                    format!(
                        "{what} selected, but {} does not list {verb}",
                        manifest_path.display()
                    ),
                )
                .job(id)
                .at(adapters_span.clone(), label)
                .note(format!(
                    "the manifest lists: {}",
                    list_or_none(&in_manifest)
                ))
                .help(if in_manifest.is_empty() {
                    "this dump holds no adapter data".to_string()
                } else if matches!(j.source, JobSource::Batch { .. }) {
                    "for a batch over dumps holding different adapters, adapters = \"manifest\" takes what each dump lists".to_string()
                } else {
                    format!(
                        "select only what the dump has: adapters = [{}] (or adapters = \"manifest\")",
                        in_manifest
                            .iter()
                            .map(|n| format!("{n:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
                if let Some(n) = self.origin_note(j, "adapters") {
                    d = d.note(n);
                }
                out.push(d);
            }
        }
        let selected = if known("adapters") {
            j.job.adapters
        } else {
            AdapterSet::NONE
        };
        for (k, flag) in job::unsupported_manifest_features(m, selected) {
            out.push(
                PlanDiagnostic::error(
                    "unsupported_manifest_feature",
                    format!(
                        "{} sets {flag}, and the {k} encoder cannot rebuild those records",
                        manifest_path.display()
                    ),
                )
                .job(id)
                .at(adapters_span.clone(), format!("selects {k}"))
                .help(format!(
                    "leave {k} out of `adapters`, or use a dump exported without {}",
                    flag.trim_start_matches("exclusions.")
                )),
            );
        }

        // The commit timestamp override.
        let commit_ts = job::resolve_commit_ts(m.last_commit_ts, j.job.last_commit_ts);
        if let (true, Err(e)) = (known("last_commit_ts"), commit_ts) {
            let t = j.job.last_commit_ts.unwrap_or(0);
            let mut d = PlanDiagnostic::error(
                "commit_ts_below_manifest",
                format!(
                    "last_commit_ts {t} is below the manifest's last_commit_ts {}",
                    m.last_commit_ts
                ),
            )
            .job(id)
            .at(
                self.span_or_job(j, "last_commit_ts"),
                format!("{t} ({t:#x})"),
            )
            .note(format!(
                "{} has last_commit_ts = {} ({:#x})",
                manifest_path.display(),
                m.last_commit_ts,
                m.last_commit_ts
            ))
            .note(format!("the encoder says: {e}"))
            .help(format!(
                "use a value of at least {}, or remove the override to use the manifest's",
                m.last_commit_ts
            ));
            if let Some(n) = self.origin_note(j, "last_commit_ts") {
                d = d.note(n);
            }
            out.push(d);
        }

        if known("adapters") {
            self.check_exclusions(j, st, &mut out);
        }

        if let Some(Err(e)) = &st.checksums {
            out.push(
                PlanDiagnostic::error(
                    "checksum_mismatch",
                    if st.format.is_archive() {
                        format!("dump archive {} does not verify", j.job.input.display())
                    } else {
                        format!("{}/CHECKSUMS does not verify", j.job.input.display())
                    },
                )
                .job(id)
                .at(self.span_or_job(j, "input"), input_label)
                .note(e.clone())
                .help("the dump changed or is damaged since it was exported; re-export it"),
            );
        }
        out
    }

    fn check_exclusions(&self, j: &ResolvedJob, st: &InputState, out: &mut Vec<PlanDiagnostic>) {
        let ex = &j.job.exclusions;
        let lists: [(AdapterKind, &str, &str, Vec<String>); 4] = [
            (
                AdapterKind::DynamoDb,
                "exclude.dynamodb.tables",
                "table",
                ex.dynamodb_tables.clone(),
            ),
            (
                AdapterKind::S3,
                "exclude.s3.buckets",
                "bucket",
                ex.s3_buckets.clone(),
            ),
            (
                AdapterKind::Sqs,
                "exclude.sqs.queues",
                "queue",
                ex.sqs_queues.clone(),
            ),
            (
                AdapterKind::Redis,
                "exclude.redis.databases",
                "database",
                ex.redis_databases.iter().map(u32::to_string).collect(),
            ),
        ];
        let id = Some(j.id.as_str());
        for (kind, setting, noun, names) in lists {
            if names.is_empty() || j.unusable.contains(setting) {
                continue;
            }
            let origin = j.origins.get(setting).cloned().unwrap_or(Origin::BuiltIn);
            let list_ptr = origin.setting_pointer(setting).unwrap_or_default();
            if !j.job.adapters.contains(kind) {
                if j.adapters_from_manifest {
                    // Meant for the dumps that hold this adapter.
                    continue;
                }
                out.push(
                    PlanDiagnostic::warning(
                        "exclusion_unused",
                        format!("`{setting}` has no effect: adapter {kind} is not selected"),
                    )
                    .job(id)
                    .at(self.doc.value_span(&list_ptr), "ignored for this job"),
                );
                continue;
            }
            let adapter_dir = j.job.input.join(kind.name());
            let archived: Option<&BTreeSet<String>> = match &st.subtrees {
                Some(Ok(set)) => Some(set),
                Some(Err(e)) => {
                    out.push(
                        PlanDiagnostic::error(
                            "archive_unreadable",
                            format!(
                                "cannot list dump archive {} to check `{setting}`",
                                j.job.input.display()
                            ),
                        )
                        .job(id)
                        .at(self.span_or_job(j, "input"), "this archive")
                        .note(e.clone()),
                    );
                    continue;
                }
                None => None,
            };
            let mut existing: Option<Vec<String>> = None;
            for (i, name) in names.iter().enumerate() {
                let rel = subtree(kind, name);
                let found = match archived {
                    Some(set) => set.contains(&rel),
                    None => fs::symlink_metadata(j.job.input.join(&rel)).is_ok_and(|m| m.is_dir()),
                };
                if found {
                    continue;
                }
                let present = existing.get_or_insert_with(|| match archived {
                    Some(set) => names_in(
                        kind,
                        set.iter()
                            .filter_map(|s| s.strip_prefix(&format!("{}/", kind.name())))
                            .map(str::to_string),
                    ),
                    None => list_names(kind, &adapter_dir),
                });
                let mut d = PlanDiagnostic::error(
                    "exclusion_not_found",
                    format!(
                        "excluded {noun} {name:?} does not exist in {}",
                        j.job.input.display()
                    ),
                )
                .job(id)
                .at(
                    self.doc.value_span(&format!("{list_ptr}/{i}")),
                    format!("no {rel}"),
                );
                if let Some(s) = suggest(name, present.iter().map(String::as_str)) {
                    d = d.help(format!("did you mean {s:?}?"));
                } else {
                    d = d.help(format!(
                        "exclusions must name a {noun} that is in the dump; a typo would silently keep it"
                    ));
                }
                d = d.note(format!(
                    "{noun}s in this dump: {}",
                    list_or_none(&present.iter().map(String::as_str).collect::<Vec<_>>())
                ));
                if let Some(n) = self.origin_note(j, setting) {
                    d = d.note(n);
                }
                out.push(d);
            }
        }
    }

    /// Outputs: unique, outside every input tree, not a directory, in a
    /// writable place. Scratch roots: usable and outside every input.
    fn check_outputs(
        &self,
        jobs: &[ResolvedJob],
        states: &HashMap<(PathBuf, InputFormat), InputState>,
    ) -> Vec<PlanDiagnostic> {
        let mut out = Vec::new();
        // Canonical input root (a tree, or an archive file) → the input as
        // the plan spelled it.
        let input_roots: HashMap<&Path, &Path> = states
            .iter()
            .filter_map(|((p, _), s)| Some((s.canonical.as_deref()?, p.as_path())))
            .collect();
        let inside_input = |p: &Path| -> Option<PathBuf> {
            p.ancestors()
                .find_map(|a| input_roots.get(a))
                .map(|p| p.to_path_buf())
        };
        let mut seen: HashMap<PathBuf, usize> = HashMap::new();
        for (n, j) in jobs.iter().enumerate() {
            let id = Some(j.id.as_str());
            if j.unusable.contains("output") {
                self.check_scratch(j, &inside_input, &mut out);
                continue;
            }
            let span = self.span_or_job(j, "output");
            let shown = j.job.output.display();
            let key = comparable(&j.job.output);
            if let Some(&f) = seen.get(&key) {
                let fj = &jobs[f];
                let fspan = self.span_or_job(fj, "output");
                let mut d = PlanDiagnostic::error(
                    "duplicate_output",
                    format!("output {shown} is also the output of job {:?}", fj.id),
                )
                .job(id)
                .at(span.clone(), "same file");
                if fspan != span {
                    d = d.also(fspan, format!("job {:?} writes here too", fj.id));
                }
                out.push(
                    d.note(format!(
                        "both resolve to {}",
                        relative_to_cwd(&key).display()
                    ))
                    .help(
                        "every job needs its own output; use a template such as \"out/{id}.fsm\"",
                    ),
                );
            } else {
                seen.insert(key.clone(), n);
            }
            if let Some(root) = inside_input(&key) {
                let what = if comparable(&root) == key {
                    format!("output {shown} is the input {}", root.display())
                } else {
                    format!("output {shown} is inside the input tree {}", root.display())
                };
                out.push(
                    PlanDiagnostic::error("output_inside_input", what)
                        .job(id)
                        .at(span.clone(), "inside an input")
                        .help("write outputs outside every dump: the encoder reads the whole tree"),
                );
            }
            let is_link = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_symlink());
            let sidecar = job::sidecar_path(&j.job.output);
            if let Some(link) = [&j.job.output, &sidecar].into_iter().find(|p| is_link(p)) {
                out.push(
                    PlanDiagnostic::error(
                        "output_unwritable",
                        format!("{} is a symlink", link.display()),
                    )
                    .job(id)
                    .at(span.clone(), "a symlink")
                    .help("a run never writes through or replaces a symlink it did not create: name the file itself, or remove the link"),
                );
            } else if fs::metadata(&j.job.output).is_ok_and(|m| m.is_dir()) {
                out.push(
                    PlanDiagnostic::error(
                        "output_unwritable",
                        format!("output {shown} is a directory"),
                    )
                    .job(id)
                    .at(span.clone(), "a directory")
                    .help("an output is the path of the .fsm file itself"),
                );
            } else if let Err(why) = writable_dir_for(&j.job.output) {
                out.push(
                    PlanDiagnostic::error(
                        "output_unwritable",
                        format!("cannot write output {shown}: {why}"),
                    )
                    .job(id)
                    .at(span.clone(), "not writable")
                    .help(
                        "the output's directory must be writable (missing directories are created)",
                    ),
                );
            }
            self.check_scratch(j, &inside_input, &mut out);
        }
        out
    }
}

impl Checker<'_> {
    /// A job's scratch root: usable and outside every input.
    fn check_scratch(
        &self,
        j: &ResolvedJob,
        inside_input: &dyn Fn(&Path) -> Option<PathBuf>,
        out: &mut Vec<PlanDiagnostic>,
    ) {
        if j.unusable.contains("scratch_root") {
            return;
        }
        let id = Some(j.id.as_str());
        let Some(scratch) = &j.job.scratch_root else {
            return;
        };
        let sspan = self.span_or_job(j, "scratch_root");
        let skey = comparable(scratch);
        let problem = if let Some(root) = inside_input(&skey) {
            Some(format!("is inside the input tree {}", root.display()))
        } else if fs::metadata(scratch).is_ok_and(|m| !m.is_dir()) {
            Some("is not a directory".to_string())
        } else {
            writable_dir_for(&scratch.join("x")).err()
        };
        if let Some(why) = problem {
            out.push(
                PlanDiagnostic::error(
                    "scratch_root_unusable",
                    format!("scratch_root {} {why}", scratch.display()),
                )
                .job(id)
                .at(sspan, "unusable scratch root")
                .help("spill files and the self-test tree go here: use a writable directory outside every dump"),
            );
        }
    }
}

fn single_ok(m: &Manifest, k: AdapterKind, manifest_path: &Path) -> bool {
    let mut one = AdapterSet::NONE;
    one.insert(k);
    job::check_adapters_in_manifest(m, one, manifest_path).is_ok()
}

fn list_or_none(v: &[&str]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// The subtree an exclusion removes (the mapping the encoder uses).
fn subtree(kind: AdapterKind, name: &str) -> String {
    let mut one = ScopeExclusions::default();
    match kind {
        AdapterKind::DynamoDb => one.dynamodb_tables.push(name.to_string()),
        AdapterKind::S3 => one.s3_buckets.push(name.to_string()),
        AdapterKind::Sqs => one.sqs_queues.push(name.to_string()),
        AdapterKind::Redis => one.redis_databases.push(name.parse().unwrap_or(u32::MAX)),
    }
    one.excluded_subtrees().pop().unwrap_or_default()
}

/// The names present in an adapter directory (decoded from their segments),
/// for suggestions.
fn list_names(kind: AdapterKind, dir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    names_in(
        kind,
        rd.filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned()),
    )
}

/// Names from an adapter directory's subdirectory segments, sorted.
fn names_in(kind: AdapterKind, segments: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = segments
        .filter_map(|seg| match kind {
            AdapterKind::Redis => seg.strip_prefix("db_").map(str::to_string),
            _ => filename::decode_segment(&seg)
                .ok()
                .and_then(|b| String::from_utf8(b).ok()),
        })
        .collect();
    v.sort();
    v
}

/// The adapters a manifest lists, in fan-out order.
fn listed_adapters(m: &Manifest) -> AdapterSet {
    let mut set = AdapterSet::NONE;
    for k in AdapterKind::FAN_OUT {
        if m.adapters.is_some() && single_ok(m, k, Path::new(manifest::FILE_NAME)) {
            set.insert(k);
        }
    }
    set
}

/// `p` relative to the working directory when it lies below it (messages
/// stay short and stable across checkouts).
fn relative_to_cwd(p: &Path) -> PathBuf {
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|c| fs::canonicalize(c).ok());
    match cwd.as_deref().and_then(|c| p.strip_prefix(c).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => p.to_path_buf(),
    }
}

/// An absolute path with symlinks resolved in the part that exists and the
/// rest normalized lexically, so two spellings of one file compare equal.
pub fn comparable(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut existing = abs.clone();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(c) = fs::canonicalize(&existing) {
            let mut out = c;
            for seg in rest.iter().rev() {
                if seg == ".." {
                    out.pop();
                } else if seg != "." {
                    out.push(seg);
                }
            }
            return out;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                existing = parent.to_path_buf();
            }
            _ => return crate::fsutil::lexical_absolute(&abs),
        }
    }
}

/// Whether a file could be created at `path`: its nearest existing ancestor
/// must be a directory we may write into (missing ones get created).
fn writable_dir_for(path: &Path) -> Result<(), String> {
    let mut dir = crate::fsutil::parent_dir(path).to_path_buf();
    loop {
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {
                return if access_w(&dir) {
                    Ok(())
                } else {
                    Err(format!("{} is not writable", dir.display()))
                };
            }
            Ok(_) => return Err(format!("{} is not a directory", dir.display())),
            Err(_) => match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => dir = p.to_path_buf(),
                _ => dir = PathBuf::from("."),
            },
        }
    }
}

fn access_w(dir: &Path) -> bool {
    let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparable_paths_normalize() {
        let t = tempfile::tempdir().unwrap();
        let a = comparable(&t.path().join("x/../y/./z.fsm"));
        let b = comparable(&t.path().join("y/z.fsm"));
        assert_eq!(a, b);
    }

    #[test]
    fn writable_checks_the_nearest_existing_ancestor() {
        let t = tempfile::tempdir().unwrap();
        assert!(writable_dir_for(&t.path().join("a/b/c.fsm")).is_ok());
        fs::write(t.path().join("file"), b"x").unwrap();
        let e = writable_dir_for(&t.path().join("file/c.fsm")).unwrap_err();
        assert!(e.contains("not a directory"), "{e}");
    }

    #[test]
    fn subtrees_use_the_encoder_mapping() {
        assert_eq!(subtree(AdapterKind::DynamoDb, "a/b"), "dynamodb/a%2Fb");
        assert_eq!(subtree(AdapterKind::Redis, "3"), "redis/db_3");
    }
}
