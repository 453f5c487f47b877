//! The one external sorter: `(key, payload)` records sorted by key bytes
//! in bounded memory. The encoder sorts `.fsm` entries with it
//! ([`EntrySorter`]); decoders use it to group and reorder records.
//!
//! Records are staged in one arena. Past the budget the arena is sorted
//! (in parallel) and spilled as a run file: an anonymous temporary file in
//! the spill directory, so no run outlives the process whatever ends it,
//! and dropping the sorter frees every run. The sorted stream is a k-way
//! merge of the runs and of what is still in memory. At most `fan_in` runs
//! are merged at once: when `fan_in` runs of one level pile up they are
//! merged into one run of the next level, and whatever is left above
//! `fan_in` at the end is merged in groups first, so open files and merge
//! buffers stay bounded (`fan_in` × 128 KiB of read buffers).
//!
//! **Ties.** With [`Ties::InsertionOrder`] records with equal keys come out
//! in the order they were added (the sort is stable; spills, merges and
//! cascades only ever merge consecutive runs, ties going to the earlier).
//! With [`Ties::Reject`] the stream fails when it reaches a second record
//! with the key of the one before. Either way the output does not depend
//! on the budget.
//!
//! Cancellation is checked while spilling and merging.

mod entries;
pub(crate) mod key;
mod merge;
mod run;

use std::path::{Path, PathBuf};

use rayon::slice::ParallelSliceMut;

pub use entries::EntrySorter;
use merge::{Merger, Source};
use run::{Run, RunReader, RunWriter};

use crate::cancel::CancelToken;
use crate::error::{Error, Kind, Result};
use crate::fsutil;

/// What records with equal keys mean.
#[derive(Clone, Copy)]
pub enum Ties {
    /// They come out in the order they were added.
    InsertionOrder,
    /// They are an error, made from the key by this function.
    Reject(fn(&[u8]) -> Error),
}

/// Budgets below this are raised to it.
const MIN_BUDGET: u64 = 4 << 10;
/// Runs merged at once.
pub const DEFAULT_FAN_IN: usize = 64;
/// Records, and bytes, between two cancellation checks.
const CHECK_EVERY: u64 = 4096;
const CHECK_BYTES: usize = 32 << 20;
/// Memory charged per staged record on top of its bytes (its slot).
const SLOT_COST: u64 = std::mem::size_of::<Slot>() as u64;

#[derive(Clone, Copy)]
struct Slot {
    off: usize,
    klen: u32,
    plen: u32,
}

/// Records in memory: their bytes back to back, and one slot each.
#[derive(Default)]
struct Staged {
    arena: Vec<u8>,
    slots: Vec<Slot>,
}

impl Staged {
    fn key(&self, s: &Slot) -> &[u8] {
        &self.arena[s.off..s.off + s.klen as usize]
    }

    fn payload(&self, s: &Slot) -> &[u8] {
        let start = s.off + s.klen as usize;
        &self.arena[start..start + s.plen as usize]
    }

    fn bytes(&self) -> u64 {
        self.arena.len() as u64 + self.slots.len() as u64 * SLOT_COST
    }

    /// Sort by key; arena offsets grow with insertion, so breaking ties by
    /// offset makes the (in-place, unstable) sort stable.
    fn sort(&mut self) {
        let arena = &self.arena;
        let key = |s: &Slot| &arena[s.off..s.off + s.klen as usize];
        self.slots
            .par_sort_unstable_by(|a, b| key(a).cmp(key(b)).then(a.off.cmp(&b.off)));
    }
}

/// The directory runs are created in; made whenever a run needs it and it
/// is missing (several sorters share one directory, and the one that made
/// it removes it, if empty, when it is done), then removed again (if
/// empty) when this sorter is done.
struct SpillDir {
    path: PathBuf,
    created: bool,
}

