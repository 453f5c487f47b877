//! The committed schema is current, draft-07, and accepts every shipped
//! plan; every shipped plan points editors at it and validates clean.

use std::path::{Path, PathBuf};

use ekvplan::plan::{self, Style, ValidateOptions};
use ekvplan::schemas;

fn plan_schema() -> &'static schemas::Document {
    schemas::find("plan").unwrap()
}

fn shipped_plans() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["plans", "examples"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

#[test]
fn committed_schema_is_current() {
    let doc = plan_schema();
    let committed = std::fs::read_to_string(doc.path).unwrap();
    assert!(
        committed == doc.text(),
        "{} is stale: run `cargo run -- schema --output {}` and commit it",
        doc.path,
        doc.path
    );
}

#[test]
fn committed_schema_is_draft07() {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(plan_schema().path).unwrap()).unwrap();
    assert_eq!(v["$schema"], "http://json-schema.org/draft-07/schema#");
    // The draft-07 meta-schema accepts it.
    assert!(jsonschema::draft7::meta::is_valid(&v));
}

#[test]
fn shipped_plans_point_at_the_schema_and_validate_clean() {
    let plans = shipped_plans();
    assert!(plans.len() >= 2, "{plans:?}");
    let validator = jsonschema::draft7::new(
        &serde_json::from_str(&std::fs::read_to_string(plan_schema().path).unwrap()).unwrap(),
    )
    .unwrap();
    for p in plans {
        let src = std::fs::read_to_string(&p).unwrap();
        let first = src.lines().next().unwrap_or("");
        let target = first
            .strip_prefix("#:schema ")
            .unwrap_or_else(|| panic!("{} must start with #:schema", p.display()));
        let resolved = p.parent().unwrap().join(target);
        assert_eq!(
            std::fs::canonicalize(&resolved).unwrap(),
            std::fs::canonicalize(plan_schema().path).unwrap(),
            "{}: #:schema must point at the committed schema",
            p.display()
        );
        // The committed schema (as editors load it) accepts the plan.
        let doc: toml::Value = toml::from_str(&src).unwrap();
        let json = serde_json::to_value(&doc).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", p.display());
        // And the full validation finds nothing, not even a warning.
        let (report, jobs) = plan::validate(&p, &ValidateOptions::default()).unwrap();
        assert!(
            report.diagnostics.is_empty(),
            "{}",
            report.render(&jobs, Style::Plain)
        );
        assert!(!jobs.is_empty());
    }
}

#[test]
fn example_plan_expands_as_documented() {
    let (report, jobs) =
        plan::validate(Path::new("examples/plan.toml"), &ValidateOptions::default()).unwrap();
    assert!(report.is_valid());
    let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["cluster-1", "cluster-2", "cluster-3"]);
    assert_eq!(jobs[1].job.output, Path::new("examples/out/cluster-2.fsm"));
    assert_eq!(jobs[1].job.input, Path::new("examples/dumps/cluster-2"));
    assert_eq!(jobs[0].job.exclusions.dynamodb_tables, ["users"]);
    assert!(jobs.iter().all(|j| j.job.self_test));
    assert_eq!(jobs[2].effective_last_commit_ts(), Some(114727636172800007));
}
