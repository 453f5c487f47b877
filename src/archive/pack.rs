//! Packing a dump tree the way upstream does: verify MANIFEST.json and
//! CHECKSUMS (and that every file is listed), refuse anything but
//! directories and single-link regular files, then write every path below
//! the root in bytewise order with Go's tar headers, zstd-compressed unless
//! `none`.

use std::collections::HashMap;
use std::ffi::CStr;
use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::goheader::{self, Member};
use super::{Compression, Problem};
use crate::adapter::CancelToken;
use crate::error::{Error, IoResultExt, Result};
use crate::fsutil;
use crate::manifest;
use crate::tree::checksums;

/// Upstream's encoder runs at its default speed (zstd's level 3) with an
/// 8 MiB window; the window matters more than the level on dump trees.
pub const ZSTD_LEVEL: i32 = 3;
pub const ZSTD_WINDOW_LOG: u32 = 23;

/// What a pack wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackStats {
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    /// Regular-file bytes read from the tree.
    pub bytes: u64,
    /// Bytes of archive written (after compression).
    pub archive_bytes: u64,
}

/// The source tree's gate, as upstream applies it before packing:
/// MANIFEST.json and CHECKSUMS are single-link regular files, the manifest
/// is valid, CHECKSUMS matches, and every regular file is listed.
pub fn verify_source(root: &Path) -> Result<()> {
    for name in [manifest::FILE_NAME, checksums::FILE_NAME] {
        let p = root.join(name);
        let m = fs::symlink_metadata(&p).io_at(&p, "stat")?;
        if !m.is_file() {
            return Err(Problem::NonRegular.error(format!("{} is not a regular file", p.display())));
        }
        if m.nlink() > 1 {
            return Err(Problem::NonRegular.error(format!(
                "{} is hard-linked (nlink={})",
                p.display(),
                m.nlink()
            )));
        }
    }
    super::unpack::verify_tree(root).map(|_| ())
}

/// Every path below `root` (relative bytes, is-directory), bytewise sorted;
/// anything but a directory or a single-link regular file is refused.
fn collect(root: &Path) -> Result<Vec<(Vec<u8>, bool)>> {
    let mut out = Vec::new();
    let mut stack = vec![(Vec::new(), root.to_path_buf())];
    while let Some((rel, dir)) = stack.pop() {
        for ent in fs::read_dir(&dir).io_at(&dir, "read directory")? {
            let ent = ent.io_at(&dir, "read directory")?;
            let path = ent.path();
            let m = fs::symlink_metadata(&path).io_at(&path, "stat")?;
            let mut r = rel.clone();
            if !r.is_empty() {
                r.push(b'/');
            }
            r.extend_from_slice(ent.file_name().as_bytes());
            let ft = m.file_type();
            if ft.is_dir() {
                out.push((r.clone(), true));
                stack.push((r, path));
            } else if ft.is_file() {
                if m.nlink() > 1 {
                    return Err(Problem::NonRegular.error(format!(
                        "{} is hard-linked (nlink={})",
                        path.display(),
                        m.nlink()
                    )));
                }
                out.push((r, false));
            } else {
                use std::os::unix::fs::FileTypeExt;
                let what = if ft.is_symlink() {
                    "a symlink"
                } else if ft.is_fifo() {
                    "a FIFO"
                } else if ft.is_socket() {
                    "a socket"
                } else {
                    "a device"
                };
                return Err(Problem::NonRegular.error(format!(
                    "{} is {what}; only directories and regular files are packed",
                    path.display()
                )));
            }
        }
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// User and group names by id, as Go's tar looks them up (cached).
#[derive(Default)]
struct Names {
    users: HashMap<u32, Vec<u8>>,
    groups: HashMap<u32, Vec<u8>>,
}

impl Names {
    fn user(&mut self, uid: u32) -> Vec<u8> {
        self.users
            .entry(uid)
            .or_insert_with(|| lookup_user(uid))
            .clone()
    }
    fn group(&mut self, gid: u32) -> Vec<u8> {
        self.groups
            .entry(gid)
            .or_insert_with(|| lookup_group(gid))
            .clone()
    }
}

fn lookup_user(uid: u32) -> Vec<u8> {
    let mut buf = vec![0 as libc::c_char; 16 << 10];
    // SAFETY: getpwuid_r writes into `pw` and `buf` (sized as passed) and
    // sets `res` to `&pw` on success; the name points into `buf`.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut res: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut res) == 0
            && !res.is_null()
            && !pw.pw_name.is_null()
        {
            return CStr::from_ptr(pw.pw_name).to_bytes().to_vec();
        }
    }
    Vec::new()
}

fn lookup_group(gid: u32) -> Vec<u8> {
    let mut buf = vec![0 as libc::c_char; 16 << 10];
    // SAFETY: as in `lookup_user`, for getgrgid_r.
    unsafe {
        let mut gr: libc::group = std::mem::zeroed();
        let mut res: *mut libc::group = std::ptr::null_mut();
        if libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr(), buf.len(), &mut res) == 0
            && !res.is_null()
            && !gr.gr_name.is_null()
        {
            return CStr::from_ptr(gr.gr_name).to_bytes().to_vec();
        }
    }
    Vec::new()
}

