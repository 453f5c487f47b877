//! `ekvplan init DIR...`: a first plan, commented, for the dumps and dump
//! archives found in the given directories. A directory whose dumps look
//! alike (same kind of input, same adapters) becomes one `[[batch]]`;
//! otherwise each dump gets its own `[[job]]`. Each entry carries its
//! manifests' timestamps as comments, and adapters the encoder cannot
//! rebuild from a dump are left out of its job with a note.

use std::fmt::Write as _;
use std::fs;
use std::path::{Component, Path, PathBuf};

use clap::Args;

use crate::adapter::{AdapterKind, AdapterSet};
use crate::archive::input::{InputFormat, peek_manifest};
use crate::archive::strip_extension;
use crate::error::{Error, IoResultExt, Result, exit};
use crate::fsutil;
use crate::job;
use crate::manifest::{self, Manifest};

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Directories to look in: each may be a dump, a dump archive, or a
    /// directory of dumps and archives.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Write the plan here (and `plan.schema.json` beside it if missing)
    /// instead of stdout. Must not exist.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// One dump or archive found.
#[derive(Debug, Clone)]
struct Found {
    path: PathBuf,
    /// Directory or archive file name without its archive extension.
    name: String,
    format: InputFormat,
    manifest: Manifest,
}

impl Found {
    /// The adapters the manifest lists, less those whose manifest flags
    /// the encoder cannot honour (with the reasons).
    fn adapters(&self) -> (AdapterSet, Vec<String>) {
        let mut set = AdapterSet::NONE;
        if let Some(a) = &self.manifest.adapters {
            for (k, present) in [
                (AdapterKind::Redis, a.redis.is_some()),
                (AdapterKind::DynamoDb, a.dynamodb.is_some()),
                (AdapterKind::S3, a.s3.is_some()),
                (AdapterKind::Sqs, a.sqs.is_some()),
            ] {
                if present {
                    set.insert(k);
                }
            }
        }
        let mut notes = Vec::new();
        let unsupported = job::unsupported_manifest_features(&self.manifest, set);
        let mut keep = AdapterSet::NONE;
        for k in set.iter() {
            match unsupported.iter().find(|(u, _)| *u == k) {
                Some((_, flag)) => notes.push(format!(
                    "{k} left out: the manifest sets {flag}, which the {k} encoder cannot rebuild"
                )),
                None => keep.insert(k),
            }
        }
        (keep, notes)
    }

    /// What makes dumps interchangeable within one batch.
    fn likeness(&self) -> (String, Vec<&'static str>) {
        let kind = match self.format {
            InputFormat::Dir => "dir".to_string(),
            InputFormat::Archive(_) => {
                let file = self.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                file[strip_extension(file).len()..].to_string()
            }
        };
        (kind, self.adapters().0.names())
    }

    fn timestamp_comment(&self) -> String {
        let m = &self.manifest;
        let mut s = format!(
            "manifest last_commit_ts = {} (0x{:x})",
            m.last_commit_ts, m.last_commit_ts
        );
        if !m.wall_time_iso.is_empty() {
            let _ = write!(s, ", exported {}", m.wall_time_iso);
        }
        if !m.cluster_id.is_empty() {
            let _ = write!(s, ", cluster {:?}", m.cluster_id);
        }
        s
    }
}

/// Read one candidate; `Ok(None)` if it is neither a dump nor an archive.
fn probe(path: &Path) -> Result<Option<Found>> {
    let md = fs::metadata(path).io_at(path, "stat")?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if md.is_dir() {
        if !path.join(manifest::FILE_NAME).exists() {
            return Ok(None);
        }
        let m = Manifest::read_from_dir(path)?;
        return Ok(Some(Found {
            path: path.to_path_buf(),
            name: file_name,
            format: InputFormat::Dir,
            manifest: m,
        }));
    }
    let InputFormat::Archive(c) = InputFormat::detect(path) else {
        return Ok(None);
    };
    if !md.is_file() {
        return Ok(None);
    }
    let m = peek_manifest(path, c).map_err(|e| e.into_error(path))?;
    Ok(Some(Found {
        path: path.to_path_buf(),
        name: strip_extension(&file_name).to_string(),
        format: InputFormat::Archive(c),
        manifest: m,
    }))
}

/// What one DIR argument holds.
struct Group {
    dir: PathBuf,
    found: Vec<Found>,
    /// Entries matched by a `*` glob that are not inputs (for `skip`).
    others: Vec<String>,
    /// Candidates that could not be read, with why.
    skipped: Vec<(PathBuf, String)>,
    /// The argument is itself a dump or archive.
    single: bool,
}

