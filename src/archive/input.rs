//! Archives as encode inputs: what a plan needs from a `.tar`/`.tar.zst`
//! dump without unpacking it (its MANIFEST.json, the subtrees it holds, a
//! digest of its bytes), and staging it into a job's scratch directory with
//! upstream's unpack rules and budget when the job runs.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::unpack::{
    self, clean_name, open_archive_file, open_stream, read_error, type_description,
};
use super::{Compression, Limits, Problem, UnpackStats};
use crate::adapter::CancelToken;
use crate::error::{Error, IoResultExt, Result};
use crate::manifest::{self, Manifest};
use crate::tree::checksums;

/// Largest MANIFEST.json read from an archive (upstream's are a few KiB).
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// How a job's input is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// A dump tree (a directory holding MANIFEST.json).
    Dir,
    /// A dump archive.
    Archive(Compression),
}

impl InputFormat {
    /// The plan's `input_format` values.
    pub const NAMES: [&'static str; 4] = ["dir", "tar", "tar.zst", "tar.zstd"];

    pub fn parse(s: &str) -> Option<InputFormat> {
        match s {
            "dir" => Some(InputFormat::Dir),
            "tar" => Some(InputFormat::Archive(Compression::None)),
            "tar.zst" | "tar.zstd" => Some(InputFormat::Archive(Compression::Zstd)),
            _ => None,
        }
    }

    /// By extension: `.tar`, `.tar.zst`, `.tar.zstd` are archives, anything
    /// else a directory.
    pub fn detect(path: &Path) -> InputFormat {
        Compression::from_path(path).map_or(InputFormat::Dir, InputFormat::Archive)
    }

    pub fn compression(self) -> Option<Compression> {
        match self {
            InputFormat::Dir => None,
            InputFormat::Archive(c) => Some(c),
        }
    }
}

/// Walk the archive's entries in order with upstream's per-entry rules
/// (safe names, only directories and regular files, no repeated path),
/// handing each cleaned regular-file name and its reader to `f` until it
/// returns `Some`.
fn scan<T>(
    path: &Path,
    compression: Compression,
    mut f: impl FnMut(&[u8], bool, &mut dyn Read, u64) -> Result<Option<T>>,
) -> Result<Option<T>> {
    let file = open_archive_file(path)?;
    let mut stream = open_stream(file, compression)?;
    let failed = stream.failed.clone();
    let mut archive = tar::Archive::new(&mut stream.reader);
    let entries = archive
        .entries()
        .map_err(|e| read_error(failed.get(), e, "start of archive"))?;
    let mut seen = std::collections::HashSet::new();
    let mut count = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(|e| read_error(failed.get(), e, "reading a header"))?;
        count += 1;
        if count > super::MAX_ENTRIES {
            return Err(Problem::Budget.error(format!("more than {} entries", super::MAX_ENTRIES)));
        }
        let raw = entry.path_bytes().into_owned();
        let flag = entry.header().as_bytes()[156];
        let is_dir = flag == b'5' || (flag == 0 && raw.ends_with(b"/"));
        let is_file = !is_dir && (flag == b'0' || flag == 0);
        let Some(rel) = clean_name(&raw)? else {
            continue;
        };
        if !is_dir && !is_file {
            return Err(
                Problem::NonRegular.at_entry(&raw, format!("is {}", type_description(flag)))
            );
        }
        if !seen.insert(rel.clone()) {
            return Err(Problem::Duplicate.at_entry(&raw, "listed twice"));
        }
        let size = entry.size();
        if let Some(v) = f(&rel, is_dir, &mut entry, size)? {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// MANIFEST.json read from the archive (it is among the first entries of
/// a sorted archive, so this stops early) and checked as the encoder does.
pub fn peek_manifest(path: &Path, compression: Compression) -> Result<Manifest> {
    let found = scan(path, compression, |rel, is_dir, r, size| {
        if is_dir || rel != manifest::FILE_NAME.as_bytes() {
            return Ok(None);
        }
        if size > MAX_MANIFEST_BYTES {
            return Err(Error::data(format!(
                "{}: MANIFEST.json is {size} bytes (more than {MAX_MANIFEST_BYTES})",
                path.display()
            )));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        r.take(size)
            .read_to_end(&mut bytes)
            .map_err(|e| Problem::Truncated.at_entry(rel, format!("cannot read it: {e}")))?;
        if bytes.len() as u64 != size {
            return Err(Problem::Truncated.at_entry(rel, "stream ends inside it"));
        }
        Ok(Some(bytes))
    })
    .map_err(|e| e.context(path.display()))?;
    let Some(bytes) = found else {
        return Err(Error::data(format!(
            "{}: the archive has no MANIFEST.json",
            path.display()
        )));
    };
    Manifest::parse(&bytes)
        .map_err(|e| Error::data(format!("{}: {}: {e}", path.display(), manifest::FILE_NAME)))
}

/// The `<adapter>/<name>` subtrees the archive holds (the first two path
/// levels under each adapter directory), for scope-exclusion checks. Reads
/// every header, so it costs one pass of decompression.
pub fn subtrees(path: &Path, compression: Compression) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    scan::<()>(path, compression, |rel, _, _, _| {
        let mut parts = rel.splitn(3, |&c| c == b'/');
        if let (Some(a), Some(b)) = (parts.next(), parts.next()) {
            if ["redis", "dynamodb", "s3", "sqs"]
                .iter()
                .any(|n| n.as_bytes() == a)
            {
                out.insert(format!(
                    "{}/{}",
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b)
                ));
            }
        }
        Ok(None)
    })
    .map_err(|e| e.context(path.display()))?;
    Ok(out)
}

/// SHA-256 of the archive's bytes: a job's input content for its resume
/// fingerprint.
pub fn content_digest(path: &Path) -> Result<[u8; 32]> {
    open_archive_file(path)?;
    checksums::sha256_file(path)
}

/// An archive unpacked into a job's scratch space; removed when dropped.
#[derive(Debug)]
pub struct Staged {
    dir: Option<PathBuf>,
    pub stats: UnpackStats,
}

impl Staged {
    /// The unpacked dump tree (holds MANIFEST.json).
    pub fn path(&self) -> &Path {
        self.dir.as_deref().expect("staged directory")
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            unpack::remove_tree(&d);
        }
    }
}

/// Unpack `path` into a new directory under `scratch_base` with upstream's
/// rules and budget, verified (MANIFEST.json, CHECKSUMS, every file listed).
pub fn stage(
    path: &Path,
    compression: Compression,
    scratch_base: &Path,
    cancel: &CancelToken,
) -> Result<Staged> {
    crate::fsutil::create_dir_all(scratch_base)?;
    let dir = tempfile::Builder::new()
        .prefix("ekvplan-archive-")
        .tempdir_in(scratch_base)
        .io_at(scratch_base, "create scratch directory in")?
        .keep();
    let mut staged = Staged {
        dir: Some(dir),
        stats: UnpackStats::default(),
    };
    let file = open_archive_file(path)?;
    staged.stats =
        unpack::unpack_to_dir(file, compression, staged.path(), Limits::default(), cancel)
            .map_err(|e| e.context(format!("archive {}", path.display())))?;
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_archive(dir: &Path, compression: Compression) -> PathBuf {
        let dump = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dumps/cluster-1");
        let name = match compression {
            Compression::None => "c1.tar",
            Compression::Zstd => "c1.tar.zst",
        };
        let out = dir.join(name);
        crate::archive::pack_to_path(
            &dump,
            out.to_str().unwrap(),
            compression,
            &CancelToken::new(),
        )
        .unwrap();
        out
    }

    #[test]
    fn formats_by_name_or_extension() {
        assert_eq!(
            InputFormat::detect(Path::new("a/c1.tar.zst")),
            InputFormat::Archive(Compression::Zstd)
        );
        assert_eq!(
            InputFormat::detect(Path::new("c1.tar.zstd")),
            InputFormat::Archive(Compression::Zstd)
        );
        assert_eq!(
            InputFormat::detect(Path::new("c1.tar")),
            InputFormat::Archive(Compression::None)
        );
        assert_eq!(InputFormat::detect(Path::new("dumps/c1")), InputFormat::Dir);
        assert_eq!(
            InputFormat::parse("tar.zst"),
            Some(InputFormat::Archive(Compression::Zstd))
        );
        assert_eq!(InputFormat::parse("zip"), None);
        assert_eq!(super::super::strip_extension("c1.tar.zstd"), "c1");
        assert_eq!(super::super::strip_extension("c1.tar"), "c1");
        assert_eq!(super::super::strip_extension("c1"), "c1");
    }

    #[test]
    fn manifest_subtrees_digest_and_staging() {
        let t = tempfile::tempdir().unwrap();
        for c in [Compression::Zstd, Compression::None] {
            let a = example_archive(t.path(), c);
            let m = peek_manifest(&a, c).unwrap();
            let want = Manifest::read_from_dir(
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dumps/cluster-1"),
            )
            .unwrap();
            assert_eq!(m.last_commit_ts, want.last_commit_ts);
            let subs = subtrees(&a, c).unwrap();
            assert!(subs.contains("dynamodb/users"), "{subs:?}");
            assert!(subs.contains("redis/db_0"), "{subs:?}");
            assert_eq!(
                content_digest(&a).unwrap(),
                checksums::sha256_file(&a).unwrap()
            );
            let scratch = t.path().join("scratch");
            let staged = stage(&a, c, &scratch, &CancelToken::new()).unwrap();
            let dir = staged.path().to_path_buf();
            assert!(dir.join("MANIFEST.json").is_file());
            assert!(dir.starts_with(&scratch));
            drop(staged);
            assert!(!dir.exists());
        }
    }

    #[test]
    fn a_bad_archive_fails_to_stage_and_leaves_nothing() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("bad.tar");
        std::fs::write(&a, [0x41u8; 2048]).unwrap();
        let scratch = t.path().join("scratch");
        let e = stage(&a, Compression::None, &scratch, &CancelToken::new()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
        assert!(peek_manifest(&a, Compression::None).is_err());
    }
}
