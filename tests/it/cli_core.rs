//! `ekvplan encode` / `ekvplan decode` as a user runs them: flags, exit
//! codes, atomic publish and what is left on disk after success or failure.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

use crate::common::{Entry, ekvplan, example_manifest, gen_dumps_script, walk};

const MANIFEST_TS: u64 = 114693662310400001;

/// `ekvplan encode <extra> --input <input> --output <output>`.
fn encode_cmd(extra: &[&str], input: &Path, output: &Path) -> Command {
    let mut c = ekvplan();
    c.arg("encode")
        .args(extra)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output);
    c
}

/// `ekvplan decode <extra> --input <input> --output <output>`.
fn decode_cmd(extra: &[&str], input: &Path, output: &Path) -> Command {
    let mut c = ekvplan();
    c.arg("decode")
        .args(extra)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output);
    c
}

/// A dump tree with a valid MANIFEST.json (all four adapters in scope)
/// and no adapter data.
fn empty_dump(dir: &Path) -> PathBuf {
    let root = dir.join("dump");
    fs::create_dir_all(&root).unwrap();
    fs::copy(example_manifest(), root.join("MANIFEST.json")).unwrap();
    root
}

fn header_only_fsm(ts: u64) -> Vec<u8> {
    let mut v = b"EKVPBBL1".to_vec();
    v.extend_from_slice(&ts.to_le_bytes());
    v
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn encode_of_an_empty_tree_is_a_header_only_fsm() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = empty_dump(tmp.path());
    let out = tmp.path().join("out.fsm");
    encode_cmd(&["--self-test"], &dump, &out).assert().success();
    assert_eq!(fs::read(&out).unwrap(), header_only_fsm(MANIFEST_TS));
    assert_eq!(mode(&out), 0o600);
    let sidecar = fs::read_to_string(tmp.path().join("out.fsm.encode_info.json")).unwrap();
    assert!(sidecar.contains("\"matched\": true"), "{sidecar}");
    assert!(sidecar.contains(&format!("\"last_commit_ts\": {MANIFEST_TS}")));
    assert_eq!(
        names_in(tmp.path()),
        ["dump", "out.fsm", "out.fsm.encode_info.json"]
    );
}

#[test]
fn encode_override_is_recorded_and_hex_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = empty_dump(tmp.path());
    let out = tmp.path().join("out.fsm");
    let t = MANIFEST_TS + 0x10;
    let hex = format!("0x{t:x}");
    encode_cmd(&["--last-commit-ts", &hex], &dump, &out)
        .assert()
        .success();
    assert_eq!(fs::read(&out).unwrap(), header_only_fsm(t));
    let sidecar = fs::read_to_string(tmp.path().join("out.fsm.encode_info.json")).unwrap();
    assert!(
        sidecar.contains("\"last_commit_ts_overridden\": true"),
        "{sidecar}"
    );
}

#[test]
fn encode_usage_errors_exit_1_and_data_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = empty_dump(tmp.path());
    let out = tmp.path().join("out.fsm");
    ekvplan()
        .args(["encode", "--output"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--input"));
    encode_cmd(&["--adapter", "memcached"], &dump, &out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("memcached"));
    encode_cmd(&["--last-commit-ts", "1"], &dump, &out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(MANIFEST_TS.to_string()));
    fs::write(dump.join("MANIFEST.json"), b"{\"format_version\": 1,").unwrap();
    encode_cmd(&[], &dump, &out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("MANIFEST.json"));
    assert_eq!(
        names_in(tmp.path()),
        ["dump"],
        "a failed encode leaves nothing"
    );
}

#[test]
fn a_failed_encode_keeps_the_previous_output() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = empty_dump(tmp.path());
    let out = tmp.path().join("out.fsm");
    fs::write(&out, b"previous").unwrap();
    encode_cmd(&["--last-commit-ts", "1"], &dump, &out)
        .assert()
        .code(2);
    assert_eq!(fs::read(&out).unwrap(), b"previous");
}

#[test]
fn decode_then_encode_round_trips_and_publishes_atomically() {
    let tmp = tempfile::tempdir().unwrap();
    let fsm = tmp.path().join("in.fsm");
    fs::write(&fsm, header_only_fsm(42)).unwrap();
    let tree = tmp.path().join("tree");
    decode_cmd(&["--cluster-id", "c1"], &fsm, &tree)
        .assert()
        .success();
    let manifest = fs::read_to_string(tree.join("MANIFEST.json")).unwrap();
    assert!(manifest.contains("\"last_commit_ts\": 42"), "{manifest}");
    assert!(manifest.contains("\"cluster_id\": \"c1\""), "{manifest}");
    let checksums = fs::read_to_string(tree.join("CHECKSUMS")).unwrap();
    assert!(checksums.ends_with("  MANIFEST.json\n"), "{checksums}");
    // Upstream creates MANIFEST.json plainly (0666 & ~umask).
    let umask = fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
        .unwrap();
    assert_eq!(mode(&tree.join("MANIFEST.json")), 0o666 & !umask);
    // Nothing but the tree and the input beside it.
    assert_eq!(names_in(tmp.path()), ["in.fsm", "tree"]);

    let again = tmp.path().join("again.fsm");
    encode_cmd(&["--self-test"], &tree, &again)
        .assert()
        .success();
    assert_eq!(fs::read(&again).unwrap(), header_only_fsm(42));
}

