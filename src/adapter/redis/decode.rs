//! Internal-keyspace entries → `redis/db_<n>/`, following upstream's
//! per-record rules: strings and HLLs are written as they arrive, TTL rows
//! are routed by the type last registered for their key (or parked until
//! a set/zset/stream claims them), collections are assembled and written
//! at finalize in sorted key order.

use std::collections::HashMap;

use super::codec::{self, HLL_VERSION, STRING_VERSION};
use super::content::{Content, ContentStore, Merger, StreamEntry, Ty};
use super::proto;
use super::*;
use crate::adapter::{AdapterDecoder, DecodeContext};
use crate::error::{Error, Result};
use crate::gojson::{Escape, JsonWriter};
use crate::tree::filename::encode_segment;
use crate::tree::{FileWriter, keymap};

/// Upstream's default byte budget of the pending-TTL buffer.
pub const PENDING_TTL_CAP: u64 = 1 << 30;
/// Charged per parked TTL on top of its key bytes (the u64 it holds).
const PENDING_ENTRY_COST: u64 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Kind {
    #[default]
    Unknown,
    String,
    Hll,
    Coll(Ty),
}

/// The fixed-size state of one collection of one key.
#[derive(Debug, Clone, Default)]
struct Coll {
    meta_seen: bool,
    declared: i64,
    last_ms: u64,
    last_seq: u64,
    expire: u64,
    has_ttl: bool,
    /// The meta carried an inline expiry slot; scan-index rows are ignored.
    inline_owned: bool,
    /// Sorted sets: a wide-column member was seen.
    saw_wide: bool,
}

impl Coll {
    fn apply_inline(&mut self, inline: Option<u64>) {
        if let Some(ms) = inline {
            self.expire = ms;
            self.has_ttl = ms != 0;
            self.inline_owned = true;
        }
    }
}

/// Everything known about one user key while the stream is read.
#[derive(Debug, Default)]
struct KeyInfo {
    kind: Kind,
    /// A new-format string/HLL value owns the key's TTL (shared by both).
    simple_owned: bool,
    colls: [Option<Box<Coll>>; 5],
}

/// A lazily opened JSONL sidecar.
struct Sidecar {
    name: &'static str,
    w: Option<FileWriter>,
}

pub struct RedisDecoder {
    ctx: DecodeContext,
    /// `redis/db_<n>` in the tree.
    db_dir: String,
    keys: HashMap<Vec<u8>, KeyInfo>,
    content: ContentStore,
    strings_ttl: Sidecar,
    hll_ttl: Sidecar,
    keymap: Option<FileWriter>,
    pending: HashMap<Vec<u8>, u64>,
    pending_bytes: u64,
    pending_cap: u64,
    pending_overflow: u64,
    orphan_ttls: u64,
}

fn err(sentinel: &str, detail: impl std::fmt::Display) -> Error {
    Error::data(format!("{detail}: {sentinel}"))
}

/// Quoted, bounded rendering of key bytes for messages.
fn q(b: &[u8]) -> String {
    let s = format!("{:?}", String::from_utf8_lossy(&b[..b.len().min(96)]));
    if b.len() > 96 { s + "…" } else { s }
}

