//! `s3/<bucket>/…` → internal records.
//!
//! Per bucket: `_bucket.json` gives the bucket meta record and the
//! generation counter; every other regular file (except sidecars and the
//! control files) is an object body whose sidecar gives the manifest. The
//! body is streamed in 1 MiB reads, each read one `!s3|blob|` chunk, so an
//! object of any size costs one chunk buffer. Renamed keys are mapped back
//! through the bucket's `KEYMAP.jsonl`, read with upstream's strict rules.
//!
//! Every problem with the tree, I/O included, is a data error (exit 2), as
//! upstream marks everything an adapter encoder returns. Directory entries
//! are visited in byte order of their names, so the first error reported
//! is deterministic (upstream follows directory order; the records are
//! sorted either way).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::json::{self, LiveBucketMeta, LiveManifest, LivePart};
use super::keys::{self, ChunkKey};
use super::{
    CHUNK_SIZE, LEAF_DATA_SUFFIX, META_SUFFIX, RESERVED_DIRS, RESTORE_GENERATION, RESTORE_PART_NO,
    RESTORE_UPLOAD_ID, is_dot_or_empty,
};
use crate::adapter::{AdapterKind, EncodeContext, EntrySink};
use crate::error::{Error, InputError, Result};
use crate::tree::{filename, keymap};

const INVALID_BUCKET: &str = "backup: s3 encode invalid _bucket.json";
const NOT_REGULAR: &str = "backup: s3 dump file is not a regular file";
const RESERVED_COLLISION: &str =
    "backup: s3 encode user object key collides with reserved dump directory";
const INVALID_SIDECAR: &str = "backup: s3 encode invalid object sidecar";
const INVALID_KEYMAP: &str = "backup: invalid KEYMAP.jsonl record";

/// An I/O failure while reading the dump tree (a data error, as upstream
/// classifies it).
fn tree_io(op: &str, path: &Path, e: io::Error) -> Error {
    Error::data(format!("{op} {}: {e}", path.display()))
}

/// Go's `fs.FileMode.String()` for an lstat result (`type_only` gives the
/// `DirEntry.Type()` form, permission bits cleared).
fn go_mode(m: &fs::Metadata, type_only: bool) -> String {
    use std::os::unix::fs::FileTypeExt;
    let ft = m.file_type();
    let mut s = String::new();
    if ft.is_dir() {
        s.push('d');
    }
    if ft.is_symlink() {
        s.push('L');
    }
    if ft.is_block_device() || ft.is_char_device() {
        s.push('D');
    }
    if ft.is_fifo() {
        s.push('p');
    }
    if ft.is_socket() {
        s.push('S');
    }
    let mode = m.permissions().mode();
    if !type_only {
        if mode & 0o4000 != 0 {
            s.push('u');
        }
        if mode & 0o2000 != 0 {
            s.push('g');
        }
    }
    if ft.is_char_device() {
        s.push('c');
    }
    if !type_only && mode & 0o1000 != 0 {
        s.push('t');
    }
    if s.is_empty() {
        s.push('-');
    }
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        let bit = 1 << (8 - i);
        s.push(if !type_only && mode & bit != 0 {
            c
        } else {
            '-'
        });
    }
    s
}

/// Lstat + regular-file + single-link checks, then open without following
/// a symlink. Returns the file and its lstat size.
fn open_regular(path: &Path) -> Result<(File, u64)> {
    let m = fs::symlink_metadata(path).map_err(|e| tree_io("statat", path, e))?;
    if !m.file_type().is_file() {
        return Err(Error::data(format!(
            "{} (mode={}): {NOT_REGULAR}",
            path.display(),
            go_mode(&m, false)
        )));
    }
    if m.nlink() > 1 {
        return Err(Error::data(format!(
            "{} (nlink={}): backup: redis dump file is hard-linked",
            path.display(),
            m.nlink()
        )));
    }
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| tree_io("open", path, e))?;
    Ok((f, m.len()))
}

fn read_regular(path: &Path) -> Result<Vec<u8>> {
    let (mut f, _) = open_regular(path)?;
    let mut v = Vec::new();
    f.read_to_end(&mut v)
        .map_err(|e| tree_io("read", path, e))?;
    Ok(v)
}

