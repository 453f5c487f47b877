//! Help for `encode` and `decode`, whose flags are parsed with Go's `flag`
//! syntax (as the upstream tools parse theirs), not clap's: the text
//! `-h` prints, and the same flags as clap arguments so completions and
//! man pages can describe them.

use clap::{Arg, ArgAction, Command, ValueHint};

use super::help;
use crate::budget::DEFAULT_MEMORY_BUDGET_STR;

/// One flag, for people.
#[derive(Debug, Clone, Copy)]
pub struct FlagDoc {
    pub name: &'static str,
    /// The value's placeholder; `None` for a boolean.
    pub value: Option<&'static str>,
    pub help: &'static str,
    pub default: Option<&'static str>,
    /// The values it accepts, when they are a fixed list.
    pub values: &'static [&'static str],
    pub hint: ValueHint,
}

const fn value(
    name: &'static str,
    value: &'static str,
    hint: ValueHint,
    help: &'static str,
) -> FlagDoc {
    FlagDoc {
        name,
        value: Some(value),
        help,
        default: None,
        values: &[],
        hint,
    }
}

const fn boolean(name: &'static str, help: &'static str) -> FlagDoc {
    FlagDoc {
        name,
        value: None,
        help,
        default: None,
        values: &[],
        hint: ValueHint::Unknown,
    }
}

const fn with_default(mut d: FlagDoc, default: &'static str) -> FlagDoc {
    d.default = Some(default);
    d
}

const fn one_of(mut d: FlagDoc, values: &'static [&'static str]) -> FlagDoc {
    d.values = values;
    d
}

const ADAPTERS: &str = "dynamodb,s3,redis,sqs";

/// Shared by encode and decode, which sort the same way.
const MEMORY_BUDGET: FlagDoc = with_default(
    value(
        "memory-budget",
        "SIZE",
        ValueHint::Other,
        "Memory for sorting before it spills to disk (512MiB, 2GiB, ...).",
    ),
    DEFAULT_MEMORY_BUDGET_STR,
);

pub const ENCODE: &[FlagDoc] = &[
    value(
        "input",
        "DIR",
        ValueHint::DirPath,
        "The dump tree to encode (the directory holding MANIFEST.json). Required.",
    ),
    value(
        "output",
        "FILE",
        ValueHint::FilePath,
        "The .fsm to write; it appears only once complete. Required.",
    ),
    with_default(
        value(
            "adapter",
            "LIST",
            ValueHint::Other,
            "Comma-separated adapters to encode (dynamodb, s3, redis, sqs).",
        ),
        ADAPTERS,
    ),
    value(
        "last-commit-ts",
        "TS",
        ValueHint::Other,
        "Stamp this commit timestamp (decimal or 0x hex) instead of the manifest's last_commit_ts.",
    ),
    boolean(
        "self-test",
        "Decode the new .fsm again and compare it with the input before publishing it.",
    ),
    value(
        "scratch-root",
        "DIR",
        ValueHint::DirPath,
        "Where the self-test's scratch tree goes [default: the system temp directory, TMPDIR].",
    ),
    MEMORY_BUDGET,
];

pub const DECODE: &[FlagDoc] = &[
    value(
        "input",
        "FILE",
        ValueHint::FilePath,
        "The .fsm to decode (or a node's fsm-snap/<n>.fsm). Required.",
    ),
    value(
        "output",
        "DIR",
        ValueHint::DirPath,
        "The dump tree to write; it must be missing or empty unless -force. Required.",
    ),
    with_default(
        value(
            "adapter",
            "LIST",
            ValueHint::Other,
            "Comma-separated adapters to decode (dynamodb, s3, redis, sqs).",
        ),
        ADAPTERS,
    ),
    with_default(
        one_of(
            value(
                "dynamodb-bundle-mode",
                "MODE",
                ValueHint::Other,
                "DynamoDB items one file each (per-item) or packed in bundles (jsonl).",
            ),
            &["per-item", "jsonl"],
        ),
        "per-item",
    ),
    value(
        "cluster-id",
        "ID",
        ValueHint::Other,
        "The cluster id to record in MANIFEST.json.",
    ),
    boolean(
        "include-incomplete-uploads",
        "Also write S3 multipart uploads that never completed (_incomplete_uploads/).",
    ),
    boolean(
        "include-orphans",
        "Also write S3 blob chunks no object refers to (_orphans/).",
    ),
    boolean(
        "preserve-sqs-visibility",
        "Keep SQS messages' visibility state instead of clearing it.",
    ),
    boolean(
        "include-sqs-side-records",
        "Also write SQS side records (_internals/side_records.jsonl).",
    ),
    boolean(
        "rename-collisions",
        "Rename S3 object keys that collide on disk instead of failing.",
    ),
    boolean(
        "force",
        "Replace a non-empty output directory (the old tree is removed only after the new one is in place).",
    ),
    MEMORY_BUDGET,
    with_default(
        value(
            "dynamodb-bundle-size",
            "SIZE",
            ValueHint::Other,
            "With -dynamodb-bundle-mode jsonl: the most bytes per bundle file.",
        ),
        "64MiB",
    ),
];

