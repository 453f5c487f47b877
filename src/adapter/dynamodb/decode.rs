//! `.fsm` → `dynamodb/<table>/{_schema.json, items/...}`.
//!
//! In key order item rows (`!ddb|item|`) come before their schema
//! (`!ddb|meta|table|`), so items are validated as they arrive and parked
//! in the external sorter, grouped by (table, generation) and in arrival
//! order within a group; `finalize` writes every table once all schemas
//! are known. Per-item layout: one file per item, migration-source
//! generation first and active generation last, so the active one wins a
//! shared file name (as upstream). Jsonl layout (beyond upstream): the same
//! set of items, one compact JSON object per line, lines in file-path order,
//! packed into `items/data-<part>.jsonl` files up to the size budget. Half
//! the decoder's budget parks items, the other half reorders them at
//! finalize (by file path, or by pass when a table is migrating).

use std::collections::{BTreeMap, HashMap};

use crate::adapter::{AdapterDecoder, DecodeContext};
use crate::error::{Error, InputError, Result};
use crate::sorter::key::{self, KeyReader};
use crate::sorter::{ExternalSorter, Ties};
use crate::tree::{FileWriter, TreeOut, filename, sink};

use super::keys::{
    GSI_PREFIX, ITEM_MAGIC, ITEM_PREFIX, META_GEN_PREFIX, META_TABLE_PREFIX, SCHEMA_MAGIC,
    parse_item_key,
};
use super::number::canonical_number;
use super::proto::{AttrValue, Item, TableSchema};
use super::public::{item_file_bytes, item_line_bytes, schema_file_bytes};

struct TableState {
    /// The b64url segment of the keys (tables are keyed by it, as upstream).
    encoded: String,
    /// Decoded name bytes (from the meta key) and schema, once seen.
    name: Vec<u8>,
    schema: Option<TableSchema>,
    items_by_gen: BTreeMap<u64, u64>,
}

impl TableState {
    /// Generations written, in write order: the migration source (if any)
    /// then the active one.
    fn emit_generations(&self) -> Vec<u64> {
        let s = self.schema.as_ref().expect("schema");
        let mut v = Vec::new();
        if s.migrating_from_generation != 0 && s.migrating_from_generation != s.generation {
            v.push(s.migrating_from_generation);
        }
        v.push(s.generation);
        v
    }
}

pub struct DynamoDecoder {
    ctx: DecodeContext,
    tables: Vec<TableState>,
    by_encoded: HashMap<String, u32>,
    /// Item bodies keyed by (table index, generation).
    items: Option<ExternalSorter>,
    /// A `handle` error already failed the decode; skip the finalize work.
    failed: bool,
}

fn malformed(msg: impl std::fmt::Display) -> Error {
    Error::data(format!("dynamodb: malformed DynamoDB key: {msg}"))
}

impl DynamoDecoder {
    pub fn new(ctx: &DecodeContext) -> Self {
        DynamoDecoder {
            items: Some(Self::sorter(ctx)),
            ctx: ctx.clone(),
            tables: Vec::new(),
            by_encoded: HashMap::new(),
            failed: false,
        }
    }

    /// One of the decoder's two sorters, each with half its budget.
    fn sorter(ctx: &DecodeContext) -> ExternalSorter {
        ExternalSorter::new(ctx.memory_budget / 2, ctx.spill_dir(), Ties::InsertionOrder)
            .with_cancel(&ctx.cancel)
    }

    fn table(&mut self, encoded: &str) -> u32 {
        if let Some(&i) = self.by_encoded.get(encoded) {
            return i;
        }
        let i = self.tables.len() as u32;
        self.tables.push(TableState {
            encoded: encoded.to_string(),
            name: Vec::new(),
            schema: None,
            items_by_gen: BTreeMap::new(),
        });
        self.by_encoded.insert(encoded.to_string(), i);
        i
    }

