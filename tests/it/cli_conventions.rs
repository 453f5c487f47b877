//! The conventions users bring from other CLIs: shell completions (with
//! job ids for `--only`), man pages, `--color`, `-q`/`-v`, a plan on
//! standard input, several plans per `validate`, conflicting flags
//! rejected, exit codes and environment variables in the help.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::ekvplan;
use crate::common::run::{failing_dump, good_dump};

const ESC: char = '\u{1b}';

fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Whether `prog` runs here; says plainly that `test` is skipped if not.
fn have(prog: &str, test: &str) -> bool {
    let ok = Command::new(prog)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{test}: SKIPPED: no {prog} here");
    }
    ok
}

fn completion(shell: &str) -> String {
    let a = ekvplan().args(["completions", shell]).assert().code(0);
    let s = stdout_of(&a);
    assert!(s.contains("ekvplan"), "{shell}: {s}");
    s
}

/// Check a script's syntax with `prog -n` (`bash`, `zsh`, `fish`).
fn parses(prog: &str, script: &str) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("completion");
    std::fs::write(&f, script).unwrap();
    let out = Command::new(prog).arg("-n").arg(&f).output().unwrap();
    assert!(
        out.status.success(),
        "{prog} -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bash_completion_parses() {
    parses("bash", &completion("bash"));
}

#[test]
fn zsh_completion_parses() {
    let script = completion("zsh");
    if have("zsh", "zsh_completion_parses") {
        parses("zsh", &script);
    }
}

#[test]
fn fish_completion_parses() {
    let script = completion("fish");
    if have("fish", "fish_completion_parses") {
        parses("fish", &script);
    }
}

#[test]
fn elvish_and_powershell_completions_are_generated() {
    assert!(completion("elvish").contains("run"));
    assert!(completion("powershell").contains("--only"));
}

#[test]
fn unknown_shell_is_a_usage_error() {
    ekvplan().args(["completions", "tcsh"]).assert().code(1);
}

/// A plan with jobs `alpha`, `beta` (good dumps) and `broken` (fails to
/// encode), in `dir`, with relative paths.
fn small_plan(dir: &Path) -> PathBuf {
    good_dump(dir, "alpha");
    good_dump(dir, "beta");
    failing_dump(dir, "broken");
    let plan = dir.join("plan.toml");
    let mut text = String::from("version = 1\n");
    for id in ["alpha", "beta", "broken"] {
        text.push_str(&format!(
            "[[job]]\nid = \"{id}\"\ninput = \"dumps/{id}\"\noutput = \"out/{id}.fsm\"\n"
        ));
    }
    std::fs::write(&plan, text).unwrap();
    plan
}

/// The directory of the `ekvplan` under test, for a shell's PATH.
fn bin_dir() -> PathBuf {
    let bin = assert_cmd::cargo::cargo_bin("ekvplan");
    bin.parent().unwrap().to_path_buf()
}

