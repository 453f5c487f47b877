//! The public (dump-tree) JSON forms: `_schema.json`, item files and jsonl
//! item lines, both directions, with Go `encoding/json` semantics.

use std::collections::BTreeMap;

use crate::gojson::{self, Escape, JsonWriter, Value, fold_eq};

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

/// `json.Decoder.Decode` of one value followed by the `More()` check:
/// trailing whitespace is fine, and so (a Go quirk) is trailing data that
/// starts with `}` or `]`; anything else is an error.
pub fn decode_one_json(bytes: &[u8]) -> Result<Value, String> {
    let (v, end) = gojson::parse_prefix(bytes).map_err(|e| e.to_string())?;
    let rest = &bytes[end..];
    match rest
        .iter()
        .find(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        None | Some(b'}') | Some(b']') => Ok(v),
        Some(_) => Err("trailing data after JSON value".into()),
    }
}

/// Go's `map[string]any` view of an object: the last duplicate wins.
fn object_map(members: &[(String, Value)]) -> BTreeMap<&str, &Value> {
    let mut m = BTreeMap::new();
    for (k, v) in members {
        m.insert(k.as_str(), v);
    }
    m
}

/// An item file or jsonl line → item (upstream `publicToItem`). A top-level
/// `null` is an item without attributes.
pub fn item_from_json(v: &Value) -> Result<Item, String> {
    let members = match v {
        Value::Null => return Ok(Item::default()),
        Value::Object(m) => m,
        other => {
            return Err(format!(
                "cannot unmarshal {} into an item object",
                other.kind()
            ));
        }
    };
    let mut item = Item::default();
    for (name, raw) in object_map(members) {
        let Value::Object(obj) = raw else {
            return Err(format!("attribute {name:?} is not an object"));
        };
        let av = attr_from_json(obj).map_err(|e| format!("attribute {name:?}: {e}"))?;
        item.attrs.insert(name.to_string(), av);
    }
    Ok(item)
}

fn attr_from_json(obj: &[(String, Value)]) -> Result<AttrValue, String> {
    let m = object_map(obj);
    if m.len() != 1 {
        return Err(format!(
            "attribute object must have exactly one type key, got {}",
            m.len()
        ));
    }
    let (ty, val) = m.into_iter().next().expect("one entry");
    let string = |what: &str| match val {
        Value::String(s) => Ok(s.clone()),
        _ => Err(format!("{what} value is not a string")),
    };
    let boolean = |what: &str| match val {
        Value::Bool(b) => Ok(*b),
        _ => Err(format!("{what} value is not a boolean")),
    };
    let array = |what: &str| match val {
        Value::Array(a) => Ok(a),
        _ => Err(format!("{what} value is not an array")),
    };
    let strings = || -> Result<Vec<String>, String> {
        array("set")?
            .iter()
            .map(|e| match e {
                Value::String(s) => Ok(s.clone()),
                _ => Err("set element is not a string".to_string()),
            })
            .collect()
    };
    Ok(match ty {
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
                    _ => Err("L element is not an object".to_string()),
                })
                .collect::<Result<_, _>>()?,
        ),
        "M" => {
            let Value::Object(o) = val else {
                return Err("M value is not an object".into());
            };
            let mut out = BTreeMap::new();
            for (k, child) in object_map(o) {
                let Value::Object(co) = child else {
                    return Err(format!("M[{k:?}] is not an object"));
                };
                let av = attr_from_json(co).map_err(|e| format!("M[{k:?}]: {e}"))?;
                out.insert(k.to_string(), av);
            }
            AttrValue::M(out)
        }
        other => return Err(format!("unknown attribute type {other:?}")),
    })
}

fn std_b64(v: &Value) -> Result<Vec<u8>, String> {
    match v {
        Value::String(s) => decode_std_base64(s.as_bytes())
            .ok_or_else(|| format!("binary value is not valid base64: {s:?}")),
        _ => Err("binary value is not a base64 string".into()),
    }
}

