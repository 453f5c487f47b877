//! The integration tests: one binary, one module per area (see docs/testing.md).

mod common;

mod archive;
mod cli_conventions;
mod cli_core;
mod conformance;
mod dynamodb_cases;
mod dynamodb_props;
mod dynamodb_roundtrip;
mod init;
mod plan_cli;
mod plan_diagnostics;
mod plan_expand;
mod plan_one_pass;
mod plan_props;
mod plan_schema;
mod run_cli;
mod run_signals;
mod s3_decode;
mod s3_encode;
mod s3_roundtrip;
mod sqs_decode;
mod sqs_errors;
mod sqs_roundtrip;
mod upstream_fixtures;