/// bash: the completion script asks the plan on the line for the job ids
/// that complete `--only`, a comma-separated list included.
#[test]
fn bash_completes_only_with_the_plans_job_ids() {
    let dir = tempfile::tempdir().unwrap();
    small_plan(dir.path());
    let script = dir.path().join("ekvplan.bash");
    std::fs::write(&script, completion("bash")).unwrap();
    // COMP_WORDS as bash splits them (at blanks, and at `=`).
    let probe = r#"
source ./ekvplan.bash
complete_line() {
    local l=$1 head=${1%%|*}
    COMP_POINT=${#head}; COMP_LINE=${l/|/}; COMP_CWORD=$2; shift 2
    COMP_WORDS=("$@")
    COMPREPLY=()
    _ekvplan_with_jobs ekvplan "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    echo "${COMPREPLY[*]}"
}
complete_line "ekvplan run plan.toml --only |" 4 ekvplan run plan.toml --only ""
complete_line "ekvplan run -j 2 plan.toml --only b|" 6 ekvplan run -j 2 plan.toml --only b
complete_line "ekvplan run --only alpha,| plan.toml" 3 ekvplan run --only alpha, plan.toml
complete_line "ekvplan verify plan.toml --only=alpha,b|" 5 ekvplan verify plan.toml --only = alpha,b
complete_line "ekvplan run missing.toml --only |" 4 ekvplan run missing.toml --only ""
complete_line "ekvplan ru|" 1 ekvplan ru
"#;
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(probe)
        .current_dir(dir.path())
        .env("PATH", path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "alpha beta broken",
            "beta broken",
            // The plan comes after the cursor here: still found.
            "alpha,beta alpha,broken",
            "alpha,beta alpha,broken",
            "",
            "run",
        ],
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn man_page_renders() {
    let a = ekvplan().arg("man").assert().code(0);
    let page = stdout_of(&a);
    assert!(page.contains("\n.TH ekvplan 1 "), "{page}");
    let run = stdout_of(&ekvplan().args(["man", "run"]).assert().code(0));
    assert!(run.contains("\\-\\-only"), "{run}");
    let dir = tempfile::tempdir().unwrap();
    ekvplan()
        .args(["man", "--dir"])
        .arg(dir.path().join("man1"))
        .assert()
        .code(0);
    for name in [
        "ekvplan.1",
        "ekvplan-run.1",
        "ekvplan-encode.1",
        "ekvplan-man.1",
    ] {
        assert!(dir.path().join("man1").join(name).is_file(), "{name}");
    }
    ekvplan().args(["man", "nope"]).assert().code(1);

    let file = dir.path().join("man1/ekvplan-run.1");
    let rendered = if have("man", "man_page_renders (man -l)") {
        Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .unwrap()
    } else if have("groff", "man_page_renders (groff)") {
        Command::new("groff")
            .args(["-man", "-Tutf8"])
            .arg(&file)
            .output()
            .unwrap()
    } else {
        return;
    };
    assert!(rendered.status.success());
    let text = String::from_utf8_lossy(&rendered.stdout);
    for want in [
        "SYNOPSIS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "JOB_COMPLETION_INDEX",
        "NO_COLOR",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
}

#[test]
fn help_lists_exit_codes_and_environment() {
    for sub in ["run", "validate", "verify"] {
        let a = ekvplan().args([sub, "--help"]).assert().code(0);
        let h = stdout_of(&a);
        for want in [
            "Exit status:",
            "130",
            "NO_COLOR",
            "CLICOLOR_FORCE",
            "GITHUB_ACTIONS",
            "JOB_COMPLETION_INDEX",
            "TMPDIR",
        ] {
            assert!(h.contains(want), "{sub} --help lacks {want}");
        }
        let short = stdout_of(&ekvplan().args([sub, "-h"]).assert().code(0));
        assert!(short.contains("Exit status: 0 success"), "{short}");
    }
    let run = stdout_of(&ekvplan().args(["run", "--help"]).assert().code(0));
    assert!(run.contains("`-` reads it from standard input"), "{run}");
}

/// `encode -h` is a usage error, as upstream's `-h` is, but prints every
/// flag first, with the exit codes and environment.
#[test]
fn go_flag_commands_print_their_flags_for_h() {
    for (sub, flag) in [
        ("encode", "-last-commit-ts TS"),
        ("decode", "-include-orphans"),
    ] {
        let a = ekvplan().args([sub, "-h"]).assert().code(1);
        let err = stderr_of(&a);
        assert!(err.contains(flag), "{sub}: {err}");
        assert!(err.contains("Exit status:"), "{sub}: {err}");
        assert!(err.contains("NO_COLOR"), "{sub}: {err}");
        assert!(
            err.trim_end().ends_with("flag: help requested"),
            "{sub}: {err}"
        );
    }
}

const INVALID: &str = "tests/plans/invalid/many_problems.toml";

#[test]
fn color_never_has_no_escapes_even_when_forced() {
    let a = ekvplan()
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .args(["validate", "--color", "never", INVALID])
        .assert()
        .code(2);
    let err = stderr_of(&a);
    assert!(err.contains("ekvplan::plan::unknown_key"), "{err}");
    assert!(!err.contains(ESC), "{err:?}");
}

#[test]
fn color_always_colors_a_pipe_despite_no_color() {
    // ekvplan() sets NO_COLOR: the flag wins over it.
    let a = ekvplan()
        .args(["validate", "--color", "always", INVALID])
        .assert()
        .code(2);
    let err = stderr_of(&a);
    assert!(err.contains(ESC), "{err:?}");
    assert!(err.contains("ekvplan::plan::unknown_key"), "{err}");
}

#[test]
fn color_auto_follows_clicolor_force_and_no_color() {
    let forced = ekvplan()
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .args(["validate", INVALID])
        .assert()
        .code(2);
    assert!(stderr_of(&forced).contains(ESC));
    let both = ekvplan()
        .env("CLICOLOR_FORCE", "1")
        .args(["validate", INVALID])
        .assert()
        .code(2);
    assert!(!stderr_of(&both).contains(ESC), "NO_COLOR wins");
    let piped = ekvplan()
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .args(["validate", INVALID])
        .assert()
        .code(2);
    assert!(!stderr_of(&piped).contains(ESC), "no color into a pipe");
}

#[test]
fn run_tables_and_result_lines_follow_color() {
    let dir = tempfile::tempdir().unwrap();
    let plan = small_plan(dir.path());
    let always = ekvplan()
        .args(["run", "--color", "always", "--progress", "none"])
        .arg(&plan)
        .assert()
        .code(2);
    let (out, err) = (stdout_of(&always), stderr_of(&always));
    assert!(out.contains(ESC), "summary table on stdout: {out:?}");
    assert!(err.contains(ESC), "result lines on stderr: {err:?}");
    let never = ekvplan()
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .args(["run", "--force", "--color", "never", "--progress", "plain"])
        .arg(&plan)
        .assert()
        .code(2);
    assert!(!stdout_of(&never).contains(ESC));
    assert!(!stderr_of(&never).contains(ESC));
    assert!(
        stdout_of(&never).contains("broken  FAILED"),
        "{}",
        stdout_of(&never)
    );
}

/// `--progress bar` draws bars even when stderr is a pipe (as in a CI
/// log viewer that renders ANSI); `auto` there gives plain lines.
#[test]
fn forced_bars_draw_into_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let plan = small_plan(dir.path());
    let bars = ekvplan()
        .args(["run", "--progress", "bar", "--color", "never"])
        .arg(&plan)
        .assert()
        .code(2);
    let err = stderr_of(&bars);
    assert!(err.contains("jobs"), "the overall bar: {err:?}");
    assert!(err.contains("\x1b[2K"), "bars redraw in place: {err:?}");
    let auto = ekvplan()
        .args(["run", "--force", "--progress", "auto", "--color", "never"])
        .arg(&plan)
        .assert()
        .code(2);
    assert!(
        !stderr_of(&auto).contains("\x1b[2K"),
        "{:?}",
        stderr_of(&auto)
    );
}

#[test]
fn quiet_run_prints_only_failures_and_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let plan = small_plan(dir.path());
    let a = ekvplan().args(["run", "-q"]).arg(&plan).assert().code(2);
    let err = stderr_of(&a);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].trim_start().starts_with("FAILED broken:"), "{err}");
    let out = stdout_of(&a);
    assert!(out.starts_with("JOB "), "{out}");
    assert!(
        out.contains("3 of 3 job(s): 2 succeeded, 1 failed"),
        "{out}"
    );
    // Nothing to report but the summary when all is up to date.
    let again = ekvplan()
        .args(["run", "-q", "--only", "alpha,beta"])
        .arg(&plan)
        .assert()
        .code(0);
    assert_eq!(stderr_of(&again), "");
    assert!(
        stdout_of(&again).contains("2 up to date"),
        "{}",
        stdout_of(&again)
    );
}

