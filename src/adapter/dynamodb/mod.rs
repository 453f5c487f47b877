//! The DynamoDB adapter, both directions (design: `docs/dynamodb.md`).
//!
//! * `proto`: the internal protobuf messages, hand-written to match Go's
//!   deterministic marshal byte for byte.
//! * `number`: ordered key bytes of `N` values and their big.Rat file names.
//! * `keys`: meta / item / GSI key layouts.
//! * `public`: `_schema.json`, item files and jsonl lines.
//! * `encode` / `decode`: the tree walk and the `.fsm` decoder.
//! * `spill`: bounded-memory buffers for the decoder.

use super::{AdapterDecoder, DecodeContext, EncodeContext, EntrySink};
use crate::error::Result;

mod decode;
mod encode;
pub mod keys;
pub mod number;
pub mod proto;
pub mod public;

/// Key prefixes the decoder routes to this adapter.
pub const ROUTES: &[&[u8]] = &[
    keys::META_TABLE_PREFIX,
    keys::META_GEN_PREFIX,
    keys::ITEM_PREFIX,
    keys::GSI_PREFIX,
];

pub fn encode(ctx: &EncodeContext<'_>, sink: &mut dyn EntrySink) -> Result<()> {
    encode::encode(ctx, sink)
}

pub fn decoder(ctx: &DecodeContext) -> Result<Box<dyn AdapterDecoder>> {
    Ok(Box::new(decode::DynamoDecoder::new(ctx)))
}
