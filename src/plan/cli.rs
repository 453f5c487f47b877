//! `ekvplan validate` and `ekvplan schema`.

use std::path::PathBuf;

use clap::Args;

use crate::error::exit;

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// Also verify every input's CHECKSUMS file.
    #[arg(long)]
    pub verify_checksums: bool,
}

#[derive(Args, Debug)]
pub struct SchemaArgs {}

pub fn validate_main(a: ValidateArgs) -> i32 {
    let opts = super::ValidateOptions {
        verify_checksums: a.verify_checksums,
    };
    match super::load_and_validate(&a.plan, &opts) {
        Ok(_) => exit::OK,
        Err(p) => {
            p.eprint();
            p.exit_code()
        }
    }
}

pub fn schema_main(_a: SchemaArgs) -> i32 {
    eprintln!("ekvplan: error: the plan schema is not available yet");
    exit::USAGE_OR_IO
}
