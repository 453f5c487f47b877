//! In-process tests of the executor over hand-built plans (the TOML loader
//! is tested elsewhere). Successful jobs use MANIFEST-only dumps (their
//! adapter subtrees are empty); failing ones a corrupt MANIFEST.

use std::path::{Path, PathBuf};

use super::*;
use crate::encode_info::EncodeInfo;
use crate::error::exit;
use crate::testing;

fn manifest_bytes() -> Vec<u8> {
    crate::manifest::Manifest::all_adapters("test", 7000, "2026-01-01T00:00:00Z")
        .to_bytes()
        .unwrap()
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn good_dump(&self, name: &str) -> PathBuf {
        let d = self.path(&format!("dumps/{name}"));
        std::fs::create_dir_all(d.join("redis")).unwrap();
        std::fs::write(d.join("MANIFEST.json"), manifest_bytes()).unwrap();
        d
    }
    fn bad_dump(&self, name: &str) -> PathBuf {
        let d = self.path(&format!("dumps/{name}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("MANIFEST.json"),
            b"{\"format_version\": 1, \"phase\": 3",
        )
        .unwrap();
        d
    }
    fn job(&self, id: &str, input: &Path) -> ResolvedJob {
        let mut j = EncodeJob::new(input, self.path(&format!("out/{id}.fsm")));
        j.scratch_root = Some(self.path("scratch"));
        j.self_test = true;
        testing::resolved_job(id, j)
    }
    fn plan(&self, jobs: Vec<ResolvedJob>) -> ValidatedPlan {
        testing::validated_plan(self.path("plan.toml"), jobs)
    }
    fn out(&self, id: &str) -> PathBuf {
        self.path(&format!("out/{id}.fsm"))
    }
    /// Every file under out/ and scratch/, relative.
    fn leftovers(&self) -> Vec<String> {
        let mut v = Vec::new();
        for sub in ["out", "scratch"] {
            let root = self.path(sub);
            if root.exists() {
                for (rel, _) in crate::tree::checksums::list_regular_files(&root).unwrap() {
                    v.push(format!("{sub}/{}", String::from_utf8_lossy(&rel)));
                }
                for e in std::fs::read_dir(&root).unwrap().flatten() {
                    if e.file_type().unwrap().is_dir() {
                        v.push(format!("{sub}/{}/", e.file_name().to_string_lossy()));
                    }
                }
            }
        }
        v.sort();
        v
    }
}

fn opts(jobs: usize) -> RunOptions {
    RunOptions {
        jobs,
        memory_budget: 64 << 20,
        ..RunOptions::default()
    }
}

fn run(plan: &ValidatedPlan, o: &RunOptions) -> RunReport {
    run_plan_with(
        plan,
        o,
        &Arc::new(RunControl::new()),
        Arc::new(events::Silent),
    )
    .unwrap()
}

fn status_of<'a>(r: &'a RunReport, id: &str) -> &'a JobRecord {
    r.jobs.iter().find(|j| j.id == id).unwrap()
}

#[test]
fn parallel_run_with_one_bad_input() {
    let f = Fixture::new();
    let mut jobs = Vec::new();
    for i in 0..5 {
        let d = f.good_dump(&format!("d{i}"));
        jobs.push(f.job(&format!("job-{i}"), &d));
    }
    jobs.insert(2, f.job("broken", &f.bad_dump("bad")));
    let plan = f.plan(jobs);
    let r = run(&plan, &opts(3));
    assert_eq!(r.exit_code, exit::DATA);
    assert_eq!(r.counts.succeeded, 5);
    assert_eq!(r.counts.failed, 1);
    assert_eq!(
        r.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        ["job-0", "job-1", "broken", "job-2", "job-3", "job-4"],
        "report keeps plan order"
    );
    let bad = status_of(&r, "broken");
    assert_eq!(bad.status, JobStatus::Failed);
    let err = bad.error.as_ref().unwrap();
    assert_eq!(err.class, "data");
    assert!(err.message.contains("MANIFEST.json"), "{}", err.message);
    assert!(!f.out("broken").exists());
    for i in 0..5 {
        let id = format!("job-{i}");
        let rec = status_of(&r, &id);
        assert_eq!(rec.status, JobStatus::Succeeded);
        assert_eq!(rec.self_test, report::SelfTest::Matched);
        let bytes = std::fs::read(f.out(&id)).unwrap();
        assert_eq!(rec.output_bytes, Some(JsonU64(bytes.len() as u64)));
        assert_eq!(
            rec.output_sha256.as_deref(),
            Some(hex::encode(sha2::Sha256::digest(&bytes)).as_str())
        );
        // The sidecar stays an upstream sidecar, plus our object.
        let info =
            EncodeInfo::parse(&std::fs::read(job::sidecar_path(&f.out(&id))).unwrap()).unwrap();
        assert_eq!(info.last_commit_ts, 7000);
        let recorded = fingerprint::Recorded::of(&info);
        let extra = recorded.current().unwrap().clone();
        assert_eq!(extra.job_id, id);
        assert_eq!(Some(extra.fingerprint), rec.fingerprint);
    }
    // No temp files, no scratch left behind.
    let left = f.leftovers();
    assert!(
        left.iter()
            .all(|p| p.ends_with(".fsm") || p.ends_with(".encode_info.json")),
        "{left:?}"
    );
    let junit = r.to_junit();
    assert_eq!(junit.matches("<testcase ").count(), 6);
    assert_eq!(junit.matches("<failure type=\"data\"").count(), 1);
    let v: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
    assert_eq!(v["counts"]["succeeded"], 5);
    assert_eq!(v["jobs"][2]["status"], "failed");
}