const SYNTAX: &str = "Flags use Go's flag syntax, as the upstream tools do: -name value, \
-name=value or --name value; a boolean is -name or -name=false. Parsing stops at the \
first argument that is not a flag.";

/// What `ekvplan encode -h` prints (to stderr, as upstream prints its
/// usage; the exit status is 1, as upstream's).
pub fn help_text(command: &str, about: &str, usage: &str, flags: &[FlagDoc]) -> String {
    let mut s = format!(
        "{about}\n\n{}\n\n{SYNTAX}\n\nFlags:\n",
        usage.replacen("usage:", "Usage:", 1)
    );
    for f in flags {
        let head = match f.value {
            Some(v) => format!("-{} {v}", f.name),
            None => format!("-{}", f.name),
        };
        s.push_str(&format!("  {head}\n      {}", f.help));
        if !f.values.is_empty() {
            s.push_str(&format!(" [one of: {}]", f.values.join(", ")));
        }
        if let Some(d) = f.default {
            s.push_str(&format!(" [default: {d}]"));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "  -h, -help\n      Print this help (exit status 1, as for upstream's {command}).\n\n"
    ));
    s.push_str(&help::EXIT_STATUS);
    s.push_str("\n\n");
    s.push_str(&help::ENVIRONMENT);
    s.push('\n');
    s
}

/// The flags as clap arguments (`--name`, which Go's syntax accepts too),
/// for completion scripts and man pages only: parsing stays Go's.
pub fn clap_args(flags: &[FlagDoc]) -> Vec<Arg> {
    flags
        .iter()
        .map(|f| {
            let mut help = f.help.to_string();
            if let Some(d) = f.default {
                help.push_str(&format!(" [default: {d}]"));
            }
            let a = Arg::new(f.name).long(f.name).help(help);
            match f.value {
                None => a.action(ArgAction::SetTrue),
                Some(v) => {
                    let a = a.value_name(v).value_hint(f.hint);
                    if f.values.is_empty() {
                        a
                    } else {
                        a.value_parser(f.values.to_vec())
                    }
                }
            }
        })
        .collect()
}

/// `cmd` (a Go-flag subcommand) with its flags described as clap
/// arguments, its catch-all argument hidden, and the syntax explained.
pub fn documented(cmd: Command, about: &str, flags: &[FlagDoc]) -> Command {
    cmd.mut_arg("args", |a| a.hide(true))
        .args(clap_args(flags))
        .long_about(format!(
            "{about}\n\n{SYNTAX} -h prints the flags and exits with status 1, as upstream does."
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{DECODE_FLAGS, ENCODE_FLAGS};
    use crate::gojson::flag::FlagSpec;

    fn same(docs: &[FlagDoc], specs: &[FlagSpec]) {
        let d: Vec<(&str, bool)> = docs.iter().map(|f| (f.name, f.value.is_none())).collect();
        let s: Vec<(&str, bool)> = specs.iter().map(|f| (f.name, f.boolean)).collect();
        assert_eq!(d, s);
    }

    #[test]
    fn every_parsed_flag_is_documented_and_nothing_else() {
        same(ENCODE, ENCODE_FLAGS);
        same(DECODE, DECODE_FLAGS);
    }

    #[test]
    fn help_lists_flags_defaults_exit_status_and_environment() {
        let h = help_text("x", "About.", "usage: ekvplan decode -input FILE", DECODE);
        assert!(h.contains("Usage: ekvplan decode -input FILE"), "{h}");
        assert!(h.contains("  -dynamodb-bundle-mode MODE\n"), "{h}");
        assert!(
            h.contains("[one of: per-item, jsonl] [default: per-item]"),
            "{h}"
        );
        assert!(h.contains("  -force\n"), "{h}");
        assert!(h.contains("Exit status:"), "{h}");
        assert!(h.contains("NO_COLOR"), "{h}");
    }
}
