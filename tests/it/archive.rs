//! `ekvplan archive pack|unpack`: interoperability with archives made by
//! upstream's `elastickv-snapshot-archive` (fixtures in tests/archive/upstream,
//! made from examples/dumps/cluster-1 and a tree of long and non-ASCII
//! names), and every unsafe archive refused with exit 2, leaving nothing.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ekvplan::CancelToken;
use ekvplan::testing::archive::goheader::{self, Member};
use ekvplan::testing::archive::{self, Compression};

use crate::common::{archives_and_tree, copy_tree, ekvplan, repo, walk};

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/archive/upstream").join(name)
}

fn example_dump() -> PathBuf {
    repo().join("examples/dumps/cluster-1")
}

fn unzstd(path: &Path) -> Vec<u8> {
    zstd::decode_all(fs::File::open(path).unwrap()).unwrap()
}

fn umask() -> u32 {
    let s = fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line[6..].trim(), 8).unwrap()
}

/// (name, is_dir, mode, data) of every member of an uncompressed tar.
fn members(tar_bytes: &[u8]) -> Vec<(Vec<u8>, bool, u32, Vec<u8>)> {
    let mut a = tar::Archive::new(tar_bytes);
    let mut v = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path_bytes().into_owned();
        let dir = e.header().entry_type().is_dir();
        let mode = e.header().mode().unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        v.push((name, dir, mode, data));
    }
    v
}

/// Files in the listing only (a helper shared by the refusal tests).
fn leftovers(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn upstream_archive_unpacks_to_the_tree_it_was_made_from() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("tree");
    ekvplan()
        .args(["archive", "unpack", "--input"])
        .arg(fixture("cluster-1.tar.zst"))
        .arg("--output")
        .arg(&out)
        .assert()
        .success();
    let want: Vec<_> = walk(&example_dump())
        .into_iter()
        .map(|e| (e.rel, e.dir, e.bytes))
        .collect();
    let got: Vec<_> = walk(&out)
        .into_iter()
        .map(|e| (e.rel, e.dir, e.bytes))
        .collect();
    assert_eq!(got, want);
    // Modes as upstream's unpack leaves them: directories exactly as
    // archived, files as archived less the umask.
    let mask = umask();
    let by_name: std::collections::HashMap<_, _> = walk(&out)
        .into_iter()
        .map(|e| (e.rel.clone(), e.mode))
        .collect();
    for (name, dir, mode, _) in members(&unzstd(&fixture("cluster-1.tar.zst"))) {
        let want = if dir {
            mode & 0o777
        } else {
            mode & 0o777 & !mask
        };
        assert_eq!(by_name[&name], want, "{}", String::from_utf8_lossy(&name));
    }
}

