//! Snapshot tests of plan diagnostics: every plan under `tests/plans/invalid/`
//! (one per kind of problem) and `tests/plans/warnings/`, rendered plain
//! (as on a non-terminal) and as `validate --format json`.
//!
//! Update after an intended change with `INSTA_UPDATE=always cargo test --test it
//! plan_diagnostics` and review the diff of `tests/plans/*/snapshots/`.

use std::path::{Path, PathBuf};

use ekvplan::plan::{self, Style, ValidateOptions};

fn plans_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

fn options_for(path: &Path) -> ValidateOptions {
    let src = std::fs::read_to_string(path).unwrap_or_default();
    ValidateOptions {
        verify_checksums: src.contains("# test-options: verify-checksums"),
    }
}

fn snapshot_dir(dir: &str, expect_valid: bool) {
    let plans = plans_in(dir);
    assert!(!plans.is_empty(), "no plans in {dir}");
    for path in plans {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let (report, jobs) = plan::validate(&path, &options_for(&path)).unwrap();
        assert_eq!(
            report.is_valid(),
            expect_valid,
            "{}: {}",
            path.display(),
            report.render(&jobs, Style::Plain)
        );
        // A plan named after a kind must report that kind.
        if stem != "many_problems" {
            let code = format!("ekvplan::plan::{stem}");
            assert!(
                report.diagnostics.iter().any(|d| d.code() == code),
                "{} does not report {code}:\n{}",
                path.display(),
                report.render(&jobs, Style::Plain)
            );
        }
        let rendered = report.render(&jobs, Style::Plain);
        let json = serde_json::to_string_pretty(&report.to_json(&jobs, false)).unwrap();
        insta::with_settings!({
            snapshot_path => format!("{dir}/snapshots").replace("tests/", "../"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(stem.clone(), rendered);
            insta::assert_snapshot!(format!("{stem}.json"), json);
        });
    }
}

#[test]
fn invalid_plans() {
    snapshot_dir("tests/plans/invalid", false);
}

#[test]
fn plans_with_warnings_only() {
    snapshot_dir("tests/plans/warnings", true);
}

#[test]
fn every_problem_of_every_job_is_reported() {
    let path = Path::new("tests/plans/invalid/many_problems.toml");
    let (report, _) = plan::validate(path, &ValidateOptions::default()).unwrap();
    let got: Vec<(Option<&str>, &str)> = report
        .diagnostics
        .iter()
        .map(|d| (d.job.as_deref(), d.kind))
        .collect();
    assert_eq!(
        got,
        [
            (Some("full"), "commit_ts_below_manifest"),
            (Some("full"), "exclusion_not_found"),
            (Some("redis-only"), "adapter_not_in_manifest"),
            (Some("redis-only"), "duplicate_output"),
            (Some("typo"), "unknown_key"),
        ]
    );
}

#[test]
fn every_documented_kind_has_a_fixture() {
    let doc = std::fs::read_to_string("docs/plan.md").unwrap();
    let kinds: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| {
            l.split_once("` | error |")
                .or(l.split_once("` | warning |"))
        })
        .map(|(k, _)| k)
        .collect();
    assert!(kinds.len() >= 25, "{kinds:?}");
    for k in kinds {
        let found = ["invalid", "warnings"]
            .iter()
            .any(|d| Path::new(&format!("tests/plans/{d}/{k}.toml")).exists());
        assert!(found, "no fixture for documented kind {k}");
    }
}
