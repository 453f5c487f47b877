//! The JSON Schemas of everything ekvplan writes for machines, generated
//! from the Rust types that are serialized (so a schema cannot drift from
//! its output) and committed under `schema/` for consumers. A test keeps the
//! committed files current and checks real outputs against them;
//! `ekvplan schema NAME --output FILE` regenerates one.

use std::path::PathBuf;

use clap::Args;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::error::exit;
use crate::machine::dest::Dest;

/// One committed schema.
pub struct Document {
    /// What `ekvplan schema NAME` calls it.
    pub name: &'static str,
    /// Where it is committed, relative to the crate root.
    pub path: &'static str,
    pub value: fn() -> Value,
}

pub const DOCUMENTS: &[Document] = &[
    Document {
        name: "plan",
        path: crate::plan::schema::COMMITTED_PATH,
        value: crate::plan::schema::schema_value,
    },
    Document {
        name: "run-report",
        path: "schema/run-report.schema.json",
        value: generate::<crate::executor::report::RunReport>,
    },
    Document {
        name: "verify-report",
        path: "schema/verify-report.schema.json",
        value: generate::<crate::executor::verify::VerifyReport>,
    },
    Document {
        name: "validate",
        path: "schema/validate.schema.json",
        value: generate::<crate::plan::ValidateOutput>,
    },
    Document {
        name: "dry-run",
        path: "schema/dry-run.schema.json",
        value: generate::<crate::executor::dry_run::DryRun>,
    },
];

pub fn find(name: &str) -> Option<&'static Document> {
    DOCUMENTS.iter().find(|d| d.name == name)
}

/// The names, for messages.
pub fn names() -> Vec<&'static str> {
    DOCUMENTS.iter().map(|d| d.name).collect()
}

impl Document {
    /// Pretty JSON with a trailing newline, as committed.
    pub fn text(&self) -> String {
        let mut s = serde_json::to_string_pretty(&(self.value)()).expect("schema serializes");
        s.push('\n');
        s
    }

    pub fn validator(&self) -> jsonschema::Validator {
        jsonschema::draft7::new(&(self.value)()).expect("generated schemas compile")
    }
}

#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Which schema: plan (the plan file), run-report (`run --report`),
    /// verify-report (`verify --report`), validate (`validate --format
    /// json`) or dry-run (`run --dry-run --format json`).
    #[arg(default_value = "plan")]
    pub name: String,
    /// Write the schema to this file instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

pub fn schema_main(a: SchemaArgs) -> i32 {
    let Some(doc) = find(&a.name) else {
        eprintln!(
            "ekvplan: error: no schema named {:?} (one of: {})",
            a.name,
            names().join(", ")
        );
        return exit::USAGE_OR_IO;
    };
    let text = doc.text();
    let dest = a.output.as_deref().map_or(Dest::Stdout, Dest::parse);
    match dest.write(text.as_bytes()) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("ekvplan: error: {e}");
            e.exit_code()
        }
    }
}

/// A draft-07 schema for `T`: header keywords first, descriptions joined
/// into paragraphs, and `$ref`s that carry other keywords moved into an
/// `allOf` (draft-07 ignores a `$ref`'s siblings).
pub fn generate<T: JsonSchema>() -> Value {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut v = schema.to_value();
    tidy(&mut v);
    let Value::Object(mut rest) = v else {
        return v;
    };
    let mut ordered = serde_json::Map::new();
    for k in ["$schema", "title", "description"] {
        if let Some(x) = rest.remove(k) {
            ordered.insert(k.into(), x);
        }
    }
    ordered.extend(rest);
    Value::Object(ordered)
}

fn tidy(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.len() > 1 {
                if let Some(r) = map.remove("$ref") {
                    map.insert("allOf".into(), serde_json::json!([{ "$ref": r }]));
                }
            }
            if let Some(Value::String(d)) = map.get_mut("description") {
                *d = d
                    .split("\n\n")
                    .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n\n");
            }
            map.values_mut().for_each(tidy);
        }
        Value::Array(a) => a.iter_mut().for_each(tidy),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_compiles_and_is_draft07() {
        for d in DOCUMENTS {
            let v = (d.value)();
            assert_eq!(
                v["$schema"], "http://json-schema.org/draft-07/schema#",
                "{}",
                d.name
            );
            assert!(jsonschema::draft7::meta::is_valid(&v), "{}", d.name);
            let _ = d.validator();
        }
        assert!(find("run-report").is_some());
        assert!(find("nope").is_none());
    }

    #[test]
    fn u64_fields_are_strings_in_every_report_schema() {
        for name in ["run-report", "verify-report", "validate", "dry-run"] {
            let text = find(name).unwrap().text();
            assert!(!text.contains("\"uint64\""), "{name} has a numeric u64");
        }
    }
}
