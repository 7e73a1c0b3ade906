//! The filter language of spec §3.4, with Qdrant's JSON shapes.
//!
//! Evaluation lives in `quiver-storage` (`filter` module); this module is only the vocabulary.

use crate::PointId;
use serde::{Deserialize, Deserializer, Serialize};

/// A boolean combination of conditions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Option::is_none")]
    pub should: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_should: Option<MinShould>,
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Option::is_none")]
    pub must: Option<Vec<Condition>>,
    #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Option::is_none")]
    pub must_not: Option<Vec<Condition>>,
}

/// At least `min_count` of `conditions` must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinShould {
    pub conditions: Vec<Condition>,
    pub min_count: usize,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Condition>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<Condition>),
        One(Box<Condition>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::Many(v)) => Some(v),
        Some(OneOrMany::One(c)) => Some(vec![*c]),
    })
}

/// One condition of a filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // parsed once per request, compiled before evaluation
pub enum Condition {
    Field(FieldCondition),
    IsEmpty(IsEmptyCondition),
    IsNull(IsNullCondition),
    HasId(HasIdCondition),
    HasVector(HasVectorCondition),
    Nested(NestedCondition),
    Filter(Filter),
}

/// A condition on the values at a payload key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCondition {
    pub key: String,
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub r#match: Option<Match>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_bounding_box: Option<GeoBoundingBox>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_radius: Option<GeoRadius>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_polygon: Option<GeoPolygon>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_count: Option<ValuesCount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_empty: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_null: Option<bool>,
}

/// A scalar to match exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MatchValue {
    Bool(bool),
    Integer(i64),
    Keyword(String),
}

/// A list of scalars for `any` / `except`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MatchAnyValues {
    Keywords(Vec<String>),
    Integers(Vec<i64>),
}

/// The `match` forms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Match {
    Value { value: MatchValue },
    Text { text: String },
    TextAny { text_any: String },
    Phrase { phrase: String },
    Prefix { prefix: String },
    Any { any: MatchAnyValues },
    Except { except: MatchAnyValues },
}

/// One bound of a range: a number or an RFC 3339 date-time (kept as given; parsed on use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RangeBound {
    Number(f64),
    DateTime(String),
}

/// A range condition; any subset of the four bounds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<RangeBound>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<RangeBound>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<RangeBound>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<RangeBound>,
}

/// A condition on how many values a key holds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValuesCount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<usize>,
}

/// A geographic point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    pub lon: f64,
    pub lat: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoBoundingBox {
    pub top_left: GeoPoint,
    pub bottom_right: GeoPoint,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoRadius {
    pub center: GeoPoint,
    /// Metres.
    pub radius: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoLineString {
    pub points: Vec<GeoPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPolygon {
    pub exterior: GeoLineString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interiors: Option<Vec<GeoLineString>>,
}

/// `{"key": "path"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadField {
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsEmptyCondition {
    pub is_empty: PayloadField,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsNullCondition {
    pub is_null: PayloadField,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HasIdCondition {
    pub has_id: Vec<PointId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HasVectorCondition {
    pub has_vector: String,
}

/// A filter applied to each object of the array at `key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nested {
    pub key: String,
    pub filter: Filter,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NestedCondition {
    pub nested: Nested,
}
