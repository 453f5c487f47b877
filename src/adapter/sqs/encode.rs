//! Dump tree → SQS entries (upstream's `SQSRecordEncoder`).
//!
//! Each queue directory gives its meta row and generation counter, then its
//! `messages.jsonl` is streamed: every line is validated and staged as a
//! data row plus its vis and byage rows as soon as it is read. Dedup rows
//! need the whole queue (one row per dedup key, owned by the latest send),
//! so their candidates go through a bounded-memory sorter and the winners
//! are staged at the end. FIFO queues finally get their sequence counter.

use std::fs;
use std::io::BufReader;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::keys;
use super::model::{Message, QueueMeta};
use crate::adapter::{AdapterKind, EncodeContext, EntrySink};
use crate::error::{Error, InputError, IoResultExt, Result};
use crate::fsutil;
use crate::gojson::{StreamError, ValueStream};
use crate::sorter::key::{self, KeyReader};
use crate::sorter::{ExternalSorter, Ties};
use crate::tree::filename;

const MAX_PARTITIONS: u32 = 32;
const PER_MESSAGE_GROUP: &str = "perMessageGroupId";
const PER_QUEUE: &str = "perQueue";

pub fn encode(ctx: &EncodeContext<'_>, sink: &mut dyn EntrySink) -> Result<()> {
    let root = ctx.adapter_dir(AdapterKind::Sqs);
    match fs::symlink_metadata(&root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io_at(&root, "stat", e)),
        Ok(m) if !m.is_dir() => {
            return Err(Error::data_at(&root, "is not a directory"));
        }
        Ok(_) => {}
    }
    // Queue directories only; files and symlinks beside them are ignored,
    // as upstream ignores them. Sorted, so errors are reported in a stable
    // order (upstream walks in directory order).
    let mut dirs = Vec::new();
    for e in fs::read_dir(&root).io_at(&root, "read directory")? {
        let e = e.io_at(&root, "read directory")?;
        if e.file_type().io_at(&e.path(), "stat")?.is_dir() {
            dirs.push(e.file_name());
        }
    }
    dirs.sort();
    let excluded_dirs: Vec<String> = ctx
        .exclusions
        .sqs_queues
        .iter()
        .map(|q| filename::encode(q.as_bytes()))
        .collect();
    let mut dedup = DedupRows::new(ctx);
    for d in dirs {
        ctx.cancel.check()?;
        if excluded_dirs
            .iter()
            .any(|x| d.as_encoded_bytes() == x.as_bytes())
        {
            continue;
        }
        encode_queue(ctx, sink, &mut dedup, &root.join(&d))?;
    }
    dedup.stage(sink)
}

fn encode_queue(
    ctx: &EncodeContext<'_>,
    sink: &mut dyn EntrySink,
    dedup: &mut DedupRows,
    dir: &Path,
) -> Result<()> {
    let meta_path = dir.join("_queue.json");
    let meta = read_queue_meta(&meta_path)?;
    if ctx
        .exclusions
        .sqs_queues
        .iter()
        .any(|q| q.as_bytes() == meta.name.as_slice())
    {
        return Ok(());
    }
    validate_meta(&meta).map_err(|e| Error::data_at(&meta_path, e))?;
    if meta.name.is_empty() {
        return Err(Error::data_at(&meta_path, "empty queue name"));
    }
    sink.add(&keys::queue_meta_key(&meta.name), &meta.to_stored_value())?;
    let generation = keys::RESTORE_GENERATION.to_string();
    sink.add(&keys::queue_gen_key(&meta.name), generation.as_bytes())?;
    let max_seq = encode_messages(ctx, sink, dedup, &meta, &dir.join("messages.jsonl"))?;
    // The counter holds the last sequence number issued (the live send
    // path adds one); queues that never issued one have no counter.
    if meta.fifo && max_seq > 0 {
        sink.add(
            &keys::queue_seq_key(&meta.name),
            max_seq.to_string().as_bytes(),
        )?;
    }
    Ok(())
}

