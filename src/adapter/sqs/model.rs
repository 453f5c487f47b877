//! Queue and message records in their four JSON shapes: the dump's
//! `_queue.json` and `messages.jsonl` lines, and the live adapter's stored
//! meta and message values (behind their magics). Readers follow Go's
//! `json.Unmarshal` into the corresponding upstream struct (fields matched
//! case-insensitively, applied in document order, `null` a no-op on
//! scalars); writers reproduce Go's field order, `omitempty` and escaping.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::gojson::{
    self, Decoder, Escape, GoBytes, GoMap, JsonWriter, RawMessage, Unmarshal, UnmarshalError,
    base64 as gob64, write_raw_compact, write_string,
};

/// Magic of a stored queue meta value.
pub const META_MAGIC: &[u8] = b"\x00SQ\x01";
/// Magic of a stored message value.
pub const MESSAGE_MAGIC: &[u8] = b"\x00SM\x01";

/// The restore's dedup window: a restored dedup row expires this long after
/// its message was sent.
const DEDUP_WINDOW_MILLIS: i64 = 5 * 60 * 1000;

/// A queue's configuration as the dump carries it (`_queue.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueMeta {
    pub format_version: u32,
    /// Bytes, because the decoder may fill it from a key segment that is
    /// not UTF-8.
    pub name: Vec<u8>,
    pub fifo: bool,
    pub content_based_deduplication: bool,
    pub visibility_timeout_seconds: i64,
    pub message_retention_seconds: i64,
    pub delay_seconds: i64,
    pub receive_message_wait_seconds: i64,
    pub maximum_message_size: i64,
    pub redrive_policy: String,
    pub redrive_allow_policy: String,
    pub partition_count: u32,
    pub fifo_throughput_limit: String,
    pub deduplication_scope: String,
}

/// One message (the union of the dump record and the stored value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub message_id: String,
    /// `None`: absent or `null` (Go's nil slice).
    pub body: Option<Vec<u8>>,
    pub md5_of_body: String,
    pub md5_of_message_attributes: String,
    /// Attribute name → raw JSON value text, as read (not yet compacted).
    pub message_attributes: Option<BTreeMap<String, Vec<u8>>>,
    pub sender_id: String,
    pub send_timestamp_millis: i64,
    pub available_at_millis: i64,
    pub visible_at_millis: i64,
    pub receive_count: i64,
    pub first_receive_millis: i64,
    pub current_receipt_token: Option<Vec<u8>>,
    pub queue_generation: u64,
    pub message_group_id: String,
    pub message_deduplication_id: String,
    pub sequence_number: u64,
    pub dead_letter_source_arn: String,
    /// Only in the dump (taken from a partitioned data key).
    pub partition: Option<u32>,
}

// --- Queue meta -------------------------------------------------------------

crate::go_struct! {
    /// `sqsQueueMetaPublic` (`_queue.json`).
    #[derive(Debug, Clone, Default)]
    struct GoQueueMetaPublic as "backup.sqsQueueMetaPublic" {
        format_version: u32,
        name: String,
        fifo: bool,
        content_based_deduplication: bool,
        visibility_timeout_seconds: i64,
        message_retention_seconds: i64,
        delay_seconds: i64,
        receive_message_wait_seconds: i64,
        maximum_message_size: i64,
        redrive_policy: String,
        redrive_allow_policy: String,
        partition_count: u32,
        fifo_throughput_limit: String,
        deduplication_scope: String,
    }
}

crate::go_struct! {
    /// The live adapter's `sqsQueueMeta`, as the decoder reads it.
    #[derive(Debug, Clone, Default)]
    struct GoStoredQueueMeta as "struct { Name string; IsFIFO bool; ... }" {
        name: String,
        is_fifo: bool,
        content_based_dedup: bool,
        visibility_timeout_seconds: i64,
        message_retention_seconds: i64,
        delay_seconds: i64,
        receive_message_wait_seconds: i64,
        maximum_message_size: i64,
        redrive_policy: String,
        redrive_allow_policy: String,
        partition_count: u32,
        fifo_throughput_limit: String,
        deduplication_scope: String,
    }
}

