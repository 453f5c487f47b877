//! Random DynamoDB tables through the whole pipeline:
//! tree → encode → decode → encode must be byte-stable in both layouts, and
//! a jsonl tree holding the same items (any order, any packing) must encode
//! to the same bytes as the per-item tree.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ekvplan::testing::dynamodb::proto::{AttrValue, Gsi, Item, KeySchema, Projection, TableSchema};
use ekvplan::testing::dynamodb::{keys, public};
use ekvplan::testing::{self, filename, manifest};
use ekvplan::{
    AdapterKind, AdapterSet, CancelToken, DecodeOptions, DecodeRequest, EncodeJob, Manifest,
    run_decode, run_encode, silent_warn,
};
use manifest::Scope;
use proptest::prelude::*;

/// xorshift64*: a tiny deterministic generator driven by proptest's seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn text(&mut self, max: u64) -> String {
        const PALETTE: &[char] = &[
            'a', 'Z', '0', '.', '-', '_', '~', '%', '/', ' ', '<', '&', '>', '"', '\\', '\n',
            '\u{0}', '\u{2028}', 'é', '😀', '#', ':', '+',
        ];
        (0..self.below(max + 1))
            .map(|_| *self.pick(PALETTE))
            .collect()
    }
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        (0..self.below(max + 1))
            .map(|_| self.next() as u8)
            .collect()
    }
    fn attr(&mut self, depth: u32) -> AttrValue {
        let kinds = if depth < 3 { 10 } else { 8 };
        match self.below(kinds) {
            0 => AttrValue::S(self.text(8)),
            1 => AttrValue::N(self.text(6)),
            2 => AttrValue::B(self.bytes(8)),
            3 => AttrValue::Bool(self.chance(50)),
            4 => AttrValue::Null(self.chance(50)),
            5 => AttrValue::Ss((0..self.below(3)).map(|_| self.text(4)).collect()),
            6 => AttrValue::Ns((0..self.below(3)).map(|_| self.text(4)).collect()),
            7 => AttrValue::Bs((0..self.below(3)).map(|_| self.bytes(4)).collect()),
            8 => AttrValue::L((0..self.below(4)).map(|_| self.attr(depth + 1)).collect()),
            _ => AttrValue::M(
                (0..self.below(4))
                    .map(|_| (self.text(5), self.attr(depth + 1)))
                    .collect(),
            ),
        }
    }
    /// A key value of type `ty`, unique by `id` (numerically for N).
    fn key(&mut self, ty: &str, id: i64) -> AttrValue {
        match ty {
            "S" => AttrValue::S(format!("{}#{id}", self.text(6))),
            "B" => {
                let mut b = self.bytes(6);
                b.extend_from_slice(&id.to_be_bytes());
                AttrValue::B(b)
            }
            _ => {
                let v = id * 3;
                let spellings = [
                    format!("{v}"),
                    format!("{v}.000"),
                    format!("{v}e0"),
                    format!("{v}0E-1"),
                    format!(" {v} "),
                    format!("{v}.25"),
                    format!("{}e{}", v, 0),
                ];
                AttrValue::N(self.pick(&spellings).clone())
            }
        }
    }
}

struct Table {
    schema: TableSchema,
    items: Vec<Item>,
}

