//! DynamoDB rules pinned case by case: the decoder's generation handling,
//! skipped rows, file names and errors (on hand-made `.fsm` streams), and
//! the encoder's diagnostics on broken trees (exit code 2, nothing left).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ekvplan::testing::dynamodb::keys::{ITEM_MAGIC, SCHEMA_MAGIC, b64url};
use ekvplan::testing::dynamodb::proto::{AttrValue, Item, KeySchema, TableSchema};
use ekvplan::testing::dynamodb::public;
use ekvplan::testing::{self, DecodeContext, manifest};
use ekvplan::{
    AdapterKind, AdapterSet, CancelToken, DecodeOptions, EncodeJob, EncodeOutcome, FsmWriter,
    Manifest, Warn,
};
use manifest::Scope;

// ------------------------------------------------------------ decoding

fn schema(name: &str, hash: &str, range: &str, generation: u64, from: u64) -> Vec<u8> {
    let mut s = TableSchema {
        table_name: name.into(),
        primary_key: Some(KeySchema {
            hash_key: hash.into(),
            range_key: range.into(),
        }),
        generation,
        migrating_from_generation: from,
        key_encoding_version: 2,
        ..Default::default()
    };
    s.attribute_definitions.insert(hash.into(), "S".into());
    let mut v = SCHEMA_MAGIC.to_vec();
    v.extend_from_slice(&s.encode());
    v
}

fn item(attrs: &[(&str, AttrValue)]) -> Vec<u8> {
    let it = Item {
        attrs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    };
    let mut v = ITEM_MAGIC.to_vec();
    v.extend_from_slice(&it.encode());
    v
}

fn s(x: &str) -> AttrValue {
    AttrValue::S(x.into())
}

fn meta_key(table: &str) -> Vec<u8> {
    format!("!ddb|meta|table|{}", b64url(table.as_bytes())).into_bytes()
}

fn item_key(table: &str, generation: u64, pk: &str) -> Vec<u8> {
    format!("!ddb|item|{}|{generation}|{pk}", b64url(table.as_bytes())).into_bytes()
}

struct Decoded {
    dir: tempfile::TempDir,
    warnings: Vec<String>,
    result: ekvplan::Result<()>,
}

impl Decoded {
    fn file(&self, rel: &str) -> Option<String> {
        fs::read(self.dir.path().join(rel))
            .ok()
            .map(|b| String::from_utf8(b).unwrap())
    }
    fn files(&self) -> Vec<String> {
        let root = self.dir.path();
        if !root.join("dynamodb").exists() {
            return Vec::new();
        }
        testing::checksums::list_regular_files(root)
            .unwrap()
            .into_iter()
            .map(|(r, _)| String::from_utf8(r).unwrap())
            .collect()
    }
}

fn decode_entries(entries: &[(Vec<u8>, u64, Vec<u8>)], jsonl: bool) -> Decoded {
    decode_with_budget(entries, jsonl, 1 << 20)
}

fn decode_with_budget(entries: &[(Vec<u8>, u64, Vec<u8>)], jsonl: bool, budget: u64) -> Decoded {
    let mut w = FsmWriter::new(Vec::new(), 100).unwrap();
    for (k, ts, v) in entries {
        w.write_entry(k, *ts, 0, v).unwrap();
    }
    let bytes = w.into_inner();
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let warn: Warn = Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_string()));
    let adapters = crate::common::only(AdapterKind::DynamoDb);
    let ctx = DecodeContext::writing_to(
        dir.path(),
        &dir.path().join(".scratch"),
        DecodeOptions {
            adapters,
            dynamodb_bundle_jsonl: jsonl,
            ..DecodeOptions::default()
        },
        budget,
        warn,
    );
    let result = testing::decode_stream(&bytes[..], ctx, &CancelToken::new()).map(drop);
    let warnings = seen.lock().unwrap().clone();
    Decoded {
        dir,
        warnings,
        result,
    }
}

fn decode_ok(entries: &[(Vec<u8>, u64, Vec<u8>)], jsonl: bool) -> Decoded {
    let d = decode_entries(entries, jsonl);
    if let Err(e) = &d.result {
        panic!("decode failed: {e}");
    }
    d
}

