//! Go's `flag` package command-line syntax, which the upstream tools use
//! and scripts written for them rely on: `-name` or `--name`,
//! `-name=value` or `-name value` (a boolean takes only `=value`, in
//! `strconv.ParseBool`'s forms), the last of repeated flags wins, `--`
//! ends the flags, and parsing stops at the first argument that is not a
//! flag (upstream ignores the rest). `-h` / `-help` ask for help, which
//! upstream reports as an error.

use std::collections::HashMap;
use std::fmt;

use clap::Args;

/// What clap hands a command whose flags use Go's syntax (`encode`,
/// `decode`, `archive pack`/`unpack`, as the upstream tools parse theirs):
/// the raw arguments, parsed here rather than by clap.
#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct GoFlagArgs {
    #[arg(num_args = 0.., allow_hyphen_values = true, trailing_var_arg = true)]
    pub args: Vec<String>,
}

/// One flag a command defines.
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    pub name: &'static str,
    pub boolean: bool,
}

/// Why parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagError {
    /// `-h`, `-help` (and the double-dash forms) when not defined.
    Help,
    /// Go's message, e.g. `flag provided but not defined: -x`.
    Bad(String),
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::Help => f.write_str("flag: help requested"),
            FlagError::Bad(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FlagError {}

/// `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The flags that were set, by name, with their last value (booleans as
/// `"true"` / `"false"`).
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    values: HashMap<&'static str, String>,
}

impl Parsed {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn string(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or(default).to_string()
    }

    pub fn bool(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }
}

/// `FlagSet.Parse(args)`.
pub fn parse(specs: &[FlagSpec], args: &[String]) -> Result<Parsed, FlagError> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let s = args[i].as_str();
        if s.len() < 2 || !s.starts_with('-') {
            break;
        }
        let dashes = if s.as_bytes()[1] == b'-' {
            if s.len() == 2 {
                break;
            }
            2
        } else {
            1
        };
        let body = &s[dashes..];
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(FlagError::Bad(format!("bad flag syntax: {s}")));
        }
        i += 1;
        let (name, value) = match body.find('=') {
            Some(eq) => (&body[..eq], Some(&body[eq + 1..])),
            None => (body, None),
        };
        let Some(spec) = specs.iter().find(|f| f.name == name) else {
            if name == "help" || name == "h" {
                return Err(FlagError::Help);
            }
            return Err(FlagError::Bad(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        let value = if spec.boolean {
            match value {
                None => "true".to_string(),
                Some(v) => match parse_bool(v) {
                    Some(b) => b.to_string(),
                    None => {
                        return Err(FlagError::Bad(format!(
                            "invalid boolean value {v:?} for -{name}: parse error"
                        )));
                    }
                },
            }
        } else {
            match value {
                Some(v) => v.to_string(),
                None if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                None => {
                    return Err(FlagError::Bad(format!("flag needs an argument: -{name}")));
                }
            }
        };
        out.values.insert(spec.name, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[FlagSpec] = &[
        FlagSpec {
            name: "input",
            boolean: false,
        },
        FlagSpec {
            name: "self-test",
            boolean: true,
        },
    ];

    fn p(args: &[&str]) -> Result<Parsed, FlagError> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(SPECS, &v)
    }

    #[test]
    fn go_flag_forms() {
        for args in [
            &["-input", "x"][..],
            &["--input", "x"],
            &["-input=x"],
            &["--input=x"],
            &["-input", "y", "--input=x"],
        ] {
            assert_eq!(p(args).unwrap().get("input"), Some("x"), "{args:?}");
        }
        assert_eq!(
            p(&["-input", "-self-test"]).unwrap().get("input"),
            Some("-self-test")
        );
        assert_eq!(p(&["-input="]).unwrap().get("input"), Some(""));
        for (v, want) in [
            ("true", true),
            ("T", true),
            ("1", true),
            ("False", false),
            ("0", false),
        ] {
            assert_eq!(
                p(&[&format!("--self-test={v}")]).unwrap().bool("self-test"),
                want
            );
        }
        assert!(p(&["-self-test"]).unwrap().bool("self-test"));
        // A boolean takes no separate value: parsing stops at "false".
        let r = p(&["-self-test", "false", "-input", "x"]).unwrap();
        assert!(r.bool("self-test") && r.get("input").is_none());
        // Trailing arguments and everything after `--` are ignored.
        assert!(p(&["x", "-input", "y"]).unwrap().get("input").is_none());
        assert!(p(&["--", "-input", "y"]).unwrap().get("input").is_none());
        assert!(p(&["-", "-input", "y"]).unwrap().get("input").is_none());
    }

    #[test]
    fn go_flag_errors() {
        assert_eq!(p(&["-h"]).unwrap_err(), FlagError::Help);
        assert_eq!(p(&["--help"]).unwrap_err(), FlagError::Help);
        assert_eq!(
            p(&["-x"]).unwrap_err().to_string(),
            "flag provided but not defined: -x"
        );
        assert_eq!(
            p(&["-input"]).unwrap_err().to_string(),
            "flag needs an argument: -input"
        );
        assert_eq!(
            p(&["---input"]).unwrap_err().to_string(),
            "bad flag syntax: ---input"
        );
        assert_eq!(p(&["-=x"]).unwrap_err().to_string(), "bad flag syntax: -=x");
        assert!(p(&["--self-test=yes"]).is_err());
    }
}
