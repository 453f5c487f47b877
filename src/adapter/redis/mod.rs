//! The Redis adapter: `redis/db_0/` ↔ the Redis internal keyspace
//! (strings, HyperLogLogs, the TTL scan index, and the wide-column hashes,
//! lists, sets, sorted sets and streams). See `docs/redis.md`.

mod codec;
mod content;
mod decode;
mod encode;
mod keystate;
mod proto;
mod records;

use super::{AdapterDecoder, DecodeContext, EncodeContext, EntrySink};
use crate::error::Result;

pub const STR: &[u8] = b"!redis|str|";
pub const HLL: &[u8] = b"!redis|hll|";
pub const TTL: &[u8] = b"!redis|ttl|";
pub const ZSET_BLOB: &[u8] = b"!redis|zset|";
pub const HASH_META: &[u8] = b"!hs|meta|";
pub const HASH_META_DELTA: &[u8] = b"!hs|meta|d|";
pub const HASH_FIELD: &[u8] = b"!hs|fld|";
pub const LIST_META: &[u8] = b"!lst|meta|";
pub const LIST_META_DELTA: &[u8] = b"!lst|meta|d|";
pub const LIST_ITEM: &[u8] = b"!lst|itm|";
pub const LIST_CLAIM: &[u8] = b"!lst|claim|";
pub const SET_META: &[u8] = b"!st|meta|";
pub const SET_META_DELTA: &[u8] = b"!st|meta|d|";
pub const SET_MEMBER: &[u8] = b"!st|mem|";
pub const ZSET_META: &[u8] = b"!zs|meta|";
pub const ZSET_META_DELTA: &[u8] = b"!zs|meta|d|";
pub const ZSET_MEMBER: &[u8] = b"!zs|mem|";
pub const ZSET_SCORE: &[u8] = b"!zs|scr|";
pub const STREAM_META: &[u8] = b"!stream|meta|";
pub const STREAM_ENTRY: &[u8] = b"!stream|entry|";

/// Key prefixes the decoder routes to this adapter (longest match wins).
/// Legacy `!redis|hash|`, `!redis|set|` and `!redis|stream|` blobs are
/// deliberately absent: upstream leaves them unrouted.
pub const ROUTES: &[&[u8]] = &[
    HASH_META_DELTA,
    HASH_META,
    HASH_FIELD,
    LIST_META_DELTA,
    LIST_META,
    LIST_ITEM,
    LIST_CLAIM,
    SET_META_DELTA,
    SET_META,
    SET_MEMBER,
    ZSET_META_DELTA,
    ZSET_META,
    ZSET_MEMBER,
    ZSET_SCORE,
    ZSET_BLOB,
    STREAM_META,
    STREAM_ENTRY,
    STR,
    HLL,
    TTL,
];

/// `prefix ‖ u32be(len(uk)) ‖ uk ‖ suffix`, the wide-column key shape.
pub fn wide_key(prefix: &[u8], uk: &[u8], suffix: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 4 + uk.len() + suffix.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(&(uk.len() as u32).to_be_bytes());
    k.extend_from_slice(uk);
    k.extend_from_slice(suffix);
    k
}

/// Split `u32be(len) ‖ uk ‖ tail`; `None` when the length overruns.
pub fn split_len_prefixed(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    if rest.len() < 4 {
        return None;
    }
    let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let body = &rest[4..];
    if body.len() < n {
        return None;
    }
    Some(body.split_at(n))
}

/// `prefix ‖ parts…` as one key.
pub fn cat(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

pub fn encode(ctx: &EncodeContext<'_>, sink: &mut dyn EntrySink) -> Result<()> {
    encode::encode(ctx, sink)
}

pub fn decoder(ctx: &DecodeContext) -> Result<Box<dyn AdapterDecoder>> {
    Ok(Box::new(decode::RedisDecoder::new(ctx.clone())))
}

#[cfg(test)]
mod tests;
