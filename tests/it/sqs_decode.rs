//! The SQS decoder on hand-made `.fsm` files: message order, generation
//! filter, orphans, visibility, side records, and its rejections.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ekvplan::testing::sqs::{Message, QueueMeta, keys};
use ekvplan::{
    AdapterKind, CancelToken, DecodeOptions, DecodeRequest, FsmWriter, Warn, run_decode,
};

const TS: u64 = 5;

/// A `.fsm` holding `entries` (user key, value) in the order given.
fn fsm(dir: &Path, entries: &[(Vec<u8>, Vec<u8>)]) -> PathBuf {
    let mut w = FsmWriter::new(Vec::new(), TS).unwrap();
    for (k, v) in entries {
        w.write_entry(k, TS, 0, v).unwrap();
    }
    let p = dir.join("in.fsm");
    fs::write(&p, w.into_inner()).unwrap();
    p
}

#[derive(Debug)]
struct Decoded {
    out: PathBuf,
    warnings: Vec<String>,
}

fn decode_with(
    dir: &Path,
    input: &Path,
    f: impl FnOnce(&mut DecodeOptions),
) -> Result<Decoded, String> {
    let adapters = crate::common::only(AdapterKind::Sqs);
    let mut options = DecodeOptions {
        adapters,
        ..DecodeOptions::default()
    };
    f(&mut options);
    let out = dir.join("out");
    let req = DecodeRequest {
        input: input.display().to_string(),
        output: out.clone(),
        options,
        cluster_id: String::new(),
        force: false,
        memory_budget: 1 << 20,
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let warn: Warn = Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_string()));
    match run_decode(&req, warn, &CancelToken::new()) {
        Ok(_) => Ok(Decoded {
            out,
            warnings: seen.lock().unwrap().clone(),
        }),
        Err(e) => {
            assert_eq!(e.exit_code(), 2, "{e}");
            assert!(!out.exists(), "a failed decode left {}", out.display());
            Err(e.to_string())
        }
    }
}

fn decode(dir: &Path, input: &Path) -> Decoded {
    decode_with(dir, input, |_| {}).unwrap()
}

fn meta(name: &str) -> QueueMeta {
    QueueMeta {
        format_version: 1,
        name: name.as_bytes().to_vec(),
        visibility_timeout_seconds: 30,
        message_retention_seconds: 60,
        ..QueueMeta::default()
    }
}

fn msg(id: &str, ts: i64, seq: u64, generation: u64) -> Message {
    Message {
        message_id: id.into(),
        body: Some(format!("body {id}").into_bytes()),
        send_timestamp_millis: ts,
        available_at_millis: ts,
        visible_at_millis: ts + 30_000,
        receive_count: 2,
        first_receive_millis: ts + 1,
        current_receipt_token: Some(vec![1, 2, 3]),
        queue_generation: generation,
        sequence_number: seq,
        ..Message::default()
    }
}

/// The stored value of `m` as the live adapter would hold it (keeping
/// its generation and visibility state, unlike a restore).
fn live_value(m: &Message) -> Vec<u8> {
    let mut line = Vec::new();
    m.write_dump_line(&mut line);
    let mut v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    let o = v.as_object_mut().unwrap();
    use base64::Engine;
    let body =
        base64::engine::general_purpose::STANDARD.encode(m.body.as_deref().unwrap_or_default());
    o.insert("body".into(), body.into());
    o.insert("visible_at_millis".into(), m.visible_at_millis.into());
    o.insert("receive_count".into(), m.receive_count.into());
    let mut out = b"\0SM\x01".to_vec();
    out.extend_from_slice(&serde_json::to_vec(&v).unwrap());
    out
}