fn random_table(rng: &mut Rng, idx: usize) -> Table {
    let types = ["S", "N", "B"];
    let hash_ty = *rng.pick(&types);
    let range_ty = if rng.chance(50) {
        Some(*rng.pick(&types))
    } else {
        None
    };
    let mut defs = BTreeMap::new();
    defs.insert("h".to_string(), hash_ty.to_string());
    if let Some(r) = range_ty {
        defs.insert("r".to_string(), r.to_string());
    }
    let mut gsis = BTreeMap::new();
    let mut gsi_types = Vec::new();
    for j in 0..rng.below(3) {
        let gh = format!("g{j}h");
        let ght = *rng.pick(&types);
        defs.insert(gh.clone(), ght.to_string());
        let gr = if rng.chance(50) {
            let gr = format!("g{j}r");
            let grt = *rng.pick(&types);
            defs.insert(gr.clone(), grt.to_string());
            gsi_types.push((gh.clone(), ght, Some((gr.clone(), grt))));
            gr
        } else {
            gsi_types.push((gh.clone(), ght, None));
            String::new()
        };
        let nka = (0..rng.below(3)).map(|_| rng.text(4)).collect();
        gsis.insert(
            format!("{}-idx{j}", rng.text(4)),
            Gsi {
                key_schema: Some(KeySchema {
                    hash_key: gh,
                    range_key: gr,
                }),
                projection: Some(Projection {
                    projection_type: rng.pick(&["ALL", "KEYS_ONLY", "INCLUDE", ""]).to_string(),
                    non_key_attributes: nka,
                }),
            },
        );
    }
    let schema = TableSchema {
        table_name: format!("{}t{idx}", rng.text(6)),
        attribute_definitions: defs,
        primary_key: Some(KeySchema {
            hash_key: "h".into(),
            range_key: if range_ty.is_some() {
                "r".into()
            } else {
                String::new()
            },
        }),
        global_secondary_indexes: gsis,
        key_encoding_version: keys::KEY_ENCODING_V2,
        migrating_from_generation: 0,
        generation: keys::RESTORE_GENERATION,
    };
    let hash_pool: Vec<AttrValue> = (0..3).map(|i| rng.key(hash_ty, i - 1)).collect();
    let mut items = Vec::new();
    for i in 0..rng.below(14) as i64 {
        let mut it = Item::default();
        for _ in 0..rng.below(5) {
            let name = rng.text(5);
            let v = rng.attr(0);
            it.attrs.insert(name, v);
        }
        for (gh, ght, gr) in &gsi_types {
            if rng.chance(70) {
                let id = rng.below(5) as i64 - 2;
                it.attrs.insert(gh.clone(), rng.key(ght, id));
            }
            if let Some((gr, grt)) = gr {
                if rng.chance(70) {
                    let id = rng.below(5) as i64 - 2;
                    it.attrs.insert(gr.clone(), rng.key(grt, id));
                }
            }
        }
        match range_ty {
            None => {
                it.attrs.insert("h".into(), rng.key(hash_ty, i - 7));
            }
            Some(rt) => {
                it.attrs.insert("h".into(), rng.pick(&hash_pool).clone());
                it.attrs.insert("r".into(), rng.key(rt, i - 7));
            }
        }
        items.push(it);
    }
    Table { schema, items }
}

fn write_manifest(root: &Path, jsonl: bool) {
    let mut m = Manifest::new_phase0(manifest::now_rfc3339_nano());
    m.last_commit_ts = 77;
    m.adapters.as_mut().unwrap().dynamodb = Some(Scope::default());
    if jsonl {
        m.dynamodb_layout = manifest::LAYOUT_JSONL.into();
    }
    fs::write(root.join(manifest::FILE_NAME), m.to_bytes().unwrap()).unwrap();
}

fn table_dir(root: &Path, t: &Table) -> PathBuf {
    root.join("dynamodb")
        .join(filename::encode(t.schema.table_name.as_bytes()))
}

/// A per-item tree with arbitrary (non-canonical) item file names.
fn write_per_item_tree(root: &Path, tables: &[Table]) {
    fs::create_dir_all(root).unwrap();
    write_manifest(root, false);
    for t in tables {
        let dir = table_dir(root, t);
        fs::create_dir_all(dir.join("items")).unwrap();
        fs::write(
            dir.join("_schema.json"),
            public::schema_file_bytes(&t.schema),
        )
        .unwrap();
        for (i, it) in t.items.iter().enumerate() {
            let sub = if i % 3 == 0 { "x/" } else { "" };
            let p = dir.join(format!("items/{sub}item-{i}.json"));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, public::item_file_bytes(it)).unwrap();
        }
    }
}