#[test]
fn long_and_non_ascii_names_survive_both_ways() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("tree");
    ekvplan()
        .args(["archive", "unpack", "--input"])
        .arg(fixture("long-names.tar.zst"))
        .arg("--output")
        .arg(&out)
        .assert()
        .success();
    let names: Vec<String> = walk(&out).iter().map(|e| e.show()).collect();
    let long = format!("s3/b/{}/{}", "k".repeat(120), "x".repeat(110));
    for want in [
        "s3/b/café-ünïcode.json",
        long.as_str(),
        "s3/bucket-with-a-rather-long-name/objects/deeply/nested/prefix/that/keeps/going/and/going/on/object-one.bin",
        "empty/dir",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    assert_eq!(
        fs::metadata(out.join("empty"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    // Packed again, it unpacks to the same tree.
    let again = t.path().join("again.tar");
    ekvplan()
        .args(["archive", "pack", "--compression", "none", "--input"])
        .arg(&out)
        .arg("--output")
        .arg(&again)
        .assert()
        .success();
    let names2: Vec<_> = members(&fs::read(&again).unwrap())
        .into_iter()
        .map(|m| String::from_utf8(m.0).unwrap())
        .collect();
    let mut sorted = names2.clone();
    sorted.sort();
    assert_eq!(names2, sorted, "members in bytewise order");
    assert!(names2.contains(&long));
}

/// Re-encoding every header of upstream's archives (from the fields the
/// tar reader gives back) yields upstream's stream byte for byte: USTAR,
/// prefix-split names, PAX records for long and non-ASCII names, padding
/// and the end-of-archive marker.
#[test]
fn headers_are_byte_identical_to_upstreams() {
    for name in ["cluster-1.tar.zst", "long-names.tar.zst"] {
        let want = unzstd(&fixture(name));
        let mut got = Vec::new();
        let mut a = tar::Archive::new(&want[..]);
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let m = Member {
                name: e.path_bytes().into_owned(),
                is_dir: h.entry_type().is_dir(),
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                uname: h.username_bytes().unwrap_or_default().to_vec(),
                gname: h.groupname_bytes().unwrap_or_default().to_vec(),
                size: e.size(),
                mtime_secs: h.mtime().unwrap() as i64,
                mtime_nanos: 0,
            };
            let enc = goheader::encode(&m);
            if let Some((xh, recs)) = &enc.pax {
                got.extend_from_slice(xh);
                got.extend_from_slice(recs);
                got.resize(got.len().div_ceil(512) * 512, 0);
            }
            let at = got.len();
            got.extend_from_slice(&enc.main);
            assert_eq!(
                got[at..],
                want[at..at + 512],
                "{name}: header of {}\n got {}\nwant {}",
                String::from_utf8_lossy(&m.name),
                goheader::describe(&enc.main),
                goheader::describe(want[at..at + 512].try_into().unwrap())
            );
            e.read_to_end(&mut got).unwrap();
            got.resize(got.len().div_ceil(512) * 512, 0);
        }
        got.extend_from_slice(&[0u8; 1024]);
        assert_eq!(got.len(), want.len(), "{name}");
        assert!(got == want, "{name}: streams differ");
    }
}

/// Packing the example dump with the fixture's metadata applied gives
/// upstream's stream exactly (as root, whose names the fixture records).
#[test]
fn pack_of_the_same_tree_is_byte_identical_to_upstream() {
    let want = unzstd(&fixture("cluster-1.tar.zst"));
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("c1");
    copy_tree(&example_dump(), &src);
    // Modes and mtimes as the fixture recorded them, deepest first so a
    // directory's mtime is set after its children are touched.
    let mut a = tar::Archive::new(&want[..]);
    let mut meta = Vec::new();
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        meta.push((
            String::from_utf8(e.path_bytes().into_owned()).unwrap(),
            h.mode().unwrap(),
            h.mtime().unwrap(),
            h.uid().unwrap(),
            h.username_bytes().unwrap_or_default().to_vec(),
        ));
    }
    meta.sort_by_key(|m| std::cmp::Reverse(m.0.len()));
    for (name, mode, mtime, _, _) in &meta {
        let p = src.join(name);
        fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
        let f = fs::File::open(&p).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(*mtime))
            .unwrap();
    }
    let (got, stats) =
        archive::pack_tree(&src, Vec::new(), Compression::None, &CancelToken::new()).unwrap();
    assert_eq!(stats.entries as usize, meta.len());
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    if u64::from(uid) != meta[0].3 {
        // Not the fixture's owner: only the owner fields can differ.
        assert_eq!(got.len(), want.len());
        return;
    }
    assert!(got == want, "pack differs from upstream's");
}

#[test]
fn pack_to_stdout_and_unpack_from_stdin_round_trip() {
    let t = tempfile::tempdir().unwrap();
    for comp in ["zstd", "none"] {
        let packed = ekvplan()
            .args([
                "archive",
                "pack",
                "--output",
                "-",
                "--compression",
                comp,
                "--input",
            ])
            .arg(example_dump())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let out = t.path().join(format!("tree-{comp}"));
        ekvplan()
            .args([
                "archive",
                "unpack",
                "--input",
                "-",
                "--compression",
                comp,
                "--output",
            ])
            .arg(&out)
            .write_stdin(packed)
            .assert()
            .success();
        let strip = |v: Vec<crate::common::Entry>| -> Vec<_> {
            v.into_iter().map(|e| (e.rel, e.dir, e.bytes)).collect()
        };
        assert_eq!(strip(walk(&out)), strip(walk(&example_dump())), "{comp}");
    }
}