/// Migration: source-generation items are kept, the active generation wins
/// a shared file name, stale generations are dropped with one warning.
#[test]
fn generations_follow_upstream() {
    let e = vec![
        (
            item_key("t", 1, "a"),
            5,
            item(&[("id", s("a")), ("v", s("old"))]),
        ),
        (
            item_key("t", 1, "b"),
            5,
            item(&[("id", s("b")), ("v", s("src-only"))]),
        ),
        (
            item_key("t", 2, "a"),
            5,
            item(&[("id", s("a")), ("v", s("new"))]),
        ),
        (item_key("t", 3, "c"), 5, item(&[("id", s("c"))])),
        (item_key("t", 9, "d"), 5, item(&[("id", s("d"))])),
        (meta_key("t"), 5, schema("t", "id", "", 2, 1)),
    ];
    for jsonl in [false, true] {
        let d = decode_ok(&e, jsonl);
        let stale: Vec<_> = d
            .warnings
            .iter()
            .filter(|w| w.starts_with("ddb_stale_generation_items"))
            .collect();
        assert_eq!(stale.len(), 1, "{:?}", d.warnings);
        assert!(stale[0].contains("stale_count=2"));
        if jsonl {
            let body = d.file("dynamodb/t/items/data-00001.jsonl").unwrap();
            assert_eq!(
                body,
                "{\"id\":{\"S\":\"a\"},\"v\":{\"S\":\"new\"}}\n{\"id\":{\"S\":\"b\"},\"v\":{\"S\":\"src-only\"}}\n"
            );
        } else {
            assert!(
                d.file("dynamodb/t/items/a.json")
                    .unwrap()
                    .contains("\"new\"")
            );
            assert!(
                d.file("dynamodb/t/items/b.json")
                    .unwrap()
                    .contains("src-only")
            );
            assert!(d.file("dynamodb/t/items/c.json").is_none());
        }
    }
}

#[test]
fn orphans_gsi_rows_and_counters_are_skipped() {
    let e = vec![
        (b"!ddb|gsi|dA|1|Zw|x".to_vec(), 5, b"whatever".to_vec()),
        (item_key("orphan", 1, "a"), 5, item(&[("id", s("a"))])),
        (item_key("t", 1, "a"), 5, item(&[("id", s("a"))])),
        (b"!ddb|meta|gen|dA".to_vec(), 5, b"1".to_vec()),
        (meta_key("t"), 5, schema("t", "id", "", 1, 0)),
    ];
    let d = decode_ok(&e, false);
    assert_eq!(
        d.files(),
        ["dynamodb/t/_schema.json", "dynamodb/t/items/a.json"]
    );
    assert_eq!(d.warnings.len(), 1);
    assert!(d.warnings[0].starts_with("ddb_orphan_items"));
    assert!(d.warnings[0].contains("buffered_items=1"));
}

#[test]
fn file_names_follow_upstream() {
    let num = |n: &str| AttrValue::N(n.into());
    let e = vec![
        (item_key("n", 1, "1"), 5, item(&[("k", num("0.5"))])),
        (item_key("n", 1, "2"), 5, item(&[("k", num("-12.5"))])),
        (item_key("n", 1, "3"), 5, item(&[("k", num("1E+2"))])),
        (item_key("n", 1, "4"), 5, item(&[("k", num(" 7 "))])),
        (
            item_key("c", 1, "1"),
            5,
            item(&[("h", s("")), ("r", s("x:y"))]),
        ),
        (
            item_key("c", 1, "2"),
            5,
            item(&[("h", AttrValue::B(vec![0, 1, 2])), ("r", s(""))]),
        ),
        (item_key("h", 1, "1"), 5, item(&[("id", s(""))])),
        (
            item_key("h", 1, "2"),
            5,
            item(&[("id", s("a")), ("z", AttrValue::Unset)]),
        ),
        (meta_key("n"), 5, schema("n", "k", "", 1, 0)),
        (meta_key("c"), 5, schema("c", "h", "r", 1, 0)),
        (meta_key("h"), 5, schema("h", "id", "", 1, 0)),
    ];
    let d = decode_ok(&e, false);
    assert_eq!(
        d.files(),
        [
            "dynamodb/c/_schema.json",
            "dynamodb/c/items/b64.AAEC/.json",
            "dynamodb/c/items/x%3Ay.json",
            "dynamodb/h/_schema.json",
            "dynamodb/h/items/.json",
            "dynamodb/h/items/a.json",
            "dynamodb/n/_schema.json",
            "dynamodb/n/items/-25%2F2.json",
            "dynamodb/n/items/1%2F2.json",
            "dynamodb/n/items/100.json",
            "dynamodb/n/items/7.json",
        ]
    );
    // N text is kept verbatim; an unset oneof surfaces as NULL: true.
    assert!(
        d.file("dynamodb/n/items/7.json")
            .unwrap()
            .contains("\" 7 \"")
    );
    assert_eq!(
        d.file("dynamodb/h/items/a.json").unwrap(),
        "{\n  \"id\": {\n    \"S\": \"a\"\n  },\n  \"z\": {\n    \"NULL\": true\n  }\n}"
    );
}

