//! The comparing sink (`encode --self-test`, `verify --deep`): each file a
//! decoder emits is compared with the input tree's file as it streams, and
//! nothing is written. What was produced (paths and verdicts, emitted
//! directories) goes through an external sorter; at the end a sorted walk
//! of the input is merge-joined against it, so memory stays bounded
//! whatever the dump's size.
//!
//! The comparison is upstream's `diffAdapterTrees`: only the enabled
//! adapter subtrees, only regular files reached without following
//! symlinks, the last write of a path counting. Beyond upstream it also
//! finds the first differing byte of each differing file and the
//! empty-directory differences.

use std::collections::BinaryHeap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::adapter::{AdapterKind, AdapterSet};
use crate::cancel::CancelToken;
use crate::error::{IoResultExt, Result};
use crate::tree::pathsort::{self, Grouped, PathSorter};
use crate::tree::sink::{self, Dirs, FileMode, Files, TreeOut, Worker};

/// Comparison workers (each reads input files).
pub const DEFAULT_WORKERS: usize = 2;
/// Upstream reports at most this many paths.
pub const MAX_LINES: usize = 64;
const READ_CHUNK: usize = 256 << 10;

// Payload tags of the sorted records.
const SAME: u8 = 0;
const DIFFER: u8 = 1;
const NO_INPUT: u8 = 2;
const DIR: u8 = 3;
const INPUT_FILE: u8 = 4;
const INPUT_EMPTY_DIR: u8 = 5;

fn os(rel: &[u8]) -> &OsStr {
    OsStr::from_bytes(rel)
}

/// Which paths take part: the enabled adapters' subtrees.
#[derive(Clone, Copy)]
struct Scope(AdapterSet);

impl Scope {
    fn adapter_of(rel: &[u8]) -> Option<AdapterKind> {
        let top = rel.split(|&c| c == b'/').next()?;
        AdapterKind::FAN_OUT
            .into_iter()
            .find(|k| k.name().as_bytes() == top)
    }

    fn tracks(self, rel: &[u8]) -> bool {
        Self::adapter_of(rel).is_some_and(|k| self.0.contains(k))
    }
}

/// What the comparison covers.
#[derive(Debug, Clone)]
pub struct CompareSpec {
    /// The tree the decode must reproduce.
    pub input: PathBuf,
    pub adapters: AdapterSet,
    /// Subtrees (`dynamodb/<seg>`, ...) excluded by a plan: input files
    /// there are not expected in the decode.
    pub skip: Vec<String>,
    /// Where the sorters spill.
    pub scratch: PathBuf,
    /// Memory for each of the two sorters.
    pub sort_budget: u64,
    /// Bytes queued for the comparison workers.
    pub queue_bytes: u64,
}

/// How a file differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileDiffKind {
    /// In the input, never produced by the decode.
    MissingInScratch,
    /// Produced by the decode, not in the input.
    MissingInInput,
    BytesDiffer,
}

impl FileDiffKind {
    /// Upstream's suffix for the report line.
    pub fn suffix(self) -> &'static str {
        match self {
            FileDiffKind::MissingInScratch => " (missing in scratch)",
            FileDiffKind::MissingInInput => " (missing in input)",
            FileDiffKind::BytesDiffer => " (bytes differ)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    /// Relative to the tree root (`redis/db_0/...`).
    pub path: Vec<u8>,
    pub kind: FileDiffKind,
    /// First differing byte (`BytesDiffer` only).
    pub offset: Option<u64>,
}

/// An empty directory on one side only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirDiff {
    pub path: Vec<u8>,
    /// True: the decode has it and the input does not.
    pub extra_in_decode: bool,
}

/// The result of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeDiff {
    /// Upstream's report lines in order: per subtree (redis, dynamodb,
    /// s3, sqs) sorted as whole lines, cut at [`MAX_LINES`].
    pub files: Vec<FileDiff>,
    /// Upstream appends its truncation line.
    pub truncated: bool,
    /// Every differing file, kept or not.
    pub total_files: u64,
    /// The first empty-directory differences in path order.
    pub dirs: Vec<DirDiff>,
    pub total_dirs: u64,
}