use sha2::Digest;

#[test]
fn resume_skips_then_reruns_after_input_change() {
    let f = Fixture::new();
    let a = f.good_dump("a");
    let b = f.good_dump("b");
    let plan = f.plan(vec![f.job("a", &a), f.job("b", &b)]);
    let r1 = run(&plan, &opts(2));
    assert_eq!(r1.counts.succeeded, 2);
    let sidecar_a = std::fs::read(job::sidecar_path(&f.out("a"))).unwrap();

    let r2 = run(&plan, &opts(2));
    assert_eq!(r2.exit_code, 0);
    assert_eq!(r2.counts.up_to_date, 2, "{:?}", r2.jobs);
    let rec = status_of(&r2, "a");
    assert_eq!(rec.reason, "fingerprint matches");
    assert_eq!(rec.output_sha256, status_of(&r1, "a").output_sha256);
    assert_eq!(rec.self_test, report::SelfTest::Matched);
    assert_eq!(
        std::fs::read(job::sidecar_path(&f.out("a"))).unwrap(),
        sidecar_a,
        "an up-to-date job is not touched"
    );

    // Input changed (a new file in a dump without CHECKSUMS) → rerun a only.
    std::fs::write(a.join("NOTES.txt"), b"hello").unwrap();
    let r3 = run(&plan, &opts(2));
    assert_eq!(status_of(&r3, "a").status, JobStatus::Succeeded);
    assert_eq!(
        status_of(&r3, "a").reason,
        "input changed: files (added, removed, resized or modified)"
    );
    assert_eq!(status_of(&r3, "a").reason_code, "input_changed");
    assert_eq!(status_of(&r3, "b").status, JobStatus::UpToDate);

    // With a CHECKSUMS file, its content is what counts.
    std::fs::write(a.join("CHECKSUMS"), b"").unwrap();
    assert_eq!(run(&plan, &opts(2)).counts.succeeded, 1);
    assert_eq!(run(&plan, &opts(2)).counts.up_to_date, 2);
    std::fs::write(a.join("CHECKSUMS"), b"x").unwrap();
    assert_eq!(run(&plan, &opts(2)).counts.succeeded, 1);

    // Settings changed → rerun; --force reruns everything.
    let mut plan2 = plan.clone();
    plan2.jobs[1].job.last_commit_ts = Some(9000);
    let r = run(&plan2, &opts(2));
    assert_eq!(
        status_of(&r, "b").reason,
        "last_commit_ts changed (the manifest's -> 9000)"
    );
    assert_eq!(status_of(&r, "b").reason_code, "settings_changed");
    assert_eq!(status_of(&r, "b").last_commit_ts, Some(JsonU64(9000)));
    let forced = RunOptions {
        force: true,
        ..opts(2)
    };
    let r = run(&plan2, &forced);
    assert_eq!(r.counts.succeeded, 2);
    assert!(r.jobs.iter().all(|j| j.reason == "forced"));

    // Output deleted → rerun.
    std::fs::remove_file(f.out("a")).unwrap();
    let r = run(&plan2, &opts(2));
    assert_eq!(status_of(&r, "a").reason, "no output yet");
}

