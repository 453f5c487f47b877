//! The S3 decoder's rules, one upstream pinning test at a time (names in
//! the comments are upstream's `internal/backup/s3_test.go`).

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ekvplan::DecodeOptions;
use ekvplan::testing::s3::S3Decoder;
use ekvplan::testing::s3::keys::{self, ChunkKey};
use ekvplan::testing::{AdapterDecoder, DecodeContext, route};

struct Harness {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    scratch: PathBuf,
    dec: S3Decoder,
    warnings: Arc<Mutex<Vec<String>>>,
}

impl Harness {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(f: impl FnOnce(&mut DecodeOptions)) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        let mut options = DecodeOptions::default();
        f(&mut options);
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let w = warnings.clone();
        let ctx = DecodeContext::writing_to(
            &out,
            &tmp.path().join("spill"),
            options,
            1 << 20,
            Arc::new(move |m: &str| w.lock().unwrap().push(m.to_string())),
        );
        let dec = S3Decoder::new(&ctx);
        Harness {
            scratch: out.join(".scratch"),
            out,
            dec,
            warnings,
            _tmp: tmp,
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> ekvplan::Result<()> {
        let (prefix, _) = route(key).expect("routed key");
        self.dec.handle(prefix, key, value)
    }

    fn ok(&mut self, key: &[u8], value: &[u8]) {
        self.put(key, value).unwrap();
    }

    fn finish(&mut self) -> ekvplan::Result<()> {
        self.dec.finalize()
    }

    fn path(&self, rel: &[u8]) -> PathBuf {
        self.out.join("s3").join(std::ffi::OsStr::from_bytes(rel))
    }

    fn read(&self, rel: &[u8]) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(rel)))
    }

    fn exists(&self, rel: &[u8]) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok()
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap().clone()
    }

    fn meta(&mut self, bucket: &str, generation: u64) {
        let v = format!(
            r#"{{"bucket_name":"{bucket}","generation":{generation},"owner":"alice","region":"us-east-1"}}"#
        );
        self.ok(&keys::bucket_meta_key(bucket.as_bytes()), v.as_bytes());
    }

    fn manifest(&mut self, bucket: &str, generation: u64, object: &[u8], json: &str) {
        self.ok(
            &keys::object_manifest_key(bucket.as_bytes(), generation, object),
            json.as_bytes(),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn blob(
        &mut self,
        bucket: &str,
        generation: u64,
        object: &[u8],
        upload: &str,
        part_no: u64,
        chunk_no: u64,
        part_version: u64,
        body: &[u8],
    ) {
        let k = ck(
            bucket,
            generation,
            object,
            upload,
            part_no,
            chunk_no,
            part_version,
        );
        self.ok(&keys::chunk_key(keys::BLOB, &k), body);
    }

    /// A one-part, one-chunk object with upload id `u-1`.
    fn object(&mut self, bucket: &str, generation: u64, object: &[u8], body: &[u8]) {
        self.manifest(
            bucket,
            generation,
            object,
            &format!(
                r#"{{"upload_id":"u-1","etag":"\"deadbeef\"","size_bytes":{n},"content_type":"text/plain","parts":[{{"part_no":1,"size_bytes":{n},"chunk_count":1}}]}}"#,
                n = body.len()
            ),
        );
        self.blob(bucket, generation, object, "u-1", 1, 0, 0, body);
    }
}

fn ck(
    bucket: &str,
    generation: u64,
    object: &[u8],
    upload: &str,
    part_no: u64,
    chunk_no: u64,
    part_version: u64,
) -> ChunkKey {
    ChunkKey {
        bucket: bucket.as_bytes().to_vec(),
        generation,
        object: object.to_vec(),
        upload_id: upload.as_bytes().to_vec(),
        part_no,
        chunk_no,
        part_version,
    }
}

fn err_text(r: ekvplan::Result<()>) -> String {
    r.expect_err("expected an error").to_string()
}

fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// TestS3_BucketMetaAndSingleObjectAssembly
#[test]
fn bucket_meta_and_single_object() {
    let mut h = Harness::new();
    h.meta("photos", 1);
    h.object("photos", 1, b"a/b.txt", b"hello");
    h.finish().unwrap();
    assert_eq!(h.read(b"photos/a/b.txt"), b"hello");
    assert_eq!(
        String::from_utf8(h.read(b"photos/_bucket.json")).unwrap(),
        "{\n  \"format_version\": 1,\n  \"name\": \"photos\",\n  \"owner\": \"alice\",\n  \"region\": \"us-east-1\"\n}"
    );
    assert_eq!(
        String::from_utf8(h.read(b"photos/a/b.txt.elastickv-meta.json")).unwrap(),
        "{\n  \"format_version\": 1,\n  \"etag\": \"\\\"deadbeef\\\"\",\n  \"size_bytes\": 5,\n  \"content_type\": \"text/plain\"\n}"
    );
    // The scratch subtree is gone; its parent stays (upstream leaves it).
    assert!(h.scratch.is_dir());
    assert!(list(&h.scratch).is_empty());
    assert!(h.warnings().is_empty());
}

// TestS3_MultipartObjectAssemblesInPartChunkOrder
#[test]
fn multipart_assembles_in_part_chunk_order() {
    let mut h = Harness::new();
    h.meta("b", 1);
    h.manifest(
        "b",
        1,
        b"o",
        r#"{"upload_id":"u","size_bytes":12,"parts":[{"part_no":2,"chunk_count":2},{"part_no":1,"chunk_count":2}]}"#,
    );
    for (p, c, body) in [
        (2, 1, "P2C1"),
        (1, 1, "p1c1"),
        (2, 0, "P2C0"),
        (1, 0, "p1c0"),
    ] {
        h.blob("b", 1, b"o", "u", p, c, 0, body.as_bytes());
    }
    h.finish().unwrap();
    assert_eq!(h.read(b"b/o"), b"p1c0p1c1P2C0P2C1");
}

// TestS3_OffloadedObjectAssemblesFromChunkRefs, TestDecodeSnapshot_RoutesS3OffloadRecords
#[test]
fn offloaded_chunks_from_chunk_refs() {
    let mut h = Harness::new();
    h.meta("b", 1);
    h.manifest(
        "b",
        1,
        b"o",
        r#"{"upload_id":"u","size_bytes":6,"parts":[{"part_no":1,"chunk_count":2,"chunk_sizes":[3,3],"offloaded":true,"chunk_ref_version":4}]}"#,
    );
    // A legacy blob with the same identity is not part of the offloaded part.
    h.blob("b", 1, b"o", "u", 1, 0, 4, b"XXX");
    for (c, body) in [(1u64, &b"def"[..]), (0, b"abc")] {
        let d = keys::sha256(body);
        h.ok(&keys::chunk_blob_key(&d), body);
        h.ok(
            &keys::chunk_key(keys::CHUNK_REF, &ck("b", 1, b"o", "u", 1, c, 4)),
            &keys::encode_chunk_ref(&d, body.len() as u64, b"n1", &[]),
        );
    }
    h.finish().unwrap();
    assert_eq!(h.read(b"b/o"), b"abcdef");
}

fn offloaded_manifest(h: &mut Harness, sizes: &str) {
    h.meta("b", 1);
    h.manifest(
        "b",
        1,
        b"o",
        &format!(
            r#"{{"upload_id":"u","parts":[{{"part_no":1,"chunk_count":1,{sizes}"offloaded":true}}]}}"#
        ),
    );
}

// TestS3_OffloadedObjectFailsClosedWhenChunkBlobIsMissing
#[test]
fn offloaded_missing_chunk_blob_is_incomplete() {
    let mut h = Harness::new();
    offloaded_manifest(&mut h, r#""chunk_sizes":[3],"#);
    let d = keys::sha256(b"abc");
    h.ok(
        &keys::chunk_key(keys::CHUNK_REF, &ck("b", 1, b"o", "u", 1, 0, 0)),
        &keys::encode_chunk_ref(&d, 3, b"", &[]),
    );
    assert!(err_text(h.finish()).contains("incomplete blob chunks"));
}

// TestS3_OffloadedObjectRejectsManifestChunkSizeMismatch
#[test]
fn offloaded_size_mismatch() {
    let mut h = Harness::new();
    offloaded_manifest(&mut h, r#""chunk_sizes":[4],"#);
    let d = keys::sha256(b"abc");
    h.ok(&keys::chunk_blob_key(&d), b"abc");
    h.ok(
        &keys::chunk_key(keys::CHUNK_REF, &ck("b", 1, b"o", "u", 1, 0, 0)),
        &keys::encode_chunk_ref(&d, 3, b"", &[]),
    );
    assert!(err_text(h.finish()).contains("invalid S3 chunk reference"));
    // A reference whose size disagrees with the payload.
    let mut h = Harness::new();
    offloaded_manifest(&mut h, r#""chunk_sizes":[3],"#);
    h.ok(&keys::chunk_blob_key(&d), b"abc");
    h.ok(
        &keys::chunk_key(keys::CHUNK_REF, &ck("b", 1, b"o", "u", 1, 0, 0)),
        &keys::encode_chunk_ref(&d, 2, b"", &[]),
    );
    assert!(err_text(h.finish()).contains("invalid S3 chunk reference"));
}

// TestS3_OffloadedObjectRejectsMissingManifestChunkSizes
#[test]
fn offloaded_part_needs_chunk_sizes() {
    let mut h = Harness::new();
    h.meta("b", 1);
    let r = h.put(
        &keys::object_manifest_key(b"b", 1, b"o"),
        br#"{"upload_id":"u","parts":[{"part_no":1,"chunk_count":1,"offloaded":true}]}"#,
    );
    assert!(err_text(r).contains("invalid !s3|obj|head value"));
}

// TestS3_ChunkBlobRejectsContentHashMismatch
#[test]
fn chunk_blob_hash_checked() {
    let mut h = Harness::new();
    let r = h.put(&keys::chunk_blob_key(&keys::sha256(b"x")), b"y");
    assert!(err_text(r).contains("chunkblob hash mismatch"));
    let r = h.put(b"!s3|chunkblob|abc", b"y");
    assert!(err_text(r).contains("malformed S3 key"));
}

// TestS3_OrphanChunksWarn
#[test]
fn orphan_chunks_warn_only_by_default() {
    let mut h = Harness::new();
    h.meta("b", 1);
    h.blob("b", 1, b"ghost", "u", 1, 0, 0, b"zz");
    h.finish().unwrap();
    let w = h.warnings();
    assert_eq!(w.len(), 1);
    assert!(
        w[0].starts_with("s3_orphan_chunks:") && w[0].contains("chunks=1"),
        "{w:?}"
    );
    assert!(!h.exists(b"b/_orphans"));
    assert!(!h.exists(b"b/ghost"));
}

// TestS3_OrphanChunksWrittenWhenIncludeOrphans, ..PreservedAcrossGenerations
#[test]
fn orphan_chunks_written_per_generation() {
    let mut h = Harness::with(|o| o.include_orphans = true);
    h.meta("b", 3);
    h.blob("b", 1, b"ghost", "u", 1, 0, 0, b"g1-bytes");
    h.blob("b", 2, b"ghost", "u", 1, 0, 0, b"g2-bytes");
    h.blob("b", 3, b"lost", "u", 2, 5, 7, b"L");
    h.finish().unwrap();
    let name = "u_0000000000000001_0000000000000000_0000000000000000.bin";
    // Upstream's scratch path ignores the generation: both get gen 2's bytes.
    for g in ["gen-1", "gen-2"] {
        let rel = format!("b/_orphans/ghost/{g}/{name}");
        assert_eq!(h.read(rel.as_bytes()), b"g2-bytes", "{g}");
    }
    assert_eq!(
        h.read(b"b/_orphans/lost/gen-3/u_0000000000000002_0000000000000005_0000000000000007.bin"),
        b"L"
    );
    let w = h.warnings();
    assert!(
        w.iter()
            .any(|m| m.starts_with("s3_stale_generation_objects") && m.contains("stale_count=2")),
        "{w:?}"
    );
    assert_eq!(
        w.iter()
            .filter(|m| m.starts_with("s3_orphan_chunks"))
            .count(),
        3
    );
}

// TestS3_MetaSuffixCollisionRejectedByDefault
#[test]
fn meta_suffix_collision_rejected_by_default() {
    let mut h = Harness::new();
    h.meta("collide", 1);
    h.object("collide", 1, b"x.elastickv-meta.json", b"1");
    let e = err_text(h.finish());
    assert!(
        e.contains(r#"bucket "collide" object "x.elastickv-meta.json""#)
            && e.contains("collides with reserved sidecar suffix"),
        "{e}"
    );
}

// TestS3_MetaSuffixCollisionRenamesUnderFlag
#[test]
fn meta_suffix_collision_renamed_under_flag() {
    let mut h = Harness::with(|o| o.rename_s3_collisions = true);
    h.meta("b", 1);
    h.object("b", 1, b"r.elastickv-meta.json", b"data");
    h.finish().unwrap();
    assert_eq!(h.read(b"b/r.elastickv-meta.json.user-data"), b"data");
    assert!(h.exists(b"b/r.elastickv-meta.json.user-data.elastickv-meta.json"));
    assert_eq!(
        String::from_utf8(h.read(b"b/KEYMAP.jsonl")).unwrap(),
        "{\"encoded\":\"r.elastickv-meta.json.user-data\",\"original\":\"ci5lbGFzdGlja3YtbWV0YS5qc29u\",\"kind\":\"meta-suffix-rename\"}\n"
    );
}

// TestS3_LeafDataRenameRejectsCollidingUserKey, TestS3_MetaSuffixRenameRejectsCollidingUserKey
#[test]
fn rename_targets_must_be_free() {
    let mut h = Harness::new();
    h.meta("b", 1);
    h.object("b", 1, b"a", b"1");
    h.object("b", 1, b"a/b", b"2");
    h.object("b", 1, b"a.elastickv-leaf-data", b"3");
    assert!(err_text(h.finish()).contains("leaf-data rename target"));
    let mut h = Harness::with(|o| o.rename_s3_collisions = true);
    h.meta("b", 1);
    h.object("b", 1, b"r.elastickv-meta.json", b"1");
    h.object("b", 1, b"r.elastickv-meta.json.user-data", b"2");
    assert!(err_text(h.finish()).contains("meta-suffix rename target"));
}

// TestS3_FileVsDirectoryKeyCollisionGetsLeafDataRename
#[test]
fn file_vs_directory_gets_leaf_data_rename() {
    let mut h = Harness::with(|o| o.rename_s3_collisions = true);
    h.meta("b", 1);
    h.object("b", 1, b"path/to", b"short");
    h.object("b", 1, b"path/to/file", b"long");
    h.object("b", 1, b"a", b"A");
    h.object("b", 1, b"a/b/c", b"C");
    h.object("b", 1, b"m.elastickv-meta.json", b"M");
    h.finish().unwrap();
    assert_eq!(h.read(b"b/path/to.elastickv-leaf-data"), b"short");
    assert!(h.exists(b"b/path/to.elastickv-leaf-data.elastickv-meta.json"));
    assert_eq!(h.read(b"b/path/to/file"), b"long");
    assert_eq!(h.read(b"b/a.elastickv-leaf-data"), b"A");
    // Several renames: lines in object-key order (upstream: Go map order).
    assert_eq!(
        String::from_utf8(h.read(b"b/KEYMAP.jsonl")).unwrap(),
        concat!(
            "{\"encoded\":\"a.elastickv-leaf-data\",\"original\":\"YQ\",\"kind\":\"s3-leaf-data\"}\n",
            "{\"encoded\":\"m.elastickv-meta.json.user-data\",\"original\":\"bS5lbGFzdGlja3YtbWV0YS5qc29u\",\"kind\":\"meta-suffix-rename\"}\n",
            "{\"encoded\":\"path/to.elastickv-leaf-data\",\"original\":\"cGF0aC90bw\",\"kind\":\"s3-leaf-data\"}\n",
        )
    );
}

// A manifest-less object still makes its prefix a directory.
#[test]
fn orphan_keys_count_as_directory_prefixes() {
    let mut h = Harness::new();
    h.meta("b", 1);
    h.object("b", 1, b"d", b"x");
    h.blob("b", 1, b"d/orphan", "u", 1, 0, 0, b"y");
    h.finish().unwrap();
    assert_eq!(h.read(b"b/d.elastickv-leaf-data"), b"x");
    assert!(!h.exists(b"b/d/orphan"));
}

// TestS3_RejectsMalformedManifestJSON, TestS3_RejectsMalformedBucketMetaJSON
#[test]
fn malformed_json_values() {
    let mut h = Harness::new();
    let e = err_text(h.put(&keys::object_manifest_key(b"b", 1, b"o"), b"{not json"));
    assert!(e.contains("invalid !s3|obj|head value"), "{e}");
    let e = err_text(h.put(&keys::bucket_meta_key(b"b"), b"[]"));
    assert!(e.contains("invalid !s3|bucket|meta value"), "{e}");
    let e = err_text(h.put(b"!s3|bucket|meta|b\x00\x01x", b"{}"));
    assert!(e.contains("malformed S3 key"), "{e}");
}

// TestS3_IncludeIncompleteUploadsBuffersRecords, ..AppendsAcrossCalls,
// TestS3_DefaultDoesNotEmitIncompleteUploads
#[test]
fn incomplete_uploads() {
    let mut h = Harness::new();
    h.ok(&keys::upload_meta_key(b"b", 1, b"o", b"u"), b"m");
    h.finish().unwrap();
    assert!(!h.exists(b"b"));

    let mut h = Harness::with(|o| o.include_incomplete_uploads = true);
    let m1 = keys::upload_meta_key(b"a", 1, b"o", b"u");
    let m2 = keys::upload_meta_key(b"b", 1, b"o", b"u");
    let p1 = keys::upload_part_key(b"a", 1, b"o", b"u", 1);
    h.ok(&m1, b"<meta&>");
    h.ok(&m2, b"");
    h.ok(&p1, b"\xff");
    h.finish().unwrap();
    let want = |k: &[u8], prefix: &str, v: &[u8]| {
        use base64::Engine;
        let e = base64::engine::general_purpose::STANDARD;
        format!(
            "{{\"prefix\":\"{prefix}\",\"key\":\"{}\",\"value\":\"{}\"}}\n",
            e.encode(k),
            e.encode(v)
        )
    };
    assert_eq!(
        String::from_utf8(h.read(b"a/_incomplete_uploads/records.jsonl")).unwrap(),
        want(&m1, "!s3|upload|meta|", b"<meta&>") + &want(&p1, "!s3|upload|part|", b"\xff")
    );
    assert_eq!(
        String::from_utf8(h.read(b"b/_incomplete_uploads/records.jsonl")).unwrap(),
        want(&m2, "!s3|upload|meta|", b"")
    );
    // A bucket seen only through uploads still gets its directory, no meta.
    assert!(!h.exists(b"a/_bucket.json"));
}

// TestS3_HandleIncompleteUploadRejectsDotSegmentBucket
#[test]
fn incomplete_upload_dot_bucket_rejected() {
    let mut h = Harness::with(|o| o.include_incomplete_uploads = true);
    for b in [&b".."[..], b".", b""] {
        let e = err_text(h.put(&keys::upload_meta_key(b, 1, b"o", b"u"), b"v"));
        assert!(e.contains("malformed S3 key"), "{e}");
    }
}

// TestS3_PathTraversalAttemptRejected, ..Backslash.., ..LeadingSlash..,
// ..DotSegment.., TestS3_EmptySlashSegmentsRejected
#[test]
fn unsafe_object_names_rejected() {
    for key in [
        &b"../../etc/passwd"[..],
        b"a/../b",
        b"./a",
        b"a\\b",
        b"/abs",
        b"a//b",
        b"a/",
        b"a\0b",
    ] {
        let mut h = Harness::new();
        h.meta("b", 1);
        h.manifest("b", 1, key, r#"{"upload_id":"u"}"#);
        let e = err_text(h.finish());
        assert!(e.contains("malformed S3 key"), "{key:?}: {e}");
    }
}

// TestS3_HandleBlobRejectsScratchEscape, TestS3_FlushBucketRejectsDotSegmentBucketName
#[test]
fn dot_names_rejected() {
    for (b, o) in [("..", &b"o"[..]), ("b", b".."), ("b", b"."), ("", b"o")] {
        let mut h = Harness::new();
        let k = keys::chunk_key(keys::BLOB, &ck(b, 1, o, "u", 1, 0, 0));
        assert!(err_text(h.put(&k, b"x")).contains("malformed S3 key"));
    }
    let mut h = Harness::new();
    h.ok(&keys::bucket_meta_key(b".."), b"{}");
    assert!(err_text(h.finish()).contains("malformed S3 key"));
}

// TestS3_LastModifiedSidecarPopulated
#[test]
fn last_modified_from_hlc() {
    let mut h = Harness::new();
    h.meta("b", 1);
    let hlc = (1_745_884_800_120u64 << 16) | 0xffff;
    h.manifest(
        "b",
        1,
        b"o",
        &format!(r#"{{"upload_id":"u","size_bytes":0,"last_modified_hlc":{hlc}}}"#),
    );
    h.finish().unwrap();
    let side = String::from_utf8(h.read(b"b/o.elastickv-meta.json")).unwrap();
    assert!(
        side.contains("\"last_modified\": \"2025-04-29T00:00:00.12Z\""),
        "{side}"
    );
    assert_eq!(h.read(b"b/o"), b"");
}

// TestS3_KeymapRefusesSymlinkAtFinalize
#[test]
fn keymap_refuses_symlink() {
    let mut h = Harness::new();
    h.meta("b", 1);
    h.object("b", 1, b"a", b"1");
    h.object("b", 1, b"a/b", b"2");
    let dir = h.path(b"b");
    fs::create_dir_all(&dir).unwrap();
    let victim = h.out.join("victim");
    fs::write(&victim, b"keep").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("KEYMAP.jsonl")).unwrap();
    assert!(err_text(h.finish()).contains("symlink"));
    assert_eq!(fs::read(&victim).unwrap(), b"keep");
}

// TestS3_StaleUploadIDChunksFilteredFromAssembledBody
#[test]
fn stale_upload_chunks_filtered() {
    let mut h = Harness::new();
    h.meta("b", 1);
    h.manifest(
        "b",
        1,
        b"o",
        r#"{"upload_id":"new","parts":[{"part_no":1,"chunk_count":1}]}"#,
    );
    h.blob("b", 1, b"o", "new", 1, 0, 0, b"NEW");
    h.blob("b", 1, b"o", "old", 1, 0, 0, b"OLD");
    h.finish().unwrap();
    assert_eq!(h.read(b"b/o"), b"NEW");
}

// TestS3_StalePartVersionExcludedFromAssembledBody, TestS3_VersionedBlobAssembledByPartVersionOrder
#[test]
fn part_versions() {
    let mut h = Harness::new();
    h.meta("v", 1);
    h.manifest(
        "v",
        1,
        b"obj",
        r#"{"upload_id":"u","size_bytes":6,"parts":[{"part_no":1,"size_bytes":6,"chunk_count":1,"part_version":9}]}"#,
    );
    h.blob("v", 1, b"obj", "u", 1, 0, 8, b"stale!");
    h.blob("v", 1, b"obj", "u", 1, 0, 9, b"vBlobX");
    h.blob("v", 1, b"obj", "u", 1, 0, 0, b"zero!!");
    h.finish().unwrap();
    assert_eq!(h.read(b"v/obj"), b"vBlobX");
}

// TestS3_StaleGenerationObjectExcluded
#[test]
fn stale_generation_excluded() {
    let mut h = Harness::new();
    h.meta("b", 2);
    h.object("b", 1, b"old", b"1");
    h.object("b", 2, b"new", b"2");
    h.finish().unwrap();
    assert!(!h.exists(b"b/old"));
    assert_eq!(h.read(b"b/new"), b"2");
    let w = h.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("active_generation=2") && w[0].contains("stale_count=1"));
}

// Without bucket meta every generation is written; the highest lands last.
#[test]
fn no_meta_flushes_every_generation() {
    let mut h = Harness::new();
    for (g, u, body) in [(2, "u2", &b"two"[..]), (1, "u1", b"one")] {
        h.manifest(
            "b",
            g,
            b"k",
            &format!(r#"{{"upload_id":"{u}","parts":[{{"part_no":1,"chunk_count":1}}]}}"#),
        );
        h.blob("b", g, b"k", u, 1, 0, 0, body);
    }
    h.finish().unwrap();
    assert_eq!(h.read(b"b/k"), b"two");
    assert!(!h.exists(b"b/_bucket.json"));
    // Same chunk identity in both generations: upstream's shared scratch
    // file means both read whichever chunk was handled last.
    let mut h = Harness::new();
    h.object("b", 2, b"k", b"two");
    h.object("b", 1, b"k", b"one");
    h.finish().unwrap();
    assert_eq!(h.read(b"b/k"), b"one");
}

// TestS3_ZeroChunkCountPartIgnoresStrayChunks
#[test]
fn zero_chunk_part_ignores_strays() {
    let mut h = Harness::new();
    h.meta("b", 1);
    h.manifest(
        "b",
        1,
        b"o",
        r#"{"upload_id":"u","parts":[{"part_no":1,"chunk_count":0},{"part_no":2,"chunk_count":1}]}"#,
    );
    h.blob("b", 1, b"o", "u", 1, 0, 0, b"stray");
    h.blob("b", 1, b"o", "u", 2, 0, 0, b"real");
    h.finish().unwrap();
    assert_eq!(h.read(b"b/o"), b"real");
}

// TestS3_DuplicateChunksWithMissingIndexRejected, TestS3_IncompleteChunksRejected
#[test]
fn completeness_is_set_based() {
    let mut h = Harness::new();
    h.meta("b", 1);
    h.manifest(
        "b",
        1,
        b"o",
        r#"{"upload_id":"","parts":[{"part_no":1,"chunk_count":3}]}"#,
    );
    h.blob("b", 1, b"o", "x", 1, 0, 0, b"a");
    h.blob("b", 1, b"o", "y", 1, 2, 0, b"c");
    h.blob("b", 1, b"o", "z", 1, 2, 0, b"c");
    let e = err_text(h.finish());
    assert!(
        e.contains("incomplete blob chunks") && e.contains("observed unique=2"),
        "{e}"
    );
    let mut h = Harness::new();
    h.meta("b", 1);
    h.manifest(
        "b",
        1,
        b"o",
        r#"{"upload_id":"u","parts":[{"part_no":1,"chunk_count":2}]}"#,
    );
    h.blob("b", 1, b"o", "u", 1, 0, 0, b"a");
    h.blob("b", 1, b"o", "u", 1, 2, 0, b"c");
    let e = err_text(h.finish());
    assert!(e.contains("missing chunkNo=1"), "{e}");
}

// MVCC: older versions of a key arrive after newer ones; the last one
// handled wins, as upstream's overwrite does.
#[test]
fn repeated_chunk_key_last_write_wins() {
    let mut h = Harness::new();
    h.meta("b", 1);
    h.manifest(
        "b",
        1,
        b"o",
        r#"{"upload_id":"u","parts":[{"part_no":1,"chunk_count":2}]}"#,
    );
    h.blob("b", 1, b"o", "u", 1, 0, 0, b"new0");
    h.blob("b", 1, b"o", "u", 1, 0, 0, b"old0");
    h.blob("b", 1, b"o", "u", 1, 1, 0, b"-1");
    h.finish().unwrap();
    assert_eq!(h.read(b"b/o"), b"old0-1");
}

// Bodies of many chunks are streamed through scratch and come out whole.
#[test]
fn large_body_round_trips_through_scratch() {
    let mut h = Harness::new();
    h.meta("b", 1);
    let chunk = 1usize << 20;
    let body: Vec<u8> = (0..3 * chunk + 17).map(|i| (i * 31 % 251) as u8).collect();
    let n = body.len().div_ceil(chunk);
    h.manifest(
        "b",
        1,
        b"big",
        &format!(
            r#"{{"upload_id":"u","size_bytes":{},"parts":[{{"part_no":1,"chunk_count":{n}}}]}}"#,
            body.len()
        ),
    );
    for (i, c) in body.chunks(chunk).enumerate() {
        h.blob("b", 1, b"big", "u", 1, i as u64, 0, c);
    }
    h.finish().unwrap();
    assert_eq!(h.read(b"b/big"), body);
    let mode = fs::metadata(h.path(b"b/big")).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    assert!(list(&h.scratch).is_empty());
}

// Unknown record shapes fail closed, naming the key.
#[test]
fn malformed_chunk_keys() {
    let mut h = Harness::new();
    let e = err_text(h.put(b"!s3|blob|b\x00\x01short", b""));
    assert!(
        e.contains("blob key") && e.contains("malformed S3 key"),
        "{e}"
    );
    let e = err_text(h.put(
        &keys::chunk_key(keys::CHUNK_REF, &ck("b", 1, b"o", "u", 1, 0, 0)),
        b"\x01short",
    ));
    assert!(e.contains("invalid S3 chunk reference"), "{e}");
}

// Upstream resolves the name before it checks completeness: a colliding key
// with missing chunks reports the collision.
#[test]
fn name_errors_come_before_completeness() {
    let mut h = Harness::new();
    h.meta("b", 1);
    h.manifest(
        "b",
        1,
        b"x.elastickv-meta.json",
        r#"{"upload_id":"u","parts":[{"part_no":1,"chunk_count":2}]}"#,
    );
    assert!(err_text(h.finish()).contains("collides with reserved sidecar suffix"));
}

// Upstream makes its scratch tree only for payloads: a dump whose objects
// are all empty leaves no `.scratch/`.
#[test]
fn no_payload_no_scratch_dir() {
    let mut h = Harness::new();
    h.meta("b", 1);
    h.manifest("b", 1, b"empty", r#"{"upload_id":"u","size_bytes":0}"#);
    h.finish().unwrap();
    assert_eq!(h.read(b"b/empty"), b"");
    assert!(!h.scratch.exists());
}

// KEYMAP lines follow the key walk: a key's line comes once no later key
// can start with it, so `a` (a directory prefix of `a/b`) follows
// `a.elastickv-meta.json`.
#[test]
fn keymap_lines_follow_the_key_walk() {
    let mut h = Harness::with(|o| o.rename_s3_collisions = true);
    h.meta("b", 1);
    h.object("b", 1, b"a", b"1");
    h.object("b", 1, b"a.elastickv-meta.json", b"2");
    h.object("b", 1, b"a/b", b"3");
    h.finish().unwrap();
    let km = String::from_utf8(h.read(b"b/KEYMAP.jsonl")).unwrap();
    let encoded: Vec<&str> = km.lines().map(|l| l.split('"').nth(3).unwrap()).collect();
    assert_eq!(
        encoded,
        ["a.elastickv-meta.json.user-data", "a.elastickv-leaf-data"]
    );
}

// Far more records than the 1 MiB index budget: the index spills to sorted
// runs and every object still comes out.
#[test]
fn index_spills_past_its_budget() {
    let mut h = Harness::new();
    h.meta("b", 1);
    let n = 4000;
    let pad = "p".repeat(200);
    for i in 0..n {
        let key = format!("d{}/o{i}", i % 7);
        h.manifest(
            "b",
            1,
            key.as_bytes(),
            &format!(
                r#"{{"upload_id":"u","content_type":"{pad}","parts":[{{"part_no":1,"chunk_count":1}}]}}"#
            ),
        );
        h.blob("b", 1, key.as_bytes(), "u", 1, 0, 0, key.as_bytes());
    }
    h.finish().unwrap();
    for i in (0..n).step_by(97) {
        let key = format!("b/d{}/o{i}", i % 7);
        assert_eq!(h.read(key.as_bytes()), &key.as_bytes()[2..]);
    }
    assert!(list(&h.scratch).is_empty());
}
