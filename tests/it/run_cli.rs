//! `ekvplan run` / `ekvplan verify` through the binary.

use std::path::Path;

use predicates::prelude::*;

use crate::common::ekvplan;
use crate::common::run::{failing_dump, good_dump, temp_files, tree, wait_for};

/// A plan over `n` good dumps (`j0..`) plus the named bad ones.
fn write_plan(root: &Path, n: usize, bad: &[&str]) -> std::path::PathBuf {
    let mut s =
        String::from("version = 1\n\n[defaults]\nself_test = true\nscratch_root = \"scratch\"\n");
    for i in 0..n {
        good_dump(root, &format!("d{i}"));
        s.push_str(&format!(
            "\n[[job]]\nid = \"j{i}\"\ninput = \"dumps/d{i}\"\noutput = \"out/j{i}.fsm\"\n"
        ));
    }
    for b in bad {
        failing_dump(root, b);
        s.push_str(&format!(
            "\n[[job]]\nid = \"{b}\"\ninput = \"dumps/{b}\"\noutput = \"out/{b}.fsm\"\n"
        ));
    }
    let p = root.join("plan.toml");
    std::fs::write(&p, s).unwrap();
    p
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

// --- Without a plan -------------------------------------------------------

#[test]
fn bad_shard_spec_is_a_usage_error() {
    let t = tempfile::tempdir().unwrap();
    for spec in ["hash:0/3", "hash:4/3", "mod:1/2", "hash:3"] {
        ekvplan()
            .args(["run", "plan.toml", "--shard", spec])
            .current_dir(t.path())
            .assert()
            .code(1)
            .stderr(predicate::str::contains("--shard"));
    }
}

#[test]
fn dry_run_refuses_to_write_reports() {
    ekvplan()
        .args(["run", "plan.toml", "--dry-run", "--report", "r.json"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--dry-run writes nothing"));
}

#[test]
fn help_lists_the_flags() {
    let out = ekvplan().args(["run", "--help"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for flag in [
        "--jobs",
        "--keep-going",
        "--fail-fast",
        "--only",
        "--shard",
        "--dry-run",
        "--force",
        "--report",
        "--junit",
        "--memory-budget",
    ] {
        assert!(text.contains(flag), "{flag} missing from\n{text}");
    }
    ekvplan()
        .args(["verify", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--deep"));
}

#[test]
fn verify_a_single_fsm_from_ekvplan_encode() {
    let t = tempfile::tempdir().unwrap();
    good_dump(t.path(), "a");
    ekvplan()
        .current_dir(t.path())
        .args(["encode", "--input", "dumps/a", "--output", "a.fsm"])
        .assert()
        .success();
    // input_root in the sidecar is relative to where encode ran.
    for deep in [false, true] {
        let mut c = ekvplan();
        c.current_dir(t.path()).args(["verify", "a.fsm"]);
        if deep {
            c.arg("--deep");
        }
        c.assert()
            .code(0)
            .stdout(predicate::str::contains("1 output(s) verified"));
    }
    ekvplan()
        .current_dir(t.path())
        .args(["verify", "a.fsm", "--report", "v.json"])
        .assert()
        .code(0);
    let v = json(&t.path().join("v.json"));
    assert_eq!(v["verify_report_version"], 1);
    assert_eq!(v["outputs"][0]["ok"], true);

    let mut bytes = std::fs::read(t.path().join("a.fsm")).unwrap();
    bytes[9] ^= 0xff;
    std::fs::write(t.path().join("a.fsm"), bytes).unwrap();
    ekvplan()
        .current_dir(t.path())
        .args(["verify", "a.fsm"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("does not match the sidecar"));
    std::fs::remove_file(t.path().join("a.fsm.encode_info.json")).unwrap();
    ekvplan()
        .current_dir(t.path())
        .args(["verify", "a.fsm"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("sidecar is missing"));
    ekvplan()
        .current_dir(t.path())
        .args(["verify", "nope.fsm"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("output is missing"));
}

// --- With a TOML plan -----------------------------------------------------

#[test]

fn parallel_run_with_one_bad_input_and_reports() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let plan = write_plan(root, 4, &["broken"]);
    let out = ekvplan()
        .current_dir(root)
        .arg("run")
        .arg(&plan)
        .args([
            "--jobs",
            "2",
            "--report",
            "rep/run.json",
            "--junit",
            "rep/junit.xml",
        ])
        .assert()
        .code(2);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.starts_with("JOB "), "{stdout}");
    assert!(
        stdout.contains("5 of 5 job(s): 4 succeeded, 1 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("broken: "), "{stdout}");
    for i in 0..4 {
        assert!(root.join(format!("out/j{i}.fsm")).is_file());
    }
    assert!(!root.join("out/broken.fsm").exists());
    assert_eq!(temp_files(&root.join("out")), Vec::<String>::new());

    let v = json(&root.join("rep/run.json"));
    assert_eq!(v["report_version"], 1);
    assert_eq!(v["exit_code"], 2);
    assert_eq!(v["counts"]["succeeded"], 4);
    assert_eq!(v["counts"]["failed"], 1);
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 5);
    let broken = jobs.iter().find(|j| j["id"] == "broken").unwrap();
    assert_eq!(broken["status"], "failed");
    assert_eq!(broken["error"]["class"], "data");
    let j0 = jobs.iter().find(|j| j["id"] == "j0").unwrap();
    assert_eq!(j0["status"], "succeeded");
    assert_eq!(j0["self_test"], "matched");
    let sha = j0["output_sha256"].as_str().unwrap();
    let sidecar = json(&root.join("out/j0.fsm.encode_info.json"));
    assert_eq!(sidecar["output_fsm_sha256"], sha);
    assert_eq!(sidecar["ekvplan"]["job_id"], "j0");

    let x = std::fs::read_to_string(root.join("rep/junit.xml")).unwrap();
    assert!(
        x.contains("tests=\"5\" failures=\"1\" errors=\"0\" skipped=\"0\""),
        "{x}"
    );
    assert_eq!(x.matches("<testcase ").count(), 5);
    assert!(x.contains("<testcase name=\"broken\""));
    assert_eq!(x.matches("<failure type=\"data\"").count(), 1);
}

#[test]

fn resume_skips_then_reruns_after_an_input_change() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let plan = write_plan(root, 3, &[]);
    let run = |extra: &[&str]| {
        ekvplan()
            .current_dir(root)
            .arg("run")
            .arg(&plan)
            .args(["--report", "r.json"])
            .args(extra)
            .assert()
            .code(0);
        json(&root.join("r.json"))
    };
    assert_eq!(run(&[])["counts"]["succeeded"], 3);
    let v = run(&[]);
    assert_eq!(v["counts"]["up_to_date"], 3);
    assert_eq!(v["counts"]["succeeded"], 0);
    std::fs::write(root.join("dumps/d1/CHECKSUMS"), b"").unwrap();
    let v = run(&[]);
    assert_eq!(v["counts"]["up_to_date"], 2);
    assert_eq!(v["jobs"][1]["status"], "succeeded");
    assert_eq!(v["jobs"][1]["reason"], "input changed");
    assert_eq!(run(&["--force"])["counts"]["succeeded"], 3);
}

#[test]

fn shards_are_disjoint_cover_the_plan_and_are_stable_under_edits() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let ids_of = |plan: &Path, shard: &str, env: Option<&str>| -> Vec<String> {
        let mut c = ekvplan();
        c.current_dir(root)
            .arg("run")
            .arg(plan)
            .args(["--shard", shard, "--report", "s.json", "--force"]);
        if let Some(i) = env {
            c.env("JOB_COMPLETION_INDEX", i);
        }
        c.assert().code(0);
        json(&root.join("s.json"))["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_string())
            .collect()
    };
    let plan = write_plan(root, 9, &[]);
    let shards: Vec<Vec<String>> = (1..=3)
        .map(|m| ids_of(&plan, &format!("hash:{m}/3"), None))
        .collect();
    let mut all: Vec<String> = shards.concat();
    all.sort();
    let mut want: Vec<String> = (0..9).map(|i| format!("j{i}")).collect();
    want.sort();
    assert_eq!(all, want, "disjoint and covering");
    // JOB_COMPLETION_INDEX is 0-based: index 1 is shard 2.
    assert_eq!(ids_of(&plan, "hash:3", Some("1")), shards[1]);
    // Grow the plan: old jobs stay in their shards.
    let bigger = write_plan(root, 14, &[]);
    for (m, before) in shards.iter().enumerate() {
        let after = ids_of(&bigger, &format!("hash:{}/3", m + 1), None);
        assert!(
            before.iter().all(|id| after.contains(id)),
            "{before:?} ⊄ {after:?}"
        );
    }
}

#[test]

fn sigint_to_the_binary_leaves_nothing_partial() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let plan = write_plan(root, 4, &[]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ekvplan"))
        .current_dir(root)
        .arg("run")
        .arg(&plan)
        .args([
            "--jobs",
            "2",
            "--memory-budget",
            "1GiB",
            "--report",
            "r.json",
        ])
        .env(ekvplan::executor::HOLD_PHASE_ENV, "writing")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("two jobs to write", || {
        temp_files(&root.join("out")).len() == 2
    });
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let mut status = None;
    wait_for("exit", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(status.unwrap().code(), Some(130));
    assert_eq!(tree(root, &["out", "scratch"]), Vec::<String>::new());
    let v = json(&root.join("r.json"));
    assert_eq!(v["interrupted"], true);
    assert_eq!(v["exit_code"], 130);
    assert_eq!(v["counts"]["cancelled"], 2);
}

#[test]

fn dry_run_shows_the_plan_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let plan = write_plan(root, 2, &[]);
    let before = tree(root, &["."]);
    ekvplan()
        .current_dir(root)
        .arg("run")
        .arg(&plan)
        .arg("--dry-run")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("j0: would run (no output yet)"))
        .stdout(predicate::str::contains("T           7000 (from manifest)"))
        .stdout(predicate::str::contains("2 job(s) would run, 0 up to date"));
    assert_eq!(tree(root, &["."]), before);
}

#[test]

fn verify_a_plan() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let plan = write_plan(root, 2, &[]);
    ekvplan()
        .current_dir(root)
        .arg("run")
        .arg(&plan)
        .assert()
        .code(0);
    ekvplan()
        .current_dir(root)
        .arg("verify")
        .arg(&plan)
        .arg("--deep")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "2 output(s) verified (deep), 0 failed",
        ));
    std::fs::remove_file(root.join("out/j1.fsm")).unwrap();
    ekvplan()
        .current_dir(root)
        .arg("verify")
        .arg(&plan)
        .assert()
        .code(2);
}
