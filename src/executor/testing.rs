//! Building plans without a TOML file (tests, benchmarks, embedders). The
//! only place outside `src/plan/` that constructs these types, so a change
//! to their fields is absorbed here.

use std::path::PathBuf;

use crate::job::EncodeJob;
use crate::plan::{Report, ResolvedJob, ValidatedPlan};

pub fn resolved_job(id: impl Into<String>, job: EncodeJob) -> ResolvedJob {
    ResolvedJob::new(id, job)
}

pub fn validated_plan(path: impl Into<PathBuf>, jobs: Vec<ResolvedJob>) -> ValidatedPlan {
    let path = path.into();
    ValidatedPlan {
        report: Report {
            path: path.clone(),
            source: String::new(),
            diagnostics: Vec::new(),
        },
        path,
        jobs,
    }
}
