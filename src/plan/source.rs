//! The plan source: TOML parsed with spans, turned into JSON (for the schema
//! and for serde) plus a map from JSON pointer to where each key and value
//! sits in the file, so every later problem can point into the source.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use serde_json::{Map, Number, Value};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diag::PlanDiagnostic;

/// Where one key/value pair sits in the plan file.
#[derive(Debug, Clone)]
pub struct SpanInfo {
    /// The key (None for array elements and the root).
    pub key: Option<Range<usize>>,
    pub value: Range<usize>,
    /// The TOML type of the value ("string", "integer", "table", ...).
    pub kind: &'static str,
}

/// A parsed plan document.
#[derive(Debug)]
pub struct Doc {
    pub json: Value,
    spans: HashMap<String, SpanInfo>,
    /// Pointers whose values were already reported while converting (so the
    /// schema's complaints about the placeholder are not repeated).
    reported: HashSet<String>,
}

/// Escape one JSON pointer segment (RFC 6901).
pub fn escape(seg: &str) -> String {
    seg.replace('~', "~0").replace('/', "~1")
}

/// `ptr` + `/` + escaped `seg`.
pub fn child(ptr: &str, seg: &str) -> String {
    format!("{ptr}/{}", escape(seg))
}

impl Doc {
    /// The value's span.
    pub fn value_span(&self, ptr: &str) -> Option<Range<usize>> {
        self.spans
            .get(ptr)
            .map(|s| s.value.clone())
            .filter(|r| !r.is_empty())
    }

    /// The key's span, else the value's.
    pub fn key_span(&self, ptr: &str) -> Option<Range<usize>> {
        let s = self.spans.get(ptr)?;
        s.key.clone().or_else(|| Some(s.value.clone()))
    }

    /// Whether `ptr` or one of its ancestors was reported during conversion.
    pub fn already_reported(&self, ptr: &str) -> bool {
        self.reported.iter().any(|r| {
            ptr == r || (ptr.starts_with(r.as_str()) && ptr.as_bytes().get(r.len()) == Some(&b'/'))
        })
    }

    /// From the first to the last byte of a value and everything in it (a
    /// table's own span is only its header).
    pub fn extent(&self, ptr: &str) -> Option<Range<usize>> {
        let inside = |p: &str| {
            p == ptr || (p.starts_with(ptr) && p.as_bytes().get(ptr.len()) == Some(&b'/'))
        };
        self.spans
            .iter()
            .filter(|(p, _)| inside(p))
            .flat_map(|(_, s)| s.key.iter().chain(std::iter::once(&s.value)))
            .filter(|r| !r.is_empty())
            .fold(None, |acc: Option<Range<usize>>, r| match acc {
                None => Some(r.clone()),
                Some(a) => Some(a.start.min(r.start)..a.end.max(r.end)),
            })
    }

    /// Every pointer reported during conversion.
    pub fn reported_pointers(&self) -> impl Iterator<Item = &str> {
        self.reported.iter().map(String::as_str)
    }

    pub fn kind(&self, ptr: &str) -> &'static str {
        self.spans.get(ptr).map_or("nothing", |s| s.kind)
    }
}

/// Parse the plan source. Syntax errors stop here (they are all returned);
/// values TOML accepts but no plan field can hold (floats, datetimes,
/// integers past i64) become diagnostics and `null` placeholders.
pub fn parse(src: &str) -> Result<(Doc, Vec<PlanDiagnostic>), Vec<PlanDiagnostic>> {
    let (root, errors) = DeTable::parse_recoverable(src);
    if !errors.is_empty() {
        let mut out: Vec<PlanDiagnostic> = errors
            .iter()
            .map(|e| {
                PlanDiagnostic::error("syntax", format!("TOML syntax error: {}", e.message()))
                    .at(e.span(), "here")
            })
            .collect();
        out.dedup();
        return Err(out);
    }
    let mut conv = Converter {
        spans: HashMap::new(),
        reported: HashSet::new(),
        problems: Vec::new(),
    };
    let span = root.span();
    let root = Spanned::new(span, DeValue::Table(root.into_inner()));
    let json = conv.value(&root, String::new(), None);
    Ok((
        Doc {
            json,
            spans: conv.spans,
            reported: conv.reported,
        },
        conv.problems,
    ))
}

struct Converter {
    spans: HashMap<String, SpanInfo>,
    reported: HashSet<String>,
    problems: Vec<PlanDiagnostic>,
}