fn b64_value(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Go `base64.StdEncoding.DecodeString`: `\r`/`\n` skipped anywhere,
/// padding required, nothing but newlines after it, non-zero trailing bits
/// accepted.
pub fn decode_std_base64(s: &[u8]) -> Option<Vec<u8>> {
    let mut vals: Vec<u32> = Vec::with_capacity(s.len());
    let mut i = 0;
    let skip_nl = |i: &mut usize| {
        while *i < s.len() && matches!(s[*i], b'\r' | b'\n') {
            *i += 1;
        }
    };
    let mut padded = false;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if let Some(v) = b64_value(c) {
            vals.push(v);
            continue;
        }
        if c == b'\r' || c == b'\n' {
            continue;
        }
        if c != b'=' {
            return None;
        }
        // Padding: valid only after 2 or 3 symbols of a quantum.
        match vals.len() % 4 {
            2 => {
                skip_nl(&mut i);
                if i >= s.len() || s[i] != b'=' {
                    return None;
                }
                i += 1;
            }
            3 => {}
            _ => return None,
        }
        skip_nl(&mut i);
        if i < s.len() {
            return None;
        }
        padded = true;
        break;
    }
    let rem = vals.len() % 4;
    if rem != 0 && !padded {
        return None;
    }
    let mut out = Vec::with_capacity(vals.len() / 4 * 3 + 2);
    for chunk in vals.chunks(4) {
        let mut acc = 0u32;
        for (k, v) in chunk.iter().enumerate() {
            acc |= v << (18 - 6 * k);
        }
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(out)
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

/// Decode a JSON value into a Go struct field: `null` leaves the field as
/// it is, an object merges member by member (keys matched
/// case-insensitively, in document order), anything else is an error.
fn set_struct(
    v: &Value,
    path: &str,
    mut field: impl FnMut(&str, &Value) -> Result<(), String>,
) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::Object(m) => {
            for (k, val) in m {
                field(k, val)?;
            }
            Ok(())
        }
        other => Err(format!(
            "{path}: cannot unmarshal {} into an object",
            other.kind()
        )),
    }
}

fn set_string(v: &Value, path: &str, into: &mut String) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::String(s) => {
            *into = s.clone();
            Ok(())
        }
        other => Err(format!(
            "{path}: cannot unmarshal {} into a string",
            other.kind()
        )),
    }
}

/// A slice field: `null` empties it, an array replaces it (elements
/// decoded from their zero value), anything else is an error.
fn set_slice<T: Default>(
    v: &Value,
    path: &str,
    into: &mut Vec<T>,
    mut elem: impl FnMut(&Value, &str, &mut T) -> Result<(), String>,
) -> Result<(), String> {
    match v {
        Value::Null => {
            into.clear();
            Ok(())
        }
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, e) in a.iter().enumerate() {
                let mut t = T::default();
                elem(e, &format!("{path}[{i}]"), &mut t)?;
                out.push(t);
            }
            *into = out;
            Ok(())
        }
        other => Err(format!(
            "{path}: cannot unmarshal {} into an array",
            other.kind()
        )),
    }
}

fn key_attr_name(v: &Value, path: &str, into: &mut String) -> Result<(), String> {
    // `{name, type}`: the type is validated as a string but not kept.
    let mut ignored = String::new();
    set_struct(v, path, |k, val| {
        if fold_eq(k, "name") {
            set_string(val, &format!("{path}.name"), into)
        } else if fold_eq(k, "type") {
            set_string(val, &format!("{path}.type"), &mut ignored)
        } else {
            Ok(())
        }
    })
}

fn set_key_schema(v: &Value, path: &str, into: &mut PublicKeySchema) -> Result<(), String> {
    set_struct(v, path, |k, val| {
        if fold_eq(k, "hash_key") {
            key_attr_name(val, &format!("{path}.hash_key"), &mut into.hash_key)
        } else if fold_eq(k, "range_key") {
            key_attr_name(val, &format!("{path}.range_key"), &mut into.range_key)
        } else {
            Ok(())
        }
    })
}