#[test]
fn verbose_run_shows_settings_and_phases() {
    let dir = tempfile::tempdir().unwrap();
    let plan = small_plan(dir.path());
    let a = ekvplan()
        .args(["run", "-v", "--only", "alpha", "-j", "1"])
        .arg(&plan)
        .assert()
        .code(0);
    let err = stderr_of(&a);
    assert!(err.contains("ekvplan run: settings"), "{err}");
    assert!(err.contains("jobs at once     1\n"), "{err}");
    assert!(err.contains("only             alpha\n"), "{err}");
    assert!(err.contains("phase alpha: reading"), "{err}");
    assert!(err.contains("phase alpha: publishing"), "{err}");
}

#[test]
fn quiet_validate_hides_warnings_but_counts_them() {
    let a = ekvplan()
        .args([
            "validate",
            "-q",
            "tests/plans/warnings/exclusion_unused.toml",
        ])
        .assert()
        .code(0);
    assert_eq!(
        stderr_of(&a),
        "tests/plans/warnings/exclusion_unused.toml: valid, 1 job, 1 warning\n"
    );
    let loud = ekvplan()
        .args(["validate", "tests/plans/warnings/exclusion_unused.toml"])
        .assert()
        .code(0);
    assert!(
        stderr_of(&loud).contains("ekvplan::plan::"),
        "{}",
        stderr_of(&loud)
    );
}

