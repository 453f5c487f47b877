//! The plan's data model. These types are the single source of the JSON
//! Schema (`schemars`) and of the typed values read after the schema check
//! (`serde`, from the JSON form of the TOML document).
//!
//! Unknown keys are rejected by the schema (`additionalProperties: false`),
//! not by serde: entries are deserialized one at a time only once the schema
//! found nothing wrong inside them, so every problem is reported with its span.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The only plan format version this build reads.
pub const PLAN_VERSION: u64 = 1;

/// Characters allowed in a job id (after the first, which must be
/// alphanumeric): ids are used in `--only`, shard hashing, reports and file
/// names, so no spaces, commas or slashes.
pub const ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._:@+=-]*$";
pub const ID_MAX_LEN: usize = 128;

/// `last_commit_ts` as a string: decimal or `0x` hex, no sign, no `_`.
pub const COMMIT_TS_PATTERN: &str = "^\\s*(0[xX][0-9a-fA-F]+|[0-9]+)\\s*$";

/// An ekvplan plan: encode jobs that turn elastickv logical dumps into .fsm
/// snapshots. Relative paths resolve against the plan file's directory.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(title = "ekvplan plan", deny_unknown_fields)]
pub struct PlanFile {
    /// Plan format version. Must be 1.
    #[schemars(schema_with = "version_schema")]
    pub version: u64,
    /// Settings every job and batch inherits unless it sets its own.
    #[serde(default)]
    pub defaults: Option<Defaults>,
    /// Single encode jobs, one `[[job]]` table each.
    #[serde(default, rename = "job")]
    #[schemars(extend("default" = []))]
    pub jobs: Vec<JobEntry>,
    /// Globs of input dumps, each match expanded into one job.
    #[serde(default, rename = "batch")]
    #[schemars(extend("default" = []))]
    pub batches: Vec<BatchEntry>,
}

/// Settings a job, a batch or `[defaults]` may set.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct CommonSettings {
    /// Adapters to encode: "all" (all four, each of which the manifest must
    /// list), "manifest" (exactly those the input's manifest lists), or a
    /// list drawn from redis, dynamodb, s3, sqs. Default: "all".
    #[serde(default)]
    pub adapters: Option<AdapterSelection>,
    /// How the input is stored: "dir" (a dump tree), "tar", "tar.zst" or
    /// "tar.zstd" (a dump archive made by `ekvplan archive pack` or
    /// upstream's elastickv-snapshot-archive). Default: by the input's name:
    /// .tar, .tar.zst and .tar.zstd are archives, anything else a directory.
    #[serde(default)]
    pub input_format: Option<InputFormatName>,
    /// Override of the manifest's last_commit_ts (the HLC timestamp every
    /// record is stamped with); must not be below the manifest's. An integer,
    /// or a string in decimal or 0x hex for values past 2^63-1. Default: the
    /// manifest's value.
    #[serde(default)]
    pub last_commit_ts: Option<CommitTs>,
    /// Decode the produced .fsm and compare it with the input before
    /// publishing it. Default: false.
    #[serde(default)]
    pub self_test: Option<bool>,
    /// Directory for sort spill files and the self-test scratch tree.
    /// Default: the system temporary directory.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub scratch_root: Option<String>,
    /// Memory for staged entries before sorting spills to disk: bytes as an
    /// integer, or a string such as "512MiB" or "2G". Default: "256MiB".
    #[serde(default)]
    pub memory_budget: Option<ByteSize>,
    /// Scope exclusions: tables, buckets, queues and Redis databases to leave
    /// out of the snapshot. Each list replaces the inherited one.
    #[serde(default)]
    pub exclude: Option<Exclude>,
}

/// `[defaults]`: inherited by every `[[job]]` and `[[batch]]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Defaults {
    /// Default input dump; usually a template such as "dumps/{id}".
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub input: Option<String>,
    /// Default output path; usually a template such as "out/{id}.fsm".
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub output: Option<String>,
    #[serde(flatten)]
    pub common: CommonSettings,
}

/// One `[[job]]`: one dump tree encoded into one .fsm.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct JobEntry {
    /// Unique job id (letters, digits and . _ : @ + = -; starts with a letter
    /// or digit). Used by `run --only`, sharding and reports.
    #[schemars(regex(pattern = ID_PATTERN), length(min = 1, max = 128))]
    pub id: String,
    /// The dump to encode: a directory holding MANIFEST.json, or a dump
    /// archive (.tar, .tar.zst, .tar.zstd). May use the placeholder {id}.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub input: Option<String>,
    /// The .fsm to write. Must be unique across jobs and outside every input
    /// tree. May use the placeholder {id}.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub output: Option<String>,
    #[serde(flatten)]
    pub common: CommonSettings,
}

/// One `[[batch]]`: every dump directory or dump archive matched by
/// `inputs` (minus `skip`) becomes a job, in byte order of its path.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct BatchEntry {
    /// Glob(s) of input dumps, e.g. "dumps/*" (`*`, `?`, `[...]`, `**`; a
    /// leading dot must be matched literally). Directories and files named
    /// *.tar, *.tar.zst or *.tar.zstd match (with `input_format`, only
    /// inputs of that format); other files are ignored.
    pub inputs: Globs,
    /// Glob(s) of matched inputs to leave out.
    #[serde(default)]
    pub skip: Option<Globs>,
    /// Job id template; placeholders {name} (the matched input's name,
    /// without an archive extension) and {parent} (its parent directory's
    /// name). Default: "{name}".
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub id: Option<String>,
    /// Output template, e.g. "out/{name}.fsm"; placeholders {id}, {name},
    /// {parent}.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub output: Option<String>,
    #[serde(flatten)]
    pub common: CommonSettings,
}

