//! Unpacking an archive into a new tree with upstream's rules: only plain
//! directories and regular files, no `..`, no absolute paths, no duplicate
//! entries, at most [`Limits`] entries and bytes; then MANIFEST.json,
//! CHECKSUMS and "every file is listed" are verified before anything is
//! published. Errors name the entry and are data errors (exit 2), except
//! failures to read the source or write the destination (exit 1).

use std::cell::Cell;
use std::collections::{HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Condvar, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use super::verify::StreamVerifier;
use super::{Compression, Limits, Problem, show_name};
use crate::adapter::CancelToken;
use crate::error::{Error, IoResultExt, Result};
use crate::fsutil;
use crate::manifest::{self, Manifest};
use crate::tree::checksums;

const DEFAULT_DIR_MODE: u32 = 0o755;
const DEFAULT_FILE_MODE: u32 = 0o600;
/// zstd windows up to 512 MiB decode, as upstream's decoder allows.
const ZSTD_WINDOW_LOG_MAX: u32 = 29;
/// Decompressed bytes after the end-of-archive marker that are read (to
/// check the zstd frame is whole) before the rest is ignored.
const TRAILER_DRAIN_LIMIT: u64 = 16 << 20;
/// CHECKSUMS is held in memory to check the files that follow it.
pub(super) const MAX_CHECKSUMS_BYTES: u64 = 256 << 20;
/// Writer threads: creating a file is mostly kernel time spent waiting, so
/// a few threads overlap it even on two cores.
const WRITERS: usize = 4;
/// Files up to this size are read whole and handed to a writer; bigger
/// ones are streamed to disk on the reader thread.
const POOLED_FILE_MAX: u64 = 1 << 20;
/// File bytes queued or being written by the pool at most.
const POOL_BYTES: usize = 16 << 20;
/// Files queued or being written at most, so that cancelling or failing
/// waits for little work whatever the file sizes.
const POOL_FILES: usize = 512;

/// What an unpack created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    /// Regular-file bytes written.
    pub bytes: u64,
    /// Bytes of tar stream read (decompressed).
    pub tar_bytes: u64,
}

/// Which layer of the input chain failed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layer {
    Source,
    Codec,
}

/// Remembers the first layer whose read failed.
struct Tap<R> {
    inner: R,
    layer: Layer,
    failed: Rc<Cell<Option<Layer>>>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| {
            if self.failed.get().is_none() {
                self.failed.set(Some(self.layer));
            }
        })
    }
}

/// Counts the bytes of tar stream handed to the tar reader.
struct Counter<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// The decompressed tar stream and what it knows about its failures.
pub(super) struct Stream {
    pub(super) reader: Box<dyn Read>,
    pub(super) failed: Rc<Cell<Option<Layer>>>,
    pub(super) count: Rc<Cell<u64>>,
}

pub(super) fn open_stream<R: Read + 'static>(src: R, compression: Compression) -> Result<Stream> {
    let failed = Rc::new(Cell::new(None));
    let count = Rc::new(Cell::new(0));
    let source = Tap {
        inner: src,
        layer: Layer::Source,
        failed: failed.clone(),
    };
    let plain: Box<dyn Read> = match compression {
        Compression::None => Box::new(BufReader::with_capacity(256 << 10, source)),
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(
                256 << 10,
                source,
            ))
            .map_err(|e| Error::io("create zstd decoder", e))?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| Error::io("configure zstd decoder", e))?;
            // Unbuffered above the decoder, so a damaged frame is reported
            // at the entry it damages.
            Box::new(Tap {
                inner: d,
                layer: Layer::Codec,
                failed: failed.clone(),
            })
        }
    };
    Ok(Stream {
        reader: Box::new(Counter {
            inner: plain,
            count: count.clone(),
        }),
        failed,
        count,
    })
}

/// Classify a read error from anywhere in the chain.
pub(super) fn read_error(failed: Option<Layer>, e: io::Error, what: &str) -> Error {
    match failed {
        Some(Layer::Source) => Error::io(format!("read archive ({what})"), e),
        Some(Layer::Codec) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Problem::Truncated.error(format!("{what}: zstd stream ends inside a frame ({e})"))
        }
        Some(Layer::Codec) => Problem::Compression.error(format!("{what}: bad zstd data: {e}")),
        None if e.kind() == io::ErrorKind::UnexpectedEof
            || e.to_string().contains("entire block")
            || e.to_string().contains("EOF") =>
        {
            Problem::Truncated.error(format!("{what}: stream ends early ({e})"))
        }
        None => Problem::Corrupt.error(format!("{what}: {e}")),
    }
}