fn scan(dir: &Path) -> Result<Group> {
    if let Some(f) = probe(dir)? {
        return Ok(Group {
            dir: dir.to_path_buf(),
            found: vec![f],
            others: Vec::new(),
            skipped: Vec::new(),
            single: true,
        });
    }
    let mut g = Group {
        dir: dir.to_path_buf(),
        found: Vec::new(),
        others: Vec::new(),
        skipped: Vec::new(),
        single: false,
    };
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .io_at(dir, "read directory")?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .io_at(dir, "read directory")?;
    names.sort();
    for p in names {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.starts_with('.') {
            continue;
        }
        match probe(&p) {
            Ok(Some(f)) => g.found.push(f),
            Ok(None) => g.others.push(name),
            Err(e) => {
                g.skipped.push((p.clone(), e.to_string()));
                g.others.push(name);
            }
        }
    }
    Ok(g)
}

/// `to` relative to the directory `from` (both made absolute), `/`-joined.
fn relative(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| {
        fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or(p.to_path_buf()))
    };
    let (f, t) = (abs(from), abs(to));
    let fc: Vec<Component> = f.components().collect();
    let tc: Vec<Component> = t.components().collect();
    let common = fc.iter().zip(&tc).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); fc.len() - common];
    parts.extend(
        tc[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A job id from a name: characters outside the id alphabet become `-`.
fn id_from(name: &str) -> String {
    let mut id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._:@+=-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        id.insert(0, 'd');
    }
    id.truncate(super::model::ID_MAX_LEN);
    id
}

fn adapters_value(set: AdapterSet) -> String {
    if set == AdapterSet::ALL {
        "\"all\"".into()
    } else {
        let names: Vec<String> = set.names().iter().map(|n| toml_str(n)).collect();
        format!("[{}]", names.join(", "))
    }
}

/// Render the plan. `plan_dir` is where the plan will live (paths in it
/// are relative to it).
fn render(groups: &[Group], plan_dir: &Path, args_shown: &str) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "#:schema plan.schema.json");
    let _ = writeln!(w, "#");
    let _ = writeln!(w, "# Written by `ekvplan init {args_shown}`.");
    let _ = writeln!(w, "# Check it, then run it:");
    let _ = writeln!(w, "#   ekvplan validate <this file> --explain");
    let _ = writeln!(w, "#   ekvplan run <this file>");
    let _ = writeln!(
        w,
        "# Relative paths resolve against this file's directory. The schema"
    );
    let _ = writeln!(
        w,
        "# comment above is for editors: `ekvplan schema --output plan.schema.json`."
    );
    let _ = writeln!(w, "version = 1\n");
    let _ = writeln!(w, "[defaults]");
    let _ = writeln!(
        w,
        "# Every adapter; a job or batch below narrows it where its dumps hold fewer."
    );
    let _ = writeln!(w, "adapters = \"all\"");
    let _ = writeln!(
        w,
        "# Decode each snapshot and compare it with its dump before publishing it."
    );
    let _ = writeln!(w, "self_test = true");
    let _ = writeln!(
        w,
        "# Staged entries beyond this spill to sorted runs on disk."
    );
    let _ = writeln!(w, "memory_budget = \"256MiB\"");

    let many_groups = groups.len() > 1;
    let mut used_ids = std::collections::BTreeSet::new();
    for g in groups {
        let rel_dir = relative(plan_dir, &g.dir);
        let parent_name = g
            .dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        for (p, why) in &g.skipped {
            let _ = writeln!(
                w,
                "\n# Not included (unreadable): {}\n#   {why}",
                relative(plan_dir, p)
            );
        }
        if g.found.is_empty() {
            let _ = writeln!(w, "\n# {rel_dir}: no dumps or dump archives found.");
            continue;
        }
        let alike = !g.single
            && g.found.len() > 1
            && g.found
                .iter()
                .all(|f| f.likeness() == g.found[0].likeness())
            && g.found.iter().all(|f| !f.adapters().0.is_empty());
        let batch_ids_ok = alike && {
            let ids: Vec<String> = g
                .found
                .iter()
                .map(|f| {
                    if many_groups {
                        format!("{parent_name}-{}", f.name)
                    } else {
                        f.name.clone()
                    }
                })
                .collect();
            ids.iter()
                .all(|i| super::expand::valid_id(i) && !used_ids.contains(i))
        };
        if batch_ids_ok {
            let first = &g.found[0];
            let (set, _) = first.adapters();
            let pattern = match first.format {
                InputFormat::Dir => format!("{rel_dir}/*"),
                InputFormat::Archive(_) => format!("{rel_dir}/*{}", first.likeness().0),
            };
            let _ = writeln!(w, "\n# {} look-alike dump(s) in {rel_dir}:", g.found.len());
            for f in &g.found {
                let _ = writeln!(w, "#   {}: {}", f.name, f.timestamp_comment());
            }
            let _ = writeln!(w, "[[batch]]");
            let _ = writeln!(w, "inputs = {}", toml_str(&pattern));
            let skips: Vec<String> = match first.format {
                InputFormat::Dir => g
                    .others
                    .iter()
                    .filter(|n| g.dir.join(n).is_dir())
                    .map(|n| toml_str(&format!("{rel_dir}/{n}")))
                    .collect(),
                InputFormat::Archive(_) => Vec::new(),
            };
            if !skips.is_empty() {
                let _ = writeln!(w, "# Not dumps:");
                let _ = writeln!(w, "skip = [{}]", skips.join(", "));
            }
            if many_groups {
                let _ = writeln!(w, "id = \"{{parent}}-{{name}}\"");
            }
            let _ = writeln!(w, "output = \"out/{{id}}.fsm\"");
            if set != AdapterSet::ALL {
                let _ = writeln!(w, "# The adapters these dumps hold.");
                let _ = writeln!(w, "adapters = {}", adapters_value(set));
            }
            for f in &g.found {
                used_ids.insert(if many_groups {
                    format!("{parent_name}-{}", f.name)
                } else {
                    f.name.clone()
                });
            }
            continue;
        }
        if !g.single && g.found.len() > 1 {
            let _ = writeln!(
                w,
                "\n# The dumps in {rel_dir} differ (kind of input or adapters): one job each.\n\
                 # One batch with adapters = \"manifest\" would take each dump's own adapters."
            );
        }
        for f in &g.found {
            let (set, notes) = f.adapters();
            let input = relative(plan_dir, &f.path);
            let mut id = id_from(&f.name);
            if used_ids.contains(&id) {
                id = id_from(&format!("{parent_name}-{}", f.name));
            }
            let mut n = 2;
            let base = id.clone();
            while used_ids.contains(&id) {
                id = format!("{base}-{n}");
                n += 1;
            }
            if set.is_empty() {
                let _ = writeln!(
                    w,
                    "\n# {input}: left out, no adapter the encoder can rebuild."
                );
                for note in notes {
                    let _ = writeln!(w, "#   {note}");
                }
                continue;
            }
            used_ids.insert(id.clone());
            let _ = writeln!(w, "\n# {}", f.timestamp_comment());
            for note in &notes {
                let _ = writeln!(w, "# {note}");
            }
            let _ = writeln!(w, "[[job]]");
            let _ = writeln!(w, "id = {}", toml_str(&id));
            let _ = writeln!(w, "input = {}", toml_str(&input));
            let _ = writeln!(w, "output = {}", toml_str(&format!("out/{id}.fsm")));
            if set != AdapterSet::ALL {
                let _ = writeln!(w, "adapters = {}", adapters_value(set));
            }
        }
    }
    out
}