impl TreeDiff {
    pub fn matched(&self) -> bool {
        self.total_files == 0
    }

    /// Upstream's mismatch text (`None` when the trees match).
    pub fn mismatch_text(&self) -> Option<Vec<u8>> {
        if self.files.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        for f in &self.files {
            out.extend_from_slice(&f.path);
            out.extend_from_slice(f.kind.suffix().as_bytes());
            out.push(b'\n');
        }
        if self.truncated {
            out.extend_from_slice(
                format!("... (truncated; first {MAX_LINES} paths shown)\n").as_bytes(),
            );
        }
        Some(out)
    }
}

// --- the workers ---------------------------------------------------------------------

struct Cmp {
    rel: Vec<u8>,
    tracked: bool,
    /// The input holds a regular file at this path (when first opened).
    has_input: bool,
    /// Closed while the stream is suspended.
    input: Option<File>,
    input_len: u64,
    /// Bytes produced so far.
    off: u64,
    differ: Option<u64>,
}

struct CmpWorker {
    input_root: PathBuf,
    scope: Scope,
    files: Files<Cmp>,
    produced: Arc<Mutex<Option<PathSorter>>>,
    buf: Vec<u8>,
}

/// Read until `buf` is full or the end of the file.
fn read_fill(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl CmpWorker {
    fn open_input(&self, rel: &[u8]) -> Result<(Option<File>, u64)> {
        let path = self.input_root.join(os(rel));
        // Whether the input really holds this file (no symlink on the way)
        // is settled by the walk at the end; this only reads the bytes.
        let f = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(f) => f,
            Err(_) => return Ok((None, 0)),
        };
        let m = f.metadata().io_at(&path, "stat")?;
        if !m.is_file() {
            return Ok((None, 0));
        }
        Ok((Some(f), m.len()))
    }

    fn start(&self, rel: &[u8]) -> Result<Cmp> {
        let tracked = self.scope.tracks(rel);
        let (input, input_len) = if tracked {
            self.open_input(rel)?
        } else {
            (None, 0)
        };
        Ok(Cmp {
            rel: rel.to_vec(),
            tracked,
            has_input: input.is_some(),
            input,
            input_len,
            off: 0,
            differ: None,
        })
    }

    fn feed(input_root: &Path, buf: &mut Vec<u8>, c: &mut Cmp, data: &[u8]) -> Result<()> {
        let start = c.off;
        c.off += data.len() as u64;
        let Some(f) = c.input.as_mut() else {
            return Ok(());
        };
        if c.differ.is_some() {
            return Ok(());
        }
        let mut done = 0;
        while done < data.len() {
            let want = (data.len() - done).min(READ_CHUNK);
            buf.resize(want, 0);
            let got = read_fill(f, &mut buf[..want]).io_at(&input_root.join(os(&c.rel)), "read")?;
            let ours = &data[done..done + got];
            if let Some(i) = buf[..got].iter().zip(ours).position(|(a, b)| a != b) {
                c.differ = Some(start + (done + i) as u64);
                return Ok(());
            }
            if got < want {
                c.differ = Some(start + (done + got) as u64);
                return Ok(());
            }
            done += got;
        }
        Ok(())
    }

    fn end(&self, seq: u64, mut c: Cmp) -> Result<()> {
        if !c.tracked {
            return Ok(());
        }
        let payload = match (c.has_input, c.differ) {
            (false, _) => vec![NO_INPUT],
            (true, None) if c.input_len == c.off => vec![SAME],
            (true, d) => {
                let at = d.unwrap_or(c.off.min(c.input_len));
                let mut p = vec![DIFFER];
                p.extend_from_slice(&at.to_be_bytes());
                p
            }
        };
        c.input = None;
        let mut s = self.produced.lock().unwrap_or_else(|p| p.into_inner());
        match s.as_mut() {
            Some(s) => s.add(&pathsort::key(&c.rel, seq), &payload),
            None => Ok(()),
        }
    }
}

