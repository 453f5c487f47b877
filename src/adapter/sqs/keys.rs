//! SQS internal keys: prefixes, the base64url segments, key builders for the
//! encoder, the decoder's (lenient) key parsers, and the FNV-1a partition
//! router that HT-FIFO queues use.

use crate::error::InputError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::tree::filename::decode_raw_url_lenient;

pub const QUEUE_META: &[u8] = b"!sqs|queue|meta|";
pub const QUEUE_GEN: &[u8] = b"!sqs|queue|gen|";
pub const QUEUE_SEQ: &[u8] = b"!sqs|queue|seq|";
pub const QUEUE_TOMBSTONE: &[u8] = b"!sqs|queue|tombstone|";
pub const MSG_DATA: &[u8] = b"!sqs|msg|data|";
pub const MSG_VIS: &[u8] = b"!sqs|msg|vis|";
pub const MSG_BYAGE: &[u8] = b"!sqs|msg|byage|";
pub const MSG_DEDUP: &[u8] = b"!sqs|msg|dedup|";
pub const MSG_GROUP: &[u8] = b"!sqs|msg|group|";

/// Inserted after a `!sqs|msg|<family>|` prefix to select the partitioned
/// (HT-FIFO) layout.
pub const PARTITIONED: &[u8] = b"p|";
/// Ends the queue (and, in dedup keys, the group) segment of a partitioned key.
const TERMINATOR: u8 = b'|';

/// The only generation a restore writes (upstream's "Option B").
pub const RESTORE_GENERATION: u64 = 1;

const GEN_LEN: usize = 8;
const PARTITION_LEN: usize = 4;

/// A queue, message, group or dedup id as it appears inside a key.
pub fn segment(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

fn push_segment(out: &mut Vec<u8>, raw: &[u8]) {
    out.extend_from_slice(segment(raw).as_bytes());
}

/// Go's `RawURLEncoding.DecodeString`: `\r`/`\n` skipped, trailing bits
/// accepted, `=` rejected.
pub fn decode_segment(enc: &[u8]) -> Option<Vec<u8>> {
    decode_raw_url_lenient(std::str::from_utf8(enc).ok()?)
}

/// Key timestamps are unsigned: negative millis clamp to 0.
fn clamp_millis(v: i64) -> u64 {
    v.max(0) as u64
}

pub fn queue_meta_key(queue: &[u8]) -> Vec<u8> {
    let mut k = QUEUE_META.to_vec();
    push_segment(&mut k, queue);
    k
}

pub fn queue_gen_key(queue: &[u8]) -> Vec<u8> {
    let mut k = QUEUE_GEN.to_vec();
    push_segment(&mut k, queue);
    k
}

pub fn queue_seq_key(queue: &[u8]) -> Vec<u8> {
    let mut k = QUEUE_SEQ.to_vec();
    push_segment(&mut k, queue);
    k
}

/// `<family prefix>[p|]<queue>[|<partition>]<gen>`: the head every message
/// row shares. `partition` is `Some` exactly for partitioned queues.
fn message_head(prefix: &[u8], queue: &[u8], partition: Option<u32>) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 80);
    k.extend_from_slice(prefix);
    if partition.is_some() {
        k.extend_from_slice(PARTITIONED);
    }
    push_segment(&mut k, queue);
    if let Some(p) = partition {
        k.push(TERMINATOR);
        k.extend_from_slice(&p.to_be_bytes());
    }
    k.extend_from_slice(&RESTORE_GENERATION.to_be_bytes());
    k
}

pub fn data_key(queue: &[u8], partition: Option<u32>, message_id: &[u8]) -> Vec<u8> {
    let mut k = message_head(MSG_DATA, queue, partition);
    push_segment(&mut k, message_id);
    k
}

