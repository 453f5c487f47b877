//! `validate --explain`: the expanded jobs, every setting with where it came
//! from, as text or JSON.

use std::fmt::Write as _;

use super::diag::LineIndex;
use super::expand::SETTING_NAMES;
use super::output::origin_word;
use super::{JobSource, Origin, Report, ResolvedJob};

fn origin_label(j: &ResolvedJob, name: &str) -> &'static str {
    match j.origins.get(name) {
        Some(Origin::BuiltIn) | None if name == "last_commit_ts" => "manifest",
        o => origin_word(o),
    }
}

fn source_text(j: &ResolvedJob, idx: &LineIndex<'_>) -> String {
    let line = j
        .span
        .as_ref()
        .map(|s| format!(", line {}", idx.line_col(s.start).0))
        .unwrap_or_default();
    match &j.source {
        JobSource::Job { index } => format!("[[job]] #{}{line}", index + 1),
        JobSource::Batch { index, matched } => {
            format!(
                "[[batch]] #{}{line}, matched {}",
                index + 1,
                matched.display()
            )
        }
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

/// The value of one setting, as shown by `--explain`.
fn setting_text(j: &ResolvedJob, name: &str) -> String {
    let e = &j.job;
    match name {
        "input" => e.input.display().to_string(),
        "output" => e.output.display().to_string(),
        "input_format" => match j.origins.get("input_format") {
            Some(Origin::BuiltIn) | None => {
                format!("{} (by the input's name)", j.input_format.as_str())
            }
            _ => j.input_format.as_str().to_string(),
        },
        "adapters" if j.adapters_from_manifest => {
            if e.adapters.is_empty() {
                "as the manifest lists (none known)".into()
            } else {
                format!("{} (as the manifest lists)", e.adapters.names().join(", "))
            }
        }
        "adapters" => e.adapters.names().join(", "),
        "last_commit_ts" => match (e.last_commit_ts, j.manifest_last_commit_ts) {
            (Some(t), Some(m)) => format!("{t} ({t:#x}), override of the manifest's {m}"),
            (Some(t), None) => format!("{t} ({t:#x}), override"),
            (None, Some(m)) => format!("{m} ({m:#x}), from the manifest"),
            (None, None) => "from the manifest (unreadable)".into(),
        },
        "self_test" => e.self_test.to_string(),
        "scratch_root" => e
            .scratch_root
            .as_ref()
            .map_or("system temporary directory".into(), |p| {
                p.display().to_string()
            }),
        "memory_budget" => format_size(e.memory_budget),
        "exclude.dynamodb.tables" => list(&e.exclusions.dynamodb_tables),
        "exclude.s3.buckets" => list(&e.exclusions.s3_buckets),
        "exclude.sqs.queues" => list(&e.exclusions.sqs_queues),
        "exclude.redis.databases" => list(
            &e.exclusions
                .redis_databases
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>(),
        ),
        _ => String::new(),
    }
}

/// Bytes in the largest binary unit that divides them exactly.
pub fn format_size(n: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{}{unit}", n >> shift);
        }
    }
    format!("{n}B")
}

/// The text form.
pub fn render(report: &Report, jobs: &[ResolvedJob]) -> String {
    let idx = LineIndex::new(&report.source);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "plan {}: {} job{}",
        report.path.display(),
        jobs.len(),
        if jobs.len() == 1 { "" } else { "s" }
    );
    for j in jobs {
        let _ = writeln!(s, "\njob {}  ({})", j.id, source_text(j, &idx));
        for name in SETTING_NAMES {
            let _ = writeln!(
                s,
                "  {name:<24} {:<10} {}",
                format!("[{}]", origin_label(j, name)),
                setting_text(j, name),
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(format_size(256 << 20), "256MiB");
        assert_eq!(format_size(3 << 30), "3GiB");
        assert_eq!(format_size(1536), "1536B");
        assert_eq!(format_size(2048), "2KiB");
        assert_eq!(format_size(7), "7B");
    }
}
