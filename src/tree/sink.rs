//! The one interface through which decoders emit a dump tree.
//!
//! A decoder holds a [`TreeOut`] and emits directories (empty ones
//! included), whole small files, files written as streams (several may be
//! open at once; a stream may be suspended and resumed to append later),
//! and scratch files moved into place. It never touches the output
//! filesystem itself. Where the tree goes is the sink's business: the
//! filesystem sink writes it (`decode`), the comparing sink compares it
//! with an input tree as it streams and writes nothing (`--self-test`,
//! `verify --deep`).
//!
//! Both sinks share the machinery here: operations are numbered in emission
//! order and handed to a bounded pool of worker threads, all operations on
//! one path going to the same worker (so overwrites and appends keep their
//! order). The bytes queued are bounded. The first failure in emission
//! order wins: once a worker fails at operation `n`, later operations are
//! skipped and earlier ones still run, so the error reported does not
//! depend on thread timing. Every operation checks the job's cancel token.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// How a file's permission bits are set, as upstream sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// 0600 (& ~umask): every adapter file.
    Private,
    /// 0666 & ~umask: MANIFEST.json and CHECKSUMS (a plain create).
    Public,
}

impl FileMode {
    pub fn bits(self) -> u32 {
        match self {
            FileMode::Private => 0o600,
            FileMode::Public => 0o666,
        }
    }
}

/// Bytes a stream buffers before handing a chunk to its worker.
const CHUNK: usize = 256 << 10;
/// Book-keeping charged per queued operation on top of its bytes.
const OP_COST: u64 = 256;
/// How often a producer blocked on a full queue looks at its cancel token.
const CANCEL_POLL: Duration = Duration::from_millis(50);

// --- paths ----------------------------------------------------------------------

/// Check a tree path: relative, `/`-separated, no empty, `.` or `..`
/// component, no NUL. Every sink operation takes such a path.
pub fn check_path(rel: &[u8]) -> Result<()> {
    let bad = rel.is_empty()
        || rel.contains(&0)
        || rel
            .split(|&c| c == b'/')
            .any(|c| c.is_empty() || c == b"." || c == b"..");
    if bad {
        return Err(Error::data(format!(
            "internal: invalid tree path {:?}",
            String::from_utf8_lossy(rel)
        )));
    }
    Ok(())
}

