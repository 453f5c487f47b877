//! Internal-keyspace entries → `redis/db_<n>/`, following upstream's
//! per-record rules: strings and HLLs are written as they arrive, TTL rows
//! are routed by the type last registered for their key (or parked until
//! a set/zset/stream claims them), collections are assembled and written
//! at finalize in sorted key order.

use super::codec::{self, HLL_VERSION, STRING_VERSION};
use super::content::{Content, ContentStore, Group, StreamEntry, Ty};
use super::keystate::{Coll, Event, KeyEvents, LineFile, Meta, Replay, ReplayOut, StreamLines};
use super::proto;
use super::*;
use crate::adapter::{AdapterDecoder, DecodeContext};
use crate::error::{Error, Result};
use crate::gojson::{Escape, JsonWriter};
use crate::tree::filename::encode_segment;
use crate::tree::{FileWriter, keymap};

/// Upstream's default byte budget of the pending-TTL buffer.
pub const PENDING_TTL_CAP: u64 = 1 << 30;

/// The sidecars, opened on their first line.
#[derive(Default)]
struct Sidecars {
    strings_ttl: Option<FileWriter>,
    hll_ttl: Option<FileWriter>,
    keymap: Option<FileWriter>,
}

pub struct RedisDecoder {
    ctx: DecodeContext,
    /// `redis/db_<n>` in the tree.
    db_dir: String,
    /// Records seen so far: each record's number in arrival order.
    seq: u64,
    content: ContentStore,
    events: KeyEvents,
    lines: StreamLines,
    replay: Replay,
    sidecars: Sidecars,
}

fn err(sentinel: &str, detail: impl std::fmt::Display) -> Error {
    Error::data(format!("{detail}: {sentinel}"))
}

/// Quoted, bounded rendering of key bytes for messages.
pub(super) fn quote(b: &[u8]) -> String {
    let s = format!("{:?}", String::from_utf8_lossy(&b[..b.len().min(96)]));
    if b.len() > 96 { s + "…" } else { s }
}

/// A KEYMAP record for `uk` when its file name is a SHA fallback (upstream
/// writes one every time such a name is produced).
fn keymap_line(uk: &[u8]) -> (String, Option<Vec<u8>>) {
    let (enc, fallback) = encode_segment(uk);
    let line = fallback.then(|| {
        let mut line = Vec::new();
        keymap::write_record(&mut line, &enc, uk, keymap::KIND_SHA_FALLBACK);
        line
    });
    (enc, line)
}

/// A TTL sidecar line of record `seq` (and its KEYMAP line first), from
/// `step` on.
fn ttl_line(
    lines: &mut StreamLines,
    seq: u64,
    step: u8,
    hll: bool,
    uk: &[u8],
    ms: u64,
) -> Result<()> {
    let (enc, km) = keymap_line(uk);
    if let Some(km) = km {
        lines.add(seq, step, LineFile::Keymap, &km)?;
    }
    let mut w = JsonWriter::compact(Escape::NoHtml);
    w.begin_object()
        .key("key")
        .string(&enc)
        .key("expire_at_ms")
        .u64(ms)
        .end_object();
    let file = if hll {
        LineFile::HllTtl
    } else {
        LineFile::StringsTtl
    };
    lines.add(seq, step + 1, file, &w.finish_line())
}

/// Where the key replay puts what it decides.
struct ReplayTo<'a> {
    lines: &'a mut StreamLines,
    content: &'a mut ContentStore,
}

impl ReplayOut for ReplayTo<'_> {
    fn ttl_line(&mut self, seq: u64, hll: bool, uk: &[u8], ms: u64) -> Result<()> {
        ttl_line(self.lines, seq, 0, hll, uk, ms)
    }

    fn coll(&mut self, t: Ty, uk: &[u8], c: &Coll) -> Result<()> {
        self.content.coll_state(t, uk, c)
    }
}

impl RedisDecoder {
    pub fn new(ctx: DecodeContext) -> Self {
        let db_dir = format!("redis/db_{}", ctx.options.redis_db_index);
        // Half the share for collection contents, a quarter for the key
        // events, an eighth each for the sidecar lines and the TTL sweep.
        let b = ctx.memory_budget;
        RedisDecoder {
            content: ContentStore::new(b / 2, &ctx),
            events: KeyEvents::new(b / 4, &ctx),
            lines: StreamLines::new(b / 8, &ctx),
            replay: Replay::new(PENDING_TTL_CAP, b / 8, &ctx),
            ctx,
            db_dir,
            seq: 0,
            sidecars: Sidecars::default(),
        }
    }

    /// Exact budgets (no floors) and small merges, to exercise spills.
    #[cfg(test)]
    pub(crate) fn with_limits(mut self, budget: u64, pending_cap: u64) -> Self {
        self.content = ContentStore::exact(budget / 2, &self.ctx);
        self.events = KeyEvents::new(0, &self.ctx).exact(budget / 4);
        self.lines = StreamLines::new(0, &self.ctx).exact(budget / 8);
        self.replay = Replay::new(pending_cap, 0, &self.ctx).exact(budget / 8);
        self
    }