#[test]
fn fail_fast_stops_scheduling() {
    let f = Fixture::new();
    let mut jobs = vec![f.job("bad", &f.bad_dump("bad"))];
    for i in 0..4 {
        jobs.push(f.job(&format!("j{i}"), &f.good_dump(&format!("d{i}"))));
    }
    let plan = f.plan(jobs);
    let o = RunOptions {
        fail_fast: true,
        ..opts(1)
    };
    let r = run(&plan, &o);
    assert_eq!(r.exit_code, exit::DATA);
    assert_eq!(r.counts.failed, 1);
    assert_eq!(r.counts.not_started, 4);
    assert!(!r.interrupted);
    for i in 0..4 {
        assert!(!f.out(&format!("j{i}")).exists());
    }
    // Keep-going (the default) runs the rest.
    let r = run(&plan, &opts(1));
    assert_eq!(r.counts.succeeded, 4, "{:#?}", r.jobs);
}

#[test]
fn interruption_publishes_nothing_and_cleans_up() {
    let f = Fixture::new();
    let mut jobs = Vec::new();
    for i in 0..4 {
        jobs.push(f.job(&format!("j{i}"), &f.good_dump(&format!("d{i}"))));
    }
    let plan = f.plan(jobs);
    let ctl = Arc::new(RunControl::new());
    let out_dir = f.path("out");
    let watcher = {
        let ctl = ctl.clone();
        std::thread::spawn(move || {
            // Wait until two jobs hold a temp file, then interrupt.
            for _ in 0..12_000 {
                let temps = std::fs::read_dir(&out_dir)
                    .map(|rd| {
                        rd.flatten()
                            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
                            .count()
                    })
                    .unwrap_or(0);
                if temps >= 2 {
                    ctl.interrupt();
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            ctl.interrupt();
            panic!("the jobs never reached the writing phase");
        })
    };
    let o = RunOptions {
        test_hold: Some(TestHold {
            phase: Phase::Writing,
            stuck: false,
        }),
        memory_budget: 1 << 30,
        ..opts(2)
    };
    let r = run_plan_with(&plan, &o, &ctl, Arc::new(events::Silent)).unwrap();
    watcher.join().unwrap();
    assert!(r.interrupted);
    assert_eq!(r.exit_code, exit::INTERRUPTED);
    assert_eq!(r.counts.cancelled, 2, "{:?}", r.jobs);
    assert_eq!(r.counts.not_started, 2);
    assert_eq!(
        f.leftovers(),
        Vec::<String>::new(),
        "nothing partial, no temp, no scratch"
    );
    // A later run completes normally.
    let r = run(&plan, &opts(2));
    assert_eq!(r.counts.succeeded, 4);
}

#[test]
fn stale_temps_and_scratch_of_a_killed_run_are_removed() {
    let f = Fixture::new();
    let a = f.good_dump("a");
    let plan = f.plan(vec![f.job("a", &a)]);
    std::fs::create_dir_all(f.path("out")).unwrap();
    let stale_tmp = f.path("out/a.fsm.tmp-00112233445566ff");
    std::fs::write(&stale_tmp, b"partial").unwrap();
    let unrelated = f.path("out/other.fsm.tmp-00112233445566ff");
    std::fs::write(&unrelated, b"not ours").unwrap();
    let dead_run = f.path("scratch/ekvplan-run-0123456789abcdef/job-00000");
    std::fs::create_dir_all(&dead_run).unwrap();
    std::fs::write(dead_run.join("spill"), b"x").unwrap();
    let r = run(&plan, &opts(1));
    assert_eq!(r.counts.succeeded, 1);
    assert!(!stale_tmp.exists());
    assert!(
        unrelated.exists(),
        "temp files of other outputs are not ours"
    );
    assert!(!f.path("scratch/ekvplan-run-0123456789abcdef").exists());
}

#[test]
fn memory_budget_is_shared_and_capped() {
    let f = Fixture::new();
    let mut jobs = Vec::new();
    for i in 0..3 {
        let mut j = f.job(&format!("j{i}"), &f.good_dump(&format!("d{i}")));
        j.job.memory_budget = 1 << 40;
        jobs.push(j);
    }
    let plan = f.plan(jobs);
    let r = run(
        &plan,
        &RunOptions {
            memory_budget: 8 << 20,
            ..opts(3)
        },
    );
    assert_eq!(r.counts.succeeded, 3);
    assert_eq!(r.options.memory_budget, JsonU64(8 << 20));
}

#[test]
fn only_and_shard_select_jobs() {
    let f = Fixture::new();
    let mut jobs = Vec::new();
    for i in 0..6 {
        jobs.push(f.job(&format!("j{i}"), &f.good_dump(&format!("d{i}"))));
    }
    let plan = f.plan(jobs);
    let r = run(
        &plan,
        &RunOptions {
            only: vec!["j1".into(), "j4".into()],
            ..opts(2)
        },
    );
    assert_eq!(r.counts.plan, 6);
    assert_eq!(r.counts.selected, 2);
    assert!(f.out("j1").exists() && f.out("j4").exists() && !f.out("j0").exists());
    let e = run_plan(
        &plan,
        &RunOptions {
            only: vec!["nope".into()],
            ..opts(2)
        },
        &Arc::new(RunControl::new()),
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), exit::USAGE_OR_IO);

    let mut seen = Vec::new();
    for m in 1..=3 {
        let r = run(
            &plan,
            &RunOptions {
                shard: Some(Shard { index: m, count: 3 }),
                ..opts(2)
            },
        );
        seen.extend(r.jobs.iter().map(|j| j.id.clone()));
    }
    seen.sort();
    assert_eq!(seen, ["j0", "j1", "j2", "j3", "j4", "j5"]);
}

#[test]
fn dry_run_writes_nothing() {
    let f = Fixture::new();
    let a = f.good_dump("a");
    let b = f.good_dump("b");
    let mut jb = f.job("b", &b);
    jb.job.last_commit_ts = Some(8000);
    jb.job.exclusions.s3_buckets.push("logs".into());
    let plan = f.plan(vec![f.job("a", &a), jb]);
    run(
        &plan,
        &RunOptions {
            only: vec!["a".into()],
            ..opts(1)
        },
    );
    let before = f.leftovers();
    let d = dry_run::dry_run(&plan, &opts(2)).unwrap();
    let text = d.render();
    assert_eq!(f.leftovers(), before);
    let v: serde_json::Value = serde_json::from_slice(&d.to_json()).unwrap();
    assert_eq!(v["format"], "ekvplan-dry-run");
    assert_eq!(v["jobs"][1]["status"], "would_run");
    assert_eq!(v["jobs"][1]["reason_code"], "no_output");
    assert_eq!(v["jobs"][1]["last_commit_ts"]["value"], "8000");
    assert_eq!(v["jobs"][1]["last_commit_ts"]["source"], "override");
    assert_eq!(v["jobs"][1]["memory_budget"], "67108864");
    assert!(text.contains("a: up to date"), "{text}");
    assert!(text.contains("b: would run (no output yet)"), "{text}");
    assert!(text.contains("T           7000 (from manifest)"), "{text}");
    assert!(
        text.contains("T           8000 (override; manifest 7000)"),
        "{text}"
    );
    assert!(text.contains("excluded    s3/logs"), "{text}");
    assert!(text.contains("1 job(s) would run, 1 up to date"), "{text}");
}

#[test]
fn verify_checks_hashes_and_deep_decodes() {
    let f = Fixture::new();
    let a = f.good_dump("a");
    let b = f.good_dump("b");
    let plan = f.plan(vec![f.job("a", &a), f.job("b", &b)]);
    run(&plan, &opts(2));
    let ctl = RunControl::new();
    let targets = verify::plan_targets(&plan, &[], None).unwrap();
    for deep in [false, true] {
        let recs = verify::verify_all(
            &targets,
            &verify::VerifyOptions {
                deep,
                jobs: 2,
                memory_budget: None,
            },
            &ctl,
        );
        assert!(recs.iter().all(|r| r.ok), "{recs:?}");
        assert_eq!(verify::exit_code(false, &recs), 0);
    }
    // A lone .fsm: the input comes from the sidecar.
    let lone = verify::fsm_target(&f.out("a"), Some(f.path("scratch")));
    let recs = verify::verify_all(
        std::slice::from_ref(&lone),
        &verify::VerifyOptions {
            deep: true,
            jobs: 1,
            memory_budget: None,
        },
        &ctl,
    );
    assert!(recs[0].ok, "{recs:?}");

    // Tampering is caught; a missing output is a failure too.
    let mut bytes = std::fs::read(f.out("a")).unwrap();
    bytes[8] ^= 1;
    std::fs::write(f.out("a"), &bytes).unwrap();
    std::fs::remove_file(f.out("b")).unwrap();
    let recs = verify::verify_all(
        &targets,
        &verify::VerifyOptions {
            deep: false,
            jobs: 2,
            memory_budget: None,
        },
        &ctl,
    );
    assert!(!recs[0].ok && !recs[1].ok);
    assert!(
        recs[0]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("does not match")
    );
    assert!(recs[1].error.as_ref().unwrap().message.contains("missing"));
    assert_eq!(verify::exit_code(false, &recs), exit::DATA);

    // Deep: a sidecar that agrees with a wrong file is caught by decoding.
    std::fs::write(f.out("a"), b"EKVPBBL1\x01\x00\x00\x00\x00\x00\x00\x00").unwrap();
    let sc = job::sidecar_path(&f.out("a"));
    let mut info = EncodeInfo::parse(&std::fs::read(&sc).unwrap()).unwrap();
    info.output_fsm_sha256 = hex::encode(sha2::Sha256::digest(std::fs::read(f.out("a")).unwrap()));
    std::fs::write(&sc, info.to_bytes()).unwrap();
    let shallow = verify::verify_all(
        std::slice::from_ref(&lone),
        &verify::VerifyOptions {
            deep: false,
            jobs: 1,
            memory_budget: None,
        },
        &ctl,
    );
    assert!(shallow[0].ok);
    let deep = verify::verify_all(
        &[lone],
        &verify::VerifyOptions {
            deep: true,
            jobs: 1,
            memory_budget: None,
        },
        &ctl,
    );
    assert!(!deep[0].ok, "{deep:?}");
    assert!(
        deep[0]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("last_commit_ts")
    );
    assert!(!f.path("scratch").read_dir().unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("ekvplan-run-")
    }));
}

