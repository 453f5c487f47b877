//! Per-run scratch directories that a later run can recognise as stale.
//!
//! Each run makes `ekvplan-run-<16 hex>/` under every scratch base its jobs
//! use and holds an exclusive `flock` on `<dir>/lock` while it lives. Each
//! job gets its own subdirectory. The kernel drops the lock when the process
//! dies, even by `kill -9`, so a directory whose lock can be taken belongs to
//! no live run and is removed by the next run that uses the same base.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{IoResultExt, Result};
use crate::fsutil;

const PREFIX: &str = "ekvplan-run-";
const LOCK: &str = "lock";

fn is_run_dir_name(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|c| c.is_ascii_hexdigit()))
}

fn try_lock(f: &File) -> bool {
    // SAFETY: flock on a descriptor we own; no memory is touched.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Remove run directories under `base` whose owner is gone. Returns them.
pub fn sweep_stale(base: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(base) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_run_dir_name(name) || !ent.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = ent.path();
        // A run dir is only published (renamed into this name) after its
        // lock is held, so a missing or lockable lock file means no owner.
        let stale = match File::open(dir.join(LOCK)) {
            Ok(f) => try_lock(&f),
            Err(_) => true,
        };
        if stale && fs::remove_dir_all(&dir).is_ok() {
            removed.push(dir);
        }
    }
    removed
}

/// One run's scratch directory under one base, locked while alive.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: File,
}

impl RunDir {
    /// Create and lock `<base>/ekvplan-run-<hex>`.
    pub fn create(base: &Path) -> Result<RunDir> {
        fsutil::create_dir_all(base)?;
        let hexname = fsutil::random_suffix();
        let staging = base.join(format!(".{PREFIX}{hexname}-init"));
        let path = base.join(format!("{PREFIX}{hexname}"));
        fsutil::create_dir_all(&staging)?;
        let lock_path = staging.join(LOCK);
        let lock = fsutil::create_new_private(&lock_path)?;
        if !try_lock(&lock) {
            let _ = fs::remove_dir_all(&staging);
            return Err(crate::error::Error::io_at(
                &lock_path,
                "lock",
                std::io::Error::last_os_error(),
            ));
        }
        fs::rename(&staging, &path).io_at(&path, "rename scratch directory to")?;
        Ok(RunDir { path, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh private subdirectory for one job.
    pub fn job_dir(&self, index: usize) -> Result<PathBuf> {
        let p = self.path.join(format!("job-{index:05}"));
        fsutil::create_dir_all(&p)?;
        Ok(p)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_runs_survive_a_sweep_and_dead_ones_do_not() {
        let t = tempfile::tempdir().unwrap();
        let live = RunDir::create(t.path()).unwrap();
        let job = live.job_dir(3).unwrap();
        fs::write(job.join("spill"), b"x").unwrap();

        // A dead run: the directory exists, nobody holds its lock.
        let dead = t.path().join(format!("{PREFIX}0123456789abcdef"));
        fs::create_dir_all(dead.join("job-00000")).unwrap();
        fs::write(dead.join(LOCK), b"").unwrap();
        // A dead run that died before making its lock file.
        let dead2 = t.path().join(format!("{PREFIX}fedcba9876543210"));
        fs::create_dir_all(&dead2).unwrap();
        // Not ours.
        let other = t.path().join("ekvplan-run-notahexname");
        fs::create_dir_all(&other).unwrap();

        let mut removed = sweep_stale(t.path());
        removed.sort();
        assert_eq!(removed, vec![dead.clone(), dead2.clone()]);
        assert!(job.join("spill").exists(), "live run kept");
        assert!(other.exists());

        let p = live.path().to_path_buf();
        drop(live);
        assert!(!p.exists(), "dropping the run removes it");
    }
}