/// A migration to a lower generation number: the migration source is
/// still written first and the active generation still wins, whatever the
/// memory budget.
#[test]
fn active_generation_wins_when_it_is_the_lower_number() {
    let mut e = Vec::new();
    for i in 0..300 {
        let pk = format!("k{i:03}");
        let v = if i % 2 == 0 { "source" } else { "src-only" };
        e.push((
            item_key("t", 7, &pk),
            5,
            item(&[("id", s(&pk)), ("v", s(v))]),
        ));
    }
    for i in (0..300).step_by(2) {
        let pk = format!("k{i:03}");
        e.push((
            item_key("t", 3, &pk),
            5,
            item(&[("id", s(&pk)), ("v", s("active"))]),
        ));
    }
    e.push((meta_key("t"), 5, schema("t", "id", "", 3, 7)));
    for budget in [1 << 20, 4 << 10] {
        for jsonl in [false, true] {
            let d = decode_with_budget(&e, jsonl, budget);
            d.result.as_ref().unwrap();
            let body: String = if jsonl {
                d.file("dynamodb/t/items/data-00001.jsonl").unwrap()
            } else {
                (0..300)
                    .map(|i| d.file(&format!("dynamodb/t/items/k{i:03}.json")).unwrap())
                    .collect()
            };
            assert_eq!(body.matches("active").count(), 150, "{budget} {jsonl}");
            assert_eq!(body.matches("src-only").count(), 150, "{budget} {jsonl}");
            assert!(!body.contains("\"source\""), "{budget} {jsonl}");
        }
    }
}

/// Every MVCC version reaches the decoder (newest first); the one written
/// last (the older) wins on disk, as upstream.
#[test]
fn older_version_of_a_key_wins_like_upstream() {
    let k = item_key("t", 1, "a");
    let e = vec![
        (k.clone(), 9, item(&[("id", s("a")), ("v", s("newer"))])),
        (k, 5, item(&[("id", s("a")), ("v", s("older"))])),
        (meta_key("t"), 5, schema("t", "id", "", 1, 0)),
    ];
    for jsonl in [false, true] {
        let d = decode_ok(&e, jsonl);
        let body = if jsonl {
            d.file("dynamodb/t/items/data-00001.jsonl").unwrap()
        } else {
            d.file("dynamodb/t/items/a.json").unwrap()
        };
        assert!(body.contains("older") && !body.contains("newer"), "{body}");
    }
}

/// A raw `.fsm` row: user key, commit ts, value.
type Row = (Vec<u8>, u64, Vec<u8>);

