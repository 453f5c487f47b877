//! Where chunk payloads wait during a decode: append-only spill files,
//! and the index of chunkblob payloads by digest.
//!
//! Chunkblobs are content-addressed and looked up by digest when the
//! objects referring to them are flushed. The index goes through the
//! external sorter and is then kept as a table of fixed-size records
//! sorted by digest in an anonymous scratch file, with one digest per
//! block of records in memory: a lookup reads one block, and memory stays
//! at the sorter's share while the stream is read and at 1/[`BLOCK`] of
//! the table afterwards, however many chunkblobs the dump holds.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;

use crate::adapter::CancelToken;
use crate::error::{Error, IoResultExt, Result};
use crate::fsutil;
use crate::sorter::{ExternalSorter, Ties};
use crate::tree::{FileWriter, TreeOut};

/// Where a spilled payload lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub file: u32,
    pub off: u64,
    pub len: u64,
}

impl Loc {
    const ENCODED: usize = 4 + 8 + 8;

    fn encode(&self) -> [u8; Loc::ENCODED] {
        let mut b = [0u8; Loc::ENCODED];
        b[..4].copy_from_slice(&self.file.to_be_bytes());
        b[4..12].copy_from_slice(&self.off.to_be_bytes());
        b[12..].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Loc> {
        Some(Loc {
            file: u32::from_be_bytes(b.get(..4)?.try_into().ok()?),
            off: u64::from_be_bytes(b.get(4..12)?.try_into().ok()?),
            len: u64::from_be_bytes(b.get(12..20)?.try_into().ok()?),
        })
    }
}

/// Append-only payload files `<scratch>/s3/<id>.spill`.
pub struct Spill {
    pub dir: PathBuf,
    lens: Vec<u64>,
    pub writer: Option<(u32, File)>,
    reader: Option<(u32, File)>,
}

impl Spill {
    pub fn new(dir: PathBuf) -> Self {
        Spill {
            dir,
            lens: Vec::new(),
            writer: None,
            reader: None,
        }
    }

    /// Bytes appended to file `id` so far.
    pub fn file_len(&self, id: u32) -> u64 {
        self.lens[id as usize]
    }

    /// Close the open writer and reader.
    pub fn close(&mut self) {
        self.writer = None;
        self.reader = None;
    }

    pub fn path(&self, id: u32) -> PathBuf {
        self.dir.join(format!("{id}.spill"))
    }

    pub fn create(&mut self) -> Result<u32> {
        let id =
            u32::try_from(self.lens.len()).map_err(|_| Error::data("too many S3 spill files"))?;
        let f = fsutil::create_new_private(&self.path(id))?;
        self.lens.push(0);
        self.writer = Some((id, f));
        Ok(id)
    }

    pub fn append(&mut self, id: u32, data: &[u8]) -> Result<Loc> {
        let path = self.path(id);
        if self.writer.as_ref().map(|w| w.0) != Some(id) {
            let f = OpenOptions::new()
                .append(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .io_at(&path, "reopen spill file")?;
            self.writer = Some((id, f));
        }
        let (_, f) = self.writer.as_mut().expect("writer just set");
        f.write_all(data).io_at(&path, "write spill file")?;
        let len = &mut self.lens[id as usize];
        let loc = Loc {
            file: id,
            off: *len,
            len: data.len() as u64,
        };
        *len += data.len() as u64;
        Ok(loc)
    }

    /// Copy one spilled range to the end of `dst`.
    pub fn copy_to(&mut self, loc: Loc, dst: &mut FileWriter) -> Result<()> {
        let path = self.path(loc.file);
        if self.reader.as_ref().map(|r| r.0) != Some(loc.file) {
            let f = File::open(&path).io_at(&path, "open spill file")?;
            self.reader = Some((loc.file, f));
        }
        let (_, src) = self.reader.as_mut().expect("reader just set");
        src.seek(SeekFrom::Start(loc.off))
            .io_at(&path, "seek spill file")?;
        let mut left = loc.len;
        let mut buf = vec![0u8; (left as usize).min(256 << 10)];
        while left > 0 {
            let want = (left as usize).min(buf.len());
            src.read_exact(&mut buf[..want])
                .io_at(&path, "read spill file")?;
            dst.write_all(&buf[..want])?;
            left -= want as u64;
        }
        Ok(())
    }

    /// Hand a whole spill file to the tree as the file at `rel`.
    pub fn take_file(&mut self, id: u32, tree: &TreeOut, rel: &[u8]) -> Result<()> {
        self.reader = None;
        tree.adopt(rel, &self.path(id))
    }
}

/// A digest and where its payload lives.
const RECORD: usize = 32 + Loc::ENCODED;
/// Records per block of the sorted table (one lookup reads one block).
const BLOCK: usize = 64;

fn corrupt() -> Error {
    Error::data("S3 decoder: corrupt chunkblob index (internal error)")
}

/// Chunkblob payloads by digest.
pub struct ChunkIndex {
    budget: u64,
    dir: PathBuf,
    cancel: CancelToken,
    staged: Option<ExternalSorter>,
    table: Option<Table>,
}

/// The sorted table: its file, record count and the first digest of
/// every block.
struct Table {
    file: File,
    records: usize,
    fences: Vec<[u8; 32]>,
}

impl ChunkIndex {
    pub fn new(budget: u64, dir: PathBuf, cancel: CancelToken) -> Self {
        ChunkIndex {
            budget,
            dir,
            cancel,
            staged: None,
            table: None,
        }
    }

