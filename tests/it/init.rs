//! `ekvplan init`: a commented first plan for the dumps it finds, which
//! `validate` accepts as written.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::ekvplan;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &to.join(e.file_name()));
        } else {
            fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// `same/`: two look-alike dumps; `mixed/`: dumps with different adapters,
/// one whose S3 and SQS records the encoder cannot rebuild, and a
/// directory that is not a dump.
fn staging(root: &Path) {
    for c in ["cluster-2", "cluster-3"] {
        copy_tree(
            &repo().join("examples/dumps").join(c),
            &root.join("same").join(c),
        );
    }
    for d in ["full", "redis-only", "orphans"] {
        copy_tree(
            &repo().join("tests/plans/dumps").join(d),
            &root.join("mixed").join(d),
        );
    }
    fs::create_dir_all(root.join("mixed/notes")).unwrap();
}

#[test]
fn init_writes_a_plan_that_validates_as_written() {
    let t = tempfile::tempdir().unwrap();
    staging(t.path());
    let plan = t.path().join("plans/restore.toml");
    ekvplan()
        .current_dir(t.path())
        .args(["init", "same", "mixed", "--output", "plans/restore.toml"])
        .assert()
        .success();
    let text = fs::read_to_string(&plan).unwrap();
    assert!(text.starts_with("#:schema plan.schema.json\n"), "{text}");
    assert!(t.path().join("plans/plan.schema.json").is_file());
    assert!(text.contains("self_test = true"), "{text}");
    // One batch for the look-alikes, with their timestamps as comments.
    assert_eq!(text.matches("[[batch]]").count(), 1, "{text}");
    assert!(text.contains("inputs = \"../same/*\""), "{text}");
    assert!(
        text.contains("#   cluster-2: manifest last_commit_ts = "),
        "{text}"
    );
    // One job each where they differ, narrowed to what each dump holds.
    assert!(text.contains("id = \"redis-only\""), "{text}");
    assert!(text.contains("adapters = [\"redis\"]"), "{text}");
    assert!(text.contains("input = \"../mixed/full\""), "{text}");
    assert!(
        text.contains("left out, no adapter the encoder can rebuild"),
        "{text}"
    );
    assert!(!text.contains("notes"), "{text}");
    ekvplan().arg("validate").arg(&plan).assert().success();
    // It never replaces a plan.
    ekvplan()
        .current_dir(t.path())
        .args(["init", "same", "--output", "plans/restore.toml"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("exists"));
    assert_eq!(fs::read_to_string(&plan).unwrap(), text);
}

#[test]
fn init_finds_archives_and_names_them_without_the_extension() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("archives");
    fs::create_dir_all(&dir).unwrap();
    fs::copy(
        repo().join("tests/archive/upstream/cluster-1.tar.zst"),
        dir.join("c1.tar.zst"),
    )
    .unwrap();
    copy_tree(&repo().join("examples/dumps/cluster-2"), &dir.join("c2"));
    let out = ekvplan()
        .current_dir(t.path())
        .args(["init", "archives"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    // A directory and an archive are not alike: one job each.
    assert!(
        text.contains("id = \"c1\"\ninput = \"archives/c1.tar.zst\""),
        "{text}"
    );
    assert!(
        text.contains("id = \"c2\"\ninput = \"archives/c2\""),
        "{text}"
    );
    assert!(
        text.contains("manifest last_commit_ts = 114693662310400001"),
        "{text}"
    );
    ekvplan()
        .args(["init"])
        .arg(t.path().join("missing"))
        .assert()
        .code(1);
}
