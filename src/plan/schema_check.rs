//! Schema validation of a parsed plan, with every jsonschema error turned
//! into a diagnostic on the offending key or value in the TOML source.

use jsonschema::error::{TypeKind, ValidationError, ValidationErrorKind};
use serde_json::Value;

use super::diag::PlanDiagnostic;
use super::model::{self, ID_MAX_LEN};
use super::schema;
use super::source::{Doc, child};

/// Validate the document against the plan schema. Also returns the
/// pointers of every value the schema rejected: an unknown key's own
/// pointer, else the value's (a table missing a required key is rejected
/// as a whole).
pub fn check(doc: &Doc) -> (Vec<PlanDiagnostic>, Vec<String>) {
    let mut out = Vec::new();
    let mut ptrs = Vec::new();
    for e in schema::validator().iter_errors(&doc.json) {
        let ptr = e.instance_path.as_str();
        match &e.kind {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                ptrs.extend(unexpected.iter().map(|k| child(ptr, k)));
            }
            _ => ptrs.push(ptr.to_string()),
        }
        map_error(doc, &e, &mut out);
    }
    // Several schema paths can report the same spot (e.g. a `$ref` and its
    // wrapper); keep the first of identical findings.
    let mut seen = std::collections::HashSet::new();
    out.retain(|d| seen.insert((d.kind, d.message.clone(), d.sort_offset())));
    (out, ptrs)
}