/// Read `_queue.json` as upstream's `decodeOneJSON` does: one JSON value;
/// after it only whitespace, or a `]` / `}` (which ends the read).
pub fn read_queue_meta(path: &Path) -> Result<QueueMeta> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::data_at(
                path,
                "missing: every queue directory needs its _queue.json",
            ));
        }
        Err(e) => return Err(Error::io_at(path, "stat", e)),
        Ok(_) => {}
    }
    let bytes = fsutil::read_input_file(path)?;
    QueueMeta::from_dump_file(&bytes).map_err(|e| InputError::json(e, 0).in_file(path).into())
}

/// Upstream's queue gates, in its order.
pub fn validate_meta(m: &QueueMeta) -> Result<(), InputError> {
    if m.format_version != 1 {
        return Err(format!("unsupported format_version {}", m.format_version).into());
    }
    let ftl = m.fifo_throughput_limit.as_str();
    if !matches!(ftl, "" | PER_MESSAGE_GROUP | PER_QUEUE) {
        return Err(format!("unsupported fifo_throughput_limit {ftl:?}").into());
    }
    let scope = m.deduplication_scope.as_str();
    if !matches!(scope, "" | "messageGroup" | "queue") {
        return Err(format!("unsupported deduplication_scope {scope:?}").into());
    }
    let pc = m.partition_count;
    if pc != 0 && !pc.is_power_of_two() {
        return Err(format!("partition_count {pc} must be a power of two").into());
    }
    if pc > MAX_PARTITIONS {
        return Err(format!("partition_count {pc} exceeds max {MAX_PARTITIONS}").into());
    }
    if !m.fifo {
        if pc > 1 {
            return Err(format!("partition_count {pc} is only valid on FIFO queues").into());
        }
        if !ftl.is_empty() {
            return Err(
                format!("fifo_throughput_limit={ftl:?} is only valid on FIFO queues").into(),
            );
        }
        if !scope.is_empty() {
            return Err(
                format!("deduplication_scope={scope:?} is only valid on FIFO queues").into(),
            );
        }
        return Ok(());
    }
    if pc > 1 && scope == "queue" {
        return Err(format!(
            "deduplication_scope={scope:?} is incompatible with partition_count {pc}"
        )
        .into());
    }
    if ftl == PER_MESSAGE_GROUP && pc <= 1 {
        return Err(format!("fifo_throughput_limit={ftl:?} requires partition_count > 1").into());
    }
    Ok(())
}

/// The partition gates, on the raw `partition_count > 1` (never the
/// "effective" count): what upstream checks before staging anything.
pub fn check_partition(meta: &QueueMeta, m: &Message) -> Result<(), InputError> {
    let name = String::from_utf8_lossy(&meta.name);
    let pc = meta.partition_count;
    if pc <= 1 {
        return match m.partition {
            Some(p) if p != 0 => Err(format!(
                "queue {name:?} (partition_count={pc}): classic queue message {:?} has partition={p}",
                m.message_id
            ).into()),
            _ => Ok(()),
        };
    }
    let Some(p) = m.partition else {
        return Err(format!(
            "queue {name:?} (partition_count={pc}): message {:?} missing partition field \
             (a partitioned queue's messages must say which partition they came from)",
            m.message_id
        )
        .into());
    };
    if p >= pc {
        return Err(format!(
            "queue {name:?} (partition_count={pc}): message {:?} partition={p} out of range",
            m.message_id
        )
        .into());
    }
    if meta.fifo_throughput_limit == PER_QUEUE {
        if p != 0 {
            return Err(format!(
                "queue {name:?} (partition_count={pc}, fifo_throughput_limit=\"perQueue\"): \
                 message {:?} partition={p}, want 0",
                m.message_id
            )
            .into());
        }
        return Ok(());
    }
    let want = keys::partition_for(
        pc,
        &meta.fifo_throughput_limit,
        m.message_group_id.as_bytes(),
    );
    if p != want {
        return Err(format!(
            "queue {name:?} (partition_count={pc}, group_id={:?}): message {:?} partition={p}, \
             partitionFor={want}: partition disagrees with the message group's hash",
            m.message_group_id, m.message_id
        )
        .into());
    }
    Ok(())
}

