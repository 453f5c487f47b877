//! `ekvplan init`: a commented first plan for the dumps and dump archives
//! it finds, which `validate` accepts as written; and the batch `init`
//! cannot write for unlike dumps, `adapters = "manifest"`.

use std::fs;
use std::path::Path;

use crate::common::{archives_and_tree, copy_tree, ekvplan, repo};

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
        text.contains("One batch with adapters = \"manifest\""),
        "{text}"
    );
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
    // Paths are relative to the working directory for a plan on stdout.
    fs::write(t.path().join("plan.toml"), &text).unwrap();
    ekvplan()
        .current_dir(t.path())
        .args(["validate", "plan.toml", "--verify-checksums"])
        .assert()
        .success();
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

#[test]
fn init_then_validate_then_run_over_dumps_and_archives() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("staging");
    // Look-alikes: two archives and a tree of the same shape.
    archives_and_tree(&dir, ["a", "b", "c"]);
    ekvplan()
        .current_dir(t.path())
        .args(["init", "staging", "--output", "plan.toml"])
        .assert()
        .success();
    let text = fs::read_to_string(t.path().join("plan.toml")).unwrap();
    ekvplan()
        .current_dir(t.path())
        .args(["validate", "plan.toml"])
        .assert()
        .success();
    ekvplan()
        .current_dir(t.path())
        .args(["run", "plan.toml", "--progress", "none"])
        .assert()
        .success();
    for id in ["a", "b", "c"] {
        assert!(
            t.path().join(format!("out/{id}.fsm")).is_file(),
            "{id}: {text}"
        );
    }
}

/// `mixed/full` (cluster-1) lists four adapters, `mixed/cache` (cluster-2
/// with a manifest listing redis alone) one: a batch over both fails under
/// `"all"` and passes under `"manifest"`, where each job takes what its
/// manifest lists and an exclusion for an adapter a dump lacks is not an
/// error.
#[test]
fn a_batch_over_unlike_dumps_under_adapters_manifest() {
    let t = tempfile::tempdir().unwrap();
    let mixed = t.path().join("mixed");
    copy_tree(
        &repo().join("examples/dumps/cluster-1"),
        &mixed.join("full"),
    );
    copy_tree(
        &repo().join("examples/dumps/cluster-2"),
        &mixed.join("cache"),
    );
    let m = mixed.join("cache/MANIFEST.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&m).unwrap()).unwrap();
    let redis = v["adapters"]["redis"].clone();
    v["adapters"] = serde_json::json!({ "redis": redis });
    fs::write(&m, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    fs::remove_file(mixed.join("cache/CHECKSUMS")).unwrap();
    let plan = |adapters: &str| {
        format!(
            "version = 1\n\
             [[batch]]\n\
             inputs = \"mixed/*\"\n\
             output = \"out/{{name}}.fsm\"\n\
             adapters = {adapters}\n\
             self_test = true\n\
             exclude.dynamodb.tables = [\"users\"]\n"
        )
    };
    fs::write(t.path().join("all.toml"), plan("\"all\"")).unwrap();
    ekvplan()
        .current_dir(t.path())
        .args(["validate", "all.toml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("adapter_not_in_manifest"))
        .stderr(predicates::str::contains("adapters = \"manifest\""));

    fs::write(t.path().join("plan.toml"), plan("\"manifest\"")).unwrap();
    let out = ekvplan()
        .current_dir(t.path())
        .args(["validate", "plan.toml", "--explain", "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["counts"]["warnings"], 0, "{v}");
    let adapters: Vec<(String, serde_json::Value, serde_json::Value)> = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap().to_string(),
                j["adapters"].clone(),
                j["adapters_from_manifest"].clone(),
            )
        })
        .collect();
    assert_eq!(
        adapters,
        [
            (
                "cache".to_string(),
                serde_json::json!(["redis"]),
                serde_json::json!(true)
            ),
            (
                "full".to_string(),
                serde_json::json!(["redis", "dynamodb", "s3", "sqs"]),
                serde_json::json!(true)
            ),
        ]
    );
    ekvplan()
        .current_dir(t.path())
        .args(["run", "plan.toml", "--progress", "none"])
        .assert()
        .success();
    for (id, want) in [
        (
            "full",
            serde_json::json!(["redis", "dynamodb", "s3", "sqs"]),
        ),
        ("cache", serde_json::json!(["redis"])),
    ] {
        let side: serde_json::Value = serde_json::from_slice(
            &fs::read(t.path().join(format!("out/{id}.fsm.encode_info.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(side["adapters_enabled"], want, "{id}");
    }
    // The excluded table is still checked where the adapter is listed.
    fs::write(
        t.path().join("typo.toml"),
        plan("\"manifest\"").replace("[\"users\"]", "[\"user\"]"),
    )
    .unwrap();
    ekvplan()
        .current_dir(t.path())
        .args(["validate", "typo.toml"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("exclusion_not_found"))
        .stderr(predicates::str::contains("[job full]"));
}
