//! A bounded-memory, stable external sort of `(key, payload)` records, for
//! the SQS state that must be grouped or ordered before it can be written
//! (the decoder's per-queue message order, the encoder's dedup winners).
//!
//! Records are kept in one arena; past the budget the arena is sorted
//! (stably) and spilled as a run file in a private temp directory, created
//! on first use. Runs are merged with ties going to the earlier run, so the
//! output is the records sorted by key, equal keys in insertion order,
//! whatever the budget.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoResultExt, Result};
use crate::fsutil;

/// Budgets below this are raised to it (so a tiny budget cannot make one
/// run file per record).
const MIN_BUDGET: u64 = 64 << 10;
const PER_RECORD_OVERHEAD: u64 = 16;
const RUN_BUFFER: usize = 64 << 10;
/// At most this many run files are open at once.
const MAX_FAN_IN: usize = 128;

#[derive(Clone, Copy)]
struct Slot {
    off: usize,
    klen: u32,
    plen: u32,
}

pub struct SpillSorter {
    budget: u64,
    fan_in: usize,
    base: PathBuf,
    dir: Option<tempfile::TempDir>,
    /// Whether `base` did not exist and was created for the runs.
    created_base: bool,
    arena: Vec<u8>,
    slots: Vec<Slot>,
    runs: Vec<PathBuf>,
}

fn too_long(what: &str, n: usize) -> Error {
    Error::data(format!("sqs: {what} of {n} bytes is too large to sort"))
}

impl SpillSorter {
    /// `base`: where the private run directory goes (created if missing).
    pub fn new(budget: u64, base: &Path) -> Self {
        SpillSorter {
            budget: budget.max(MIN_BUDGET),
            fan_in: MAX_FAN_IN,
            base: base.to_path_buf(),
            dir: None,
            created_base: false,
            arena: Vec::new(),
            slots: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Tiny limits, to exercise spilling and cascaded merges in tests.
    #[cfg(test)]
    fn with_limits(budget: u64, fan_in: usize, base: &Path) -> Self {
        SpillSorter {
            budget,
            fan_in,
            ..SpillSorter::new(0, base)
        }
    }

    pub fn add(&mut self, key: &[u8], payload: &[u8]) -> Result<()> {
        let klen = u32::try_from(key.len()).map_err(|_| too_long("sort key", key.len()))?;
        let plen = u32::try_from(payload.len()).map_err(|_| too_long("record", payload.len()))?;
        let off = self.arena.len();
        self.arena.extend_from_slice(key);
        self.arena.extend_from_slice(payload);
        self.slots.push(Slot { off, klen, plen });
        let used = self.arena.len() as u64 + self.slots.len() as u64 * PER_RECORD_OVERHEAD;
        if used > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty() && self.runs.is_empty()
    }

    /// Number of run files written so far.
    #[cfg(test)]
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    /// Whether the sorter created its base directory (the caller may want
    /// to remove it once the sorter is dropped).
    #[cfg(test)]
    pub fn created_base(&self) -> bool {
        self.created_base
    }

    fn key<'a>(arena: &'a [u8], s: &Slot) -> &'a [u8] {
        &arena[s.off..s.off + s.klen as usize]
    }

    fn sort_slots(&mut self) {
        let arena = &self.arena;
        self.slots
            .sort_by(|a, b| Self::key(arena, a).cmp(Self::key(arena, b)));
    }

    fn run_dir(&mut self) -> Result<PathBuf> {
        if let Some(d) = &self.dir {
            return Ok(d.path().to_path_buf());
        }
        if std::fs::symlink_metadata(&self.base).is_err() {
            fsutil::create_dir_all(&self.base)?;
            self.created_base = true;
        }
        let d = tempfile::Builder::new()
            .prefix("ekvplan-sqs-")
            .tempdir_in(&self.base)
            .io_at(&self.base, "create SQS scratch directory in")?;
        let p = d.path().to_path_buf();
        self.dir = Some(d);
        Ok(p)
    }

    fn spill(&mut self) -> Result<()> {
        if self.slots.is_empty() {
            return Ok(());
        }
        self.sort_slots();
        let dir = self.run_dir()?;
        let path = dir.join(format!("run-{:06}", self.runs.len()));
        let f = fsutil::create_new_private(&path)?;
        let mut w = BufWriter::with_capacity(RUN_BUFFER, f);
        for s in &self.slots {
            let k = s.off + s.klen as usize;
            write_record(
                &mut w,
                &self.arena[s.off..k],
                &self.arena[k..k + s.plen as usize],
            )
            .io_at(&path, "write sort run")?;
        }
        w.flush().io_at(&path, "write sort run")?;
        self.runs.push(path);
        self.arena = Vec::new();
        self.slots = Vec::new();
        Ok(())
    }