/// What one tar entry is, by its name and type flag, with the refusals
/// every reader of a dump archive applies: `None` for the archive's root
/// directory (skipped), else its path in the tree and whether it is a
/// directory. Anything but a directory or a regular file is refused.
pub(super) fn classify(raw: &[u8], flag: u8) -> Result<Option<(Vec<u8>, bool)>> {
    let is_dir = flag == b'5' || (flag == 0 && raw.ends_with(b"/"));
    let is_file = !is_dir && (flag == b'0' || flag == 0);
    let Some(rel) = clean_name(raw)? else {
        if is_dir {
            return Ok(None);
        }
        return Err(Problem::NonRegular.at_entry(raw, "names the archive root"));
    };
    if !is_dir && !is_file {
        return Err(Problem::NonRegular.at_entry(
            raw,
            format!(
                "is {}; only directories and regular files are allowed",
                type_description(flag)
            ),
        ));
    }
    Ok(Some((rel, is_dir)))
}

/// The cleaned relative path of an entry, or `None` for the root itself.
pub(super) fn clean_name(raw: &[u8]) -> Result<Option<Vec<u8>>> {
    let name = raw.strip_prefix(b"./").unwrap_or(raw);
    if name.is_empty() || name == b"." || name == b"./" {
        return Ok(None);
    }
    if name[0] == b'/' {
        return Err(Problem::UnsafePath.at_entry(raw, "absolute path"));
    }
    let mut out = Vec::with_capacity(name.len());
    for comp in name.split(|&c| c == b'/') {
        match comp {
            b"" | b"." => continue,
            b".." => {
                return Err(Problem::UnsafePath.at_entry(raw, "path traversal (\"..\")"));
            }
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(out))
}

pub(super) fn type_description(flag: u8) -> String {
    match flag {
        b'1' => "a hard link".into(),
        b'2' => "a symlink".into(),
        b'3' => "a character device".into(),
        b'4' => "a block device".into(),
        b'6' => "a FIFO".into(),
        b'7' => "a contiguous file".into(),
        b'g' => "a PAX global header".into(),
        b'S' => "a GNU sparse file".into(),
        c if c.is_ascii_graphic() => format!("of type {:?}", c as char),
        c => format!("of type 0x{c:02x}"),
    }
}

fn rel_path(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(std::ffi::OsStr::from_bytes(rel))
}

fn mkdir_p(path: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
}

/// One file for a writer: entry `seq` of the archive, its bytes read whole.
struct FileJob {
    seq: u64,
    raw: Vec<u8>,
    target: PathBuf,
    mode: u32,
    data: Vec<u8>,
}

impl FileJob {
    fn write(&self) -> Result<()> {
        let mut out = create_entry_file(&self.raw, &self.target, self.mode)?;
        out.write_all(&self.data).io_at(&self.target, "write")
    }
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<FileJob>,
    bytes: usize,
    files: usize,
    closed: bool,
    /// Nothing more needs writing (cancelled): queued files are dropped.
    abandoned: bool,
    /// The failure of the earliest entry (in archive order) that failed.
    failure: Option<(u64, Error)>,
}

/// Writer threads creating the small files of an unpack. The queue is
/// bounded by bytes and files; a failure is kept with its entry's position
/// so that, when several writers fail, the earliest entry's error wins.
#[derive(Default)]
struct WriterPool {
    state: Mutex<PoolState>,
    work: Condvar,
    room: Condvar,
}

impl WriterPool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A writer thread's loop, until the pool is closed and empty.
    fn run(&self) {
        let mut st = self.lock();
        loop {
            let Some(job) = st.queue.pop_front() else {
                if st.closed {
                    return;
                }
                st = self.work.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            // Entries after a failed one would never have been written.
            let skip = st.abandoned || st.failure.as_ref().is_some_and(|(s, _)| *s < job.seq);
            drop(st);
            let result = if skip { Ok(()) } else { job.write() };
            st = self.lock();
            st.bytes -= job.data.len();
            st.files -= 1;
            if let Err(e) = result {
                if st.failure.as_ref().is_none_or(|(s, _)| job.seq < *s) {
                    st.failure = Some((job.seq, e));
                }
            }
            self.room.notify_all();
        }
    }

    /// Queue a file, waiting for room; a failure already known is returned
    /// (after the files before it are settled) instead.
    fn submit(&self, job: FileJob) -> Result<()> {
        let mut st = self.lock();
        while st.failure.is_none()
            && st.files > 0
            && (st.files >= POOL_FILES || st.bytes + job.data.len() > POOL_BYTES)
        {
            st = self.room.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if st.failure.is_some() {
            drop(st);
            return self.drain();
        }
        st.bytes += job.data.len();
        st.files += 1;
        st.queue.push_back(job);
        self.work.notify_one();
        Ok(())
    }

    /// Wait until every queued file is written; the earliest failure.
    fn drain(&self) -> Result<()> {
        let mut st = self.lock();
        while st.files > 0 {
            st = self.room.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        match st.failure.take() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Drop what is queued (the unpack was cancelled) and wait for the
    /// writes under way.
    fn abandon(&self) {
        self.lock().abandoned = true;
        let _ = self.drain();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.work.notify_all();
    }
}

fn create_entry_file(raw: &[u8], target: &Path, mode: u32) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(target)
        .map_err(|e| entry_fs_error(raw, target, e))
}

/// Hashes of the file entries' paths, to tell cheaply whether a path the
/// reader is about to create or check may be a file a writer has not
/// created yet (then the pool is drained first, and the check is made
/// on disk as if files were written in order).
struct FileNames {
    hasher: RandomState,
    seen: HashSet<u64>,
}

impl FileNames {
    fn new() -> Self {
        FileNames {
            hasher: RandomState::new(),
            seen: HashSet::new(),
        }
    }

    /// Records a file path; false if it may have been recorded before.
    fn insert(&mut self, rel: &[u8]) -> bool {
        self.seen.insert(self.hasher.hash_one(rel))
    }

    fn may_contain(&self, rel: &[u8]) -> bool {
        self.seen.contains(&self.hasher.hash_one(rel))
    }

    /// Whether `rel` or one of its ancestors may be a file.
    fn may_contain_prefix(&self, rel: &[u8]) -> bool {
        rel.iter()
            .enumerate()
            .filter(|&(_, &c)| c == b'/')
            .any(|(i, _)| self.may_contain(&rel[..i]))
            || self.may_contain(rel)
    }
}

/// Where, and within which limits, an archive is extracted.
#[derive(Clone, Copy)]
struct Extraction<'a> {
    compression: Compression,
    /// An empty directory.
    root: &'a Path,
    limits: Limits,
    cancel: &'a CancelToken,
}

/// Extract the archive's entries into `x.root`. Returns the explicit
/// directory modes to apply once the tree is verified.
fn extract(
    stream: &mut Stream,
    x: Extraction<'_>,
    stats: &mut UnpackStats,
) -> Result<(Vec<(PathBuf, u32)>, StreamVerifier)> {
    let pool = WriterPool::default();
    std::thread::scope(|scope| {
        for _ in 0..WRITERS {
            scope.spawn(|| pool.run());
        }
        let result = extract_entries(stream, x, stats, &pool);
        let settled = match &result {
            Err(Error::Interrupted) => {
                pool.abandon();
                Ok(())
            }
            _ => pool.drain(),
        };
        pool.close();
        // Every queued file comes before the entry (or the end) where the
        // reader stopped, so a writer's failure is the earlier one.
        settled?;
        result
    })
}

fn extract_entries(
    stream: &mut Stream,
    x: Extraction<'_>,
    stats: &mut UnpackStats,
    pool: &WriterPool,
) -> Result<(Vec<(PathBuf, u32)>, StreamVerifier)> {
    let Extraction {
        compression,
        root,
        limits,
        cancel,
    } = x;
    let failed = stream.failed.clone();
    let count = stream.count.clone();
    let mut archive = tar::Archive::new(&mut stream.reader);
    let mut entries = archive
        .entries()
        .map_err(|e| read_error(failed.get(), e, "start of archive"))?;
    let mut dirs_seen: HashSet<Vec<u8>> = HashSet::new();
    let mut known_dirs: HashSet<PathBuf> = HashSet::from([root.to_path_buf()]);
    let mut verifier = StreamVerifier::default();
    let mut dir_modes = Vec::new();
    let mut entries_left = limits.max_entries;
    let mut bytes_left = limits.max_bytes;
    let mut last = LastEntry::default();
    let mut buf = vec![0u8; 256 << 10];
    let mut file_names = FileNames::new();
    loop {
        cancel.check()?;
        let mut entry = match entries.next() {
            None => break,
            Some(Ok(e)) => e,
            Some(Err(e)) => return Err(read_error(failed.get(), e, &last.next_header())),
        };
        let raw = entry.path_bytes().into_owned();
        if entries_left == 0 {
            return Err(
                Problem::Budget.at_entry(&raw, format!("more than {} entries", limits.max_entries))
            );
        }
        entries_left -= 1;
        stats.entries += 1;
        let Some((rel, is_dir, size)) = last.read(&entry, &raw)? else {
            continue;
        };
        let mode = entry
            .header()
            .mode()
            .map_err(|e| Problem::Corrupt.at_entry(&raw, format!("bad mode field: {e}")))?
            & 0o777;
        let target = rel_path(root, &rel);
        if is_dir {
            if !dirs_seen.insert(rel.clone()) {
                return Err(Problem::Duplicate.at_entry(&raw, "directory listed twice"));
            }
            let mode = if mode == 0 { DEFAULT_DIR_MODE } else { mode };
            if !known_dirs.contains(&target) && file_names.may_contain_prefix(&rel) {
                pool.drain()?;
            }
            if let Ok(m) = fs::symlink_metadata(&target) {
                if !m.is_dir() {
                    return Err(Problem::Duplicate.at_entry(&raw, "a file entry has the same path"));
                }
            }
            if !known_dirs.contains(&target) {
                mkdir_p(&target, mode | 0o700).map_err(|e| entry_fs_error(&raw, &target, e))?;
                note_dirs(&mut known_dirs, root, &target);
            }
            dir_modes.push((target, mode));
            stats.dirs += 1;
            continue;
        }
        if size > bytes_left {
            return Err(Problem::Budget.at_entry(
                &raw,
                format!(
                    "needs {size} bytes, {bytes_left} left of the {} byte budget",
                    limits.max_bytes
                ),
            ));
        }
        bytes_left -= size;
        if !file_names.insert(&rel) {
            // Possibly listed twice: the earlier one is created first.
            pool.drain()?;
        }
        if let Some(parent) = target.parent() {
            if !known_dirs.contains(parent) {
                let parent_rel = &rel[..rel.iter().rposition(|&c| c == b'/').unwrap_or(0)];
                if file_names.may_contain_prefix(parent_rel) {
                    pool.drain()?;
                }
                mkdir_p(parent, DEFAULT_DIR_MODE).map_err(|e| entry_fs_error(&raw, parent, e))?;
                note_dirs(&mut known_dirs, root, parent);
            }
        }
        let is_checksums = rel == checksums::FILE_NAME.as_bytes();
        if is_checksums && size > MAX_CHECKSUMS_BYTES {
            return Err(Problem::Budget.at_entry(
                &raw,
                format!("is {size} bytes; CHECKSUMS may be at most {MAX_CHECKSUMS_BYTES}"),
            ));
        }
        let mode = if mode == 0 { DEFAULT_FILE_MODE } else { mode };
        let truncated = |left: u64| {
            Problem::Truncated.at_entry(
                &raw,
                format!("stream ends {left} bytes before the end of the entry's {size} bytes"),
            )
        };
        if size <= POOLED_FILE_MAX && !is_checksums {
            let mut data = vec![0u8; size as usize];
            let mut got = 0;
            while got < data.len() {
                let n = entry.read(&mut data[got..]).map_err(|e| {
                    read_error(failed.get(), e, &format!("entry {}", show_name(&raw)))
                })?;
                if n == 0 {
                    return Err(truncated(size - got as u64));
                }
                got += n;
            }
            let digest = Sha256::digest(&data).into();
            pool.submit(FileJob {
                seq: stats.entries,
                raw: raw.clone(),
                target,
                mode,
                data,
            })?;
            verifier.file(&rel, digest)?;
            stats.files += 1;
            stats.bytes += size;
            continue;
        }
        let mut captured = Vec::new();
        let mut hasher = Sha256::new();
        let mut out = create_entry_file(&raw, &target, mode)?;
        let mut left = size;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = entry
                .read(&mut buf[..want])
                .map_err(|e| read_error(failed.get(), e, &format!("entry {}", show_name(&raw))))?;
            if n == 0 {
                return Err(truncated(left));
            }
            out.write_all(&buf[..n]).io_at(&target, "write")?;
            hasher.update(&buf[..n]);
            if is_checksums {
                captured.extend_from_slice(&buf[..n]);
            }
            left -= n as u64;
        }
        drop(out);
        if is_checksums {
            verifier.checksums(&captured)?;
        } else {
            verifier.file(&rel, hasher.finalize().into())?;
        }
        stats.files += 1;
        stats.bytes += size;
    }
    last.finish(archive.into_inner(), compression, count.get(), &failed)?;
    stats.tar_bytes = count.get();
    Ok((dir_modes, verifier))
}

/// The last entry read: where its data ends and its name, for the message
/// about the header after it and for the end-of-archive check.
#[derive(Debug, Default)]
pub(super) struct LastEntry {
    end: u64,
    name: Option<Vec<u8>>,
}

impl LastEntry {
    /// Where a header that cannot be read is.
    pub(super) fn next_header(&self) -> String {
        match &self.name {
            Some(n) => format!("header after entry {}", show_name(n)),
            None => "first header".to_string(),
        }
    }

    /// Note `entry` (named `raw`) as the last one read, and [`classify`]
    /// it: its path, whether it is a directory, and its size.
    pub(super) fn read<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        raw: &[u8],
    ) -> Result<Option<(Vec<u8>, bool, u64)>> {
        let flag = entry.header().as_bytes()[156];
        let size = entry.size();
        self.end = entry.raw_file_position() + size.div_ceil(512) * 512;
        self.name = Some(raw.to_vec());
        Ok(classify(raw, flag)?.map(|(rel, is_dir)| (rel, is_dir, size)))
    }

    /// [`finish_stream`] after this entry.
    pub(super) fn finish(
        &self,
        rest: &mut dyn Read,
        compression: Compression,
        tar_bytes_read: u64,
        failed: &Cell<Option<Layer>>,
    ) -> Result<()> {
        finish_stream(
            rest,
            compression,
            tar_bytes_read,
            self.end,
            self.name.as_deref(),
            failed,
        )
    }
}

