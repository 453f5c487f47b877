//! Small inputs with upstream's recorded result: probes of one rule of
//! Go's `encoding/json`, `time.Parse` or `flag` packages (class
//! `go-semantics`), and inputs on which ekvplan and the upstream Go tools
//! disagreed, found by the differential fuzzer (`tools/difffuzz`, see
//! `docs/testing.md`). Each `tests/fixtures/upstream/<name>/case.json`
//! records the command line and what upstream did: its exit code and every
//! file it left (sha256 of the bytes with the run-dependent fields blanked,
//! and mode), and what it left in `TMPDIR`. `difffuzz.py fixture` records
//! them; no Go is needed to replay them.
//!
//! A fixture ekvplan does not match is listed in [`KNOWN_DIVERGENCES`]
//! with the reason; the test fails when a listed fixture starts to match,
//! so the list only ever shrinks.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::copy_tree;

/// Fixtures ekvplan does not match yet: (fixture, why). Remove an entry in
/// the change that fixes it.
const KNOWN_DIVERGENCES: &[(&str, &str)] = &[];

/// Fixtures in the repository; fewer means some went missing.
const MIN_FIXTURES: usize = 62;

/// Print past libtest's output capture, so the counts show in every run.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

#[derive(Debug, PartialEq)]
struct Entry {
    kind: &'static str,
    mode: String,
    sha256: Option<String>,
}

/// Replace the string value of every `"key": "..."` with a placeholder.
fn blank_string_field(data: &[u8], key: &str, placeholder: &str) -> Vec<u8> {
    let pat = format!("\"{key}\":");
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(pat.as_bytes()) {
            let mut j = i + pat.len();
            while j < data.len() && matches!(data[j], b' ' | b'\t' | b'\r' | b'\n') {
                j += 1;
            }
            if j < data.len() && data[j] == b'"' {
                let mut k = j + 1;
                while k < data.len() && data[k] != b'"' {
                    k += 1;
                }
                out.extend_from_slice(&data[i..j]);
                out.extend_from_slice(format!("\"{placeholder}\"").as_bytes());
                i = k + 1;
                continue;
            }
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

/// The fields that legitimately differ between two runs or tools, blanked
/// exactly as `tools/difffuzz/runner.py` does when it records a fixture.
fn normalise(name: &[u8], data: &[u8]) -> Vec<u8> {
    if name.ends_with(b".encode_info.json") {
        let d = blank_string_field(data, "wall_time_iso", "<wall>");
        // documented difference: ekvplan's crate version
        return blank_string_field(&d, "encoder_version", "<encoder_version>");
    }
    if name == b"MANIFEST.json" {
        return blank_string_field(data, "wall_time_iso", "<wall>");
    }
    if name == b"CHECKSUMS" {
        let lines: Vec<&[u8]> = data
            .split(|&b| b == b'\n')
            .filter(|l| !l.ends_with(b"  MANIFEST.json"))
            .collect();
        return lines.join(&b"\n"[..]);
    }
    data.to_vec()
}

/// `<x>.tmp-<16 hex>` becomes `<x>.tmp-<hex>`, so leftovers compare by name.
fn stable_name(rel: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rel.len() {
        if rel[i..].starts_with(b".tmp-")
            && rel.len() >= i + 5 + 16
            && rel[i + 5..i + 21]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        {
            out.extend_from_slice(b".tmp-<hex>");
            i += 21;
        } else {
            out.push(rel[i]);
            i += 1;
        }
    }
    out
}

fn key_of(rel: &[u8]) -> String {
    match std::str::from_utf8(rel) {
        Ok(s) => s.to_owned(),
        Err(_) => format!("b64:{}", B64.encode(rel)),
    }
}

/// Everything under `root` except the copied input.
fn snapshot(root: &Path, rel: &[u8], out: &mut BTreeMap<String, Entry>) {
    let mut names: Vec<_> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let nb = name.as_bytes();
        if rel.is_empty() && (nb == b"input" || nb == b"input.fsm") {
            continue;
        }
        let mut r = rel.to_vec();
        if !r.is_empty() {
            r.push(b'/');
        }
        r.extend_from_slice(nb);
        let p = root.join(&name);
        let meta = fs::symlink_metadata(&p).unwrap();
        let mode = format!("{:04o}", meta.permissions().mode() & 0o7777);
        let key = key_of(&stable_name(&r));
        let ft = meta.file_type();
        let (kind, sha256) = if ft.is_symlink() {
            ("symlink", None)
        } else if ft.is_dir() {
            ("dir", None)
        } else if ft.is_file() {
            let data = fs::read(&p).unwrap();
            (
                "file",
                Some(hex::encode(Sha256::digest(normalise(nb, &data)))),
            )
        } else {
            ("other", None)
        };
        out.insert(key, Entry { kind, mode, sha256 });
        if kind == "dir" {
            snapshot(&p, &r, out);
        }
    }
}

fn expected_files(v: &Value) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    for (k, e) in v.as_object().expect("upstream.files object") {
        let kind = match e["type"].as_str().unwrap() {
            "file" => "file",
            "dir" => "dir",
            "symlink" => "symlink",
            _ => "other",
        };
        out.insert(
            k.clone(),
            Entry {
                kind,
                mode: e["mode"].as_str().unwrap().to_owned(),
                sha256: e["sha256"].as_str().map(str::to_owned),
            },
        );
    }
    out
}

