//! `ekvplan validate` and `ekvplan schema` end to end: exit codes, plain
//! diagnostics off a terminal, the JSON form, `--explain`.

use predicates::prelude::*;

use crate::common::ekvplan;

#[test]
fn valid_plan_exits_zero() {
    ekvplan()
        .args(["validate", "examples/plan.toml"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "examples/plan.toml: valid, 3 jobs",
        ));
}

#[test]
fn invalid_plan_exits_two_with_plain_diagnostics() {
    let out = ekvplan()
        .args(["validate", "tests/plans/invalid/many_problems.toml"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("ekvplan::plan::unknown_key"), "{err}");
    assert!(err.contains("── job full: 2 problems ──"), "{err}");
    assert!(!err.contains('\u{1b}'), "no color off a terminal: {err:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_plan_file_exits_one() {
    ekvplan()
        .args(["validate", "tests/plans/no-such-plan.toml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("read plan"));
}

#[test]
fn json_format_is_machine_readable() {
    let out = ekvplan()
        .args([
            "validate",
            "--format",
            "json",
            "tests/plans/invalid/exclusion_not_found.toml",
        ])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "ekvplan-validate");
    assert_eq!(v["format_version"], 2);
    assert_eq!(v["valid"], false);
    assert_eq!(v["counts"]["errors"], 4);
    assert!(v.get("jobs").is_none(), "jobs only with --explain");
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "ekvplan::plan::exclusion_not_found");
    assert_eq!(d["job"], "full");
    assert_eq!(d["labels"][0]["start"]["line"], 8);
    assert_eq!(d["labels"][0]["start"]["column"], 38);
    let src = std::fs::read_to_string("tests/plans/invalid/exclusion_not_found.toml").unwrap();
    let (a, b) = (
        d["labels"][0]["byte_start"].as_u64().unwrap() as usize,
        d["labels"][0]["byte_end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&src[a..b], "\"user\"");
}

#[test]
fn json_on_a_missing_plan_reports_the_failure() {
    let out = ekvplan()
        .args(["validate", "--format", "json", "nope.toml"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["fatal"].as_str().unwrap().contains("nope.toml"));
}

#[test]
fn explain_shows_every_job_and_origin() {
    let out = ekvplan()
        .args(["validate", "--explain", "examples/plan.toml"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.starts_with("plan examples/plan.toml: 3 jobs"), "{s}");
    assert!(
        s.contains("job cluster-3  ([[batch]] #1, line 26, matched examples/dumps/cluster-3)"),
        "{s}"
    );
    assert!(
        s.contains("self_test                [defaults] true"),
        "{s}"
    );

    let out = ekvplan()
        .args([
            "validate",
            "--explain",
            "--format",
            "json",
            "examples/plan.toml",
        ])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jobs"].as_array().unwrap().len(), 3);
    assert_eq!(v["jobs"][0]["last_commit_ts"], "114701053009592320");
    assert_eq!(v["jobs"][0]["origins"]["adapters"], "defaults");
    assert_eq!(v["jobs"][1]["source"]["kind"], "batch");
}

#[test]
fn verify_checksums_flag_reaches_validation() {
    ekvplan()
        .args(["validate", "tests/plans/invalid/checksum_mismatch.toml"])
        .assert()
        .code(0);
    ekvplan()
        .args([
            "validate",
            "--verify-checksums",
            "tests/plans/invalid/checksum_mismatch.toml",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ekvplan::plan::checksum_mismatch"));
}

#[test]
fn schema_prints_the_committed_schema() {
    let committed = std::fs::read_to_string("schema/plan.schema.json").unwrap();
    ekvplan()
        .arg("schema")
        .assert()
        .code(0)
        .stdout(predicate::eq(committed));
}
