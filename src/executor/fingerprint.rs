//! Resume: a job is up to date when its output exists and its sidecar's
//! `"ekvplan"` object records the fingerprint the job would record now.
//!
//! The fingerprint is SHA-256 over a versioned tag, ekvplan's version, the
//! job's settings ([`JobSettings`], paths as the plan names them, relative
//! to the plan file) and a digest of the input's content: its MANIFEST.json
//! and either its CHECKSUMS file or, for a dump without one, a listing of
//! every file's relative path, size and modification time; for a dump
//! archive, the archive's bytes. Nothing in it
//! depends on the working directory or on where the checkout lies, so a plan
//! moved together with its dumps and outputs stays up to date.
//!
//! The sidecar keeps each part, so when the fingerprints differ the reason
//! names what changed: which setting, which part of the input, or the
//! version.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::adapter::CancelToken;
use crate::archive::Compression;
use crate::archive::input as archive_input;
use crate::encode_info::EncodeInfo;
use crate::error::{Error, IoResultExt, Result};
use crate::fsutil;
use crate::job;
use crate::manifest;
use crate::plan::{JobSettings, ResolvedJob};
use crate::tree::checksums;

pub const FINGERPRINT_VERSION: u32 = 2;

/// How the input's content entered the fingerprint.
pub const CONTENT_CHECKSUMS: &str = "checksums";
pub const CONTENT_TREE_METADATA: &str = "tree-metadata";
pub const CONTENT_ARCHIVE: &str = "archive";

/// What the fingerprint knows of the input's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InputDigest {
    /// SHA-256 of MANIFEST.json.
    pub manifest_sha256: String,
    /// `checksums` (the CHECKSUMS file stands for the content),
    /// `tree-metadata` (every file's relative path, size and mtime) or
    /// `archive` (the dump archive's bytes).
    pub content: String,
    /// SHA-256 of the CHECKSUMS file, of the tree listing, or of the
    /// archive file.
    pub content_sha256: String,
}

/// A computed fingerprint and what went into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub hex: String,
    pub ekvplan_version: String,
    pub settings: JobSettings,
    pub input: InputDigest,
}

