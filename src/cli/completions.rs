//! `ekvplan completions SHELL`: clap_complete's script for the shell, plus,
//! for bash, zsh and fish, a hook that completes `--only` with the job ids
//! of the plan on the command line.
//!
//! The hook is a hidden subcommand, `ekvplan __complete-jobs --current
//! WORD -- WORDS...`: the scripts pass the value being completed and the
//! whole command line; it finds the plan after `run` or `verify`, expands
//! it, and prints the candidates, one per line. The
//! static part stays clap_complete's stable output; only the `--only`
//! value is dynamic, so a plan that cannot be read just completes nothing.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Command, Parser};
use clap_complete::Shell;

use crate::error::exit;

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `ekvplan __complete-jobs [--current WORD] [--] WORDS...`.
#[derive(Parser, Debug)]
#[command(name = "__complete-jobs")]
pub struct CompleteJobsArgs {
    /// The word being completed (a comma-separated list may be under way).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub current: String,
    /// The command line, from the program name on, the word being
    /// completed included.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub words: Vec<OsString>,
}

pub const HOOK: &str = "__complete-jobs";

/// The subcommands whose `--only` takes the plan's job ids.
const WITH_ONLY: &[&str] = &["run", "verify"];

pub fn completions_main(a: CompletionsArgs) -> i32 {
    let script = script(a.shell);
    let mut out = std::io::stdout().lock();
    match out.write_all(script.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => exit::OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
        Err(e) => {
            eprintln!("ekvplan: error: write stdout: {e}");
            exit::USAGE_OR_IO
        }
    }
}

/// The whole completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let generated = generated(shell);
    match shell {
        Shell::Bash => format!("{generated}\n{BASH_HOOK}"),
        Shell::Zsh => zsh_with_hook(&generated),
        Shell::Fish => format!("{generated}\n{FISH_HOOK}"),
        _ => generated,
    }
}