fn lines(p: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids(p: &Path) -> Vec<String> {
    lines(p)
        .iter()
        .map(|v| v["message_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn messages_are_ordered_and_visibility_is_cleared() {
    let t = tempfile::tempdir().unwrap();
    let q = b"q";
    let part = b"p.fifo";
    let mut entries = vec![
        // The decoder sorts by (send time, sequence, id), classic and
        // partitioned rows of a queue together.
        (
            keys::data_key(q, None, b"z"),
            live_value(&msg("z", 10, 0, 1)),
        ),
        (
            keys::data_key(q, None, b"a"),
            live_value(&msg("b", 10, 0, 1)),
        ),
        (
            keys::data_key(q, None, b"b"),
            live_value(&msg("a", 10, 0, 1)),
        ),
        (
            keys::data_key(q, None, b"c"),
            live_value(&msg("neg", -3, 9, 1)),
        ),
        (
            keys::data_key(q, Some(3), b"d"),
            live_value(&msg("p3", 10, 0, 1)),
        ),
        // Full ties (the same id in two rows) keep arrival order.
        (
            keys::data_key(q, None, b"e"),
            live_value(&Message {
                body: Some(b"first".to_vec()),
                ..msg("dup", 20, 0, 1)
            }),
        ),
        (
            keys::data_key(q, None, b"f"),
            live_value(&Message {
                body: Some(b"second".to_vec()),
                ..msg("dup", 20, 0, 1)
            }),
        ),
        (
            keys::data_key(part, Some(0), b"x"),
            live_value(&msg("x", 1, 2, 1)),
        ),
        (
            keys::data_key(part, Some(1), b"y"),
            live_value(&msg("y", 1, 1, 1)),
        ),
    ];
    entries.push((keys::queue_meta_key(q), meta("q").to_stored_value()));
    entries.push((keys::queue_meta_key(part), meta("p.fifo").to_stored_value()));
    // An empty queue: _queue.json only.
    entries.push((
        keys::queue_meta_key(b"empty"),
        meta("empty").to_stored_value(),
    ));
    let input = fsm(t.path(), &entries);
    let d = decode(t.path(), &input);
    let qf = d.out.join("sqs/q/messages.jsonl");
    assert_eq!(ids(&qf), ["neg", "a", "b", "p3", "z", "dup", "dup"]);
    assert_eq!(lines(&qf)[5]["body"], "first");
    assert_eq!(lines(&qf)[6]["body"], "second");
    let first = &lines(&qf)[0];
    assert_eq!(first["visible_at_millis"], 0);
    assert_eq!(first["receive_count"], 0);
    assert!(first.get("first_receive_millis").is_none());
    assert!(first.get("current_receipt_token").is_none());
    assert!(first.get("partition").is_none());
    assert_eq!(lines(&qf)[3]["partition"], 3);
    let pf = d.out.join("sqs/p.fifo/messages.jsonl");
    assert_eq!(ids(&pf), ["y", "x"]);
    assert_eq!(lines(&pf)[1]["partition"], 0);
    assert!(d.out.join("sqs/empty/_queue.json").is_file());
    assert!(!d.out.join("sqs/empty/messages.jsonl").exists());
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn preserve_visibility_passes_the_state_through() {
    let t = tempfile::tempdir().unwrap();
    let entries = vec![
        (
            keys::data_key(b"q", None, b"m"),
            live_value(&msg("m", 10, 0, 1)),
        ),
        (keys::queue_meta_key(b"q"), meta("q").to_stored_value()),
    ];
    let input = fsm(t.path(), &entries);
    let d = decode_with(t.path(), &input, |o| o.preserve_sqs_visibility = true).unwrap();
    let l = &lines(&d.out.join("sqs/q/messages.jsonl"))[0];
    assert_eq!(l["visible_at_millis"], 30_010);
    assert_eq!(l["receive_count"], 2);
    assert_eq!(l["first_receive_millis"], 11);
    assert_eq!(l["current_receipt_token"], "AQID");
}

#[test]
fn stale_generations_are_dropped_with_a_warning() {
    let t = tempfile::tempdir().unwrap();
    let entries = vec![
        (
            keys::data_key(b"q", None, b"old"),
            live_value(&msg("old", 1, 0, 6)),
        ),
        (
            keys::data_key(b"q", None, b"new"),
            live_value(&msg("new", 2, 0, 7)),
        ),
        (
            keys::data_key(b"nogen", None, b"m"),
            live_value(&msg("m", 2, 0, 3)),
        ),
        (keys::queue_gen_key(b"q"), b" 7\n".to_vec()),
        (
            keys::queue_meta_key(b"nogen"),
            meta("nogen").to_stored_value(),
        ),
        (keys::queue_meta_key(b"q"), meta("q").to_stored_value()),
    ];
    let input = fsm(t.path(), &entries);
    let d = decode(t.path(), &input);
    assert_eq!(ids(&d.out.join("sqs/q/messages.jsonl")), ["new"]);
    assert_eq!(
        lines(&d.out.join("sqs/q/messages.jsonl"))[0]["queue_generation"],
        7
    );
    // No generation counter: no filter.
    assert_eq!(ids(&d.out.join("sqs/nogen/messages.jsonl")), ["m"]);
    assert_eq!(d.warnings.len(), 1);
    assert!(d.warnings[0].contains("sqs_stale_generation_messages_dropped"));
    assert!(d.warnings[0].contains("dropped=1"));
}

#[test]
fn orphans_warn_and_keep_only_side_records() {
    let t = tempfile::tempdir().unwrap();
    let entries = vec![
        (keys::byage_key(b"gone", None, 5, b"m"), b"m".to_vec()),
        (
            keys::data_key(b"gone", None, b"m"),
            live_value(&msg("m", 5, 0, 1)),
        ),
        (keys::vis_key(b"gone", Some(2), 5, b"m"), b"m".to_vec()),
        (keys::queue_gen_key(b"deleted"), b"4".to_vec()),
    ];
    let input = fsm(t.path(), &entries);
    let d = decode(t.path(), &input);
    assert!(!d.out.join("sqs").exists());
    assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
    assert!(
        d.warnings
            .iter()
            .all(|w| w.starts_with("sqs_orphan_messages"))
    );
    assert!(d.warnings.iter().any(|w| w.contains("buffered_messages=1")));

    let t = tempfile::tempdir().unwrap();
    let input = fsm(t.path(), &entries);
    let d = decode_with(t.path(), &input, |o| o.include_sqs_side_records = true).unwrap();
    let side = d
        .out
        .join("sqs/Z29uZQ.orphan/_internals/side_records.jsonl");
    let recs = lines(&side);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["prefix"], "!sqs|msg|byage|");
    // A partitioned key keeps the classic route prefix.
    assert_eq!(recs[1]["prefix"], "!sqs|msg|vis|");
    assert_eq!(
        recs[1]["key_hex"],
        hex::encode(keys::vis_key(b"gone", Some(2), 5, b"m"))
    );
    assert_eq!(recs[1]["value_b64"], "bQ");
    assert_eq!(
        fs::read_dir(d.out.join("sqs")).unwrap().count(),
        1,
        "only the orphan directory"
    );
}

#[test]
fn side_records_for_a_queue_without_messages() {
    let t = tempfile::tempdir().unwrap();
    let entries = vec![
        (
            keys::dedup_key(b"q", None, b"d"),
            br#"{"message_id":"m"}"#.to_vec(),
        ),
        (keys::queue_meta_key(b"q"), meta("q").to_stored_value()),
        (
            [keys::QUEUE_TOMBSTONE, b"cQ", &7u64.to_be_bytes()].concat(),
            vec![1],
        ),
    ];
    let input = fsm(t.path(), &entries);
    let d = decode_with(t.path(), &input, |o| o.include_sqs_side_records = true).unwrap();
    assert!(!d.out.join("sqs/q/messages.jsonl").exists());
    let recs = lines(&d.out.join("sqs/q/_internals/side_records.jsonl"));
    let prefixes: Vec<&str> = recs.iter().map(|r| r["prefix"].as_str().unwrap()).collect();
    assert_eq!(prefixes, ["!sqs|msg|dedup|", "!sqs|queue|tombstone|"]);
    // Default: no _internals at all.
    let t = tempfile::tempdir().unwrap();
    let input = fsm(t.path(), &entries);
    let d = decode(t.path(), &input);
    assert!(!d.out.join("sqs/q/_internals").exists());
}

#[test]
fn seq_counter_breaks_side_record_mode_as_upstream() {
    let t = tempfile::tempdir().unwrap();
    let entries = vec![
        (
            keys::queue_meta_key(b"q.fifo"),
            meta("q.fifo").to_stored_value(),
        ),
        (keys::queue_seq_key(b"q.fifo"), b"9".to_vec()),
    ];
    let input = fsm(t.path(), &entries);
    assert!(decode_with(t.path(), &input, |_| {}).is_ok());
    let t = tempfile::tempdir().unwrap();
    let input = fsm(t.path(), &entries);
    let e = decode_with(t.path(), &input, |o| o.include_sqs_side_records = true).unwrap_err();
    assert!(
        e.contains("queue segment not found after prefix \"!sqs|queue|seq|\""),
        "{e}"
    );
}

#[test]
fn queue_names_come_from_the_key() {
    let t = tempfile::tempdir().unwrap();
    let mut unnamed = meta("");
    unnamed.name.clear();
    let mut renamed = meta("value-name <&>");
    renamed.fifo = true;
    let entries = vec![
        // Empty key segment: the directory is sqs/ itself.
        (keys::QUEUE_META.to_vec(), meta("x").to_stored_value()),
        (keys::queue_meta_key(b"key-name"), renamed.to_stored_value()),
        (keys::queue_meta_key(b"filled"), unnamed.to_stored_value()),
    ];
    let input = fsm(t.path(), &entries);
    let d = decode(t.path(), &input);
    assert!(d.out.join("sqs/_queue.json").is_file());
    let j = fs::read_to_string(d.out.join("sqs/key-name/_queue.json")).unwrap();
    assert!(
        j.contains("\"name\": \"value-name \\u003c\\u0026\\u003e\""),
        "{j}"
    );
    assert!(!j.ends_with('\n'));
    let j = fs::read_to_string(d.out.join("sqs/filled/_queue.json")).unwrap();
    assert!(j.contains("\"name\": \"filled\""), "{j}");
}

#[test]
fn rejections() {
    let good_meta = (keys::queue_meta_key(b"q"), meta("q").to_stored_value());
    let cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
        (keys::queue_meta_key(b"q"), b"{}".to_vec(), "missing magic"),
        (
            keys::queue_meta_key(b"q"),
            b"\0SQ\x01{\"is_fifo\":1}".to_vec(),
            "invalid !sqs|queue|meta",
        ),
        (
            keys::queue_meta_key(b"q"),
            b"\0SQ\x01{} x".to_vec(),
            "invalid !sqs|queue|meta",
        ),
        (
            b"!sqs|queue|meta|c".to_vec(),
            meta("q").to_stored_value(),
            "malformed",
        ),
        (keys::queue_gen_key(b"q"), b"+7".to_vec(), "malformed"),
        (keys::queue_gen_key(b"q"), b"".to_vec(), "malformed"),
        (
            keys::queue_gen_key(b"q"),
            b"18446744073709551616".to_vec(),
            "malformed",
        ),
        (
            keys::data_key(b"q", None, b"m"),
            b"\0SQ\x01{}".to_vec(),
            "missing magic",
        ),
        (
            keys::data_key(b"q", None, b"m"),
            b"\0SM\x01{\"body\":\"x\"}".to_vec(),
            "invalid !sqs|msg|data",
        ),
        (
            b"!sqs|msg|data|cQ\0\0\0\0\0\0\0\x01".to_vec(),
            live_value(&msg("m", 1, 0, 1)),
            "malformed",
        ),
        (
            b"!sqs|msg|data|p|cQ|\0\0\0\x01\0\0\0\0\0\0\0\x01".to_vec(),
            live_value(&msg("m", 1, 0, 1)),
            "malformed",
        ),
    ];
    for (k, v, why) in cases {
        let t = tempfile::tempdir().unwrap();
        let input = fsm(t.path(), &[(k.clone(), v), good_meta.clone()]);
        let e = decode_with(t.path(), &input, |_| {}).unwrap_err();
        assert!(e.contains(why), "{}: {e}", String::from_utf8_lossy(&k));
    }
    // Side records are not parsed unless asked for.
    let t = tempfile::tempdir().unwrap();
    let input = fsm(t.path(), &[(b"!sqs|msg|vis|".to_vec(), vec![]), good_meta]);
    assert!(decode_with(t.path(), &input, |_| {}).is_ok());
}