/// The dedup id the live adapter would have used: the explicit one, else
/// the body's SHA-256 on content-deduplicated queues, else none.
pub fn resolve_dedup_id(meta: &QueueMeta, m: &Message) -> String {
    if !m.message_deduplication_id.is_empty() {
        return m.message_deduplication_id.clone();
    }
    if meta.content_based_deduplication {
        return hex::encode(Sha256::digest(m.body.as_deref().unwrap_or_default()));
    }
    String::new()
}

/// Stream `messages.jsonl`; returns the highest sequence number seen.
///
/// Upstream reads every line, then checks every partition, then stages;
/// so a syntax error anywhere wins over a partition error, which wins
/// over a staging error (empty message id). Streaming keeps that order by
/// remembering the first partition / staging error and going on reading.
fn encode_messages(
    ctx: &EncodeContext<'_>,
    sink: &mut dyn EntrySink,
    dedup: &mut DedupRows,
    meta: &QueueMeta,
    path: &Path,
) -> Result<u64> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io_at(path, "stat", e)),
        Ok(_) => {}
    }
    let f = fsutil::open_input_file(path)?;
    let mut reader = ValueStream::new(BufReader::with_capacity(64 << 10, f));
    let mut partition_err: Option<Error> = None;
    let mut stage_err: Option<Error> = None;
    let mut max_seq = 0u64;
    let mut n = 0u64;
    let stream_err = |e: StreamError| -> Error {
        match e {
            StreamError::Io(e) => Error::io_at(path, "read", e),
            StreamError::Json(e, line) => InputError::json(e, 0).in_file(path).at_line(line).into(),
        }
    };
    // Upstream's `for dec.More() { dec.Decode(&rec) }`: a `]` or `}` where
    // a value would start ends the file.
    while reader.more().map_err(stream_err)? {
        let Some(v) = reader.next_value().map_err(stream_err)? else {
            break;
        };
        let line = v.line;
        let msg = Message::from_dump_value(v.bytes)
            .map_err(|e| Error::from(InputError::json(e, v.offset).in_file(path).at_line(line)))?;
        n += 1;
        if n % 1024 == 0 {
            ctx.cancel.check()?;
        }
        max_seq = max_seq.max(msg.sequence_number);
        if partition_err.is_none() {
            if let Err(e) = check_partition(meta, &msg) {
                partition_err = Some(e.in_file(path).at_line(line).into());
            }
        }
        if partition_err.is_none() && stage_err.is_none() {
            if let Err(e) = stage_message(sink, dedup, meta, &msg) {
                stage_err = Some(e.context(format!("{}:{line}", path.display())));
            }
        }
    }
    if let Some(e) = partition_err.or(stage_err) {
        return Err(e);
    }
    Ok(max_seq)
}

/// The data, vis and byage rows of one message, and its dedup candidate.
fn stage_message(
    sink: &mut dyn EntrySink,
    dedup: &mut DedupRows,
    meta: &QueueMeta,
    m: &Message,
) -> Result<()> {
    if m.message_id.is_empty() {
        return Err(Error::data("message missing message_id"));
    }
    let id = m.message_id.as_bytes();
    // The key family follows the queue, never the message: a classic
    // queue's `"partition": 0` still gives classic keys.
    let partition = (meta.partition_count > 1).then(|| m.partition.unwrap_or(0));
    sink.add(
        &keys::data_key(&meta.name, partition, id),
        &m.to_stored_value(),
    )?;
    sink.add(
        &keys::vis_key(&meta.name, partition, m.available_at_millis, id),
        id,
    )?;
    sink.add(
        &keys::byage_key(&meta.name, partition, m.send_timestamp_millis, id),
        id,
    )?;
    if meta.fifo {
        let dedup_id = resolve_dedup_id(meta, m);
        if !dedup_id.is_empty() {
            let row = keys::dedup_key(
                &meta.name,
                partition.map(|p| (p, m.message_group_id.as_bytes())),
                dedup_id.as_bytes(),
            );
            dedup.add(&row, m, partition.is_some())?;
        }
    }
    Ok(())
}

