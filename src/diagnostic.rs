//! How diagnostics are drawn with miette, for plan diagnostics and runtime
//! errors alike: fancy (Unicode, color) when stderr gets color, plain
//! otherwise. A leaf: it knows terminals, not what a diagnostic is about.

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};

/// How diagnostics are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Unicode boxes and colors (stderr gets color).
    Fancy,
    /// No color, no hyperlinks, fixed width: logs, CI, snapshots.
    Plain,
}

impl Style {
    /// Fancy exactly when stderr gets color (see [`crate::output`]).
    pub fn for_stderr() -> Style {
        Style::for_stream(crate::output::Stream::Stderr)
    }

    /// `text` in `s` in the fancy style, as it is in the plain one.
    pub fn paint(self, s: anstyle::Style, text: &str) -> String {
        match self {
            Style::Fancy if !text.is_empty() => {
                format!("{}{text}{}", s.render(), s.render_reset())
            }
            _ => text.to_string(),
        }
    }

    /// Fancy exactly when `s` gets color.
    pub fn for_stream(s: crate::output::Stream) -> Style {
        if crate::output::color(s) {
            Style::Fancy
        } else {
            Style::Plain
        }
    }
}

/// Plain output wraps at this width so snapshots and CI logs are stable.
pub(crate) const PLAIN_WIDTH: usize = 100;

pub(crate) fn handler(style: Style) -> GraphicalReportHandler {
    match style {
        Style::Fancy => GraphicalReportHandler::new_themed(GraphicalTheme::unicode()),
        Style::Plain => GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(PLAIN_WIDTH)
            .with_links(false),
    }
}

/// Draw a diagnostic without source text (a runtime error). Lines are not
/// wrapped: a message names paths and byte offsets that logs are searched
/// for.
pub(crate) fn render(d: &dyn Diagnostic, style: Style) -> String {
    let mut out = String::new();
    let h = handler(style).with_width(usize::MAX / 4);
    if h.render_report(&mut out, d).is_err() {
        // Rendering into a String cannot fail in practice; keep the text.
        out = format!("{d}\n");
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    out
}
