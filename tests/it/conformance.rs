//! Golden cases made by the upstream Go tools (`../shared/conformance`).
//!
//! Whole cases, through the binary:
//!
//! * every case in `cases/`: encoding `input/` gives the recorded sha256,
//!   size and sidecar; decoding `expected.fsm` reproduces `decoded/`;
//! * every case in `errors/`: the command fails with ekvplan's exit code
//!   (upstream's, except where `docs/compatibility.md` says otherwise) and
//!   leaves nothing at the output path but upstream's self-test report.
//!
//! Each adapter's part of them, in-process with only that adapter selected
//! (one module per adapter, so a failure names the adapter whose part
//! broke):
//!
//! * encoding a case's `input/` gives exactly the adapter's keyspace of
//!   `expected.fsm` (header timestamp, keys, timestamps, values, order),
//!   and the self-test passes;
//! * decoding `expected.fsm` gives `decoded/<adapter>/` byte for byte;
//! * the adapter's error cases fail with the whole-case exit code and leave
//!   only what upstream leaves.
//!
//! Every test prints its counts; when the corpus is absent the tests say
//! so plainly and pass.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::Parser;
use ekvplan::testing::{self, Cli, Command, decode_request_from_args, encode_job_from_args};
use ekvplan::{AdapterKind, AdapterSet, CancelToken, Error, run_decode, run_encode, silent_warn};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{Entry, FsmEntry, corpus_root, ekvplan, fsm_entries, only, walk};

/// Print past libtest's output capture (which only intercepts the `print!`
/// macros), so a missing corpus and the counts show in every run.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

fn read_json(p: &Path) -> Value {
    let b = fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_slice(&b).unwrap_or_else(|e| panic!("parse {}: {e}", p.display()))
}

fn str_args(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array of args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect()
}

fn subdirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(p)
        .unwrap_or_else(|e| panic!("list {}: {e}", p.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn name_of(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// Run `ekvplan <cmd> <args>` in `dir`; a non-zero exit is a case failure.
fn run_ok(cmd: &str, args: &[String], dir: &Path) -> Result<(), String> {
    let o = ekvplan()
        .arg(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    if o.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd} exited {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).trim()
    ))
}

fn sha256_hex(p: &Path) -> String {
    let mut f = fs::File::open(p).unwrap();
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).unwrap();
    hex::encode(h.finalize())
}

/// Replace the value after `flag` in `args`.
fn set_flag(args: &mut [String], flag: &str, value: &str) {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} missing from {args:?}"));
    args[i + 1] = value.to_owned();
}

/// Outcome of one case: `Err(why)` is a failure.
type CaseResult = Result<(), String>;

fn report(test: &str, results: Vec<(String, CaseResult)>) {
    let total = results.len();
    let failed: Vec<String> = results
        .into_iter()
        .filter_map(|(name, r)| r.err().map(|why| format!("{name}: {why}")))
        .collect();
    say!(
        "conformance/{test}: {} passed, {} failed",
        total - failed.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "conformance/{test} failures:\n  {}",
        failed.join("\n  ")
    );
}

// --- trees ------------------------------------------------------------------

