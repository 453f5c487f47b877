//! `dynamodb/<table>/...` → internal entries: per table the schema row, the
//! generation counter `"1"`, then per item its ordered-key row and its GSI
//! rows. Items are streamed one file (or one jsonl line) at a time; the
//! sink sorts. Directory entries are visited in byte order of their names
//! (upstream's order is the OS's), which only decides which error is
//! reported first.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::adapter::{AdapterKind, EncodeContext, EntrySink};
use crate::error::{Error, InputError, IoResultExt, Result};
use crate::fsutil;
use crate::tree::filename;

use super::keys::{self, ITEM_MAGIC, SCHEMA_MAGIC};
use super::proto::{Item, TableSchema};
use super::public::{decode_item_file, decode_item_line, decode_schema_file};

/// Longest jsonl line read (a bundle line holds one item).
const MAX_LINE: u64 = 1 << 30;

/// Entries of a directory as (name, path, is_dir), sorted by name bytes;
/// `is_dir` does not follow symlinks.
fn sorted_entries(dir: &Path) -> Result<Vec<(OsString, PathBuf, bool)>> {
    let mut v = Vec::new();
    for ent in fs::read_dir(dir).io_at(dir, "read directory")? {
        let ent = ent.io_at(dir, "read directory")?;
        let ft = ent.file_type().io_at(&ent.path(), "stat")?;
        v.push((ent.file_name(), ent.path(), ft.is_dir()));
    }
    v.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(v)
}

/// Lstat a directory that may be absent: `Ok(false)` when missing, an
/// error when it is a symlink or not a directory.
fn optional_dir(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io_at(path, "stat", e)),
        Ok(m) if m.file_type().is_symlink() => {
            Err(Error::data_at(path, "is a symlink, not a directory"))
        }
        Ok(m) if !m.is_dir() => Err(Error::data_at(path, "is not a directory")),
        Ok(_) => Ok(true),
    }
}

struct TableEncoder<'c, 'a> {
    ctx: &'c EncodeContext<'a>,
    sink: &'c mut dyn EntrySink,
    table: String,
    schema: TableSchema,
    staged: u64,
}

pub fn encode(ctx: &EncodeContext<'_>, sink: &mut dyn EntrySink) -> Result<()> {
    let dir = ctx.adapter_dir(AdapterKind::DynamoDb);
    if !optional_dir(&dir)? {
        return Ok(());
    }
    let excluded: HashSet<String> = ctx
        .exclusions
        .dynamodb_tables
        .iter()
        .map(|t| filename::encode(t.as_bytes()))
        .collect();
    let jsonl = ctx.manifest.is_jsonl_layout();
    for (name, path, is_dir) in sorted_entries(&dir)? {
        // Non-directories (symlinks included) are not tables.
        if !is_dir || excluded.iter().any(|e| e.as_bytes() == name.as_bytes()) {
            continue;
        }
        ctx.cancel.check()?;
        let (table, schema) = read_schema(&path, name.as_bytes())?;
        let mut t = TableEncoder {
            ctx,
            sink: &mut *sink,
            table,
            schema,
            staged: 0,
        };
        t.encode(&path, jsonl)?;
    }
    Ok(())
}

/// Read and validate `<table dir>/_schema.json` (upstream's checks, in its
/// order) and build the restore schema.
fn read_schema(dir: &Path, dir_name: &[u8]) -> Result<(String, TableSchema)> {
    let path = dir.join("_schema.json");
    if let Err(e) = fs::symlink_metadata(&path) {
        if e.kind() == std::io::ErrorKind::NotFound {
            return Err(Error::data_at(
                &path,
                "missing (every table directory needs a _schema.json)",
            ));
        }
        return Err(Error::io_at(&path, "stat", e));
    }
    let bytes = fsutil::read_input_file(&path)?;
    let bad = |msg: String| Error::data_at(&path, format!("invalid _schema.json: {msg}"));
    let public = decode_schema_file(&bytes).map_err(|mut e| {
        e.context.push("invalid _schema.json".into());
        Error::from(e.in_file(&path))
    })?;
    if public.format_version != 1 {
        return Err(bad(format!(
            "unsupported format_version {}",
            public.format_version
        )));
    }
    let mut seen = HashSet::new();
    for (n, _) in &public.attribute_definitions {
        if !seen.insert(n.as_str()) {
            return Err(bad(format!("duplicate attribute definition {n:?}")));
        }
    }
    let mut seen = HashSet::new();
    for g in &public.global_secondary_indexes {
        if !seen.insert(g.name.as_str()) {
            return Err(bad(format!("duplicate GSI name {:?}", g.name)));
        }
    }
    if public.table_name.is_empty() {
        return Err(bad("empty table_name".into()));
    }
    let want = filename::encode(public.table_name.as_bytes());
    if want.as_bytes() != dir_name {
        return Err(bad(format!(
            "table_name {:?} encodes to directory {want:?}, not {:?}",
            public.table_name,
            String::from_utf8_lossy(dir_name)
        )));
    }
    if public.primary_key.hash_key.is_empty() {
        return Err(bad("empty primary hash key".into()));
    }
    Ok((public.table_name.clone(), public.to_schema()))
}

