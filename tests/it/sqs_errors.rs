//! `ekvplan encode` on broken SQS dump trees: exit code 2, a message that
//! names the file (and line), and nothing left at the output path.

use std::fs;
use std::path::PathBuf;

use crate::common::{ekvplan, example_manifest};

struct Dump {
    _t: tempfile::TempDir,
    root: PathBuf,
    out: PathBuf,
}

impl Dump {
    fn new() -> Dump {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("dump");
        fs::create_dir_all(root.join("sqs")).unwrap();
        fs::copy(example_manifest(), root.join("MANIFEST.json")).unwrap();
        let out = t.path().join("out.fsm");
        Dump { _t: t, root, out }
    }

    fn queue(&self, dir: &str, meta: &str, messages: Option<&str>) -> PathBuf {
        let d = self.root.join("sqs").join(dir);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("_queue.json"), meta).unwrap();
        if let Some(m) = messages {
            fs::write(d.join("messages.jsonl"), m).unwrap();
        }
        d
    }

    fn encode(&self) -> assert_cmd::assert::Assert {
        ekvplan()
            .args(["encode", "--adapter", "sqs", "--input"])
            .arg(&self.root)
            .arg("--output")
            .arg(&self.out)
            .assert()
    }

    /// Fails with exit 2, says all of `needles`, leaves no output.
    fn fails_with(&self, needles: &[&str]) {
        let a = self.encode().code(2);
        let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        for n in needles {
            assert!(err.contains(n), "stderr lacks {n:?}: {err}");
        }
        let parent = self.out.parent().unwrap();
        let left: Vec<String> = fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("out.fsm"))
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

const STD: &str = r#"{"format_version":1,"name":"std","visibility_timeout_seconds":30,"message_retention_seconds":60,"delay_seconds":0}"#;
const PART: &str = r#"{"format_version":1,"name":"p.fifo","fifo":true,"visibility_timeout_seconds":30,"message_retention_seconds":60,"delay_seconds":0,"partition_count":4,"fifo_throughput_limit":"perMessageGroupId"}"#;
const PERQ: &str = r#"{"format_version":1,"name":"q.fifo","fifo":true,"visibility_timeout_seconds":30,"message_retention_seconds":60,"delay_seconds":0,"partition_count":2,"fifo_throughput_limit":"perQueue"}"#;

fn line(id: &str, extra: &str) -> String {
    format!(
        "{{\"message_id\":\"{id}\",\"body\":\"b\",\"send_timestamp_millis\":1,\"available_at_millis\":1{extra}}}\n"
    )
}

#[test]
fn queue_directory_without_queue_json() {
    let d = Dump::new();
    d.queue("std", STD, None);
    fs::create_dir_all(d.root.join("sqs/leftover.orphan/_internals")).unwrap();
    d.fails_with(&["leftover.orphan/_queue.json", "missing"]);
}

#[test]
fn malformed_line_reports_its_number() {
    let d = Dump::new();
    let msgs = line("m1", "") + "\n" + &line("m2", "") + "{\"message_id\":\"m3\",}\n";
    d.queue("std", STD, Some(&msgs));
    d.fails_with(&["std/messages.jsonl:4:"]);
}

#[test]
fn truncated_last_line() {
    let d = Dump::new();
    let msgs = line("m1", "") + "{\"message_id\":\"m2\",\"bo";
    d.queue("std", STD, Some(&msgs));
    d.fails_with(&["std/messages.jsonl:2:", "unexpected EOF"]);
}

#[test]
fn syntax_error_wins_over_an_earlier_partition_error() {
    let d = Dump::new();
    let msgs = line("m1", ",\"partition\":9") + &line("m2", "") + "nope\n";
    d.queue("std", STD, Some(&msgs));
    d.fails_with(&["messages.jsonl:3:"]);
}

#[test]
fn partition_gates() {
    let cases: [(&str, String, &str); 5] = [
        (
            PART,
            line("m1", ",\"message_group_id\":\"g1\""),
            "missing partition",
        ),
        (
            PART,
            line("m1", ",\"message_group_id\":\"g1\",\"partition\":4"),
            "out of range",
        ),
        // g1 hashes to partition 1 of 4.
        (
            PART,
            line("m1", ",\"message_group_id\":\"g1\",\"partition\":2"),
            "partitionFor=1",
        ),
        (PERQ, line("m1", ",\"partition\":1"), "want 0"),
        (STD, line("m1", ",\"partition\":1"), "classic queue message"),
    ];
    for (meta, msgs, why) in cases {
        let d = Dump::new();
        d.queue("q", meta, Some(&msgs));
        d.fails_with(&["messages.jsonl:1:", why]);
    }
}

