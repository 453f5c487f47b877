//! The redis adapter (placeholder until it lands: empty subtrees encode to
//! nothing, anything else fails closed).

use super::{
    AdapterDecoder, AdapterKind, DecodeContext, EncodeContext, EntrySink, UnsupportedDecoder,
};
use crate::error::Result;

/// False while this module is a placeholder.
pub const IMPLEMENTED: bool = false;

/// Key prefixes the decoder routes to this adapter.
pub const ROUTES: &[&[u8]] = &[
    b"!hs|meta|d|",
    b"!hs|meta|",
    b"!hs|fld|",
    b"!lst|meta|d|",
    b"!lst|meta|",
    b"!lst|itm|",
    b"!lst|claim|",
    b"!st|meta|d|",
    b"!st|meta|",
    b"!st|mem|",
    b"!zs|meta|d|",
    b"!zs|meta|",
    b"!zs|mem|",
    b"!zs|scr|",
    b"!redis|zset|",
    b"!stream|meta|",
    b"!stream|entry|",
    b"!redis|str|",
    b"!redis|hll|",
    b"!redis|ttl|",
];

pub fn encode(ctx: &EncodeContext<'_>, _sink: &mut dyn EntrySink) -> Result<()> {
    super::unsupported_encode(AdapterKind::Redis, ctx)
}

pub fn decoder(_ctx: &DecodeContext) -> Result<Box<dyn AdapterDecoder>> {
    Ok(Box::new(UnsupportedDecoder(AdapterKind::Redis)))
}
