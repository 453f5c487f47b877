//! `ekvplan archive pack|unpack`, flag for flag like upstream's
//! `elastickv-snapshot-archive`, which parses its flags with Go's `flag`
//! package: `-input x`, `--input=x`, the last repeat wins, parsing stops at
//! the first argument that is not a flag. Both modes share one flag table
//! ([`ARCHIVE_FLAGS`]), as upstream's do.

use std::path::Path;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::{Compression, Limits, pack, unpack};
use crate::cancel::{RunControl, signals};

use crate::error::{Error, Result, exit};
use crate::gojson::flag::{self as goflag, FlagError, FlagSpec, GoFlagArgs};

#[derive(Args, Debug)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    pub mode: ArchiveMode,
}

#[derive(Subcommand, Debug)]
pub enum ArchiveMode {
    /// Verify a dump tree and write it as a sorted tar stream (-input DIR -output FILE|- [-compression zstd|none]).
    Pack(GoFlagArgs),
    /// Extract an archive into a new directory and verify it (-input FILE|- -output DIR [-compression zstd|none]).
    Unpack(GoFlagArgs),
}

/// `elastickv-snapshot-archive`'s flags (both modes).
pub const ARCHIVE_FLAGS: &[FlagSpec] = &[
    FlagSpec {
        name: "input",
        boolean: false,
    },
    FlagSpec {
        name: "output",
        boolean: false,
    },
    FlagSpec {
        name: "compression",
        boolean: false,
    },
];

const USAGE: &str = "usage: ekvplan archive pack -input DIR -output FILE|- [-compression zstd|none]\n       \
ekvplan archive unpack -input FILE|- -output DIR [-compression zstd|none]";

/// A parsed and checked invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRequest {
    pub pack: bool,
    pub input: String,
    pub output: String,
    pub compression: Compression,
}

/// Upstream's checks, in its order: the flags parse, then --input,
/// --output, --compression (exactly `zstd` or `none`).
pub fn request_from_args(a: ArchiveArgs) -> Result<ArchiveRequest> {
    let (pack, args) = match a.mode {
        ArchiveMode::Pack(f) => (true, f.args),
        ArchiveMode::Unpack(f) => (false, f.args),
    };
    let f = goflag::parse(ARCHIVE_FLAGS, &args).map_err(|e| match e {
        FlagError::Help => Error::usage(format!("flag: help requested\n{USAGE}")),
        FlagError::Bad(m) => Error::usage(format!("{m}\n{USAGE}")),
    })?;
    let nonempty = |name: &str| f.get(name).filter(|s| !s.is_empty()).map(str::to_string);
    let Some(input) = nonempty("input") else {
        return Err(Error::usage("--input is required"));
    };
    let Some(output) = nonempty("output") else {
        return Err(Error::usage("--output is required"));
    };
    let compression = match f.get("compression") {
        None => Compression::Zstd,
        Some("") => {
            return Err(Error::usage(
                "--compression \"\": unsupported compression (use zstd or none)",
            ));
        }
        Some(s) => Compression::parse(s)?,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn req(mode: &str, args: &[&str]) -> Result<ArchiveRequest> {
        let a = GoFlagArgs {
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        request_from_args(ArchiveArgs {
            mode: match mode {
                "pack" => ArchiveMode::Pack(a),
                _ => ArchiveMode::Unpack(a),
            },
        })
    }

    #[test]
    fn go_flag_syntax() {
        let want = ArchiveRequest {
            pack: true,
            input: "d".into(),
            output: "x.tar".into(),
            compression: Compression::None,
        };
        for args in [
            &["-input", "d", "-output", "x.tar", "-compression", "none"][..],
            &["--input=d", "--output=x.tar", "--compression=none"],
            &[
                "-input=old",
                "-input",
                "d",
                "-output=x.tar",
                "-compression=none",
            ],
            // Parsing stops at the first non-flag; the rest is ignored.
            &[
                "-input",
                "d",
                "-output",
                "x.tar",
                "-compression",
                "none",
                "extra",
                "-input",
                "z",
            ],
        ] {
            assert_eq!(req("pack", args).unwrap(), want, "{args:?}");
        }
        let u = req("unpack", &["-input", "-", "-output", "t"]).unwrap();
        assert!(!u.pack);
        assert_eq!((u.input.as_str(), u.compression), ("-", Compression::Zstd));
    }

    #[test]
    fn errors_in_upstreams_order() {
        let msg = |args: &[&str]| req("pack", args).unwrap_err().to_string();
        assert!(msg(&["-output", "x"]).contains("--input is required"));
        assert!(msg(&["extra", "-input", "d", "-output", "x"]).contains("--input is required"));
        assert!(msg(&["-input", "d"]).contains("--output is required"));
        assert!(
            msg(&["-input", "d", "-output", "x", "-compression="])
                .contains("unsupported compression")
        );
        assert!(
            msg(&["-input", "d", "-output", "x", "-compression", "gzip"])
                .contains("unsupported compression")
        );
        assert!(msg(&["-bogus"]).contains("flag provided but not defined: -bogus"));
        assert!(msg(&["-input"]).contains("flag needs an argument: -input"));
        assert!(msg(&["-h"]).contains("help requested"));
        assert_eq!(req("pack", &["-x"]).unwrap_err().exit_code(), 1);
    }
}
