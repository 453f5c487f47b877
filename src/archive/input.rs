//! Archives as encode inputs: what a plan needs from a `.tar`/`.tar.zst`
//! dump without unpacking it (its MANIFEST.json, the subtrees it holds, a
//! digest of its bytes), and staging it into a job's scratch directory with
//! upstream's unpack rules and budget when the job runs.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use super::unpack::{self, LastEntry, open_archive_file, open_stream, read_error};
use super::verify::StreamVerifier;
use super::{Compression, Limits, Problem, UnpackStats};
use crate::adapter::{AdapterKind, CancelToken};
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

    /// Its canonical name in a plan (`tar.zstd` reads as `tar.zst`).
    pub fn as_str(self) -> &'static str {
        match self {
            InputFormat::Dir => "dir",
            InputFormat::Archive(Compression::None) => "tar",
            InputFormat::Archive(Compression::Zstd) => "tar.zst",
        }
    }

    pub fn is_archive(self) -> bool {
        matches!(self, InputFormat::Archive(_))
    }

    pub fn compression(self) -> Option<Compression> {
        match self {
            InputFormat::Dir => None,
            InputFormat::Archive(c) => Some(c),
        }
    }
}

/// Walk the archive's entries in order with upstream's per-entry rules
/// (safe names, only directories and regular files, no repeated path, the
/// entry and byte budget), handing each cleaned name, whether it is a
/// directory, and a regular file's reader and size to `f` until it returns
/// `Some`. A walk that reaches the end also checks the end of the stream
/// (the end-of-archive marker, a whole zstd frame).
fn scan<T>(
    path: &Path,
    compression: Compression,
    cancel: &CancelToken,
    mut f: impl FnMut(&[u8], bool, &mut dyn Read, u64) -> Result<Option<T>>,
) -> Result<Option<T>> {
    let file = open_archive_file(path)?;
    let mut stream = open_stream(file, compression)?;
    let failed = stream.failed.clone();
    let count = stream.count.clone();
    let mut archive = tar::Archive::new(&mut stream.reader);
    let entries = archive
        .entries()
        .map_err(|e| read_error(failed.get(), e, "start of archive"))?;
    let mut seen = HashSet::new();
    let limits = Limits::default();
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut last = LastEntry::default();
    for entry in entries {
        cancel.check()?;
        let mut entry = entry.map_err(|e| read_error(failed.get(), e, &last.next_header()))?;
        let raw = entry.path_bytes().into_owned();
        n += 1;
        if n > limits.max_entries {
            return Err(
                Problem::Budget.at_entry(&raw, format!("more than {} entries", limits.max_entries))
            );
        }
        let Some((rel, is_dir, size)) = last.read(&entry, &raw)? else {
            continue;
        };
        let is_file = !is_dir;
        if !seen.insert(rel.clone()) {
            return Err(Problem::Duplicate.at_entry(&raw, "listed twice"));
        }
        if is_file {
            bytes = bytes.saturating_add(size);
            if bytes > limits.max_bytes {
                return Err(Problem::Budget.at_entry(
                    &raw,
                    format!("more than {} bytes of file data", limits.max_bytes),
                ));
            }
        }
        if let Some(v) = f(&rel, is_dir, &mut entry, size)? {
            return Ok(Some(v));
        }
    }
    last.finish(archive.into_inner(), compression, count.get(), &failed)?;
    Ok(None)
}

/// Read a regular file's whole content from the archive.
fn read_entry(rel: &[u8], r: &mut dyn Read, size: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(size.min(1 << 20) as usize);
    r.take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| Problem::Truncated.at_entry(rel, format!("cannot read it: {e}")))?;
    if bytes.len() as u64 != size {
        return Err(Problem::Truncated.at_entry(rel, "stream ends inside it"));
    }
    Ok(bytes)
}

/// Why [`peek_manifest`] has no manifest to give.
#[derive(Debug)]
pub enum PeekError {
    /// The archive cannot be read up to its MANIFEST.json: it cannot be
    /// opened, is a symlink or not a regular file, is not zstd or damaged,
    /// or an entry before MANIFEST.json breaks the unpack rules.
    Archive(Error),
    /// The archive holds no MANIFEST.json.
    Missing,
    /// MANIFEST.json is rejected by the encoder's checks.
    Invalid(Error),
}

