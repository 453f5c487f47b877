//! `redis/db_0/` → internal-keyspace entries, rebuilding every derived row
//! upstream's encoder emits (metas, the zset score index, `!redis|ttl|`
//! rows for HLLs and collections).

use std::collections::HashMap;
use std::fs;
use std::io::{ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::codec::{self, parse_env, parse_score};
use super::records::{
    HashRecord, ListRecord, MemberScore, NameValue, SetRecord, StreamLine, TtlRecord, ZSetRecord,
};
use super::{proto, *};
use crate::adapter::{AdapterKind, EncodeContext, EntrySink};
use crate::error::{Error, InputError, IoResultExt, Result};
use crate::fsutil;
use crate::gojson::{self, RawMessage, StreamError, ValueStream};
use crate::tree::filename::{SegmentError, decode_segment};
use crate::tree::keymap;

/// Entry point: enumerate `redis/db_<N>/` and encode `db_0`.
pub fn encode(ctx: &EncodeContext<'_>, sink: &mut dyn EntrySink) -> Result<()> {
    let redis_dir = ctx.adapter_dir(AdapterKind::Redis);
    let mut dbs = match enumerate_dbs(&redis_dir)? {
        Some(v) => v,
        None => return Ok(()),
    };
    dbs.retain(|(n, _)| !ctx.exclusions.redis_databases.contains(n));
    match dbs.as_slice() {
        [] => Ok(()),
        [(0, dir)] => DbEncoder::new(dir.clone(), ctx).encode(sink),
        _ => Err(Error::data(format!(
            "{}: redis encoder enumerated db indices {:?}: only a single db_0 is supported \
             (the internal keys carry no database number)",
            redis_dir.display(),
            dbs.iter().map(|(n, _)| *n).collect::<Vec<_>>()
        ))),
    }
}

/// `Some(sorted (index, dir))` for the canonical `db_<N>` directories, or
/// `None` when there is no `redis/` at all.
fn enumerate_dbs(redis_dir: &Path) -> Result<Option<Vec<(u32, PathBuf)>>> {
    if !check_dir(redis_dir)? {
        return Ok(None);
    }
    let mut out = Vec::new();
    for ent in fs::read_dir(redis_dir).io_at(redis_dir, "read directory")? {
        let ent = ent.io_at(redis_dir, "read directory")?;
        let Some(n) = parse_db_name(ent.file_name().as_bytes()) else {
            continue;
        };
        let path = ent.path();
        let ft = ent.file_type().io_at(&path, "stat")?;
        if !ft.is_dir() {
            return Err(Error::data_at(&path, "exists but is not a directory"));
        }
        out.push((n, path));
    }
    out.sort();
    Ok(Some(out))
}

/// `db_<N>` with N canonical decimal (no sign, no leading zeros).
fn parse_db_name(name: &[u8]) -> Option<u32> {
    let digits = name.strip_prefix(b"db_")?;
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits.len() > 1 && digits[0] == b'0')
    {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `Ok(false)` when `dir` is absent; an error unless it is a real directory.
fn check_dir(dir: &Path) -> Result<bool> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io_at(dir, "stat", e)),
        Ok(m) if m.file_type().is_symlink() => {
            Err(Error::data_at(dir, "is a symlink, not a directory"))
        }
        Ok(m) if !m.is_dir() => Err(Error::data_at(dir, "is not a directory")),
        Ok(_) => Ok(true),
    }
}

/// Read a sidecar (`KEYMAP.jsonl`, `*_ttl.jsonl`): absent is fine, but it
/// must be a regular, singly-linked file.
fn open_sidecar(path: &Path) -> Result<Option<fs::File>> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io_at(path, "stat", e)),
        Ok(_) => fsutil::open_input_file(path).map(Some),
    }
}

fn be(ms: u64) -> [u8; 8] {
    ms.to_be_bytes()
}

struct DbEncoder<'a> {
    dir: PathBuf,
    ctx: &'a EncodeContext<'a>,
    keymap: HashMap<String, Vec<u8>>,
}

