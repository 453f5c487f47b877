//! Cooperative cancellation (Ctrl-C, SIGTERM, fail-fast), checked by every
//! long loop; the control state of a run of jobs; and the signal handling
//! every long-running command installs. Below the sorter, the adapters and
//! every command, so none of them imports another to stop work.

pub(crate) mod control;
pub(crate) mod signals;

pub use control::RunControl;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// Cooperative cancellation shared by a job's threads.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}