#[test]
fn decode_refuses_a_non_empty_output_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let fsm = tmp.path().join("in.fsm");
    fs::write(&fsm, header_only_fsm(7)).unwrap();
    let tree = tmp.path().join("tree");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("keep.txt"), b"precious").unwrap();
    decode_cmd(&[], &fsm, &tree)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--force"));
    assert_eq!(fs::read(tree.join("keep.txt")).unwrap(), b"precious");
    decode_cmd(&["--force"], &fsm, &tree).assert().success();
    assert!(!tree.join("keep.txt").exists());
    assert!(tree.join("MANIFEST.json").exists());
}

#[test]
fn a_failed_decode_leaves_nothing_and_names_the_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let fsm = tmp.path().join("in.fsm");
    let mut bytes = header_only_fsm(7);
    // One entry whose key length says 4 (< the 8-byte timestamp suffix).
    bytes.extend_from_slice(&4u64.to_le_bytes());
    bytes.extend_from_slice(b"abcd");
    bytes.extend_from_slice(&9u64.to_le_bytes());
    bytes.extend_from_slice(&[0; 9]);
    fs::write(&fsm, bytes).unwrap();
    let tree = tmp.path().join("tree");
    decode_cmd(&[], &fsm, &tree)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("byte 16"));
    assert_eq!(names_in(tmp.path()), ["in.fsm"]);

    fs::write(&fsm, b"EKVPBBL2\0\0\0\0\0\0\0\0").unwrap();
    decode_cmd(&[], &fsm, &tree)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("EKVPBBL2"));
    assert_eq!(names_in(tmp.path()), ["in.fsm"]);
}

fn runtime_file(header: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut v = header.to_vec();
    v.extend_from_slice(payload);
    let crc = crc32c::crc32c(&v);
    v.extend_from_slice(&crc.to_be_bytes());
    v
}

#[test]
fn decode_accepts_node_runtime_files_and_checks_their_crc() {
    let tmp = tempfile::tempdir().unwrap();
    let payload = header_only_fsm(99);
    let mut v1 = b"EKVTHLC1".to_vec();
    v1.extend_from_slice(&5u64.to_be_bytes());
    let mut v2 = b"EKVTHLC2".to_vec();
    v2.extend_from_slice(&16u16.to_be_bytes());
    v2.extend_from_slice(&5u64.to_be_bytes());
    v2.extend_from_slice(&3u64.to_be_bytes());
    for (i, header) in [v1, v2].iter().enumerate() {
        let fsm = tmp.path().join(format!("{i}.fsm"));
        let tree = tmp.path().join(format!("tree{i}"));
        let mut file = runtime_file(header, &payload);
        fs::write(&fsm, &file).unwrap();
        decode_cmd(&[], &fsm, &tree).assert().success();
        let manifest = fs::read_to_string(tree.join("MANIFEST.json")).unwrap();
        assert!(manifest.contains("\"last_commit_ts\": 99"), "{manifest}");

        let last = file.len() - 1;
        file[last] ^= 0xff;
        fs::write(&fsm, &file).unwrap();
        let bad = tmp.path().join(format!("bad{i}"));
        decode_cmd(&[], &fsm, &bad)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("CRC"));
        assert!(!bad.exists());
    }
}