    fn handle_meta(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let enc = &key[META_TABLE_PREFIX.len()..];
        if enc.is_empty() {
            return Err(malformed(format!(
                "empty table segment: {:?}",
                String::from_utf8_lossy(key)
            )));
        }
        let enc = std::str::from_utf8(enc)
            .ok()
            .filter(|s| filename::decode_raw_url_lenient(s).is_some())
            .ok_or_else(|| {
                malformed(format!(
                    "table segment is not base64url: {:?}",
                    String::from_utf8_lossy(key)
                ))
            })?;
        let name = filename::decode_raw_url_lenient(enc).unwrap_or_default();
        let Some(body) = value.strip_prefix(SCHEMA_MAGIC) else {
            return Err(Error::data(format!(
                "dynamodb: invalid !ddb|meta|table value for table {enc:?}: missing magic prefix"
            )));
        };
        let schema = TableSchema::decode(body).map_err(|e| {
            Error::data(format!(
                "dynamodb: invalid !ddb|meta|table value for table {enc:?}: {e}"
            ))
        })?;
        let i = self.table(enc) as usize;
        self.tables[i].name = name;
        self.tables[i].schema = Some(schema);
        Ok(())
    }

    fn handle_item(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let (enc, generation) = parse_item_key(key).map_err(malformed)?;
        let enc = std::str::from_utf8(enc).map_err(|_| malformed("table segment"))?;
        let show = || String::from_utf8_lossy(key).into_owned();
        let Some(body) = value.strip_prefix(ITEM_MAGIC) else {
            return Err(Error::data(format!(
                "dynamodb: invalid !ddb|item value at {:?}: missing magic prefix",
                show()
            )));
        };
        Item::decode(body).map_err(|e| {
            Error::data(format!(
                "dynamodb: invalid !ddb|item value at {:?}: {e}",
                show()
            ))
        })?;
        let i = self.table(enc);
        *self.tables[i as usize]
            .items_by_gen
            .entry(generation)
            .or_default() += 1;
        let items = self
            .items
            .as_mut()
            .ok_or_else(|| Error::data("dynamodb: item after finalize"))?;
        items.add_parts(&[&i.to_be_bytes(), &generation.to_be_bytes()], &[body])
    }

    /// `dynamodb/<table>` joined as Go's `filepath.Join` does (a table
    /// named `..` lands at the root, `.` in `dynamodb/`).
    fn table_dir(t: &TableState) -> Result<Vec<u8>> {
        sink::join(b"dynamodb", filename::encode(&t.name).as_bytes())
    }

    fn items_dir(t: &TableState) -> Result<Vec<u8>> {
        sink::join(&Self::table_dir(t)?, b"items")
    }