/// A [`QueueMeta`] from either Go queue struct: the fields given, and the
/// ones both structs name alike.
macro_rules! queue_meta_from_go {
    ($g:ident, $($field:ident: $value:expr),* $(,)?) => {
        QueueMeta {
            $($field: $value,)*
            name: $g.name.into_bytes(),
            visibility_timeout_seconds: $g.visibility_timeout_seconds,
            message_retention_seconds: $g.message_retention_seconds,
            delay_seconds: $g.delay_seconds,
            receive_message_wait_seconds: $g.receive_message_wait_seconds,
            maximum_message_size: $g.maximum_message_size,
            redrive_policy: $g.redrive_policy,
            redrive_allow_policy: $g.redrive_allow_policy,
            partition_count: $g.partition_count,
            fifo_throughput_limit: $g.fifo_throughput_limit,
            deduplication_scope: $g.deduplication_scope,
        }
    };
}

impl QueueMeta {
    /// `_queue.json` as the encoder reads it (`decodeOneJSON`).
    pub fn from_dump_file(input: &[u8]) -> Result<QueueMeta, UnmarshalError> {
        let g: GoQueueMetaPublic = gojson::decode_one(input)?;
        Ok(queue_meta_from_go!(g,
            format_version: g.format_version,
            fifo: g.fifo,
            content_based_deduplication: g.content_based_deduplication,
        ))
    }

    /// A stored meta value (magic already stripped), projected as the
    /// decoder projects it: `format_version` 1, live-only fields dropped.
    pub fn from_stored(body: &[u8]) -> Result<QueueMeta, UnmarshalError> {
        let g: GoStoredQueueMeta = gojson::unmarshal(body)?;
        Ok(queue_meta_from_go!(g,
            format_version: 1,
            fifo: g.is_fifo,
            content_based_deduplication: g.content_based_dedup,
        ))
    }

    /// `_queue.json` bytes (`MarshalIndent`, HTML-escaped, no final newline).
    pub fn to_dump_json(&self) -> Vec<u8> {
        let mut w = JsonWriter::pretty(Escape::Html);
        w.begin_object();
        w.key("format_version").u64(u64::from(self.format_version));
        w.key("name").string_bytes(&self.name);
        if self.fifo {
            w.key("fifo").bool(true);
        }
        if self.content_based_deduplication {
            w.key("content_based_deduplication").bool(true);
        }
        w.key("visibility_timeout_seconds")
            .i64(self.visibility_timeout_seconds);
        w.key("message_retention_seconds")
            .i64(self.message_retention_seconds);
        w.key("delay_seconds").i64(self.delay_seconds);
        if self.receive_message_wait_seconds != 0 {
            w.key("receive_message_wait_seconds")
                .i64(self.receive_message_wait_seconds);
        }
        if self.maximum_message_size != 0 {
            w.key("maximum_message_size").i64(self.maximum_message_size);
        }
        self.write_tail(&mut w);
        w.end_object();
        w.finish()
    }

    fn write_tail(&self, w: &mut JsonWriter) {
        if !self.redrive_policy.is_empty() {
            w.key("redrive_policy").string(&self.redrive_policy);
        }
        if !self.redrive_allow_policy.is_empty() {
            w.key("redrive_allow_policy")
                .string(&self.redrive_allow_policy);
        }
        if self.partition_count != 0 {
            w.key("partition_count")
                .u64(u64::from(self.partition_count));
        }
        if !self.fifo_throughput_limit.is_empty() {
            w.key("fifo_throughput_limit")
                .string(&self.fifo_throughput_limit);
        }
        if !self.deduplication_scope.is_empty() {
            w.key("deduplication_scope")
                .string(&self.deduplication_scope);
        }
    }