/// Send SIGINT to `child` once `ready()` holds; (exit code, time to exit).
fn interrupt_when(
    mut child: std::process::Child,
    ready: impl Fn() -> bool,
) -> (Option<i32>, std::time::Duration) {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the command ended before the point to interrupt it"
        );
        assert!(
            Instant::now() < deadline,
            "never reached the point to interrupt"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: kill(2) on our own child's pid; no memory is touched.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let sent = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return (s.code(), sent.elapsed());
        }
        if sent.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("still running 10 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// SIGINT while `encode --self-test` compares, and while `decode` writes:
/// the process exits 130 within 2 s of the signal and leaves no `.fsm`,
/// tree, temp file or scratch directory. The signal goes out as soon as
/// the phase has begun; should the command still finish first (a machine
/// too fast for the dump), the dump is made bigger and the step repeated,
/// so only an interruption counts.
#[test]
fn sigint_exits_130_within_2s_and_leaves_nothing() {
    use std::process::{Command, Stdio};
    use std::time::Duration;
    let tmp = tempfile::tempdir().unwrap();
    let dump = empty_dump(tmp.path());
    let strings = dump.join("redis/db_0/strings");
    fs::create_dir_all(&strings).unwrap();
    let mut files = 0;
    let mut grow = |to: usize| {
        for i in files..to {
            fs::write(strings.join(format!("k{i:07}.bin")), format!("v{i}")).unwrap();
        }
        files = files.max(to);
    };
    let scratch = tmp.path().join("scratch");
    let outdir = tmp.path().join("out");
    fs::create_dir_all(&scratch).unwrap();
    fs::create_dir_all(&outdir).unwrap();
    let bin = env!("CARGO_BIN_EXE_ekvplan");
    let fsm = tmp.path().join("x.fsm");

    let mut interrupted = [false, false];
    for size in [12_000, 48_000, 192_000] {
        grow(size);
        if !interrupted[0] {
            let child = Command::new(bin)
                .arg("encode")
                .arg("--input")
                .arg(&dump)
                .arg("--output")
                .arg(outdir.join("x.fsm"))
                .arg("--self-test")
                .arg("--scratch-root")
                .arg(&scratch)
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let (code, took) = interrupt_when(child, || {
                names_in(&scratch)
                    .iter()
                    .any(|n| n.starts_with("encode-self-test-"))
            });
            if code == Some(0) {
                // Finished before the signal landed: try a bigger dump.
                for n in names_in(&outdir) {
                    fs::remove_file(outdir.join(n)).unwrap();
                }
            } else {
                assert_eq!(code, Some(130));
                assert!(
                    took < Duration::from_secs(2),
                    "encode took {took:?} to stop"
                );
                assert_eq!(names_in(&outdir), Vec::<String>::new(), "no .fsm, no temp");
                assert_eq!(names_in(&scratch), Vec::<String>::new(), "no scratch left");
                interrupted[0] = true;
            }
        }
        if !interrupted[1] {
            encode_cmd(&[], &dump, &fsm).assert().success();
            let child = Command::new(bin)
                .arg("decode")
                .arg("--input")
                .arg(&fsm)
                .arg("--output")
                .arg(outdir.join("tree"))
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let (code, took) = interrupt_when(child, || {
                names_in(&outdir).iter().any(|n| n.starts_with("tree.tmp-"))
            });
            if code == Some(0) {
                fs::remove_dir_all(outdir.join("tree")).unwrap();
            } else {
                assert_eq!(code, Some(130));
                assert!(
                    took < Duration::from_secs(2),
                    "decode took {took:?} to stop"
                );
                assert_eq!(names_in(&outdir), Vec::<String>::new(), "no tree, no temp");
                interrupted[1] = true;
            }
        }
        if interrupted == [true, true] {
            return;
        }
    }
    panic!("never interrupted in time (encode, decode): {interrupted:?}");
}

/// The example dumps are decoder-written trees: encoding one and decoding
/// the result gives every file back byte for byte (MANIFEST.json's
/// wall-clock and source path aside), with upstream's modes.
#[test]
fn decode_reproduces_the_example_trees() {
    fn files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dumps");
    for cluster in ["cluster-1", "cluster-2", "cluster-3"] {
        let tmp = tempfile::tempdir().unwrap();
        let src = examples.join(cluster);
        let fsm = tmp.path().join("x.fsm");
        encode_cmd(&[], &src, &fsm).assert().success();
        let manifest = fs::read_to_string(src.join("MANIFEST.json")).unwrap();
        let cluster_id = manifest
            .lines()
            .find_map(|l| l.trim().strip_prefix("\"cluster_id\": \""))
            .and_then(|v| v.strip_suffix("\","))
            .unwrap();
        let mut adapters: Vec<&str> = ["dynamodb", "s3", "redis", "sqs"]
            .into_iter()
            .filter(|a| manifest.contains(&format!("\"{a}\": {{")))
            .collect();
        adapters.sort_unstable();
        let out = tmp.path().join("tree");
        decode_cmd(
            &["--cluster-id", cluster_id, "--adapter", &adapters.join(",")],
            &fsm,
            &out,
        )
        .assert()
        .success();
        let (mut want, mut got) = (Vec::new(), Vec::new());
        files(&src, &src, &mut want);
        files(&out, &out, &mut got);
        want.sort();
        got.sort();
        assert_eq!(got, want, "{cluster}: file list");
        for rel in &want {
            let (a, b) = (
                fs::read(src.join(rel)).unwrap(),
                fs::read(out.join(rel)).unwrap(),
            );
            let keep = |t: &[u8]| -> Vec<u8> {
                t.split_inclusive(|&c| c == b'\n')
                    .filter(|l| {
                        let l = String::from_utf8_lossy(l);
                        !l.contains("\"wall_time_iso\"")
                            && !l.contains("\"fsm_path\"")
                            && !l.ends_with("  MANIFEST.json\n")
                    })
                    .flatten()
                    .copied()
                    .collect()
            };
            assert_eq!(keep(&b), keep(&a), "{cluster}: {}", rel.display());
            let public = rel == Path::new("MANIFEST.json") || rel == Path::new("CHECKSUMS");
            let m = mode(&out.join(rel));
            assert!(
                if public {
                    m & 0o600 == 0o600
                } else {
                    m == 0o600
                },
                "{cluster}: {} mode {m:o}",
                rel.display()
            );
        }
        // Upstream leaves an empty `.scratch/` when S3 objects had payloads.
        let s3_payloads = src.join("s3").is_dir();
        assert_eq!(
            out.join(".scratch").is_dir(),
            s3_payloads,
            "{cluster}: .scratch/"
        );
    }
}

/// Every entry under `root` but what records the time of the run:
/// `MANIFEST.json` and its line in `CHECKSUMS`.
fn tree_without_manifest(root: &Path) -> Vec<Entry> {
    let mut v = walk(root);
    v.retain(|e| e.rel != b"MANIFEST.json");
    for e in v.iter_mut().filter(|e| e.rel == b"CHECKSUMS") {
        let text = String::from_utf8(std::mem::take(&mut e.bytes)).unwrap();
        e.bytes = text
            .lines()
            .filter(|l| !l.ends_with(" MANIFEST.json"))
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect();
    }
    v
}

fn assert_same_tree(a: &[Entry], b: &[Entry], what: &str) {
    if let Some((x, y)) = a.iter().zip(b).find(|(x, y)| x != y) {
        panic!("{what}: {} differs from {}", x.show(), y.show());
    }
    assert_eq!(a.len(), b.len(), "{what}: entry count");
}

/// A mixed scale dump, canonical (decoded by ekvplan), encoded with
/// `--self-test` and decoded again at the default budget, at 64 MiB and at
/// the 1 MiB floor (where every sorter spills): every run succeeds and
/// gives the same `.fsm` and the same tree.
#[test]
fn memory_budget_changes_neither_fsm_nor_tree() {
    let Some(generator) = gen_dumps_script("memory_budget_changes_neither_fsm_nor_tree") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let status = std::process::Command::new("python3")
        .arg(&generator)
        .args([
            "--seed",
            "11",
            "--profile",
            "scale",
            "--scale",
            "0.05",
            "--out",
        ])
        .arg(t.join("raw"))
        .status()
        .unwrap();
    assert!(status.success());
    encode_cmd(&[], &t.join("raw"), &t.join("raw.fsm"))
        .assert()
        .success();
    decode_cmd(&[], &t.join("raw.fsm"), &t.join("canonical"))
        .assert()
        .success();
    let input = t.join("canonical");
    for a in ["redis", "dynamodb", "s3", "sqs"] {
        assert!(fs::read_dir(input.join(a)).unwrap().next().is_some(), "{a}");
    }
    let budgets: [&[&str]; 3] = [
        &[],
        &["--memory-budget", "64MiB"],
        &["--memory-budget", "1MiB"],
    ];
    let mut fsms = Vec::new();
    let mut trees = Vec::new();
    for (i, b) in budgets.iter().enumerate() {
        let fsm = t.join(format!("{i}.fsm"));
        let mut args = vec!["--self-test"];
        args.extend_from_slice(b);
        encode_cmd(&args, &input, &fsm)
            .assert()
            .success()
            .stderr(predicate::str::contains("self-test matched"));
        fsms.push(fs::read(&fsm).unwrap());
        let out = t.join(format!("decoded-{i}"));
        decode_cmd(b, &t.join("0.fsm"), &out).assert().success();
        trees.push(tree_without_manifest(&out));
    }
    for (i, f) in fsms.iter().enumerate() {
        assert!(*f == fsms[0], "the .fsm at budget {i} differs");
    }
    assert_same_tree(
        &trees[0],
        &tree_without_manifest(&input),
        "decoded vs input",
    );
    for (i, x) in trees.iter().enumerate() {
        assert_same_tree(x, &trees[0], &format!("decoded at budget {i}"));
    }
    // Nothing but the trees and the outputs is left behind.
    let mut left = names_in(t);
    left.retain(|n| !n.starts_with("decoded-") && !n.ends_with(".fsm") && !n.ends_with(".json"));
    assert_eq!(left, ["canonical", "raw"]);
}