/// A directory's entries (name, lstat type), sorted by name bytes.
fn read_dir_sorted(dir: &Path) -> Result<Vec<(Vec<u8>, fs::FileType)>> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| tree_io("read directory", dir, e))? {
        let e = e.map_err(|e| tree_io("read directory", dir, e))?;
        let ft = e
            .file_type()
            .map_err(|err| tree_io("stat", &e.path(), err))?;
        v.push((e.file_name().as_bytes().to_vec(), ft));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

fn os(b: &[u8]) -> &std::ffi::OsStr {
    std::ffi::OsStr::from_bytes(b)
}

fn show(b: &[u8]) -> String {
    format!("\"{}\"", b.escape_ascii())
}

/// Encode `<input>/s3`. A missing directory is no S3 data at all.
pub fn encode(ctx: &EncodeContext<'_>, sink: &mut dyn EntrySink) -> Result<()> {
    let dir = ctx.adapter_dir(AdapterKind::S3);
    match fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(tree_io("lstat", &dir, e)),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(Error::data(format!(
                "{:?} is a symlink: backup: redis db path is not a directory",
                dir.display().to_string()
            )));
        }
        Ok(m) if !m.is_dir() => {
            return Err(Error::data(format!(
                "{:?} is not a directory: backup: redis db path is not a directory",
                dir.display().to_string()
            )));
        }
        Ok(_) => {}
    }
    let excluded: HashSet<Vec<u8>> = ctx
        .exclusions
        .s3_buckets
        .iter()
        .map(|b| filename::encode(b.as_bytes()).into_bytes())
        .collect();
    let mut enc = Encoder {
        ctx,
        sink,
        buf: Vec::new(),
    };
    for (name, ft) in read_dir_sorted(&dir)? {
        ctx.cancel.check()?;
        if !ft.is_dir() {
            if name.starts_with(b"_") {
                continue;
            }
            let m = fs::symlink_metadata(dir.join(os(&name)))
                .map_err(|e| tree_io("lstat", &dir.join(os(&name)), e))?;
            return Err(Error::data(format!(
                "s3/{} is not a directory (mode={}); top-level entries under s3/ must be bucket directories: {NOT_REGULAR}",
                String::from_utf8_lossy(&name),
                go_mode(&m, true)
            )));
        }
        if excluded.contains(&name) {
            continue;
        }
        enc.bucket(&dir.join(os(&name)), &name)?;
    }
    Ok(())
}

struct Encoder<'a, 'b> {
    ctx: &'a EncodeContext<'b>,
    sink: &'a mut dyn EntrySink,
    /// The one chunk buffer, allocated on first use.
    buf: Vec<u8>,
}

/// One bucket's walk state.
struct BucketWalk<'a> {
    name: &'a [u8],
    /// `Some` when a collision tracker was loaded: encoded path → key.
    keymap: Option<HashMap<Vec<u8>, Vec<u8>>>,
}

impl Encoder<'_, '_> {
    fn bucket(&mut self, dir: &Path, dir_name: &[u8]) -> Result<()> {
        let meta_path = dir.join("_bucket.json");
        let bytes = read_regular(&meta_path)?;
        let invalid =
            |msg: String| Error::data(format!("{}: {msg}: {INVALID_BUCKET}", meta_path.display()));
        let b = json::parse_public_bucket(&bytes).map_err(|e| {
            let mut ie = InputError::json(e, 0).in_file(&meta_path);
            ie.context.push(INVALID_BUCKET.into());
            Error::from(ie)
        })?;
        if b.format_version != 1 {
            return Err(invalid(format!(
                "unsupported format_version {}",
                b.format_version
            )));
        }
        if b.name.is_empty() {
            return Err(invalid("empty bucket name".into()));
        }
        let want = filename::encode(b.name.as_bytes());
        if want.as_bytes() != dir_name {
            return Err(invalid(format!(
                "bucket name {:?} encodes to dir {want:?}, not {} (dump tampered or rebuilt by hand?)",
                b.name,
                show(dir_name)
            )));
        }
        let live = LiveBucketMeta {
            bucket_name: b.name.clone(),
            generation: RESTORE_GENERATION,
            created_at_hlc: 0,
            owner: b.owner,
            region: b.region,
            acl: b.acl,
        };
        let name = b.name.as_bytes();
        self.sink.add(
            &keys::bucket_meta_key(name),
            &json::render_live_bucket_meta(&live),
        )?;
        self.sink.add(
            &keys::bucket_gen_key(name),
            &RESTORE_GENERATION.to_be_bytes(),
        )?;
        let keymap = if is_collision_tracker(dir)? {
            let km = load_keymap(dir)
                .map_err(|e| Error::data(format!("{}: {e}: {INVALID_BUCKET}", dir.display())))?;
            Some(km)
        } else {
            None
        };
        let walk = BucketWalk { name, keymap };
        self.walk(&walk, &[], dir)
    }