    /// The live meta value a restore stores: magic + compact JSON with the
    /// restore generation; the wait and size fields are always present.
    pub fn to_stored_value(&self) -> Vec<u8> {
        let mut w = JsonWriter::compact(Escape::Html);
        w.begin_object();
        w.key("name").string_bytes(&self.name);
        w.key("generation").u64(super::keys::RESTORE_GENERATION);
        if self.fifo {
            w.key("is_fifo").bool(true);
        }
        if self.content_based_deduplication {
            w.key("content_based_dedup").bool(true);
        }
        w.key("visibility_timeout_seconds")
            .i64(self.visibility_timeout_seconds);
        w.key("message_retention_seconds")
            .i64(self.message_retention_seconds);
        w.key("delay_seconds").i64(self.delay_seconds);
        w.key("receive_message_wait_seconds")
            .i64(self.receive_message_wait_seconds);
        w.key("maximum_message_size").i64(self.maximum_message_size);
        self.write_tail(&mut w);
        w.end_object();
        let mut out = META_MAGIC.to_vec();
        out.extend_from_slice(&w.finish());
        out
    }
}

// --- Messages ---------------------------------------------------------------

crate::go_struct! {
    #[derive(Debug, Clone, Default)]
    struct BodyEnvelope as "struct { Base64 *string \"json:\\\"base64\\\"\" }" {
        base64: Option<String>,
    }
}

/// `sqsMessageBody`'s `UnmarshalJSON`: a JSON string is the body verbatim
/// (`null` an empty body); anything else must be exactly
/// `{"base64": "<RawURL>"}` (unknown keys refused).
#[derive(Debug, Clone, Default)]
struct DumpBody(Option<Vec<u8>>);

impl Unmarshal for DumpBody {
    fn go_type() -> String {
        "backup.sqsMessageBody".into()
    }
    fn unmarshal(&mut self, d: &mut Decoder<'_>) {
        let (s, e) = d.skip();
        let raw = &d.data()[s..e];
        match raw[0] {
            b'"' => self.0 = Some(gojson::unquote(&raw[1..raw.len() - 1]).into_bytes()),
            b'n' => self.0 = Some(Vec::new()),
            _ => {
                let mut env = BodyEnvelope::default();
                let r = gojson::unmarshal_with(raw, &mut env, |d| d.disallow_unknown_fields());
                let msg = match (r, env.base64) {
                    (Err(e), _) => e.to_string(),
                    (Ok(()), None) => "sqs message body object missing base64 field".into(),
                    (Ok(()), Some(b)) => match gob64::decode(&gob64::RAW_URL, b.as_bytes()) {
                        Ok(v) => {
                            self.0 = Some(v);
                            return;
                        }
                        Err(e) => e.to_string(),
                    },
                };
                let path = d.field_path();
                d.save(custom(&format!("{path}: {msg}"), s));
            }
        }
    }
}

fn custom(msg: &str, offset: usize) -> UnmarshalError {
    UnmarshalError::Custom {
        msg: msg.into(),
        offset,
    }
}

crate::go_struct! {
    /// `sqsMessageRecord`, a `messages.jsonl` value.
    #[derive(Debug, Clone, Default)]
    struct GoDumpMessage as "backup.sqsMessageRecord" {
        message_id: String,
        body: DumpBody,
        md5_of_body: String,
        md5_of_message_attributes: String,
        message_attributes: GoMap<RawMessage>,
        sender_id: String,
        send_timestamp_millis: i64,
        available_at_millis: i64,
        visible_at_millis: i64,
        receive_count: i64,
        first_receive_millis: i64,
        current_receipt_token: GoBytes,
        queue_generation: u64,
        message_group_id: String,
        message_deduplication_id: String,
        sequence_number: u64,
        dead_letter_source_arn: String,
        partition: Option<u32>,
    }
}