    /// Sort what was added and return a reader over the records in order.
    pub fn finish(mut self) -> Result<Sorted> {
        if self.runs.is_empty() {
            self.sort_slots();
            return Ok(Sorted {
                inner: Inner::Memory {
                    arena: std::mem::take(&mut self.arena),
                    slots: std::mem::take(&mut self.slots),
                    next: 0,
                },
                _sorter: self,
            });
        }
        self.spill()?;
        // Keep the number of open run files bounded: merge the earliest
        // runs into one (which stays first, so ties keep insertion order).
        while self.runs.len() > self.fan_in {
            let dir = self.run_dir()?;
            let path = dir.join(format!("run-merged-{:06}", self.runs.len()));
            let head: Vec<PathBuf> = self.runs.drain(..self.fan_in).collect();
            let mut merge = Merge::open(&head)?;
            let f = fsutil::create_new_private(&path)?;
            let mut w = BufWriter::with_capacity(RUN_BUFFER, f);
            let (mut k, mut p) = (Vec::new(), Vec::new());
            while merge.next_into(&mut k, &mut p)? {
                write_record(&mut w, &k, &p).io_at(&path, "write sort run")?;
            }
            w.flush().io_at(&path, "write sort run")?;
            drop(merge);
            for old in &head {
                let _ = std::fs::remove_file(old);
            }
            self.runs.insert(0, path);
        }
        let merge = Merge::open(&self.runs)?;
        Ok(Sorted {
            inner: Inner::Merge(merge),
            _sorter: self,
        })
    }
}

fn write_record(w: &mut impl Write, key: &[u8], payload: &[u8]) -> std::io::Result<()> {
    // Lengths were checked to fit u32 when the record was added.
    w.write_all(&(key.len() as u32).to_le_bytes())?;
    w.write_all(&(payload.len() as u32).to_le_bytes())?;
    w.write_all(key)?;
    w.write_all(payload)
}

/// A k-way merge of run files; ties go to the earlier run.
struct Merge {
    readers: Vec<RunReader>,
    heap: BinaryHeap<Reverse<Head>>,
}

impl Merge {
    fn open(runs: &[PathBuf]) -> Result<Merge> {
        let mut readers = Vec::with_capacity(runs.len());
        for p in runs {
            let f = File::open(p).io_at(p, "open sort run")?;
            readers.push(RunReader {
                r: BufReader::with_capacity(RUN_BUFFER, f),
                path: p.clone(),
            });
        }
        let mut heap = BinaryHeap::new();
        for (run, r) in readers.iter_mut().enumerate() {
            if let Some((key, payload)) = r.next()? {
                heap.push(Reverse(Head { key, payload, run }));
            }
        }
        Ok(Merge { readers, heap })
    }

    fn next_into(&mut self, key: &mut Vec<u8>, payload: &mut Vec<u8>) -> Result<bool> {
        let Some(Reverse(head)) = self.heap.pop() else {
            return Ok(false);
        };
        if let Some((k, p)) = self.readers[head.run].next()? {
            self.heap.push(Reverse(Head {
                key: k,
                payload: p,
                run: head.run,
            }));
        }
        *key = head.key;
        *payload = head.payload;
        Ok(true)
    }
}

struct RunReader {
    r: BufReader<File>,
    path: PathBuf,
}

impl RunReader {
    fn next(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let mut lens = [0u8; 8];
        match self.r.read_exact(&mut lens) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(Error::io_at(&self.path, "read sort run", e)),
        }
        let klen = u32::from_le_bytes(lens[..4].try_into().expect("4 bytes")) as usize;
        let plen = u32::from_le_bytes(lens[4..].try_into().expect("4 bytes")) as usize;
        let mut key = vec![0; klen];
        let mut payload = vec![0; plen];
        self.r
            .read_exact(&mut key)
            .and_then(|_| self.r.read_exact(&mut payload))
            .io_at(&self.path, "read sort run")?;
        Ok(Some((key, payload)))
    }
}

struct Head {
    key: Vec<u8>,
    payload: Vec<u8>,
    run: usize,
}

impl PartialEq for Head {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Head {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key.cmp(&o.key).then(self.run.cmp(&o.run))
    }
}

enum Inner {
    Memory {
        arena: Vec<u8>,
        slots: Vec<Slot>,
        next: usize,
    },
    Merge(Merge),
}