/// Compare a decoded tree with upstream's, modulo the transient fields of
/// a root MANIFEST.json and CHECKSUMS: the same files with the same bytes,
/// with upstream's modes (see [`upstream_mode`]), and exactly the
/// `empty_dirs` upstream recorded (a checkout keeps neither modes nor
/// empty directories).
fn compare_trees(ours: &Path, golden: &Path, empty_dirs: &[String]) -> Result<(), String> {
    let a = walk(ours);
    let b: BTreeMap<Vec<u8>, Entry> = walk(golden)
        .into_iter()
        .filter(|e| !e.dir)
        .map(|e| (e.rel.clone(), e))
        .collect();
    let mut problems = Vec::new();
    let mut ours_files = BTreeSet::new();
    let mut ours_empty = BTreeSet::new();
    for e in &a {
        let want_mode = upstream_mode(&e.rel, e.dir);
        if e.mode != want_mode {
            problems.push(format!(
                "{}: mode {:o}, want {want_mode:o}",
                e.show(),
                e.mode
            ));
        }
        if !e.dir {
            ours_files.insert(e.rel.clone());
            continue;
        }
        let mut under = e.rel.clone();
        under.push(b'/');
        if !a.iter().any(|n| n.rel.starts_with(&under)) {
            ours_empty.insert(e.rel.clone());
        }
    }
    for e in a.iter().filter(|e| !e.dir) {
        let Some(g) = b.get(&e.rel) else {
            problems.push(format!("{}: only in ours", e.show()));
            continue;
        };
        let f = e.rel.as_slice();
        let (xa, xb) = match f {
            b"MANIFEST.json" => (
                blank_json_fields(&e.bytes, &["wall_time_iso", "fsm_path"]),
                blank_json_fields(&g.bytes, &["wall_time_iso", "fsm_path"]),
            ),
            b"CHECKSUMS" => (
                without_manifest_line(&e.bytes),
                without_manifest_line(&g.bytes),
            ),
            _ => (e.bytes.clone(), g.bytes.clone()),
        };
        if xa != xb {
            problems.push(format!(
                "{}: bytes differ ({} vs {} bytes)",
                e.show(),
                xa.len(),
                xb.len()
            ));
        }
    }
    for g in b.values().filter(|g| !ours_files.contains(&g.rel)) {
        problems.push(format!("{}: missing from ours", g.show()));
    }
    let want_empty: BTreeSet<Vec<u8>> = empty_dirs.iter().map(|s| s.as_bytes().to_vec()).collect();
    for d in ours_empty.symmetric_difference(&want_empty) {
        problems.push(format!(
            "empty dir {}: differs from upstream",
            String::from_utf8_lossy(d)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let n = problems.len();
        problems.truncate(20);
        Err(format!(
            "{n} tree differences:\n    {}",
            problems.join("\n    ")
        ))
    }
}

/// The umask the decoder (a child process) inherits.
fn process_umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .unwrap_or(0o022)
}

/// Upstream's modes in a decoded tree: MANIFEST.json and CHECKSUMS are
/// plain creates (0666 & ~umask); adapter files go through temp files or
/// sidecar opens (0600); directories are made 0755 (& ~umask).
fn upstream_mode(rel: &[u8], dir: bool) -> u32 {
    let umask = process_umask();
    match rel {
        _ if dir => 0o755 & !umask,
        b"MANIFEST.json" | b"CHECKSUMS" => 0o666 & !umask,
        _ => 0o600 & !umask,
    }
}

/// Blank the values of pretty-printed JSON lines whose key is in `keys`.
fn blank_json_fields(text: &[u8], keys: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let trimmed = line.trim_ascii_start();
        if keys
            .iter()
            .any(|k| trimmed.starts_with(format!("\"{k}\":").as_bytes()))
        {
            let indent = line.len() - trimmed.len();
            out.extend_from_slice(&line[..indent]);
            let colon = trimmed.iter().position(|&b| b == b':').unwrap();
            out.extend_from_slice(&trimmed[..=colon]);
            out.extend_from_slice(b" <transient>");
            if trimmed.trim_ascii_end().ends_with(b",") {
                out.push(b',');
            }
            out.push(b'\n');
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

fn without_manifest_line(text: &[u8]) -> Vec<u8> {
    text.split_inclusive(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii_end().ends_with(b"  MANIFEST.json"))
        .flatten()
        .copied()
        .collect()
}

fn empty_dirs_of(case: &Value, tree: &str) -> Vec<String> {
    case["trees"][tree]["empty_dirs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

// --- success cases ----------------------------------------------------------

fn encode_case(dir: &Path) -> CaseResult {
    let case = read_json(&dir.join("case.json"));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.fsm");
    let mut args = str_args(&case["encode_args"]);
    set_flag(&mut args, "--output", out.to_str().unwrap());
    args.extend(["--scratch-root".into(), tmp.path().to_str().unwrap().into()]);
    run_ok("encode", &args, dir)?;
    let want = &case["expected"];
    let got_sha = sha256_hex(&out);
    let got_size = fs::metadata(&out).unwrap().len();
    if got_sha != want["sha256"].as_str().unwrap() || Some(got_size) != want["size"].as_u64() {
        return Err(format!(
            "encode gave sha256 {got_sha} ({got_size} bytes), want {} ({} bytes)",
            want["sha256"], want["size"]
        ));
    }
    let mode = fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    if mode != 0o600 {
        return Err(format!("output mode {mode:o}, want 600"));
    }
    // The sidecar: identical but for wall-clock, paths and encoder_version
    // (ekvplan records its own version; see docs/compatibility.md).
    let transient = [
        "wall_time_iso",
        "input_root",
        "output_fsm_path",
        "encoder_version",
    ];
    let ours = fs::read(tmp.path().join("out.fsm.encode_info.json")).unwrap();
    let golden = fs::read(dir.join("expected.fsm.encode_info.json")).unwrap();
    if blank_json_fields(&ours, &transient) != blank_json_fields(&golden, &transient) {
        return Err(format!(
            "sidecar differs:\n--- ours\n{}\n--- upstream\n{}",
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&golden)
        ));
    }
    let leftovers: Vec<OsString> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "out.fsm" && n != "out.fsm.encode_info.json")
        .collect();
    if !leftovers.is_empty() {
        return Err(format!("stray files after encode: {leftovers:?}"));
    }
    Ok(())
}

fn decode_case(dir: &Path) -> CaseResult {
    let case = read_json(&dir.join("case.json"));
    let args = str_args(&case["decode_args"]);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("decoded");
    let mut args = args;
    set_flag(&mut args, "--output", out.to_str().unwrap());
    run_ok("decode", &args, dir)?;
    compare_trees(&out, &dir.join("decoded"), &empty_dirs_of(&case, "decoded"))
}

fn run_cases(test: &str, f: fn(&Path) -> CaseResult) {
    let Some(root) = corpus_root(&format!("conformance/{test}")) else {
        return;
    };
    let results = subdirs(&root.join("cases"))
        .into_iter()
        .map(|d| (name_of(&d), f(&d)))
        .collect();
    report(test, results);
}

#[test]
fn encode_cases_match_upstream_bytes() {
    run_cases("encode", encode_case);
}

#[test]
fn decode_cases_match_upstream_trees() {
    run_cases("decode", decode_case);
}

// --- error cases ------------------------------------------------------------

/// ekvplan's exit code for an error case, where it deliberately differs from
/// upstream's (documented in docs/compatibility.md).
fn expected_exit_code(name: &str, kind: &str, upstream: i32) -> i32 {
    match name {
        // Upstream refuses the jsonl layout in both directions; ekvplan
        // implements it.
        "decode-dynamodb-bundle-jsonl" | "manifest-dynamodb-layout-jsonl" => 0,
        // Bad flags are usage errors in both tools.
        "decode-bad-bundle-mode" | "decode-unknown-adapter" => 1,
        // Upstream's decoder exits 1 for everything; ekvplan uses 2 for
        // corrupt or unsupported data, like the encoder.
        _ if kind == "decode" => 2,
        _ => upstream,
    }
}

/// Copy a case directory, keeping symlinks as symlinks.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if ft.is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
            let mut p = fs::metadata(&dst).unwrap().permissions();
            p.set_mode(0o644);
            fs::set_permissions(&dst, p).unwrap();
        }
    }
}

