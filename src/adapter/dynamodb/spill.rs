//! Bounded-memory buffers for the decoder: an append-only record log
//! (items arrive before their table's schema, so they wait here) and a
//! small external sorter (jsonl bundles are written in a canonical order).
//! Both keep data in memory up to a budget, then in anonymous temp files.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{IoResultExt, Result};

fn temp_file(dir: &Path) -> Result<File> {
    tempfile::tempfile_in(dir).io_at(dir, "create temporary file in")
}

fn read_exact_or_eof(r: &mut impl Read, buf: &mut [u8], dir: &Path) -> Result<bool> {
    let mut n = 0;
    while n < buf.len() {
        let k = r.read(&mut buf[n..]).io_at(dir, "read temporary file in")?;
        if k == 0 {
            if n == 0 {
                return Ok(false);
            }
            return Err(crate::Error::io_at(
                dir,
                "read temporary file in",
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        n += k;
    }
    Ok(true)
}

/// An append-only log of `(table, generation, body)` records, replayable
/// any number of times in append order.
pub struct RecordLog {
    dir: PathBuf,
    limit: usize,
    mem: Vec<u8>,
    file: Option<BufWriter<File>>,
}

const LOG_HEADER: usize = 4 + 8 + 8;

impl RecordLog {
    pub fn new(dir: &Path, limit: usize) -> Self {
        RecordLog {
            dir: dir.to_path_buf(),
            limit,
            mem: Vec::new(),
            file: None,
        }
    }

    pub fn append(&mut self, table: u32, generation: u64, body: &[u8]) -> Result<()> {
        let mut head = [0u8; LOG_HEADER];
        head[..4].copy_from_slice(&table.to_le_bytes());
        head[4..12].copy_from_slice(&generation.to_le_bytes());
        head[12..].copy_from_slice(&(body.len() as u64).to_le_bytes());
        if self.file.is_none() && self.mem.len() + LOG_HEADER + body.len() > self.limit {
            let mut f = BufWriter::with_capacity(1 << 20, temp_file(&self.dir)?);
            f.write_all(&self.mem)
                .io_at(&self.dir, "write temporary file in")?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => {
                f.write_all(&head)
                    .and_then(|_| f.write_all(body))
                    .io_at(&self.dir, "write temporary file in")?;
            }
            None => {
                self.mem.extend_from_slice(&head);
                self.mem.extend_from_slice(body);
            }
        }
        Ok(())
    }

    /// Replay every record in append order.
    pub fn for_each(&mut self, mut f: impl FnMut(u32, u64, &[u8]) -> Result<()>) -> Result<()> {
        match &mut self.file {
            None => {
                let mut rest = &self.mem[..];
                while !rest.is_empty() {
                    let table = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
                    let generation = u64::from_le_bytes(rest[4..12].try_into().expect("8 bytes"));
                    let len =
                        u64::from_le_bytes(rest[12..20].try_into().expect("8 bytes")) as usize;
                    let body = &rest[LOG_HEADER..LOG_HEADER + len];
                    f(table, generation, body)?;
                    rest = &rest[LOG_HEADER + len..];
                }
                Ok(())
            }
            Some(w) => {
                w.flush().io_at(&self.dir, "write temporary file in")?;
                let file = w.get_mut();
                file.seek(SeekFrom::Start(0))
                    .io_at(&self.dir, "seek temporary file in")?;
                let mut r = BufReader::with_capacity(1 << 20, &*file);
                let mut head = [0u8; LOG_HEADER];
                let mut body = Vec::new();
                while read_exact_or_eof(&mut r, &mut head, &self.dir)? {
                    let table = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
                    let generation = u64::from_le_bytes(head[4..12].try_into().expect("8 bytes"));
                    let len = u64::from_le_bytes(head[12..].try_into().expect("8 bytes")) as usize;
                    body.resize(len, 0);
                    if !read_exact_or_eof(&mut r, &mut body, &self.dir)? && len > 0 {
                        return Err(crate::Error::io_at(
                            &self.dir,
                            "read temporary file in",
                            std::io::ErrorKind::UnexpectedEof.into(),
                        ));
                    }
                    f(table, generation, &body)?;
                }
                drop(r);
                file.seek(SeekFrom::End(0))
                    .io_at(&self.dir, "seek temporary file in")?;
                Ok(())
            }
        }
    }
}

/// Sorts `(key, value)` records by key (keys must be unique) within a
/// memory budget, spilling sorted runs and merging them at the end.
pub struct RecordSorter {
    dir: PathBuf,
    budget: usize,
    mem: Vec<(Vec<u8>, Vec<u8>)>,
    mem_bytes: usize,
    runs: Vec<File>,
}

/// Book-keeping charged per staged record on top of its bytes.
const RECORD_OVERHEAD: usize = 64;

impl RecordSorter {
    pub fn new(dir: &Path, budget: usize) -> Self {
        RecordSorter {
            dir: dir.to_path_buf(),
            budget,
            mem: Vec::new(),
            mem_bytes: 0,
            runs: Vec::new(),
        }
    }

    pub fn add(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        self.mem_bytes += key.len() + value.len() + RECORD_OVERHEAD;
        self.mem.push((key, value));
        if self.mem_bytes > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        self.mem.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut w = BufWriter::with_capacity(1 << 20, temp_file(&self.dir)?);
        for (k, v) in self.mem.drain(..) {
            w.write_all(&(k.len() as u64).to_le_bytes())
                .and_then(|_| w.write_all(&(v.len() as u64).to_le_bytes()))
                .and_then(|_| w.write_all(&k))
                .and_then(|_| w.write_all(&v))
                .io_at(&self.dir, "write temporary file in")?;
        }
        let mut f = w.into_inner().map_err(|e| {
            crate::Error::io_at(&self.dir, "write temporary file in", e.into_error())
        })?;
        f.seek(SeekFrom::Start(0))
            .io_at(&self.dir, "seek temporary file in")?;
        self.runs.push(f);
        self.mem_bytes = 0;
        Ok(())
    }

    /// Visit every record in key order.
    pub fn finish(mut self, mut f: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
        if self.runs.is_empty() {
            self.mem.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (k, v) in &self.mem {
                f(k, v)?;
            }
            return Ok(());
        }
        if !self.mem.is_empty() {
            self.spill()?;
        }
        let dir = self.dir.clone();
        let mut readers: Vec<BufReader<File>> = self
            .runs
            .drain(..)
            .map(|r| BufReader::with_capacity(256 << 10, r))
            .collect();
        let next = |r: &mut BufReader<File>| -> Result<Option<(Vec<u8>, Vec<u8>)>> {
            let mut head = [0u8; 16];
            if !read_exact_or_eof(r, &mut head, &dir)? {
                return Ok(None);
            }
            let kl = u64::from_le_bytes(head[..8].try_into().expect("8 bytes")) as usize;
            let vl = u64::from_le_bytes(head[8..].try_into().expect("8 bytes")) as usize;
            let mut k = vec![0u8; kl];
            let mut v = vec![0u8; vl];
            r.read_exact(&mut k).io_at(&dir, "read temporary file in")?;
            r.read_exact(&mut v).io_at(&dir, "read temporary file in")?;
            Ok(Some((k, v)))
        };
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some((k, v)) = next(r)? {
                heap.push(Reverse((k, i, v)));
            }
        }
        while let Some(Reverse((k, i, v))) = heap.pop() {
            f(&k, &v)?;
            if let Some((k2, v2)) = next(&mut readers[i])? {
                heap.push(Reverse((k2, i, v2)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_replays_in_order_in_memory_and_spilled() {
        for limit in [1 << 20, 10] {
            let t = tempfile::tempdir().unwrap();
            let mut log = RecordLog::new(t.path(), limit);
            for i in 0..50u32 {
                log.append(i % 3, u64::from(i), &vec![i as u8; i as usize])
                    .unwrap();
            }
            for _ in 0..2 {
                let mut seen = Vec::new();
                log.for_each(|t, g, b| {
                    seen.push((t, g, b.to_vec()));
                    Ok(())
                })
                .unwrap();
                assert_eq!(seen.len(), 50);
                for (i, (t, g, b)) in seen.iter().enumerate() {
                    assert_eq!((*t, *g, b.len()), (i as u32 % 3, i as u64, i));
                }
            }
        }
    }

    #[test]
    fn sorter_orders_across_runs() {
        for budget in [1 << 20, 200] {
            let t = tempfile::tempdir().unwrap();
            let mut s = RecordSorter::new(t.path(), budget);
            let mut keys: Vec<u32> = (0..500).map(|i| (i * 7919) % 1000).collect();
            for &k in &keys {
                s.add(k.to_be_bytes().to_vec(), vec![k as u8]).unwrap();
            }
            keys.sort();
            let mut got = Vec::new();
            s.finish(|k, v| {
                let kk = u32::from_be_bytes(k.try_into().unwrap());
                assert_eq!(v, [kk as u8]);
                got.push(kk);
                Ok(())
            })
            .unwrap();
            assert_eq!(got, keys);
        }
    }
}
