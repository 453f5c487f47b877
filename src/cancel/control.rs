//! The run's shared control state: cancellation, the interrupted flag and
//! the memory gate that admits jobs in plan order while their budgets fit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use super::CancelToken;

#[derive(Debug, Default)]
struct Gate {
    stopped: bool,
    next: usize,
    available: u64,
}

/// Shared by the scheduler, the workers and the signal thread.
#[derive(Debug, Default)]
pub struct RunControl {
    cancel: CancelToken,
    interrupted: AtomicBool,
    gate: Mutex<Gate>,
    cv: Condvar,
}

impl RunControl {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Gate> {
        // A worker that panicked while holding the lock left consistent
        // counters (every update is a single assignment), so carry on.
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The token every job of the run observes.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Ctrl-C / SIGTERM: start nothing more and cancel running jobs.
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.stop();
    }

    /// Start nothing more and cancel running jobs (`--fail-fast`).
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.cancel.cancel();
        self.cv.notify_all();
    }

    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Prepare the gate for a queue of jobs sharing `total` bytes.
    pub(crate) fn reset(&self, total: u64) {
        let mut g = self.lock();
        g.next = 0;
        g.available = total;
    }

    /// Block until the next queued job's budget fits, then admit it.
    /// `None` once the queue is exhausted or the run was stopped. Every
    /// `needs[i]` must be at most the total, or the gate never opens.
    pub(crate) fn admit_next(&self, needs: &[u64]) -> Option<usize> {
        let mut g = self.lock();
        loop {
            if g.stopped || g.next >= needs.len() {
                return None;
            }
            let i = g.next;
            if g.available >= needs[i] {
                g.available -= needs[i];
                g.next += 1;
                return Some(i);
            }
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Give back a finished job's budget.
    pub(crate) fn release(&self, need: u64) {
        self.lock().available += need;
        self.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn admits_in_order_within_budget() {
        let c = RunControl::new();
        c.reset(10);
        let needs = [6, 4, 5, 10];
        assert_eq!(c.admit_next(&needs), Some(0));
        assert_eq!(c.admit_next(&needs), Some(1));
        c.release(6);
        assert_eq!(c.admit_next(&needs), Some(2));
        c.release(4);
        c.release(5);
        assert_eq!(c.admit_next(&needs), Some(3));
        assert_eq!(c.admit_next(&needs), None);
    }

    #[test]
    fn stop_wakes_waiters_and_cancels() {
        let c = Arc::new(RunControl::new());
        c.reset(10);
        let needs = [10, 10];
        assert_eq!(c.admit_next(&needs), Some(0));
        let c2 = c.clone();
        let waiter = std::thread::spawn(move || c2.admit_next(&[10, 10]));
        c.interrupt();
        assert_eq!(waiter.join().unwrap(), None);
        assert!(c.is_interrupted());
        assert!(c.cancel_token().is_cancelled());
    }

    #[test]
    fn concurrent_admissions_never_exceed_the_total() {
        let c = Arc::new(RunControl::new());
        c.reset(8);
        let needs: Arc<Vec<u64>> = Arc::new((0..200).map(|i| 1 + (i % 5)).collect());
        let in_use = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (c, needs, in_use, peak) =
                    (c.clone(), needs.clone(), in_use.clone(), peak.clone());
                std::thread::spawn(move || {
                    let mut n = 0;
                    while let Some(i) = c.admit_next(&needs) {
                        let now = in_use.fetch_add(needs[i], Ordering::SeqCst) + needs[i];
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        in_use.fetch_sub(needs[i], Ordering::SeqCst);
                        c.release(needs[i]);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let done: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(done, 200);
        assert!(peak.load(Ordering::SeqCst) <= 8);
    }
}