fn names_in(dir: &Path) -> BTreeSet<OsString> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect()
}

/// An error case copied to `<tmp>/case`, where its command runs.
struct ErrorCase {
    tmp: tempfile::TempDir,
    work: PathBuf,
    case: Value,
    name: String,
    /// `encode` or `decode`.
    kind: String,
    args: Vec<String>,
    /// ekvplan's exit code.
    want: i32,
    before: BTreeSet<OsString>,
}

impl ErrorCase {
    fn new(dir: &Path) -> ErrorCase {
        let case = read_json(&dir.join("case.json"));
        let name = case["name"].as_str().unwrap().to_owned();
        let kind = case["kind"].as_str().unwrap().to_owned();
        let args = str_args(&case["command"])[1..].to_vec();
        let want = expected_exit_code(&name, &kind, case["exit_code"].as_i64().unwrap() as i32);
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("case");
        copy_tree(dir, &work);
        // A checkout without symlink support stores this link as a regular
        // file holding its target; put the link back so the case tests what
        // it says.
        let link = work.join("input/s3/bucket1/hello.txt");
        if name == "s3-object-symlink" && !fs::symlink_metadata(&link).unwrap().is_symlink() {
            let target = fs::read_to_string(&link).unwrap();
            fs::remove_file(&link).unwrap();
            std::os::unix::fs::symlink(target.trim(), &link).unwrap();
        }
        let before = names_in(&work);
        ErrorCase {
            tmp,
            work,
            case,
            name,
            kind,
            args,
            want,
            before,
        }
    }

