//! The SQS part of every golden case, through the library (so it runs even
//! while other adapters are placeholders): encoding a case's `input/` with
//! only SQS selected gives exactly the `!sqs|` entries of `expected.fsm`,
//! and decoding `expected.fsm` with only SQS gives exactly `decoded/sqs/`.
//! Plus the SQS error cases that the shared conformance test can only run
//! once every adapter has landed.

use crate::common::corpus;

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ekvplan::adapter::{self, AdapterKind, AdapterSet, CancelToken, DecodeOptions};
use ekvplan::decode::{DecodeRequest, run_decode};
use ekvplan::error::Error;
use ekvplan::fsm::FsmReader;
use ekvplan::job::{EncodeJob, run_encode};

fn corpus() -> Option<PathBuf> {
    corpus::root("sqs_conformance")
}

fn sqs_only() -> AdapterSet {
    let mut s = AdapterSet::NONE;
    s.insert(AdapterKind::Sqs);
    s
}

fn sqs_entries(p: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let f = fs::File::open(p).unwrap();
    let mut r = FsmReader::new(BufReader::new(f)).unwrap();
    let mut v = Vec::new();
    while let Some(e) = r.next_entry().unwrap() {
        if e.user_key.starts_with(b"!sqs|") {
            v.push((e.user_key.to_vec(), e.body.to_vec()));
        }
    }
    v
}

fn files_under(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn go(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                go(base, &p, out);
            } else {
                out.push((
                    p.strip_prefix(base).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                ));
            }
        }
    }
    let mut v = Vec::new();
    go(root, root, &mut v);
    v.sort();
    v
}

fn encode_job(
    input: &Path,
    output: &Path,
    adapters: AdapterSet,
    self_test: bool,
) -> ekvplan::error::Result<String> {
    let mut job = EncodeJob::new(input, output);
    job.adapters = adapters;
    job.self_test = self_test;
    run_encode(&job, &CancelToken::new(), &adapter::silent_warn(), None).map(|o| o.sha256)
}

#[test]
fn every_case_sqs_subset_matches_upstream() {
    let Some(root) = corpus() else { return };
    let mut checked = 0;
    for case in fs::read_dir(root.join("cases")).unwrap() {
        let dir = case.unwrap().path();
        if !dir.join("input/sqs").is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out.fsm");
        encode_job(&dir.join("input"), &out, sqs_only(), true)
            .unwrap_or_else(|e| panic!("{name}: encode: {e}"));
        let ours = sqs_entries(&out);
        let theirs = sqs_entries(&dir.join("expected.fsm"));
        assert_eq!(ours.len(), theirs.len(), "{name}: entry count");
        assert!(ours == theirs, "{name}: !sqs| entries differ");

        let dec = t.path().join("dec");
        let req = DecodeRequest {
            input: dir.join("expected.fsm").display().to_string(),
            output: dec.clone(),
            options: DecodeOptions {
                adapters: sqs_only(),
                ..DecodeOptions::default()
            },
            cluster_id: String::new(),
            force: false,
            memory_budget: 1 << 20,
        };
        run_decode(&req, adapter::silent_warn(), &CancelToken::new())
            .unwrap_or_else(|e| panic!("{name}: decode: {e}"));
        let ours = files_under(&dec.join("sqs"));
        let theirs = files_under(&dir.join("decoded/sqs"));
        assert_eq!(
            ours.iter().map(|f| &f.0).collect::<Vec<_>>(),
            theirs.iter().map(|f| &f.0).collect::<Vec<_>>(),
            "{name}: decoded file list"
        );
        for ((p, a), (_, b)) in ours.iter().zip(&theirs) {
            assert!(a == b, "{name}: decoded/sqs/{} differs", p.display());
        }
        checked += 1;
    }
    assert!(
        checked >= 4,
        "expected sqs-only-6 and mixed-small-1..3, checked {checked}"
    );
}

#[test]
fn sqs_error_cases_fail_like_upstream() {
    let Some(root) = corpus() else { return };
    let errors = root.join("errors");
    for name in [
        "sqs-duplicate-message-id",
        "sqs-empty-message-id",
        "sqs-partition-count-not-power-of-two",
        "sqs-partition-hash-mismatch",
        "sqs-truncated-messages-line",
        "manifest-include-sqs-side-records",
        "manifest-preserve-sqs-visibility",
    ] {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out.fsm");
        let e = encode_job(
            &errors.join(name).join("input"),
            &out,
            AdapterSet::ALL,
            false,
        )
        .expect_err(name);
        assert_eq!(e.exit_code(), 2, "{name}: {e}");
        assert_eq!(
            fs::read_dir(t.path()).unwrap().count(),
            0,
            "{name}: left files"
        );
    }

    // A self-test mismatch leaves the report and the sidecar only.
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out.fsm");
    let case = errors.join("selftest-mismatch-classic-partition");
    let e = encode_job(&case.join("input"), &out, AdapterSet::ALL, true).unwrap_err();
    assert!(matches!(e, Error::SelfTestMismatch(_)), "{e}");
    assert_eq!(
        fs::read_to_string(t.path().join("out.fsm.mismatch.txt")).unwrap(),
        "sqs/std/messages.jsonl (bytes differ)\n"
    );
    assert!(!out.exists());
    assert!(t.path().join("out.fsm.encode_info.json").exists());

    // Upstream's side-record quirk (only the SQS part of the .fsm).
    let t = tempfile::tempdir().unwrap();
    let req = DecodeRequest {
        input: errors
            .join("decode-sqs-side-records-seq-counter/input.fsm")
            .display()
            .to_string(),
        output: t.path().join("out"),
        options: DecodeOptions {
            adapters: sqs_only(),
            include_sqs_side_records: true,
            ..DecodeOptions::default()
        },
        cluster_id: String::new(),
        force: false,
        memory_budget: 1 << 20,
    };
    let e = run_decode(&req, adapter::silent_warn(), &CancelToken::new()).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("!sqs|queue|seq|"), "{e}");
    assert!(!t.path().join("out").exists());
}