fn digest(version: &str, settings: &JobSettings, input: &InputDigest) -> String {
    let mut h = Sha256::new();
    h.update(format!("ekvplan-fingerprint/{FINGERPRINT_VERSION}\n").as_bytes());
    let mut field = |name: &str, bytes: &[u8]| {
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field("version", version.as_bytes());
    field(
        "settings",
        &serde_json::to_vec(settings).expect("settings serialize"),
    );
    field(
        "input",
        &serde_json::to_vec(input).expect("digest serializes"),
    );
    hex::encode(h.finalize())
}

/// Fingerprint a job as it would run now.
pub fn compute(rj: &ResolvedJob) -> Result<Fingerprint> {
    let input = match rj.input_format.compression() {
        None => input_digest(&rj.job.input)?,
        Some(c) => archive_digest(&rj.job.input, c)?,
    };
    Ok(with_input(rj, input))
}

/// The fingerprint of `rj` with the input digest given.
pub fn with_input(rj: &ResolvedJob, input: InputDigest) -> Fingerprint {
    let ekvplan_version = env!("CARGO_PKG_VERSION").to_string();
    let settings = rj.settings();
    Fingerprint {
        hex: digest(&ekvplan_version, &settings, &input),
        ekvplan_version,
        settings,
        input,
    }
}

/// A dump archive's digest: its MANIFEST.json (read from the archive) and
/// the SHA-256 of the archive file's bytes.
fn archive_digest(path: &Path, compression: Compression) -> Result<InputDigest> {
    let manifest =
        archive_input::peek_manifest_bytes(path, compression).map_err(|e| e.into_error(path))?;
    let content = archive_input::content_digest(path, &CancelToken::new())?;
    Ok(archive_input_digest(&manifest, &content))
}

/// The digest of an archive whose MANIFEST.json and file digest are known.
pub fn archive_input_digest(manifest: &[u8], archive_sha256: &[u8; 32]) -> InputDigest {
    InputDigest {
        manifest_sha256: hex::encode(Sha256::digest(manifest)),
        content: CONTENT_ARCHIVE.to_string(),
        content_sha256: hex::encode(archive_sha256),
    }
}

fn input_digest(root: &Path) -> Result<InputDigest> {
    let manifest = fsutil::read_input_file(&root.join(manifest::FILE_NAME))?;
    let manifest_sha256 = hex::encode(Sha256::digest(&manifest));
    let checksums_path = root.join(checksums::FILE_NAME);
    let (content, content_sha256) = match std::fs::symlink_metadata(&checksums_path) {
        Ok(m) if m.is_file() => {
            let bytes = fsutil::read_input_file(&checksums_path)?;
            (CONTENT_CHECKSUMS, hex::encode(Sha256::digest(&bytes)))
        }
        Ok(_) => {
            return Err(Error::data_at(&checksums_path, "is not a regular file"));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
            CONTENT_TREE_METADATA,
            hex::encode(tree_metadata_digest(root)?),
        ),
        Err(e) => return Err(Error::io_at(&checksums_path, "stat", e)),
    };
    Ok(InputDigest {
        manifest_sha256,
        content: content.to_string(),
        content_sha256,
    })
}

/// SHA-256 of (relative path, size, mtime) for every regular file under
/// `root` but MANIFEST.json (digested on its own).
fn tree_metadata_digest(root: &Path) -> Result<[u8; 32]> {
    let mut h = Sha256::new();
    for (rel, path) in checksums::list_regular_files(root)? {
        if rel == manifest::FILE_NAME.as_bytes() {
            continue;
        }
        let m = std::fs::symlink_metadata(&path).io_at(&path, "stat")?;
        h.update((rel.len() as u64).to_be_bytes());
        h.update(&rel);
        h.update(m.len().to_be_bytes());
        h.update(m.mtime().to_be_bytes());
        h.update(m.mtime_nsec().to_be_bytes());
    }
    Ok(h.finalize().into())
}

/// The `"ekvplan"` object `ekvplan run` adds to each sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidecarExtra {
    pub fingerprint_version: u32,
    pub fingerprint: String,
    pub ekvplan_version: String,
    pub job_id: String,
    pub settings: JobSettings,
    pub input_digest: InputDigest,
    /// The input relative to the output's directory: still right after the
    /// plan, its dumps and its outputs moved together.
    pub input_from_output: String,
    /// The input as an absolute path when the output was made.
    pub input_path: String,
}

/// What an output's sidecar says about how it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// No `"ekvplan"` object: made by `ekvplan encode` or upstream.
    NotByRun,
    /// An object of another fingerprint version (or unreadable).
    OtherVersion(Option<u32>),
    Current(Box<SidecarExtra>),
}

impl Recorded {
    pub fn of(info: &EncodeInfo) -> Recorded {
        let Some(raw) = info.ekvplan.as_deref() else {
            return Recorded::NotByRun;
        };
        #[derive(Deserialize)]
        struct Version {
            fingerprint_version: Option<u32>,
        }
        let v = serde_json::from_slice::<Version>(raw)
            .ok()
            .and_then(|v| v.fingerprint_version);
        if v != Some(FINGERPRINT_VERSION) {
            return Recorded::OtherVersion(v);
        }
        match serde_json::from_slice::<SidecarExtra>(raw) {
            Ok(x) => Recorded::Current(Box::new(x)),
            Err(_) => Recorded::OtherVersion(v),
        }
    }

    pub fn current(&self) -> Option<&SidecarExtra> {
        match self {
            Recorded::Current(x) => Some(x),
            _ => None,
        }
    }
}

impl SidecarExtra {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("sidecar extra serializes")
    }

    /// The object for a job about to run.
    pub fn new(rj: &ResolvedJob, fp: &Fingerprint) -> SidecarExtra {
        let input_abs = fsutil::lexical_absolute(&rj.job.input);
        let output_abs = fsutil::lexical_absolute(&rj.job.output);
        let out_dir = output_abs.parent().unwrap_or(Path::new("/"));
        SidecarExtra {
            fingerprint_version: FINGERPRINT_VERSION,
            fingerprint: fp.hex.clone(),
            ekvplan_version: fp.ekvplan_version.clone(),
            job_id: rj.id.clone(),
            settings: fp.settings.clone(),
            input_digest: fp.input.clone(),
            input_from_output: relative_path(out_dir, &input_abs).display().to_string(),
            input_path: input_abs.display().to_string(),
        }
    }

    /// Where the input most likely is now, for an output found at `output`:
    /// beside it as recorded, else where it was.
    pub fn locate_input(&self, output: &Path) -> PathBuf {
        let beside = fsutil::parent_dir(output).join(&self.input_from_output);
        let found = if self.input_digest.content == CONTENT_ARCHIVE {
            beside.is_file()
        } else {
            beside.join(manifest::FILE_NAME).is_file()
        };
        if found {
            beside
        } else {
            PathBuf::from(&self.input_path)
        }
    }
}