#[test]
fn flags_follow_upstream() {
    let t = tempfile::tempdir().unwrap();
    let o = t.path().join("x.tar.zst");
    ekvplan()
        .args(["archive", "pack", "--output"])
        .arg(&o)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("--input is required"));
    ekvplan()
        .args(["archive", "pack", "--input"])
        .arg(example_dump())
        .assert()
        .code(1)
        .stderr(predicates::str::contains("--output is required"));
    ekvplan()
        .args(["archive", "pack", "--compression", "gzip", "--input"])
        .arg(example_dump())
        .arg("--output")
        .arg(&o)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("unsupported compression"));
    ekvplan().args(["archive", "list"]).assert().code(1);
    assert!(!o.exists());
    // The output must not exist, and may not be inside the input.
    fs::write(&o, b"keep").unwrap();
    ekvplan()
        .args(["archive", "pack", "--input"])
        .arg(example_dump())
        .arg("--output")
        .arg(&o)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("exists"));
    assert_eq!(fs::read(&o).unwrap(), b"keep");
    let src = t.path().join("src");
    copy_tree(&example_dump(), &src);
    ekvplan()
        .args(["archive", "pack", "--input"])
        .arg(&src)
        .arg("--output")
        .arg(src.join("self.tar.zst"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("inside the input tree"));
    assert_eq!(leftovers(&src), leftovers(&example_dump()));
    // Unpack refuses an existing destination, even an empty directory.
    let dest = t.path().join("dest");
    fs::create_dir(&dest).unwrap();
    ekvplan()
        .args(["archive", "unpack", "--input"])
        .arg(fixture("cluster-1.tar.zst"))
        .arg("--output")
        .arg(&dest)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("destination exists"));
    assert!(fs::read_dir(&dest).unwrap().next().is_none());
}

/// Upstream parses its flags with Go's `flag` package; scripts written for
/// it use `-input x`, `-flag=value`, and may leave arguments after the
/// flags (ignored).
#[test]
fn go_flag_syntax_works_end_to_end() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a.tar");
    let b = t.path().join("b.tar");
    ekvplan()
        .args(["archive", "pack", "-input"])
        .arg(example_dump())
        .arg(format!("-output={}", a.display()))
        .args(["--compression=none", "trailing", "-compression", "zstd"])
        .assert()
        .success();
    ekvplan()
        .args(["archive", "pack", "--input"])
        .arg(example_dump())
        .arg("--output")
        .arg(&b)
        .args(["--compression", "none"])
        .assert()
        .success();
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
    assert!(
        members(&fs::read(&a).unwrap()).len() > 3,
        "uncompressed tar"
    );
    let out = t.path().join("tree");
    ekvplan()
        .args(["archive", "unpack"])
        .arg(format!("--input={}", a.display()))
        .arg("-output")
        .arg(&out)
        .args(["-compression=none", "--", "-compression=zstd"])
        .assert()
        .success();
    assert!(out.join("MANIFEST.json").is_file());
    for (args, needle) in [
        (&["-h"][..], "help requested"),
        (
            &["-input", "x", "-output", "y", "-compression="],
            "unsupported compression",
        ),
        (
            &["-input", "x", "-output", "y", "-level", "3"],
            "flag provided but not defined: -level",
        ),
        (
            &["-input", "x", "-output"],
            "flag needs an argument: -output",
        ),
    ] {
        ekvplan()
            .args(["archive", "unpack"])
            .args(args)
            .assert()
            .code(1)
            .stderr(predicates::str::contains(needle));
    }
}

