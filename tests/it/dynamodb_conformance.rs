//! The DynamoDB part of the golden corpus (`../shared/conformance`), run
//! with `--adapter dynamodb` so it holds whatever the other adapters' state:
//!
//! * every case with DynamoDB data: encoding `input/` gives exactly the
//!   `!ddb|` entries of `expected.fsm`; decoding `expected.fsm` gives
//!   `decoded/dynamodb/` byte for byte (modes and empty dirs included);
//! * the same data through the jsonl layout encodes to the same bytes;
//! * `errors/dynamodb-*` fail with their exit code and leave nothing;
//! * the two jsonl error cases of upstream succeed here.
//!
//! Without the corpus the tests say so and pass.

use crate::common::corpus;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ekvplan::adapter::{self, AdapterSet, CancelToken, DecodeOptions};
use ekvplan::decode::{self, DecodeRequest};
use ekvplan::fsm::{FsmReader, FsmWriter};
use ekvplan::job::{self, EncodeJob};
use serde_json::Value;

fn corpus() -> Option<PathBuf> {
    corpus::root("dynamodb_conformance")
}

/// `ekvplan encode --adapter <adapters> [--self-test]`, through the library
/// (the binary in a shared target directory may belong to another build).
fn encode(input: &Path, out: &Path, self_test: bool, adapters: &str) -> ekvplan::Result<()> {
    let mut j = EncodeJob::new(input, out);
    j.adapters = AdapterSet::parse_encode_flag(adapters).unwrap();
    j.self_test = self_test;
    j.scratch_root = Some(out.parent().unwrap().to_path_buf());
    job::run_encode(&j, &CancelToken::new(), &adapter::silent_warn(), None).map(drop)
}

/// `ekvplan decode --adapter dynamodb [--dynamodb-bundle-mode jsonl ...]`.
fn decode(fsm: &Path, out: &Path, bundle: Option<u64>) -> ekvplan::Result<()> {
    let req = DecodeRequest {
        input: fsm.display().to_string(),
        output: out.to_path_buf(),
        options: DecodeOptions {
            adapters: AdapterSet::parse_decode_flag("dynamodb").unwrap(),
            dynamodb_bundle_jsonl: bundle.is_some(),
            dynamodb_bundle_max_bytes: bundle.unwrap_or(64 << 20),
            ..DecodeOptions::default()
        },
        cluster_id: String::new(),
        force: false,
        memory_budget: 1 << 20,
    };
    decode::run_decode(&req, adapter::silent_warn(), &CancelToken::new()).map(drop)
}

/// The `!ddb|` entries of an `.fsm`, as a new `.fsm` with the same header.
fn ddb_only(fsm: &Path) -> Vec<u8> {
    let mut r = FsmReader::new(fs::File::open(fsm).unwrap()).unwrap();
    let mut w = FsmWriter::new(Vec::new(), r.last_commit_ts()).unwrap();
    while let Some(e) = r.next_entry().unwrap() {
        assert!(!e.tombstone);
        if e.user_key.starts_with(b"!ddb|") {
            w.write_entry(e.user_key, e.commit_ts, e.expire_at, e.body)
                .unwrap();
        }
    }
    w.into_inner()
}

/// (relative path, kind, mode, bytes) of everything below `root`.
fn listing(root: &Path) -> Vec<(String, char, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = fs::symlink_metadata(e.path()).unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if m.is_dir() {
                stack.push(e.path());
                out.push((rel, 'd', m.permissions().mode() & 0o777, Vec::new()));
            } else {
                let b = fs::read(e.path()).unwrap();
                out.push((rel, 'f', m.permissions().mode() & 0o777, b));
            }
        }
    }
    out.sort();
    out
}

