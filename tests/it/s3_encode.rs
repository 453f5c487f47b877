//! The S3 encoder's rules (upstream's `encode_s3*_test.go` names in the
//! comments).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ekvplan::testing::s3::keys;
use ekvplan::testing::{self, EncodeContext, EntrySink, ScopeExclusions};
use ekvplan::{AdapterKind, CancelToken, Manifest};

#[derive(Default)]
struct Sink(BTreeMap<Vec<u8>, Vec<u8>>);

impl EntrySink for Sink {
    fn add(&mut self, k: &[u8], v: &[u8]) -> ekvplan::Result<()> {
        if self.0.insert(k.to_vec(), v.to_vec()).is_some() {
            return Err(ekvplan::Error::data(format!(
                "duplicate key {}",
                k.escape_ascii()
            )));
        }
        Ok(())
    }
}

struct Tree {
    tmp: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        let t = Tree {
            tmp: tempfile::tempdir().unwrap(),
        };
        fs::create_dir(t.s3()).unwrap();
        t
    }
    fn root(&self) -> &Path {
        self.tmp.path()
    }
    fn s3(&self) -> PathBuf {
        self.root().join("s3")
    }
    fn write(&self, rel: &str, body: &[u8]) {
        let p = self.s3().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }
    fn bucket(&self, name: &str) {
        let dir = testing::filename::encode(name.as_bytes());
        self.write(
            &format!("{dir}/_bucket.json"),
            format!(
                "{{\n  \"format_version\": 1,\n  \"name\": {name:?},\n  \"owner\": \"alice\"\n}}"
            )
            .as_bytes(),
        );
    }
    fn object(&self, rel: &str, body: &[u8]) {
        self.write(rel, body);
        self.write(
            &format!("{rel}.elastickv-meta.json"),
            format!(
                "{{\n  \"format_version\": 1,\n  \"etag\": \"\\\"e\\\"\",\n  \"size_bytes\": {},\n  \"content_type\": \"text/plain\"\n}}",
                body.len()
            )
            .as_bytes(),
        );
    }
    fn encode(&self) -> ekvplan::Result<BTreeMap<Vec<u8>, Vec<u8>>> {
        let m = Manifest::new_phase0("2026-01-01T00:00:00Z".into());
        let ex = ScopeExclusions::default();
        let cancel = CancelToken::new();
        let warn = ekvplan::silent_warn();
        let ctx = EncodeContext {
            input_root: self.root(),
            manifest: &m,
            scratch_dir: self.root(),
            memory_budget: 1 << 20,
            exclusions: &ex,
            cancel: &cancel,
            warn: &warn,
        };
        let mut sink = Sink::default();
        testing::encode_adapter(AdapterKind::S3, &ctx, &mut sink)?;
        Ok(sink.0)
    }
}

fn err(t: &Tree) -> ekvplan::Error {
    t.encode().expect_err("expected an error")
}

fn blob_key(bucket: &str, object: &[u8], chunk_no: u64) -> Vec<u8> {
    keys::chunk_key(
        keys::BLOB,
        &keys::ChunkKey {
            bucket: bucket.as_bytes().to_vec(),
            generation: 1,
            object: object.to_vec(),
            upload_id: b"elastickv-restore".to_vec(),
            part_no: 1,
            chunk_no,
            part_version: 0,
        },
    )
}

fn manifest_of(recs: &BTreeMap<Vec<u8>, Vec<u8>>, bucket: &str, object: &[u8]) -> String {
    let k = keys::object_manifest_key(bucket.as_bytes(), 1, object);
    String::from_utf8(
        recs.get(&k)
            .unwrap_or_else(|| panic!("no manifest for {object:?}"))
            .clone(),
    )
    .unwrap()
}

