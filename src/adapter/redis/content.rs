//! The bulk contents of collections being decoded (hash fields, list
//! items, set/zset members, stream entries) and each collection's final
//! state, parked in the external sorter and handed back at finalize one
//! collection at a time, so memory holds the decoder's budget plus the
//! largest single collection.
//!
//! A record's key is `type | user key | tag | member`, so the sorted
//! stream is grouped by type and user key (the finalize order): the
//! collection's state (tag 0) first, then its members in order; records
//! of one member stay in arrival order, and the last one wins, as in an
//! in-memory map.

use std::collections::{HashMap, HashSet};

use super::keystate::{Coll, corrupt};
use super::proto;
use crate::adapter::DecodeContext;
use crate::error::Result;
use crate::sorter::key::{self, KeyReader};
use crate::sorter::{ExternalSorter, Sorted, Ties};

/// The collection types, in finalize order (also the sort order).
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

/// One key's contents.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Hash(HashMap<Vec<u8>, Vec<u8>>),
    List(HashMap<i64, Vec<u8>>),
    Set(HashSet<Vec<u8>>),
    ZSet(HashMap<Vec<u8>, f64>),
    Stream(Vec<StreamEntry>),
}

impl Content {
    pub fn empty(t: Ty) -> Content {
        match t {
            Ty::Hash => Content::Hash(HashMap::new()),
            Ty::List => Content::List(HashMap::new()),
            Ty::Set => Content::Set(HashSet::new()),
            Ty::ZSet => Content::ZSet(HashMap::new()),
            Ty::Stream => Content::Stream(Vec::new()),
        }
    }
}

/// Sorted-set members come from a legacy blob or from wide-column rows;
/// the first wide-column row discards the blob's members.
const ZSET_LEGACY: u8 = 0;
const ZSET_WIDE: u8 = 1;

const TAG_STATE: u8 = 0;
const TAG_MEMBER: u8 = 1;

pub struct ContentStore {
    sorter: ExternalSorter,
    key: Vec<u8>,
}

impl ContentStore {
    pub fn new(budget: u64, ctx: &DecodeContext) -> Self {
        ContentStore {
            sorter: ExternalSorter::new(budget, ctx.spill_dir(), Ties::InsertionOrder)
                .with_cancel(&ctx.cancel),
            key: Vec::new(),
        }
    }

    /// Exactly `budget` (no floor) and a small fan-in, to exercise spills
    /// and cascaded merges with a few records.
    #[cfg(test)]
    pub fn exact(budget: u64, ctx: &DecodeContext) -> Self {
        let mut s = ContentStore::new(budget, ctx);
        s.sorter = s.sorter.with_exact_budget(budget).with_fan_in(3);
        s
    }

    #[cfg(test)]
    pub fn spills(&self) -> usize {
        self.sorter.spills()
    }

    /// Stage one record of `(t, uk)`: `member` ends the key.
    fn add(&mut self, t: Ty, uk: &[u8], member: &[&[u8]], payload: &[&[u8]]) -> Result<()> {
        self.add_tagged(t, uk, TAG_MEMBER, member, payload)
    }

    fn add_tagged(
        &mut self,
        t: Ty,
        uk: &[u8],
        tag: u8,
        member: &[&[u8]],
        payload: &[&[u8]],
    ) -> Result<()> {
        let k = &mut self.key;
        k.clear();
        k.push(t as u8);
        key::push_bytes(k, uk);
        k.push(tag);
        for m in member {
            k.extend_from_slice(m);
        }
        self.sorter.add_parts(&[k], payload)
    }

    pub fn hash_field(&mut self, uk: &[u8], field: &[u8], value: &[u8]) -> Result<()> {
        self.add(Ty::Hash, uk, &[field], &[value])
    }

    pub fn list_item(&mut self, uk: &[u8], seq: i64, value: &[u8]) -> Result<()> {
        let mut s = Vec::with_capacity(8);
        key::push_i64(&mut s, seq);
        self.add(Ty::List, uk, &[&s], &[value])
    }

    pub fn set_member(&mut self, uk: &[u8], member: &[u8]) -> Result<()> {
        self.add(Ty::Set, uk, &[member], &[])
    }

    /// A wide-column member.
    pub fn zset_member(&mut self, uk: &[u8], member: &[u8], score: f64) -> Result<()> {
        let score = score.to_bits().to_be_bytes();
        self.add(Ty::ZSet, uk, &[member], &[&[ZSET_WIDE], &score])
    }

    /// Members of a legacy blob (only while no wide member was seen).
    pub fn zset_legacy(&mut self, uk: &[u8], entries: Vec<(String, f64)>) -> Result<()> {
        for (m, s) in entries {
            let score = s.to_bits().to_be_bytes();
            self.add(Ty::ZSet, uk, &[m.as_bytes()], &[&[ZSET_LEGACY], &score])?;
        }
        Ok(())
    }

