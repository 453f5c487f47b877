//! The round-trip check behind `encode --self-test` and `verify --deep`:
//! decode an `.fsm` through the comparing sink against the tree it was
//! made from, with upstream's outcomes and report text (`runSelfTest`,
//! `diffAdapterTrees`).

use std::path::Path;

use crate::adapter::{self, AdapterSet, CancelToken, DecodeContext, DecodeOptions};
use crate::budget::DecodeBudget;
use crate::decode;
use crate::error::{Error, Result};
mod compare_sink;

use compare_sink::{CompareSink, CompareSpec, DirDiff, FileDiffKind, TreeDiff};

/// What to check.
#[derive(Debug, Clone)]
pub struct RoundTripSpec<'a> {
    pub fsm: &'a Path,
    /// The tree the `.fsm` was made from.
    pub input: &'a Path,
    pub options: DecodeOptions,
    /// Plan-excluded subtrees (`dynamodb/<seg>`, ...).
    pub skip: Vec<String>,
    /// A private directory for spill files (removed by the caller).
    pub scratch: &'a Path,
    pub memory_budget: u64,
    /// The header's `last_commit_ts` the `.fsm` must carry.
    pub want_commit_ts: u64,
}

/// How a round trip failed, in upstream's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The decoder rejected the `.fsm` (upstream's wording of the error).
    Rejected(String),
    CommitTs {
        want: u64,
        got: u64,
    },
    Tree(TreeDiff),
}

/// The first difference, for reports (beyond upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstDiff {
    pub path: Vec<u8>,
    /// First differing byte, when the file exists on both sides.
    pub offset: Option<u64>,
}

impl Failure {
    /// Upstream's `<out>.mismatch.txt` body.
    pub fn mismatch_text(&self) -> Vec<u8> {
        match self {
            Failure::Rejected(msg) => {
                format!("self-test failed: DecodeSnapshot rejected the produced .fsm: {msg}")
                    .into_bytes()
            }
            Failure::CommitTs { want, got } => {
                format!("self-test failed: header.LastCommitTS mismatch (want {want}, got {got})\n")
                    .into_bytes()
            }
            Failure::Tree(d) => d.mismatch_text().unwrap_or_default(),
        }
    }

    /// The first report line's file, with its first differing byte.
    pub fn first(&self) -> Option<FirstDiff> {
        match self {
            Failure::Tree(d) => d.files.first().map(|f| FirstDiff {
                path: f.path.clone(),
                offset: (f.kind == FileDiffKind::BytesDiffer)
                    .then_some(f.offset)
                    .flatten(),
            }),
            _ => None,
        }
    }

    /// The error a failed self-test returns.
    pub fn to_error(&self, summary: String) -> Error {
        let first = self.first();
        Error::SelfTestMismatch(Box::new(crate::error::MismatchInfo {
            summary,
            first_path: first
                .as_ref()
                .map(|f| String::from_utf8_lossy(&f.path).into_owned()),
            first_offset: first.and_then(|f| f.offset),
        }))
    }
}

/// The outcome of a round trip that ran.
#[derive(Debug, Clone, Default)]
pub struct RoundTrip {
    pub failure: Option<Failure>,
    /// Empty-directory differences (upstream ignores them; reported only).
    pub dirs: Vec<DirDiff>,
    pub total_dirs: u64,
}

/// The text upstream's error would carry: ekvplan's message without the
/// file path and entry offset it adds around an adapter's error.
fn upstream_text(e: &Error) -> String {
    match e {
        Error::Fsm { context, source } if context.is_empty() => source.to_string(),
        other => other.to_string(),
    }
}

