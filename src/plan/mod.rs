//! The TOML plan: model, JSON Schema, batch expansion and validation
//! against the input dumps (issue 7).
//!
//! The executor depends only on [`load_and_validate`], [`ValidatedPlan`],
//! [`ResolvedJob`] and [`PlanProblems`]; everything else is internal.

pub mod cli;

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::job::EncodeJob;

/// One job after defaults, batch expansion and path resolution.
#[derive(Debug, Clone)]
pub struct ResolvedJob {
    /// Unique id within the plan (used for `--only`, sharding, reports).
    pub id: String,
    /// The exact single-dump pipeline this job runs.
    pub job: EncodeJob,
}

/// A plan that passed schema and dump validation.
#[derive(Debug, Clone)]
pub struct ValidatedPlan {
    pub path: PathBuf,
    pub jobs: Vec<ResolvedJob>,
}

#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Also verify each input's CHECKSUMS file.
    pub verify_checksums: bool,
}

/// Why a plan cannot run: either a list of diagnostics (exit 2) or a
/// usage/IO failure (exit 1).
#[derive(Debug)]
pub struct PlanProblems {
    fatal: Error,
}

impl PlanProblems {
    pub fn exit_code(&self) -> i32 {
        self.fatal.exit_code()
    }

    /// Print every diagnostic to stderr (fancy on a TTY, plain otherwise).
    pub fn eprint(&self) {
        eprintln!("ekvplan: error: {}", self.fatal);
    }
}

/// Load, schema-check, expand and validate a plan file.
pub fn load_and_validate(
    path: &Path,
    _opts: &ValidateOptions,
) -> std::result::Result<ValidatedPlan, PlanProblems> {
    Err(PlanProblems {
        fatal: Error::usage(format!("{}: plans are not supported yet", path.display())),
    })
}
