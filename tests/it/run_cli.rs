//! `ekvplan run` / `ekvplan verify` through the binary.

use std::path::{Path, PathBuf};

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
        .stderr(predicate::str::contains(
            "'--dry-run' cannot be used with '--report <FILE>'",
        ));
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
    assert_eq!(v["format"], "ekvplan-verify-report");
    assert_eq!(v["format_version"], 2);
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
    assert_eq!(v["format"], "ekvplan-run-report");
    assert_eq!(v["format_version"], 2);
    assert_eq!(v["exit_code"], 2);
    assert_eq!(v["counts"]["succeeded"], 4);
    assert_eq!(v["counts"]["failed"], 1);
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 5);
    let broken = jobs.iter().find(|j| j["id"] == "broken").unwrap();
    assert_eq!(broken["status"], "failed");
    assert_eq!(broken["error"]["class"], "data");
    assert_eq!(broken["error"]["code"], "ekvplan::dynamodb::json_syntax");
    let file = broken["error"]["file"].as_str().unwrap_or_default();
    assert!(file.ends_with("_schema.json"), "{broken}");
    assert!(broken["error"]["help"].is_string(), "{broken}");
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
    assert!(
        x.contains(" code=\"ekvplan::dynamodb::json_syntax\" "),
        "{x}"
    );
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
    assert_eq!(v["jobs"][1]["reason"], "input changed: CHECKSUMS (added)");
    assert_eq!(v["jobs"][1]["reason_code"], "input_changed");
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
        .env(ekvplan::testing::HOLD_PHASE_ENV, "writing")
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

// --- Runs that behave in CI -----------------------------------------------

/// Run `ekvplan` in `cwd` with `args`, expecting `code`; the report written
/// to stdout (`--report -`) is returned parsed.
fn run_json(cwd: &Path, args: &[&str], code: i32) -> serde_json::Value {
    let out = ekvplan()
        .current_dir(cwd)
        .args(args)
        .args(["--report", "-", "--progress", "none"])
        .assert()
        .code(code)
        .get_output()
        .clone();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the JSON report ({e}): {:?}", out.stdout))
}

#[test]
fn resume_does_not_depend_on_the_working_directory_or_the_checkout() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("checkout/restore");
    std::fs::create_dir_all(&root).unwrap();
    write_plan(&root, 2, &[]);
    let first = run_json(&root, &["run", "plan.toml"], 0);
    assert_eq!(first["counts"]["succeeded"], 2);
    let up_to_date = |v: &serde_json::Value| {
        assert_eq!(v["counts"]["up_to_date"], 2, "{v:#}");
        assert!(
            v["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|j| j["reason_code"] == "up_to_date")
        );
    };
    // Three working directories: the plan's parent, a subdirectory, elsewhere.
    let plan_abs = root.join("plan.toml");
    up_to_date(&run_json(
        &t.path().join("checkout"),
        &["run", "restore/plan.toml"],
        0,
    ));
    up_to_date(&run_json(&root.join("dumps"), &["run", "../plan.toml"], 0));
    up_to_date(&run_json(
        Path::new("/"),
        &["run", plan_abs.to_str().unwrap()],
        0,
    ));
    // The whole directory moves (a fresh checkout elsewhere, a pod's volume).
    let moved = t.path().join("elsewhere/deeper/restore");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&root, &moved).unwrap();
    up_to_date(&run_json(&moved, &["run", "plan.toml"], 0));
    up_to_date(&run_json(
        Path::new("/"),
        &["run", moved.join("plan.toml").to_str().unwrap()],
        0,
    ));
    // verify agrees: no "changed" note from any directory.
    for (cwd, plan) in [
        (moved.clone(), "plan.toml".to_string()),
        (
            PathBuf::from("/"),
            moved.join("plan.toml").display().to_string(),
        ),
    ] {
        let out = ekvplan()
            .current_dir(&cwd)
            .args(["verify", &plan, "--deep"])
            .assert()
            .code(0)
            .get_output()
            .clone();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains("note:"), "{text}");
    }
    // A lone output still finds its input after the move (--deep).
    ekvplan()
        .current_dir("/")
        .args(["verify", "--deep"])
        .arg(moved.join("out/j0.fsm"))
        .assert()
        .code(0);
    // The true reason when something does change.
    let plan_text = std::fs::read_to_string(moved.join("plan.toml")).unwrap();
    std::fs::write(
        moved.join("plan.toml"),
        plan_text.replace("self_test = true", "self_test = false"),
    )
    .unwrap();
    std::fs::write(moved.join("dumps/d1/NOTES.txt"), b"new file").unwrap();
    let out = ekvplan()
        .current_dir(&moved)
        .args(["run", "plan.toml", "--dry-run"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("j0: would run (self_test changed (true -> false))"),
        "{text}"
    );
    assert!(
        text.contains("j1: would run (input changed: files (added, removed, resized or modified); self_test changed (true -> false))"),
        "{text}"
    );
}

