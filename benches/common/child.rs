//! Wall time and peak RSS of one child process, its own alone: the child
//! is reaped with `wait4`, whose rusage covers exactly that process.

use std::process::Command;
use std::time::Instant;

/// Run `cmd` to a successful end: (seconds, peak RSS bytes). Panics, naming
/// `what`, when it fails.
// The child is reaped by wait4 (which also yields its rusage).
#[allow(clippy::zombie_processes)]
pub fn measure(cmd: &mut Command, what: &str) -> (f64, u64) {
    let t0 = Instant::now();
    let kid = cmd.spawn().expect("spawn");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(kid.id() as i32, &mut status, 0, &mut ru) };
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(rc, kid.id() as i32, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{what} failed: status {status:#x}"
    );
    (secs, ru.ru_maxrss as u64 * 1024)
}
