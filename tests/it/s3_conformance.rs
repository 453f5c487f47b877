//! The S3 part of every golden case, checked with only the S3 adapter
//! enabled (so mixed cases count even before the other adapters land):
//!
//! * encoding `input/` with `--adapter s3` gives exactly the `!s3…`
//!   entries of `expected.fsm` (keys, timestamps, values, in order);
//! * decoding `expected.fsm` with `--adapter s3` (and the case's
//!   `--rename-collisions`) gives `decoded/s3/` byte for byte, files 0600,
//!   directories 0755, and the empty `.scratch/` upstream leaves behind.

use crate::common::corpus;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::BufReader;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ekvplan::adapter::{self, AdapterKind, AdapterSet, CancelToken, DecodeOptions};
use ekvplan::decode::{self, DecodeRequest};
use ekvplan::fsm::FsmReader;
use ekvplan::job::{self, EncodeJob};

fn corpus() -> Option<PathBuf> {
    corpus::root("s3_conformance")
}

/// Cases with an `s3/` subtree.
fn s3_cases() -> Vec<PathBuf> {
    let Some(root) = corpus() else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = fs::read_dir(root.join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input/s3").is_dir())
        .collect();
    v.sort();
    v
}

type Entries = Vec<(Vec<u8>, u64, Vec<u8>)>;

fn s3_entries(path: &Path) -> (u64, Entries) {
    let mut r = FsmReader::new(BufReader::new(File::open(path).unwrap())).unwrap();
    let ts = r.last_commit_ts();
    let mut v = Vec::new();
    while let Some(e) = r.next_entry().unwrap() {
        if e.user_key.starts_with(b"!s3") {
            v.push((e.user_key.to_vec(), e.commit_ts, e.body.to_vec()));
        }
    }
    (ts, v)
}

#[test]
fn s3_entries_match_upstream() {
    let cases = s3_cases();
    for dir in &cases {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out.fsm");
        let mut j = EncodeJob::new(dir.join("input"), &out);
        j.adapters = AdapterSet::NONE;
        j.adapters.insert(AdapterKind::S3);
        j.self_test = true;
        j.scratch_root = Some(tmp.path().to_path_buf());
        let o = job::run_encode(&j, &CancelToken::new(), &adapter::silent_warn(), None)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!(o.self_test, Some(true), "{}", dir.display());
        let (ts_a, ours) = s3_entries(&out);
        let (ts_b, want) = s3_entries(&dir.join("expected.fsm"));
        assert_eq!(ts_a, ts_b, "{}", dir.display());
        assert_eq!(ours.len(), want.len(), "{}: entry count", dir.display());
        for (a, b) in ours.iter().zip(&want) {
            assert_eq!(
                a,
                b,
                "{}: first differing entry {}",
                dir.display(),
                b.0.escape_ascii()
            );
        }
        eprintln!(
            "s3_conformance: {} encode ok ({} s3 entries)",
            dir.display(),
            ours.len()
        );
    }
}

#[derive(Debug, PartialEq)]
enum Node {
    File(Vec<u8>),
    Dir,
}

fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    fn go(root: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, Node>, modes: bool) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                if modes {
                    assert_eq!(m.permissions().mode() & 0o777, 0o755, "{}", p.display());
                }
                out.insert(rel, Node::Dir);
                go(root, &p, out, modes);
            } else {
                if modes {
                    assert_eq!(m.permissions().mode() & 0o777, 0o600, "{}", p.display());
                }
                out.insert(rel, Node::File(fs::read(&p).unwrap()));
            }
        }
    }
    let mut m = BTreeMap::new();
    // Modes are checked on our side only (a checkout does not keep them).
    let ours = !root.ends_with("decoded/s3");
    go(root, root, &mut m, ours);
    m
}

#[test]
fn s3_trees_match_upstream() {
    for dir in s3_cases() {
        let case = fs::read_to_string(dir.join("case.json")).unwrap();
        let decode_args = &case[case.find("\"decode_args\"").unwrap()..];
        let decode_args = &decode_args[..decode_args.find(']').unwrap()];
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("tree");
        fs::create_dir(&root).unwrap();
        let mut options = DecodeOptions {
            adapters: AdapterSet::NONE,
            rename_s3_collisions: decode_args.contains("--rename-collisions"),
            ..DecodeOptions::default()
        };
        options.adapters.insert(AdapterKind::S3);
        let req = DecodeRequest {
            input: dir.join("expected.fsm").to_string_lossy().into_owned(),
            output: root.clone(),
            options,
            cluster_id: String::new(),
            force: false,
            memory_budget: 64 << 20,
        };
        decode::decode_into(&req, &root, adapter::silent_warn(), &CancelToken::new())
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let ours = snapshot(&root.join("s3"));
        let want = snapshot(&dir.join("decoded/s3"));
        let keys: Vec<_> = ours.keys().chain(want.keys()).collect();
        for k in keys {
            assert_eq!(
                ours.get(k),
                want.get(k),
                "{}: s3/{}",
                dir.display(),
                k.escape_ascii()
            );
        }
        let scratch = root.join(".scratch");
        assert!(scratch.is_dir() && fs::read_dir(&scratch).unwrap().next().is_none());
        eprintln!(
            "s3_conformance: {} decode ok ({} paths)",
            dir.display(),
            ours.len()
        );
    }
}
