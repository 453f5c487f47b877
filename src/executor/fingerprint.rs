//! Resume: a job is up to date when its output exists and its sidecar's
//! `"ekvplan"` object records the fingerprint the job would record now.
//!
//! The fingerprint is SHA-256 over a versioned tag, the job's resolved
//! settings (as JSON), the input's MANIFEST.json and either its CHECKSUMS
//! file or, for a dump without one, a listing of every file's path, size and
//! modification time. Settings that cannot change the output bytes
//! (`memory_budget`, `scratch_root`) are left out so tuning them reruns
//! nothing.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::adapter::ScopeExclusions;
use crate::encode_info::EncodeInfo;
use crate::error::{Error, IoResultExt, Result};
use crate::fsutil;
use crate::job::{self, EncodeJob};
use crate::manifest;
use crate::tree::checksums;

pub const FINGERPRINT_VERSION: u32 = 1;

/// How the input's content entered the fingerprint.
pub const CONTENT_CHECKSUMS: &str = "checksums";
pub const CONTENT_TREE_METADATA: &str = "tree-metadata";

/// The plan-level settings of a job that shape its output and sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSettings {
    pub ekvplan_version: String,
    pub input: String,
    pub output: String,
    pub adapters: Vec<String>,
    pub last_commit_ts: Option<u64>,
    pub self_test: bool,
    pub exclude: Exclude,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclude {
    pub dynamodb_tables: Vec<String>,
    pub s3_buckets: Vec<String>,
    pub sqs_queues: Vec<String>,
    pub redis_databases: Vec<u32>,
}

impl Exclude {
    fn from_scope(e: &ScopeExclusions) -> Self {
        let mut x = Exclude {
            dynamodb_tables: e.dynamodb_tables.clone(),
            s3_buckets: e.s3_buckets.clone(),
            sqs_queues: e.sqs_queues.clone(),
            redis_databases: e.redis_databases.clone(),
        };
        x.dynamodb_tables.sort();
        x.dynamodb_tables.dedup();
        x.s3_buckets.sort();
        x.s3_buckets.dedup();
        x.sqs_queues.sort();
        x.sqs_queues.dedup();
        x.redis_databases.sort_unstable();
        x.redis_databases.dedup();
        x
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

impl JobSettings {
    pub fn of(job: &EncodeJob) -> Self {
        JobSettings {
            ekvplan_version: env!("CARGO_PKG_VERSION").to_string(),
            input: job.input_display.clone(),
            output: job.output_display.clone(),
            adapters: job.adapters.names().iter().map(|s| s.to_string()).collect(),
            last_commit_ts: job.last_commit_ts,
            self_test: job.self_test,
            exclude: Exclude::from_scope(&job.exclusions),
        }
    }
}

/// The `"ekvplan"` object ekvplan run adds to each sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidecarExtra {
    pub fingerprint_version: u32,
    pub fingerprint: String,
    /// `checksums` or `tree-metadata`.
    pub input_content: String,
    pub job_id: String,
    /// The input as an absolute path (for `verify --deep` of a lone .fsm).
    pub input_path: String,
    pub settings: JobSettings,
}

impl SidecarExtra {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("sidecar extra serializes")
    }

    /// The object from a parsed sidecar, if it has a readable one.
    pub fn from_info(info: &EncodeInfo) -> Option<SidecarExtra> {
        serde_json::from_slice(info.ekvplan.as_deref()?).ok()
    }
}

/// A computed fingerprint and what it covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub hex: String,
    pub input_content: &'static str,
}

/// Fingerprint `job` as it would run now.
pub fn compute(job: &EncodeJob) -> Result<Fingerprint> {
    let settings = JobSettings::of(job);
    let mut h = Sha256::new();
    h.update(format!("ekvplan-fingerprint/{FINGERPRINT_VERSION}\n").as_bytes());
    let json = serde_json::to_vec(&settings).expect("settings serialize");
    h.update((json.len() as u64).to_be_bytes());
    h.update(&json);
    let manifest = fsutil::read_input_file(&job.input.join(manifest::FILE_NAME))?;
    h.update(b"manifest\n");
    h.update(Sha256::digest(&manifest));
    let checksums_path = job.input.join(checksums::FILE_NAME);
    let input_content = match std::fs::symlink_metadata(&checksums_path) {
        Ok(m) if m.is_file() => {
            let bytes = fsutil::read_input_file(&checksums_path)?;
            h.update(b"checksums\n");
            h.update(Sha256::digest(&bytes));
            CONTENT_CHECKSUMS
        }
        Ok(_) => {
            return Err(Error::data_at(&checksums_path, "is not a regular file"));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            h.update(b"tree\n");
            h.update(tree_metadata_digest(&job.input)?);
            CONTENT_TREE_METADATA
        }
        Err(e) => return Err(Error::io_at(&checksums_path, "stat", e)),
    };
    Ok(Fingerprint {
        hex: hex::encode(h.finalize()),
        input_content,
    })
}

/// SHA-256 of (path, size, mtime) for every regular file under `root`.
fn tree_metadata_digest(root: &Path) -> Result<[u8; 32]> {
    let mut h = Sha256::new();
    for (rel, path) in checksums::list_regular_files(root)? {
        let m = std::fs::symlink_metadata(&path).io_at(&path, "stat")?;
        h.update((rel.len() as u64).to_be_bytes());
        h.update(&rel);
        h.update(m.len().to_be_bytes());
        h.update(m.mtime().to_be_bytes());
        h.update(m.mtime_nsec().to_be_bytes());
    }
    Ok(h.finalize().into())
}