    fn walk(&mut self, b: &BucketWalk<'_>, rel: &[u8], dir: &Path) -> Result<()> {
        for (name, ft) in read_dir_sorted(dir)? {
            let mut child = rel.to_vec();
            if !child.is_empty() {
                child.push(b'/');
            }
            child.extend_from_slice(&name);
            let path = dir.join(os(&name));
            let top = rel.is_empty();
            if ft.is_dir() {
                if top && RESERVED_DIRS.iter().any(|r| r.as_bytes() == name) {
                    if holds_sidecar(&path)? {
                        return Err(Error::data(format!(
                            "{}: rename the colliding S3 key before backup: {RESERVED_COLLISION}",
                            path.display()
                        )));
                    }
                    continue;
                }
                self.walk(b, &child, &path)?;
                continue;
            }
            if (top && name == b"_bucket.json")
                || (top && name == b"KEYMAP.jsonl" && b.keymap.is_some())
                || name.ends_with(META_SUFFIX.as_bytes())
            {
                continue;
            }
            self.ctx.cancel.check()?;
            self.object(b, &child, &path)?;
        }
        Ok(())
    }

    fn object(&mut self, b: &BucketWalk<'_>, rel: &[u8], body: &Path) -> Result<()> {
        let key = b
            .keymap
            .as_ref()
            .and_then(|km| km.get(rel))
            .map_or(rel, Vec::as_slice);
        let sidecar_path = crate::fsutil::with_suffix(body, META_SUFFIX);
        let bytes = read_regular(&sidecar_path)?;
        let invalid = |msg: String| {
            Error::data(format!(
                "{}: {msg}: {INVALID_SIDECAR}",
                sidecar_path.display()
            ))
        };
        let pm = json::parse_public_manifest(&bytes).map_err(|e| {
            let mut ie = InputError::json(e, 0).in_file(&sidecar_path);
            ie.context.push(INVALID_SIDECAR.into());
            Error::from(ie)
        })?;
        if pm.format_version != 1 {
            return Err(invalid(format!(
                "unsupported format_version {}",
                pm.format_version
            )));
        }
        let (mut f, size) = open_regular(body)?;
        if i64::try_from(size).ok() != Some(pm.size_bytes) {
            return Err(Error::data(format!(
                "{}: size_bytes {} != body length {size}: {INVALID_SIDECAR}",
                body.display(),
                pm.size_bytes
            )));
        }
        if self.buf.len() != CHUNK_SIZE {
            self.buf = vec![0; CHUNK_SIZE];
        }
        let mut ck = ChunkKey {
            bucket: b.name.to_vec(),
            generation: RESTORE_GENERATION,
            object: key.to_vec(),
            upload_id: RESTORE_UPLOAD_ID.as_bytes().to_vec(),
            part_no: RESTORE_PART_NO,
            chunk_no: 0,
            part_version: 0,
        };
        let mut sizes = Vec::new();
        loop {
            let n = read_full(&mut f, &mut self.buf).map_err(|e| tree_io("read", body, e))?;
            if n > 0 {
                self.sink
                    .add(&keys::chunk_key(keys::BLOB, &ck), &self.buf[..n])?;
                sizes.push(n as u64);
                ck.chunk_no += 1;
            }
            if n < CHUNK_SIZE {
                break;
            }
            self.ctx.cancel.check()?;
        }
        let parts = (!sizes.is_empty()).then(|| {
            vec![LivePart {
                part_no: RESTORE_PART_NO,
                etag: pm.etag.clone(),
                size_bytes: pm.size_bytes,
                chunk_count: sizes.len() as u64,
                chunk_sizes: Some(sizes),
                ..LivePart::default()
            }]
        });
        let live = LiveManifest {
            upload_id: RESTORE_UPLOAD_ID.into(),
            etag: pm.etag,
            size_bytes: pm.size_bytes,
            last_modified_hlc: json::parse_hlc(&pm.last_modified),
            content_type: pm.content_type,
            content_encoding: pm.content_encoding,
            cache_control: pm.cache_control,
            content_disposition: pm.content_disposition,
            user_metadata: pm.user_metadata.0,
            parts,
        };
        self.sink.add(
            &keys::object_manifest_key(b.name, RESTORE_GENERATION, key),
            &json::render_live_manifest(&live),
        )
    }
}