#[test]
fn report_destinations_stdout_fifo_and_symlinks() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write_plan(root, 1, &[]);
    // `-`: the report on stdout, the summary table goes to stderr.
    let out = ekvplan()
        .current_dir(root)
        .args(["run", "plan.toml", "--report", "-", "--progress", "none"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"], "ekvplan-run-report");
    assert!(String::from_utf8_lossy(&out.stderr).contains("JOB "));

    // A FIFO is written in place (a reader collects what comes through).
    let fifo = root.join("report.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    ekvplan()
        .current_dir(root)
        .args(["run", "plan.toml", "--junit", "report.fifo"])
        .assert()
        .code(0);
    let xml = String::from_utf8(reader.join().unwrap()).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    // A symlink is refused before anything runs, and left as it was.
    let target = root.join("elsewhere.xml");
    std::fs::write(&target, b"keep").unwrap();
    std::os::unix::fs::symlink(&target, root.join("junit.xml")).unwrap();
    std::fs::remove_file(root.join("out/j0.fsm")).unwrap();
    ekvplan()
        .current_dir(root)
        .args(["run", "plan.toml", "--junit", "junit.xml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--junit: refusing to write a report through the symlink junit.xml",
        ));
    assert!(
        std::fs::symlink_metadata(root.join("junit.xml"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    assert!(!root.join("out/j0.fsm").exists(), "nothing ran");
    // /dev/stdout is a symlink too: the error says to use `-`.
    ekvplan()
        .current_dir(root)
        .args(["run", "plan.toml", "--report", "/dev/stdout"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("use `-`"));
    // Both on stdout is refused.
    ekvplan()
        .current_dir(root)
        .args(["run", "plan.toml", "--report", "-", "--junit", "-"])
        .assert()
        .code(1);
}

#[test]
fn reports_honour_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write_plan(root, 1, &[]);
    for (umask, want) in [("022", 0o644), ("077", 0o600), ("002", 0o664)] {
        let status = std::process::Command::new("sh")
            .current_dir(root)
            .arg("-c")
            .arg(format!(
                "umask {umask} && exec \"$0\" run plan.toml --report r.json --junit j.xml --progress none"
            ))
            .arg(assert_cmd::cargo::cargo_bin("ekvplan"))
            .env_remove("JOB_COMPLETION_INDEX")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        for f in ["r.json", "j.xml"] {
            let mode = std::fs::metadata(root.join(f))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, want, "{f} under umask {umask}");
        }
    }
}

/// Lines of the child's stderr, read as they come, until `stop` says so.
fn stderr_until(
    child: &mut std::process::Child,
    mut stop: impl FnMut(&str) -> bool,
) -> Vec<String> {
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let done = stop(&line);
        lines.push(line);
        if done {
            break;
        }
    }
    lines
}

#[test]
fn plain_progress_has_start_lines_and_heartbeats() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write_plan(root, 1, &[]);
    // The job waits in its writing phase until interrupted: it lasts as
    // long as the test needs, not a fixed time.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ekvplan"))
        .current_dir(root)
        .args(["run", "plan.toml", "--heartbeat", "20ms"])
        .env(ekvplan::testing::HOLD_PHASE_ENV, "writing")
        .env_remove("GITHUB_ACTIONS")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A bound, not a timing assertion: a run that never beats is killed.
    let pid = child.id() as i32;
    let (disarm, armed) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if armed
            .recv_timeout(std::time::Duration::from_secs(120))
            .is_err()
        {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let mut beats = 0;
    let lines = stderr_until(&mut child, |l| {
        if l.contains(" running j0: ") {
            beats += 1;
        }
        beats == 2
    });
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    drop(disarm);
    watchdog.join().unwrap();
    let ts = |l: &str| {
        let (stamp, _) = l.split_once(' ').unwrap();
        assert!(
            stamp.len() == 20 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{l}"
        );
    };
    let start = lines
        .iter()
        .find(|l| l.contains("start j0 [1/1]"))
        .expect("a start line");
    ts(start);
    assert!(start.contains("dumps/d0 -> "), "{start}");
    let beat = lines.iter().find(|l| l.contains(" running j0: ")).unwrap();
    ts(beat);
    assert!(beat.contains("running j0: writing"), "{beat}");
    assert!(beat.contains(" elapsed"), "{beat}");
}

#[test]
fn github_actions_get_groups_and_annotations() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write_plan(root, 1, &["broken"]);
    let out = ekvplan()
        .current_dir(root)
        .args(["run", "plan.toml", "--jobs", "1"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", root)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.matches("::group::").count(), 2, "{err}");
    assert_eq!(err.matches("::endgroup::").count(), 2, "{err}");
    assert!(err.contains("         ok j0 ("), "{err}");
    let plan = std::fs::read_to_string(root.join("plan.toml")).unwrap();
    let line = plan.lines().position(|l| l == "id = \"broken\"").unwrap();
    // The annotation points at the job's [[job]] header line.
    assert!(
        err.contains(&format!(
            "::error file=plan.toml,line={line},title=ekvplan job broken failed::dynamodb encoder: "
        )),
        "{err}"
    );
}

#[test]
fn json_outputs_validate_against_the_committed_schemas() {
    use ekvplan::schemas;
    for d in schemas::DOCUMENTS {
        let committed = std::fs::read_to_string(d.path).unwrap();
        assert!(
            committed == d.text(),
            "{} is stale: run `cargo run -- schema {} --output {}` and commit it",
            d.path,
            d.name,
            d.path
        );
    }
    let check = |name: &str, doc: &serde_json::Value| {
        let committed: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(schemas::find(name).unwrap().path).unwrap(),
        )
        .unwrap();
        let v = jsonschema::draft7::new(&committed).unwrap();
        let errors: Vec<String> = v
            .iter_errors(doc)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}\n{doc:#}");
    };
    let stdout_json = |cmd: &mut assert_cmd::Command, code: i32| -> serde_json::Value {
        let out = cmd.assert().code(code).get_output().clone();
        serde_json::from_slice(&out.stdout).unwrap()
    };

    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write_plan(root, 2, &["broken"]);
    let plan = root.join("plan.toml");
    // A run with successes and a failure, then one with up-to-date jobs.
    for code in [2, 2] {
        let v = run_json(root, &["run", "plan.toml"], code);
        check("run-report", &v);
        assert!(v["jobs"][0]["duration_ms"].is_string());
    }
    check(
        "dry-run",
        &stdout_json(
            ekvplan()
                .current_dir(root)
                .args(["run", "plan.toml", "--dry-run", "--format", "json"]),
            0,
        ),
    );
    // Verify: one output verifies, one is missing.
    std::fs::remove_file(root.join("out/j1.fsm")).unwrap();
    check(
        "verify-report",
        &stdout_json(
            ekvplan()
                .current_dir(root)
                .args(["verify", "plan.toml", "--report", "-"]),
            2,
        ),
    );
    // Validate: valid with --explain, invalid, unreadable.
    check(
        "validate",
        &stdout_json(
            ekvplan()
                .args(["validate", "--format", "json", "--explain"])
                .arg(&plan),
            0,
        ),
    );
    check(
        "validate",
        &stdout_json(
            ekvplan().args([
                "validate",
                "--format",
                "json",
                "tests/plans/invalid/many_problems.toml",
            ]),
            2,
        ),
    );
    check(
        "validate",
        &stdout_json(
            ekvplan()
                .args(["validate", "--format", "json"])
                .arg(root.join("nope.toml")),
            1,
        ),
    );
}
