//! The dump's Redis JSON documents as upstream's encoder declares them;
//! [`crate::gojson`] decodes them with Go's rules. Element values stay raw
//! (`json.RawMessage` spans of the file) until a record is built.

use crate::gojson::{GoSlice, RawMessage};

crate::go_struct! {
    /// A `{name, value}` pair of a hash file or a stream entry.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct NameValue as "struct { Name json.RawMessage; Value json.RawMessage }" {
        pub name: RawMessage,
        pub value: RawMessage,
    }
}

crate::go_struct! {
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct MemberScore as "struct { Member json.RawMessage; Score json.RawMessage }" {
        pub member: RawMessage,
        pub score: RawMessage,
    }
}

crate::go_struct! {
    /// `hashes/<key>.json` (`hashJSONRecord`).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct HashRecord as "backup.hashJSONRecord" {
        pub format_version: u32,
        pub fields: GoSlice<NameValue>,
        pub expire_at_ms: Option<u64>,
    }
}

crate::go_struct! {
    /// `sets/<key>.json` (`setJSONRecord`).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct SetRecord as "backup.setJSONRecord" {
        pub format_version: u32,
        pub members: GoSlice<RawMessage>,
        pub expire_at_ms: Option<u64>,
    }
}

crate::go_struct! {
    /// `lists/<key>.json` (`listJSONRecord`).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct ListRecord as "backup.listJSONRecord" {
        pub format_version: u32,
        pub items: GoSlice<RawMessage>,
        pub expire_at_ms: Option<u64>,
    }
}

crate::go_struct! {
    /// `zsets/<key>.json` (`zsetJSONRecord`).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct ZSetRecord as "backup.zsetJSONRecord" {
        pub format_version: u32,
        pub members: GoSlice<MemberScore>,
        pub expire_at_ms: Option<u64>,
    }
}

crate::go_struct! {
    /// One value of `streams/<key>.jsonl` (`streamLineJSON`): an entry, or
    /// the `_meta` record.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct StreamLine as "backup.streamLineJSON" {
        pub meta: bool = "_meta",
        pub id: String,
        pub fields: GoSlice<NameValue>,
        pub length: i64,
        pub last_ms: u64,
        pub last_seq: u64,
        pub expire_at_ms: Option<u64>,
    }
}

crate::go_struct! {
    /// One value of `strings_ttl.jsonl` / `hll_ttl.jsonl` (`ttlSidecarRecord`).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct TtlRecord as "backup.ttlSidecarRecord" {
        pub key: String,
        pub expire_at_ms: u64,
    }
}

crate::go_struct! {
    /// The `{"base64": …}` envelope of a non-UTF-8 value; the pointer tells
    /// an absent key from an empty one.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Envelope as "struct { Base64 *string \"json:\\\"base64\\\"\" }" {
        pub base64: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gojson::{UnmarshalError, decode_one};

    fn text<'a>(doc: &'a str, r: &RawMessage) -> &'a str {
        std::str::from_utf8(r.bytes(doc.as_bytes())).unwrap()
    }

    #[test]
    fn collection_documents() {
        let d = r#" {"format_version": 1, "fields": [{"name": "a", "value": {"base64": "_w"}}], "expire_at_ms": null} "#;
        let r: HashRecord = decode_one(d.as_bytes()).unwrap();
        assert_eq!(r.format_version, 1);
        assert_eq!(text(d, &r.fields.as_slice()[0].name), "\"a\"");
        assert_eq!(
            text(d, &r.fields.as_slice()[0].value),
            "{\"base64\": \"_w\"}"
        );
        assert_eq!(r.expire_at_ms, None);
        let d = r#"{"FORMAT_VERSION":1,"format_version":null,"Expire_At_Ms":5,"x":[1,{}]}"#;
        let r: HashRecord = decode_one(d.as_bytes()).unwrap();
        assert_eq!((r.format_version, r.expire_at_ms), (1, Some(5)));
        assert!(decode_one::<HashRecord>(br#"{"format_version":1}}"#).is_ok());
        assert!(decode_one::<HashRecord>(br#"{"format_version":1} x"#).is_err());
        assert!(decode_one::<HashRecord>(br#"{"fields":{}}"#).is_err());
        assert!(decode_one::<HashRecord>(b"[]").is_err());
        assert_eq!(
            decode_one::<HashRecord>(b"null").unwrap(),
            HashRecord::default()
        );
        // Members of a raw array keep their text, null included.
        let d = r#"{"members":["a" , null,{"base64":""}]}"#;
        let r: SetRecord = decode_one(d.as_bytes()).unwrap();
        let got: Vec<&str> = r.members.iter().map(|m| text(d, m)).collect();
        assert_eq!(got, ["\"a\"", "null", "{\"base64\":\"\"}"]);
        // Repeated arrays decode into the earlier elements.
        let d = r#"{"fields":[{"name":"a","value":"b"},{"name":"c","value":"d"}],"fields":[{"name":"x"}]}"#;
        let r: HashRecord = decode_one(d.as_bytes()).unwrap();
        assert_eq!(r.fields.len(), 1);
        assert_eq!(text(d, &r.fields.as_slice()[0].value), "\"b\"");
    }

    #[test]
    fn envelope_type_error_in_an_earlier_copy_fails() {
        let e =
            crate::gojson::unmarshal::<Envelope>(br#"{"base64":5,"base64":"AAEC"}"#).unwrap_err();
        assert!(matches!(e, UnmarshalError::Type { .. }), "{e}");
    }
}
