//! One run reports every problem of a plan: schema-level mistakes do not
//! hide what the dumps would reject, and everything comes out in the order
//! of the file (`tests/plans/one-pass/twelve_mistakes.toml`: each mistake is
//! marked `# N` on its line).

use std::collections::BTreeSet;
use std::path::Path;

use ekvplan::plan::{self, Level, Style, ValidateOptions};

use crate::common::ekvplan;

const PLAN: &str = "tests/plans/one-pass/twelve_mistakes.toml";

/// The lines marked `# N <kind>: …`, as (line, N).
fn marked_lines() -> Vec<(usize, usize)> {
    std::fs::read_to_string(PLAN)
        .unwrap()
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let (_, comment) = l.split_once("# ")?;
            let n: usize = comment.split_whitespace().next()?.parse().ok()?;
            Some((i + 1, n))
        })
        .collect()
}

#[test]
fn twelve_mistakes_in_one_run_in_file_order() {
    let marked = marked_lines();
    assert_eq!(
        marked.iter().map(|m| m.1).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    let (report, jobs) = plan::validate(Path::new(PLAN), &ValidateOptions::default()).unwrap();
    assert_eq!(
        report.errors(),
        12,
        "{}",
        report.render(&jobs, Style::Plain)
    );
    assert_eq!(report.warnings(), 0);
    // Each diagnostic points at one marked line, in file order.
    let json = report.to_json(&jobs, false);
    let lines: Vec<usize> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let primary = d["labels"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["primary"] == true)
                .unwrap();
            primary["start"]["line"].as_u64().unwrap() as usize
        })
        .collect();
    assert_eq!(lines, marked.iter().map(|m| m.0).collect::<Vec<_>>());
    // Schema-level and dump-level problems both.
    let kinds: BTreeSet<&str> = report.diagnostics.iter().map(|d| d.kind).collect();
    for k in [
        "invalid_value",
        "unknown_key",
        "invalid_type",
        "invalid_id",
        "commit_ts_below_manifest",
        "exclusion_not_found",
        "duplicate_output",
        "adapter_not_in_manifest",
        "input_not_found",
        "output_inside_input",
        "batch_no_match",
    ] {
        assert!(kinds.contains(k), "{k} missing: {kinds:?}");
    }
    assert!(report.diagnostics.iter().all(|d| d.level == Level::Error));
    insta::with_settings!({
        snapshot_path => "../plans/one-pass/snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("twelve_mistakes", report.render(&jobs, Style::Plain));
    });
}

#[test]
fn run_reports_them_all_and_annotates_them_on_github() {
    let out = ekvplan()
        .args(["run", PLAN])
        .env("GITHUB_ACTIONS", "true")
        .env_remove("GITHUB_WORKSPACE")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("invalid: 12 errors"), "{stderr}");
    let annotated: Vec<usize> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("::error file={PLAN},line=")))
        .map(|rest| rest.split([',', ':']).next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        annotated,
        marked_lines().iter().map(|m| m.0).collect::<Vec<_>>(),
        "{stderr}"
    );
    assert!(
        stderr.contains("title=ekvplan%3A%3Aplan%3A%3Acommit_ts_below_manifest::[job full] last_commit_ts 1 is below"),
        "{stderr}"
    );
}

#[test]
fn a_missing_version_hides_nothing() {
    let t = tempfile::tempdir().unwrap();
    let dump = std::fs::canonicalize("tests/plans/dumps/full").unwrap();
    let p = t.path().join("plan.toml");
    std::fs::write(
        &p,
        format!(
            "[[job]]\nid = \"a\"\ninput = {:?}\noutput = \"out/a.fsm\"\nlast_commit_ts = 1\n",
            dump.display().to_string()
        ),
    )
    .unwrap();
    let (report, _) = plan::validate(&p, &ValidateOptions::default()).unwrap();
    let kinds: Vec<&str> = report.diagnostics.iter().map(|d| d.kind).collect();
    assert_eq!(kinds, ["missing_key", "commit_ts_below_manifest"]);
}