/// Go's `filepath.Join(base, seg)` for tree paths: `seg` may hold `/`,
/// `.` and `..` components, which are resolved lexically (`dynamodb` +
/// `..` is the root, the empty path). A path that would leave the tree is
/// refused.
pub fn join(base: &[u8], seg: &[u8]) -> Result<Vec<u8>> {
    let mut parts: Vec<&[u8]> = base
        .split(|&c| c == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    for c in seg.split(|&c| c == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err(Error::data(format!(
                        "path {:?} under {:?} leaves the output tree",
                        String::from_utf8_lossy(seg),
                        String::from_utf8_lossy(base)
                    )));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join(&b'/'))
}

/// `join` of several segments.
pub fn join_all(parts: &[&[u8]]) -> Result<Vec<u8>> {
    let mut p = Vec::new();
    for s in parts {
        p = join(&p, s)?;
    }
    Ok(p)
}

/// The parent of a tree path (`None` at the top level).
pub fn parent(rel: &[u8]) -> Option<&[u8]> {
    rel.iter().rposition(|&c| c == b'/').map(|i| &rel[..i])
}

// --- backends -------------------------------------------------------------------

/// One worker's side of a sink. Operations on one path always reach the
/// same worker, in emission order. `seq` is the operation's number.
pub(crate) trait Worker: Send {
    fn whole(&mut self, seq: u64, rel: &[u8], mode: FileMode, data: &[u8]) -> Result<()>;
    fn open(&mut self, id: u64, rel: &[u8], mode: FileMode) -> Result<()>;
    /// Reopen a suspended file (by path) under a new id, to append.
    fn resume(&mut self, id: u64, rel: &[u8]) -> Result<()>;
    fn write(&mut self, id: u64, data: &[u8]) -> Result<()>;
    fn close(&mut self, seq: u64, id: u64) -> Result<()>;
    fn suspend(&mut self, id: u64) -> Result<()>;
    /// Move a finished scratch file into the tree at `rel`.
    fn adopt(&mut self, seq: u64, rel: &[u8], mode: FileMode, src: &Path) -> Result<()>;
}

/// Directory operations, done synchronously by the producer (a file's
/// directory must exist before any worker creates the file).
pub(crate) trait Dirs: Send + Sync {
    /// An explicit directory (it may stay empty).
    fn dir(&self, seq: u64, rel: &[u8]) -> Result<()>;
    /// The directory a file is about to be created in.
    fn parent_of(&self, rel: &[u8]) -> Result<()>;
}

enum Op {
    Whole {
        seq: u64,
        rel: Vec<u8>,
        mode: FileMode,
        data: Vec<u8>,
    },
    Open {
        seq: u64,
        id: u64,
        rel: Vec<u8>,
        mode: FileMode,
    },
    Resume {
        seq: u64,
        id: u64,
        rel: Vec<u8>,
    },
    Write {
        seq: u64,
        id: u64,
        data: Vec<u8>,
    },
    Close {
        seq: u64,
        id: u64,
    },
    Suspend {
        seq: u64,
        id: u64,
    },
    Adopt {
        seq: u64,
        rel: Vec<u8>,
        mode: FileMode,
        src: PathBuf,
    },
    /// Wake a worker so it sees the stop flag.
    Stop,
}

impl Op {
    fn cost(&self) -> u64 {
        match self {
            Op::Whole { data, .. } | Op::Write { data, .. } => OP_COST + data.len() as u64,
            Op::Stop => 0,
            _ => OP_COST,
        }
    }

    fn seq(&self) -> u64 {
        match self {
            Op::Whole { seq, .. }
            | Op::Open { seq, .. }
            | Op::Resume { seq, .. }
            | Op::Write { seq, .. }
            | Op::Close { seq, .. }
            | Op::Suspend { seq, .. }
            | Op::Adopt { seq, .. } => *seq,
            Op::Stop => u64::MAX,
        }
    }

    fn apply(self, w: &mut dyn Worker) -> Result<()> {
        match self {
            Op::Whole {
                seq,
                rel,
                mode,
                data,
            } => w.whole(seq, &rel, mode, &data),
            Op::Open { id, rel, mode, .. } => w.open(id, &rel, mode),
            Op::Resume { id, rel, .. } => w.resume(id, &rel),
            Op::Write { id, data, .. } => w.write(id, &data),
            Op::Close { seq, id } => w.close(seq, id),
            Op::Suspend { id, .. } => w.suspend(id),
            Op::Adopt {
                seq,
                rel,
                mode,
                src,
            } => w.adopt(seq, &rel, mode, &src),
            Op::Stop => Ok(()),
        }
    }
}

// --- shared state ---------------------------------------------------------------

/// Bounds the bytes (and operations) queued for the workers.
struct Gate {
    state: Mutex<(u64, u64)>,
    cv: Condvar,
    cap: u64,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, (u64, u64)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn acquire(&self, n: u64, cancel: &CancelToken) -> Result<()> {
        let mut g = self.lock();
        while g.0 > 0 && g.0 + n > self.cap {
            g = self
                .cv
                .wait_timeout(g, CANCEL_POLL)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            cancel.check()?;
        }
        g.0 += n;
        g.1 += 1;
        Ok(())
    }

    fn release(&self, n: u64) {
        let mut g = self.lock();
        g.0 -= n;
        g.1 -= 1;
        drop(g);
        self.cv.notify_all();
    }

    /// Wait until every queued operation has been processed.
    fn wait_idle(&self) {
        let mut g = self.lock();
        while g.1 > 0 {
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The first failure in emission order.
#[derive(Default)]
struct Failure {
    min_seq: AtomicU64,
    first: Mutex<Option<(u64, Error)>>,
}

impl Failure {
    fn new() -> Self {
        Failure {
            min_seq: AtomicU64::new(u64::MAX),
            first: Mutex::new(None),
        }
    }

    fn record(&self, seq: u64, e: Error) {
        let mut f = self.first.lock().unwrap_or_else(|p| p.into_inner());
        if f.as_ref().is_none_or(|(s, _)| seq < *s) {
            *f = Some((seq, e));
            self.min_seq.store(seq, Ordering::SeqCst);
        }
    }

    fn failed_before(&self, seq: u64) -> bool {
        self.min_seq.load(Ordering::SeqCst) < seq
    }

    fn failed(&self) -> bool {
        self.min_seq.load(Ordering::SeqCst) != u64::MAX
    }
}

/// What the workers share with the producer.
struct Core {
    gate: Gate,
    failure: Failure,
    cancel: CancelToken,
    /// Skip everything still queued (abort or cancellation).
    stop: std::sync::atomic::AtomicBool,
}

impl Core {
    fn new(cap: u64, cancel: &CancelToken) -> Arc<Core> {
        Arc::new(Core {
            gate: Gate {
                state: Mutex::new((0, 0)),
                cv: Condvar::new(),
                cap,
            },
            failure: Failure::new(),
            cancel: cancel.clone(),
            stop: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn skipping(&self, seq: u64) -> bool {
        self.stop.load(Ordering::Relaxed)
            || self.cancel.is_cancelled()
            || self.failure.failed_before(seq)
    }
}

struct Shared {
    core: Arc<Core>,
    /// A single worker run on the producer's thread instead of a pool.
    inline: Option<Mutex<Box<dyn Worker>>>,
    senders: Vec<Sender<Op>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
    dirs: Box<dyn Dirs>,
    seq: AtomicU64,
    ids: AtomicU64,
}

impl Shared {
    /// Stop the workers; with `abort`, whatever is still queued is skipped.
    fn shutdown(&self, abort: bool) {
        if abort {
            self.core.stop.store(true, Ordering::SeqCst);
        }
        for s in &self.senders {
            let _ = s.send(Op::Stop);
        }
        let handles = std::mem::take(&mut *self.handles.lock().unwrap_or_else(|p| p.into_inner()));
        for h in handles {
            let _ = h.join();
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.shutdown(false);
    }
}

fn worker_loop(core: Arc<Core>, rx: Receiver<Op>, mut w: Box<dyn Worker>) {
    while let Ok(op) = rx.recv() {
        if matches!(op, Op::Stop) {
            // Drain: a stop arrives after everything the producer queued.
            while let Ok(op) = rx.try_recv() {
                core.gate.release(op.cost());
            }
            break;
        }
        let cost = op.cost();
        let seq = op.seq();
        if !core.skipping(seq) {
            let res =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op.apply(w.as_mut())))
                    .unwrap_or_else(|_| Err(internal("worker panicked")));
            if let Err(e) = res {
                core.failure.record(seq, e);
            }
        }
        core.gate.release(cost);
    }
}

/// The error a producer gets once a worker has failed; the worker's own
/// error replaces it when the sink reports.
#[derive(Debug)]
struct EarlierFailure;

impl std::fmt::Display for EarlierFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an earlier write to the output tree failed")
    }
}

impl std::error::Error for EarlierFailure {}

fn earlier_failure() -> Error {
    Error::io("tree sink", std::io::Error::other(EarlierFailure))
}

/// True for the stand-in error of [`earlier_failure`].
pub fn is_earlier_failure(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.get_ref().is_some_and(|s| s.is::<EarlierFailure>()))
}

// --- the producer's handle ------------------------------------------------------

/// Where a decoder emits its tree. Cheap to clone; all clones feed the same
/// sink. Dropping the last clone lets the workers finish what is queued.
#[derive(Clone)]
pub struct TreeOut {
    shared: Arc<Shared>,
}

/// A [`TreeOut`] whose one worker runs every operation on the producer's
/// thread, returning its error there (tests, tiny jobs).
pub(crate) fn inline(
    worker: Box<dyn Worker>,
    dirs: Box<dyn Dirs>,
    cancel: &CancelToken,
) -> TreeOut {
    TreeOut {
        shared: Arc::new(Shared {
            core: Core::new(u64::MAX, cancel),
            inline: Some(Mutex::new(worker)),
            senders: Vec::new(),
            handles: Mutex::new(Vec::new()),
            dirs,
            seq: AtomicU64::new(0),
            ids: AtomicU64::new(0),
        }),
    }
}

/// Builds a [`TreeOut`] over a set of workers (one per thread).
pub(crate) fn spawn(
    workers: Vec<Box<dyn Worker>>,
    dirs: Box<dyn Dirs>,
    queue_bytes: u64,
    cancel: &CancelToken,
) -> Result<TreeOut> {
    let core = Core::new(queue_bytes.max(OP_COST), cancel);
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for (i, w) in workers.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel();
        let c = core.clone();
        let h = std::thread::Builder::new()
            .name(format!("ekvplan-tree-{i}"))
            .spawn(move || worker_loop(c, rx, w))
            .map_err(|e| Error::io("spawn tree writer thread", e))?;
        senders.push(tx);
        handles.push(h);
    }
    Ok(TreeOut {
        shared: Arc::new(Shared {
            core,
            inline: None,
            senders,
            handles: Mutex::new(handles),
            dirs,
            seq: AtomicU64::new(0),
            ids: AtomicU64::new(0),
        }),
    })
}

impl TreeOut {
    fn check(&self) -> Result<()> {
        let core = &self.shared.core;
        core.cancel.check()?;
        if core.failure.failed() || core.stop.load(Ordering::Relaxed) {
            return Err(earlier_failure());
        }
        Ok(())
    }

    fn next_seq(&self) -> u64 {
        self.shared.seq.fetch_add(1, Ordering::SeqCst)
    }

    /// The number of operations emitted so far (an error that happens now
    /// comes after all of them).
    pub fn position(&self) -> u64 {
        self.shared.seq.load(Ordering::SeqCst)
    }

    fn worker_for(&self, rel: &[u8]) -> usize {
        if self.shared.senders.is_empty() {
            return 0;
        }
        // FNV-1a: cheap, and stable from run to run.
        let h = rel.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        (h % self.shared.senders.len() as u64) as usize
    }

    fn submit(&self, worker: usize, op: Op) -> Result<()> {
        if let Some(w) = &self.shared.inline {
            let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
            return op.apply(w.as_mut());
        }
        let core = &self.shared.core;
        let cost = op.cost();
        core.gate.acquire(cost, &core.cancel)?;
        if self.shared.senders[worker].send(op).is_err() {
            core.gate.release(cost);
            return Err(earlier_failure());
        }
        Ok(())
    }

    /// An explicit directory (and its parents), which may stay empty.
    pub fn dir(&self, rel: &[u8]) -> Result<()> {
        self.check()?;
        check_path(rel)?;
        let seq = self.next_seq();
        self.shared.dirs.dir(seq, rel)
    }

    /// A whole file with the adapters' mode (0600).
    pub fn file(&self, rel: &[u8], data: Vec<u8>) -> Result<()> {
        self.file_with_mode(rel, FileMode::Private, data)
    }

    /// A whole file. Its directory is created if needed.
    pub fn file_with_mode(&self, rel: &[u8], mode: FileMode, data: Vec<u8>) -> Result<()> {
        self.submit_file(rel, |seq| Op::Whole {
            seq,
            rel: rel.to_vec(),
            mode,
            data,
        })
    }

    /// Check `rel`, make its directory, and hand the file's operation (in
    /// emission order) to the worker that owns the path.
    fn submit_file(&self, rel: &[u8], op: impl FnOnce(u64) -> Op) -> Result<()> {
        self.check()?;
        check_path(rel)?;
        self.shared.dirs.parent_of(rel)?;
        let seq = self.next_seq();
        self.submit(self.worker_for(rel), op(seq))
    }

    /// Start a file written as a stream (mode 0600). Nothing is emitted
    /// until the first chunk fills or the stream is closed.
    pub fn create(&self, rel: &[u8]) -> Result<FileWriter> {
        self.check()?;
        check_path(rel)?;
        self.shared.dirs.parent_of(rel)?;
        Ok(self.writer(rel, FileMode::Private, false))
    }

    fn writer(&self, rel: &[u8], mode: FileMode, resumed: bool) -> FileWriter {
        FileWriter {
            tree: self.clone(),
            rel: rel.to_vec(),
            worker: self.worker_for(rel),
            id: self.shared.ids.fetch_add(1, Ordering::Relaxed),
            mode,
            buf: Vec::new(),
            opened: false,
            resumed,
            done: false,
        }
    }

    /// Reopen a suspended stream to append to it.
    pub fn resume(&self, s: Suspended) -> Result<FileWriter> {
        self.check()?;
        Ok(self.writer(&s.rel, s.mode, true))
    }

    /// Move a finished scratch file into the tree at `rel` (mode 0600).
    /// The scratch file is gone afterwards.
    pub fn adopt(&self, rel: &[u8], src: &Path) -> Result<()> {
        self.submit_file(rel, |seq| Op::Adopt {
            seq,
            rel: rel.to_vec(),
            mode: FileMode::Private,
            src: src.to_path_buf(),
        })
    }

    /// Wait until every operation emitted so far has been carried out.
    pub fn barrier(&self) {
        self.shared.core.gate.wait_idle();
    }

    /// Wait until every operation emitted so far has been carried out,
    /// then hand over the first worker failure (emission order), if any,
    /// with its operation number. Later calls return `None`.
    pub fn settle(&self) -> Option<(u64, Error)> {
        self.shared.core.gate.wait_idle();
        self.shared
            .core
            .failure
            .first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Stop the workers. With `abort`, what is still queued is dropped.
    pub(crate) fn shutdown(&self, abort: bool) {
        self.shared.shutdown(abort);
    }
}

/// A file being written as a stream. Close it; a writer dropped unclosed
/// is closed as it stands (only error paths do that).
pub struct FileWriter {
    tree: TreeOut,
    rel: Vec<u8>,
    worker: usize,
    id: u64,
    mode: FileMode,
    buf: Vec<u8>,
    /// The open (or resume) operation has been emitted.
    opened: bool,
    resumed: bool,
    done: bool,
}

/// A stream set aside by [`FileWriter::suspend`]; [`TreeOut::resume`]
/// appends to it. The sink keeps its small state meanwhile.
#[derive(Debug)]
pub struct Suspended {
    rel: Vec<u8>,
    mode: FileMode,
}

impl FileWriter {
    pub fn path(&self) -> &[u8] {
        &self.rel
    }

    pub fn write_all(&mut self, data: &[u8]) -> Result<()> {
        if self.buf.is_empty() && data.len() >= CHUNK {
            self.tree.check()?;
            self.ensure_open()?;
            return self.send_chunk(data.to_vec());
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn ensure_open(&mut self) -> Result<()> {
        if self.opened {
            return Ok(());
        }
        let seq = self.tree.next_seq();
        let op = if self.resumed {
            Op::Resume {
                seq,
                id: self.id,
                rel: self.rel.clone(),
            }
        } else {
            Op::Open {
                seq,
                id: self.id,
                rel: self.rel.clone(),
                mode: self.mode,
            }
        };
        self.tree.submit(self.worker, op)?;
        self.opened = true;
        Ok(())
    }

    fn send_chunk(&mut self, data: Vec<u8>) -> Result<()> {
        let seq = self.tree.next_seq();
        self.tree.submit(
            self.worker,
            Op::Write {
                seq,
                id: self.id,
                data,
            },
        )
    }

    fn flush(&mut self) -> Result<()> {
        self.tree.check()?;
        self.ensure_open()?;
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.send_chunk(data)
    }

    fn finish(&mut self) -> Result<()> {
        self.done = true;
        self.tree.check()?;
        if !self.opened && !self.resumed {
            let seq = self.tree.next_seq();
            let data = std::mem::take(&mut self.buf);
            return self.tree.submit(
                self.worker,
                Op::Whole {
                    seq,
                    rel: std::mem::take(&mut self.rel),
                    mode: self.mode,
                    data,
                },
            );
        }
        self.flush()?;
        let seq = self.tree.next_seq();
        self.tree
            .submit(self.worker, Op::Close { seq, id: self.id })
    }

    /// Finish the file.
    pub fn close(mut self) -> Result<()> {
        self.finish()
    }

    /// Set the stream aside to append to it later.
    pub fn suspend(mut self) -> Result<Suspended> {
        self.done = true;
        self.flush()?;
        let seq = self.tree.next_seq();
        self.tree
            .submit(self.worker, Op::Suspend { seq, id: self.id })?;
        Ok(Suspended {
            rel: std::mem::take(&mut self.rel),
            mode: self.mode,
        })
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.finish();
        }
    }
}

/// Per-worker open-file table with suspension by path, shared by the
/// backends.
pub(crate) struct Files<T> {
    open: HashMap<u64, T>,
    suspended: HashMap<Vec<u8>, T>,
}

impl<T> Default for Files<T> {
    fn default() -> Self {
        Files {
            open: HashMap::new(),
            suspended: HashMap::new(),
        }
    }
}

fn internal(what: &str) -> Error {
    Error::data(format!("internal: tree sink {what}"))
}

impl<T> Files<T> {
    pub fn insert(&mut self, id: u64, t: T) {
        self.open.insert(id, t);
    }
    pub fn get(&mut self, id: u64) -> Result<&mut T> {
        self.open
            .get_mut(&id)
            .ok_or_else(|| internal("write to a file that is not open"))
    }
    pub fn take(&mut self, id: u64) -> Result<T> {
        self.open
            .remove(&id)
            .ok_or_else(|| internal("close of a file that is not open"))
    }
    pub fn suspend(&mut self, id: u64, rel: Vec<u8>) -> Result<()> {
        let t = self.take(id)?;
        self.suspended.insert(rel, t);
        Ok(())
    }
    pub fn resume(&mut self, id: u64, rel: &[u8]) -> Result<()> {
        let t = self
            .suspended
            .remove(rel)
            .ok_or_else(|| internal("resume of a file that is not suspended"))?;
        self.open.insert(id, t);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_like_go() {
        assert_eq!(join(b"dynamodb", b"..").unwrap(), b"");
        assert_eq!(join_all(&[b"dynamodb", b"..", b"items"]).unwrap(), b"items");
        assert_eq!(
            join_all(&[b"sqs", b".", b"_queue.json"]).unwrap(),
            b"sqs/_queue.json"
        );
        assert_eq!(join(b"s3/b", b"a/b/c").unwrap(), b"s3/b/a/b/c");
        assert!(join(b"", b"..").is_err());
        assert!(join(b"a", b"../..").is_err());
        assert_eq!(parent(b"a/b/c"), Some(&b"a/b"[..]));
        assert_eq!(parent(b"a"), None);
        for bad in [&b""[..], b"/a", b"a/", b"a//b", b"./a", b"a/..", b"a\0b"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        assert!(check_path(b"a/b.c/...").is_ok());
    }
}