    /// A stream entry by id, with its (already validated) protobuf body.
    pub fn stream_entry(&mut self, uk: &[u8], ms: u64, seq: u64, body: &[u8]) -> Result<()> {
        let mut id = Vec::with_capacity(16);
        key::push_u64(&mut id, ms);
        key::push_u64(&mut id, seq);
        self.add(Ty::Stream, uk, &[&id], &[body])
    }

    /// The final state of collection `(t, uk)`, as the key replay found
    /// it; every collection that exists has one.
    pub fn coll_state(&mut self, t: Ty, uk: &[u8], state: &Coll) -> Result<()> {
        self.add_tagged(t, uk, TAG_STATE, &[], &[&state.encode()])
    }

    /// Sort what was staged; the groups come out one collection at a time.
    pub fn into_groups(self) -> Result<Groups> {
        Ok(Groups {
            sorted: self.sorter.finish()?,
            head: None,
        })
    }
}

/// One collection: its type, user key, state and contents.
pub struct Group {
    pub t: Ty,
    pub uk: Vec<u8>,
    pub state: Coll,
    pub content: Content,
}

pub struct Groups {
    sorted: Sorted,
    /// The first record not handed out yet (key, payload).
    head: Option<(Vec<u8>, Vec<u8>)>,
}

impl Groups {
    fn peek(&mut self) -> Result<Option<&(Vec<u8>, Vec<u8>)>> {
        if self.head.is_none() {
            if let Some((k, p)) = self.sorted.next()? {
                self.head = Some((k.to_vec(), p.to_vec()));
            }
        }
        Ok(self.head.as_ref())
    }

    /// The next collection in `(type, user key)` order.
    pub fn next_group(&mut self) -> Result<Option<Group>> {
        let Some((k, p)) = self.peek()? else {
            return Ok(None);
        };
        let mut r = KeyReader::new(k);
        let t = r.u8().and_then(|b| Ty::ALL.get(usize::from(b)).copied());
        let (Some(t), Some(uk), Some(TAG_STATE)) = (t, r.bytes(), r.u8()) else {
            return Err(corrupt());
        };
        let state = Coll::decode(p).ok_or_else(corrupt)?;
        // `type | user key` with its terminator: no other key's piece
        // starts with it.
        let prefix_len = k.len() - 1;
        let mut prefix = k.clone();
        prefix.truncate(prefix_len);
        prefix.push(TAG_MEMBER);
        self.head = None;
        let mut content = Content::empty(t);
        // Sorted-set members by origin; wide ones replace legacy ones.
        let mut legacy = HashMap::new();
        while let Some((k, p)) = self.peek()? {
            let Some(member) = k.strip_prefix(prefix.as_slice()) else {
                break;
            };
            apply(&mut content, &mut legacy, member, p)?;
            self.head = None;
        }
        if let Content::ZSet(wide) = &mut content {
            if wide.is_empty() {
                *wide = legacy;
            }
        }
        Ok(Some(Group {
            t,
            uk,
            state,
            content,
        }))
    }
}