/// Decode `spec.fsm` and compare it with `spec.input`. An I/O failure or
/// an interruption is an error; everything upstream reports as a mismatch
/// is a [`Failure`].
pub fn round_trip(spec: &RoundTripSpec<'_>, cancel: &CancelToken) -> Result<RoundTrip> {
    let adapters: AdapterSet = spec.options.adapters;
    let budget = DecodeBudget::of(spec.memory_budget);
    let sink = CompareSink::new(
        CompareSpec {
            input: spec.input.to_path_buf(),
            adapters,
            skip: spec.skip.clone(),
            scratch: spec.scratch.to_path_buf(),
            sort_budget: budget.tree_sort / 2,
            queue_bytes: budget.tree_queue,
        },
        cancel,
    )?;
    let ctx = DecodeContext {
        tree: sink.tree(),
        scratch_root: spec.scratch.to_path_buf(),
        options: spec.options.clone(),
        memory_budget: budget.decoders,
        warn: adapter::silent_warn(),
        cancel: cancel.clone(),
    };
    let summary = match decode::decode_file_detailed(spec.fsm, ctx, cancel) {
        Ok(s) => s,
        Err(e) => {
            return match e.error {
                Error::Interrupted | Error::Io { .. } => Err(e.error),
                other => Ok(RoundTrip {
                    failure: Some(Failure::Rejected(upstream_text(&other))),
                    ..RoundTrip::default()
                }),
            };
        }
    };
    if summary.last_commit_ts != spec.want_commit_ts {
        return Ok(RoundTrip {
            failure: Some(Failure::CommitTs {
                want: spec.want_commit_ts,
                got: summary.last_commit_ts,
            }),
            ..RoundTrip::default()
        });
    }
    let diff = sink.finish()?;
    let (dirs, total_dirs) = (diff.dirs.clone(), diff.total_dirs);
    Ok(RoundTrip {
        failure: (!diff.matched()).then_some(Failure::Tree(diff)),
        dirs,
        total_dirs,
    })
}

/// One warning line for empty-directory differences (upstream ignores
/// them, so they never fail a self-test).
pub fn empty_dir_warning(rt: &RoundTrip) -> Option<String> {
    let first = rt.dirs.first()?;
    Some(format!(
        "self-test: {} empty-directory difference(s) between the decode and the input (not compared by upstream), first: {} {}",
        rt.total_dirs,
        String::from_utf8_lossy(&first.path),
        if first.extra_in_decode {
            "(only in the decode)"
        } else {
            "(only in the input)"
        }
    ))
}

#[cfg(test)]
pub(crate) mod oracle {
    //! "Decode to disk, then diff": the comparison the comparing sink
    //! replaces, kept as the test oracle.

    use std::collections::BTreeSet;
    use std::fs::File;
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use crate::adapter::AdapterSet;
    use crate::error::{IoResultExt, Result};
    use crate::tree::checksums::list_regular_files;

    use super::compare_sink::MAX_LINES;

    fn same_contents(a: &Path, b: &Path) -> Result<bool> {
        let ma = std::fs::metadata(a).io_at(a, "stat")?;
        let mb = std::fs::metadata(b).io_at(b, "stat")?;
        if ma.len() != mb.len() {
            return Ok(false);
        }
        let mut fa = File::open(a).io_at(a, "open")?;
        let mut fb = File::open(b).io_at(b, "open")?;
        let (mut xa, mut xb) = (Vec::new(), Vec::new());
        fa.read_to_end(&mut xa).io_at(a, "read")?;
        fb.read_to_end(&mut xb).io_at(b, "read")?;
        Ok(xa == xb)
    }