/// The visibility index row; `visible_at` is the message's `available_at`.
pub fn vis_key(
    queue: &[u8],
    partition: Option<u32>,
    visible_at: i64,
    message_id: &[u8],
) -> Vec<u8> {
    let mut k = message_head(MSG_VIS, queue, partition);
    k.extend_from_slice(&clamp_millis(visible_at).to_be_bytes());
    push_segment(&mut k, message_id);
    k
}

pub fn byage_key(queue: &[u8], partition: Option<u32>, send_ts: i64, message_id: &[u8]) -> Vec<u8> {
    let mut k = message_head(MSG_BYAGE, queue, partition);
    k.extend_from_slice(&clamp_millis(send_ts).to_be_bytes());
    push_segment(&mut k, message_id);
    k
}

/// Classic dedup rows carry no group; partitioned ones carry the group and
/// a second terminator (present even for an empty group).
pub fn dedup_key(queue: &[u8], partitioned: Option<(u32, &[u8])>, dedup_id: &[u8]) -> Vec<u8> {
    let mut k = message_head(MSG_DEDUP, queue, partitioned.map(|(p, _)| p));
    if let Some((_, group)) = partitioned {
        push_segment(&mut k, group);
        k.push(TERMINATOR);
    }
    push_segment(&mut k, dedup_id);
    k
}

/// 32-bit FNV-1a, as the live adapter hashes message groups.
pub fn fnv1a32(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in data {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The live adapter's partition router: 0 unless the queue has several
/// partitions, routes per message group, and the group is non-empty.
/// `partition_count` is a power of two (validated before this is called).
pub fn partition_for(partition_count: u32, throughput_limit: &str, group: &[u8]) -> u32 {
    if partition_count <= 1 || throughput_limit == "perQueue" || group.is_empty() {
        return 0;
    }
    fnv1a32(group) & (partition_count - 1)
}

/// A parsed `!sqs|msg|data|` key: the encoded queue segment and, for the
/// partitioned layout, the partition from the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataKey<'a> {
    pub queue: &'a [u8],
    pub partition: Option<u32>,
}

fn is_segment_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// Index of the first byte outside the base64url alphabet (the start of
/// the binary generation in classic keys).
fn segment_end(rest: &[u8]) -> usize {
    rest.iter()
        .position(|&c| !is_segment_byte(c))
        .unwrap_or(rest.len())
}

/// `p|<queue>|<partition u32><gen u64>[<message id>]`: the queue segment
/// (validated) and the partition. `with_message_id` demands a non-empty,
/// decodable message-id segment after the fixed trailer.
fn parse_partitioned(rest: &[u8], with_message_id: bool) -> Result<(&[u8], u32), InputError> {
    let body = &rest[PARTITIONED.len()..];
    let term = match body.iter().position(|&c| c == TERMINATOR) {
        Some(t) if t > 0 => t,
        _ => return Err("partitioned key has no queue segment terminator".into()),
    };
    let queue = &body[..term];
    if decode_segment(queue).is_none() {
        return Err("queue segment is not base64url".into());
    }
    let trailer = &body[term + 1..];
    let fixed = PARTITION_LEN + GEN_LEN;
    if with_message_id {
        if trailer.len() <= fixed {
            return Err("partitioned data key has no message-id segment".into());
        }
        if decode_segment(&trailer[fixed..]).is_none() {
            return Err("message-id segment is not base64url".into());
        }
    } else if trailer.len() < fixed {
        return Err("partitioned key trailer is truncated".into());
    }
    let p = u32::from_be_bytes(trailer[..PARTITION_LEN].try_into().expect("4 bytes"));
    Ok((queue, p))
}

/// Parse a data key as upstream's decoder does (boundary scan for classic
/// keys; the message id is only checked to decode).
pub fn parse_data_key(key: &[u8]) -> Result<DataKey<'_>, InputError> {
    let rest = key
        .strip_prefix(MSG_DATA)
        .ok_or("key does not start with the data prefix")?;
    if rest.starts_with(PARTITIONED) {
        let (queue, p) = parse_partitioned(rest, true)?;
        return Ok(DataKey {
            queue,
            partition: Some(p),
        });
    }
    let idx = segment_end(rest);
    if idx == 0 || idx + GEN_LEN >= rest.len() {
        return Err("queue segment or message-id segment not found".into());
    }
    let queue = &rest[..idx];
    if decode_segment(queue).is_none() {
        return Err("queue segment is not base64url".into());
    }
    if decode_segment(&rest[idx + GEN_LEN..]).is_none() {
        return Err("message-id segment is not base64url".into());
    }
    Ok(DataKey {
        queue,
        partition: None,
    })
}

