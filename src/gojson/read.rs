//! A raw JSON value tree: object members in document order with
//! duplicates kept and numbers as their literal text. Used where JSON is
//! carried rather than decoded (ekvplan's own sidecar fields) and, through
//! its [`super::Unmarshal`] impl, as Go's `interface{}`.

use super::scan::{GO_MAX_DEPTH, Scanner, SyntaxError};
use super::unmarshal::raw_tree;

#[derive(Debug, Clone, Default, PartialEq)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    /// The number literal exactly as written.
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Members in document order.
    Object(Vec<(String, Value)>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Go's name for the JSON type, as used in its unmarshal errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Re-encode compactly, as Go's `json.Compact` of the original text would
    /// (numbers verbatim, strings re-escaped with the given mode).
    pub fn write_compact(&self, out: &mut Vec<u8>, esc: super::Escape) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Number(n) => out.extend_from_slice(n.as_bytes()),
            Value::String(s) => super::write_string(out, s.as_bytes(), esc),
            Value::Array(a) => {
                out.push(b'[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write_compact(out, esc);
                }
                out.push(b']');
            }
            Value::Object(m) => {
                out.push(b'{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    super::write_string(out, k.as_bytes(), esc);
                    out.push(b':');
                    v.write_compact(out, esc);
                }
                out.push(b'}');
            }
        }
    }
}

/// Parse one complete document (trailing whitespace allowed) into a raw
/// tree, with Go's syntax rules and nesting limit.
pub fn parse(input: &[u8]) -> Result<Value, SyntaxError> {
    parse_with_limit(input, GO_MAX_DEPTH)
}

/// [`parse`] with a smaller nesting limit.
pub fn parse_with_limit(input: &[u8], max_depth: usize) -> Result<Value, SyntaxError> {
    let mut s = Scanner::with_max_depth(max_depth);
    let (n, done) = s.feed(input, 0)?;
    if !done && !s.eof_ok() {
        return Err(SyntaxError {
            msg: "unexpected end of JSON input".into(),
            offset: input.len(),
        });
    }
    if let Some(i) = input[n..]
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Err(SyntaxError {
            msg: format!(
                "invalid character {} after top-level value",
                super::scan::quote_char(input[n + i])
            ),
            offset: n + i,
        });
    }
    Ok(raw_tree(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_tree_keeps_duplicates_and_literals() {
        let v = parse(br#" {"a":1.50,"a":[true,null,"\u00e9"]} "#).unwrap();
        let m = v.as_object().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].1, Value::Number("1.50".into()));
        assert_eq!(
            m[1].1,
            Value::Array(vec![
                Value::Bool(true),
                Value::Null,
                Value::String("é".into())
            ])
        );
        assert!(parse(b"{} x").is_err());
        assert!(parse(b"[").is_err());
        let deep = "[".repeat(300) + &"]".repeat(300);
        assert!(parse_with_limit(deep.as_bytes(), 256).is_err());
    }
}
