//! What `--help` and the man pages say beyond the flags: the exit status
//! and the environment variables ekvplan reads; and the clap command as
//! parsed and as documented.

use clap::{Command, CommandFactory};

use super::Cli;
use super::goflag_help::{self, DECODE, ENCODE};

/// One exit status or environment variable and what it means.
pub type Entry = (&'static str, &'static str);

pub const EXIT_CODES: &[Entry] = &[
    ("0", "Success."),
    (
        "1",
        "A usage error (bad flags, a plan or file that cannot be read) or an I/O error.",
    ),
    (
        "2",
        "Bad data: an invalid plan, a corrupt or unsupported input, a failed job, a self-test \
         or verify mismatch. When both 1 and 2 apply, 2.",
    ),
    (
        "130",
        "Interrupted (Ctrl-C or SIGTERM); nothing partial is left behind.",
    ),
];

pub const ENV_VARS: &[Entry] = &[
    (
        "NO_COLOR",
        "Set and not empty: no color (with --color auto, the default).",
    ),
    (
        "CLICOLOR_FORCE",
        "Set and not 0: color even into a pipe or file (with --color auto; NO_COLOR wins).",
    ),
    ("TERM", "dumb: no color (with --color auto)."),
    (
        "GITHUB_ACTIONS",
        "true: GitHub Actions annotations and log folds, plain progress lines instead of bars.",
    ),
    (
        "GITHUB_WORKSPACE",
        "Plan paths in GitHub annotations are made relative to it.",
    ),
    (
        "JOB_COMPLETION_INDEX",
        "The 0-based shard index for --shard hash:N (set by Kubernetes Indexed Jobs).",
    ),
    (
        "TMPDIR",
        "Scratch trees and sort spill files, when no scratch_root/--scratch-root is given.",
    ),
];

/// `text` wrapped to `width` columns, every line after the first indented
/// by `indent` spaces.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut col = indent;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 && col + 1 + word.len() > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else if i > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += word.len();
    }
    out
}

const WIDTH: usize = 80;

/// Exit codes: `  code  text`, aligned.
fn codes_section(heading: &str, entries: &[Entry]) -> String {
    let w = entries.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut s = format!("{heading}:");
    for (k, v) in entries {
        s.push_str(&format!("\n  {k:<w$}  {}", wrap(v, w + 4, WIDTH)));
    }
    s
}

/// Variables: the name on its line, the text indented under it (as
/// clap's long help lays out options).
fn vars_section(heading: &str, entries: &[Entry]) -> String {
    let mut s = format!("{heading}:");
    for (k, v) in entries {
        s.push_str(&format!("\n  {k}\n          {}", wrap(v, 10, WIDTH)));
    }
    s
}

pub static EXIT_STATUS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| codes_section("Exit status", EXIT_CODES));

pub static ENVIRONMENT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| vars_section("Environment", ENV_VARS));

/// The footer of `-h`: short, pointing at `--help`.
const SHORT_FOOTER: &str = "Exit status: 0 success, 1 usage or I/O error, 2 bad data, \
130 interrupted. Environment variables and details: --help.";

fn long_footer() -> String {
    format!("{}\n\n{}", *EXIT_STATUS, *ENVIRONMENT)
}

/// Every command and subcommand, recursively, gets the footers, and each
/// subcommand goes through `adjust`. (Every subcommand is taken out and
/// put back in turn, which keeps their order.)
fn decorate(cmd: Command, long: &str, adjust: &dyn Fn(Command) -> Command) -> Command {
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut cmd = cmd
        .after_help(SHORT_FOOTER)
        .after_long_help(long.to_string());
    for name in subs {
        cmd = cmd.mut_subcommand(name, |s| decorate(adjust(s), long, adjust));
    }
    cmd
}

/// The command line ekvplan parses: [`Cli`] with the exit status and
/// environment in every `--help`; `help encode` shows the Go-flag help.
pub fn command() -> Command {
    decorate(Cli::command(), &long_footer(), &|c| match c.get_name() {
        "encode" => c.override_help(goflag_help::help_text(
            "elastickv-snapshot-encode",
            ENCODE_ABOUT,
            super::ENCODE_USAGE,
            ENCODE,
        )),
        "decode" => c.override_help(goflag_help::help_text(
            "elastickv-snapshot-decode",
            DECODE_ABOUT,
            super::DECODE_USAGE,
            DECODE,
        )),
        _ => c,
    })
    .long_about(LONG_ABOUT)
}

pub const ENCODE_ABOUT: &str =
    "Encode one dump tree into an .fsm, flag for flag like elastickv-snapshot-encode.";
pub const DECODE_ABOUT: &str =
    "Decode one .fsm into a dump tree, flag for flag like elastickv-snapshot-decode.";

const LONG_ABOUT: &str = "Re-encode elastickv logical dumps into .fsm snapshots (and back), \
one at a time or many from a plan.

encode and decode do what the upstream elastickv-snapshot-encode and -decode tools do, \
flag for flag and byte for byte. A plan (TOML) lists many dump-to-snapshot jobs: validate \
checks it and every input dump before anything runs, run runs its jobs in parallel with \
resume, reports and sharding, and verify checks the published outputs.";

/// The command as completion scripts and man pages describe it: `encode`
/// and `decode` with their Go flags as (double-dash) arguments.
pub fn documented_command() -> Command {
    decorate(Cli::command(), &long_footer(), &|c| match c.get_name() {
        "encode" => goflag_help::documented(c, ENCODE_ABOUT, ENCODE),
        "decode" => goflag_help::documented(c, DECODE_ABOUT, DECODE),
        _ => c,
    })
    .long_about(LONG_ABOUT)
}

/// clap's own help and usage errors follow `--color` too: the flag is
/// looked for before clap parses (the last one wins, as in clap).
pub fn clap_color(args: impl IntoIterator<Item = std::ffi::OsString>) -> clap::ColorChoice {
    let mut choice = clap::ColorChoice::Auto;
    let mut next_is_value = false;
    for a in args {
        let a = a.to_string_lossy().into_owned();
        let value = if next_is_value {
            next_is_value = false;
            Some(a.as_str())
        } else if a == "--color" {
            next_is_value = true;
            None
        } else if a == "--" {
            break;
        } else {
            a.strip_prefix("--color=")
        };
        match value {
            Some("always") => choice = clap::ColorChoice::Always,
            Some("never") => choice = clap::ColorChoice::Never,
            Some(_) => choice = clap::ColorChoice::Auto,
            None => {}
        }
    }
    choice
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_follows_the_color_flag() {
        let c = |args: &[&str]| clap_color(args.iter().map(std::ffi::OsString::from));
        assert_eq!(
            c(&["ekvplan", "run", "--color", "never"]),
            clap::ColorChoice::Never
        );
        assert_eq!(
            c(&["ekvplan", "run", "--color=always"]),
            clap::ColorChoice::Always
        );
        assert_eq!(c(&["ekvplan", "run", "p.toml"]), clap::ColorChoice::Auto);
        assert_eq!(
            c(&["ekvplan", "run", "--", "--color=never"]),
            clap::ColorChoice::Auto
        );
    }

    #[test]
    fn both_commands_are_consistent() {
        command().debug_assert();
        documented_command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_the_footers() {
        let cmd = command();
        for s in cmd.get_subcommands() {
            let long = s.get_after_long_help().map(|h| h.to_string());
            assert!(
                long.as_deref()
                    .is_some_and(|h| h.contains("JOB_COMPLETION_INDEX")),
                "{}",
                s.get_name()
            );
        }
    }
}