#[test]
fn validate_reads_a_plan_from_stdin() {
    let plan = std::fs::read("examples/plan.toml").unwrap();
    // Relative paths resolve against the working directory.
    let a = ekvplan()
        .current_dir("examples")
        .args(["validate", "-"])
        .write_stdin(plan.clone())
        .assert()
        .code(0);
    assert_eq!(stderr_of(&a), "<stdin>: valid, 3 jobs\n");
    let elsewhere = ekvplan()
        .args(["validate", "-"])
        .write_stdin(plan)
        .assert()
        .code(2);
    assert!(
        stderr_of(&elsewhere).contains("input_not_found"),
        "{}",
        stderr_of(&elsewhere)
    );
    ekvplan()
        .args(["validate", "-", "-"])
        .write_stdin("version = 1\n")
        .assert()
        .code(1);
}

#[test]
fn run_dry_run_takes_a_plan_from_stdin() {
    let plan = std::fs::read("examples/plan.toml").unwrap();
    let a = ekvplan()
        .current_dir("examples")
        .args(["run", "-", "--dry-run", "--format", "json"])
        .write_stdin(plan)
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(v["plan"], "<stdin>");
}

#[test]
fn validate_takes_several_plans_and_sums_them() {
    let a = ekvplan()
        .args([
            "validate",
            "examples/plan.toml",
            INVALID,
            "tests/plans/no-such-plan.toml",
        ])
        .assert()
        .code(2);
    let err = stderr_of(&a);
    assert!(err.contains("examples/plan.toml: valid, 3 jobs"), "{err}");
    assert!(
        err.contains("many_problems.toml: invalid: 5 errors"),
        "{err}"
    );
    assert!(
        err.contains("read plan tests/plans/no-such-plan.toml"),
        "{err}"
    );
    assert!(
        err.trim_end()
            .ends_with("3 plans: 1 valid, 1 invalid, 1 unreadable; 5 error(s), 0 warning(s)"),
        "{err}"
    );
    // Two valid plans: exit 0; unreadable but none invalid: exit 1.
    ekvplan()
        .args(["validate", "examples/plan.toml", "plans/restore-drill.toml"])
        .assert()
        .code(0);
    ekvplan()
        .args([
            "validate",
            "examples/plan.toml",
            "tests/plans/no-such-plan.toml",
        ])
        .assert()
        .code(1);
}

#[test]
fn validate_json_streams_one_document_per_plan() {
    let a = ekvplan()
        .args([
            "validate",
            "--format",
            "json",
            "examples/plan.toml",
            INVALID,
        ])
        .assert()
        .code(2);
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&a.get_output().stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["valid"], true);
    assert_eq!(docs[1]["valid"], false);
    assert_eq!(docs[1]["plan"], INVALID);
}

#[test]
fn conflicting_flags_are_usage_errors() {
    for args in [
        &["run", "examples/plan.toml", "--fail-fast", "--keep-going"][..],
        &["run", "examples/plan.toml", "-q", "-v"],
        &["run", "examples/plan.toml", "-q", "--progress", "bar"],
        &["run", "examples/plan.toml", "-q", "--heartbeat", "5s"],
        &[
            "run",
            "examples/plan.toml",
            "--no-progress",
            "--progress",
            "plain",
        ],
        &[
            "run",
            "examples/plan.toml",
            "--dry-run",
            "--report",
            "r.json",
        ],
        &["validate", "examples/plan.toml", "--quiet", "--verbose"],
        &["verify", "examples/plan.toml", "-q", "-v"],
        &["man", "run", "--dir", "x"],
    ] {
        let a = ekvplan().args(args).assert().code(1);
        let err = stderr_of(&a);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains("Usage: "), "{args:?}: {err}");
    }
    ekvplan()
        .args(["run", "examples/plan.toml", "--color", "sometimes"])
        .assert()
        .code(1);
}

#[test]
fn usage_errors_follow_color_too() {
    let always = ekvplan()
        .args(["run", "examples/plan.toml", "-q", "-v", "--color", "always"])
        .assert()
        .code(1);
    assert!(stderr_of(&always).contains(ESC), "{:?}", stderr_of(&always));
    let never = ekvplan()
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .args(["run", "examples/plan.toml", "-q", "-v", "--color=never"])
        .assert()
        .code(1);
    assert!(!stderr_of(&never).contains(ESC), "{:?}", stderr_of(&never));
}
