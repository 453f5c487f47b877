//! The s3 adapter (placeholder until it lands: empty subtrees encode to
//! nothing, anything else fails closed).

use super::{
    AdapterDecoder, AdapterKind, DecodeContext, EncodeContext, EntrySink, UnsupportedDecoder,
};
use crate::error::Result;

/// False while this module is a placeholder.
pub const IMPLEMENTED: bool = false;

/// Key prefixes the decoder routes to this adapter.
pub const ROUTES: &[&[u8]] = &[
    b"!s3|bucket|meta|",
    b"!s3|obj|head|",
    b"!s3|blob|",
    b"!s3|chunkref|",
    b"!s3|chunkblob|",
    b"!s3|upload|meta|",
    b"!s3|upload|part|",
];

pub fn encode(ctx: &EncodeContext<'_>, _sink: &mut dyn EntrySink) -> Result<()> {
    super::unsupported_encode(AdapterKind::S3, ctx)
}

pub fn decoder(_ctx: &DecodeContext) -> Result<Box<dyn AdapterDecoder>> {
    Ok(Box::new(UnsupportedDecoder(AdapterKind::S3)))
}
