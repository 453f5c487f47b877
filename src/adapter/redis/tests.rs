//! Adapter-level tests: decoder rules on hand-built entry streams, encoder
//! rules on hand-built trees, and the encode → decode → encode property.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;

use super::codec::{self, encode_sortable_f64, encode_sortable_i64};
use super::decode::RedisDecoder;
use super::*;
use crate::adapter::{
    AdapterDecoder, AdapterKind, AdapterSet, CancelToken, DecodeContext, DecodeOptions,
    EncodeContext, EntrySink, ScopeExclusions, Warn,
};
use crate::decode::{Target, route};
use crate::manifest::Manifest;
use crate::tree::checksums::list_regular_files;

type Entries = Vec<(Vec<u8>, Vec<u8>)>;
type Tree = BTreeMap<String, Vec<u8>>;

/// Collects entries; rejects a duplicate key as the real builder does.
struct VecSink(Entries, std::collections::HashSet<Vec<u8>>);

impl EntrySink for VecSink {
    fn add(&mut self, k: &[u8], v: &[u8]) -> crate::Result<()> {
        if !self.1.insert(k.to_vec()) {
            return Err(crate::Error::data("duplicate key"));
        }
        self.0.push((k.to_vec(), v.to_vec()));
        Ok(())
    }
}

fn capture() -> (Warn, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    (
        Arc::new(move |m: &str| l2.lock().unwrap().push(m.to_string())),
        log,
    )
}

fn ctx(root: &Path, warn: Warn) -> DecodeContext {
    let mut adapters = AdapterSet::NONE;
    adapters.insert(AdapterKind::Redis);
    DecodeContext::writing_to(
        root,
        &root.join(".scratch"),
        DecodeOptions {
            adapters,
            ..DecodeOptions::default()
        },
        64 << 20,
        warn,
    )
}

struct Decoded {
    _dir: tempfile::TempDir,
    tree: Tree,
    warnings: Vec<String>,
    result: crate::Result<()>,
}

impl Decoded {
    fn file(&self, p: &str) -> String {
        String::from_utf8_lossy(
            self.tree
                .get(p)
                .unwrap_or_else(|| panic!("{p} missing; have {:?}", self.tree.keys())),
        )
        .into_owned()
    }
}

fn read_tree(root: &Path) -> Tree {
    list_regular_files(root)
        .unwrap()
        .into_iter()
        .map(|(rel, _)| {
            let rel = String::from_utf8(rel).unwrap();
            let body = std::fs::read(root.join(&rel)).unwrap();
            (rel, body)
        })
        .collect()
}

/// Feed entries (in the given order, every one a live version) to a fresh
/// decoder as the dispatcher would, then finalize.
fn decode_with(entries: &[(Vec<u8>, Vec<u8>)], budget: u64, pending_cap: u64) -> Decoded {
    let dir = tempfile::tempdir().unwrap();
    let (warn, log) = capture();
    let mut d = RedisDecoder::new(ctx(dir.path(), warn)).with_limits(budget, pending_cap);
    let mut result = Ok(());
    for (k, v) in entries {
        if let Some((p, Target::Adapter(AdapterKind::Redis))) = route(k) {
            if let Err(e) = d.handle(p, k, v) {
                result = Err(e);
                break;
            }
        }
    }
    let fin = d.finalize();
    if result.is_ok() {
        result = fin;
    }
    let tree = read_tree(dir.path());
    let warnings = log.lock().unwrap().clone();
    Decoded {
        _dir: dir,
        tree,
        warnings,
        result,
    }
}

fn decode(entries: &[(Vec<u8>, Vec<u8>)]) -> Decoded {
    decode_with(entries, 64 << 20, decode::PENDING_TTL_CAP)
}

fn e(k: impl AsRef<[u8]>, v: impl AsRef<[u8]>) -> (Vec<u8>, Vec<u8>) {
    (k.as_ref().to_vec(), v.as_ref().to_vec())
}

fn sorted(mut v: Entries) -> Entries {
    v.sort();
    v
}

fn encode_tree(root: &Path) -> crate::Result<Entries> {
    let scratch = tempfile::tempdir().unwrap();
    let m = Manifest::new_phase0("2026-01-01T00:00:00Z".into());
    let warn = crate::adapter::silent_warn();
    let (cancel, excl) = (CancelToken::new(), ScopeExclusions::default());
    let c = EncodeContext {
        input_root: root,
        manifest: &m,
        scratch_dir: scratch.path(),
        memory_budget: 1 << 20,
        exclusions: &excl,
        cancel: &cancel,
        warn: &warn,
    };
    let mut sink = VecSink(Vec::new(), Default::default());
    encode(&c, &mut sink)?;
    Ok(sorted(sink.0))
}

/// A dump tree with the given `redis/db_0/…` files.
fn tree_dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (rel, body) in files {
        let p = d.path().join("redis/db_0").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    d
}