/// The encoded queue segment of a side record (vis, byage, dedup, group,
/// tombstone, seq). Classic keys need a binary trailer after the segment,
/// which the queue sequence counter never has (upstream quirk: with side
/// records on, every FIFO queue's counter fails the decode).
pub fn parse_side_key<'a>(key: &'a [u8], prefix: &[u8]) -> Result<&'a [u8], InputError> {
    let rest = key
        .strip_prefix(prefix)
        .ok_or("key does not start with its route prefix")?;
    if rest.starts_with(PARTITIONED) {
        return parse_partitioned(rest, false).map(|(q, _)| q);
    }
    let idx = segment_end(rest);
    if idx == 0 || idx == rest.len() {
        return Err(format!(
            "queue segment not found after prefix \"{}\"",
            String::from_utf8_lossy(prefix)
        )
        .into());
    }
    Ok(&rest[..idx])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_vectors() {
        // sqs.md §2.5
        let cases: [(&str, u32, [u32; 5]); 5] = [
            ("g0", 0x0f20_2702, [0, 2, 2, 2, 2]),
            ("g1", 0x1020_2895, [1, 1, 5, 5, 21]),
            ("groupA", 0x7d6b_7cb7, [1, 3, 7, 7, 23]),
            ("g2", 0x0d20_23dc, [0, 0, 4, 12, 28]),
            ("g3", 0x0e20_256f, [1, 3, 7, 15, 15]),
        ];
        for (g, h, parts) in cases {
            assert_eq!(fnv1a32(g.as_bytes()), h, "{g}");
            for (n, want) in [2u32, 4, 8, 16, 32].into_iter().zip(parts) {
                assert_eq!(partition_for(n, "perMessageGroupId", g.as_bytes()), want);
                assert_eq!(partition_for(n, "", g.as_bytes()), want);
                assert_eq!(partition_for(n, "perQueue", g.as_bytes()), 0);
            }
            assert_eq!(partition_for(1, "", g.as_bytes()), 0);
            assert_eq!(partition_for(0, "", g.as_bytes()), 0);
        }
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(partition_for(4, "", b""), 0);
    }

    #[test]
    fn worked_key_bytes() {
        // sqs.md §2.3
        assert_eq!(
            hex::encode(data_key(b"q", None, b"m1")),
            "217371737c6d73677c646174617c63510000000000000001625445"
        );
        assert_eq!(
            hex::encode(vis_key(b"q", None, 1000, b"m1")),
            "217371737c6d73677c7669737c6351000000000000000100000000000003e8625445"
        );
        let k = data_key(b"p.fifo", Some(1), b"mid-001");
        assert_eq!(
            &k[..],
            &b"!sqs|msg|data|p|cC5maWZv|\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01bWlkLTAwMQ"
                [..]
        );
        let d = dedup_key(b"p.fifo", Some((1, b"g1")), b"d0");
        assert_eq!(
            &d[..],
            &b"!sqs|msg|dedup|p|cC5maWZv|\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01ZzE|ZDA"[..]
        );
        let d = dedup_key(b"p.fifo", Some((0, b"")), b"d0");
        assert!(d.ends_with(b"\x01|ZDA"));
        let d = dedup_key(b"q", None, b"d0");
        assert_eq!(
            &d[..],
            &b"!sqs|msg|dedup|cQ\x00\x00\x00\x00\x00\x00\x00\x01ZDA"[..]
        );
        assert_eq!(
            vis_key(b"q", None, -5, b"m1"),
            vis_key(b"q", None, 0, b"m1")
        );
        assert_eq!(queue_meta_key(b"q"), b"!sqs|queue|meta|cQ");
        assert_eq!(queue_gen_key(b"q"), b"!sqs|queue|gen|cQ");
        assert_eq!(queue_seq_key(b"q"), b"!sqs|queue|seq|cQ");
    }

    #[test]
    fn data_key_parsing() {
        let k = data_key(b"q", None, b"m1");
        assert_eq!(
            parse_data_key(&k).unwrap(),
            DataKey {
                queue: b"cQ",
                partition: None
            }
        );
        let k = data_key(b"p.fifo", Some(7), b"m1");
        assert_eq!(
            parse_data_key(&k).unwrap(),
            DataKey {
                queue: b"cC5maWZv",
                partition: Some(7)
            }
        );
        // Empty message id, no queue, truncated partitioned trailer.
        assert!(parse_data_key(b"!sqs|msg|data|cQ\0\0\0\0\0\0\0\x01").is_err());
        assert!(parse_data_key(b"!sqs|msg|data|\0\0\0\0\0\0\0\x01bTE").is_err());
        assert!(parse_data_key(b"!sqs|msg|data|p|cQ|\0\0\0\x01\0\0\0\0\0\0\0\x01").is_err());
        assert!(parse_data_key(b"!sqs|msg|data|p||\0\0\0\x01\0\0\0\0\0\0\0\x01bTE").is_err());
        assert!(parse_data_key(b"!sqs|msg|data|p|cQ").is_err());
        // A one-character segment does not decode.
        assert!(parse_data_key(b"!sqs|msg|data|c\0\0\0\0\0\0\0\x01bTE").is_err());
        assert!(parse_data_key(b"!sqs|msg|data|cQ\0\0\0\0\0\0\0\x01b").is_err());
        assert!(parse_data_key(b"!sqs|msg|datx|cQ").is_err());
    }

    #[test]
    fn side_key_parsing() {
        let k = vis_key(b"q", None, 5, b"m");
        assert_eq!(parse_side_key(&k, MSG_VIS).unwrap(), b"cQ");
        let k = vis_key(b"q", Some(3), 5, b"m");
        assert_eq!(parse_side_key(&k, MSG_VIS).unwrap(), b"cQ");
        // The queue sequence counter has no trailer: upstream's quirk.
        let e = parse_side_key(&queue_seq_key(b"q"), QUEUE_SEQ).unwrap_err();
        assert_eq!(
            e.to_string(),
            "queue segment not found after prefix \"!sqs|queue|seq|\""
        );
        // Classic side keys do not validate the segment's base64.
        assert_eq!(
            parse_side_key(b"!sqs|queue|tombstone|c\0\0", QUEUE_TOMBSTONE).unwrap(),
            b"c"
        );
        assert!(parse_side_key(b"!sqs|msg|vis|p|cQ|\0\0\0\0\0\0\0\0\0\0\0", MSG_VIS).is_err());
        assert!(parse_side_key(b"!sqs|msg|vis|p|cQ|\0\0\0\0\0\0\0\0\0\0\0\0", MSG_VIS).is_ok());
    }

    #[test]
    fn segment_decoding_is_go_lenient() {
        assert_eq!(decode_segment(b"cQ").unwrap(), b"q");
        assert_eq!(decode_segment(b"cR").unwrap(), b"q");
        assert_eq!(decode_segment(b"c\nQ").unwrap(), b"q");
        assert_eq!(decode_segment(b"").unwrap(), b"");
        assert!(decode_segment(b"cQ==").is_none());
        assert!(decode_segment(b"c").is_none());
        assert!(decode_segment(b"c+").is_none());
    }
}