/// A jsonl tree of the same items, reversed and split into two bundles.
fn write_jsonl_tree(root: &Path, tables: &[Table]) {
    fs::create_dir_all(root).unwrap();
    write_manifest(root, true);
    for t in tables {
        let dir = table_dir(root, t);
        fs::create_dir_all(dir.join("items")).unwrap();
        fs::write(
            dir.join("_schema.json"),
            public::schema_file_bytes(&t.schema),
        )
        .unwrap();
        let mut parts = [Vec::new(), Vec::new()];
        for (i, it) in t.items.iter().rev().enumerate() {
            parts[i % 2].extend_from_slice(&public::item_line_bytes(it));
            if i % 4 == 0 {
                parts[i % 2].extend_from_slice(b"\n  \r\n");
            }
        }
        for (n, p) in parts.iter().enumerate() {
            fs::write(dir.join(format!("items/b{n}.jsonl")), p).unwrap();
        }
    }
}

fn encode(input: &Path, out: &Path, self_test: bool) -> ekvplan::Result<Vec<u8>> {
    let mut j = EncodeJob::new(input, out);
    j.adapters = AdapterSet::parse_encode_flag("dynamodb").unwrap();
    j.self_test = self_test;
    j.memory_budget = 64 << 10;
    j.scratch_root = Some(out.parent().unwrap().to_path_buf());
    run_encode(&j, &CancelToken::new(), &silent_warn(), None)?;
    Ok(fs::read(out).unwrap())
}

fn decode(fsm: &Path, out: &Path, jsonl: bool, bundle: u64) {
    let adapters = crate::common::only(AdapterKind::DynamoDb);
    let req = DecodeRequest {
        input: fsm.display().to_string(),
        output: out.to_path_buf(),
        options: DecodeOptions {
            adapters,
            dynamodb_bundle_jsonl: jsonl,
            dynamodb_bundle_max_bytes: bundle,
            ..DecodeOptions::default()
        },
        cluster_id: String::new(),
        force: false,
        memory_budget: 16 << 10,
    };
    run_decode(&req, silent_warn(), &CancelToken::new()).unwrap();
}

fn run_case(seed: u64) {
    let mut rng = Rng(seed | 1);
    let tables: Vec<Table> = (0..1 + rng.below(3) as usize)
        .map(|i| random_table(&mut rng, i))
        .collect();
    let t = tempfile::tempdir().unwrap();
    let p = |s: &str| t.path().join(s);
    write_per_item_tree(&p("raw"), &tables);
    let a = encode(&p("raw"), &p("a.fsm"), false).unwrap();

    // Per-item: decode, re-encode with the self-test, same bytes.
    decode(&p("a.fsm"), &p("t1"), false, 0);
    assert_eq!(encode(&p("t1"), &p("a1.fsm"), true).unwrap(), a, "per-item");

    // Jsonl, with a random bundle budget: same.
    let bundle = *rng.pick(&[1, 200, 4096, 64 << 20]);
    decode(&p("a.fsm"), &p("t2"), true, bundle);
    assert_eq!(
        encode(&p("t2"), &p("a2.fsm"), true).unwrap(),
        a,
        "jsonl {bundle}"
    );
    // ... and a jsonl tree made by hand (other order and packing): same.
    write_jsonl_tree(&p("raw-jsonl"), &tables);
    assert_eq!(
        encode(&p("raw-jsonl"), &p("a3.fsm"), false).unwrap(),
        a,
        "hand jsonl"
    );

    // The two decoded trees hold the same items.
    for tb in &tables {
        let d1 = table_dir(&p("t1"), tb).join("items");
        let d2 = table_dir(&p("t2"), tb).join("items");
        let per_item = testing::checksums::list_regular_files(&d1).unwrap();
        let mut lines = 0;
        for (name, path) in testing::checksums::list_regular_files(&d2).unwrap() {
            assert!(name.starts_with(b"data-") && name.ends_with(b".jsonl"));
            let body = fs::read(path).unwrap();
            assert!(
                body.len() as u64 <= bundle || body.iter().filter(|&&c| c == b'\n').count() == 1
            );
            lines += body.iter().filter(|&&c| c == b'\n').count();
        }
        assert_eq!(lines, per_item.len());
        assert_eq!(per_item.len(), tb.items.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_tables_round_trip_in_both_layouts(seed in any::<u64>()) {
        run_case(seed);
    }
}

#[test]
fn fixed_seeds_round_trip() {
    for seed in [1, 2, 3, 0xdead_beef] {
        run_case(seed);
    }
}