/// The path from directory `from` to `to` (both absolute and clean).
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// One setting that differs between the sidecar and the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingChange {
    pub name: &'static str,
    pub was: String,
    pub now: String,
}

/// What differs between an output's recorded fingerprint and the job's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub version: Option<(String, String)>,
    pub settings: Vec<SettingChange>,
    /// `MANIFEST.json`, `CHECKSUMS`, or the file listing.
    pub input: Vec<&'static str>,
}

impl Changes {
    pub fn between(recorded: &SidecarExtra, now: &Fingerprint) -> Changes {
        let mut c = Changes::default();
        if recorded.ekvplan_version != now.ekvplan_version {
            c.version = Some((
                recorded.ekvplan_version.clone(),
                now.ekvplan_version.clone(),
            ));
        }
        fn list<T: ToString>(v: &[T]) -> String {
            let items: Vec<String> = v.iter().map(T::to_string).collect();
            format!("[{}]", items.join(", "))
        }
        type Show = fn(&JobSettings) -> String;
        const SHOWN: &[(&str, Show)] = &[
            ("input", |s| s.input.clone()),
            ("output", |s| s.output.clone()),
            ("adapters", |s| s.adapters.join(",")),
            ("last_commit_ts", |s| {
                s.last_commit_ts
                    .map_or_else(|| "the manifest's".to_string(), |t| t.to_string())
            }),
            ("self_test", |s| s.self_test.to_string()),
            ("exclude.dynamodb.tables", |s| {
                list(&s.exclude.dynamodb_tables)
            }),
            ("exclude.s3.buckets", |s| list(&s.exclude.s3_buckets)),
            ("exclude.sqs.queues", |s| list(&s.exclude.sqs_queues)),
            ("exclude.redis.databases", |s| {
                list(&s.exclude.redis_databases)
            }),
        ];
        for (name, show) in SHOWN {
            let was = show(&recorded.settings);
            let is = show(&now.settings);
            if was != is {
                c.settings.push(SettingChange { name, was, now: is });
            }
        }
        let (ri, ni) = (&recorded.input_digest, &now.input);
        if ri.manifest_sha256 != ni.manifest_sha256 {
            c.input.push("MANIFEST.json");
        }
        if ri.content != ni.content
            && (ri.content == CONTENT_ARCHIVE || ni.content == CONTENT_ARCHIVE)
        {
            c.input.push(if ni.content == CONTENT_ARCHIVE {
                "became a dump archive"
            } else {
                "no longer a dump archive"
            });
        } else if ri.content != ni.content {
            c.input.push(if ni.content == CONTENT_CHECKSUMS {
                "CHECKSUMS (added)"
            } else {
                "CHECKSUMS (removed)"
            });
        } else if ri.content_sha256 != ni.content_sha256 {
            c.input.push(if ni.content == CONTENT_CHECKSUMS {
                "CHECKSUMS"
            } else if ni.content == CONTENT_ARCHIVE {
                "archive bytes"
            } else {
                "files (added, removed, resized or modified)"
            });
        }
        c
    }
}

/// Why a job runs, or that it does not need to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    UpToDate,
    Forced,
    NoOutput,
    OutputNotRegular,
    OutputTruncated,
    SidecarUnreadable,
    NotMadeByRun,
    /// The sidecar's fingerprint has another format version.
    OtherFingerprintVersion(Option<u32>),
    /// The input cannot be fingerprinted (the message says why).
    InputUnreadable(String),
    Changed(Changes),
    SelfTestFailedLastTime,
}

