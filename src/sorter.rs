//! Bounded-memory sort of snapshot entries by encoded key.
//!
//! Entries are staged in one arena; past the memory budget the arena is
//! sorted and spilled as a run file, and the runs are k-way merged at the
//! end. Output bytes do not depend on the budget. Duplicate keys and
//! oversize entries are rejected as upstream's builder rejects them.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rayon::slice::ParallelSliceMut;

use crate::error::{Error, IoResultExt, Result};
use crate::fsm::{self, FsmWriter};

/// Book-keeping cost charged per entry on top of its bytes.
const PER_ENTRY_OVERHEAD: u64 = 24;

#[derive(Clone, Copy)]
struct Slot {
    off: u64,
    klen: u32,
    vlen: u32,
}

/// Collects `(user key, user value)` pairs stamped with one commit TS.
pub struct EntrySorter {
    commit_ts: u64,
    budget: u64,
    arena: Vec<u8>,
    slots: Vec<Slot>,
    runs: Vec<tempfile::NamedTempFile>,
    spill_dir: PathBuf,
    entries: u64,
}

/// Counters a caller can report.
#[derive(Debug, Default, Clone, Copy)]
pub struct SortStats {
    pub entries: u64,
    pub spilled_runs: usize,
}

impl EntrySorter {
    pub fn new(commit_ts: u64, budget: u64, spill_dir: &Path) -> Self {
        EntrySorter {
            commit_ts,
            budget: budget.max(1 << 20),
            arena: Vec::new(),
            slots: Vec::new(),
            runs: Vec::new(),
            spill_dir: spill_dir.to_path_buf(),
            entries: 0,
        }
    }

    /// Stage one live entry (`expireAt` 0, as every upstream adapter writes).
    pub fn add(&mut self, user_key: &[u8], user_value: &[u8]) -> Result<()> {
        let klen = user_key.len() + fsm::TS_SUFFIX_LEN;
        if klen as u64 > fsm::MAX_ENCODED_KEY {
            return Err(Error::data(format!(
                "encoded key too large: user key {} is {} bytes (limit {})",
                show_key(user_key),
                user_key.len(),
                fsm::MAX_ENCODED_KEY - 8
            )));
        }
        let vlen = user_value.len() + fsm::VALUE_HEADER_LEN;
        if vlen as u64 > fsm::MAX_ENCODED_VALUE {
            return Err(Error::data(format!(
                "encoded value too large: value of {} is {} bytes (limit {})",
                show_key(user_key),
                user_value.len(),
                fsm::MAX_ENCODED_VALUE - 9
            )));
        }
        let off = self.arena.len() as u64;
        self.arena.extend_from_slice(user_key);
        self.arena
            .extend_from_slice(&(!self.commit_ts).to_be_bytes());
        self.arena.push(0);
        self.arena.extend_from_slice(&0u64.to_le_bytes());
        self.arena.extend_from_slice(user_value);
        self.slots.push(Slot {
            off,
            klen: klen as u32,
            vlen: vlen as u32,
        });
        self.entries += 1;
        if self.staged_bytes() > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    fn staged_bytes(&self) -> u64 {
        self.arena.len() as u64 + self.slots.len() as u64 * PER_ENTRY_OVERHEAD
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    fn key_of<'a>(arena: &'a [u8], s: &Slot) -> &'a [u8] {
        &arena[s.off as usize..s.off as usize + s.klen as usize]
    }

    fn sort_staged(&mut self) -> Result<()> {
        let arena = &self.arena;
        self.slots
            .par_sort_unstable_by(|a, b| Self::key_of(arena, a).cmp(Self::key_of(arena, b)));
        for w in self.slots.windows(2) {
            if Self::key_of(arena, &w[0]) == Self::key_of(arena, &w[1]) {
                return Err(duplicate(Self::key_of(arena, &w[0])));
            }
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        if self.slots.is_empty() {
            return Ok(());
        }
        self.sort_staged()?;
        let tmp = tempfile::Builder::new()
            .prefix("ekvplan-sort-run-")
            .tempfile_in(&self.spill_dir)
            .io_at(&self.spill_dir, "create sort run in")?;
        {
            let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
            for s in &self.slots {
                let rec =
                    &self.arena[s.off as usize..s.off as usize + s.klen as usize + s.vlen as usize];
                w.write_all(&s.klen.to_le_bytes())
                    .and_then(|_| w.write_all(&s.vlen.to_le_bytes()))
                    .and_then(|_| w.write_all(rec))
                    .io_at(tmp.path(), "write sort run")?;
            }
            w.flush().io_at(tmp.path(), "write sort run")?;
        }
        self.runs.push(tmp);
        self.arena = Vec::new();
        self.slots = Vec::new();
        Ok(())
    }

    /// Write the sorted stream (header included) into `out`.
    pub fn write_to<W: Write>(mut self, out: W) -> Result<(W, SortStats)> {
        let mut w = FsmWriter::new(out, self.commit_ts).io_ctx("write snapshot header")?;
        let stats = SortStats {
            entries: self.entries,
            spilled_runs: self.runs.len()
                + usize::from(!self.runs.is_empty() && !self.slots.is_empty()),
        };
        if self.runs.is_empty() {
            self.sort_staged()?;
            for s in &self.slots {
                let k = s.off as usize;
                let v = k + s.klen as usize;
                w.write_encoded(&self.arena[k..v], &self.arena[v..v + s.vlen as usize])
                    .io_ctx("write snapshot")?;
            }
            return Ok((w.into_inner(), stats));
        }
        self.spill()?;
        let mut readers = Vec::with_capacity(self.runs.len());
        for r in &self.runs {
            let f = r.reopen().io_at(r.path(), "reopen sort run")?;
            readers.push(RunReader::new(f));
        }
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(rec) = r.next().io_ctx("read sort run")? {
                heap.push(HeapItem { rec, run: i });
            }
        }
        let mut prev: Option<Vec<u8>> = None;
        while let Some(HeapItem { rec, run }) = heap.pop() {
            if prev.as_deref() == Some(rec.key()) {
                return Err(duplicate(rec.key()));
            }
            w.write_encoded(rec.key(), rec.value())
                .io_ctx("write snapshot")?;
            let mut p = prev.take().unwrap_or_default();
            p.clear();
            p.extend_from_slice(rec.key());
            prev = Some(p);
            if let Some(next) = readers[run].next().io_ctx("read sort run")? {
                heap.push(HeapItem { rec: next, run });
            }
        }
        Ok((w.into_inner(), stats))
    }
}