impl Worker for CmpWorker {
    fn whole(&mut self, seq: u64, rel: &[u8], _mode: FileMode, data: &[u8]) -> Result<()> {
        let mut c = self.start(rel)?;
        Self::feed(&self.input_root, &mut self.buf, &mut c, data)?;
        self.end(seq, c)
    }

    fn open(&mut self, id: u64, rel: &[u8], _mode: FileMode) -> Result<()> {
        let c = self.start(rel)?;
        self.files.insert(id, c);
        Ok(())
    }

    fn resume(&mut self, id: u64, rel: &[u8]) -> Result<()> {
        self.files.resume(id, rel)?;
        let c = self.files.get(id)?;
        if c.has_input && c.differ.is_none() {
            let path = self.input_root.join(os(rel));
            if let Ok(mut f) = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(&path)
            {
                use std::io::{Seek, SeekFrom};
                f.seek(SeekFrom::Start(c.off)).io_at(&path, "seek")?;
                c.input = Some(f);
            } else {
                c.differ = Some(c.off);
            }
        }
        Ok(())
    }

    fn write(&mut self, id: u64, data: &[u8]) -> Result<()> {
        let c = self.files.get(id)?;
        Self::feed(&self.input_root, &mut self.buf, c, data)
    }

    fn close(&mut self, seq: u64, id: u64) -> Result<()> {
        let c = self.files.take(id)?;
        self.end(seq, c)
    }

    fn suspend(&mut self, id: u64) -> Result<()> {
        let c = self.files.get(id)?;
        c.input = None;
        let rel = c.rel.clone();
        self.files.suspend(id, rel)
    }

    fn adopt(&mut self, seq: u64, rel: &[u8], _mode: FileMode, src: &Path) -> Result<()> {
        let mut c = self.start(rel)?;
        if c.tracked {
            let mut from = File::open(src).io_at(src, "open")?;
            let mut chunk = vec![0u8; READ_CHUNK];
            loop {
                let n = read_fill(&mut from, &mut chunk).io_at(src, "read")?;
                if n == 0 {
                    break;
                }
                Self::feed(&self.input_root, &mut self.buf, &mut c, &chunk[..n])?;
            }
        }
        let _ = std::fs::remove_file(src);
        self.end(seq, c)
    }
}

struct CmpDirs {
    scope: Scope,
    produced: Arc<Mutex<Option<PathSorter>>>,
}

impl Dirs for CmpDirs {
    fn dir(&self, seq: u64, rel: &[u8]) -> Result<()> {
        if !self.scope.tracks(rel) {
            return Ok(());
        }
        let mut path = rel.to_vec();
        path.push(b'/');
        let mut s = self.produced.lock().unwrap_or_else(|p| p.into_inner());
        match s.as_mut() {
            Some(s) => s.add(&pathsort::key(&path, seq), &[DIR]),
            None => Ok(()),
        }
    }

    fn parent_of(&self, _rel: &[u8]) -> Result<()> {
        Ok(())
    }
}

// --- the sink ------------------------------------------------------------------------

pub struct CompareSink {
    spec: CompareSpec,
    tree: TreeOut,
    produced: Arc<Mutex<Option<PathSorter>>>,
    cancel: CancelToken,
    finished: bool,
}