/// `_schema.json` → [`PublicSchema`] with Go's struct-decoding rules.
pub fn schema_from_json(v: &Value) -> Result<PublicSchema, String> {
    let mut s = PublicSchema::default();
    set_struct(v, "schema", |k, val| {
        if fold_eq(k, "format_version") {
            match val {
                Value::Null => Ok(()),
                _ => {
                    s.format_version = val.go_u32().map_err(|e| format!("format_version: {e}"))?;
                    Ok(())
                }
            }
        } else if fold_eq(k, "table_name") {
            set_string(val, "table_name", &mut s.table_name)
        } else if fold_eq(k, "primary_key") {
            set_key_schema(val, "primary_key", &mut s.primary_key)
        } else if fold_eq(k, "attribute_definitions") {
            set_slice(
                val,
                "attribute_definitions",
                &mut s.attribute_definitions,
                |e, p, (n, t)| {
                    set_struct(e, p, |k, val| {
                        if fold_eq(k, "name") {
                            set_string(val, &format!("{p}.name"), n)
                        } else if fold_eq(k, "type") {
                            set_string(val, &format!("{p}.type"), t)
                        } else {
                            Ok(())
                        }
                    })
                },
            )
        } else if fold_eq(k, "global_secondary_indexes") {
            set_slice(
                val,
                "global_secondary_indexes",
                &mut s.global_secondary_indexes,
                |e, p, g| {
                    set_struct(e, p, |k, val| {
                        if fold_eq(k, "name") {
                            set_string(val, &format!("{p}.name"), &mut g.name)
                        } else if fold_eq(k, "key_schema") {
                            set_key_schema(val, &format!("{p}.key_schema"), &mut g.key_schema)
                        } else if fold_eq(k, "projection") {
                            let pp = format!("{p}.projection");
                            set_struct(val, &pp, |k, val| {
                                if fold_eq(k, "type") {
                                    set_string(val, &format!("{pp}.type"), &mut g.projection_type)
                                } else if fold_eq(k, "non_key_attributes") {
                                    let np = format!("{pp}.non_key_attributes");
                                    set_slice(val, &np, &mut g.non_key_attributes, |e, ep, out| {
                                        set_string(e, ep, out)
                                    })
                                } else {
                                    Ok(())
                                }
                            })
                        } else {
                            Ok(())
                        }
                    })
                },
            )
        } else {
            Ok(())
        }
    })?;
    Ok(s)
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

    fn parse(s: &str) -> Value {
        gojson::parse(s.as_bytes()).unwrap()
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
        let v = parse(
            r#"{"session_id":{"S":"sess-abc123"},"count":{"N":"42"},"flags":{"BOOL":true},"tags":{"SS":[]}}"#,
        );
        let item = item_from_json(&v).unwrap();
        let want = "{\n  \"count\": {\n    \"N\": \"42\"\n  },\n  \"flags\": {\n    \"BOOL\": true\n  },\n  \"session_id\": {\n    \"S\": \"sess-abc123\"\n  },\n  \"tags\": {\n    \"SS\": []\n  }\n}";
        assert_eq!(String::from_utf8(item_file_bytes(&item)).unwrap(), want);
        assert_eq!(
            String::from_utf8(item_line_bytes(&item)).unwrap(),
            "{\"count\":{\"N\":\"42\"},\"flags\":{\"BOOL\":true},\"session_id\":{\"S\":\"sess-abc123\"},\"tags\":{\"SS\":[]}}\n"
        );
        let again = item_from_json(&parse(
            std::str::from_utf8(&item_file_bytes(&item)).unwrap(),
        ))
        .unwrap();
        assert_eq!(again, item);
    }

    #[test]
    fn item_json_rules() {
        assert!(item_from_json(&Value::Null).unwrap().attrs.is_empty());
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
            assert!(item_from_json(&parse(bad)).is_err(), "{bad}");
        }
        // Last duplicate wins, then exactly one type key remains.
        let it = item_from_json(&parse(r#"{"a":{"S":"x","S":"y"},"a":{"N":"1"}}"#)).unwrap();
        assert_eq!(it.attrs["a"], AttrValue::N("1".into()));
    }

    #[test]
    fn go_std_base64() {
        let d = |s: &str| decode_std_base64(s.as_bytes());
        assert_eq!(d("").unwrap(), b"");
        assert_eq!(d("QQ==").unwrap(), b"A");
        assert_eq!(d("QR==").unwrap(), b"A");
        assert_eq!(d("QUI=").unwrap(), b"AB");
        assert_eq!(d("Q\nQ=\r\n=\n").unwrap(), b"A");
        for bad in [
            "QQ", "QUI", "Q===", "QQ=", "QQ==QQ==", "QQ==x", "====", "Q-==", "QQ=A",
        ] {
            assert!(d(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn trailing_data_rules() {
        assert!(decode_one_json(b"{} \n").is_ok());
        assert!(decode_one_json(b"{}}").is_ok());
        assert!(decode_one_json(b"{}]x").is_ok());
        assert!(decode_one_json(b"{}x").is_err());
        assert!(decode_one_json(b"{} {}").is_err());
        assert!(decode_one_json(b"").is_err());
    }

    #[test]
    fn schema_struct_decoding() {
        let s = schema_from_json(&parse(
            r#"{"Format_Version":1,"table_name":"t","primary_key":{"hash_key":{"name":"h","type":"S"},"range_key":{}},
               "attribute_definitions":[{"name":"h","type":"S"},null],"unknown":5,
               "table_name":null,
               "global_secondary_indexes":[{"name":"g","key_schema":{"hash_key":{"name":"x"}},"projection":{"type":"ALL","non_key_attributes":null}}]}"#,
        ))
        .unwrap();
        assert_eq!(s.format_version, 1);
        assert_eq!(s.table_name, "t");
        assert_eq!(s.primary_key.hash_key, "h");
        assert_eq!(
            s.attribute_definitions,
            [("h".into(), "S".into()), (String::new(), String::new())]
        );
        assert_eq!(s.global_secondary_indexes[0].key_schema.hash_key, "x");
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
            assert!(schema_from_json(&parse(bad)).is_err(), "{bad}");
        }
    }
}
