//! Payload index definitions (`field_schema` of `PUT /collections/{c}/index`): a bare type name
//! or a params object per type (Qdrant's `field_index_params`), parsed strictly so a misspelt
//! or unknown parameter is refused instead of dropped.

use serde::{Deserialize, Serialize};

/// A field schema as the client wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldSchema {
    Type(FieldTypeName),
    Params(FieldParams),
}

/// The data types of payload indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldTypeName {
    Keyword,
    Integer,
    Float,
    Geo,
    Text,
    Bool,
    Datetime,
    Uuid,
}

impl FieldTypeName {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldTypeName::Keyword => "keyword",
            FieldTypeName::Integer => "integer",
            FieldTypeName::Float => "float",
            FieldTypeName::Geo => "geo",
            FieldTypeName::Text => "text",
            FieldTypeName::Bool => "bool",
            FieldTypeName::Datetime => "datetime",
            FieldTypeName::Uuid => "uuid",
        }
    }
}

/// Type-specific index parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldParams {
    Keyword(KeywordParams),
    Integer(IntegerParams),
    Float(NumericParams),
    Geo(PlainParams),
    Text(TextParams),
    Bool(PlainParams),
    Datetime(NumericParams),
    Uuid(KeywordParams),
}

/// `keyword` and `uuid`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tenant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
    /// Memory placement of the index (v1.19), kept and shown as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<crate::memory::Memory>,
}

/// `integer`: `lookup` serves `match`, `range` serves ranges.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegerParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
    /// Memory placement of the index (v1.19), kept and shown as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<crate::memory::Memory>,
}

/// `float` and `datetime`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumericParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
    /// Memory placement of the index (v1.19), kept and shown as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<crate::memory::Memory>,
}

/// `geo` and `bool`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlainParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
    /// Memory placement of the index (v1.19), kept and shown as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<crate::memory::Memory>,
}

/// How text is split into tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tokenizer {
    /// Split on whitespace and punctuation.
    #[default]
    Word,
    /// Split on whitespace only.
    Whitespace,
    /// Words, indexed with every prefix from `min_token_len` (default 1) to `max_token_len`.
    Prefix,
    /// Unicode words; CJK ideographs, kana and hangul one token each.
    Multilingual,
}

/// A language's stopwords, or several with custom words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stopwords {
    Language(String),
    Set(StopwordsSet),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopwordsSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Vec<String>>,
}

/// `{"type": "snowball", "language": "english"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Stemmer {
    Snowball(SnowballParams),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnowballParams {
    pub language: String,
}

/// `text`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<Tokenizer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_token_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowercase: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ascii_folding: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phrase_matching: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopwords: Option<Stopwords>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stemmer: Option<Stemmer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hnsw: Option<bool>,
    /// Memory placement of the index (v1.19), kept and shown as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<crate::memory::Memory>,
}

impl FieldSchema {
    /// Parses a stored or requested schema; the error names what is wrong.
    pub fn parse(value: &serde_json::Value) -> Result<FieldSchema, crate::TypesError> {
        let schema: FieldSchema = match value {
            serde_json::Value::Object(map) => serde_json::from_value::<FieldParams>(value.clone())
                .map(FieldSchema::Params)
                .map_err(|e| bad_schema(map.get("type").and_then(|t| t.as_str()), e))?,
            serde_json::Value::Null
            | serde_json::Value::Bool(_)
            | serde_json::Value::Number(_)
            | serde_json::Value::String(_)
            | serde_json::Value::Array(_) => serde_json::from_value(value.clone()).map_err(|_| {
                crate::TypesError::BadInput(format!(
                    "Unknown field schema `{value}`: expected one of keyword, integer, float, geo, text, bool, datetime, uuid"
                ))
            })?,
        };
        schema.check()?;
        Ok(schema)
    }

    pub fn data_type(&self) -> FieldTypeName {
        match self {
            FieldSchema::Type(t) => *t,
            FieldSchema::Params(p) => match p {
                FieldParams::Keyword(_) => FieldTypeName::Keyword,
                FieldParams::Integer(_) => FieldTypeName::Integer,
                FieldParams::Float(_) => FieldTypeName::Float,
                FieldParams::Geo(_) => FieldTypeName::Geo,
                FieldParams::Text(_) => FieldTypeName::Text,
                FieldParams::Bool(_) => FieldTypeName::Bool,
                FieldParams::Datetime(_) => FieldTypeName::Datetime,
                FieldParams::Uuid(_) => FieldTypeName::Uuid,
            },
        }
    }

    /// The text parameters (defaults for a bare `"text"`), if this is a text index.
    pub fn text_params(&self) -> Option<TextParams> {
        match self {
            FieldSchema::Type(FieldTypeName::Text) => Some(TextParams::default()),
            FieldSchema::Params(FieldParams::Text(p)) => Some(p.clone()),
            FieldSchema::Type(_) | FieldSchema::Params(_) => None,
        }
    }

    /// Whether `match` on integers (`lookup`) and ranges (`range`) may use the index.
    pub fn integer_capabilities(&self) -> (bool, bool) {
        match self {
            FieldSchema::Params(FieldParams::Integer(p)) => (p.lookup.unwrap_or(true), p.range.unwrap_or(true)),
            FieldSchema::Type(_) | FieldSchema::Params(_) => (true, true),
        }
    }