/// clap_complete's part.
fn generated(shell: Shell) -> String {
    let mut cmd = super::help::documented_command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ekvplan", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// bash: a wrapper around clap_complete's `_ekvplan` that answers for the
/// value of `--only` and leaves everything else to it. bash splits words
/// at `=` and `:` (both allowed in job ids), so the wrapper reads the raw
/// line and hands bash back only the part after its own word break.
const BASH_HOOK: &str = r#"# Job ids for --only, read from the plan on the command line.
_ekvplan_with_jobs() {
    local line=${COMP_LINE:0:COMP_POINT}
    local tok=${line##*[[:space:]]}
    local word=$tok
    local rest=${line%"$tok"}
    local trimmed=${rest%"${rest##*[![:space:]]}"}
    local prevtok=${trimmed##*[[:space:]]}
    if [[ $tok == --only=* ]]; then
        tok=${tok#--only=}
    elif [[ $prevtok != --only ]]; then
        _ekvplan "$@"
        return
    fi
    local -a before after
    read -ra before <<< "$rest"
    read -ra after <<< "${COMP_LINE:COMP_POINT}"
    local cur=${COMP_WORDS[COMP_CWORD]}
    [[ $cur == "=" || $cur == ":" ]] && cur=""
    local keep=${tok%"$cur"}
    local c
    COMPREPLY=()
    while IFS= read -r c; do
        [[ -n $c ]] && COMPREPLY+=("${c#"$keep"}")
    done < <("${before[0]}" __complete-jobs --current "$tok" -- "${before[@]}" "$word" "${after[@]}" 2>/dev/null)
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *, ]]; then
        compopt -o nospace 2>/dev/null
    fi
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _ekvplan_with_jobs -o nosort -o bashdefault -o default ekvplan
else
    complete -F _ekvplan_with_jobs -o bashdefault -o default ekvplan
fi
"#;

/// zsh: `--only`'s value is completed by `_ekvplan_job_ids` instead of
/// clap_complete's default (files).
fn zsh_with_hook(generated: &str) -> String {
    let from = ":JOB_IDS:_default'";
    let to = ":JOB_IDS:_ekvplan_job_ids'";
    let patched = generated.replace(from, to);
    // The function must exist before the generated dispatch at the end
    // of the script runs.
    match patched.find("\n(( $+functions[_ekvplan_commands] ))") {
        Some(at) => format!("{}\n{ZSH_HOOK}{}", &patched[..at], &patched[at..]),
        None => format!("{ZSH_HOOK}\n{patched}"),
    }
}

const ZSH_HOOK: &str = r#"(( $+functions[_ekvplan_job_ids] )) ||
_ekvplan_job_ids() {
    local -a ids
    ids=("${(@f)$(ekvplan __complete-jobs --current "$PREFIX" -- ekvplan "${(@)words}" 2>/dev/null)}")
    ids=(${ids:#})
    (( ${#ids} )) || return 1
    compadd -Q -S '' -- "${ids[@]}"
}
"#;

/// fish: the values of `--only` after `run` and `verify`.
const FISH_HOOK: &str = r#"# Job ids for --only, read from the plan on the command line.
function __ekvplan_job_ids
    set -l tok (string replace -r -- '^--only=' '' (commandline -ct))
    ekvplan __complete-jobs --current "$tok" -- (commandline -op) 2>/dev/null
end
complete -c ekvplan -n "__fish_ekvplan_using_subcommand run" -l only -x -a "(__ekvplan_job_ids)"
complete -c ekvplan -n "__fish_ekvplan_using_subcommand verify" -l only -x -a "(__ekvplan_job_ids)"
"#;

/// `__complete-jobs`: the candidates, one per line. Never fails loudly:
/// completion must not print errors into the user's prompt.
pub fn complete_jobs_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let Ok(a) = CompleteJobsArgs::try_parse_from(args) else {
        return exit::USAGE_OR_IO;
    };
    let words: Vec<String> = a
        .words
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let Some(plan) = plan_on_line(&super::help::documented_command(), &words) else {
        return exit::OK;
    };
    let Ok((_, jobs)) = crate::plan::validate(&plan, &crate::plan::ValidateOptions::default())
    else {
        return exit::OK;
    };
    let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    let mut out = std::io::stdout().lock();
    for c in candidates(&ids, &a.current) {
        if writeln!(out, "{c}").is_err() {
            break;
        }
    }
    exit::OK
}

/// The plan (or verify target ending in `.toml`) named on a command line:
/// the first positional argument after `run` or `verify`, skipping the
/// options and their values. Never standard input.
pub fn plan_on_line(cmd: &Command, words: &[String]) -> Option<PathBuf> {
    let at = words.iter().position(|w| WITH_ONLY.contains(&w.as_str()))?;
    let sub = cmd.find_subcommand(&words[at])?;
    let takes_value = |w: &str| option_takes_value(sub, w).unwrap_or(false);
    let mut rest = words[at + 1..].iter().map(String::as_str).peekable();
    while let Some(w) = rest.next() {
        if w == "--" {
            let p = rest.next()?;
            return usable(p);
        }
        // bash may split `--flag=value` at `=` (and `:`).
        if w == "=" || w == ":" {
            continue;
        }
        if w.starts_with('-') && w != crate::plan::STDIN_PATH {
            if !w.contains('=') && takes_value(w) {
                if rest.peek() == Some(&"=") {
                    rest.next();
                }
                rest.next();
            }
            continue;
        }
        return usable(w);
    }
    None
}

/// Whether the option `w` (`--name` or `-c`) of `sub` takes a value.
fn option_takes_value(sub: &Command, w: &str) -> Option<bool> {
    let arg = if let Some(long) = w.strip_prefix("--") {
        sub.get_arguments().find(|a| a.get_long() == Some(long))
    } else {
        let c = w.strip_prefix('-')?.chars().next()?;
        // `-j4` carries its value.
        if w.chars().count() > 2 {
            return Some(false);
        }
        sub.get_arguments().find(|a| a.get_short() == Some(c))
    };
    Some(arg?.get_action().takes_values())
}

fn usable(p: &str) -> Option<PathBuf> {
    if p == crate::plan::STDIN_PATH {
        return None;
    }
    let path = match p.strip_prefix("~/") {
        Some(tail) => PathBuf::from(std::env::var_os("HOME")?).join(tail),
        None => PathBuf::from(p),
    };
    path.is_file().then_some(path)
}

/// The ids that complete `current`, a comma-separated list whose last
/// item is being typed: each candidate is the list so far plus one id not
/// yet in it.
pub fn candidates(ids: &[&str], current: &str) -> Vec<String> {
    let (done, partial) = match current.rfind(',') {
        Some(i) => (&current[..=i], &current[i + 1..]),
        None => ("", current),
    };
    let chosen: Vec<&str> = done.split(',').filter(|s| !s.is_empty()).collect();
    ids.iter()
        .filter(|id| id.starts_with(partial) && !chosen.contains(id))
        .map(|id| format!("{done}{id}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn candidates_extend_a_comma_list() {
        let ids = ["a1", "a2", "b:1"];
        assert_eq!(candidates(&ids, ""), ["a1", "a2", "b:1"]);
        assert_eq!(candidates(&ids, "a"), ["a1", "a2"]);
        assert_eq!(candidates(&ids, "a1,"), ["a1,a2", "a1,b:1"]);
        assert_eq!(candidates(&ids, "a1,b"), ["a1,b:1"]);
        assert!(candidates(&ids, "z").is_empty());
    }

    #[test]
    fn the_plan_is_the_first_positional_after_the_subcommand() {
        let cmd = super::super::help::documented_command();
        let plan = "Cargo.toml"; // any file that exists
        for line in [
            format!("ekvplan run {plan} --only"),
            format!("ekvplan run -j 4 --memory-budget 1GiB {plan} --only"),
            format!("ekvplan run --only a --only = b -j4 {plan}"),
            format!("ekvplan run --shard=hash:1/2 -- {plan}"),
            format!("run --color never {plan}"),
            format!("ekvplan verify --deep {plan} --only"),
        ] {
            assert_eq!(
                plan_on_line(&cmd, &words(&line)),
                Some(PathBuf::from(plan)),
                "{line}"
            );
        }
        for line in [
            "ekvplan run --only",
            "ekvplan run - --only",
            "ekvplan validate Cargo.toml",
            "ekvplan run missing.toml --only",
        ] {
            assert_eq!(plan_on_line(&cmd, &words(line)), None, "{line}");
        }
    }

    #[test]
    fn scripts_carry_the_hook() {
        assert!(script(Shell::Bash).contains("_ekvplan_with_jobs"));
        let z = script(Shell::Zsh);
        assert!(
            z.contains(":JOB_IDS:_ekvplan_job_ids'"),
            "zsh hook not wired"
        );
        assert!(!z.contains(":JOB_IDS:_default'"));
        assert!(script(Shell::Fish).contains("__ekvplan_job_ids"));
        // The hook itself is never offered.
        for sh in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            assert!(!generated(sh).contains(HOOK), "{sh}");
        }
    }
}