crate::go_struct! {
    /// The live adapter's message record, as the decoder reads it.
    #[derive(Debug, Clone, Default)]
    struct GoStoredMessage as "struct { MessageID string; Body []uint8; ... }" {
        message_id: String,
        body: GoBytes,
        md5_of_body: String,
        md5_of_message_attributes: String,
        message_attributes: GoMap<RawMessage>,
        sender_id: String,
        send_timestamp_millis: i64,
        available_at_millis: i64,
        visible_at_millis: i64,
        receive_count: i64,
        first_receive_millis: i64,
        current_receipt_token: GoBytes,
        queue_generation: u64,
        message_group_id: String,
        message_deduplication_id: String,
        sequence_number: u64,
        dead_letter_source_arn: String,
    }
}

/// Attribute name → the raw text of its value.
fn attributes(m: GoMap<RawMessage>, text: &[u8]) -> Option<BTreeMap<String, Vec<u8>>> {
    m.0.map(|m| {
        m.into_iter()
            .map(|(k, r)| (k, r.bytes(text).to_vec()))
            .collect()
    })
}

fn comma_key(out: &mut Vec<u8>, key: &str) {
    out.push(b',');
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

fn string_field(out: &mut Vec<u8>, key: &str, v: &str, esc: Escape, omit_empty: bool) {
    if omit_empty && v.is_empty() {
        return;
    }
    comma_key(out, key);
    write_string(out, v.as_bytes(), esc);
}

fn int_field(out: &mut Vec<u8>, key: &str, v: impl std::fmt::Display) {
    comma_key(out, key);
    out.extend_from_slice(v.to_string().as_bytes());
}

fn attributes_field(out: &mut Vec<u8>, attrs: &Option<BTreeMap<String, Vec<u8>>>, esc: Escape) {
    let Some(map) = attrs.as_ref().filter(|m| !m.is_empty()) else {
        return;
    };
    comma_key(out, "message_attributes");
    out.push(b'{');
    for (i, (k, raw)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, k.as_bytes(), esc);
        out.push(b':');
        write_raw_compact(out, raw, esc);
    }
    out.push(b'}');
}

/// The dump's body: a JSON string when valid UTF-8 (escaped by a nested
/// `json.Marshal`, so HTML-escaped even inside a non-HTML line), else the
/// `{"base64": RawURL}` envelope.
fn write_dump_body(out: &mut Vec<u8>, body: &[u8]) {
    if std::str::from_utf8(body).is_ok() {
        write_string(out, body, Escape::Html);
    } else {
        out.extend_from_slice(b"{\"base64\":\"");
        out.extend_from_slice(URL_SAFE_NO_PAD.encode(body).as_bytes());
        out.extend_from_slice(b"\"}");
    }
}

/// A [`Message`] from either Go message struct: the fields given, and the
/// ones both structs name alike.
macro_rules! message_from_go {
    ($g:ident, $text:expr, $($field:ident: $value:expr),* $(,)?) => {
        Message {
            $($field: $value,)*
            message_attributes: attributes($g.message_attributes, $text),
            current_receipt_token: $g.current_receipt_token.into_option(),
            message_id: $g.message_id,
            md5_of_body: $g.md5_of_body,
            md5_of_message_attributes: $g.md5_of_message_attributes,
            sender_id: $g.sender_id,
            send_timestamp_millis: $g.send_timestamp_millis,
            available_at_millis: $g.available_at_millis,
            visible_at_millis: $g.visible_at_millis,
            receive_count: $g.receive_count,
            first_receive_millis: $g.first_receive_millis,
            queue_generation: $g.queue_generation,
            message_group_id: $g.message_group_id,
            message_deduplication_id: $g.message_deduplication_id,
            sequence_number: $g.sequence_number,
            dead_letter_source_arn: $g.dead_letter_source_arn,
        }
    };
}

