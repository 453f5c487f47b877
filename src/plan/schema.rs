//! The plan's JSON Schema: generated from [`super::model`] as draft-07 (the
//! draft taplo / Even Better TOML and Tombi understand), committed at
//! `schema/plan.schema.json`, and compiled once for validating plans.

use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::model::PlanFile;

/// Where the committed copy lives, relative to the crate root.
pub const COMMITTED_PATH: &str = "schema/plan.schema.json";

/// The schema as a JSON value.
pub fn schema_value() -> Value {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<PlanFile>();
    let mut v = schema.to_value();
    tidy(&mut v);
    // Header keywords first, so the committed file reads top-down.
    if let Value::Object(map) = v {
        let mut ordered = serde_json::Map::new();
        let mut rest = map;
        for k in ["$schema", "title", "description"] {
            if let Some(x) = rest.remove(k) {
                ordered.insert(k.into(), x);
            }
        }
        ordered.extend(rest);
        v = Value::Object(ordered);
    }
    v
}

/// The schema as committed: pretty JSON with a trailing newline (what
/// `ekvplan init` writes beside a new plan).
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&schema_value()).expect("schema serializes");
    s.push('\n');
    s
}

/// Adjust schemars' output for TOML and draft-07 consumers: TOML has no
/// null (drop the `null` alternatives and `"default": null` that `Option<T>`
/// brings); draft-07 ignores keywords beside `$ref` (move the `$ref` into an
/// `allOf` so descriptions still reach editors); doc-comment line breaks are
/// joined into paragraphs; `uint32` gets its maximum.
fn tidy(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            for key in ["anyOf", "oneOf"] {
                let Some(Value::Array(alts)) = map.get_mut(key) else {
                    continue;
                };
                alts.retain(|a| a.get("type").is_none_or(|t| t != "null"));
                if alts.len() == 1 {
                    let only = alts.remove(0);
                    map.remove(key);
                    if let Value::Object(inner) = only {
                        for (k, x) in inner {
                            map.entry(k).or_insert(x);
                        }
                    }
                }
            }
            if map.len() > 1 {
                if let Some(r) = map.remove("$ref") {
                    map.insert("allOf".into(), serde_json::json!([{ "$ref": r }]));
                }
            }
            if let Some(Value::String(d)) = map.get_mut("description") {
                *d = unwrap_paragraphs(d);
            }
            if map.get("format").and_then(Value::as_str) == Some("uint32") {
                map.insert("maximum".into(), u32::MAX.into());
            }
            for x in map.values_mut() {
                tidy(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(tidy),
        _ => {}
    }
}

fn unwrap_paragraphs(s: &str) -> String {
    s.split("\n\n")
        .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The compiled validator (built once per process).
pub fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        jsonschema::draft7::new(&schema_value()).expect("the generated plan schema compiles")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_draft07_and_closed() {
        let v = schema_value();
        assert_eq!(v["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(v["additionalProperties"], false);
        assert!(v.get("definitions").is_some());
        assert!(!v.to_string().contains("\"null\""));
    }

    #[test]
    fn validator_compiles_and_checks_versions() {
        let ok = serde_json::json!({"version": 1});
        assert!(validator().is_valid(&ok));
        let bad = serde_json::json!({"version": 2});
        assert!(!validator().is_valid(&bad));
    }
}