/// Dedup-row candidates, one per FIFO message with a dedup id. Several
/// messages can share a row key (a re-send after the dedup window); the
/// row belongs to the latest send. On equal send times upstream keeps the
/// first in its iteration order: file order for classic queues, the
/// (partition, send time, sequence, message id) order for partitioned
/// ones. The sort key encodes exactly that, and the sorter is stable.
struct DedupRows {
    sorter: ExternalSorter,
    key: Vec<u8>,
}

impl DedupRows {
    fn new(ctx: &EncodeContext<'_>) -> Self {
        DedupRows {
            sorter: ExternalSorter::new(ctx.memory_budget, ctx.scratch_dir, Ties::InsertionOrder)
                .with_cancel(ctx.cancel),
            key: Vec::new(),
        }
    }

    fn add(&mut self, row_key: &[u8], m: &Message, partitioned: bool) -> Result<()> {
        let k = &mut self.key;
        k.clear();
        key::push_bytes(k, row_key);
        // Latest send first.
        key::push_i64(k, !m.send_timestamp_millis);
        if partitioned {
            key::push_u64(k, m.sequence_number);
            key::push_bytes(k, m.message_id.as_bytes());
        }
        self.sorter.add(k, &m.dedup_value())
    }

    /// Stage the first candidate of each row key.
    fn stage(self, sink: &mut dyn EntrySink) -> Result<()> {
        if self.sorter.is_empty() {
            return Ok(());
        }
        let mut sorted = self.sorter.finish()?;
        let mut prev: Option<Vec<u8>> = None;
        while let Some((k, v)) = sorted.next()? {
            let row = KeyReader::new(k)
                .bytes()
                .ok_or_else(|| Error::data("sqs: corrupt dedup sort key"))?;
            if prev.as_deref() == Some(row.as_slice()) {
                continue;
            }
            sink.add(&row, v)?;
            prev = Some(row);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(json: &str) -> Result<QueueMeta, InputError> {
        let m = QueueMeta::from_dump_file(json.as_bytes()).map_err(|e| e.to_string())?;
        validate_meta(&m)?;
        Ok(m)
    }

    #[test]
    fn queue_gates() {
        let ok = |j: &str| assert!(meta(j).is_ok(), "{j}");
        let bad = |j: &str, why: &str| {
            let e = meta(j).unwrap_err();
            assert!(e.to_string().contains(why), "{j}: {e}");
        };
        ok(r#"{"format_version":1,"name":"q"}"#);
        bad(r#"{"name":"q"}"#, "format_version 0");
        bad(r#"{"format_version":2,"name":"q"}"#, "format_version 2");
        // Members after `"format_version":1,`.
        for (members, why) in [
            (
                r#""fifo":true,"fifo_throughput_limit":"x""#,
                "fifo_throughput_limit",
            ),
            (
                r#""fifo":true,"deduplication_scope":"x""#,
                "deduplication_scope",
            ),
            (r#""fifo":true,"partition_count":3"#, "power of two"),
            (r#""fifo":true,"partition_count":64"#, "exceeds max 32"),
            (r#""partition_count":2"#, "only valid on FIFO"),
            (
                r#""fifo_throughput_limit":"perQueue""#,
                "only valid on FIFO",
            ),
            (r#""deduplication_scope":"queue""#, "only valid on FIFO"),
            (
                r#""fifo":true,"partition_count":2,"deduplication_scope":"queue""#,
                "incompatible",
            ),
            (
                r#""fifo":true,"fifo_throughput_limit":"perMessageGroupId""#,
                "requires partition_count",
            ),
        ] {
            bad(&format!(r#"{{"format_version":1,{members}}}"#), why);
        }
        ok(r#"{"format_version":1,"fifo":true,"partition_count":1}"#);
        ok(r#"{"format_version":1,"partition_count":1}"#);
        ok(
            r#"{"format_version":1,"fifo":true,"partition_count":32,"fifo_throughput_limit":"perMessageGroupId","deduplication_scope":"messageGroup"}"#,
        );
        ok(
            r#"{"format_version":1,"fifo":true,"partition_count":2,"fifo_throughput_limit":"perQueue"}"#,
        );
    }

    #[test]
    fn partition_gates() {
        let q = |pc: u32, ftl: &str| QueueMeta {
            format_version: 1,
            name: b"q".to_vec(),
            fifo: pc > 1,
            partition_count: pc,
            fifo_throughput_limit: ftl.into(),
            ..QueueMeta::default()
        };
        let m = |p: Option<u32>, g: &str| Message {
            message_id: "m".into(),
            message_group_id: g.into(),
            partition: p,
            ..Message::default()
        };
        assert!(check_partition(&q(0, ""), &m(None, "")).is_ok());
        assert!(check_partition(&q(1, ""), &m(Some(0), "")).is_ok());
        assert!(
            check_partition(&q(0, ""), &m(Some(1), ""))
                .unwrap_err()
                .to_string()
                .contains("classic")
        );
        let hq = q(2, PER_MESSAGE_GROUP);
        assert!(
            check_partition(&hq, &m(None, "g1"))
                .unwrap_err()
                .to_string()
                .contains("missing")
        );
        assert!(
            check_partition(&hq, &m(Some(2), "g1"))
                .unwrap_err()
                .to_string()
                .contains("out of range")
        );
        assert!(
            check_partition(&hq, &m(Some(0), "g1"))
                .unwrap_err()
                .to_string()
                .contains("partitionFor=1")
        );
        assert!(check_partition(&hq, &m(Some(1), "g1")).is_ok());
        assert!(check_partition(&hq, &m(Some(0), "")).is_ok());
        let pq = q(2, PER_QUEUE);
        assert!(
            check_partition(&pq, &m(Some(1), "g1"))
                .unwrap_err()
                .to_string()
                .contains("want 0")
        );
        assert!(check_partition(&pq, &m(Some(0), "g1")).is_ok());
        // The raw count decides: "" throughput on 4 partitions still hashes.
        let raw = q(4, "");
        assert!(check_partition(&raw, &m(Some(2), "g0")).is_ok());
        assert!(check_partition(&raw, &m(None, "g0")).is_err());
    }

    use crate::adapter::{CancelToken, ScopeExclusions, silent_warn};
    use crate::manifest::Manifest;
    use std::collections::BTreeMap;

    struct Collect(BTreeMap<Vec<u8>, Vec<u8>>);
    impl EntrySink for Collect {
        fn add(&mut self, k: &[u8], v: &[u8]) -> Result<()> {
            if self.0.insert(k.to_vec(), v.to_vec()).is_some() {
                return Err(Error::data("duplicate"));
            }
            Ok(())
        }
    }

    /// Encode one queue (`meta` JSON, `lines`) and return its entries.
    fn run(meta: &str, lines: &[&str]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let t = tempfile::tempdir().unwrap();
        let q = t.path().join("sqs/q");
        fs::create_dir_all(&q).unwrap();
        fs::write(q.join("_queue.json"), meta).unwrap();
        fs::write(q.join("messages.jsonl"), lines.join("\n")).unwrap();
        let manifest = Manifest::new_phase0("2026-01-01T00:00:00Z".into());
        let ctx = EncodeContext {
            input_root: t.path(),
            manifest: &manifest,
            scratch_dir: t.path(),
            memory_budget: 1 << 20,
            exclusions: &ScopeExclusions::default(),
            cancel: &CancelToken::new(),
            warn: &silent_warn(),
        };
        let mut sink = Collect(BTreeMap::new());
        encode(&ctx, &mut sink).unwrap();
        sink.0
    }

    fn dedup_rows(entries: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<(Vec<u8>, String)> {
        entries
            .iter()
            .filter(|(k, _)| k.starts_with(keys::MSG_DEDUP))
            .map(|(k, v)| (k.clone(), String::from_utf8(v.clone()).unwrap()))
            .collect()
    }

    #[test]
    fn classic_dedup_winner_is_latest_then_first_in_file() {
        let meta = r#"{"format_version":1,"name":"q.fifo","fifo":true}"#;
        let l = |id: &str, ts: i64, seq: u64, g: &str| {
            format!(
                r#"{{"message_id":"{id}","body":"x","send_timestamp_millis":{ts},"message_group_id":"{g}","message_deduplication_id":"d","sequence_number":{seq}}}"#
            )
        };
        let lines = [
            l("a", 5, 9, "g1"),
            l("b", 7, 1, "g2"),
            l("c", 7, 0, "g1"),
            l("d", 6, 3, "g1"),
        ];
        let e = run(meta, &lines.iter().map(String::as_str).collect::<Vec<_>>());
        let rows = dedup_rows(&e);
        // One row across groups; of the two latest sends, the first line.
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, keys::dedup_key(b"q.fifo", None, b"d"));
        assert!(
            rows[0]
                .1
                .starts_with(r#"{"message_id":"b","send_timestamp_ms":7"#),
            "{}",
            rows[0].1
        );
        assert_eq!(e.get(&keys::queue_seq_key(b"q.fifo")).unwrap(), b"9");
        assert_eq!(e.get(&keys::queue_gen_key(b"q.fifo")).unwrap(), b"1");
    }

    #[test]
    fn partitioned_dedup_winner_ignores_line_order() {
        let meta = r#"{"format_version":1,"name":"p.fifo","fifo":true,"partition_count":2,"fifo_throughput_limit":"perMessageGroupId"}"#;
        // g1 → partition 1, g0 → partition 0.
        let l = |id: &str, ts: i64, seq: u64, g: &str, p: u32| {
            format!(
                r#"{{"message_id":"{id}","body":"x","send_timestamp_millis":{ts},"message_group_id":"{g}","message_deduplication_id":"d","sequence_number":{seq},"partition":{p}}}"#
            )
        };
        let a = l("a", 7, 5, "g1", 1);
        let b = l("b", 7, 2, "g1", 1);
        let c = l("c", 3, 1, "g1", 1);
        let z = l("z", 1, 8, "g0", 0);
        let one = run(meta, &[&a, &b, &c, &z]);
        let two = run(meta, &[&z, &c, &b, &a]);
        assert_eq!(one, two);
        let rows = dedup_rows(&one);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[1].0,
            keys::dedup_key(b"p.fifo", Some((1, b"g1")), b"d")
        );
        // Equal send times: the lower sequence number (upstream's sort).
        assert!(rows[1].1.contains(r#""message_id":"b""#), "{}", rows[1].1);
        assert!(rows[0].1.contains(r#""message_id":"z""#));
        assert_eq!(one.get(&keys::queue_seq_key(b"p.fifo")).unwrap(), b"8");
    }

    #[test]
    fn standard_queues_get_no_fifo_rows() {
        let meta = r#"{"format_version":1,"name":"s"}"#;
        let e = run(
            meta,
            &[
                r#"{"message_id":"m","body":"x","message_deduplication_id":"d","sequence_number":4,"partition":0}"#,
            ],
        );
        assert!(dedup_rows(&e).is_empty());
        assert!(!e.contains_key(&keys::queue_seq_key(b"s")));
        // Classic keys despite the explicit partition 0.
        assert!(e.contains_key(&keys::data_key(b"s", None, b"m")));
        assert_eq!(e.len(), 5, "meta, gen, data, vis, byage");
        // A FIFO queue that never issued a sequence number has no counter.
        let e = run(
            r#"{"format_version":1,"name":"f","fifo":true}"#,
            &[r#"{"message_id":"m"}"#],
        );
        assert!(!e.contains_key(&keys::queue_seq_key(b"f")));
        assert!(dedup_rows(&e).is_empty());
    }

    #[test]
    fn dedup_ids() {
        let mut meta = QueueMeta {
            fifo: true,
            ..QueueMeta::default()
        };
        let mut m = Message {
            body: Some(b"alpha".to_vec()),
            ..Message::default()
        };
        assert_eq!(resolve_dedup_id(&meta, &m), "");
        meta.content_based_deduplication = true;
        assert_eq!(
            resolve_dedup_id(&meta, &m),
            "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8"
        );
        m.message_deduplication_id = "d".into();
        assert_eq!(resolve_dedup_id(&meta, &m), "d");
    }
}