fn member(rel: &[u8], m: &fs::Metadata, names: &mut Names) -> Member {
    Member {
        name: rel.to_vec(),
        is_dir: m.is_dir(),
        mode: m.mode() & 0o7777,
        uid: u64::from(m.uid()),
        gid: u64::from(m.gid()),
        uname: names.user(m.uid()),
        gname: names.group(m.gid()),
        size: if m.is_dir() { 0 } else { m.len() },
        mtime_secs: m.mtime(),
        mtime_nanos: m.mtime_nsec().clamp(0, 999_999_999) as u32,
    }
}

/// Yields exactly `left` bytes of a file and fails if it has more or fewer
/// (the tree changed while it was packed).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other("file grew while it was being packed")),
            };
        }
        let want = self.left.min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::other("file shrank while it was being packed"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The compression layer under the tar writer.
enum Sink<W: Write> {
    Plain(W),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Zstd(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Zstd(w) => w.flush(),
        }
    }
}

impl<W: Write> Sink<W> {
    fn finish(self) -> io::Result<W> {
        match self {
            Sink::Plain(w) => Ok(w),
            Sink::Zstd(w) => w.finish(),
        }
    }
}

/// Verify the tree at `root`, then write its archive to `out`.
pub fn pack_tree<W: Write>(
    root: &Path,
    out: W,
    compression: Compression,
    cancel: &CancelToken,
) -> Result<(W, PackStats)> {
    let root = fs::canonicalize(root).io_at(root, "resolve")?;
    verify_source(&root)?;
    let paths = collect(&root)?;
    let counting = Counting {
        inner: out,
        count: 0,
    };
    let sink = match compression {
        Compression::None => Sink::Plain(counting),
        Compression::Zstd => {
            let mut e = zstd::stream::write::Encoder::new(counting, ZSTD_LEVEL)
                .map_err(|e| Error::io("create zstd encoder", e))?;
            e.include_checksum(true)
                .and_then(|_| e.window_log(ZSTD_WINDOW_LOG))
                .map_err(|e| Error::io("configure zstd encoder", e))?;
            Sink::Zstd(e)
        }
    };
    let write_err = |e: io::Error| Error::io("write archive", e);
    let mut builder = tar::Builder::new(sink);
    let mut names = Names::default();
    let mut stats = PackStats::default();
    for (rel, was_dir) in &paths {
        cancel.check()?;
        let path = root.join(std::ffi::OsStr::from_bytes(rel));
        let lm = fs::symlink_metadata(&path).io_at(&path, "stat")?;
        if lm.is_dir() != *was_dir || !(lm.is_dir() || lm.is_file()) {
            return Err(Problem::NonRegular.error(format!(
                "{} changed while it was being packed",
                path.display()
            )));
        }
        if lm.is_dir() {
            let enc = goheader::encode(&member(rel, &lm, &mut names));
            append(&mut builder, &enc, io::empty()).map_err(write_err)?;
            stats.dirs += 1;
        } else {
            let file = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::ELOOP) => {
                        Problem::NonRegular.error(format!("{} is a symlink", path.display()))
                    }
                    _ => Error::io_at(&path, "open", e),
                })?;
            let fm = file.metadata().io_at(&path, "stat")?;
            if !fm.is_file() || fm.dev() != lm.dev() || fm.ino() != lm.ino() {
                return Err(Problem::NonRegular.error(format!(
                    "{} changed while it was being packed",
                    path.display()
                )));
            }
            if fm.nlink() > 1 {
                return Err(Problem::NonRegular.error(format!(
                    "{} is hard-linked (nlink={})",
                    path.display(),
                    fm.nlink()
                )));
            }
            let enc = goheader::encode(&member(rel, &fm, &mut names));
            let data = Exact {
                inner: file,
                left: fm.len(),
            };
            append(&mut builder, &enc, data).map_err(|e| Error::io_at(&path, "pack", e))?;
            stats.files += 1;
            stats.bytes += fm.len();
        }
        stats.entries += 1;
    }
    let sink = builder.into_inner().map_err(write_err)?;
    let counting = sink.finish().map_err(write_err)?;
    stats.archive_bytes = counting.count;
    Ok((counting.inner, stats))
}

