//! What a run produced: per-job records, the end-of-run summary table, the
//! JSON report (`--report`, described by `schema/run-report.schema.json`)
//! and JUnit XML (`--junit`). The JSON and JUnit files are written by
//! [`super::report_file::ReportFile`] reporters when the run finishes.

use std::fmt::Write as _;
use std::path::Path;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;

use super::fingerprint::Reason;
use crate::error::{Code, Error, Kind, Position, exit};
use crate::machine::JsonU64;

/// The `format` of a run report.
pub const RUN_REPORT_FORMAT: &str = "ekvplan-run-report";
/// Bumped on any incompatible change (adding fields is compatible).
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Encoded and published in this run.
    Succeeded,
    /// Skipped: the output's sidecar matches the job's fingerprint.
    UpToDate,
    Failed,
    /// Was running when the run was interrupted or stopped by --fail-fast.
    Cancelled,
    /// Never started because the run was interrupted or stopped.
    NotStarted,
}

impl JobStatus {
    /// How the status is shown in color.
    pub fn style(self) -> anstyle::Style {
        use crate::output::style;
        match self {
            JobStatus::Succeeded => style::OK,
            JobStatus::UpToDate | JobStatus::NotStarted => style::DIM,
            JobStatus::Failed => style::ERROR,
            JobStatus::Cancelled => style::WARN,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            JobStatus::Succeeded => "ok",
            JobStatus::UpToDate => "up to date",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelled => "cancelled",
            JobStatus::NotStarted => "not started",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelfTest {
    Matched,
    Mismatched,
    NotRun,
}

impl SelfTest {
    pub fn from_flags(ran: bool, matched: bool) -> Self {
        match (ran, matched) {
            (false, _) => SelfTest::NotRun,
            (true, true) => SelfTest::Matched,
            (true, false) => SelfTest::Mismatched,
        }
    }
    fn label(self) -> &'static str {
        match self {
            SelfTest::Matched => "matched",
            SelfTest::Mismatched => "MISMATCH",
            SelfTest::NotRun => "-",
        }
    }
}

/// Where a self-test found the first difference between the input and the
/// decoded output. Readers must accept further fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SelfTestMismatch {
    /// The first differing path, relative to the dump's root.
    pub path: String,
    /// The offset of the first differing byte in that file, when both sides
    /// have it as a file.
    pub byte_offset: Option<JsonU64>,
}

/// The classes of [`JobError`].
pub const ERROR_CLASSES: &[&str] = &[
    "data",
    "self_test_mismatch",
    "io",
    "usage",
    "interrupted",
    "internal",
];

/// Why a job failed, classified like the process exit codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct JobError {
    /// `data`, `self_test_mismatch`, `io`, `usage`, `interrupted` or `internal`.
    #[schemars(schema_with = "error_class_schema")]
    pub class: &'static str,
    /// The exit code this error alone would give (1, 2 or 130).
    pub exit_code: i32,
    /// The stable code, `ekvplan::<area>::<kind>` or `ekvplan::<kind>`
    /// (docs/errors.md lists them).
    #[schemars(regex(pattern = r"^ekvplan::[a-z0-9_]+(::[a-z0-9_]+)?$"))]
    pub code: String,
    pub message: String,
    /// The file the error is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line of `file` (JSON Lines files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<JsonU64>,
    /// The byte offset in `file`, or in the `.fsm` payload when there is no
    /// file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_offset: Option<JsonU64>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

fn error_class_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ERROR_CLASSES })
}

fn reason_code_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": Reason::CODES })
}

pub(crate) fn const_schema(value: &'static str) -> Schema {
    json_schema!({ "type": "string", "const": value })
}

fn run_format_schema(_: &mut SchemaGenerator) -> Schema {
    const_schema(RUN_REPORT_FORMAT)
}

fn format_version_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "const": FORMAT_VERSION })
}

impl SelfTestMismatch {
    /// Where a self-test error says the trees first differ, if it does.
    pub fn from_error(e: &Error) -> Option<SelfTestMismatch> {
        match e {
            Error::SelfTestMismatch(info) => info.first_path.as_ref().map(|p| SelfTestMismatch {
                path: p.clone(),
                byte_offset: info.first_offset.map(JsonU64),
            }),
            _ => None,
        }
    }
}