/// The segments of a pointer (unescaped).
fn segments(ptr: &str) -> Vec<String> {
    ptr.split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Which top-level entry a pointer is in, as the user sees it, and the
/// pointer of that entry.
pub fn entry_of(doc: &Doc, ptr: &str) -> (String, String) {
    let segs = segments(ptr);
    match segs.first().map(String::as_str) {
        Some("defaults") => ("[defaults]".into(), "/defaults".into()),
        Some(t @ ("job" | "batch")) if segs.len() >= 2 && is_index(&segs[1]) => {
            let eptr = format!("/{t}/{}", segs[1]);
            let n: usize = segs[1].parse().unwrap_or(0);
            let name = match (t, doc.json.pointer(&format!("{eptr}/id"))) {
                ("job", Some(Value::String(id))) if !id.is_empty() => {
                    format!("[[job]] {id:?}")
                }
                _ => format!("[[{t}]] #{}", n + 1),
            };
            (name, eptr)
        }
        _ => ("the top level".into(), String::new()),
    }
}

fn is_index(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The dotted path of a pointer within its entry (`exclude.s3.buckets[1]`).
pub fn field_path(doc: &Doc, ptr: &str) -> String {
    let (_, eptr) = entry_of(doc, ptr);
    let rest = &ptr[eptr.len().min(ptr.len())..];
    let mut s = String::new();
    for seg in segments(rest) {
        if is_index(&seg) {
            s.push_str(&format!("[{seg}]"));
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(&seg);
        }
    }
    if s.is_empty() { eptr } else { s }
}

/// The keys a table at `ptr` accepts.
fn known_keys(ptr: &str) -> Vec<&'static str> {
    let segs = segments(ptr);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let mut v: Vec<&'static str> = Vec::new();
    match segs.as_slice() {
        [] => v.extend(model::TOP_KEYS),
        ["defaults"] => {
            v.extend(model::DEFAULTS_KEYS);
            v.extend(model::COMMON_KEYS);
        }
        ["job", _] => {
            v.extend(model::JOB_KEYS);
            v.extend(model::COMMON_KEYS);
        }
        ["batch", _] => {
            v.extend(model::BATCH_KEYS);
            v.extend(model::COMMON_KEYS);
        }
        [.., "exclude"] => v.extend(model::EXCLUDE_KEYS),
        [.., "exclude", a] => v.extend(model::exclude_list_key(a)),
        _ => {}
    }
    v
}

/// The closest known key, when close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// What a field expects, in words (for type errors and failed `oneOf`s).
fn expectation(doc: &Doc, ptr: &str) -> String {
    let segs = segments(ptr);
    let last = segs.last().map(String::as_str).unwrap_or("");
    let parent = segs.iter().rev().nth(1).map(String::as_str).unwrap_or("");
    if is_index(last) {
        return match parent {
            "databases" => "a non-negative integer".into(),
            "adapters" => "an adapter name (redis, dynamodb, s3 or sqs)".into(),
            "job" | "batch" => "a table".into(),
            _ => "a string".into(),
        };
    }
    let _ = doc;
    match last {
        "version" => "the integer 1".into(),
        "defaults" | "exclude" | "dynamodb" | "s3" | "sqs" | "redis" => "a table".into(),
        "job" => "an array of tables ([[job]])".into(),
        "batch" => "an array of tables ([[batch]])".into(),
        "adapters" => "\"all\", \"manifest\" or a list of adapter names".into(),
        "input_format" => "one of \"dir\", \"tar\", \"tar.zst\", \"tar.zstd\"".into(),
        "last_commit_ts" => "an integer, or a string in decimal or 0x hex".into(),
        "memory_budget" => "a byte size (an integer, or a string such as \"512MiB\")".into(),
        "self_test" => "a boolean (true or false)".into(),
        "inputs" | "skip" => "a glob or a list of globs".into(),
        "tables" | "buckets" | "queues" => "a list of names".into(),
        "databases" => "a list of database numbers".into(),
        _ => "a string".into(),
    }
}

fn found(doc: &Doc, ptr: &str) -> String {
    let k = doc.kind(ptr);
    let article = if k.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {k}")
}

fn type_error(doc: &Doc, ptr: &str, out: &mut Vec<PlanDiagnostic>) {
    let field = field_path(doc, ptr);
    let (entry, _) = entry_of(doc, ptr);
    let expected = expectation(doc, ptr);
    let mut d = PlanDiagnostic::error(
        "invalid_type",
        format!(
            "`{field}` in {entry} must be {expected}, found {}",
            found(doc, ptr)
        ),
    )
    .at(doc.value_span(ptr), format!("expected {expected}"));
    let last = segments(ptr).pop().unwrap_or_default();
    if (last == "job" || last == "batch") && doc.kind(ptr) == "table" {
        d = d.help(format!(
            "write [[{last}]] (an array of tables) instead of [{last}]"
        ));
    }
    if last == "adapters" {
        if let Some(Value::String(s)) = doc.json.pointer(ptr) {
            d = adapters_hint(d, s);
        }
    }
    out.push(d);
}

fn adapters_hint(d: PlanDiagnostic, s: &str) -> PlanDiagnostic {
    if let Some(w) = suggest(s, model::ADAPTER_WORDS.iter().copied()) {
        return d.help(format!("did you mean {w:?}?"));
    }
    match crate::adapter::AdapterSet::parse_encode_flag(s) {
        Ok(set) if !model::ADAPTER_WORDS.contains(&s) => {
            let names: Vec<String> = set.names().iter().map(|n| format!("{n:?}")).collect();
            d.help(format!("write a list: adapters = [{}]", names.join(", ")))
        }
        _ => d.help("use \"all\", \"manifest\" or a list such as [\"redis\", \"s3\"]"),
    }
}

fn map_error(doc: &Doc, e: &ValidationError<'_>, out: &mut Vec<PlanDiagnostic>) {
    let ptr = e.instance_path.as_str();
    if doc.already_reported(ptr) {
        return;
    }
    let (entry, _) = entry_of(doc, ptr);
    let field = field_path(doc, ptr);
    let last = segments(ptr).pop().unwrap_or_default();
    match &e.kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let known = known_keys(ptr);
            for key in unexpected {
                let kptr = child(ptr, key);
                let mut d = PlanDiagnostic::error(
                    "unknown_key",
                    format!("unknown key `{key}` in {}", table_name(doc, ptr)),
                )
                .at(doc.key_span(&kptr), "not a key here");
                if let Some(s) = suggest(key, known.iter().copied()) {
                    d = d.help(format!("did you mean `{s}`?"));
                } else if let Some(h) = misplaced_key_help(ptr, key) {
                    d = d.help(h);
                } else if !known.is_empty() {
                    d = d.help(format!("expected one of: {}", known.join(", ")));
                }
                out.push(d);
            }
        }
        ValidationErrorKind::Required { property } => {
            let prop = property.as_str().unwrap_or("?");
            let mut d = PlanDiagnostic::error(
                "missing_key",
                format!("{} has no `{prop}`", table_name(doc, ptr)),
            )
            .at(
                // The top level has no span of its own: point at its start.
                doc.value_span(ptr)
                    .or_else(|| ptr.is_empty().then_some(0..0)),
                format!("`{prop}` is required here"),
            );
            d = match (ptr, prop) {
                ("", "version") => d.help("add `version = 1` at the top of the plan"),
                (_, "inputs") => {
                    d.help("add a glob of dump directories, e.g. inputs = \"dumps/*\"")
                }
                (_, "id") => d.help("add a unique id, e.g. id = \"cluster-1\""),
                _ => d,
            };
            out.push(d);
        }
        ValidationErrorKind::Type { kind } => {
            let _ = matches!(kind, TypeKind::Single(_));
            type_error(doc, ptr, out);
        }
        ValidationErrorKind::OneOfNotValid { context } => {
            // Keep the branches whose type matched; if exactly one did, its
            // errors are the precise ones.
            let applicable: Vec<&Vec<ValidationError<'static>>> = context
                .iter()
                .filter(|branch| {
                    !branch.iter().any(|x| {
                        x.instance_path.as_str() == ptr
                            && matches!(x.kind, ValidationErrorKind::Type { .. })
                    })
                })
                .collect();
            if applicable.len() == 1 {
                for x in applicable[0] {
                    map_error(doc, x, out);
                }
            } else {
                type_error(doc, ptr, out);
            }
        }
        ValidationErrorKind::Enum { options }
        | ValidationErrorKind::Constant {
            expected_value: options,
        } if ptr == "/version" => {
            let _ = options;
            out.push(
                PlanDiagnostic::error(
                    "unsupported_version",
                    format!(
                        "plan version {} is not supported (this ekvplan reads version {})",
                        e.instance,
                        model::PLAN_VERSION
                    ),
                )
                .at(doc.value_span(ptr), "unsupported version")
                .help("set `version = 1`"),
            );
        }
        ValidationErrorKind::Enum { options } => {
            let got = e.instance.as_str().unwrap_or("").to_string();
            let names: Vec<&str> = options
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let is_adapter_item =
                segments(ptr).iter().rev().nth(1).map(String::as_str) == Some("adapters");
            let mut d = if is_adapter_item {
                PlanDiagnostic::error("invalid_value", format!("unknown adapter {}", e.instance))
                    .at(doc.value_span(ptr), "not an adapter")
            } else if last == "adapters" {
                PlanDiagnostic::error(
                    "invalid_value",
                    format!(
                        "`adapters` in {entry} must be \"all\", \"manifest\" or a list of adapter names, found {}",
                        e.instance
                    ),
                )
                .at(doc.value_span(ptr), "not \"all\" or \"manifest\"")
            } else {
                PlanDiagnostic::error(
                    "invalid_value",
                    format!("`{field}` in {entry} must be one of {}", names.join(", ")),
                )
                .at(doc.value_span(ptr), "not allowed")
            };
            if last == "adapters" {
                d = adapters_hint(d, &got);
            } else if let Some(s) = suggest(&got, names.iter().copied()) {
                d = d.help(format!("did you mean {s:?}?"));
            } else {
                d = d.help(format!("expected one of: {}", names.join(", ")));
            }
            out.push(d);
        }
        ValidationErrorKind::Pattern { .. } => {
            let got = &e.instance;
            let d = match last.as_str() {
                "id" => PlanDiagnostic::error(
                    "invalid_id",
                    format!("job id {got} is not a valid id"),
                )
                .at(doc.value_span(ptr), "invalid id")
                .help(
                    "ids use letters, digits and . _ : @ + = -, and start with a letter or digit",
                ),
                "last_commit_ts" => PlanDiagnostic::error(
                    "invalid_value",
                    format!("`last_commit_ts` in {entry}: {got} is not a decimal or 0x-hex uint64"),
                )
                .at(doc.value_span(ptr), "not a timestamp")
                .help("write digits, or 0x followed by hex digits, e.g. \"0x1970e5c2b0000001\""),
                "memory_budget" => PlanDiagnostic::error(
                    "invalid_value",
                    format!("`memory_budget` in {entry}: {got} is not a byte size"),
                )
                .at(doc.value_span(ptr), "not a size")
                .help("write a number with an optional unit: B, KiB, MiB or GiB (e.g. \"512MiB\")"),
                _ => generic(doc, e, ptr, &entry, &field),
            };
            out.push(d);
        }
        ValidationErrorKind::MaxLength { .. } if last == "id" => out.push(
            PlanDiagnostic::error(
                "invalid_id",
                format!("job id is longer than {ID_MAX_LEN} characters"),
            )
            .at(doc.value_span(ptr), "too long"),
        ),
        ValidationErrorKind::MinLength { .. } => out.push(
            PlanDiagnostic::error(
                "invalid_value",
                format!("`{field}` in {entry} must not be empty"),
            )
            .at(doc.value_span(ptr), "empty"),
        ),
        ValidationErrorKind::MinItems { .. } => out.push(
            PlanDiagnostic::error(
                "invalid_value",
                format!("`{field}` in {entry} must not be an empty list"),
            )
            .at(doc.value_span(ptr), "empty list")
            .help(if last == "adapters" {
                "list at least one adapter, or use \"all\""
            } else {
                "list at least one item, or remove the key"
            }),
        ),
        ValidationErrorKind::UniqueItems => {
            let (first, dup) = first_duplicate(&e.instance).unwrap_or((0, 0));
            out.push(
                PlanDiagnostic::error(
                    "invalid_value",
                    format!("`{field}` in {entry} lists {} twice", e.instance[dup]),
                )
                .at(doc.value_span(&format!("{ptr}/{dup}")), "repeated here")
                .also(
                    doc.value_span(&format!("{ptr}/{first}")),
                    "first listed here",
                ),
            );
        }
        ValidationErrorKind::Minimum { limit } => out.push(
            PlanDiagnostic::error(
                "invalid_value",
                format!(
                    "`{field}` in {entry} must be at least {limit}, found {}",
                    e.instance
                ),
            )
            .at(doc.value_span(ptr), "too small"),
        ),
        ValidationErrorKind::Maximum { limit } => out.push(
            PlanDiagnostic::error(
                "invalid_value",
                format!(
                    "`{field}` in {entry} must be at most {limit}, found {}",
                    e.instance
                ),
            )
            .at(doc.value_span(ptr), "too large"),
        ),
        _ => out.push(generic(doc, e, ptr, &entry, &field)),
    }
}