#[test]
fn pack_refuses_trees_upstream_refuses() {
    type Spoil = fn(&Path);
    let cases: [(&str, Spoil, &str); 5] = [
        (
            "symlink",
            |d| std::os::unix::fs::symlink("MANIFEST.json", d.join("link")).unwrap(),
            "symlink",
        ),
        (
            "fifo",
            |d| {
                let c =
                    std::ffi::CString::new(d.join("pipe").as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: a valid NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            },
            "FIFO",
        ),
        (
            "hard link",
            |d| {
                fs::hard_link(
                    d.join("redis/db_0/strings/greeting.bin"),
                    d.with_file_name("twin"),
                )
                .unwrap()
            },
            "hard-linked",
        ),
        (
            "unlisted file",
            |d| fs::write(d.join("stray.txt"), b"x").unwrap(),
            "not listed in CHECKSUMS",
        ),
        (
            "changed file",
            |d| fs::write(d.join("redis/db_0/strings/greeting.bin"), b"changed").unwrap(),
            "checksum mismatch",
        ),
    ];
    for (what, spoil, msg) in cases {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        copy_tree(&example_dump(), &src);
        spoil(&src);
        let out = t.path().join("out.tar.zst");
        ekvplan()
            .args(["archive", "pack", "--input"])
            .arg(&src)
            .arg("--output")
            .arg(&out)
            .assert()
            .code(2)
            .stderr(predicates::str::contains(msg));
        assert!(
            !leftovers(t.path()).iter().any(|n| n.starts_with("out")),
            "{what}"
        );
    }
}

// ---- unsafe archives -------------------------------------------------------

/// The example dump as an uncompressed tar, without its end marker.
fn base_tar() -> Vec<u8> {
    let (mut v, _) = archive::pack_tree(
        &example_dump(),
        Vec::new(),
        Compression::None,
        &CancelToken::new(),
    )
    .unwrap();
    v.truncate(v.len() - 1024);
    v
}

/// A hand-made USTAR member (the name is written raw, unchecked).
fn member(name: &[u8], flag: u8, data: &[u8], link: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    {
        let b = h.as_mut_bytes();
        b[..name.len()].copy_from_slice(name);
        b[157..157 + link.len()].copy_from_slice(link);
    }
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::new(flag));
    h.set_cksum();
    let mut v = h.as_bytes().to_vec();
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

fn finish(mut v: Vec<u8>) -> Vec<u8> {
    v.extend_from_slice(&[0u8; 1024]);
    v
}

fn zstd_of(v: &[u8]) -> Vec<u8> {
    zstd::encode_all(v, 3).unwrap()
}

/// Unpack `bytes` with the CLI: exit 2, the message names `needle` and
/// the code, and the output's directory holds nothing new.
fn refused(case: &str, bytes: &[u8], compression: &str, needles: &[&str]) {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in.archive");
    fs::write(&input, bytes).unwrap();
    let out = t.path().join("out");
    let a = ekvplan()
        .args(["archive", "unpack", "--compression", compression, "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&out)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    for n in needles {
        assert!(err.contains(n), "{case}: {n:?} not in {err}");
    }
    assert_eq!(leftovers(t.path()), ["in.archive"], "{case}: left behind");
}

#[test]
fn unsafe_entries_are_refused_by_name() {
    // The last file of the archive: probably still queued for a writer
    // when the next entry is read.
    let last = members(&finish(base_tar()))
        .into_iter()
        .rfind(|m| !m.1)
        .unwrap()
        .0;
    let last_shown = format!("\"{}", String::from_utf8_lossy(&last));
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "traversal",
            member(b"../evil", b'0', b"x", b""),
            vec!["\"../evil\"", "archive_unsafe_path"],
        ),
        (
            "deep traversal",
            member(b"redis/../../evil", b'0', b"x", b""),
            vec!["redis/../../evil", "archive_unsafe_path"],
        ),
        (
            "absolute",
            member(b"/tmp/evil", b'0', b"x", b""),
            vec!["\"/tmp/evil\"", "archive_unsafe_path"],
        ),
        (
            "symlink",
            member(b"link", b'2', b"", b"/etc/passwd"),
            vec!["\"link\"", "symlink", "archive_non_regular"],
        ),
        (
            "hard link",
            member(b"hard", b'1', b"", b"MANIFEST.json"),
            vec!["\"hard\"", "hard link", "archive_non_regular"],
        ),
        (
            "char device",
            member(b"null", b'3', b"", b""),
            vec!["\"null\"", "character device"],
        ),
        (
            "block device",
            member(b"sda", b'4', b"", b""),
            vec!["\"sda\"", "block device"],
        ),
        (
            "fifo",
            member(b"pipe", b'6', b"", b""),
            vec!["\"pipe\"", "FIFO"],
        ),
        (
            "global header",
            member(b"pax_global_header", b'g', b"9 a=bcd\n", b""),
            vec!["PAX global header"],
        ),
        (
            "duplicate file",
            member(b"MANIFEST.json", b'0', b"{}", b""),
            vec!["\"MANIFEST.json\"", "archive_duplicate_entry"],
        ),
        (
            "duplicate dir",
            member(b"redis", b'5', b"", b""),
            vec!["\"redis\"", "archive_duplicate_entry"],
        ),
        (
            "file over a dir",
            member(b"sqs", b'0', b"x", b""),
            vec!["\"sqs\"", "archive_duplicate_entry"],
        ),
        (
            "dir over a file just written",
            member(&last, b'5', b"", b""),
            vec![&last_shown, "a file entry has the same path"],
        ),
        (
            "file under a file just written",
            member(&[&last[..], b"/x"].concat(), b'0', b"y", b""),
            vec![&last_shown, "archive_duplicate_entry"],
        ),
        (
            "same file twice in a row",
            member(&last, b'0', b"y", b""),
            vec![&last_shown, "listed twice", "archive_duplicate_entry"],
        ),
        (
            "the earlier of two failures",
            [
                member(b"sqs", b'0', b"x", b""),
                member(b"../evil", b'0', b"x", b""),
            ]
            .concat(),
            vec!["\"sqs\"", "archive_duplicate_entry"],
        ),
        (
            "unchecksummed",
            member(b"redis/extra.json", b'0', b"{}", b""),
            vec!["redis/extra.json", "archive_unchecksummed_file"],
        ),
        (
            "unlisted empty file",
            member(b"zz/also", b'0', b"", b""),
            vec!["zz/also", "archive_unchecksummed_file"],
        ),
    ];
    for (case, extra, needles) in cases {
        let mut v = base_tar();
        v.extend_from_slice(&extra);
        let v = finish(v);
        refused(case, &v, "none", &needles);
        refused(case, &zstd_of(&v), "zstd", &needles);
    }
}