#[test]
fn bad_rows_fail_the_decode() {
    let ok_meta = (meta_key("t"), 5, schema("t", "id", "r", 1, 0));
    let cases: Vec<(&str, Vec<Row>)> = vec![
        (
            "empty meta segment",
            vec![(b"!ddb|meta|table|".to_vec(), 5, schema("t", "id", "", 1, 0))],
        ),
        (
            "meta segment not base64",
            vec![(
                b"!ddb|meta|table|*".to_vec(),
                5,
                schema("t", "id", "", 1, 0),
            )],
        ),
        (
            "schema without magic",
            vec![(meta_key("t"), 5, b"\x0a\x01t".to_vec())],
        ),
        (
            "schema with bad proto",
            vec![(meta_key("t"), 5, [SCHEMA_MAGIC, b"\x0a\x05t"].concat())],
        ),
        (
            "item without magic",
            vec![(item_key("t", 1, "a"), 5, b"x".to_vec())],
        ),
        (
            "item with bad utf-8",
            vec![(
                item_key("t", 1, "a"),
                5,
                [ITEM_MAGIC, b"\x0a\x03\x0a\x01\xff"].concat(),
            )],
        ),
        (
            "item key without payload",
            vec![(b"!ddb|item|dA|1|".to_vec(), 5, item(&[]))],
        ),
        (
            "item key without generation",
            vec![(b"!ddb|item|dA||x".to_vec(), 5, item(&[]))],
        ),
        (
            "missing hash attribute",
            vec![
                (item_key("t", 1, "a"), 5, item(&[("r", s("x"))])),
                ok_meta.clone(),
            ],
        ),
        (
            "missing range attribute",
            vec![
                (item_key("t", 1, "a"), 5, item(&[("id", s("x"))])),
                ok_meta.clone(),
            ],
        ),
        (
            "bool hash attribute",
            vec![
                (
                    item_key("t", 1, "a"),
                    5,
                    item(&[("id", AttrValue::Bool(true)), ("r", s("x"))]),
                ),
                ok_meta.clone(),
            ],
        ),
        (
            "dot hash segment",
            vec![
                (
                    item_key("t", 1, "a"),
                    5,
                    item(&[("id", s(".")), ("r", s("x"))]),
                ),
                ok_meta.clone(),
            ],
        ),
        (
            "dot-dot range segment",
            vec![
                (
                    item_key("t", 1, "a"),
                    5,
                    item(&[("id", s("a")), ("r", AttrValue::N("..".into()))]),
                ),
                ok_meta.clone(),
            ],
        ),
    ];
    for (what, e) in cases {
        for jsonl in [false, true] {
            let d = decode_entries(&e, jsonl);
            assert!(d.result.is_err(), "{what} (jsonl={jsonl})");
        }
    }
}

// ------------------------------------------------------------ encoding

fn users_tree(root: &Path) {
    let mut m = Manifest::new_phase0(manifest::now_rfc3339_nano());
    m.adapters.as_mut().unwrap().dynamodb = Some(Scope::default());
    fs::create_dir_all(root.join("dynamodb/users/items/x")).unwrap();
    fs::write(root.join("MANIFEST.json"), m.to_bytes().unwrap()).unwrap();
    let mut defs = BTreeMap::new();
    defs.insert("id".to_string(), "S".to_string());
    defs.insert("n".to_string(), "N".to_string());
    let mut gsis = BTreeMap::new();
    gsis.insert(
        "by-n".to_string(),
        ekvplan::testing::dynamodb::proto::Gsi {
            key_schema: Some(KeySchema {
                hash_key: "n".into(),
                range_key: String::new(),
            }),
            projection: None,
        },
    );
    let sc = TableSchema {
        table_name: "users".into(),
        attribute_definitions: defs,
        primary_key: Some(KeySchema {
            hash_key: "id".into(),
            range_key: String::new(),
        }),
        global_secondary_indexes: gsis,
        ..Default::default()
    };
    fs::write(
        root.join("dynamodb/users/_schema.json"),
        public::schema_file_bytes(&sc),
    )
    .unwrap();
    fs::write(
        root.join("dynamodb/users/items/alice.json"),
        r#"{"id":{"S":"alice"},"n":{"N":"1"}}"#,
    )
    .unwrap();
    fs::write(
        root.join("dynamodb/users/items/x/bob.json"),
        r#"{"id":{"S":"bob"}}"#,
    )
    .unwrap();
    fs::write(root.join("dynamodb/users/items/notes.txt"), "skipped").unwrap();
}

fn encode(root: &Path) -> ekvplan::Result<EncodeOutcome> {
    encode_excluding(root, &[])
}

fn encode_excluding(root: &Path, tables: &[&str]) -> ekvplan::Result<EncodeOutcome> {
    let out = root.parent().unwrap().join("out.fsm");
    let mut j = EncodeJob::new(root, &out);
    j.exclusions.dynamodb_tables = tables.iter().map(|t| t.to_string()).collect();
    // The self-test must skip excluded tables (the others here are not in
    // canonical form, so it only runs with an exclusion).
    j.self_test = !tables.is_empty();
    j.adapters = AdapterSet::parse_encode_flag("dynamodb").unwrap();
    j.scratch_root = Some(root.parent().unwrap().to_path_buf());
    let r = ekvplan::run_encode(&j, &CancelToken::new(), &ekvplan::silent_warn(), None);
    if r.is_err() {
        assert!(!out.exists(), "output left after a failure");
    } else {
        fs::remove_file(&out).unwrap();
        fs::remove_file(testing::sidecar_path(&out)).unwrap();
    }
    r
}