impl SpillDir {
    fn get(&mut self) -> Result<&Path> {
        if std::fs::symlink_metadata(&self.path).is_err() {
            fsutil::create_dir_all(&self.path)?;
            self.created = true;
        }
        Ok(&self.path)
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_dir(&self.path);
        }
    }
}

/// Checks cancellation every [`CHECK_EVERY`] records or [`CHECK_BYTES`]
/// bytes, whichever comes first.
#[derive(Default)]
struct Ticker {
    records: u64,
    bytes: usize,
}

impl Ticker {
    fn tick(&mut self, cancel: &Option<CancelToken>, bytes: usize) -> Result<()> {
        self.records += 1;
        self.bytes += bytes;
        if self.records % CHECK_EVERY == 0 || self.bytes >= CHECK_BYTES {
            self.bytes = 0;
            if let Some(c) = cancel {
                c.check()?;
            }
        }
        Ok(())
    }
}

fn too_large(what: &str, n: usize) -> Error {
    Error::data_kind(
        Kind::TooLarge,
        format!("{what} of {n} bytes is too large to sort"),
    )
}

pub struct ExternalSorter {
    budget: u64,
    fan_in: usize,
    ties: Ties,
    cancel: Option<CancelToken>,
    dir: SpillDir,
    staged: Staged,
    /// Spilled and merged runs, oldest records first.
    runs: Vec<Run>,
    records: u64,
    spills: usize,
}

impl ExternalSorter {
    /// A sorter holding about `budget` bytes of records in memory, spilling
    /// runs into `spill_dir`.
    pub fn new(budget: u64, spill_dir: impl Into<PathBuf>, ties: Ties) -> ExternalSorter {
        ExternalSorter {
            budget: budget.max(MIN_BUDGET),
            fan_in: DEFAULT_FAN_IN,
            ties,
            cancel: None,
            dir: SpillDir {
                path: spill_dir.into(),
                created: false,
            },
            staged: Staged::default(),
            runs: Vec::new(),
            records: 0,
            spills: 0,
        }
    }

    /// Check `cancel` while spilling and merging.
    pub fn with_cancel(mut self, cancel: &CancelToken) -> ExternalSorter {
        self.cancel = Some(cancel.clone());
        self
    }

    /// Merge at most `n` (at least 2) runs at once.
    #[cfg(test)]
    pub fn with_fan_in(mut self, n: usize) -> ExternalSorter {
        self.fan_in = n.max(2);
        self
    }

    /// Drop the budget floor (to exercise spills with a few records).
    #[cfg(test)]
    pub(crate) fn with_exact_budget(mut self, budget: u64) -> ExternalSorter {
        self.budget = budget;
        self
    }

    pub fn add(&mut self, key: &[u8], payload: &[u8]) -> Result<()> {
        self.add_parts(&[key], &[payload])
    }