impl JobError {
    pub fn from_error(e: &Error) -> Self {
        let class = match e {
            Error::Usage(_) => "usage",
            Error::Io { .. } => "io",
            Error::Data(_) | Error::Input(_) | Error::Fsm { .. } => "data",
            Error::SelfTestMismatch(_) => "self_test_mismatch",
            Error::Interrupted => "interrupted",
        };
        let (line, byte_offset) = match e.position() {
            Some(Position::Line(n)) => (Some(JsonU64(n)), None),
            Some(Position::Byte(b)) => (None, Some(JsonU64(b))),
            None => (None, None),
        };
        JobError {
            class,
            exit_code: e.exit_code(),
            code: e.code().to_string(),
            message: e.to_string(),
            file: e.file().map(|p| p.display().to_string()),
            line,
            byte_offset,
            help: e.help().map(str::to_string),
        }
    }

    pub fn internal(message: String) -> Self {
        let code = Code {
            area: None,
            kind: Kind::Internal,
        };
        JobError {
            class: "internal",
            exit_code: code.kind.exit_code(),
            code: code.to_string(),
            message,
            file: None,
            line: None,
            byte_offset: None,
            help: code.kind.help().map(str::to_string),
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct JobRecord {
    pub id: String,
    pub status: JobStatus,
    /// Why the job ran or was skipped, for people: which input, setting or
    /// version changed, `no output yet`, `forced`, `fingerprint matches`, …
    pub reason: String,
    /// The same, as a stable code.
    #[schemars(schema_with = "reason_code_schema")]
    pub reason_code: &'static str,
    /// The input and output as the job opened them (relative to the
    /// working directory when the plan path was).
    pub input: String,
    pub output: String,
    /// Size of the input's files (jobs that ran).
    pub input_bytes: Option<JsonU64>,
    pub duration_ms: JsonU64,
    pub output_bytes: Option<JsonU64>,
    pub output_sha256: Option<String>,
    /// Entries written (jobs that ran).
    pub entries: Option<JsonU64>,
    /// The T stamped into the .fsm.
    pub last_commit_ts: Option<JsonU64>,
    pub last_commit_ts_overridden: Option<bool>,
    pub adapters: Vec<String>,
    pub self_test: SelfTest,
    /// Where a failed self-test found the first difference.
    pub self_test_mismatch: Option<SelfTestMismatch>,
    /// The job's fingerprint (null if its input could not be read).
    pub fingerprint: Option<String>,
    pub error: Option<JobError>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Counts {
    /// Jobs in the plan.
    pub plan: usize,
    /// Jobs selected by --only / --shard.
    pub selected: usize,
    pub succeeded: usize,
    pub up_to_date: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub not_started: usize,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReportOptions {
    /// Jobs at once.
    pub jobs: usize,
    pub fail_fast: bool,
    pub force: bool,
    pub only: Vec<String>,
    /// `hash:M/N`, or null.
    pub shard: Option<String>,
    /// The total memory budget shared by running jobs, in bytes.
    pub memory_budget: JsonU64,
}

/// The JSON report of one `ekvplan run`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(title = "ekvplan run report")]
pub struct RunReport {
    #[schemars(schema_with = "run_format_schema")]
    pub format: &'static str,
    #[schemars(schema_with = "format_version_schema")]
    pub format_version: u32,
    pub ekvplan_version: String,
    /// The plan path as given.
    pub plan: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: JsonU64,
    /// The process exit code (0, 1, 2 or 130).
    pub exit_code: i32,
    /// A Ctrl-C or SIGTERM stopped the run.
    pub interrupted: bool,
    pub options: ReportOptions,
    pub counts: Counts,
    /// One record per selected job, in plan order.
    pub jobs: Vec<JobRecord>,
}

impl Counts {
    pub fn tally(plan: usize, jobs: &[JobRecord]) -> Counts {
        let mut c = Counts {
            plan,
            selected: jobs.len(),
            ..Counts::default()
        };
        for j in jobs {
            match j.status {
                JobStatus::Succeeded => c.succeeded += 1,
                JobStatus::UpToDate => c.up_to_date += 1,
                JobStatus::Failed => c.failed += 1,
                JobStatus::Cancelled => c.cancelled += 1,
                JobStatus::NotStarted => c.not_started += 1,
            }
        }
        c
    }
}

/// The run's exit code: 130 when interrupted; else 2 if any job failed on
/// data (including a self-test mismatch); else 1 if any failed on usage or
/// I/O; else 0.
pub fn exit_code(interrupted: bool, jobs: &[JobRecord]) -> i32 {
    if interrupted {
        return exit::INTERRUPTED;
    }
    let codes = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Failed)
        .filter_map(|j| j.error.as_ref().map(|e| e.exit_code));
    let mut worst = exit::OK;
    for c in codes {
        if c == exit::DATA {
            return exit::DATA;
        }
        worst = exit::USAGE_OR_IO;
    }
    worst
}

impl RunReport {
    pub fn to_json(&self) -> Vec<u8> {
        crate::machine::to_pretty_json(self)
    }

    /// JUnit XML: one `<testcase>` per selected job. Data failures are
    /// `<failure>`, usage/I/O/internal ones `<error>`; up-to-date, cancelled
    /// and not-started jobs are `<skipped>` with the reason.
    pub fn to_junit(&self) -> String {
        let c = &self.counts;
        let errors = self
            .jobs
            .iter()
            .filter(|j| j.status == JobStatus::Failed && !is_data_failure(j))
            .count();
        let failures = c.failed - errors;
        let skipped = c.up_to_date + c.cancelled + c.not_started;
        let secs = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
        let suite = Path::new(&self.plan)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plan".into());
        let mut x = String::new();
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            x,
            "<testsuites name=\"ekvplan run\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\">",
            c.selected,
            secs(self.duration_ms.0)
        );
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\" timestamp=\"{}\">",
            xml_escape(&suite),
            c.selected,
            secs(self.duration_ms.0),
            xml_escape(&self.started_at)
        );
        let _ = writeln!(
            x,
            "    <properties>\n      <property name=\"plan\" value=\"{}\"/>\n      <property name=\"ekvplan_version\" value=\"{}\"/>\n    </properties>",
            xml_escape(&self.plan),
            xml_escape(&self.ekvplan_version)
        );
        for j in &self.jobs {
            let _ = write!(
                x,
                "    <testcase name=\"{}\" classname=\"ekvplan.{}\" time=\"{}\"",
                xml_escape(&j.id),
                xml_escape(&suite),
                secs(j.duration_ms.0)
            );
            let body = match j.status {
                JobStatus::Succeeded => None,
                JobStatus::UpToDate => Some(
                    "      <skipped message=\"up to date\"/>
"
                    .to_string(),
                ),
                JobStatus::Cancelled | JobStatus::NotStarted => Some(format!(
                    "      <skipped message=\"{}\"/>\n",
                    j.status.label()
                )),
                JobStatus::Failed => {
                    let (class, code, message) = j
                        .error
                        .as_ref()
                        .map(|e| (e.class, e.code.as_str(), e.message.as_str()))
                        .unwrap_or(("internal", "ekvplan::internal", "failed"));
                    let tag = if is_data_failure(j) {
                        "failure"
                    } else {
                        "error"
                    };
                    let first = message.lines().next().unwrap_or("");
                    Some(format!(
                        "      <{tag} type=\"{class}\" code=\"{}\" message=\"{}\">{}</{tag}>\n",
                        xml_escape(code),
                        xml_escape(first),
                        xml_escape(message)
                    ))
                }
            };
            let out = format!(
                "input {}\noutput {}{}{}",
                j.input,
                j.output,
                j.output_sha256
                    .as_deref()
                    .map(|s| format!("\nsha256 {s}"))
                    .unwrap_or_default(),
                j.warnings
                    .iter()
                    .map(|w| format!("\nwarning: {w}"))
                    .collect::<String>()
            );
            x.push_str(">\n");
            if let Some(b) = body {
                x.push_str(&b);
            }
            let _ = writeln!(x, "      <system-out>{}</system-out>", xml_escape(&out));
            x.push_str("    </testcase>\n");
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }

    /// The human summary printed at the end of a run.
    pub fn summary_table(&self) -> String {
        self.summary_table_styled(false)
    }

    /// [`Self::summary_table`], with statuses and self-test results in
    /// color when `color`.
    pub fn summary_table_styled(&self, color: bool) -> String {
        use crate::output::style;
        let headers = ["JOB", "STATUS", "DURATION", "SIZE", "SHA256", "SELF-TEST"];
        let rows: Vec<([String; 6], [Option<anstyle::Style>; 6])> = self
            .jobs
            .iter()
            .map(|j| {
                let cells = [
                    j.id.clone(),
                    j.status.label().to_string(),
                    match j.status {
                        JobStatus::UpToDate | JobStatus::NotStarted => "-".into(),
                        _ => format_duration(j.duration_ms.0),
                    },
                    j.output_bytes
                        .map(|b| indicatif::HumanBytes(b.0).to_string())
                        .unwrap_or_else(|| "-".into()),
                    j.output_sha256
                        .as_deref()
                        .map(|s| s.chars().take(12).collect())
                        .unwrap_or_else(|| "-".into()),
                    j.self_test.label().to_string(),
                ];
                let mut styles = [None; 6];
                styles[1] = Some(j.status.style());
                styles[5] = match j.self_test {
                    SelfTest::Matched => Some(style::OK),
                    SelfTest::Mismatched => Some(style::ERROR),
                    SelfTest::NotRun => None,
                };
                (cells, styles)
            })
            .collect();
        let mut width = headers.map(|h| h.chars().count());
        for (r, _) in &rows {
            for (w, cell) in width.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let paint = |st: Option<anstyle::Style>, cell: &str| match st {
            Some(st) if color && !cell.is_empty() => {
                format!("{}{cell}{}", st.render(), st.render_reset())
            }
            _ => cell.to_string(),
        };
        let mut s = String::new();
        let line = |s: &mut String, cells: &[String], styles: &[Option<anstyle::Style>]| {
            let mut l = String::new();
            let last = cells.len() - 1;
            for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
                l.push_str(&paint(styles[i], cell));
                if i < last {
                    let pad = w - cell.chars().count() + 2;
                    l.push_str(&" ".repeat(pad));
                }
            }
            s.push_str(l.trim_end());
            s.push('\n');
        };
        line(
            &mut s,
            &headers.map(String::from),
            &[Some(style::HEADING); 6],
        );
        for (r, st) in &rows {
            line(&mut s, r, st);
        }
        for j in self.jobs.iter().filter(|j| j.status == JobStatus::Failed) {
            if let Some(e) = &j.error {
                let _ = writeln!(s, "\n{}: {}", paint(Some(style::ERROR), &j.id), e.message);
            }
        }
        let c = &self.counts;
        let mut parts = vec![format!("{} succeeded", c.succeeded)];
        for (n, what) in [
            (c.up_to_date, "up to date"),
            (c.failed, "failed"),
            (c.cancelled, "cancelled"),
            (c.not_started, "not started"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let _ = writeln!(
            s,
            "\n{} of {} job(s): {} in {}{}",
            c.selected,
            c.plan,
            parts.join(", "),
            format_duration(self.duration_ms.0),
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
        s
    }
}

fn is_data_failure(j: &JobRecord) -> bool {
    j.error.as_ref().is_some_and(|e| e.exit_code == exit::DATA)
}

pub fn format_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}.{:02}s", ms / 1000, (ms % 1000) / 10)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// Escape for XML 1.0 text and attributes; characters XML cannot carry at
/// all (most C0 controls) become U+FFFD.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// What a [`ReportFile`] writes.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(id: &str, status: JobStatus, err: Option<Error>) -> JobRecord {
        JobRecord {
            id: id.into(),
            status,
            reason: "no output yet".into(),
            reason_code: "no_output",
            input: format!("in/{id}"),
            output: format!("out/{id}.fsm"),
            input_bytes: None,
            duration_ms: JsonU64(1234),
            output_bytes: (status == JobStatus::Succeeded).then_some(JsonU64(2048)),
            output_sha256: (status == JobStatus::Succeeded).then(|| "ab".repeat(32)),
            entries: None,
            last_commit_ts: None,
            last_commit_ts_overridden: None,
            adapters: vec!["redis".into()],
            self_test: SelfTest::NotRun,
            self_test_mismatch: None,
            fingerprint: None,
            error: err.as_ref().map(JobError::from_error),
            warnings: vec![],
        }
    }

    pub(crate) fn report(jobs: Vec<JobRecord>) -> RunReport {
        RunReport {
            format: RUN_REPORT_FORMAT,
            format_version: FORMAT_VERSION,
            ekvplan_version: "0.1.0".into(),
            plan: "plans/nightly.toml".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:01Z".into(),
            duration_ms: JsonU64(1500),
            exit_code: exit_code(false, &jobs),
            interrupted: false,
            options: ReportOptions {
                jobs: 2,
                fail_fast: false,
                force: false,
                only: vec![],
                shard: None,
                memory_budget: JsonU64(1 << 30),
            },
            counts: Counts::tally(5, &jobs),
            jobs,
        }
    }

    #[test]
    fn exit_code_precedence() {
        let ok = record("a", JobStatus::Succeeded, None);
        let io = record(
            "b",
            JobStatus::Failed,
            Some(Error::io("x", std::io::Error::other("y"))),
        );
        let data = record("c", JobStatus::Failed, Some(Error::data("bad")));
        assert_eq!(exit_code(false, std::slice::from_ref(&ok)), 0);
        assert_eq!(exit_code(false, &[ok.clone(), io.clone()]), 1);
        assert_eq!(exit_code(false, &[io.clone(), data.clone()]), 2);
        assert_eq!(exit_code(true, &[ok, data]), 130);
    }

    #[test]
    fn junit_shape_and_escaping() {
        let r = report(vec![
            record("ok", JobStatus::Succeeded, None),
            record(
                "bad<&>",
                JobStatus::Failed,
                Some(Error::data("x\u{1}\"y\"\nmore")),
            ),
            record(
                "io",
                JobStatus::Failed,
                Some(Error::io("open f", std::io::Error::other("denied"))),
            ),
            record("fresh", JobStatus::UpToDate, None),
        ]);
        let x = r.to_junit();
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"ekvplan run\" tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\" time=\"1.500\">"), "{x}");
        assert!(x.contains("<testsuite name=\"nightly\" tests=\"4\""));
        assert!(x.contains(
            "<testcase name=\"bad&lt;&amp;&gt;\" classname=\"ekvplan.nightly\" time=\"1.234\">"
        ));
        assert!(x.contains("<failure type=\"data\" code=\"ekvplan::invalid_record\" message=\"x\u{FFFD}&quot;y&quot;\">x\u{FFFD}&quot;y&quot;\nmore</failure>"), "{x}");
        assert!(x.contains("<error type=\"io\" code=\"ekvplan::io\" message=\"open f: denied\">"));
        assert!(x.contains("<skipped message=\"up to date\"/>"));
        assert_eq!(x.matches("<testcase ").count(), 4);
        assert_eq!(x.matches("</testcase>").count(), 4);
    }

    #[test]
    fn json_is_versioned_and_complete() {
        let r = report(vec![
            record("ok", JobStatus::Succeeded, None),
            record("bad", JobStatus::Failed, Some(Error::data("boom"))),
        ]);
        let v: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
        assert_eq!(v["format"], "ekvplan-run-report");
        assert_eq!(v["format_version"], 2);
        assert!(v.get("report_version").is_none());
        assert_eq!(v["exit_code"], 2);
        assert_eq!(v["duration_ms"], "1500");
        assert_eq!(v["options"]["memory_budget"], "1073741824");
        assert_eq!(v["jobs"][0]["output_bytes"], "2048");
        assert_eq!(v["counts"]["plan"], 5);
        assert_eq!(v["counts"]["failed"], 1);
        assert_eq!(v["jobs"][0]["status"], "succeeded");
        assert_eq!(v["jobs"][0]["self_test"], "not_run");
        assert_eq!(v["jobs"][1]["error"]["class"], "data");
        assert_eq!(v["jobs"][1]["error"]["exit_code"], 2);
        assert_eq!(v["jobs"][1]["error"]["code"], "ekvplan::invalid_record");
        assert!(v["jobs"][1]["output_sha256"].is_null());
    }

    #[test]
    fn summary_lists_jobs_and_errors() {
        let r = report(vec![
            record("ok", JobStatus::Succeeded, None),
            record("bad", JobStatus::Failed, Some(Error::data("boom"))),
            record("fresh", JobStatus::UpToDate, None),
        ]);
        let s = r.summary_table();
        let lines: Vec<&str> = s.lines().collect();
        assert!(
            lines[0].starts_with("JOB    STATUS      DURATION  SIZE"),
            "{s}"
        );
        assert!(
            lines[1].starts_with("ok     ok          1.23s     2.00 KiB  abababababab"),
            "{s}"
        );
        assert!(s.contains("\nbad: boom\n"));
        assert!(
            s.contains("3 of 5 job(s): 1 succeeded, 1 up to date, 1 failed in 1.50s"),
            "{s}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(0), "0ms");
        assert_eq!(format_duration(999), "999ms");
        assert_eq!(format_duration(1000), "1.00s");
        assert_eq!(format_duration(59_999), "59.99s");
        assert_eq!(format_duration(61_000), "1m01s");
    }
}
