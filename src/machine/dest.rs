//! Where a report goes. `-` is stdout. An existing FIFO or character device
//! (a pipe set up by a CI step, `/dev/null`) is opened and written in place.
//! A regular file, or a path that does not exist yet, is replaced
//! atomically: a temp file beside it, fsync, rename, fsync of the directory,
//! so a reader never sees half a report. A symlink is refused, never
//! followed and never replaced: the tool did not create it and cannot know
//! what it points at. New files get mode 0666 less the umask, like any file
//! a shell redirection would create.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoResultExt, Result};
use crate::fsutil;

/// Mode of a new report before the umask applies.
const REPORT_MODE: u32 = 0o666;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Stdout,
    Path(PathBuf),
}

/// What is at a destination path now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    Nothing,
    Regular,
    /// A FIFO or a character device.
    Stream,
}

impl Dest {
    /// `-` is stdout; anything else a path.
    pub fn parse(p: &Path) -> Dest {
        if p.as_os_str() == "-" {
            Dest::Stdout
        } else {
            Dest::Path(p.to_path_buf())
        }
    }

    pub fn is_stdout(&self) -> bool {
        matches!(self, Dest::Stdout)
    }

    /// Refuse a destination that can never be written, before any work is
    /// done (a run should not spend an hour and then fail on its report).
    pub fn check(&self) -> Result<()> {
        match self {
            Dest::Stdout => Ok(()),
            Dest::Path(p) => classify(p).map(|_| ()),
        }
    }

    /// Write the whole report.
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        match self {
            Dest::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)
                    .and_then(|_| out.flush())
                    .map_err(|e| Error::io("write stdout", e))
            }
            Dest::Path(p) => match classify(p)? {
                Existing::Stream => write_in_place(p, bytes),
                Existing::Nothing | Existing::Regular => replace_atomically(p, bytes),
            },
        }
    }
}

impl std::fmt::Display for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Stdout => f.write_str("stdout"),
            Dest::Path(p) => p.display().fmt(f),
        }
    }
}

fn classify(p: &Path) -> Result<Existing> {
    let md = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::Nothing),
        Err(e) => return Err(Error::io_at(p, "stat", e)),
    };
    let t = md.file_type();
    if t.is_symlink() {
        let target = fs::read_link(p)
            .map(|t| format!(" (-> {})", t.display()))
            .unwrap_or_default();
        let hint = if p.starts_with("/dev") || p.starts_with("/proc") {
            "; use `-` to write to stdout"
        } else {
            "; name the file itself"
        };
        return Err(Error::usage(format!(
            "refusing to write a report through the symlink {}{target}{hint}",
            p.display()
        )));
    }
    if t.is_file() {
        Ok(Existing::Regular)
    } else if t.is_fifo() || t.is_char_device() {
        Ok(Existing::Stream)
    } else if t.is_dir() {
        Err(Error::usage(format!(
            "cannot write a report to {}: it is a directory",
            p.display()
        )))
    } else {
        Err(Error::usage(format!(
            "cannot write a report to {}: not a regular file, FIFO or character device",
            p.display()
        )))
    }
}

/// A FIFO or character device: open it (never through a symlink) and write.
fn write_in_place(p: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(p)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => Error::usage(format!(
                "refusing to write a report through the symlink {}",
                p.display()
            )),
            _ => Error::io_at(p, "open", e),
        })?;
    let t = f.metadata().io_at(p, "stat")?.file_type();
    if !(t.is_fifo() || t.is_char_device()) {
        return Err(Error::usage(format!(
            "{} changed while the report was being written; not writing it",
            p.display()
        )));
    }
    f.write_all(bytes).and_then(|_| f.flush()).io_at(p, "write")
}

fn replace_atomically(p: &Path, bytes: &[u8]) -> Result<()> {
    let dir = fsutil::parent_dir(p);
    fsutil::create_dir_all(dir)?;
    let tmp = fsutil::sibling_temp_path(p, ".tmp-");
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(REPORT_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .io_at(&tmp, "create")?;
        f.write_all(bytes).io_at(&tmp, "write")?;
        f.sync_all().io_at(&tmp, "fsync")?;
        drop(f);
        // The check above is repeated as late as possible: a symlink placed
        // at the path meanwhile is still refused rather than replaced.
        if classify(p)? == Existing::Stream {
            return Err(Error::usage(format!(
                "{} changed while the report was being written; not writing it",
                p.display()
            )));
        }
        fs::rename(&tmp, p).io_at(p, "rename into place")?;
        fsutil::fsync_dir(dir)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn umask() -> u32 {
        // SAFETY: umask only swaps the process mask; it is restored at once.
        unsafe {
            let m = libc::umask(0o022);
            libc::umask(m);
            m as u32
        }
    }

    #[test]
    fn dash_is_stdout() {
        assert_eq!(Dest::parse(Path::new("-")), Dest::Stdout);
        assert_eq!(
            Dest::parse(Path::new("./-")),
            Dest::Path(PathBuf::from("./-"))
        );
    }

    #[test]
    fn regular_files_are_replaced_atomically_with_the_umask_mode() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("sub/r.json");
        let d = Dest::Path(p.clone());
        d.write(b"1").unwrap();
        d.write(b"2").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"2");
        assert_eq!(fs::read_dir(t.path().join("sub")).unwrap().count(), 1);
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask());
    }

    #[test]
    fn symlinks_are_refused_and_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target");
        fs::write(&target, b"keep").unwrap();
        let link = t.path().join("link.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let d = Dest::Path(link.clone());
        let e = d.check().unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("symlink"), "{e}");
        assert!(d.write(b"x").is_err());
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        // A dangling link too.
        let dangling = t.path().join("dangling");
        std::os::unix::fs::symlink(t.path().join("nowhere"), &dangling).unwrap();
        assert!(Dest::Path(dangling.clone()).write(b"x").is_err());
        assert!(!t.path().join("nowhere").exists());
    }

    #[test]
    fn char_devices_are_written_in_place() {
        let d = Dest::Path(PathBuf::from("/dev/null"));
        d.check().unwrap();
        d.write(b"into the void").unwrap();
        assert!(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    #[test]
    fn directories_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let e = Dest::Path(t.path().to_path_buf()).check().unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
    }
}