impl Reason {
    /// A stable identifier (the `reason_code` of reports).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::UpToDate => "up_to_date",
            Reason::Forced => "forced",
            Reason::NoOutput => "no_output",
            Reason::OutputNotRegular => "output_not_regular",
            Reason::OutputTruncated => "output_truncated",
            Reason::SidecarUnreadable => "sidecar_unreadable",
            Reason::NotMadeByRun => "not_made_by_run",
            Reason::OtherFingerprintVersion(_) => "fingerprint_version_changed",
            Reason::InputUnreadable(_) => "input_unreadable",
            Reason::Changed(c) if !c.input.is_empty() => "input_changed",
            Reason::Changed(c) if !c.settings.is_empty() => "settings_changed",
            Reason::Changed(_) => "version_changed",
            Reason::SelfTestFailedLastTime => "self_test_failed_last_time",
        }
    }

    /// Every code [`Reason::code`] can return (for the report schemas).
    pub const CODES: &'static [&'static str] = &[
        "up_to_date",
        "forced",
        "no_output",
        "output_not_regular",
        "output_truncated",
        "sidecar_unreadable",
        "not_made_by_run",
        "fingerprint_version_changed",
        "input_unreadable",
        "input_changed",
        "settings_changed",
        "version_changed",
        "self_test_failed_last_time",
        "not_started",
    ];
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::UpToDate => f.write_str("fingerprint matches"),
            Reason::Forced => f.write_str("forced"),
            Reason::NoOutput => f.write_str("no output yet"),
            Reason::OutputNotRegular => f.write_str("output is not a regular file"),
            Reason::OutputTruncated => f.write_str("output is truncated"),
            Reason::SidecarUnreadable => f.write_str("no readable sidecar"),
            Reason::NotMadeByRun => f.write_str("output not made by ekvplan run"),
            Reason::OtherFingerprintVersion(v) => write!(
                f,
                "the sidecar's fingerprint has format {} (this ekvplan writes {FINGERPRINT_VERSION})",
                v.map_or_else(|| "?".to_string(), |v| v.to_string())
            ),
            Reason::InputUnreadable(e) => write!(f, "input cannot be fingerprinted: {e}"),
            Reason::Changed(c) => {
                let mut parts = Vec::new();
                if !c.input.is_empty() {
                    parts.push(format!("input changed: {}", c.input.join(", ")));
                }
                for s in &c.settings {
                    parts.push(format!("{} changed ({} -> {})", s.name, s.was, s.now));
                }
                if let Some((was, now)) = &c.version {
                    parts.push(format!("ekvplan version changed ({was} -> {now})"));
                }
                if parts.is_empty() {
                    parts.push("fingerprint differs".into());
                }
                f.write_str(&parts.join("; "))
            }
            Reason::SelfTestFailedLastTime => f.write_str("self-test did not pass last time"),
        }
    }
}

/// What an existing output's sidecar says.
#[derive(Debug, Clone)]
pub struct Existing {
    pub info: EncodeInfo,
    pub bytes: u64,
}

/// Why a job runs, or the output that makes it up to date.
#[derive(Debug, Clone)]
pub enum Freshness {
    UpToDate(Box<Existing>),
    Run(Reason),
}

/// Read an output's sidecar, if it parses.
pub fn read_sidecar(output: &Path) -> Option<EncodeInfo> {
    fsutil::read_input_file(&job::sidecar_path(output))
        .ok()
        .and_then(|b| EncodeInfo::parse(&b).ok())
}

/// Why the output recorded in `info` no longer matches the job as it is
/// now (`None`: it matches).
pub fn stale_reason(
    info: &EncodeInfo,
    now: std::result::Result<&Fingerprint, &str>,
) -> Option<Reason> {
    let extra = match Recorded::of(info) {
        Recorded::NotByRun => return Some(Reason::NotMadeByRun),
        Recorded::OtherVersion(v) => return Some(Reason::OtherFingerprintVersion(v)),
        Recorded::Current(x) => x,
    };
    let fp = match now {
        Ok(fp) => fp,
        Err(e) => return Some(Reason::InputUnreadable(e.to_string())),
    };
    (extra.fingerprint != fp.hex).then(|| Reason::Changed(Changes::between(&extra, fp)))
}