impl Converter {
    fn value(&mut self, v: &Spanned<DeValue<'_>>, ptr: String, key: Option<Range<usize>>) -> Value {
        let span = v.span();
        let kind = v.get_ref().type_str();
        let json = match v.get_ref() {
            DeValue::String(s) => Value::String(s.to_string()),
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Value::Number(Number::from(n)),
                Err(_) => {
                    let field = last_field(&ptr);
                    let mut d = PlanDiagnostic::error(
                        "integer_out_of_range",
                        format!("`{field}`: {i} does not fit a TOML integer (at most 2^63-1)"),
                    )
                    .at(Some(span.clone()), "too large for TOML");
                    if field == "last_commit_ts" {
                        d = d.help(format!("write it as a string: last_commit_ts = \"{i}\""));
                    }
                    self.problems.push(d);
                    self.reported.insert(ptr.clone());
                    Value::Null
                }
            },
            DeValue::Float(_) | DeValue::Datetime(_) => {
                let field = last_field(&ptr);
                self.problems.push(
                    PlanDiagnostic::error(
                        "invalid_type",
                        format!("`{field}` cannot be a TOML {kind}; no plan setting takes one"),
                    )
                    .at(Some(span.clone()), format!("a {kind}")),
                );
                self.reported.insert(ptr.clone());
                Value::Null
            }
            DeValue::Array(a) => {
                let items = a
                    .iter()
                    .enumerate()
                    .map(|(i, x)| self.value(x, format!("{ptr}/{i}"), None))
                    .collect();
                Value::Array(items)
            }
            DeValue::Table(t) => {
                let mut map = Map::new();
                let mut entries: Vec<_> = t.iter().collect();
                // Source order, so JSON output and diagnostics follow the file.
                entries.sort_by_key(|(k, _)| k.span().start);
                for (k, x) in entries {
                    let cptr = child(&ptr, k.get_ref());
                    let jv = self.value(x, cptr, Some(k.span()));
                    map.insert(k.get_ref().to_string(), jv);
                }
                Value::Object(map)
            }
        };
        self.spans.insert(
            ptr,
            SpanInfo {
                key,
                value: span,
                kind,
            },
        );
        json
    }
}

/// The last non-index segment of a pointer (`/job/0/id` → `id`).
pub fn last_field(ptr: &str) -> String {
    ptr.rsplit('/')
        .find(|s| !s.is_empty() && !s.bytes().all(|b| b.is_ascii_digit()))
        .map_or_else(
            || "plan".to_string(),
            |s| s.replace("~1", "/").replace("~0", "~"),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_follow_pointers() {
        let src = "version = 1\n[[job]]\nid = \"a\"\nexclude.s3.buckets = [\"b\"]\n";
        let (doc, probs) = parse(src).unwrap();
        assert!(probs.is_empty());
        assert_eq!(doc.json["job"][0]["id"], "a");
        let id = doc.value_span("/job/0/id").unwrap();
        assert_eq!(&src[id], "\"a\"");
        let k = doc.key_span("/job/0/exclude/s3/buckets").unwrap();
        assert_eq!(&src[k], "buckets");
        let job = doc.extent("/job/0").unwrap();
        assert_eq!(
            &src[job],
            "[[job]]\nid = \"a\"\nexclude.s3.buckets = [\"b\"]"
        );
        assert_eq!(doc.kind("/job/0"), "table");
    }

    #[test]
    fn unrepresentable_values_are_reported_once() {
        let src = "version = 1.0\n[defaults]\nlast_commit_ts = 18446744073709551615\n";
        let (doc, probs) = parse(src).unwrap();
        assert_eq!(probs.len(), 2);
        assert_eq!(probs[0].kind, "invalid_type");
        assert_eq!(probs[1].kind, "integer_out_of_range");
        assert!(
            probs[1]
                .help
                .as_deref()
                .unwrap()
                .contains("\"18446744073709551615\"")
        );
        assert!(doc.already_reported("/version"));
        assert!(!doc.already_reported("/versions"));
    }

    #[test]
    fn syntax_errors_are_all_returned() {
        let errs = parse("a = 1\na = 2\nb = [1,\n").unwrap_err();
        assert!(errs.len() >= 2);
        assert!(errs.iter().all(|d| d.kind == "syntax"));
    }

    #[test]
    fn pointer_segments_are_escaped() {
        assert_eq!(child("", "a/b~c"), "/a~1b~0c");
        assert_eq!(last_field("/job/3/exclude/redis/databases/0"), "databases");
    }
}