impl RedisDecoder {
    pub fn new(ctx: DecodeContext) -> Self {
        let db_dir = format!("redis/db_{}", ctx.options.redis_db_index);
        // Half the share for collection contents; the per-key table (type
        // and TTL state of every key) takes the rest.
        RedisDecoder {
            content: ContentStore::new(ctx.memory_budget / 2, &ctx),
            ctx,
            db_dir,
            keys: HashMap::new(),
            strings_ttl: Sidecar {
                name: "strings_ttl.jsonl",
                w: None,
            },
            hll_ttl: Sidecar {
                name: "hll_ttl.jsonl",
                w: None,
            },
            keymap: None,
            pending: HashMap::new(),
            pending_bytes: 0,
            pending_cap: PENDING_TTL_CAP,
            pending_overflow: 0,
            orphan_ttls: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn with_limits(mut self, content_budget: u64, pending_cap: u64) -> Self {
        self.content = ContentStore::exact(content_budget, &self.ctx);
        self.pending_cap = pending_cap;
        self
    }

    fn warn(&self, msg: String) {
        (self.ctx.warn)(&msg);
    }

    /// `redis/db_<n>/<name>` as a tree path.
    fn rel(&self, name: &str) -> Vec<u8> {
        format!("{}/{name}", self.db_dir).into_bytes()
    }

    /// Encode a key as a file-name segment, recording SHA fallbacks in
    /// KEYMAP.jsonl every time one is produced (as upstream does).
    fn segment(&mut self, uk: &[u8]) -> Result<String> {
        let (enc, fallback) = encode_segment(uk);
        if fallback {
            if self.keymap.is_none() {
                let w = self.ctx.tree.create(&self.rel(keymap::FILE_NAME))?;
                self.keymap = Some(w);
            }
            let mut line = Vec::new();
            keymap::write_record(&mut line, &enc, uk, keymap::KIND_SHA_FALLBACK);
            self.keymap
                .as_mut()
                .expect("opened above")
                .write_all(&line)?;
        }
        Ok(enc)
    }

    fn write_file(&mut self, sub: &str, name: &str, body: Vec<u8>) -> Result<()> {
        self.ctx
            .tree
            .file(&self.rel(&format!("{sub}/{name}")), body)
    }

    fn append_ttl(&mut self, hll: bool, uk: &[u8], ms: u64) -> Result<()> {
        let name = if hll {
            self.hll_ttl.name
        } else {
            self.strings_ttl.name
        };
        let open = if hll {
            self.hll_ttl.w.is_none()
        } else {
            self.strings_ttl.w.is_none()
        };
        if open {
            let f = self.ctx.tree.create(&self.rel(name))?;
            if hll {
                self.hll_ttl.w = Some(f);
            } else {
                self.strings_ttl.w = Some(f);
            }
        }
        let enc = self.segment(uk)?;
        let mut w = JsonWriter::compact(Escape::NoHtml);
        w.begin_object()
            .key("key")
            .string(&enc)
            .key("expire_at_ms")
            .u64(ms)
            .end_object();
        let line = w.finish_line();
        let side = if hll {
            &mut self.hll_ttl
        } else {
            &mut self.strings_ttl
        };
        side.w.as_mut().expect("opened above").write_all(&line)
    }

    fn info(&mut self, uk: &[u8]) -> &mut KeyInfo {
        if !self.keys.contains_key(uk) {
            self.keys.insert(uk.to_vec(), KeyInfo::default());
        }
        self.keys.get_mut(uk).expect("inserted above")
    }

    /// The collection state of `(uk, t)`, created on first use. Creation
    /// registers the key's type and, for sets, sorted sets and streams
    /// (whose rows sort after `!redis|ttl|`), claims a parked TTL.
    fn coll(&mut self, uk: &[u8], t: Ty) -> &mut Coll {
        let exists = self
            .keys
            .get(uk)
            .is_some_and(|i| i.colls[t as usize].is_some());
        if !exists {
            let mut c = Coll::default();
            if matches!(t, Ty::Set | Ty::ZSet | Ty::Stream) {
                if let Some(ms) = self.pending.remove(uk) {
                    self.pending_bytes -= uk.len() as u64 + PENDING_ENTRY_COST;
                    c.expire = ms;
                    c.has_ttl = true;
                }
            }
            let info = self.info(uk);
            info.colls[t as usize] = Some(Box::new(c));
            info.kind = Kind::Coll(t);
        }
        self.info(uk).colls[t as usize]
            .as_deref_mut()
            .expect("created above")
    }

    fn handle_simple(&mut self, hll: bool, uk: &[u8], value: &[u8]) -> Result<()> {
        self.info(uk).kind = if hll { Kind::Hll } else { Kind::String };
        let (version, sentinel) = if hll {
            (HLL_VERSION, "invalid !redis|hll| value")
        } else {
            (STRING_VERSION, "invalid !redis|str| value")
        };
        let (body, ms, new_format) =
            codec::decode_envelope(value, version).map_err(|e| err(sentinel, e.0))?;
        let enc = self.segment(uk)?;
        self.write_file(
            if hll { "hll" } else { "strings" },
            &format!("{enc}.bin"),
            body.to_vec(),
        )?;
        if new_format {
            self.info(uk).simple_owned = true;
        }
        if ms == 0 {
            return Ok(());
        }
        self.append_ttl(hll, uk, ms)
    }

    fn handle_ttl(&mut self, uk: &[u8], value: &[u8]) -> Result<()> {
        let ms = codec::decode_ttl_value(value)
            .map_err(|e| err("invalid !redis|ttl| value", format!("key {}: {e}", q(uk))))?;
        let (kind, owned) = self
            .keys
            .get(uk)
            .map_or((Kind::Unknown, false), |i| (i.kind, i.simple_owned));
        match kind {
            Kind::String | Kind::Hll if owned => Ok(()),
            Kind::String => self.append_ttl(false, uk, ms),
            Kind::Hll => self.append_ttl(true, uk, ms),
            Kind::Coll(t) => {
                let c = self.coll(uk, t);
                if !c.inline_owned {
                    c.expire = ms;
                    c.has_ttl = true;
                }
                Ok(())
            }
            Kind::Unknown => self.park_ttl(uk, ms),
        }
    }

    fn park_ttl(&mut self, uk: &[u8], ms: u64) -> Result<()> {
        if self.pending_cap == 0 {
            self.orphan_ttls += 1;
            return Ok(());
        }
        if let Some(v) = self.pending.get_mut(uk) {
            *v = ms;
            return Ok(());
        }
        let cost = uk.len() as u64 + PENDING_ENTRY_COST;
        if self.pending_bytes + cost > self.pending_cap {
            self.pending_overflow += 1;
            return Err(err(
                "pending-TTL byte budget exhausted",
                format!(
                    "!redis|ttl| row for key {} arrived before its type: buffer would exceed byte_cap={} by {} bytes (user_key_len={}, in_flight={})",
                    q(uk),
                    self.pending_cap,
                    self.pending_bytes + cost - self.pending_cap,
                    uk.len(),
                    self.pending_bytes
                ),
            ));
        }
        self.pending.insert(uk.to_vec(), ms);
        self.pending_bytes += cost;
        Ok(())
    }

    fn handle_count_meta(&mut self, t: Ty, prefix: &[u8], key: &[u8], value: &[u8]) -> Result<()> {
        let (name, short) = match t {
            Ty::Hash => ("!hs|meta|", "!hs|"),
            Ty::Set => ("!st|meta|", "!st|"),
            _ => ("!zs|meta|", "!zs|"),
        };
        let Some((uk, _)) = split_len_prefixed(&key[prefix.len()..]) else {
            return Err(err(
                &format!("malformed {short} key"),
                format!("meta key: {}", q(key)),
            ));
        };
        let m = codec::decode_count_meta(value)
            .map_err(|e| err(&format!("invalid {name} value"), e))?;
        let c = self.coll(uk, t);
        c.declared = m.declared_len;
        c.meta_seen = true;
        c.apply_inline(m.inline_expire);
        Ok(())
    }

    fn handle_list_meta(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let uk = &key[LIST_META.len()..];
        let m = codec::decode_list_meta(value).map_err(|e| err("invalid !lst|meta| value", e))?;
        let c = self.coll(uk, Ty::List);
        c.declared = m.declared_len;
        c.meta_seen = true;
        c.apply_inline(m.inline_expire);
        Ok(())
    }

    fn handle_list_item(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let rest = &key[LIST_ITEM.len()..];
        if rest.len() < 8 {
            return Err(err("malformed !lst| key", format!("item key: {}", q(key))));
        }
        let (uk, seq) = rest.split_at(rest.len() - 8);
        let seq = codec::decode_sortable_i64(seq);
        self.coll(uk, Ty::List);
        self.content.list_item(uk, seq, value)
    }

    fn handle_member(&mut self, t: Ty, key: &[u8], value: &[u8]) -> Result<()> {
        let (prefix, short) = match t {
            Ty::Hash => (HASH_FIELD, "!hs|"),
            Ty::Set => (SET_MEMBER, "!st|"),
            _ => (ZSET_MEMBER, "!zs|"),
        };
        let Some((uk, tail)) = split_len_prefixed(&key[prefix.len()..]) else {
            return Err(err(
                &format!("malformed {short} key"),
                format!("member key: {}", q(key)),
            ));
        };
        match t {
            Ty::Hash => {
                self.coll(uk, t);
                self.content.hash_field(uk, tail, value)
            }
            Ty::Set => {
                self.coll(uk, t);
                self.content.set_member(uk, tail)
            }
            _ => {
                if value.len() != 8 {
                    return Err(err(
                        "invalid !zs|mem| value",
                        format!("length {} != 8", value.len()),
                    ));
                }
                let score = f64::from_bits(codec::be64(value));
                if score.is_nan() {
                    return Err(err(
                        "invalid !zs|mem| value",
                        format!(
                            "NaN score for member of user key {} (length {})",
                            q(uk),
                            uk.len()
                        ),
                    ));
                }
                self.coll(uk, Ty::ZSet).saw_wide = true;
                self.content.zset_member(uk, tail, score)
            }
        }
    }

    fn handle_zset_blob(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        const SENTINEL: &str = "invalid !redis|zset| value";
        let uk = &key[ZSET_BLOB.len()..];
        let Some(body) = value.strip_prefix(proto::ZSET_BLOB_MAGIC) else {
            return Err(err(
                SENTINEL,
                format!("missing or corrupt magic prefix (len={})", value.len()),
            ));
        };
        let entries =
            proto::decode_zset_blob(body).map_err(|e| err(SENTINEL, format!("unmarshal: {e}")))?;
        if let Some((m, _)) = entries.iter().find(|(_, s)| s.is_nan()) {
            return Err(err(SENTINEL, format!("NaN score for member {m:?}")));
        }
        if self.coll(uk, Ty::ZSet).saw_wide {
            return Ok(());
        }
        self.content.zset_legacy(uk, entries)
    }

    fn handle_stream_meta(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let Some((uk, _)) = split_len_prefixed(&key[STREAM_META.len()..]) else {
            return Err(err(
                "malformed !stream| key",
                format!("meta key: {}", q(key)),
            ));
        };
        let m =
            codec::decode_stream_meta(value).map_err(|e| err("invalid !stream|meta| value", e))?;
        let c = self.coll(uk, Ty::Stream);
        c.declared = m.length;
        c.last_ms = m.last_ms;
        c.last_seq = m.last_seq;
        c.meta_seen = true;
        c.apply_inline(m.inline_expire);
        Ok(())
    }

    fn handle_stream_entry(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        const SENTINEL: &str = "invalid !stream|entry| value";
        let parsed = split_len_prefixed(&key[STREAM_ENTRY.len()..]).filter(|(_, t)| t.len() == 16);
        let Some((uk, id)) = parsed else {
            return Err(err(
                "malformed !stream| key",
                format!("entry key: {}", q(key)),
            ));
        };
        let Some(body) = value.strip_prefix(proto::STREAM_ENTRY_MAGIC) else {
            return Err(err(
                SENTINEL,
                format!("missing or corrupt magic prefix (len={})", value.len()),
            ));
        };
        let fields = proto::decode_stream_entry(body)
            .map_err(|e| err(SENTINEL, format!("unmarshal: {e}")))?;
        if fields.len() % 2 != 0 {
            return Err(err(
                SENTINEL,
                format!(
                    "odd field count {} (XADD enforces name/value pairs)",
                    fields.len()
                ),
            ));
        }
        self.coll(uk, Ty::Stream);
        self.content
            .stream_entry(uk, codec::be64(&id[..8]), codec::be64(&id[8..]), body)
    }

    // --- finalize ------------------------------------------------------

    fn flush_type(&mut self, t: Ty, merger: &mut Merger) -> Result<()> {
        let mut keys: Vec<Vec<u8>> = self
            .keys
            .iter()
            .filter(|(_, i)| i.colls[t as usize].is_some())
            .map(|(k, _)| k.clone())
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        keys.sort_unstable();
        let sub = match t {
            Ty::Hash => "hashes",
            Ty::List => "lists",
            Ty::Set => "sets",
            Ty::ZSet => "zsets",
            Ty::Stream => "streams",
        };
        // Upstream makes the directory before it looks at the keys (a type
        // whose keys all get skipped leaves it empty).
        self.ctx.tree.dir(&self.rel(sub))?;
        for uk in keys {
            let st = self.keys[&uk].colls[t as usize]
                .as_deref()
                .cloned()
                .unwrap_or_default();
            let content = merger.take(t, &uk)?;
            let (body, ext) = match content {
                Content::Hash(m) => {
                    self.warn_len(&st, &uk, "hash", "observed_fields", m.len(), "!hs|fld|");
                    let mut v: Vec<_> = m.into_iter().collect();
                    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                    (
                        pretty(&st, "fields", &v, |w, (n, val)| {
                            w.begin_object().key("name");
                            codec::write_env(w, n);
                            w.key("value");
                            codec::write_env(w, val);
                            w.end_object();
                        }),
                        "json",
                    )
                }
                Content::List(m) => {
                    self.warn_len(&st, &uk, "list", "observed_items", m.len(), "!lst|itm|");
                    let mut v: Vec<_> = m.into_iter().collect();
                    v.sort_unstable_by_key(|e| e.0);
                    (
                        pretty(&st, "items", &v, |w, (_, item)| codec::write_env(w, item)),
                        "json",
                    )
                }
                Content::Set(m) => {
                    self.warn_len(&st, &uk, "set", "observed_members", m.len(), "!st|mem|");
                    let mut v: Vec<_> = m.into_iter().collect();
                    v.sort_unstable();
                    (
                        pretty(&st, "members", &v, |w, m| codec::write_env(w, m)),
                        "json",
                    )
                }
                Content::ZSet(members) => {
                    self.warn_len(
                        &st,
                        &uk,
                        "zset",
                        "observed_members",
                        members.len(),
                        "!zs|mem|",
                    );
                    let mut v: Vec<_> = members.into_iter().collect();
                    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                    (
                        pretty(&st, "members", &v, |w, (m, s)| {
                            w.begin_object().key("member");
                            codec::write_env(w, m);
                            w.key("score")
                                .raw(&codec::format_score(*s).unwrap_or_else(|| "0".into()));
                            w.end_object();
                        }),
                        "json",
                    )
                }
                Content::Stream(mut v) => {
                    if !st.meta_seen {
                        self.warn(format!(
                            "redis_stream_orphan_entries_without_meta user_key_len={} observed_entries={} hint={:?}",
                            uk.len(),
                            v.len(),
                            "!stream|entry| rows arrived without a !stream|meta| row; no file is written for them"
                        ));
                        continue;
                    }
                    if v.len() as i64 != st.declared {
                        self.warn(format!(
                            "redis_stream_length_mismatch user_key_len={} declared_len={} observed_entries={} hint={:?}",
                            uk.len(),
                            st.declared,
                            v.len(),
                            "meta record's Length does not match the count of !stream|entry| keys for this user key"
                        ));
                    }
                    v.sort_by_key(|e| (e.ms, e.seq));
                    (stream_jsonl(&st, &v), "jsonl")
                }
            };
            let enc = self.segment(&uk)?;
            self.write_file(sub, &format!("{enc}.{ext}"), body)?;
        }
        Ok(())
    }

    fn warn_len(&self, st: &Coll, uk: &[u8], what: &str, field: &str, n: usize, rows: &str) {
        if st.meta_seen && n as i64 != st.declared {
            self.warn(format!(
                "redis_{what}_length_mismatch user_key_len={} declared_len={} {field}={n} hint={:?}",
                uk.len(),
                st.declared,
                format!("meta record's Len does not match the count of {rows} keys for this user key")
            ));
        }
    }

    fn close(&mut self, which: u8) -> Result<()> {
        let w = match which {
            0 => self.strings_ttl.w.take(),
            1 => self.hll_ttl.w.take(),
            _ => self.keymap.take(),
        };
        match w {
            Some(w) => w.close(),
            None => Ok(()),
        }
    }
}

/// A collection file as `json.MarshalIndent` lays it out.
fn pretty<T>(
    st: &Coll,
    array: &str,
    items: &[T],
    mut one: impl FnMut(&mut JsonWriter, &T),
) -> Vec<u8> {
    let mut w = JsonWriter::pretty(Escape::Html);
    w.begin_object()
        .key("format_version")
        .u64(1)
        .key(array)
        .begin_array();
    for it in items {
        one(&mut w, it);
    }
    w.end_array().key("expire_at_ms");
    expire(&mut w, st);
    w.end_object();
    w.finish()
}

fn expire(w: &mut JsonWriter, st: &Coll) {
    if st.has_ttl {
        w.u64(st.expire);
    } else {
        w.null();
    }
}

fn stream_jsonl(st: &Coll, entries: &[StreamEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = JsonWriter::compact(Escape::Html);
    for e in entries {
        w.reset();
        w.begin_object()
            .key("id")
            .string(&format!("{}-{}", e.ms, e.seq))
            .key("fields")
            .begin_array();
        for pair in e.fields.chunks_exact(2) {
            w.begin_object().key("name");
            codec::write_env(&mut w, pair[0].as_bytes());
            w.key("value");
            codec::write_env(&mut w, pair[1].as_bytes());
            w.end_object();
        }
        w.end_array().end_object();
        out.extend_from_slice(&w.finish_line());
    }
    w.reset();
    w.begin_object()
        .key("_meta")
        .bool(true)
        .key("length")
        .i64(st.declared)
        .key("last_ms")
        .u64(st.last_ms)
        .key("last_seq")
        .u64(st.last_seq)
        .key("expire_at_ms");
    expire(&mut w, st);
    w.end_object();
    out.extend_from_slice(&w.finish_line());
    out
}

impl AdapterDecoder for RedisDecoder {
    fn handle(&mut self, prefix: &'static [u8], key: &[u8], value: &[u8]) -> Result<()> {
        let rest = &key[prefix.len()..];
        match prefix {
            p if p == STR => self.handle_simple(false, rest, value),
            p if p == HLL => self.handle_simple(true, rest, value),
            p if p == TTL => self.handle_ttl(rest, value),
            p if p == HASH_META => self.handle_count_meta(Ty::Hash, prefix, key, value),
            p if p == SET_META => self.handle_count_meta(Ty::Set, prefix, key, value),
            p if p == ZSET_META => self.handle_count_meta(Ty::ZSet, prefix, key, value),
            p if p == HASH_FIELD => self.handle_member(Ty::Hash, key, value),
            p if p == SET_MEMBER => self.handle_member(Ty::Set, key, value),
            p if p == ZSET_MEMBER => self.handle_member(Ty::ZSet, key, value),
            p if p == LIST_META => self.handle_list_meta(key, value),
            p if p == LIST_ITEM => self.handle_list_item(key, value),
            p if p == ZSET_BLOB => self.handle_zset_blob(key, value),
            p if p == STREAM_META => self.handle_stream_meta(key, value),
            p if p == STREAM_ENTRY => self.handle_stream_entry(key, value),
            // Delta rows, list claims and the zset score index carry nothing
            // the dump needs.
            _ => Ok(()),
        }
    }

    fn finalize(&mut self) -> Result<()> {
        let mut first: Option<Error> = None;
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        };
        let store = std::mem::replace(&mut self.content, ContentStore::new(0, &self.ctx));
        match store.into_merger() {
            Ok(mut merger) => {
                for t in Ty::ALL {
                    note(self.flush_type(t, &mut merger));
                }
            }
            Err(e) => note(Err(e)),
        }
        note(self.close(0));
        note(self.close(1));
        note(self.close(2));
        self.orphan_ttls += self.pending.len() as u64;
        if self.orphan_ttls > 0 || self.pending_overflow > 0 {
            let mut msg = format!(
                "redis_orphan_ttl count={} hint={:?}",
                self.orphan_ttls,
                "TTL records whose user key never appeared in a typed record — possible store corruption or an unknown type prefix"
            );
            if self.pending_overflow > 0 {
                msg += &format!(
                    " pending_ttl_buffer_overflow={} pending_ttl_buffer_bytes_cap={}",
                    self.pending_overflow, self.pending_cap
                );
            }
            self.warn(msg);
        }
        first.map_or(Ok(()), Err)
    }
}