/// Add one record to a collection being rebuilt.
fn apply(
    out: &mut Content,
    zset_legacy: &mut HashMap<Vec<u8>, f64>,
    member: &[u8],
    payload: &[u8],
) -> Result<()> {
    match out {
        Content::Hash(m) => {
            m.insert(member.to_vec(), payload.to_vec());
        }
        Content::List(m) => {
            let seq = KeyReader::new(member).i64().ok_or_else(corrupt)?;
            m.insert(seq, payload.to_vec());
        }
        Content::Set(m) => {
            m.insert(member.to_vec());
        }
        Content::ZSet(wide) => {
            let (&origin, score) = payload.split_first().ok_or_else(corrupt)?;
            let score: [u8; 8] = score.try_into().map_err(|_| corrupt())?;
            let score = f64::from_bits(u64::from_be_bytes(score));
            if origin == ZSET_WIDE {
                wide.insert(member.to_vec(), score);
            } else {
                zset_legacy.insert(member.to_vec(), score);
            }
        }
        Content::Stream(v) => {
            let mut id = KeyReader::new(member);
            let (ms, seq) = id.u64().zip(id.u64()).ok_or_else(corrupt)?;
            let fields = proto::decode_stream_entry(payload).map_err(|_| corrupt())?;
            v.push(StreamEntry { ms, seq, fields });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{DecodeOptions, silent_warn};

    fn ctx(root: &std::path::Path) -> DecodeContext {
        DecodeContext::writing_to(
            root,
            &root.join(".scratch"),
            DecodeOptions::default(),
            0,
            silent_warn(),
        )
    }

    fn stream_body(fields: &[&str]) -> Vec<u8> {
        // Field 2 (repeated string), wire type 2.
        let mut b = Vec::new();
        for f in fields {
            b.push(0x12);
            b.push(f.len() as u8);
            b.extend_from_slice(f.as_bytes());
        }
        b
    }

    fn fill(s: &mut ContentStore) {
        s.hash_field(b"h", b"f", b"1").unwrap();
        s.hash_field(b"h", b"g", b"2").unwrap();
        s.hash_field(b"h", b"f", b"3").unwrap();
        s.hash_field(b"h\0", b"x", b"4").unwrap();
        s.list_item(b"l", 5, b"a").unwrap();
        s.list_item(b"l", -1, b"b").unwrap();
        s.set_member(b"s", b"m").unwrap();
        s.zset_legacy(b"z", vec![("old".into(), 1.0)]).unwrap();
        s.zset_member(b"z", b"new", 2.0).unwrap();
        s.zset_legacy(b"y", vec![("keep".into(), 3.0)]).unwrap();
        s.stream_entry(b"x", 1, 2, &stream_body(&["a", "b"]))
            .unwrap();
        s.stream_entry(b"x", 1, 1, &stream_body(&["c", "d"]))
            .unwrap();
        s.set_member(b"s", b"n").unwrap();
        s.set_member(b"s", b"m").unwrap();
        s.hash_field(b"a", b"f", b"9").unwrap();
    }

    /// Every collection's state comes after its members, as the key
    /// replay adds it at finalize; "none" has a state and no member.
    fn states(s: &mut ContentStore) {
        let keys: [(Ty, &[u8]); 9] = [
            (Ty::Stream, b"x"),
            (Ty::Hash, b"h"),
            (Ty::Hash, b"a"),
            (Ty::Hash, b"h\0"),
            (Ty::List, b"none"),
            (Ty::List, b"l"),
            (Ty::Set, b"s"),
            (Ty::ZSet, b"y"),
            (Ty::ZSet, b"z"),
        ];
        for (i, (t, k)) in keys.into_iter().enumerate() {
            let c = Coll {
                declared: i as i64,
                ..Coll::default()
            };
            s.coll_state(t, k, &c).unwrap();
        }
    }

    fn collect(s: ContentStore) -> Vec<(Ty, Vec<u8>, i64, Content)> {
        let mut groups = s.into_groups().unwrap();
        let mut out = Vec::new();
        while let Some(g) = groups.next_group().unwrap() {
            out.push((g.t, g.uk, g.state.declared, g.content));
        }
        out
    }

    #[test]
    fn spilling_every_item_gives_the_in_memory_result() {
        let t = tempfile::tempdir().unwrap();
        let mut big = ContentStore::new(u64::MAX, &ctx(t.path()));
        fill(&mut big);
        states(&mut big);
        assert_eq!(big.spills(), 0);
        let mut tiny = ContentStore::exact(0, &ctx(t.path()));
        fill(&mut tiny);
        states(&mut tiny);
        assert!(tiny.spills() > 5);
        let (a, b) = (collect(big), collect(tiny));
        assert_eq!(a, b);
        let order: Vec<_> = a.iter().map(|g| (g.0, g.1.as_slice(), g.2)).collect();
        assert_eq!(
            order,
            [
                (Ty::Hash, &b"a"[..], 2),
                (Ty::Hash, b"h", 1),
                (Ty::Hash, b"h\0", 3),
                (Ty::List, b"l", 5),
                (Ty::List, b"none", 4),
                (Ty::Set, b"s", 6),
                (Ty::ZSet, b"y", 7),
                (Ty::ZSet, b"z", 8),
                (Ty::Stream, b"x", 0),
            ]
        );
        let a: Vec<Content> = a.into_iter().map(|g| g.3).collect();
        let map = |pairs: &[(&[u8], &[u8])]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect::<HashMap<_, _>>()
        };
        assert_eq!(a[0], Content::Hash(map(&[(b"f", b"9")])));
        assert_eq!(a[1], Content::Hash(map(&[(b"f", b"3"), (b"g", b"2")])));
        assert_eq!(a[2], Content::Hash(map(&[(b"x", b"4")])));
        assert_eq!(
            a[3],
            Content::List([(5, b"a".to_vec()), (-1, b"b".to_vec())].into())
        );
        assert_eq!(a[4], Content::empty(Ty::List));
        assert_eq!(a[5], Content::Set([b"m".to_vec(), b"n".to_vec()].into()));
        assert_eq!(a[6], Content::ZSet([(b"keep".to_vec(), 3.0)].into()));
        assert_eq!(a[7], Content::ZSet([(b"new".to_vec(), 2.0)].into()));
        let Content::Stream(v) = &a[8] else { panic!() };
        assert_eq!(
            v.iter()
                .map(|e| (e.seq, e.fields.clone()))
                .collect::<Vec<_>>(),
            [
                (1, vec!["c".to_string(), "d".to_string()]),
                (2, vec!["a".to_string(), "b".to_string()])
            ]
        );
    }
}
