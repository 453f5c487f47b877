//! The bulk contents of collections being decoded (hash fields, list items,
//! set/zset members, stream entries), held in memory up to a byte budget
//! and spilled past it as sorted run files. At finalize the runs and what
//! is still in memory are merged per key, oldest chunk first, so the
//! result is what one unbounded in-memory map would have held.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use crate::error::{Error, IoResultExt, Result};
use crate::fsutil;

/// The collection types, in finalize order (also the run sort order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ty {
    Hash = 0,
    List = 1,
    Set = 2,
    ZSet = 3,
    Stream = 4,
}

impl Ty {
    pub const ALL: [Ty; 5] = [Ty::Hash, Ty::List, Ty::Set, Ty::ZSet, Ty::Stream];
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry {
    pub ms: u64,
    pub seq: u64,
    /// Interleaved name, value, name, value, …
    pub fields: Vec<String>,
}

/// One key's contents (a chunk of them, while spilling).
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Hash(HashMap<Vec<u8>, Vec<u8>>),
    List(HashMap<i64, Vec<u8>>),
    Set(HashSet<Vec<u8>>),
    /// `cleared`: the first wide-column member arrived within this chunk,
    /// discarding every legacy-blob member seen before it.
    ZSet {
        cleared: bool,
        members: HashMap<Vec<u8>, f64>,
    },
    Stream(Vec<StreamEntry>),
}

impl Content {
    pub fn empty(t: Ty) -> Content {
        match t {
            Ty::Hash => Content::Hash(HashMap::new()),
            Ty::List => Content::List(HashMap::new()),
            Ty::Set => Content::Set(HashSet::new()),
            Ty::ZSet => Content::ZSet {
                cleared: false,
                members: HashMap::new(),
            },
            Ty::Stream => Content::Stream(Vec::new()),
        }
    }

    /// Apply a later chunk of the same key on top of this one.
    fn merge(&mut self, later: Content) {
        match (self, later) {
            (Content::Hash(a), Content::Hash(b)) => a.extend(b),
            (Content::List(a), Content::List(b)) => a.extend(b),
            (Content::Set(a), Content::Set(b)) => a.extend(b),
            (
                Content::ZSet { cleared, members },
                Content::ZSet {
                    cleared: c2,
                    members: m2,
                },
            ) => {
                if c2 {
                    members.clear();
                    *cleared = true;
                }
                members.extend(m2);
            }
            (Content::Stream(a), Content::Stream(b)) => a.extend(b),
            _ => debug_assert!(false, "merging contents of different types"),
        }
    }
}

/// Book-keeping charged per stored item on top of its bytes.
const ITEM_OVERHEAD: u64 = 64;

pub struct ContentStore {
    mem: [HashMap<Vec<u8>, Content>; 5],
    bytes: u64,
    budget: u64,
    scratch_root: PathBuf,
    spill_dir: Option<tempfile::TempDir>,
    runs: Vec<File>,
}

impl ContentStore {
    pub fn new(budget: u64, scratch_root: PathBuf) -> Self {
        ContentStore {
            mem: Default::default(),
            bytes: 0,
            budget,
            scratch_root,
            spill_dir: None,
            runs: Vec::new(),
        }
    }

    #[cfg(test)]
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    fn slot(&mut self, t: Ty, uk: &[u8]) -> &mut Content {
        let map = &mut self.mem[t as usize];
        if !map.contains_key(uk) {
            self.bytes += uk.len() as u64 + ITEM_OVERHEAD;
            map.insert(uk.to_vec(), Content::empty(t));
        }
        map.get_mut(uk).expect("inserted above")
    }