impl PeekError {
    pub fn into_error(self, path: &Path) -> Error {
        match self {
            PeekError::Archive(e) => e.context(path.display()),
            PeekError::Missing => Error::data(format!(
                "{}: the archive has no {}",
                path.display(),
                manifest::FILE_NAME
            )),
            PeekError::Invalid(e) => {
                Error::data(format!("{}: {}: {e}", path.display(), manifest::FILE_NAME))
            }
        }
    }
}

/// The bytes of MANIFEST.json read from the archive. A sorted archive
/// carries it second (after CHECKSUMS), so this stops after two entries;
/// an archive in another order is read up to it.
pub fn peek_manifest_bytes(path: &Path, compression: Compression) -> Result<Vec<u8>, PeekError> {
    let found = scan(
        path,
        compression,
        &CancelToken::new(),
        |rel, is_dir, r, size| {
            if is_dir || rel != manifest::FILE_NAME.as_bytes() {
                return Ok(None);
            }
            if size > MAX_MANIFEST_BYTES {
                return Err(Error::data(format!(
                    "MANIFEST.json is {size} bytes (more than {MAX_MANIFEST_BYTES})"
                )));
            }
            read_entry(rel, r, size).map(Some)
        },
    )
    .map_err(PeekError::Archive)?;
    found.ok_or(PeekError::Missing)
}

/// MANIFEST.json read from the archive ([`peek_manifest_bytes`]) and
/// checked as the encoder checks it.
pub fn peek_manifest(path: &Path, compression: Compression) -> Result<Manifest, PeekError> {
    let bytes = peek_manifest_bytes(path, compression)?;
    Manifest::parse(&bytes).map_err(|e| PeekError::Invalid(Error::data(e.to_string())))
}

/// The `<adapter>/<name>` directories the archive holds (for scope
/// exclusions). Reads every header: one pass of decompression.
pub fn subtrees(path: &Path, compression: Compression) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    scan::<()>(
        path,
        compression,
        &CancelToken::new(),
        |rel, is_dir, _, _| {
            let parts: Vec<&[u8]> = rel.splitn(3, |&c| c == b'/').collect();
            let dir = match parts.len() {
                3 => true,
                2 => is_dir,
                _ => false,
            };
            if dir
                && AdapterKind::FAN_OUT
                    .iter()
                    .any(|k| k.name().as_bytes() == parts[0])
            {
                out.insert(format!(
                    "{}/{}",
                    String::from_utf8_lossy(parts[0]),
                    String::from_utf8_lossy(parts[1])
                ));
            }
            Ok(None)
        },
    )
    .map_err(|e| e.context(path.display()))?;
    Ok(out)
}

/// Why [`verify`] failed.
#[derive(Debug)]
pub enum VerifyError {
    /// The archive breaks an unpack rule or cannot be read.
    Archive(Error),
    /// CHECKSUMS is missing or malformed, a digest differs, a listed file
    /// is missing or a file is not listed.
    Checksums(Error),
}

/// Check the archive as unpacking it would, without writing anything:
/// every entry's rules, the budget, MANIFEST.json present and valid, and
/// CHECKSUMS (every file hashed and compared, every file listed). One pass
/// of decompression. Returns the number of regular files.
pub fn verify(
    path: &Path,
    compression: Compression,
    cancel: &CancelToken,
) -> Result<u64, VerifyError> {
    let mut verifier = StreamVerifier::default();
    let mut checksums_failed: Option<Error> = None;
    let mut manifest: Option<Vec<u8>> = None;
    let mut files = 0u64;
    let mut buf = vec![0u8; 256 << 10];
    scan::<()>(path, compression, cancel, |rel, is_dir, r, size| {
        if is_dir {
            return Ok(None);
        }
        files += 1;
        let is_checksums = rel == checksums::FILE_NAME.as_bytes();
        let res = if is_checksums || rel == manifest::FILE_NAME.as_bytes() {
            let max = if is_checksums {
                unpack::MAX_CHECKSUMS_BYTES
            } else {
                MAX_MANIFEST_BYTES
            };
            if size > max {
                return Err(Problem::Budget.at_entry(
                    rel,
                    format!("is {size} bytes, more than {max} are not read"),
                ));
            }
            let bytes = read_entry(rel, r, size)?;
            if is_checksums {
                verifier.checksums(&bytes)
            } else {
                let d = Sha256::digest(&bytes).into();
                manifest = Some(bytes);
                verifier.file(rel, d)
            }
        } else {
            let mut h = Sha256::new();
            let mut left = size;
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                let n = r.read(&mut buf[..want]).map_err(|e| {
                    Problem::Truncated.at_entry(rel, format!("cannot read it: {e}"))
                })?;
                if n == 0 {
                    return Err(Problem::Truncated.at_entry(rel, "stream ends inside it"));
                }
                h.update(&buf[..n]);
                left -= n as u64;
            }
            verifier.file(rel, h.finalize().into())
        };
        match res {
            Ok(()) => Ok(None),
            Err(e) => {
                // Stop at the first CHECKSUMS problem, reported as such.
                checksums_failed = Some(e);
                Ok(Some(()))
            }
        }
    })
    .map_err(VerifyError::Archive)?;
    if let Some(e) = checksums_failed {
        return Err(VerifyError::Checksums(e));
    }
    match manifest {
        None => {
            return Err(VerifyError::Checksums(Error::data(format!(
                "the archive has no {}",
                manifest::FILE_NAME
            ))));
        }
        Some(b) => {
            Manifest::parse(&b).map_err(|e| {
                VerifyError::Checksums(Error::data(format!("{}: {e}", manifest::FILE_NAME)))
            })?;
        }
    }
    verifier.finish().map_err(VerifyError::Checksums)?;
    Ok(files)
}