fn show_key(user_key: &[u8]) -> String {
    let shown = &user_key[..user_key.len().min(80)];
    format!(
        "{:?}{}",
        String::from_utf8_lossy(shown),
        if user_key.len() > 80 { "…" } else { "" }
    )
}

fn duplicate(encoded_key: &[u8]) -> Error {
    let user = &encoded_key[..encoded_key.len() - fsm::TS_SUFFIX_LEN];
    Error::data(format!("duplicate key: userKey {}", show_key(user)))
}

struct Rec {
    buf: Vec<u8>,
    klen: usize,
}

impl Rec {
    fn key(&self) -> &[u8] {
        &self.buf[..self.klen]
    }
    fn value(&self) -> &[u8] {
        &self.buf[self.klen..]
    }
}

struct HeapItem {
    rec: Rec,
    run: usize,
}

impl PartialEq for HeapItem {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for HeapItem {}
impl PartialOrd for HeapItem {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for HeapItem {
    // Min-heap on key, ties broken by run so equal keys surface together.
    fn cmp(&self, o: &Self) -> Ordering {
        o.rec.key().cmp(self.rec.key()).then(o.run.cmp(&self.run))
    }
}

struct RunReader {
    r: BufReader<File>,
}

impl RunReader {
    fn new(f: File) -> Self {
        RunReader {
            r: BufReader::with_capacity(256 * 1024, f),
        }
    }
    fn next(&mut self) -> io::Result<Option<Rec>> {
        let mut h = [0u8; 8];
        match self.r.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let klen = u32::from_le_bytes(h[..4].try_into().expect("4")) as usize;
        let vlen = u32::from_le_bytes(h[4..].try_into().expect("4")) as usize;
        let mut buf = vec![0u8; klen + vlen];
        self.r.read_exact(&mut buf)?;
        Ok(Some(Rec { buf, klen }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode_all(entries: &[(Vec<u8>, Vec<u8>)], budget: u64) -> Result<(Vec<u8>, SortStats)> {
        let dir = tempfile::tempdir().unwrap();
        let mut s = EntrySorter::new(77, budget, dir.path());
        s.budget = budget; // allow tiny budgets in tests
        for (k, v) in entries {
            s.add(k, v)?;
        }
        s.write_to(Vec::new())
    }

    #[test]
    fn prefix_keys_sort_by_encoded_key_not_user_key() {
        let (out, _) = encode_all(
            &[
                (b"a".to_vec(), b"1".to_vec()),
                (b"a\x00".to_vec(), b"2".to_vec()),
            ],
            1 << 30,
        )
        .unwrap();
        let mut r = fsm::FsmReader::new(&out[..]).unwrap();
        assert_eq!(r.next_entry().unwrap().unwrap().user_key, b"a\x00");
        assert_eq!(r.next_entry().unwrap().unwrap().user_key, b"a");
    }

    #[test]
    fn duplicates_rejected_in_memory_and_across_runs() {
        let e = vec![
            (b"x".to_vec(), b"1".to_vec()),
            (b"x".to_vec(), b"2".to_vec()),
        ];
        assert!(encode_all(&e, 1 << 30).is_err());
        assert!(encode_all(&e, 1).is_err());
    }

    #[test]
    fn oversize_rejected() {
        let big = vec![0u8; (1 << 20) + 1];
        assert!(encode_all(&[(big, vec![])], 1 << 30).is_err());
        let ok = vec![0u8; 1 << 20];
        assert!(encode_all(&[(ok, vec![])], 1 << 30).is_ok());
    }

    proptest! {
        #[test]
        fn spill_path_is_byte_identical_to_in_memory(
            keys in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..12), 0..200),
            budget in 1u64..2000,
        ) {
            let entries: Vec<_> = keys.into_iter().rev().map(|k| { let v = k.repeat(3); (k, v) }).collect();
            let (mem, s1) = encode_all(&entries, 1 << 30).unwrap();
            let (spilled, _) = encode_all(&entries, budget).unwrap();
            prop_assert_eq!(s1.spilled_runs, 0);
            prop_assert_eq!(&mem, &spilled);
            // And the stream reads back in sorted order with every entry.
            let mut r = fsm::FsmReader::new(&mem[..]).unwrap();
            let mut n = 0; let mut prev: Option<Vec<u8>> = None;
            while let Some(e) = r.next_entry().unwrap() {
                let mut k = e.user_key.to_vec(); k.extend_from_slice(&(!77u64).to_be_bytes());
                if let Some(p) = &prev { prop_assert!(p < &k); }
                prev = Some(k); n += 1;
            }
            prop_assert_eq!(n, entries.len());
        }
    }
}
