//! Run files: the one on-disk format of spilled records.
//!
//! A run is an anonymous temporary file (unlinked from the start, so it
//! leaves nothing behind whatever ends the process) holding records in
//! key order, each as `key length (u32 LE) | payload length (u32 LE) |
//! key | payload`. The reader knows the record count, so a short file is
//! an error rather than an early end.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoResultExt, Result};

/// Write buffer of a run being spilled or merged.
const WRITE_BUFFER: usize = 1 << 20;
/// Read buffer of each run being merged (the merge's fixed memory is this
/// times the fan-in).
pub(super) const READ_BUFFER: usize = 128 << 10;

/// A finished run: its file (positioned at the start) and what it holds.
pub(super) struct Run {
    file: File,
    pub(super) records: u64,
    /// How many merges produced it (0: spilled straight from memory).
    pub(super) level: u32,
}

pub(super) struct RunWriter {
    w: BufWriter<File>,
    dir: PathBuf,
    records: u64,
    level: u32,
}

impl RunWriter {
    pub(super) fn create(dir: &Path, level: u32) -> Result<RunWriter> {
        let f = tempfile::tempfile_in(dir).io_at(dir, "create sort run in")?;
        Ok(RunWriter {
            w: BufWriter::with_capacity(WRITE_BUFFER, f),
            dir: dir.to_path_buf(),
            records: 0,
            level,
        })
    }

    /// Append one record. Lengths must fit u32 (the sorter checks on add).
    pub(super) fn push(&mut self, key: &[u8], payload: &[u8]) -> Result<()> {
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&(key.len() as u32).to_le_bytes());
        head[4..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        self.w
            .write_all(&head)
            .and_then(|()| self.w.write_all(key))
            .and_then(|()| self.w.write_all(payload))
            .io_at(&self.dir, "write sort run in")?;
        self.records += 1;
        Ok(())
    }

    pub(super) fn finish(self) -> Result<Run> {
        let dir = self.dir;
        let mut file = self
            .w
            .into_inner()
            .map_err(|e| Error::io_at(&dir, "write sort run in", e.into_error()))?;
        file.rewind().io_at(&dir, "rewind sort run in")?;
        Ok(Run {
            file,
            records: self.records,
            level: self.level,
        })
    }
}

/// Reads a run one record at a time into a reused buffer.
pub(super) struct RunReader {
    r: BufReader<File>,
    dir: PathBuf,
    left: u64,
    buf: Vec<u8>,
    klen: usize,
}

impl RunReader {
    pub(super) fn new(run: Run, dir: &Path) -> RunReader {
        RunReader {
            r: BufReader::with_capacity(READ_BUFFER, run.file),
            dir: dir.to_path_buf(),
            left: run.records,
            buf: Vec::new(),
            klen: 0,
        }
    }

    /// Load the next record; false at the end of the run.
    pub(super) fn advance(&mut self) -> Result<bool> {
        if self.left == 0 {
            self.buf = Vec::new();
            return Ok(false);
        }
        let mut head = [0u8; 8];
        self.r
            .read_exact(&mut head)
            .map_err(|e| self.read_error(e))?;
        let klen = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let plen = u32::from_le_bytes(head[4..].try_into().expect("4 bytes")) as usize;
        self.buf.clear();
        self.buf.resize(klen + plen, 0);
        self.r
            .read_exact(&mut self.buf)
            .map_err(|e| self.read_error(e))?;
        self.klen = klen;
        self.left -= 1;
        Ok(true)
    }

    fn read_error(&self, e: io::Error) -> Error {
        Error::io_at(&self.dir, "read sort run in", e)
    }

    pub(super) fn key(&self) -> &[u8] {
        &self.buf[..self.klen]
    }

    pub(super) fn payload(&self) -> &[u8] {
        &self.buf[self.klen..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_short_run_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let mut w = RunWriter::create(t.path(), 0).unwrap();
        w.push(b"k1", b"").unwrap();
        w.push(b"", b"p2").unwrap();
        w.push(b"k3", b"p3").unwrap();
        let run = w.finish().unwrap();
        assert_eq!(run.records, 3);
        let mut r = RunReader::new(run, t.path());
        let mut got = Vec::new();
        while r.advance().unwrap() {
            got.push((r.key().to_vec(), r.payload().to_vec()));
        }
        assert_eq!(
            got,
            [
                (b"k1".to_vec(), vec![]),
                (vec![], b"p2".to_vec()),
                (b"k3".to_vec(), b"p3".to_vec())
            ]
        );
        // Nothing is left in the directory: runs are anonymous.
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);

        let mut w = RunWriter::create(t.path(), 0).unwrap();
        w.push(b"k", b"p").unwrap();
        let mut run = w.finish().unwrap();
        run.records = 2;
        let mut r = RunReader::new(run, t.path());
        assert!(r.advance().unwrap());
        assert!(r.advance().is_err());
    }
}