#[test]
fn budget_truncation_and_bad_frames_are_refused() {
    // A member declaring more than 1 TiB (base-256 size field).
    let mut big = base_tar();
    let mut h = tar::Header::new_gnu();
    h.set_path("huge.bin").unwrap();
    h.set_size(2 << 40);
    h.set_mode(0o600);
    h.set_cksum();
    big.extend_from_slice(h.as_bytes());
    refused(
        "budget",
        &big,
        "none",
        &["\"huge.bin\"", "archive_budget_exceeded"],
    );

    let good = finish(base_tar());
    let manifest_at = good
        .windows(14)
        .position(|w| w == b"MANIFEST.json\0")
        .unwrap();
    // Cut inside a member's data, inside a header, and at a member boundary
    // (no end-of-archive marker).
    refused(
        "cut in data",
        &good[..manifest_at + 512 + 100],
        "none",
        &["\"MANIFEST.json\"", "archive_truncated"],
    );
    refused(
        "cut in header",
        &good[..manifest_at + 200],
        "none",
        &["archive_truncated"],
    );
    refused(
        "no end marker",
        &base_tar(),
        "none",
        &["end-of-archive marker", "archive_truncated"],
    );
    refused("empty", b"", "none", &["archive_truncated"]);

    let z = zstd_of(&good);
    refused(
        "zstd cut",
        &z[..z.len() / 2],
        "zstd",
        &["archive_truncated"],
    );
    refused(
        "zstd cut before checksum",
        &z[..z.len() - 2],
        "zstd",
        &["archive_"],
    );
    let mut flipped = z.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    // Caught by the frame checksum, or sooner by CHECKSUMS when the damage
    // decodes into different bytes.
    refused("zstd flipped", &flipped, "zstd", &[]);
    refused("not zstd", &good, "zstd", &["archive_bad_compression"]);
    refused(
        "garbage header",
        &finish(vec![0x41; 512]),
        "none",
        &["archive_corrupt"],
    );
}