    /// Add a record whose key and payload are the concatenations of parts.
    pub fn add_parts(&mut self, key: &[&[u8]], payload: &[&[u8]]) -> Result<()> {
        let klen: usize = key.iter().map(|p| p.len()).sum();
        let plen: usize = payload.iter().map(|p| p.len()).sum();
        let klen = u32::try_from(klen).map_err(|_| too_large("sort key", klen))?;
        let plen = u32::try_from(plen).map_err(|_| too_large("record", plen))?;
        let s = &mut self.staged;
        let off = s.arena.len();
        for p in key.iter().chain(payload) {
            s.arena.extend_from_slice(p);
        }
        s.slots.push(Slot { off, klen, plen });
        self.records += 1;
        if s.bytes() > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Records added so far.
    pub fn len(&self) -> u64 {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// How many times the staged records were spilled to a run.
    pub fn spills(&self) -> usize {
        self.spills
    }

    /// Sort the staged records and write them as a run; then merge the
    /// newest runs while `fan_in` of them share a level.
    fn spill(&mut self) -> Result<()> {
        if self.staged.slots.is_empty() {
            return Ok(());
        }
        if let Some(c) = &self.cancel {
            c.check()?;
        }
        self.staged.sort();
        let dir = self.dir.get()?;
        let mut w = RunWriter::create(dir, 0)?;
        let mut ticker = Ticker::default();
        for s in &self.staged.slots {
            let (k, p) = (self.staged.key(s), self.staged.payload(s));
            ticker.tick(&self.cancel, k.len() + p.len())?;
            w.push(k, p)?;
        }
        self.runs.push(w.finish()?);
        // Keep the arena's memory for the next records.
        self.staged.arena.clear();
        self.staged.slots.clear();
        self.spills += 1;
        while self.runs.len() >= self.fan_in {
            let tail = &self.runs[self.runs.len() - self.fan_in..];
            let level = tail[0].level;
            if tail.iter().any(|r| r.level != level) {
                break;
            }
            let group = self.runs.split_off(self.runs.len() - self.fan_in);
            let merged = self.merge_runs(group, level + 1)?;
            self.runs.push(merged);
        }
        Ok(())
    }

    /// Merge consecutive runs into one.
    fn merge_runs(&mut self, group: Vec<Run>, level: u32) -> Result<Run> {
        let dir = self.dir.get()?.to_path_buf();
        let sources = group
            .into_iter()
            .map(|r| Source::Run(RunReader::new(r, &dir)))
            .collect();
        let mut m = Merger::new(sources)?;
        let mut w = RunWriter::create(&dir, level)?;
        let mut ticker = Ticker::default();
        while let Some(i) = m.next()? {
            let s = &m.sources[i];
            ticker.tick(&self.cancel, s.key().len() + s.payload().len())?;
            w.push(s.key(), s.payload())?;
        }
        w.finish()
    }

    /// Sort what was added; the records can then be read in order.
    pub fn finish(mut self) -> Result<Sorted> {
        self.staged.sort();
        // The final merge reads every run and the records in memory.
        while self.runs.len() + 1 > self.fan_in {
            let runs = std::mem::take(&mut self.runs);
            let mut groups = Vec::new();
            let mut it = runs.into_iter().peekable();
            while it.peek().is_some() {
                groups.push(it.by_ref().take(self.fan_in).collect::<Vec<_>>());
            }
            for g in groups {
                let level = g.iter().map(|r| r.level).max().unwrap_or(0) + 1;
                let merged = if g.len() == 1 {
                    g.into_iter().next().expect("one run")
                } else {
                    self.merge_runs(g, level)?
                };
                self.runs.push(merged);
            }
        }
        let mut sources: Vec<Source> = Vec::with_capacity(self.runs.len() + 1);
        if !self.runs.is_empty() {
            let dir = self.dir.get()?.to_path_buf();
            sources.extend(
                std::mem::take(&mut self.runs)
                    .into_iter()
                    .map(|r| Source::Run(RunReader::new(r, &dir))),
            );
        }
        sources.push(Source::Memory {
            staged: std::mem::take(&mut self.staged),
            next: 0,
        });
        Ok(Sorted {
            merger: Merger::new(sources)?,
            ties: self.ties,
            prev: None,
            cancel: self.cancel.take(),
            ticker: Ticker::default(),
            _dir: std::mem::replace(
                &mut self.dir,
                SpillDir {
                    path: PathBuf::new(),
                    created: false,
                },
            ),
        })
    }
}

/// The sorted records, read one at a time. Holds the runs until dropped.
pub struct Sorted {
    merger: Merger,
    ties: Ties,
    /// The previous key, kept only to reject ties.
    prev: Option<Vec<u8>>,
    cancel: Option<CancelToken>,
    ticker: Ticker,
    _dir: SpillDir,
}

impl Sorted {
    /// The next record as `(key, payload)`, or `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(&[u8], &[u8])>> {
        let Some(i) = self.merger.next()? else {
            return Ok(None);
        };
        let s = &self.merger.sources[i];
        self.ticker
            .tick(&self.cancel, s.key().len() + s.payload().len())?;
        if let Ties::Reject(dup) = self.ties {
            match &mut self.prev {
                Some(p) if p.as_slice() == s.key() => return Err(dup(s.key())),
                Some(p) => {
                    p.clear();
                    p.extend_from_slice(s.key());
                }
                None => self.prev = Some(s.key().to_vec()),
            }
        }
        Ok(Some((s.key(), s.payload())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(mut s: Sorted) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut v = Vec::new();
        while let Some((k, p)) = s.next()? {
            v.push((k.to_vec(), p.to_vec()));
        }
        Ok(v)
    }

    fn sorter(dir: &Path, budget: u64, fan_in: usize, ties: Ties) -> ExternalSorter {
        ExternalSorter::new(budget, dir, ties)
            .with_exact_budget(budget)
            .with_fan_in(fan_in)
    }

    fn dup(k: &[u8]) -> Error {
        Error::data(format!("duplicate {k:?}"))
    }

    #[test]
    fn empty_and_in_memory() {
        let t = tempfile::tempdir().unwrap();
        let s = ExternalSorter::new(1 << 20, t.path(), Ties::InsertionOrder);
        assert!(s.is_empty());
        assert!(drain(s.finish().unwrap()).unwrap().is_empty());
        let mut s = ExternalSorter::new(1 << 20, t.path(), Ties::InsertionOrder);
        s.add(b"b", b"1").unwrap();
        s.add_parts(&[b"a", b"x"], &[b"2", b"", b"3"]).unwrap();
        s.add(b"a", b"4").unwrap();
        assert_eq!(s.spills(), 0);
        assert_eq!(
            drain(s.finish().unwrap()).unwrap(),
            [
                (b"a".to_vec(), b"4".to_vec()),
                (b"ax".to_vec(), b"23".to_vec()),
                (b"b".to_vec(), b"1".to_vec())
            ]
        );
    }

    #[test]
    fn spills_cascade_and_clean_up() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("made-on-demand");
        let mut s = sorter(&dir, 64, 3, Ties::InsertionOrder);
        let mut want = Vec::new();
        for i in 0..2000u32 {
            let k = (i % 97).to_be_bytes().to_vec();
            let p = i.to_le_bytes().to_vec();
            s.add(&k, &p).unwrap();
            want.push((k, p));
        }
        assert!(s.spills() > 100);
        // Cascades keep few runs open.
        assert!(s.runs.len() <= 2 * 7 + 1, "{} runs", s.runs.len());
        assert!(dir.is_dir());
        want.sort_by(|a, b| a.0.cmp(&b.0));
        let sorted = s.finish().unwrap();
        assert_eq!(drain(sorted).unwrap(), want);
        // The directory the sorter made is gone with it.
        assert!(!dir.exists());
    }

    #[test]
    fn sorters_sharing_a_spill_directory_outlive_each_other() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("shared");
        let fill = |s: &mut ExternalSorter| {
            for i in 0..200u32 {
                s.add(&i.to_be_bytes(), b"payload").unwrap();
            }
        };
        let mut first = sorter(&dir, 64, 3, Ties::InsertionOrder);
        let mut second = sorter(&dir, 64, 3, Ties::InsertionOrder);
        fill(&mut first);
        fill(&mut second);
        // The sorter that made the directory is done and removes it...
        assert_eq!(drain(first.finish().unwrap()).unwrap().len(), 200);
        assert!(!dir.exists());
        // ...while the other still spills and merges into it.
        fill(&mut second);
        assert_eq!(drain(second.finish().unwrap()).unwrap().len(), 400);
        assert!(!dir.exists());
    }

    #[test]
    fn duplicates_rejected_in_memory_and_across_runs() {
        let t = tempfile::tempdir().unwrap();
        for budget in [1 << 20, 1] {
            let mut s = sorter(t.path(), budget, 2, Ties::Reject(dup));
            for k in [&b"b"[..], b"x", b"a", b"x", b"c"] {
                s.add(k, b"").unwrap();
            }
            let e = drain(s.finish().unwrap()).unwrap_err();
            assert!(e.to_string().contains("duplicate [120]"), "{e}");
        }
        let mut s = sorter(t.path(), 1, 2, Ties::Reject(dup));
        for k in [&b"b"[..], b"", b"a"] {
            s.add(k, b"").unwrap();
        }
        assert_eq!(drain(s.finish().unwrap()).unwrap().len(), 3);
    }

    #[test]
    fn cancellation_stops_spills_and_merges() {
        let t = tempfile::tempdir().unwrap();
        let cancel = CancelToken::new();
        let mut s = sorter(t.path(), 1 << 20, 2, Ties::InsertionOrder).with_cancel(&cancel);
        for i in 0..10_000u32 {
            s.add(&i.to_be_bytes(), b"").unwrap();
        }
        cancel.cancel();
        let mut sorted = s.finish().unwrap();
        let mut n = 0;
        let e = loop {
            match sorted.next() {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("not cancelled"),
                Err(e) => break e,
            }
        };
        assert!(matches!(e, Error::Interrupted));
        assert!(n < CHECK_EVERY as usize);
        let mut s = sorter(t.path(), 1000, 2, Ties::InsertionOrder).with_cancel(&cancel);
        let e = (0..100_000u32)
            .try_for_each(|i| s.add(&i.to_be_bytes(), &[0; 64]))
            .unwrap_err();
        assert!(matches!(e, Error::Interrupted));
    }

    #[test]
    fn oversize_records_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let mut s = ExternalSorter::new(1 << 20, t.path(), Ties::InsertionOrder);
        let big = vec![0u8; 1 << 16];
        let parts: Vec<&[u8]> = std::iter::repeat_n(&big[..], (1 << 16) + 1).collect();
        assert!(s.add_parts(&parts, &[]).is_err());
        assert!(s.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any budget and fan-in: the in-memory stable sort.
        #[test]
        fn stable_whatever_the_budget(
            recs in proptest::collection::vec((0u8..6, any::<u16>()), 0..1500),
            budget in 1u64..3000,
            fan_in in 2usize..6,
        ) {
            let t = tempfile::tempdir().unwrap();
            let mut s = sorter(t.path(), budget, fan_in, Ties::InsertionOrder);
            let mut want = Vec::new();
            for (k, p) in &recs {
                // Keys of varying length, some prefixes of others.
                let key = vec![b'k'; *k as usize];
                let payload = p.to_le_bytes().to_vec();
                s.add(&key, &payload).unwrap();
                want.push((key, payload));
            }
            want.sort_by(|a, b| a.0.cmp(&b.0));
            prop_assert_eq!(drain(s.finish().unwrap()).unwrap(), want);
        }

        /// Unique keys come out sorted; one repeated key is always caught.
        #[test]
        fn duplicates_found_whatever_the_budget(
            keys in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..6), 1..300),
            budget in 1u64..2000,
            fan_in in 2usize..5,
            pick in any::<prop::sample::Index>(),
        ) {
            let keys: Vec<Vec<u8>> = keys.into_iter().rev().collect();
            let t = tempfile::tempdir().unwrap();
            let mut s = sorter(t.path(), budget, fan_in, Ties::Reject(dup));
            for k in &keys {
                s.add(k, k).unwrap();
            }
            let got = drain(s.finish().unwrap()).unwrap();
            let mut want: Vec<_> = keys.iter().map(|k| (k.clone(), k.clone())).collect();
            want.sort();
            prop_assert_eq!(got, want);

            let mut s = sorter(t.path(), budget, fan_in, Ties::Reject(dup));
            for k in &keys {
                s.add(k, b"").unwrap();
            }
            let again: &Vec<u8> = pick.get(&keys);
            s.add(again, b"again").unwrap();
            prop_assert!(drain(s.finish().unwrap()).is_err());
        }
    }
}