impl CompareSink {
    pub fn new(spec: CompareSpec, cancel: &CancelToken) -> Result<CompareSink> {
        let produced = Arc::new(Mutex::new(Some(PathSorter::new(
            spec.sort_budget,
            &spec.scratch,
        ))));
        let scope = Scope(spec.adapters);
        let workers: Vec<Box<dyn Worker>> = (0..DEFAULT_WORKERS)
            .map(|_| {
                Box::new(CmpWorker {
                    input_root: spec.input.clone(),
                    scope,
                    files: Files::default(),
                    produced: produced.clone(),
                    buf: Vec::new(),
                }) as Box<dyn Worker>
            })
            .collect();
        let dirs = Box::new(CmpDirs {
            scope,
            produced: produced.clone(),
        });
        let tree = sink::spawn(workers, dirs, spec.queue_bytes, cancel)?;
        Ok(CompareSink {
            spec,
            tree,
            produced,
            cancel: cancel.clone(),
            finished: false,
        })
    }

    pub fn tree(&self) -> TreeOut {
        self.tree.clone()
    }

    /// Wait for the comparisons, walk the input and report the differences.
    pub fn finish(mut self) -> Result<TreeDiff> {
        self.finished = true;
        let failure = self.tree.settle();
        self.tree.shutdown(false);
        if let Some((_, e)) = failure {
            return Err(e);
        }
        self.cancel.check()?;
        let produced = self
            .produced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("finished once");
        let input = walk_input(&self.spec, &self.cancel)?;
        merge(
            Grouped::new(produced.finish()?),
            Grouped::new(input.finish()?),
            &self.spec,
            &self.cancel,
        )
    }
}

impl Drop for CompareSink {
    fn drop(&mut self) {
        if !self.finished {
            self.tree.shutdown(true);
        }
    }
}

/// Every regular file and empty directory of the enabled input subtrees,
/// without following symlinks, into a sorter.
fn walk_input(spec: &CompareSpec, cancel: &CancelToken) -> Result<PathSorter> {
    let mut out = PathSorter::new(spec.sort_budget, &spec.scratch);
    let mut n = 0u64;
    for k in spec.adapters.iter() {
        let top = spec.input.join(k.name());
        match std::fs::symlink_metadata(&top) {
            Ok(m) if m.is_dir() => {}
            _ => continue,
        }
        let open = |rel: &[u8]| {
            let p = spec.input.join(os(rel));
            std::fs::read_dir(&p).io_at(&p, "read directory")
        };
        let root = k.name().as_bytes().to_vec();
        let mut stack = vec![(open(&root)?, root, 0usize)];
        while let Some((iter, rel, count)) = stack.last_mut() {
            n += 1;
            if n % 4096 == 0 {
                cancel.check()?;
            }
            let Some(ent) = iter.next() else {
                let (_, rel, count) = stack.pop().expect("non-empty");
                if count == 0 {
                    let mut p = rel;
                    p.push(b'/');
                    out.add(&pathsort::key(&p, 0), &[INPUT_EMPTY_DIR])?;
                }
                continue;
            };
            *count += 1;
            let dir = spec.input.join(os(rel));
            let ent = ent.io_at(&dir, "read directory")?;
            let ft = ent.file_type().io_at(&ent.path(), "stat")?;
            let mut child = rel.clone();
            child.push(b'/');
            child.extend_from_slice(ent.file_name().as_bytes());
            if ft.is_dir() {
                let it = open(&child)?;
                stack.push((it, child, 0));
            } else if ft.is_file() {
                out.add(&pathsort::key(&child, 0), &[INPUT_FILE])?;
            }
        }
    }
    Ok(out)
}

fn skipped(skip: &[String], path: &[u8]) -> bool {
    skip.iter()
        .any(|s| path.starts_with(s.as_bytes()) && matches!(path.get(s.len()), None | Some(b'/')))
}

/// The `MAX_LINES` smallest lines of one subtree.
#[derive(Default)]
struct Smallest {
    heap: BinaryHeap<(Vec<u8>, usize)>,
    items: Vec<FileDiff>,
}

impl Smallest {
    fn push(&mut self, d: FileDiff) {
        let mut line = d.path.clone();
        line.extend_from_slice(d.kind.suffix().as_bytes());
        if self.heap.len() == MAX_LINES {
            if line >= self.heap.peek().expect("full").0 {
                return;
            }
            let (_, slot) = self.heap.pop().expect("full");
            self.items[slot] = d;
            self.heap.push((line, slot));
        } else {
            self.heap.push((line, self.items.len()));
            self.items.push(d);
        }
    }