    /// After a failure: nothing new beside the input but upstream's
    /// self-test leftovers, and those say what upstream's say.
    fn check_left_behind(&self) -> CaseResult {
        let allowed: BTreeSet<OsString> = self.case["files_left_at_output_prefix"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().into()).collect())
            .unwrap_or_default();
        let after = names_in(&self.work);
        let stray: Vec<&OsString> = after
            .difference(&self.before)
            .filter(|n| !allowed.contains(*n))
            .collect();
        if !stray.is_empty() {
            return Err(format!("left behind: {stray:?}"));
        }
        if let Some(txt) = self.case["mismatch_txt"].as_str() {
            let ours =
                fs::read_to_string(self.work.join("out.fsm.mismatch.txt")).unwrap_or_default();
            if ours != txt {
                return Err(format!("mismatch.txt {ours:?}, want {txt:?}"));
            }
        }
        if let Some(sha) = self.case["encode_info_sha256_of_unpublished_fsm"].as_str() {
            let info = self.work.join("out.fsm.encode_info.json");
            if !info.is_file() {
                return Err("no encode_info.json sidecar beside the mismatch report".into());
            }
            let got = read_json(&info)["output_fsm_sha256"].clone();
            if got != sha {
                return Err(format!("sidecar output_fsm_sha256 {got}, want {sha}"));
            }
        }
        Ok(())
    }
}

/// The whole case through the binary, with `TMPDIR` inside the case's
/// temp dir so that nothing may be left there either.
fn error_case(dir: &Path) -> CaseResult {
    let c = ErrorCase::new(dir);
    let o = ekvplan()
        .arg(&c.kind)
        .args(&c.args)
        .env("TMPDIR", c.tmp.path())
        .current_dir(&c.work)
        .output()
        .unwrap();
    let got = o.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&o.stderr);
    if got != c.want {
        return Err(format!(
            "exit {got}, want {} (upstream {}): {}",
            c.want,
            c.case["exit_code"],
            stderr.trim()
        ));
    }
    if c.want == 0 {
        return Ok(());
    }
    if stderr.contains("panicked") {
        return Err(format!("panicked: {}", stderr.trim()));
    }
    c.check_left_behind()?;
    let temp_leftovers: Vec<OsString> = names_in(c.tmp.path())
        .into_iter()
        .filter(|n| n != "case")
        .collect();
    if !temp_leftovers.is_empty() {
        return Err(format!("temp files left in TMPDIR: {temp_leftovers:?}"));
    }
    Ok(())
}

#[test]
fn error_cases_fail_like_upstream() {
    let Some(root) = corpus_root("conformance/errors") else {
        return;
    };
    let results = subdirs(&root.join("errors"))
        .into_iter()
        .map(|d| (name_of(&d), error_case(&d)))
        .collect();
    report("errors", results);
}

// --- each adapter's part ----------------------------------------------------

