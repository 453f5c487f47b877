//! Internals that the integration tests, the benchmarks and the fuzz
//! targets exercise directly, in one place. Not part of the public API: no
//! stability promise, hidden from the documentation. What a test can check
//! through the public API it checks there.

use std::path::PathBuf;

pub use crate::adapter::{
    AdapterDecoder, DecodeContext, EncodeContext, EntrySink, ScopeExclusions,
    encode as encode_adapter, routes,
};
pub use crate::cancel::signals::GRACE as SIGNAL_GRACE;
pub use crate::cli::{Cli, Command, decode_request_from_args, encode_job_from_args};
pub use crate::decode::{decode_into, decode_stream, route};
pub use crate::executor::{HOLD_PHASE_ENV, TestHold};
pub use crate::job::{run_encode_simple, sidecar_path};
pub use crate::sorter::EntrySorter;
pub use crate::tree::{checksums, filename, keymap};

use crate::job::EncodeJob;
use crate::plan::{Report, ResolvedJob, ValidatedPlan};

/// The `.fsm` stream's framing below [`crate::FsmReader`].
pub mod fsm {
    pub use crate::fsm::{CrcFooterReader, HashingWriter, read_runtime_header};
}

/// `MANIFEST.json`'s constants and parts.
pub mod manifest {
    pub use crate::manifest::{FILE_NAME, LAYOUT_JSONL, Scope, now_rfc3339_nano};
}

/// The `.tar`/`.tar.zst` archives of dump trees and their Go-compatible
/// tar headers.
pub mod archive {
    pub use crate::archive::input::{content_digest, peek_manifest, stage, subtrees};
    pub use crate::archive::{Compression, Limits, goheader, pack_tree, unpack_to_dir};
}

/// The DynamoDB adapter's protobuf messages, keys, numbers and JSON forms.
pub mod dynamodb {
    pub use crate::adapter::dynamodb::{keys, number, proto, public};
}

/// The S3 adapter's keys and decoder.
pub mod s3 {
    pub use crate::adapter::s3::decode::S3Decoder;
    pub use crate::adapter::s3::keys;
}

/// The SQS adapter's keys and message model.
pub mod sqs {
    pub use crate::adapter::sqs::keys;
    pub use crate::adapter::sqs::model::{Message, QueueMeta};
}

/// The Go-compatible JSON layer, and two structs with every kind of field
/// for fuzzing its unmarshal.
pub mod gojson {
    pub use crate::gojson::*;

    crate::go_struct! {
        #[derive(Debug, Default)]
        pub struct SampleInner as "fuzz.inner" {
            pub name: String,
            pub n: u32,
            pub raw: RawMessage,
        }
    }

    crate::go_struct! {
        #[derive(Debug, Default)]
        pub struct SampleOuter as "fuzz.outer" {
            pub ts: u64,
            pub s: String,
            pub ptr: Option<SampleInner>,
            pub list: GoSlice<SampleInner>,
            pub map: GoMap<String>,
            pub bytes: GoBytes,
            pub f: f64,
            pub any: Value,
        }
    }
}

/// A plan job without a TOML file. With [`validated_plan`] the only place
/// outside `src/plan/` that builds these types, so a change to their fields
/// is absorbed here.
pub fn resolved_job(id: impl Into<String>, job: EncodeJob) -> ResolvedJob {
    ResolvedJob::new(id, job)
}

/// A plan of `jobs`, as if read from `path` and found valid.
pub fn validated_plan(path: impl Into<PathBuf>, jobs: Vec<ResolvedJob>) -> ValidatedPlan {
    let path = path.into();
    ValidatedPlan {
        report: Report {
            path: path.clone(),
            source: String::new(),
            diagnostics: Vec::new(),
        },
        path,
        jobs,
    }
}