    fn list_or_empty(dir: &Path) -> Result<Vec<(Vec<u8>, std::path::PathBuf)>> {
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => list_regular_files(dir),
            _ => Ok(Vec::new()),
        }
    }

    /// Upstream's `diffAdapterTrees` over two trees on disk.
    pub fn diff_adapter_trees(
        input: &Path,
        scratch: &Path,
        adapters: AdapterSet,
        skip: &[String],
    ) -> Result<Option<Vec<u8>>> {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for k in adapters.iter() {
            let name = k.name();
            let a = list_or_empty(&input.join(name))?;
            let b = list_or_empty(&scratch.join(name))?;
            let full = |rel: &[u8]| [name.as_bytes(), b"/", rel].concat();
            let skipped = |rel: &[u8]| {
                let full = full(rel);
                skip.iter().any(|s| {
                    full.starts_with(s.as_bytes()) && matches!(full.get(s.len()), None | Some(b'/'))
                })
            };
            let mut sub: Vec<Vec<u8>> = Vec::new();
            let (mut i, mut j) = (0, 0);
            while i < a.len() || j < b.len() {
                let ord = match (a.get(i), b.get(j)) {
                    (Some(x), Some(y)) => x.0.cmp(&y.0),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    _ => std::cmp::Ordering::Greater,
                };
                match ord {
                    std::cmp::Ordering::Less => {
                        if !skipped(&a[i].0) {
                            sub.push([full(&a[i].0), b" (missing in scratch)".to_vec()].concat());
                        }
                        i += 1;
                    }
                    std::cmp::Ordering::Greater => {
                        sub.push([full(&b[j].0), b" (missing in input)".to_vec()].concat());
                        j += 1;
                    }
                    std::cmp::Ordering::Equal => {
                        if !same_contents(&a[i].1, &b[j].1)? {
                            sub.push([full(&a[i].0), b" (bytes differ)".to_vec()].concat());
                        }
                        i += 1;
                        j += 1;
                    }
                }
            }
            sub.sort();
            lines.extend(sub);
            if lines.len() >= MAX_LINES {
                lines.truncate(MAX_LINES);
                lines.push(format!("... (truncated; first {MAX_LINES} paths shown)").into_bytes());
                break;
            }
        }
        if lines.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(&l);
            out.push(b'\n');
        }
        Ok(Some(out))
    }

    /// Empty directories under the enabled adapter subtrees.
    pub fn empty_dirs(root: &Path, adapters: AdapterSet) -> BTreeSet<Vec<u8>> {
        fn go(root: &Path, dir: &Path, out: &mut BTreeSet<Vec<u8>>) {
            let mut n = 0;
            for e in std::fs::read_dir(dir).unwrap() {
                n += 1;
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    go(root, &e.path(), out);
                }
            }
            if n == 0 {
                let rel = dir.strip_prefix(root).unwrap().as_os_str().as_bytes();
                out.insert(rel.to_vec());
            }
        }
        let mut out = BTreeSet::new();
        for k in adapters.iter() {
            let d = root.join(k.name());
            if std::fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir()) {
                go(root, &d, &mut out);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{AdapterKind, ScopeExclusions};
    use proptest::prelude::*;
    use std::fs;
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;
    use std::sync::OnceLock;

    /// A canonical mixed tree (the example dump plus a DynamoDB table
    /// without items, whose decode has an empty `items/`), its `.fsm`,
    /// and the tree decoded from it.
    struct Fixture {
        _dir: tempfile::TempDir,
        fsm: PathBuf,
        decoded: PathBuf,
        t: u64,
    }

    fn copy_dir(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dst = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &dst);
            } else {
                fs::copy(e.path(), &dst).unwrap();
            }
        }
    }

    fn fixture() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let raw = dir.path().join("raw");
            copy_dir(
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dumps/cluster-1"),
                &raw,
            );
            let schema = fs::read_to_string(raw.join("dynamodb/users/_schema.json")).unwrap();
            fs::create_dir_all(raw.join("dynamodb/empty/items")).unwrap();
            fs::write(
                raw.join("dynamodb/empty/_schema.json"),
                schema.replace("\"users\"", "\"empty\""),
            )
            .unwrap();
            let fsm = dir.path().join("c.fsm");
            let o = crate::job::run_encode_simple(&crate::job::EncodeJob::new(&raw, &fsm)).unwrap();
            let decoded = dir.path().join("decoded");
            fs::create_dir(&decoded).unwrap();
            let req = decode::DecodeRequest {
                input: fsm.to_str().unwrap().into(),
                output: decoded.clone(),
                options: DecodeOptions::default(),
                cluster_id: String::new(),
                force: false,
                memory_budget: 64 << 20,
            };
            decode::decode_into(&req, &decoded, adapter::silent_warn(), &CancelToken::new())
                .unwrap();
            Fixture {
                _dir: dir,
                fsm,
                decoded,
                t: o.last_commit_ts,
            }
        })
    }

    fn run(input: &Path, skip: &[String], t: u64) -> RoundTrip {
        let f = fixture();
        let scratch = tempfile::tempdir().unwrap();
        round_trip(
            &RoundTripSpec {
                fsm: &f.fsm,
                input,
                options: DecodeOptions::default(),
                skip: skip.to_vec(),
                scratch: scratch.path(),
                memory_budget: 1 << 20,
                want_commit_ts: t,
            },
            &CancelToken::new(),
        )
        .unwrap()
    }

    fn files_of(root: &Path) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = crate::tree::checksums::list_regular_files(root)
            .unwrap()
            .into_iter()
            .map(|(r, _)| r)
            .filter(|r| {
                AdapterKind::FAN_OUT
                    .iter()
                    .any(|k| r.starts_with(k.name().as_bytes()))
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn canonical_tree_matches_and_reports_in_upstream_format() {
        let f = fixture();
        let rt = run(&f.decoded, &[], f.t);
        assert!(rt.failure.is_none(), "{:?}", rt.failure);
        assert_eq!(rt.total_dirs, 0);
        assert!(
            oracle::empty_dirs(&f.decoded, AdapterSet::ALL)
                .contains(b"dynamodb/empty/items".as_slice())
        );

        let m = tempfile::tempdir().unwrap();
        copy_dir(&f.decoded, m.path());
        fs::write(m.path().join("redis/db_0/strings/greeting.bin"), b"hellO").unwrap();
        fs::remove_file(m.path().join("sqs/std/_queue.json")).unwrap();
        fs::write(m.path().join("s3/bucket1/extra"), b"").unwrap();
        let rt = run(m.path(), &[], f.t);
        let fail = rt.failure.unwrap();
        assert_eq!(
            String::from_utf8(fail.mismatch_text()).unwrap(),
            "redis/db_0/strings/greeting.bin (bytes differ)\n\
             s3/bucket1/extra (missing in scratch)\n\
             sqs/std/_queue.json (missing in input)\n"
        );
        let first = fail.first().unwrap();
        assert_eq!(first.path, b"redis/db_0/strings/greeting.bin");
        let want = fs::read(f.decoded.join("redis/db_0/strings/greeting.bin")).unwrap();
        let at = want
            .iter()
            .zip(b"hellO")
            .position(|(a, b)| a != b)
            .unwrap_or(want.len().min(5));
        assert_eq!(first.offset, Some(at as u64));

        // Plan exclusions hide input files the decode never produces.
        let rt = run(m.path(), &["s3/bucket1".into()], f.t);
        assert!(
            !String::from_utf8(rt.failure.unwrap().mismatch_text())
                .unwrap()
                .contains("extra")
        );

        let rt = run(&f.decoded, &[], f.t + 1);
        assert_eq!(
            String::from_utf8(rt.failure.unwrap().mismatch_text()).unwrap(),
            format!(
                "self-test failed: header.LastCommitTS mismatch (want {}, got {})\n",
                f.t + 1,
                f.t
            )
        );
        let _ = ScopeExclusions::default();
    }

    #[test]
    fn truncation_after_64_lines() {
        let f = fixture();
        let m = tempfile::tempdir().unwrap();
        copy_dir(&f.decoded, m.path());
        for i in 0..70 {
            fs::write(m.path().join(format!("redis/db_0/x{i:02}")), b"").unwrap();
        }
        let text = run(m.path(), &[], f.t).failure.unwrap().mismatch_text();
        let want = oracle::diff_adapter_trees(m.path(), &f.decoded, AdapterSet::ALL, &[])
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&text),
            String::from_utf8_lossy(&want)
        );
        assert!(text.ends_with(b"... (truncated; first 64 paths shown)\n"));
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        ChangeByte(usize, usize),
        Truncate(usize, usize),
        Remove(usize),
        Extra(usize, String),
        ExtraEmptyDir(usize, String),
        RemoveEmptyDir,
        Rename(usize, String),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let name = "[a-zA-Z0-9%._-]{1,6}";
        prop_oneof![
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::ChangeByte(a, b)),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Truncate(a, b)),
            any::<usize>().prop_map(Mutation::Remove),
            (any::<usize>(), name).prop_map(|(a, n)| Mutation::Extra(a, n)),
            (any::<usize>(), name).prop_map(|(a, n)| Mutation::ExtraEmptyDir(a, n)),
            Just(Mutation::RemoveEmptyDir),
            (any::<usize>(), name).prop_map(|(a, n)| Mutation::Rename(a, n)),
        ]
    }

    fn apply(root: &Path, m: &Mutation) {
        let files = files_of(root);
        let pick = |i: usize| root.join(std::ffi::OsStr::from_bytes(&files[i % files.len()]));
        match m {
            Mutation::ChangeByte(i, at) => {
                let p = pick(*i);
                let mut b = fs::read(&p).unwrap();
                if b.is_empty() {
                    b.push(b'x');
                } else {
                    let at = at % b.len();
                    b[at] ^= 0x20;
                }
                fs::write(&p, b).unwrap();
            }
            Mutation::Truncate(i, to) => {
                let p = pick(*i);
                let b = fs::read(&p).unwrap();
                fs::write(&p, &b[..to % (b.len() + 1)]).unwrap();
            }
            Mutation::Remove(i) => fs::remove_file(pick(*i)).unwrap(),
            Mutation::Extra(i, n) => {
                let p = pick(*i);
                let _ = fs::write(p.parent().unwrap().join(n), b"extra");
            }
            Mutation::ExtraEmptyDir(i, n) => {
                let p = pick(*i);
                let _ = fs::create_dir(p.parent().unwrap().join(n));
            }
            Mutation::RemoveEmptyDir => {
                let _ = fs::remove_dir(root.join("dynamodb/empty/items"));
            }
            Mutation::Rename(i, n) => {
                let p = pick(*i);
                let _ = fs::rename(&p, p.parent().unwrap().join(n));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// The comparing sink agrees with "decode to disk, then diff" on
        /// the verdict and on every report line; its empty-directory
        /// differences are the symmetric difference of the two trees'.
        #[test]
        fn comparing_sink_agrees_with_decode_then_diff(muts in proptest::collection::vec(mutation(), 1..4)) {
            let f = fixture();
            let m = tempfile::tempdir().unwrap();
            copy_dir(&f.decoded, m.path());
            for mu in &muts {
                apply(m.path(), mu);
            }
            let want = oracle::diff_adapter_trees(m.path(), &f.decoded, AdapterSet::ALL, &[]).unwrap();
            let rt = run(m.path(), &[], f.t);
            let got = rt.failure.as_ref().map(Failure::mismatch_text);
            prop_assert_eq!(
                got.as_deref().map(String::from_utf8_lossy),
                want.as_deref().map(String::from_utf8_lossy)
            );
            if let Some(first) = rt.failure.as_ref().and_then(Failure::first) {
                if let Some(at) = first.offset {
                    let p = std::ffi::OsStr::from_bytes(&first.path);
                    let a = fs::read(m.path().join(p)).unwrap();
                    let b = fs::read(f.decoded.join(p)).unwrap();
                    let want_at = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
                    prop_assert_eq!(at, want_at as u64);
                }
            }
            let ours = oracle::empty_dirs(&f.decoded, AdapterSet::ALL);
            let theirs = oracle::empty_dirs(m.path(), AdapterSet::ALL);
            let mut want_dirs: Vec<(Vec<u8>, bool)> = ours
                .symmetric_difference(&theirs)
                .map(|d| (d.clone(), ours.contains(d)))
                .collect();
            want_dirs.sort();
            let got_dirs: Vec<(Vec<u8>, bool)> =
                rt.dirs.iter().map(|d| (d.path.clone(), d.extra_in_decode)).collect();
            if rt.failure.is_none() || matches!(rt.failure, Some(Failure::Tree(_))) {
                prop_assert_eq!(got_dirs, want_dirs);
            }
        }
    }
}