/// The sorted records. Holds the run files until dropped.
pub struct Sorted {
    inner: Inner,
    _sorter: SpillSorter,
}

impl Sorted {
    /// The next record into `key` / `payload`; false at the end.
    pub fn next_into(&mut self, key: &mut Vec<u8>, payload: &mut Vec<u8>) -> Result<bool> {
        key.clear();
        payload.clear();
        match &mut self.inner {
            Inner::Memory { arena, slots, next } => {
                let Some(s) = slots.get(*next) else {
                    return Ok(false);
                };
                *next += 1;
                let k = s.off + s.klen as usize;
                key.extend_from_slice(&arena[s.off..k]);
                payload.extend_from_slice(&arena[k..k + s.plen as usize]);
                Ok(true)
            }
            Inner::Merge(m) => m.next_into(key, payload),
        }
    }
}

// --- Order-preserving key pieces ---------------------------------------------

/// Append `raw` so that byte-wise comparison of the results orders like
/// comparison of the raw strings, and the piece ends unambiguously
/// (`00` → `00 FF`, terminated by `00 00`).
pub fn push_escaped(out: &mut Vec<u8>, raw: &[u8]) {
    for &b in raw {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// Undo `push_escaped` at the start of `key`: the raw bytes and the rest.
pub fn split_escaped(key: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut raw = Vec::new();
    let mut i = 0;
    loop {
        match (key.get(i)?, key.get(i + 1)) {
            (0, Some(0)) => return Some((raw, &key[i + 2..])),
            (0, Some(0xff)) => {
                raw.push(0);
                i += 2;
            }
            (0, _) => return None,
            (&b, _) => {
                raw.push(b);
                i += 1;
            }
        }
    }
}

/// A signed timestamp as 8 bytes that sort like the signed value.
pub fn push_i64_ordered(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(s: SpillSorter) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut it = s.finish().unwrap();
        let (mut k, mut p) = (Vec::new(), Vec::new());
        let mut v = Vec::new();
        while it.next_into(&mut k, &mut p).unwrap() {
            v.push((k.clone(), p.clone()));
        }
        v
    }

    #[test]
    fn escaped_pieces_order_and_split() {
        let enc = |r: &[u8]| {
            let mut v = Vec::new();
            push_escaped(&mut v, r);
            v
        };
        let raws: [&[u8]; 6] = [b"", b"\0", b"\0\0", b"\0a", b"a", b"a\0"];
        for a in raws {
            for b in raws {
                assert_eq!(a.cmp(b), enc(a).cmp(&enc(b)), "{a:?} {b:?}");
            }
            let mut k = enc(a);
            k.extend_from_slice(b"tail");
            let (raw, rest) = split_escaped(&k).unwrap();
            assert_eq!((raw.as_slice(), rest), (a, &b"tail"[..]));
        }
        assert!(split_escaped(b"ab").is_none());
        assert!(split_escaped(b"a\0b").is_none());
        let mut x = Vec::new();
        push_i64_ordered(&mut x, -1);
        let mut y = Vec::new();
        push_i64_ordered(&mut y, 0);
        assert!(x < y);
    }

    #[test]
    fn spills_and_cleans_up() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("scratch");
        let mut s = SpillSorter::new(0, &base);
        let mut want = Vec::new();
        for i in 0..20_000u32 {
            let k = (i % 97).to_be_bytes().to_vec();
            let p = i.to_le_bytes().to_vec();
            s.add(&k, &p).unwrap();
            want.push((k, p));
        }
        assert!(s.spilled_runs() > 1);
        assert!(s.created_base());
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(drain(s), want);
        // The private run directory is gone; the created base remains.
        assert_eq!(std::fs::read_dir(&base).unwrap().count(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn stable_sort_whatever_the_budget(
            recs in proptest::collection::vec((0u8..4, any::<u16>()), 0..3000),
            budget in 100u64..4000,
            fan_in in 2usize..6,
        ) {
            let t = tempfile::tempdir().unwrap();
            let mut s = SpillSorter::with_limits(budget, fan_in, t.path());
            let mut want = Vec::new();
            for (k, p) in &recs {
                let key = vec![*k; 1 + (*k as usize)];
                let payload = p.to_le_bytes().to_vec();
                s.add(&key, &payload).unwrap();
                want.push((key, payload));
            }
            want.sort_by(|a, b| a.0.cmp(&b.0));
            prop_assert_eq!(drain(s), want);
        }
    }
}
