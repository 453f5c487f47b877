//! Dumps and plans for the `run_*` areas.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ekvplan::EncodeJob;
use ekvplan::plan::ValidatedPlan;
use ekvplan::testing::{resolved_job, validated_plan};

/// A valid manifest; a dump holding only it (empty adapter subtrees)
/// encodes successfully with every adapter selected.
pub fn manifest_bytes() -> Vec<u8> {
    ekvplan::Manifest::all_adapters("test", 7000, "2026-01-01T00:00:00Z")
        .to_bytes()
        .unwrap()
}

pub fn good_dump(root: &Path, name: &str) -> PathBuf {
    let d = root.join("dumps").join(name);
    std::fs::create_dir_all(d.join("redis")).unwrap();
    std::fs::write(d.join("MANIFEST.json"), manifest_bytes()).unwrap();
    d
}

/// A dump that passes plan validation (valid manifest) but fails to encode
/// on data: a malformed DynamoDB `_schema.json` (exit 2).
pub fn failing_dump(root: &Path, name: &str) -> PathBuf {
    let d = root.join("dumps").join(name);
    std::fs::create_dir_all(d.join("dynamodb/t")).unwrap();
    std::fs::write(d.join("MANIFEST.json"), manifest_bytes()).unwrap();
    std::fs::write(d.join("dynamodb/t/_schema.json"), b"{not json").unwrap();
    d
}

/// Jobs `j0..jn` over good dumps, outputs in `<root>/out`, scratch in
/// `<root>/scratch`, self-test on.
pub fn plan(root: &Path, n: usize) -> ValidatedPlan {
    let jobs = (0..n)
        .map(|i| {
            let id = format!("j{i}");
            let input = good_dump(root, &format!("d{i}"));
            let mut job = EncodeJob::new(input, root.join("out").join(format!("{id}.fsm")));
            job.scratch_root = Some(root.join("scratch"));
            job.self_test = true;
            resolved_job(id, job)
        })
        .collect();
    validated_plan(root.join("plan.toml"), jobs)
}

/// Every entry under `<root>/<sub>` for each sub (files and directories,
/// these with a trailing `/`), relative to root, sorted.
pub fn tree(root: &Path, subs: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    for s in subs {
        let base = root.join(s);
        for e in super::walk(&base) {
            let p = base.join(OsStr::from_bytes(&e.rel));
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            v.push(if e.dir { format!("{rel}/") } else { rel });
        }
    }
    v.sort();
    v
}

/// Names in `dir` containing `.tmp-`.
pub fn temp_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".tmp-"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Poll `cond` every 10 ms for up to a minute (a bound, not a timing
/// assertion: the condition is expected within milliseconds).
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..6000 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}