/// Apply `mutate` to a fresh valid tree; the encode must fail with exit
/// code 2 and a message containing `needle`.
fn expect_data_error(what: &str, needle: &str, mutate: impl FnOnce(&Path)) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("in");
    users_tree(&root);
    mutate(&root);
    match encode(&root) {
        Ok(_) => panic!("{what}: encode succeeded"),
        Err(e) => {
            assert_eq!(e.exit_code(), 2, "{what}: {e}");
            let msg = e.to_string();
            assert!(msg.contains(needle), "{what}: {msg:?} lacks {needle:?}");
        }
    }
}

#[test]
fn valid_tree_encodes() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("in");
    users_tree(&root);
    // schema + gen + 2 items + 1 GSI row (bob has no "n": sparse).
    assert_eq!(encode(&root).unwrap().entries, 5);
    // A symlinked table directory is not a table.
    std::os::unix::fs::symlink(root.join("dynamodb/users"), root.join("dynamodb/link")).unwrap();
    assert_eq!(encode(&root).unwrap().entries, 5);
    // A plan exclusion skips the table (and the self-test ignores it).
    fs::write(root.join("dynamodb/users/items/bad.json"), "not json").unwrap();
    fs::remove_file(root.join("dynamodb/link")).unwrap();
    assert_eq!(encode_excluding(&root, &["users"]).unwrap().entries, 0);
    fs::remove_file(root.join("dynamodb/users/items/bad.json")).unwrap();
    // No items/ directory: schema and counter only.
    fs::remove_dir_all(root.join("dynamodb/users/items")).unwrap();
    assert_eq!(encode(&root).unwrap().entries, 2);
}