#[test]
fn impossible_queue_configs() {
    for (meta, why) in [
        (
            r#"{"format_version":1,"name":"p","fifo":true,"partition_count":3}"#,
            "power of two",
        ),
        (r#"{"format_version":2,"name":"p"}"#, "format_version 2"),
        (r#"{"format_version":1,"name":""}"#, "empty queue name"),
        (r#"{"format_version":1,"name":"p"} {}"#, "trailing data"),
        (
            r#"{"format_version":1,"name":"p","delay_seconds":1.5}"#,
            "delay_seconds",
        ),
        ("", "EOF"),
    ] {
        let d = Dump::new();
        d.queue("q", meta, None);
        d.fails_with(&["q/_queue.json", why]);
    }
}

#[test]
fn closing_bracket_after_queue_json_is_accepted() {
    let d = Dump::new();
    d.queue("q", &format!("{STD}\n}} trailing words"), None);
    d.encode().success();
}

#[test]
fn stray_closer_ends_messages_jsonl() {
    let d = Dump::new();
    let msgs = line("m1", "") + "]\n" + "not even json";
    d.queue("std", STD, Some(&msgs));
    d.encode().success();
    let bytes = fs::read(&d.out).unwrap();
    let needle = b"!sqs|msg|data|";
    assert_eq!(
        bytes.windows(needle.len()).filter(|w| w == needle).count(),
        1
    );
}

#[test]
fn malformed_bodies() {
    for body in [
        "{}",
        "{\"base64\":null}",
        "{\"base64\":\"eA\",\"x\":1}",
        "{\"base64\":\"eA==\"}",
        "5",
    ] {
        let d = Dump::new();
        let msgs = format!("{{\"message_id\":\"m\",\"body\":{body}}}\n");
        d.queue("std", STD, Some(&msgs));
        d.fails_with(&["messages.jsonl:1:", "body"]);
    }
}

#[test]
fn empty_message_id() {
    let d = Dump::new();
    d.queue("std", STD, Some("null\n"));
    d.fails_with(&["message_id"]);
}

#[test]
fn two_directories_with_one_queue_name() {
    let d = Dump::new();
    d.queue("a", STD, None);
    d.queue("b", STD, None);
    d.fails_with(&["duplicate"]);
}

#[test]
fn file_guards() {
    // sqs/ itself must be a directory.
    let d = Dump::new();
    fs::remove_dir(d.root.join("sqs")).unwrap();
    fs::write(d.root.join("sqs"), "x").unwrap();
    d.fails_with(&["sqs"]);

    // _queue.json through a symlink.
    let d = Dump::new();
    let q = d.queue("q", STD, None);
    fs::rename(q.join("_queue.json"), d.root.join("elsewhere.json")).unwrap();
    std::os::unix::fs::symlink(d.root.join("elsewhere.json"), q.join("_queue.json")).unwrap();
    d.fails_with(&["_queue.json", "symlink"]);

    // A hard-linked messages.jsonl.
    let d = Dump::new();
    let q = d.queue("q", STD, Some(&line("m", "")));
    fs::hard_link(q.join("messages.jsonl"), d.root.join("twin")).unwrap();
    d.fails_with(&["messages.jsonl", "hard-linked"]);

    // Files and symlinks beside the queue directories are ignored.
    let d = Dump::new();
    let q = d.queue("q", STD, Some(&line("m", "")));
    fs::write(d.root.join("sqs/README"), "x").unwrap();
    std::os::unix::fs::symlink(&q, d.root.join("sqs/alias")).unwrap();
    d.encode().success();
}

#[test]
fn manifest_guards_only_with_sqs_selected() {
    for flag in ["preserve_sqs_visibility", "include_sqs_side_records"] {
        let d = Dump::new();
        let m = fs::read_to_string(d.root.join("MANIFEST.json")).unwrap();
        fs::write(
            d.root.join("MANIFEST.json"),
            m.replace(&format!("\"{flag}\": false"), &format!("\"{flag}\": true")),
        )
        .unwrap();
        d.fails_with(&[flag]);
        // Another adapter alone is not affected.
        ekvplan()
            .args(["encode", "--adapter", "redis", "--input"])
            .arg(&d.root)
            .arg("--output")
            .arg(&d.out)
            .assert()
            .success();
    }
}
