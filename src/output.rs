//! What people see: whether stdout and stderr get color, how much a
//! command says (`-q`/`-v`), and the styles tables and status words use.
//!
//! The color decision is made once per process by the CLI ([`set_color`])
//! and read by every renderer: miette diagnostics, indicatif bars, run and
//! verify tables. Without a call, `auto` applies.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};

use anstyle::{AnsiColor, Style};
use clap::{Args, ValueEnum};

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    /// Color on a terminal, unless NO_COLOR is set; CLICOLOR_FORCE forces it.
    #[default]
    Auto,
    /// Always color, even into a pipe or a file.
    Always,
    /// Never color.
    Never,
}

impl ColorChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            ColorChoice::Auto => "auto",
            ColorChoice::Always => "always",
            ColorChoice::Never => "never",
        }
    }
}

/// How much a command prints on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    /// Errors and the final summary only.
    Quiet,
    #[default]
    Normal,
    /// Also the effective settings and a line per job phase.
    Verbose,
}

/// The output flags shared by `run`, `validate` and `verify`.
#[derive(Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// When to use color: auto (on a terminal, unless NO_COLOR is set or
    /// CLICOLOR_FORCE forces it), always or never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print only errors and the final summary.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print the effective settings and per-phase lines.
    #[arg(short, long)]
    pub verbose: bool,
}

impl OutputArgs {
    pub fn verbosity(&self) -> Verbosity {
        if self.quiet {
            Verbosity::Quiet
        } else if self.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }

    /// Apply `--color` to the whole process.
    pub fn apply(&self) {
        set_color(self.color);
    }
}

/// Which standard stream a text is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

const UNSET: u8 = 0;
const NO: u8 = 1;
const YES: u8 = 2;

/// The decision per stream (index 0: stdout, 1: stderr), made on first use.
static COLOR: [AtomicU8; 2] = [AtomicU8::new(UNSET), AtomicU8::new(UNSET)];

fn slot(s: Stream) -> &'static AtomicU8 {
    &COLOR[match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }]
}

/// Decide color for both streams from `choice`, the environment and
/// whether each is a terminal, and tell indicatif's styling layer.
pub fn set_color(choice: ColorChoice) {
    let env = |k: &str| std::env::var_os(k);
    for (s, tty) in [
        (Stream::Stdout, std::io::stdout().is_terminal()),
        (Stream::Stderr, std::io::stderr().is_terminal()),
    ] {
        let on = decide(choice, env, tty);
        slot(s).store(if on { YES } else { NO }, Ordering::Relaxed);
    }
    console::set_colors_enabled(color(Stream::Stdout));
    console::set_colors_enabled_stderr(color(Stream::Stderr));
}

/// Whether text for `s` gets color (`auto` when [`set_color`] was never
/// called).
pub fn color(s: Stream) -> bool {
    match slot(s).load(Ordering::Relaxed) {
        YES => true,
        NO => false,
        _ => {
            let tty = match s {
                Stream::Stdout => std::io::stdout().is_terminal(),
                Stream::Stderr => std::io::stderr().is_terminal(),
            };
            decide(ColorChoice::Auto, |k| std::env::var_os(k), tty)
        }
    }
}

fn set(var: Option<OsString>) -> bool {
    var.is_some_and(|v| !v.is_empty())
}

/// The rules, in order: the flag when it is `always` or `never`; a
/// non-empty `NO_COLOR` turns color off (no-color.org); a `CLICOLOR_FORCE`
/// other than `0` turns it on even into a pipe; `TERM=dumb` turns it off;
/// else color exactly on a terminal.
pub fn decide(choice: ColorChoice, env: impl Fn(&str) -> Option<OsString>, tty: bool) -> bool {
    match choice {
        ColorChoice::Always => return true,
        ColorChoice::Never => return false,
        ColorChoice::Auto => {}
    }
    if set(env("NO_COLOR")) {
        return false;
    }
    if env("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    if env("TERM").is_some_and(|v| v == "dumb") {
        return false;
    }
    tty
}

/// The styles of status words and headings.
pub mod style {
    use super::*;

    pub const OK: Style = AnsiColor::Green.on_default();
    pub const WARN: Style = AnsiColor::Yellow.on_default();
    pub const ERROR: Style = AnsiColor::Red.on_default().bold();
    pub const DIM: Style = Style::new().dimmed();
    pub const HEADING: Style = Style::new().bold();
}

/// `text` in `style` when `s` gets color, else as it is.
pub fn paint(s: Stream, style: Style, text: &str) -> String {
    if color(s) && !text.is_empty() {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn flag_wins_over_environment_and_terminal() {
        let e = env(&[("NO_COLOR", "1")]);
        assert!(decide(ColorChoice::Always, &e, false));
        let e = env(&[("CLICOLOR_FORCE", "1")]);
        assert!(!decide(ColorChoice::Never, &e, true));
    }

    #[test]
    fn auto_follows_no_color_then_clicolor_force_then_the_terminal() {
        assert!(decide(ColorChoice::Auto, env(&[]), true));
        assert!(!decide(ColorChoice::Auto, env(&[]), false));
        assert!(!decide(ColorChoice::Auto, env(&[("NO_COLOR", "1")]), true));
        // An empty NO_COLOR does not count (no-color.org).
        assert!(decide(ColorChoice::Auto, env(&[("NO_COLOR", "")]), true));
        assert!(decide(
            ColorChoice::Auto,
            env(&[("CLICOLOR_FORCE", "1")]),
            false
        ));
        assert!(!decide(
            ColorChoice::Auto,
            env(&[("CLICOLOR_FORCE", "0")]),
            false
        ));
        assert!(!decide(
            ColorChoice::Auto,
            env(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]),
            false
        ));
        assert!(!decide(ColorChoice::Auto, env(&[("TERM", "dumb")]), true));
    }

    /// The text with every `ESC [ ... m` sequence removed.
    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c == '\u{1b}' {
                for d in it.by_ref() {
                    if d == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn painting_adds_no_visible_text() {
        for s in [Stream::Stdout, Stream::Stderr] {
            assert_eq!(strip(&paint(s, style::OK, "ok")), "ok");
            assert_eq!(strip(&paint(s, style::ERROR, "x")), "x");
        }
    }
}
