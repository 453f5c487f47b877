//! The Redis conformance cases through the CLI's argument handling (run
//! in-process, so a concurrently rebuilt binary cannot interfere): encode `redis-only-4`
//! (sha256), decode its `.fsm` (tree), the Redis slices of the mixed cases,
//! and the Redis error cases (exit code, nothing published).
//!
//! The corpus lives outside the repository; set `EKVPLAN_CONFORMANCE` to its
//! path (default `../shared/conformance`). Without it the tests pass
//! vacuously.

use crate::common::corpus;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use ekvplan::adapter::{CancelToken, silent_warn};
use ekvplan::cli::{Cli, Command, decode_request_from_args, encode_job_from_args};
use sha2::{Digest, Sha256};

fn corpus() -> Option<PathBuf> {
    corpus::root("redis_conformance")
}

/// Run `ekvplan encode|decode <args>`; the process exit code it would give.
fn ekvplan(args: Vec<String>) -> i32 {
    let cli = Cli::try_parse_from(std::iter::once("ekvplan".to_string()).chain(args)).unwrap();
    let cancel = CancelToken::new();
    let res = match cli.command {
        Command::Encode(a) => encode_job_from_args(a)
            .and_then(|j| ekvplan::job::run_encode(&j, &cancel, &silent_warn(), None).map(drop)),
        Command::Decode(a) => decode_request_from_args(a)
            .and_then(|r| ekvplan::decode::run_decode(&r, silent_warn(), &cancel).map(drop)),
        other => panic!("unexpected command {other:?}"),
    };
    res.map_or_else(|e| e.exit_code(), |()| 0)
}

fn argv(cmd: &str, rest: &[String]) -> Vec<String> {
    std::iter::once(cmd.to_string())
        .chain(rest.iter().cloned())
        .collect()
}

fn p(x: &Path) -> String {
    x.display().to_string()
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Regular files under `root/sub` (relative to `root`), minus the
/// transient MANIFEST/CHECKSUMS.
fn files(root: &Path, sub: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(root, &e.path(), out);
            } else if ft.is_file() {
                let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, &root.join(sub), &mut out);
    out.remove(Path::new("MANIFEST.json"));
    out.remove(Path::new("CHECKSUMS"));
    out
}

fn args(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Replace `--input`/`--output` values with absolute paths.
fn relocate(a: &[String], input: &Path, output: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = a.iter();
    while let Some(x) = it.next() {
        out.push(x.clone());
        match x.as_str() {
            "--input" => {
                it.next();
                out.push(input.display().to_string());
            }
            "--output" => {
                it.next();
                out.push(output.display().to_string());
            }
            _ => {}
        }
    }
    out
}

#[test]
fn redis_only_case_encodes_and_decodes_byte_for_byte() {
    let Some(c) = corpus() else { return };
    let case = c.join("cases/redis-only-4");
    let meta = json(&case.join("case.json"));
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out.fsm");
    let st = ekvplan(argv(
        "encode",
        &relocate(&args(&meta, "encode_args"), &case.join("input"), &out),
    ));
    assert_eq!(st, 0);
    let sha = hex::encode(Sha256::digest(std::fs::read(&out).unwrap()));
    assert_eq!(sha, meta["expected"]["sha256"].as_str().unwrap());

    let dec = t.path().join("dec");
    let st = ekvplan(argv(
        "decode",
        &relocate(
            &args(&meta, "decode_args"),
            &case.join("expected.fsm"),
            &dec,
        ),
    ));
    assert_eq!(st, 0);
    assert_eq!(files(&dec, ""), files(&case.join("decoded"), ""));
}

#[test]
fn redis_slices_of_mixed_cases_decode_identically() {
    let Some(c) = corpus() else { return };
    for n in 1..=3 {
        let case = c.join(format!("cases/mixed-small-{n}"));
        let t = tempfile::tempdir().unwrap();
        let dec = t.path().join("dec");
        let st = ekvplan(vec![
            "decode".into(),
            "--adapter".into(),
            "redis".into(),
            "--input".into(),
            p(&case.join("expected.fsm")),
            "--output".into(),
            p(&dec),
        ]);
        assert_eq!(st, 0);
        assert_eq!(
            files(&dec, "redis"),
            files(&case.join("decoded"), "redis"),
            "mixed-small-{n}"
        );
    }
}

#[test]
fn redis_error_cases_fail_and_publish_nothing() {
    let Some(c) = corpus() else { return };
    let errors = c.join("errors");
    let mut seen = 0;
    for e in std::fs::read_dir(&errors).unwrap() {
        let dir = e.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let redis = name.starts_with("redis-")
            || name == "selftest-mismatch-expire-zero"
            || name == "selftest-mismatch-noncanonical-filename";
        if !redis {
            continue;
        }
        seen += 1;
        let meta = json(&dir.join("case.json"));
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out.fsm");
        let cmd: Vec<String> = args(&meta, "command")[1..].to_vec();
        let st = ekvplan(argv("encode", &relocate(&cmd, &dir.join("input"), &out)));
        assert_eq!(Some(st as i64), meta["exit_code"].as_i64(), "{name}");
        assert!(!out.exists(), "{name}: out.fsm published");
        if let Some(want) = meta["mismatch_txt"].as_str() {
            let got = std::fs::read_to_string(t.path().join("out.fsm.mismatch.txt")).unwrap();
            assert_eq!(got, want, "{name}");
            let info = json(&t.path().join("out.fsm.encode_info.json"));
            assert_eq!(
                info["output_fsm_sha256"], meta["encode_info_sha256_of_unpublished_fsm"],
                "{name}"
            );
        }
    }
    assert!(seen >= 9);

    // Decode-side: a 7-byte `!redis|ttl|` value (Redis slice only; ekvplan
    // classifies data errors as exit 2).
    let dir = errors.join("decode-redis-ttl-value-length");
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let st = ekvplan(vec![
        "decode".into(),
        "--adapter".into(),
        "redis".into(),
        "--input".into(),
        p(&dir.join("input.fsm")),
        "--output".into(),
        p(&out),
    ]);
    assert_eq!(st, 2);
    assert!(!out.exists());
}