    /// Record where the payload with `digest` lives; a later payload with
    /// the same digest replaces an earlier one (their bytes are equal).
    pub fn insert(&mut self, digest: &[u8; 32], loc: Loc) -> Result<()> {
        let staged = self.staged.get_or_insert_with(|| {
            ExternalSorter::new(self.budget, &self.dir, Ties::InsertionOrder)
                .with_cancel(&self.cancel)
        });
        staged.add(digest, &loc.encode())
    }

    /// Sort what was inserted into the lookup table (before any `get`).
    pub fn seal(&mut self) -> Result<()> {
        let Some(staged) = self.staged.take() else {
            return Ok(());
        };
        let mut sorted = staged.finish()?;
        let file =
            tempfile::tempfile_in(&self.dir).io_at(&self.dir, "create chunkblob index in")?;
        let mut w = BufWriter::new(file);
        let mut fences = Vec::new();
        let mut records = 0usize;
        let mut last: Option<[u8; RECORD]> = None;
        let mut put = |rec: [u8; RECORD], w: &mut BufWriter<File>| -> Result<()> {
            if records % BLOCK == 0 {
                fences.push(rec[..32].try_into().expect("32 bytes"));
            }
            records += 1;
            w.write_all(&rec)
                .io_at(&self.dir, "write chunkblob index in")
        };
        while let Some((k, p)) = sorted.next()? {
            if k.len() != 32 || p.len() != Loc::ENCODED {
                return Err(corrupt());
            }
            let mut rec = [0u8; RECORD];
            rec[..32].copy_from_slice(k);
            rec[32..].copy_from_slice(p);
            // Equal digests come out in arrival order: the last one stays.
            if let Some(prev) = last.replace(rec) {
                if prev[..32] != rec[..32] {
                    put(prev, &mut w)?;
                }
            }
        }
        if let Some(prev) = last {
            put(prev, &mut w)?;
        }
        let file = w
            .into_inner()
            .map_err(|e| e.into_error())
            .io_at(&self.dir, "write chunkblob index in")?;
        self.table = Some(Table {
            file,
            records,
            fences,
        });
        Ok(())
    }

    /// Where the payload with `digest` lives, if a chunkblob carried it.
    pub fn get(&self, digest: &[u8; 32]) -> Result<Option<Loc>> {
        let Some(t) = &self.table else {
            return Ok(None);
        };
        // The last block whose first digest is not above `digest`.
        let block = match t.fences.partition_point(|f| f <= digest) {
            0 => return Ok(None),
            n => n - 1,
        };
        let first = block * BLOCK;
        let n = (t.records - first).min(BLOCK);
        let mut buf = vec![0u8; n * RECORD];
        t.file
            .read_exact_at(&mut buf, (first * RECORD) as u64)
            .io_at(&self.dir, "read chunkblob index in")?;
        let recs: Vec<&[u8]> = buf.chunks_exact(RECORD).collect();
        match recs.binary_search_by(|r| r[..32].cmp(digest)) {
            Ok(i) => Loc::decode(&recs[i][32..]).map(Some).ok_or_else(corrupt),
            Err(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(i: u32) -> [u8; 32] {
        let mut d = [0u8; 32];
        d[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
        d
    }

    fn loc(i: u32) -> Loc {
        Loc {
            file: i,
            off: u64::from(i) * 3,
            len: u64::from(i) + 1,
        }
    }

    #[test]
    fn lookups_find_every_digest_whatever_spilled() {
        let dir = tempfile::tempdir().unwrap();
        for budget in [0, 1 << 20] {
            let mut idx = ChunkIndex::new(budget, dir.path().to_path_buf(), CancelToken::new());
            assert_eq!(idx.get(&digest(1)).unwrap(), None);
            for i in 0..1000 {
                idx.insert(&digest(i), loc(i)).unwrap();
            }
            // A repeated digest: the later location wins.
            idx.insert(&digest(7), loc(7000)).unwrap();
            idx.seal().unwrap();
            for i in 0..1000 {
                let want = if i == 7 { loc(7000) } else { loc(i) };
                assert_eq!(idx.get(&digest(i)).unwrap(), Some(want), "digest {i}");
            }
            for i in 1000..1100 {
                assert_eq!(idx.get(&digest(i)).unwrap(), None);
            }
            assert_eq!(idx.get(&[0; 32]).unwrap(), Some(loc(0)));
            assert_eq!(idx.get(&[0xff; 32]).unwrap(), None);
            let t = idx.table.as_ref().unwrap();
            assert_eq!(t.records, 1000);
            assert_eq!(t.fences.len(), 1000usize.div_ceil(BLOCK));
        }
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = ChunkIndex::new(0, dir.path().to_path_buf(), CancelToken::new());
        idx.seal().unwrap();
        assert_eq!(idx.get(&digest(3)).unwrap(), None);
    }
}