    fn finalize_inner(&mut self) -> Result<()> {
        let warn = self.ctx.warn.clone();
        let mut order: Vec<usize> = (0..self.tables.len()).collect();
        order.sort_by(|&a, &b| self.tables[a].encoded.cmp(&self.tables[b].encoded));
        for &i in &order {
            let t = &self.tables[i];
            let Some(schema) = &t.schema else {
                let n: u64 = t.items_by_gen.values().sum();
                warn(&format!(
                    "ddb_orphan_items: encoded_table={:?} buffered_items={n} (items without a table schema are skipped)",
                    t.encoded
                ));
                continue;
            };
            self.ctx.tree.dir(&Self::items_dir(t)?)?;
            let schema_path = sink::join(&Self::table_dir(t)?, b"_schema.json")?;
            self.ctx
                .tree
                .file(&schema_path, schema_file_bytes(schema))?;
            let emit = t.emit_generations();
            let stale: u64 = t
                .items_by_gen
                .iter()
                .filter(|(g, _)| !emit.contains(g))
                .map(|(_, n)| n)
                .sum();
            if stale > 0 {
                warn(&format!(
                    "ddb_stale_generation_items: table={:?} active_generation={} migration_source_generation={} stale_count={stale} hint=\"stale-gen rows excluded; restore would otherwise emit them under the new schema\"",
                    String::from_utf8_lossy(&t.name),
                    schema.generation,
                    schema.migrating_from_generation
                ));
            }
        }
        // Migration-source rows are written before active rows (rank 0,
        // then 1), so the active generation wins a shared file name.
        let rank = |t: &TableState, generation: u64| -> Option<u8> {
            let s = t.schema.as_ref()?;
            let emit = t.emit_generations();
            if generation == s.generation {
                Some(1)
            } else if emit.len() == 2 && generation == emit[0] {
                Some(0)
            } else {
                None
            }
        };
        let migrating = self
            .tables
            .iter()
            .any(|t| t.schema.is_some() && t.emit_generations().len() == 2);
        let jsonl = self.ctx.options.dynamodb_bundle_jsonl;
        let Some(items) = self.items.take() else {
            return Ok(());
        };
        let mut later = Self::sorter(&self.ctx);
        let tables = &self.tables;
        let tree = &self.ctx.tree;
        let dirs: Vec<Vec<u8>> = tables
            .iter()
            .map(|t| {
                if t.schema.is_some() {
                    Self::items_dir(t)
                } else {
                    Ok(Vec::new())
                }
            })
            .collect::<Result<_>>()?;
        let mut sorted = items.finish()?;
        let mut k = Vec::new();
        while let Some((group, body)) = sorted.next()? {
            let mut r = KeyReader::new(group);
            let (ti, generation) = r.u32().zip(r.u64()).ok_or_else(corrupt)?;
            let t = &tables[ti as usize];
            let Some(rank) = rank(t, generation) else {
                continue;
            };
            k.clear();
            if jsonl {
                // Grouped by (table, path), migration source first: the
                // last line of a group wins.
                let (rel, item) = item_path(t, body)?;
                key::push_u32(&mut k, ti);
                key::push_bytes(&mut k, rel.as_bytes());
                k.push(rank);
                later.add(&k, &item_line_bytes(&item))?;
            } else if migrating {
                // Upstream's two passes over every table: rank, then table.
                k.push(rank);
                key::push_u32(&mut k, ti);
                later.add(&k, body)?;
            } else {
                write_item(tree, &dirs[ti as usize], t, body)?;
            }
        }
        drop(sorted);
        if jsonl {
            let max = self.ctx.options.dynamodb_bundle_max_bytes.max(1);
            write_bundles(later, tree, &dirs, max)?;
        } else if migrating {
            let mut sorted = later.finish()?;
            while let Some((k, body)) = sorted.next()? {
                let mut r = KeyReader::new(k);
                let ti = r.u8().and(r.u32()).ok_or_else(corrupt)? as usize;
                write_item(tree, &dirs[ti], &tables[ti], body)?;
            }
        }
        Ok(())
    }
}

fn corrupt() -> Error {
    Error::data("dynamodb: corrupt sort key (internal error)")
}

/// The item and its path under `items/`, as upstream's `writeDDBItem`
/// names it.
fn item_path(t: &TableState, body: &[u8]) -> Result<(String, Item)> {
    let schema = t.schema.as_ref().expect("ranked items have a schema");
    let item = Item::decode(body)
        .map_err(|e| Error::data(format!("dynamodb: invalid !ddb|item value: {e}")))?;
    // Upstream's wording (its sentinel wrapped by the detail, no table):
    // a self-test's mismatch.txt carries it verbatim.
    let (hash_seg, range_seg) = item_segments(schema, &item)
        .map_err(|e| Error::data(format!("{e}: backup: invalid !ddb|item value")))?;
    let rel = match &range_seg {
        None => format!("{hash_seg}.json"),
        Some(r) if hash_seg.is_empty() => format!("{r}.json"),
        Some(r) => format!("{hash_seg}/{r}.json"),
    };
    Ok((rel, item))
}

/// One item file (per-item layout); the sink creates its directory.
fn write_item(tree: &TreeOut, dir: &[u8], t: &TableState, body: &[u8]) -> Result<()> {
    let (rel, item) = item_path(t, body)?;
    let path = [dir, b"/", rel.as_bytes()].concat();
    tree.file(&path, item_file_bytes(&item))
}

/// Writes the sorted jsonl records: the last record of each (table, path)
/// group wins, lines are packed into parts of at most `max` bytes (a longer
/// line gets a part of its own).
fn write_bundles(sorter: ExternalSorter, tree: &TreeOut, dirs: &[Vec<u8>], max: u64) -> Result<()> {
    let mut pending: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut out = BundleWriter::new(tree, max);
    let mut sorted = sorter.finish()?;
    while let Some((key, line)) = sorted.next()? {
        // The key without its rank byte.
        let group = key.split_last().ok_or_else(corrupt)?.1;
        if let Some((g, l)) = &pending {
            if g.as_slice() != group {
                out.write(dirs, g, l)?;
            }
        }
        pending = Some((group.to_vec(), line.to_vec()));
    }
    if let Some((g, l)) = pending {
        out.write(dirs, &g, &l)?;
    }
    out.close()
}