/// The sidecar object for a job about to run.
pub fn sidecar_extra(id: &str, job: &EncodeJob, fp: &Fingerprint) -> SidecarExtra {
    let input_path = std::path::absolute(&job.input).unwrap_or_else(|_| job.input.clone());
    SidecarExtra {
        fingerprint_version: FINGERPRINT_VERSION,
        fingerprint: fp.hex.clone(),
        input_content: fp.input_content.to_string(),
        job_id: id.to_string(),
        input_path: input_path.display().to_string(),
        settings: JobSettings::of(job),
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
    Run(&'static str),
}

/// Compare an output's sidecar with the fingerprint the job has now.
pub fn check(job: &EncodeJob, fp: Option<&Fingerprint>) -> Freshness {
    let out_meta = match std::fs::symlink_metadata(&job.output) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Freshness::Run("output is not a regular file"),
        Err(_) => return Freshness::Run("no output yet"),
    };
    let sidecar = job::sidecar_path(&job.output);
    let info = match fsutil::read_input_file(&sidecar)
        .ok()
        .and_then(|b| EncodeInfo::parse(&b).ok())
    {
        Some(i) => i,
        None => return Freshness::Run("no readable sidecar"),
    };
    let Some(extra) = SidecarExtra::from_info(&info) else {
        return Freshness::Run("output not made by ekvplan run");
    };
    let Some(fp) = fp else {
        return Freshness::Run("input cannot be fingerprinted");
    };
    if extra.fingerprint_version != FINGERPRINT_VERSION || extra.fingerprint != fp.hex {
        return Freshness::Run(if extra.settings != JobSettings::of(job) {
            "settings or ekvplan version changed"
        } else {
            "input changed"
        });
    }
    if job.self_test && !(info.self_test_ran && info.self_test_matched) {
        return Freshness::Run("self-test did not pass last time");
    }
    if out_meta.len() < 16 {
        return Freshness::Run("output is truncated");
    }
    Freshness::UpToDate(Box::new(Existing {
        info,
        bytes: out_meta.len(),
    }))
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

    fn dump(dir: &Path) -> PathBuf {
        let input = dir.join("in");
        std::fs::create_dir_all(input.join("redis")).unwrap();
        std::fs::write(input.join("MANIFEST.json"), b"{\"format_version\":1}").unwrap();
        std::fs::write(input.join("redis/x"), b"1").unwrap();
        input
    }

    #[test]
    fn fingerprint_follows_settings_and_content_not_tuning() {
        let t = tempfile::tempdir().unwrap();
        let input = dump(t.path());
        let base = EncodeJob::new(&input, t.path().join("o.fsm"));
        let fp = compute(&base).unwrap();
        assert_eq!(fp.input_content, CONTENT_TREE_METADATA);
        assert_eq!(compute(&base).unwrap(), fp, "deterministic");

        let mut tuned = base.clone();
        tuned.memory_budget = 1 << 20;
        tuned.scratch_root = Some(t.path().join("s"));
        assert_eq!(compute(&tuned).unwrap(), fp);

        let mut j = base.clone();
        j.self_test = true;
        assert_ne!(compute(&j).unwrap(), fp);
        let mut j = base.clone();
        j.last_commit_ts = Some(9);
        assert_ne!(compute(&j).unwrap(), fp);
        let mut j = base.clone();
        j.adapters = AdapterSet::parse_encode_flag("redis").unwrap();
        assert_ne!(compute(&j).unwrap(), fp);
        let mut j = base.clone();
        j.exclusions.s3_buckets.push("b".into());
        assert_ne!(compute(&j).unwrap(), fp);

        // Exclusion order does not matter.
        let mut a = base.clone();
        a.exclusions.sqs_queues = vec!["q1".into(), "q2".into()];
        let mut b = base.clone();
        b.exclusions.sqs_queues = vec!["q2".into(), "q1".into()];
        assert_eq!(compute(&a).unwrap(), compute(&b).unwrap());

        // Content without CHECKSUMS: size change is seen.
        std::fs::write(input.join("redis/x"), b"22").unwrap();
        assert_ne!(compute(&base).unwrap(), fp);

        // With CHECKSUMS, its bytes stand for the content.
        std::fs::write(input.join("CHECKSUMS"), b"abc  redis/x\n").unwrap();
        let c1 = compute(&base).unwrap();
        assert_eq!(c1.input_content, CONTENT_CHECKSUMS);
        std::fs::write(input.join("CHECKSUMS"), b"abd  redis/x\n").unwrap();
        assert_ne!(compute(&base).unwrap(), c1);

        std::fs::write(input.join("MANIFEST.json"), b"{\"format_version\":1 }").unwrap();
        assert!(compute(&base).is_ok());
        std::fs::remove_file(input.join("MANIFEST.json")).unwrap();
        assert!(compute(&base).is_err());
    }

    #[test]
    fn extra_round_trips_through_the_sidecar() {
        let t = tempfile::tempdir().unwrap();
        let input = dump(t.path());
        let job = EncodeJob::new(&input, t.path().join("o.fsm"));
        let fp = compute(&job).unwrap();
        let extra = sidecar_extra("id<&>", &job, &fp);
        let info = EncodeInfo {
            ekvplan: Some(extra.to_json()),
            ..Default::default()
        };
        let bytes = info.to_bytes();
        let back = EncodeInfo::parse(&bytes).unwrap();
        assert_eq!(SidecarExtra::from_info(&back).unwrap(), extra);
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