impl Message {
    /// One `messages.jsonl` value (as `json.Decoder` delimits it).
    pub fn from_dump_value(input: &[u8]) -> Result<Message, UnmarshalError> {
        let g: GoDumpMessage = gojson::decode_value(input)?;
        Ok(message_from_go!(g, input, body: g.body.0, partition: g.partition))
    }

    /// A stored message value (magic already stripped), `json.Unmarshal`.
    pub fn from_stored(body: &[u8]) -> Result<Message, UnmarshalError> {
        let g: GoStoredMessage = gojson::unmarshal(body)?;
        Ok(message_from_go!(g, body, body: g.body.into_option(), partition: None))
    }

    /// Zero the in-flight state, as the decoder does unless asked not to.
    pub fn clear_visibility(&mut self) {
        self.visible_at_millis = 0;
        self.current_receipt_token = None;
        self.receive_count = 0;
        self.first_receive_millis = 0;
    }

    /// Append this message as a `messages.jsonl` line (with its `\n`).
    pub fn write_dump_line(&self, out: &mut Vec<u8>) {
        let e = Escape::NoHtml;
        out.extend_from_slice(b"{\"message_id\":");
        write_string(out, self.message_id.as_bytes(), e);
        comma_key(out, "body");
        write_dump_body(out, self.body.as_deref().unwrap_or_default());
        string_field(out, "md5_of_body", &self.md5_of_body, e, true);
        string_field(
            out,
            "md5_of_message_attributes",
            &self.md5_of_message_attributes,
            e,
            true,
        );
        attributes_field(out, &self.message_attributes, e);
        string_field(out, "sender_id", &self.sender_id, e, true);
        int_field(out, "send_timestamp_millis", self.send_timestamp_millis);
        int_field(out, "available_at_millis", self.available_at_millis);
        int_field(out, "visible_at_millis", self.visible_at_millis);
        int_field(out, "receive_count", self.receive_count);
        if self.first_receive_millis != 0 {
            int_field(out, "first_receive_millis", self.first_receive_millis);
        }
        if let Some(t) = self
            .current_receipt_token
            .as_ref()
            .filter(|t| !t.is_empty())
        {
            comma_key(out, "current_receipt_token");
            write_string(out, STANDARD.encode(t).as_bytes(), e);
        }
        int_field(out, "queue_generation", self.queue_generation);
        string_field(out, "message_group_id", &self.message_group_id, e, true);
        string_field(
            out,
            "message_deduplication_id",
            &self.message_deduplication_id,
            e,
            true,
        );
        if self.sequence_number != 0 {
            int_field(out, "sequence_number", self.sequence_number);
        }
        string_field(
            out,
            "dead_letter_source_arn",
            &self.dead_letter_source_arn,
            e,
            true,
        );
        if let Some(p) = self.partition {
            int_field(out, "partition", p);
        }
        out.extend_from_slice(b"}\n");
    }

    /// The stored value a restore writes: magic + compact HTML-escaped JSON
    /// with the visibility state cleared and the restore generation.
    pub fn to_stored_value(&self) -> Vec<u8> {
        let e = Escape::Html;
        let mut out = MESSAGE_MAGIC.to_vec();
        out.extend_from_slice(b"{\"message_id\":");
        write_string(&mut out, self.message_id.as_bytes(), e);
        comma_key(&mut out, "body");
        match &self.body {
            None => out.extend_from_slice(b"null"),
            Some(b) => write_string(&mut out, STANDARD.encode(b).as_bytes(), e),
        }
        string_field(&mut out, "md5_of_body", &self.md5_of_body, e, false);
        string_field(
            &mut out,
            "md5_of_message_attributes",
            &self.md5_of_message_attributes,
            e,
            true,
        );
        attributes_field(&mut out, &self.message_attributes, e);
        string_field(&mut out, "sender_id", &self.sender_id, e, true);
        int_field(
            &mut out,
            "send_timestamp_millis",
            self.send_timestamp_millis,
        );
        int_field(&mut out, "available_at_millis", self.available_at_millis);
        out.extend_from_slice(
            b",\"visible_at_millis\":0,\"receive_count\":0,\"current_receipt_token\":null",
        );
        int_field(
            &mut out,
            "queue_generation",
            super::keys::RESTORE_GENERATION,
        );
        string_field(
            &mut out,
            "message_group_id",
            &self.message_group_id,
            e,
            true,
        );
        string_field(
            &mut out,
            "message_deduplication_id",
            &self.message_deduplication_id,
            e,
            true,
        );
        if self.sequence_number != 0 {
            int_field(&mut out, "sequence_number", self.sequence_number);
        }
        string_field(
            &mut out,
            "dead_letter_source_arn",
            &self.dead_letter_source_arn,
            e,
            true,
        );
        out.push(b'}');
        out
    }