/// Run one fixture; the differences from upstream's recorded result.
fn run_fixture(dir: &Path) -> Vec<String> {
    let case: Value = serde_json::from_slice(&fs::read(dir.join("case.json")).unwrap()).unwrap();
    let top = tempfile::tempdir().unwrap();
    let work = top.path().join("work");
    let tmp = top.path().join("tmp");
    fs::create_dir_all(&work).unwrap();
    fs::create_dir_all(&tmp).unwrap();
    for input in ["input", "input.fsm"] {
        if dir.join(input).exists() {
            copy_tree(&dir.join(input), &work.join(input));
        }
    }
    for extra in case["extra_files"].as_array().into_iter().flatten() {
        let rel = B64.decode(extra["path_b64"].as_str().unwrap()).unwrap();
        let p = work.join(std::ffi::OsStr::from_bytes(&rel));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(
            &p,
            B64.decode(extra["content_b64"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
    }
    for (name, text) in case["stale_outputs"].as_object().into_iter().flatten() {
        fs::write(work.join(name), text.as_str().unwrap()).unwrap();
    }
    let command = case["command"].as_str().unwrap();
    let args: Vec<&str> = case["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    // the umask upstream's results were recorded under
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_ekvplan"))
        .arg(command)
        .args(&args)
        .current_dir(&work)
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    let rc = out.status.code();
    let want = &case["upstream"];
    let want_rc = want["exit"].as_i64().unwrap() as i32;
    let mut diffs = Vec::new();
    let exit_ok = if command == "decode" {
        // docs/compatibility.md: upstream's decoder exits 1 for every
        // failure, ekvplan 1 (usage, I/O) or 2 (data)
        (want_rc == 0) == (rc == Some(0)) && matches!(rc, Some(0..=2))
    } else {
        rc == Some(want_rc)
    };
    if !exit_ok {
        diffs.push(format!(
            "exit {rc:?}, upstream {want_rc}; ekvplan said: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut got = BTreeMap::new();
    snapshot(&work, b"", &mut got);
    let exp = expected_files(&want["files"]);
    // outputs whose mode another fixture covers, so the two classes stay apart
    let ignore_mode: Vec<&str> = case["ignore_mode"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for k in got
        .keys()
        .chain(exp.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (got.get(k), exp.get(k)) {
            (Some(_), None) => diffs.push(format!("left {k:?}, upstream did not")),
            (None, Some(_)) => diffs.push(format!("no {k:?}, upstream wrote it")),
            (Some(g), Some(e))
                if g.kind != e.kind
                    || g.sha256 != e.sha256
                    || (g.mode != e.mode && !ignore_mode.contains(&k.as_str())) =>
            {
                diffs.push(format!(
                    "{k:?}: {} {} {:?}, upstream {} {} {:?}",
                    g.kind, g.mode, g.sha256, e.kind, e.mode, e.sha256
                ))
            }
            _ => {}
        }
    }
    let left: Vec<_> = fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    if !left.is_empty() {
        diffs.push(format!("left in TMPDIR: {left:?}"));
    }
    diffs
}

fn fixture_dirs() -> Vec<PathBuf> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream");
    let mut v: Vec<PathBuf> = fs::read_dir(&base)
        .unwrap_or_else(|e| panic!("list {}: {e}", base.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn upstream_fixtures_match_or_are_known() {
    let dirs = fixture_dirs();
    assert!(
        dirs.len() >= MIN_FIXTURES,
        "{} fixtures in tests/fixtures/upstream, expected at least {MIN_FIXTURES}",
        dirs.len()
    );
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for (k, _) in KNOWN_DIVERGENCES {
        assert!(
            names.iter().any(|n| n == k),
            "KNOWN_DIVERGENCES names a missing fixture {k}"
        );
    }
    let mut failures = Vec::new();
    let (mut matched, mut known) = (0, 0);
    for (dir, name) in dirs.iter().zip(&names) {
        let diffs = run_fixture(dir);
        let listed = KNOWN_DIVERGENCES.iter().find(|(k, _)| k == name);
        match (diffs.is_empty(), listed) {
            (true, None) => matched += 1,
            (false, Some((_, why))) => {
                known += 1;
                say!(
                    "upstream fixture {name}: known divergence ({why}): {}",
                    diffs[0]
                );
            }
            (true, Some(_)) => failures.push(format!(
                "{name} now matches upstream: remove it from KNOWN_DIVERGENCES"
            )),
            (false, None) => failures.push(format!("{name}:\n    {}", diffs.join("\n    "))),
        }
    }
    say!(
        "upstream fixtures: {matched} match, {known} known divergences, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
