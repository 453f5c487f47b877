//! The public (dump-tree) JSON forms: `_schema.json`, item files and jsonl
//! item lines, both directions, with Go `encoding/json` semantics.

use std::collections::BTreeMap;

use crate::error::InputError;
use crate::gojson::{self, Escape, GoSlice, JsonWriter, Value, base64 as gob64};

use super::proto::{AttrValue, Gsi, Item, KeySchema, Projection, TableSchema};

// ------------------------------------------------------------ item → JSON

fn write_attr(w: &mut JsonWriter, av: &AttrValue) {
    w.begin_object();
    match av {
        AttrValue::S(s) => {
            w.key("S").string(s);
        }
        AttrValue::N(s) => {
            w.key("N").string(s);
        }
        AttrValue::B(b) => {
            w.key("B").bytes_b64(b);
        }
        AttrValue::Bool(b) => {
            w.key("BOOL").bool(*b);
        }
        AttrValue::Null(b) => {
            w.key("NULL").bool(*b);
        }
        // An unset oneof surfaces as NULL: true, as upstream's decoder does.
        AttrValue::Unset => {
            w.key("NULL").bool(true);
        }
        AttrValue::Ss(v) | AttrValue::Ns(v) => {
            w.key(if matches!(av, AttrValue::Ss(_)) {
                "SS"
            } else {
                "NS"
            });
            w.begin_array();
            for s in v {
                w.string(s);
            }
            w.end_array();
        }
        AttrValue::Bs(v) => {
            w.key("BS").begin_array();
            for b in v {
                w.bytes_b64(b);
            }
            w.end_array();
        }
        AttrValue::L(v) => {
            w.key("L").begin_array();
            for x in v {
                write_attr(w, x);
            }
            w.end_array();
        }
        AttrValue::M(m) => {
            w.key("M").begin_object();
            for (k, x) in m {
                w.key(k);
                write_attr(w, x);
            }
            w.end_object();
        }
    }
    w.end_object();
}

fn write_item(w: &mut JsonWriter, item: &Item) {
    w.begin_object();
    for (k, v) in &item.attrs {
        w.key(k);
        write_attr(w, v);
    }
    w.end_object();
}

/// An item file body: `json.MarshalIndent(.., "", "  ")`, no newline.
pub fn item_file_bytes(item: &Item) -> Vec<u8> {
    let mut w = JsonWriter::pretty(Escape::Html);
    write_item(&mut w, item);
    w.finish()
}

/// A jsonl bundle line: `json.Marshal` of the same object, then `\n`.
pub fn item_line_bytes(item: &Item) -> Vec<u8> {
    let mut w = JsonWriter::compact(Escape::Html);
    write_item(&mut w, item);
    w.finish_line()
}

// ---------------------------------------------------------- schema → JSON

fn write_key_attr(w: &mut JsonWriter, name: &str, ty: &str) {
    w.begin_object();
    if !name.is_empty() {
        w.key("name").string(name);
    }
    if !ty.is_empty() {
        w.key("type").string(ty);
    }
    w.end_object();
}

/// `hash_key` / `range_key` with types looked up in the attribute
/// definitions; a range key without a name is `{}`.
fn write_key_schema(w: &mut JsonWriter, ks: Option<&KeySchema>, defs: &BTreeMap<String, String>) {
    let (h, r) = ks.map_or(("", ""), |k| (k.hash_key.as_str(), k.range_key.as_str()));
    let ty = |n: &str| defs.get(n).map_or("", String::as_str);
    w.begin_object();
    w.key("hash_key");
    write_key_attr(w, h, ty(h));
    w.key("range_key");
    if r.is_empty() {
        write_key_attr(w, "", "");
    } else {
        write_key_attr(w, r, ty(r));
    }
    w.end_object();
}

