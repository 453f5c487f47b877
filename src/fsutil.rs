//! Filesystem discipline shared by every writer and reader: owner-only
//! files, no following of symlinks where upstream refuses them, hard-link
//! refusal on inputs, and fsync-then-rename publication.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, IoResultExt, Kind, Result};

pub const FILE_MODE: u32 = 0o600;
pub const DIR_MODE: u32 = 0o755;

/// 16 lowercase hex characters from 8 bytes of OS randomness.
pub fn random_suffix() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("OS randomness");
    hex::encode(b)
}

/// `<path><infix><16 hex>`, e.g. `out.fsm.tmp-0123456789abcdef`.
pub fn sibling_temp_path(path: &Path, infix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(infix);
    s.push(random_suffix());
    PathBuf::from(s)
}

/// `path` + `suffix` (e.g. `.encode_info.json`), on the raw OS string.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// fsync a directory so a rename inside it is durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(d)
        .and_then(|f| f.sync_all())
        .io_at(d, "fsync directory")
}

pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `p` made absolute against the current directory, with `.` and `..`
/// resolved lexically (no filesystem access, so symlinks are not followed).
pub fn lexical_absolute(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Create a new file for exclusive writing (0600); fails if it exists.
pub fn create_new_private(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .io_at(path, "create")
}

/// Create or truncate a file inside a tree being written, refusing to
/// follow a symlink at `path`. Mode 0600.
pub fn create_tree_file(path: &Path) -> Result<File> {
    create_tree_file_with_mode(path, FILE_MODE)
}

/// [`create_tree_file`] with `mode` (before the umask).
pub fn create_tree_file_with_mode(path: &Path, mode: u32) -> Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                Error::usage(format!(
                    "refusing to overwrite symlink at {}",
                    path.display()
                ))
            } else {
                Error::io_at(path, "create", e)
            }
        })?;
    Ok(f)
}

/// Write a whole file and fsync it.
pub fn write_file_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = create_tree_file(path)?;
    f.write_all(bytes).io_at(path, "write")?;
    f.sync_all().io_at(path, "fsync")
}

/// `mkdir -p` with 0755 directories.
pub fn create_dir_all(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
        .io_at(path, "create directory")
}

/// Open a sidecar for writing the way upstream does: never through a
/// symlink, never into a FIFO or a hard-linked file; truncated and 0600.
pub fn open_sidecar_file(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => Error::usage(format!(
                "refusing to overwrite symlink at {}",
                path.display()
            )),
            Some(libc::ENXIO) => {
                Error::usage(format!("refusing to write to FIFO at {}", path.display()))
            }
            _ => Error::io_at(path, "open", e),
        })?;
    let m = f.metadata().io_at(path, "stat")?;
    if !m.file_type().is_file() {
        return Err(Error::usage(format!(
            "refusing to write non-regular file at {}",
            path.display()
        )));
    }
    if m.nlink() > 1 {
        return Err(Error::usage(format!(
            "refusing to overwrite hard-linked file at {} (nlink={})",
            path.display(),
            m.nlink()
        )));
    }
    f.set_len(0).io_at(path, "truncate")?;
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .io_at(path, "chmod")?;
    Ok(f)
}

/// Rename `tmp` onto `dest` and fsync the directory; if the directory fsync
/// fails the just-published file is removed (it may not be durable).
pub fn publish(tmp: &Path, dest: &Path) -> Result<()> {
    fs::rename(tmp, dest).io_at(dest, "rename into place")?;
    if let Err(e) = fsync_dir(parent_dir(dest)) {
        let _ = fs::remove_file(dest);
        return Err(e);
    }
    Ok(())
}

/// `rename(2)` that fails with `EEXIST` instead of replacing `to` (an
/// empty directory would otherwise be replaced silently). Falls back to a
/// check-then-rename where the filesystem lacks `RENAME_NOREPLACE`.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: two valid NUL-terminated paths; no other memory is touched.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::from_raw_os_error(libc::EEXIST));
            }
            fs::rename(from, to)
        }
        _ => Err(e),
    }
}

/// Check an input file the way upstream's encoders do: a regular file (not
/// followed through a symlink) with a single link.
pub fn check_input_file(path: &Path) -> Result<fs::Metadata> {
    let m = fs::symlink_metadata(path).io_at(path, "stat")?;
    let refuse = |msg: String| Err(Error::data_at(path, msg).with_kind(Kind::NonRegular));
    if m.file_type().is_symlink() {
        return refuse("is a symlink; refusing to follow it".into());
    }
    if !m.file_type().is_file() {
        return refuse("is not a regular file".into());
    }
    if m.nlink() > 1 {
        return refuse(format!(
            "is hard-linked (nlink={}); refusing to read it",
            m.nlink()
        ));
    }
    Ok(m)
}

/// Open a checked input file without following a symlink at the last hop.
pub fn open_input_file(path: &Path) -> Result<File> {
    check_input_file(path)?;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .io_at(path, "open")
}

/// Read a whole checked input file.
pub fn read_input_file(path: &Path) -> Result<Vec<u8>> {
    let mut f = open_input_file(path)?;
    let mut v = Vec::new();
    f.read_to_end(&mut v).io_at(path, "read")?;
    Ok(v)
}

/// Run a blocking flush (fsync, syncfs) on a helper thread, so that a
/// cancelled job returns within its poll interval instead of waiting for
/// the disk; the flush itself runs on to completion in the background.
pub fn interruptible<F>(cancel: &crate::cancel::CancelToken, flush: F) -> Result<()>
where
    F: FnOnce() -> Result<()> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("ekvplan-sync".into())
        .spawn(move || {
            let _ = tx.send(flush());
        })
        .map_err(|e| Error::io("spawn sync thread", e))?;
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(res) => return res,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => cancel.check()?,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::io("sync", io::Error::other("sync thread died")));
            }
        }
    }
}

/// Flush everything written under `dir` to stable storage with one
/// `syncfs(2)` instead of one fsync per file.
pub fn sync_filesystem_of(dir: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let f = File::open(dir).io_at(dir, "open")?;
    // SAFETY: syncfs takes a valid open descriptor and touches no memory.
    let rc = unsafe { libc::syncfs(f.as_raw_fd()) };
    if rc != 0 {
        return Err(Error::io_at(dir, "syncfs", io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_absolute_resolves_dots_without_the_filesystem() {
        assert_eq!(
            lexical_absolute(Path::new("/a/./b/../c")),
            PathBuf::from("/a/c")
        );
        assert_eq!(lexical_absolute(Path::new("/..")), PathBuf::from("/"));
    }

    #[test]
    fn sidecar_refuses_symlink_and_hardlink_and_tightens_mode() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target");
        fs::write(&target, b"keep").unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_sidecar_file(&link).is_err());
        let hard = t.path().join("hard");
        fs::hard_link(&target, &hard).unwrap();
        assert!(open_sidecar_file(&hard).is_err());
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        let fresh = t.path().join("fresh");
        fs::write(&fresh, b"old").unwrap();
        fs::set_permissions(&fresh, fs::Permissions::from_mode(0o644)).unwrap();
        drop(open_sidecar_file(&fresh).unwrap());
        let m = fs::metadata(&fresh).unwrap();
        assert_eq!(m.len(), 0);
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn input_checks() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        fs::write(&f, b"x").unwrap();
        assert!(read_input_file(&f).is_ok());
        let l = t.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert!(read_input_file(&l).is_err());
        fs::hard_link(&f, t.path().join("h")).unwrap();
        assert!(read_input_file(&f).is_err());
    }
}