/// Whether `key` is in `kind`'s part of an `.fsm`: the prefixes its decoder
/// routes, plus the internal rows of its namespace (`!s3route|`,
/// `!s3|bucket|gen|`, ...).
fn in_keyspace(kind: AdapterKind, key: &[u8]) -> bool {
    let namespace: &[u8] = match kind {
        AdapterKind::Redis => b"!redis|",
        AdapterKind::DynamoDb => b"!ddb|",
        AdapterKind::S3 => b"!s3",
        AdapterKind::Sqs => b"!sqs|",
    };
    key.starts_with(namespace) || testing::routes(kind).iter().any(|p| key.starts_with(p))
}

/// `kind`'s part of an upstream `.fsm`, which holds no tombstones.
fn keyspace_of(kind: AdapterKind, fsm: &Path) -> Result<(u64, Vec<FsmEntry>), String> {
    let (ts, all) = fsm_entries(fsm);
    if let Some(e) = all.iter().find(|e| e.tombstone) {
        return Err(format!("upstream tombstone {}", e.key.escape_ascii()));
    }
    let part = all
        .into_iter()
        .filter(|e| in_keyspace(kind, &e.key))
        .collect();
    Ok((ts, part))
}

/// Our whole `.fsm` against upstream's part: same header timestamp, same
/// entries in the same order.
fn compare_entries(ours: &Path, want: &(u64, Vec<FsmEntry>)) -> CaseResult {
    let (ts, got) = fsm_entries(ours);
    if ts != want.0 {
        return Err(format!("last_commit_ts {ts}, want {}", want.0));
    }
    let show = |e: Option<&FsmEntry>| e.map_or("none".into(), |e| e.key.escape_ascii().to_string());
    match (0..got.len().max(want.1.len())).find(|&i| got.get(i) != want.1.get(i)) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{} entries, want {}; first difference at entry {i}: ours {}, upstream {}",
            got.len(),
            want.1.len(),
            show(got.get(i)),
            show(want.1.get(i))
        )),
    }
}

/// The value after `flag` in a case's arguments.
fn flag_value<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args.iter().position(|a| a == flag).unwrap();
    &args[i + 1]
}

/// `ekvplan <cmd> <args>` in-process through ekvplan's own argument
/// handling, with `adapters` selected instead of the case's, `--input`
/// under `input_dir` and `--output` under `output_dir`. Decoding runs with
/// the smallest memory budget, so that buffers spill. Returns the
/// self-test outcome of an encode.
fn run_with(
    adapters: AdapterSet,
    cmd: &str,
    args: &[String],
    input_dir: &Path,
    output_dir: &Path,
) -> Result<Option<bool>, Error> {
    let mut argv = vec!["ekvplan".to_owned(), cmd.to_owned()];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        argv.push(a.clone());
        let base = match a.as_str() {
            "--input" => input_dir,
            "--output" => output_dir,
            _ => continue,
        };
        argv.push(base.join(it.next().unwrap()).display().to_string());
    }
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let cancel = CancelToken::new();
    match cli.command {
        Command::Encode(a) => {
            let mut j = encode_job_from_args(a)?;
            j.adapters = adapters;
            j.scratch_root = Some(output_dir.to_path_buf());
            Ok(run_encode(&j, &cancel, &silent_warn(), None)?.self_test)
        }
        Command::Decode(a) => {
            let mut r = decode_request_from_args(a)?;
            r.options.adapters = adapters;
            r.memory_budget = 1 << 20;
            run_decode(&r, silent_warn(), &cancel)?;
            Ok(None)
        }
        other => panic!("unexpected command {other:?}"),
    }
}

fn encode_part(kind: AdapterKind, dir: &Path) -> CaseResult {
    let case = read_json(&dir.join("case.json"));
    let args = str_args(&case["encode_args"]);
    let tmp = tempfile::tempdir().unwrap();
    let self_test = run_with(only(kind), "encode", &args, dir, tmp.path())
        .map_err(|e| format!("encode: {e}"))?;
    if self_test != Some(true) {
        return Err(format!("self-test {self_test:?}, want a match"));
    }
    let want = keyspace_of(kind, &dir.join("expected.fsm"))?;
    compare_entries(&tmp.path().join(flag_value(&args, "--output")), &want)
}