/// After the last entry: the end-of-archive marker must follow it (the tar
/// reader stops at the first zero block, so a stream that simply ends after
/// the last entry has lost it), and a zstd stream is read on to its end so
/// a damaged or cut frame (and its checksum) is noticed.
pub(super) fn finish_stream(
    rest: &mut dyn Read,
    compression: Compression,
    tar_bytes_read: u64,
    end_of_last: u64,
    last_name: Option<&[u8]>,
    failed: &Cell<Option<Layer>>,
) -> Result<()> {
    if tar_bytes_read < end_of_last + 512 {
        return Err(Problem::Truncated.error(match last_name {
            Some(n) => format!(
                "stream ends after entry {} without the end-of-archive marker",
                show_name(n)
            ),
            None => "empty stream (no tar header)".to_string(),
        }));
    }
    if compression == Compression::Zstd {
        let mut buf = vec![0u8; 64 << 10];
        let mut trailer = 0u64;
        while trailer <= TRAILER_DRAIN_LIMIT {
            match rest.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => trailer += n as u64,
                Err(e) => {
                    return Err(read_error(
                        failed.get(),
                        e,
                        "after the end-of-archive marker",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Record `dir` and its ancestors below `root` as existing.
fn note_dirs(known: &mut HashSet<PathBuf>, root: &Path, dir: &Path) {
    let mut d = Some(dir);
    while let Some(p) = d {
        if p == root || !known.insert(p.to_path_buf()) {
            break;
        }
        d = p.parent();
    }
}

fn entry_fs_error(raw: &[u8], path: &Path, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EEXIST) => {
            Problem::Duplicate.at_entry(raw, "listed twice (the path already exists)")
        }
        Some(libc::ENOTDIR) | Some(libc::ELOOP) => {
            Problem::Duplicate.at_entry(raw, "a parent directory was unpacked as a file")
        }
        _ => Error::io_at(path, "create", e),
    }
}

/// The unpacked MANIFEST.json exists and is valid (CHECKSUMS was checked
/// while unpacking).
fn verify_manifest(root: &Path) -> Result<Manifest> {
    let p = root.join(manifest::FILE_NAME);
    match fs::symlink_metadata(&p) {
        Ok(m) if m.is_file() => Manifest::read_from_dir(root),
        Ok(_) => {
            Err(Problem::NonRegular.error(format!("{} is not a regular file", manifest::FILE_NAME)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::data(format!(
            "the archive has no {}",
            manifest::FILE_NAME
        ))),
        Err(e) => Err(Error::io_at(&p, "stat", e)),
    }
}

/// MANIFEST.json and CHECKSUMS are regular files, the manifest is valid,
/// every CHECKSUMS line matches and every regular file is listed.
pub fn verify_tree(root: &Path) -> Result<Manifest> {
    for name in [manifest::FILE_NAME, checksums::FILE_NAME] {
        let p = root.join(name);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(Problem::NonRegular.error(format!("{name} is not a regular file"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::data(format!("the archive has no {name}")));
            }
            Err(e) => return Err(Error::io_at(&p, "stat", e)),
        }
    }
    let m = Manifest::read_from_dir(root)?;
    checksums::verify(root)?;
    let listed = listed_paths(root)?;
    for (rel, _) in checksums::list_regular_files(root)? {
        if rel != checksums::FILE_NAME.as_bytes() && !listed.contains(&rel) {
            return Err(Problem::Unchecksummed.at_entry(&rel, "is not listed in CHECKSUMS"));
        }
    }
    Ok(m)
}

/// The relative paths CHECKSUMS lists, with `.` and empty components
/// dropped (CHECKSUMS itself was verified line by line already).
fn listed_paths(root: &Path) -> Result<HashSet<Vec<u8>>> {
    let path = root.join(checksums::FILE_NAME);
    let f = File::open(&path).io_at(&path, "open")?;
    let mut set = HashSet::new();
    for (n, line) in BufReader::new(f).split(b'\n').enumerate() {
        let mut line = line.io_at(&path, "read")?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        let (_, rel) = checksums::split_line(&line)
            .map_err(|e| Error::data_at(&path, format!("line {}: {e}", n + 1)))?;
        let clean: Vec<&[u8]> = rel
            .split(|&c| c == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        set.insert(clean.join(&b'/'));
    }
    Ok(set)
}

/// Explicit directory modes, deepest first so a read-only parent does not
/// stop a child's chmod.
fn apply_dir_modes(mut modes: Vec<(PathBuf, u32)>) -> Result<()> {
    modes.sort_by(|a, b| {
        let (la, lb) = (a.0.as_os_str().len(), b.0.as_os_str().len());
        lb.cmp(&la).then_with(|| b.0.cmp(&a.0))
    });
    for (p, mode) in modes {
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).io_at(&p, "chmod")?;
    }
    Ok(())
}

/// Unpack into `dir`, which must exist and be empty, and verify the tree.
/// Directory modes are applied last. Nothing is synced or published.
pub fn unpack_to_dir<R: Read + 'static>(
    src: R,
    compression: Compression,
    dir: &Path,
    limits: Limits,
    cancel: &CancelToken,
) -> Result<UnpackStats> {
    unpack_into(src, compression, dir, limits, cancel, true)
}

/// [`unpack_to_dir`], applying the archive's directory modes or not.
pub(super) fn unpack_into<R: Read + 'static>(
    src: R,
    compression: Compression,
    dir: &Path,
    limits: Limits,
    cancel: &CancelToken,
    dir_modes: bool,
) -> Result<UnpackStats> {
    let mut stream = open_stream(src, compression)?;
    let mut stats = UnpackStats::default();
    let x = Extraction {
        compression,
        root: dir,
        limits,
        cancel,
    };
    let (modes, verifier) = extract(&mut stream, x, &mut stats)?;
    cancel.check()?;
    verify_manifest(dir)?;
    verifier.finish()?;
    if dir_modes {
        apply_dir_modes(modes)?;
    }
    Ok(stats)
}

/// Removes a partly unpacked tree when dropped, making directories
/// writable first (an archive may make them read-only).
struct RemoveTreeOnDrop(Option<PathBuf>);

impl Drop for RemoveTreeOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            remove_tree(&p);
        }
    }
}

/// `rm -rf`, making directories writable on the way down. Files are
/// unlinked by a few threads (unlinking, like creating, is mostly kernel
/// time spent waiting), fed by the walk through a bounded channel.
pub fn remove_tree(root: &Path) {
    fn walk(p: &Path, files: &std::sync::mpsc::SyncSender<PathBuf>) {
        let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o700));
        let Ok(rd) = fs::read_dir(p) else { return };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&e.path(), files),
                _ => {
                    if files.send(e.path()).is_err() {
                        return;
                    }
                }
            }
        }
    }
    if fs::symlink_metadata(root).is_ok_and(|m| m.is_dir()) {
        let (tx, rx) = std::sync::mpsc::sync_channel::<PathBuf>(1024);
        let rx = Mutex::new(rx);
        std::thread::scope(|scope| {
            for _ in 0..WRITERS {
                scope.spawn(|| {
                    loop {
                        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(path) = next else { return };
                        let _ = fs::remove_file(path);
                    }
                });
            }
            walk(root, &tx);
            drop(tx);
        });
    }
    // What is left: the directories (and anything that failed above).
    let _ = fs::remove_dir_all(root);
}

