//! Ctrl-C and SIGTERM during a run. The first signal interrupts the run
//! (nothing new starts, running jobs are cancelled and clean up after
//! themselves, the process exits 130 after writing its reports). If that
//! takes longer than [`GRACE`] (a big scratch tree to delete, a job stuck
//! in a system call), the process exits 130 then anyway. A second signal
//! exits with 130 at once from the signal handler. Outputs are only ever
//! renamed into place whole, so nothing partial is published; temp files
//! and scratch left behind are removed by the next run.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};
use signal_hook::{SigId, flag, low_level};

use super::RunControl;
use crate::error::{Error, exit};

/// How long the first signal leaves for cleaning up before the process
/// exits regardless (within the 2 s an interrupted command is allowed).
pub const GRACE: Duration = Duration::from_millis(1500);

/// Handlers installed for the lifetime of a run; dropping removes them.
pub struct SignalGuard {
    ids: Vec<SigId>,
    handle: Handle,
    /// Dropped when the run is over: the grace timer stops waiting.
    done: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Install the two-stage handlers. `notice` is called once, on the first
/// signal, from a normal thread (it may print).
pub fn install(
    ctl: Arc<RunControl>,
    notice: impl Fn(i32) + Send + 'static,
) -> Result<SignalGuard, Error> {
    let seen = Arc::new(AtomicBool::new(false));
    let mut ids = Vec::new();
    let io = |e: std::io::Error| Error::io("install signal handler", e);
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the shutdown action checks the flag before the
        // second action sets it, so only a repeated signal exits at once.
        ids.push(
            flag::register_conditional_shutdown(sig, exit::INTERRUPTED, seen.clone())
                .map_err(io)?,
        );
        ids.push(flag::register(sig, seen.clone()).map_err(io)?);
    }
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(io)?;
    let handle = signals.handle();
    let (done, finished) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("ekvplan-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                ctl.interrupt();
                notice(sig);
                if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(GRACE) {
                    eprintln!(
                        "ekvplan: cleanup is taking too long; exiting now (the next run removes what is left)"
                    );
                    std::process::exit(exit::INTERRUPTED);
                }
            }
        })
        .map_err(|e| Error::io("spawn signal thread", e))?;
    Ok(SignalGuard {
        ids,
        handle,
        done: Some(done),
        thread: Some(thread),
    })
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            low_level::unregister(id);
        }
        self.done.take();
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