struct BundleWriter<'a> {
    tree: &'a TreeOut,
    max: u64,
    table: Option<u32>,
    part: u32,
    file: Option<(FileWriter, u64)>,
}

impl<'a> BundleWriter<'a> {
    fn new(tree: &'a TreeOut, max: u64) -> Self {
        BundleWriter {
            tree,
            max,
            table: None,
            part: 0,
            file: None,
        }
    }

    fn close(&mut self) -> Result<()> {
        match self.file.take() {
            Some((w, _)) => w.close(),
            None => Ok(()),
        }
    }

    fn write(&mut self, dirs: &[Vec<u8>], group: &[u8], line: &[u8]) -> Result<()> {
        let table = u32::from_be_bytes(group[..4].try_into().expect("4 bytes"));
        if self.table != Some(table) {
            self.close()?;
            self.table = Some(table);
            self.part = 0;
        }
        let len = line.len() as u64;
        if let Some((_, size)) = &self.file {
            if size.saturating_add(len) > self.max {
                self.close()?;
            }
        }
        if self.file.is_none() {
            self.part += 1;
            let path = [
                &dirs[table as usize][..],
                b"/",
                bundle_name(self.part).as_bytes(),
            ]
            .concat();
            self.file = Some((self.tree.create(&path)?, 0));
        }
        let (w, size) = self.file.as_mut().expect("open bundle");
        w.write_all(line)?;
        *size += len;
        Ok(())
    }
}

/// `data-00001.jsonl`, `data-00002.jsonl`, ...
pub fn bundle_name(part: u32) -> String {
    format!("data-{part:05}.jsonl")
}

/// The file-name segment of a key attribute (`ddbKeyAttrToSegment`).
fn key_attr_segment(av: &AttrValue) -> std::result::Result<String, InputError> {
    match av {
        AttrValue::S(s) => Ok(filename::encode(s.as_bytes())),
        AttrValue::N(n) => Ok(filename::encode(canonical_number(n).as_bytes())),
        AttrValue::B(b) => Ok(filename::encode_binary_segment(b).0),
        _ => Err("primary key has unsupported attribute kind".into()),
    }
}

fn refuse_dot(seg: &str, role: &str) -> std::result::Result<(), InputError> {
    if seg == "." || seg == ".." {
        return Err(
            format!("{role}-key segment {seg:?} is a dot path (would escape items dir)").into(),
        );
    }
    Ok(())
}

/// The hash (and range) file-name segments of an item, as upstream's
/// `writeDDBItem` computes them, in its error order.
pub fn item_segments(
    schema: &TableSchema,
    item: &Item,
) -> std::result::Result<(String, Option<String>), InputError> {
    let hash = schema.hash_key();
    let hv = item
        .attrs
        .get(hash)
        .ok_or_else(|| format!("item missing hash-key attribute {hash:?}"))?;
    let h = key_attr_segment(hv)?;
    refuse_dot(&h, "hash")?;
    let range = schema.range_key();
    if range.is_empty() {
        return Ok((h, None));
    }
    let rv = item
        .attrs
        .get(range)
        .ok_or_else(|| format!("item missing range-key attribute {range:?}"))?;
    let r = key_attr_segment(rv)?;
    refuse_dot(&r, "range")?;
    Ok((h, Some(r)))
}

impl AdapterDecoder for DynamoDecoder {
    fn handle(&mut self, prefix: &'static [u8], user_key: &[u8], value: &[u8]) -> Result<()> {
        let r = if prefix == META_TABLE_PREFIX {
            self.handle_meta(user_key, value)
        } else if prefix == ITEM_PREFIX {
            self.handle_item(user_key, value)
        } else {
            // Generation counters and GSI rows are derived state.
            debug_assert!(prefix == META_GEN_PREFIX || prefix == GSI_PREFIX);
            Ok(())
        };
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn finalize(&mut self) -> Result<()> {
        if self.failed {
            return Ok(());
        }
        self.finalize_inner()
    }
}
