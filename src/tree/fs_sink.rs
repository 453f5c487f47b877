//! The filesystem sink (`decode`): writes the tree under a root directory
//! with a pool of writer threads, hashing every file as it is written so
//! that CHECKSUMS needs no second read.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::checksums;
use super::pathsort::{self, Grouped, PathSorter};
use super::sink::{self, Dirs, FileMode, Files, TreeOut, Worker};
use crate::budget::DecodeBudget;
use crate::cancel::CancelToken;
use crate::error::{Error, IoResultExt, Result};
use crate::fsutil;

/// Writer threads: file creation is mostly kernel time, so a few threads
/// overlap it with decoding even on two cores.
pub const DEFAULT_WRITERS: usize = 4;
/// Directories remembered as existing (forgotten wholesale when full).
const KNOWN_DIRS: usize = 4096;

fn os(rel: &[u8]) -> &OsStr {
    OsStr::from_bytes(rel)
}

/// Create or truncate a tree file, never through a symlink.
fn create_file(path: &Path, mode: FileMode) -> Result<File> {
    fsutil::create_tree_file_with_mode(path, mode.bits())
}

struct OpenFile {
    file: Option<File>,
    hash: Sha256,
    rel: Vec<u8>,
}

struct FsWorker {
    root: PathBuf,
    files: Files<OpenFile>,
    digests: Arc<Mutex<Option<PathSorter>>>,
}

impl FsWorker {
    fn record(&self, rel: &[u8], seq: u64, digest: [u8; 32]) -> Result<()> {
        let mut d = self.digests.lock().unwrap_or_else(|p| p.into_inner());
        match d.as_mut() {
            Some(s) => s.add(&pathsort::key(rel, seq), &digest),
            None => Ok(()),
        }
    }

    fn write_to(f: &mut OpenFile, root: &Path, data: &[u8]) -> Result<()> {
        f.hash.update(data);
        let file = f.file.as_mut().expect("open file");
        file.write_all(data).io_at(&root.join(os(&f.rel)), "write")
    }
}

impl Worker for FsWorker {
    fn whole(&mut self, seq: u64, rel: &[u8], mode: FileMode, data: &[u8]) -> Result<()> {
        let path = self.root.join(os(rel));
        let mut f = create_file(&path, mode)?;
        f.write_all(data).io_at(&path, "write")?;
        drop(f);
        self.record(rel, seq, Sha256::digest(data).into())
    }

    fn open(&mut self, id: u64, rel: &[u8], mode: FileMode) -> Result<()> {
        let f = create_file(&self.root.join(os(rel)), mode)?;
        self.files.insert(
            id,
            OpenFile {
                file: Some(f),
                hash: Sha256::new(),
                rel: rel.to_vec(),
            },
        );
        Ok(())
    }

    fn resume(&mut self, id: u64, rel: &[u8]) -> Result<()> {
        self.files.resume(id, rel)?;
        let path = self.root.join(os(rel));
        let f = OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .io_at(&path, "reopen")?;
        self.files.get(id)?.file = Some(f);
        Ok(())
    }

    fn write(&mut self, id: u64, data: &[u8]) -> Result<()> {
        let root = self.root.clone();
        Self::write_to(self.files.get(id)?, &root, data)
    }

    fn close(&mut self, seq: u64, id: u64) -> Result<()> {
        let f = self.files.take(id)?;
        drop(f.file);
        self.record(&f.rel, seq, f.hash.finalize().into())
    }

    fn suspend(&mut self, id: u64) -> Result<()> {
        let f = self.files.get(id)?;
        f.file = None;
        let rel = f.rel.clone();
        self.files.suspend(id, rel)
    }

    fn adopt(&mut self, seq: u64, rel: &[u8], mode: FileMode, src: &Path) -> Result<()> {
        let dest = self.root.join(os(rel));
        match std::fs::rename(src, &dest) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                let mut from = File::open(src).io_at(src, "open")?;
                let mut to = create_file(&dest, mode)?;
                std::io::copy(&mut from, &mut to).io_at(&dest, "write")?;
                let _ = std::fs::remove_file(src);
            }
            Err(e) => return Err(Error::io_at(&dest, "rename into place", e)),
        }
        let mut f = File::open(&dest).io_at(&dest, "open")?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = f.read(&mut buf).io_at(&dest, "read")?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        self.record(rel, seq, h.finalize().into())
    }
}

