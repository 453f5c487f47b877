//! Validation never panics, whatever the plan says: random plans assembled
//! from plan-like lines (valid, mistyped, truncated, mis-nested), and raw
//! bytes.

use std::fs;

use ekvplan::plan::{self, Style, ValidateOptions};
use proptest::prelude::*;

const LINES: &[&str] = &[
    "version = 1",
    "version = \"1\"",
    "version = 99999999999999999999",
    "[defaults]",
    "[[job]]",
    "[job]",
    "[[batch]]",
    "[job.exclude]",
    "[[job.exclude]]",
    "id = \"a\"",
    "id = \"a b\"",
    "id = 1",
    "id = \"{name}\"",
    "input = \"d\"",
    "input = \"{id}\"",
    "input = \"{nope\"",
    "output = \"o/{id}.fsm\"",
    "output = \"o/{name}.fsm\"",
    "output = \"}\"",
    "inputs = \"*\"",
    "inputs = [\"[\", \"**\"]",
    "inputs = []",
    "skip = \"d\"",
    "adapters = \"all\"",
    "adapters = []",
    "adapters = [\"redis\", \"redis\"]",
    "adapters = [1]",
    "last_commit_ts = \"0x\"",
    "last_commit_ts = \"0xffffffffffffffffff\"",
    "last_commit_ts = -1",
    "last_commit_ts = 1.5",
    "last_commit_ts = 1979-05-27",
    "memory_budget = \"0\"",
    "memory_budget = \"99999999999G\"",
    "memory_budget = 0",
    "self_test = \"yes\"",
    "scratch_root = \"\"",
    "exclude.dynamodb.tables = [\"t\", \"\"]",
    "exclude.redis.databases = [4294967296, -1]",
    "exclude.s3 = 1",
    "exclude = { sqs = { queues = [\"q\"] } }",
    "job = 3",
    "batch = [{ inputs = \"x\" }]",
    "\"quoted key\" = 1",
    "a.b.c = [[1], {}]",
    "x = \"\\u00e9\\t\"",
    "= 1",
    "[",
    "\u{feff}version = 1",
];

fn check(body: &[u8]) {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("d")).unwrap();
    let p = t.path().join("plan.toml");
    fs::write(&p, body).unwrap();
    let (report, jobs) = plan::validate(&p, &ValidateOptions::default()).unwrap();
    let _ = report.render(&jobs, Style::Plain);
    let _ = report.render(&jobs, Style::Fancy);
    let _ = report.to_json(&jobs, true);
    let _ = report.explain(&jobs);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn plan_like_text_never_panics(picks in prop::collection::vec(0..LINES.len(), 0..24)) {
        let body: Vec<&str> = picks.iter().map(|&i| LINES[i]).collect();
        check(body.join("\n").as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check(&bytes);
    }
}