/// Build the plan text for `dirs`, to live in `plan_dir`.
pub fn plan_for(dirs: &[PathBuf], plan_dir: &Path) -> Result<String> {
    let mut groups = Vec::new();
    for d in dirs {
        if fs::symlink_metadata(d).is_err() {
            return Err(Error::usage(format!(
                "{}: no such file or directory",
                d.display()
            )));
        }
        groups.push(scan(d)?);
    }
    let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Ok(render(&groups, plan_dir, &shown.join(" ")))
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = fsutil::sibling_temp_path(path, ".tmp-");
    let res = (|| {
        let mut f = fsutil::create_new_private(&tmp)?;
        std::io::Write::write_all(&mut f, bytes).io_at(&tmp, "write")?;
        f.sync_all().io_at(&tmp, "fsync")?;
        fsutil::rename_noreplace(&tmp, path).map_err(|e| match e.raw_os_error() {
            Some(libc::EEXIST) => Error::usage(format!("{}: file exists", path.display())),
            _ => Error::io_at(path, "rename into place", e),
        })?;
        fsutil::fsync_dir(fsutil::parent_dir(path))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

fn run(a: &InitArgs) -> Result<()> {
    match &a.output {
        None => {
            let text = plan_for(&a.dirs, Path::new("."))?;
            print!("{text}");
        }
        Some(out) => {
            if fs::symlink_metadata(out).is_ok() {
                return Err(Error::usage(format!(
                    "--output {}: file exists",
                    out.display()
                )));
            }
            let dir = fsutil::parent_dir(out);
            fsutil::create_dir_all(dir)?;
            let text = plan_for(&a.dirs, dir)?;
            write_new(out, text.as_bytes())?;
            let schema = dir.join("plan.schema.json");
            if fs::symlink_metadata(&schema).is_err() {
                write_new(&schema, super::schema::schema_text().as_bytes())?;
            }
            eprintln!("ekvplan init: wrote {}", out.display());
        }
    }
    Ok(())
}

pub fn init_main(a: InitArgs) -> i32 {
    match run(&a) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("ekvplan: error: {e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_and_ids() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("a/b")).unwrap();
        fs::create_dir_all(t.path().join("c")).unwrap();
        assert_eq!(
            relative(&t.path().join("c"), &t.path().join("a/b")),
            "../a/b"
        );
        assert_eq!(relative(t.path(), &t.path().join("a")), "a");
        assert_eq!(relative(t.path(), t.path()), ".");
        assert_eq!(id_from("cluster 1"), "cluster-1");
        assert_eq!(id_from("_x"), "d_x");
    }
}