/// `_schema.json` as upstream's decoder writes it (MarshalIndent, HTML
/// escaping, no trailing newline; definitions and GSIs sorted by name).
pub fn schema_file_bytes(s: &TableSchema) -> Vec<u8> {
    let defs = &s.attribute_definitions;
    let mut w = JsonWriter::pretty(Escape::Html);
    w.begin_object();
    w.key("format_version").u64(1);
    w.key("table_name").string(&s.table_name);
    w.key("primary_key");
    write_key_schema(&mut w, s.primary_key.as_ref(), defs);
    w.key("attribute_definitions").begin_array();
    for (n, t) in defs {
        w.begin_object()
            .key("name")
            .string(n)
            .key("type")
            .string(t)
            .end_object();
    }
    w.end_array();
    if !s.global_secondary_indexes.is_empty() {
        w.key("global_secondary_indexes").begin_array();
        for (name, g) in &s.global_secondary_indexes {
            w.begin_object();
            w.key("name").string(name);
            w.key("key_schema");
            write_key_schema(&mut w, g.key_schema.as_ref(), defs);
            w.key("projection").begin_object();
            let p = g.projection.clone().unwrap_or_default();
            w.key("type").string(&p.projection_type);
            if !p.non_key_attributes.is_empty() {
                w.key("non_key_attributes").begin_array();
                for a in &p.non_key_attributes {
                    w.string(a);
                }
                w.end_array();
            }
            w.end_object();
            w.end_object();
        }
        w.end_array();
    }
    w.end_object();
    w.finish()
}

// ------------------------------------------------------------ JSON input

/// An item file (`decodeOneJSON` into `map[string]any`): Go's `any`
/// decoding, so a number that overflows a float64 fails even where a
/// later duplicate key replaces it.
pub fn decode_item_file(bytes: &[u8]) -> Result<Item, InputError> {
    let v: Value = gojson::decode_one(bytes)?;
    item_from_json(&v)
}

/// A jsonl bundle line (`json.Unmarshal` into `map[string]any`).
pub fn decode_item_line(line: &[u8]) -> Result<Item, InputError> {
    let v: Value = gojson::unmarshal(line)?;
    item_from_json(&v)
}

fn invalid(m: impl Into<String>) -> InputError {
    InputError::invalid(m)
}

/// `publicToItem` on the decoded map. A top-level `null` is an item
/// without attributes.
fn item_from_json(v: &Value) -> Result<Item, InputError> {
    let members = match v {
        Value::Null => return Ok(Item::default()),
        Value::Object(m) => m,
        other => {
            return Err(invalid(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                other.kind()
            )));
        }
    };
    let mut item = Item::default();
    for (name, raw) in members {
        let Value::Object(obj) = raw else {
            return Err(invalid(format!("attribute {name:?} is not an object")));
        };
        let av = attr_from_json(obj).map_err(|mut e| {
            e.context.insert(0, format!("attribute {name:?}"));
            e
        })?;
        item.attrs.insert(name.to_string(), av);
    }
    Ok(item)
}