impl<'a> DbEncoder<'a> {
    fn new(dir: PathBuf, ctx: &'a EncodeContext<'a>) -> Self {
        DbEncoder {
            dir,
            ctx,
            keymap: HashMap::new(),
        }
    }

    fn encode(mut self, sink: &mut dyn EntrySink) -> Result<()> {
        if !check_dir(&self.dir)? {
            return Ok(());
        }
        let km_path = self.dir.join(keymap::FILE_NAME);
        if let Some(f) = open_sidecar(&km_path)? {
            self.keymap = keymap::load_last_wins(f).map_err(|e| Error::data_at(&km_path, e))?;
        }
        self.encode_blobs(sink, "strings", "strings_ttl.jsonl", false)?;
        self.encode_blobs(sink, "hll", "hll_ttl.jsonl", true)?;
        self.encode_collections(sink, "hashes")?;
        self.encode_collections(sink, "sets")?;
        self.encode_collections(sink, "lists")?;
        self.encode_collections(sink, "zsets")?;
        self.encode_streams(sink)
    }

    /// File name stem → user key, through KEYMAP for SHA-fallback names.
    fn resolve_key(&self, stem: &[u8], path: &Path) -> Result<Vec<u8>> {
        let bad = || Error::data_at(path, "invalid encoded filename segment");
        let stem = std::str::from_utf8(stem).map_err(|_| bad())?;
        match decode_segment(stem) {
            Ok(k) => Ok(k),
            Err(SegmentError::Invalid(_)) => Err(bad()),
            Err(SegmentError::NeedsKeymap(_)) => self.keymap.get(stem).cloned().ok_or_else(|| {
                Error::data_at(
                    path,
                    format!(
                        "SHA-fallback name {stem:?} has no record in {}",
                        keymap::FILE_NAME
                    ),
                )
            }),
        }
    }

