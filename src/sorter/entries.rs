//! The encoder's sort: `(user key, user value)` pairs stamped with one
//! commit TS, ordered by encoded key and written as the `.fsm` stream.
//! Duplicate keys and oversize entries are rejected as upstream's builder
//! rejects them.

use std::io::Write;
use std::path::Path;

use super::{ExternalSorter, Ties};
use crate::cancel::CancelToken;
use crate::error::{Error, IoResultExt, Kind, Result};
use crate::fsm::{self, FsmWriter};

/// Collects live entries (`expireAt` 0, as every upstream adapter writes).
pub struct EntrySorter {
    commit_ts: u64,
    sorter: ExternalSorter,
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
            sorter: ExternalSorter::new(budget, spill_dir, Ties::Reject(duplicate)),
        }
    }

    pub fn with_cancel(mut self, cancel: &CancelToken) -> Self {
        self.sorter = self.sorter.with_cancel(cancel);
        self
    }

    /// Stage one entry: the key gets the commit-TS suffix, the value its
    /// header.
    pub fn add(&mut self, user_key: &[u8], user_value: &[u8]) -> Result<()> {
        if (user_key.len() + fsm::TS_SUFFIX_LEN) as u64 > fsm::MAX_ENCODED_KEY {
            return Err(Error::data(format!(
                "encoded key too large: user key {} is {} bytes (limit {})",
                show_key(user_key),
                user_key.len(),
                fsm::MAX_ENCODED_KEY - 8
            ))
            .with_kind(Kind::KeyTooLarge));
        }
        if (user_value.len() + fsm::VALUE_HEADER_LEN) as u64 > fsm::MAX_ENCODED_VALUE {
            return Err(Error::data(format!(
                "encoded value too large: value of {} is {} bytes (limit {})",
                show_key(user_key),
                user_value.len(),
                fsm::MAX_ENCODED_VALUE - 9
            ))
            .with_kind(Kind::ValueTooLarge));
        }
        let ts = (!self.commit_ts).to_be_bytes();
        // Header: not a tombstone, no expiry.
        let header = [0u8; fsm::VALUE_HEADER_LEN];
        self.sorter
            .add_parts(&[user_key, &ts], &[&header, user_value])
    }

    pub fn entries(&self) -> u64 {
        self.sorter.len()
    }

    /// Write the sorted stream (header included) into `out`.
    pub fn write_to<W: Write>(self, out: W) -> Result<(W, SortStats)> {
        let mut w = FsmWriter::new(out, self.commit_ts).io_ctx("write snapshot header")?;
        let stats = SortStats {
            entries: self.sorter.len(),
            spilled_runs: self.sorter.spills(),
        };
        let mut sorted = self.sorter.finish()?;
        while let Some((key, value)) = sorted.next()? {
            w.write_encoded(key, value).io_ctx("write snapshot")?;
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
    Error::data_kind(
        Kind::DuplicateKey,
        format!("duplicate key: userKey {}", show_key(user)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode_all(entries: &[(Vec<u8>, Vec<u8>)], budget: u64) -> Result<(Vec<u8>, SortStats)> {
        let dir = tempfile::tempdir().unwrap();
        let mut s = EntrySorter::new(77, budget, dir.path());
        s.sorter = s.sorter.with_exact_budget(budget).with_fan_in(3);
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
        for budget in [1 << 30, 1] {
            let err = encode_all(&e, budget).unwrap_err();
            assert_eq!(err.to_string(), "duplicate key: userKey \"x\"");
        }
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