fn attr_from_json(obj: &[(String, Value)]) -> Result<AttrValue, InputError> {
    if obj.len() != 1 {
        return Err(invalid(format!(
            "attribute object must have exactly one type key, got {}",
            obj.len()
        )));
    }
    let (ty, val) = (&obj[0].0, &obj[0].1);
    let string = |what: &str| match val {
        Value::String(s) => Ok(s.clone()),
        _ => Err(invalid(format!("{what} value is not a string"))),
    };
    let boolean = |what: &str| match val {
        Value::Bool(b) => Ok(*b),
        _ => Err(invalid(format!("{what} value is not a boolean"))),
    };
    let array = |what: &str| match val {
        Value::Array(a) => Ok(a),
        _ => Err(invalid(format!("{what} value is not an array"))),
    };
    let strings = || -> Result<Vec<String>, InputError> {
        array("set")?
            .iter()
            .map(|e| match e {
                Value::String(s) => Ok(s.clone()),
                _ => Err(invalid("set element is not a string")),
            })
            .collect()
    };
    Ok(match ty.as_str() {
        "S" => AttrValue::S(string("S")?),
        "N" => AttrValue::N(string("N")?),
        "B" => AttrValue::B(std_b64(val)?),
        "BOOL" => AttrValue::Bool(boolean("BOOL")?),
        "NULL" => AttrValue::Null(boolean("NULL")?),
        "SS" => AttrValue::Ss(strings()?),
        "NS" => AttrValue::Ns(strings()?),
        "BS" => AttrValue::Bs(array("BS")?.iter().map(std_b64).collect::<Result<_, _>>()?),
        "L" => AttrValue::L(
            array("L")?
                .iter()
                .map(|e| match e {
                    Value::Object(o) => attr_from_json(o),
                    _ => Err(invalid("L element is not an object")),
                })
                .collect::<Result<_, _>>()?,
        ),
        "M" => {
            let Value::Object(o) = val else {
                return Err(invalid("M value is not an object"));
            };
            let mut out = BTreeMap::new();
            for (k, child) in o {
                let Value::Object(co) = child else {
                    return Err(invalid(format!("M[{k:?}] is not an object")));
                };
                let av = attr_from_json(co).map_err(|mut e| {
                    e.context.insert(0, format!("M[{k:?}]"));
                    e
                })?;
                out.insert(k.to_string(), av);
            }
            AttrValue::M(out)
        }
        other => return Err(invalid(format!("unknown attribute type {other:?}"))),
    })
}

/// `base64StdFromAny`.
fn std_b64(v: &Value) -> Result<Vec<u8>, InputError> {
    match v {
        Value::String(s) => gob64::decode(&gob64::STD, s.as_bytes())
            .map_err(|e| invalid(format!("binary value is not valid base64: {e}"))),
        _ => Err(invalid("binary value is not a base64 string")),
    }
}

// ------------------------------------------------- _schema.json → schema