/// Hash the archive file (the resume fingerprint's input content).
pub fn content_digest(path: &Path, cancel: &CancelToken) -> Result<[u8; 32]> {
    let mut f = open_archive_file(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        cancel.check()?;
        let n = f.read(&mut buf).io_at(path, "read")?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Hashes what is read through it.
struct HashingReader {
    inner: File,
    hasher: Rc<RefCell<Sha256>>,
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.borrow_mut().update(&buf[..n]);
        Ok(n)
    }
}

/// An archive unpacked into a job's scratch space, removed when dropped
/// (whether the job succeeded, failed or was cancelled).
#[derive(Debug)]
pub struct Staged {
    dir: Option<PathBuf>,
    pub stats: UnpackStats,
    /// SHA-256 of the archive's bytes as they were unpacked.
    pub sha256: [u8; 32],
}

impl Staged {
    /// The unpacked dump tree (holds MANIFEST.json).
    pub fn path(&self) -> &Path {
        self.dir.as_deref().expect("staged directory")
    }

    /// `text` with the unpacked tree's path replaced by the archive's, so
    /// that `<scratch>/…/redis/db_0/x` reads `<archive>/redis/db_0/x`.
    pub fn relabel_text(&self, text: &str, archive: &Path) -> String {
        text.replace(
            &self.path().display().to_string(),
            &archive.display().to_string(),
        )
    }

    /// An error from encoding the unpacked tree, naming the archive's
    /// members instead of the scratch files.
    pub fn relabel(&self, e: Error, archive: &Path) -> Error {
        let s = |m: String| self.relabel_text(&m, archive);
        match e {
            Error::Usage(m) => Error::Usage(s(m)),
            Error::Data(mut d) => {
                d.message = s(std::mem::take(&mut d.message));
                d.file = d.file.take().map(|f| self.relabel_path(f, archive));
                Error::Data(d)
            }
            Error::SelfTestMismatch(mut m) => {
                m.summary = s(std::mem::take(&mut m.summary));
                m.first_path = m.first_path.map(s);
                Error::SelfTestMismatch(m)
            }
            Error::Io { context, source } => Error::Io {
                context: s(context),
                source,
            },
            Error::Fsm { context, source } => Error::Fsm {
                context: s(context),
                source,
            },
            Error::Input(mut b) => {
                b.file = b.file.take().map(|f| self.relabel_path(f, archive));
                b.context = b.context.into_iter().map(s).collect();
                Error::Input(b)
            }
            other => other,
        }
    }

    /// `path` inside the unpacked tree as the archive's member.
    fn relabel_path(&self, path: PathBuf, archive: &Path) -> PathBuf {
        match path.strip_prefix(self.path()) {
            Ok(rel) => archive.join(rel),
            Err(_) => path,
        }
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
/// rules and budget, verified (MANIFEST.json, CHECKSUMS, every file
/// listed), hashing the archive's bytes as they are read. Directory modes
/// from the archive are not applied: the tree is only read, then removed.
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
        sha256: [0; 32],
    };
    let file = open_archive_file(path)?;
    // A second descriptor shares the file offset: what the unpacker left
    // unread is read and hashed through it afterwards.
    let mut rest = file.try_clone().io_at(path, "open")?;
    let hasher = Rc::new(RefCell::new(Sha256::new()));
    let reader = HashingReader {
        inner: file,
        hasher: hasher.clone(),
    };
    staged.stats = unpack::unpack_into(
        reader,
        compression,
        staged.path(),
        Limits::default(),
        cancel,
        false,
    )
    .map_err(|e| e.context(format!("archive {}", path.display())))?;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = rest.read(&mut buf).io_at(path, "read")?;
        if n == 0 {
            break;
        }
        hasher.borrow_mut().update(&buf[..n]);
    }
    staged.sha256 = hasher.borrow().clone().finalize().into();
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
        crate::archive::pack::pack_to_path(
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
            let sha = checksums::sha256_file(&a).unwrap();
            assert_eq!(content_digest(&a, &CancelToken::new()).unwrap(), sha);
            assert_eq!(verify(&a, c, &CancelToken::new()).unwrap(), 26);
            let scratch = t.path().join("scratch");
            let staged = stage(&a, c, &scratch, &CancelToken::new()).unwrap();
            let dir = staged.path().to_path_buf();
            assert!(dir.join("MANIFEST.json").is_file());
            assert!(dir.starts_with(&scratch));
            assert_eq!(staged.sha256, sha, "hashed while unpacked");
            drop(staged);
            assert!(!dir.exists());
        }
    }

    /// `tar` with each regular file's data passed through `f` (`None`
    /// drops the member), and `extra` members appended.
    fn rewrite(
        tar: &[u8],
        mut f: impl FnMut(&str, Vec<u8>) -> Option<Vec<u8>>,
        extra: &[(&str, &[u8])],
    ) -> Vec<u8> {
        let mut out = tar::Builder::new(Vec::new());
        let mut a = tar::Archive::new(tar);
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut h = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            if h.entry_type().is_dir() {
                out.append(&h, &data[..]).unwrap();
                continue;
            }
            if let Some(d) = f(&name, data) {
                h.set_size(d.len() as u64);
                h.set_cksum();
                out.append(&h, &d[..]).unwrap();
            }
        }
        for (name, data) in extra {
            let mut h = tar::Header::new_ustar();
            // Raw, so that unsafe names can be written.
            h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            out.append(&h, *data).unwrap();
        }
        out.into_inner().unwrap()
    }

    #[test]
    fn verify_finds_what_unpacking_would() {
        let t = tempfile::tempdir().unwrap();
        let good = std::fs::read(example_archive(t.path(), Compression::None)).unwrap();
        let check = |name: &str, bytes: Vec<u8>| {
            let p = t.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            verify(&p, Compression::None, &CancelToken::new())
        };
        let changed = rewrite(
            &good,
            |n, mut d| {
                if n.ends_with(".json") && n.starts_with("dynamodb/") && !d.is_empty() {
                    d[0] ^= 1;
                }
                Some(d)
            },
            &[],
        );
        match check("changed.tar", changed) {
            Err(VerifyError::Checksums(e)) => {
                assert!(e.to_string().contains("checksum mismatch"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        match check(
            "stray.tar",
            rewrite(&good, |_, d| Some(d), &[("zz-stray", b"x")]),
        ) {
            Err(VerifyError::Checksums(e)) => {
                assert!(e.to_string().contains("archive_unchecksummed_file"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let no_manifest = rewrite(&good, |n, d| (n != "MANIFEST.json").then_some(d), &[]);
        assert!(matches!(
            check("nomanifest.tar", no_manifest.clone()),
            Err(VerifyError::Checksums(_))
        ));
        let p = t.path().join("nomanifest.tar");
        assert!(matches!(
            peek_manifest(&p, Compression::None),
            Err(PeekError::Missing)
        ));
        match check(
            "unsafe.tar",
            rewrite(&good, |_, d| Some(d), &[("../up", b"x")]),
        ) {
            Err(VerifyError::Archive(e)) => {
                assert!(e.to_string().contains("archive_unsafe_path"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        // Cut before the end-of-archive marker.
        let cut = good[..good.len() - 1024].to_vec();
        assert!(matches!(
            check("cut.tar", cut),
            Err(VerifyError::Archive(_))
        ));
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