    fn sorted(self) -> Vec<FileDiff> {
        let mut v = self.heap.into_vec();
        v.sort();
        let mut items: Vec<Option<FileDiff>> = self.items.into_iter().map(Some).collect();
        v.into_iter()
            .map(|(_, i)| items[i].take().expect("each slot once"))
            .collect()
    }
}

fn merge(
    mut produced: Grouped,
    mut input: Grouped,
    spec: &CompareSpec,
    cancel: &CancelToken,
) -> Result<TreeDiff> {
    let mut per: [Smallest; 4] = Default::default();
    let mut diff = TreeDiff::default();
    let slot = |path: &[u8]| {
        Scope::adapter_of(path)
            .map(|k| k as usize)
            .expect("tracked paths are under an adapter")
    };
    let mut file = |d: FileDiff, diff: &mut TreeDiff| {
        diff.total_files += 1;
        let i = slot(&d.path);
        per[i].push(d);
    };
    let dir = |path: &[u8], extra: bool, diff: &mut TreeDiff| {
        diff.total_dirs += 1;
        if diff.dirs.len() < MAX_LINES {
            diff.dirs.push(DirDiff {
                path: path[..path.len() - 1].to_vec(),
                extra_in_decode: extra,
            });
        }
    };
    let mut p = produced.next_path()?;
    let mut i = input.next_path()?;
    let mut n = 0u64;
    loop {
        n += 1;
        if n % 4096 == 0 {
            cancel.check()?;
        }
        let ord = match (&p, &i) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match ord {
            std::cmp::Ordering::Less => {
                let (path, payload) = p.take().expect("produced side");
                if payload[0] == DIR {
                    let empty = !produced.peek_path().is_some_and(|n| n.starts_with(&path));
                    if empty {
                        dir(&path, true, &mut diff);
                    }
                } else {
                    file(
                        FileDiff {
                            path,
                            kind: FileDiffKind::MissingInInput,
                            offset: None,
                        },
                        &mut diff,
                    );
                }
                p = produced.next_path()?;
            }
            std::cmp::Ordering::Greater => {
                let (path, payload) = i.take().expect("input side");
                if !skipped(&spec.skip, &path) {
                    if payload[0] == INPUT_EMPTY_DIR {
                        dir(&path, false, &mut diff);
                    } else {
                        file(
                            FileDiff {
                                path,
                                kind: FileDiffKind::MissingInScratch,
                                offset: None,
                            },
                            &mut diff,
                        );
                    }
                }
                i = input.next_path()?;
            }
            std::cmp::Ordering::Equal => {
                let (path, payload) = p.take().expect("produced side");
                if payload[0] == DIR {
                    let empty = !produced.peek_path().is_some_and(|n| n.starts_with(&path));
                    if !empty {
                        dir(&path, false, &mut diff);
                    }
                } else {
                    let offset = match payload[0] {
                        SAME => None,
                        DIFFER => Some(u64::from_be_bytes(
                            payload[1..9].try_into().expect("offset"),
                        )),
                        _ => Some(0),
                    };
                    if offset.is_some() {
                        file(
                            FileDiff {
                                path,
                                kind: FileDiffKind::BytesDiffer,
                                offset,
                            },
                            &mut diff,
                        );
                    }
                }
                p = produced.next_path()?;
                i = input.next_path()?;
            }
        }
    }
    let mut lines = Vec::new();
    for k in AdapterKind::FAN_OUT {
        if !spec.adapters.contains(k) {
            continue;
        }
        lines.extend(std::mem::take(&mut per[k as usize]).sorted());
        if lines.len() >= MAX_LINES {
            lines.truncate(MAX_LINES);
            diff.truncated = true;
            break;
        }
    }
    diff.files = lines;
    Ok(diff)
}