/// The `_schema.json` document as upstream's struct decode sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicSchema {
    pub format_version: u32,
    pub table_name: String,
    pub primary_key: PublicKeySchema,
    pub attribute_definitions: Vec<(String, String)>,
    pub global_secondary_indexes: Vec<PublicGsi>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicKeySchema {
    pub hash_key: String,
    pub range_key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicGsi {
    pub name: String,
    pub key_schema: PublicKeySchema,
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

crate::go_struct! {
    #[derive(Debug, Clone, Default)]
    struct GoKeyAttribute as "backup.publicKeyAttribute" {
        name: String,
        ty: String = "type",
    }
}

crate::go_struct! {
    #[derive(Debug, Clone, Default)]
    struct GoKeySchema as "backup.publicKeySchema" {
        hash_key: GoKeyAttribute,
        range_key: GoKeyAttribute,
    }
}

crate::go_struct! {
    #[derive(Debug, Clone, Default)]
    struct GoAttributeDefinition as "backup.publicAttributeDefinition" {
        name: String,
        ty: String = "type",
    }
}

crate::go_struct! {
    #[derive(Debug, Clone, Default)]
    struct GoProjection as "backup.publicProjection" {
        ty: String = "type",
        non_key_attributes: GoSlice<String>,
    }
}

crate::go_struct! {
    #[derive(Debug, Clone, Default)]
    struct GoGsi as "backup.publicGSI" {
        name: String,
        key_schema: GoKeySchema,
        projection: GoProjection,
    }
}

crate::go_struct! {
    #[derive(Debug, Clone, Default)]
    struct GoSchema as "backup.ddbPublicSchema" {
        format_version: u32,
        table_name: String,
        primary_key: GoKeySchema,
        attribute_definitions: GoSlice<GoAttributeDefinition>,
        global_secondary_indexes: GoSlice<GoGsi>,
    }
}

fn key_schema(k: &GoKeySchema) -> PublicKeySchema {
    PublicKeySchema {
        hash_key: k.hash_key.name.clone(),
        range_key: k.range_key.name.clone(),
    }
}

/// `_schema.json` (`decodeOneJSON` into `ddbPublicSchema`).
pub fn decode_schema_file(bytes: &[u8]) -> Result<PublicSchema, InputError> {
    let g: GoSchema = gojson::decode_one(bytes)?;
    Ok(PublicSchema {
        format_version: g.format_version,
        table_name: g.table_name,
        primary_key: key_schema(&g.primary_key),
        attribute_definitions: g
            .attribute_definitions
            .iter()
            .map(|d| (d.name.clone(), d.ty.clone()))
            .collect(),
        global_secondary_indexes: g
            .global_secondary_indexes
            .iter()
            .map(|x| PublicGsi {
                name: x.name.clone(),
                key_schema: key_schema(&x.key_schema),
                projection_type: x.projection.ty.clone(),
                non_key_attributes: x.projection.non_key_attributes.as_slice().to_vec(),
            })
            .collect(),
    })
}

impl PublicSchema {
    /// `publicToSchema`: the restore schema (key encoding v2, generation 1;
    /// the per-key types are ignored, only the definitions list counts).
    pub fn to_schema(&self) -> TableSchema {
        let ks = |k: &PublicKeySchema| KeySchema {
            hash_key: k.hash_key.clone(),
            range_key: k.range_key.clone(),
        };
        TableSchema {
            table_name: self.table_name.clone(),
            attribute_definitions: self.attribute_definitions.iter().cloned().collect(),
            primary_key: Some(ks(&self.primary_key)),
            global_secondary_indexes: self
                .global_secondary_indexes
                .iter()
                .map(|g| {
                    (
                        g.name.clone(),
                        Gsi {
                            key_schema: Some(ks(&g.key_schema)),
                            projection: Some(Projection {
                                projection_type: g.projection_type.clone(),
                                non_key_attributes: g.non_key_attributes.clone(),
                            }),
                        },
                    )
                })
                .collect(),
            key_encoding_version: super::keys::KEY_ENCODING_V2,
            migrating_from_generation: 0,
            generation: super::keys::RESTORE_GENERATION,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(s: &str) -> Result<Item, InputError> {
        decode_item_file(s.as_bytes())
    }

    #[test]
    fn hash_only_schema_bytes() {
        let mut s = TableSchema {
            table_name: "sessions".into(),
            primary_key: Some(KeySchema {
                hash_key: "session_id".into(),
                range_key: String::new(),
            }),
            ..Default::default()
        };
        s.attribute_definitions
            .insert("session_id".into(), "S".into());
        let want = "{\n  \"format_version\": 1,\n  \"table_name\": \"sessions\",\n  \"primary_key\": {\n    \"hash_key\": {\n      \"name\": \"session_id\",\n      \"type\": \"S\"\n    },\n    \"range_key\": {}\n  },\n  \"attribute_definitions\": [\n    {\n      \"name\": \"session_id\",\n      \"type\": \"S\"\n    }\n  ]\n}";
        assert_eq!(String::from_utf8(schema_file_bytes(&s)).unwrap(), want);
    }

    #[test]
    fn item_bytes_and_round_trip() {
        let v = r#"{"session_id":{"S":"sess-abc123"},"count":{"N":"42"},"flags":{"BOOL":true},"tags":{"SS":[]}}"#;
        let item = item(v).unwrap();
        let want = "{\n  \"count\": {\n    \"N\": \"42\"\n  },\n  \"flags\": {\n    \"BOOL\": true\n  },\n  \"session_id\": {\n    \"S\": \"sess-abc123\"\n  },\n  \"tags\": {\n    \"SS\": []\n  }\n}";
        assert_eq!(String::from_utf8(item_file_bytes(&item)).unwrap(), want);
        assert_eq!(
            String::from_utf8(item_line_bytes(&item)).unwrap(),
            "{\"count\":{\"N\":\"42\"},\"flags\":{\"BOOL\":true},\"session_id\":{\"S\":\"sess-abc123\"},\"tags\":{\"SS\":[]}}\n"
        );
        let again = decode_item_file(&item_file_bytes(&item)).unwrap();
        assert_eq!(again, item);
    }

    #[test]
    fn item_json_rules() {
        assert!(item("null").unwrap().attrs.is_empty());
        for bad in [
            r#"[]"#,
            r#"{"a":5}"#,
            r#"{"a":{}}"#,
            r#"{"a":{"S":"x","N":"1"}}"#,
            r#"{"a":{"X":"x"}}"#,
            r#"{"a":{"s":"x"}}"#,
            r#"{"a":{"N":1}}"#,
            r#"{"a":{"B":"QQ"}}"#,
            r#"{"a":{"BOOL":"true"}}"#,
            r#"{"a":{"SS":[1]}}"#,
            r#"{"a":{"L":[1]}}"#,
            r#"{"a":{"M":{"k":1}}}"#,
            r#"{"a":{"M":[]}}"#,
        ] {
            assert!(item(bad).is_err(), "{bad}");
        }
        // Last duplicate wins, then exactly one type key remains.
        let it = item(r#"{"a":{"S":"x","S":"y"},"a":{"N":"1"}}"#).unwrap();
        assert_eq!(it.attrs["a"], AttrValue::N("1".into()));
        // An overwritten number still has to fit a float64, as in Go.
        assert!(item(r#"{"x":1e309,"x":{"S":"b"}}"#).is_err());
        assert!(item(r#"{"x":{"S":"b","N":1e-400,"N":"1"}}"#).is_err());
    }

    #[test]
    fn trailing_data_rules() {
        assert!(item("{} \n").is_ok());
        assert!(item("{}}").is_ok());
        assert!(item("{}]x").is_ok());
        assert!(item("{}x").is_err());
        assert!(item("{} {}").is_err());
        assert!(item("").is_err());
    }

    #[test]
    fn schema_struct_decoding() {
        let s = decode_schema_file(
            br#"{"Format_Version":1,"table_name":"t","primary_key":{"hash_key":{"name":"h","type":"S"},"range_key":{}},
               "attribute_definitions":[{"name":"h","type":"S"},null],"unknown":5,
               "table_name":null,
               "global_secondary_indexes":[{"name":"g","key_schema":{"hash_key":{"name":"x"}},"projection":{"type":"ALL","non_key_attributes":null}}]}"#,
        )
        .unwrap();
        assert_eq!(s.format_version, 1);
        assert_eq!(s.table_name, "t");
        assert_eq!(s.primary_key.hash_key, "h");
        assert_eq!(
            s.attribute_definitions,
            [("h".into(), "S".into()), (String::new(), String::new())]
        );
        assert_eq!(s.global_secondary_indexes[0].key_schema.hash_key, "x");
        // Repeated slices keep Go's backing-array slots.
        let s = decode_schema_file(
            br#"{"attribute_definitions":[{"name":"a","type":"S"},{"name":"b","type":"N"}],"attribute_definitions":[{}],"attribute_definitions":[{},{}]}"#,
        )
        .unwrap();
        assert_eq!(
            s.attribute_definitions,
            [("a".into(), "S".into()), ("b".into(), "N".into())]
        );
        for bad in [
            r#"{"format_version":1.0}"#,
            r#"{"format_version":-1}"#,
            r#"{"format_version":"1"}"#,
            r#"{"table_name":5}"#,
            r#"{"table_name":5,"table_name":"t"}"#,
            r#"{"primary_key":[]}"#,
            r#"{"attribute_definitions":{}}"#,
            r#"[]"#,
        ] {
            assert!(decode_schema_file(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