/// Per-adapter scope exclusions.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exclude {
    #[serde(default)]
    pub dynamodb: Option<DynamoDbExclude>,
    #[serde(default)]
    pub s3: Option<S3Exclude>,
    #[serde(default)]
    pub sqs: Option<SqsExclude>,
    #[serde(default)]
    pub redis: Option<RedisExclude>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DynamoDbExclude {
    /// DynamoDB table names to leave out (each must exist in the dump).
    #[schemars(inner(length(min = 1)), extend("uniqueItems" = true))]
    pub tables: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Exclude {
    /// S3 bucket names to leave out (each must exist in the dump).
    #[schemars(inner(length(min = 1)), extend("uniqueItems" = true))]
    pub buckets: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqsExclude {
    /// SQS queue names to leave out (each must exist in the dump).
    #[schemars(inner(length(min = 1)), extend("uniqueItems" = true))]
    pub queues: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisExclude {
    /// Redis database numbers to leave out (each must exist as redis/db_N).
    #[schemars(extend("uniqueItems" = true))]
    pub databases: Vec<u32>,
}

/// A plan value TOML may spell in several ways (serde tries the variants
/// in order), with the JSON Schema written out by hand.
macro_rules! either_shape {
    ($(#[$doc:meta])* $name:ident { $($variant:ident($ty:ty)),* $(,)? } schema $schema:tt) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
        #[serde(untagged)]
        pub enum $name {
            $($variant($ty)),*
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

either_shape! {
    /// `"all"`, `"manifest"` or a list of adapter names.
    AdapterSelection { Word(String), List(Vec<String>) }
    schema {
        "description": "\"all\" (all four adapters), \"manifest\" (those the input's manifest lists), or a non-empty list of adapter names.",
        "oneOf": [
            { "type": "string", "enum": ADAPTER_WORDS },
            {
                "type": "array",
                "items": { "type": "string", "enum": ["redis", "dynamodb", "s3", "sqs"] },
                "minItems": 1,
                "uniqueItems": true
            }
        ]
    }
}

/// The words `adapters` accepts besides a list.
pub const ADAPTER_WORDS: [&str; 2] = ["all", "manifest"];

/// `input_format`: one of [`crate::archive::input::InputFormat::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct InputFormatName(pub String);

impl JsonSchema for InputFormatName {
    fn schema_name() -> Cow<'static, str> {
        "InputFormat".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "How the input is stored: \"dir\" (a dump tree), or a dump archive: \"tar\", \"tar.zst\" or \"tar.zstd\" (the same).",
            "type": "string",
            "enum": crate::archive::input::InputFormat::NAMES
        })
    }
}

either_shape! {
    /// A commit timestamp: an integer or a decimal/hex string.
    CommitTs { Int(u64), Str(String) }
    schema {
        "description": "A uint64 HLC timestamp: a TOML integer (up to 2^63-1), or a string in decimal or 0x hex.",
        "oneOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "pattern": COMMIT_TS_PATTERN }
        ]
    }
}

either_shape! {
    /// A byte size: an integer or a string with a unit.
    ByteSize { Int(u64), Str(String) }
    schema {
        "description": "Bytes: a positive integer, or a string such as \"512MiB\" (units B, K/KiB/KB, M/MiB/MB, G/GiB/GB, all binary).",
        "oneOf": [
            { "type": "integer", "minimum": 1 },
            { "type": "string", "pattern": crate::budget::SIZE_PATTERN }
        ]
    }
}

either_shape! {
    /// One glob or a list of globs.
    Globs { One(String), Many(Vec<String>) }
    schema {
        "description": "A glob, or a non-empty list of globs, relative to the plan file's directory.",
        "oneOf": [
            { "type": "string", "minLength": 1 },
            {
                "type": "array",
                "items": { "type": "string", "minLength": 1 },
                "minItems": 1
            }
        ]
    }
}

impl Globs {
    pub fn patterns(&self) -> Vec<&str> {
        match self {
            Globs::One(s) => vec![s.as_str()],
            Globs::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

fn version_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Plan format version. Must be 1.",
        "type": "integer",
        "enum": [PLAN_VERSION]
    })
}

/// Every key each kind of table accepts, for "did you mean" suggestions.
pub const COMMON_KEYS: &[&str] = &[
    "adapters",
    "input_format",
    "last_commit_ts",
    "self_test",
    "scratch_root",
    "memory_budget",
    "exclude",
];
pub const TOP_KEYS: &[&str] = &["version", "defaults", "job", "batch"];
pub const DEFAULTS_KEYS: &[&str] = &["input", "output"];
pub const JOB_KEYS: &[&str] = &["id", "input", "output"];
pub const BATCH_KEYS: &[&str] = &["inputs", "skip", "id", "output"];
pub const EXCLUDE_KEYS: &[&str] = &["dynamodb", "s3", "sqs", "redis"];

/// The list key inside `exclude.<adapter>`.
pub fn exclude_list_key(adapter: &str) -> Option<&'static str> {
    match adapter {
        "dynamodb" => Some("tables"),
        "s3" => Some("buckets"),
        "sqs" => Some("queues"),
        "redis" => Some("databases"),
        _ => None,
    }
}