/// `archive unpack`: unpack into a temp directory beside `output`, verify,
/// sync, then rename it into place. `output` must not exist.
pub fn unpack_to_path<R: Read + 'static>(
    src: R,
    compression: Compression,
    output: &Path,
    limits: Limits,
    cancel: &CancelToken,
) -> Result<UnpackStats> {
    if fs::symlink_metadata(output).is_ok() {
        return Err(destination_exists(output));
    }
    let parent = fsutil::parent_dir(output);
    fsutil::create_dir_all(parent)?;
    let tmp = fsutil::sibling_temp_path(output, ".tmp-");
    fs::DirBuilder::new()
        .mode(DEFAULT_DIR_MODE)
        .create(&tmp)
        .io_at(&tmp, "create directory")?;
    let mut guard = RemoveTreeOnDrop(Some(tmp.clone()));
    let stats = unpack_to_dir(src, compression, &tmp, limits, cancel)?;
    fsutil::sync_filesystem_of(&tmp)?;
    cancel.check()?;
    fsutil::rename_noreplace(&tmp, output).map_err(|e| match e.raw_os_error() {
        Some(libc::EEXIST) | Some(libc::ENOTEMPTY) => destination_exists(output),
        _ => Error::io_at(output, "rename into place", e),
    })?;
    guard.0 = None;
    fsutil::fsync_dir(parent)?;
    Ok(stats)
}

