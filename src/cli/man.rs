//! `ekvplan man`: man pages from the clap command (clap_mangen), with the
//! exit status and environment sections the generator does not write.

use std::path::PathBuf;

use clap::{Args, Command};
use clap_mangen::Man;

use super::help::{ENV_VARS, EXIT_CODES, Entry};
use crate::error::exit;
use crate::machine::dest::Dest;

#[derive(Args, Debug)]
pub struct ManArgs {
    /// The page of this subcommand (`run`, `archive pack`, ...) instead
    /// of ekvplan(1).
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Vec<String>,
    /// Write every page (ekvplan.1, ekvplan-run.1, ...) into DIR instead
    /// of printing one; DIR is created if missing.
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
}

pub fn man_main(a: ManArgs) -> i32 {
    let mut root = super::help::documented_command().disable_help_subcommand(true);
    root.build();
    if let Some(dir) = a.dir {
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("ekvplan: error: create {}: {e}", dir.display());
            return exit::USAGE_OR_IO;
        }
        for (name, page) in all_pages(&root) {
            let d = Dest::parse(&dir.join(format!("{name}.1")));
            if let Err(e) = d.write(&page) {
                eprintln!("ekvplan: error: {e}");
                return e.exit_code();
            }
        }
        return exit::OK;
    }
    let mut cmd = &root;
    for word in &a.command {
        match visible(cmd).find(|s| s.get_name() == word) {
            Some(s) => cmd = s,
            None => {
                eprintln!(
                    "ekvplan: error: no command {:?} (one of: {})",
                    a.command.join(" "),
                    visible(cmd)
                        .map(Command::get_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return exit::USAGE_OR_IO;
            }
        }
    }
    match Dest::Stdout.write(&page(cmd, &root)) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("ekvplan: error: {e}");
            e.exit_code()
        }
    }
}

fn visible(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// Every page of a built command, by file name stem.
pub fn all_pages(root: &Command) -> Vec<(String, Vec<u8>)> {
    fn walk(cmd: &Command, root: &Command, out: &mut Vec<(String, Vec<u8>)>) {
        out.push((page_name(cmd), page(cmd, root)));
        for s in visible(cmd) {
            walk(s, root, out);
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

fn page_name(cmd: &Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string()
}

/// One page: clap_mangen's sections, then exit status, environment and
/// the related pages.
pub fn page(cmd: &Command, root: &Command) -> Vec<u8> {
    let man = Man::new(cmd.clone())
        .manual("ekvplan manual")
        .source(format!("ekvplan {}", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        let _ = man.render_options_section(&mut out);
    }
    if visible(cmd).next().is_some() {
        let _ = man.render_subcommands_section(&mut out);
    }
    out.extend(entries("EXIT STATUS", EXIT_CODES).bytes());
    out.extend(entries("ENVIRONMENT", ENV_VARS).bytes());
    let mut related: Vec<String> = Vec::new();
    if !std::ptr::eq(cmd, root) {
        related.push(page_name(root));
    }
    related.extend(visible(cmd).map(page_name));
    if !related.is_empty() {
        let refs: Vec<String> = related
            .iter()
            .map(|n| format!("\\fB{}\\fR(1)", escape(n)))
            .collect();
        out.extend(format!(".SH \"SEE ALSO\"\n{}\n", refs.join(", ")).bytes());
    }
    if cmd.get_version().is_some() {
        let _ = man.render_version_section(&mut out);
    }
    out
}

fn entries(heading: &str, list: &[Entry]) -> String {
    let mut s = format!(".SH \"{heading}\"\n");
    for (k, v) in list {
        s.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", escape(k), text(v)));
    }
    s
}

/// Roff-escape a word.
fn escape(s: &str) -> String {
    s.replace('\\', "\\e").replace('-', "\\-")
}

/// Roff-escape running text (no line may start with a control character).
fn text(s: &str) -> String {
    s.lines()
        .map(|l| {
            let l = escape(l);
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_command_has_a_page_with_exit_status_and_environment() {
        let mut root = super::super::help::documented_command().disable_help_subcommand(true);
        root.build();
        let pages = all_pages(&root);
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "ekvplan",
            "ekvplan-run",
            "ekvplan-encode",
            "ekvplan-completions",
        ] {
            assert!(names.contains(&want), "{names:?}");
        }
        assert!(
            !names.iter().any(|n| n.contains("complete-jobs")),
            "{names:?}"
        );
        for (name, p) in &pages {
            let p = String::from_utf8_lossy(p);
            assert!(p.contains(".SH \"EXIT STATUS\""), "{name}");
            assert!(p.contains("JOB_COMPLETION_INDEX"), "{name}");
        }
        let encode = &pages.iter().find(|(n, _)| n == "ekvplan-encode").unwrap().1;
        let encode = String::from_utf8_lossy(encode);
        assert!(encode.contains("last\\-commit\\-ts"), "{encode}");
    }
}