/// Compare an output and its sidecar with the fingerprint the job has now.
pub fn check(rj: &ResolvedJob, fp: std::result::Result<&Fingerprint, &str>) -> Freshness {
    let out_meta = match std::fs::symlink_metadata(&rj.job.output) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Freshness::Run(Reason::OutputNotRegular),
        Err(_) => return Freshness::Run(Reason::NoOutput),
    };
    let Some(info) = read_sidecar(&rj.job.output) else {
        return Freshness::Run(Reason::SidecarUnreadable);
    };
    if let Some(r) = stale_reason(&info, fp) {
        return Freshness::Run(r);
    }
    if rj.job.self_test && !(info.self_test_ran && info.self_test_matched) {
        return Freshness::Run(Reason::SelfTestFailedLastTime);
    }
    if out_meta.len() < 16 {
        return Freshness::Run(Reason::OutputTruncated);
    }
    Freshness::UpToDate(Box::new(Existing {
        info,
        bytes: out_meta.len(),
    }))
}

/// Total size of the regular files under `root` (for progress estimates).
pub fn input_bytes(root: &Path) -> Option<u64> {
    let files = checksums::list_regular_files(root).ok()?;
    Some(
        files
            .iter()
            .filter_map(|(_, p)| std::fs::symlink_metadata(p).ok())
            .map(|m| m.len())
            .sum(),
    )
}