struct FsDirs {
    root: PathBuf,
    known: Mutex<HashSet<Vec<u8>>>,
}

impl FsDirs {
    fn ensure(&self, rel: &[u8]) -> Result<()> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.contains(rel) {
            return Ok(());
        }
        fsutil::create_dir_all(&self.root.join(os(rel)))?;
        if known.len() >= KNOWN_DIRS {
            known.clear();
        }
        known.insert(rel.to_vec());
        Ok(())
    }
}

impl Dirs for FsDirs {
    fn dir(&self, _seq: u64, rel: &[u8]) -> Result<()> {
        self.ensure(rel)
    }

    fn parent_of(&self, rel: &[u8]) -> Result<()> {
        match sink::parent(rel) {
            Some(p) => self.ensure(p),
            None => Ok(()),
        }
    }
}

/// Writes a tree under `root` (which must exist).
pub struct FsSink {
    root: PathBuf,
    tree: TreeOut,
    digests: Arc<Mutex<Option<PathSorter>>>,
    cancel: CancelToken,
    finished: bool,
}

impl FsSink {
    /// `scratch`: where the CHECKSUMS records spill if they outgrow
    /// `budget.tree_sort`; `budget.tree_queue` bounds the bytes queued for
    /// the writers.
    pub fn new(
        root: &Path,
        scratch: &Path,
        budget: &DecodeBudget,
        cancel: &CancelToken,
    ) -> Result<FsSink> {
        Self::with_writers(root, scratch, budget, DEFAULT_WRITERS, cancel)
    }

    pub fn with_writers(
        root: &Path,
        scratch: &Path,
        budget: &DecodeBudget,
        writers: usize,
        cancel: &CancelToken,
    ) -> Result<FsSink> {
        let digests = Arc::new(Mutex::new(Some(
            PathSorter::new(budget.tree_sort, scratch).with_cancel(cancel),
        )));
        let workers: Vec<Box<dyn Worker>> = (0..writers.max(1))
            .map(|_| {
                Box::new(FsWorker {
                    root: root.to_path_buf(),
                    files: Files::default(),
                    digests: digests.clone(),
                }) as Box<dyn Worker>
            })
            .collect();
        let dirs = Box::new(FsDirs {
            root: root.to_path_buf(),
            known: Mutex::new(HashSet::new()),
        });
        let tree = sink::spawn(workers, dirs, budget.tree_queue, cancel)?;
        Ok(FsSink {
            root: root.to_path_buf(),
            tree,
            digests,
            cancel: cancel.clone(),
            finished: false,
        })
    }

    pub fn tree(&self) -> TreeOut {
        self.tree.clone()
    }

    /// A tree written synchronously on the caller's thread, with no
    /// CHECKSUMS (tests and embedders that read the files right away).
    pub fn inline(root: &Path, cancel: &CancelToken) -> TreeOut {
        sink::inline(
            Box::new(FsWorker {
                root: root.to_path_buf(),
                files: Files::default(),
                digests: Arc::new(Mutex::new(None)),
            }),
            Box::new(FsDirs {
                root: root.to_path_buf(),
                known: Mutex::new(HashSet::new()),
            }),
            cancel,
        )
    }

    /// Wait for the writers and return the first failure.
    fn drain(&mut self) -> Result<()> {
        self.finished = true;
        let failure = self.tree.settle();
        self.tree.shutdown(false);
        if let Some((_, e)) = failure {
            return Err(e);
        }
        self.cancel.check()
    }

