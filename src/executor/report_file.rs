//! The reporter that writes the run report (JSON or JUnit XML) to its
//! destination when the run finishes.

use std::sync::Mutex;

use super::events::{Reporter, RunEvent};
use crate::error::Result;
use crate::machine::dest::Dest;

/// Which report a [`ReportFile`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Json,
    Junit,
}

/// The JSON or JUnit report, written to its destination when the run
/// finishes. The outcome is kept for the exit code.
pub struct ReportFile {
    dest: Dest,
    format: FileFormat,
    outcome: Mutex<Option<Result<()>>>,
}

impl ReportFile {
    pub fn new(dest: Dest, format: FileFormat) -> Self {
        ReportFile {
            dest,
            format,
            outcome: Mutex::new(None),
        }
    }

    pub fn dest(&self) -> &Dest {
        &self.dest
    }

    /// `Ok` once written; the error if writing failed; `Ok` if the run
    /// never finished (nothing to write).
    pub fn outcome(&self) -> Result<()> {
        self.outcome
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or(Ok(()))
    }
}

impl Reporter for ReportFile {
    fn event(&self, ev: &RunEvent<'_>) {
        if let RunEvent::Finished(r) = ev {
            let bytes = match self.format {
                FileFormat::Json => r.to_json(),
                FileFormat::Junit => r.to_junit().into_bytes(),
            };
            let res = self.dest.write(&bytes);
            *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(res);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::report::JobStatus;
    use crate::executor::report::tests::{record, report};

    #[test]
    fn report_files_are_written_when_the_run_finishes() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("r.json");
        let f = ReportFile::new(Dest::Path(p.clone()), FileFormat::Json);
        f.event(&RunEvent::Interrupted);
        assert!(!p.exists());
        let r = report(vec![record("ok", JobStatus::Succeeded, None)]);
        f.event(&RunEvent::Finished(&r));
        f.outcome().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), r.to_json());
    }
}