// TestS3EncodeBucketRecordsLayout, TestS3EncodeMissingDirIsNoop
#[test]
fn bucket_records_layout() {
    let t = Tree::new();
    t.bucket("photos");
    let recs = t.encode().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(
        recs[&keys::bucket_meta_key(b"photos")],
        br#"{"bucket_name":"photos","generation":1,"created_at_hlc":0,"owner":"alice","region":"","acl":""}"#
    );
    assert_eq!(
        recs[&keys::bucket_gen_key(b"photos")],
        [0, 0, 0, 0, 0, 0, 0, 1]
    );
    fs::remove_dir_all(t.s3()).unwrap();
    assert!(t.encode().unwrap().is_empty());
}

// TestS3EncodeRejectsUnknownFormatVersion, TestS3EncodeRejectsNameDirMismatch
#[test]
fn bucket_json_gates() {
    let t = Tree::new();
    t.write("b/_bucket.json", br#"{"format_version":2,"name":"b"}"#);
    assert!(err(&t).to_string().contains("unsupported format_version 2"));
    t.write("b/_bucket.json", br#"{"format_version":1,"name":"c"}"#);
    assert!(err(&t).to_string().contains("encodes to dir"));
    t.write("b/_bucket.json", br#"{"format_version":1,"name":""}"#);
    assert!(err(&t).to_string().contains("empty bucket name"));
    t.write("b/_bucket.json", br#"{"format_version":1,"name":"b"} x"#);
    assert!(err(&t).to_string().contains("invalid _bucket.json"));
    // A trailing `}` is tolerated, as Go's decoder + More() does.
    t.write("b/_bucket.json", br#"{"format_version":1,"name":"b"}}"#);
    assert!(t.encode().is_ok());
    fs::remove_file(t.s3().join("b/_bucket.json")).unwrap();
    let e = err(&t);
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("b/_bucket.json"), "{e}");
}

// TestS3EncodeRejectsNonDirectoryBucketEntry, TestS3EncodeIgnoresReservedPrefixEntry,
// TestS3EncodeRejectsNonRegularBucketMeta
#[test]
fn top_level_entries() {
    let t = Tree::new();
    t.bucket("b");
    t.write("_stray", b"x");
    assert!(t.encode().is_ok());
    t.write("stray.txt", b"x");
    let e = err(&t).to_string();
    assert!(
        e.contains("s3/stray.txt is not a directory (mode=----------)"),
        "{e}"
    );
    fs::remove_file(t.s3().join("stray.txt")).unwrap();
    std::os::unix::fs::symlink("b", t.s3().join("link")).unwrap();
    assert!(err(&t).to_string().contains("not a regular file"));
    fs::remove_file(t.s3().join("link")).unwrap();
    fs::remove_file(t.s3().join("b/_bucket.json")).unwrap();
    fs::create_dir(t.s3().join("b/_bucket.json")).unwrap();
    assert!(err(&t).to_string().contains("not a regular file"));
}

// TestS3EncodeObjectRoundTrip, ..MultiChunk.., ..EmptyObject.., ..NestedObjectKey..
#[test]
fn objects_are_chunked() {
    let t = Tree::new();
    t.bucket("b");
    let big: Vec<u8> = (0..(2 << 20) + 5).map(|i| (i % 253) as u8).collect();
    t.object("b/big", &big);
    t.object("b/empty", b"");
    t.object("b/a/b/c.txt", b"hello");
    t.object("b/exact", &vec![7u8; 1 << 20]);
    let recs = t.encode().unwrap();
    assert_eq!(recs[&blob_key("b", b"big", 0)], big[..1 << 20]);
    assert_eq!(recs[&blob_key("b", b"big", 1)], big[1 << 20..2 << 20]);
    assert_eq!(recs[&blob_key("b", b"big", 2)], big[2 << 20..]);
    assert!(
        manifest_of(&recs, "b", b"big")
            .contains(r#""chunk_count":3,"chunk_sizes":[1048576,1048576,5]"#)
    );
    assert_eq!(
        manifest_of(&recs, "b", b"empty"),
        r#"{"upload_id":"elastickv-restore","etag":"\"e\"","size_bytes":0,"last_modified_hlc":0,"content_type":"text/plain","content_encoding":"","cache_control":"","content_disposition":"","user_metadata":null,"parts":null}"#
    );
    assert_eq!(
        manifest_of(&recs, "b", b"a/b/c.txt"),
        r#"{"upload_id":"elastickv-restore","etag":"\"e\"","size_bytes":5,"last_modified_hlc":0,"content_type":"text/plain","content_encoding":"","cache_control":"","content_disposition":"","user_metadata":null,"parts":[{"part_no":1,"etag":"\"e\"","size_bytes":5,"chunk_count":1,"chunk_sizes":[5],"part_version":0,"chunk_ref_version":0,"offloaded":false}]}"#
    );
    assert!(
        manifest_of(&recs, "b", b"exact").contains(r#""chunk_count":1,"chunk_sizes":[1048576]"#)
    );
    // 2 bucket records, 3+0+1+1 blobs, 4 manifests.
    assert_eq!(recs.len(), 2 + 5 + 4);
}

#[test]
fn sidecar_fields_and_times() {
    let t = Tree::new();
    t.bucket("b");
    t.write("b/o", b"x");
    t.write(
        "b/o.elastickv-meta.json",
        br#"{"format_version":1,"size_bytes":1,"last_modified":"2025-04-29T00:00:00.1239Z","user_metadata":{"z":"<1>","a":"2"},"cache_control":"no-cache"}"#,
    );
    let m = manifest_of(&t.encode().unwrap(), "b", b"o");
    let hlc = 1_745_884_800_123u64 << 16;
    assert!(m.contains(&format!(r#""last_modified_hlc":{hlc}"#)), "{m}");
    assert!(m.contains(r#""cache_control":"no-cache""#), "{m}");
    assert!(
        m.contains(r#""user_metadata":{"a":"2","z":"\u003c1\u003e"}"#),
        "{m}"
    );
}

// TestOpenRootRegularRejectsNonRegular, TestReadObjectSidecarRejectsNonRegular,
// TestS3EncodeRejectsSizeMismatch
#[test]
fn bodies_and_sidecars_must_be_regular() {
    let t = Tree::new();
    t.bucket("b");
    t.object("b/target", b"x");
    t.object("b/hello.txt", b"hi");
    fs::remove_file(t.s3().join("b/hello.txt")).unwrap();
    std::os::unix::fs::symlink("target", t.s3().join("b/hello.txt")).unwrap();
    let e = err(&t).to_string();
    assert!(
        e.contains("(mode=Lrwxrwxrwx)") && e.contains("not a regular file"),
        "{e}"
    );
    fs::remove_file(t.s3().join("b/hello.txt")).unwrap();
    t.write("b/hello.txt", b"hi!");
    let e = err(&t).to_string();
    assert!(e.contains("size_bytes 2 != body length 3"), "{e}");
    t.write("b/hello.txt", b"hi");
    fs::hard_link(t.s3().join("b/hello.txt"), t.root().join("hl")).unwrap();
    assert!(err(&t).to_string().contains("hard-linked"));
    fs::remove_file(t.root().join("hl")).unwrap();
    fs::remove_file(t.s3().join("b/hello.txt.elastickv-meta.json")).unwrap();
    let e = err(&t);
    assert!(
        e.to_string().contains("hello.txt.elastickv-meta.json"),
        "{e}"
    );
    assert_eq!(e.exit_code(), 2);
    fs::create_dir(t.s3().join("b/hello.txt.elastickv-meta.json")).unwrap();
    assert!(err(&t).to_string().contains("not a regular file"));
    fs::remove_dir(t.s3().join("b/hello.txt.elastickv-meta.json")).unwrap();
    t.write(
        "b/hello.txt.elastickv-meta.json",
        br#"{"format_version":2}"#,
    );
    assert!(err(&t).to_string().contains("invalid object sidecar"));
}

// TestS3EncodeKeymapDirPrefixObjectRoundTrip, TestS3EncodeKeymapObjectRoundTrip,
// TestS3EncodeLeafDataObjectRoundTrip
#[test]
fn control_names_as_user_objects() {
    let t = Tree::new();
    t.bucket("b");
    t.object("b/KEYMAP.jsonl", b"user keymap");
    t.object("b/x.elastickv-leaf-data", b"leaf");
    t.object("b/n/_bucket.json", b"nested");
    let recs = t.encode().unwrap();
    assert_eq!(recs[&blob_key("b", b"KEYMAP.jsonl", 0)], b"user keymap");
    assert_eq!(recs[&blob_key("b", b"x.elastickv-leaf-data", 0)], b"leaf");
    assert_eq!(recs[&blob_key("b", b"n/_bucket.json", 0)], b"nested");
    let t = Tree::new();
    t.bucket("b");
    t.object("b/KEYMAP.jsonl/inner", b"i");
    assert!(
        t.encode()
            .unwrap()
            .contains_key(&blob_key("b", b"KEYMAP.jsonl/inner", 0))
    );
}

// TestS3EncodeRejectsUserObjectUnderReservedDir, TestS3EncodeSkipsLegitimateReservedDumpDirs
#[test]
fn reserved_directories() {
    let t = Tree::new();
    t.bucket("b");
    t.write("b/_incomplete_uploads/records.jsonl", b"{}\n");
    t.write("b/_orphans/o/gen-1/u_0_0_0.bin", b"x");
    t.object("b/x/_orphans/y", b"nested is fine");
    let recs = t.encode().unwrap();
    assert_eq!(recs.len(), 2 + 2);
    t.object("b/_orphans/deep/user", b"u");
    let e = err(&t).to_string();
    assert!(e.contains("collides with reserved dump directory"), "{e}");
}

// TestS3EncodeRoundTripsLeafDataCollision, ..MetaCollision, TestS3EncodeTrackerWithDirectorySidecar
#[test]
fn keymap_reverses_renames() {
    let t = Tree::new();
    t.bucket("b");
    t.object("b/path/to.elastickv-leaf-data", b"short");
    t.object("b/path/to/file", b"long");
    t.object("b/r.elastickv-meta.json.user-data", b"meta");
    t.write(
        "b/KEYMAP.jsonl",
        concat!(
            "{\"encoded\":\"path/to.elastickv-leaf-data\",\"original\":\"cGF0aC90bw\",\"kind\":\"s3-leaf-data\"}\r\n",
            "{\"encoded\":\"r.elastickv-meta.json.user-data\",\"original\":\"ci5lbGFzdGlja3YtbWV0YS5qc29u\",\"kind\":\"meta-suffix-rename\"}"
        )
        .as_bytes(),
    );
    let recs = t.encode().unwrap();
    assert_eq!(recs[&blob_key("b", b"path/to", 0)], b"short");
    assert_eq!(recs[&blob_key("b", b"r.elastickv-meta.json", 0)], b"meta");
    assert!(!recs.contains_key(&blob_key("b", b"KEYMAP.jsonl", 0)));
    // A directory at the tracker's sidecar path does not make it a user object.
    fs::create_dir_all(t.s3().join("b/KEYMAP.jsonl.elastickv-meta.json")).unwrap();
    t.object("b/KEYMAP.jsonl.elastickv-meta.json/k", b"k");
    let recs = t.encode().unwrap();
    assert_eq!(recs[&blob_key("b", b"path/to", 0)], b"short");
    assert_eq!(
        recs[&blob_key("b", b"KEYMAP.jsonl.elastickv-meta.json/k", 0)],
        b"k"
    );
}

// TestS3EncodeRejects{KeymapTargetingReservedSubtree,OrphanKeymapEntry,
// DuplicateKeymapEntry,MalformedKeymapJSON}
#[test]
fn keymap_failures() {
    let cases: [(&str, &str); 6] = [
        (
            "{\"encoded\":\"gone.elastickv-leaf-data\",\"original\":\"Z29uZQ\",\"kind\":\"s3-leaf-data\"}\n",
            "orphan keymap record",
        ),
        (
            "{\"encoded\":\"a.elastickv-leaf-data\",\"original\":\"YQ\",\"kind\":\"s3-leaf-data\"}\n{\"encoded\":\"a.elastickv-leaf-data\",\"original\":\"YQ\",\"kind\":\"s3-leaf-data\"}\n",
            "duplicate encoded",
        ),
        (
            "{\"encoded\":\"_orphans/a.elastickv-leaf-data\",\"original\":\"YQ\",\"kind\":\"s3-leaf-data\"}\n",
            "reserved dump subtree",
        ),
        ("not json\n", "line 1"),
        ("\n", "blank line"),
        (
            "{\"encoded\":\"a.elastickv-leaf-data\",\"original\":\"YQ\",\"kind\":\"weird\"}\n",
            "unknown kind",
        ),
    ];
    for (keymap, want) in cases {
        let t = Tree::new();
        t.bucket("b");
        t.object("b/a.elastickv-leaf-data", b"x");
        t.write("b/KEYMAP.jsonl", keymap.as_bytes());
        let e = err(&t);
        let s = e.to_string();
        assert!(
            s.contains(want) && s.contains("invalid _bucket.json"),
            "{want}: {s}"
        );
        assert_eq!(e.exit_code(), 2);
    }
    // A keymap mapping onto an existing natural key gives a duplicate record.
    let t = Tree::new();
    t.bucket("b");
    t.object("b/a", b"1");
    t.object("b/a.elastickv-leaf-data", b"2");
    t.write(
        "b/KEYMAP.jsonl",
        b"{\"encoded\":\"a.elastickv-leaf-data\",\"original\":\"YQ\",\"kind\":\"s3-leaf-data\"}\n",
    );
    assert!(err(&t).to_string().contains("duplicate key"));
}

// TestS3EncodeMissingKeymapIsValidNoCollisionDump, TestS3EncodeAcceptsKeymapWithUserUnderscoreKey
#[test]
fn keymap_optional_and_underscore_keys() {
    let t = Tree::new();
    t.bucket("b");
    t.object("b/_foo.elastickv-leaf-data", b"x");
    assert!(
        t.encode()
            .unwrap()
            .contains_key(&blob_key("b", b"_foo.elastickv-leaf-data", 0))
    );
    t.object("b/_foo/bar", b"y");
    t.write(
        "b/KEYMAP.jsonl",
        b"{\"encoded\":\"_foo.elastickv-leaf-data\",\"original\":\"X2Zvbw\",\"kind\":\"s3-leaf-data\"}\n",
    );
    let recs = t.encode().unwrap();
    assert_eq!(recs[&blob_key("b", b"_foo", 0)], b"x");
}

#[test]
fn excluded_buckets_are_skipped() {
    let t = Tree::new();
    t.bucket("keep");
    t.write("skip me/_bucket.json", b"not even json");
    let m = Manifest::new_phase0("2026-01-01T00:00:00Z".into());
    let ex = ScopeExclusions {
        s3_buckets: vec!["skip me".into()],
        ..Default::default()
    };
    fs::rename(t.s3().join("skip me"), t.s3().join("skip%20me")).unwrap();
    let cancel = CancelToken::new();
    let warn = ekvplan::silent_warn();
    let ctx = EncodeContext {
        input_root: t.root(),
        manifest: &m,
        scratch_dir: t.root(),
        memory_budget: 1 << 20,
        exclusions: &ex,
        cancel: &cancel,
        warn: &warn,
    };
    let mut sink = Sink::default();
    testing::encode_adapter(AdapterKind::S3, &ctx, &mut sink).unwrap();
    assert_eq!(sink.0.len(), 2);
}