fn be(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

// --- decoder rules -------------------------------------------------------

#[test]
fn strings_hll_and_their_sidecars() {
    let long = vec![b'k'; 300];
    let d = decode(&[
        e(
            cat(HLL, &[b"h1"]),
            b"\xff\x02\x01\x00\x00\x00\x00\x00\x00\x00\x07sk",
        ),
        e(cat(HLL, &[b"h2"]), b"raw"),
        e(cat(STR, &[&long]), codec::encode_string_value(b"v", 5)),
        e(cat(STR, &[b"legacy"]), b"old"),
        e(cat(STR, &[b"new"]), codec::encode_string_value(b"n", 0)),
        e(cat(TTL, &[b"h1"]), be(99)),
        e(cat(TTL, &[b"h2"]), be(8)),
        e(cat(TTL, &[&long]), be(99)),
        e(cat(TTL, &[b"legacy"]), be(0)),
        e(cat(TTL, &[b"new"]), be(3)),
    ]);
    d.result.as_ref().unwrap();
    assert_eq!(d.file("redis/db_0/hll/h1.bin"), "sk");
    assert_eq!(d.file("redis/db_0/hll/h2.bin"), "raw");
    assert_eq!(d.file("redis/db_0/strings/legacy.bin"), "old");
    assert_eq!(
        d.file("redis/db_0/hll_ttl.jsonl"),
        "{\"key\":\"h1\",\"expire_at_ms\":7}\n{\"key\":\"h2\",\"expire_at_ms\":8}\n"
    );
    let enc = crate::tree::filename::encode(&long);
    assert_eq!(
        d.file("redis/db_0/strings_ttl.jsonl"),
        format!(
            "{{\"key\":\"{enc}\",\"expire_at_ms\":5}}\n{{\"key\":\"legacy\",\"expire_at_ms\":0}}\n"
        )
    );
    // The fallback name is recorded for the blob and again for its TTL line.
    let km = d.file("redis/db_0/KEYMAP.jsonl");
    assert_eq!(km.lines().count(), 2);
    assert!(km.starts_with(&format!("{{\"encoded\":\"{enc}\",")));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn empty_keyspace_writes_nothing_and_unrouted_blobs_are_ignored() {
    let d = decode(&[]);
    assert!(d.tree.is_empty());
    let d = decode(&[e(b"!redis|hash|x", b"blob")]);
    assert!(d.tree.is_empty());
}

#[test]
fn oldest_version_wins_for_blobs() {
    let k = cat(STR, &[b"k"]);
    let d = decode(&[
        e(&k, codec::encode_string_value(b"newest", 0)),
        e(&k, codec::encode_string_value(b"oldest", 0)),
    ]);
    assert_eq!(d.file("redis/db_0/strings/k.bin"), "oldest");
}

#[test]
fn envelope_errors() {
    for (k, v) in [
        (cat(STR, &[b"k"]), &b"\xff\x01"[..]),
        (cat(STR, &[b"k"]), b"\xff\x01\x01\x00"),
        (cat(HLL, &[b"k"]), b"\xff\x02"),
        (cat(TTL, &[b"k"]), b"1234567"),
    ] {
        assert!(decode(&[e(k, v)]).result.is_err());
    }
}

#[test]
fn hash_rules() {
    let uk = b"h";
    let d = decode(&[
        e(wide_key(HASH_FIELD, uk, b""), b"empty name"),
        e(wide_key(HASH_FIELD, uk, b"\xff"), b"v"),
        e(wide_key(HASH_FIELD, uk, b"a<"), b"\x00\xff"),
        e(wide_key(HASH_META, uk, b""), codec::encode_count_meta(2, 0)),
        e(wide_key(HASH_META_DELTA, uk, b"\x00\x00"), b"junk"),
        e(
            wide_key(HASH_META, b"ttl", b""),
            codec::encode_count_meta(0, 0),
        ),
        e(
            wide_key(HASH_META, b"own", b""),
            codec::encode_count_meta(0, 7),
        ),
        e(cat(TTL, &[b"ttl"]), be(5)),
        e(cat(TTL, &[b"own"]), be(6)),
    ]);
    d.result.as_ref().unwrap();
    assert_eq!(
        d.file("redis/db_0/hashes/h.json"),
        r#"{
  "format_version": 1,
  "fields": [
    {
      "name": "",
      "value": "empty name"
    },
    {
      "name": "a\u003c",
      "value": {
        "base64": "AP8"
      }
    },
    {
      "name": {
        "base64": "_w"
      },
      "value": "v"
    }
  ],
  "expire_at_ms": null
}"#
    );
    assert!(
        d.file("redis/db_0/hashes/ttl.json")
            .ends_with("\"fields\": [],\n  \"expire_at_ms\": 5\n}")
    );
    assert!(
        d.file("redis/db_0/hashes/own.json")
            .ends_with("\"expire_at_ms\": 7\n}")
    );
    assert_eq!(d.warnings.len(), 1);
    assert!(
        d.warnings[0].starts_with(
            "redis_hash_length_mismatch user_key_len=1 declared_len=2 observed_fields=3"
        )
    );
    for bad in [
        e(wide_key(HASH_META, uk, b""), [0u8; 9]),
        e(wide_key(HASH_META, uk, b""), [0x80, 0, 0, 0, 0, 0, 0, 0]),
        e(b"!hs|fld|\x00\x00\x00\x09ab", b""),
        e(b"!hs|meta|\x00\x00", codec::encode_count_meta(0, 0)),
    ] {
        assert!(decode(&[bad]).result.is_err());
    }
    // An overlong length prefix is an error; trailing bytes after a meta's
    // user key are tolerated.
    let mut k = wide_key(HASH_META, b"x", b"");
    k.extend_from_slice(b"tail");
    let d = decode(&[e(k, codec::encode_count_meta(0, 0))]);
    assert!(d.tree.contains_key("redis/db_0/hashes/x.json"));
}

#[test]
fn list_rules() {
    let d = decode(&[
        e(cat(LIST_CLAIM, &[b"junk"]), b""),
        e(cat(LIST_ITEM, &[b"L", &encode_sortable_i64(5)]), b"c"),
        e(cat(LIST_ITEM, &[b"L", &encode_sortable_i64(-2)]), b"a"),
        e(cat(LIST_ITEM, &[b"L", &encode_sortable_i64(0)]), b"\xfe"),
        e(cat(LIST_META, &[b"L"]), codec::encode_list_meta(3, 9)),
        e(cat(LIST_ITEM, &[b"d|q", &encode_sortable_i64(0)]), b"x"),
        e(cat(LIST_META, &[b"d|q"]), codec::encode_list_meta(1, 4)),
        e(cat(LIST_META, &[b"d|empty"]), codec::encode_list_meta(0, 0)),
        e(cat(TTL, &[b"d|q"]), be(4)),
        e(cat(TTL, &[b"L"]), be(1)),
    ]);
    d.result.as_ref().unwrap();
    assert_eq!(
        d.file("redis/db_0/lists/L.json"),
        "{\n  \"format_version\": 1,\n  \"items\": [\n    \"a\",\n    {\n      \"base64\": \"_g\"\n    },\n    \"c\"\n  ],\n  \"expire_at_ms\": 9\n}"
    );
    // `d|…` list metas are taken for delta rows: the items still make a file
    // and the TTL comes from the scan index; an empty one vanishes.
    assert!(
        d.file("redis/db_0/lists/d%7Cq.json")
            .ends_with("\"expire_at_ms\": 4\n}")
    );
    assert!(!d.tree.contains_key("redis/db_0/lists/d%7Cempty.json"));
    assert!(d.warnings.is_empty());
    assert!(
        decode(&[e(cat(LIST_ITEM, &[b"1234567"]), b"")])
            .result
            .is_err()
    );
    assert!(
        decode(&[e(cat(LIST_META, &[b"x"]), [0u8; 25])])
            .result
            .is_err()
    );
}

#[test]
fn ttl_rows_parked_until_set_zset_stream_rows_claim_them() {
    let d = decode(&[
        e(cat(TTL, &[b"s"]), be(11)),
        e(cat(TTL, &[b"z"]), be(12)),
        e(cat(TTL, &[b"x"]), be(13)),
        e(cat(TTL, &[b"own"]), be(14)),
        e(cat(TTL, &[b"nobody"]), be(15)),
        e(
            wide_key(STREAM_META, b"x", b""),
            codec::encode_stream_meta(0, 0, 0, 0),
        ),
        e(wide_key(SET_MEMBER, b"s", b"m"), b"ignored"),
        e(
            wide_key(SET_META, b"own", b""),
            codec::encode_count_meta(0, 0),
        ),
        e(
            wide_key(ZSET_MEMBER, b"z", b"m"),
            1.5f64.to_bits().to_be_bytes(),
        ),
        e(wide_key(ZSET_SCORE, b"z", b"anything"), b""),
    ]);
    d.result.as_ref().unwrap();
    assert!(
        d.file("redis/db_0/sets/s.json")
            .ends_with("\"expire_at_ms\": 11\n}")
    );
    assert!(d.file("redis/db_0/zsets/z.json").contains("\"score\": 1.5"));
    assert!(
        d.file("redis/db_0/zsets/z.json")
            .ends_with("\"expire_at_ms\": 12\n}")
    );
    assert_eq!(
        d.file("redis/db_0/streams/x.jsonl"),
        "{\"_meta\":true,\"length\":0,\"last_ms\":0,\"last_seq\":0,\"expire_at_ms\":13}\n"
    );
    // A 16-byte meta arriving later overrides the claimed TTL (here: none).
    assert!(
        d.file("redis/db_0/sets/own.json")
            .ends_with("\"expire_at_ms\": 14\n}")
    );
    assert_eq!(d.warnings.len(), 1);
    assert!(d.warnings[0].starts_with("redis_orphan_ttl count=1 "));
    let d = decode(&[
        e(cat(TTL, &[b"own"]), be(14)),
        e(
            wide_key(SET_META, b"own", b""),
            codec::encode_count_meta(0, 0).repeat(2),
        ),
    ]);
    assert!(
        d.file("redis/db_0/sets/own.json")
            .ends_with("\"expire_at_ms\": null\n}")
    );
}

#[test]
fn pending_ttl_byte_cap() {
    // Cost = key + 8; equality with the cap is allowed.
    let rows =
        |keys: &[&[u8]]| -> Entries { keys.iter().map(|k| e(cat(TTL, &[k]), be(1))).collect() };
    let d = decode_with(&rows(&[b"ab", b"cd"]), 1 << 20, 20);
    d.result.as_ref().unwrap();
    let d = decode_with(&rows(&[b"ab", b"cd", b"e"]), 1 << 20, 20);
    assert!(d.result.is_err());
    assert!(
        d.warnings[0].contains("pending_ttl_buffer_overflow=1 pending_ttl_buffer_bytes_cap=20")
    );
    // A repeated key costs nothing extra; a claim refunds its cost.
    let d = decode_with(&rows(&[b"ab", b"ab", b"ab", b"cd"]), 1 << 20, 20);
    d.result.as_ref().unwrap();
    let mut v = rows(&[b"ab", b"cd"]);
    v.push(e(wide_key(SET_MEMBER, b"ab", b"m"), b""));
    v.extend(rows(&[b"ef"]));
    decode_with(&v, 1 << 20, 20).result.unwrap();
    // Cap 0: nothing is buffered, every early TTL is an orphan.
    let mut v = rows(&[b"s"]);
    v.push(e(wide_key(SET_MEMBER, b"s", b"m"), b""));
    let d = decode_with(&v, 1 << 20, 0);
    assert!(d.file("redis/db_0/sets/s.json").ends_with("null\n}"));
    assert!(d.warnings[0].starts_with("redis_orphan_ttl count=1 "));
}

#[test]
fn zset_legacy_blob_precedence() {
    let blob = |m: &[(&[u8], f64)]| proto::encode_zset_blob(m);
    let d = decode(&[
        e(cat(ZSET_BLOB, &[b"a"]), blob(&[(b"old", 1.0)])),
        e(
            cat(ZSET_BLOB, &[b"b"]),
            blob(&[(b"kept", f64::NEG_INFINITY)]),
        ),
        e(cat(ZSET_BLOB, &[b"c"]), blob(&[])),
        e(
            wide_key(ZSET_MEMBER, b"a", b"new"),
            2.0f64.to_bits().to_be_bytes(),
        ),
        e(
            wide_key(ZSET_META, b"b", b""),
            codec::encode_count_meta(1, 0),
        ),
        e(cat(ZSET_BLOB, &[b"a"]), blob(&[(b"later", 3.0)])),
    ]);
    d.result.as_ref().unwrap();
    let a = d.file("redis/db_0/zsets/a.json");
    assert!(
        a.contains("\"new\"") && !a.contains("old") && !a.contains("later"),
        "{a}"
    );
    assert!(
        d.file("redis/db_0/zsets/b.json")
            .contains("\"score\": \"-inf\"")
    );
    assert!(
        d.file("redis/db_0/zsets/c.json")
            .contains("\"members\": []")
    );
    for bad in [
        e(cat(ZSET_BLOB, &[b"a"]), b"\x00RZ"),
        e(cat(ZSET_BLOB, &[b"a"]), blob(&[(b"\xff", 1.0)])),
        e(cat(ZSET_BLOB, &[b"a"]), blob(&[(b"m", f64::NAN)])),
        e(
            wide_key(ZSET_MEMBER, b"a", b"m"),
            f64::NAN.to_bits().to_be_bytes(),
        ),
        e(wide_key(ZSET_MEMBER, b"a", b"m"), [0u8; 7]),
    ] {
        assert!(decode(&[bad]).result.is_err());
    }
}

#[test]
fn stream_rules() {
    let entry = |ms: u64, seq: u64, f: &[&[u8]]| {
        let mut id = be(ms).to_vec();
        id.extend_from_slice(&be(seq));
        let v = proto::encode_stream_entry(
            "ignored-id",
            &f.iter().map(|x| x.to_vec()).collect::<Vec<_>>(),
        )
        .unwrap();
        e(wide_key(STREAM_ENTRY, b"s", &id), v)
    };
    let d = decode(&[
        entry(10, 0, &[b"b", b"2"]),
        entry(2, 5, &[b"<a>", b"x", b"a", b"y"]),
        entry(2, 1, &[]),
        e(
            wide_key(STREAM_ENTRY, b"orphan", &[0; 16]),
            proto::encode_stream_entry("0-0", &[]).unwrap(),
        ),
        e(wide_key(STREAM_META, b"s", b""), {
            let mut m = codec::encode_stream_meta(4, 10, 0, 77);
            m.extend_from_slice(&[1; 16]);
            m
        }),
    ]);
    d.result.as_ref().unwrap();
    assert_eq!(
        d.file("redis/db_0/streams/s.jsonl"),
        "{\"id\":\"2-1\",\"fields\":[]}\n\
         {\"id\":\"2-5\",\"fields\":[{\"name\":\"\\u003ca\\u003e\",\"value\":\"x\"},{\"name\":\"a\",\"value\":\"y\"}]}\n\
         {\"id\":\"10-0\",\"fields\":[{\"name\":\"b\",\"value\":\"2\"}]}\n\
         {\"_meta\":true,\"length\":4,\"last_ms\":10,\"last_seq\":0,\"expire_at_ms\":77}\n"
    );
    assert!(!d.tree.contains_key("redis/db_0/streams/orphan.jsonl"));
    assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
    assert!(
        d.warnings[0].starts_with(
            "redis_stream_orphan_entries_without_meta user_key_len=6 observed_entries=1"
        )
    );
    assert!(d.warnings[1].starts_with("redis_stream_length_mismatch"));
    let odd = proto::encode_stream_entry("1-0", &[b"a".to_vec()]).unwrap();
    for bad in [
        e(
            wide_key(STREAM_ENTRY, b"s", &[0; 15]),
            proto::encode_stream_entry("1-0", &[]).unwrap(),
        ),
        e(wide_key(STREAM_ENTRY, b"s", &[0; 16]), odd),
        e(wide_key(STREAM_ENTRY, b"s", &[0; 16]), b"\x00RXE\x02"),
        e(wide_key(STREAM_META, b"s", b""), [0u8; 40]),
        e(wide_key(STREAM_META, b"s", b""), [0xff; 24]),
    ] {
        assert!(decode(&[bad]).result.is_err());
    }
}

#[test]
fn kind_is_last_writer_and_simple_inline_ownership_is_shared() {
    // Hash "k" then string "k": the TTL row goes to the string sidecar.
    let d = decode(&[
        e(
            wide_key(HASH_META, b"k", b""),
            codec::encode_count_meta(0, 0),
        ),
        e(cat(HLL, &[b"k"]), b"legacy"),
        e(cat(STR, &[b"k"]), codec::encode_string_value(b"s", 0)),
        e(cat(TTL, &[b"k"]), be(9)),
    ]);
    d.result.as_ref().unwrap();
    assert!(!d.tree.contains_key("redis/db_0/strings_ttl.jsonl"));
    assert!(!d.tree.contains_key("redis/db_0/hll_ttl.jsonl"));
    assert!(d.file("redis/db_0/hashes/k.json").ends_with("null\n}"));
}

// --- encoder rules -------------------------------------------------------

#[test]
fn encoder_worked_example() {
    let t = tree_dir(&[
        ("hashes/h.json", br#"{"format_version":1,"fields":[{"name":"f","value":"v"}],"expire_at_ms":1700000000000}"#),
        ("lists/L.json", br#"{"format_version":1,"items":["a","b"],"expire_at_ms":null}"#),
        ("zsets/z.json", br#"{"format_version":1,"members":[{"member":"m","score":1.5}]}"#),
        ("strings/s.bin", b"ab"),
        ("strings_ttl.jsonl", b"{\"key\":\"s\",\"expire_at_ms\":1}\n{\"key\":\"ghost\",\"expire_at_ms\":2}"),
        ("hll/x.bin", b"sk"),
        ("hll_ttl.jsonl", br#"{"key":"x","expire_at_ms":3}"#),
    ]);
    let got = encode_tree(t.path()).unwrap();
    let want = sorted(vec![
        e(wide_key(HASH_FIELD, b"h", b"f"), b"v"),
        e(
            wide_key(HASH_META, b"h", b""),
            [be(1), be(1_700_000_000_000)].concat(),
        ),
        e(cat(TTL, &[b"h"]), hex::decode("0000018bcfe56800").unwrap()),
        e(
            cat(
                LIST_ITEM,
                &[b"L", &hex::decode("8000000000000000").unwrap()],
            ),
            b"a",
        ),
        e(
            cat(
                LIST_ITEM,
                &[b"L", &hex::decode("8000000000000001").unwrap()],
            ),
            b"b",
        ),
        e(
            cat(LIST_META, &[b"L"]),
            hex::decode("000000000000000000000000000000020000000000000002").unwrap(),
        ),
        e(
            wide_key(ZSET_MEMBER, b"z", b"m"),
            hex::decode("3ff8000000000000").unwrap(),
        ),
        e(
            wide_key(
                ZSET_SCORE,
                b"z",
                &hex::decode("bff80000000000006d").unwrap(),
            ),
            b"",
        ),
        e(wide_key(ZSET_META, b"z", b""), be(1)),
        e(
            cat(STR, &[b"s"]),
            b"\xff\x01\x01\x00\x00\x00\x00\x00\x00\x00\x01ab",
        ),
        e(
            cat(HLL, &[b"x"]),
            b"\xff\x02\x01\x00\x00\x00\x00\x00\x00\x00\x03sk",
        ),
        e(cat(TTL, &[b"x"]), be(3)),
    ]);
    assert_eq!(got, want);
}

#[test]
fn encoder_collection_ttls_are_inline() {
    let t = tree_dir(&[
        (
            "hashes/a.json",
            br#"{"format_version":1,"fields":[],"expire_at_ms":5}"#,
        ),
        (
            "sets/b.json",
            br#"{"format_version":1,"members":[],"expire_at_ms":5}"#,
        ),
        (
            "lists/c.json",
            br#"{"format_version":1,"items":[],"expire_at_ms":5}"#,
        ),
        (
            "zsets/d.json",
            br#"{"format_version":1,"members":[],"expire_at_ms":5}"#,
        ),
        (
            "streams/e.jsonl",
            br#"{"_meta":true,"length":0,"last_ms":0,"last_seq":0,"expire_at_ms":5}"#,
        ),
        (
            "hashes/z.json",
            br#"{"format_version":1,"fields":[],"expire_at_ms":0}"#,
        ),
    ]);
    let got = encode_tree(t.path()).unwrap();
    let len = |k: Vec<u8>| got.iter().find(|(kk, _)| *kk == k).map(|(_, v)| v.len());
    assert_eq!(len(wide_key(HASH_META, b"a", b"")), Some(16));
    assert_eq!(len(wide_key(SET_META, b"b", b"")), Some(16));
    assert_eq!(len(cat(LIST_META, &[b"c"])), Some(32));
    assert_eq!(len(wide_key(ZSET_META, b"d", b"")), Some(16));
    assert_eq!(len(wide_key(STREAM_META, b"e", b"")), Some(32));
    assert_eq!(len(wide_key(HASH_META, b"z", b"")), Some(8));
    assert_eq!(got.iter().filter(|(k, _)| k.starts_with(TTL)).count(), 5);
}

#[test]
fn encoder_rejections() {
    let bad: &[&[(&str, &[u8])]] = &[
        &[("hashes/a.json", br#"{"format_version":2,"fields":[]}"#)],
        &[("hashes/a.json", br#"{"fields":[]}"#)],
        &[("hashes/a.json", br#"{"format_version":1} x"#)],
        &[("hashes/a.json", br#"{"format_version":1,"fields":[{"name":"a"}]}"#)],
        &[("hashes/a.json", br#"{"format_version":1,"fields":[{"name":"a","value":7}]}"#)],
        &[("hashes/a.json", br#"{"format_version":1,"fields":[{"name":"a","value":{"base64":"_w=="}}]}"#)],
        &[("hashes/a.json", br#"{"format_version":1,"fields":[{"name":"a","value":"1"},{"name":"a","value":"2"}]}"#)],
        &[("sets/a.json", br#"{"format_version":1,"members":[null]}"#)],
        &[("zsets/a.json", br#"{"format_version":1,"members":[{"member":"m","score":"inf"}]}"#)],
        &[("zsets/a.json", br#"{"format_version":1,"members":[{"member":"m"}]}"#)],
        &[("streams/a.jsonl", b"")],
        &[("streams/a.jsonl", br#"{"_meta":true}{"_meta":true}"#)],
        &[("streams/a.jsonl", br#"{"_meta":true,"length":-1}"#)],
        &[("streams/a.jsonl", br#"{"id":"5-0","fields":[]}{"_meta":true,"length":1,"last_ms":4}"#)],
        &[("streams/a.jsonl", br#"{"id":"5","fields":[]}{"_meta":true,"length":1,"last_ms":9}"#)],
        &[("streams/a.jsonl", br#"{"id":"1-0","fields":[{"name":{"base64":"_w"},"value":"x"}]}{"_meta":true,"length":1,"last_ms":9}"#)],
        &[("strings/a%zz.bin", b"")],
        &[("strings/0123456789abcdef0123456789abcdef__x.bin", b"")],
        &[("KEYMAP.jsonl", b"\n")],
        &[("strings_ttl.jsonl", b"{\"key\":1}")],
        &[("hashes/a.json", br#"{"format_version":1,"fields":[{"name":"a","value":{"base64":5,"base64":"QQ"}}]}"#)],
        &[("hashes/a.json", br#"{"format_version":"1","format_version":1,"fields":[]}"#)],
    ];
    for files in bad {
        let t = tree_dir(files);
        let r = encode_tree(t.path());
        assert!(r.is_err(), "{files:?} was accepted");
        assert_eq!(r.unwrap_err().exit_code(), 2);
    }
}

/// Upstream reads these (checked against elastickv-snapshot-encode): a
/// TTL sidecar is a stream of values with or without separators, and a
/// later `null` does not undo an earlier member.
#[test]
fn go_decoder_leniency() {
    let t = tree_dir(&[
        ("strings_ttl.jsonl", b"null{}"),
        (
            "hashes/a.json",
            br#"{"format_version":1,"fields":[],"expire_at_ms":5,"expire_at_ms":7,"format_version":null}"#,
        ),
    ]);
    let got = encode_tree(t.path()).unwrap();
    assert!(got.contains(&(cat(TTL, &[b"a"]), 7u64.to_be_bytes().to_vec())));
}

#[test]
fn encoder_leniency() {
    let t = tree_dir(&[
        ("zsets/a.json", br#"{"FORMAT_VERSION":1,"members":[{"Member":"m","score":null}]}]"#),
        ("streams/s.jsonl", b"{\"_meta\":true,\"length\":1,\"last_ms\":1,\"last_seq\":0}\n  {\"id\":\"01-0\",\"fields\":[{\"name\":\"a\",\"value\":{\"base64\":\"YR\"}}]}\n"),
        ("strings/%4a.bin", b"j"),
        ("strings/ignored.txt", b""),
        ("KEYMAP.jsonl", b"{\"encoded\":\"0123456789abcdef0123456789abcdef__x\",\"original\":\"QQ\",\"kind\":\"other\"}\r\n"),
        ("hll/0123456789abcdef0123456789abcdef__x.bin", b"s"),
    ]);
    let got = encode_tree(t.path()).unwrap();
    assert!(got.contains(&e(wide_key(ZSET_MEMBER, b"a", b"m"), be(0))));
    assert!(got.contains(&e(cat(STR, &[b"J"]), b"\xff\x01\x00j")));
    assert!(got.contains(&e(cat(HLL, &[b"A"]), b"s")));
    let entry = got
        .iter()
        .find(|(k, _)| k.starts_with(STREAM_ENTRY))
        .unwrap();
    // The id string is kept verbatim in the protobuf; the key uses numbers.
    assert!(entry.1.windows(4).any(|w| w == b"01-0"));
    assert!(
        entry
            .0
            .ends_with(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    );
}

#[test]
fn encoder_filesystem_rules() {
    use std::os::unix::fs::symlink;
    // Symlinked and non-regular entries in a subdir are skipped.
    let t = tree_dir(&[("strings/a.bin", b"x")]);
    let s = t.path().join("redis/db_0/strings");
    symlink(s.join("a.bin"), s.join("b.bin")).unwrap();
    std::fs::create_dir(s.join("c.bin")).unwrap();
    assert_eq!(encode_tree(t.path()).unwrap().len(), 1);
    // A hard-linked file fails.
    std::fs::hard_link(s.join("a.bin"), t.path().join("redis/db_0/hl")).unwrap();
    assert!(encode_tree(t.path()).is_err());
    // A symlinked subdir or db dir fails; non-canonical db names are skipped.
    let t = tree_dir(&[("x", b"")]);
    symlink(
        t.path().join("redis/db_0"),
        t.path().join("redis/db_0/hashes"),
    )
    .unwrap();
    assert!(encode_tree(t.path()).is_err());
    let t = tree_dir(&[("strings/a.bin", b"x")]);
    std::fs::create_dir(t.path().join("redis/db_01")).unwrap();
    std::fs::create_dir(t.path().join("redis/other")).unwrap();
    assert_eq!(encode_tree(t.path()).unwrap().len(), 1);
    std::fs::create_dir(t.path().join("redis/db_1")).unwrap();
    assert!(encode_tree(t.path()).is_err());
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("redis")).unwrap();
    std::fs::write(t.path().join("redis/db_0"), b"").unwrap();
    assert!(encode_tree(t.path()).is_err());
    let t = tempfile::tempdir().unwrap();
    assert!(encode_tree(t.path()).unwrap().is_empty());
    std::fs::write(t.path().join("redis"), b"").unwrap();
    assert!(encode_tree(t.path()).is_err());
}

// --- round trip property --------------------------------------------------

#[derive(Debug, Clone)]
enum Val {
    Str(Vec<u8>, u64),
    Hll(Vec<u8>, u64),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>, u64),
    List(Vec<Vec<u8>>, u64),
    Set(BTreeSet<Vec<u8>>, u64),
    ZSet(BTreeMap<Vec<u8>, f64>, u64),
    Stream(BTreeMap<(u64, u64), Vec<String>>, (u64, u64), u64),
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => proptest::collection::vec(any::<u8>(), 0..6),
        2 => "[a-z<>&\u{2028}é😀]{0,5}".prop_map(String::into_bytes),
        1 => proptest::collection::vec(b'a'..=b'c', 230..260),
    ]
}

fn ttl() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1..=i64::MAX as u64]
}

fn val() -> impl Strategy<Value = Val> {
    let small = || proptest::collection::vec(any::<u8>(), 0..5);
    let score = any::<f64>().prop_filter("NaN", |f| !f.is_nan());
    prop_oneof![
        (bytes(), ttl()).prop_map(|(b, t)| Val::Str(b, t)),
        (
            small().prop_filter("FF 02", |b| !b.starts_with(b"\xff\x02")),
            ttl()
        )
            .prop_map(|(b, t)| Val::Hll(b, t)),
        (
            proptest::collection::btree_map(bytes(), small(), 0..4),
            ttl()
        )
            .prop_map(|(m, t)| Val::Hash(m, t)),
        (proptest::collection::vec(bytes(), 0..4), ttl()).prop_map(|(v, t)| Val::List(v, t)),
        (proptest::collection::btree_set(bytes(), 0..4), ttl()).prop_map(|(v, t)| Val::Set(v, t)),
        (proptest::collection::btree_map(bytes(), score, 0..4), ttl())
            .prop_map(|(v, t)| Val::ZSet(v, t)),
        (
            proptest::collection::btree_map(
                (0u64..3, 0u64..3),
                proptest::collection::vec("[a-z\"<\n😀]{0,3}", 0..3)
                    .prop_map(|v| v.into_iter().flat_map(|s| [s.clone(), s]).collect()),
                0..4
            ),
            (0u64..2, 0u64..2),
            ttl()
        )
            .prop_map(|(m, extra, t)| {
                let max = m.keys().last().copied().unwrap_or((0, 0));
                Val::Stream(m, (max.0 + extra.0, max.1 + extra.1), t)
            }),
    ]
}

/// The canonical internal entries of a keyspace (what encoding its dump
/// must give back).
fn canonical(ks: &BTreeMap<Vec<u8>, Val>) -> Entries {
    let mut out = Vec::new();
    let ttl_row = |out: &mut Entries, uk: &[u8], t: u64| {
        if t != 0 {
            out.push(e(cat(TTL, &[uk]), be(t)));
        }
    };
    for (uk, v) in ks {
        match v {
            Val::Str(b, t) => out.push(e(cat(STR, &[uk]), codec::encode_string_value(b, *t))),
            Val::Hll(b, t) => {
                out.push(e(cat(HLL, &[uk]), codec::encode_hll_value(b, *t)));
                ttl_row(&mut out, uk, *t);
            }
            Val::Hash(m, t) => {
                out.push(e(
                    wide_key(HASH_META, uk, b""),
                    codec::encode_count_meta(m.len() as u64, *t),
                ));
                for (f, v) in m {
                    out.push(e(wide_key(HASH_FIELD, uk, f), v));
                }
                ttl_row(&mut out, uk, *t);
            }
            Val::List(items, t) => {
                out.push(e(
                    cat(LIST_META, &[uk]),
                    codec::encode_list_meta(items.len() as u64, *t),
                ));
                for (i, it) in items.iter().enumerate() {
                    out.push(e(cat(LIST_ITEM, &[uk, &encode_sortable_i64(i as i64)]), it));
                }
                ttl_row(&mut out, uk, *t);
            }
            Val::Set(m, t) => {
                out.push(e(
                    wide_key(SET_META, uk, b""),
                    codec::encode_count_meta(m.len() as u64, *t),
                ));
                for x in m {
                    out.push(e(wide_key(SET_MEMBER, uk, x), b""));
                }
                ttl_row(&mut out, uk, *t);
            }
            Val::ZSet(m, t) => {
                out.push(e(
                    wide_key(ZSET_META, uk, b""),
                    codec::encode_count_meta(m.len() as u64, *t),
                ));
                for (x, s) in m {
                    out.push(e(wide_key(ZSET_MEMBER, uk, x), s.to_bits().to_be_bytes()));
                    let mut suf = encode_sortable_f64(*s).to_vec();
                    suf.extend_from_slice(x);
                    out.push(e(wide_key(ZSET_SCORE, uk, &suf), b""));
                }
                ttl_row(&mut out, uk, *t);
            }
            Val::Stream(m, last, t) => {
                out.push(e(
                    wide_key(STREAM_META, uk, b""),
                    codec::encode_stream_meta(m.len() as i64, last.0, last.1, *t),
                ));
                for ((ms, seq), f) in m {
                    let mut id = be(*ms).to_vec();
                    id.extend_from_slice(&be(*seq));
                    let fields: Vec<Vec<u8>> = f.iter().map(|s| s.as_bytes().to_vec()).collect();
                    out.push(e(
                        wide_key(STREAM_ENTRY, uk, &id),
                        proto::encode_stream_entry(&format!("{ms}-{seq}"), &fields).unwrap(),
                    ));
                }
                ttl_row(&mut out, uk, *t);
            }
        }
    }
    out
}

/// Entries in `.fsm` order: by `userKey ‖ ^T`, one commit TS for all.
fn fsm_order(mut v: Entries) -> Entries {
    let k = |u: &[u8]| {
        let mut x = u.to_vec();
        x.extend_from_slice(&(!1u64).to_be_bytes());
        x
    };
    v.sort_by_key(|a| k(&a.0));
    v
}

fn write_tree(d: &Decoded) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for (rel, body) in &d.tree {
        let p = t.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn keyspace_encode_decode_encode_is_stable(
        ks in proptest::collection::btree_map(
            bytes().prop_filter("d| list quirk", |k| !k.starts_with(b"d|")),
            val(),
            0..8,
        )
    ) {
        let want = canonical(&ks);
        let d1 = decode(&fsm_order(want.clone()));
        prop_assert!(d1.result.is_ok(), "{:?}", d1.result);
        let t1 = write_tree(&d1);
        let enc1 = encode_tree(t1.path()).unwrap();
        prop_assert_eq!(&enc1, &sorted(want));
        let d2 = decode(&fsm_order(enc1.clone()));
        prop_assert_eq!(&d2.tree, &d1.tree);
        // The spilling decoder writes the same tree.
        let d3 = decode_with(&fsm_order(enc1), 0, decode::PENDING_TTL_CAP);
        prop_assert_eq!(&d3.tree, &d1.tree);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Arbitrary bytes under every Redis prefix never panic the decoder.
    #[test]
    fn decoder_never_panics(
        rows in proptest::collection::vec(
            (0..ROUTES.len(), proptest::collection::vec(any::<u8>(), 0..24), proptest::collection::vec(any::<u8>(), 0..40)),
            0..24,
        ),
        spill in any::<bool>(),
    ) {
        let entries: Entries = rows
            .into_iter()
            .map(|(p, k, v)| (cat(ROUTES[p], &[&k]), v))
            .collect();
        let _ = decode_with(&entries, if spill { 0 } else { 1 << 20 }, 64);
    }

    /// Arbitrary bytes as collection/stream/TTL files never panic the
    /// readers.
    #[test]
    fn json_readers_never_panic(b in proptest::collection::vec(prop_oneof![
        Just(b'{'), Just(b'}'), Just(b'['), Just(b']'), Just(b'"'), Just(b':'), Just(b','),
        Just(b'\\'), Just(b' '), Just(b'n'), Just(b'1'), any::<u8>(),
    ], 0..48)) {
        use super::records::*;
        let _ = crate::gojson::decode_one::<HashRecord>(&b);
        let _ = crate::gojson::decode_one::<SetRecord>(&b);
        let _ = crate::gojson::decode_one::<ZSetRecord>(&b);
        let mut vs = crate::gojson::ValueStream::new(&b[..]);
        while let Ok(Some(v)) = vs.next_value() {
            let _ = crate::gojson::decode_value::<StreamLine>(v.bytes);
            let _ = crate::gojson::decode_value::<TtlRecord>(v.bytes);
        }
    }
}

/// JSON text of arbitrary shape over the field names the readers know,
/// duplicate keys included.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        (0u64..3).prop_map(|n| n.to_string()),
        Just("-1".to_string()),
        Just("1.5".to_string()),
        "[a-z_]{0,3}".prop_map(|s| format!("{s:?}")),
        Just("\"+inf\"".to_string()),
        Just("\"1-0\"".to_string()),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        let key = prop_oneof![
            Just("format_version"),
            Just("FIELDS"),
            Just("fields"),
            Just("members"),
            Just("items"),
            Just("name"),
            Just("value"),
            Just("member"),
            Just("score"),
            Just("base64"),
            Just("expire_at_ms"),
            Just("_meta"),
            Just("id"),
            Just("length"),
            Just("last_ms"),
            Just("key"),
            Just("x"),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec((key, inner), 0..5).prop_map(|m| {
                let body: Vec<String> = m.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Well-formed JSON of any shape goes through the struct decoding and
    /// record building without panicking.
    #[test]
    fn structured_json_never_panics(text in json_text()) {
        prop_assert!(crate::gojson::parse(text.as_bytes()).is_ok(), "{}", text);
        for sub in ["hashes/k.json", "sets/k.json", "lists/k.json", "zsets/k.json", "streams/k.jsonl", "strings_ttl.jsonl"] {
            let t = tree_dir(&[(sub, text.as_bytes())]);
            let _ = encode_tree(t.path());
        }
    }
}

/// One valid row of any Redis family for one of a few user keys (the
/// last needs a SHA-fallback file name), so that types, TTL rows and
/// metas of one key interleave in every order.
fn any_row() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let uk = prop_oneof![
        Just(b"a".to_vec()),
        Just(b"b\0".to_vec()),
        Just(vec![b'k'; 300])
    ];
    let ms = prop_oneof![Just(0u64), Just(5), Just(77)];
    (uk, 0..14u8, ms, 0..3u8).prop_map(|(uk, kind, ms, n)| {
        let m = [b'm', b'0' + n];
        match kind {
            0 => e(cat(STR, &[&uk]), codec::encode_string_value(b"s", ms)),
            1 => e(cat(STR, &[&uk]), b"legacy"),
            2 => e(cat(HLL, &[&uk]), codec::encode_hll_value(b"h", ms)),
            3 | 4 => e(cat(TTL, &[&uk]), be(ms)),
            5 => e(
                wide_key(HASH_META, &uk, b""),
                codec::encode_count_meta(1, ms),
            ),
            6 => e(wide_key(HASH_FIELD, &uk, &m), [n]),
            7 => e(
                wide_key(SET_META, &uk, b""),
                codec::encode_count_meta(2, ms),
            ),
            8 => e(wide_key(SET_MEMBER, &uk, &m), b""),
            9 => e(
                wide_key(ZSET_MEMBER, &uk, &m),
                f64::from(n).to_bits().to_be_bytes(),
            ),
            10 => e(
                cat(ZSET_BLOB, &[&uk]),
                proto::encode_zset_blob(&[(&m, 0.5)]),
            ),
            11 => e(cat(LIST_META, &[&uk]), codec::encode_list_meta(1, ms)),
            12 => e(
                cat(LIST_ITEM, &[&uk, &codec::encode_sortable_i64(i64::from(n))]),
                m,
            ),
            _ => e(
                wide_key(STREAM_META, &uk, b""),
                codec::encode_stream_meta(0, 1, u64::from(n), ms),
            ),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The key replay gives the same tree, sidecar line order, warnings
    /// and result whether its events, lines and contents stay in memory
    /// or spill at every record.
    #[test]
    fn key_replay_does_not_depend_on_the_budget(
        rows in proptest::collection::vec(any_row(), 0..40),
    ) {
        let big = decode_with(&rows, 1 << 20, decode::PENDING_TTL_CAP);
        let tiny = decode_with(&rows, 0, decode::PENDING_TTL_CAP);
        prop_assert_eq!(&big.tree, &tiny.tree);
        prop_assert_eq!(&big.warnings, &tiny.warnings);
        prop_assert_eq!(big.result.is_ok(), tiny.result.is_ok());
    }
}
