//! Evaluation of one compiled field condition against the values at its key.

use super::compile::{has_null, is_null_or_empty_array};
use super::geo;
use super::order::parse_datetime;
use chrono::{DateTime, Utc};
use quiver_types::Payload;
use quiver_types::filter::{GeoBoundingBox, GeoPolygon, GeoRadius, ValuesCount};
use quiver_types::json_path::JsonPath;
use serde_json::Value;
use std::collections::HashSet;

/// A field condition: a path and the condition kinds that must all hold.
#[derive(Debug, Clone)]
pub(super) struct FieldCheck {
    pub(super) path: JsonPath,
    pub(super) kinds: Vec<FieldKind>,
}

/// One condition kind of a field condition.
#[derive(Debug, Clone)]
pub(super) enum FieldKind {
    Match(MatchCheck),
    Range(RangeCheck),
    GeoBox(GeoBoundingBox),
    GeoRadius(GeoRadius),
    GeoPolygon(GeoPolygon),
    ValuesCount(ValuesCount),
    IsEmpty(bool),
    IsNull(bool),
}

/// A compiled `match`.
#[derive(Debug, Clone)]
pub(super) enum MatchCheck {
    Keyword(String),
    Int(i64),
    Bool(bool),
    Prefix(String),
    /// `text`, `text_any` or `phrase`: on the tokens of the field's text index, or of Qdrant's
    /// default analyzer without one.
    Tokens {
        analyzer: std::sync::Arc<crate::text::TextAnalyzer>,
        mode: crate::text::TextMode,
        query: Vec<String>,
    },
    AnyKeywords(HashSet<String>),
    AnyInts(HashSet<i64>),
    ExceptKeywords(HashSet<String>),
    ExceptInts(HashSet<i64>),
}

/// Optional bounds of a range.
#[derive(Debug, Clone)]
pub(super) struct Bounds<T> {
    pub(super) lt: Option<T>,
    pub(super) gt: Option<T>,
    pub(super) gte: Option<T>,
    pub(super) lte: Option<T>,
}

impl<T: PartialOrd> Bounds<T> {
    fn contains(&self, x: &T) -> bool {
        self.lt.as_ref().is_none_or(|b| x < b)
            && self.gt.as_ref().is_none_or(|b| x > b)
            && self.gte.as_ref().is_none_or(|b| x >= b)
            && self.lte.as_ref().is_none_or(|b| x <= b)
    }
}

/// A compiled `range`.
#[derive(Debug, Clone)]
pub(super) enum RangeCheck {
    Number(Bounds<f64>),
    DateTime(Bounds<DateTime<Utc>>),
}

impl FieldCheck {
    pub(super) fn check(&self, payload: &Payload) -> bool {
        let raw = self.path.values(payload);
        let mut flat: Option<Vec<&Value>> = None;
        self.kinds.iter().all(|kind| match kind {
            FieldKind::ValuesCount(count) => check_count(count, &raw),
            FieldKind::IsEmpty(expected) => raw.iter().all(|v| is_null_or_empty_array(v)) == *expected,
            FieldKind::IsNull(expected) => raw.iter().any(|v| has_null(v)) == *expected,
            FieldKind::Match(_)
            | FieldKind::Range(_)
            | FieldKind::GeoBox(_)
            | FieldKind::GeoRadius(_)
            | FieldKind::GeoPolygon(_) => {
                flat.get_or_insert_with(|| flatten(&raw)).iter().any(|v| check_value(kind, v))
            }
        })
    }
}

fn flatten<'a>(raw: &[&'a Value]) -> Vec<&'a Value> {
    let mut out = Vec::with_capacity(raw.len());
    for value in raw {
        match value {
            Value::Array(items) => out.extend(items.iter()),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => out.push(value),
        }
    }
    out
}

/// Number of values in one value at the key: `null` counts 0, an array its length, anything
/// else 1. Like the other field conditions, one value at the key satisfying the bounds suffices
/// (`arr[].x` with `x` = `1`, `[1, 2]`: `lte 1` holds); no value at all counts 0.
fn check_count(count: &ValuesCount, raw: &[&Value]) -> bool {
    let holds = |n: usize| {
        count.lt.is_none_or(|b| n < b)
            && count.gt.is_none_or(|b| n > b)
            && count.gte.is_none_or(|b| n >= b)
            && count.lte.is_none_or(|b| n <= b)
    };
    if raw.is_empty() {
        return holds(0);
    }
    raw.iter().any(|v| {
        holds(match v {
            Value::Null => 0,
            Value::Array(items) => items.len(),
            Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => 1,
        })
    })
}

fn check_value(kind: &FieldKind, value: &Value) -> bool {
    match kind {
        FieldKind::Match(m) => check_match(m, value),
        FieldKind::Range(RangeCheck::Number(bounds)) => value.as_f64().is_some_and(|x| bounds.contains(&x)),
        FieldKind::Range(RangeCheck::DateTime(bounds)) => {
            value.as_str().and_then(parse_datetime).is_some_and(|x| bounds.contains(&x))
        }
        FieldKind::GeoBox(b) => geo::payload_point(value).is_some_and(|p| geo::in_box(b, &p)),
        FieldKind::GeoRadius(r) => geo::payload_point(value).is_some_and(|p| geo::in_radius(r, &p)),
        FieldKind::GeoPolygon(poly) => geo::payload_point(value).is_some_and(|p| geo::in_polygon(poly, &p)),
        FieldKind::ValuesCount(_) | FieldKind::IsEmpty(_) | FieldKind::IsNull(_) => false,
    }
}

fn check_match(m: &MatchCheck, value: &Value) -> bool {
    match m {
        MatchCheck::Keyword(k) => value.as_str() == Some(k.as_str()),
        MatchCheck::Int(i) => value.as_i64() == Some(*i),
        MatchCheck::Bool(b) => value.as_bool() == Some(*b),
        MatchCheck::Prefix(prefix) => value.as_str().is_some_and(|s| s.starts_with(prefix.as_str())),
        MatchCheck::Tokens { analyzer, mode, query } => {
            value.as_str().is_some_and(|s| analyzer.matches(*mode, query, s))
        }
        MatchCheck::AnyKeywords(set) => value.as_str().is_some_and(|s| set.contains(s)),
        MatchCheck::AnyInts(set) => value.as_i64().is_some_and(|i| set.contains(&i)),
        MatchCheck::ExceptKeywords(set) => match value {
            Value::String(s) => !set.contains(s),
            Value::Null => false,
            Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => true,
        },
        MatchCheck::ExceptInts(set) => match value {
            Value::Number(n) => n.as_i64().is_none_or(|i| !set.contains(&i)),
            Value::Null => false,
            Value::Bool(_) | Value::String(_) | Value::Array(_) | Value::Object(_) => true,
        },
    }
}
