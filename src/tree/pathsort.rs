//! Path-keyed records for the tree sinks (CHECKSUMS lines, produced and
//! input paths of a comparison), sorted by the one external sorter: bounded
//! memory, spilled under a scratch directory.

use std::path::Path;

use crate::cancel::CancelToken;
use crate::error::Result;
use crate::sorter::{ExternalSorter, Sorted, Ties};

pub struct PathSorter(ExternalSorter);

/// The records of a [`PathSorter`] in key order.
pub struct SortedPaths(Sorted);

impl PathSorter {
    /// `budget`: bytes held in memory before a run is spilled under `dir`.
    pub fn new(budget: u64, dir: &Path) -> Self {
        PathSorter(ExternalSorter::new(budget, dir, Ties::InsertionOrder))
    }

    /// Check `cancel` while spilling and merging.
    pub fn with_cancel(self, cancel: &CancelToken) -> Self {
        PathSorter(self.0.with_cancel(cancel))
    }

    pub fn add(&mut self, key: &[u8], payload: &[u8]) -> Result<()> {
        self.0.add(key, payload)
    }

    pub fn finish(self) -> Result<SortedPaths> {
        Ok(SortedPaths(self.0.finish()?))
    }
}

impl SortedPaths {
    /// The next record into `key` / `payload`; false at the end.
    pub fn next_into(&mut self, key: &mut Vec<u8>, payload: &mut Vec<u8>) -> Result<bool> {
        match self.0.next()? {
            Some((k, p)) => {
                key.clear();
                key.extend_from_slice(k);
                payload.clear();
                payload.extend_from_slice(p);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// `path` + NUL + `seq` (big-endian): sorts by path, then by emission
/// order (paths never hold NUL).
pub fn key(path: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(path.len() + 9);
    k.extend_from_slice(path);
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The path of a [`key`].
pub fn key_path(key: &[u8]) -> &[u8] {
    &key[..key.len().saturating_sub(9)]
}

/// Reads sorted keyed records one path at a time (the last record of a
/// path wins), with the next path visible ahead.
pub struct Grouped {
    sorted: SortedPaths,
    ahead: Option<(Vec<u8>, Vec<u8>)>,
    started: bool,
}

impl Grouped {
    pub fn new(sorted: SortedPaths) -> Self {
        Grouped {
            sorted,
            ahead: None,
            started: false,
        }
    }

    fn pull(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let (mut k, mut p) = (Vec::new(), Vec::new());
        Ok(self.sorted.next_into(&mut k, &mut p)?.then_some((k, p)))
    }

    /// The next path and the payload of its last record.
    pub fn next_path(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if !self.started {
            self.started = true;
            self.ahead = self.pull()?;
        }
        let Some((k, mut payload)) = self.ahead.take() else {
            return Ok(None);
        };
        let path = key_path(&k).to_vec();
        loop {
            match self.pull()? {
                Some((k2, p2)) if key_path(&k2) == path.as_slice() => payload = p2,
                other => {
                    self.ahead = other;
                    break;
                }
            }
        }
        Ok(Some((path, payload)))
    }

    /// The path after the one `next_path` returned last.
    pub fn peek_path(&self) -> Option<&[u8]> {
        self.ahead.as_ref().map(|(k, _)| key_path(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_the_last_record_and_look_ahead() {
        let t = tempfile::tempdir().unwrap();
        let mut s = PathSorter::new(1 << 20, t.path());
        s.add(&key(b"b", 2), b"b2").unwrap();
        s.add(&key(b"a/", 1), b"d").unwrap();
        s.add(&key(b"b", 1), b"b1").unwrap();
        s.add(&key(b"a-b", 0), b"x").unwrap();
        let mut g = Grouped::new(s.finish().unwrap());
        assert_eq!(
            g.next_path().unwrap(),
            Some((b"a-b".to_vec(), b"x".to_vec()))
        );
        assert_eq!(
            g.next_path().unwrap(),
            Some((b"a/".to_vec(), b"d".to_vec()))
        );
        assert_eq!(g.peek_path(), Some(&b"b"[..]));
        assert_eq!(
            g.next_path().unwrap(),
            Some((b"b".to_vec(), b"b2".to_vec()))
        );
        assert_eq!(g.peek_path(), None);
        assert_eq!(g.next_path().unwrap(), None);
    }
}
