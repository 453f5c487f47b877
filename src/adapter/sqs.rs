//! The sqs adapter (placeholder until it lands: empty subtrees encode to
//! nothing, anything else fails closed).

use super::{
    AdapterDecoder, AdapterKind, DecodeContext, EncodeContext, EntrySink, UnsupportedDecoder,
};
use crate::error::Result;

/// False while this module is a placeholder.
pub const IMPLEMENTED: bool = false;

/// Key prefixes the decoder routes to this adapter.
pub const ROUTES: &[&[u8]] = &[
    b"!sqs|queue|meta|",
    b"!sqs|queue|gen|",
    b"!sqs|msg|data|",
    b"!sqs|queue|seq|",
    b"!sqs|queue|tombstone|",
    b"!sqs|msg|vis|",
    b"!sqs|msg|byage|",
    b"!sqs|msg|dedup|",
    b"!sqs|msg|group|",
];

pub fn encode(ctx: &EncodeContext<'_>, _sink: &mut dyn EntrySink) -> Result<()> {
    super::unsupported_encode(AdapterKind::Sqs, ctx)
}

pub fn decoder(_ctx: &DecodeContext) -> Result<Box<dyn AdapterDecoder>> {
    Ok(Box::new(UnsupportedDecoder(AdapterKind::Sqs)))
}