    /// Whether the index answers range conditions, which `order_by` needs: `integer` with
    /// `range` (the default), `float` and `datetime`.
    pub fn has_range_index(&self) -> bool {
        match self.data_type() {
            FieldTypeName::Integer => self.integer_capabilities().1,
            FieldTypeName::Float | FieldTypeName::Datetime => true,
            FieldTypeName::Keyword
            | FieldTypeName::Geo
            | FieldTypeName::Text
            | FieldTypeName::Bool
            | FieldTypeName::Uuid => false,
        }
    }

    /// Whether the field partitions points by tenant (`is_tenant` of keyword and uuid indexes).
    pub fn is_tenant(&self) -> bool {
        match self {
            FieldSchema::Params(FieldParams::Keyword(p) | FieldParams::Uuid(p)) => p.is_tenant == Some(true),
            FieldSchema::Type(_) | FieldSchema::Params(_) => false,
        }
    }

    fn check(&self) -> Result<(), crate::TypesError> {
        let bad = |m: &str| Err(crate::TypesError::BadInput(m.to_string()));
        match self {
            FieldSchema::Params(FieldParams::Integer(p)) if p.lookup == Some(false) && p.range == Some(false) => {
                bad("the 'lookup' and 'range' capabilities can't be both disabled")
            }
            FieldSchema::Params(FieldParams::Text(p)) => check_text(p),
            FieldSchema::Type(_) | FieldSchema::Params(_) => Ok(()),
        }
    }
}

fn bad_schema(type_name: Option<&str>, e: serde_json::Error) -> crate::TypesError {
    let what = type_name.map(|t| format!(" of type `{t}`")).unwrap_or_default();
    crate::TypesError::BadInput(format!("Invalid field_schema{what}: {e}"))
}

/// Languages the text index has stopword lists and stemmers for.
pub const STOPWORD_LANGUAGES: [&str; 30] = [
    "arabic",
    "azerbaijani",
    "basque",
    "bengali",
    "catalan",
    "chinese",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hebrew",
    "hinglish",
    "hungarian",
    "indonesian",
    "italian",
    "japanese",
    "kazakh",
    "nepali",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "slovene",
    "spanish",
    "swedish",
    "tajik",
    "turkish",
];

/// Languages of the snowball stemmer.
pub const STEMMER_LANGUAGES: [&str; 18] = [
    "arabic",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hungarian",
    "italian",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
];

fn check_text(p: &TextParams) -> Result<(), crate::TypesError> {
    let bad = |m: String| Err(crate::TypesError::BadInput(m));
    if let Some(Stemmer::Snowball(SnowballParams { language })) = &p.stemmer
        && !STEMMER_LANGUAGES.contains(&language.to_lowercase().as_str())
    {
        return bad(format!(
            "stemmer language `{language}` is not supported (supported: {})",
            STEMMER_LANGUAGES.join(", ")
        ));
    }
    if let (Some(min), Some(max)) = (p.min_token_len, p.max_token_len)
        && min > max
    {
        return bad(format!("min_token_len ({min}) must not be greater than max_token_len ({max})"));
    }
    let languages: Vec<&String> = match &p.stopwords {
        None => Vec::new(),
        Some(Stopwords::Language(l)) => vec![l],
        Some(Stopwords::Set(set)) => set.languages.iter().flatten().collect(),
    };
    for language in languages {
        if !STOPWORD_LANGUAGES.contains(&language.to_lowercase().as_str()) {
            return bad(format!(
                "stopwords for language `{language}` are not supported by Quiver (supported: {})",
                STOPWORD_LANGUAGES.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn range_index_only_for_ordered_numbers() {
        let range = |v: serde_json::Value| FieldSchema::parse(&v).unwrap().has_range_index();
        assert!(range(json!("integer")));
        assert!(range(json!({"type": "integer", "lookup": false})));
        assert!(!range(json!({"type": "integer", "range": false})));
        assert!(range(json!("float")));
        assert!(range(json!({"type": "datetime", "on_disk": true})));
        for other in ["keyword", "geo", "text", "bool", "uuid"] {
            assert!(!range(json!(other)), "{other}");
        }
    }

    #[test]
    fn params_parse_and_round_trip() {
        let v = json!({"type": "text", "tokenizer": "prefix", "min_token_len": 2, "lowercase": false,
            "phrase_matching": true, "stopwords": {"languages": ["english"], "custom": ["foo"]},
            "stemmer": {"type": "snowball", "language": "english"}});
        let s = FieldSchema::parse(&v).unwrap();
        assert_eq!(s.data_type(), FieldTypeName::Text);
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
        assert_eq!(FieldSchema::parse(&json!("keyword")).unwrap().data_type(), FieldTypeName::Keyword);
        assert!(FieldSchema::parse(&json!({"type": "keyword", "is_tenant": true})).unwrap().is_tenant());
    }

    #[test]
    fn unknown_or_contradictory_params_are_refused() {
        assert!(FieldSchema::parse(&json!({"type": "text", "tokeniser": "word"})).is_err());
        assert!(FieldSchema::parse(&json!({"type": "text", "tokenizer": "ngram"})).is_err());
        assert!(FieldSchema::parse(&json!({"type": "integer", "lookup": false, "range": false})).is_err());
        assert!(FieldSchema::parse(&json!({"type": "text", "stopwords": "klingon"})).is_err());
        assert!(FieldSchema::parse(&json!({"type": "vector"})).is_err());
        assert!(FieldSchema::parse(&json!("nope")).is_err());
        assert!(FieldSchema::parse(&json!({"type": "keyword", "lookup": true})).is_err());
    }
}