impl TableEncoder<'_, '_> {
    fn encode(&mut self, dir: &Path, jsonl: bool) -> Result<()> {
        let mut meta = SCHEMA_MAGIC.to_vec();
        meta.extend_from_slice(&self.schema.encode());
        self.sink.add(&keys::table_meta_key(&self.table), &meta)?;
        self.sink.add(
            &keys::table_gen_key(&self.table),
            keys::RESTORE_GENERATION.to_string().as_bytes(),
        )?;
        let items = dir.join("items");
        if !optional_dir(&items)? {
            return Ok(());
        }
        if jsonl {
            self.encode_bundles(&items)
        } else {
            self.encode_per_item(&items)
        }
    }

    /// One item: its row, then its GSI rows. `at` names the file (and line).
    fn add_item(&mut self, item: &Item, at: &dyn Fn() -> String) -> Result<()> {
        let bad = |e: InputError| Error::from(e).context(at());
        let (key, pk) = keys::item_key(&self.table, &self.schema, item).map_err(bad)?;
        let mut value = ITEM_MAGIC.to_vec();
        value.extend_from_slice(&item.encode());
        self.sink.add(&key, &value)?;
        for gk in keys::gsi_keys(&self.table, &self.schema, item, &pk).map_err(bad)? {
            self.sink.add(&gk, &key)?;
        }
        self.staged += 1;
        if self.staged % 1024 == 0 {
            self.ctx.cancel.check()?;
        }
        Ok(())
    }

    fn encode_item_file(&mut self, path: &Path) -> Result<()> {
        let bytes = fsutil::read_input_file(path)?;
        let at = || path.display().to_string();
        let item = decode_item_file(&bytes).map_err(|e| Error::from(e.in_file(path)))?;
        self.add_item(&item, &at)
    }

    /// `items/<hash>.json` and `items/<hash>/<range>.json`; file names are
    /// not checked (only the attributes inside count), other files are
    /// skipped, deeper directories refused.
    fn encode_per_item(&mut self, items: &Path) -> Result<()> {
        let mut ignored_bundles = 0;
        for (name, path, is_dir) in sorted_entries(items)? {
            if is_dir {
                for (sub, sub_path, sub_is_dir) in sorted_entries(&path)? {
                    if sub_is_dir {
                        return Err(Error::data_at(
                            &path,
                            format!(
                                "unexpected nested directory {:?} (items layout is at most 2 levels)",
                                sub.to_string_lossy()
                            ),
                        ));
                    }
                    if sub.as_bytes().ends_with(b".json") {
                        self.encode_item_file(&sub_path)?;
                    }
                }
            } else if name.as_bytes().ends_with(b".json") {
                self.encode_item_file(&path)?;
            } else if name.as_bytes().ends_with(b".jsonl") {
                ignored_bundles += 1;
            }
        }
        if ignored_bundles > 0 {
            (self.ctx.warn)(&format!(
                "{}: {ignored_bundles} .jsonl file(s) ignored: MANIFEST.json dynamodb_layout is \"per-item\"",
                items.display()
            ));
        }
        Ok(())
    }

    /// `items/*.jsonl`: one item per line (blank lines skipped).
    fn encode_bundles(&mut self, items: &Path) -> Result<()> {
        for (name, path, is_dir) in sorted_entries(items)? {
            let n = name.as_bytes();
            if is_dir {
                return Err(Error::data_at(
                    &path,
                    "is a directory, but MANIFEST.json dynamodb_layout is \"jsonl\" (items/ holds only data-<part>.jsonl bundles)",
                ));
            }
            if n.ends_with(b".json") {
                return Err(Error::data_at(
                    &path,
                    "is a per-item file, but MANIFEST.json dynamodb_layout is \"jsonl\"",
                ));
            }
            if n.ends_with(b".jsonl") {
                self.encode_bundle(&path)?;
            }
        }
        Ok(())
    }

    fn encode_bundle(&mut self, path: &Path) -> Result<()> {
        let f = fsutil::open_input_file(path)?;
        let mut r = BufReader::with_capacity(1 << 20, f);
        let mut line = Vec::new();
        let mut line_no: u64 = 0;
        loop {
            line.clear();
            let n = (&mut r)
                .take(MAX_LINE + 1)
                .read_until(b'\n', &mut line)
                .io_at(path, "read")?;
            if n == 0 {
                return Ok(());
            }
            line_no += 1;
            let at = || format!("{}:{line_no}", path.display());
            if line.len() as u64 > MAX_LINE {
                return Err(Error::data(format!(
                    "{}: line longer than {MAX_LINE} bytes",
                    at()
                )));
            }
            if line
                .iter()
                .all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
            {
                continue;
            }
            let item = decode_item_line(&line)
                .map_err(|e| Error::from(e.in_file(path).at_line(line_no)))?;
            self.add_item(&item, &at)?;
        }
    }
}