    fn warn(&self, msg: String) {
        (self.ctx.warn)(&msg);
    }

    /// `redis/db_<n>/<name>` as a tree path.
    fn rel(&self, name: &str) -> Vec<u8> {
        format!("{}/{name}", self.db_dir).into_bytes()
    }

    fn write_file(&mut self, sub: &str, name: &str, body: Vec<u8>) -> Result<()> {
        self.ctx
            .tree
            .file(&self.rel(&format!("{sub}/{name}")), body)
    }

    fn sidecar_write(&mut self, file: LineFile, line: &[u8]) -> Result<()> {
        let name = match file {
            LineFile::StringsTtl => "strings_ttl.jsonl",
            LineFile::HllTtl => "hll_ttl.jsonl",
            LineFile::Keymap => keymap::FILE_NAME,
        };
        let rel = self.rel(name);
        let slot = match file {
            LineFile::StringsTtl => &mut self.sidecars.strings_ttl,
            LineFile::HllTtl => &mut self.sidecars.hll_ttl,
            LineFile::Keymap => &mut self.sidecars.keymap,
        };
        if slot.is_none() {
            *slot = Some(self.ctx.tree.create(&rel)?);
        }
        slot.as_mut().expect("opened above").write_all(line)
    }

    fn handle_simple(&mut self, hll: bool, uk: &[u8], value: &[u8]) -> Result<()> {
        let (version, sentinel) = if hll {
            (HLL_VERSION, "invalid !redis|hll| value")
        } else {
            (STRING_VERSION, "invalid !redis|str| value")
        };
        let (body, ms, new_format) =
            codec::decode_envelope(value, version).map_err(|e| err(sentinel, e.0))?;
        let (enc, km) = keymap_line(uk);
        if let Some(km) = km {
            self.lines.add(self.seq, 0, LineFile::Keymap, &km)?;
        }
        self.write_file(
            if hll { "hll" } else { "strings" },
            &format!("{enc}.bin"),
            body.to_vec(),
        )?;
        self.events
            .add(uk, self.seq, Event::Simple { hll, new_format })?;
        if ms == 0 {
            return Ok(());
        }
        ttl_line(&mut self.lines, self.seq, 1, hll, uk, ms)
    }

    fn handle_ttl(&mut self, uk: &[u8], value: &[u8]) -> Result<()> {
        let ms = codec::decode_ttl_value(value).map_err(|e| {
            err(
                "invalid !redis|ttl| value",
                format!("key {}: {e}", quote(uk)),
            )
        })?;
        self.events.add(uk, self.seq, Event::Ttl(ms))
    }

    fn touch(&mut self, uk: &[u8], t: Ty) -> Result<()> {
        self.events.add(uk, self.seq, Event::Touch(t))
    }