/// `io.ReadFull`: fill `buf` unless the file ends first.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Whether a reserved top-level directory holds a `*.elastickv-meta.json`
/// at any depth (a user object, not the decoder's own payload).
fn holds_sidecar(dir: &Path) -> Result<bool> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for (name, ft) in read_dir_sorted(&d)? {
            if ft.is_dir() {
                stack.push(d.join(os(&name)));
            } else if name.ends_with(META_SUFFIX.as_bytes()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// A top-level `KEYMAP.jsonl` is the decoder's rename tracker when it is a
/// regular file whose own sidecar is absent or not a regular file.
fn is_collision_tracker(bucket_dir: &Path) -> Result<bool> {
    let path = bucket_dir.join(keymap::FILE_NAME);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(tree_io("lstat", &path, e)),
        Ok(m) if !m.file_type().is_file() => return Ok(false),
        Ok(_) => {}
    }
    let sidecar = crate::fsutil::with_suffix(&path, META_SUFFIX);
    match fs::symlink_metadata(&sidecar) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(tree_io("lstat", &sidecar, e)),
        Ok(m) => Ok(!m.file_type().is_file()),
    }
}

/// Upstream's strict per-bucket loader: every line valid, no duplicate
/// `encoded`, every record consistent with what the decoder writes, and
/// every target an existing regular file. Errors come back as text; the
/// caller wraps them as an invalid bucket.
fn load_keymap(bucket_dir: &Path) -> Result<HashMap<Vec<u8>, Vec<u8>>, InputError> {
    let path = bucket_dir.join(keymap::FILE_NAME);
    let f = match open_regular(&path) {
        Ok((f, _)) => f,
        Err(e) => return Err(e.to_string().into()),
    };
    let mut out: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    keymap::for_each_record(f, |rec| {
        if out.contains_key(rec.encoded.as_bytes()) {
            return Err(format!(
                "duplicate encoded segment {:?} (S3 decoder writes one record per rename; a duplicate means the dump is corrupt): {INVALID_KEYMAP}",
                rec.encoded
            ));
        }
        validate_record(&rec).map_err(|e| format!("{e}: {INVALID_KEYMAP}"))?;
        out.insert(rec.encoded.into_bytes(), rec.original);
        Ok(())
    })
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut targets: Vec<&Vec<u8>> = out.keys().collect();
    targets.sort();
    for encoded in targets {
        let p = bucket_dir.join(os(encoded));
        match fs::symlink_metadata(&p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(format!(
                    "orphan keymap record: encoded {} has no on-disk file under {}: {INVALID_KEYMAP}",
                    show(encoded),
                    bucket_dir.display()
                ).into());
            }
            Err(e) => return Err(format!("lstat {}: {e}", p.display()).into()),
            Ok(m) if !m.file_type().is_file() => {
                return Err(format!(
                    "keymap record {} resolves to {} (mode={}), want regular file: {INVALID_KEYMAP}",
                    show(encoded),
                    p.display(),
                    go_mode(&m, false)
                ).into());
            }
            Ok(_) => {}
        }
    }
    Ok(out)
}

fn first_segment(p: &[u8]) -> &[u8] {
    p.split(|&c| c == b'/').next().unwrap_or(p)
}