/// `<output>.tmp-<16 lowercase hex>`: the encoder's temp names.
pub fn is_own_temp_name(output_file_name: &[u8], candidate: &[u8]) -> bool {
    let Some(rest) = candidate.strip_prefix(output_file_name) else {
        return false;
    };
    let Some(hex) = rest.strip_prefix(b".tmp-") else {
        return false;
    };
    hex.len() == 16 && hex.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// Remove temp files an interrupted or killed earlier encode of `output`
/// left beside it. Returns what was removed.
pub fn remove_stale_temps(output: &Path) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let Some(name) = output.file_name() else {
        return Vec::new();
    };
    let dir = fsutil::parent_dir(output);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for ent in rd.flatten() {
        if !is_own_temp_name(name.as_bytes(), ent.file_name().as_bytes()) {
            continue;
        }
        let is_file = ent
            .file_type()
            .map(|t| t.is_file() || t.is_symlink())
            .unwrap_or(false);
        if is_file && std::fs::remove_file(ent.path()).is_ok() {
            removed.push(ent.path());
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::AdapterSet;
    use crate::job::EncodeJob;

    fn dump(dir: &Path) -> PathBuf {
        let input = dir.join("in");
        std::fs::create_dir_all(input.join("redis")).unwrap();
        std::fs::write(input.join("MANIFEST.json"), b"{\"format_version\":1}").unwrap();
        std::fs::write(input.join("redis/x"), b"1").unwrap();
        input
    }

    fn rj(job: EncodeJob) -> ResolvedJob {
        ResolvedJob::new("j", job)
    }

    #[test]
    fn fingerprint_follows_settings_and_content_not_tuning() {
        let t = tempfile::tempdir().unwrap();
        let input = dump(t.path());
        let base = EncodeJob::new(&input, t.path().join("o.fsm"));
        let fp = compute(&rj(base.clone())).unwrap();
        assert_eq!(fp.input.content, CONTENT_TREE_METADATA);
        assert_eq!(compute(&rj(base.clone())).unwrap(), fp, "deterministic");

        let mut tuned = base.clone();
        tuned.memory_budget = 1 << 20;
        tuned.scratch_root = Some(t.path().join("s"));
        assert_eq!(compute(&rj(tuned)).unwrap(), fp);

        let changed = |j: EncodeJob| compute(&rj(j)).unwrap().hex != fp.hex;
        let mut j = base.clone();
        j.self_test = true;
        assert!(changed(j));
        let mut j = base.clone();
        j.last_commit_ts = Some(9);
        assert!(changed(j));
        let mut j = base.clone();
        j.adapters = AdapterSet::parse_encode_flag("redis").unwrap();
        assert!(changed(j));
        let mut j = base.clone();
        j.exclusions.s3_buckets.push("b".into());
        assert!(changed(j));

        // Exclusion order does not matter.
        let mut a = base.clone();
        a.exclusions.sqs_queues = vec!["q1".into(), "q2".into()];
        let mut b = base.clone();
        b.exclusions.sqs_queues = vec!["q2".into(), "q1".into()];
        assert_eq!(compute(&rj(a)).unwrap(), compute(&rj(b)).unwrap());

        // Content without CHECKSUMS: size change is seen.
        std::fs::write(input.join("redis/x"), b"22").unwrap();
        assert_ne!(compute(&rj(base.clone())).unwrap().hex, fp.hex);

        // With CHECKSUMS, its bytes stand for the content.
        std::fs::write(input.join("CHECKSUMS"), b"abc  redis/x\n").unwrap();
        let c1 = compute(&rj(base.clone())).unwrap();
        assert_eq!(c1.input.content, CONTENT_CHECKSUMS);
        std::fs::write(input.join("CHECKSUMS"), b"abd  redis/x\n").unwrap();
        assert_ne!(compute(&rj(base.clone())).unwrap(), c1);

        std::fs::remove_file(input.join("MANIFEST.json")).unwrap();
        assert!(compute(&rj(base)).is_err());
    }

    #[test]
    fn an_archive_input_is_fingerprinted_by_its_bytes() {
        let t = tempfile::tempdir().unwrap();
        let dump = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dumps/cluster-1");
        let a = t.path().join("c1.tar");
        crate::archive::pack::pack_to_path(
            &dump,
            a.to_str().unwrap(),
            Compression::None,
            &CancelToken::new(),
        )
        .unwrap();
        let mut job = rj(EncodeJob::new(&a, t.path().join("o.fsm")));
        job.input_in_plan = "c1.tar".into();
        let fp = compute(&job).unwrap();
        assert_eq!(fp.input.content, CONTENT_ARCHIVE);
        assert_eq!(
            fp.input.content_sha256,
            hex::encode(checksums::sha256_file(&a).unwrap())
        );
        assert_eq!(
            fp.input.manifest_sha256,
            hex::encode(Sha256::digest(
                std::fs::read(dump.join("MANIFEST.json")).unwrap()
            ))
        );
        let extra = SidecarExtra::new(&job, &fp);
        // Times and place do not count.
        let f = std::fs::File::options().write(true).open(&a).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        drop(f);
        let moved = t.path().join("elsewhere/c1.tar");
        std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
        std::fs::rename(&a, &moved).unwrap();
        let mut there = rj(EncodeJob::new(&moved, t.path().join("o.fsm")));
        there.input_in_plan = "c1.tar".into();
        assert_eq!(compute(&there).unwrap(), fp);
        // Bytes do.
        let mut bytes = std::fs::read(&moved).unwrap();
        bytes.extend_from_slice(&[0; 512]);
        std::fs::write(&moved, bytes).unwrap();
        let r = Reason::Changed(Changes::between(&extra, &compute(&there).unwrap()));
        assert_eq!(r.to_string(), "input changed: archive bytes");
        // The same dump as a tree is another kind of input.
        let tree = rj(EncodeJob::new(&dump, t.path().join("o.fsm")));
        let mut as_tree = tree.clone();
        as_tree.input_in_plan = "c1.tar".into();
        let r = Reason::Changed(Changes::between(&extra, &compute(&as_tree).unwrap()));
        assert_eq!(r.to_string(), "input changed: no longer a dump archive");
    }

    #[test]
    fn fingerprint_ignores_where_the_job_lives_on_disk() {
        let t = tempfile::tempdir().unwrap();
        let job_in = |root: &Path| {
            let mut j = rj(EncodeJob::new(root.join("in"), root.join("out/o.fsm")));
            j.input_in_plan = "in".into();
            j.output_in_plan = "out/o.fsm".into();
            j
        };
        let before = t.path().join("before");
        dump(&before);
        let fp = compute(&job_in(&before)).unwrap();
        // The whole directory moves (mtimes are kept by a rename).
        let after = t.path().join("moved/elsewhere");
        std::fs::create_dir_all(after.parent().unwrap()).unwrap();
        std::fs::rename(&before, &after).unwrap();
        assert_eq!(compute(&job_in(&after)).unwrap(), fp);
    }

    #[test]
    fn reasons_name_what_changed() {
        let t = tempfile::tempdir().unwrap();
        let input = dump(t.path());
        let job = rj(EncodeJob::new(&input, t.path().join("o.fsm")));
        let fp = compute(&job).unwrap();
        let extra = SidecarExtra::new(&job, &fp);

        let mut j2 = job.clone();
        j2.job.self_test = true;
        j2.job.exclusions.dynamodb_tables = vec!["users".into()];
        let r = Reason::Changed(Changes::between(&extra, &compute(&j2).unwrap()));
        assert_eq!(r.code(), "settings_changed");
        assert_eq!(
            r.to_string(),
            "self_test changed (false -> true); exclude.dynamodb.tables changed ([] -> [users])"
        );

        std::fs::write(input.join("MANIFEST.json"), b"{\"format_version\":1 }").unwrap();
        let r = Reason::Changed(Changes::between(&extra, &compute(&job).unwrap()));
        assert_eq!(r.code(), "input_changed");
        assert_eq!(r.to_string(), "input changed: MANIFEST.json");

        let mut older = extra.clone();
        older.ekvplan_version = "0.0.9".into();
        older.input_digest = compute(&job).unwrap().input;
        let r = Reason::Changed(Changes::between(&older, &compute(&job).unwrap()));
        assert_eq!(r.code(), "version_changed");
        assert!(r.to_string().contains("0.0.9 -> "), "{r}");
    }

    #[test]
    fn extra_round_trips_through_the_sidecar() {
        let t = tempfile::tempdir().unwrap();
        let input = dump(t.path());
        let job = rj(EncodeJob::new(&input, t.path().join("out/o.fsm")));
        std::fs::create_dir_all(t.path().join("out")).unwrap();
        let fp = compute(&job).unwrap();
        let extra = SidecarExtra::new(&job, &fp);
        assert_eq!(extra.input_from_output, "../in");
        let info = EncodeInfo {
            ekvplan: Some(extra.to_json()),
            ..Default::default()
        };
        let back = EncodeInfo::parse(&info.to_bytes()).unwrap();
        assert_eq!(
            Recorded::of(&back),
            Recorded::Current(Box::new(extra.clone()))
        );
        assert_eq!(stale_reason(&back, Ok(&fp)), None);
        assert_eq!(
            extra.locate_input(&t.path().join("out/o.fsm")),
            t.path().join("out/../in")
        );
        let v1 = EncodeInfo {
            ekvplan: Some(br#"{"fingerprint_version":1,"fingerprint":"ab"}"#.to_vec()),
            ..Default::default()
        };
        assert_eq!(
            stale_reason(&v1, Ok(&fp)).unwrap().code(),
            "fingerprint_version_changed"
        );
        assert_eq!(
            stale_reason(&EncodeInfo::default(), Ok(&fp)),
            Some(Reason::NotMadeByRun)
        );
    }

    #[test]
    fn relative_paths() {
        let r = |a: &str, b: &str| {
            relative_path(Path::new(a), Path::new(b))
                .display()
                .to_string()
        };
        assert_eq!(r("/a/out", "/a/dumps/x"), "../dumps/x");
        assert_eq!(r("/a", "/a/x"), "x");
        assert_eq!(r("/a/b", "/a/b"), ".");
    }

    #[test]
    fn own_temp_names() {
        assert!(is_own_temp_name(b"a.fsm", b"a.fsm.tmp-0123456789abcdef"));
        assert!(!is_own_temp_name(b"a.fsm", b"a.fsm.tmp-0123456789ABCDEF"));
        assert!(!is_own_temp_name(b"a.fsm", b"a.fsm.tmp-0123"));
        assert!(!is_own_temp_name(b"a.fsm", b"b.fsm.tmp-0123456789abcdef"));
        assert!(!is_own_temp_name(b"a.fsm", b"a.fsm"));
        assert!(!is_own_temp_name(b"a", b"ab.tmp-0123456789abcdef"));
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("a.fsm");
        std::fs::write(t.path().join("a.fsm.tmp-0123456789abcdef"), b"x").unwrap();
        std::fs::write(t.path().join("a.fsm.tmp-keep"), b"x").unwrap();
        std::fs::write(t.path().join("b.fsm.tmp-0123456789abcdef"), b"x").unwrap();
        assert_eq!(remove_stale_temps(&out).len(), 1);
        assert!(t.path().join("a.fsm.tmp-keep").exists());
        assert!(t.path().join("b.fsm.tmp-0123456789abcdef").exists());
    }
}