#[test]
fn symlinked_or_special_archive_inputs_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let link = t.path().join("link.tar.zst");
    std::os::unix::fs::symlink(fixture("cluster-1.tar.zst"), &link).unwrap();
    ekvplan()
        .args(["archive", "unpack", "--input"])
        .arg(&link)
        .arg("--output")
        .arg(t.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("symlink"));
    ekvplan()
        .args(["archive", "unpack", "--input"])
        .arg(t.path())
        .arg("--output")
        .arg(t.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not a regular file"));
    assert!(!t.path().join("out").exists());
}

// ---- Archives as plan inputs ----

/// `<root>/dumps`: upstream's archive of cluster-1 (`c1.tar.zst`), ekvplan's
/// uncompressed archive of cluster-2 (`c2.tar`) and cluster-3 as a tree;
/// a plan over `dumps/*` with self-test, scratch in `<root>/scratch`.
fn archive_plan(root: &Path) -> PathBuf {
    archives_and_tree(&root.join("dumps"), ["c1", "c2", "c3"]);
    let plan = root.join("plan.toml");
    fs::write(
        &plan,
        "version = 1\n\
         [defaults]\n\
         self_test = true\n\
         scratch_root = \"scratch\"\n\
         [[batch]]\n\
         inputs = \"dumps/*\"\n\
         output = \"out/{name}.fsm\"\n",
    )
    .unwrap();
    plan
}

/// What `ekvplan encode` makes of `tree`.
fn encoded(tree: &Path, out: &Path) -> Vec<u8> {
    ekvplan()
        .args(["encode", "--input"])
        .arg(tree)
        .arg("--output")
        .arg(out)
        .assert()
        .success();
    fs::read(out).unwrap()
}

