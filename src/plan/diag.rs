//! Plan diagnostics: one problem, its code, the spans it points at in the
//! plan source, a help line and related notes. Rendered with miette (fancy
//! on a terminal, plain otherwise) or as stable JSON.

use std::fmt;
use std::ops::Range;

use miette::{Diagnostic, LabeledSpan, NamedSource};

pub use crate::diagnostic::Style;
use crate::diagnostic::{PLAIN_WIDTH, handler};

/// Every diagnostic code is `ekvplan::plan::<kind>`.
pub const CODE_PREFIX: &str = "ekvplan::plan::";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Error,
    Warning,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Byte range in the plan source.
    pub span: Range<usize>,
    pub text: Option<String>,
    pub primary: bool,
}

/// One problem found in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanDiagnostic {
    /// The kind, without the `ekvplan::plan::` prefix (`unknown_key`, ...).
    pub kind: &'static str,
    pub level: Level,
    pub message: String,
    /// The job this problem belongs to (None: plan-level).
    pub job: Option<String>,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl PlanDiagnostic {
    pub fn error(kind: &'static str, message: impl Into<String>) -> Self {
        PlanDiagnostic {
            kind,
            level: Level::Error,
            message: message.into(),
            job: None,
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn warning(kind: &'static str, message: impl Into<String>) -> Self {
        PlanDiagnostic {
            level: Level::Warning,
            ..PlanDiagnostic::error(kind, message)
        }
    }

    pub fn code(&self) -> String {
        format!("{CODE_PREFIX}{}", self.kind)
    }

    /// The primary label (the first one if several are marked).
    pub fn at(mut self, span: Option<Range<usize>>, text: impl Into<String>) -> Self {
        if let Some(span) = span {
            let text = text.into();
            self.labels.push(Label {
                span,
                text: (!text.is_empty()).then_some(text),
                primary: !self.labels.iter().any(|l| l.primary),
            });
        }
        self
    }

    /// A secondary label.
    pub fn also(mut self, span: Option<Range<usize>>, text: impl Into<String>) -> Self {
        if let Some(span) = span {
            let text = text.into();
            self.labels.push(Label {
                span,
                text: (!text.is_empty()).then_some(text),
                primary: false,
            });
        }
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn job(mut self, id: Option<&str>) -> Self {
        self.job = id.map(str::to_string);
        self
    }

    /// Where the diagnostic sorts within its group: its first primary span.
    pub fn sort_offset(&self) -> usize {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first())
            .map_or(usize::MAX, |l| l.span.start)
    }

    pub fn headline(&self) -> String {
        match &self.job {
            Some(id) => format!("[job {id}] {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// Render one diagnostic against the plan source.
pub fn render(d: &PlanDiagnostic, source: &NamedSource<String>, style: Style) -> String {
    let view = View {
        d,
        source,
        headline: d.headline(),
    };
    let mut out = String::new();
    if handler(style).render_report(&mut out, &view).is_err() {
        // Rendering into a String cannot fail in practice; keep the text.
        out = format!("{}: {}\n", d.code(), view.headline);
    }
    // Notes go under the help line, in the same layout.
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    for n in &d.notes {
        out.push_str(&wrap_note(n, PLAIN_WIDTH));
    }
    out
}

/// `  note: text`, wrapped at `width` with continuation lines aligned.
fn wrap_note(text: &str, width: usize) -> String {
    const FIRST: &str = "  note: ";
    const REST: &str = "        ";
    let mut out = String::new();
    let mut line = String::from(FIRST);
    let mut empty = true;
    for word in text.split(' ') {
        if !empty && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::from(REST);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

struct View<'a> {
    d: &'a PlanDiagnostic,
    source: &'a NamedSource<String>,
    headline: String,
}

impl fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline)
    }
}

impl fmt::Display for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline)
    }
}

impl std::error::Error for View<'_> {}

impl Diagnostic for View<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.d.code()))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.level {
            Level::Error => miette::Severity::Error,
            Level::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.d
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        if self.d.labels.is_empty() {
            None
        } else {
            Some(self.source)
        }
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.d.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.d.labels.iter().map(|l| {
            let span = (l.span.start, l.span.end.saturating_sub(l.span.start));
            if l.primary {
                LabeledSpan::new_primary_with_span(l.text.clone(), span)
            } else {
                LabeledSpan::new_with_span(l.text.clone(), span)
            }
        })))
    }
}

/// Byte offset → 1-based line and column (columns count Unicode scalar
/// values, so editors and CI annotations agree).
pub struct LineIndex<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(src: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { src, starts }
    }

    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let col = self
            .src
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }
}

/// One diagnostic as a GitHub Actions annotation on its primary span
/// (`file` is the plan as annotations name it).
pub fn to_github(d: &PlanDiagnostic, file: &str, idx: &LineIndex<'_>) -> String {
    use crate::machine::github::{Level as Gh, Location, annotation};
    let primary = d.labels.iter().find(|l| l.primary).or(d.labels.first());
    let mut at = Location {
        file: Some(file.to_string()),
        ..Location::default()
    };
    if let Some(l) = primary {
        let (sl, sc) = idx.line_col(l.span.start);
        let (el, ec) = idx.line_col(l.span.end);
        at.line = Some(sl);
        at.end_line = Some(el);
        // Columns only make sense within one line.
        if sl == el {
            at.col = Some(sc);
            at.end_col = Some(ec);
        }
    }
    let mut message = d.headline();
    if let Some(h) = &d.help {
        message.push_str(&format!("\nhelp: {h}"));
    }
    for n in &d.notes {
        message.push_str(&format!("\nnote: {n}"));
    }
    let level = match d.level {
        Level::Error => Gh::Error,
        Level::Warning => Gh::Warning,
    };
    annotation(level, &at, &d.code(), &message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_counts_chars() {
        let src = "a = 1\nbé = \"x\"\n";
        let idx = LineIndex::new(src);
        assert_eq!(idx.line_col(0), (1, 1));
        assert_eq!(idx.line_col(6), (2, 1));
        // After "bé" (3 bytes) comes column 3.
        assert_eq!(idx.line_col(9), (2, 3));
        assert_eq!(idx.line_col(src.len()), (3, 1));
        assert_eq!(idx.line_col(usize::MAX), (3, 1));
    }

    #[test]
    fn renders_code_label_help_and_notes() {
        let src = NamedSource::new("p.toml", "version = 1\nverison = 1\n".to_string());
        let d = PlanDiagnostic::error("unknown_key", "unknown key `verison`")
            .at(Some(12..19), "not a plan key")
            .help("did you mean `version`?")
            .note("keys are case-sensitive");
        let out = render(&d, &src, Style::Plain);
        assert!(out.contains("ekvplan::plan::unknown_key"), "{out}");
        assert!(out.contains("not a plan key"), "{out}");
        assert!(out.contains("did you mean `version`?"), "{out}");
        assert!(out.contains("keys are case-sensitive"), "{out}");
        assert!(
            !out.contains('\u{1b}'),
            "plain output has no escapes: {out:?}"
        );
    }
}