    /// The regular files of `<db>/<sub>` ending in `ext`, as `(stem, path)`
    /// sorted by name. Other entries (directories, symlinks, other names)
    /// are skipped as upstream skips them.
    fn list(&self, sub: &str, ext: &str) -> Result<Vec<(Vec<u8>, PathBuf)>> {
        let dir = self.dir.join(sub);
        if !check_dir(&dir)? {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for ent in fs::read_dir(&dir).io_at(&dir, "read directory")? {
            let ent = ent.io_at(&dir, "read directory")?;
            let ft = ent.file_type().io_at(&ent.path(), "stat")?;
            let name = ent.file_name();
            let Some(stem) = name.as_bytes().strip_suffix(ext.as_bytes()) else {
                continue;
            };
            if ft.is_file() {
                out.push((stem.to_vec(), ent.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// `encoded name → expiry` from a TTL sidecar (a stream of JSON values;
    /// the last record of a name wins).
    fn load_ttls(&self, name: &str) -> Result<HashMap<String, u64>> {
        let path = self.dir.join(name);
        let mut out = HashMap::new();
        let Some(f) = open_sidecar(&path)? else {
            return Ok(out);
        };
        let mut vs = ValueStream::new(std::io::BufReader::with_capacity(64 * 1024, f));
        loop {
            let rec: TtlRecord = match vs.next_value() {
                Ok(None) => break,
                Ok(Some(v)) => gojson::decode_value(v.bytes)
                    .map_err(|e| InputError::json(e, v.offset).in_file(&path))?,
                Err(e) => return Err(stream_err(e, &path)),
            };
            out.insert(rec.key, rec.expire_at_ms);
        }
        Ok(out)
    }

    fn encode_blobs(
        &self,
        sink: &mut dyn EntrySink,
        sub: &str,
        ttl_file: &str,
        hll: bool,
    ) -> Result<()> {
        let ttls = self.load_ttls(ttl_file)?;
        for (stem, path) in self.list(sub, ".bin")? {
            self.ctx.cancel.check()?;
            let uk = self.resolve_key(&stem, &path)?;
            let body = fsutil::read_input_file(&path)?;
            let enc = String::from_utf8_lossy(&stem);
            let ms = ttls.get(enc.as_ref()).copied().unwrap_or(0);
            if hll {
                sink.add(&cat(HLL, &[&uk]), &codec::encode_hll_value(&body, ms))?;
                if ms != 0 {
                    sink.add(&cat(TTL, &[&uk]), &be(ms))?;
                }
            } else {
                sink.add(&cat(STR, &[&uk]), &codec::encode_string_value(&body, ms))?;
            }
        }
        Ok(())
    }

    fn encode_collections(&self, sink: &mut dyn EntrySink, sub: &str) -> Result<()> {
        let kind = match sub {
            "hashes" => "hash",
            "sets" => "set",
            "lists" => "list",
            _ => "zset",
        };
        for (stem, path) in self.list(sub, ".json")? {
            self.ctx.cancel.check()?;
            let uk = self.resolve_key(&stem, &path)?;
            let bytes = fsutil::read_input_file(&path)?;
            let what = format!("{kind} {:?}", show(&uk));
            let c = Collection {
                uk: &uk,
                text: &bytes,
            };
            let ttl = match kind {
                "hash" => c.hash(sink, read_doc::<HashRecord>(&bytes)?),
                "set" => c.set(sink, read_doc::<SetRecord>(&bytes)?),
                "list" => c.list(sink, read_doc::<ListRecord>(&bytes)?),
                _ => c.zset(sink, read_doc::<ZSetRecord>(&bytes)?),
            }
            .map_err(|e| in_file(e, &path, &what))?;
            if ttl != 0 {
                sink.add(&cat(TTL, &[&uk]), &be(ttl))?;
            }
        }
        Ok(())
    }

    fn encode_streams(&self, sink: &mut dyn EntrySink) -> Result<()> {
        for (stem, path) in self.list("streams", ".jsonl")? {
            self.ctx.cancel.check()?;
            let uk = self.resolve_key(&stem, &path)?;
            let f = fsutil::open_input_file(&path)?;
            encode_stream(&uk, f, sink)
                .map_err(|e| in_file(e, &path, &format!("stream {:?}", show(&uk))))?;
        }
        Ok(())
    }
}

/// A user key for messages (lossy, bounded).
fn show(uk: &[u8]) -> String {
    let s = String::from_utf8_lossy(&uk[..uk.len().min(80)]).into_owned();
    if uk.len() > 80 { s + "…" } else { s }
}

/// A data error from inside one file, placed in that file.
fn in_file(e: Error, path: &Path, what: &str) -> Error {
    match e {
        Error::Input(mut ie) => {
            if ie.file.is_none() {
                ie.file = Some(path.to_path_buf());
            }
            ie.context.insert(0, what.to_string());
            Error::Input(ie)
        }
        Error::Data(m) => Error::data_at(path, format!("{what}: {m}")),
        other => other,
    }
}

fn stream_err(e: StreamError, path: &Path) -> Error {
    match e {
        StreamError::Io(e) => Error::io_at(path, "read", e),
        StreamError::Json(e, line) => InputError::json(e, 0).in_file(path).at_line(line).into(),
    }
}

/// A collection file: one JSON document (`decodeOneJSON`).
fn read_doc<T: gojson::Unmarshal + Default>(bytes: &[u8]) -> Result<T> {
    gojson::decode_one(bytes).map_err(|e| InputError::json(e, 0).into())
}

/// The version gate every collection file passes.
fn check_version(v: u32) -> Result<()> {
    if v != 1 {
        return Err(InputError::invalid(format!("unsupported format_version {v}")).into());
    }
    Ok(())
}

/// A binary-safe value from its raw span of `text`.
fn env(text: &[u8], r: &RawMessage, what: &str) -> Result<Vec<u8>> {
    parse_env(r.bytes(text)).map_err(|mut e| {
        let base = r.0.map_or(0, |(s, _)| s as u64);
        if let Some(crate::error::Position::Byte(b)) = &mut e.at {
            *b += base;
        }
        e.context.push(what.to_string());
        e.into()
    })
}

/// One collection file being turned into entries.
struct Collection<'a> {
    uk: &'a [u8],
    text: &'a [u8],
}

impl Collection<'_> {
    /// Each returns the collection's expiry (0 = none).
    fn hash(&self, sink: &mut dyn EntrySink, doc: HashRecord) -> Result<u64> {
        check_version(doc.format_version)?;
        let ttl = doc.expire_at_ms.unwrap_or(0);
        sink.add(
            &wide_key(HASH_META, self.uk, &[]),
            &codec::encode_count_meta(doc.fields.len() as u64, ttl),
        )?;
        for NameValue { name, value } in &doc.fields {
            let name = env(self.text, name, "field name")?;
            let value = env(self.text, value, "field value")?;
            sink.add(&wide_key(HASH_FIELD, self.uk, &name), &value)?;
        }
        Ok(ttl)
    }

    fn set(&self, sink: &mut dyn EntrySink, doc: SetRecord) -> Result<u64> {
        check_version(doc.format_version)?;
        let ttl = doc.expire_at_ms.unwrap_or(0);
        sink.add(
            &wide_key(SET_META, self.uk, &[]),
            &codec::encode_count_meta(doc.members.len() as u64, ttl),
        )?;
        for m in &doc.members {
            let m = env(self.text, m, "member")?;
            sink.add(&wide_key(SET_MEMBER, self.uk, &m), &[])?;
        }
        Ok(ttl)
    }

    fn list(&self, sink: &mut dyn EntrySink, doc: ListRecord) -> Result<u64> {
        check_version(doc.format_version)?;
        let ttl = doc.expire_at_ms.unwrap_or(0);
        sink.add(
            &cat(LIST_META, &[self.uk]),
            &codec::encode_list_meta(doc.items.len() as u64, ttl),
        )?;
        for (i, r) in doc.items.iter().enumerate() {
            let item = env(self.text, r, &format!("item {i}"))?;
            let seq = codec::encode_sortable_i64(i as i64);
            sink.add(&cat(LIST_ITEM, &[self.uk, &seq]), &item)?;
        }
        Ok(ttl)
    }

    fn zset(&self, sink: &mut dyn EntrySink, doc: ZSetRecord) -> Result<u64> {
        check_version(doc.format_version)?;
        let ttl = doc.expire_at_ms.unwrap_or(0);
        sink.add(
            &wide_key(ZSET_META, self.uk, &[]),
            &codec::encode_count_meta(doc.members.len() as u64, ttl),
        )?;
        for MemberScore { member, score } in &doc.members {
            let m = env(self.text, member, "member")?;
            let score = parse_score(score.bytes(self.text)).map_err(|mut e| {
                e.context.push("score".into());
                Error::from(e)
            })?;
            sink.add(
                &wide_key(ZSET_MEMBER, self.uk, &m),
                &score.to_bits().to_be_bytes(),
            )?;
            let mut suffix = codec::encode_sortable_f64(score).to_vec();
            suffix.extend_from_slice(&m);
            sink.add(&wide_key(ZSET_SCORE, self.uk, &suffix), &[])?;
        }
        Ok(ttl)
    }
}

/// `<ms>-<seq>`, split at the first `-`, both plain unsigned decimals
/// (leading zeros allowed, as Go's `ParseUint` allows them).
fn parse_stream_id(id: &str) -> std::result::Result<(u64, u64), InputError> {
    let (a, b) = id
        .split_once('-')
        .ok_or_else(|| format!("stream id {id:?} missing '-'"))?;
    let num = |s: &str, part: &str| -> std::result::Result<u64, InputError> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("stream id {id:?} {part}: invalid syntax").into());
        }
        s.parse()
            .map_err(|_| InputError::from(format!("stream id {id:?} {part}: value out of range")))
    };
    Ok((num(a, "ms")?, num(b, "seq")?))
}

fn encode_stream(uk: &[u8], f: impl Read, sink: &mut dyn EntrySink) -> Result<()> {
    let mut vs = ValueStream::new(std::io::BufReader::with_capacity(64 * 1024, f));
    let mut meta: Option<StreamLine> = None;
    let mut count: i64 = 0;
    let mut max: Option<(u64, u64)> = None;
    let invalid = |m: String| -> Error { InputError::invalid(m).into() };
    loop {
        let v = match vs.next_value() {
            Ok(None) => break,
            Ok(Some(v)) => v,
            Err(StreamError::Io(e)) => return Err(Error::io("read stream", e)),
            Err(StreamError::Json(e, line)) => {
                return Err(InputError::json(e, 0).at_line(line).into());
            }
        };
        let at = |e: InputError| -> Error { e.at_line(v.line).into() };
        let l: StreamLine = gojson::decode_value(v.bytes)
            .map_err(|e| InputError::json(e, v.offset).at_line(v.line))?;
        if l.meta {
            if meta.is_some() {
                return Err(at(InputError::invalid("multiple _meta lines")));
            }
            meta = Some(l);
            continue;
        }
        let (ms, seq) = parse_stream_id(&l.id).map_err(at)?;
        let mut fields = Vec::with_capacity(l.fields.len() * 2);
        for p in &l.fields {
            fields.push(env(
                v.bytes,
                &p.name,
                &format!("entry {} field name", l.id),
            )?);
            fields.push(env(
                v.bytes,
                &p.value,
                &format!("entry {} field value", l.id),
            )?);
        }
        let value = proto::encode_stream_entry(&l.id, &fields)
            .map_err(|e| at(InputError::invalid(format!("entry {}: {e}", l.id))))?;
        let mut id = be(ms).to_vec();
        id.extend_from_slice(&be(seq));
        sink.add(&wide_key(STREAM_ENTRY, uk, &id), &value)?;
        count += 1;
        if max.is_none_or(|m| (ms, seq) > m) {
            max = Some((ms, seq));
        }
    }
    let Some(meta) = meta else {
        return Err(invalid("missing _meta line".into()));
    };
    if meta.length < 0 {
        return Err(invalid(format!("negative _meta length {}", meta.length)));
    }
    if meta.length != count {
        return Err(invalid(format!(
            "_meta length {} disagrees with {count} parsed entries",
            meta.length
        )));
    }
    if let Some((ms, seq)) = max {
        if (ms, seq) > (meta.last_ms, meta.last_seq) {
            return Err(invalid(format!(
                "_meta last {}-{} is behind max entry {ms}-{seq}",
                meta.last_ms, meta.last_seq
            )));
        }
    }
    let ttl = meta.expire_at_ms.unwrap_or(0);
    sink.add(
        &wide_key(STREAM_META, uk, &[]),
        &codec::encode_stream_meta(meta.length, meta.last_ms, meta.last_seq, ttl),
    )?;
    if ttl != 0 {
        sink.add(&cat(TTL, &[uk]), &be(ttl))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_names_and_stream_ids() {
        assert_eq!(parse_db_name(b"db_0"), Some(0));
        assert_eq!(parse_db_name(b"db_12"), Some(12));
        for bad in [
            &b"db_01"[..],
            b"db_-1",
            b"db_+1",
            b"db_",
            b"db_x",
            b"foo",
            b"db_99999999999",
        ] {
            assert_eq!(parse_db_name(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_stream_id("1-0"), Ok((1, 0)));
        assert_eq!(parse_stream_id("01-002"), Ok((1, 2)));
        assert_eq!(parse_stream_id("1-2-3").ok(), None);
        for bad in [
            "1",
            "-1",
            "1-",
            "+1-0",
            "1-+0",
            "18446744073709551616-0",
            "a-0",
        ] {
            assert!(parse_stream_id(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_stream_id("18446744073709551615-18446744073709551615"),
            Ok((u64::MAX, u64::MAX))
        );
    }
}