#[test]
fn archive_inputs_run_then_resume_and_rerun_when_the_archive_changes() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let plan = archive_plan(root);
    let explain = ekvplan()
        .args(["validate", "--explain"])
        .arg(&plan)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let explain = String::from_utf8(explain).unwrap();
    // `{name}` drops the archive extension.
    for want in [
        "job c1 ",
        "job c2 ",
        "job c3 ",
        "tar.zst (by the input's name)",
    ] {
        assert!(explain.contains(want), "{want}: {explain}");
    }

    ekvplan()
        .current_dir(root)
        .args(["run", "plan.toml", "--report", "r1.json"])
        .assert()
        .success();
    // The same bytes as encoding the trees the archives were made from.
    for (id, tree) in [
        ("c1", "cluster-1"),
        ("c2", "cluster-2"),
        ("c3", "cluster-3"),
    ] {
        let want = encoded(
            &repo().join("examples/dumps").join(tree),
            &root.join(format!("want-{id}.fsm")),
        );
        assert_eq!(
            fs::read(root.join(format!("out/{id}.fsm"))).unwrap(),
            want,
            "{id}"
        );
    }
    // The sidecar names the archive, as the plan does, and its digest.
    let side: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("out/c1.fsm.encode_info.json")).unwrap())
            .unwrap();
    assert_eq!(side["input_root"], "dumps/c1.tar.zst");
    assert_eq!(side["ekvplan"]["input_digest"]["content"], "archive");
    assert_eq!(
        side["ekvplan"]["input_digest"]["content_sha256"],
        hex::encode(
            ekvplan::testing::checksums::sha256_file(&fixture("cluster-1.tar.zst")).unwrap()
        )
    );
    // Nothing staged is left behind.
    assert_eq!(leftovers(&root.join("scratch")), Vec::<String>::new());

    // Resumed: nothing to do.
    ekvplan()
        .current_dir(root)
        .args(["run", "plan.toml", "--report", "r2.json"])
        .assert()
        .success();
    let r2: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("r2.json")).unwrap()).unwrap();
    assert_eq!(r2["counts"]["up_to_date"], 3, "{r2}");

    // The archive's bytes changed (same manifest): only that job reruns.
    let c2 = root.join("dumps/c2.tar");
    let mut bytes = fs::read(&c2).unwrap();
    bytes.extend_from_slice(&[0u8; 1024]);
    fs::write(&c2, bytes).unwrap();
    ekvplan()
        .current_dir(root)
        .args(["run", "plan.toml", "--report", "r3.json"])
        .assert()
        .success();
    let r3: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("r3.json")).unwrap()).unwrap();
    assert_eq!(r3["counts"]["up_to_date"], 2, "{r3}");
    let job = r3["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "c2")
        .unwrap();
    assert_eq!(job["reason_code"], "input_changed", "{job}");
    assert_eq!(job["reason"], "input changed: archive bytes", "{job}");

    // A plan moved with its archives stays up to date (path-free).
    let moved = root.join("elsewhere");
    fs::create_dir_all(&moved).unwrap();
    for n in ["plan.toml", "dumps", "out"] {
        fs::rename(root.join(n), moved.join(n)).unwrap();
    }
    ekvplan()
        .current_dir(&moved)
        .args(["run", "plan.toml", "--report", "r4.json"])
        .assert()
        .success();
    let r4: serde_json::Value =
        serde_json::from_slice(&fs::read(moved.join("r4.json")).unwrap()).unwrap();
    assert_eq!(r4["counts"]["up_to_date"], 3, "{r4}");

    // verify --deep unpacks the archives to compare.
    ekvplan()
        .current_dir(&moved)
        .args(["verify", "plan.toml", "--deep"])
        .assert()
        .success();
}

/// An archive whose damage lies past MANIFEST.json validates (only the
/// manifest is read) and fails when the job unpacks it: exit 2, named
/// like `archive unpack` names it, nothing published, scratch empty.
#[test]
fn a_damaged_archive_input_fails_its_job_and_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let plan = archive_plan(root);
    // c2.tar: one data byte of a member past MANIFEST.json flipped.
    let c2 = root.join("dumps/c2.tar");
    let good = fs::read(&c2).unwrap();
    let mut out = tar::Builder::new(Vec::new());
    let mut flipped = false;
    for e in tar::Archive::new(&good[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        let name = e.path_bytes().into_owned();
        if !flipped && name.starts_with(b"redis/") && !data.is_empty() {
            data[0] ^= 1;
            flipped = true;
        }
        out.append(&h, &data[..]).unwrap();
    }
    assert!(flipped);
    fs::write(&c2, out.into_inner().unwrap()).unwrap();

    ekvplan().arg("validate").arg(&plan).assert().success();
    let assert = ekvplan()
        .current_dir(root)
        .args(["run", "plan.toml", "--only", "c2", "--progress", "none"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(err.contains("dumps/c2.tar"), "{err}");
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(!root.join("out/c2.fsm").exists());
    assert_eq!(leftovers(&root.join("out")), Vec::<String>::new());
    assert_eq!(leftovers(&root.join("scratch")), Vec::<String>::new());
    // With --verify-checksums, validate reads the whole archive and says so.
    ekvplan()
        .args(["validate", "--verify-checksums"])
        .arg(&plan)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("checksum_mismatch"));
}

/// Ctrl-C while a job holds its unpacked archive: exit 130, the staged
/// tree and the run's scratch directory are gone, nothing published.
#[test]
fn sigint_during_an_archive_job_removes_the_staged_tree() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    archive_plan(root);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ekvplan"))
        .current_dir(root)
        .args(["run", "plan.toml", "--only", "c1", "--progress", "none"])
        .env(ekvplan::testing::HOLD_PHASE_ENV, "writing")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // A MANIFEST.json below the scratch directory (files come and go
    // meanwhile: errors are not failures).
    fn staged(dir: &Path, depth: u32) -> bool {
        fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
            let p = e.path();
            p.file_name().is_some_and(|n| n == "MANIFEST.json")
                || (depth > 0 && e.file_type().is_ok_and(|t| t.is_dir()) && staged(&p, depth - 1))
        })
    }
    let staged_manifest = || staged(&root.join("scratch"), 4);
    crate::common::run::wait_for("the archive to be staged", staged_manifest);
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let mut status = None;
    crate::common::run::wait_for("exit", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(status.unwrap().code(), Some(130));
    assert_eq!(leftovers(&root.join("scratch")), Vec::<String>::new());
    assert!(!root.join("out/c1.fsm").exists());
}