#[test]
fn broken_trees_are_refused() {
    let schema = |r: &Path| r.join("dynamodb/users/_schema.json");
    let items = |r: &Path| r.join("dynamodb/users/items");
    let edit_schema = |from: &'static str, to: &'static str| {
        move |r: &Path| {
            let p = r.join("dynamodb/users/_schema.json");
            let s = fs::read_to_string(&p).unwrap();
            assert!(s.contains(from), "{from}");
            fs::write(&p, s.replacen(from, to, 1)).unwrap();
        }
    };
    expect_data_error("missing schema", "_schema.json", |r| {
        fs::remove_file(schema(r)).unwrap()
    });
    expect_data_error("truncated schema", "_schema.json", |r| {
        let b = fs::read(schema(r)).unwrap();
        fs::write(schema(r), &b[..b.len() / 2]).unwrap();
    });
    expect_data_error("schema trailing data", "trailing", |r| {
        let mut b = fs::read(schema(r)).unwrap();
        b.extend_from_slice(b" x");
        fs::write(schema(r), b).unwrap();
    });
    expect_data_error(
        "format version",
        "format_version",
        edit_schema("\"format_version\": 1", "\"format_version\": 2"),
    );
    expect_data_error(
        "duplicate definition",
        "duplicate attribute",
        edit_schema("\"name\": \"n\"", "\"name\": \"id\""),
    );
    expect_data_error(
        "empty table name",
        "empty table_name",
        edit_schema("\"table_name\": \"users\"", "\"table_name\": \"\""),
    );
    expect_data_error(
        "dir mismatch",
        "encodes to directory",
        edit_schema("\"table_name\": \"users\"", "\"table_name\": \"people\""),
    );
    expect_data_error(
        "empty hash key",
        "empty primary hash key",
        edit_schema(
            "\"name\": \"id\",\n      \"type\": \"S\"\n    },\n    \"range_key\"",
            "\"name\": \"\"\n    },\n    \"range_key\"",
        ),
    );
    expect_data_error("schema symlink", "symlink", |r| {
        fs::rename(schema(r), r.join("s.json")).unwrap();
        std::os::unix::fs::symlink(r.join("s.json"), schema(r)).unwrap();
    });
    expect_data_error(
        "missing hash attribute",
        "missing hash-key attribute \"id\"",
        |r| {
            fs::write(items(r).join("c.json"), r#"{"n":{"N":"2"}}"#).unwrap();
        },
    );
    expect_data_error("key type mismatch", "not S, N, or B", |r| {
        fs::write(items(r).join("c.json"), r#"{"id":{"BOOL":true}}"#).unwrap();
    });
    expect_data_error("invalid key number", "c.json", |r| {
        fs::write(
            items(r).join("c.json"),
            r#"{"id":{"S":"c"},"n":{"N":"1.2.3"}}"#,
        )
        .unwrap();
    });
    expect_data_error("unknown type", "unknown attribute type \"X\"", |r| {
        fs::write(items(r).join("c.json"), r#"{"id":{"S":"c"},"v":{"X":1}}"#).unwrap();
    });
    expect_data_error("bad base64", "base64", |r| {
        fs::write(
            items(r).join("c.json"),
            r#"{"id":{"S":"c"},"v":{"B":"QQ"}}"#,
        )
        .unwrap();
    });
    expect_data_error("duplicate key", "duplicate", |r| {
        fs::write(items(r).join("c.json"), r#"{"id":{"S":"alice"}}"#).unwrap();
    });
    expect_data_error("nested directory", "at most 2 levels", |r| {
        fs::create_dir_all(items(r).join("x/y")).unwrap();
    });
    expect_data_error("items is a file", "not a directory", |r| {
        fs::remove_dir_all(items(r)).unwrap();
        fs::write(items(r), "").unwrap();
    });
    expect_data_error("item symlink", "symlink", |r| {
        std::os::unix::fs::symlink(items(r).join("alice.json"), items(r).join("c.json")).unwrap();
    });
    expect_data_error("item hard link", "hard-linked", |r| {
        fs::hard_link(items(r).join("alice.json"), r.join("elsewhere")).unwrap();
    });
}

fn to_jsonl_layout(root: &Path) {
    let mut m = Manifest::parse(&fs::read(root.join("MANIFEST.json")).unwrap()).unwrap();
    m.dynamodb_layout = manifest::LAYOUT_JSONL.into();
    fs::write(root.join("MANIFEST.json"), m.to_bytes().unwrap()).unwrap();
    let items = root.join("dynamodb/users/items");
    fs::remove_dir_all(&items).unwrap();
    fs::create_dir_all(&items).unwrap();
    fs::write(
        items.join("data-00001.jsonl"),
        "{\"id\":{\"S\":\"alice\"},\"n\":{\"N\":\"1\"}}\n\n{\"id\":{\"S\":\"bob\"}}",
    )
    .unwrap();
}

#[test]
fn jsonl_trees_encode_like_per_item_trees() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a/in");
    users_tree(&a);
    let b = t.path().join("b/in");
    users_tree(&b);
    to_jsonl_layout(&b);
    let (x, y) = (encode(&a).unwrap(), encode(&b).unwrap());
    assert_eq!((x.sha256, x.entries), (y.sha256, y.entries));
}

#[test]
fn broken_jsonl_trees_are_refused() {
    let jsonl = |mutate: fn(&Path)| {
        move |r: &Path| {
            to_jsonl_layout(r);
            mutate(r);
        }
    };
    expect_data_error(
        "bad line",
        "data-00002.jsonl:2",
        jsonl(|r| {
            fs::write(
                r.join("dynamodb/users/items/data-00002.jsonl"),
                "{\"id\":{\"S\":\"c\"}}\n{\"id\":",
            )
            .unwrap();
        }),
    );
    expect_data_error(
        "trailing data on a line",
        "data-00002.jsonl:1",
        jsonl(|r| {
            fs::write(
                r.join("dynamodb/users/items/data-00002.jsonl"),
                "{\"id\":{\"S\":\"c\"}} {}\n",
            )
            .unwrap();
        }),
    );
    expect_data_error(
        "per-item file in jsonl layout",
        "per-item file",
        jsonl(|r| {
            fs::write(r.join("dynamodb/users/items/c.json"), "{}").unwrap();
        }),
    );
    expect_data_error(
        "directory in jsonl layout",
        "is a directory",
        jsonl(|r| {
            fs::create_dir(r.join("dynamodb/users/items/x")).unwrap();
        }),
    );
    expect_data_error(
        "duplicate across bundles",
        "duplicate",
        jsonl(|r| {
            fs::write(
                r.join("dynamodb/users/items/data-00002.jsonl"),
                "{\"id\":{\"S\":\"bob\"}}\n",
            )
            .unwrap();
        }),
    );
}