/// The expected tree's listing: git keeps neither modes nor empty
/// directories, so apply upstream's modes and add the recorded empty dirs.
fn expected_listing(case: &Path, decoded: &Path) -> Vec<(String, char, u32, Vec<u8>)> {
    let meta: Value = serde_json::from_slice(&fs::read(case.join("case.json")).unwrap()).unwrap();
    let mut v: Vec<_> = listing(decoded)
        .into_iter()
        .map(|(p, k, _, b)| (p, k, if k == 'd' { 0o755 } else { 0o600 }, b))
        .collect();
    for d in meta["trees"]["decoded"]["empty_dirs"].as_array().unwrap() {
        if let Some(rel) = d.as_str().and_then(|s| s.strip_prefix("dynamodb/")) {
            if !v.iter().any(|(p, ..)| p == rel) {
                v.push((rel.to_string(), 'd', 0o755, Vec::new()));
            }
        }
    }
    v.sort();
    v
}

fn cases_with_dynamodb(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root.join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input/dynamodb").is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn cases_encode_and_decode_byte_for_byte() {
    let Some(root) = corpus() else { return };
    let cases = cases_with_dynamodb(&root);
    assert!(!cases.is_empty());
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let t = tempfile::tempdir().unwrap();
        let w = t.path();
        let input = case.join("input");
        let expected = ddb_only(&case.join("expected.fsm"));

        // Encode (with the self-test) → exactly the expected !ddb| entries.
        encode(&input, &w.join("o.fsm"), true, "dynamodb").unwrap();
        assert!(
            fs::read(w.join("o.fsm")).unwrap() == expected,
            "{name}: encode differs"
        );

        // Decode → decoded/dynamodb byte for byte.
        let exp_fsm = case.join("expected.fsm");
        decode(&exp_fsm, &w.join("dec"), None).unwrap();
        let got = listing(&w.join("dec/dynamodb"));
        let want = expected_listing(&case, &case.join("decoded/dynamodb"));
        assert_eq!(got.len(), want.len(), "{name}: file count");
        for (g, x) in got.iter().zip(&want) {
            assert!(g == x, "{name}: {} vs {} differ", g.0, x.0);
        }

        // Jsonl layout, small bundles: self-test passes, same bytes.
        decode(&exp_fsm, &w.join("j"), Some(500)).unwrap();
        encode(&w.join("j"), &w.join("j.fsm"), true, "dynamodb").unwrap();
        assert!(
            fs::read(w.join("j.fsm")).unwrap() == expected,
            "{name}: jsonl encode differs"
        );
    }
}

#[test]
fn dynamodb_error_cases_fail_and_leave_nothing() {
    let Some(root) = corpus() else { return };
    let mut n = 0;
    for e in fs::read_dir(root.join("errors")).unwrap() {
        let dir = e.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("dynamodb-") {
            continue;
        }
        n += 1;
        let meta: Value =
            serde_json::from_slice(&fs::read(dir.join("case.json")).unwrap()).unwrap();
        let want = meta["exit_code"].as_i64().unwrap() as i32;
        let t = tempfile::tempdir().unwrap();
        let input = dir.join("input");
        let err = encode(&input, &t.path().join("out.fsm"), false, "dynamodb").expect_err(&name);
        assert_eq!(err.exit_code(), want, "{name}: {err}");
        let left: Vec<_> = fs::read_dir(t.path()).unwrap().collect();
        assert!(left.is_empty(), "{name}: left {left:?}");
    }
    assert!(n >= 6);
}

#[test]
fn upstream_jsonl_refusals_succeed() {
    let Some(root) = corpus() else { return };
    let t = tempfile::tempdir().unwrap();
    let w = t.path();
    // Encoding a jsonl-layout manifest (no tables) works.
    let input = root.join("errors/manifest-dynamodb-layout-jsonl/input");
    encode(&input, &w.join("a.fsm"), true, "all").unwrap();
    // Decoding with --dynamodb-bundle-mode jsonl works, records the layout,
    // and the tree encodes back to the same !ddb| entries.
    let fsm = root.join("errors/decode-dynamodb-bundle-jsonl/input.fsm");
    decode(&fsm, &w.join("j"), Some(64 << 20)).unwrap();
    let m: Value = serde_json::from_slice(&fs::read(w.join("j/MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(m["dynamodb_layout"], "jsonl");
    assert!(w.join("j/dynamodb/users/items/data-00001.jsonl").is_file());
    encode(&w.join("j"), &w.join("j.fsm"), true, "dynamodb").unwrap();
    assert!(fs::read(w.join("j.fsm")).unwrap() == ddb_only(&fsm));
}