fn generic(
    doc: &Doc,
    e: &ValidationError<'_>,
    ptr: &str,
    entry: &str,
    field: &str,
) -> PlanDiagnostic {
    PlanDiagnostic::error("invalid_value", format!("`{field}` in {entry}: {e}"))
        .at(doc.value_span(ptr), "invalid value")
}

fn first_duplicate(v: &Value) -> Option<(usize, usize)> {
    let a = v.as_array()?;
    for (j, x) in a.iter().enumerate() {
        if let Some(i) = a[..j].iter().position(|y| y == x) {
            return Some((i, j));
        }
    }
    None
}

/// How a table is named in messages.
fn table_name(doc: &Doc, ptr: &str) -> String {
    let (entry, eptr) = entry_of(doc, ptr);
    if ptr == eptr {
        entry
    } else {
        format!("`{}` of {entry}", field_path(doc, ptr))
    }
}

/// A key that exists elsewhere in the plan format but not in this table.
fn misplaced_key_help(ptr: &str, key: &str) -> Option<String> {
    let segs = segments(ptr);
    let here = segs.first().map(String::as_str);
    let depth = segs.len();
    match (here, depth, key) {
        (Some("batch"), 2, "input") => {
            Some("a [[batch]] takes `inputs`, a glob of dump directories".into())
        }
        (Some("job"), 2, "inputs" | "skip") => {
            Some("globs belong in a [[batch]]; a [[job]] takes one `input`".into())
        }
        (Some("defaults"), 1, "id") => Some("ids are set per [[job]] or [[batch]]".into()),
        (Some("defaults"), 1, "inputs" | "skip") => Some("globs belong in a [[batch]]".into()),
        (None, 0, k) if model::COMMON_KEYS.contains(&k) || k == "input" || k == "output" => Some(
            format!("`{k}` belongs in [defaults], a [[job]] or a [[batch]]"),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::source;

    fn kinds(src: &str) -> Vec<(&'static str, String)> {
        let (doc, mut probs) = source::parse(src).unwrap();
        probs.extend(check(&doc).0);
        probs.into_iter().map(|d| (d.kind, d.message)).collect()
    }

    #[test]
    fn minimal_plan_is_valid() {
        assert!(kinds("version = 1\n").is_empty());
    }

    #[test]
    fn unknown_keys_get_suggestions() {
        let (doc, _) = source::parse("verison = 1\n").unwrap();
        let d = check(&doc).0;
        assert_eq!(d.len(), 2, "{d:?}");
        let unknown = d.iter().find(|x| x.kind == "unknown_key").unwrap();
        assert_eq!(unknown.help.as_deref(), Some("did you mean `version`?"));
    }

    #[test]
    fn one_of_fields_report_the_precise_branch() {
        let k = kinds(
            "version = 1\n[defaults]\nadapters = [\"reddis\"]\nlast_commit_ts = \"12abc\"\nmemory_budget = true\n",
        );
        assert_eq!(k.len(), 3, "{k:?}");
        assert!(k[0].1.contains("unknown adapter \"reddis\""), "{k:?}");
        assert!(k[1].1.contains("not a decimal or 0x-hex"), "{k:?}");
        assert_eq!(k[2].0, "invalid_type");
    }

    #[test]
    fn table_instead_of_array_of_tables() {
        let (doc, _) = source::parse("version = 1\n[job]\nid = \"a\"\n").unwrap();
        let d = check(&doc).0;
        assert_eq!(d.len(), 1);
        assert!(d[0].help.as_deref().unwrap().contains("[[job]]"));
    }

    #[test]
    fn duplicates_point_at_the_repeat() {
        let src = "version = 1\n[defaults.exclude.s3]\nbuckets = [\"a\", \"b\", \"a\"]\n";
        let (doc, _) = source::parse(src).unwrap();
        let d = check(&doc).0;
        assert_eq!(d.len(), 1);
        let primary = &d[0].labels[0];
        assert_eq!(primary.span.start, src.rfind("\"a\"").unwrap());
    }
}
