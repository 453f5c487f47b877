//! The SQS adapter: `sqs/<queue>/_queue.json` + `messages.jsonl` (and, on
//! request, `_internals/side_records.jsonl`) ↔ the `!sqs|…` keyspace,
//! classic and partitioned (HT-FIFO) layouts. See `docs/sqs.md`.

use super::{AdapterDecoder, DecodeContext, EncodeContext, EntrySink};
use crate::error::Result;

mod decode;
mod encode;
pub mod keys;
pub(crate) mod model;

pub use decode::SqsDecoder;

/// Key prefixes the decoder routes to this adapter. The partitioned
/// families (`…|p|`) route through their classic prefix, as upstream's
/// route table has no separate entries for them.
pub const ROUTES: &[&[u8]] = &[
    keys::QUEUE_META,
    keys::QUEUE_GEN,
    keys::MSG_DATA,
    keys::QUEUE_SEQ,
    keys::QUEUE_TOMBSTONE,
    keys::MSG_VIS,
    keys::MSG_BYAGE,
    keys::MSG_DEDUP,
    keys::MSG_GROUP,
];

pub fn encode(ctx: &EncodeContext<'_>, sink: &mut dyn EntrySink) -> Result<()> {
    encode::encode(ctx, sink)
}

pub fn decoder(ctx: &DecodeContext) -> Result<Box<dyn AdapterDecoder>> {
    Ok(Box::new(SqsDecoder::new(ctx)))
}
