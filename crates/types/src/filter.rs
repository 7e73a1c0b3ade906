//! The filter language of spec §3.4, with Qdrant's JSON shapes.
//!
//! Evaluation lives in `quiver-storage` (`filter` module); this module is only the vocabulary.
//!
//! Unknown fields: as in Qdrant, a `Filter` object refuses them (an unknown key would
//! otherwise make an empty filter that matches everything), while conditions and their parts
//! ignore them; a field condition left without any condition is refused when checked
//! (design record 028).

use crate::PointId;
use serde::{Deserialize, Deserializer, Serialize};

/// A boolean combination of conditions; the one object of the filter language that refuses
/// unknown fields.
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
pub struct MinShould {
    pub conditions: Vec<Condition>,
    pub min_count: usize,
}

/// One condition or a list of them. The shape is decided by the JSON first: a list is a list of
/// conditions and an object is one condition, so that a list holding one malformed condition is
/// refused instead of being read as a condition laid out as a sequence (serde reads a struct from
/// a sequence of its fields, which turned `[{"key": "k", "match": {"value": 1.5}}]` into
/// `is_empty: {"key": "k"}`).
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Condition>>, D::Error> {
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(list @ serde_json::Value::Array(_)) => serde_json::from_value(list).map(Some).map_err(D::Error::custom),
        Some(one @ serde_json::Value::Object(_)) => {
            serde_json::from_value(one).map(|c| Some(vec![c])).map_err(D::Error::custom)
        }
        Some(other) => Err(D::Error::custom(format!("expected a condition or a list of conditions, got {other}"))),
    }
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
    Slice(SliceCondition),
    Nested(NestedCondition),
    Filter(Filter),
}

/// A condition on the values at a payload key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
pub struct GeoPoint {
    pub lon: f64,
    pub lat: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoBoundingBox {
    pub top_left: GeoPoint,
    pub bottom_right: GeoPoint,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoRadius {
    pub center: GeoPoint,
    /// Metres.
    pub radius: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoLineString {
    pub points: Vec<GeoPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoPolygon {
    pub exterior: GeoLineString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interiors: Option<Vec<GeoLineString>>,
}

/// `{"key": "path"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadField {
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsEmptyCondition {
    pub is_empty: PayloadField,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsNullCondition {
    pub is_null: PayloadField,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HasIdCondition {
    pub has_id: Vec<PointId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HasVectorCondition {
    pub has_vector: String,
}

/// `{"slice": {"total", "index"}}`: the points in one of `total` disjoint slices of the id space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceCondition {
    pub slice: Slice,
}

/// A point is in slice `index` of `total` when SipHash-2-4 (zero key) of its id's canonical
/// bytes (8 little-endian bytes of a number, the 16 RFC 4122 bytes of a UUID) modulo `total` is
/// `index`; `total >= 1` and `index < total` (checked when the filter is compiled).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Slice {
    pub total: u32,
    pub index: u32,
}

/// A filter applied to each object of the array at `key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nested {
    pub key: String,
    pub filter: Filter,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NestedCondition {
    pub nested: Nested,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_refuse_unknown_fields_and_conditions_ignore_them() {
        let err = serde_json::from_value::<Filter>(json!({"must": [], "zz_future": 1})).unwrap_err();
        assert!(err.to_string().contains("unknown field `zz_future`"), "{err}");
        // A condition that is no known form (an object of unknown keys only) is refused too.
        assert!(serde_json::from_value::<Filter>(json!({"must": [{"zz_future": 1}]})).is_err());
        let filter: Filter = serde_json::from_value(json!({"must": [
            {"key": "a", "match": {"value": "x"}, "zz_future": 1},
            {"key": "n", "range": {"gte": 1, "zz": 2}},
            {"has_id": [1], "zz": 3},
            {"is_empty": {"key": "e", "zz": 4}},
            {"nested": {"key": "arr", "filter": {"must": {"key": "b", "match": {"value": 1}}}, "zz": 5}},
        ]}))
        .unwrap();
        let must = filter.must.unwrap();
        assert!(matches!(&must[0], Condition::Field(c) if c.key == "a" && c.r#match.is_some()));
        assert!(matches!(&must[1], Condition::Field(c) if c.range.as_ref().is_some_and(|r| r.gte.is_some())));
        assert!(matches!(&must[2], Condition::HasId(c) if c.has_id == vec![PointId::Num(1)]));
        assert!(matches!(&must[3], Condition::IsEmpty(c) if c.is_empty.key == "e"));
        assert!(matches!(&must[4], Condition::Nested(c) if c.nested.key == "arr"));
        // A filter nested as a condition still refuses unknown fields.
        assert!(serde_json::from_value::<Filter>(json!({"must": [{"should": [], "zz": 1}]})).is_err());
    }

    #[test]
    fn a_malformed_condition_in_a_list_is_refused_not_read_as_another_condition() {
        for bad in
            [json!({"value": [1]}), json!({"value": 1.5}), json!({"value": null}), json!({}), json!({"any": [1, "a"]})]
        {
            let body = json!({"must": [{"key": "k", "match": bad}]});
            assert!(serde_json::from_value::<Filter>(body.clone()).is_err(), "{body}");
            let one = json!({"must_not": {"key": "k", "match": bad}});
            assert!(serde_json::from_value::<Filter>(one.clone()).is_err(), "{one}");
        }
        assert!(serde_json::from_value::<Filter>(json!({"should": 5})).is_err());
        let filter: Filter =
            serde_json::from_value(json!({"must": null, "should": {"key": "k", "match": {"value": 1}}})).unwrap();
        assert!(filter.must.is_none() && filter.should.is_some_and(|s| s.len() == 1));
    }
}