fn destination_exists(output: &Path) -> Error {
    Error::usage(format!(
        "--output {}: destination exists (unpack creates a new directory)",
        output.display()
    ))
}

/// Open an archive file the way upstream does: not through a symlink, and
/// only a regular file (a FIFO or directory is refused without blocking).
pub fn open_archive_file(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => {
                Problem::NonRegular.error(format!("{}: archive input is a symlink", path.display()))
            }
            _ => Error::io_at(path, "open", e),
        })?;
    let m = f.metadata().io_at(path, "stat")?;
    if !m.is_file() {
        return Err(Problem::NonRegular.error(format!(
            "{}: archive input is not a regular file",
            path.display()
        )));
    }
    // Back to blocking reads.
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a descriptor we own; no memory is passed.
    unsafe {
        let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
        if fl >= 0 {
            libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_or_refused() {
        let ok = |s: &str| {
            clean_name(s.as_bytes())
                .unwrap()
                .map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(ok("./a/b"), Some("a/b".into()));
        assert_eq!(ok("a//b/./c/"), Some("a/b/c".into()));
        assert_eq!(ok("./"), None);
        assert_eq!(ok("."), None);
        for bad in ["../x", "a/../../x", "a/..", "/etc/passwd", "//x"] {
            let e = clean_name(bad.as_bytes()).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains("archive_unsafe_path"), "{e}");
        }
    }

    #[test]
    fn entry_and_byte_budgets_are_enforced() {
        let dump = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dumps/cluster-1");
        let (tar, stats) =
            super::super::pack_tree(&dump, Vec::new(), Compression::None, &CancelToken::new())
                .unwrap();
        let run = |limits: Limits| {
            let t = tempfile::tempdir().unwrap();
            unpack_to_dir(
                io::Cursor::new(tar.clone()),
                Compression::None,
                t.path(),
                limits,
                &CancelToken::new(),
            )
        };
        let exact = Limits {
            max_entries: stats.entries,
            max_bytes: stats.bytes,
        };
        assert_eq!(run(exact).unwrap().entries, stats.entries);
        for tight in [
            Limits {
                max_entries: stats.entries - 1,
                ..exact
            },
            Limits {
                max_bytes: stats.bytes - 1,
                ..exact
            },
        ] {
            let e = run(tight).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains("archive_budget_exceeded"), "{e}");
        }
    }
}
