//! Helpers shared by the integration-test areas: the `ekvplan` command
//! builder, the conformance corpus locator, one tree walker and one `.fsm`
//! entry reader. Run fixtures (dumps and plans) are in [`run`].

pub mod run;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::BufReader;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ekvplan::{AdapterKind, AdapterSet, FsmReader};

/// The `ekvplan` binary in a predictable environment: plain diagnostics,
/// and no inherited Kubernetes shard index.
pub fn ekvplan() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("ekvplan").unwrap();
    c.env("NO_COLOR", "1").env_remove("JOB_COMPLETION_INDEX");
    c
}

/// The repository's root (examples, fixtures).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copy a file or tree, keeping symlinks as symlinks.
pub fn copy_tree(src: &Path, dst: &Path) {
    let meta = fs::symlink_metadata(src).unwrap();
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src).unwrap(), dst).unwrap();
    } else if meta.is_dir() {
        fs::create_dir_all(dst).unwrap();
        for e in fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &dst.join(e.file_name()));
        }
    } else {
        fs::copy(src, dst).unwrap();
    }
}

/// Three look-alike example dumps in `dir`, one per input form: upstream's
/// `.tar.zst` of cluster-1, ekvplan's uncompressed `.tar` of cluster-2 and
/// cluster-3 as a tree, named `names[0].tar.zst`, `names[1].tar`, `names[2]`.
pub fn archives_and_tree(dir: &Path, names: [&str; 3]) {
    fs::create_dir_all(dir).unwrap();
    fs::copy(
        repo().join("tests/archive/upstream/cluster-1.tar.zst"),
        dir.join(format!("{}.tar.zst", names[0])),
    )
    .unwrap();
    ekvplan()
        .args(["archive", "pack", "--compression", "none", "--input"])
        .arg(repo().join("examples/dumps/cluster-2"))
        .arg("--output")
        .arg(dir.join(format!("{}.tar", names[1])))
        .assert()
        .success();
    copy_tree(
        &repo().join("examples/dumps/cluster-3"),
        &dir.join(names[2]),
    );
}

/// The golden conformance corpus: `EKVPLAN_CONFORMANCE`, else
/// `../shared/conformance` beside the repository. `None` after saying
/// plainly (past libtest's output capture) that `test` is skipped.
pub fn corpus_root(test: &str) -> Option<PathBuf> {
    let p = match std::env::var_os("EKVPLAN_CONFORMANCE") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"),
    };
    if p.join("corpus.json").is_file() {
        return Some(p);
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "{test}: SKIPPED: no conformance corpus at {} (set EKVPLAN_CONFORMANCE to its path)",
        p.display()
    );
    None
}

/// The dump generator: `EKVPLAN_GEN_DUMPS`, else
/// `../shared/tools/gen_dumps.py` beside the repository, run with
/// `python3`. `None` after saying that `test` is skipped.
pub fn gen_dumps_script(test: &str) -> Option<PathBuf> {
    let p = match std::env::var_os("EKVPLAN_GEN_DUMPS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/gen_dumps.py"),
    };
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if p.is_file() && python {
        return Some(p);
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "{test}: SKIPPED: no python3 or no dump generator at {} (set EKVPLAN_GEN_DUMPS)",
        p.display()
    );
    None
}

/// The example dump's MANIFEST.json: every adapter in scope.
pub fn example_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dumps/cluster-1/MANIFEST.json")
}

/// One adapter selected.
pub fn only(kind: AdapterKind) -> AdapterSet {
    let mut s = AdapterSet::NONE;
    s.insert(kind);
    s
}

/// One entry below a walked root. Symlinks are not followed: a link is a
/// non-directory whose bytes are those of its target, if any.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// Path relative to the root, as bytes.
    pub rel: Vec<u8>,
    pub dir: bool,
    /// Permission bits (`& 0o777`).
    pub mode: u32,
    /// File contents; empty for directories.
    pub bytes: Vec<u8>,
}

impl Entry {
    pub fn show(&self) -> String {
        String::from_utf8_lossy(&self.rel).into_owned()
    }
}

/// Every entry below `root` (not `root` itself), sorted by relative path;
/// empty when `root` does not exist.
pub fn walk(root: &Path) -> Vec<Entry> {
    fn go(root: &Path, dir: &Path, out: &mut Vec<Entry>) {
        let Ok(rd) = fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            let mode = m.permissions().mode() & 0o777;
            if m.is_dir() {
                out.push(Entry {
                    rel,
                    dir: true,
                    mode,
                    bytes: Vec::new(),
                });
                go(root, &p, out);
            } else {
                let bytes = fs::read(&p).unwrap_or_default();
                out.push(Entry {
                    rel,
                    dir: false,
                    mode,
                    bytes,
                });
            }
        }
    }
    let mut v = Vec::new();
    go(root, root, &mut v);
    v.sort();
    v
}

/// The non-directories below `root`: relative path → bytes.
pub fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(root)
        .into_iter()
        .filter(|e| !e.dir)
        .map(|e| (PathBuf::from(OsStr::from_bytes(&e.rel)), e.bytes))
        .collect()
}

/// One entry of an `.fsm`, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsmEntry {
    pub key: Vec<u8>,
    pub commit_ts: u64,
    pub expire_at: u64,
    pub tombstone: bool,
    pub body: Vec<u8>,
}

/// The header's last_commit_ts and every entry of an `.fsm`, in order.
pub fn fsm_entries(path: &Path) -> (u64, Vec<FsmEntry>) {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut r = FsmReader::new(BufReader::new(f)).unwrap();
    let ts = r.last_commit_ts();
    let mut v = Vec::new();
    while let Some(e) = r.next_entry().unwrap() {
        v.push(FsmEntry {
            key: e.user_key.to_vec(),
            commit_ts: e.commit_ts,
            expire_at: e.expire_at,
            tombstone: e.tombstone,
            body: e.body.to_vec(),
        });
    }
    (ts, v)
}