    fn meta(&mut self, uk: &[u8], t: Ty, m: Meta) -> Result<()> {
        self.events.add(uk, self.seq, Event::Meta(t, m))
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
                format!("meta key: {}", quote(key)),
            ));
        };
        let m = codec::decode_count_meta(value)
            .map_err(|e| err(&format!("invalid {name} value"), e))?;
        self.meta(
            uk,
            t,
            Meta {
                declared: m.declared_len,
                inline_expire: m.inline_expire,
                ..Meta::default()
            },
        )
    }

    fn handle_list_meta(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let uk = &key[LIST_META.len()..];
        let m = codec::decode_list_meta(value).map_err(|e| err("invalid !lst|meta| value", e))?;
        self.meta(
            uk,
            Ty::List,
            Meta {
                declared: m.declared_len,
                inline_expire: m.inline_expire,
                ..Meta::default()
            },
        )
    }

    fn handle_list_item(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let rest = &key[LIST_ITEM.len()..];
        if rest.len() < 8 {
            return Err(err(
                "malformed !lst| key",
                format!("item key: {}", quote(key)),
            ));
        }
        let (uk, seq) = rest.split_at(rest.len() - 8);
        let seq = codec::decode_sortable_i64(seq);
        self.touch(uk, Ty::List)?;
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
                format!("member key: {}", quote(key)),
            ));
        };
        match t {
            Ty::Hash => {
                self.touch(uk, t)?;
                self.content.hash_field(uk, tail, value)
            }
            Ty::Set => {
                self.touch(uk, t)?;
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
                            quote(uk),
                            uk.len()
                        ),
                    ));
                }
                self.touch(uk, Ty::ZSet)?;
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
        // Members of a blob are kept only while the sorted set has no
        // wide-column member (the content store applies that rule).
        self.touch(uk, Ty::ZSet)?;
        self.content.zset_legacy(uk, entries)
    }

    fn handle_stream_meta(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let Some((uk, _)) = split_len_prefixed(&key[STREAM_META.len()..]) else {
            return Err(err(
                "malformed !stream| key",
                format!("meta key: {}", quote(key)),
            ));
        };
        let m =
            codec::decode_stream_meta(value).map_err(|e| err("invalid !stream|meta| value", e))?;
        self.meta(
            uk,
            Ty::Stream,
            Meta {
                declared: m.length,
                last_ms: m.last_ms,
                last_seq: m.last_seq,
                inline_expire: m.inline_expire,
            },
        )
    }

    fn handle_stream_entry(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        const SENTINEL: &str = "invalid !stream|entry| value";
        let parsed = split_len_prefixed(&key[STREAM_ENTRY.len()..]).filter(|(_, t)| t.len() == 16);
        let Some((uk, id)) = parsed else {
            return Err(err(
                "malformed !stream| key",
                format!("entry key: {}", quote(key)),
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
        self.touch(uk, Ty::Stream)?;
        self.content
            .stream_entry(uk, codec::be64(&id[..8]), codec::be64(&id[8..]), body)
    }

    // --- finalize ------------------------------------------------------

    /// Write one collection's file.
    fn write_group(&mut self, g: Group) -> Result<()> {
        let Group {
            t,
            uk,
            state: st,
            content,
        } = g;
        let sub = sub_dir(t);
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
                    return Ok(());
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
        let (enc, km) = keymap_line(&uk);
        if let Some(km) = km {
            self.sidecar_write(LineFile::Keymap, &km)?;
        }
        self.write_file(sub, &format!("{enc}.{ext}"), body)
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

    /// Replay the key events, write the stream-order sidecar lines, then
    /// every collection in (type, key) order. Errors are noted in the
    /// order upstream meets them; the rest still runs.
    fn finish_all(&mut self, note: &mut dyn FnMut(Result<()>)) {
        let ctx = self.ctx.clone();
        let mut content = std::mem::replace(&mut self.content, ContentStore::new(0, &ctx));
        let mut lines = std::mem::replace(&mut self.lines, StreamLines::new(0, &ctx));
        let events = std::mem::replace(&mut self.events, KeyEvents::new(0, &ctx));
        let replay = std::mem::replace(&mut self.replay, Replay::new(0, 0, &ctx));
        let cap = replay.pending_cap;
        let mut to = ReplayTo {
            lines: &mut lines,
            content: &mut content,
        };
        let replayed = match events.finish().and_then(|ev| replay.run(ev, &mut to)) {
            Ok(r) => r,
            Err(e) => return note(Err(e)),
        };
        let mut orphans = replayed.orphan_ttls;
        let mut overflow = 0;
        if let Some(o) = replayed.overflow {
            // Upstream stops reading at this row.
            note(Err(o.error));
            orphans = o.parked_keys;
            overflow = 1;
        }
        note(lines.drain(|f, line| self.sidecar_write(f, line)));
        note(self.write_groups(content));
        if orphans > 0 || overflow > 0 {
            let mut msg = format!(
                "redis_orphan_ttl count={orphans} hint={:?}",
                "TTL records whose user key never appeared in a typed record — possible store corruption or an unknown type prefix"
            );
            if overflow > 0 {
                msg += &format!(
                    " pending_ttl_buffer_overflow={overflow} pending_ttl_buffer_bytes_cap={cap}"
                );
            }
            self.warn(msg);
        }
    }

    /// Every collection, type by type; an error skips the rest of its
    /// type (upstream flushes each type on its own).
    fn write_groups(&mut self, content: ContentStore) -> Result<()> {
        let mut groups = content.into_groups()?;
        let mut first = None;
        let mut current: Option<(Ty, bool)> = None;
        while let Some(g) = groups.next_group()? {
            let failed = match current {
                Some((t, failed)) if t == g.t => failed,
                _ => {
                    // Upstream makes the directory before it looks at the
                    // keys (a type whose keys all get skipped leaves it empty).
                    let r = self.ctx.tree.dir(&self.rel(sub_dir(g.t)));
                    let failed = r.is_err();
                    if let Err(e) = r {
                        first.get_or_insert(e);
                    }
                    current = Some((g.t, failed));
                    failed
                }
            };
            if failed {
                continue;
            }
            let t = g.t;
            if let Err(e) = self.write_group(g) {
                first.get_or_insert(e);
                current = Some((t, true));
            }
        }
        first.map_or(Ok(()), Err)
    }
}

fn sub_dir(t: Ty) -> &'static str {
    match t {
        Ty::Hash => "hashes",
        Ty::List => "lists",
        Ty::Set => "sets",
        Ty::ZSet => "zsets",
        Ty::Stream => "streams",
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
        self.seq += 1;
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
        self.finish_all(&mut note);
        for w in [
            self.sidecars.strings_ttl.take(),
            self.sidecars.hll_ttl.take(),
            self.sidecars.keymap.take(),
        ]
        .into_iter()
        .flatten()
        {
            note(w.close());
        }
        first.map_or(Ok(()), Err)
    }
}