#[test]
fn a_self_test_mismatch_names_its_first_path_and_byte_in_the_report() {
    let f = Fixture::new();
    let d = f.good_dump("mismatch");
    // Upstream decodes an `expire_at_ms` of 0 as null: the bytes differ
    // from the 0 on.
    let body = "{\n  \"format_version\": 1,\n  \"fields\": [],\n  \"expire_at_ms\": 0\n}";
    let hashes = d.join("redis/db_0/hashes");
    std::fs::create_dir_all(&hashes).unwrap();
    std::fs::write(hashes.join("h.json"), body).unwrap();
    let r = run(&f.plan(vec![f.job("m", &d)]), &opts(1));
    assert_eq!(r.exit_code, exit::DATA);
    let v: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
    let job = &v["jobs"][0];
    assert_eq!(job["error"]["class"], "self_test_mismatch");
    let at = body.find(": 0").unwrap() + 2;
    assert_eq!(
        job["self_test_mismatch"],
        serde_json::json!({
            "path": "redis/db_0/hashes/h.json",
            "byte_offset": at.to_string(),
        })
    );
    let ok = run(&f.plan(vec![f.job("ok", &f.good_dump("fine"))]), &opts(1));
    let v: serde_json::Value = serde_json::from_slice(&ok.to_json()).unwrap();
    assert!(v["jobs"][0]["error"].is_null());
    assert!(v["jobs"][0]["self_test_mismatch"].is_null());
}

#[test]
fn deep_checks_share_the_verify_memory_budget() {
    let src = verify::DeepSource {
        input: PathBuf::from("in"),
        format: crate::archive::input::InputFormat::Dir,
        adapters: crate::adapter::AdapterSet::ALL,
        exclusions: Default::default(),
        memory_budget: 256 << 20,
    };
    let opts = |jobs, total| verify::VerifyOptions {
        deep: true,
        jobs,
        memory_budget: total,
    };
    // Within its share of the total, and never above its job's budget.
    assert_eq!(
        opts(4, Some(512 << 20)).check_budget(&src, false),
        128 << 20
    );
    assert_eq!(opts(1, Some(1 << 30)).check_budget(&src, false), 256 << 20);
    // A lone output takes its whole share when a total is given.
    assert_eq!(opts(2, Some(1 << 30)).check_budget(&src, true), 512 << 20);
    assert!(opts(1, None).check_budget(&src, true) <= 256 << 20);
}