fn append<W: Write, R: Read>(
    b: &mut tar::Builder<W>,
    enc: &goheader::Encoded,
    data: R,
) -> io::Result<()> {
    if let Some((xh, records)) = &enc.pax {
        b.append(tar::Header::from_byte_slice(xh), &records[..])?;
    }
    b.append(tar::Header::from_byte_slice(&enc.main), data)
}

/// Upstream refuses an output path inside the input tree.
fn reject_output_inside_input(input: &Path, output: &Path) -> Result<()> {
    let input_abs = fs::canonicalize(input).io_at(input, "resolve")?;
    let parent = fsutil::parent_dir(output);
    let parent_abs = fs::canonicalize(parent).io_at(parent, "resolve")?;
    let out_abs = match output.file_name() {
        Some(n) => parent_abs.join(n),
        None => parent_abs,
    };
    if out_abs.starts_with(&input_abs) {
        return Err(Error::usage(format!(
            "--output {} is inside the input tree {}",
            output.display(),
            input.display()
        )));
    }
    Ok(())
}

/// `archive pack`: `-` writes to stdout; a path is written beside itself,
/// synced and renamed into place (it must not exist).
pub fn pack_to_path(
    input: &Path,
    output: &str,
    compression: Compression,
    cancel: &CancelToken,
) -> Result<PackStats> {
    if output == "-" {
        let stdout = io::stdout().lock();
        let (mut w, stats) = pack_tree(input, BufWriter::new(stdout), compression, cancel)?;
        w.flush().io_ctx("write archive to stdout")?;
        return Ok(stats);
    }
    let out = Path::new(output);
    reject_output_inside_input(input, out)?;
    if fs::symlink_metadata(out).is_ok() {
        return Err(Error::usage(format!("--output {output}: file exists")));
    }
    let tmp = fsutil::sibling_temp_path(out, ".tmp-");
    let file = fsutil::create_new_private(&tmp)?;
    let guard = TempFile(Some(tmp.clone()));
    let (w, stats) = pack_tree(
        input,
        BufWriter::with_capacity(1 << 20, file),
        compression,
        cancel,
    )?;
    let file = w
        .into_inner()
        .map_err(|e| Error::io_at(&tmp, "write", e.into_error()))?;
    file.sync_all().io_at(&tmp, "fsync")?;
    drop(file);
    cancel.check()?;
    fsutil::rename_noreplace(&tmp, out).map_err(|e| match e.raw_os_error() {
        Some(libc::EEXIST) => Error::usage(format!("--output {output}: file exists")),
        _ => Error::io_at(out, "rename into place", e),
    })?;
    guard.disarm();
    fsutil::fsync_dir(fsutil::parent_dir(out))?;
    Ok(stats)
}

struct TempFile(Option<PathBuf>);

impl TempFile {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}
