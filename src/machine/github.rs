//! GitHub Actions workflow commands: `::error file=…,line=…::message`
//! annotations and `::group::` folds. The runner reads them from stdout and
//! stderr alike; ekvplan writes them to stderr so stdout stays clean for
//! reports. Enabled when `GITHUB_ACTIONS=true`, as the runner sets it.

use std::path::Path;

/// Whether this process runs as a GitHub Actions step.
pub fn enabled() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// Where an annotation points.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub file: Option<String>,
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub end_line: Option<usize>,
    pub end_col: Option<usize>,
}

/// One annotation line (with its newline).
pub fn annotation(level: Level, at: &Location, title: &str, message: &str) -> String {
    let cmd = match level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    let mut props = Vec::new();
    if let Some(f) = &at.file {
        props.push(format!("file={}", escape_property(f)));
    }
    for (k, v) in [
        ("line", at.line),
        ("col", at.col),
        ("endLine", at.end_line),
        ("endColumn", at.end_col),
    ] {
        if let Some(v) = v {
            props.push(format!("{k}={v}"));
        }
    }
    if !title.is_empty() {
        props.push(format!("title={}", escape_property(title)));
    }
    let sep = if props.is_empty() { "" } else { " " };
    format!(
        "::{cmd}{sep}{}::{}\n",
        props.join(","),
        escape_data(message)
    )
}

/// Start a fold whose title is `title` (one line).
pub fn group(title: &str) -> String {
    format!("::group::{}\n", escape_data(title))
}

pub const END_GROUP: &str = "::endgroup::\n";

/// A path as annotations want it: relative to the checkout
/// (`GITHUB_WORKSPACE`) when it lies inside it, without a leading `./`.
pub fn workspace_path(p: &Path) -> String {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if let Some(ws) = std::env::var_os("GITHUB_WORKSPACE") {
        if let Ok(rel) = abs.strip_prefix(&ws) {
            return rel.display().to_string();
        }
    }
    let s = p.display().to_string();
    match s.strip_prefix("./") {
        Some(rest) => rest.to_string(),
        None => s,
    }
}

/// The message part: `%`, CR and LF are escaped so one command stays one line.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value: as data, and `:` and `,` too.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_and_locate() {
        let at = Location {
            file: Some("plans/a,b.toml".into()),
            line: Some(12),
            col: Some(3),
            end_line: Some(12),
            end_col: Some(9),
        };
        assert_eq!(
            annotation(Level::Error, &at, "ekvplan::plan::x", "100% bad\nsecond"),
            "::error file=plans/a%2Cb.toml,line=12,col=3,endLine=12,endColumn=9,title=ekvplan%3A%3Aplan%3A%3Ax::100%25 bad%0Asecond\n"
        );
        assert_eq!(
            annotation(Level::Warning, &Location::default(), "", "w"),
            "::warning::w\n"
        );
        assert_eq!(group("ok a\nb"), "::group::ok a%0Ab\n");
    }
}
