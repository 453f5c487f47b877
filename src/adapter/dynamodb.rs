//! The dynamodb adapter (placeholder until it lands: empty subtrees encode to
//! nothing, anything else fails closed).

use super::{
    AdapterDecoder, AdapterKind, DecodeContext, EncodeContext, EntrySink, UnsupportedDecoder,
};
use crate::error::Result;

/// False while this module is a placeholder.
pub const IMPLEMENTED: bool = false;

/// Key prefixes the decoder routes to this adapter.
pub const ROUTES: &[&[u8]] = &[
    b"!ddb|meta|table|",
    b"!ddb|meta|gen|",
    b"!ddb|item|",
    b"!ddb|gsi|",
];

pub fn encode(ctx: &EncodeContext<'_>, _sink: &mut dyn EntrySink) -> Result<()> {
    super::unsupported_encode(AdapterKind::DynamoDb, ctx)
}

pub fn decoder(_ctx: &DecodeContext) -> Result<Box<dyn AdapterDecoder>> {
    Ok(Box::new(UnsupportedDecoder(AdapterKind::DynamoDb)))
}