    fn charge(&mut self, n: usize) -> Result<()> {
        self.bytes += n as u64 + ITEM_OVERHEAD;
        if self.bytes > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    pub fn hash_field(&mut self, uk: &[u8], field: &[u8], value: &[u8]) -> Result<()> {
        if let Content::Hash(m) = self.slot(Ty::Hash, uk) {
            m.insert(field.to_vec(), value.to_vec());
        }
        self.charge(field.len() + value.len())
    }

    pub fn list_item(&mut self, uk: &[u8], seq: i64, value: &[u8]) -> Result<()> {
        if let Content::List(m) = self.slot(Ty::List, uk) {
            m.insert(seq, value.to_vec());
        }
        self.charge(value.len())
    }

    pub fn set_member(&mut self, uk: &[u8], member: &[u8]) -> Result<()> {
        if let Content::Set(m) = self.slot(Ty::Set, uk) {
            m.insert(member.to_vec());
        }
        self.charge(member.len())
    }

    /// A wide-column member; `first_wide` drops earlier legacy members.
    pub fn zset_member(
        &mut self,
        uk: &[u8],
        member: &[u8],
        score: f64,
        first_wide: bool,
    ) -> Result<()> {
        if let Content::ZSet { cleared, members } = self.slot(Ty::ZSet, uk) {
            if first_wide {
                members.clear();
                *cleared = true;
            }
            members.insert(member.to_vec(), score);
        }
        self.charge(member.len())
    }

    /// Members of a legacy blob (only while no wide member was seen).
    pub fn zset_legacy(&mut self, uk: &[u8], entries: Vec<(String, f64)>) -> Result<()> {
        let mut n = 0;
        if let Content::ZSet { members, .. } = self.slot(Ty::ZSet, uk) {
            for (m, s) in entries {
                n += m.len() + ITEM_OVERHEAD as usize;
                members.insert(m.into_bytes(), s);
            }
        }
        self.charge(n)
    }

    pub fn stream_entry(&mut self, uk: &[u8], e: StreamEntry) -> Result<()> {
        let n = e.fields.iter().map(|f| f.len() + 24).sum::<usize>() + 16;
        if let Content::Stream(v) = self.slot(Ty::Stream, uk) {
            v.push(e);
        }
        self.charge(n)
    }

    /// Write everything in memory as one run sorted by (type, key).
    fn spill(&mut self) -> Result<()> {
        if self.spill_dir.is_none() {
            fsutil::create_dir_all(&self.scratch_root)?;
            let d = tempfile::Builder::new()
                .prefix("redis-spill-")
                .tempdir_in(&self.scratch_root)
                .io_at(&self.scratch_root, "create spill directory in")?;
            self.spill_dir = Some(d);
        }
        let dir = self.spill_dir.as_ref().expect("created above").path();
        let file = tempfile::tempfile_in(dir).io_at(dir, "create spill run in")?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        for t in Ty::ALL {
            let mut map = std::mem::take(&mut self.mem[t as usize]);
            let mut keys: Vec<Vec<u8>> = map.keys().cloned().collect();
            keys.sort_unstable();
            for k in keys {
                let c = map.remove(&k).expect("listed key");
                write_record(&mut w, t, &k, &c).io_at(dir, "write spill run in")?;
            }
        }
        let mut file = w
            .into_inner()
            .map_err(|e| Error::io_at(dir, "write spill run in", e.into_error()))?;
        use std::io::Seek;
        file.rewind().io_at(dir, "rewind spill run in")?;
        self.runs.push(file);
        self.bytes = 0;
        Ok(())
    }

    /// Consume the store: per type, a merger that hands out each key's
    /// full contents for keys asked in ascending order.
    pub fn into_merger(self) -> Merger {
        Merger {
            mem: self.mem,
            runs: self
                .runs
                .into_iter()
                .map(|f| RunReader {
                    r: BufReader::with_capacity(256 * 1024, f),
                    head: None,
                    done: false,
                })
                .collect(),
            _spill_dir: self.spill_dir,
        }
    }
}

pub struct Merger {
    mem: [HashMap<Vec<u8>, Content>; 5],
    runs: Vec<RunReader>,
    _spill_dir: Option<tempfile::TempDir>,
}

impl Merger {
    /// The merged contents of `(t, uk)`; keys must be asked in ascending
    /// `(t, uk)` order. Keys never asked for are skipped over.
    pub fn take(&mut self, t: Ty, uk: &[u8]) -> Result<Content> {
        let mut out = Content::empty(t);
        for run in &mut self.runs {
            if let Some(c) = run.take(t, uk)? {
                out.merge(c);
            }
        }
        if let Some(c) = self.mem[t as usize].remove(uk) {
            out.merge(c);
        }
        Ok(out)
    }
}

struct RunReader {
    r: BufReader<File>,
    head: Option<(Ty, Vec<u8>)>,
    done: bool,
}

impl RunReader {
    fn take(&mut self, t: Ty, uk: &[u8]) -> Result<Option<Content>> {
        loop {
            if self.head.is_none() && !self.done {
                self.head = read_head(&mut self.r).io_ctx("read redis spill run")?;
                self.done = self.head.is_none();
            }
            let Some((ht, hk)) = &self.head else {
                return Ok(None);
            };
            match (*ht, hk.as_slice()).cmp(&(t, uk)) {
                std::cmp::Ordering::Greater => return Ok(None),
                ord => {
                    let ht = *ht;
                    self.head = None;
                    let c = read_content(&mut self.r, ht).io_ctx("read redis spill run")?;
                    if ord == std::cmp::Ordering::Equal {
                        return Ok(Some(c));
                    }
                }
            }
        }
    }
}

fn put_u64(w: &mut impl Write, v: u64) -> std::io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

fn put_bytes(w: &mut impl Write, b: &[u8]) -> std::io::Result<()> {
    put_u64(w, b.len() as u64)?;
    w.write_all(b)
}

fn write_record(w: &mut impl Write, t: Ty, uk: &[u8], c: &Content) -> std::io::Result<()> {
    w.write_all(&[t as u8])?;
    put_bytes(w, uk)?;
    match c {
        Content::Hash(m) => {
            put_u64(w, m.len() as u64)?;
            for (k, v) in m {
                put_bytes(w, k)?;
                put_bytes(w, v)?;
            }
        }
        Content::List(m) => {
            put_u64(w, m.len() as u64)?;
            for (s, v) in m {
                put_u64(w, *s as u64)?;
                put_bytes(w, v)?;
            }
        }
        Content::Set(m) => {
            put_u64(w, m.len() as u64)?;
            for k in m {
                put_bytes(w, k)?;
            }
        }
        Content::ZSet { cleared, members } => {
            w.write_all(&[*cleared as u8])?;
            put_u64(w, members.len() as u64)?;
            for (k, s) in members {
                put_bytes(w, k)?;
                put_u64(w, s.to_bits())?;
            }
        }
        Content::Stream(v) => {
            put_u64(w, v.len() as u64)?;
            for e in v {
                put_u64(w, e.ms)?;
                put_u64(w, e.seq)?;
                put_u64(w, e.fields.len() as u64)?;
                for f in &e.fields {
                    put_bytes(w, f.as_bytes())?;
                }
            }
        }
    }
    Ok(())
}

fn get_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn get_bytes(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let n = get_u64(r)? as usize;
    let mut v = vec![0u8; n];
    r.read_exact(&mut v)?;
    Ok(v)
}

fn read_head(r: &mut impl Read) -> std::io::Result<Option<(Ty, Vec<u8>)>> {
    let mut t = [0u8; 1];
    if r.read(&mut t)? == 0 {
        return Ok(None);
    }
    let t = Ty::ALL
        .get(t[0] as usize)
        .copied()
        .ok_or_else(|| std::io::Error::other("corrupt spill run"))?;
    Ok(Some((t, get_bytes(r)?)))
}

fn read_content(r: &mut impl Read, t: Ty) -> std::io::Result<Content> {
    Ok(match t {
        Ty::Hash => {
            let n = get_u64(r)?;
            let mut m = HashMap::new();
            for _ in 0..n {
                let k = get_bytes(r)?;
                m.insert(k, get_bytes(r)?);
            }
            Content::Hash(m)
        }
        Ty::List => {
            let n = get_u64(r)?;
            let mut m = HashMap::new();
            for _ in 0..n {
                let s = get_u64(r)? as i64;
                m.insert(s, get_bytes(r)?);
            }
            Content::List(m)
        }
        Ty::Set => {
            let n = get_u64(r)?;
            let mut m = HashSet::new();
            for _ in 0..n {
                m.insert(get_bytes(r)?);
            }
            Content::Set(m)
        }
        Ty::ZSet => {
            let mut c = [0u8; 1];
            r.read_exact(&mut c)?;
            let n = get_u64(r)?;
            let mut m = HashMap::new();
            for _ in 0..n {
                let k = get_bytes(r)?;
                m.insert(k, f64::from_bits(get_u64(r)?));
            }
            Content::ZSet {
                cleared: c[0] != 0,
                members: m,
            }
        }
        Ty::Stream => {
            let n = get_u64(r)?;
            let mut v = Vec::new();
            for _ in 0..n {
                let ms = get_u64(r)?;
                let seq = get_u64(r)?;
                let nf = get_u64(r)?;
                let mut fields = Vec::new();
                for _ in 0..nf {
                    fields.push(
                        String::from_utf8(get_bytes(r)?)
                            .map_err(|_| std::io::Error::other("corrupt spill run"))?,
                    );
                }
                v.push(StreamEntry { ms, seq, fields });
            }
            Content::Stream(v)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(s: &mut ContentStore) {
        s.hash_field(b"h", b"f", b"1").unwrap();
        s.hash_field(b"h", b"g", b"2").unwrap();
        s.hash_field(b"h", b"f", b"3").unwrap();
        s.list_item(b"l", -1, b"a").unwrap();
        s.set_member(b"s", b"m").unwrap();
        s.zset_legacy(b"z", vec![("old".into(), 1.0)]).unwrap();
        s.zset_member(b"z", b"new", 2.0, true).unwrap();
        s.zset_legacy(b"y", vec![("keep".into(), 3.0)]).unwrap();
        s.stream_entry(
            b"x",
            StreamEntry {
                ms: 1,
                seq: 2,
                fields: vec!["a".into(), "b".into()],
            },
        )
        .unwrap();
        s.set_member(b"s", b"n").unwrap();
        s.hash_field(b"a", b"f", b"9").unwrap();
    }

    fn collect(s: ContentStore) -> Vec<(Ty, &'static [u8], Content)> {
        let mut m = s.into_merger();
        let keys: [(Ty, &'static [u8]); 7] = [
            (Ty::Hash, b"a"),
            (Ty::Hash, b"h"),
            (Ty::List, b"l"),
            (Ty::Set, b"s"),
            (Ty::ZSet, b"y"),
            (Ty::ZSet, b"z"),
            (Ty::Stream, b"x"),
        ];
        keys.into_iter()
            .map(|(t, k)| (t, k, m.take(t, k).unwrap()))
            .collect()
    }

    #[test]
    fn spilling_every_item_gives_the_in_memory_result() {
        let t = tempfile::tempdir().unwrap();
        let mut big = ContentStore::new(u64::MAX, t.path().join("a"));
        fill(&mut big);
        assert_eq!(big.spilled_runs(), 0);
        let mut tiny = ContentStore::new(0, t.path().join("b"));
        fill(&mut tiny);
        assert!(tiny.spilled_runs() > 5);
        let (a, b) = (collect(big), collect(tiny));
        // `cleared` is a per-chunk marker; compare members only.
        let norm = |v: Vec<(Ty, &'static [u8], Content)>| {
            v.into_iter()
                .map(|(t, k, c)| match c {
                    Content::ZSet { members, .. } => (
                        t,
                        k,
                        Content::ZSet {
                            cleared: false,
                            members,
                        },
                    ),
                    c => (t, k, c),
                })
                .collect::<Vec<_>>()
        };
        let (a, b) = (norm(a), norm(b));
        assert_eq!(a, b);
        match &a[5].2 {
            Content::ZSet { members, .. } => {
                assert_eq!(members.len(), 1);
                assert!(members.contains_key(&b"new"[..]));
            }
            _ => panic!(),
        }
        match &a[1].2 {
            Content::Hash(m) => assert_eq!(m[&b"f"[..]], b"3"),
            _ => panic!(),
        }
    }
}
