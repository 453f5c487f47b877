//! `ekvplan archive pack|unpack`, flag for flag like upstream's
//! `elastickv-snapshot-archive`. The flags are one declarative table
//! ([`ArchiveFlags`]) shared by both modes, as upstream's are.

use std::path::Path;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::{Compression, Limits, pack, unpack};
use crate::cancel::{RunControl, signals};
use crate::error::{Error, Result, exit};

#[derive(Args, Debug)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    pub mode: ArchiveMode,
}

#[derive(Subcommand, Debug)]
pub enum ArchiveMode {
    /// Verify a dump tree and write it as a sorted tar stream.
    Pack(ArchiveFlags),
    /// Extract an archive into a new directory and verify it.
    Unpack(ArchiveFlags),
}

#[derive(Args, Debug, Clone)]
pub struct ArchiveFlags {
    /// Input dump root for pack, or archive file for unpack (- for stdin on unpack).
    #[arg(long)]
    pub input: Option<String>,
    /// Output archive file for pack (- for stdout), or output dump root for unpack.
    #[arg(long)]
    pub output: Option<String>,
    /// Compression: zstd or none.
    #[arg(long, default_value = "zstd")]
    pub compression: String,
}

/// A parsed and checked invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRequest {
    pub pack: bool,
    pub input: String,
    pub output: String,
    pub compression: Compression,
}

/// Upstream's checks, in its order: --input, --output, --compression.
pub fn request_from_args(a: ArchiveArgs) -> Result<ArchiveRequest> {
    let (pack, f) = match a.mode {
        ArchiveMode::Pack(f) => (true, f),
        ArchiveMode::Unpack(f) => (false, f),
    };
    let input = f.input.filter(|s| !s.is_empty());
    let output = f.output.filter(|s| !s.is_empty());
    let Some(input) = input else {
        return Err(Error::usage("--input is required"));
    };
    let Some(output) = output else {
        return Err(Error::usage("--output is required"));
    };
    let compression = Compression::parse(&f.compression)?;
    Ok(ArchiveRequest {
        pack,
        input,
        output,
        compression,
    })
}

fn run(req: &ArchiveRequest, ctl: &RunControl) -> Result<()> {
    let cancel = ctl.cancel_token();
    if req.pack {
        let s = pack::pack_to_path(Path::new(&req.input), &req.output, req.compression, cancel)?;
        eprintln!(
            "ekvplan archive: packed {} into {} ({} entries, {} file bytes, {} archive bytes, {})",
            req.input, req.output, s.entries, s.bytes, s.archive_bytes, req.compression
        );
    } else {
        let out = Path::new(&req.output);
        let s = if req.input == "-" {
            unpack::unpack_to_path(
                std::io::stdin(),
                req.compression,
                out,
                Limits::default(),
                cancel,
            )
        } else {
            let f = unpack::open_archive_file(Path::new(&req.input))?;
            unpack::unpack_to_path(f, req.compression, out, Limits::default(), cancel)
        }
        .map_err(|e| e.context(format!("unpack {}", req.input)))?;
        eprintln!(
            "ekvplan archive: unpacked {} into {} ({} entries, {} files, {} bytes)",
            req.input, req.output, s.entries, s.files, s.bytes
        );
    }
    Ok(())
}

/// The `archive` command; returns the exit code.
pub fn archive_main(a: ArchiveArgs) -> i32 {
    let req = match request_from_args(a) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ekvplan: error: {e}");
            return e.exit_code();
        }
    };
    let ctl = Arc::new(RunControl::new());
    let guard = match signals::install(ctl.clone(), |_| {
        eprintln!("ekvplan archive: interrupted, cleaning up (press Ctrl-C again to exit at once)");
    }) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("ekvplan: error: {e}");
            return e.exit_code();
        }
    };
    let res = run(&req, &ctl);
    drop(guard);
    match res {
        Ok(()) => exit::OK,
        Err(e) if ctl.is_interrupted() => {
            let _ = e;
            eprintln!("ekvplan: error: interrupted");
            exit::INTERRUPTED
        }
        Err(e) => {
            eprintln!("ekvplan: error: {e}");
            e.exit_code()
        }
    }
}
