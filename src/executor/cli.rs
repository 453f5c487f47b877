//! `ekvplan run` and `ekvplan verify`.

use std::path::PathBuf;

use clap::Args;

use crate::adapter::Warn;
use crate::error::exit;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// A plan file or a single .fsm.
    pub target: PathBuf,
}

pub fn run_main(a: RunArgs, _warn: Warn) -> i32 {
    let opts = crate::plan::ValidateOptions::default();
    match crate::plan::load_and_validate(&a.plan, &opts) {
        Ok(_) => {
            eprintln!("ekvplan: error: `run` is not implemented yet");
            exit::USAGE_OR_IO
        }
        Err(p) => {
            p.eprint();
            p.exit_code()
        }
    }
}

pub fn verify_main(_a: VerifyArgs, _warn: Warn) -> i32 {
    eprintln!("ekvplan: error: `verify` is not implemented yet");
    exit::USAGE_OR_IO
}
