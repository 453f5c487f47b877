//! Plan expansion against generated dump trees: inheritance, batches,
//! templates, path resolution, and the executor-facing API.

use std::fs;
use std::path::{Path, PathBuf};

use ekvplan::plan::{self, JobSource, Origin, Style, ValidateOptions};

fn manifest_bytes() -> Vec<u8> {
    ekvplan::Manifest::all_adapters("t", 7000, "2026-06-01T00:00:00Z")
        .to_bytes()
        .unwrap()
}

fn dump(dir: &Path, tables: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("MANIFEST.json"), manifest_bytes()).unwrap();
    for t in tables {
        fs::create_dir_all(dir.join("dynamodb").join(t)).unwrap();
    }
}

fn write_plan(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("plan.toml");
    fs::write(&p, body).unwrap();
    p
}

fn ok(path: &Path) -> plan::ValidatedPlan {
    match plan::load_and_validate(path, &ValidateOptions::default()) {
        Ok(p) => p,
        Err(e) => {
            let r = e.report().unwrap();
            panic!("{}", r.render(e.jobs(), Style::Plain));
        }
    }
}

#[test]
fn batches_expand_in_byte_order_and_skip_files_and_dot_dirs() {
    let t = tempfile::tempdir().unwrap();
    for name in ["zeta", "alpha", "Mid", "mid"] {
        dump(&t.path().join("dumps").join(name), &[]);
    }
    dump(&t.path().join("dumps/.staging"), &[]);
    fs::write(t.path().join("dumps/README"), "not a dump").unwrap();
    let p = write_plan(
        t.path(),
        "version = 1\n[[batch]]\ninputs = \"dumps/*\"\nid = \"c-{name}\"\noutput = \"out/{id}.fsm\"\n",
    );
    let v = ok(&p);
    let ids: Vec<&str> = v.jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["c-Mid", "c-alpha", "c-mid", "c-zeta"]);
    assert_eq!(v.jobs[1].job.input, t.path().join("dumps/alpha"));
    assert_eq!(v.jobs[1].job.output, t.path().join("out/c-alpha.fsm"));
    assert!(
        matches!(&v.jobs[0].source, JobSource::Batch { index: 0, matched } if matched.ends_with("Mid"))
    );
    // Deterministic: the same plan expands the same way again.
    let again = ok(&p);
    let a: Vec<_> = v.jobs.iter().map(|j| (&j.id, &j.job.output)).collect();
    let b: Vec<_> = again.jobs.iter().map(|j| (&j.id, &j.job.output)).collect();
    assert_eq!(a, b);
}

#[test]
fn settings_inherit_from_defaults_list_by_list() {
    let t = tempfile::tempdir().unwrap();
    dump(&t.path().join("dumps/a"), &["orders", "users", "tmp"]);
    dump(&t.path().join("dumps/b"), &["orders", "tmp"]);
    let p = write_plan(
        t.path(),
        r#"version = 1
[defaults]
input = "dumps/{id}"
output = "out/{id}.fsm"
self_test = true
memory_budget = "1GiB"
last_commit_ts = "0xFFFFFFFFFFFFFFFF"
exclude.dynamodb.tables = ["tmp"]

[[job]]
id = "a"
exclude.dynamodb.tables = ["users"]
memory_budget = 4096

[[job]]
id = "b"
adapters = ["dynamodb", "redis"]
"#,
    );
    let v = ok(&p);
    let (a, b) = (&v.jobs[0], &v.jobs[1]);
    assert_eq!(a.job.input, t.path().join("dumps/a"));
    assert_eq!(a.job.exclusions.dynamodb_tables, ["users"]);
    assert_eq!(b.job.exclusions.dynamodb_tables, ["tmp"]);
    assert_eq!(a.job.memory_budget, 4096);
    assert_eq!(b.job.memory_budget, 1 << 30);
    assert_eq!(a.job.last_commit_ts, Some(u64::MAX));
    assert!(a.job.self_test && b.job.self_test);
    assert_eq!(b.job.adapters.names(), ["redis", "dynamodb"]);
    assert_eq!(a.origins["exclude.dynamodb.tables"], Origin::Job(0));
    assert_eq!(b.origins["exclude.dynamodb.tables"], Origin::Defaults);
    assert_eq!(b.origins["scratch_root"], Origin::BuiltIn);
    assert_eq!(a.manifest_last_commit_ts, Some(7000));
    assert_eq!(a.effective_last_commit_ts(), Some(u64::MAX));
}

#[test]
fn plan_directories_with_glob_characters_are_taken_literally() {
    let t = tempfile::tempdir().unwrap();
    let weird = t.path().join("we[ird]*dir");
    dump(&weird.join("dumps/one"), &[]);
    // A sibling the unescaped pattern would also match.
    dump(&t.path().join("wexdir/dumps/two"), &[]);
    let p = write_plan(
        &weird,
        "version = 1\n[[batch]]\ninputs = \"dumps/*\"\noutput = \"out/{name}.fsm\"\n",
    );
    let v = ok(&p);
    let ids: Vec<&str> = v.jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["one"]);
}

#[test]
fn api_exit_codes() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("missing.toml");
    let e = plan::load_and_validate(&missing, &ValidateOptions::default()).unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert!(e.fatal().is_some());
    let bad = write_plan(
        t.path(),
        "version = 1\n[[job]]\nid = \"x\"\ninput = \"nope\"\noutput = \"x.fsm\"\n",
    );
    let e = plan::load_and_validate(&bad, &ValidateOptions::default()).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert_eq!(e.diagnostics().len(), 1);
    assert_eq!(e.diagnostics()[0].code(), "ekvplan::plan::input_not_found");
    // The job itself still expanded (for --explain).
    assert_eq!(e.jobs().len(), 1);
}

#[test]
fn non_utf8_plans_are_invalid_not_fatal() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("plan.toml");
    fs::write(&p, b"version = 1\n# \xff\n").unwrap();
    let e = plan::load_and_validate(&p, &ValidateOptions::default()).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert_eq!(e.diagnostics()[0].kind, "syntax");
}

#[test]
fn fingerprints_follow_output_affecting_settings() {
    let t = tempfile::tempdir().unwrap();
    dump(&t.path().join("d"), &["orders"]);
    let base = "version = 1\n[[job]]\nid = \"j\"\ninput = \"d\"\noutput = \"o.fsm\"\n";
    let fp = |extra: &str| {
        let p = write_plan(t.path(), &format!("{base}{extra}"));
        ok(&p).jobs[0].settings_fingerprint()
    };
    let plain = fp("");
    assert_eq!(plain, fp("memory_budget = \"1GiB\"\n"));
    assert_ne!(plain, fp("exclude.dynamodb.tables = [\"orders\"]\n"));
    assert_ne!(plain, fp("last_commit_ts = 7001\n"));
    assert_ne!(plain, fp("adapters = [\"redis\"]\n"));
}

#[test]
fn ids_from_directory_names_must_be_valid() {
    let t = tempfile::tempdir().unwrap();
    dump(&t.path().join("dumps/prod east"), &[]);
    let p = write_plan(
        t.path(),
        "version = 1\n[[batch]]\ninputs = \"dumps/*\"\noutput = \"out/{name}.fsm\"\n",
    );
    let e = plan::load_and_validate(&p, &ValidateOptions::default()).unwrap_err();
    assert_eq!(e.diagnostics()[0].kind, "invalid_id");
}