/// Upstream's `validateKeymapRecord`, check for check and in its order.
fn validate_record(rec: &keymap::Record) -> Result<(), InputError> {
    let kind = rec.kind.as_str();
    if ![
        keymap::KIND_S3_LEAF_DATA,
        keymap::KIND_META_SUFFIX_RENAME,
        keymap::KIND_SHA_FALLBACK,
    ]
    .contains(&kind)
    {
        return Err(format!(
            "unknown kind {kind:?} for encoded segment {:?}",
            rec.encoded
        )
        .into());
    }
    let enc = rec.encoded.as_bytes();
    if enc.contains(&b'\\') {
        return Err(format!("encoded path {:?} contains backslash", rec.encoded).into());
    }
    let segs: Vec<&[u8]> = enc.split(|&c| c == b'/').collect();
    if segs.iter().any(|s| is_dot_or_empty(s)) {
        return Err(format!("encoded path {:?} contains an invalid segment", rec.encoded).into());
    }
    if segs
        .last()
        .is_some_and(|s| s.ends_with(META_SUFFIX.as_bytes()))
    {
        return Err(format!(
            "encoded path {:?} ends in reserved sidecar suffix {META_SUFFIX:?} (walker would skip)",
            rec.encoded
        )
        .into());
    }
    if segs.len() == 1 && (enc == b"_bucket.json" || enc == keymap::FILE_NAME.as_bytes()) {
        return Err(format!(
            "encoded path {:?} names a top-level control file the walker skips",
            rec.encoded
        )
        .into());
    }
    if RESERVED_DIRS.iter().any(|r| r.as_bytes() == segs[0]) {
        return Err(format!(
            "encoded path {:?} targets reserved dump subtree (walker would skip)",
            rec.encoded
        )
        .into());
    }
    let orig = rec.original.as_slice();
    if orig.is_empty() {
        return Err(format!(
            "empty original key for encoded segment {:?} (kind={kind:?})",
            rec.encoded
        )
        .into());
    }
    if orig.contains(&0) {
        return Err(format!("original key {} contains NUL byte", show(orig)).into());
    }
    if orig.contains(&b'\\') {
        return Err(format!("original key {} contains backslash", show(orig)).into());
    }
    if orig.split(|&c| c == b'/').any(is_dot_or_empty) {
        return Err(format!("original key {} has an invalid path segment", show(orig)).into());
    }
    if RESERVED_DIRS
        .iter()
        .any(|r| r.as_bytes() == first_segment(orig))
    {
        return Err(format!(
            "original key {} targets a reserved dump subtree",
            show(orig)
        )
        .into());
    }
    if kind == keymap::KIND_S3_LEAF_DATA && !enc.ends_with(LEAF_DATA_SUFFIX.as_bytes()) {
        return Err(format!(
            "KindS3LeafData encoded {:?} missing {LEAF_DATA_SUFFIX:?} suffix",
            rec.encoded
        )
        .into());
    }
    if kind == keymap::KIND_META_SUFFIX_RENAME && !orig.ends_with(META_SUFFIX.as_bytes()) {
        return Err(format!(
            "KindMetaCollision original {} missing {META_SUFFIX:?} suffix",
            show(orig)
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(encoded: &str, original: &[u8], kind: &str) -> keymap::Record {
        keymap::Record {
            encoded: encoded.into(),
            original: original.to_vec(),
            kind: kind.into(),
        }
    }

    #[test]
    fn keymap_record_validation() {
        let leaf = keymap::KIND_S3_LEAF_DATA;
        let meta = keymap::KIND_META_SUFFIX_RENAME;
        assert!(validate_record(&rec("a.elastickv-leaf-data", b"a", leaf)).is_ok());
        assert!(validate_record(&rec("x/a.elastickv-leaf-data", b"_orphansfoo/a", leaf)).is_ok());
        assert!(
            validate_record(&rec(
                "r.elastickv-meta.json.user-data",
                b"r.elastickv-meta.json",
                meta
            ))
            .is_ok()
        );
        assert!(validate_record(&rec("n/_bucket.json", b"x", keymap::KIND_SHA_FALLBACK)).is_ok());
        for bad in [
            rec("a.elastickv-leaf-data", b"a", "other"),
            rec("a", b"a", leaf),
            rec("a\\b.elastickv-leaf-data", b"a", leaf),
            rec("a//b.elastickv-leaf-data", b"a", leaf),
            rec("./a.elastickv-leaf-data", b"a", leaf),
            rec("a.elastickv-meta.json", b"a.elastickv-meta.json", meta),
            rec("_bucket.json", b"a", keymap::KIND_SHA_FALLBACK),
            rec("KEYMAP.jsonl", b"a", keymap::KIND_SHA_FALLBACK),
            rec("_orphans/a.elastickv-leaf-data", b"a", leaf),
            rec("a.elastickv-leaf-data", b"", leaf),
            rec("a.elastickv-leaf-data", b"a\0", leaf),
            rec("a.elastickv-leaf-data", b"a\\b", leaf),
            rec("a.elastickv-leaf-data", b"/a", leaf),
            rec("a.elastickv-leaf-data", b"a/../b", leaf),
            rec("a.elastickv-leaf-data", b"_incomplete_uploads/a", leaf),
            rec("a.user-data", b"a", meta),
        ] {
            assert!(validate_record(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn go_mode_strings() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        fs::write(&f, b"").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        let m = fs::symlink_metadata(&f).unwrap();
        assert_eq!(go_mode(&m, false), "-rw-r-----");
        assert_eq!(go_mode(&m, true), "----------");
        let l = t.path().join("l");
        std::os::unix::fs::symlink("f", &l).unwrap();
        assert_eq!(
            go_mode(&fs::symlink_metadata(&l).unwrap(), false),
            "Lrwxrwxrwx"
        );
        let dm = fs::symlink_metadata(t.path()).unwrap();
        assert!(go_mode(&dm, true).starts_with('d'));
    }
}