fn decode_part(kind: AdapterKind, dir: &Path) -> CaseResult {
    let case = read_json(&dir.join("case.json"));
    let args = str_args(&case["decode_args"]);
    let tmp = tempfile::tempdir().unwrap();
    run_with(only(kind), "decode", &args, dir, tmp.path()).map_err(|e| format!("decode: {e}"))?;
    let out = tmp.path().join(flag_value(&args, "--output"));
    let name = kind.name();
    let prefix = format!("{name}/");
    let empty: Vec<String> = empty_dirs_of(&case, "decoded")
        .iter()
        .filter_map(|d| d.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    compare_trees(&out.join(name), &dir.join("decoded").join(name), &empty)
        .map_err(|e| format!("{name}/: {e}"))?;
    // Upstream's S3 decoder leaves its scratch directory behind, empty.
    let scratch = out.join(".scratch");
    if kind == AdapterKind::S3 && !(scratch.is_dir() && walk(&scratch).is_empty()) {
        return Err("no empty .scratch/ like upstream's".into());
    }
    Ok(())
}

/// The adapter an error case is about: the one its name says, or for the
/// self-test mismatches, the one whose data mismatches.
fn error_case_adapter(name: &str) -> Option<AdapterKind> {
    match name {
        "selftest-mismatch-expire-zero" | "selftest-mismatch-noncanonical-filename" => {
            Some(AdapterKind::Redis)
        }
        "selftest-mismatch-classic-partition" => Some(AdapterKind::Sqs),
        _ => name.split('-').find_map(AdapterKind::from_name),
    }
}

/// What the error must name, for cases about one key.
const ERROR_NAMES: &[(&str, &str)] = &[("decode-sqs-side-records-seq-counter", "!sqs|queue|seq|")];

fn error_part(kind: AdapterKind, dir: &Path) -> CaseResult {
    let c = ErrorCase::new(dir);
    let res = run_with(only(kind), &c.kind, &c.args, &c.work, &c.work);
    let got = res.as_ref().map_or_else(Error::exit_code, |_| 0);
    let Err(e) = res else {
        return if c.want == 0 {
            Ok(())
        } else {
            Err(format!("succeeded, want exit {}", c.want))
        };
    };
    if got != c.want {
        return Err(format!("exit {got}, want {}: {e}", c.want));
    }
    if c.case.get("mismatch_txt").is_some() && !matches!(e, Error::SelfTestMismatch(_)) {
        return Err(format!("{e}, want a self-test mismatch"));
    }
    for (_, needle) in ERROR_NAMES.iter().filter(|(n, _)| *n == c.name) {
        if !e.to_string().contains(needle) {
            return Err(format!("{e:?} does not name {needle}"));
        }
    }
    c.check_left_behind()
}

/// `part` over every case with `kind` data: the adapter's own case and the
/// three mixed ones at least.
fn adapter_cases(kind: AdapterKind, phase: &str, part: fn(AdapterKind, &Path) -> CaseResult) {
    let test = format!("{kind} {phase}");
    let Some(root) = corpus_root(&format!("conformance/{test}")) else {
        return;
    };
    let results: Vec<_> = subdirs(&root.join("cases"))
        .into_iter()
        .filter(|d| d.join("input").join(kind.name()).is_dir())
        .map(|d| (name_of(&d), part(kind, &d)))
        .collect();
    assert!(
        results.len() >= 4,
        "conformance/{test}: {} cases",
        results.len()
    );
    report(&test, results);
}

fn adapter_errors(kind: AdapterKind, at_least: usize) {
    let test = format!("{kind} errors");
    let Some(root) = corpus_root(&format!("conformance/{test}")) else {
        return;
    };
    let results: Vec<_> = subdirs(&root.join("errors"))
        .into_iter()
        .filter(|d| error_case_adapter(&name_of(d)) == Some(kind))
        .map(|d| (name_of(&d), error_part(kind, &d)))
        .collect();
    assert!(
        results.len() >= at_least,
        "conformance/{test}: {} cases, want at least {at_least}",
        results.len()
    );
    report(&test, results);
}

/// One module per adapter, so that a failure names the adapter.
macro_rules! adapter_parts {
    ($($module:ident: $kind:expr, $errors:literal error cases;)*) => {$(
        mod $module {
            use super::*;

            #[test]
            fn encode_gives_the_upstream_keyspace() {
                adapter_cases($kind, "encode", encode_part);
            }

            #[test]
            fn decode_gives_the_upstream_subtree() {
                adapter_cases($kind, "decode", decode_part);
            }

            #[test]
            fn error_cases_fail_like_upstream() {
                adapter_errors($kind, $errors);
            }
        }
    )*};
}

adapter_parts! {
    redis: AdapterKind::Redis, 10 error cases;
    dynamodb: AdapterKind::DynamoDb, 8 error cases;
    s3: AdapterKind::S3, 10 error cases;
    sqs: AdapterKind::Sqs, 9 error cases;
}

/// DynamoDB's jsonl layout, which upstream refuses in both directions.
mod dynamodb_jsonl {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Decode to jsonl in small bundles, encode back: the self-test passes
    /// and the entries are upstream's.
    fn round_trip(dir: &Path) -> CaseResult {
        let ddb = only(AdapterKind::DynamoDb);
        let tmp = tempfile::tempdir().unwrap();
        let w = tmp.path();
        let decode = args(&["--input", "expected.fsm", "--output", "j"]);
        let jsonl = args(&["--dynamodb-bundle-mode", "jsonl"]);
        let size = args(&["--dynamodb-bundle-size", "500"]);
        let decode = [decode, jsonl, size].concat();
        run_with(ddb, "decode", &decode, dir, w).map_err(|e| format!("decode: {e}"))?;
        let encode = args(&["--input", "j", "--output", "j.fsm", "--self-test"]);
        match run_with(ddb, "encode", &encode, w, w) {
            Ok(Some(true)) => {}
            other => return Err(format!("encode: {other:?}")),
        }
        let want = keyspace_of(AdapterKind::DynamoDb, &dir.join("expected.fsm"))?;
        compare_entries(&w.join("j.fsm"), &want)
    }

    #[test]
    fn layout_encodes_to_the_upstream_keyspace() {
        adapter_cases(AdapterKind::DynamoDb, "jsonl round trip", |_, d| {
            round_trip(d)
        });
    }

    #[test]
    fn upstream_refusals_succeed() {
        let Some(root) = corpus_root("conformance/dynamodb jsonl refusals") else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let w = tmp.path();
        // Encoding a jsonl-layout manifest (no tables) works.
        let case = root.join("errors/manifest-dynamodb-layout-jsonl");
        let encode = args(&["--input", "input", "--output", "a.fsm", "--self-test"]);
        let st = run_with(AdapterSet::ALL, "encode", &encode, &case, w);
        assert!(matches!(st, Ok(Some(true))), "{st:?}");
        // Decoding with --dynamodb-bundle-mode jsonl works, records the
        // layout, and the tree encodes back to the same !ddb| entries.
        let case = root.join("errors/decode-dynamodb-bundle-jsonl");
        let ddb = only(AdapterKind::DynamoDb);
        let decode = args(&["--input", "input.fsm", "--output", "j"]);
        let decode = [decode, args(&["--dynamodb-bundle-mode", "jsonl"])].concat();
        run_with(ddb, "decode", &decode, &case, w).unwrap();
        assert_eq!(
            read_json(&w.join("j/MANIFEST.json"))["dynamodb_layout"],
            "jsonl"
        );
        assert!(w.join("j/dynamodb/users/items/data-00001.jsonl").is_file());
        let encode = args(&["--input", "j", "--output", "j.fsm", "--self-test"]);
        let st = run_with(ddb, "encode", &encode, w, w);
        assert!(matches!(st, Ok(Some(true))), "{st:?}");
        let want = keyspace_of(AdapterKind::DynamoDb, &case.join("input.fsm")).unwrap();
        compare_entries(&w.join("j.fsm"), &want).unwrap();
        say!("conformance/dynamodb jsonl refusals: 2 passed, 0 failed");
    }
}