/// `validate` checks an archive as it checks a tree: exclusions against its
/// entries, `input_format` for an archive named otherwise, and a format
/// that does not fit the input.
#[test]
fn archive_inputs_validate_like_directories() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    fs::create_dir_all(root.join("in")).unwrap();
    fs::copy(fixture("cluster-1.tar.zst"), root.join("in/c1.tar.zst")).unwrap();
    fs::copy(fixture("cluster-1.tar.zst"), root.join("in/c1.bin")).unwrap();
    let validate = |name: &str, plan: &str| {
        fs::write(root.join(name), format!("version = 1\n{plan}")).unwrap();
        ekvplan()
            .current_dir(root)
            .args(["validate", name])
            .assert()
    };
    let job = |extra: &str| {
        format!(
            "[[job]]\nid = \"c1\"\ninput = \"in/c1.tar.zst\"\noutput = \"out/c1.fsm\"\n{extra}\n"
        )
    };
    validate(
        "ok.toml",
        &job("exclude.dynamodb.tables = [\"users\"]\nexclude.redis.databases = [0]"),
    )
    .success();
    validate("typo.toml", &job("exclude.dynamodb.tables = [\"user\"]"))
        .code(2)
        .stderr(predicates::str::contains("exclusion_not_found"))
        .stderr(predicates::str::contains("did you mean \"users\"?"));
    validate(
        "bin.toml",
        "[[job]]\nid = \"c1\"\ninput = \"in/c1.bin\"\noutput = \"out/c1.fsm\"\n",
    )
    .code(2)
    .stderr(predicates::str::contains("input_not_found"))
    .stderr(predicates::str::contains("set input_format"));
    validate(
        "bin-format.toml",
        "[[job]]\nid = \"c1\"\ninput = \"in/c1.bin\"\ninput_format = \"tar.zstd\"\noutput = \"out/c1.fsm\"\n",
    )
    .success();
    validate("dir-format.toml", &job("input_format = \"dir\""))
        .code(2)
        .stderr(predicates::str::contains("not a directory"));
    // A batch with an archive format matches files only, whatever their names.
    let out = ekvplan()
        .current_dir(root)
        .args(["validate", "--explain", "--format", "json"])
        .arg({
            fs::write(
                root.join("batch.toml"),
                "version = 1\n[[batch]]\ninputs = \"in/*\"\ninput_format = \"tar.zst\"\nid = \"{name}-x\"\noutput = \"out/{id}.fsm\"\n",
            )
            .unwrap();
            "batch.toml"
        })
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let ids: Vec<&str> = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    // `{name}` drops a known archive extension only.
    assert_eq!(ids, ["c1.bin-x", "c1-x"], "{v}");
    assert_eq!(v["jobs"][0]["input_format"], "tar.zst", "{v}");
}