    /// The dedup row's value for this message.
    pub fn dedup_value(&self) -> Vec<u8> {
        let mut out = b"{\"message_id\":".to_vec();
        write_string(&mut out, self.message_id.as_bytes(), Escape::Html);
        int_field(&mut out, "send_timestamp_ms", self.send_timestamp_millis);
        int_field(
            &mut out,
            "expires_at_millis",
            self.send_timestamp_millis.wrapping_add(DEDUP_WINDOW_MILLIS),
        );
        if self.sequence_number != 0 {
            int_field(&mut out, "original_sequence", self.sequence_number);
        }
        out.push(b'}');
        out
    }
}

/// One `_internals/side_records.jsonl` line.
pub fn write_side_record_line(out: &mut Vec<u8>, prefix: &[u8], key: &[u8], value: &[u8]) {
    out.extend_from_slice(b"{\"prefix\":");
    write_string(out, prefix, Escape::NoHtml);
    out.extend_from_slice(b",\"key_hex\":\"");
    out.extend_from_slice(hex::encode(key).as_bytes());
    out.extend_from_slice(b"\",\"value_b64\":\"");
    out.extend_from_slice(URL_SAFE_NO_PAD.encode(value).as_bytes());
    out.extend_from_slice(b"\"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn stored_message_golden() {
        // sqs.md §2.4
        let m = Message {
            message_id: "m1".into(),
            body: Some(b"hello".to_vec()),
            send_timestamp_millis: 1000,
            available_at_millis: 1000,
            visible_at_millis: 77,
            receive_count: 3,
            queue_generation: 9,
            ..Message::default()
        };
        assert_eq!(
            s(&m.to_stored_value()),
            "\0SM\u{1}{\"message_id\":\"m1\",\"body\":\"aGVsbG8=\",\"md5_of_body\":\"\",\"send_timestamp_millis\":1000,\"available_at_millis\":1000,\"visible_at_millis\":0,\"receive_count\":0,\"current_receipt_token\":null,\"queue_generation\":1}"
        );
        let mut absent = m.clone();
        absent.body = None;
        assert!(s(&absent.to_stored_value()).contains("\"body\":null,"));
        let mut empty = m.clone();
        empty.body = Some(vec![]);
        assert!(s(&empty.to_stored_value()).contains("\"body\":\"\","));
    }

    #[test]
    fn stored_meta_golden() {
        let m = QueueMeta {
            format_version: 1,
            name: b"p.fifo".to_vec(),
            fifo: true,
            visibility_timeout_seconds: 30,
            message_retention_seconds: 345600,
            partition_count: 2,
            fifo_throughput_limit: "perMessageGroupId".into(),
            ..QueueMeta::default()
        };
        assert_eq!(
            s(&m.to_stored_value()),
            "\0SQ\u{1}{\"name\":\"p.fifo\",\"generation\":1,\"is_fifo\":true,\"visibility_timeout_seconds\":30,\"message_retention_seconds\":345600,\"delay_seconds\":0,\"receive_message_wait_seconds\":0,\"maximum_message_size\":0,\"partition_count\":2,\"fifo_throughput_limit\":\"perMessageGroupId\"}"
        );
        let back = QueueMeta::from_stored(&m.to_stored_value()[4..]).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn dump_meta_golden() {
        let m = QueueMeta {
            format_version: 1,
            name: b"orders.fifo".to_vec(),
            fifo: true,
            visibility_timeout_seconds: 30,
            message_retention_seconds: 345600,
            maximum_message_size: 262144,
            redrive_policy: "{\"a\":\"<x>\"}".into(),
            ..QueueMeta::default()
        };
        let j = m.to_dump_json();
        assert_eq!(
            s(&j),
            "{\n  \"format_version\": 1,\n  \"name\": \"orders.fifo\",\n  \"fifo\": true,\n  \"visibility_timeout_seconds\": 30,\n  \"message_retention_seconds\": 345600,\n  \"delay_seconds\": 0,\n  \"maximum_message_size\": 262144,\n  \"redrive_policy\": \"{\\\"a\\\":\\\"\\u003cx\\u003e\\\"}\"\n}"
        );
        assert_eq!(QueueMeta::from_dump_file(&j).unwrap(), m);
    }

    #[test]
    fn dedup_golden() {
        let m = Message {
            message_id: "m1".into(),
            send_timestamp_millis: 1_700_000_000_000,
            sequence_number: 1,
            ..Message::default()
        };
        assert_eq!(
            s(&m.dedup_value()),
            r#"{"message_id":"m1","send_timestamp_ms":1700000000000,"expires_at_millis":1700000300000,"original_sequence":1}"#
        );
        let m = Message {
            message_id: "<m>".into(),
            send_timestamp_millis: i64::MAX,
            ..Message::default()
        };
        assert_eq!(
            s(&m.dedup_value()),
            r#"{"message_id":"\u003cm\u003e","send_timestamp_ms":9223372036854775807,"expires_at_millis":-9223372036854475809}"#
        );
    }

    #[test]
    fn escaping_regimes() {
        let line = br#"{"message_id":"a<b","body":"x<&>y","message_attributes":{"k<":{"DataType":"String","StringValue":"v<>"}, "a" : 1},"send_timestamp_millis":5}"#;
        let m = Message::from_dump_value(line).unwrap();
        let stored = m.to_stored_value();
        assert_eq!(
            s(&stored[4..]),
            r#"{"message_id":"a\u003cb","body":"eDwmPnk=","md5_of_body":"","message_attributes":{"a":1,"k\u003c":{"DataType":"String","StringValue":"v\u003c\u003e"}},"send_timestamp_millis":5,"available_at_millis":0,"visible_at_millis":0,"receive_count":0,"current_receipt_token":null,"queue_generation":1}"#
        );
        let back = Message::from_stored(&stored[4..]).unwrap();
        let mut out = Vec::new();
        back.write_dump_line(&mut out);
        // Line: no HTML escaping, except inside the body's nested marshal;
        // attribute text keeps the stored value's escapes.
        assert_eq!(
            s(&out),
            "{\"message_id\":\"a<b\",\"body\":\"x\\u003c\\u0026\\u003ey\",\"message_attributes\":{\"a\":1,\"k<\":{\"DataType\":\"String\",\"StringValue\":\"v\\u003c\\u003e\"}},\"send_timestamp_millis\":5,\"available_at_millis\":0,\"visible_at_millis\":0,\"receive_count\":0,\"queue_generation\":1}\n"
        );
    }

    #[test]
    fn dump_line_fields() {
        let m = Message {
            message_id: "m".into(),
            body: Some(vec![0xff, 0x00, 0xfe]),
            md5_of_body: "5d".into(),
            first_receive_millis: 9,
            current_receipt_token: Some(vec![1, 2]),
            queue_generation: 7,
            sequence_number: 3,
            partition: Some(0),
            ..Message::default()
        };
        let mut out = Vec::new();
        m.write_dump_line(&mut out);
        assert_eq!(
            s(&out),
            "{\"message_id\":\"m\",\"body\":{\"base64\":\"_wD-\"},\"md5_of_body\":\"5d\",\"send_timestamp_millis\":0,\"available_at_millis\":0,\"visible_at_millis\":0,\"receive_count\":0,\"first_receive_millis\":9,\"current_receipt_token\":\"AQI=\",\"queue_generation\":7,\"sequence_number\":3,\"partition\":0}\n"
        );
        let back = Message::from_dump_value(&out).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn dump_body_forms() {
        let body = |j: &str| {
            Message::from_dump_value(format!("{{\"body\":{j}}}").as_bytes()).map(|m| m.body)
        };
        assert_eq!(body("\"x\"").unwrap(), Some(b"x".to_vec()));
        assert_eq!(body("null").unwrap(), Some(vec![]));
        assert_eq!(
            body("{\"base64\":\"_wD-\"}").unwrap(),
            Some(vec![0xff, 0, 0xfe])
        );
        assert_eq!(
            body("{\"BASE64\":\"_wD-\"}").unwrap(),
            Some(vec![0xff, 0, 0xfe])
        );
        assert!(body("{}").is_err());
        assert!(body("{\"base64\":null}").is_err());
        assert!(body("{\"base64\":\"eA\",\"x\":1}").is_err());
        assert!(body("{\"base64\":\"eA==\"}").is_err());
        assert!(body("5").is_err());
        assert!(body("[]").is_err());
        assert_eq!(Message::from_dump_value(b"{}").unwrap().body, None);
        assert_eq!(
            Message::from_dump_value(b"null").unwrap(),
            Message::default()
        );
        assert!(Message::from_dump_value(b"[]").is_err());
    }

    #[test]
    fn go_unmarshal_leniency() {
        let m = Message::from_dump_value(
            br#"{"MESSAGE_ID":"a","message_id":null,"Sequence_Number":5,"partition":3,"partition":null,"message_attributes":{"x":1},"message_attributes":{"y":2,"x":3}}"#,
        )
        .unwrap();
        assert_eq!(m.message_id, "a");
        assert_eq!(m.sequence_number, 5);
        assert_eq!(m.partition, None);
        let attrs = m.message_attributes.unwrap();
        assert_eq!(attrs.get("x").unwrap(), b"3");
        assert_eq!(attrs.get("y").unwrap(), b"2");
        for bad in [
            &br#"{"sequence_number":-0}"#[..],
            br#"{"send_timestamp_millis":1.0}"#,
            br#"{"partition":4294967296}"#,
            br#"{"current_receipt_token":"abc"}"#,
            br#"{"queue_generation":"1"}"#,
            br#"{"message_attributes":[]}"#,
        ] {
            assert!(Message::from_dump_value(bad).is_err(), "{}", s(bad));
        }
        assert_eq!(
            Message::from_dump_value(br#"{"send_timestamp_millis":-0}"#)
                .unwrap()
                .send_timestamp_millis,
            0
        );
        // The stored form ignores a partition field.
        assert_eq!(
            Message::from_stored(br#"{"partition":3}"#)
                .unwrap()
                .partition,
            None
        );
        assert!(Message::from_stored(br#"{"body":"aGk"}"#).is_err());
    }

    #[test]
    fn side_record_line() {
        let mut out = Vec::new();
        write_side_record_line(&mut out, b"!sqs|msg|vis|", b"\x01ab", b"\xff\x00");
        assert_eq!(
            s(&out),
            "{\"prefix\":\"!sqs|msg|vis|\",\"key_hex\":\"016162\",\"value_b64\":\"_wA\"}\n"
        );
    }
}