    /// Wait for the writers, then write `CHECKSUMS` (0666 & ~umask) from
    /// the digests taken while writing: every file written, last write of a
    /// path winning, sorted bytewise, `CHECKSUMS` itself left out.
    pub fn finish_with_checksums(mut self) -> Result<()> {
        self.drain()?;
        let sorter = self
            .digests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("digests taken once");
        let mut sorted = Grouped::new(sorter.finish()?);
        let path = self.root.join(checksums::FILE_NAME);
        let mut w = BufWriter::with_capacity(1 << 20, create_file(&path, FileMode::Public)?);
        let mut line = Vec::new();
        let mut n = 0u64;
        while let Some((rel, digest)) = sorted.next_path()? {
            n += 1;
            if n % 4096 == 0 {
                self.cancel.check()?;
            }
            if rel == checksums::FILE_NAME.as_bytes() {
                continue;
            }
            line.clear();
            checksums::format_line(&mut line, &hex::encode(&digest), &rel);
            w.write_all(&line).io_at(&path, "write")?;
        }
        w.into_inner()
            .map_err(|e| Error::io_at(&path, "write", e.into_error()))?;
        Ok(())
    }
}

impl Drop for FsSink {
    fn drop(&mut self) {
        if !self.finished {
            self.tree.shutdown(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_streams_overwrites_appends_and_checksums() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("out");
        std::fs::create_dir(&root).unwrap();
        let sink = FsSink::new(&root, t.path(), &DecodeBudget::of(0), &CancelToken::new()).unwrap();
        let tree = sink.tree();
        tree.dir(b"a/empty").unwrap();
        tree.file(b"a/x", b"first".to_vec()).unwrap();
        tree.file(b"a/x", b"second".to_vec()).unwrap();
        let mut w = tree.create(b"b/stream").unwrap();
        w.write_all(b"one ").unwrap();
        let big = vec![7u8; 600 << 10];
        w.write_all(&big).unwrap();
        let s = w.suspend().unwrap();
        tree.file_with_mode(b"MANIFEST.json", FileMode::Public, b"{}".to_vec())
            .unwrap();
        let mut w = tree.resume(s).unwrap();
        w.write_all(b" two").unwrap();
        w.close().unwrap();
        let scratch = t.path().join("spill");
        std::fs::write(&scratch, b"adopted").unwrap();
        tree.adopt(b"c/obj", &scratch).unwrap();
        drop(tree);
        sink.finish_with_checksums().unwrap();

        assert_eq!(std::fs::read(root.join("a/x")).unwrap(), b"second");
        let mut want = b"one ".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b" two");
        assert_eq!(std::fs::read(root.join("b/stream")).unwrap(), want);
        assert_eq!(std::fs::read(root.join("c/obj")).unwrap(), b"adopted");
        assert!(!scratch.exists());
        assert!(root.join("a/empty").is_dir());
        let mode = |p: &str| {
            std::fs::metadata(root.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("a/x"), 0o600);
        let umask = {
            // SAFETY: umask only swaps the process mask; restored at once.
            let m = unsafe { libc::umask(0o022) };
            unsafe { libc::umask(m) };
            m as u32
        };
        assert_eq!(mode("MANIFEST.json"), 0o666 & !umask);
        assert_eq!(mode("CHECKSUMS"), 0o666 & !umask);
        let on_disk = checksums::render(&root).unwrap();
        assert_eq!(std::fs::read(root.join("CHECKSUMS")).unwrap(), on_disk);
    }

    #[test]
    fn first_failure_in_emission_order_wins_and_cancel_stops() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("out");
        std::fs::create_dir(&root).unwrap();
        let sink = FsSink::new(&root, t.path(), &DecodeBudget::of(0), &CancelToken::new()).unwrap();
        let tree = sink.tree();
        // A directory where a file is expected makes the create fail.
        std::fs::create_dir_all(root.join("d/x0")).unwrap();
        std::fs::create_dir_all(root.join("d/x1")).unwrap();
        for i in 0..50 {
            let _ = tree.file(format!("d/y{i}").as_bytes(), vec![1]);
        }
        let _ = tree.file(b"d/x0", vec![1]);
        let _ = tree.file(b"d/x1", vec![1]);
        let (_, e) = tree.settle().unwrap();
        assert!(e.to_string().contains("d/x0"), "{e}");
        assert!(sink::is_earlier_failure(
            &tree.file(b"d/z", vec![]).unwrap_err()
        ));
        drop(tree);
        drop(sink);

        let cancel = CancelToken::new();
        let sink = FsSink::new(&root, t.path(), &DecodeBudget::of(0), &cancel).unwrap();
        cancel.cancel();
        assert!(matches!(
            sink.tree().file(b"q", vec![]),
            Err(Error::Interrupted)
        ));
    }
}
